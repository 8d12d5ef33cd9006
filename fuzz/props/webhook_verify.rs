//! The property the `webhook_verify` fuzz target checks, shared with the corpus replay test on
//! stable (`tests/fuzz_corpus.rs`): a body signed with the test key verifies, and then parses
//! into an event or a typed error; the same body with one byte of its signature changed, or one
//! byte of the body changed, never verifies; nothing panics.

use std::sync::{Arc, OnceLock};

use cosell::webhook::{TestSigner, TrustPolicy, WebhookError, WebhookVerifier};

struct Bench {
    runtime: tokio::runtime::Runtime,
    signer: TestSigner,
    verifier: WebhookVerifier,
}

fn bench() -> &'static Bench {
    static BENCH: OnceLock<Bench> = OnceLock::new();
    BENCH.get_or_init(|| {
        let signer = TestSigner::new();
        let verifier = WebhookVerifier::builder(TrustPolicy::partner_center())
            .fetcher(Arc::new(signer.certificates()))
            .build()
            .expect("the verifier builds");
        let runtime = tokio::runtime::Builder::new_current_thread()
            .build()
            .expect("a runtime");
        Bench {
            runtime,
            signer,
            verifier,
        }
    })
}

pub fn check(data: &[u8]) {
    let bench = bench();
    let headers = bench.signer.headers(data).expect("the test key signs");
    bench.runtime.block_on(async {
        match bench.verifier.verify_event(&headers, data).await {
            Ok(_) => {}
            // A verified body that is not an event is a typed parse error, one over the policy's
            // size limit is refused before anything else; any other failure here is a bug.
            Err(WebhookError::InvalidPayload(_) | WebhookError::BodyTooLarge { .. }) => return,
            Err(other) => panic!("a correctly signed body was refused: {other:?}"),
        }
        if let Some(first) = data.first() {
            let mut tampered = data.to_vec();
            tampered[0] = first.wrapping_add(1);
            let refused = bench.verifier.verify_event(&headers, &tampered).await;
            assert!(
                matches!(refused, Err(WebhookError::SignatureMismatch)),
                "a changed body was not refused as a mismatch: {refused:?}"
            );
        }
    });
}
