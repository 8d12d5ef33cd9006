//! Emulated token endpoints (Entra ID and Salesforce) and the tokens they issue.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use http::{Method, StatusCode};
use jiff::{SignedDuration, Timestamp};
use serde_json::json;

use super::frame::{EmulatedService, ServiceReply, ServiceRequest};
use crate::clock::{EmulatorClock, SystemClock};
use crate::lock;

/// The audience of tokens issued by the emulated Salesforce login endpoint.
pub const SALESFORCE_AUDIENCE: &str = "salesforce";

/// What a service found when it checked a request's token.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TokenCheck {
    /// The token is valid for the service.
    Valid,
    /// The request carried no bearer token.
    Missing,
    /// The token was never issued, was revoked, or is for another audience.
    Invalid,
    /// The token has expired.
    Expired,
}

/// What a token, refresh token or device code is for.
#[derive(Debug, Clone)]
struct Grant {
    audience: String,
    /// The Entra tenant of the authority that issued it, lower case.
    tenant: Option<String>,
}

#[derive(Debug, Clone)]
struct Issued {
    grant: Grant,
    expires_at: Timestamp,
}

#[derive(Debug, Clone)]
struct DeviceCode {
    user_code: String,
    grant: Grant,
    approved: bool,
}

#[derive(Debug)]
struct Tokens {
    lifetime: Duration,
    issued: HashMap<String, Issued>,
    refresh: HashMap<String, Grant>,
    device_codes: HashMap<String, DeviceCode>,
    clients: HashMap<String, String>,
    tenant_clients: HashMap<String, HashMap<String, String>>,
    auto_approve: bool,
    counter: u64,
}

impl Default for Tokens {
    fn default() -> Self {
        Tokens {
            lifetime: Duration::from_secs(3600),
            issued: HashMap::new(),
            refresh: HashMap::new(),
            device_codes: HashMap::new(),
            clients: HashMap::new(),
            tenant_clients: HashMap::new(),
            auto_approve: true,
            counter: 0,
        }
    }
}

/// The tokens the emulator issued, and the controls a test uses on them.
#[derive(Debug)]
pub struct TokenStore {
    inner: Mutex<Tokens>,
    clock: Arc<dyn EmulatorClock>,
}

impl Default for TokenStore {
    fn default() -> Self {
        TokenStore::with_clock(Arc::new(SystemClock))
    }
}

impl TokenStore {
    pub(crate) fn with_clock(clock: Arc<dyn EmulatorClock>) -> Self {
        TokenStore {
            inner: Mutex::default(),
            clock,
        }
    }

    /// The lifetime of tokens issued from now on (default one hour).
    pub fn set_lifetime(&self, lifetime: Duration) {
        lock(&self.inner).lifetime = lifetime;
    }

    /// Only these client secrets are accepted from now on (by default any non-empty secret is).
    pub fn register_client(&self, client_id: &str, secret: &str) {
        lock(&self.inner)
            .clients
            .insert(client_id.to_owned(), secret.to_owned());
    }

    /// Only these client secrets are accepted at the Entra authority of `tenant`
    /// (`/{tenant}/oauth2/…`) from now on: each tenant its own credentials. Other tenants keep
    /// the rule of [`register_client`](Self::register_client).
    ///
    /// ```
    /// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
    /// let emulator = cosell_emulator::Emulator::start().await.unwrap();
    /// emulator.tokens().register_tenant_client("fabrikam", "fabrikam-app", "s3cret");
    /// # });
    /// ```
    pub fn register_tenant_client(&self, tenant: &str, client_id: &str, secret: &str) {
        lock(&self.inner)
            .tenant_clients
            .entry(tenant.to_ascii_lowercase())
            .or_default()
            .insert(client_id.to_owned(), secret.to_owned());
    }

    /// The tenant (lower case) whose Entra authority issued the request's bearer token, if it
    /// is a token the emulator issued there.
    pub fn tenant_of(&self, request: &ServiceRequest) -> Option<String> {
        let token = request.bearer()?;
        lock(&self.inner).issued.get(token)?.grant.tenant.clone()
    }

    /// Whether device codes are approved on their first poll (the default) or wait for
    /// [`approve_device_code`](Self::approve_device_code).
    pub fn auto_approve_device_codes(&self, auto: bool) {
        lock(&self.inner).auto_approve = auto;
    }

