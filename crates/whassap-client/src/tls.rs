//! rustls client configuration (ring provider, never a process default).

use std::sync::Arc;

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::{self, CryptoProvider};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{ClientConfig, DigitallySignedStruct, RootCertStore, SignatureScheme};

use crate::ClientError;

/// Common locations of the system's PEM bundle of trusted roots.
const SYSTEM_BUNDLES: &[&str] = &[
    "/etc/ssl/certs/ca-certificates.crt",
    "/etc/pki/tls/certs/ca-bundle.crt",
    "/etc/ssl/cert.pem",
    "/etc/ssl/ca-bundle.pem",
];

/// ALPN protocol of XEP-0368 direct TLS for clients.
const ALPN_XMPP_CLIENT: &[u8] = b"xmpp-client";

/// A TLS client configuration using the ring provider. The provider is
/// passed explicitly; nothing is installed as the process default (the
/// binary decides that).
///
/// With `accept_invalid_certs` every certificate is accepted (handshake
/// signatures are still checked, so the peer must hold the key of the
/// certificate it sent): **for tests and self-signed servers only**, it
/// gives no protection against an active attacker. Otherwise the server's
/// certificate must chain to a root from the PEM file named by
/// `SSL_CERT_FILE`, or else from the system bundle. `direct` adds the
/// `xmpp-client` ALPN protocol used for XEP-0368 direct TLS.
pub fn tls_config(
    accept_invalid_certs: bool,
    direct: bool,
) -> Result<Arc<ClientConfig>, ClientError> {
    let provider = Arc::new(crypto::ring::default_provider());
    let builder = ClientConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .map_err(|e| ClientError::Tls(e.to_string()))?;
    let mut config = if accept_invalid_certs {
        builder
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(AcceptAnyCertificate(provider)))
            .with_no_client_auth()
    } else {
        builder
            .with_root_certificates(trusted_roots()?)
            .with_no_client_auth()
    };
    if direct {
        config.alpn_protocols = vec![ALPN_XMPP_CLIENT.to_vec()];
    }
    Ok(Arc::new(config))
}

/// Roots from `SSL_CERT_FILE`, else from the first system bundle found.
fn trusted_roots() -> Result<RootCertStore, ClientError> {
    let path = match std::env::var_os("SSL_CERT_FILE") {
        Some(p) => std::path::PathBuf::from(p),
        None => SYSTEM_BUNDLES
            .iter()
            .map(std::path::PathBuf::from)
            .find(|p| p.exists())
            .ok_or_else(|| {
                ClientError::Tls("no trusted roots: set SSL_CERT_FILE to a PEM bundle".into())
            })?,
    };
    let certs = CertificateDer::pem_file_iter(&path)
        .map_err(|e| ClientError::Tls(format!("{}: {e}", path.display())))?
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| ClientError::Tls(format!("{}: {e}", path.display())))?;
    let mut roots = RootCertStore::empty();
    let (added, _ignored) = roots.add_parsable_certificates(certs);
    if added == 0 {
        return Err(ClientError::Tls(format!(
            "{}: no usable root certificates",
            path.display()
        )));
    }
    Ok(roots)
}

/// Accepts any certificate chain for any name, but still verifies the
/// handshake signatures with the provider's algorithms. Tests and
/// self-signed servers only.
#[derive(Debug)]
struct AcceptAnyCertificate(Arc<CryptoProvider>);

impl ServerCertVerifier for AcceptAnyCertificate {
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
        crypto::verify_tls12_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}

/// Is a rustls certificate error somewhere in `e`'s causes?
pub(crate) fn certificate_refused(e: &(dyn std::error::Error + 'static)) -> bool {
    let mut next = Some(e);
    while let Some(e) = next {
        if matches!(
            tls_error(e),
            Some(rustls::Error::InvalidCertificate(_) | rustls::Error::NoCertificatesPresented)
        ) {
            return true;
        }
        next = e.source();
    }
    false
}

/// `e` as a rustls error, looking inside `io::Error`s (which hide the
/// error they wrap from `source()`).
fn tls_error<'a>(e: &'a (dyn std::error::Error + 'static)) -> Option<&'a rustls::Error> {
    if let Some(tls) = e.downcast_ref::<rustls::Error>() {
        return Some(tls);
    }
    let inner = e.downcast_ref::<std::io::Error>()?.get_ref()?;
    tls_error(inner)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn direct_tls_offers_the_xmpp_client_alpn() {
        let direct = tls_config(true, true).unwrap();
        assert_eq!(direct.alpn_protocols, vec![b"xmpp-client".to_vec()]);
        let starttls = tls_config(true, false).unwrap();
        assert!(starttls.alpn_protocols.is_empty());
    }

    #[test]
    fn accept_any_uses_the_custom_verifier() {
        // The dangerous verifier accepts a certificate that is not even DER.
        let v = AcceptAnyCertificate(Arc::new(crypto::ring::default_provider()));
        let junk = CertificateDer::from(vec![1, 2, 3]);
        let name = ServerName::try_from("localhost").unwrap();
        assert!(v
            .verify_server_cert(&junk, &[], &name, &[], UnixTime::now())
            .is_ok());
        assert!(!v.supported_verify_schemes().is_empty());
    }
}
