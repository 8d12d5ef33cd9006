//! `/metrics`: the service's figures in the Prometheus text format (prometheus-client).
//!
//! Request-level figures — requests, writes, retries, throttling waits and latency per service —
//! come from the request pipeline's [`RequestObserver`] hook, one observer per tenant given to
//! each of its clients. Sync-level figures (events, outcomes, sweeps) are counted by the
//! receiver and the jobs; inbox depth and dead letters are read from the store at each scrape.

use std::sync::Arc;
use std::sync::atomic::AtomicU64;
use std::time::Duration;

use cosell::error::Service;
use cosell::http::{AttemptInfo, RequestObserver};
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;

/// Labels of a tenant-wide figure.
#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct TenantLabels {
    /// The tenant's name.
    pub tenant: String,
}

/// Labels of a webhook delivery: how the receiver answered it.
#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ReceivedLabels {
    /// The tenant's name.
    pub tenant: String,
    /// `enqueued`, `duplicate`, `dead_lettered` (signed, not an event), `refused`, `unavailable`.
    pub result: String,
}

/// Labels of a pair's outcome.
#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct OutcomeLabels {
    /// The tenant's name.
    pub tenant: String,
    /// `inbox`, `poll`, `sweep`, `dead-letter`.
    pub job: String,
    /// The outcome's name (`created`, `updated`, `failed`, …).
    pub outcome: String,
}

/// Labels of a request-level figure.
#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ServiceLabels {
    /// The tenant's name.
    pub tenant: String,
    /// `partner_center_referrals`, `partner_center_webhooks`, `dataverse`, `salesforce`.
    pub service: String,
}

/// Labels of a request attempt.
#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct AttemptLabels {
    /// The tenant's name.
    pub tenant: String,
    /// The service.
    pub service: String,
    /// The method.
    pub method: String,
    /// The status class (`2xx`, `4xx`, …) or `none` when no answer came.
    pub status: String,
}

/// Labels of a sweep.
#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct SweepLabels {
    /// The tenant's name.
    pub tenant: String,
    /// `delta` or `full`.
    pub mode: String,
    /// `done`, `paused`, `skipped`, `failed`.
    pub result: String,
}

type HistogramFamily<L> = Family<L, Histogram, fn() -> Histogram>;

fn latency_histogram() -> Histogram {
    Histogram::new(exponential_buckets(0.005, 2.0, 14))
}

fn sweep_histogram() -> Histogram {
    Histogram::new(exponential_buckets(0.05, 2.0, 16))
}

/// Every figure the service exports, and the registry that encodes them.
#[derive(Debug)]
pub struct Metrics {
    registry: Registry,
    /// Webhook deliveries received, by how they were answered.
    pub events_received: Family<ReceivedLabels, Counter>,
    /// Inbox events worked.
    pub events_processed: Family<TenantLabels, Counter>,
    /// Inbox events whose sync failed or was rejected (each kept as a dead letter).
    pub events_failed: Family<TenantLabels, Counter>,
    /// Pair outcomes, by job and outcome.
    pub outcomes: Family<OutcomeLabels, Counter>,
    /// Request attempts.
    pub requests: Family<AttemptLabels, Counter>,
    /// Writes (attempts other than `GET` answered 2xx).
    pub writes: Family<ServiceLabels, Counter>,
    /// Attempts after the first of a call.
    pub retries: Family<ServiceLabels, Counter>,
    /// Waits before a retry because the service asked to slow down.
    pub throttle_waits: Family<ServiceLabels, Counter>,
    /// The time spent in those waits.
    pub throttle_wait_seconds: Family<ServiceLabels, Counter<f64, AtomicU64>>,
    /// Attempt latency.
    pub request_seconds: HistogramFamily<ServiceLabels>,
    /// Sweep durations.
    pub sweep_seconds: HistogramFamily<SweepLabels>,
    /// Events waiting or claimed in the inbox (read at each scrape).
    pub inbox_depth: Family<TenantLabels, Gauge>,
    /// Dead letters kept (read at each scrape, up to 10,000).
    pub dead_letters: Family<TenantLabels, Gauge>,
}

