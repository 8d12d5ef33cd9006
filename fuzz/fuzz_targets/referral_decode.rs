#![no_main]

#[path = "../props/referral_decode.rs"]
mod property;

libfuzzer_sys::fuzz_target!(|data: &[u8]| property::check(data));
