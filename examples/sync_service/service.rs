//! Starting and stopping the whole service: the store, every tenant, the HTTP server, the
//! webhook registrations, the optional first full sweep, and the background jobs.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::Arc;

use cosell::webhook::{TrustPolicy, WebhookVerifier};
use jiff::Timestamp;
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::task::JoinSet;

use crate::config::{Config, WebhookTrust};
use crate::first_run::{self, DryRun, SweepSummary};
use crate::metrics::Metrics;
use crate::registration;
use crate::server::{self, AppState};
use crate::store::{self, StoreOpenError};
use crate::tenants::{Tenant, TenantError};

/// What the operator asked for on the command line.
#[derive(Debug, Clone, Copy, Default)]
pub struct Options {
    /// Replace a webhook registration held by another URL.
    pub overwrite: bool,
    /// Run a full sweep of every tenant before the jobs start (the first run).
    pub full_sweep: bool,
}

/// Why the service could not start.
#[derive(Debug, thiserror::Error)]
pub enum ServiceError {
    /// The store.
    #[error(transparent)]
    Store(#[from] StoreOpenError),
    /// A tenant.
    #[error(transparent)]
    Tenant(#[from] TenantError),
    /// The webhook trust settings.
    #[error("webhooks: {0}")]
    Webhooks(String),
    /// The listening socket.
    #[error("cannot listen on {bind}: {source}")]
    Listen {
        /// The address.
        bind: String,
        /// Why.
        source: std::io::Error,
    },
}

/// A service that runs until [`stop`](RunningService::stop).
#[derive(Debug)]
pub struct RunningService {
    /// The address the server listens on.
    pub address: SocketAddr,
    /// What the routes share (tenants, metrics).
    pub state: AppState,
    /// The first full sweep's summary, when `--full-sweep` was given.
    pub first_sweep: Vec<SweepSummary>,
    shutdown: watch::Sender<bool>,
    tasks: JoinSet<()>,
}

fn verifier(trust: &WebhookTrust) -> Result<WebhookVerifier, ServiceError> {
    let error = |e: &dyn std::fmt::Display| ServiceError::Webhooks(e.to_string());
    let mut policy = TrustPolicy::partner_center();
    if let Some(url) = &trust.loopback_certificate_url {
        policy = policy.allow_loopback_location(url).map_err(|e| error(&e))?;
    }
    for (host, prefix) in &trust.certificate_locations {
        policy = policy.allow_location(host, prefix).map_err(|e| error(&e))?;
    }
    WebhookVerifier::new(policy).map_err(|e| error(&e))
}

/// Starts the service: opens the store, starts every tenant (checking its CRM), listens
/// (on `listener` when given, else on `config.bind`), registers each tenant's webhook under
/// the store lease, runs the first full sweep when asked, then starts the jobs.
///
/// # Errors
/// [`ServiceError`] naming what could not start; nothing keeps running then.
pub async fn start(
    config: &Config,
    options: Options,
    listener: Option<TcpListener>,
) -> Result<RunningService, ServiceError> {
    let store = store::open(&config.store).await?;
    let metrics = Arc::new(Metrics::new());
    let verifier = verifier(&config.webhooks)?;
    let mut tenants = BTreeMap::new();
    let mut order = Vec::new();
    for tenant in &config.tenants {
        let started = Tenant::start(tenant, store.clone(), &metrics, &config.worker).await?;
        tracing::info!(tenant = %tenant.name, "tenant started");
        order.push(tenant.name.clone());
        tenants.insert(tenant.name.clone(), Arc::new(started));
    }
    let listener = match listener {
        Some(listener) => listener,
        None => TcpListener::bind(&config.bind)
            .await
            .map_err(|source| ServiceError::Listen {
                bind: config.bind.clone(),
                source,
            })?,
    };
    let address = listener
        .local_addr()
        .map_err(|source| ServiceError::Listen {
            bind: config.bind.clone(),
            source,
        })?;
    let state = AppState {
        tenants: Arc::new(tenants),
        order: Arc::new(order),
        metrics: metrics.clone(),
        verifier,
        admin_token: config.admin_token.clone().map(Arc::new),
        worker: config.worker.clone(),
        started_at: Timestamp::now(),
    };
    let (shutdown, stopped) = watch::channel(false);
    let mut tasks = JoinSet::new();
    // The receiver first: a registration may be followed by deliveries at once.
    let app = server::router(state.clone());
    let mut server_stop = stopped.clone();
    tasks.spawn(async move {
        let graceful = async move {
            let _ = server_stop.wait_for(|stop| *stop).await;
        };
        if let Err(error) = axum::serve(listener, app)
            .with_graceful_shutdown(graceful)
            .await
        {
            tracing::error!(%error, "the HTTP server failed");
        }
    });
    for tenant in state.tenants.values() {
        registration::register(tenant, &config.worker, options.overwrite).await;
    }
    let mut first_sweep = Vec::new();
    if options.full_sweep {
        for name in state.order.iter() {
            if let Some(tenant) = state.tenant(name) {
                first_sweep.push(first_run::full_sweep(tenant, &metrics).await);
            }
        }
    }
    for tenant in state.tenants.values() {
        tasks.spawn(crate::jobs::run(
            tenant.clone(),
            config.schedule.clone(),
            metrics.clone(),
            stopped.clone(),
            config.shutdown_grace,
        ));
    }
    Ok(RunningService {
        address,
        state,
        first_sweep,
        shutdown,
        tasks,
    })
}

/// `--full-sweep --dry-run`: opens the store, starts every tenant (checking its CRM), and plans
/// each tenant's full sweep — without listening, registering a webhook, running a job or
/// writing to Partner Center, a CRM or the store (only a refresh token Entra ID rotates while
/// signing in is stored: the old one may no longer work).
///
/// # Errors
/// [`ServiceError`] naming what could not start.
pub async fn dry_run(config: &Config) -> Result<Vec<DryRun>, ServiceError> {
    let store = store::open(&config.store).await?;
    let metrics = Arc::new(Metrics::new());
    let mut runs = Vec::new();
    for tenant in &config.tenants {
        let started = Tenant::start(tenant, store.clone(), &metrics, &config.worker).await?;
        runs.push(first_run::dry_run(&started).await);
    }
    Ok(runs)
}

impl RunningService {
    /// Stops gracefully: the server stops taking requests and finishes those in flight; each
    /// job finishes what it is doing (a sweep within the shutdown grace) and starts nothing new.
    pub async fn stop(mut self) {
        let _ = self.shutdown.send(true);
        while let Some(joined) = self.tasks.join_next().await {
            if let Err(error) = joined {
                tracing::error!(%error, "a task of the service panicked or was cancelled");
            }
        }
    }
}
