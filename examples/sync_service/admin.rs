//! Dead letters, for an operator: the `dead-letters` subcommand and the admin routes, both on
//! the library's dead-letter API (`Synchronizer::dead_letters`, `retry_dead_letter`,
//! `retry_dead_letters`, `export_dead_letters`, `discard_dead_letter`).
//!
//! The routes are served only when `COSELL_ADMIN_TOKEN` is set, and answer only requests
//! carrying it as a bearer token:
//!
//! | route | does |
//! |---|---|
//! | `GET /admin/{tenant}/dead-letters?limit=N` | the oldest N letters (100), as JSON |
//! | `GET /admin/{tenant}/dead-letters/export` | every letter (up to 100,000), as JSON Lines |
//! | `POST /admin/{tenant}/dead-letters/{id}/retry` | retries one letter |
//! | `POST /admin/{tenant}/dead-letters/retry?limit=N` | retries the oldest N (all: 100,000) |
//! | `DELETE /admin/{tenant}/dead-letters/{id}` | discards one letter |

use std::io::Write;

use axum::Router;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, get, post};
use cosell::store::{DeadLetter, DeadLetterId};
use cosell::sync::{DeadLetterRetries, SyncOutcome, Synchronizer};
use serde::{Deserialize, Serialize};

use crate::server::{AppState, is_admin};

/// The most letters one call lists, exports or retries.
pub const ALL: usize = 100_000;

/// The admin routes.
pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/admin/{tenant}/dead-letters", get(list_route))
        .route("/admin/{tenant}/dead-letters/export", get(export_route))
        .route("/admin/{tenant}/dead-letters/retry", post(retry_all_route))
        .route("/admin/{tenant}/dead-letters/{id}/retry", post(retry_route))
        .route("/admin/{tenant}/dead-letters/{id}", delete(discard_route))
}

#[derive(Debug, Deserialize)]
struct Limit {
    limit: Option<usize>,
}

/// One retried letter, as the routes and the subcommand show it.
#[derive(Debug, Serialize)]
pub struct Retried {
    /// The letter.
    pub id: u64,
    /// Its pair's outcome now (`failed` again means a new letter).
    pub outcome: String,
    /// The outcome in words.
    pub detail: String,
}

/// What retrying several letters did.
#[derive(Debug, Serialize)]
pub struct RetryReport {
    /// The letters retried.
    pub retried: Vec<Retried>,
    /// The letters kept because they cannot be retried, with why.
    pub kept: Vec<(u64, String)>,
}

fn retried(id: DeadLetterId, outcome: &SyncOutcome) -> Retried {
    Retried {
        id: id.0,
        outcome: outcome.kind.name().to_owned(),
        detail: outcome.kind.to_string(),
    }
}

impl From<DeadLetterRetries> for RetryReport {
    fn from(retries: DeadLetterRetries) -> Self {
        RetryReport {
            retried: retries
                .retried
                .iter()
                .map(|(id, outcome)| retried(*id, outcome))
                .collect(),
            kept: retries
                .kept
                .iter()
                .map(|(id, why)| (id.0, why.to_string()))
                .collect(),
        }
    }
}

/// Why an admin route did not do what it was asked: refused (401, 404), or failed.
enum Refused {
    Status(StatusCode),
    Failed(cosell::Error),
}

impl From<StatusCode> for Refused {
    fn from(status: StatusCode) -> Self {
        Refused::Status(status)
    }
}

impl From<cosell::Error> for Refused {
    fn from(error: cosell::Error) -> Self {
        Refused::Failed(error)
    }
}

impl IntoResponse for Refused {
    fn into_response(self) -> Response {
        match self {
            Refused::Status(status) => status.into_response(),
            Refused::Failed(error) => {
                let status = if matches!(error, cosell::Error::Validation(_)) {
                    StatusCode::CONFLICT
                } else {
                    StatusCode::SERVICE_UNAVAILABLE
                };
                (status, error.to_string()).into_response()
            }
        }
    }
}

/// What an admin route answers.
type Answer = Result<Response, Refused>;

/// The tenant's synchronizer, once the caller is known to be the operator.
fn authorised<'a>(
    state: &'a AppState,
    headers: &HeaderMap,
    tenant: &str,
) -> Result<&'a Synchronizer, StatusCode> {
    if !is_admin(state, headers) {
        return Err(StatusCode::UNAUTHORIZED);
    }
    state
        .tenant(tenant)
        .map(|tenant| &tenant.sync)
        .ok_or(StatusCode::NOT_FOUND)
}

/// A letter's answer, or 404 when there is no such letter.
fn found<T: Serialize>(letter: Option<T>) -> Response {
    match letter {
        Some(body) => axum::Json(body).into_response(),
        None => StatusCode::NOT_FOUND.into_response(),
    }
}

async fn list_route(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(tenant): Path<String>,
    Query(limit): Query<Limit>,
) -> Answer {
    let sync = authorised(&state, &headers, &tenant)?;
    let limit = limit.limit.unwrap_or(100).min(ALL);
    let letters = sync.dead_letters(limit).await?;
    Ok(axum::Json(letters).into_response())
}

