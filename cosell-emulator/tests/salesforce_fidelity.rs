//! Salesforce as real clients use it: field names in any case, aggregate counts, Collections
//! retrieve, replication, identity, composite and a describe that matches behaviour.

mod common;

use common::*;
use cosell_emulator::Emulator;
use serde_json::{Value, json};

async fn org() -> (Emulator, String, String) {
    let emulator = Emulator::start().await.unwrap();
    let token = salesforce_token(&emulator).await;
    let api = salesforce_api(&emulator);
    (emulator, token, api)
}

fn opportunity(name: &str) -> Value {
    json!({"Name": name, "StageName": "Prospecting", "CloseDate": "2026-06-30"})
}

#[tokio::test]
async fn field_names_are_case_insensitive_in_bodies_soql_and_external_id_paths() {
    let (emulator, token, api) = org().await;
    let a = emulator
        .salesforce()
        .seed("Opportunity", opportunity("a"))
        .unwrap();
    let (status, results) = send(
        "PATCH",
        &format!("{api}composite/sobjects"),
        &token,
        &json!({"records": [{"ATTRIBUTES": {"TYPE": "Opportunity"}, "id": a, "amount": 10, "referral_id__c": "R-1"}]}),
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(results[0]["success"], true, "{results}");
    let record = emulator.salesforce().record("Opportunity", &a).unwrap();
    assert_eq!(
        (record["Amount"].clone(), record["Referral_Id__c"].clone()),
        (json!(10), json!("R-1"))
    );

    let soql = encode(
        "select id, name, AMOUNT from opportunity where referral_id__c = 'R-1' order by name",
    );
    let (status, found) = get(&format!("{api}query?q={soql}"), &token).await;
    assert_eq!(status, 200, "{found}");
    assert_eq!(found["records"][0]["Amount"], 10);
    assert_eq!(found["records"][0]["Id"], a.as_str());

    let (status, by_key) = get(
        &format!("{api}sobjects/opportunity/REFERRAL_ID__C/R-1"),
        &token,
    )
    .await;
    assert_eq!(status, 200, "{by_key}");
    assert_eq!(by_key["Id"], a.as_str());
    let (status, upserted) = send(
        "PATCH",
        &format!("{api}sobjects/Opportunity/referral_id__c/R-1"),
        &token,
        &json!({"stagename": "Qualification"}),
    )
    .await;
    assert_eq!(status, 200, "{upserted}");
    assert_eq!(
        emulator.salesforce().record("Opportunity", &a).unwrap()["StageName"],
        "Qualification"
    );
}
