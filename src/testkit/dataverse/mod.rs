//! Emulated Dataverse Web API.

use std::sync::Arc;

use async_trait::async_trait;
use http::StatusCode;

use super::frame::{EmulatedService, ServiceContext, ServiceReply, ServiceRequest};

/// Dataverse's emulated state, and a CRM user's side of it.
#[derive(Debug, Default)]
pub struct DataverseControl {}

/// Answers every request with Dataverse's "not found" error, until the API is emulated.
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
                "code": "0x80060888",
                "message": format!("Resource not found for the segment '{}'.", request.path),
            }}),
        )
    }
}

pub(crate) fn start(_context: &ServiceContext) -> (DataverseControl, Arc<dyn EmulatedService>) {
    (DataverseControl::default(), Arc::new(NotEmulated))
}
