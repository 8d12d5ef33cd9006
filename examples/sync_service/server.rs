//! The HTTP side: `POST /webhooks/{tenant}` (verify, enqueue, answer), `GET /healthz`,
//! `GET /status`, `GET /metrics`, and the admin routes of the dead letters.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::extract::{DefaultBodyLimit, Path, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use cosell::webhook::{WebhookError, WebhookVerifier, read_body};
use jiff::Timestamp;
use secrecy::{ExposeSecret, SecretString};

use crate::admin;
use crate::metrics::{Metrics, TenantLabels};
use crate::status::{self, DEAD_LETTER_COUNT_LIMIT, Status};
use crate::tenants::Tenant;

/// How long a callback may take to send its body.
const BODY_DEADLINE: Duration = Duration::from_secs(10);

/// What every route shares.
#[derive(Debug, Clone)]
pub struct AppState {
    /// The tenants, by name.
    pub tenants: Arc<BTreeMap<String, Arc<Tenant>>>,
    /// The tenants in configuration order (for `/status`).
    pub order: Arc<Vec<String>>,
    /// The figures.
    pub metrics: Arc<Metrics>,
    /// Verifies callbacks.
    pub verifier: WebhookVerifier,
    /// The admin routes' bearer token.
    pub admin_token: Option<Arc<SecretString>>,
    /// This process's worker name.
    pub worker: String,
    /// When it started.
    pub started_at: Timestamp,
}

impl AppState {
    /// The tenant named `name`.
    pub fn tenant(&self, name: &str) -> Option<&Arc<Tenant>> {
        self.tenants.get(name)
    }
}

/// The router: webhooks, health, status, metrics, and the admin routes when a token is set.
pub fn router(state: AppState) -> Router {
    let limit = state.verifier.policy().body_limit();
    let mut router = Router::new()
        .route("/webhooks/{tenant}", post(webhook))
        .route("/healthz", get(|| async { "ok" }))
        .route("/status", get(status_page))
        .route("/metrics", get(metrics_page));
    if state.admin_token.is_some() {
        router = router.merge(admin::routes());
    }
    router.layer(DefaultBodyLimit::max(limit)).with_state(state)
}

/// Receives one callback: the signature is verified on the raw bytes before anything is
/// parsed; the event is stored in the inbox and answered at once; a worker syncs it later.
///
/// Answers: 200 (stored, or already waiting; or signed but not an event, then kept whole as an
/// `inbox` dead letter — a redelivery would only fail the same way, and Partner Center stops
/// retrying on 200), 401 (not verified), 404 (no such tenant), 413 (too large or too slow),
/// 503 (the certificate or the store was unavailable: Partner Center delivers again).
async fn webhook(
    State(state): State<AppState>,
    Path(name): Path<String>,
    headers: HeaderMap,
    body: Body,
) -> StatusCode {
    let Some(tenant) = state.tenant(&name) else {
        return StatusCode::NOT_FOUND;
    };
    let limit = state.verifier.policy().body_limit();
    let body = match read_body(body.into_data_stream(), limit, BODY_DEADLINE).await {
        Ok(body) => body,
        Err(error) => {
            tracing::info!(tenant = %name, %error, "callback body refused");
            state.metrics.received(&name, "refused");
            return StatusCode::PAYLOAD_TOO_LARGE;
        }
    };
    let event = match state.verifier.verify_event(&headers, &body).await {
        Ok(event) => event,
        Err(error) if error.is_transient() => {
            tracing::warn!(tenant = %name, %error, "callback not verified yet");
            state.metrics.received(&name, "unavailable");
            return StatusCode::SERVICE_UNAVAILABLE;
        }
        Err(error @ WebhookError::InvalidPayload(_)) => {
            // Signed by Partner Center, so kept: a redelivery would carry the same bytes and
            // fail the same way, so it is answered as received once it is a dead letter.
            return match tenant
                .sync
                .keep_unreadable_callback(&body, &error.to_string())
                .await
            {
                Ok(letter) => {
                    tracing::warn!(tenant = %name, %error, letter = letter.0, "signed callback not understood: kept as a dead letter");
                    state.metrics.received(&name, "dead_lettered");
                    StatusCode::OK
                }
                Err(store_error) => {
                    tracing::error!(tenant = %name, %error, %store_error, "a signed callback could not be kept");
                    state.metrics.received(&name, "unavailable");
                    StatusCode::SERVICE_UNAVAILABLE
                }
            };
        }
        Err(error) => {
            tracing::info!(tenant = %name, %error, "callback refused");
            state.metrics.received(&name, "refused");
            return StatusCode::UNAUTHORIZED;
        }
    };
    match tenant.sync.enqueue(&event).await {
        Ok(Some(_)) => {
            state.metrics.received(&name, "enqueued");
            tenant.wake.notify_one();
            StatusCode::OK
        }
        Ok(None) => {
            state.metrics.received(&name, "duplicate");
            StatusCode::OK
        }
        Err(error) => {
            tracing::error!(tenant = %name, %error, "a verified event could not be stored");
            state.metrics.received(&name, "unavailable");
            StatusCode::SERVICE_UNAVAILABLE
        }
    }
}

/// The status of every tenant.
pub async fn status(state: &AppState) -> Status {
    let mut tenants = Vec::new();
    for name in state.order.iter() {
        if let Some(tenant) = state.tenant(name) {
            tenants.push(status::tenant_status(tenant).await);
        }
    }
    Status {
        worker: state.worker.clone(),
        started_at: state.started_at,
        tenants,
    }
}

async fn status_page(State(state): State<AppState>) -> axum::Json<Status> {
    // Always 200 once served: `flagged` says which tenant needs an operator.
    axum::Json(status(&state).await)
}

async fn metrics_page(State(state): State<AppState>) -> Response {
    for (name, tenant) in state.tenants.iter() {
        let labels = TenantLabels {
            tenant: name.clone(),
        };
        let store = tenant.sync.store();
        if let Ok(depth) = store.inbox_depth(&tenant.id).await {
            state
                .metrics
                .inbox_depth
                .get_or_create(&labels)
                .set(i64::try_from(depth).unwrap_or(i64::MAX));
        }
        if let Ok(letters) = store
            .dead_letters(&tenant.id, DEAD_LETTER_COUNT_LIMIT)
            .await
        {
            state
                .metrics
                .dead_letters
                .get_or_create(&labels)
                .set(i64::try_from(letters.len()).unwrap_or(i64::MAX));
        }
    }
    match state.metrics.encode() {
        Ok(text) => (
            [(
                header::CONTENT_TYPE,
                "application/openmetrics-text; version=1.0.0; charset=utf-8",
            )],
            text,
        )
            .into_response(),
        Err(_) => StatusCode::INTERNAL_SERVER_ERROR.into_response(),
    }
}

/// Whether the request carries the admin bearer token.
pub fn is_admin(state: &AppState, headers: &HeaderMap) -> bool {
    let Some(expected) = &state.admin_token else {
        return false;
    };
    let Some(given) = headers
        .get(header::AUTHORIZATION)
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.strip_prefix("Bearer "))
    else {
        return false;
    };
    // Compared in full whatever differs first, so the time taken says nothing of the token.
    let expected = expected.expose_secret().as_bytes();
    let given = given.as_bytes();
    expected.len() == given.len()
        && expected
            .iter()
            .zip(given)
            .fold(0u8, |acc, (a, b)| acc | (a ^ b))
            == 0
}
