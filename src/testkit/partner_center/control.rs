//! The control API: Partner Center's state, and Microsoft's side of it.

use std::sync::Arc;
use std::sync::atomic::Ordering;

use serde_json::Value;

use super::deliveries::{Delivery, DeliveryPolicy, DeliveryState};
use super::events::{self, Change};
use super::registration::Registration;
use super::store::{Document, Origin};
use super::{MAX_PAGE_SIZE, PartnerCenterState, patch, transitions};
use crate::error::{Error, Result};
use crate::http::lock;
use crate::partner_center::referrals::ReferralPatch;
use crate::partner_center::webhooks::WebhookRegistration;
use crate::partner_center::{Referral, ReferralStatus, ReferralSubstatus};

/// Partner Center's emulated state, and Microsoft's side of it: share a referral with the
/// partner, update it, close it. Every change made here sends the same webhook events as a
/// change made through the API.
///
/// ```
/// use cosell::partner_center::{ReferralStatus, ReferralSubstatus};
/// use cosell::testkit::Emulator;
///
/// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
/// let emulator = Emulator::start().await.unwrap();
/// let pc = emulator.partner_center();
/// let shared = pc.share_referral(&Default::default()).unwrap();
/// assert_eq!(shared.status, Some(ReferralStatus::New));
/// let closed = pc.close_referral(shared.id.as_deref().unwrap(), ReferralSubstatus::Declined).unwrap();
/// assert!(closed.is_closed());
/// pc.wait_for_deliveries().await; // nothing registered: nothing sent
/// assert!(pc.deliveries().is_empty());
/// # });
/// ```
pub struct PartnerCenterControl {
    state: Arc<PartnerCenterState>,
}

impl std::fmt::Debug for PartnerCenterControl {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PartnerCenterControl")
            .field("referrals", &lock(&self.state.referrals).all().len())
            .finish_non_exhaustive()
    }
}

impl Drop for PartnerCenterControl {
    fn drop(&mut self) {
        self.state.deliveries.shutdown();
    }
}

fn to_document(referral: &Referral) -> Result<Document> {
    match serde_json::to_value(referral) {
        Ok(Value::Object(map)) => Ok(map),
        Ok(_) => Err(Error::validation("a referral must be a JSON object")),
        Err(e) => Err(Error::validation(format!(
            "the referral cannot be written: {e}"
        ))),
    }
}

fn to_referral(document: &Document) -> Result<Referral> {
    let bytes = serde_json::to_vec(document)
        .map_err(|e| Error::validation(format!("the stored referral cannot be read: {e}")))?;
    Referral::from_json(&bytes)
}

impl PartnerCenterControl {
    pub(crate) fn new(state: Arc<PartnerCenterState>) -> Self {
        PartnerCenterControl { state }
    }

    fn store(&self, referral: &Referral, origin: Origin, notify: bool) -> Result<Referral> {
        let document = to_document(referral)?;
        let (created, related) = {
            let mut store = lock(&self.state.referrals);
            let created = store.create(document, origin);
            let related = store.has_related(&created);
            (created, related)
        };
        if notify {
            events::referral_changed(&self.state, Change::Created, &created, related);
        }
        to_referral(&created)
    }

    /// Plays Microsoft sharing a referral with the partner: stored as an incoming referral
    /// (`New` / `Pending`, `Shared`, invited by `msft`, unless the referral says otherwise),
    /// with a new id, eTag and timestamps; `referral-created` is delivered.
    ///
    /// # Errors
    /// [`Error::Validation`] if the referral cannot be written as JSON.
    pub fn share_referral(&self, referral: &Referral) -> Result<Referral> {
        self.store(referral, Origin::Microsoft, true)
    }

    /// Stores a referral as Microsoft would share it, without sending any event: test data.
    ///
    /// ```
    /// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
    /// let emulator = cosell::testkit::Emulator::start().await.unwrap();
    /// for _ in 0..3 {
    ///     emulator.partner_center().seed_referral(&Default::default()).unwrap();
    /// }
    /// assert_eq!(emulator.partner_center().referrals().len(), 3);
    /// # });
    /// ```
    ///
    /// # Errors
    /// [`Error::Validation`] if the referral cannot be written as JSON.
    pub fn seed_referral(&self, referral: &Referral) -> Result<Referral> {
        self.store(referral, Origin::Microsoft, false)
    }

    fn change(
        &self,
        id: &str,
        next: impl FnOnce(&Document) -> std::result::Result<Document, String>,
    ) -> Result<Referral> {
        let (saved, related) = {
            let mut store = lock(&self.state.referrals);
            let current = store
                .get(id)
                .ok_or_else(|| Error::validation(format!("no referral has the id {id}")))?;
            let next = next(current).map_err(Error::validation)?;
            transitions::check(current, &next).map_err(Error::validation)?;
            let saved = store
                .replace(id, next)
                .ok_or_else(|| Error::validation(format!("no referral has the id {id}")))?;
            let related = store.has_related(&saved);
            (saved, related)
        };
        events::referral_changed(&self.state, Change::Updated, &saved, related);
        to_referral(&saved)
    }

