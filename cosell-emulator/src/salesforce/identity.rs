//! Who the session is: the identity URL the token response names, and `oauth2/userinfo`.

use http::StatusCode;
use serde_json::{Value, json};

use super::API_VERSION;
use crate::ServiceReply;

/// The emulated org's id.
pub(crate) const ORG_ID: &str = "00DEm0000000001EAA";
/// The emulated integration user's id.
pub(crate) const USER_ID: &str = "005Em0000000001IAA";

/// `{instance}/id/{org}/{user}`: the identity URL of every session.
pub(crate) fn identity_url(instance: &str) -> String {
    format!("{}/id/{ORG_ID}/{USER_ID}", instance.trim_end_matches('/'))
}

fn urls(instance: &str) -> Value {
    let instance = instance.trim_end_matches('/');
    let data = format!("{instance}/services/data/v{{version}}/");
    json!({
        "enterprise": format!("{instance}/services/Soap/c/{{version}}/{ORG_ID}"),
        "partner": format!("{instance}/services/Soap/u/{{version}}/{ORG_ID}"),
        "rest": data,
        "sobjects": format!("{data}sobjects/"),
        "search": format!("{data}search/"),
        "query": format!("{data}query/"),
        "recent": format!("{data}recent/"),
        "profile": format!("{instance}/{USER_ID}"),
        "custom_domain": instance,
    })
}

/// `GET /id/{org}/{user}`.
pub(crate) fn identity(operation: &'static str, instance: &str) -> ServiceReply {
    ServiceReply::json(
        operation,
        StatusCode::OK,
        &json!({
            "id": identity_url(instance),
            "asserted_user": true,
            "user_id": USER_ID,
            "organization_id": ORG_ID,
            "username": "integration@emulator.example",
            "nick_name": "integration",
            "display_name": "Integration User",
            "email": "integration@emulator.example",
            "email_verified": true,
            "first_name": "Integration",
            "last_name": "User",
            "timezone": "GMT",
            "active": true,
            "user_type": "STANDARD",
            "language": "en_US",
            "locale": "en_US",
            "utcOffset": 0,
            "last_modified_date": "2026-01-01T00:00:00.000+0000",
            "is_app_installed": true,
            "urls": urls(instance),
            "api_version": API_VERSION,
        }),
    )
}

/// `GET /services/oauth2/userinfo`: the OpenID Connect claims of the same user.
pub(crate) fn userinfo(operation: &'static str, instance: &str) -> ServiceReply {
    ServiceReply::json(
        operation,
        StatusCode::OK,
        &json!({
            "sub": identity_url(instance),
            "user_id": USER_ID,
            "organization_id": ORG_ID,
            "preferred_username": "integration@emulator.example",
            "nickname": "integration",
            "name": "Integration User",
            "given_name": "Integration",
            "family_name": "User",
            "email": "integration@emulator.example",
            "email_verified": true,
            "zoneinfo": "GMT",
            "locale": "en_US",
            "user_type": "STANDARD",
            "active": true,
            "urls": urls(instance),
            "updated_at": "2026-01-01T00:00:00Z",
        }),
    )
}
