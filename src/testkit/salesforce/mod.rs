//! Emulated Salesforce REST API (the login endpoint shares its host).

use std::sync::Arc;

use async_trait::async_trait;
use http::StatusCode;

use super::frame::{EmulatedService, ServiceContext, ServiceReply, ServiceRequest};

/// Salesforce's emulated state, and a CRM user's side of it.
#[derive(Debug, Default)]
pub struct SalesforceControl {}

/// Serves the login endpoint; answers everything else with Salesforce's "not found" error,
/// until the REST API is emulated.
struct LoginOnly {
    login: Arc<dyn EmulatedService>,
}

fn is_login(request: &ServiceRequest) -> bool {
    request.path.starts_with("/services/oauth2/")
}

#[async_trait]
impl EmulatedService for LoginOnly {
    fn operation(&self, request: &ServiceRequest) -> &'static str {
        if is_login(request) {
            self.login.operation(request)
        } else {
            "not-emulated"
        }
    }

    async fn handle(&self, request: ServiceRequest) -> ServiceReply {
        if is_login(&request) {
            return self.login.handle(request).await;
        }
        ServiceReply::json(
            "not-emulated",
            StatusCode::NOT_FOUND,
            &serde_json::json!([{
                "errorCode": "NOT_FOUND",
                "message": "The requested resource does not exist",
            }]),
        )
    }

    fn error_reply(
        &self,
        operation: &'static str,
        status: StatusCode,
        message: &str,
    ) -> ServiceReply {
        let code = match status {
            StatusCode::PRECONDITION_FAILED => "PRECONDITION_FAILED",
            StatusCode::SERVICE_UNAVAILABLE => "SERVER_UNAVAILABLE",
            _ => "REQUEST_LIMIT_EXCEEDED",
        };
        ServiceReply::json(
            operation,
            status,
            &serde_json::json!([{"errorCode": code, "message": message}]),
        )
    }
}

pub(crate) fn start(
    _context: &ServiceContext,
    login: Arc<dyn EmulatedService>,
) -> (SalesforceControl, Arc<dyn EmulatedService>) {
    (SalesforceControl::default(), Arc::new(LoginOnly { login }))
}
