#![no_main]

#[path = "../props/salesforce_answer.rs"]
mod property;

libfuzzer_sys::fuzz_target!(|data: &[u8]| property::check(data));
