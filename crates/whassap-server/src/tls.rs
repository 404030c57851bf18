//! TLS for the c2s listeners: a configured certificate, or a self-signed one
//! generated into the data dir on first start (server-to-server streams use
//! the same certificate, see `s2s::tls`).

use std::io::BufReader;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use rustls::pki_types::{CertificateDer, PrivateKeyDer};

use crate::error::ServerError;

/// Load the certificate and key (or generate them) and build the c2s TLS
/// configuration.
pub fn config(
    domain: &str,
    data_dir: &Path,
    cert: Option<&Path>,
    key: Option<&Path>,
) -> Result<Arc<rustls::ServerConfig>, ServerError> {
    let (cert_path, key_path) = match (cert, key) {
        (Some(c), Some(k)) => (c.to_path_buf(), k.to_path_buf()),
        (None, None) => ensure_self_signed(domain, data_dir)?,
        _ => {
            return Err(ServerError::Config(
                "tls-cert and tls-key must be given together".into(),
            ))
        }
    };
    let certs = load_certs(&cert_path)?;
    let key = load_key(&key_path)?;
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| ServerError::Tls(e.to_string()))?
        .with_no_client_auth()
        .with_single_cert(certs, key)
        .map_err(|e| ServerError::Tls(format!("{}: {e}", cert_path.display())))?;
    Ok(Arc::new(config))
}

pub(crate) fn ensure_self_signed(
    domain: &str,
    data_dir: &Path,
) -> Result<(PathBuf, PathBuf), ServerError> {
    let cert_path = data_dir.join(format!("{domain}.crt"));
    let key_path = data_dir.join(format!("{domain}.key"));
    if cert_path.exists() && key_path.exists() {
        return Ok((cert_path, key_path));
    }
    let names = vec![domain.to_string(), format!("*.{domain}")];
    let generated = rcgen::generate_simple_self_signed(names)
        .map_err(|e| ServerError::Tls(format!("generating a certificate: {e}")))?;
    std::fs::write(&cert_path, generated.cert.pem()).map_err(|e| ServerError::io(&cert_path, e))?;
    std::fs::write(&key_path, generated.signing_key.serialize_pem())
        .map_err(|e| ServerError::io(&key_path, e))?;
    tracing::info!(cert = %cert_path.display(), "generated a self-signed certificate for {domain}");
    Ok((cert_path, key_path))
}

pub(crate) fn load_certs(path: &Path) -> Result<Vec<CertificateDer<'static>>, ServerError> {
    let file = std::fs::File::open(path).map_err(|e| ServerError::io(path, e))?;
    let certs = rustls_pemfile::certs(&mut BufReader::new(file))
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| ServerError::io(path, e))?;
    if certs.is_empty() {
        return Err(ServerError::Tls(format!(
            "no certificate in {}",
            path.display()
        )));
    }
    Ok(certs)
}

pub(crate) fn load_key(path: &Path) -> Result<PrivateKeyDer<'static>, ServerError> {
    let file = std::fs::File::open(path).map_err(|e| ServerError::io(path, e))?;
    rustls_pemfile::private_key(&mut BufReader::new(file))
        .map_err(|e| ServerError::io(path, e))?
        .ok_or_else(|| ServerError::Tls(format!("no private key in {}", path.display())))
}