    /// Plays the user who signs in with `user_code`. Returns whether the code was known.
    pub fn approve_device_code(&self, user_code: &str) -> bool {
        let mut tokens = lock(&self.inner);
        let mut found = false;
        for code in tokens.device_codes.values_mut() {
            if code.user_code == user_code {
                code.approved = true;
                found = true;
            }
        }
        found
    }

    /// Revokes every access token issued so far, so the next request with one gets a 401.
    pub fn revoke_all(&self) {
        lock(&self.inner).issued.clear();
    }

    /// Checks a request's bearer token against `audience`.
    pub fn check(&self, request: &ServiceRequest, audience: &str) -> TokenCheck {
        self.check_any(request, &[audience])
    }

    /// Checks a request's bearer token against any of `audiences`.
    pub fn check_any(&self, request: &ServiceRequest, audiences: &[&str]) -> TokenCheck {
        let Some(token) = request.bearer() else {
            return TokenCheck::Missing;
        };
        match lock(&self.inner).issued.get(token) {
            None => TokenCheck::Invalid,
            Some(issued)
                if !audiences
                    .iter()
                    .any(|a| a.eq_ignore_ascii_case(&issued.grant.audience)) =>
            {
                TokenCheck::Invalid
            }
            Some(issued) if issued.expires_at <= self.clock.now() => TokenCheck::Expired,
            Some(_) => TokenCheck::Valid,
        }
    }

    /// How many access tokens were issued in all.
    pub fn issued_count(&self) -> u64 {
        lock(&self.inner).counter
    }

    fn client_ok(
        &self,
        tenant: Option<&str>,
        client_id: Option<&String>,
        secret: Option<&String>,
    ) -> bool {
        let tokens = lock(&self.inner);
        let clients = tenant
            .and_then(|t| tokens.tenant_clients.get(t))
            .unwrap_or(&tokens.clients);
        match (client_id, secret) {
            (Some(id), Some(secret)) if !secret.is_empty() => {
                clients.is_empty() || clients.get(id) == Some(secret)
            }
            _ => false,
        }
    }

    fn issue(&self, grant: Grant, with_refresh: bool) -> (String, Option<String>, u64) {
        let mut tokens = lock(&self.inner);
        tokens.counter += 1;
        let n = tokens.counter;
        let access = format!("emu-at-{n}-{:016x}", fastrand::u64(..));
        let lifetime = tokens.lifetime;
        let expires_at = self
            .clock
            .now()
            .checked_add(SignedDuration::try_from(lifetime).unwrap_or(SignedDuration::MAX))
            .unwrap_or(Timestamp::MAX);
        let refresh = with_refresh.then(|| {
            let refresh = format!("emu-rt-{n}-{:016x}", fastrand::u64(..));
            tokens.refresh.insert(refresh.clone(), grant.clone());
            refresh
        });
        tokens
            .issued
            .insert(access.clone(), Issued { grant, expires_at });
        (access, refresh, lifetime.as_secs())
    }

    /// Uses up a refresh token (they rotate) and returns what it was for.
    fn redeem_refresh(&self, refresh: &str) -> Option<Grant> {
        lock(&self.inner).refresh.remove(refresh)
    }
}

/// The audience a scope or resource names: `https://host/.default offline_access` → `https://host`.
fn audience_of(scope_or_resource: &str) -> String {
    scope_or_resource
        .split_whitespace()
        .find(|s| !matches!(*s, "offline_access" | "openid" | "profile"))
        .unwrap_or_default()
        .trim_end_matches("/.default")
        .trim_end_matches('/')
        .to_owned()
}

fn oauth_error(status: StatusCode, code: &str, description: &str) -> ServiceReply {
    ServiceReply::json(
        "oauth.token",
        status,
        &json!({"error": code, "error_description": description}),
    )
}

/// The token endpoints of Entra ID (`/{tenant}/oauth2/…`) and Salesforce
/// (`/services/oauth2/token`).
pub(crate) struct TokenEndpoints {
    store: std::sync::Arc<TokenStore>,
    salesforce_instance: String,
}

impl TokenEndpoints {
    pub(crate) fn new(store: std::sync::Arc<TokenStore>, salesforce_instance: String) -> Self {
        TokenEndpoints {
            store,
            salesforce_instance,
        }
    }

