//! The journal a concurrency test reads: start and end of each request, the record it touched
//! and the caller that sent it.

mod common;

use common::*;
use cosell_emulator::{CALLER_HEADER, EmulatedApi, Emulator, JournalEntry};
use serde_json::json;

async fn as_caller(
    caller: &str,
    method: &str,
    url: &str,
    token: &str,
    body: Option<serde_json::Value>,
) -> u16 {
    let mut request = reqwest::Client::new()
        .request(method.parse().unwrap(), url)
        .bearer_auth(token)
        .header(CALLER_HEADER, caller);
    if let Some(body) = body {
        request = request
            .header("content-type", "application/json")
            .body(body.to_string());
    }
    request.send().await.unwrap().status().as_u16()
}

/// Whether some caller's read→write of a record had another caller's request on the same record
/// inside it.
fn interleaved(journal: &[JournalEntry]) -> bool {
    let touching: Vec<&JournalEntry> = journal.iter().filter(|e| e.record.is_some()).collect();
    touching.iter().any(|read| {
        read.method == "GET"
            && touching.iter().any(|write| {
                write.method != "GET"
                    && write.caller == read.caller
                    && write.record == read.record
                    && write.start_sequence > read.end_sequence
                    && touching.iter().any(|other| {
                        other.caller != read.caller
                            && other.record == read.record
                            && other.end_sequence > read.start_sequence
                            && other.start_sequence < write.end_sequence
                    })
            })
    })
}

#[tokio::test]
async fn the_journal_shows_whether_two_workers_interleaved_on_one_record() {
    for (order, expected) in [
        (["w1", "w2", "w1", "w2"], true),
        (["w1", "w1", "w2", "w2"], false),
    ] {
        let emulator = Emulator::start().await.unwrap();
        let token = entra_token(&emulator, REFERRALS).await;
        let shared = emulator
            .partner_center()
            .share_referral(json!({"name": "n"}))
            .unwrap();
        let id = shared["id"].as_str().unwrap();
        let url = format!("{}referrals/{id}", emulator.urls().partner_center_referrals);
        let mut seen = std::collections::HashSet::new();
        for caller in order {
            let status = if seen.insert(caller) {
                as_caller(caller, "GET", &url, &token, None).await
            } else {
                let patch = json!([{"op": "replace", "path": "/name", "value": caller}]);
                as_caller(caller, "PATCH", &url, &token, Some(patch)).await
            };
            assert!(status < 300, "{status}");
        }
        let journal = emulator.journal();
        let ours: Vec<&JournalEntry> = journal
            .iter()
            .filter(|e| e.api == EmulatedApi::PartnerCenterReferrals)
            .collect();
        assert_eq!(ours.len(), 4);
        for entry in &ours {
            assert_eq!(
                entry.record.as_deref(),
                Some(format!("referrals/{id}").as_str())
            );
            assert!(entry.caller.is_some());
            assert!(entry.start_sequence < entry.end_sequence);
            assert!(entry.started <= entry.at);
        }
        assert!(
            !ours[0].overlaps(ours[1]),
            "sequential requests never overlap"
        );
        assert_eq!(interleaved(&journal), expected, "{order:?}");
    }
}

#[tokio::test]
async fn every_service_names_the_record_a_request_touched() {
    let emulator = Emulator::start().await.unwrap();
    let dv = dataverse_token(&emulator).await;
    let answer = reqwest::Client::new()
        .post(format!("{}accounts", emulator.urls().dataverse))
        .bearer_auth(&dv)
        .header("content-type", "application/json")
        .body(r#"{"name":"a"}"#)
        .send()
        .await
        .unwrap();
    let entity = answer.headers()["odata-entityid"]
        .to_str()
        .unwrap()
        .to_owned();
    let row = entity.rsplit('/').next().unwrap().to_owned();
    get(&entity, &dv).await;

    let sf = salesforce_token(&emulator).await;
    let (_, created) = send(
        "POST",
        &format!("{}sobjects/account", salesforce_api(&emulator)),
        &sf,
        &json!({"Name": "a"}),
    )
    .await;
    let id = created["id"].as_str().unwrap();
    get(
        &format!("{}sobjects/Account/{id}", salesforce_api(&emulator)),
        &sf,
    )
    .await;

    let records: Vec<Option<String>> = emulator
        .journal()
        .into_iter()
        .filter(|e| e.api != EmulatedApi::Entra && e.operation != "oauth.token")
        .map(|e| e.record)
        .collect();
    let account = format!("Account/{id}");
    assert_eq!(
        records,
        [
            Some(row.clone()),
            Some(row),
            Some(account.clone()),
            Some(account)
        ]
    );
}