impl Metrics {
    /// The figures, registered under the `cosell` prefix.
    pub fn new() -> Self {
        let mut registry = Registry::with_prefix("cosell");
        let metrics = Metrics {
            events_received: Family::default(),
            events_processed: Family::default(),
            events_failed: Family::default(),
            outcomes: Family::default(),
            requests: Family::default(),
            writes: Family::default(),
            retries: Family::default(),
            throttle_waits: Family::default(),
            throttle_wait_seconds: Family::default(),
            request_seconds: Family::new_with_constructor(latency_histogram),
            sweep_seconds: Family::new_with_constructor(sweep_histogram),
            inbox_depth: Family::default(),
            dead_letters: Family::default(),
            registry: Registry::default(),
        };
        registry.register(
            "webhook_events_received",
            "Webhook deliveries received, by how they were answered",
            metrics.events_received.clone(),
        );
        registry.register(
            "events_processed",
            "Inbox events worked",
            metrics.events_processed.clone(),
        );
        registry.register(
            "events_failed",
            "Inbox events whose sync failed or was rejected",
            metrics.events_failed.clone(),
        );
        registry.register(
            "sync_outcomes",
            "Pair outcomes by job and outcome",
            metrics.outcomes.clone(),
        );
        registry.register(
            "requests",
            "Request attempts by service, method and status class",
            metrics.requests.clone(),
        );
        registry.register(
            "writes",
            "Writes (attempts other than GET answered 2xx) by service",
            metrics.writes.clone(),
        );
        registry.register(
            "retries",
            "Attempts after the first of a call, by service",
            metrics.retries.clone(),
        );
        registry.register(
            "throttle_waits",
            "Waits before a retry because the service throttled",
            metrics.throttle_waits.clone(),
        );
        registry.register(
            "throttle_wait_seconds",
            "Time spent waiting because the service throttled",
            metrics.throttle_wait_seconds.clone(),
        );
        registry.register(
            "request_duration_seconds",
            "Attempt latency by service",
            metrics.request_seconds.clone(),
        );
        registry.register(
            "sweep_duration_seconds",
            "Sweep durations by mode and result",
            metrics.sweep_seconds.clone(),
        );
        registry.register(
            "inbox_depth",
            "Events waiting or claimed in the inbox",
            metrics.inbox_depth.clone(),
        );
        registry.register(
            "dead_letters",
            "Dead letters kept (counted up to 10,000)",
            metrics.dead_letters.clone(),
        );
        Metrics {
            registry,
            ..metrics
        }
    }

    /// The figures in the Prometheus text format.
    pub fn encode(&self) -> Result<String, std::fmt::Error> {
        let mut text = String::new();
        prometheus_client::encoding::text::encode(&mut text, &self.registry)?;
        Ok(text)
    }

    /// Counts one pair outcome of `job`.
    pub fn outcome(&self, tenant: &str, job: &str, outcome: &cosell::sync::SyncOutcome) {
        self.outcomes
            .get_or_create(&OutcomeLabels {
                tenant: tenant.to_owned(),
                job: job.to_owned(),
                outcome: outcome.kind.name().to_owned(),
            })
            .inc();
    }

    /// Counts one webhook delivery.
    pub fn received(&self, tenant: &str, result: &str) {
        self.events_received
            .get_or_create(&ReceivedLabels {
                tenant: tenant.to_owned(),
                result: result.to_owned(),
            })
            .inc();
    }

    /// The observer to give tenant `tenant`'s clients.
    pub fn observer(self: &Arc<Self>, tenant: &str) -> Arc<dyn RequestObserver> {
        Arc::new(TenantObserver {
            tenant: tenant.to_owned(),
            metrics: self.clone(),
        })
    }
}

/// The service's name in labels.
pub fn service_name(service: Service) -> &'static str {
    match service {
        Service::PartnerCenterReferrals => "partner_center_referrals",
        Service::PartnerCenterWebhooks => "partner_center_webhooks",
        Service::Dataverse => "dataverse",
        Service::Salesforce => "salesforce",
        Service::TokenEndpoint => "token_endpoint",
        _ => "other",
    }
}

/// Counts one tenant's request attempts and waits into [`Metrics`].
#[derive(Debug)]
struct TenantObserver {
    tenant: String,
    metrics: Arc<Metrics>,
}

impl TenantObserver {
    fn labels(&self, service: Service) -> ServiceLabels {
        ServiceLabels {
            tenant: self.tenant.clone(),
            service: service_name(service).to_owned(),
        }
    }
}

impl RequestObserver for TenantObserver {
    fn attempt(&self, attempt: &AttemptInfo<'_>) {
        let labels = self.labels(attempt.service);
        let status = attempt.status.map_or_else(
            || "none".to_owned(),
            |status| format!("{}xx", status.as_u16() / 100),
        );
        self.metrics
            .requests
            .get_or_create(&AttemptLabels {
                tenant: labels.tenant.clone(),
                service: labels.service.clone(),
                method: attempt.method.as_str().to_owned(),
                status,
            })
            .inc();
        if attempt.method != http::Method::GET
            && attempt.status.is_some_and(|status| status.is_success())
        {
            self.metrics.writes.get_or_create(&labels).inc();
        }
        if attempt.attempt > 1 {
            self.metrics.retries.get_or_create(&labels).inc();
        }
        self.metrics
            .request_seconds
            .get_or_create(&labels)
            .observe(attempt.latency.as_secs_f64());
    }

    fn retry_wait(&self, service: Service, _operation: &str, wait: Duration, throttled: bool) {
        if throttled {
            let labels = self.labels(service);
            self.metrics.throttle_waits.get_or_create(&labels).inc();
            self.metrics
                .throttle_wait_seconds
                .get_or_create(&labels)
                .inc_by(wait.as_secs_f64());
        }
    }
}