    fn entra_token(&self, request: &ServiceRequest, tenant: &str) -> ServiceReply {
        let form = request.form();
        let audience = form
            .get("scope")
            .or_else(|| form.get("resource"))
            .map(|s| audience_of(s))
            .unwrap_or_default();
        let tenant = tenant.to_ascii_lowercase();
        let asked = Grant {
            audience,
            tenant: Some(tenant.clone()),
        };
        let grant = form
            .get("grant_type")
            .map(String::as_str)
            .unwrap_or_default();
        let (access, refresh, expires_in) = match grant {
            "client_credentials" => {
                if !self.store.client_ok(
                    Some(&tenant),
                    form.get("client_id"),
                    form.get("client_secret"),
                ) {
                    return oauth_error(
                        StatusCode::UNAUTHORIZED,
                        "invalid_client",
                        "AADSTS7000215: Invalid client secret provided.",
                    );
                }
                self.store.issue(asked, false)
            }
            "refresh_token" => {
                let Some(grant) = form
                    .get("refresh_token")
                    .and_then(|r| self.store.redeem_refresh(r))
                else {
                    return oauth_error(
                        StatusCode::BAD_REQUEST,
                        "invalid_grant",
                        "AADSTS70000: The refresh token is invalid or expired.",
                    );
                };
                self.store.issue(grant, true)
            }
            "urn:ietf:params:oauth:grant-type:device_code" | "device_code" => {
                let code = form.get("device_code").or_else(|| form.get("code"));
                let state = code.and_then(|c| {
                    let mut tokens = lock(&self.store.inner);
                    let auto = tokens.auto_approve;
                    let entry = tokens.device_codes.get(c).cloned()?;
                    if entry.approved || auto {
                        tokens.device_codes.remove(c);
                        Some(Ok(entry.grant))
                    } else {
                        Some(Err(()))
                    }
                });
                match state {
                    None => {
                        return oauth_error(
                            StatusCode::BAD_REQUEST,
                            "expired_token",
                            "AADSTS70020: The device code is unknown or expired.",
                        );
                    }
                    Some(Err(())) => {
                        return oauth_error(
                            StatusCode::BAD_REQUEST,
                            "authorization_pending",
                            "AADSTS70016: The user has not signed in yet.",
                        );
                    }
                    Some(Ok(grant)) => self.store.issue(grant, true),
                }
            }
            other => {
                return oauth_error(
                    StatusCode::BAD_REQUEST,
                    "unsupported_grant_type",
                    &format!("AADSTS70003: grant type `{other}` is not supported here."),
                );
            }
        };
        let mut body = json!({
            "token_type": "Bearer",
            "expires_in": expires_in,
            "ext_expires_in": expires_in,
            "access_token": access,
        });
        if let Some(refresh) = refresh {
            body["refresh_token"] = refresh.into();
        }
        ServiceReply::json("oauth.token", StatusCode::OK, &body)
    }

    fn entra_device_code(&self, request: &ServiceRequest, tenant: &str) -> ServiceReply {
        let form = request.form();
        let audience = form
            .get("scope")
            .or_else(|| form.get("resource"))
            .map(|s| audience_of(s))
            .unwrap_or_default();
        let device_code = format!("emu-dc-{:016x}", fastrand::u64(..));
        let user_code = format!("EMU{:05}", fastrand::u32(..100_000));
        lock(&self.store.inner).device_codes.insert(
            device_code.clone(),
            DeviceCode {
                user_code: user_code.clone(),
                grant: Grant {
                    audience,
                    tenant: Some(tenant.to_ascii_lowercase()),
                },
                approved: false,
            },
        );
        ServiceReply::json(
            "oauth.devicecode",
            StatusCode::OK,
            &json!({
                "device_code": device_code,
                "user_code": user_code,
                "verification_uri": "https://microsoft.com/devicelogin",
                "expires_in": 900,
                "interval": 1,
                "message": format!("Emulator: the code {user_code} is approved on the first poll."),
            }),
        )
    }