    /// Plays Microsoft updating a referral with a patch (the transition table applies);
    /// `referral-updated` is delivered.
    ///
    /// ```
    /// use cosell::partner_center::referrals::ReferralPatch;
    ///
    /// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
    /// let emulator = cosell::testkit::Emulator::start().await.unwrap();
    /// let pc = emulator.partner_center();
    /// let shared = pc.share_referral(&Default::default()).unwrap();
    /// let id = shared.id.as_deref().unwrap();
    /// let updated = pc.update_referral(id, &ReferralPatch::new().notes("from Microsoft")).unwrap();
    /// assert_ne!(updated.e_tag, shared.e_tag);
    /// # });
    /// ```
    ///
    /// # Errors
    /// [`Error::Validation`] for an unknown id, a patch that does not apply, or a transition
    /// the table rules out.
    pub fn update_referral(&self, id: &str, patch: &ReferralPatch) -> Result<Referral> {
        let operations = serde_json::to_value(patch)
            .map_err(|e| Error::validation(format!("the patch cannot be written: {e}")))?;
        self.change(id, |current| patch::apply(current, &operations))
    }

    /// Plays Microsoft closing a referral (`Closed` with `substatus`: Won, Lost, Declined or
    /// Expired); `referral-updated` is delivered.
    ///
    /// # Errors
    /// As [`update_referral`](Self::update_referral): an unknown id, a referral already
    /// closed, or a substatus a closed referral cannot have.
    pub fn close_referral(&self, id: &str, substatus: ReferralSubstatus) -> Result<Referral> {
        let patch = ReferralPatch::new()
            .status(ReferralStatus::Closed)
            .substatus(substatus);
        self.update_referral(id, &patch)
    }

    /// One referral as stored.
    pub fn referral(&self, id: &str) -> Option<Referral> {
        lock(&self.state.referrals)
            .get(id)
            .and_then(|d| to_referral(d).ok())
    }

    /// Every referral, in creation order.
    pub fn referrals(&self) -> Vec<Referral> {
        lock(&self.state.referrals)
            .all()
            .iter()
            .filter_map(|d| to_referral(d).ok())
            .collect()
    }

    /// How many referrals a listing page holds, from 1 to 100 (default 100, the service's
    /// maximum): smaller pages exercise paging with fewer referrals.
    ///
    /// ```
    /// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
    /// let emulator = cosell::testkit::Emulator::start().await.unwrap();
    /// emulator.partner_center().set_page_size(2);
    /// # });
    /// ```
    pub fn set_page_size(&self, size: usize) {
        self.state
            .page_size
            .store(size.clamp(1, MAX_PAGE_SIZE), Ordering::Relaxed);
    }

    /// The tenant's webhook registration.
    pub fn registration(&self) -> Option<WebhookRegistration> {
        let registration = lock(&self.state.webhooks).registration.clone()?;
        serde_json::from_value(registration.to_json()).ok()
    }

    /// Sets (or with `None` removes) the tenant's registration, as another integration (the
    /// co-sell connector, a CSP platform) would.
    ///
    /// ```
    /// use cosell::partner_center::webhooks::WebhookRegistration;
    /// use cosell::webhook::EventName;
    ///
    /// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
    /// let emulator = cosell::testkit::Emulator::start().await.unwrap();
    /// let pc = emulator.partner_center();
    /// let connector = WebhookRegistration::new("https://connector.example/hook", EventName::REFERRAL_EVENTS);
    /// pc.set_registration(Some(&connector)).unwrap();
    /// assert_eq!(pc.registration().unwrap().webhook_url, connector.webhook_url);
    /// # });
    /// ```
    ///
    /// # Errors
    /// [`Error::Validation`] for a registration without a usable URL or with an unknown event.
    pub fn set_registration(&self, registration: Option<&WebhookRegistration>) -> Result<()> {
        let mut webhooks = lock(&self.state.webhooks);
        let Some(registration) = registration else {
            webhooks.registration = None;
            return Ok(());
        };
        let body = serde_json::to_value(registration)
            .map_err(|e| Error::validation(format!("the registration cannot be written: {e}")))?;
        let subscriber_id = registration
            .subscriber_id
            .clone()
            .unwrap_or_else(|| uuid::Uuid::new_v4().to_string());
        webhooks.registration =
            Some(Registration::from_body(&body, subscriber_id).map_err(Error::validation)?);
        Ok(())
    }

    /// The URL deliveries name in `x-ms-certificate-url`; the webhooks port serves the
    /// testkit certificate there.
    pub fn certificate_url(&self) -> &str {
        self.state.signer.certificate_url()
    }

    /// How deliveries are attempted from now on.
    ///
    /// ```
    /// use std::time::Duration;
    /// use cosell::testkit::DeliveryPolicy;
    ///
    /// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
    /// let emulator = cosell::testkit::Emulator::start().await.unwrap();
    /// emulator.partner_center().set_delivery_policy(DeliveryPolicy {
    ///     max_attempts: 3,
    ///     retry_delay: Duration::from_millis(1),
    ///     ..DeliveryPolicy::default()
    /// });
    /// assert!(emulator.partner_center().parked().is_empty());
    /// # });
    /// ```
    pub fn set_delivery_policy(&self, policy: DeliveryPolicy) {
        self.state.deliveries.set_policy(policy);
    }

    /// Every delivery so far, in dispatch order.
    pub fn deliveries(&self) -> Vec<Delivery> {
        self.state.deliveries.records()
    }

    /// The deliveries that failed every attempt and went to the offline queue.
    pub fn parked(&self) -> Vec<Delivery> {
        self.deliveries()
            .into_iter()
            .filter(|d| d.state == DeliveryState::Parked)
            .collect()
    }

    /// Waits until every delivery sent so far is delivered or parked (an event held back by
    /// a reorder fault is released first).
    pub async fn wait_for_deliveries(&self) {
        self.state.deliveries.settle().await;
    }
}
