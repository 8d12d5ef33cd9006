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

use super::clock::{EmulatorClock, SystemClock};
use super::connection::{ConnectionInfo, listen};
use super::dataverse::DataverseControl;
use super::faults::{Fault, FaultPlan};
use super::journal::{Answered, CALLER_HEADER, Journal, JournalEntry};
use super::partner_center::PartnerCenterControl;
use super::salesforce::SalesforceControl;
use super::tls::Tls;
use super::tokens::{TokenEndpoints, TokenStore};
use crate::error::{Error, Result};

/// Which emulated service a request went to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[non_exhaustive]
pub enum EmulatedApi {
    /// Microsoft Entra ID token endpoints.
    Entra,
    /// The Partner Center co-sell referrals API.
    PartnerCenterReferrals,
    /// The Partner Center webhooks API (registration), and the deliveries it sends.
    PartnerCenterWebhooks,
    /// The Dataverse Web API.
    Dataverse,
    /// The Salesforce token endpoint and REST API (one host).
    Salesforce,
}

impl EmulatedApi {
    /// A short name for listings.
    pub fn name(self) -> &'static str {
        match self {
            EmulatedApi::Entra => "entra",
            EmulatedApi::PartnerCenterReferrals => "partner-center-referrals",
            EmulatedApi::PartnerCenterWebhooks => "partner-center-webhooks",
            EmulatedApi::Dataverse => "dataverse",
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
    /// Whether it came over TLS (`https`).
    pub secure: bool,
}

impl ServiceRequest {
    /// The origin the client addressed: `https://127.0.0.1:7804` (scheme, and the `Host` header).
    pub fn origin(&self) -> String {
        let scheme = if self.secure { "https" } else { "http" };
        format!("{scheme}://{}", self.header("host").unwrap_or("127.0.0.1"))
    }

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
    /// The record the request read or wrote, for the journal (`referrals/<id>`).
    pub record: Option<String>,
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
            record: None,
        }
    }

    /// An answer without a body.
    pub fn empty(operation: &'static str, status: StatusCode) -> Self {
        ServiceReply {
            status,
            headers: HeaderMap::new(),
            body: Bytes::new(),
            operation,
            record: None,
        }
    }

    /// Names the record the request read or wrote, for the journal.
    pub fn with_record(mut self, record: impl Into<String>) -> Self {
        self.record = Some(record.into());
        self
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
    /// The operation a request is counted as (`referrals.list`); also what fault rules match.
    fn operation(&self, request: &ServiceRequest) -> &'static str;

    /// Answers one request.
    async fn handle(&self, request: ServiceRequest) -> ServiceReply;

    /// An error answer in the API's own error format, for injected faults.
    fn error_reply(
        &self,
        operation: &'static str,
        status: StatusCode,
        message: &str,
    ) -> ServiceReply {
        ServiceReply::json(
            operation,
            status,
            &serde_json::json!({"error": {"code": status.as_u16().to_string(), "message": message}}),
        )
    }
}

/// Base URLs of the running emulator.
#[derive(Debug, Clone, Serialize)]
pub struct EmulatorUrls {
    /// Entra ID authority host (use with `EntraAuthority::new(url, tenant)`).
    pub entra_authority: String,
    /// The referrals API base (the emulated `https://api.partner.microsoft.com/v1.0/engagements/`).
    pub partner_center_referrals: String,
    /// The webhooks API base (the emulated `https://api.partnercenter.microsoft.com/webhooks/v1/`).
    pub partner_center_webhooks: String,
    /// The Dataverse Web API base (the emulated `https://<org>.crm.dynamics.com/api/data/v9.2/`).
    pub dataverse: String,
    /// Salesforce login and instance host (`/services/oauth2/token`, `/services/data/…`).
    pub salesforce: String,
}

/// Ports to listen on; 0 picks a free one.
#[derive(Debug, Clone, Copy, Default)]
pub struct EmulatorPorts {
    /// Entra ID.
    pub entra: u16,
    /// Partner Center referrals.
    pub partner_center_referrals: u16,
    /// Partner Center webhooks.
    pub partner_center_webhooks: u16,
    /// Dataverse.
    pub dataverse: u16,
    /// Salesforce.
    pub salesforce: u16,
}

/// What every emulated service may use besides its own state.
#[derive(Clone)]
pub(crate) struct ServiceContext {
    pub(crate) tokens: Arc<TokenStore>,
    pub(crate) faults: Arc<FaultPlan>,
    pub(crate) urls: EmulatorUrls,
    pub(crate) clock: Arc<dyn EmulatorClock>,
}

