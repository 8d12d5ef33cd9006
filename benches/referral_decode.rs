//! What reading field names case-insensitively costs: the client's decoder
//! (`Referral::from_json`: parse, canonicalize keys, decode) against serde's exact-case derive.

use cosell::partner_center::Referral;
use criterion::{Criterion, criterion_group, criterion_main};

fn fixture() -> Vec<u8> {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/fixtures/partner_center/incoming_cosell.json"
    );
    std::fs::read(path).unwrap_or_default()
}

fn decode(c: &mut Criterion) {
    let body = fixture();
    let mut group = c.benchmark_group("referral_decode");
    group.bench_function("from_json_case_insensitive", |b| {
        b.iter(|| Referral::from_json(std::hint::black_box(&body)))
    });
    group.bench_function("serde_exact_case", |b| {
        b.iter(|| serde_json::from_slice::<Referral>(std::hint::black_box(&body)))
    });
    group.bench_function("serialize", |b| {
        let referral = Referral::from_json(&body).unwrap_or_default();
        b.iter(|| serde_json::to_vec(std::hint::black_box(&referral)))
    });
    group.finish();
}

criterion_group!(benches, decode);
criterion_main!(benches);
