//! The OAuth 2.0 token endpoint exchange shared by every flow.

use std::collections::BTreeMap;

use jiff::Timestamp;
use secrecy::SecretString;
use serde::Deserialize;
use serde_json::Value;

use super::AccessToken;
use crate::error::{AuthError, Error, Result, Service};
use crate::http::{ClientOptions, Pipeline, ServiceProfile};

/// The pipeline profile of OAuth token endpoints (Entra ID, Salesforce).
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct TokenEndpointProfile;

impl ServiceProfile for TokenEndpointProfile {
    fn service(&self) -> Service {
        Service::TokenEndpoint
    }

    fn request_id_headers(&self) -> &[&'static str] {
        &["x-ms-request-id", "request-id", "x-request-id"]
    }

    fn rejects_token(&self, _: &crate::error::ApiError) -> bool {
        // Token endpoints take no bearer token: a 401 is a failed authentication.
        false
    }
}

/// A token endpoint's success answer, as Entra ID (v1 and v2) and Salesforce send it.
#[derive(Debug, Deserialize)]
#[non_exhaustive]
pub struct TokenResponse {
    /// The access token.
    pub access_token: SecretString,
    /// Usually `Bearer`.
    #[serde(default)]
    pub token_type: Option<String>,
    /// Lifetime in seconds (a number in v2, a string in v1; absent at Salesforce).
    #[serde(default, deserialize_with = "seconds")]
    pub expires_in: Option<u64>,
    /// Expiry as Unix seconds (v1 only).
    #[serde(default, deserialize_with = "seconds")]
    pub expires_on: Option<u64>,
    /// A refresh token, for delegated flows.
    #[serde(default)]
    pub refresh_token: Option<SecretString>,
    /// Granted scopes.
    #[serde(default)]
    pub scope: Option<String>,
    /// Every other string value (Salesforce `instance_url`, `id`, `issued_at`, …).
    #[serde(flatten)]
    pub extra: BTreeMap<String, Value>,
}

impl TokenResponse {
    /// The access token with its expiry and extra values.
    pub fn to_access_token(&self, now: Timestamp) -> AccessToken {
        use secrecy::ExposeSecret;
        let mut token = AccessToken::bearer(self.access_token.expose_secret())
            .with_token_type(self.token_type.as_deref().unwrap_or("Bearer"));
        let expires = match (self.expires_in, self.expires_on) {
            (Some(secs), _) => now.checked_add(jiff::SignedDuration::from_secs(
                i64::try_from(secs).unwrap_or(i64::MAX / 2),
            )),
            (None, Some(on)) => Timestamp::from_second(i64::try_from(on).unwrap_or(0)),
            (None, None) => Err(jiff::Error::from_args(format_args!("no expiry"))),
        };
        if let Ok(at) = expires {
            token = token.with_expiry(at);
        }
        for (key, value) in &self.extra {
            if let Value::String(text) = value {
                token = token.with_extra(key.clone(), text.clone());
            }
        }
        token
    }
}

fn seconds<'de, D: serde::Deserializer<'de>>(d: D) -> std::result::Result<Option<u64>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum NumberOrText {
        Number(u64),
        Text(String),
    }
    Ok(match Option::<NumberOrText>::deserialize(d)? {
        Some(NumberOrText::Number(n)) => Some(n),
        Some(NumberOrText::Text(t)) => t.trim().parse().ok(),
        None => None,
    })
}

/// The pipeline of a token endpoint below `url`.
pub(crate) fn token_pipeline(url: &str, options: &ClientOptions) -> Result<Pipeline> {
    Pipeline::builder(TokenEndpointProfile)
        .base_url(url)?
        .options(options.clone())
        .build()
}

