//! TLS of server-to-server streams.
//!
//! Federation must work with peers whose certificates this server cannot
//! check (self-signed ones, which Prosody and ejabberd generate by
//! default): such a peer is encrypted to, then authenticated with
//! dialback. So the TLS handshake itself accepts any certificate (the peer
//! still proves it holds the key), and whether a peer's chain is valid for
//! the domain it claims is checked afterwards, with the Mozilla roots and
//! `s2s_ca`, to offer or accept SASL EXTERNAL (XEP-0178). With
//! `require_valid_certs` outgoing handshakes verify the peer's certificate
//! for real and dialback is refused.

use std::path::Path;
use std::sync::Arc;

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::client::WebPkiServerVerifier;
use rustls::crypto::CryptoProvider;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::server::danger::{ClientCertVerified, ClientCertVerifier};
use rustls::{DigitallySignedStruct, DistinguishedName, RootCertStore, SignatureScheme};
use tokio_rustls::{TlsAcceptor, TlsConnector};

use crate::config::ServerConfig;
use crate::error::ServerError;

/// The TLS settings of federation, built once at start.
pub struct S2sTls {
    /// This server's own certificate chain.
    own_chain: Vec<CertificateDer<'static>>,
    /// Outgoing streams: presents this server's certificate (for SASL
    /// EXTERNAL) and accepts the peer's (see the module doc).
    pub connector: TlsConnector,
    /// Incoming streams: asks for, and does not require, a certificate.
    pub acceptor: TlsAcceptor,
    verifier: Arc<WebPkiServerVerifier>,
}

impl S2sTls {
    /// Load this server's certificate (the c2s one) and the trust anchors.
    pub fn new(config: &ServerConfig) -> Result<S2sTls, ServerError> {
        let (cert_path, key_path) = match (&config.tls_cert, &config.tls_key) {
            (Some(c), Some(k)) => (c.clone(), k.clone()),
            _ => crate::tls::ensure_self_signed(&config.domain, &config.data_dir)?,
        };
        let certs = crate::tls::load_certs(&cert_path)?;
        let certs_for_check = certs.clone();
        let key = crate::tls::load_key(&key_path)?;
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let roots = Arc::new(roots(config.s2s.ca.as_deref())?);
        let verifier = WebPkiServerVerifier::builder_with_provider(roots, provider.clone())
            .build()
            .map_err(|e| ServerError::Tls(format!("s2s trust anchors: {e}")))?;
        let tls_err = |e: rustls::Error| ServerError::Tls(format!("s2s TLS: {e}"));
        let builder = rustls::ClientConfig::builder_with_provider(provider.clone())
            .with_safe_default_protocol_versions()
            .map_err(tls_err)?;
        let client = if config.s2s.require_valid_certs {
            builder.with_webpki_verifier(verifier.clone())
        } else {
            builder
                .dangerous()
                .with_custom_certificate_verifier(Arc::new(AnyCertificate(provider.clone())))
        }
        .with_client_auth_cert(certs.clone(), key.clone_key())
        .map_err(tls_err)?;
        let server = rustls::ServerConfig::builder_with_provider(provider.clone())
            .with_safe_default_protocol_versions()
            .map_err(tls_err)?
            .with_client_cert_verifier(Arc::new(AnyCertificate(provider)))
            .with_single_cert(certs, key)
            .map_err(tls_err)?;
        Ok(S2sTls {
            own_chain: certs_for_check,
            connector: TlsConnector::from(Arc::new(client)),
            acceptor: TlsAcceptor::from(Arc::new(server)),
            verifier,
        })
    }

    /// Is this server's own certificate valid for `domain` (by the same
    /// trust anchors)? A self-signed one is not.
    pub fn own_valid_for(&self, domain: &str) -> bool {
        self.valid_for(&self.own_chain, domain)
    }

    /// Is `chain` (end entity first) a valid certificate chain for `domain`?
    pub fn valid_for(&self, chain: &[CertificateDer<'_>], domain: &str) -> bool {
        let Some((end, intermediates)) = chain.split_first() else {
            return false;
        };
        let Ok(name) = ServerName::try_from(domain.to_string()) else {
            return false;
        };
        self.verifier
            .verify_server_cert(end, intermediates, &name, &[], UnixTime::now())
            .is_ok()
    }
}

fn roots(ca: Option<&Path>) -> Result<RootCertStore, ServerError> {
    let mut roots = RootCertStore {
        roots: webpki_roots::TLS_SERVER_ROOTS.to_vec(),
    };
    if let Some(path) = ca {
        for cert in crate::tls::load_certs(path)? {
            roots
                .add(cert)
                .map_err(|e| ServerError::Tls(format!("{}: {e}", path.display())))?;
        }
    }
    Ok(roots)
}

/// Accepts any certificate in the handshake, still checking the signature
/// that proves the peer holds its key; validity is judged afterwards.
#[derive(Debug)]
struct AnyCertificate(Arc<CryptoProvider>);

impl AnyCertificate {
    fn tls12(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn tls13(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn schemes(&self) -> Vec<SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}

impl ServerCertVerifier for AnyCertificate {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.tls12(message, cert, dss)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.tls13(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.schemes()
    }
}

impl ClientCertVerifier for AnyCertificate {
    fn offer_client_auth(&self) -> bool {
        true
    }

    fn client_auth_mandatory(&self) -> bool {
        false
    }

    fn root_hint_subjects(&self) -> &[DistinguishedName] {
        &[]
    }

    fn verify_client_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _now: UnixTime,
    ) -> Result<ClientCertVerified, rustls::Error> {
        Ok(ClientCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.tls12(message, cert, dss)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.tls13(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.schemes()
    }
}
