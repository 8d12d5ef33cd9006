#![no_main]

#[path = "../props/webhook_verify.rs"]
mod property;

libfuzzer_sys::fuzz_target!(|data: &[u8]| property::check(data));
