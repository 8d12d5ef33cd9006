//! The service's configuration: a TOML file for everything that is not secret, the environment
//! (or files the environment names) for everything that is, checked once at start.
//!
//! Secrets are never read from the TOML file: a key such as `client_secret` in it is refused
//! with an error naming the variable to set instead. Each secret of tenant `contoso` is read
//! from the crate's own variable name prefixed with `COSELL_TENANT_CONTOSO_` (the tenant's name
//! upper-cased, `-` and `.` as `_`), for example `COSELL_TENANT_CONTOSO_AZURE_CLIENT_SECRET`;
//! when the process serves one tenant, the unprefixed name (`AZURE_CLIENT_SECRET`) is read too.
//! Any secret variable may instead be given as a file: `<VARIABLE>_FILE=/run/secrets/…`.

use std::collections::BTreeSet;
use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use secrecy::SecretString;
use serde::Deserialize;
use url::Url;

/// The variable naming the configuration file when `--config` is not given.
pub const COSELL_SERVICE_CONFIG: &str = "COSELL_SERVICE_CONFIG";
/// Overrides `[service] bind`.
pub const COSELL_SERVICE_BIND: &str = "COSELL_SERVICE_BIND";
/// The PostgreSQL URL (it may hold a password, so it is a secret).
pub const COSELL_DATABASE_URL: &str = "COSELL_DATABASE_URL";
/// The bearer token the admin routes require; without it they are not served.
pub const COSELL_ADMIN_TOKEN: &str = "COSELL_ADMIN_TOKEN";

/// Why the configuration cannot be used. Each variant names the setting at fault.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ConfigError {
    /// The configuration file could not be read.
    #[error("cannot read the configuration file {path}: {source}")]
    Read {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// The file is not valid TOML, or a setting has the wrong type or an unknown name.
    #[error("configuration file {path}: {message}")]
    Syntax {
        /// The file.
        path: PathBuf,
        /// The TOML parser's message, which names the key and line.
        message: String,
    },
    /// A secret was written into the TOML file.
    #[error(
        "`{key}` is a secret and is not read from the configuration file; set {variable} (or {variable}_FILE) instead"
    )]
    SecretInFile {
        /// The key found in the file.
        key: String,
        /// Where the secret belongs.
        variable: String,
    },
    /// A setting is missing.
    #[error("missing setting `{setting}`: {hint}")]
    Missing {
        /// The setting (`tenant.contoso.dataverse.environment_url`, `COSELL_DATABASE_URL`, …).
        setting: String,
        /// What to do.
        hint: String,
    },
    /// A setting has a value that cannot be used.
    #[error("setting `{setting}` is invalid: {why}")]
    Invalid {
        /// The setting.
        setting: String,
        /// Why (never the value of a secret).
        why: String,
    },
}

impl ConfigError {
    fn missing(setting: impl Into<String>, hint: impl Into<String>) -> Self {
        ConfigError::Missing {
            setting: setting.into(),
            hint: hint.into(),
        }
    }

    fn invalid(setting: impl Into<String>, why: impl Into<String>) -> Self {
        ConfigError::Invalid {
            setting: setting.into(),
            why: why.into(),
        }
    }
}

/// Looks a variable up.
type Lookup = Arc<dyn Fn(&str) -> Option<String> + Send + Sync>;

/// Where environment variables are read from: the process, or a map a test passes.
#[derive(Clone)]
pub struct Environment(Lookup);

impl fmt::Debug for Environment {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Environment")
    }
}

impl Environment {
    /// The process environment.
    pub fn process() -> Self {
        Environment(Arc::new(|name| std::env::var(name).ok()))
    }

    /// Variables from name–value pairs (tests).
    #[cfg_attr(not(test), allow(dead_code))]
    pub fn from_pairs<K: Into<String>, V: Into<String>>(
        pairs: impl IntoIterator<Item = (K, V)>,
    ) -> Self {
        let map: std::collections::HashMap<String, String> = pairs
            .into_iter()
            .map(|(k, v)| (k.into(), v.into()))
            .collect();
        Environment(Arc::new(move |name| map.get(name).cloned()))
    }

