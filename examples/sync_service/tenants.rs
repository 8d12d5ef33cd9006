//! One tenant's clients and synchronizer, built from its configuration: Partner Center signed
//! in with the newest refresh token the store keeps (read again before each refresh; rotated
//! tokens saved back), the CRM with
//! its own credentials and the crate's default mapping for it, and every client reporting its
//! requests to the tenant's metrics observer.

use std::sync::{Arc, Mutex, MutexGuard};

use async_trait::async_trait;
use cosell::auth::{
    AccessToken, CachedTokenProvider, ClientCredentials, CustomCredentials, DelegatedScope,
    EntraAuthority, RefreshTokenProvider, TokenProvider,
};
use cosell::dataverse::Dataverse;
use cosell::partner_center::PartnerCenter;
use cosell::partner_center::referrals::TOKEN_RESOURCE;
use cosell::partner_center::webhooks::WebhooksClient;
use cosell::salesforce::{ClientCredentialsFlow, JwtBearerFlow, Salesforce, SalesforceLogin};
use cosell::store::{StoreError, SyncStore, TenantId};
use cosell::sync::{DataverseCrm, SalesforceCrm, Synchronizer};
use jiff::Timestamp;
use secrecy::{ExposeSecret, SecretString};
use serde::Serialize;
use tokio::sync::Notify;
use tokio::sync::mpsc::{UnboundedReceiver, UnboundedSender};

use crate::config::{CrmConfig, CrmKind, SalesforceAuth, TenantConfig, tenant_variable};
use crate::metrics::Metrics;
use crate::registration::Registration;
use crate::status::{JobRun, SweepRun};

/// The store's name for the newest Partner Center refresh token of a tenant.
pub const REFRESH_TOKEN_SECRET: &str = "partner-center-refresh-token";

/// Why a tenant could not be started.
#[derive(Debug, thiserror::Error)]
pub enum TenantError {
    /// No refresh token in the store nor in the environment.
    #[error(
        "tenant `{tenant}` has no Partner Center refresh token: run `sync_service login --tenant {tenant}`, or set {variable}"
    )]
    NoRefreshToken {
        /// The tenant.
        tenant: String,
        /// The variable that may hold one.
        variable: String,
    },
    /// A client or the synchronizer refused its settings (the CRM check names every problem).
    #[error("tenant `{tenant}`: {source}")]
    Sdk {
        /// The tenant.
        tenant: String,
        /// The SDK's error.
        source: cosell::Error,
    },
    /// The store failed.
    #[error("tenant `{tenant}`: the store failed: {source}")]
    Store {
        /// The tenant.
        tenant: String,
        /// The store's error.
        source: StoreError,
    },
}

/// What is known of a tenant's Partner Center sign-in: when a token was last obtained, and the
/// last refusal, named.
#[derive(Debug, Default, Clone, Serialize)]
pub struct TokenHealth {
    /// When an access token was last obtained with the refresh token.
    pub last_refresh: Option<Timestamp>,
    /// The last failure, if it came after the last success.
    pub problem: Option<TokenProblem>,
    /// Why the last rotated refresh token could not be stored (the next start would use an
    /// older one, which may no longer work).
    pub store_problem: Option<String>,
}

/// A failed refresh, named.
#[derive(Debug, Clone, Serialize)]
pub struct TokenProblem {
    /// When it happened.
    pub at: Timestamp,
    /// `mfa_required` (sign in again with `login`), `invalid_grant` (the refresh token was
    /// revoked or expired: sign in again), or `other` (the token endpoint could not be reached…).
    pub kind: &'static str,
    /// The OAuth error code, when the endpoint gave one.
    pub code: Option<String>,
    /// The error, in words (never the token).
    pub message: String,
}

/// Names a refresh failure: Entra ID answers `invalid_grant` both for a dead refresh token and
/// for a policy asking for MFA again, told apart by their AADSTS numbers.
fn token_problem(error: &cosell::Error) -> TokenProblem {
    let message = error.to_string();
    let code = error.code().map(str::to_owned);
    let mfa = ["AADSTS50076", "AADSTS50079", "AADSTS50158"]
        .iter()
        .any(|number| message.contains(number))
        || code.as_deref() == Some("interaction_required");
    let kind = if mfa {
        "mfa_required"
    } else if code.as_deref() == Some("invalid_grant") {
        "invalid_grant"
    } else {
        "other"
    };
    TokenProblem {
        at: Timestamp::now(),
        kind,
        code,
        message,
    }
}