/// Posts a form to a token endpoint and reads the answer; failures become [`Error::Auth`] with
/// the OAuth error code.
pub(crate) async fn post_form<T: serde::de::DeserializeOwned>(
    pipeline: &Pipeline,
    segments: &[&str],
    form: &[(&str, &str)],
    idempotent: bool,
) -> Result<T> {
    let body = url::form_urlencoded::Serializer::new(String::new())
        .extend_pairs(form)
        .finish();
    let result = pipeline
        .post(segments)
        .literal_path()
        .operation("oauth.token")
        .idempotent(idempotent)
        .body(body, "application/x-www-form-urlencoded")
        .send_json()
        .await;
    result.map_err(into_auth_error)
}

/// Turns a token endpoint's failure into an [`Error::Auth`] that keeps its OAuth code.
pub(crate) fn into_auth_error(error: Error) -> Error {
    let auth = match error.last() {
        Error::Api(api) => AuthError {
            code: api.code.clone(),
            message: api
                .message
                .clone()
                .unwrap_or_else(|| format!("the token endpoint answered {}", api.status)),
            status: Some(api.status),
            request_id: api.request_id.clone(),
        },
        Error::Decode(d) => AuthError {
            code: None,
            message: format!(
                "the token endpoint's answer did not decode at `{}`: {}",
                d.path, d.message
            ),
            status: d.status,
            request_id: d.request_id.clone(),
        },
        Error::Auth(_) | Error::Config(_) | Error::Validation(_) => return error,
        other => AuthError {
            code: None,
            message: other.to_string(),
            status: None,
            request_id: None,
        },
    };
    Error::from(auth)
}

/// A refresh token that the token endpoint may rotate on use, with the client it belongs to:
/// what the Entra ID and the Salesforce refresh-token flows both hold.
pub(crate) struct RotatingRefreshToken {
    client_id: String,
    client_secret: Option<SecretString>,
    current: std::sync::Mutex<SecretString>,
    sink: Option<super::RefreshTokenSink>,
}

impl std::fmt::Debug for RotatingRefreshToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RotatingRefreshToken")
            .field("client_id", &self.client_id)
            .field("refresh_token", &"[redacted]")
            .finish_non_exhaustive()
    }
}

impl RotatingRefreshToken {
    pub(crate) fn new(client_id: String, refresh_token: SecretString) -> Self {
        RotatingRefreshToken {
            client_id,
            client_secret: None,
            current: std::sync::Mutex::new(refresh_token),
            sink: None,
        }
    }

    pub(crate) fn client_id(&self) -> &str {
        &self.client_id
    }

    pub(crate) fn set_client_secret(&mut self, secret: SecretString) {
        self.client_secret = Some(secret);
    }

    pub(crate) fn set_sink(&mut self, sink: super::RefreshTokenSink) {
        self.sink = Some(sink);
    }

    /// Redeems the refresh token at the endpoint `path` of `pipeline`, with `extra` form
    /// fields (a scope or resource). A rotated refresh token replaces the current one and goes
    /// to the sink.
    pub(crate) async fn redeem(
        &self,
        pipeline: &Pipeline,
        path: &[&str],
        extra: &[(&str, &str)],
    ) -> Result<TokenResponse> {
        use secrecy::ExposeSecret;
        let current = crate::http::lock(&self.current).clone();
        let mut form = vec![
            ("grant_type", "refresh_token"),
            ("refresh_token", current.expose_secret()),
            ("client_id", self.client_id.as_str()),
        ];
        form.extend_from_slice(extra);
        if let Some(secret) = &self.client_secret {
            form.push(("client_secret", secret.expose_secret()));
        }
        // Not idempotent: with rotation on, the first use may retire the refresh token.
        let response: TokenResponse = post_form(pipeline, path, &form, false).await?;
        if let Some(rotated) = &response.refresh_token
            && rotated.expose_secret() != current.expose_secret()
        {
            *crate::http::lock(&self.current) = rotated.clone();
            if let Some(sink) = &self.sink {
                sink(rotated);
            }
        }
        Ok(response)
    }
}
