//! TLS client configurations: system CAs plus `certs_dir/HOST[:PORT]/*.crt`,
//! an optional client certificate (`*.cert` + `*.key`), and the
//! no-verification configuration Docker uses for insecure registries.

use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, OnceLock};

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::CryptoProvider;
use rustls::{ClientConfig, DigitallySignedStruct, RootCertStore, SignatureScheme};
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer, ServerName, UnixTime};

use crate::error::RegistryError;

const MAX_CACHED: usize = 64;

fn provider() -> Arc<CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

/// Per-authority TLS configurations, built lazily and cached.
pub(crate) struct TlsConfigs {
    certs_dir: PathBuf,
    insecure_hosts: Mutex<HashSet<String>>,
    per_host: Mutex<HashMap<String, Arc<ClientConfig>>>,
    system_roots: OnceLock<Arc<RootCertStore>>,
    insecure: OnceLock<Arc<ClientConfig>>,
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    match m.lock() {
        Ok(g) => g,
        Err(p) => p.into_inner(),
    }
}

impl TlsConfigs {
    pub(crate) fn new(certs_dir: PathBuf) -> TlsConfigs {
        TlsConfigs {
            certs_dir,
            insecure_hosts: Mutex::new(HashSet::new()),
            per_host: Mutex::new(HashMap::new()),
            system_roots: OnceLock::new(),
            insecure: OnceLock::new(),
        }
    }

    /// Marks an authority as insecure: its certificate is not checked.
    pub(crate) fn mark_insecure(&self, authority: &str) {
        let mut set = lock(&self.insecure_hosts);
        if set.len() < 4 * MAX_CACHED || set.contains(authority) {
            set.insert(authority.to_owned());
        }
    }

    /// The configuration for connecting to `authority` (`host[:port]` as in
    /// the URL). Blocking: reads files on first use of an authority.
    pub(crate) fn config_for(&self, authority: &str) -> Result<Arc<ClientConfig>, RegistryError> {
        if lock(&self.insecure_hosts).contains(authority) {
            return self.insecure_config();
        }
        if let Some(c) = lock(&self.per_host).get(authority) {
            return Ok(c.clone());
        }
        let config = Arc::new(self.build(authority)?);
        let mut map = lock(&self.per_host);
        if map.len() >= MAX_CACHED {
            map.clear();
        }
        map.insert(authority.to_owned(), config.clone());
        Ok(config)
    }

    fn roots(&self) -> Arc<RootCertStore> {
        self.system_roots
            .get_or_init(|| {
                let mut store = RootCertStore::empty();
                let loaded = rustls_native_certs::load_native_certs();
                for e in &loaded.errors {
                    tracing::warn!(error = %e, "cannot load some system CA certificates");
                }
                let (added, ignored) = store.add_parsable_certificates(loaded.certs);
                tracing::debug!(added, ignored, "loaded system CA certificates");
                Arc::new(store)
            })
            .clone()
    }

    fn build(&self, authority: &str) -> Result<ClientConfig, RegistryError> {
        let mut roots = (*self.roots()).clone();
        // `authority` was validated (no '/', no "..") before it got here;
        // a host that did not is just looked up and not found.
        let dir = self.certs_dir.join(authority);
        let material = read_certs_dir(&dir)?;
        for ca in material.cas {
            roots.add(ca).map_err(|e| RegistryError::TlsMaterial {
                path: dir.clone(),
                reason: format!("bad CA certificate: {e}"),
            })?;
        }
        let builder = ClientConfig::builder_with_provider(provider())
            .with_safe_default_protocol_versions()
            .map_err(|e| tls_err(&dir, e))?
            .with_root_certificates(roots);
        let mut config = match material.client {
            Some((path, certs, key)) => builder
                .with_client_auth_cert(certs, key)
                .map_err(|e| tls_err(&path, e))?,
            None => builder.with_no_client_auth(),
        };
        config.alpn_protocols = vec![b"http/1.1".to_vec()];
        Ok(config)
    }

    fn insecure_config(&self) -> Result<Arc<ClientConfig>, RegistryError> {
        if let Some(c) = self.insecure.get() {
            return Ok(c.clone());
        }
        let p = provider();
        let mut config = ClientConfig::builder_with_provider(p.clone())
            .with_safe_default_protocol_versions()
            .map_err(|e| tls_err(Path::new("-"), e))?
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(NoVerify(p)))
            .with_no_client_auth();
        config.alpn_protocols = vec![b"http/1.1".to_vec()];
        Ok(self.insecure.get_or_init(|| Arc::new(config)).clone())
    }
}

fn tls_err(path: &Path, e: rustls::Error) -> RegistryError {
    RegistryError::TlsMaterial {
        path: path.to_owned(),
        reason: e.to_string(),
    }
}

type ClientMaterial = (
    PathBuf,
    Vec<CertificateDer<'static>>,
    PrivateKeyDer<'static>,
);

#[derive(Default)]
struct CertsDir {
    cas: Vec<CertificateDer<'static>>,
    client: Option<ClientMaterial>,
}

