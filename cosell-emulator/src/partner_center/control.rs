//! The control API: Partner Center's state, and Microsoft's side of it.

use std::sync::Arc;
use std::sync::atomic::Ordering;

use serde_json::Value;

use super::deliveries::{Delivery, DeliveryPolicy, DeliveryState};
use super::events::{self, Change};
use super::registration::Registration;
use super::store::{Document, Origin};
use super::{MAX_PAGE_SIZE, PartnerCenterState, Tenant, patch, transitions};
use crate::error::{Error, Result};
use crate::lock;

/// Partner Center's emulated state, and Microsoft's side of it: share a referral with the
/// partner, update it, close it. Every change made here sends the same webhook events as a
/// change made through the API. Referrals go in and come out as the service's JSON (camelCase).
///
/// ```
/// use serde_json::json;
/// use cosell_emulator::Emulator;
///
/// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
/// let emulator = Emulator::start().await.unwrap();
/// let pc = emulator.partner_center();
/// let shared = pc.share_referral(json!({"name": "Contoso cloud"})).unwrap();
/// assert_eq!(shared["status"], "New");
/// let id = shared["id"].as_str().unwrap();
/// let closed = pc.close_referral(id, "Declined").unwrap();
/// assert_eq!(closed["status"], "Closed");
/// pc.wait_for_deliveries().await; // nothing registered: nothing sent
/// assert!(pc.deliveries().is_empty());
/// # });
/// ```
#[derive(Clone)]
pub struct PartnerCenterControl {
    state: Arc<PartnerCenterState>,
    tenant: Arc<Tenant>,
}

impl std::fmt::Debug for PartnerCenterControl {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PartnerCenterControl")
            .field("referrals", &lock(&self.tenant.referrals).all().len())
            .finish_non_exhaustive()
    }
}

fn to_document(referral: Value) -> Result<Document> {
    match referral {
        Value::Object(map) => Ok(map),
        _ => Err(Error::invalid("a referral must be a JSON object")),
    }
}

impl PartnerCenterControl {
    pub(crate) fn new(state: Arc<PartnerCenterState>, tenant: Arc<Tenant>) -> Self {
        PartnerCenterControl { state, tenant }
    }

    /// The tenant `name` (a tenant id or domain, as in the Entra authority URL), added on first
    /// use, with its own referrals and webhook registration. Tokens issued by the emulated
    /// Entra ID at `/{name}/oauth2/…` see this tenant; tokens of tenants not added see the
    /// default one. Give it its own credentials with
    /// [`TokenStore::register_tenant_client`](crate::TokenStore::register_tenant_client).
    /// Settings (strict mode, page size, delivery policy) are shared by every tenant.
    ///
    /// ```
    /// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
    /// let emulator = cosell_emulator::Emulator::start().await.unwrap();
    /// let fabrikam = emulator.partner_center().tenant("fabrikam.onmicrosoft.com");
    /// fabrikam.seed_referral(serde_json::json!({"name": "only Fabrikam's"})).unwrap();
    /// assert_eq!(fabrikam.referrals().len(), 1);
    /// assert!(emulator.partner_center().referrals().is_empty());
    /// # });
    /// ```
    pub fn tenant(&self, name: &str) -> PartnerCenterControl {
        PartnerCenterControl::new(self.state.clone(), self.state.tenant(name))
    }

    /// The tenant this control acts on (`None` for the default tenant).
    pub fn tenant_name(&self) -> Option<&str> {
        self.tenant.name.as_deref()
    }

    pub(crate) fn shutdown(&self) {
        self.state.deliveries.shutdown();
    }

    fn store(&self, referral: Value, origin: Origin, notify: bool) -> Result<Value> {
        let document = to_document(referral)?;
        let mut store = lock(&self.tenant.referrals);
        let created = store.create(document, origin);
        if notify {
            events::publish(
                &self.state,
                &self.tenant,
                &mut store,
                Change::Created,
                &created,
                None,
            );
        }
        Ok(Value::Object(created))
    }

    /// Plays Microsoft sharing a referral with the partner: stored as an incoming referral
    /// (`New` / `Pending`, `Shared`, invited by `msft`, unless the referral says otherwise),
    /// with a new id, eTag and timestamps; `referral-created` is delivered.
    ///
    /// # Errors
    /// [`Error::Invalid`] if the referral is not a JSON object.
    pub fn share_referral(&self, referral: Value) -> Result<Value> {
        self.store(referral, Origin::Microsoft, true)
    }

