//! TLS for the cluster's gRPC links (rustls through tonic): what a client or
//! worker trusts and presents ([`ClientTls`]), what the scheduler serves and
//! requires ([`ServerTls`]). Files are PEM; errors name the file.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use tonic::transport::{Certificate, ClientTlsConfig, Identity, ServerTlsConfig};

/// A client's (CLI, worker) TLS files: the CA that signed the scheduler's
/// certificate (system roots when unset) and, for mutual TLS, its own
/// certificate and key.
#[derive(Debug, Clone, Default)]
pub struct ClientTls {
    /// CA certificate(s) to trust (`--tls-ca`, `GEOZARR_TLS_CA`).
    pub ca: Option<PathBuf>,
    /// Own certificate for mutual TLS (`--tls-cert`, `GEOZARR_TLS_CERT`).
    pub cert: Option<PathBuf>,
    /// Its private key (`--tls-key`, `GEOZARR_TLS_KEY`).
    pub key: Option<PathBuf>,
}

fn env_path(name: &str) -> Option<PathBuf> {
    std::env::var_os(name)
        .filter(|v| !v.is_empty())
        .map(PathBuf::from)
}

fn read(path: &Path, what: &str) -> Result<Vec<u8>, String> {
    let b = std::fs::read(path)
        .map_err(|e| format!("{}: cannot read the {what}: {e}", path.display()))?;
    if !String::from_utf8_lossy(&b).contains("-----BEGIN ") {
        return Err(format!("{}: not a PEM file (the {what})", path.display()));
    }
    Ok(b)
}

/// Make ring rustls's process-wide provider (tonic's server asks for it;
/// with several providers compiled in, rustls cannot pick one itself).
/// Idempotent.
fn install_provider() {
    let _ = rustls::crypto::ring::default_provider().install_default();
}

fn identity(cert: &Path, key: &Path) -> Result<Identity, String> {
    Ok(Identity::from_pem(
        read(cert, "TLS certificate")?,
        read(key, "TLS key")?,
    ))
}

impl ClientTls {
    /// From `GEOZARR_TLS_CA`, `GEOZARR_TLS_CERT`, `GEOZARR_TLS_KEY`.
    pub fn from_env() -> Self {
        ClientTls {
            ca: env_path("GEOZARR_TLS_CA"),
            cert: env_path("GEOZARR_TLS_CERT"),
            key: env_path("GEOZARR_TLS_KEY"),
        }
    }

    /// These files where given, else the environment's.
    pub fn or_env(self) -> Self {
        let env = ClientTls::from_env();
        ClientTls {
            ca: self.ca.or(env.ca),
            cert: self.cert.or(env.cert),
            key: self.key.or(env.key),
        }
    }

    /// Is any file set?
    pub fn is_set(&self) -> bool {
        self.ca.is_some() || self.cert.is_some() || self.key.is_some()
    }

    /// The tonic configuration for `url`: `None` for `http://` (and then no
    /// file may be set), TLS for `https://`.
    pub fn config(&self, url: &str) -> Result<Option<ClientTlsConfig>, String> {
        if !url.starts_with("https://") {
            if self.is_set() {
                return Err(format!(
                    "{url}: TLS files are set but the URL is not https:// (use https://HOST:PORT)"
                ));
            }
            return Ok(None);
        }
        install_provider();
        let mut c = ClientTlsConfig::new();
        match &self.ca {
            Some(ca) => c = c.ca_certificate(Certificate::from_pem(read(ca, "TLS CA")?)),
            None => c = c.with_native_roots(),
        }
        match (&self.cert, &self.key) {
            (Some(cert), Some(key)) => c = c.identity(identity(cert, key)?),
            (None, None) => {}
            _ => return Err("--tls-cert and --tls-key go together (mutual TLS)".into()),
        }
        Ok(Some(c))
    }
}

/// The scheduler's TLS: its certificate and key, and for mutual TLS the CA
/// that client and worker certificates must be signed by.
#[derive(Debug, Clone)]
pub struct ServerTls {
    /// Certificate chain (`--tls-cert`).
    pub cert: PathBuf,
    /// Private key (`--tls-key`).
    pub key: PathBuf,
    /// Require client certificates signed by this CA (`--tls-client-ca`).
    pub client_ca: Option<PathBuf>,
}

impl ServerTls {
    /// The tonic configuration (files read now: a bad file fails at start).
    pub fn config(&self) -> Result<ServerTlsConfig, String> {
        install_provider();
        let mut c = ServerTlsConfig::new().identity(identity(&self.cert, &self.key)?);
        if let Some(ca) = &self.client_ca {
            c = c.client_ca_root(Certificate::from_pem(read(ca, "TLS client CA")?));
        }
        Ok(c)
    }
}

/// Why a scheduler must not start as configured: a token sent in clear
/// over a network (listening beyond loopback with a token and no TLS),
/// unless `insecure` says the network is trusted.
pub fn refuse_cleartext(
    listen: SocketAddr,
    token: bool,
    tls: bool,
    insecure: bool,
) -> Option<String> {
    (token && !tls && !insecure && !listen.ip().is_loopback()).then(|| {
        format!(
            "refusing to listen on {listen} with GEOZARR_TOKEN but without TLS: the token would \
             cross the network in clear. Give --tls-cert and --tls-key (and --tls-ca to workers \
             and clients), or --insecure if this network is trusted"
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cleartext_tokens_are_refused_beyond_loopback_only() {
        let lo: SocketAddr = "127.0.0.1:8786".parse().unwrap();
        let any: SocketAddr = "0.0.0.0:8786".parse().unwrap();
        let v6: SocketAddr = "[::1]:8786".parse().unwrap();
        assert!(refuse_cleartext(lo, true, false, false).is_none());
        assert!(refuse_cleartext(v6, true, false, false).is_none());
        let why = refuse_cleartext(any, true, false, false).unwrap();
        assert!(
            why.contains("0.0.0.0:8786") && why.contains("--insecure"),
            "{why}"
        );
        assert!(refuse_cleartext(any, true, true, false).is_none());
        assert!(refuse_cleartext(any, true, false, true).is_none());
        assert!(refuse_cleartext(any, false, false, false).is_none());
    }

    #[test]
    fn files_need_https_and_come_in_pairs() {
        let t = ClientTls {
            ca: Some("/nonexistent/ca.pem".into()),
            ..Default::default()
        };
        let e = t.config("http://h:1").unwrap_err();
        assert!(e.contains("https://"), "{e}");
        let e = t.config("https://h:1").unwrap_err();
        assert!(
            e.contains("/nonexistent/ca.pem") && e.contains("cannot read"),
            "{e}"
        );
        assert!(ClientTls::default().config("http://h:1").unwrap().is_none());
        let half = ClientTls {
            cert: Some("c.pem".into()),
            ..Default::default()
        };
        assert!(half
            .config("https://h:1")
            .unwrap_err()
            .contains("go together"));
    }
}
