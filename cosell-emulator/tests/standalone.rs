//! The emulator on its own: the library's standalone start, and the `cosell-emulator` binary.

use std::process::Command;

use cosell_emulator::standalone;

#[tokio::test]
async fn the_standalone_emulator_serves_sample_data_and_prints_credentials() {
    let emulator = standalone::start(standalone::ports_from(0)).await.unwrap();
    let text = standalone::describe(&emulator);
    assert!(text.contains(&emulator.urls().partner_center_referrals));
    assert!(text.contains("client_secret=secret"));
    assert_eq!(emulator.partner_center().referrals().len(), 3);
    assert!(!emulator.salesforce().records("Opportunity").is_empty());
    assert!(!emulator.dataverse().records("opportunities").is_empty());
    assert_eq!(
        standalone::ports_from(9100).salesforce,
        9104,
        "five consecutive ports"
    );

    // What the description tells a curl user to do works over real HTTP.
    let http = reqwest::Client::new();
    let token: serde_json::Value = http
        .post(format!(
            "{}contoso/oauth2/v2.0/token",
            emulator.urls().entra_authority
        ))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(
            "grant_type=client_credentials&client_id=app&client_secret=secret\
             &scope=https%3A%2F%2Fapi.partner.microsoft.com%2F.default",
        )
        .send()
        .await
        .unwrap()
        .bytes()
        .await
        .map(|body| serde_json::from_slice(&body).unwrap())
        .unwrap();
    let bearer = token["access_token"].as_str().unwrap();
    let listing: serde_json::Value = http
        .get(format!(
            "{}referrals?$top=10",
            emulator.urls().partner_center_referrals
        ))
        .bearer_auth(bearer)
        .send()
        .await
        .unwrap()
        .bytes()
        .await
        .map(|body| serde_json::from_slice(&body).unwrap())
        .unwrap();
    assert_eq!(listing["value"].as_array().unwrap().len(), 3);
}

#[test]
fn the_binary_starts_prints_its_urls_and_exits_with_check() {
    let ca = std::env::temp_dir().join(format!("cosell-emulator-bin-{}.pem", std::process::id()));
    let output = Command::new(env!("CARGO_BIN_EXE_cosell-emulator"))
        .args(["--check", "--strict"])
        .env("COSELL_EMULATOR_PORT", "0")
        .env("COSELL_EMULATOR_CA", &ca)
        .output()
        .unwrap();
    assert!(output.status.success(), "{output:?}");
    let text = String::from_utf8(output.stdout).unwrap();
    assert!(text.contains("Partner Center referrals  http://127.0.0.1:"));
    assert!(text.contains(&format!("CA certificate (PEM): {}", ca.display())));
    assert!(text.contains("strict mode: on"));
    let pem = std::fs::read_to_string(&ca).unwrap();
    assert!(pem.starts_with("-----BEGIN CERTIFICATE-----"));
    std::fs::remove_file(&ca).unwrap();
    assert!(text.contains("Sample data: 3 referrals"));

    let refused = Command::new(env!("CARGO_BIN_EXE_cosell-emulator"))
        .arg("--check")
        .env("COSELL_EMULATOR_PORT", "not-a-port")
        .output()
        .unwrap();
    assert_eq!(refused.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&refused.stderr).contains("COSELL_EMULATOR_PORT"));
}
