//! Entra ID's discovery documents, which identity libraries read before they ask for a token:
//! the OpenID configuration of a tenant, instance discovery, and the (empty) signing keys. The
//! emulator signs no ID token, so the key set is empty.

use http::StatusCode;
use serde_json::{Value, json};

use crate::{ServiceReply, ServiceRequest};

/// The operation a discovery request is counted as, if it is one.
pub(crate) fn operation(segments: &[&str]) -> Option<&'static str> {
    match segments {
        [_, ".well-known", "openid-configuration"]
        | [_, "v2.0", ".well-known", "openid-configuration"] => Some("oidc.configuration"),
        [_, "discovery", "instance"] | [_, "discovery", "v2.0", "instance"] => {
            Some("oidc.instance_discovery")
        }
        [_, "discovery", "keys"] | [_, "discovery", "v2.0", "keys"] => Some("oidc.keys"),
        _ => None,
    }
}

/// Answers a discovery request (`GET` only; the caller checks the method).
pub(crate) fn answer(
    request: &ServiceRequest,
    segments: &[&str],
    operation: &'static str,
) -> ServiceReply {
    let origin = request.origin();
    let body: Value = match operation {
        "oidc.configuration" => {
            let tenant = segments[0];
            let v2 = segments.get(1) == Some(&"v2.0");
            let version = if v2 { "/v2.0" } else { "" };
            let oauth = if v2 { "oauth2/v2.0" } else { "oauth2" };
            json!({
                "issuer": format!("{origin}/{tenant}{version}"),
                "authorization_endpoint": format!("{origin}/{tenant}/{oauth}/authorize"),
                "token_endpoint": format!("{origin}/{tenant}/{oauth}/token"),
                "device_authorization_endpoint": format!("{origin}/{tenant}/{oauth}/devicecode"),
                "end_session_endpoint": format!("{origin}/{tenant}/{oauth}/logout"),
                "jwks_uri": format!("{origin}/{tenant}/discovery{version}/keys"),
                "token_endpoint_auth_methods_supported": ["client_secret_post", "client_secret_basic"],
                "response_modes_supported": ["query", "fragment", "form_post"],
                "response_types_supported": ["code", "id_token", "code id_token", "id_token token"],
                "scopes_supported": ["openid", "profile", "email", "offline_access"],
                "subject_types_supported": ["pairwise"],
                "id_token_signing_alg_values_supported": ["RS256"],
                "claims_supported": ["sub", "iss", "aud", "exp", "iat", "name", "tid", "oid"],
                "request_uri_parameter_supported": false,
                "tenant_region_scope": "WW",
                "cloud_instance_name": request.header("host").unwrap_or("127.0.0.1"),
                "cloud_graph_host_name": "graph.windows.net",
                "msgraph_host": "graph.microsoft.com",
            })
        }
        "oidc.instance_discovery" => {
            let host = request.header("host").unwrap_or("127.0.0.1");
            json!({
                "tenant_discovery_endpoint":
                    format!("{origin}/{}/v2.0/.well-known/openid-configuration", segments[0]),
                "api-version": "1.1",
                "metadata": [{"preferred_network": host, "preferred_cache": host, "aliases": [host]}],
            })
        }
        _ => json!({"keys": []}),
    };
    ServiceReply::json(operation, StatusCode::OK, &body)
}
