//! The clients share one shape: credentials as the builder's argument, borrowed resource
//! handles (`pc.referrals()`, `dv.table(..)`, `sf.sobject(..)`).

use cosell::auth::StaticToken;
use cosell::dataverse::Dataverse;
use cosell::salesforce::{Salesforce, UpsertOutcome};
use serde_json::json;
use wiremock::matchers::{header, method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

#[tokio::test]
async fn a_salesforce_sobject_handle_addresses_its_type() {
    let server = MockServer::start().await;
    Mock::given(method("PATCH"))
        .and(path(
            "/services/data/v62.0/sobjects/Opportunity/Referral_Id__c/r-1",
        ))
        .and(header("authorization", "Bearer t"))
        .respond_with(
            ResponseTemplate::new(201).set_body_json(
                json!({"id": "006A", "success": true, "errors": [], "created": true}),
            ),
        )
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path("/services/data/v62.0/sobjects/Account/001A"))
        .respond_with(
            ResponseTemplate::new(200).set_body_json(json!({"Id": "001A", "Name": "Fabrikam"})),
        )
        .expect(1)
        .mount(&server)
        .await;
    let sf = Salesforce::builder(StaticToken::new("t"))
        .instance_url(server.uri())
        .api_version("v62.0")
        .build()
        .unwrap();
    let outcome = sf
        .opportunities()
        .upsert("Referral_Id__c", "r-1", &json!({"Name": "Fabrikam"}))
        .await
        .unwrap();
    assert_eq!(outcome, UpsertOutcome::Created { id: "006A".into() });
    let accounts = sf.sobject("Account");
    assert_eq!(accounts.name(), "Account");
    let account: serde_json::Value = accounts.retrieve("001A").send().await.unwrap();
    assert_eq!(account["Name"], "Fabrikam");
}

#[tokio::test]
async fn a_bad_sobject_name_is_refused_naming_it() {
    let sf = Salesforce::builder(StaticToken::new("t"))
        .instance_url("https://contoso.my.salesforce.com")
        .build()
        .unwrap();
    let err = sf
        .sobject("Opportunity/../Account")
        .delete("006A")
        .await
        .unwrap_err();
    assert!(matches!(err, cosell::Error::Validation(_)), "{err:?}");
    assert!(err.to_string().contains("Opportunity/../Account"), "{err}");
}

#[test]
fn a_dataverse_client_names_its_environment_as_a_builder_setting() {
    let missing = Dataverse::builder(StaticToken::new("t"))
        .build()
        .unwrap_err();
    assert!(matches!(missing, cosell::Error::Config(_)), "{missing:?}");
    assert!(missing.to_string().contains("base_url"), "{missing}");

    let by_environment = Dataverse::builder(StaticToken::new("t"))
        .base_url("https://contoso.crm4.dynamics.com/")
        .build()
        .unwrap();
    let by_web_api = Dataverse::builder(StaticToken::new("t"))
        .base_url("https://contoso.crm4.dynamics.com/api/data/v9.1/")
        .build()
        .unwrap();
    let by_org = Dataverse::for_org("contoso", StaticToken::new("t"))
        .build()
        .unwrap();
    let base = |dv: &Dataverse| dv.pipeline().base_url().unwrap().to_string();
    assert_eq!(
        base(&by_environment),
        "https://contoso.crm4.dynamics.com/api/data/v9.2/"
    );
    assert_eq!(
        base(&by_web_api),
        "https://contoso.crm4.dynamics.com/api/data/v9.1/"
    );
    assert_eq!(
        base(&by_org),
        "https://contoso.crm.dynamics.com/api/data/v9.2/"
    );
}