    /// The variable's value, trimmed; `None` when unset or empty.
    pub fn get(&self, name: &str) -> Option<String> {
        (self.0)(name)
            .map(|v| v.trim().to_owned())
            .filter(|v| !v.is_empty())
    }

    /// A secret from `name`, or from the file `name_FILE` names.
    fn secret(&self, name: &str) -> Result<Option<SecretString>, ConfigError> {
        if let Some(value) = self.get(name) {
            return Ok(Some(SecretString::from(value)));
        }
        let file_variable = format!("{name}_FILE");
        let Some(path) = self.get(&file_variable) else {
            return Ok(None);
        };
        let text = std::fs::read_to_string(&path).map_err(|e| {
            ConfigError::invalid(
                &file_variable,
                format!("cannot read the file it names: {e}"),
            )
        })?;
        let text = text.trim();
        if text.is_empty() {
            return Err(ConfigError::invalid(
                &file_variable,
                "the file it names is empty",
            ));
        }
        Ok(Some(SecretString::from(text.to_owned())))
    }
}

// --- the file, as written ---------------------------------------------------------------------

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileConfig {
    #[serde(default)]
    service: ServiceSection,
    #[serde(default)]
    store: StoreSection,
    #[serde(default)]
    schedule: ScheduleSection,
    #[serde(default)]
    webhooks: WebhooksSection,
    #[serde(default, rename = "tenant")]
    tenants: Vec<TenantSection>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct ServiceSection {
    bind: Option<String>,
    worker: Option<String>,
    shutdown_grace_secs: Option<u64>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct StoreSection {
    kind: Option<String>,
    path: Option<PathBuf>,
    schema: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct ScheduleSection {
    inbox_workers: Option<usize>,
    inbox_batch: Option<usize>,
    idle_wait_ms: Option<u64>,
    poll_every_secs: Option<u64>,
    delta_sweep_every_secs: Option<u64>,
    full_sweep_every_secs: Option<u64>,
    registration_check_every_secs: Option<u64>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct WebhooksSection {
    #[serde(default)]
    certificate_locations: Vec<String>,
    loopback_certificate_url: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct TenantSection {
    name: String,
    crm: String,
    webhook_url: String,
    partner_center: PartnerCenterSection,
    dataverse: Option<DataverseSection>,
    salesforce: Option<SalesforceSection>,
    owner: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct PartnerCenterSection {
    entra_tenant: String,
    client_id: String,
    authority_host: Option<String>,
    referrals_url: Option<String>,
    webhooks_url: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct DataverseSection {
    environment_url: String,
    api_url: Option<String>,
    client_id: Option<String>,
    origin_tag: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct SalesforceSection {
    login_url: Option<String>,
    client_id: String,
    username: Option<String>,
    instance_url: Option<String>,
    origin_client_id: Option<String>,
}

// --- the configuration, checked ----------------------------------------------------------------

/// The whole configuration, checked: every setting present and well-formed, every secret read.
#[derive(Debug)]
pub struct Config {
    /// The address the HTTP server listens on.
    pub bind: String,
    /// This process's name on locks, leases and inbox claims.
    pub worker: String,
    /// How long a sweep in flight may take to finish its pairs at shutdown.
    pub shutdown_grace: Duration,
    /// Where the sync keeps its state.
    pub store: StoreConfig,
    /// How often each job runs.
    pub schedule: ScheduleConfig,
    /// Which certificate locations webhook signatures may come from.
    pub webhooks: WebhookTrust,
    /// The bearer token of the admin routes (none: the routes are off).
    pub admin_token: Option<SecretString>,
    /// The tenants served, in file order.
    pub tenants: Vec<TenantConfig>,
}

/// Where the sync keeps its state.
#[derive(Debug)]
pub enum StoreConfig {
    /// A SQLite file (the default, `cosell-sync.sqlite`).
    Sqlite {
        /// The file.
        path: PathBuf,
    },
    /// A PostgreSQL database (feature `postgres`; without it, opening the store says so).
    #[cfg_attr(not(feature = "postgres"), allow(dead_code))]
    Postgres {
        /// The URL, from `COSELL_DATABASE_URL`.
        url: SecretString,
        /// The schema holding the tables.
        schema: String,
    },
}

/// How often each job runs.
#[derive(Debug, Clone)]
pub struct ScheduleConfig {
    /// Inbox workers per tenant (each claims its own batches).
    pub inbox_workers: usize,
    /// Events claimed from the inbox per batch.
    pub inbox_batch: usize,
    /// How long an idle inbox worker waits before looking again (a webhook wakes it at once).
    pub idle_wait: Duration,
    /// The CRM poll's period.
    pub poll_every: Duration,
    /// The delta sweep's period (the first runs at start).
    pub delta_sweep_every: Duration,
    /// The full sweep's period (the first runs one period after start); `None` runs none.
    pub full_sweep_every: Option<Duration>,
    /// How often the webhook registration is checked again.
    pub registration_check_every: Duration,
}

/// Which certificate locations webhook signatures may come from, besides Partner Center's own.
#[derive(Debug, Clone, Default)]
pub struct WebhookTrust {
    /// `host/path/prefix/` entries.
    pub certificate_locations: Vec<(String, String)>,
    /// A plain-`http` loopback certificate URL (the emulator; never in production).
    pub loopback_certificate_url: Option<String>,
}

/// Which CRM a tenant syncs with.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum CrmKind {
    /// Dynamics 365 (Dataverse).
    Dataverse,
    /// Salesforce.
    Salesforce,
}

/// One Partner Center tenant and its CRM.
#[derive(Debug)]
pub struct TenantConfig {
    /// The name in URLs (`/webhooks/{name}`), the store and the status.
    pub name: String,
    /// The public URL Partner Center delivers this tenant's events to.
    pub webhook_url: String,
    /// The owner of records the sync creates in the CRM.
    pub owner: Option<String>,
    /// Partner Center sign-in and endpoints.
    pub partner_center: PartnerCenterConfig,
    /// The CRM and its sign-in.
    pub crm: CrmConfig,
}

/// A tenant's Partner Center sign-in and endpoints.
#[derive(Debug)]
pub struct PartnerCenterConfig {
    /// The Entra ID tenant (GUID or domain).
    pub entra_tenant: String,
    /// The Entra ID app's client id.
    pub client_id: String,
    /// Another authority host (sovereign cloud, the emulator).
    pub authority_host: Option<String>,
    /// The app's client secret: needed for the webhook registration (app-only token), and for
    /// refreshing the user's token when the app is confidential.
    pub client_secret: Option<SecretString>,
    /// A refresh token from the environment, used when the store holds none yet.
    pub refresh_token: Option<SecretString>,
    /// Another referrals API base URL.
    pub referrals_url: Option<String>,
    /// Another webhooks API base URL.
    pub webhooks_url: Option<String>,
}

/// A tenant's CRM.
#[derive(Debug)]
pub enum CrmConfig {
    /// Dataverse, with app-only client credentials.
    Dataverse {
        /// The environment (`https://contoso.crm.dynamics.com`): the token's scope.
        environment_url: String,
        /// The Web API base URL, when not `<environment>/api/data/v9.2/`.
        api_url: Option<String>,
        /// The app's client id (default: Partner Center's).
        client_id: String,
        /// Its client secret.
        client_secret: SecretString,
        /// The origin tag every write carries.
        origin_tag: String,
    },
    /// Salesforce, with JWT bearer (a private key) or client credentials (a secret).
    Salesforce {
        /// The login host.
        login_url: Option<String>,
        /// The connected app's consumer key.
        client_id: String,
        /// The sign-in.
        auth: SalesforceAuth,
        /// Requests go to this instance instead of each token's `instance_url`.
        instance_url: Option<String>,
        /// The origin client id every write carries.
        origin_client_id: String,
    },
}

impl CrmConfig {
    /// Which CRM it is.
    pub fn kind(&self) -> CrmKind {
        match self {
            CrmConfig::Dataverse { .. } => CrmKind::Dataverse,
            CrmConfig::Salesforce { .. } => CrmKind::Salesforce,
        }
    }
}

/// How the service signs in to Salesforce.
#[derive(Debug)]
pub enum SalesforceAuth {
    /// JWT bearer: a private key and the user it signs in as.
    JwtBearer {
        /// The user.
        username: String,
        /// The PEM RSA key.
        private_key: SecretString,
    },
    /// Client credentials: the connected app's secret.
    ClientCredentials {
        /// The secret.
        secret: SecretString,
    },
}

/// Keys that hold secrets, the crate variable each belongs in, and whether it is a tenant's.
const SECRET_KEYS: &[(&str, &str, bool)] = &[
    ("client_secret", "AZURE_CLIENT_SECRET", true),
    ("secret", "AZURE_CLIENT_SECRET", true),
    ("refresh_token", "COSELL_PARTNER_CENTER_REFRESH_TOKEN", true),
    ("private_key", "SALESFORCE_PRIVATE_KEY", true),
    ("password", COSELL_DATABASE_URL, false),
    ("database_url", COSELL_DATABASE_URL, false),
    ("admin_token", COSELL_ADMIN_TOKEN, false),
];

/// Tenant `name`'s name for the crate variable `variable`: `COSELL_TENANT_<NAME>_` (the name
/// upper-cased, other characters as `_`) then the variable without its `COSELL_` prefix, so
/// `AZURE_CLIENT_SECRET` becomes `COSELL_TENANT_CONTOSO_AZURE_CLIENT_SECRET` and
/// `COSELL_PARTNER_CENTER_REFRESH_TOKEN` becomes
/// `COSELL_TENANT_CONTOSO_PARTNER_CENTER_REFRESH_TOKEN`.
pub fn tenant_variable(name: &str, variable: &str) -> String {
    let upper: String = name
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() {
                c.to_ascii_uppercase()
            } else {
                '_'
            }
        })
        .collect();
    let stem = variable.strip_prefix("COSELL_").unwrap_or(variable);
    format!("COSELL_TENANT_{upper}_{stem}")
}

/// Finds a secret-looking key anywhere in the parsed file, before the typed parse refuses it as
/// an unknown key (which would not say where the secret belongs).
fn find_secret(value: &toml::Value, tenant: Option<&str>) -> Option<ConfigError> {
    match value {
        toml::Value::Table(table) => {
            let tenant = table.get("name").and_then(toml::Value::as_str).or(tenant);
            for (key, inner) in table {
                if let Some((_, variable, per_tenant)) =
                    SECRET_KEYS.iter().find(|(k, _, _)| k == key)
                {
                    let variable = match tenant {
                        Some(name) if *per_tenant => tenant_variable(name, variable),
                        _ => (*variable).to_owned(),
                    };
                    return Some(ConfigError::SecretInFile {
                        key: key.clone(),
                        variable,
                    });
                }
                if let Some(error) = find_secret(inner, tenant) {
                    return Some(error);
                }
            }
            None
        }
        toml::Value::Array(items) => items.iter().find_map(|item| find_secret(item, tenant)),
        _ => None,
    }
}

impl Config {
    /// Reads and checks the file at `path` with the variables of `env`.
    ///
    /// # Errors
    /// A [`ConfigError`] naming the first setting at fault.
    pub fn load(path: &Path, env: &Environment) -> Result<Config, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: path.to_owned(),
            source,
        })?;
        Config::parse(&text, path, env)
    }

    /// Checks the configuration `text` (read from `path`, named in errors).
    ///
    /// # Errors
    /// A [`ConfigError`] naming the first setting at fault.
    pub fn parse(text: &str, path: &Path, env: &Environment) -> Result<Config, ConfigError> {
        let syntax = |message: String| ConfigError::Syntax {
            path: path.to_owned(),
            message,
        };
        let raw: toml::Value = toml::from_str(text).map_err(|e| syntax(e.to_string()))?;
        if let Some(error) = find_secret(&raw, None) {
            return Err(error);
        }
        let file: FileConfig = toml::from_str(text).map_err(|e| syntax(e.to_string()))?;
        Config::check(file, env)
    }

    fn check(file: FileConfig, env: &Environment) -> Result<Config, ConfigError> {
        if file.tenants.is_empty() {
            return Err(ConfigError::missing(
                "tenant",
                "add at least one [[tenant]] section",
            ));
        }
        let single = file.tenants.len() == 1;
        let mut names = BTreeSet::new();
        let mut tenants = Vec::new();
        for section in file.tenants {
            if !names.insert(section.name.clone()) {
                return Err(ConfigError::invalid(
                    format!("tenant.{}.name", section.name),
                    "two tenants have this name",
                ));
            }
            tenants.push(check_tenant(section, env, single)?);
        }
        let store = match file.store.kind.as_deref().unwrap_or("sqlite") {
            "sqlite" => StoreConfig::Sqlite {
                path: file
                    .store
                    .path
                    .unwrap_or_else(|| PathBuf::from("cosell-sync.sqlite")),
            },
            "postgres" => StoreConfig::Postgres {
                url: env.secret(COSELL_DATABASE_URL)?.ok_or_else(|| {
                    ConfigError::missing(
                        COSELL_DATABASE_URL,
                        "store.kind is \"postgres\": set the database URL in the environment",
                    )
                })?,
                schema: file.store.schema.unwrap_or_else(|| "cosell".to_owned()),
            },
            other => {
                return Err(ConfigError::invalid(
                    "store.kind",
                    format!("`{other}` is neither \"sqlite\" nor \"postgres\""),
                ));
            }
        };
        let bind = env
            .get(COSELL_SERVICE_BIND)
            .or(file.service.bind)
            .unwrap_or_else(|| "127.0.0.1:8080".to_owned());
        if bind.parse::<std::net::SocketAddr>().is_err() {
            return Err(ConfigError::invalid(
                "service.bind",
                format!("`{bind}` is not an address:port"),
            ));
        }
        Ok(Config {
            bind,
            worker: file
                .service
                .worker
                .unwrap_or_else(|| format!("sync-service-{}", std::process::id())),
            shutdown_grace: Duration::from_secs(file.service.shutdown_grace_secs.unwrap_or(30)),
            store,
            schedule: check_schedule(&file.schedule)?,
            webhooks: check_webhooks(file.webhooks)?,
            admin_token: env.secret(COSELL_ADMIN_TOKEN)?,
            tenants,
        })
    }
}

fn check_schedule(s: &ScheduleSection) -> Result<ScheduleConfig, ConfigError> {
    let positive = |setting: &str, value: Option<u64>, default: u64| {
        let value = value.unwrap_or(default);
        if value == 0 {
            Err(ConfigError::invalid(
                format!("schedule.{setting}"),
                "must be greater than 0",
            ))
        } else {
            Ok(value)
        }
    };
    let inbox_batch = s.inbox_batch.unwrap_or(32);
    let inbox_workers = s.inbox_workers.unwrap_or(1);
    for (setting, value) in [
        ("inbox_batch", inbox_batch),
        ("inbox_workers", inbox_workers),
    ] {
        if value == 0 {
            return Err(ConfigError::invalid(
                format!("schedule.{setting}"),
                "must be greater than 0",
            ));
        }
    }
    Ok(ScheduleConfig {
        inbox_workers,
        inbox_batch,
        idle_wait: Duration::from_millis(positive("idle_wait_ms", s.idle_wait_ms, 1000)?),
        poll_every: Duration::from_secs(positive("poll_every_secs", s.poll_every_secs, 30)?),
        delta_sweep_every: Duration::from_secs(positive(
            "delta_sweep_every_secs",
            s.delta_sweep_every_secs,
            15 * 60,
        )?),
        // 0 turns the full sweep off.
        full_sweep_every: match s.full_sweep_every_secs.unwrap_or(24 * 3600) {
            0 => None,
            secs => Some(Duration::from_secs(secs)),
        },
        registration_check_every: Duration::from_secs(positive(
            "registration_check_every_secs",
            s.registration_check_every_secs,
            3600,
        )?),
    })
}

fn check_webhooks(w: WebhooksSection) -> Result<WebhookTrust, ConfigError> {
    let mut certificate_locations = Vec::new();
    for location in w.certificate_locations {
        let Some(slash) = location.find('/') else {
            return Err(ConfigError::invalid(
                "webhooks.certificate_locations",
                format!("entry `{location}` must be host/path/prefix/"),
            ));
        };
        certificate_locations.push((location[..slash].to_owned(), location[slash..].to_owned()));
    }
    Ok(WebhookTrust {
        certificate_locations,
        loopback_certificate_url: w.loopback_certificate_url,
    })
}

/// An `https` URL (plain `http` only to a loopback host).
fn check_url(setting: &str, text: &str) -> Result<String, ConfigError> {
    let url = Url::parse(text)
        .map_err(|e| ConfigError::invalid(setting, format!("`{text}` is not a URL ({e})")))?;
    let loopback = matches!(
        url.host(),
        Some(url::Host::Ipv4(ip)) if ip.is_loopback()
    ) || matches!(url.host(), Some(url::Host::Ipv6(ip)) if ip.is_loopback())
        || url.host_str() == Some("localhost");
    if url.scheme() != "https" && !(url.scheme() == "http" && loopback) {
        return Err(ConfigError::invalid(
            setting,
            "must use https (http only for a loopback host)",
        ));
    }
    Ok(text.to_owned())
}

fn check_optional_url(setting: &str, text: Option<String>) -> Result<Option<String>, ConfigError> {
    text.map(|text| check_url(setting, &text)).transpose()
}

/// The hint that a process serving one tenant also reads the crate's own name.
fn also(single: bool, variable: &str) -> String {
    if single {
        format!(" (or {variable}: this process serves one tenant)")
    } else {
        String::new()
    }
}

/// Reads tenant `name`'s secret `variable`: the prefixed name, or for a single tenant the
/// crate's own name.
fn tenant_secret(
    env: &Environment,
    name: &str,
    variable: &str,
    single: bool,
) -> Result<Option<SecretString>, ConfigError> {
    let prefixed = tenant_variable(name, variable);
    if let Some(secret) = env.secret(&prefixed)? {
        return Ok(Some(secret));
    }
    if single {
        return env.secret(variable);
    }
    Ok(None)
}

fn check_tenant(
    section: TenantSection,
    env: &Environment,
    single: bool,
) -> Result<TenantConfig, ConfigError> {
    let name = section.name;
    let at = |key: &str| format!("tenant.{name}.{key}");
    if name.is_empty()
        || !name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
    {
        return Err(ConfigError::invalid(
            "tenant.name",
            format!("`{name}` must be letters, digits, `-` or `_` (it is a URL segment)"),
        ));
    }
    let variable = |crate_variable: &str| tenant_variable(&name, crate_variable);
    let webhook_url = check_url(&at("webhook_url"), &section.webhook_url)?;
    let pc = section.partner_center;
    let partner_center = PartnerCenterConfig {
        authority_host: check_optional_url(
            &at("partner_center.authority_host"),
            pc.authority_host,
        )?,
        referrals_url: check_optional_url(&at("partner_center.referrals_url"), pc.referrals_url)?,
        webhooks_url: check_optional_url(&at("partner_center.webhooks_url"), pc.webhooks_url)?,
        client_secret: tenant_secret(env, &name, "AZURE_CLIENT_SECRET", single)?,
        refresh_token: tenant_secret(env, &name, "COSELL_PARTNER_CENTER_REFRESH_TOKEN", single)?,
        entra_tenant: pc.entra_tenant,
        client_id: pc.client_id,
    };
    let crm = match section.crm.as_str() {
        "dataverse" => {
            let Some(d) = section.dataverse else {
                return Err(ConfigError::missing(
                    at("dataverse"),
                    "crm is \"dataverse\": add a [tenant.dataverse] section with environment_url",
                ));
            };
            let client_secret = tenant_secret(env, &name, "AZURE_CLIENT_SECRET", single)?
                .ok_or_else(|| {
                    ConfigError::missing(
                        variable("AZURE_CLIENT_SECRET"),
                        format!(
                            "the Dataverse application user's client secret{}",
                            also(single, "AZURE_CLIENT_SECRET")
                        ),
                    )
                })?;
            CrmConfig::Dataverse {
                environment_url: check_url(&at("dataverse.environment_url"), &d.environment_url)?,
                api_url: check_optional_url(&at("dataverse.api_url"), d.api_url)?,
                client_id: d
                    .client_id
                    .unwrap_or_else(|| partner_center.client_id.clone()),
                client_secret,
                origin_tag: d.origin_tag.unwrap_or_else(|| "cosell-sync".to_owned()),
            }
        }
        "salesforce" => {
            let Some(s) = section.salesforce else {
                return Err(ConfigError::missing(
                    at("salesforce"),
                    "crm is \"salesforce\": add a [tenant.salesforce] section with client_id",
                ));
            };
            let key = tenant_secret(env, &name, "SALESFORCE_PRIVATE_KEY", single)?;
            let auth = match (key, s.username) {
                (Some(private_key), Some(username)) => SalesforceAuth::JwtBearer {
                    username,
                    private_key,
                },
                (Some(_), None) => {
                    return Err(ConfigError::missing(
                        at("salesforce.username"),
                        "a Salesforce private key is set: name the user the JWT bearer flow signs in as",
                    ));
                }
                (None, _) => SalesforceAuth::ClientCredentials {
                    secret: tenant_secret(env, &name, "SALESFORCE_CLIENT_SECRET", single)?
                        .ok_or_else(|| {
                            ConfigError::missing(
                                variable("SALESFORCE_CLIENT_SECRET"),
                                format!(
                                    "set it{} (client credentials flow), or {} with salesforce.username (JWT bearer)",
                                    also(single, "SALESFORCE_CLIENT_SECRET"),
                                    variable("SALESFORCE_PRIVATE_KEY")
                                ),
                            )
                        })?,
                },
            };
            CrmConfig::Salesforce {
                login_url: check_optional_url(&at("salesforce.login_url"), s.login_url)?,
                client_id: s.client_id,
                auth,
                instance_url: check_optional_url(&at("salesforce.instance_url"), s.instance_url)?,
                origin_client_id: s
                    .origin_client_id
                    .unwrap_or_else(|| "cosell-sync".to_owned()),
            }
        }
        other => {
            return Err(ConfigError::invalid(
                at("crm"),
                format!("`{other}` is neither \"dataverse\" nor \"salesforce\""),
            ));
        }
    };
    Ok(TenantConfig {
        name,
        webhook_url,
        owner: section.owner,
        partner_center,
        crm,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const DATAVERSE: &str = r#"
[[tenant]]
name = "contoso"
crm = "dataverse"
webhook_url = "https://hooks.contoso.example/webhooks/contoso"
[tenant.partner_center]
entra_tenant = "contoso.onmicrosoft.com"
client_id = "app"
[tenant.dataverse]
environment_url = "https://contoso.crm.dynamics.com"
"#;

    fn parse(text: &str, env: &[(&str, &str)]) -> Result<Config, ConfigError> {
        Config::parse(
            text,
            Path::new("test.toml"),
            &Environment::from_pairs(env.iter().copied()),
        )
    }

    #[test]
    fn a_missing_secret_is_named() {
        let error = parse(DATAVERSE, &[]).unwrap_err();
        assert!(
            error
                .to_string()
                .contains("COSELL_TENANT_CONTOSO_AZURE_CLIENT_SECRET"),
            "{error}"
        );
        assert!(parse(DATAVERSE, &[("AZURE_CLIENT_SECRET", "s")]).is_ok());
    }

    #[test]
    fn a_secret_in_the_file_is_refused_and_its_variable_named() {
        let text = DATAVERSE.replace(
            "client_id = \"app\"",
            "client_id = \"app\"\nclient_secret = \"x\"",
        );
        let error = parse(&text, &[]).unwrap_err();
        assert!(matches!(error, ConfigError::SecretInFile { .. }), "{error}");
        assert!(
            error
                .to_string()
                .contains("COSELL_TENANT_CONTOSO_AZURE_CLIENT_SECRET"),
            "{error}"
        );
    }

    #[test]
    fn wrong_values_name_their_setting() {
        let text = DATAVERSE.replace("crm = \"dataverse\"", "crm = \"sap\"");
        let error = parse(&text, &[("AZURE_CLIENT_SECRET", "s")]).unwrap_err();
        assert!(error.to_string().contains("tenant.contoso.crm"), "{error}");
        let text = DATAVERSE.replace("https://hooks", "http://hooks");
        let error = parse(&text, &[("AZURE_CLIENT_SECRET", "s")]).unwrap_err();
        assert!(
            error.to_string().contains("tenant.contoso.webhook_url"),
            "{error}"
        );
    }
}
