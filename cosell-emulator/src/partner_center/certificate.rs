//! Serving the signing certificate on the webhooks port, where the emulator trust policy
//! allows it to be fetched from (`http` on loopback, below `/cert/`).

use http::StatusCode;

use super::signer::{CERTIFICATE_CN, SIGNING_CERTIFICATE_DER};
use crate::frame::ServiceReply;

/// The operation certificate downloads are counted as.
pub(crate) const OPERATION: &str = "certificate";

/// The file name the certificate is served as, as Partner Center names its own.
fn file_name() -> String {
    format!("{CERTIFICATE_CN}.cer")
}

/// The certificate URL deliveries name, below `origin` (`http://127.0.0.1:<port>/`).
pub(crate) fn certificate_url(origin: &str) -> String {
    format!("{origin}cert/{}", file_name())
}

/// Answers `GET /cert/{name}`: the DER certificate, or 404 for any other name.
pub(crate) fn serve(name: &str) -> ServiceReply {
    if name == file_name() {
        ServiceReply {
            status: StatusCode::OK,
            headers: Default::default(),
            body: bytes::Bytes::from_static(SIGNING_CERTIFICATE_DER),
            operation: OPERATION,
            record: None,
        }
        .with_header("content-type", "application/pkix-cert")
    } else {
        ServiceReply::empty(OPERATION, StatusCode::NOT_FOUND)
    }
}
