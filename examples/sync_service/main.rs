//! A production-shaped co-sell sync service: many Partner Center tenants, each synced with its
//! Dynamics 365 or Salesforce org, in one process (or in several sharing a PostgreSQL store).
//!
//! ```text
//! sync_service [--config sync_service.toml] [serve] [--overwrite] [--full-sweep [--dry-run]]
//! sync_service login --tenant contoso            # device-code sign-in; refresh token to the store
//! sync_service dead-letters --tenant contoso list|retry <ID>|retry --all|export [--out F]|discard <ID>
//! sync_service check-config                      # read and check the configuration, then exit
//! ```
//!
//! - `POST /webhooks/{tenant}` verifies each Partner Center callback's signature before reading
//!   it, keeps the event in the store's inbox and answers; workers sync it.
//! - The CRM poll and delta / full sweeps run on their intervals; the webhook registration is
//!   made at start under a store lease and checked again on a schedule.
//! - `GET /healthz`, `GET /status` (JSON per tenant), `GET /metrics` (Prometheus), and the
//!   dead-letter admin routes when `COSELL_ADMIN_TOKEN` is set.
//! - SIGTERM or Ctrl-C stops it gracefully.
//!
//! `README.md` beside this file explains the configuration and how to run it against the
//! emulator.

mod admin;
mod config;
mod first_run;
mod jobs;
mod login;
mod metrics;
mod registration;
mod server;
mod service;
mod status;
mod store;
mod tenants;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

use crate::admin::DeadLetterCommand;
use crate::config::{COSELL_SERVICE_CONFIG, Config, Environment};
use crate::service::Options;

/// The command line.
#[derive(Debug, Parser)]
#[command(
    name = "sync_service",
    about = "Keeps co-sell referrals and CRM opportunities in step"
)]
struct Cli {
    /// The configuration file.
    #[arg(long, global = true, env = COSELL_SERVICE_CONFIG, default_value = "sync_service.toml")]
    config: PathBuf,
    /// Log at debug level.
    #[arg(long, short, global = true)]
    verbose: bool,
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Serves every tenant until SIGTERM or Ctrl-C (the default).
    Serve(ServeArgs),
    /// Signs a tenant's Partner Center user in with a device code and stores the refresh token.
    Login {
        /// The tenant (its `name` in the configuration).
        #[arg(long)]
        tenant: String,
    },
    /// Lists, retries, exports or discards a tenant's dead letters.
    DeadLetters {
        /// The tenant.
        #[arg(long)]
        tenant: String,
        #[command(subcommand)]
        command: DeadLetterCommand,
    },
    /// Reads and checks the configuration, then exits.
    CheckConfig,
}

#[derive(Debug, Default, clap::Args)]
struct ServeArgs {
    /// Take the webhook registration over from another URL (Microsoft's connector).
    #[arg(long)]
    overwrite: bool,
    /// First run: sweep every tenant fully — link what exists on both sides and sync it —
    /// with a progress bar and a summary, before the jobs start.
    #[arg(long)]
    full_sweep: bool,
    /// With `--full-sweep`: print what the sweep would create, update, link and unlink, write
    /// nothing, and exit.
    #[arg(long, requires = "full_sweep")]
    dry_run: bool,
}

#[tokio::main]
async fn main() -> ExitCode {
    let cli = Cli::parse();
    tracing_subscriber::fmt()
        .with_max_level(if cli.verbose {
            tracing::Level::DEBUG
        } else {
            tracing::Level::INFO
        })
        .with_writer(std::io::stderr)
        .init();
    let config = match Config::load(&cli.config, &Environment::process()) {
        Ok(config) => config,
        Err(error) => {
            eprintln!("configuration: {error}");
            return ExitCode::from(2);
        }
    };
    let result = match cli.command.unwrap_or(Command::Serve(ServeArgs::default())) {
        Command::Serve(args) => serve(&config, args).await,
        Command::Login { tenant } => login(&config, &tenant).await,
        Command::DeadLetters { tenant, command } => dead_letters(&config, &tenant, &command).await,
        Command::CheckConfig => {
            println!(
                "configuration OK: {} tenant(s): {}",
                config.tenants.len(),
                config
                    .tenants
                    .iter()
                    .map(|t| format!("{} ({:?})", t.name, t.crm.kind()))
                    .collect::<Vec<_>>()
                    .join(", ")
            );
            Ok(())
        }
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("{error}");
            ExitCode::FAILURE
        }
    }
}

type Failure = Box<dyn std::error::Error + Send + Sync>;

/// Resolves on SIGTERM or Ctrl-C.
async fn shutdown_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        match signal(SignalKind::terminate()) {
            Ok(mut term) => {
                tokio::select! {
                    _ = term.recv() => {}
                    _ = tokio::signal::ctrl_c() => {}
                }
            }
            Err(_) => {
                let _ = tokio::signal::ctrl_c().await;
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}

async fn serve(config: &Config, args: ServeArgs) -> Result<(), Failure> {
    if args.dry_run {
        let runs = service::dry_run(config).await?;
        print!("{}", first_run::render_dry_run(&runs));
        return Ok(());
    }
    let options = Options {
        overwrite: args.overwrite,
        full_sweep: args.full_sweep,
    };
    let running = service::start(config, options, None).await?;
    if options.full_sweep {
        print!("{}", first_run::table(&running.first_sweep));
    }
    println!(
        "listening on http://{} — webhooks at /webhooks/{{tenant}}, /healthz, /status, /metrics",
        running.address
    );
    for tenant in running.state.tenants.values() {
        let registration = tenants::lock(&tenant.state).registration.clone();
        println!("  {}: registration {registration:?}", tenant.name);
    }
    shutdown_signal().await;
    println!("stopping…");
    running.stop().await;
    Ok(())
}

fn tenant_config<'a>(config: &'a Config, name: &str) -> Result<&'a config::TenantConfig, Failure> {
    config
        .tenants
        .iter()
        .find(|tenant| tenant.name == name)
        .ok_or_else(|| format!("no tenant named `{name}` in the configuration").into())
}

async fn login(config: &Config, name: &str) -> Result<(), Failure> {
    let tenant = tenant_config(config, name)?;
    let store = store::open(&config.store).await?;
    login::login(tenant, store.as_ref(), |prompt| match &prompt.message {
        Some(message) => println!("{message}"),
        None => println!(
            "To sign in, open {} and enter the code {}",
            prompt.verification_uri, prompt.user_code
        ),
    })
    .await?;
    println!("signed in: the refresh token of `{name}` is in the store");
    Ok(())
}

async fn dead_letters(
    config: &Config,
    name: &str,
    command: &DeadLetterCommand,
) -> Result<(), Failure> {
    let tenant = tenant_config(config, name)?;
    let store = store::open(&config.store).await?;
    let metrics = std::sync::Arc::new(metrics::Metrics::new());
    let tenant = tenants::Tenant::start(tenant, store, &metrics, &config.worker).await?;
    let mut out = std::io::stdout();
    admin::run(&tenant.sync, command, &mut out).await?;
    Ok(())
}
