//! A token cache that refreshes early and never refreshes twice at once.

use std::fmt;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;

use super::{AccessToken, TokenProvider};
use crate::error::Result;
use crate::http::{Clock, SystemClock, lock};

/// Caches the tokens of another provider.
///
/// A cached token is handed out until five minutes (configurable) before it expires; a token
/// without a known expiry is kept until the server rejects it. When many tasks ask at once on a
/// cold or stale cache, one of them fetches and the others wait for its token.
///
/// ```
/// use cosell::auth::{CachedTokenProvider, StaticToken, TokenProvider};
/// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
/// let cached = CachedTokenProvider::new(StaticToken::new("abc"));
/// let first = cached.token().await.unwrap();
/// cached.invalidate(&first); // after a 401: the next call fetches anew
/// # });
/// ```
pub struct CachedTokenProvider<P> {
    inner: P,
    cached: Mutex<Option<AccessToken>>,
    refresh: tokio::sync::Mutex<()>,
    clock: Arc<dyn Clock>,
    margin: Duration,
}

impl<P: fmt::Debug> fmt::Debug for CachedTokenProvider<P> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CachedTokenProvider")
            .field("inner", &self.inner)
            .field("margin", &self.margin)
            .finish_non_exhaustive()
    }
}

impl<P: TokenProvider> CachedTokenProvider<P> {
    /// Caches `inner`'s tokens, refreshing five minutes before expiry.
    pub fn new(inner: P) -> Self {
        CachedTokenProvider {
            inner,
            cached: Mutex::new(None),
            refresh: tokio::sync::Mutex::new(()),
            clock: Arc::new(SystemClock),
            margin: Duration::from_secs(300),
        }
    }

    /// How long before expiry a token is replaced.
    pub fn refresh_margin(mut self, margin: Duration) -> Self {
        self.margin = margin;
        self
    }

    /// The clock that decides expiry.
    pub fn clock(mut self, clock: Arc<dyn Clock>) -> Self {
        self.clock = clock;
        self
    }

    /// The wrapped provider.
    pub fn inner(&self) -> &P {
        &self.inner
    }

    fn fresh(&self) -> Option<AccessToken> {
        lock(&self.cached)
            .as_ref()
            .filter(|t| !t.expires_within(self.clock.now(), self.margin))
            .cloned()
    }
}

#[async_trait]
impl<P: TokenProvider> TokenProvider for CachedTokenProvider<P> {
    async fn token(&self) -> Result<AccessToken> {
        if let Some(token) = self.fresh() {
            return Ok(token);
        }
        let _single_flight = self.refresh.lock().await;
        // Another task may have refreshed while this one waited.
        if let Some(token) = self.fresh() {
            return Ok(token);
        }
        let token = self.inner.token().await?;
        *lock(&self.cached) = Some(token.clone());
        Ok(token)
    }

    fn invalidate(&self, rejected: &AccessToken) {
        let mut cached = lock(&self.cached);
        if cached.as_ref().is_some_and(|t| t.same_secret(rejected)) {
            *cached = None;
        }
        drop(cached);
        self.inner.invalidate(rejected);
    }
}
