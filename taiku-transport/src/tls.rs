//! TLS with rustls (ring provider): the relay's certificate and key from
//! PEM files, and the roots a client trusts.

use std::io;
use std::sync::Arc;

use rustls::RootCertStore;
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};
use tokio_rustls::{TlsAcceptor, TlsConnector};

fn provider() -> Arc<rustls::crypto::CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

fn invalid(what: &str, e: impl std::fmt::Display) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidInput, format!("{what}: {e}"))
}

/// A TLS acceptor for the relay from a PEM certificate chain and a PEM
/// private key.
pub fn server_config(cert_chain_pem: &[u8], key_pem: &[u8]) -> io::Result<TlsAcceptor> {
    let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_slice_iter(cert_chain_pem)
        .collect::<Result<_, _>>()
        .map_err(|e| invalid("certificate PEM", e))?;
    if certs.is_empty() {
        return Err(invalid("certificate PEM", "no certificate found"));
    }
    let key = PrivateKeyDer::from_pem_slice(key_pem).map_err(|e| invalid("private key PEM", e))?;
    let config = rustls::ServerConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .map_err(|e| invalid("TLS versions", e))?
        .with_no_client_auth()
        .with_single_cert(certs, key)
        .map_err(|e| invalid("certificate and key", e))?;
    Ok(TlsAcceptor::from(Arc::new(config)))
}

/// The roots a client trusts for `wss://`.
#[derive(Clone, Debug)]
pub struct ClientTls {
    roots: RootCertStore,
}

impl Default for ClientTls {
    /// The Mozilla root program (webpki-roots).
    fn default() -> Self {
        ClientTls {
            roots: RootCertStore {
                roots: webpki_roots::TLS_SERVER_ROOTS.to_vec(),
            },
        }
    }
}

impl ClientTls {
    /// Also trust the certificates in `pem` (a private relay's CA or
    /// self-signed certificate).
    pub fn with_extra_roots(mut self, pem: &[u8]) -> io::Result<Self> {
        for cert in CertificateDer::pem_slice_iter(pem) {
            let cert = cert.map_err(|e| invalid("certificate PEM", e))?;
            self.roots
                .add(cert)
                .map_err(|e| invalid("root certificate", e))?;
        }
        Ok(self)
    }

    pub(crate) fn connector(&self) -> io::Result<TlsConnector> {
        let config = rustls::ClientConfig::builder_with_provider(provider())
            .with_safe_default_protocol_versions()
            .map_err(|e| invalid("TLS versions", e))?
            .with_root_certificates(self.roots.clone())
            .with_no_client_auth();
        Ok(TlsConnector::from(Arc::new(config)))
    }
}
