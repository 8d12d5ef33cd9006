//! Which credentials each client takes, checked by the compiler.
//!
//! Every client's builder takes its credentials as an argument and wraps them in a
//! [`CachedTokenProvider`]. The marker traits say which sign-in flows an API accepts:
//!
//! | client | trait | implemented by |
//! |---|---|---|
//! | [`PartnerCenter`](crate::partner_center::PartnerCenter) (referrals) | [`UserCredentials`] | [`RefreshTokenProvider`], [`StaticToken`], [`CustomCredentials::user`] |
//! | [`WebhooksClient`](crate::partner_center::webhooks::WebhooksClient), [`Dataverse`](crate::dataverse::Dataverse) | [`EntraCredentials`] | [`ClientCredentials`], [`RefreshTokenProvider`], [`StaticToken`], [`CustomCredentials::user`] / [`app_only`](CustomCredentials::app_only) |
//! | [`Salesforce`](crate::salesforce::Salesforce) | [`SalesforceCredentials`] | [`ClientCredentialsFlow`](crate::salesforce::ClientCredentialsFlow), [`JwtBearerFlow`](crate::salesforce::JwtBearerFlow), [`RefreshTokenFlow`](crate::salesforce::RefreshTokenFlow), [`StaticToken`], [`CustomCredentials::salesforce`] |
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
//! Credentials already shared in an `Arc` are taken as they are (not cached again).
//!
//! A provider of your own (a vault, a managed identity, a test double) says which kind of token
//! it gives by the [`CustomCredentials`] constructor you call, since the compiler cannot know:
//! [`CustomCredentials::user`] for app + user tokens, [`CustomCredentials::app_only`] for
//! app-only Entra ID tokens, [`CustomCredentials::salesforce`] for Salesforce sessions. A bare
//! `Arc<dyn TokenProvider>` is not taken by any client: it would let an app-only token reach the
//! referrals API unnoticed.
//!
//! ```
//! use std::sync::Arc;
//! use cosell::auth::{CustomCredentials, StaticToken, TokenProvider};
//! use cosell::partner_center::PartnerCenter;
//!
//! let from_vault: Arc<dyn TokenProvider> = Arc::new(StaticToken::new("user-token"));
//! let pc = PartnerCenter::builder(CustomCredentials::user(from_vault)).build()?;
//! # let _ = pc;
//! # Ok::<(), cosell::Error>(())
//! ```
//!
//! ```compile_fail
//! use std::sync::Arc;
//! use cosell::auth::{StaticToken, TokenProvider};
//! use cosell::partner_center::PartnerCenter;
//!
//! let anonymous: Arc<dyn TokenProvider> = Arc::new(StaticToken::new("app-token"));
//! let pc = PartnerCenter::builder(anonymous).build();
//! ```
//!
//! ```compile_fail
//! use cosell::auth::{CustomCredentials, StaticToken};
//! use cosell::partner_center::PartnerCenter;
//!
//! let pc = PartnerCenter::builder(CustomCredentials::app_only(StaticToken::new("app-token")));
//! ```

use std::fmt;
use std::marker::PhantomData;
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

/// Shared credentials are used as they are: whoever shares them decides about caching.
impl<P: TokenProvider + 'static> Credentials for Arc<P> {
    fn into_token_provider(self) -> Arc<dyn TokenProvider> {
        self
    }
}

impl UserCredentials for RefreshTokenProvider {}
impl UserCredentials for StaticToken {}
impl<P: UserCredentials + TokenProvider> UserCredentials for Arc<P> {}
impl<P: UserCredentials + TokenProvider> UserCredentials for CachedTokenProvider<P> {}

impl EntraCredentials for ClientCredentials {}
impl EntraCredentials for RefreshTokenProvider {}
impl EntraCredentials for StaticToken {}
impl<P: EntraCredentials + TokenProvider> EntraCredentials for Arc<P> {}
impl<P: EntraCredentials + TokenProvider> EntraCredentials for CachedTokenProvider<P> {}

impl SalesforceCredentials for StaticToken {}
impl<P: SalesforceCredentials + TokenProvider> SalesforceCredentials for Arc<P> {}
impl<P: SalesforceCredentials + TokenProvider> SalesforceCredentials for CachedTokenProvider<P> {}

/// The kinds of token a [`CustomCredentials`] vouches for.
pub mod token_kind {
    /// Entra ID tokens issued to an app for a signed-in user (delegated, app + user).
    #[derive(Debug)]
    pub enum AppAndUser {}

    /// Entra ID tokens issued to an app on its own (client credentials, managed identity).
    #[derive(Debug)]
    pub enum AppOnly {}

    /// Salesforce session tokens.
    #[derive(Debug)]
    pub enum Salesforce {}
}

/// A token provider of your own, with the kind of token it gives named by the constructor:
/// the explicit way to hand a client a provider the crate does not know. Its tokens are used as
/// the provider gives them; wrap it in a [`CachedTokenProvider`] to cache them.
///
/// | constructor | kind | accepted by |
/// |---|---|---|
/// | [`user`](CustomCredentials::user) | [`token_kind::AppAndUser`] | every Microsoft client ([`UserCredentials`], [`EntraCredentials`]) |
/// | [`app_only`](CustomCredentials::app_only) | [`token_kind::AppOnly`] | Dataverse, the webhooks API ([`EntraCredentials`]) |
/// | [`salesforce`](CustomCredentials::salesforce) | [`token_kind::Salesforce`] | Salesforce ([`SalesforceCredentials`]) |
pub struct CustomCredentials<K> {
    provider: Arc<dyn TokenProvider>,
    kind: PhantomData<fn() -> K>,
}

impl<K> CustomCredentials<K> {
    fn vouched(provider: impl TokenProvider + 'static) -> Self {
        CustomCredentials::shared(Arc::new(provider))
    }

    /// Takes a provider that is already shared, as it is.
    pub(crate) fn shared(provider: Arc<dyn TokenProvider>) -> Self {
        CustomCredentials {
            provider,
            kind: PhantomData,
        }
    }
}

impl CustomCredentials<token_kind::AppAndUser> {
    /// A provider of app + user (delegated) Entra ID tokens, the kind the Partner Center
    /// referrals API requires: you vouch that it gives no app-only token.
    pub fn user(provider: impl TokenProvider + 'static) -> Self {
        CustomCredentials::vouched(provider)
    }
}

impl CustomCredentials<token_kind::AppOnly> {
    /// A provider of app-only Entra ID tokens (Dataverse, the Partner Center webhooks API).
    pub fn app_only(provider: impl TokenProvider + 'static) -> Self {
        CustomCredentials::vouched(provider)
    }
}

impl CustomCredentials<token_kind::Salesforce> {
    /// A provider of Salesforce session tokens (whose `instance_url`, when a token carries
    /// one, becomes the API host).
    pub fn salesforce(provider: impl TokenProvider + 'static) -> Self {
        CustomCredentials::vouched(provider)
    }
}

impl<K> fmt::Debug for CustomCredentials<K> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CustomCredentials")
            .field("kind", &std::any::type_name::<K>())
            .field("provider", &self.provider)
            .finish()
    }
}

impl<K: 'static> Credentials for CustomCredentials<K> {
    fn into_token_provider(self) -> Arc<dyn TokenProvider> {
        self.provider
    }
}

impl UserCredentials for CustomCredentials<token_kind::AppAndUser> {}
impl EntraCredentials for CustomCredentials<token_kind::AppAndUser> {}
impl EntraCredentials for CustomCredentials<token_kind::AppOnly> {}
impl SalesforceCredentials for CustomCredentials<token_kind::Salesforce> {}