    /// Stores a referral as Microsoft would share it, without sending any event: test data.
    ///
    /// ```
    /// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
    /// let emulator = cosell_emulator::Emulator::start().await.unwrap();
    /// for _ in 0..3 {
    ///     emulator.partner_center().seed_referral(serde_json::json!({})).unwrap();
    /// }
    /// assert_eq!(emulator.partner_center().referrals().len(), 3);
    /// # });
    /// ```
    ///
    /// # Errors
    /// [`Error::Invalid`] if the referral is not a JSON object.
    pub fn seed_referral(&self, referral: Value) -> Result<Value> {
        self.store(referral, Origin::Microsoft, false)
    }

    fn change(
        &self,
        id: &str,
        next: impl FnOnce(&Document) -> std::result::Result<Document, String>,
    ) -> Result<Value> {
        let mut store = lock(&self.tenant.referrals);
        let current = store
            .get(id)
            .cloned()
            .ok_or_else(|| Error::invalid(format!("no referral has the id {id}")))?;
        let next = next(&current).map_err(Error::invalid)?;
        transitions::check(&current, &next).map_err(Error::invalid)?;
        let saved = store
            .replace(id, next)
            .ok_or_else(|| Error::invalid(format!("no referral has the id {id}")))?;
        events::publish(
            &self.state,
            &self.tenant,
            &mut store,
            Change::Updated,
            &saved,
            Some(current),
        );
        Ok(Value::Object(saved))
    }

    /// Plays Microsoft updating a referral with a JSON Patch document (`replace` and `add`
    /// operations, as the API takes them; the transition table applies); `referral-updated` is
    /// delivered.
    ///
    /// ```
    /// use serde_json::json;
    ///
    /// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
    /// let emulator = cosell_emulator::Emulator::start().await.unwrap();
    /// let pc = emulator.partner_center();
    /// let shared = pc.share_referral(json!({"details": {"notes": "first"}})).unwrap();
    /// let id = shared["id"].as_str().unwrap();
    /// let patch = json!([{"op": "replace", "path": "/details/notes", "value": "from Microsoft"}]);
    /// let updated = pc.update_referral(id, patch).unwrap();
    /// assert_eq!(updated["details"]["notes"], "from Microsoft");
    /// assert_ne!(updated["eTag"], shared["eTag"]);
    /// # });
    /// ```
    ///
    /// # Errors
    /// [`Error::Invalid`] for an unknown id, a patch that does not apply, or a transition
    /// the table rules out.
    pub fn update_referral(&self, id: &str, patch: Value) -> Result<Value> {
        self.change(id, |current| patch::apply(current, &patch))
    }

    /// Plays Microsoft closing a referral (`Closed` with `substatus`: `Won`, `Lost`, `Declined`
    /// or `Expired`); `referral-updated` is delivered.
    ///
    /// # Errors
    /// As [`update_referral`](Self::update_referral): an unknown id, a referral already
    /// closed, or a substatus a closed referral cannot have.
    pub fn close_referral(&self, id: &str, substatus: &str) -> Result<Value> {
        let patch = serde_json::json!([
            {"op": "replace", "path": "/status", "value": "Closed"},
            {"op": "replace", "path": "/substatus", "value": substatus},
        ]);
        self.update_referral(id, patch)
    }

    /// Makes every write hidden by [`Fault::DeliverBeforeVisible`](crate::Fault::DeliverBeforeVisible)
    /// visible to the referrals API; returns how many referrals had hidden writes.
    pub fn reveal_writes(&self) -> usize {
        lock(&self.tenant.referrals).reveal()
    }

    /// Whether the partner's own writes through the referrals API send `referral-created` /
    /// `referral-updated` events (on by default: whether the service does is UNCONFIRMED, and a
    /// sync must not be fooled by events about its own writes).
    pub fn set_own_write_events(&self, send: bool) {
        self.state.own_write_events.store(send, Ordering::Relaxed);
    }

    /// One referral as stored (hidden writes included).
    pub fn referral(&self, id: &str) -> Option<Value> {
        lock(&self.tenant.referrals)
            .get(id)
            .cloned()
            .map(Value::Object)
    }

    /// Every referral, in creation order.
    pub fn referrals(&self) -> Vec<Value> {
        lock(&self.tenant.referrals)
            .all()
            .iter()
            .cloned()
            .map(Value::Object)
            .collect()
    }

    /// How many referrals a listing page holds, from 1 to 100 (default 100, the service's
    /// maximum): smaller pages exercise paging with fewer referrals.
    ///
    /// ```
    /// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
    /// let emulator = cosell_emulator::Emulator::start().await.unwrap();
    /// emulator.partner_center().set_page_size(2);
    /// # });
    /// ```
    pub fn set_page_size(&self, size: usize) {
        self.state
            .page_size
            .store(size.clamp(1, MAX_PAGE_SIZE), Ordering::Relaxed);
    }

