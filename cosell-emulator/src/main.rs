//! The emulator on its own: Partner Center, Dataverse and Salesforce on fixed loopback ports,
//! with sample data, for any client (curl, another language, your own service) to talk to.
//!
//! ```text
//! cargo run -p cosell-emulator
//! COSELL_EMULATOR_PORT=9100 cargo run -p cosell-emulator   # ports 9100-9104
//! cargo run -p cosell-emulator -- --check                   # start, print, exit
//! ```
//!
//! Every token endpoint accepts any client id and non-empty secret, and device codes are
//! approved on the first poll. Tokens are checked per service (their audience), and expire
//! after an hour.

use std::process::ExitCode;

use cosell_emulator::standalone::{describe, ports_from, start};

/// The first of the five ports when `COSELL_EMULATOR_PORT` is not set.
const DEFAULT_FIRST_PORT: u16 = 7801;

#[tokio::main]
async fn main() -> ExitCode {
    let first = match std::env::var("COSELL_EMULATOR_PORT") {
        Ok(text) => match text.parse::<u16>() {
            Ok(port) if port <= u16::MAX - 4 => port,
            _ => {
                eprintln!("COSELL_EMULATOR_PORT must be a port number below 65531, not `{text}`");
                return ExitCode::from(2);
            }
        },
        Err(_) => DEFAULT_FIRST_PORT,
    };
    let emulator = match start(ports_from(first)).await {
        Ok(emulator) => emulator,
        Err(e) => {
            eprintln!("the emulator did not start: {e}");
            eprintln!("(another program may hold the ports: set COSELL_EMULATOR_PORT)");
            return ExitCode::FAILURE;
        }
    };
    println!("{}", describe(&emulator));
    if std::env::args().any(|a| a == "--check") {
        return ExitCode::SUCCESS;
    }
    println!("Serving until Ctrl-C.");
    match tokio::signal::ctrl_c().await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("cannot wait for Ctrl-C: {e}");
            ExitCode::FAILURE
        }
    }
}
