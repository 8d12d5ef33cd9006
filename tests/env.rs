//! Credentials from the environment: one convention for every client, read from an injected
//! environment; a missing or malformed variable is an error naming it.

use cosell::Error;
use cosell::auth::{Env, EnvError, EnvProblem};
use cosell::dataverse::Dataverse;
use cosell::partner_center::PartnerCenter;
use cosell::partner_center::webhooks::WebhooksClient;
use cosell::salesforce::Salesforce;

const ENTRA: [(&str, &str); 3] = [
    ("AZURE_TENANT_ID", "contoso.onmicrosoft.com"),
    ("AZURE_CLIENT_ID", "00000000-0000-0000-0000-000000000001"),
    ("AZURE_CLIENT_SECRET", "app-secret"),
];

fn env_with(extra: &[(&'static str, &'static str)], without: &str) -> Env {
    Env::from_pairs(
        ENTRA
            .iter()
            .chain(extra)
            .filter(|(name, _)| *name != without)
            .copied(),
    )
}

fn env_error(err: Error) -> EnvError {
    match err {
        Error::Env(env) => env,
        other => panic!("not an environment error: {other:?}"),
    }
}

#[test]
fn every_variable_a_client_needs_is_named_when_missing() {
    let dataverse = [("COSELL_DATAVERSE_URL", "https://contoso.crm.dynamics.com")];
    for missing in [
        "AZURE_TENANT_ID",
        "AZURE_CLIENT_ID",
        "AZURE_CLIENT_SECRET",
        "COSELL_DATAVERSE_URL",
    ] {
        let err =
            env_error(Dataverse::builder_from_env(&env_with(&dataverse, missing)).unwrap_err());
        assert_eq!(err.variable, missing);
        assert_eq!(err.problem, EnvProblem::Missing);
        assert!(err.to_string().contains(missing), "{err}");
    }
    let referrals = [("COSELL_PARTNER_CENTER_REFRESH_TOKEN", "refresh")];
    for missing in [
        "AZURE_TENANT_ID",
        "AZURE_CLIENT_ID",
        "COSELL_PARTNER_CENTER_REFRESH_TOKEN",
    ] {
        let err =
            env_error(PartnerCenter::builder_from_env(&env_with(&referrals, missing)).unwrap_err());
        assert_eq!(err.variable, missing);
    }
    let err = env_error(
        WebhooksClient::builder_from_env(&env_with(&[], "AZURE_CLIENT_SECRET")).unwrap_err(),
    );
    assert_eq!(err.variable, "AZURE_CLIENT_SECRET");
}

#[test]
fn the_referrals_client_takes_the_user_token_and_no_client_secret() {
    let env = env_with(
        &[("COSELL_PARTNER_CENTER_REFRESH_TOKEN", "refresh")],
        "AZURE_CLIENT_SECRET",
    );
    assert!(
        PartnerCenter::builder_from_env(&env)
            .unwrap()
            .build()
            .is_ok()
    );
}

#[test]
fn an_empty_variable_counts_as_missing() {
    let env = env_with(&[("COSELL_DATAVERSE_URL", "  ")], "");
    let err = env_error(Dataverse::builder_from_env(&env).unwrap_err());
    assert_eq!(err.variable, "COSELL_DATAVERSE_URL");
    assert_eq!(err.problem, EnvProblem::Missing);
}

#[test]
fn a_malformed_url_is_named_and_its_value_not_shown() {
    for (variable, value) in [
        ("COSELL_DATAVERSE_URL", "contoso.crm.dynamics.com"),
        ("COSELL_DATAVERSE_URL", "http://contoso.crm.dynamics.com"),
        ("AZURE_AUTHORITY_HOST", "login microsoftonline com"),
    ] {
        let env = env_with(
            &[
                ("COSELL_DATAVERSE_URL", "https://contoso.crm.dynamics.com"),
                (variable, value),
            ],
            "",
        );
        // The later pair wins in the map, so `variable` holds the bad value.
        let err = env_error(Dataverse::builder_from_env(&env).unwrap_err());
        assert_eq!(err.variable, variable);
        assert!(matches!(err.problem, EnvProblem::Malformed(_)), "{err}");
        assert!(!err.to_string().contains(value), "{err}");
    }
}

#[test]
fn a_dataverse_environment_url_becomes_the_web_api_base() {
    let env = env_with(
        &[("COSELL_DATAVERSE_URL", "https://contoso.crm4.dynamics.com/")],
        "",
    );
    let dataverse = Dataverse::builder_from_env(&env).unwrap().build().unwrap();
    assert_eq!(
        dataverse.pipeline().base_url().unwrap().as_str(),
        "https://contoso.crm4.dynamics.com/api/data/v9.2/"
    );
}

#[test]
fn salesforce_picks_its_flow_from_the_variables_set() {
    let base = [
        ("SALESFORCE_LOGIN_URL", "https://contoso.my.salesforce.com"),
        ("SALESFORCE_CLIENT_ID", "consumer-key"),
    ];
    let with =
        |extra: &[(&'static str, &'static str)]| Env::from_pairs(base.iter().chain(extra).copied());
    let err = env_error(Salesforce::builder_from_env(&with(&[])).unwrap_err());
    assert_eq!(err.variable, "SALESFORCE_CLIENT_SECRET");
    assert!(Salesforce::builder_from_env(&with(&[("SALESFORCE_CLIENT_SECRET", "s")])).is_ok());
    assert!(Salesforce::builder_from_env(&with(&[("SALESFORCE_REFRESH_TOKEN", "r")])).is_ok());
    let err = env_error(
        Salesforce::builder_from_env(&with(&[("SALESFORCE_PRIVATE_KEY", "not a key")]))
            .unwrap_err(),
    );
    assert_eq!(err.variable, "SALESFORCE_USERNAME");
    let err = env_error(
        Salesforce::builder_from_env(&with(&[
            ("SALESFORCE_PRIVATE_KEY", "not a key"),
            ("SALESFORCE_USERNAME", "ana@contoso.example"),
        ]))
        .unwrap_err(),
    );
    assert_eq!(err.variable, "SALESFORCE_PRIVATE_KEY");
    assert!(matches!(err.problem, EnvProblem::Malformed(_)));
}

#[test]
fn a_lookup_function_can_stand_in_for_the_environment() {
    let env = Env::from_fn(|name| (name == "AZURE_TENANT_ID").then(|| "contoso".to_owned()));
    assert_eq!(env.required("AZURE_TENANT_ID").unwrap(), "contoso");
    let err = env_error(env.required("AZURE_CLIENT_ID").unwrap_err());
    assert_eq!(err.variable, "AZURE_CLIENT_ID");
}
