//! Which credentials each client takes, checked by the compiler.
//!
//! Every client's builder takes its credentials as an argument and wraps them in a
//! [`CachedTokenProvider`]. The marker traits say which sign-in flows an API accepts:
//!
//! | client | trait | implemented by |
//! |---|---|---|
//! | [`PartnerCenter`](crate::partner_center::PartnerCenter) (referrals) | [`UserCredentials`] | [`RefreshTokenProvider`], [`StaticToken`] |
//! | [`WebhooksClient`](crate::partner_center::webhooks::WebhooksClient), [`Dataverse`](crate::dataverse::Dataverse) | [`EntraCredentials`] | [`ClientCredentials`], [`RefreshTokenProvider`], [`StaticToken`] |
//! | [`Salesforce`](crate::salesforce::Salesforce) | [`SalesforceCredentials`] | [`ClientCredentialsFlow`](crate::salesforce::ClientCredentialsFlow), [`JwtBearerFlow`](crate::salesforce::JwtBearerFlow), [`RefreshTokenFlow`](crate::salesforce::RefreshTokenFlow), [`StaticToken`] |
//!
//! The referrals API takes only app + user tokens, so app-only credentials do not compile there:
//!
//! ```compile_fail
//! use cosell::auth::{ClientCredentials, EntraAuthority};
//! use cosell::partner_center::PartnerCenter;
//! # fn run() -> cosell::Result<()> {
//! let app_only = ClientCredentials::new(
//!     EntraAuthority::public_cloud("contoso"),
//!     "client-id",
//!     "secret".to_string().into(),
//!     "https://api.partner.microsoft.com/.default",
//! )?;
//! let pc = PartnerCenter::builder(app_only).build()?;
//! # Ok(()) }
//! ```
//!
//! Credentials already shared in an `Arc` are taken as they are (not cached again). A provider of
//! your own, as an `Arc<dyn TokenProvider>`, is taken by every client: you vouch for the kind of
//! token it gives.

use std::sync::Arc;

use super::{
    CachedTokenProvider, ClientCredentials, RefreshTokenProvider, StaticToken, TokenProvider,
};

/// Credentials a client can be built with: turned into the provider the client asks for tokens,
/// behind the token cache.
pub trait Credentials: Send + Sync + 'static {
    /// The provider, cached (a provider that is already cached or static is used as it is).
    fn into_token_provider(self) -> Arc<dyn TokenProvider>;
}

/// Credentials that sign in a user through an app (app + user, delegated): the only kind the
/// Partner Center referrals API accepts.
pub trait UserCredentials: Credentials {}

/// Microsoft Entra ID credentials, app-only or app + user: the Partner Center webhooks API and
/// Dataverse take either.
pub trait EntraCredentials: Credentials {}

/// Salesforce credentials: a Salesforce OAuth flow, or a session token.
pub trait SalesforceCredentials: Credentials {}

impl Credentials for ClientCredentials {
    fn into_token_provider(self) -> Arc<dyn TokenProvider> {
        Arc::new(CachedTokenProvider::new(self))
    }
}

impl Credentials for RefreshTokenProvider {
    fn into_token_provider(self) -> Arc<dyn TokenProvider> {
        Arc::new(CachedTokenProvider::new(self))
    }
}

impl Credentials for StaticToken {
    fn into_token_provider(self) -> Arc<dyn TokenProvider> {
        Arc::new(self)
    }
}

impl<P: TokenProvider + 'static> Credentials for CachedTokenProvider<P> {
    fn into_token_provider(self) -> Arc<dyn TokenProvider> {
        Arc::new(self)
    }
}

impl Credentials for Arc<dyn TokenProvider> {
    fn into_token_provider(self) -> Arc<dyn TokenProvider> {
        self
    }
}

/// Shared credentials are used as they are: whoever shares them decides about caching.
impl<P: TokenProvider + 'static> Credentials for Arc<P> {
    fn into_token_provider(self) -> Arc<dyn TokenProvider> {
        self
    }
}

impl UserCredentials for RefreshTokenProvider {}
impl UserCredentials for StaticToken {}
impl UserCredentials for Arc<dyn TokenProvider> {}
impl<P: UserCredentials + TokenProvider> UserCredentials for Arc<P> {}
impl<P: UserCredentials + TokenProvider> UserCredentials for CachedTokenProvider<P> {}

impl EntraCredentials for ClientCredentials {}
impl EntraCredentials for RefreshTokenProvider {}
impl EntraCredentials for StaticToken {}
impl EntraCredentials for Arc<dyn TokenProvider> {}
impl<P: EntraCredentials + TokenProvider> EntraCredentials for Arc<P> {}
impl<P: EntraCredentials + TokenProvider> EntraCredentials for CachedTokenProvider<P> {}

impl SalesforceCredentials for StaticToken {}
impl SalesforceCredentials for Arc<dyn TokenProvider> {}
impl<P: SalesforceCredentials + TokenProvider> SalesforceCredentials for Arc<P> {}
impl<P: SalesforceCredentials + TokenProvider> SalesforceCredentials for CachedTokenProvider<P> {}