async fn export_route(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(tenant): Path<String>,
) -> Answer {
    let sync = authorised(&state, &headers, &tenant)?;
    let mut lines = Vec::new();
    sync.export_dead_letters(ALL, &mut lines).await?;
    Ok(([(header::CONTENT_TYPE, "application/x-ndjson")], lines).into_response())
}

async fn retry_route(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path((tenant, id)): Path<(String, u64)>,
) -> Answer {
    let sync = authorised(&state, &headers, &tenant)?;
    let id = DeadLetterId(id);
    let outcome = sync.retry_dead_letter(id).await?;
    Ok(found(outcome.map(|outcome| retried(id, &outcome))))
}

async fn retry_all_route(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(tenant): Path<String>,
    Query(limit): Query<Limit>,
) -> Answer {
    let sync = authorised(&state, &headers, &tenant)?;
    let limit = limit.limit.unwrap_or(ALL).min(ALL);
    let retries = sync.retry_dead_letters(limit).await?;
    Ok(axum::Json(RetryReport::from(retries)).into_response())
}

async fn discard_route(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path((tenant, id)): Path<(String, u64)>,
) -> Answer {
    let sync = authorised(&state, &headers, &tenant)?;
    let letter = sync.discard_dead_letter(DeadLetterId(id)).await?;
    Ok(found(letter))
}

/// What the `dead-letters` subcommand does.
#[derive(Debug, Clone, clap::Subcommand)]
pub enum DeadLetterCommand {
    /// Lists the oldest letters.
    List {
        /// How many.
        #[arg(long, default_value_t = 100)]
        limit: usize,
    },
    /// Retries one letter, or all of them.
    Retry {
        /// The letter's id.
        #[arg(required_unless_present = "all", conflicts_with = "all")]
        id: Option<u64>,
        /// Every letter (up to 100,000).
        #[arg(long)]
        all: bool,
    },
    /// Writes every letter (up to 100,000) as JSON Lines, to a file or standard output.
    Export {
        /// The file (standard output when absent).
        #[arg(long)]
        out: Option<std::path::PathBuf>,
    },
    /// Takes one letter off the list without retrying it.
    Discard {
        /// The letter's id.
        id: u64,
    },
}

/// Why a `dead-letters` command failed.
#[derive(Debug, thiserror::Error)]
pub enum AdminError {
    /// The library's error.
    #[error(transparent)]
    Sdk(#[from] cosell::Error),
    /// No such letter.
    #[error("there is no dead letter {0}")]
    NoSuchLetter(u64),
    /// The output could not be written.
    #[error("cannot write the output: {0}")]
    Io(#[from] std::io::Error),
}

fn line(letter: &DeadLetter) -> String {
    let records: Vec<String> = letter.records.iter().map(|r| format!("{r:?}")).collect();
    format!(
        "#{:<6} {:<8} {} attempts={} [{}] {}",
        letter.id.0,
        letter.kind,
        letter.at,
        letter.attempts,
        records.join(", "),
        letter.error
    )
}

/// Runs a `dead-letters` command on `sync`, writing what it did to `out`.
///
/// # Errors
/// [`AdminError`].
pub async fn run(
    sync: &Synchronizer,
    command: &DeadLetterCommand,
    out: &mut (impl Write + Send),
) -> Result<(), AdminError> {
    match command {
        DeadLetterCommand::List { limit } => {
            let letters = sync.dead_letters(*limit).await?;
            writeln!(out, "{} dead letter(s)", letters.len())?;
            for letter in &letters {
                writeln!(out, "{}", line(letter))?;
            }
        }
        DeadLetterCommand::Retry { id: Some(id), .. } => {
            let outcome = sync
                .retry_dead_letter(DeadLetterId(*id))
                .await?
                .ok_or(AdminError::NoSuchLetter(*id))?;
            writeln!(out, "#{id}: {}", outcome.kind)?;
        }
        DeadLetterCommand::Retry { id: None, .. } => {
            let report = RetryReport::from(sync.retry_dead_letters(ALL).await?);
            for retried in &report.retried {
                writeln!(out, "#{}: {}", retried.id, retried.detail)?;
            }
            for (id, why) in &report.kept {
                writeln!(out, "#{id} kept: {why}")?;
            }
            writeln!(
                out,
                "{} retried, {} kept",
                report.retried.len(),
                report.kept.len()
            )?;
        }
        DeadLetterCommand::Export { out: Some(path) } => {
            let file = std::fs::File::create(path)?;
            let written = sync
                .export_dead_letters(ALL, std::io::BufWriter::new(file))
                .await?;
            writeln!(
                out,
                "{written} dead letter(s) written to {}",
                path.display()
            )?;
        }
        DeadLetterCommand::Export { out: None } => {
            sync.export_dead_letters(ALL, &mut *out).await?;
        }
        DeadLetterCommand::Discard { id } => {
            let letter = sync
                .discard_dead_letter(DeadLetterId(*id))
                .await?
                .ok_or(AdminError::NoSuchLetter(*id))?;
            writeln!(out, "discarded {}", line(&letter))?;
        }
    }
    Ok(())
}
