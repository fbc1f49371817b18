//! The server's TLS: the rustls acceptor of a certificate and key, a
//! certificate authority and a server certificate made on request
//! (`--tls-self-signed`), and the check that a certificate is one rustls
//! clients accept as a server's (a CA certificate is not).

use crate::config::ServerTls;
use crate::ServerError;
use rustls_pki_types::pem::PemObject as _;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use tokio_rustls::rustls;
use tokio_rustls::rustls::client::danger::ServerCertVerifier as _;

impl ServerTls {
    /// The rustls acceptor, offering HTTP/2 and HTTP/1.1 by ALPN.
    pub(crate) fn acceptor(&self) -> Result<tokio_rustls::TlsAcceptor, ServerError> {
        let bad = |what: &str, e: &dyn std::fmt::Display| ServerError::Tls(format!("{what}: {e}"));
        let certs = self.certificates()?;
        let key = PrivateKeyDer::from_pem_slice(&self.key_pem)
            .map_err(|e| bad("the key file holds no usable private key", &e))?;
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let mut cfg = rustls::ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .map_err(|e| bad("TLS", &e))?
            .with_no_client_auth()
            .with_single_cert(certs, key)
            .map_err(|e| bad("the certificate and key do not make a TLS identity", &e))?;
        cfg.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
        Ok(tokio_rustls::TlsAcceptor::from(Arc::new(cfg)))
    }

    fn certificates(&self) -> Result<Vec<CertificateDer<'static>>, ServerError> {
        let certs = CertificateDer::pem_slice_iter(&self.cert_chain_pem)
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| ServerError::Tls(format!("the certificate file is not valid PEM: {e}")))?;
        if certs.is_empty() {
            return Err(ServerError::Tls(
                "the certificate file holds no certificate (expected PEM with BEGIN CERTIFICATE)"
                    .into(),
            ));
        }
        Ok(certs)
    }

    /// Why rustls clients (box-chunked's among them) would refuse this
    /// certificate as a server's even when they trust its issuer, if they
    /// would: a certificate authority's certificate used as the server's
    /// (basic constraints `CA:TRUE`, as `openssl req -x509` makes by
    /// default). `None` when it is usable or cannot be told.
    pub fn refusal(&self) -> Option<String> {
        let certs = self.certificates().ok()?;
        let (leaf, rest) = certs.split_first()?;
        let mut roots = rustls::RootCertStore::empty();
        roots.add(certs.last()?.clone()).ok()?;
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let verifier =
            rustls::client::WebPkiServerVerifier::builder_with_provider(Arc::new(roots), provider)
                .build()
                .ok()?;
        let name = rustls_pki_types::ServerName::try_from("localhost").ok()?;
        let now = rustls_pki_types::UnixTime::now();
        match verifier.verify_server_cert(leaf, rest, &name, &[], now) {
            Err(rustls::Error::InvalidCertificate(rustls::CertificateError::Other(o)))
                if format!("{o:?}").contains("CaUsedAsEndEntity") =>
            {
                Some("it is a certificate authority's certificate (basic constraints CA:TRUE, which `openssl req -x509` makes by default), and TLS clients built on rustls refuse that as a server's certificate".into())
            }
            _ => None,
        }
    }

    /// A certificate authority and a server certificate for `127.0.0.1`,
    /// `::1` and `localhost` signed by it, in `dir` (`ca.pem`,
    /// `server.pem`, `server-key.pem`, the key owner-only): made once and
    /// reused, so that clients keep trusting the CA across restarts. The
    /// identity, and the CA file to give clients.
    pub fn self_signed_in(dir: &Path) -> Result<(Self, PathBuf), ServerError> {
        let io = |what: &Path, e: std::io::Error| {
            ServerError::Tls(format!("cannot write {}: {e}", what.display()))
        };
        let (ca, cert, key) = (
            dir.join("ca.pem"),
            dir.join("server.pem"),
            dir.join("server-key.pem"),
        );
        if let (Ok(c), Ok(k)) = (std::fs::read(&cert), std::fs::read(&key)) {
            if ca.is_file() {
                return Ok((
                    Self {
                        cert_chain_pem: c,
                        key_pem: k,
                    },
                    ca,
                ));
            }
        }
        let (ca_pem, cert_pem, key_pem) =
            make_pair().map_err(|e| ServerError::Tls(format!("cannot make a certificate: {e}")))?;
        std::fs::create_dir_all(dir).map_err(|e| io(dir, e))?;
        std::fs::write(&ca, &ca_pem).map_err(|e| io(&ca, e))?;
        std::fs::write(&cert, &cert_pem).map_err(|e| io(&cert, e))?;
        write_private(&key, key_pem.as_bytes()).map_err(|e| io(&key, e))?;
        Ok((
            Self {
                cert_chain_pem: cert_pem.into_bytes(),
                key_pem: key_pem.into_bytes(),
            },
            ca,
        ))
    }
}

/// A CA, and a server certificate it signed: (CA PEM, certificate PEM, key PEM).
fn make_pair() -> Result<(String, String, String), rcgen::Error> {
    use rcgen::{BasicConstraints, CertificateParams, CertifiedIssuer, DnType, IsCa, KeyPair};
    let mut ca = CertificateParams::new(Vec::<String>::new())?;
    ca.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca.distinguished_name
        .push(DnType::CommonName, "box-chunked local CA");
    let ca = CertifiedIssuer::self_signed(ca, KeyPair::generate()?)?;
    let names = ["localhost", "127.0.0.1", "::1"]
        .map(str::to_owned)
        .to_vec();
    let mut leaf = CertificateParams::new(names)?;
    leaf.distinguished_name
        .push(DnType::CommonName, "box-chunked local server");
    let key = KeyPair::generate()?;
    let cert = leaf.signed_by(&key, &ca)?;
    Ok((ca.pem(), cert.pem(), key.serialize_pem()))
}

/// Writes a private key readable by its owner only.
fn write_private(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    use std::io::Write as _;
    let mut o = std::fs::OpenOptions::new();
    o.write(true).create(true).truncate(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut o, 0o600);
    o.open(path)?.write_all(bytes)
}
