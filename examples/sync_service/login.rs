//! `login`: the device-code sign-in of the Partner Center user the referrals API acts as (it
//! takes only app + user tokens, and the user may have to pass MFA), whose refresh token is
//! kept in the store for the service — and every other process sharing the store — to use.

use cosell::auth::{DelegatedScope, DeviceCodeFlow, DeviceCodePrompt, EntraAuthority};
use cosell::partner_center::referrals::TOKEN_RESOURCE;
use cosell::store::{SyncStore, TenantId};

use crate::config::TenantConfig;
use crate::tenants::REFRESH_TOKEN_SECRET;

/// Why the sign-in failed.
#[derive(Debug, thiserror::Error)]
pub enum LoginError {
    /// The sign-in was refused or timed out.
    #[error("the sign-in failed: {0}")]
    SignIn(#[from] cosell::Error),
    /// It succeeded without a refresh token.
    #[error("the sign-in returned no refresh token (is offline access granted to the app?)")]
    NoRefreshToken,
    /// The token could not be stored.
    #[error("the refresh token could not be stored: {0}")]
    Store(#[from] cosell::store::StoreError),
}

/// Signs the tenant's user in with a device code — `show` tells the user where to enter it —
/// and stores the refresh token the sign-in yields.
///
/// # Errors
/// [`LoginError`].
pub async fn login(
    tenant: &TenantConfig,
    store: &dyn SyncStore,
    show: impl FnOnce(&DeviceCodePrompt),
) -> Result<(), LoginError> {
    let pc = &tenant.partner_center;
    let authority = match &pc.authority_host {
        Some(host) => EntraAuthority::new(host, pc.entra_tenant.clone())?,
        None => EntraAuthority::public_cloud(pc.entra_tenant.clone()),
    };
    let flow = DeviceCodeFlow::new(
        authority,
        pc.client_id.clone(),
        DelegatedScope::v1(TOKEN_RESOURCE),
    )?;
    let grant = flow.authorize(show).await?;
    let token = grant.refresh_token.ok_or(LoginError::NoRefreshToken)?;
    let id = TenantId::new(tenant.name.clone())?;
    store.save_secret(&id, REFRESH_TOKEN_SECRET, &token).await?;
    Ok(())
}
