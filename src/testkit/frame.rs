//! Starting emulated services on loopback ports, and what every request goes through.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Arc;

use async_trait::async_trait;
use bytes::Bytes;
use http::{HeaderMap, HeaderName, HeaderValue, Method, StatusCode};
use serde::Serialize;
use serde::de::DeserializeOwned;
use tokio::net::TcpListener;
use tokio::task::JoinHandle;

use super::journal::{Journal, JournalEntry};
use super::tokens::{TokenEndpoints, TokenStore};
use crate::error::{Error, Result};

/// Which emulated service a request went to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[non_exhaustive]
pub enum EmulatedApi {
    /// Microsoft Entra ID token endpoints.
    Entra,
    /// The Salesforce token endpoint and REST API (one host).
    Salesforce,
}

impl EmulatedApi {
    /// A short name for listings.
    pub fn name(self) -> &'static str {
        match self {
            EmulatedApi::Entra => "entra",
            EmulatedApi::Salesforce => "salesforce",
        }
    }
}

/// A request as an emulated service sees it.
#[derive(Debug, Clone)]
pub struct ServiceRequest {
    /// The method.
    pub method: Method,
    /// The path, percent-encoded as received.
    pub path: String,
    /// The raw query string, if any.
    pub query: Option<String>,
    /// The headers.
    pub headers: HeaderMap,
    /// The body.
    pub body: Bytes,
}

impl ServiceRequest {
    /// The query parameters, decoded.
    pub fn query_pairs(&self) -> Vec<(String, String)> {
        self.query
            .as_deref()
            .map(|q| {
                url::form_urlencoded::parse(q.as_bytes())
                    .into_owned()
                    .collect()
            })
            .unwrap_or_default()
    }

    /// One query parameter, decoded.
    pub fn query_param(&self, name: &str) -> Option<String> {
        self.query_pairs()
            .into_iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v)
    }

    /// A header as text.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    /// The bearer token, if the request carries one.
    pub fn bearer(&self) -> Option<&str> {
        let value = self.header("authorization")?;
        let (scheme, token) = value.split_once(' ')?;
        scheme
            .eq_ignore_ascii_case("bearer")
            .then_some(token.trim())
    }

    /// The body as JSON.
    pub fn json<T: DeserializeOwned>(&self) -> std::result::Result<T, String> {
        serde_json::from_slice(&self.body).map_err(|e| e.to_string())
    }

    /// The body as form fields.
    pub fn form(&self) -> HashMap<String, String> {
        url::form_urlencoded::parse(&self.body)
            .into_owned()
            .collect()
    }

    /// The path split into decoded segments.
    pub fn segments(&self) -> Vec<String> {
        self.path
            .split('/')
            .filter(|s| !s.is_empty())
            .map(|s| {
                percent_encoding::percent_decode_str(s)
                    .decode_utf8_lossy()
                    .into_owned()
            })
            .collect()
    }
}

/// What an emulated service answers.
#[derive(Debug, Clone)]
pub struct ServiceReply {
    /// The status.
    pub status: StatusCode,
    /// The headers.
    pub headers: HeaderMap,
    /// The body.
    pub body: Bytes,
    /// The operation, for request counts (`referrals.list`).
    pub operation: &'static str,
}

impl ServiceReply {
    /// A JSON answer.
    pub fn json(operation: &'static str, status: StatusCode, body: &impl Serialize) -> Self {
        let body = serde_json::to_vec(body).unwrap_or_default();
        let mut headers = HeaderMap::new();
        headers.insert(
            http::header::CONTENT_TYPE,
            HeaderValue::from_static("application/json; charset=utf-8"),
        );
        ServiceReply {
            status,
            headers,
            body: body.into(),
            operation,
        }
    }

    /// An answer without a body.
    pub fn empty(operation: &'static str, status: StatusCode) -> Self {
        ServiceReply {
            status,
            headers: HeaderMap::new(),
            body: Bytes::new(),
            operation,
        }
    }

    /// Adds a header.
    pub fn with_header(mut self, name: &'static str, value: &str) -> Self {
        if let Ok(value) = HeaderValue::try_from(value) {
            self.headers.insert(HeaderName::from_static(name), value);
        }
        self
    }
}

/// One emulated API.
#[async_trait]
pub trait EmulatedService: Send + Sync + 'static {
    /// Answers one request.
    async fn handle(&self, request: ServiceRequest) -> ServiceReply;
}

/// Base URLs of the running emulator.
#[derive(Debug, Clone, Serialize)]
pub struct EmulatorUrls {
    /// Entra ID authority host (use with `EntraAuthority::new(url, tenant)`).
    pub entra_authority: String,
    /// Salesforce login and instance host (`/services/oauth2/token`, `/services/data/…`).
    pub salesforce: String,
}

