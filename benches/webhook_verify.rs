//! Full verification of a Partner Center callback with a cached certificate, against the bare
//! RSA-2048 PKCS#1 v1.5 SHA-256 verify of the same signature by aws-lc-rs alone.

use std::sync::Arc;

use aws_lc_rs::signature::{ParsedPublicKey, RSA_PKCS1_2048_8192_SHA256, UnparsedPublicKey};
use base64::Engine as _;
use cosell::webhook::{TEST_SIGNER_CERTIFICATE_DER, TestSigner, TrustPolicy, WebhookVerifier};
use criterion::{Criterion, criterion_group, criterion_main};
use x509_parser::prelude::FromDer;

const BODY: &[u8] = br#"{"EventName":"referral-updated","ResourceUri":"https://api.partnercenter.microsoft.com/engagements/v1/referrals/4f0c1a2b-3c4d-4e5f-8a9b-0c1d2e3f4a5b","ResourceName":"referral","AuditUri":null,"ResourceChangeUtcDate":"2025-01-02T03:04:05.1234567+00:00"}"#;

fn bench(c: &mut Criterion) {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let signer = TestSigner::new();
    let verifier = WebhookVerifier::builder(TrustPolicy::partner_center())
        .fetcher(Arc::new(signer.certificates()))
        .build()
        .unwrap();
    let headers = signer.headers(BODY).unwrap();
    // Fill the certificate cache.
    runtime.block_on(verifier.verify(&headers, BODY)).unwrap();

    let signature = base64::engine::general_purpose::STANDARD
        .decode(signer.sign(BODY).unwrap())
        .unwrap();
    let (_, certificate) =
        x509_parser::certificate::X509Certificate::from_der(TEST_SIGNER_CERTIFICATE_DER).unwrap();
    let rsa_key = certificate.public_key().subject_public_key.data.to_vec();
    let parsed = ParsedPublicKey::new(&RSA_PKCS1_2048_8192_SHA256, &rsa_key).unwrap();
    let unparsed = UnparsedPublicKey::new(&RSA_PKCS1_2048_8192_SHA256, rsa_key.clone());

    let mut group = c.benchmark_group("webhook_verify");
    group.bench_function("full_verification_cached_certificate", |b| {
        b.to_async(&runtime)
            .iter(|| async { verifier.verify(&headers, BODY).await.unwrap() });
    });
    group.bench_function("bare_rsa_verify_parsed_key", |b| {
        b.iter(|| parsed.verify_sig(BODY, &signature).unwrap());
    });
    group.bench_function("bare_rsa_verify_unparsed_key", |b| {
        b.iter(|| unparsed.verify(BODY, &signature).unwrap());
    });
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
