//! The emulator's own certificate authority, generated at start, and the server certificate it
//! signs for `127.0.0.1` and `localhost`: a client trusts the authority's PEM (written where
//! the emulator says) and talks HTTPS to every port.

use std::sync::{Arc, OnceLock};

use rcgen::{
    BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair,
    KeyUsagePurpose,
};
use tokio_rustls::TlsAcceptor;
use tokio_rustls::rustls::ServerConfig;
use tokio_rustls::rustls::crypto::aws_lc_rs;
use tokio_rustls::rustls::pki_types::{PrivateKeyDer, PrivatePkcs8KeyDer};

use crate::error::{Error, Result};

/// The authority's PEM and the acceptor that serves its server certificate.
pub(crate) struct Tls {
    pub(crate) ca_pem: String,
    pub(crate) acceptor: TlsAcceptor,
}

fn failed(e: impl std::fmt::Display) -> Error {
    Error::startup(format!("emulator: cannot make its TLS certificate: {e}"))
}

impl Tls {
    /// The process's authority and certificate, made on first use: generating keys is the
    /// slowest part of a start, and every emulator of a test run can share them.
    pub(crate) fn shared() -> Result<Arc<Tls>> {
        static SHARED: OnceLock<std::result::Result<Arc<Tls>, String>> = OnceLock::new();
        SHARED
            .get_or_init(|| Tls::generate().map(Arc::new).map_err(|e| e.to_string()))
            .clone()
            .map_err(Error::startup)
    }

    fn generate() -> Result<Tls> {
        let ca_key = KeyPair::generate().map_err(failed)?;
        let mut ca = CertificateParams::new(Vec::<String>::new()).map_err(failed)?;
        ca.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        ca.distinguished_name
            .push(DnType::CommonName, "cosell emulator test CA");
        ca.key_usages = vec![
            KeyUsagePurpose::KeyCertSign,
            KeyUsagePurpose::CrlSign,
            KeyUsagePurpose::DigitalSignature,
        ];
        let ca_cert = ca.self_signed(&ca_key).map_err(failed)?;
        let issuer = Issuer::new(ca, ca_key);

        let key = KeyPair::generate().map_err(failed)?;
        let mut server =
            CertificateParams::new(vec!["127.0.0.1".to_owned(), "localhost".to_owned()])
                .map_err(failed)?;
        server
            .distinguished_name
            .push(DnType::CommonName, "cosell emulator");
        server.key_usages = vec![
            KeyUsagePurpose::DigitalSignature,
            KeyUsagePurpose::KeyEncipherment,
        ];
        server.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
        let server_cert = server.signed_by(&key, &issuer).map_err(failed)?;

        let private = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(key.serialize_der()));
        let mut config =
            ServerConfig::builder_with_provider(Arc::new(aws_lc_rs::default_provider()))
                .with_safe_default_protocol_versions()
                .map_err(failed)?
                .with_no_client_auth()
                .with_single_cert(
                    vec![server_cert.der().clone(), ca_cert.der().clone()],
                    private,
                )
                .map_err(failed)?;
        // The server speaks HTTP/1.1 only.
        config.alpn_protocols = vec![b"http/1.1".to_vec()];
        Ok(Tls {
            ca_pem: ca_cert.pem(),
            acceptor: TlsAcceptor::from(Arc::new(config)),
        })
    }
}
