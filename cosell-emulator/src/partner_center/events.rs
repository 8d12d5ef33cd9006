//! Turning changes into signed event deliveries (the documented PascalCase payload and
//! signature headers).

use bytes::Bytes;
use jiff::Timestamp;
use serde_json::json;

use super::deliveries::Outgoing;
use super::store::{Document, ReferralStore, text};
use super::{PartnerCenterState, Tenant};
use crate::lock;

/// What happened to a referral.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Change {
    Created,
    Updated,
}

/// `ResourceChangeUtcDate` as documented: seven fractional digits and a `+00:00` offset.
fn change_date(at: Timestamp) -> String {
    format!(
        "{}.{:07}+00:00",
        at.strftime("%Y-%m-%dT%H:%M:%S"),
        at.subsec_nanosecond() / 100
    )
}

/// Signs `body` and queues it for the registered URL if the registration includes `event`.
/// Returns the delivery ids (empty when nothing is registered for the event).
pub(crate) fn send(
    state: &PartnerCenterState,
    tenant: &Tenant,
    event: &str,
    resource_uri: String,
    resource_name: &str,
    referral_id: Option<String>,
) -> Vec<usize> {
    let Some((url, ms_header)) = lock(&tenant.webhooks).subscriber_for(event) else {
        return Vec::new();
    };
    let body = json!({
        "EventName": event,
        "ResourceUri": resource_uri,
        "ResourceName": resource_name,
        "AuditUri": null,
        "ResourceChangeUtcDate": change_date(state.clock.now()),
    });
    let body = Bytes::from(serde_json::to_vec(&body).unwrap_or_default());
    // Signing with the embedded test key cannot fail; an event that could not be signed is
    // not sent at all, as Partner Center would not send it unsigned.
    let Some(headers) = state.signer.headers(&body, ms_header) else {
        return Vec::new();
    };
    state.deliveries.dispatch(Outgoing {
        tenant: tenant.name.clone(),
        event_name: event.to_owned(),
        referral_id,
        url,
        body,
        headers,
    })
}

/// Sends the events of a change while the store is still locked, and hides the write from
/// reads when an event went out ahead of it; `before` is what reads show meanwhile.
pub(crate) fn publish(
    state: &PartnerCenterState,
    tenant: &Tenant,
    store: &mut ReferralStore,
    change: Change,
    saved: &Document,
    before: Option<Document>,
) {
    let related = store.has_related(saved);
    if referral_changed(state, tenant, change, saved, related)
        && let Some(id) = text(saved, "id")
    {
        store.hide(id, before);
    }
}

/// Sends the events of a referral change: `referral-{created,updated}`, and
/// `related-referral-{created,updated}` too when another referral shares its engagement.
/// Returns whether an event went out ahead of the write ([`Fault::DeliverBeforeVisible`]):
/// the caller then hides the write from reads.
///
/// [`Fault::DeliverBeforeVisible`]: crate::Fault::DeliverBeforeVisible
fn referral_changed(
    state: &PartnerCenterState,
    tenant: &Tenant,
    change: Change,
    referral: &Document,
    related: bool,
) -> bool {
    let Some(id) = text(referral, "id") else {
        return false;
    };

    let action = match change {
        Change::Created => "created",
        Change::Updated => "updated",
    };
    let resource_uri = format!("{}engagements/v1/referrals/{id}", state.webhooks_origin());
    let mut sent = send(
        state,
        tenant,
        &format!("referral-{action}"),
        resource_uri.clone(),
        "referral",
        Some(id.to_owned()),
    );
    if related {
        sent.extend(send(
            state,
            tenant,
            &format!("related-referral-{action}"),
            resource_uri,
            "referral",
            Some(id.to_owned()),
        ));
    }
    sent.into_iter().any(|delivery| {
        state
            .deliveries
            .record(delivery)
            .is_some_and(|d| d.ahead_of_write)
    })
}
