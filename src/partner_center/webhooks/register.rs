//! Registering without silently taking events from another integration, and checking later
//! that nobody took them from us.

use std::fmt;

use url::Url;

use super::{WebhookRegistration, WebhooksClient};
use crate::error::{Error, Result};
use crate::webhook::EventName;

/// What [`WebhooksClient::register`] may do when another URL holds the tenant's registration.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Overwrite {
    /// Leave it alone and fail with [`RegisterError::HeldByAnotherUrl`].
    Refuse,
    /// Replace it: the other integration (for example Microsoft's co-sell connector) stops
    /// receiving events.
    Replace,
}

/// What [`WebhooksClient::register`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum RegistrationAction {
    /// There was no registration; one was created.
    Created,
    /// The URL was already registered; the events were merged into it with one update.
    Merged,
    /// The URL was already registered for every requested event; nothing was written.
    Unchanged,
    /// Another URL's registration was replaced (only with [`Overwrite::Replace`]).
    Replaced,
}

/// The registration before and after [`WebhooksClient::register`].
#[derive(Debug, Clone, PartialEq)]
pub struct RegistrationOutcome {
    /// What was done.
    pub action: RegistrationAction,
    /// The registration found first, if any.
    pub before: Option<WebhookRegistration>,
    /// The registration now in force, as the server returned it.
    pub after: WebhookRegistration,
}

/// Why [`WebhooksClient::register`] did not register.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum RegisterError {
    /// Another URL holds the tenant's registration and overwriting was not asked for.
    #[error(
        "the tenant's webhook registration belongs to {} (events: {}); register with Overwrite::Replace to take it over",
        current_url.as_deref().unwrap_or("an unnamed URL"),
        EventList(current_events)
    )]
    HeldByAnotherUrl {
        /// The URL that holds the registration.
        current_url: Option<String>,
        /// The events registered to it.
        current_events: Vec<EventName>,
    },
    /// The URL or events were refused, or a request failed.
    #[error(transparent)]
    Request(#[from] Error),
}

struct EventList<'a>(&'a [EventName]);

impl fmt::Display for EventList<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.0.is_empty() {
            return f.write_str("none");
        }
        for (i, event) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str(", ")?;
            }
            f.write_str(event.as_str())?;
        }
        Ok(())
    }
}

/// Whether the tenant's registration still delivers what the caller expects.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum RegistrationHealth {
    /// The registration points at the URL and includes every expected event.
    Healthy(WebhookRegistration),
    /// There is no registration.
    NotRegistered,
    /// Another URL holds the registration (someone overwrote it).
    OtherUrl(WebhookRegistration),
    /// The URL is registered but some expected events are missing.
    MissingEvents {
        /// The registration found.
        registration: WebhookRegistration,
        /// The expected events it lacks.
        missing: Vec<EventName>,
    },
}

impl RegistrationHealth {
    /// Whether events will arrive as expected.
    pub fn is_healthy(&self) -> bool {
        matches!(self, RegistrationHealth::Healthy(_))
    }
}

/// Checks a webhook URL: `https`, or `http` on a loopback host (tests), with a host and no
/// user-info or fragment.
fn validate_webhook_url(webhook_url: &str) -> Result<Url> {
    let url = Url::parse(webhook_url.trim())
        .map_err(|e| Error::validation(format!("webhook URL is not a URL: {e}")))?;
    match url.scheme() {
        "https" => {}
        "http" if crate::http::is_loopback(&url) => {}
        _ => {
            return Err(Error::validation(
                "webhook URL must use https (http only for a loopback host)",
            ));
        }
    }
    if url.host().is_none() {
        return Err(Error::validation("webhook URL has no host"));
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err(Error::validation("webhook URL must not carry user-info"));
    }
    if url.fragment().is_some() {
        return Err(Error::validation("webhook URL must not have a fragment"));
    }
    Ok(url)
}

/// Whether a registered URL is the caller's (compared after URL normalisation).
fn same_url(registered: Option<&str>, ours: &Url) -> bool {
    registered
        .and_then(|r| Url::parse(r.trim()).ok())
        .is_some_and(|r| &r == ours)
}

fn missing_events(registered: &[EventName], wanted: &[EventName]) -> Vec<EventName> {
    let mut missing: Vec<EventName> = Vec::new();
    for event in wanted {
        if !registered.contains(event) && !missing.contains(event) {
            missing.push(event.clone());
        }
    }
    missing
}

