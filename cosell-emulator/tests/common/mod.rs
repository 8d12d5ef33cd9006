//! What the emulator's own tests share: tokens and JSON over real HTTP.
#![allow(dead_code)]

use cosell_emulator::{DATAVERSE_ORG_URL, Emulator};
use serde_json::Value;

/// The referrals API's token scope.
pub const REFERRALS: &str = "https://api.partner.microsoft.com/.default";
/// The webhooks API's token scope.
pub const WEBHOOKS: &str = "https://api.partnercenter.microsoft.com/.default";

/// Percent-encodes a form value.
pub fn encode(text: &str) -> String {
    url::form_urlencoded::byte_serialize(text.as_bytes()).collect()
}

/// A client-credentials token from the emulated Entra ID, for `scope`, in `tenant`.
pub async fn entra_token_in(emulator: &Emulator, tenant: &str, scope: &str) -> String {
    let answer = reqwest::Client::new()
        .post(format!(
            "{}{tenant}/oauth2/v2.0/token",
            emulator.urls().entra_authority
        ))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(format!(
            "grant_type=client_credentials&client_id=app&client_secret=secret&scope={}",
            encode(scope)
        ))
        .send()
        .await
        .unwrap();
    let body = json(answer).await;
    body["access_token"]
        .as_str()
        .unwrap_or_else(|| panic!("{body}"))
        .to_owned()
}

/// A client-credentials token from the emulated Entra ID, for `scope`.
pub async fn entra_token(emulator: &Emulator, scope: &str) -> String {
    entra_token_in(emulator, "contoso", scope).await
}

/// A token for the emulated Dataverse organisation.
pub async fn dataverse_token(emulator: &Emulator) -> String {
    entra_token(emulator, &format!("{DATAVERSE_ORG_URL}/.default")).await
}

/// A token from the emulated Salesforce login endpoint.
pub async fn salesforce_token(emulator: &Emulator) -> String {
    let answer = reqwest::Client::new()
        .post(format!(
            "{}services/oauth2/token",
            emulator.urls().salesforce
        ))
        .header("content-type", "application/x-www-form-urlencoded")
        .body("grant_type=client_credentials&client_id=app&client_secret=secret")
        .send()
        .await
        .unwrap();
    json(answer).await["access_token"]
        .as_str()
        .unwrap()
        .to_owned()
}

/// The body of an answer as JSON (`Null` when empty).
pub async fn json(answer: reqwest::Response) -> Value {
    let body = answer.bytes().await.unwrap();
    if body.is_empty() {
        return Value::Null;
    }
    serde_json::from_slice(&body)
        .unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(&body)))
}

/// `GET url` with a bearer token: the status and the JSON body.
pub async fn get(url: &str, token: &str) -> (u16, Value) {
    let answer = reqwest::Client::new()
        .get(url)
        .bearer_auth(token)
        .send()
        .await
        .unwrap();
    (answer.status().as_u16(), json(answer).await)
}

/// A request with a JSON body and a bearer token: the status and the JSON body.
pub async fn send(method: &str, url: &str, token: &str, body: &Value) -> (u16, Value) {
    let answer = reqwest::Client::new()
        .request(method.parse().unwrap(), url)
        .bearer_auth(token)
        .header("content-type", "application/json")
        .body(body.to_string())
        .send()
        .await
        .unwrap();
    (answer.status().as_u16(), json(answer).await)
}

/// The Salesforce REST base (`…/services/data/v62.0/`).
pub fn salesforce_api(emulator: &Emulator) -> String {
    format!(
        "{}services/data/v{}/",
        emulator.urls().salesforce,
        cosell_emulator::SALESFORCE_API_VERSION
    )
}
