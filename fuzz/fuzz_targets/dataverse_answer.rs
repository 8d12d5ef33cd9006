#![no_main]

#[path = "../props/dataverse_answer.rs"]
mod property;

libfuzzer_sys::fuzz_target!(|data: &[u8]| property::check(data));