/// The refresh-token provider, watched: each refresh's success or failure is recorded in the
/// tenant's [`TokenHealth`], and a refresh token Entra ID rotated is stored before the access
/// token is handed out, so a process stopped right after a refresh starts again with the
/// newest one (the old one may no longer work). Before each refresh the newest token the store
/// holds is read: one a `login` stored while the service runs, or one another worker rotated
/// (which used up the one this process held), replaces the provider's. Wrapped in the token
/// cache, so it is called only to refresh (one at a time).
#[derive(Debug)]
struct WatchedRefresh {
    /// Builds a provider around a given refresh token.
    factory: RefreshFactory,
    /// The refresh token the provider holds now, and the provider.
    current: tokio::sync::Mutex<(SecretString, Arc<RefreshTokenProvider>)>,
    health: Arc<Mutex<TokenHealth>>,
    store: Arc<dyn SyncStore>,
    tenant: TenantId,
    /// Filled by the provider's rotation sink, which cannot wait for the store.
    rotated: Mutex<UnboundedReceiver<SecretString>>,
}

/// What a tenant's refresh-token provider is built from.
#[derive(Debug)]
struct RefreshFactory {
    authority: EntraAuthority,
    client_id: String,
    client_secret: Option<SecretString>,
    /// Where the provider's rotated tokens go.
    rotated: UnboundedSender<SecretString>,
}

impl RefreshFactory {
    fn build(&self, refresh_token: SecretString) -> cosell::Result<RefreshTokenProvider> {
        let rotated = self.rotated.clone();
        let mut provider = RefreshTokenProvider::builder(
            self.authority.clone(),
            self.client_id.clone(),
            DelegatedScope::v1(TOKEN_RESOURCE),
            refresh_token,
        )
        .on_rotate(Arc::new(move |token: &SecretString| {
            // The sink cannot wait: `WatchedRefresh` stores it before handing out the token.
            let _ = rotated.send(token.clone());
        }));
        if let Some(secret) = &self.client_secret {
            provider = provider.client_secret(secret.clone());
        }
        provider.build()
    }
}

impl WatchedRefresh {
    /// The provider to refresh with: rebuilt around the store's newest refresh token when that
    /// is not the one it holds. A store that cannot be read leaves the provider as it is.
    async fn provider(&self) -> cosell::Result<Arc<RefreshTokenProvider>> {
        let mut current = self.current.lock().await;
        match self.store.secret(&self.tenant, REFRESH_TOKEN_SECRET).await {
            Ok(Some(stored)) if stored.expose_secret() != current.0.expose_secret() => {
                tracing::info!(tenant = %self.tenant, "a newer refresh token is in the store: using it");
                let provider = Arc::new(self.factory.build(stored.clone())?);
                *current = (stored, provider);
            }
            Ok(_) => {}
            Err(error) => {
                tracing::warn!(tenant = %self.tenant, %error, "the stored refresh token could not be read; refreshing with the one held");
            }
        }
        Ok(current.1.clone())
    }
}

#[async_trait]
impl TokenProvider for WatchedRefresh {
    async fn token(&self) -> cosell::Result<AccessToken> {
        let result = match self.provider().await {
            Ok(provider) => provider.token().await,
            Err(error) => Err(error),
        };
        let rotated: Vec<SecretString> = {
            let mut receiver = lock(&self.rotated);
            std::iter::from_fn(|| receiver.try_recv().ok()).collect()
        };
        let mut save_error = None;
        for token in &rotated {
            if let Err(error) = self
                .store
                .save_secret(&self.tenant, REFRESH_TOKEN_SECRET, token)
                .await
            {
                tracing::error!(tenant = %self.tenant, %error, "a rotated refresh token could not be stored");
                save_error = Some(error.to_string());
            }
        }
        if let Some(newest) = rotated.last() {
            // The provider holds it now: the store's copy is no longer newer.
            self.current.lock().await.0 = newest.clone();
        }
        let mut health = lock(&self.health);
        if let Some(error) = save_error {
            health.store_problem = Some(error);
        } else if !rotated.is_empty() {
            health.store_problem = None;
        }
        match &result {
            Ok(_) => {
                health.last_refresh = Some(Timestamp::now());
                health.problem = None;
            }
            Err(error) => health.problem = Some(token_problem(error)),
        }
        result
    }
}