/// How an emulator starts: its ports, its clock, and Partner Center's strict mode.
///
/// ```
/// use std::sync::Arc;
/// use cosell_emulator::{Emulator, ManualClock};
///
/// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
/// let clock = Arc::new(ManualClock::new("2026-01-01T00:00:00Z".parse().unwrap()));
/// let emulator = Emulator::builder().clock(clock).strict(true).start().await.unwrap();
/// assert!(emulator.partner_center().is_strict());
/// # });
/// ```
#[derive(Debug, Clone, Default)]
pub struct EmulatorBuilder {
    ports: EmulatorPorts,
    clock: Option<Arc<dyn EmulatorClock>>,
    strict: bool,
    ca_file: Option<std::path::PathBuf>,
}

impl EmulatorBuilder {
    /// The loopback ports to listen on (0 picks a free one; the default).
    pub fn ports(mut self, ports: EmulatorPorts) -> Self {
        self.ports = ports;
        self
    }

    /// The clock every stamp, token expiry and journal time is read from (default: the
    /// system clock).
    pub fn clock(mut self, clock: Arc<dyn EmulatorClock>) -> Self {
        self.clock = Some(clock);
        self
    }

    /// Starts Partner Center in strict mode (see
    /// [`PartnerCenterControl::set_strict`](crate::PartnerCenterControl::set_strict)).
    pub fn strict(mut self, strict: bool) -> Self {
        self.strict = strict;
        self
    }

    /// Writes the PEM of the certificate authority generated at start to `path`, for clients
    /// that take a CA file (`REQUESTS_CA_BUNDLE`, `NODE_EXTRA_CA_CERTS`, `curl --cacert`).
    pub fn ca_file(mut self, path: impl Into<std::path::PathBuf>) -> Self {
        self.ca_file = Some(path.into());
        self
    }

    /// Starts every emulated service.
    ///
    /// # Errors
    /// [`Error::Startup`] when a port cannot be bound, the certificate cannot be made or the
    /// CA file cannot be written.
    pub async fn start(self) -> Result<Emulator> {
        let tls = Tls::shared()?;
        if let Some(path) = &self.ca_file {
            std::fs::write(path, &tls.ca_pem).map_err(|e| {
                Error::startup(format!("emulator: cannot write {}: {e}", path.display()))
            })?;
        }
        let clock = self.clock.unwrap_or_else(|| Arc::new(SystemClock));
        let ports = self.ports;
        let journal = Arc::new(Journal::default());
        let tokens = Arc::new(TokenStore::with_clock(clock.clone()));
        let faults = Arc::new(FaultPlan::default());
        let shared = Shared {
            journal: journal.clone(),
            faults: faults.clone(),
            clock: clock.clone(),
        };
        let entra = bind(ports.entra).await?;
        let referrals = bind(ports.partner_center_referrals).await?;
        let webhooks = bind(ports.partner_center_webhooks).await?;
        let dataverse = bind(ports.dataverse).await?;
        let salesforce = bind(ports.salesforce).await?;
        let base = |listener: &TcpListener, path: &str| -> Result<String> {
            Ok(format!(
                "http://{}/{path}",
                listener.local_addr().map_err(io)?
            ))
        };
        let urls = EmulatorUrls {
            entra_authority: base(&entra, "")?,
            partner_center_referrals: base(&referrals, "v1.0/engagements/")?,
            partner_center_webhooks: base(&webhooks, "webhooks/v1/")?,
            dataverse: base(&dataverse, "api/data/v9.2/")?,
            salesforce: base(&salesforce, "")?,
        };
        let context = ServiceContext {
            tokens: tokens.clone(),
            faults: faults.clone(),
            urls: urls.clone(),
            clock,
        };
        let endpoints = Arc::new(TokenEndpoints::new(tokens.clone(), urls.salesforce.clone()));
        let (partner_center, referrals_service, webhooks_service) =
            super::partner_center::start(&context);
        partner_center.set_strict(self.strict);
        let (dataverse_control, dataverse_service) = super::dataverse::start(&context);
        let (salesforce_control, salesforce_service) =
            super::salesforce::start(&context, endpoints.clone());
        let served: [(TcpListener, EmulatedApi, Arc<dyn EmulatedService>); 5] = [
            (entra, EmulatedApi::Entra, endpoints),
            (
                referrals,
                EmulatedApi::PartnerCenterReferrals,
                referrals_service,
            ),
            (
                webhooks,
                EmulatedApi::PartnerCenterWebhooks,
                webhooks_service,
            ),
            (dataverse, EmulatedApi::Dataverse, dataverse_service),
            (salesforce, EmulatedApi::Salesforce, salesforce_service),
        ];
        let mut tasks = Vec::new();
        for (listener, api, service) in served {
            let (listener, acceptor) = listen(listener, tls.acceptor.clone()).map_err(io)?;
            tasks.push(acceptor);
            tasks.push(serve(listener, api, service, shared.clone()));
        }
        Ok(Emulator {
            ca_pem: tls.ca_pem.clone(),
            urls,
            journal,
            tokens,
            faults,
            partner_center,
            dataverse: dataverse_control,
            salesforce: salesforce_control,
            tasks,
        })
    }
}

