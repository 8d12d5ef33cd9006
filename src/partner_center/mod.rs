//! Partner Center: the co-sell referrals API and the webhook registration API.

pub mod webhooks;

pub use webhooks::{
    Overwrite, RegisterError, RegistrationAction, RegistrationHealth, RegistrationOutcome,
    WebhookRegistration, WebhooksClient,
};