impl WebhooksClient {
    /// Registers `webhook_url` for `events`, never silently taking another integration's
    /// events:
    ///
    /// - no registration: creates one;
    /// - the same URL registered: merges the events into it with one update (no write when
    ///   nothing is missing);
    /// - another URL registered: replaces it only with [`Overwrite::Replace`], otherwise fails
    ///   with [`RegisterError::HeldByAnotherUrl`] naming that URL and its events, having written
    ///   nothing.
    ///
    /// The URL must be `https` (plain `http` only for loopback, for tests).
    ///
    /// # Errors
    /// [`RegisterError::HeldByAnotherUrl`], or [`RegisterError::Request`] for a refused URL,
    /// an empty event list or a failed request.
    ///
    /// ```no_run
    /// use cosell::partner_center::webhooks::{Overwrite, RegisterError};
    /// use cosell::webhook::EventName;
    /// # async fn run(client: cosell::partner_center::webhooks::WebhooksClient) -> Result<(), RegisterError> {
    /// match client.register("https://hooks.contoso.example/pc", &EventName::REFERRAL_EVENTS, Overwrite::Refuse).await {
    ///     Ok(outcome) => println!("{:?}", outcome.action),
    ///     Err(RegisterError::HeldByAnotherUrl { current_url, .. }) => {
    ///         println!("{current_url:?} receives the events; not taking them over");
    ///     }
    ///     Err(e) => return Err(e),
    /// }
    /// # Ok(()) }
    /// ```
    pub async fn register(
        &self,
        webhook_url: &str,
        events: &[EventName],
        overwrite: Overwrite,
    ) -> Result<RegistrationOutcome, RegisterError> {
        let url = validate_webhook_url(webhook_url)?;
        if events.is_empty() {
            return Err(Error::validation("register at least one event").into());
        }
        let wanted = missing_events(&[], events);
        let before = self.registration().await?;
        let Some(current) = before.clone() else {
            let after = self
                .create_registration(&WebhookRegistration::new(url.as_str(), wanted))
                .await?;
            return Ok(RegistrationOutcome {
                action: RegistrationAction::Created,
                before,
                after,
            });
        };

        if same_url(current.webhook_url.as_deref(), &url) {
            let missing = missing_events(&current.webhook_events, &wanted);
            if missing.is_empty() {
                return Ok(RegistrationOutcome {
                    action: RegistrationAction::Unchanged,
                    after: current,
                    before,
                });
            }
            let mut merged = current;
            merged.webhook_events.extend(missing);
            let after = self.update_registration(&merged).await?;
            return Ok(RegistrationOutcome {
                action: RegistrationAction::Merged,
                before,
                after,
            });
        }

        match overwrite {
            Overwrite::Refuse => Err(RegisterError::HeldByAnotherUrl {
                current_url: current.webhook_url,
                current_events: current.webhook_events,
            }),
            Overwrite::Replace => {
                let after = self
                    .update_registration(&WebhookRegistration::new(url.as_str(), wanted))
                    .await?;
                Ok(RegistrationOutcome {
                    action: RegistrationAction::Replaced,
                    before,
                    after,
                })
            }
        }
    }

    /// Reports whether the tenant's registration still points at `webhook_url` with every
    /// one of `events`: any other integration can overwrite it without telling anyone, so
    /// run this periodically.
    ///
    /// # Errors
    /// [`Error::Validation`] for an unusable URL; request failures.
    ///
    /// ```no_run
    /// use cosell::webhook::EventName;
    /// # async fn run(client: cosell::partner_center::webhooks::WebhooksClient) -> cosell::Result<()> {
    /// let health = client
    ///     .check_registration("https://hooks.contoso.example/pc", &EventName::REFERRAL_EVENTS)
    ///     .await?;
    /// if !health.is_healthy() {
    ///     eprintln!("webhook registration drifted: {health:?}");
    /// }
    /// # Ok(()) }
    /// ```
    pub async fn check_registration(
        &self,
        webhook_url: &str,
        events: &[EventName],
    ) -> Result<RegistrationHealth> {
        let url = validate_webhook_url(webhook_url)?;
        let Some(registration) = self.registration().await? else {
            return Ok(RegistrationHealth::NotRegistered);
        };
        if !same_url(registration.webhook_url.as_deref(), &url) {
            return Ok(RegistrationHealth::OtherUrl(registration));
        }
        let missing = missing_events(&registration.webhook_events, events);
        Ok(if missing.is_empty() {
            RegistrationHealth::Healthy(registration)
        } else {
            RegistrationHealth::MissingEvents {
                registration,
                missing,
            }
        })
    }
}
