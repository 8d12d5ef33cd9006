//! Where the SDK and the emulator must agree on a rule, they are checked against each other here.
//! They share no code: the emulator implements each rule from the services' documentation, so a
//! disagreement is a misreading on one side.

use std::sync::Arc;

use cosell::auth::{CachedTokenProvider, ClientCredentials, EntraAuthority};
use cosell::dataverse::{Dataverse, Filter, Query};
use cosell::partner_center::referrals::{ReferralPatch, check_transition};
use cosell::partner_center::{ReferralStatus, ReferralSubstatus};
use cosell::salesforce::soql::{LikePattern, Soql, field};
use cosell::salesforce::{ClientCredentialsFlow, Salesforce, SalesforceLogin};
use cosell_emulator::{DATAVERSE_ORG_URL, Emulator};
use proptest::prelude::*;
use serde_json::{Value, json};

/// Every status the table names, with every substatus, and "no substatus".
fn pairs() -> Vec<(ReferralStatus, Option<ReferralSubstatus>)> {
    let statuses = [
        ReferralStatus::New,
        ReferralStatus::Active,
        ReferralStatus::Closed,
    ];
    let mut substatuses: Vec<Option<ReferralSubstatus>> = ReferralSubstatus::KNOWN
        .iter()
        .filter(|s| **s != ReferralSubstatus::None)
        .cloned()
        .map(Some)
        .collect();
    substatuses.push(None);
    statuses
        .iter()
        .flat_map(|s| substatuses.iter().map(move |sub| (s.clone(), sub.clone())))
        .collect()
}

#[tokio::test]
async fn the_transition_table_is_the_same_in_the_client_and_the_emulator() {
    let emulator = Emulator::start().await.unwrap();
    let pc = emulator.partner_center();
    let mut compared = 0;
    // Start from every valid state; try every target status / substatus a patch can name.
    for (status, substatus) in pairs() {
        let Some(substatus) = substatus else { continue };
        let valid_start = cosell::partner_center::referrals::allowed_substatuses(&status)
            .is_some_and(|allowed| allowed.contains(&substatus));
        if !valid_start {
            continue;
        }
        for (target, target_sub) in pairs() {
            let mut patch = ReferralPatch::new();
            if target != status {
                patch = patch.status(target.clone());
            }
            if let Some(sub) = target_sub.clone().filter(|s| *s != substatus) {
                patch = patch.substatus(sub);
            }
            if patch.is_empty() {
                continue;
            }
            let seeded = pc
                .seed_referral(json!({"status": status.as_str(), "substatus": substatus.as_str()}))
                .unwrap();
            let id = seeded["id"].as_str().unwrap();
            let client = check_transition(&status, Some(&substatus), &patch).is_ok();
            let emulator_says = pc
                .update_referral(id, serde_json::to_value(&patch).unwrap())
                .is_ok();
            assert_eq!(
                client, emulator_says,
                "{status}/{substatus} with {patch:?}: client {client}, emulator {emulator_says}"
            );
            compared += 1;
        }
    }
    assert!(compared > 100, "only {compared} transitions compared");
}

/// Text a user might put in a name: quotes, backslashes, wildcards of both dialects, line
/// breaks, and any printable character.
fn hostile_text() -> impl Strategy<Value = String> {
    "[\\PC'\"\\\\%_*?()\\n\\t]{1,30}"
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap()
}

fn salesforce(emulator: &Emulator) -> Salesforce {
    let login = SalesforceLogin::new(&emulator.urls().salesforce).unwrap();
    let flow = ClientCredentialsFlow::new(login, "app", "secret".to_string().into()).unwrap();
    Salesforce::builder(Arc::new(CachedTokenProvider::new(flow)))
        .build()
        .unwrap()
}

fn dataverse(emulator: &Emulator) -> Dataverse {
    let authority = EntraAuthority::new(&emulator.urls().entra_authority, "contoso").unwrap();
    let credentials = ClientCredentials::new(
        authority,
        "app",
        "secret".to_string().into(),
        format!("{DATAVERSE_ORG_URL}/.default"),
    )
    .unwrap();
    Dataverse::builder(credentials)
        .base_url(&emulator.urls().dataverse)
        .build()
        .unwrap()
}

#[test]
fn soql_literals_the_client_writes_are_read_back_intact_by_the_emulator() {
    let rt = runtime();
    let emulator = rt.block_on(Emulator::start()).unwrap();
    let sf = salesforce(&emulator);
    let case = std::sync::atomic::AtomicU32::new(0);
    proptest!(ProptestConfig::with_cases(48), |(text in hostile_text())| {
        let n = case.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let name = format!("{n}:{text}");
        let id = emulator
            .salesforce()
            .seed("Opportunity", json!({"Name": name, "StageName": "Prospecting", "CloseDate": "2026-06-30"}))
            .unwrap();
        rt.block_on(async {
            let exact = Soql::select(["Id", "Name"])
                .from("Opportunity")
                .filter(field("Name").eq(name.as_str()))
                .build()
                .unwrap();
            let rows: Vec<Value> = sf.query(&exact).collect_all().await.unwrap();
            prop_assert_eq!(rows.len(), 1, "{:?}", exact);
            prop_assert_eq!(rows[0]["Id"].as_str(), Some(id.as_str()));
            prop_assert_eq!(rows[0]["Name"].as_str(), Some(name.as_str()));

            // In LIKE, the text's own % and _ are literal: only this record starts with it.
            let like = Soql::select(["Id"])
                .from("Opportunity")
                .filter(field("Name").like(LikePattern::exact(name.clone()).any_chars()))
                .build()
                .unwrap();
            let rows: Vec<Value> = sf.query(&like).collect_all().await.unwrap();
            prop_assert_eq!(rows.len(), 1, "{:?}", like);
            Ok(())
        })?;
    });
}

#[test]
fn odata_literals_the_client_writes_are_read_back_intact_by_the_emulator() {
    let rt = runtime();
    let emulator = rt.block_on(Emulator::start()).unwrap();
    let dv = dataverse(&emulator);
    let case = std::sync::atomic::AtomicU32::new(0);
    proptest!(ProptestConfig::with_cases(48), |(text in hostile_text())| {
        let n = case.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let name = format!("{n}:{text}");
        let id = emulator
            .dataverse()
            .seed("opportunities", json!({"name": name}))
            .unwrap();
        rt.block_on(async {
            let exact = Query::new().select(["opportunityid", "name"]).filter(Filter::eq("name", name.as_str()));
            let rows: Vec<Value> = dv.opportunities().query::<Value>(&exact).collect_all().await.unwrap();
            prop_assert_eq!(rows.len(), 1);
            let id = id.to_string();
            prop_assert_eq!(rows[0]["opportunityid"].as_str(), Some(id.as_str()));
            prop_assert_eq!(rows[0]["name"].as_str(), Some(name.as_str()));

            let contains = Query::new().select(["opportunityid"]).filter(Filter::contains("name", &name));
            let rows: Vec<Value> = dv.opportunities().query::<Value>(&contains).collect_all().await.unwrap();
            prop_assert_eq!(rows.len(), 1);
            Ok(())
        })?;
    });
}
