//! Workers sharing a store and one emulator: clients that name their worker in the emulator's
//! journal, and the journal check that no two workers' work on one record interleaved.

#![allow(dead_code)]

use std::collections::BTreeMap;
use std::sync::Arc;

use cosell::auth::{CachedTokenProvider, ClientCredentials, EntraAuthority, TokenProvider};
use cosell::http::{Clock, Sleeper};
use cosell::mapping::{dynamics365, salesforce};
use cosell::store::{SyncStore, TenantId};
use cosell::sync::{DataverseCrm, SalesforceCrm, Synchronizer, SynchronizerBuilder};
use cosell_emulator::{CALLER_HEADER, Emulator, JournalEntry};
use jiff::{SignedDuration, Timestamp};
use secrecy::SecretString;
use serde::{Deserialize, Serialize};

/// Which CRM the workers sync with.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum CrmKind {
    Dataverse,
    Salesforce,
}

/// Where a worker finds the emulated services (a worker process gets them as JSON).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Services {
    pub entra: String,
    pub partner_center: String,
    pub dataverse: String,
    pub salesforce: String,
}

impl Services {
    pub fn of(emulator: &Emulator) -> Services {
        let urls = emulator.urls();
        Services {
            entra: urls.entra_authority.clone(),
            partner_center: urls.partner_center_referrals.clone(),
            dataverse: urls.dataverse.clone(),
            salesforce: urls.salesforce.clone(),
        }
    }

    fn tokens(&self, scope: &str) -> Arc<dyn TokenProvider> {
        let authority = EntraAuthority::new(&self.entra, "contoso").unwrap();
        let credentials =
            ClientCredentials::new(authority, "app", SecretString::from("secret"), scope).unwrap();
        Arc::new(CachedTokenProvider::new(credentials))
    }
}

/// The system clock moved by a fixed offset: a worker started "later" (after the locks and
/// claims of a dead worker lapsed) without anyone waiting.
#[derive(Debug, Clone, Copy)]
pub struct OffsetClock(pub SignedDuration);

impl Clock for OffsetClock {
    fn now(&self) -> Timestamp {
        Timestamp::now() + self.0
    }
}

/// A synchronizer for worker `name` (its pair-lock owner, and the caller its requests carry
/// in the emulator's journal), on `store`, with the default mapping of `kind`.
pub fn worker(
    services: &Services,
    kind: CrmKind,
    name: &str,
    store: Arc<dyn SyncStore>,
    sleeper: Arc<dyn Sleeper>,
) -> SynchronizerBuilder {
    let mut headers = reqwest::header::HeaderMap::new();
    headers.insert(CALLER_HEADER, name.parse().unwrap());
    let http = reqwest::Client::builder()
        .default_headers(headers)
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let partner_center =
        cosell::partner_center::PartnerCenter::builder(cosell::auth::CustomCredentials::user(
            services.tokens("https://api.partner.microsoft.com/.default"),
        ))
        .base_url(services.partner_center.clone())
        .http_client(http.clone())
        .sleeper(sleeper.clone())
        .build()
        .unwrap();
    let tenant = TenantId::new("contoso").unwrap();
    let builder = match kind {
        CrmKind::Dataverse => {
            let scope = format!("{}/.default", cosell_emulator::DATAVERSE_ORG_URL);
            let client = cosell::dataverse::Dataverse::builder(
                cosell::auth::CustomCredentials::app_only(services.tokens(&scope)),
            )
            .base_url(&services.dataverse)
            .http_client(http)
            .sleeper(sleeper.clone())
            .origin_tag("cosell-sync")
            .build()
            .unwrap();
            Synchronizer::builder(
                partner_center,
                DataverseCrm::new(client),
                dynamics365().build().unwrap(),
                store,
                tenant,
            )
        }
        CrmKind::Salesforce => {
            let login = cosell::salesforce::SalesforceLogin::new(&services.salesforce).unwrap();
            let flow = cosell::salesforce::ClientCredentialsFlow::new(
                login,
                "app",
                SecretString::from("secret"),
            )
            .unwrap();
            let client =
                cosell::salesforce::Salesforce::builder(Arc::new(CachedTokenProvider::new(flow)))
                    .http_client(http)
                    .sleeper(sleeper.clone())
                    .origin_client_id("cosell-sync")
                    .build()
                    .unwrap();
            Synchronizer::builder(
                partner_center,
                SalesforceCrm::new(client),
                salesforce().build().unwrap(),
                store,
                tenant,
            )
        }
    };
    builder.worker(name).sleeper(sleeper)
}

/// What [`assert_no_interleaving`] looked at.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Interleaving {
    /// Records requested by named callers.
    pub records: usize,
    /// Records more than one caller worked on.
    pub shared: usize,
    /// Times a record passed from one caller to another.
    pub handovers: usize,
}

/// Checks from the emulator's journal that no two callers' work on one record interleaved.
///
/// The requests naming a record, in the order they arrived, fall into runs of one caller each.
/// Every run must be answered in full before the next caller's first request arrives, and a run
/// that writes the record must begin with its caller reading it (or be the record's first run,
/// the one that created it): a caller never writes from a read made before another caller's
/// requests on the record.
pub fn assert_no_interleaving(journal: &[JournalEntry]) -> Interleaving {
    let mut by_record: BTreeMap<String, Vec<&JournalEntry>> = BTreeMap::new();
    for entry in journal {
        if let (Some(record), Some(_)) = (&entry.record, &entry.caller) {
            by_record
                .entry(record.to_lowercase())
                .or_default()
                .push(entry);
        }
    }
    let mut seen = Interleaving::default();
    for (record, mut entries) in by_record {
        entries.sort_by_key(|entry| entry.start_sequence);
        let mut runs: Vec<Vec<&JournalEntry>> = Vec::new();
        for entry in entries {
            match runs.last_mut() {
                Some(run) if run[0].caller == entry.caller => run.push(entry),
                _ => runs.push(vec![entry]),
            }
        }
        seen.records += 1;
        let callers: std::collections::BTreeSet<_> =
            runs.iter().map(|run| &run[0].caller).collect();
        if callers.len() > 1 {
            seen.shared += 1;
        }
        seen.handovers += runs.len() - 1;
        let describe = |run: &[&JournalEntry]| {
            run.iter()
                .map(|e| {
                    format!(
                        "{:?} {} {} [{}..{}]",
                        e.caller, e.method, e.status, e.start_sequence, e.end_sequence
                    )
                })
                .collect::<Vec<_>>()
        };
        for (i, pair) in runs.windows(2).enumerate() {
            let (before, after) = (&pair[0], &pair[1]);
            let finished = before.iter().map(|e| e.end_sequence).max().unwrap();
            assert!(
                finished < after[0].start_sequence,
                "{record}: run {i} of {:?} was still answering when {:?} started: {:#?} then {:#?}",
                before[0].caller,
                after[0].caller,
                describe(before),
                describe(after)
            );
        }
        for (i, run) in runs.iter().enumerate().skip(1) {
            let writes = run.iter().any(|e| e.method != http::Method::GET);
            assert!(
                !writes || run[0].method == http::Method::GET,
                "{record}: {:?} wrote without reading after {:?}: {:#?}",
                run[0].caller,
                runs[i - 1][0].caller,
                describe(run)
            );
        }
    }
    seen
}
