//! The webhook registration: made at start under a store lease, so that of several processes
//! one registers and the others leave it alone; checked again on a schedule, since any other
//! integration can take the events away without telling anyone.
//!
//! A registration held by another URL (Microsoft's connector, another deployment) is never
//! replaced unless the operator passes `--overwrite`: the tenant is flagged on `/status`.

use std::time::Duration;

use cosell::partner_center::webhooks::{
    Overwrite, RegisterError, RegistrationAction, RegistrationHealth,
};
use cosell::webhook::EventName;
use serde::Serialize;

use crate::tenants::{Tenant, lock};

/// The lease a registering process holds.
const LEASE: &str = "webhook-registration";
/// How long the lease lasts: longer than a registration takes.
const LEASE_TTL: Duration = Duration::from_secs(120);

/// Where a tenant's webhook registration stands.
#[derive(Debug, Clone, Default, Serialize)]
#[serde(tag = "state", rename_all = "snake_case")]
pub enum Registration {
    /// Not looked at yet.
    #[default]
    NotChecked,
    /// The app has no client secret, so the service cannot use the registration API (app-only
    /// tokens): register the URL another way.
    NoClientSecret,
    /// Another process holds the registration lease and registers.
    OtherWorkerRegisters,
    /// Registered to our URL for every referral event (`action`: what this start did).
    Registered {
        /// `created`, `merged`, `unchanged`, `replaced`, or `checked` for a later check.
        action: &'static str,
    },
    /// Another URL holds the registration; events do not reach this service.
    HeldByAnotherUrl {
        /// That URL.
        url: Option<String>,
    },
    /// Nobody is registered (someone removed it after start).
    NotRegistered,
    /// Our URL is registered, without some referral events.
    MissingEvents {
        /// The events missing.
        missing: Vec<String>,
    },
    /// The registration API failed.
    Failed {
        /// Why.
        error: String,
    },
}

impl Registration {
    /// Whether the tenant needs an operator: its events do not (or may not) reach the service.
    pub fn is_flagged(&self) -> bool {
        matches!(
            self,
            Registration::HeldByAnotherUrl { .. }
                | Registration::NotRegistered
                | Registration::MissingEvents { .. }
                | Registration::Failed { .. }
        )
    }
}

fn action_name(action: RegistrationAction) -> &'static str {
    match action {
        RegistrationAction::Created => "created",
        RegistrationAction::Merged => "merged",
        RegistrationAction::Unchanged => "unchanged",
        RegistrationAction::Replaced => "replaced",
        _ => "registered",
    }
}

/// Registers the tenant's URL for the referral events under the store lease, replacing another
/// URL's registration only when `overwrite` is set; records the result in the tenant's state.
pub async fn register(tenant: &Tenant, worker: &str, overwrite: bool) {
    let result = register_under_lease(tenant, worker, overwrite).await;
    if result.is_flagged() {
        tracing::warn!(tenant = %tenant.name, registration = ?result, "the webhook registration needs an operator");
    }
    lock(&tenant.state).registration = result;
}

async fn register_under_lease(tenant: &Tenant, worker: &str, overwrite: bool) -> Registration {
    let Some(client) = &tenant.webhooks else {
        return Registration::NoClientSecret;
    };
    let store = tenant.sync.store();
    let lease = match store
        .acquire_lease(&tenant.id, LEASE, worker, LEASE_TTL)
        .await
    {
        Ok(Some(lease)) => lease,
        Ok(None) => return Registration::OtherWorkerRegisters,
        Err(error) => {
            return Registration::Failed {
                error: format!("the registration lease could not be taken: {error}"),
            };
        }
    };
    let overwrite = if overwrite {
        Overwrite::Replace
    } else {
        Overwrite::Refuse
    };
    let result = match client
        .register(&tenant.webhook_url, &EventName::REFERRAL_EVENTS, overwrite)
        .await
    {
        Ok(outcome) => Registration::Registered {
            action: action_name(outcome.action),
        },
        Err(RegisterError::HeldByAnotherUrl { current_url, .. }) => {
            Registration::HeldByAnotherUrl { url: current_url }
        }
        Err(error) => Registration::Failed {
            error: error.to_string(),
        },
    };
    if let Err(error) = store.release_lease(&lease).await {
        tracing::warn!(tenant = %tenant.name, %error, "the registration lease could not be released; it lapses by itself");
    }
    result
}

/// Checks that the registration still points at the tenant's URL with every referral event,
/// and records it (a process that did not register checks too: any of them may notice).
pub async fn check(tenant: &Tenant) {
    let Some(client) = &tenant.webhooks else {
        return;
    };
    let result = match client
        .check_registration(&tenant.webhook_url, &EventName::REFERRAL_EVENTS)
        .await
    {
        Ok(RegistrationHealth::Healthy(_)) => Registration::Registered { action: "checked" },
        Ok(RegistrationHealth::NotRegistered) => Registration::NotRegistered,
        Ok(RegistrationHealth::OtherUrl(registration)) => Registration::HeldByAnotherUrl {
            url: registration.webhook_url,
        },
        Ok(RegistrationHealth::MissingEvents { missing, .. }) => Registration::MissingEvents {
            missing: missing.iter().map(|e| e.as_str().to_owned()).collect(),
        },
        Ok(_) => Registration::Failed {
            error: "the registration is in a state this service does not know".to_owned(),
        },
        Err(error) => Registration::Failed {
            error: error.to_string(),
        },
    };
    if result.is_flagged() {
        tracing::warn!(tenant = %tenant.name, registration = ?result, "the webhook registration needs an operator");
    }
    lock(&tenant.state).registration = result;
}
