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

#[tokio::test]
async fn count_queries_answer_totals_and_aggregate_rows() {
    let (emulator, token, api) = org().await;
    for name in ["a", "b", "c"] {
        emulator
            .salesforce()
            .seed("Opportunity", opportunity(name))
            .unwrap();
    }
    let q = |soql: &str| format!("{api}query?q={}", encode(soql));
    let (status, bare) = get(
        &q("SELECT COUNT() FROM Opportunity WHERE Name != 'a'"),
        &token,
    )
    .await;
    assert_eq!(status, 200, "{bare}");
    assert_eq!(bare, json!({"totalSize": 2, "done": true, "records": []}));
    let (_, named) = get(&q("SELECT COUNT(Id) FROM Opportunity"), &token).await;
    assert_eq!(named["totalSize"], 1);
    assert_eq!(named["records"][0]["expr0"], 3);
    assert_eq!(named["records"][0]["attributes"]["type"], "AggregateResult");
    let (_, aliased) = get(&q("SELECT COUNT(Id) n FROM Opportunity"), &token).await;
    assert_eq!(aliased["records"][0]["n"], 3);
}

#[tokio::test]
async fn collections_retrieve_by_get_and_post() {
    let (emulator, token, api) = org().await;
    let a = emulator
        .salesforce()
        .seed("Account", json!({"Name": "A"}))
        .unwrap();
    let b = emulator
        .salesforce()
        .seed("Account", json!({"Name": "B"}))
        .unwrap();
    let missing = "001Em0000009999AAA";
    let (status, got) = get(
        &format!("{api}composite/sobjects/Account?ids={b},{missing},{a}&fields=id,name"),
        &token,
    )
    .await;
    assert_eq!(status, 200, "{got}");
    assert_eq!(got[0]["Name"], "B");
    assert!(got[1].is_null());
    assert_eq!(got[2]["Id"], a.as_str());
    let (status, posted) = send(
        "POST",
        &format!("{api}composite/sobjects/account"),
        &token,
        &json!({"ids": [a], "fields": ["Name"]}),
    )
    .await;
    assert_eq!(status, 200, "{posted}");
    assert_eq!(posted[0]["Name"], "A");
    let (status, _) = get(&format!("{api}composite/sobjects/Account?ids={a}"), &token).await;
    assert_eq!(status, 400, "fields are required");
}

#[tokio::test]
async fn replication_lists_updated_and_deleted_ids_in_a_window() {
    let clock = std::sync::Arc::new(cosell_emulator::ManualClock::new(
        "2026-02-01T10:00:00Z".parse().unwrap(),
    ));
    let emulator = Emulator::builder()
        .clock(clock.clone())
        .start()
        .await
        .unwrap();
    let token = salesforce_token(&emulator).await;
    let api = salesforce_api(&emulator);
    let org = emulator.salesforce();
    let kept = org.seed("Account", json!({"Name": "kept"})).unwrap();
    let gone = org.seed("Account", json!({"Name": "gone"})).unwrap();
    clock.advance(jiff::SignedDuration::from_secs(60));
    org.delete("Account", &gone).unwrap();
    let window = "start=2026-02-01T09:00:00%2B00:00&end=2026-02-01T11:00:00%2B00:00";
    let (status, updated) = get(&format!("{api}sobjects/Account/updated?{window}"), &token).await;
    assert_eq!(status, 200, "{updated}");
    assert_eq!(updated["ids"], json!([kept]));
    assert_eq!(updated["latestDateCovered"], "2026-02-01T11:00:00.000+0000");
    let (status, deleted) = get(&format!("{api}sobjects/Account/deleted?{window}"), &token).await;
    assert_eq!(status, 200, "{deleted}");
    assert_eq!(deleted["deletedRecords"][0]["id"], gone.as_str());
    assert_eq!(
        deleted["deletedRecords"][0]["deletedDate"],
        "2026-02-01T10:01:00.000+0000"
    );
    assert_eq!(
        deleted["earliestDateAvailable"],
        "2026-02-01T10:00:00.000+0000"
    );
    let (status, _) = get(&format!("{api}sobjects/Account/updated"), &token).await;
    assert_eq!(status, 400);
}

#[tokio::test]
async fn the_identity_url_userinfo_and_version_resource_answer() {
    let (emulator, _, api) = org().await;
    let login = json(
        reqwest::Client::new()
            .post(format!(
                "{}services/oauth2/token",
                emulator.urls().salesforce
            ))
            .header("content-type", "application/x-www-form-urlencoded")
            .body("grant_type=client_credentials&client_id=app&client_secret=secret")
            .send()
            .await
            .unwrap(),
    )
    .await;
    let token = login["access_token"].as_str().unwrap();
    let (status, identity) = get(login["id"].as_str().unwrap(), token).await;
    assert_eq!(status, 200, "{identity}");
    assert_eq!(identity["id"], login["id"]);
    assert!(
        identity["urls"]["rest"]
            .as_str()
            .unwrap()
            .contains("/services/data/v")
    );
    let (status, userinfo) = get(
        &format!("{}services/oauth2/userinfo", emulator.urls().salesforce),
        token,
    )
    .await;
    assert_eq!(status, 200, "{userinfo}");
    assert_eq!(userinfo["sub"], login["id"]);
    let (_, resources) = get(&api, token).await;
    assert_eq!(resources["identity"], login["id"]);
    assert_eq!(get(login["id"].as_str().unwrap(), "bad").await.0, 403);
}