/// What the jobs last did, for `/status`.
#[derive(Debug, Default, Clone)]
pub struct TenantState {
    /// The webhook registration, as last registered or checked.
    pub registration: Registration,
    /// The last sweep.
    pub last_sweep: Option<SweepRun>,
    /// The last CRM poll.
    pub last_poll: Option<JobRun>,
    /// The last inbox batch that failed to be claimed, if the last one did.
    pub inbox_error: Option<String>,
}

/// A tenant being served.
#[derive(Debug)]
pub struct Tenant {
    /// Its name in URLs, the store and the status.
    pub name: String,
    /// Its id in the store.
    pub id: TenantId,
    /// Its CRM.
    pub crm: CrmKind,
    /// The public URL its events are delivered to.
    pub webhook_url: String,
    /// Its synchronizer.
    pub sync: Synchronizer,
    /// The webhook registration client (app-only), when the app has a client secret.
    pub webhooks: Option<WebhooksClient>,
    /// Its sign-in's health.
    pub token: Arc<Mutex<TokenHealth>>,
    /// What its jobs last did.
    pub state: Mutex<TenantState>,
    /// Woken by the receiver when an event was enqueued, so a worker takes it at once.
    pub wake: Notify,
}

/// Locks a mutex, taking over a poisoned one: the figures it guards stay usable.
pub fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

impl Tenant {
    /// Builds the tenant's clients and synchronizer (which checks the CRM's columns, keys and
    /// options), on `store`, as `worker`.
    ///
    /// # Errors
    /// [`TenantError`] naming the tenant.
    pub async fn start(
        config: &TenantConfig,
        store: Arc<dyn SyncStore>,
        metrics: &Arc<Metrics>,
        worker: &str,
    ) -> Result<Tenant, TenantError> {
        let name = config.name.clone();
        let sdk = |source: cosell::Error| TenantError::Sdk {
            tenant: name.clone(),
            source,
        };
        let id = TenantId::new(name.clone()).map_err(sdk)?;
        let observer = metrics.observer(&name);
        let pc = &config.partner_center;
        let authority = match &pc.authority_host {
            Some(host) => EntraAuthority::new(host, pc.entra_tenant.clone()).map_err(sdk)?,
            None => EntraAuthority::public_cloud(pc.entra_tenant.clone()),
        };

        let refresh_token = newest_refresh_token(config, &id, store.as_ref()).await?;
        let (rotated, to_save) = tokio::sync::mpsc::unbounded_channel::<SecretString>();
        let factory = RefreshFactory {
            authority: authority.clone(),
            client_id: pc.client_id.clone(),
            client_secret: pc.client_secret.clone(),
            rotated,
        };
        let provider = Arc::new(factory.build(refresh_token.clone()).map_err(sdk)?);
        let token = Arc::new(Mutex::new(TokenHealth::default()));
        let watched = WatchedRefresh {
            factory,
            current: tokio::sync::Mutex::new((refresh_token, provider)),
            health: token.clone(),
            store: store.clone(),
            tenant: id.clone(),
            rotated: Mutex::new(to_save),
        };
        let mut partner_center =
            PartnerCenter::builder(CustomCredentials::user(CachedTokenProvider::new(watched)))
                .observer(observer.clone());
        if let Some(url) = &pc.referrals_url {
            partner_center = partner_center.base_url(url.clone());
        }
        let partner_center = partner_center.build().map_err(sdk)?;

        let webhooks = match &pc.client_secret {
            Some(secret) => {
                let credentials = ClientCredentials::new(
                    authority.clone(),
                    pc.client_id.clone(),
                    secret.clone(),
                    WebhooksClient::TOKEN_SCOPE,
                )
                .map_err(sdk)?;
                let mut builder = WebhooksClient::builder(credentials).observer(observer.clone());
                if let Some(url) = &pc.webhooks_url {
                    builder = builder.base_url(url.clone());
                }
                Some(builder.build().map_err(sdk)?)
            }
            None => None,
        };

        let builder = match &config.crm {
            CrmConfig::Dataverse {
                environment_url,
                api_url,
                client_id,
                client_secret,
                origin_tag,
            } => {
                let scope = Dataverse::scope_for_url(environment_url).map_err(sdk)?;
                let credentials = ClientCredentials::new(
                    authority.clone(),
                    client_id.clone(),
                    client_secret.clone(),
                    scope,
                )
                .map_err(sdk)?;
                let base = api_url.clone().unwrap_or_else(|| {
                    format!("{}/api/data/v9.2/", environment_url.trim_end_matches('/'))
                });
                let dataverse = Dataverse::builder(credentials)
                    .base_url(base)
                    .origin_tag(origin_tag.clone())
                    .observer(observer.clone())
                    .build()
                    .map_err(sdk)?;
                Synchronizer::builder(
                    partner_center,
                    DataverseCrm::new(dataverse),
                    cosell::mapping::dynamics365()
                        .build()
                        .map_err(|e| sdk(e.into()))?,
                    store,
                    id.clone(),
                )
            }
            CrmConfig::Salesforce {
                login_url,
                client_id,
                auth,
                instance_url,
                origin_client_id,
            } => {
                let login = match login_url {
                    Some(url) => SalesforceLogin::new(url).map_err(sdk)?,
                    None => SalesforceLogin::production(),
                };
                let mut builder = match auth {
                    SalesforceAuth::JwtBearer {
                        username,
                        private_key,
                    } => Salesforce::builder(
                        JwtBearerFlow::builder(
                            login,
                            client_id.clone(),
                            username.clone(),
                            private_key.clone(),
                        )
                        .build()
                        .map_err(sdk)?,
                    ),
                    SalesforceAuth::ClientCredentials { secret } => Salesforce::builder(
                        ClientCredentialsFlow::new(login, client_id.clone(), secret.clone())
                            .map_err(sdk)?,
                    ),
                }
                .origin_client_id(origin_client_id.clone())
                .observer(observer.clone());
                if let Some(url) = instance_url {
                    builder = builder.instance_url(url.clone());
                }
                Synchronizer::builder(
                    partner_center,
                    SalesforceCrm::new(builder.build().map_err(sdk)?),
                    cosell::mapping::salesforce()
                        .build()
                        .map_err(|e| sdk(e.into()))?,
                    store,
                    id.clone(),
                )
            }
        };
        let mut builder = builder.worker(worker);
        if let Some(owner) = &config.owner {
            builder = builder.owner(owner.clone());
        }
        let sync = builder.build().await.map_err(sdk)?;
        Ok(Tenant {
            name,
            id,
            crm: config.crm.kind(),
            webhook_url: config.webhook_url.clone(),
            sync,
            webhooks,
            token,
            state: Mutex::new(TenantState::default()),
            wake: Notify::new(),
        })
    }
}

