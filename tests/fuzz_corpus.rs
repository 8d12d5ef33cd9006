//! The fuzz targets' committed corpora (`fuzz/corpus/<target>/`), replayed on stable with the
//! same properties the targets check (`fuzz/props/`), so every input a fuzzer kept — and every
//! crash turned into a regression input — is checked by `cargo test`.

use std::path::Path;

#[path = "../fuzz/props/dataverse_answer.rs"]
mod dataverse_answer;
#[path = "../fuzz/props/literal_builders.rs"]
mod literal_builders;
#[path = "../fuzz/props/referral_decode.rs"]
mod referral_decode;
#[path = "../fuzz/props/salesforce_answer.rs"]
mod salesforce_answer;
#[path = "../fuzz/props/webhook_verify.rs"]
mod webhook_verify;

/// Runs `check` over every file of a target's corpus; the corpus must not be empty.
fn replay(target: &str, check: fn(&[u8])) {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("fuzz/corpus")
        .join(target);
    let mut inputs = 0;
    for entry in std::fs::read_dir(&dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display())) {
        let path = entry.unwrap().path();
        let data = std::fs::read(&path).unwrap();
        let outcome = std::panic::catch_unwind(|| check(&data));
        assert!(outcome.is_ok(), "{} fails its property", path.display());
        inputs += 1;
    }
    assert!(inputs > 0, "{} holds no corpus", dir.display());
}

#[test]
fn the_referral_decode_corpus_holds() {
    replay("referral_decode", referral_decode::check);
}

#[test]
fn the_webhook_verify_corpus_holds() {
    replay("webhook_verify", webhook_verify::check);
}

#[test]
fn the_dataverse_answer_corpus_holds() {
    replay("dataverse_answer", dataverse_answer::check);
}

#[test]
fn the_salesforce_answer_corpus_holds() {
    replay("salesforce_answer", salesforce_answer::check);
}

#[test]
fn the_literal_builders_corpus_holds() {
    replay("literal_builders", literal_builders::check);
}
