//! The property the `referral_decode` fuzz target checks, shared with the corpus replay test on
//! stable (`tests/fuzz_corpus.rs`): any bytes decode to a referral or a typed error, never a
//! panic; a referral that decodes encodes and decodes again to the same referral.

pub fn check(data: &[u8]) {
    let Ok(referral) = cosell::partner_center::Referral::from_json(data) else {
        return;
    };
    let encoded = serde_json::to_vec(&referral).expect("a decoded referral encodes");
    let again =
        cosell::partner_center::Referral::from_json(&encoded).expect("an encoded referral decodes");
    assert_eq!(
        again, referral,
        "decode → encode → decode changed the referral"
    );
}