/// Reads Docker's per-host directory: every `*.crt` is a CA bundle, every
/// `*.cert` needs a matching `*.key` (and the reverse). rustls takes one
/// client certificate: the first pair by name is used.
fn read_certs_dir(dir: &Path) -> Result<CertsDir, RegistryError> {
    let mut out = CertsDir::default();
    let entries = match std::fs::read_dir(dir) {
        Ok(e) => e,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(out),
        Err(e) => {
            return Err(RegistryError::TlsMaterial {
                path: dir.to_owned(),
                reason: e.to_string(),
            })
        }
    };
    let mut names: Vec<String> = entries
        .filter_map(|e| e.ok())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    let material = |path: &Path, reason: String| RegistryError::TlsMaterial {
        path: path.to_owned(),
        reason,
    };
    for name in &names {
        let path = dir.join(name);
        if name.ends_with(".crt") {
            let certs: Result<Vec<_>, _> = CertificateDer::pem_file_iter(&path)
                .map_err(|e| material(&path, e.to_string()))?
                .collect();
            out.cas
                .extend(certs.map_err(|e| material(&path, e.to_string()))?);
        } else if let Some(stem) = name.strip_suffix(".cert") {
            let key_name = format!("{stem}.key");
            if !names.contains(&key_name) {
                return Err(material(
                    &path,
                    format!("missing key {key_name} for client certificate {name}. Note that CA certificates should use the extension .crt"),
                ));
            }
            if out.client.is_some() {
                tracing::warn!(path = %path.display(), "only one client certificate is used per registry");
                continue;
            }
            let certs: Result<Vec<_>, _> = CertificateDer::pem_file_iter(&path)
                .map_err(|e| material(&path, e.to_string()))?
                .collect();
            let certs = certs.map_err(|e| material(&path, e.to_string()))?;
            let key_path = dir.join(&key_name);
            let key = PrivateKeyDer::from_pem_file(&key_path)
                .map_err(|e| material(&key_path, e.to_string()))?;
            out.client = Some((path, certs, key));
        } else if let Some(stem) = name.strip_suffix(".key") {
            if !names.contains(&format!("{stem}.cert")) {
                return Err(material(
                    &path,
                    format!("missing client certificate {stem}.cert for key {name}"),
                ));
            }
        }
    }
    Ok(out)
}

/// Accepts any certificate but still checks handshake signatures: Docker's
/// `InsecureSkipVerify` for insecure registries. rustls has no built-in
/// switch for this, hence the small hand-written verifier.
#[derive(Debug)]
struct NoVerify(Arc<CryptoProvider>);

impl ServerCertVerifier for NoVerify {
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
        rustls::crypto::verify_tls12_signature(
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
        rustls::crypto::verify_tls13_signature(
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

#[cfg(test)]
mod tests {
    use super::*;

    fn write(dir: &Path, name: &str, body: &str) {
        std::fs::write(dir.join(name), body).unwrap();
    }

    #[test]
    fn missing_dir_is_empty() {
        let tmp = tempfile::tempdir().unwrap();
        let got = read_certs_dir(&tmp.path().join("nope:5000")).unwrap();
        assert!(got.cas.is_empty() && got.client.is_none());
    }

    #[test]
    fn cert_without_key_is_an_error_like_docker() {
        let tmp = tempfile::tempdir().unwrap();
        write(tmp.path(), "client.cert", "");
        let err = read_certs_dir(tmp.path()).err().unwrap();
        assert!(err
            .to_string()
            .contains("missing key client.key for client certificate client.cert"));
        let tmp = tempfile::tempdir().unwrap();
        write(tmp.path(), "client.key", "");
        let err = read_certs_dir(tmp.path()).err().unwrap();
        assert!(err
            .to_string()
            .contains("missing client certificate client.cert"));
    }

    #[test]
    fn cas_and_client_pairs_are_loaded() {
        let tmp = tempfile::tempdir().unwrap();
        let ca = rcgen::generate_simple_self_signed(vec!["reg.test".into()]).unwrap();
        let client = rcgen::generate_simple_self_signed(vec!["client".into()]).unwrap();
        write(tmp.path(), "ca.crt", &ca.cert.pem());
        write(tmp.path(), "client.cert", &client.cert.pem());
        write(tmp.path(), "client.key", &client.key_pair.serialize_pem());
        let got = read_certs_dir(tmp.path()).unwrap();
        assert_eq!(got.cas.len(), 1);
        assert_eq!(got.client.as_ref().map(|c| c.1.len()), Some(1));
        let configs = TlsConfigs::new(tmp.path().parent().unwrap().to_owned());
        let host = tmp.path().file_name().unwrap().to_str().unwrap().to_owned();
        let config = configs.config_for(&host).unwrap();
        assert!(config.client_auth_cert_resolver.has_certs());
        assert!(Arc::ptr_eq(&config, &configs.config_for(&host).unwrap()));
        configs.mark_insecure(&host);
        assert!(!Arc::ptr_eq(&config, &configs.config_for(&host).unwrap()));
    }

    #[test]
    fn garbage_pem_is_an_error() {
        let tmp = tempfile::tempdir().unwrap();
        write(
            tmp.path(),
            "client.cert",
            "-----BEGIN CERTIFICATE-----\n!!!\n-----END CERTIFICATE-----\n",
        );
        write(tmp.path(), "client.key", "nothing");
        assert!(read_certs_dir(tmp.path()).is_err());
    }
}
