#![no_main]

#[path = "../props/literal_builders.rs"]
mod property;

libfuzzer_sys::fuzz_target!(|data: &[u8]| property::check(data));
