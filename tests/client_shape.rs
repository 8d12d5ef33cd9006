//! The clients share one shape: credentials as the builder's argument, borrowed resource
//! handles (`pc.referrals()`, `dv.table(..)`, `sf.sobject(..)`).

use std::sync::Arc;

use cosell::auth::{AccessToken, CustomCredentials, StaticToken, TokenProvider};
use cosell::dataverse::Dataverse;
use cosell::partner_center::PartnerCenter;
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

/// A provider the crate does not know, such as a vault or a managed identity.
#[derive(Debug)]
struct FromVault;

#[async_trait::async_trait]
impl TokenProvider for FromVault {
    async fn token(&self) -> cosell::Result<AccessToken> {
        Ok(AccessToken::bearer("from-vault"))
    }
}

#[tokio::test]
async fn a_provider_of_your_own_reaches_the_referrals_api_once_its_kind_is_named() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/v1.0/engagements/referrals/r-1"))
        .and(header("authorization", "Bearer from-vault"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"id": "r-1"})))
        .expect(1)
        .mount(&server)
        .await;
    let shared: Arc<dyn TokenProvider> = Arc::new(FromVault);
    let pc = PartnerCenter::builder(CustomCredentials::user(shared))
        .base_url(format!("{}/v1.0/engagements/", server.uri()))
        .build()
        .unwrap();
    let referral = pc.referrals().get("r-1").await.unwrap();
    assert_eq!(referral.id.as_deref(), Some("r-1"));
}