#[tokio::test]
async fn composite_runs_subrequests_with_references_and_all_or_none() {
    let (emulator, token, api) = org().await;
    let base = format!(
        "/services/data/v{}",
        cosell_emulator::SALESFORCE_API_VERSION
    );
    let (status, answer) = send(
        "POST",
        &format!("{api}composite"),
        &token,
        &json!({"compositeRequest": [
            {"method": "POST", "url": format!("{base}/sobjects/Account"), "referenceId": "acct",
             "body": {"Name": "Fabrikam"}},
            {"method": "POST", "url": format!("{base}/sobjects/Opportunity"), "referenceId": "opp",
             "body": {"Name": "Deal", "StageName": "Prospecting", "CloseDate": "2026-06-30", "AccountId": "@{acct.id}"},
             "httpHeaders": {"Sforce-Call-Options": "client=composite-test"}},
            {"method": "GET", "url": format!("{base}/sobjects/Opportunity/@{{opp.id}}?fields=AccountId"), "referenceId": "read"},
        ]}),
    )
    .await;
    assert_eq!(status, 200, "{answer}");
    let parts = answer["compositeResponse"].as_array().unwrap();
    assert_eq!(parts[0]["httpStatusCode"], 201);
    assert_eq!(parts[2]["body"]["AccountId"], parts[0]["body"]["id"]);
    assert!(
        parts[0]["httpHeaders"]["Location"]
            .as_str()
            .unwrap()
            .ends_with(parts[0]["body"]["id"].as_str().unwrap())
    );
    let writes = emulator.salesforce().writes();
    assert_eq!(writes[1].client(), Some("composite-test"));
    assert_eq!(
        emulator.salesforce().api_usage().used,
        1,
        "three subrequests, one call"
    );

    let (_, rolled) = send(
        "POST",
        &format!("{api}composite"),
        &token,
        &json!({"allOrNone": true, "compositeRequest": [
            {"method": "POST", "url": format!("{base}/sobjects/Account"), "referenceId": "ok", "body": {"Name": "Kept?"}},
            {"method": "POST", "url": format!("{base}/sobjects/Account"), "referenceId": "bad", "body": {"Nope": 1}},
        ]}),
    )
    .await;
    let parts = rolled["compositeResponse"].as_array().unwrap();
    assert_eq!(parts[0]["body"][0]["errorCode"], "PROCESSING_HALTED");
    assert_eq!(parts[1]["body"][0]["errorCode"], "INVALID_FIELD");
    assert_eq!(
        emulator.salesforce().records("Account").len(),
        1,
        "rolled back"
    );

    let too_many: Vec<_> = (0..26)
        .map(|i| json!({"method": "GET", "url": format!("{base}/limits"), "referenceId": format!("r{i}")}))
        .collect();
    let (status, _) = send(
        "POST",
        &format!("{api}composite"),
        &token,
        &json!({"compositeRequest": too_many}),
    )
    .await;
    assert_eq!(status, 400);
}

#[tokio::test]
async fn describe_has_urls_relationships_record_types_and_agrees_with_behaviour() {
    let (_emulator, token, api) = org().await;
    let (status, describe) = get(&format!("{api}sobjects/Opportunity/describe"), &token).await;
    assert_eq!(status, 200);
    assert!(
        describe["urls"]["sobject"]
            .as_str()
            .unwrap()
            .ends_with("/sobjects/Opportunity")
    );
    assert_eq!(describe["recordTypeInfos"][0]["master"], true);
    let fields = describe["fields"].as_array().unwrap();
    let field = |name: &str| fields.iter().find(|f| f["name"] == name).unwrap().clone();
    let stage = field("StageName");
    assert_eq!(stage["restrictedPicklist"], true);
    assert_eq!(field("Amount")["soapType"], "xsd:double");
    assert_eq!(field("Id")["soapType"], "tns:ID");
    for property in ["filterable", "sortable", "calculated", "defaultedOnCreate"] {
        assert!(stage[property].is_boolean(), "{property}");
    }
    let (_, account) = get(&format!("{api}sobjects/Account/describe"), &token).await;
    let children = account["childRelationships"].as_array().unwrap();
    assert!(
        children
            .iter()
            .any(|c| c["childSObject"] == "Opportunity" && c["field"] == "AccountId")
    );
    // Restricted in describe, refused on write.
    let (status, refused) = send(
        "POST",
        &format!("{api}sobjects/Opportunity"),
        &token,
        &json!({"Name": "x", "StageName": "Dreaming", "CloseDate": "2026-01-01"}),
    )
    .await;
    assert_eq!(status, 400);
    assert_eq!(
        refused[0]["errorCode"],
        "INVALID_OR_NULL_FOR_RESTRICTED_PICKLIST"
    );
}

#[tokio::test]
async fn a_405_names_the_allowed_methods() {
    let (_emulator, token, api) = org().await;
    for (method, path, allow) in [
        ("PUT", "sobjects/Account", "GET, POST"),
        (
            "POST",
            "sobjects/Account/001Em0000000001AAA",
            "GET, PATCH, DELETE",
        ),
        ("DELETE", "query", "GET"),
        ("GET", "composite", "POST"),
    ] {
        let answer = reqwest::Client::new()
            .request(method.parse().unwrap(), format!("{api}{path}"))
            .bearer_auth(&token)
            .send()
            .await
            .unwrap();
        assert_eq!(answer.status(), 405, "{method} {path}");
        assert_eq!(answer.headers()["allow"], allow, "{method} {path}");
    }
}
