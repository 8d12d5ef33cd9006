//! Dataverse as real clients use it: bulk messages, metadata, and 405s that say what is allowed.

mod common;

use common::*;
use cosell_emulator::Emulator;
use serde_json::json;

#[tokio::test]
async fn bulk_messages_write_all_or_nothing() {
    let emulator = Emulator::start().await.unwrap();
    let token = dataverse_token(&emulator).await;
    let base = &emulator.urls().dataverse;
    let action = |name: &str| format!("{base}accounts/Microsoft.Dynamics.CRM.{name}");
    let account = |name: &str, number: &str| json!({"@odata.type": "Microsoft.Dynamics.CRM.account", "name": name, "accountnumber": number});
    let (status, created) = send(
        "POST",
        &action("CreateMultiple"),
        &token,
        &json!({"Targets": [account("A", "A-1"), account("B", "B-1")]}),
    )
    .await;
    assert_eq!(status, 200, "{created}");
    let ids = created["Ids"].as_array().unwrap().clone();
    assert_eq!(ids.len(), 2);
    assert!(
        created["@odata.context"]
            .as_str()
            .unwrap()
            .ends_with("CreateMultipleResponse")
    );

    // One bad row (an unknown column) rolls the whole request back.
    let (status, error) = send(
        "POST",
        &action("CreateMultiple"),
        &token,
        &json!({"Targets": [account("C", "C-1"), {"name": "D", "nosuchcolumn": 1}]}),
    )
    .await;
    assert_eq!(status, 400, "{error}");
    assert!(error["error"]["code"].is_string());
    assert_eq!(emulator.dataverse().records("accounts").len(), 2);

    let (status, _) = send(
        "POST",
        &action("UpdateMultiple"),
        &token,
        &json!({"Targets": [{"accountid": ids[0], "name": "A2"}, {"accountid": ids[1], "name": "B2"}]}),
    )
    .await;
    assert_eq!(status, 204);
    let (status, missing) = send(
        "POST",
        &action("UpdateMultiple"),
        &token,
        &json!({"Targets": [{"accountid": ids[0], "name": "A3"},
                            {"accountid": "00000000-0000-0000-0000-000000000001", "name": "?"}]}),
    )
    .await;
    assert_eq!(status, 404, "{missing}");
    let names: Vec<_> = emulator
        .dataverse()
        .records("accounts")
        .iter()
        .map(|r| r["name"].clone())
        .collect();
    assert_eq!(
        names,
        [json!("A2"), json!("B2")],
        "nothing of the failed request stays"
    );

    let (status, upserted) = send(
        "POST",
        &action("UpsertMultiple"),
        &token,
        &json!({"Targets": [account("A by key", "A-1"), account("E", "E-1")]}),
    )
    .await;
    assert_eq!(status, 200, "{upserted}");
    assert_eq!(upserted["Results"][0]["RecordCreated"], false);
    assert_eq!(upserted["Results"][0]["Target"]["accountid"], ids[0]);
    assert_eq!(upserted["Results"][1]["RecordCreated"], true);
    assert_eq!(emulator.dataverse().records("accounts").len(), 3);
}

#[tokio::test]
async fn every_405_names_the_allowed_methods() {
    let emulator = Emulator::start().await.unwrap();
    let dv = dataverse_token(&emulator).await;
    let pc = entra_token(&emulator, REFERRALS).await;
    let urls = emulator.urls();
    for (method, url, token, allow) in [
        (
            "PUT",
            format!("{}accounts", urls.dataverse),
            &dv,
            "GET, POST",
        ),
        ("GET", format!("{}$batch", urls.dataverse), &dv, "POST"),
        (
            "DELETE",
            format!("{}referrals", urls.partner_center_referrals),
            &pc,
            "GET, POST",
        ),
        (
            "DELETE",
            format!("{}referrals/x", urls.partner_center_referrals),
            &pc,
            "GET, PATCH, PUT",
        ),
        (
            "PUT",
            format!("{}contoso/oauth2/v2.0/token", urls.entra_authority),
            &pc,
            "POST",
        ),
    ] {
        let answer = reqwest::Client::new()
            .request(method.parse().unwrap(), &url)
            .bearer_auth(token)
            .send()
            .await
            .unwrap();
        assert_eq!(answer.status(), 405, "{method} {url}");
        assert_eq!(answer.headers()["allow"], allow, "{method} {url}");
    }
}

#[tokio::test]
async fn metadata_answers_as_clients_ask_for_it() {
    let emulator = Emulator::start().await.unwrap();
    let token = dataverse_token(&emulator).await;
    let base = &emulator.urls().dataverse;
    let (status, found) = get(
        &format!(
            "{base}EntityDefinitions?$select=LogicalName,EntitySetName,PrimaryIdAttribute&$filter=LogicalName eq 'opportunity'"
        ),
        &token,
    )
    .await;
    assert_eq!(status, 200, "{found}");
    let value = found["value"].as_array().unwrap();
    assert_eq!(value.len(), 1);
    assert_eq!(value[0]["EntitySetName"], "opportunities");
    assert_eq!(value[0]["PrimaryIdAttribute"], "opportunityid");
    let (_, by_set) = get(
        &format!("{base}EntityDefinitions?$filter=EntitySetName eq 'accounts' or LogicalName eq 'contact'"),
        &token,
    )
    .await;
    assert_eq!(by_set["value"].as_array().unwrap().len(), 2);
    let (status, _) = get(
        &format!("{base}EntityDefinitions?$filter=contains(LogicalName,'o')"),
        &token,
    )
    .await;
    assert_eq!(status, 400);

    let answer = reqwest::Client::new()
        .get(format!("{base}$metadata"))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(answer.status(), 200);
    assert_eq!(answer.headers()["content-type"], "application/xml");
    let csdl = answer.text().await.unwrap();
    assert!(
        csdl.contains(
            "<EntityType Name=\"opportunity\"><Key><PropertyRef Name=\"opportunityid\"/>"
        )
    );
    assert!(csdl.contains(
        "<EntitySet Name=\"opportunities\" EntityType=\"Microsoft.Dynamics.CRM.opportunity\"/>"
    ));
    assert!(csdl.contains("<Property Name=\"estimatedvalue\" Type=\"Edm.Decimal\"/>"));
    assert!(csdl.contains("NavigationProperty Name=\"parentaccountid\" Type=\"mscrm.account\""));
}