    fn salesforce_token(&self, request: &ServiceRequest) -> ServiceReply {
        let form = request.form();
        let grant = form
            .get("grant_type")
            .map(String::as_str)
            .unwrap_or_default();
        let ok = match grant {
            "client_credentials" => {
                self.store
                    .client_ok(None, form.get("client_id"), form.get("client_secret"))
            }
            "urn:ietf:params:oauth:grant-type:jwt-bearer" => form
                .get("assertion")
                .is_some_and(|jwt| jwt.split('.').filter(|p| !p.is_empty()).count() == 3),
            "refresh_token" => form
                .get("refresh_token")
                .and_then(|r| self.store.redeem_refresh(r))
                .is_some(),
            _ => {
                return oauth_error(
                    StatusCode::BAD_REQUEST,
                    "unsupported_grant_type",
                    "grant type not supported",
                );
            }
        };
        if !ok {
            return oauth_error(
                StatusCode::BAD_REQUEST,
                "invalid_grant",
                "authentication failure",
            );
        }
        let (access, refresh, _) = self.store.issue(
            Grant {
                audience: SALESFORCE_AUDIENCE.to_owned(),
                tenant: None,
            },
            grant == "refresh_token",
        );
        // The instance answers in the scheme the login used: every port serves both.
        let instance = if request.secure {
            self.salesforce_instance.replacen("http://", "https://", 1)
        } else {
            self.salesforce_instance.clone()
        };
        let instance = instance.trim_end_matches('/');
        let mut body = json!({
            "access_token": access,
            "instance_url": instance,
            "id": crate::salesforce::identity_url(instance),
            "token_type": "Bearer",
            "issued_at": self.store.clock.now().as_millisecond().to_string(),
            "signature": "ZW11bGF0b3I=",
            "scope": "api",
        });
        if let Some(refresh) = refresh {
            body["refresh_token"] = refresh.into();
        }
        ServiceReply::json("oauth.token", StatusCode::OK, &body)
    }
}

#[async_trait]
impl EmulatedService for TokenEndpoints {
    fn operation(&self, request: &ServiceRequest) -> &'static str {
        let segments = request.segments();
        let segments: Vec<&str> = segments.iter().map(String::as_str).collect();
        if let Some(operation) = crate::discovery::operation(&segments) {
            return operation;
        }
        if request.path.ends_with("/devicecode") {
            "oauth.devicecode"
        } else {
            "oauth.token"
        }
    }

    fn error_reply(
        &self,
        operation: &'static str,
        status: StatusCode,
        message: &str,
    ) -> ServiceReply {
        let code = if status == StatusCode::TOO_MANY_REQUESTS {
            "temporarily_unavailable"
        } else {
            "server_error"
        };
        let mut reply = oauth_error(status, code, message);
        reply.operation = operation;
        reply
    }

    async fn handle(&self, request: ServiceRequest) -> ServiceReply {
        let segments = request.segments();
        let segments: Vec<&str> = segments.iter().map(String::as_str).collect();
        if let Some(operation) = crate::discovery::operation(&segments) {
            if request.method != Method::GET {
                let mut reply = oauth_error(
                    StatusCode::METHOD_NOT_ALLOWED,
                    "invalid_request",
                    "discovery documents take GET",
                )
                .with_header("allow", "GET");
                reply.operation = operation;
                return reply;
            }
            return crate::discovery::answer(&request, &segments, operation);
        }
        if request.method != Method::POST {
            return oauth_error(
                StatusCode::METHOD_NOT_ALLOWED,
                "invalid_request",
                "token endpoints take POST",
            )
            .with_header("allow", "POST");
        }
        match segments.as_slice() {
            ["services", "oauth2", "token"] => self.salesforce_token(&request),
            [tenant, "oauth2", "token"] | [tenant, "oauth2", "v2.0", "token"] => {
                self.entra_token(&request, tenant)
            }
            [tenant, "oauth2", "devicecode"] | [tenant, "oauth2", "v2.0", "devicecode"] => {
                self.entra_device_code(&request, tenant)
            }
            _ => oauth_error(StatusCode::NOT_FOUND, "invalid_request", "no such endpoint"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::audience_of;

    #[test]
    fn audiences_from_scopes_and_resources() {
        assert_eq!(
            audience_of("https://api.partner.microsoft.com/.default offline_access"),
            "https://api.partner.microsoft.com"
        );
        assert_eq!(
            audience_of("https://contoso.crm.dynamics.com"),
            "https://contoso.crm.dynamics.com"
        );
    }
}