/// The newest refresh token: the store's (the last one `login` saved or the service rotated);
/// else the environment's, which is then saved so that rotations replace it.
async fn newest_refresh_token(
    config: &TenantConfig,
    id: &TenantId,
    store: &dyn SyncStore,
) -> Result<SecretString, TenantError> {
    let store_error = |source| TenantError::Store {
        tenant: config.name.clone(),
        source,
    };
    if let Some(token) = store
        .secret(id, REFRESH_TOKEN_SECRET)
        .await
        .map_err(store_error)?
    {
        return Ok(token);
    }
    let Some(token) = config.partner_center.refresh_token.clone() else {
        return Err(TenantError::NoRefreshToken {
            tenant: config.name.clone(),
            variable: tenant_variable(&config.name, "COSELL_PARTNER_CENTER_REFRESH_TOKEN"),
        });
    };
    store
        .save_secret(id, REFRESH_TOKEN_SECRET, &token)
        .await
        .map_err(store_error)?;
    Ok(token)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn auth_error(code: &str, message: &str) -> cosell::Error {
        cosell::Error::from(cosell::error::AuthError {
            code: Some(code.to_owned()),
            message: message.to_owned(),
            status: None,
            request_id: None,
        })
    }

    #[test]
    fn refresh_failures_are_named() {
        let dead = auth_error(
            "invalid_grant",
            "AADSTS70000: The refresh token is invalid.",
        );
        assert_eq!(token_problem(&dead).kind, "invalid_grant");
        let mfa = auth_error(
            "invalid_grant",
            "AADSTS50076: you must use multi-factor authentication to access this resource.",
        );
        assert_eq!(token_problem(&mfa).kind, "mfa_required");
        let interaction = auth_error("interaction_required", "Sign in again.");
        assert_eq!(token_problem(&interaction).kind, "mfa_required");
        let other = cosell::Error::validation("the endpoint could not be reached");
        assert_eq!(token_problem(&other).kind, "other");
    }
}
