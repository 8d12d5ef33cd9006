//! Emulated Partner Center: the referrals API, the webhook registration API, and signed
//! webhook deliveries.
//!
//! - Referrals (`…/v1.0/engagements/referrals`): list with the `$filter` forms the SDK's
//!   builder writes, `$orderby`, `$top`, `$select` and server pages of at most 100 linked by
//!   `@odata.nextLink`; get; create; JSON Patch (`replace` / `add`) and the legacy PUT, with
//!   an ETag that changes on every write, `If-Match` checks (412 `preconditionFailed`) and the
//!   status transition table enforced. Tokens must be for `https://api.partner.microsoft.com`.
//! - Webhooks (`…/webhooks/v1/`): events, one registration per tenant (a second POST is
//!   409; a PUT without one creates it, since the service's answer is undocumented),
//!   validation events (not throttled). Tokens must be for
//!   `https://api.partnercenter.microsoft.com`.
//! - Deliveries: every referral change, through the API or through
//!   [`PartnerCenterControl`] playing Microsoft's side, is POSTed to the registered URL if the
//!   registration includes its event, signed with the emulator's own test certificate
//!   ([`SIGNING_CERTIFICATE_PEM`]), which the webhooks port serves below `/cert/` over plain
//!   HTTP on loopback: a receiver under test trusts that URL (and only in tests).

mod certificate;
mod control;
mod deliveries;
mod events;
mod patch;
mod query;
mod referrals;
mod registration;
mod schema;
mod signer;
mod store;
mod transitions;

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicUsize};
use std::sync::{Arc, Mutex};

pub use control::PartnerCenterControl;
pub use deliveries::{Delivery, DeliveryAttempt, DeliveryPolicy, DeliveryState};
pub use signer::{SIGNING_CERTIFICATE_DER, SIGNING_CERTIFICATE_PEM};

use super::clock::EmulatorClock;
use super::frame::{EmulatedService, EmulatorUrls, ServiceContext, ServiceRequest};
use super::tokens::TokenStore;
use crate::lock;
use deliveries::Deliveries;
use registration::WebhookState;
use store::ReferralStore;

/// The most referrals one page holds, as the service documents.
pub(crate) const MAX_PAGE_SIZE: usize = 100;

/// One partner tenant: its referrals and its webhook registration.
pub(crate) struct Tenant {
    /// `None` for the default tenant, which serves tokens of every tenant not added.
    pub(crate) name: Option<String>,
    pub(crate) referrals: Mutex<ReferralStore>,
    pub(crate) webhooks: Mutex<WebhookState>,
}

/// Everything the two services and the control API share.
pub(crate) struct PartnerCenterState {
    pub(crate) default_tenant: Arc<Tenant>,
    /// The tenants added by name (lower case), each with its own state.
    pub(crate) tenants: Mutex<HashMap<String, Arc<Tenant>>>,
    pub(crate) deliveries: Deliveries,
    pub(crate) signer: signer::Signer,
    pub(crate) tokens: Arc<TokenStore>,
    pub(crate) urls: EmulatorUrls,
    pub(crate) page_size: AtomicUsize,
    pub(crate) strict: AtomicBool,
    /// Whether the partner's own API writes send webhook events (whether the service does is
    /// UNCONFIRMED; it probably does).
    pub(crate) own_write_events: AtomicBool,
    pub(crate) clock: Arc<dyn EmulatorClock>,
}

impl Tenant {
    fn new(name: Option<String>, urls: &EmulatorUrls, clock: &Arc<dyn EmulatorClock>) -> Self {
        Tenant {
            name,
            referrals: Mutex::new(ReferralStore::new(
                urls.partner_center_referrals.clone(),
                clock.clone(),
            )),
            webhooks: Mutex::new(WebhookState::default()),
        }
    }
}

impl PartnerCenterState {
    /// The tenant named `name`, added on first use.
    pub(crate) fn tenant(&self, name: &str) -> Arc<Tenant> {
        let key = name.to_ascii_lowercase();
        let mut tenants = lock(&self.tenants);
        match tenants.get(&key) {
            Some(tenant) => tenant.clone(),
            None => {
                let tenant = Arc::new(Tenant::new(Some(key.clone()), &self.urls, &self.clock));
                tenants.insert(key, tenant.clone());
                tenant
            }
        }
    }

    /// The tenant a request's token was issued in, or the default tenant.
    pub(crate) fn tenant_of(&self, request: &ServiceRequest) -> Arc<Tenant> {
        let named = self
            .tokens
            .tenant_of(request)
            .and_then(|name| lock(&self.tenants).get(&name).cloned());
        named.unwrap_or_else(|| self.default_tenant.clone())
    }

    /// `http://127.0.0.1:<webhooks port>/`: where certificates and event resource URIs live.
    pub(crate) fn webhooks_origin(&self) -> &str {
        self.urls
            .partner_center_webhooks
            .trim_end_matches("webhooks/v1/")
    }
}

pub(crate) fn start(
    context: &ServiceContext,
) -> (
    PartnerCenterControl,
    Arc<dyn EmulatedService>,
    Arc<dyn EmulatedService>,
) {
    let webhooks_origin = context
        .urls
        .partner_center_webhooks
        .trim_end_matches("webhooks/v1/")
        .to_owned();
    let default_tenant = Arc::new(Tenant::new(None, &context.urls, &context.clock));
    let state = Arc::new(PartnerCenterState {
        default_tenant: default_tenant.clone(),
        tenants: Mutex::default(),
        deliveries: Deliveries::start(context.faults.clone(), context.clock.clone()),
        signer: signer::Signer::new(certificate::certificate_url(&webhooks_origin)),
        tokens: context.tokens.clone(),
        urls: context.urls.clone(),
        page_size: AtomicUsize::new(MAX_PAGE_SIZE),
        strict: AtomicBool::new(false),
        own_write_events: AtomicBool::new(true),
        clock: context.clock.clone(),
    });
    (
        PartnerCenterControl::new(state.clone(), default_tenant),
        Arc::new(referrals::ReferralsService::new(state.clone())),
        Arc::new(registration::WebhooksService::new(state)),
    )
}
