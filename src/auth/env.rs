//! Credentials from the environment, by one convention for every client.
//!
//! Microsoft Entra ID settings use azure-identity's names, Salesforce settings `SALESFORCE_*`,
//! everything else `COSELL_*`; `docs/environment.md` has the table. A variable that is set but
//! empty counts as not set. A missing or malformed variable is an [`EnvError`] naming it (never
//! its value, which may be a secret).
//!
//! Tests pass an [`Env`] built from a map instead of touching the process environment:
//!
//! ```
//! use cosell::auth::{Env, EnvProblem};
//! use cosell::dataverse::Dataverse;
//!
//! let env = Env::from_pairs([("COSELL_DATAVERSE_URL", "https://contoso.crm.dynamics.com/")]);
//! let err = Dataverse::builder_from_env(&env).unwrap_err();
//! let cosell::Error::Env(missing) = err else { panic!("{err}") };
//! assert_eq!(missing.variable, "AZURE_TENANT_ID");
//! assert_eq!(missing.problem, EnvProblem::Missing);
//! ```

use std::collections::HashMap;
use std::fmt;
use std::sync::Arc;

use secrecy::SecretString;
use url::Url;

use crate::error::Result;

/// The Entra ID tenant (id or domain).
pub const AZURE_TENANT_ID: &str = "AZURE_TENANT_ID";
/// The Entra ID application (client) id.
pub const AZURE_CLIENT_ID: &str = "AZURE_CLIENT_ID";
/// The Entra ID application's client secret.
pub const AZURE_CLIENT_SECRET: &str = "AZURE_CLIENT_SECRET";
/// Another Entra ID authority host (sovereign clouds, the emulator); the public cloud if unset.
pub const AZURE_AUTHORITY_HOST: &str = "AZURE_AUTHORITY_HOST";
/// The refresh token of a user signed in for the Partner Center referrals API.
pub const COSELL_PARTNER_CENTER_REFRESH_TOKEN: &str = "COSELL_PARTNER_CENTER_REFRESH_TOKEN";
/// Another base URL for the Partner Center referrals API (the emulator).
pub const COSELL_PARTNER_CENTER_URL: &str = "COSELL_PARTNER_CENTER_URL";
/// Another base URL for the Partner Center webhooks API (the emulator).
pub const COSELL_PARTNER_CENTER_WEBHOOKS_URL: &str = "COSELL_PARTNER_CENTER_WEBHOOKS_URL";
/// The Dataverse environment (`https://contoso.crm.dynamics.com/`), or its Web API base URL.
pub const COSELL_DATAVERSE_URL: &str = "COSELL_DATAVERSE_URL";
/// The Salesforce login URL (a My Domain, `https://test.salesforce.com`); production if unset.
pub const SALESFORCE_LOGIN_URL: &str = "SALESFORCE_LOGIN_URL";
/// The connected app's consumer key.
pub const SALESFORCE_CLIENT_ID: &str = "SALESFORCE_CLIENT_ID";
/// The connected app's consumer secret (client credentials flow).
pub const SALESFORCE_CLIENT_SECRET: &str = "SALESFORCE_CLIENT_SECRET";
/// The user to sign in as with the JWT bearer flow.
pub const SALESFORCE_USERNAME: &str = "SALESFORCE_USERNAME";
/// The PEM RSA private key that signs JWT bearer assertions.
pub const SALESFORCE_PRIVATE_KEY: &str = "SALESFORCE_PRIVATE_KEY";
/// A stored refresh token (refresh token flow).
pub const SALESFORCE_REFRESH_TOKEN: &str = "SALESFORCE_REFRESH_TOKEN";
/// The org's instance URL, when requests must not follow each token's `instance_url`.
pub const SALESFORCE_INSTANCE_URL: &str = "SALESFORCE_INSTANCE_URL";

/// What is wrong with an environment variable.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum EnvProblem {
    /// It is not set, or empty.
    Missing,
    /// It is set to something unusable; says why (never the value).
    Malformed(String),
}

/// An environment variable that is missing or malformed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EnvError {
    /// The variable's name.
    pub variable: &'static str,
    /// What is wrong with it.
    pub problem: EnvProblem,
}

