//! Hostile answers in the middle of a sync: truncated, deeply nested, wrongly typed, wrongly
//! encoded, oversized, or about another record. Each ends the sync with a typed error (failed
//! or rejected, kept as a dead letter), never a panic, and nothing is written to either side.

use cosell::sync::OutcomeKind;
use cosell_emulator::{EmulatedApi, Fault, FaultRule};
use serde_json::json;

use crate::harness::{BOTH, Harness, Kind, shared_referral};

fn answers(kind: Kind, api: EmulatedApi) -> Vec<(&'static str, String, Vec<u8>)> {
    let json_type = "application/json; charset=utf-8".to_owned();
    let nested = format!("{}{}", "[".repeat(100_000), "]".repeat(100_000));
    let wrong_types = match (api, kind) {
        (EmulatedApi::PartnerCenterReferrals, _) => {
            r#"{"id": 5, "status": {"x": 1}, "details": []}"#
        }
        (_, Kind::Dataverse) => r#"{"opportunityid": [1], "name": {"a": true}}"#,
        (_, Kind::Salesforce) => r#"{"totalSize": "many", "done": "yes", "records": {}}"#,
    };
    let other_record = match (api, kind) {
        (EmulatedApi::PartnerCenterReferrals, _) => json!({"id": "someone-else", "name": "Other"}).to_string(),
        (_, Kind::Dataverse) => json!({"opportunityid": "00000000-0000-4000-8000-000000000999", "name": "Other"}).to_string(),
        (_, Kind::Salesforce) => json!({"totalSize": 1, "done": true, "records": [{"Id": "006000000000999AAA", "Name": "Other"}]}).to_string(),
    };
    let mut utf16 = vec![0xff, 0xfe];
    for unit in r#"{"id": "x"}"#.encode_utf16() {
        utf16.extend(unit.to_le_bytes());
    }
    vec![
        (
            "truncated",
            json_type.clone(),
            br#"{"id": "abc", "name": "trunc"#.to_vec(),
        ),
        ("deeply nested", json_type.clone(), nested.into_bytes()),
        (
            "wrongly typed",
            json_type.clone(),
            wrong_types.as_bytes().to_vec(),
        ),
        (
            "invalid UTF-8",
            json_type.clone(),
            b"{\"name\": \"\xff\xfe\xfd\"}".to_vec(),
        ),
        (
            "BOM and an empty object",
            json_type.clone(),
            "\u{feff}{}".as_bytes().to_vec(),
        ),
        (
            "UTF-16 labelled as such",
            "application/json; charset=utf-16".to_owned(),
            utf16,
        ),
        (
            "HTML",
            "text/html".to_owned(),
            b"<html><body>Bad gateway</body></html>".to_vec(),
        ),
        (
            "another record",
            json_type.clone(),
            other_record.into_bytes(),
        ),
        (
            "oversized",
            json_type,
            format!("{{\"name\": \"{}\"}}", "x".repeat(65 * 1024 * 1024)).into_bytes(),
        ),
    ]
}

#[tokio::test]
async fn a_hostile_answer_mid_sync_is_a_typed_failure_and_writes_nothing() {
    for kind in BOTH {
        for api in [
            EmulatedApi::PartnerCenterReferrals,
            crate::harness::Harness::new(kind).await.crm_api(),
        ] {
            for (what, content_type, body) in answers(kind, api) {
                let h = Harness::new(kind).await;
                let sync = h.sync().await;
                let id = h.share(shared_referral("Hostile"));
                let created = sync.sync_referral(&id).await;
                assert!(created.kind.wrote(), "{created:?}");
                let crm_id = created.crm_id.clone().unwrap();
                h.edit_referral(
                    &id,
                    json!([{"op": "replace", "path": "/details/notes", "value": "changed"}]),
                );
                h.edit_opportunity(&crm_id, json!({ h.column("name"): "Changed in the CRM" }));
                let before = h.writes().len();
                h.emulator.faults().add(FaultRule::new(
                    api,
                    Fault::Answer {
                        status: 200,
                        content_type: content_type.clone(),
                        body: body.clone(),
                    },
                ));
                let context = format!("{kind:?} {api:?} {what}");
                for outcome in [
                    sync.sync_referral(&id).await,
                    sync.sync_crm_record(&crm_id).await,
                ] {
                    match &outcome.kind {
                        OutcomeKind::Failed(error) => {
                            assert!(!error.to_string().is_empty(), "{context}");
                            if what == "oversized" {
                                assert!(
                                    matches!(**error, cosell::Error::AnswerTooLarge(_)),
                                    "{context}: {error}"
                                );
                            }
                        }
                        OutcomeKind::Rejected { reason } => {
                            assert!(!reason.is_empty(), "{context}")
                        }
                        other => panic!("{context}: {other:?}"),
                    }
                }
                h.emulator.faults().clear();
                assert_eq!(
                    h.writes().len(),
                    before,
                    "{context}: {:#?}",
                    &h.writes()[before..]
                );
                assert_eq!(sync.dead_letters(10).await.unwrap().len(), 2, "{context}");
                // Once the service answers properly again, the pair syncs.
                let outcome = sync.sync_referral(&id).await;
                assert!(outcome.kind.wrote(), "{context}: {outcome:?}");
            }
        }
    }
}

#[tokio::test]
async fn customer_text_in_an_error_answer_reaches_neither_dead_letters_nor_the_audit_trail() {
    for kind in BOTH {
        let h = Harness::new(kind).await;
        let sync = h.sync().await;
        let id = h.share(shared_referral("Secretive"));
        let body = json!({
            "error": {"code": "0x80040237", "message": "Refused."},
            "echo": "Customer Secret Ltd, 1 Private Road",
        })
        .to_string();
        h.emulator.faults().add(FaultRule::new(
            h.crm_api(),
            Fault::Answer {
                status: 400,
                content_type: "application/json".into(),
                body: body.into_bytes(),
            },
        ));
        let outcome = sync.sync_referral(&id).await;
        h.emulator.faults().clear();
        assert!(!outcome.kind.wrote(), "{outcome:?}");
        let letters = sync.dead_letters(10).await.unwrap();
        let audit = sync.store().audit(sync.tenant(), None, 10).await.unwrap();
        assert!(!letters.is_empty() && !audit.is_empty());
        let kept = format!("{letters:?} {audit:?} {}", outcome.kind);
        assert!(!kept.contains("Customer Secret"), "{kind:?}: {kept}");
    }
}