/// The emulated services, running on loopback until dropped.
///
/// ```
/// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
/// let emulator = cosell_emulator::Emulator::start().await.unwrap();
/// assert!(emulator.urls().entra_authority.starts_with("http://127.0.0.1:"));
/// # });
/// ```
pub struct Emulator {
    ca_pem: String,
    urls: EmulatorUrls,
    journal: Arc<Journal>,
    tokens: Arc<TokenStore>,
    faults: Arc<FaultPlan>,
    partner_center: PartnerCenterControl,
    dataverse: DataverseControl,
    salesforce: SalesforceControl,
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
    /// Starts every emulated service on free loopback ports, on the system clock.
    ///
    /// # Errors
    /// [`Error::Startup`] when a port cannot be bound.
    pub async fn start() -> Result<Emulator> {
        Self::builder().start().await
    }

    /// Starts every emulated service on the given loopback ports.
    ///
    /// # Errors
    /// [`Error::Startup`] when a port cannot be bound.
    pub async fn start_on(ports: EmulatorPorts) -> Result<Emulator> {
        Self::builder().ports(ports).start().await
    }

    /// Chooses ports, clock and strict mode before starting.
    pub fn builder() -> EmulatorBuilder {
        EmulatorBuilder::default()
    }

    /// The base URLs (`http`).
    pub fn urls(&self) -> &EmulatorUrls {
        &self.urls
    }

    /// The same base URLs with `https`: every port serves both, with a certificate for
    /// `127.0.0.1` and `localhost` signed by [`ca_certificate_pem`](Self::ca_certificate_pem).
    ///
    /// ```
    /// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
    /// let emulator = cosell_emulator::Emulator::start().await.unwrap();
    /// assert!(emulator.https_urls().dataverse.starts_with("https://127.0.0.1:"));
    /// assert!(emulator.ca_certificate_pem().starts_with("-----BEGIN CERTIFICATE-----"));
    /// # });
    /// ```
    pub fn https_urls(&self) -> EmulatorUrls {
        let secure = |url: &str| url.replacen("http://", "https://", 1);
        EmulatorUrls {
            entra_authority: secure(&self.urls.entra_authority),
            partner_center_referrals: secure(&self.urls.partner_center_referrals),
            partner_center_webhooks: secure(&self.urls.partner_center_webhooks),
            dataverse: secure(&self.urls.dataverse),
            salesforce: secure(&self.urls.salesforce),
        }
    }

