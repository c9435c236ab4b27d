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

/// A relay certificate made here, self-signed, for `names` (host names or
/// IP addresses): the acceptor that serves it and its pin (SPEC.md 2), for
/// links that let clients trust it without a CA. A relay on a LAN or a VPN
/// uses it.
pub fn self_signed(names: &[String]) -> io::Result<(TlsAcceptor, [u8; taiku_crypto::PIN_LEN])> {
    let made = rcgen::generate_simple_self_signed(names.to_vec())
        .map_err(|e| invalid("self-signed certificate", e))?;
    let cert = made.cert.der().clone();
    let pin = certificate_pin(&cert)?;
    let key = PrivateKeyDer::try_from(made.signing_key.serialize_der())
        .map_err(|e| invalid("private key", e))?;
    let config = rustls::ServerConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .map_err(|e| invalid("TLS versions", e))?
        .with_no_client_auth()
        .with_single_cert(vec![cert], key)
        .map_err(|e| invalid("certificate and key", e))?;
    Ok((TlsAcceptor::from(Arc::new(config)), pin))
}

/// The pin of a DER certificate: the SHA-256 of its SubjectPublicKeyInfo.
pub fn certificate_pin(cert: &CertificateDer<'_>) -> io::Result<[u8; taiku_crypto::PIN_LEN]> {
    let parsed = webpki::EndEntityCert::try_from(cert)
        .map_err(|e| invalid("certificate", format!("{e:?}")))?;
    Ok(taiku_crypto::relay_pin(&parsed.subject_public_key_info()))
}

/// What a client trusts for `wss://`: roots (a CA chain and the relay's
/// name are checked), or one pinned certificate key.
#[derive(Clone, Debug)]
pub struct ClientTls {
    roots: RootCertStore,
    pin: Option<[u8; taiku_crypto::PIN_LEN]>,
}

impl Default for ClientTls {
    /// The Mozilla root program (webpki-roots).
    fn default() -> Self {
        ClientTls {
            roots: RootCertStore {
                roots: webpki_roots::TLS_SERVER_ROOTS.to_vec(),
            },
            pin: None,
        }
    }
}

impl ClientTls {
    /// Trust only the relay certificate whose SubjectPublicKeyInfo hashes
    /// to `pin` (a pinned link, SPEC.md 2): no CA, name or validity check,
    /// the handshake signature still verified with that key.
    pub fn pinned(pin: [u8; taiku_crypto::PIN_LEN]) -> Self {
        ClientTls {
            pin: Some(pin),
            ..ClientTls::default()
        }
    }

    /// The trust for `link`: its pin if it has one, else the default roots.
    pub fn for_link(link: &taiku_crypto::Link) -> Self {
        link.relay_pin()
            .map_or_else(ClientTls::default, |pin| ClientTls::pinned(*pin))
    }

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

    /// A tokio-rustls connector that trusts these roots (or the pinned
    /// key): for a TLS transport of the embedder's own, such as a byte
    /// stream to [`RelayServer::serve_stream`](crate::drive::relay::RelayServer::serve_stream).
    pub fn connector(&self) -> io::Result<TlsConnector> {
        let builder = rustls::ClientConfig::builder_with_provider(provider())
            .with_safe_default_protocol_versions()
            .map_err(|e| invalid("TLS versions", e))?;
        let config = match self.pin {
            Some(pin) => builder
                .dangerous()
                .with_custom_certificate_verifier(Arc::new(Pinned {
                    pin,
                    algorithms: provider().signature_verification_algorithms,
                }))
                .with_no_client_auth(),
            None => builder
                .with_root_certificates(self.roots.clone())
                .with_no_client_auth(),
        };
        Ok(TlsConnector::from(Arc::new(config)))
    }
}

/// Accepts exactly the certificate whose key hashes to the pin. rustls's
/// own verifiers check a chain to a root; a pin replaces the chain (SPEC.md
/// 2), so it needs a verifier of its own. Handshake signatures are checked
/// with rustls's functions.
#[derive(Debug)]
struct Pinned {
    pin: [u8; taiku_crypto::PIN_LEN],
    algorithms: rustls::crypto::WebPkiSupportedAlgorithms,
}

impl rustls::client::danger::ServerCertVerifier for Pinned {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &rustls_pki_types::ServerName<'_>,
        _ocsp_response: &[u8],
        _now: rustls_pki_types::UnixTime,
    ) -> Result<rustls::client::danger::ServerCertVerified, rustls::Error> {
        let pin = certificate_pin(end_entity).map_err(|_| {
            rustls::Error::InvalidCertificate(rustls::CertificateError::BadEncoding)
        })?;
        if pin == self.pin {
            Ok(rustls::client::danger::ServerCertVerified::assertion())
        } else {
            Err(rustls::Error::InvalidCertificate(
                rustls::CertificateError::ApplicationVerificationFailure,
            ))
        }
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &rustls::DigitallySignedStruct,
    ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(message, cert, dss, &self.algorithms)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &rustls::DigitallySignedStruct,
    ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(message, cert, dss, &self.algorithms)
    }

    fn supported_verify_schemes(&self) -> Vec<rustls::SignatureScheme> {
        self.algorithms.supported_schemes()
    }
}