/// Ports to listen on; 0 picks a free one.
#[derive(Debug, Clone, Copy, Default)]
pub struct EmulatorPorts {
    /// Entra ID.
    pub entra: u16,
    /// Salesforce.
    pub salesforce: u16,
}

/// The emulated services, running on loopback until dropped.
///
/// ```
/// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
/// let emulator = cosell::testkit::Emulator::start().await.unwrap();
/// assert!(emulator.urls().entra_authority.starts_with("http://127.0.0.1:"));
/// # });
/// ```
pub struct Emulator {
    urls: EmulatorUrls,
    journal: Arc<Journal>,
    tokens: Arc<TokenStore>,
    tasks: Vec<JoinHandle<()>>,
}

impl std::fmt::Debug for Emulator {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Emulator")
            .field("urls", &self.urls)
            .finish_non_exhaustive()
    }
}

impl Emulator {
    /// Starts every emulated service on free loopback ports.
    pub async fn start() -> Result<Emulator> {
        Self::start_on(EmulatorPorts::default()).await
    }

    /// Starts every emulated service on the given loopback ports.
    pub async fn start_on(ports: EmulatorPorts) -> Result<Emulator> {
        let journal = Arc::new(Journal::default());
        let tokens = Arc::new(TokenStore::default());
        let entra = bind(ports.entra).await?;
        let salesforce = bind(ports.salesforce).await?;
        let urls = EmulatorUrls {
            entra_authority: format!("http://{}/", entra.local_addr().map_err(io)?),
            salesforce: format!("http://{}/", salesforce.local_addr().map_err(io)?),
        };
        let endpoints = Arc::new(TokenEndpoints::new(tokens.clone(), urls.salesforce.clone()));
        let tasks = vec![
            serve(
                entra,
                EmulatedApi::Entra,
                endpoints.clone(),
                journal.clone(),
            ),
            serve(
                salesforce,
                EmulatedApi::Salesforce,
                endpoints,
                journal.clone(),
            ),
        ];
        Ok(Emulator {
            urls,
            journal,
            tokens,
            tasks,
        })
    }

    /// The base URLs.
    pub fn urls(&self) -> &EmulatorUrls {
        &self.urls
    }

    /// Every request received so far, in order.
    pub fn journal(&self) -> Vec<JournalEntry> {
        self.journal.entries()
    }

    /// How many requests `api` received for `operation`.
    pub fn count(&self, api: EmulatedApi, operation: &str) -> usize {
        self.journal.count(api, Some(operation))
    }

    /// How many requests `api` received in all.
    pub fn count_all(&self, api: EmulatedApi) -> usize {
        self.journal.count(api, None)
    }

    /// The token store: lifetimes, revocation, device-code approval.
    pub fn tokens(&self) -> &TokenStore {
        &self.tokens
    }
}

impl Drop for Emulator {
    fn drop(&mut self) {
        for task in &self.tasks {
            task.abort();
        }
    }
}

fn io(e: std::io::Error) -> Error {
    Error::config(format!("emulator: {e}"))
}

async fn bind(port: u16) -> Result<TcpListener> {
    let addr = SocketAddr::from(([127, 0, 0, 1], port));
    TcpListener::bind(addr)
        .await
        .map_err(|e| Error::config(format!("emulator: cannot listen on {addr}: {e}")))
}

fn serve(
    listener: TcpListener,
    api: EmulatedApi,
    service: Arc<dyn EmulatedService>,
    journal: Arc<Journal>,
) -> JoinHandle<()> {
    let handler = move |request: axum::extract::Request| {
        let service = service.clone();
        let journal = journal.clone();
        async move {
            let (parts, body) = request.into_parts();
            let body = axum::body::to_bytes(body, 16 * 1024 * 1024)
                .await
                .unwrap_or_default();
            let request = ServiceRequest {
                method: parts.method,
                path: parts.uri.path().to_owned(),
                query: parts.uri.query().map(str::to_owned),
                headers: parts.headers,
                body,
            };
            let (method, path, query) = (
                request.method.clone(),
                request.path.clone(),
                request.query.clone(),
            );
            let reply = service.handle(request).await;
            journal.record(api, reply.operation, &method, &path, query, reply.status);
            let mut response = axum::response::Response::new(axum::body::Body::from(reply.body));
            *response.status_mut() = reply.status;
            *response.headers_mut() = reply.headers;
            response
        }
    };
    let router = axum::Router::new().fallback(handler);
    tokio::spawn(async move {
        // The server ends when the task is aborted on drop.
        let _ = axum::serve(listener, router).await;
    })
}
