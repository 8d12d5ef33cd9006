//! The emulator on its own: Partner Center, Dataverse and Salesforce on fixed loopback ports,
//! HTTP and HTTPS on each, with sample data, for any client (curl, another language, your own
//! service) to talk to.
//!
//! ```text
//! cargo run -p cosell-emulator
//! COSELL_EMULATOR_PORT=9100 cargo run -p cosell-emulator   # ports 9100-9104
//! COSELL_EMULATOR_CA=/tmp/ca.pem cargo run -p cosell-emulator   # where the CA PEM goes
//! cargo run -p cosell-emulator -- --strict                  # Partner Center strict mode
//! cargo run -p cosell-emulator -- --check                   # start, print, exit
//! ```
//!
//! Every token endpoint accepts any client id and non-empty secret, and device codes are
//! approved on the first poll. Tokens are checked per service (their audience), and expire
//! after an hour.

use std::path::PathBuf;
use std::process::ExitCode;

use cosell_emulator::Emulator;
use cosell_emulator::standalone::{describe, ports_from, start_with};

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
    let ca_file = std::env::var_os("COSELL_EMULATOR_CA")
        .map(PathBuf::from)
        .unwrap_or_else(|| std::env::temp_dir().join("cosell-emulator-ca.pem"));
    let strict = std::env::args().any(|a| a == "--strict");
    let builder = Emulator::builder()
        .ports(ports_from(first))
        .strict(strict)
        .ca_file(&ca_file);
    let emulator = match start_with(builder).await {
        Ok(emulator) => emulator,
        Err(e) => {
            eprintln!("the emulator did not start: {e}");
            eprintln!("(another program may hold the ports: set COSELL_EMULATOR_PORT)");
            return ExitCode::FAILURE;
        }
    };
    println!("{}", describe(&emulator));
    println!("CA certificate (PEM): {}", ca_file.display());
    if strict {
        println!("Partner Center strict mode: on");
    }
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
