//! Faults as a client on the wire sees them.

use cosell_emulator::{DATAVERSE_ORG_URL, EmulatedApi, Emulator, Fault, FaultRule, Trigger};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

async fn dataverse_token(emulator: &Emulator) -> String {
    let body = format!(
        "grant_type=client_credentials&client_id=app&client_secret=secret&scope={}",
        url_encode(&format!("{DATAVERSE_ORG_URL}/.default"))
    );
    let answer = reqwest::Client::new()
        .post(format!(
            "{}contoso/oauth2/v2.0/token",
            emulator.urls().entra_authority
        ))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(body)
        .send()
        .await
        .unwrap()
        .bytes()
        .await
        .unwrap();
    let token: serde_json::Value = serde_json::from_slice(&answer).unwrap();
    token["access_token"].as_str().unwrap().to_owned()
}

fn url_encode(text: &str) -> String {
    text.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' => (b as char).to_string(),
            other => format!("%{other:02X}"),
        })
        .collect()
}

#[tokio::test]
async fn an_answer_lost_fault_applies_the_write_and_closes_before_any_byte() {
    let emulator = Emulator::start().await.unwrap();
    let token = dataverse_token(&emulator).await;
    emulator.faults().add(
        FaultRule::new(EmulatedApi::Dataverse, Fault::AnswerLost)
            .operation("dataverse.create")
            .trigger(Trigger::First(1)),
    );
    let base = url::Url::parse(&emulator.urls().dataverse).unwrap();
    let address = format!("{}:{}", base.host_str().unwrap(), base.port().unwrap());
    let body = r#"{"name":"Lost answer"}"#;
    let request = format!(
        "POST {}opportunities HTTP/1.1\r\nHost: {address}\r\nAuthorization: Bearer {token}\r\n\
         Content-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
        base.path(),
        body.len()
    );
    let mut socket = tokio::net::TcpStream::connect(&address).await.unwrap();
    socket.write_all(request.as_bytes()).await.unwrap();
    let mut answer = Vec::new();
    // The server closes the connection (EOF or reset) without writing anything.
    let _ = socket.read_to_end(&mut answer).await;
    assert!(answer.is_empty(), "{}", String::from_utf8_lossy(&answer));

    // The write took effect all the same.
    let rows = emulator.dataverse().records("opportunities");
    assert!(
        rows.iter().any(|row| row["name"] == "Lost answer"),
        "{rows:?}"
    );
    assert_eq!(
        emulator.count(EmulatedApi::Dataverse, "dataverse.create"),
        1
    );

    // The fault fired once: the next request on a new connection is answered.
    let answered = reqwest::Client::new()
        .post(format!("{}opportunities", emulator.urls().dataverse))
        .bearer_auth(&token)
        .header("content-type", "application/json")
        .body(r#"{"name":"Answered"}"#)
        .send()
        .await
        .unwrap();
    assert_eq!(answered.status(), 204);
}
