//! Registers a URL for the four Partner Center referral events, without silently taking them
//! from another integration.
//!
//! ```text
//! AZURE_TENANT_ID=contoso.onmicrosoft.com \
//! AZURE_CLIENT_ID=… AZURE_CLIENT_SECRET=… \
//! COSELL_WEBHOOK_URL=https://hooks.contoso.example/partner-center \
//!     cargo run --example register_webhook [-- --overwrite]
//! ```
//!
//! Credentials come from the environment (the table is in `docs/environment.md`).
//!
//! Without `--overwrite`, a registration held by another URL (Microsoft's co-sell connector,
//! a CSP platform) is left alone and reported. With it, that registration is replaced and the
//! other integration stops receiving events.

use cosell::auth::Env;
use cosell::partner_center::webhooks::{
    Overwrite, RegisterError, WebhookRegistration, WebhooksClient,
};
use cosell::webhook::EventName;

#[tokio::main]
async fn main() -> cosell::Result<()> {
    let overwrite = match std::env::args().skip(1).collect::<Vec<_>>().as_slice() {
        [] => Overwrite::Refuse,
        [flag] if flag == "--overwrite" => Overwrite::Replace,
        _ => {
            return Err(cosell::Error::config(
                "usage: register_webhook [--overwrite]",
            ));
        }
    };
    let env = Env::process();
    let webhook_url = env.required_url("COSELL_WEBHOOK_URL")?;
    let client = WebhooksClient::builder_from_env(&env)?.build()?;

    match client
        .register(&webhook_url, &EventName::REFERRAL_EVENTS, overwrite)
        .await
    {
        Ok(outcome) => {
            println!("before: {}", describe(outcome.before.as_ref()));
            println!("action: {:?}", outcome.action);
            println!("after:  {}", describe(Some(&outcome.after)));
            Ok(())
        }
        Err(held @ RegisterError::HeldByAnotherUrl { .. }) => {
            eprintln!(
                "Registering would stop that integration from receiving events; run again with \
                 --overwrite to replace it anyway."
            );
            Err(held.into())
        }
        Err(e) => Err(e.into()),
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
