//! Emulated Partner Center: the referrals API, the webhook registration API, and deliveries.

use std::sync::Arc;

use async_trait::async_trait;
use http::StatusCode;

use super::frame::{EmulatedService, ServiceContext, ServiceReply, ServiceRequest};

/// Partner Center's emulated state, and Microsoft's side of it.
#[derive(Debug, Default)]
pub struct PartnerCenterControl {}

/// Answers every request with Partner Center's "not found" error, until the API is emulated.
struct NotEmulated;

#[async_trait]
impl EmulatedService for NotEmulated {
    fn operation(&self, _: &ServiceRequest) -> &'static str {
        "not-emulated"
    }

    async fn handle(&self, request: ServiceRequest) -> ServiceReply {
        ServiceReply::json(
            "not-emulated",
            StatusCode::NOT_FOUND,
            &serde_json::json!({"error": {
                "code": "itemNotFound",
                "message": format!("{} is not emulated", request.path),
            }}),
        )
    }
}

pub(crate) fn start(
    _context: &ServiceContext,
) -> (
    PartnerCenterControl,
    Arc<dyn EmulatedService>,
    Arc<dyn EmulatedService>,
) {
    (
        PartnerCenterControl::default(),
        Arc::new(NotEmulated),
        Arc::new(NotEmulated),
    )
}
