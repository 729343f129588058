//! TLS for the web endpoint (SPEC §13): a rustls server from `[daemon] web.tls_cert_file`
//! (PEM, the certificate first, then any intermediates) and `tls_key_file` (PEM,
//! PKCS#8, PKCS#1 or SEC1), as the Prometheus exporter-toolkit does. PEM is parsed by
//! `rustls-pki-types` (`rustls-pemfile` is unmaintained).
//!
//! The same certificate file is what this binary's own clients (`status`, `snooze`,
//! `health`) trust, so a self-signed certificate works without a system CA.

use std::path::Path;
use std::sync::Arc;

use rustls_pki_types::pem::PemObject as _;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};
use tokio_rustls::rustls;

/// The certificate and key files.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TlsFiles {
    pub cert_file: std::path::PathBuf,
    pub key_file: std::path::PathBuf,
}

/// Reads the certificate chain; an error names the file and what is wrong.
pub fn read_certs(path: &Path) -> Result<Vec<CertificateDer<'static>>, String> {
    let certs = CertificateDer::pem_file_iter(path)
        .and_then(|iter| iter.collect::<Result<Vec<_>, _>>())
        .map_err(|e| format!("{}: {}", path.display(), pem_error(e)))?;
    if certs.is_empty() {
        return Err(format!(
            "{}: no PEM certificate (-----BEGIN CERTIFICATE-----) in it",
            path.display()
        ));
    }
    Ok(certs)
}

fn read_key(path: &Path) -> Result<PrivateKeyDer<'static>, String> {
    PrivateKeyDer::from_pem_file(path).map_err(|e| {
        format!(
            "{}: {} (expected a PEM private key: PKCS#8, PKCS#1 or SEC1)",
            path.display(),
            pem_error(e)
        )
    })
}

fn pem_error(e: rustls_pki_types::pem::Error) -> String {
    match e {
        rustls_pki_types::pem::Error::Io(io) => io.to_string(),
        rustls_pki_types::pem::Error::NoItemsFound => "no PEM item of the right kind found".into(),
        other => format!("bad PEM: {other:?}"),
    }
}

/// The rustls server config, HTTP/1.1 only (the server speaks nothing else).
pub fn server_config(files: &TlsFiles) -> Result<Arc<rustls::ServerConfig>, String> {
    let certs = read_certs(&files.cert_file)?;
    let key = read_key(&files.key_file)?;
    build(certs, key).map_err(|e| {
        format!(
            "{} and {}: {e}",
            files.cert_file.display(),
            files.key_file.display()
        )
    })
}

/// Checks PEM texts already read (config validation): a certificate chain and a key
/// that belongs to it. The error says what is wrong, without a path.
pub fn check_pem(cert_pem: &str, key_pem: &str) -> Result<(), String> {
    let certs = CertificateDer::pem_slice_iter(cert_pem.as_bytes())
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| format!("certificate: {}", pem_error(e)))?;
    if certs.is_empty() {
        return Err(
            "no PEM certificate (-----BEGIN CERTIFICATE-----) in the certificate file".into(),
        );
    }
    let key = PrivateKeyDer::from_pem_slice(key_pem.as_bytes()).map_err(|e| {
        format!(
            "key: {} (expected a PEM private key: PKCS#8, PKCS#1 or SEC1)",
            pem_error(e)
        )
    })?;
    build(certs, key).map(|_| ())
}

fn build(
    certs: Vec<CertificateDer<'static>>,
    key: PrivateKeyDer<'static>,
) -> Result<Arc<rustls::ServerConfig>, String> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| e.to_string())?
        .with_no_client_auth()
        .with_single_cert(certs, key)
        .map_err(|e| format!("{e} (does the key belong to the certificate?)"))?;
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(Arc::new(config))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write_pair(dir: &Path) -> TlsFiles {
        let cert = rcgen::generate_simple_self_signed(vec!["localhost".into()]).unwrap();
        let files = TlsFiles {
            cert_file: dir.join("cert.pem"),
            key_file: dir.join("key.pem"),
        };
        std::fs::write(&files.cert_file, cert.cert.pem()).unwrap();
        std::fs::write(&files.key_file, cert.key_pair.serialize_pem()).unwrap();
        files
    }

    #[test]
    fn a_matching_pair_makes_a_server_config() {
        let dir = tempfile::tempdir().unwrap();
        let files = write_pair(dir.path());
        let config = server_config(&files).unwrap();
        assert_eq!(config.alpn_protocols, [b"http/1.1".to_vec()]);
    }

    #[test]
    fn errors_name_the_file_and_the_problem() {
        let dir = tempfile::tempdir().unwrap();
        let files = write_pair(dir.path());
        let missing = TlsFiles {
            cert_file: dir.path().join("nope.pem"),
            ..files.clone()
        };
        let e = server_config(&missing).unwrap_err();
        assert!(e.contains("nope.pem") && e.contains("No such file"), "{e}");

        let swapped = TlsFiles {
            cert_file: files.key_file.clone(),
            key_file: files.cert_file.clone(),
        };
        let e = server_config(&swapped).unwrap_err();
        assert!(e.contains("key.pem") && e.contains("no PEM"), "{e}");

        // A key from another pair.
        let other = dir.path().join("other");
        std::fs::create_dir(&other).unwrap();
        let other = write_pair(&other);
        let mismatched = TlsFiles {
            key_file: other.key_file,
            ..files.clone()
        };
        let e = server_config(&mismatched).unwrap_err();
        assert!(e.contains("does the key belong"), "{e}");
        let pem = |p: &Path| std::fs::read_to_string(p).unwrap();
        assert!(check_pem(&pem(&files.cert_file), &pem(&files.key_file)).is_ok());
        let e = check_pem(&pem(&files.cert_file), &pem(&mismatched.key_file)).unwrap_err();
        assert!(e.contains("does the key belong"), "{e}");
        let e = check_pem("", &pem(&files.key_file)).unwrap_err();
        assert!(e.contains("no PEM certificate"), "{e}");
    }
}