    /// The PEM of the certificate authority generated at start, which a client trusts to
    /// talk HTTPS to the emulator (and nothing else).
    pub fn ca_certificate_pem(&self) -> &str {
        &self.ca_pem
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

    /// The fault plan: add rules to make services misbehave.
    pub fn faults(&self) -> &FaultPlan {
        &self.faults
    }

    /// Partner Center's state, and Microsoft's side of it (share, update, close referrals).
    pub fn partner_center(&self) -> &PartnerCenterControl {
        &self.partner_center
    }

    /// Dataverse's state, and a CRM user's side of it.
    pub fn dataverse(&self) -> &DataverseControl {
        &self.dataverse
    }

    /// Salesforce's state, and a CRM user's side of it.
    pub fn salesforce(&self) -> &SalesforceControl {
        &self.salesforce
    }
}

impl Drop for Emulator {
    fn drop(&mut self) {
        self.partner_center.shutdown();
        for task in &self.tasks {
            task.abort();
        }
    }
}

fn io(e: std::io::Error) -> Error {
    Error::startup(format!("emulator: {e}"))
}

async fn bind(port: u16) -> Result<TcpListener> {
    let addr = SocketAddr::from(([127, 0, 0, 1], port));
    TcpListener::bind(addr)
        .await
        .map_err(|e| Error::startup(format!("emulator: cannot listen on {addr}: {e}")))
}

/// What every service task shares.
#[derive(Clone)]
struct Shared {
    journal: Arc<Journal>,
    faults: Arc<FaultPlan>,
    clock: Arc<dyn EmulatorClock>,
}

fn serve(
    listener: crate::connection::CuttableListener,
    api: EmulatedApi,
    service: Arc<dyn EmulatedService>,
    shared: Shared,
) -> JoinHandle<()> {
    let handler = move |request: axum::extract::Request| {
        let service = service.clone();
        let shared = shared.clone();
        async move {
            let (parts, body) = request.into_parts();
            let caller = parts
                .headers
                .get(CALLER_HEADER)
                .and_then(|v| v.to_str().ok())
                .map(str::to_owned);
            let arrival = shared.journal.arrive(shared.clock.now(), caller);
            let connection = parts
                .extensions
                .get::<axum::extract::ConnectInfo<ConnectionInfo>>()
                .map(|info| info.0.clone());
            let body = axum::body::to_bytes(body, 16 * 1024 * 1024)
                .await
                .unwrap_or_default();
            let request = ServiceRequest {
                method: parts.method,
                path: parts.uri.path().to_owned(),
                query: parts.uri.query().map(str::to_owned),
                headers: parts.headers,
                body,
                secure: connection.as_ref().is_some_and(|c| c.secure),
            };
            let (method, path, query) = (
                request.method.clone(),
                request.path.clone(),
                request.query.clone(),
            );
            let operation = service.operation(&request);
            let fault = shared.faults.request_fault(api, operation);
            let mut cut_short = false;
            let reply = match fault {
                Some(Fault::TooManyRequests { retry_after }) => service
                    .error_reply(
                        operation,
                        StatusCode::TOO_MANY_REQUESTS,
                        "Rate limit is exceeded.",
                    )
                    .with_header("retry-after", &retry_after.as_secs().to_string()),
                Some(Fault::Unavailable) => service.error_reply(
                    operation,
                    StatusCode::SERVICE_UNAVAILABLE,
                    "The service is temporarily unavailable.",
                ),
                Some(Fault::PreconditionFailed) => service.error_reply(
                    operation,
                    StatusCode::PRECONDITION_FAILED,
                    "The resource was modified since it was read.",
                ),
                Some(Fault::Latency(delay)) => {
                    tokio::time::sleep(delay).await;
                    service.handle(request).await
                }
                Some(Fault::CloseMidAnswer) => {
                    cut_short = true;
                    service.handle(request).await
                }
                Some(Fault::Answer {
                    status,
                    content_type,
                    body,
                }) => {
                    let mut headers = HeaderMap::new();
                    if let Ok(value) = content_type.parse() {
                        headers.insert(axum::http::header::CONTENT_TYPE, value);
                    }
                    ServiceReply {
                        status: StatusCode::from_u16(status)
                            .unwrap_or(StatusCode::INTERNAL_SERVER_ERROR),
                        headers,
                        body: Bytes::from(body),
                        operation,
                        record: None,
                    }
                }
                Some(Fault::AnswerLost) => {
                    let reply = service.handle(request).await;
                    if let Some(connection) = &connection {
                        connection.cut();
                    }
                    reply
                }
                _ => service.handle(request).await,
            };
            let answered = Answered {
                api,
                operation: reply.operation,
                method: &method,
                path: &path,
                query,
                status: reply.status,
                record: reply.record.clone(),
            };
            shared.journal.record(arrival, answered, shared.clock.now());
            into_response(reply, cut_short)
        }
    };
    let router = axum::Router::new().fallback(handler);
    tokio::spawn(async move {
        // The server ends when the task is aborted on drop.
        let _ = axum::serve(
            listener,
            router.into_make_service_with_connect_info::<ConnectionInfo>(),
        )
        .await;
    })
}

fn into_response(reply: ServiceReply, cut_short: bool) -> axum::response::Response {
    let body = if cut_short {
        // Promise the whole body, send half of it, then fail the stream: the connection closes.
        let half = reply.body.slice(..reply.body.len() / 2);
        let chunks: Vec<std::result::Result<Bytes, std::io::Error>> = vec![
            Ok(half),
            Err(std::io::Error::new(
                std::io::ErrorKind::ConnectionReset,
                "emulated connection loss",
            )),
        ];
        axum::body::Body::from_stream(futures::stream::iter(chunks))
    } else {
        axum::body::Body::from(reply.body.clone())
    };
    let mut response = axum::response::Response::new(body);
    *response.status_mut() = reply.status;
    *response.headers_mut() = reply.headers;
    if cut_short {
        let full = reply.body.len().max(2).to_string();
        if let Ok(value) = HeaderValue::try_from(full) {
            response
                .headers_mut()
                .insert(http::header::CONTENT_LENGTH, value);
        }
    }
    response
}
