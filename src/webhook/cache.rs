//! Certificates cached by URL, with one fetch at a time per URL.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, RwLock};

use jiff::{SignedDuration, Timestamp};
use url::Url;

use super::certificate::TrustedCertificate;
use super::error::{WebhookError, bounded};
use super::fetcher::CertificateFetcher;
use super::policy::TrustPolicy;

/// A certificate and when to stop trusting the cached copy.
#[derive(Debug)]
struct Entry {
    certificate: Arc<TrustedCertificate>,
    fresh_until: Timestamp,
}

/// One URL's cache slot: the current entry, and a lock held by the one fetch in flight.
#[derive(Debug, Default)]
struct Slot {
    current: RwLock<Option<Arc<Entry>>>,
    fetching: tokio::sync::Mutex<()>,
}

impl Slot {
    fn fresh(&self, now: Timestamp) -> Option<Arc<TrustedCertificate>> {
        let current = self.current.read().unwrap_or_else(|e| e.into_inner());
        current
            .as_ref()
            .filter(|entry| now < entry.fresh_until)
            .map(|entry| entry.certificate.clone())
    }
}

/// Trusted certificates by URL, kept until their `notAfter` or the policy's TTL, whichever is
/// sooner. Concurrent callers for the same URL wait for one fetch instead of each fetching.
#[derive(Debug, Default)]
pub(crate) struct CertificateCache {
    slots: Mutex<HashMap<String, Arc<Slot>>>,
}

/// More URLs than this and expired slots are dropped before a new one is added.
const SLOT_LIMIT: usize = 64;

impl CertificateCache {
    pub(crate) async fn get(
        &self,
        url: &Url,
        policy: &TrustPolicy,
        fetcher: &dyn CertificateFetcher,
        now: impl Fn() -> Timestamp,
    ) -> Result<Arc<TrustedCertificate>, WebhookError> {
        let slot = self.slot(url, now());
        if let Some(certificate) = slot.fresh(now()) {
            return Ok(certificate);
        }
        let _flight = slot.fetching.lock().await;
        // Another caller may have filled the slot while this one waited.
        if let Some(certificate) = slot.fresh(now()) {
            return Ok(certificate);
        }
        let result = fetch_and_check(url, policy, fetcher, now()).await;
        match result {
            Ok(entry) => {
                let certificate = entry.certificate.clone();
                *slot.current.write().unwrap_or_else(|e| e.into_inner()) = Some(Arc::new(entry));
                Ok(certificate)
            }
            Err(error) => {
                // A URL that never produced a certificate keeps no slot, so a stream of
                // forged URLs cannot grow the map.
                if slot
                    .current
                    .read()
                    .unwrap_or_else(|e| e.into_inner())
                    .is_none()
                {
                    crate::http::lock(&self.slots).remove(url.as_str());
                }
                Err(error)
            }
        }
    }

    fn slot(&self, url: &Url, now: Timestamp) -> Arc<Slot> {
        let mut slots = crate::http::lock(&self.slots);
        if let Some(slot) = slots.get(url.as_str()) {
            return slot.clone();
        }
        if slots.len() >= SLOT_LIMIT {
            slots.retain(|_, slot| slot.fresh(now).is_some());
        }
        slots.entry(url.as_str().to_owned()).or_default().clone()
    }
}

async fn fetch_and_check(
    url: &Url,
    policy: &TrustPolicy,
    fetcher: &dyn CertificateFetcher,
    now: Timestamp,
) -> Result<Entry, WebhookError> {
    let bytes = fetcher
        .fetch(url, policy.certificate_limit())
        .await
        .map_err(|error| WebhookError::CertificateFetch {
            url: bounded(url.as_str()),
            error,
        })?;
    if bytes.len() > policy.certificate_limit() {
        return Err(WebhookError::CertificateFetch {
            url: bounded(url.as_str()),
            error: super::error::CertificateFetchError::TooLarge {
                limit: policy.certificate_limit(),
            },
        });
    }
    let certificate = TrustedCertificate::from_bytes(&bytes, policy, now)?;
    let ttl = SignedDuration::try_from(policy.ttl()).unwrap_or(SignedDuration::MAX);
    let by_ttl = now.checked_add(ttl).unwrap_or(Timestamp::MAX);
    let fresh_until = by_ttl.min(certificate.not_after());
    Ok(Entry {
        certificate: Arc::new(certificate),
        fresh_until,
    })
}
