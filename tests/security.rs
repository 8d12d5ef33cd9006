//! Threats of `docs/security.md` that no other test covers.

use std::time::Duration;

use cosell::webhook::{
    CertificateFetchError, TestSigner, TrustPolicy, UrlRefusal, WebhookError, WebhookVerifier,
};
use cosell_emulator::{EmulatedApi, Emulator, SIGNING_CERTIFICATE_PEM};
use tokio::net::TcpListener;

const EMULATOR_KEY: &[u8] = include_bytes!("../cosell-emulator/keys/key.pk8");
const BODY: &[u8] = br#"{"EventName":"referral-updated","ResourceUri":"https://api.partnercenter.microsoft.com/engagements/v1/referrals/4f0c"}"#;

/// The emulator's signing key is public (`cosell-emulator/keys/`) and its certificate carries
/// Partner Center's common name. A delivery signed with it names the emulator's plain-http
/// loopback certificate URL, which a receiver on the production policy refuses before fetching
/// anything; naming Partner Center's real certificate location instead, it would be checked
/// against the certificate published there, which holds another key.
#[tokio::test]
async fn the_emulators_public_key_is_no_use_against_a_production_receiver() {
    let emulator = Emulator::start().await.unwrap();
    let url = emulator.partner_center().certificate_url().to_owned();
    let forger = TestSigner::from_pkcs8(EMULATOR_KEY, SIGNING_CERTIFICATE_PEM.as_bytes())
        .unwrap()
        .with_certificate_url(&url);

    let production = WebhookVerifier::new(TrustPolicy::partner_center()).unwrap();
    let refused = production
        .verify_event(&forger.headers(BODY).unwrap(), BODY)
        .await;
    assert!(
        matches!(
            refused,
            Err(WebhookError::CertificateUrlNotAllowed {
                reason: UrlRefusal::InsecureScheme,
                ..
            })
        ),
        "{refused:?}"
    );
    assert_eq!(
        emulator.count(EmulatedApi::PartnerCenterWebhooks, "certificate"),
        0,
        "the production verifier fetched the emulator's certificate"
    );

    // At the trusted location sits a certificate of another key (here the SDK's test signer
    // stands in for Partner Center's): the emulator's signature does not verify against it.
    let trusted_location = TestSigner::new();
    let verifier = WebhookVerifier::builder(TrustPolicy::partner_center())
        .fetcher(std::sync::Arc::new(trusted_location.certificates()))
        .build()
        .unwrap();
    let forger = forger.with_certificate_url(trusted_location.certificate_url());
    let refused = verifier
        .verify_event(&forger.headers(BODY).unwrap(), BODY)
        .await;
    assert_eq!(refused.unwrap_err(), WebhookError::SignatureMismatch);
    // The same body signed by the key of the trusted location passes.
    let headers = trusted_location.headers(BODY).unwrap();
    assert!(verifier.verify_event(&headers, BODY).await.is_ok());
}

/// A certificate server that accepts the connection and never answers holds a callback only
/// for the policy's fetch time-out; the failure is transient (answer 5xx: Partner Center
/// delivers again) and is not cached.
#[tokio::test]
async fn a_certificate_server_that_never_answers_costs_one_fetch_time_out() {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/cert/signing.cer", listener.local_addr().unwrap());
    let held = tokio::spawn(async move {
        let mut open = Vec::new();
        while let Ok((socket, _)) = listener.accept().await {
            open.push(socket);
        }
    });
    let policy = TrustPolicy::partner_center()
        .allow_loopback_location(&url)
        .unwrap()
        .fetch_timeout(Duration::from_millis(200));
    let verifier = WebhookVerifier::new(policy).unwrap();
    let signer = TestSigner::new().with_certificate_url(&url);
    let headers = signer.headers(BODY).unwrap();
    for _ in 0..2 {
        let outcome = tokio::time::timeout(
            Duration::from_secs(20),
            verifier.verify_event(&headers, BODY),
        )
        .await
        .expect("the verifier waited past its fetch time-out");
        let error = outcome.unwrap_err();
        assert!(
            matches!(
                &error,
                WebhookError::CertificateFetch {
                    error: CertificateFetchError::Transport(_),
                    ..
                }
            ),
            "{error:?}"
        );
        assert!(error.is_transient());
    }
    held.abort();
}
