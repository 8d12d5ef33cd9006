//! Registers a URL for the four Partner Center referral events, without silently taking them
//! from another integration.
//!
//! ```text
//! PARTNER_CENTER_TENANT_ID=contoso.onmicrosoft.com \
//! PARTNER_CENTER_CLIENT_ID=… PARTNER_CENTER_CLIENT_SECRET=… \
//! WEBHOOK_URL=https://hooks.contoso.example/partner-center \
//!     cargo run --example register_webhook [-- --overwrite]
//! ```
//!
//! Without `--overwrite`, a registration held by another URL (Microsoft's co-sell connector,
//! a CSP platform) is left alone and reported. With it, that registration is replaced and the
//! other integration stops receiving events.

use std::process::ExitCode;
use std::sync::Arc;

use cosell::auth::{CachedTokenProvider, ClientCredentials, EntraAuthority};
use cosell::partner_center::webhooks::{
    Overwrite, RegisterError, WebhookRegistration, WebhooksClient,
};
use cosell::webhook::EventName;

const REQUIRED: [(&str, &str); 4] = [
    (
        "PARTNER_CENTER_TENANT_ID",
        "the partner tenant (GUID or domain)",
    ),
    ("PARTNER_CENTER_CLIENT_ID", "the Entra app's client id"),
    (
        "PARTNER_CENTER_CLIENT_SECRET",
        "the Entra app's client secret",
    ),
    (
        "WEBHOOK_URL",
        "the https URL that should receive the events",
    ),
];

#[tokio::main]
async fn main() -> ExitCode {
    let overwrite = match std::env::args().skip(1).collect::<Vec<_>>().as_slice() {
        [] => Overwrite::Refuse,
        [flag] if flag == "--overwrite" => Overwrite::Replace,
        _ => {
            eprintln!("usage: register_webhook [--overwrite]");
            return ExitCode::from(2);
        }
    };
    let missing: Vec<_> = REQUIRED
        .iter()
        .filter(|(name, _)| std::env::var(name).map_or(true, |v| v.trim().is_empty()))
        .collect();
    if !missing.is_empty() {
        eprintln!("register_webhook needs these environment variables:");
        for (name, what) in missing {
            eprintln!("  {name}: {what}");
        }
        return ExitCode::from(2);
    }
    let env = |name: &str| std::env::var(name).unwrap_or_default();

    match run(
        &env("PARTNER_CENTER_TENANT_ID"),
        &env("PARTNER_CENTER_CLIENT_ID"),
        env("PARTNER_CENTER_CLIENT_SECRET"),
        &env("WEBHOOK_URL"),
        overwrite,
    )
    .await
    {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("{message}");
            ExitCode::FAILURE
        }
    }
}

async fn run(
    tenant: &str,
    client_id: &str,
    secret: String,
    webhook_url: &str,
    overwrite: Overwrite,
) -> Result<(), String> {
    let credentials = ClientCredentials::new(
        EntraAuthority::public_cloud(tenant),
        client_id,
        secret.into(),
        WebhooksClient::TOKEN_SCOPE,
    )
    .map_err(|e| format!("cannot set up the credentials: {e}"))?;
    let client = WebhooksClient::new(Arc::new(CachedTokenProvider::new(credentials)))
        .map_err(|e| format!("cannot build the client: {e}"))?;

    match client
        .register(webhook_url, &EventName::REFERRAL_EVENTS, overwrite)
        .await
    {
        Ok(outcome) => {
            println!("before: {}", describe(outcome.before.as_ref()));
            println!("action: {:?}", outcome.action);
            println!("after:  {}", describe(Some(&outcome.after)));
            Ok(())
        }
        Err(RegisterError::HeldByAnotherUrl {
            current_url,
            current_events,
        }) => {
            let events: Vec<&str> = current_events.iter().map(EventName::as_str).collect();
            Err(format!(
                "not registered: the tenant's registration belongs to {} (events: {}).\n\
                 Registering would stop that integration from receiving events; run again with \
                 --overwrite to replace it anyway.",
                current_url.as_deref().unwrap_or("an unnamed URL"),
                events.join(", ")
            ))
        }
        Err(e) => Err(format!("registration failed: {e}")),
    }
}

fn describe(registration: Option<&WebhookRegistration>) -> String {
    match registration {
        None => "no registration".to_owned(),
        Some(r) => {
            let events: Vec<&str> = r.webhook_events.iter().map(EventName::as_str).collect();
            format!(
                "{} <- [{}]",
                r.webhook_url.as_deref().unwrap_or("(no URL)"),
                events.join(", ")
            )
        }
    }
}