impl fmt::Display for EnvError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.problem {
            EnvProblem::Missing => write!(f, "environment variable `{}` is not set", self.variable),
            EnvProblem::Malformed(why) => {
                write!(
                    f,
                    "environment variable `{}` is malformed: {why}",
                    self.variable
                )
            }
        }
    }
}

impl std::error::Error for EnvError {}

type Lookup = Arc<dyn Fn(&str) -> Option<String> + Send + Sync>;

/// Where settings are read from: the process environment, or a lookup a test injects.
#[derive(Clone)]
pub struct Env {
    // `None`: the process environment, read with `std::env::var` so that a value that is not
    // UTF-8 is reported as malformed rather than taken as missing.
    lookup: Option<Lookup>,
}

impl fmt::Debug for Env {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self.lookup {
            None => "Env(process)",
            Some(_) => "Env(lookup)",
        })
    }
}

impl Env {
    /// The process environment.
    pub fn process() -> Self {
        Env { lookup: None }
    }

    /// Settings from a lookup function (a secret store, a test).
    pub fn from_fn(lookup: impl Fn(&str) -> Option<String> + Send + Sync + 'static) -> Self {
        Env {
            lookup: Some(Arc::new(lookup)),
        }
    }

    /// Settings from name–value pairs.
    pub fn from_pairs<K: Into<String>, V: Into<String>>(
        pairs: impl IntoIterator<Item = (K, V)>,
    ) -> Self {
        let map: HashMap<String, String> = pairs
            .into_iter()
            .map(|(k, v)| (k.into(), v.into()))
            .collect();
        Env::from_fn(move |name| map.get(name).cloned())
    }

    /// The variable's value; `None` when it is unset or empty.
    ///
    /// # Errors
    /// [`EnvProblem::Malformed`] for a process variable that is not UTF-8.
    pub fn optional(&self, variable: &'static str) -> Result<Option<String>> {
        let value = match &self.lookup {
            Some(lookup) => lookup(variable),
            None => match std::env::var(variable) {
                Ok(value) => Some(value),
                Err(std::env::VarError::NotPresent) => None,
                Err(std::env::VarError::NotUnicode(_)) => {
                    return Err(malformed(variable, "it is not valid UTF-8"));
                }
            },
        };
        Ok(value.map(|v| v.trim().to_owned()).filter(|v| !v.is_empty()))
    }

    /// The variable's value.
    ///
    /// # Errors
    /// [`EnvProblem::Missing`] when it is unset or empty.
    pub fn required(&self, variable: &'static str) -> Result<String> {
        self.optional(variable)?.ok_or_else(|| {
            EnvError {
                variable,
                problem: EnvProblem::Missing,
            }
            .into()
        })
    }

    /// A secret variable's value.
    pub fn secret(&self, variable: &'static str) -> Result<SecretString> {
        self.required(variable).map(SecretString::from)
    }

    /// A variable holding an `https` URL (or `http` to a loopback host), when set.
    ///
    /// # Errors
    /// [`EnvProblem::Malformed`] when it is not such a URL.
    pub fn optional_url(&self, variable: &'static str) -> Result<Option<String>> {
        let Some(text) = self.optional(variable)? else {
            return Ok(None);
        };
        let url = Url::parse(&text)
            .map_err(|e| malformed(variable, &format!("it is not a URL ({e})")))?;
        let loopback = crate::http::is_loopback(&url);
        if url.scheme() != "https" && !(url.scheme() == "http" && loopback) {
            return Err(malformed(
                variable,
                "it must use https (http only for a loopback host)",
            ));
        }
        Ok(Some(text))
    }

    /// A variable holding a URL, as [`optional_url`](Self::optional_url), required.
    pub fn required_url(&self, variable: &'static str) -> Result<String> {
        self.optional_url(variable)?.ok_or_else(|| {
            EnvError {
                variable,
                problem: EnvProblem::Missing,
            }
            .into()
        })
    }
}

/// A [`EnvProblem::Malformed`] error about `variable`.
pub(crate) fn malformed(variable: &'static str, why: &str) -> crate::Error {
    EnvError {
        variable,
        problem: EnvProblem::Malformed(why.to_owned()),
    }
    .into()
}