    /// Strict mode: refuse what `partner-center.md` marks UNCONFIRMED, as the service might.
    /// In strict mode a listing refuses `$filter` on `updatedDateTime` or
    /// `externalReferenceId`, and `$skip`, `$count` and `$expand` (400 `invalidRequest`); a
    /// PATCH ignores `If-Match` (no 412: the check is not enforced); a PATCH of
    /// `/externalReferenceId` is refused (400; the legacy PUT still writes it). Off by default,
    /// when all of these are served.
    ///
    /// ```
    /// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
    /// let emulator = cosell_emulator::Emulator::start().await.unwrap();
    /// emulator.partner_center().set_strict(true);
    /// assert!(emulator.partner_center().is_strict());
    /// # });
    /// ```
    pub fn set_strict(&self, strict: bool) {
        self.state.strict.store(strict, Ordering::Relaxed);
    }

    /// Whether strict mode is on.
    pub fn is_strict(&self) -> bool {
        self.state.strict.load(Ordering::Relaxed)
    }

    /// The tenant's webhook registration, as the registration API answers it (PascalCase).
    pub fn registration(&self) -> Option<Value> {
        let registration = lock(&self.tenant.webhooks).registration.clone()?;
        Some(registration.to_json())
    }

    /// Sets (or with `None` removes) the tenant's registration, as another integration (the
    /// co-sell connector, a CSP platform) would.
    ///
    /// ```
    /// use serde_json::json;
    ///
    /// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
    /// let emulator = cosell_emulator::Emulator::start().await.unwrap();
    /// let pc = emulator.partner_center();
    /// let connector = json!({
    ///     "WebhookUrl": "https://connector.example/hook",
    ///     "WebhookEvents": ["referral-created", "referral-updated"],
    /// });
    /// pc.set_registration(Some(&connector)).unwrap();
    /// assert_eq!(pc.registration().unwrap()["WebhookUrl"], "https://connector.example/hook");
    /// # });
    /// ```
    ///
    /// # Errors
    /// [`Error::Invalid`] for a registration without a usable URL or with an unknown event.
    pub fn set_registration(&self, registration: Option<&Value>) -> Result<()> {
        let mut webhooks = lock(&self.tenant.webhooks);
        let Some(body) = registration else {
            webhooks.registration = None;
            return Ok(());
        };
        let subscriber_id = body
            .as_object()
            .and_then(|map| {
                map.iter()
                    .find(|(key, _)| key.eq_ignore_ascii_case("subscriberId"))
                    .and_then(|(_, value)| value.as_str())
            })
            .map_or_else(|| uuid::Uuid::new_v4().to_string(), str::to_owned);
        webhooks.registration = Some(
            Registration::from_body(body, subscriber_id, self.state.clock.now())
                .map_err(Error::invalid)?,
        );
        Ok(())
    }

    /// The URL deliveries name in `x-ms-certificate-url`; the webhooks port serves the
    /// emulator's signing certificate ([`SIGNING_CERTIFICATE_DER`](crate::SIGNING_CERTIFICATE_DER))
    /// there.
    pub fn certificate_url(&self) -> &str {
        self.state.signer.certificate_url()
    }

    /// The headers Partner Center sends with a callback whose body is `body` — any bytes, also
    /// ones no delivery of the emulator would carry (not JSON, not an event): the RSA-SHA256
    /// signature over the raw bytes in `Authorization`, the algorithm, the
    /// [certificate URL](Self::certificate_url) and the content type. For testing what a
    /// receiver does with a validly signed callback it cannot read.
    ///
    /// ```
    /// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
    /// let emulator = cosell_emulator::Emulator::start().await.unwrap();
    /// let pc = emulator.partner_center();
    /// let headers = pc.sign_callback(b"\xff not an event").unwrap();
    /// assert!(headers["authorization"].to_str().unwrap().starts_with("Signature "));
    /// assert_eq!(headers["x-ms-certificate-url"], pc.certificate_url());
    /// # });
    /// ```
    ///
    /// # Errors
    /// [`Error::Invalid`] if the body could not be signed (the key refused it).
    pub fn sign_callback(&self, body: &[u8]) -> Result<http::HeaderMap> {
        self.state
            .signer
            .headers(body, false)
            .ok_or_else(|| Error::invalid("the emulator's key could not sign the body"))
    }

    /// How deliveries are attempted from now on.
    ///
    /// ```
    /// use std::time::Duration;
    /// use cosell_emulator::DeliveryPolicy;
    ///
    /// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
    /// let emulator = cosell_emulator::Emulator::start().await.unwrap();
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

    /// Every delivery to this tenant's registration so far, in dispatch order.
    pub fn deliveries(&self) -> Vec<Delivery> {
        self.state
            .deliveries
            .records()
            .into_iter()
            .filter(|d| d.tenant == self.tenant.name)
            .collect()
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
