//! TLS for the emulators at the real host names: a throw-away certificate authority generated in
//! memory ([`Authority`], crate `rcgen`), leaf certificates for the real Azure/Microsoft host names
//! signed by it, the rustls server configuration that presents them, the CA bundle for the
//! client's `SSL_CERT_FILE`, and the two serving helpers that put an axum router on a loopback
//! port: [`serve_tls`] (every emulator of an https API) and [`serve_plain`] (the managed-identity
//! endpoint, which is plain http on loopback as on App Service); [`error_chain`] says why a client's
//! request failed, certificate causes included.
//!
//! Nothing here weakens the client: the real binary verifies the emulators' certificates exactly
//! as it verifies Azure's, because the CA is added to its trust store through `SSL_CERT_FILE`
//! (see [`Authority::write_bundle`]). rustls-platform-verifier on Linux reads the roots through
//! rustls-native-certs: when `SSL_CERT_FILE` or `SSL_CERT_DIR` is set, ONLY those locations are
//! read (the system store is not consulted), which is why the bundle carries the system roots too.

use std::convert::Infallible;
use std::fmt;
use std::net::{Ipv4Addr, SocketAddr};
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use hyper_util::rt::TokioIo;
use hyper_util::service::TowerToHyperService;
use rcgen::{
    BasicConstraints, CertificateParams, CertifiedIssuer, DistinguishedName, DnType,
    ExtendedKeyUsagePurpose, IsCa, KeyPair, KeyUsagePurpose,
};
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpListener;
use tokio_rustls::TlsAcceptor;

use crate::faults::AbortConnection;

/// System CA bundles, in the order they are tried by [`Authority::write_bundle`] (Debian/Ubuntu/
/// Alpine/Nix, then Fedora/RHEL, then macOS/BSD).
pub const SYSTEM_BUNDLES: [&str; 3] = [
    "/etc/ssl/certs/ca-certificates.crt",
    "/etc/pki/tls/certs/ca-bundle.crt",
    "/etc/ssl/cert.pem",
];

/// How long a client may take to finish the TLS handshake before the connection is dropped.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// What can go wrong while making certificates or TLS configurations.
#[derive(Debug)]
pub enum TlsError {
    /// Generating a key or certificate failed (also: a host name that is not a valid DNS name).
    Certificate(rcgen::Error),
    /// rustls refused the certificate/key or the protocol configuration.
    Rustls(rustls::Error),
    /// Reading the system bundle or writing the CA bundle failed.
    Io(std::io::Error),
    /// A leaf certificate needs at least one host name.
    NoHosts,
}

impl fmt::Display for TlsError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TlsError::Certificate(e) => write!(f, "certificate generation failed: {e}"),
            TlsError::Rustls(e) => write!(f, "TLS configuration failed: {e}"),
            TlsError::Io(e) => write!(f, "CA bundle i/o failed: {e}"),
            TlsError::NoHosts => f.write_str("a leaf certificate needs at least one host name"),
        }
    }
}

impl std::error::Error for TlsError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            TlsError::Certificate(e) => Some(e),
            TlsError::Rustls(e) => Some(e),
            TlsError::Io(e) => Some(e),
            TlsError::NoHosts => None,
        }
    }
}

impl From<rcgen::Error> for TlsError {
    fn from(e: rcgen::Error) -> Self {
        TlsError::Certificate(e)
    }
}

impl From<rustls::Error> for TlsError {
    fn from(e: rustls::Error) -> Self {
        TlsError::Rustls(e)
    }
}

impl From<std::io::Error> for TlsError {
    fn from(e: std::io::Error) -> Self {
        TlsError::Io(e)
    }
}

/// A throw-away certificate authority, generated in memory (ECDSA P-256). Its private key never
/// leaves the process; only the certificate is exported ([`Authority::ca_pem`],
/// [`Authority::write_bundle`]).
pub struct Authority {
    ca: CertifiedIssuer<'static, KeyPair>,
}

impl fmt::Debug for Authority {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Authority").finish_non_exhaustive()
    }
}

/// Validity window for generated certificates: from a day ago (clock skew) to a year from now.
fn validity(params: &mut CertificateParams) {
    let now = time::OffsetDateTime::now_utc();
    params.not_before = now - time::Duration::days(1);
    params.not_after = now + time::Duration::days(365);
}

impl Authority {
    /// Generates a new CA.
    pub fn new() -> Result<Authority, TlsError> {
        let mut params = CertificateParams::default();
        let mut name = DistinguishedName::new();
        name.push(DnType::OrganizationName, "entra-databricks-sync sandbox");
        name.push(
            DnType::CommonName,
            "entra-databricks-sync sandbox throw-away CA",
        );
        params.distinguished_name = name;
        params.is_ca = IsCa::Ca(BasicConstraints::Constrained(0));
        params.key_usages = vec![
            KeyUsagePurpose::KeyCertSign,
            KeyUsagePurpose::CrlSign,
            KeyUsagePurpose::DigitalSignature,
        ];
        validity(&mut params);
        let ca = CertifiedIssuer::self_signed(params, KeyPair::generate()?)?;
        Ok(Authority { ca })
    }

    /// The CA certificate in PEM form (what a client must trust).
    pub fn ca_pem(&self) -> String {
        self.ca.pem()
    }

    /// The CA certificate in DER form.
    pub fn ca_der(&self) -> CertificateDer<'static> {
        self.ca.der().clone()
    }

    /// A leaf certificate for `hosts` signed by this CA, and its key.
    fn leaf(&self, hosts: &[&str]) -> Result<(rcgen::Certificate, KeyPair), TlsError> {
        let Some(first) = hosts.first() else {
            return Err(TlsError::NoHosts);
        };
        let mut params =
            CertificateParams::new(hosts.iter().map(|h| h.to_string()).collect::<Vec<_>>())?;
        params
            .distinguished_name
            .push(DnType::CommonName, first.to_string());
        params.is_ca = IsCa::ExplicitNoCa;
        params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
        params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
        params.use_authority_key_identifier_extension = true;
        validity(&mut params);
        let key = KeyPair::generate()?;
        let leaf = params.signed_by(&key, &self.ca)?;
        Ok((leaf, key))
    }

    /// A rustls server config presenting one leaf certificate (signed by this CA, chain leaf+CA)
    /// valid for all `hosts` (DNS names; wildcards like "*.vault.azure.net" allowed). It uses the
    /// `ring` provider explicitly (no process-wide default provider is needed) and advertises
    /// ALPN `http/1.1`.
    pub fn server_config(&self, hosts: &[&str]) -> Result<Arc<rustls::ServerConfig>, TlsError> {
        let (leaf, key) = self.leaf(hosts)?;
        let chain = vec![leaf.der().clone(), self.ca.der().clone()];
        let key = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(key.serialize_der()));
        let mut config = rustls::ServerConfig::builder_with_provider(Arc::new(
            rustls::crypto::ring::default_provider(),
        ))
        .with_safe_default_protocol_versions()?
        .with_no_client_auth()
        .with_single_cert(chain, key)?;
        config.alpn_protocols = vec![b"http/1.1".to_vec()];
        Ok(Arc::new(config))
    }

    /// A leaf certificate for `hosts` as PEM files' contents, for a server that is not ours (Azurite
    /// takes `--cert`/`--key` paths): the chain (leaf, then this CA) and the PKCS#8 private key.
    pub fn leaf_pem(&self, hosts: &[&str]) -> Result<(String, String), TlsError> {
        let (leaf, key) = self.leaf(hosts)?;
        Ok((
            format!("{}{}", leaf.pem(), self.ca.pem()),
            key.serialize_pem(),
        ))
    }

    /// Writes a PEM bundle for `SSL_CERT_FILE`: the system roots (first existing of
    /// [`SYSTEM_BUNDLES`]; none is fine) followed by this CA. The system roots matter: once
    /// `SSL_CERT_FILE` is set, rustls-native-certs reads only that file (plus `SSL_CERT_DIR` if
    /// set), never the system store.
    pub fn write_bundle(&self, path: &Path) -> Result<(), TlsError> {
        let mut bundle = String::new();
        for candidate in SYSTEM_BUNDLES {
            match std::fs::read_to_string(candidate) {
                Ok(system) => {
                    bundle.push_str(&system);
                    break;
                }
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
                Err(e) => return Err(TlsError::Io(e)),
            }
        }
        if !bundle.is_empty() && !bundle.ends_with('\n') {
            bundle.push('\n');
        }
        bundle.push_str("# entra-databricks-sync sandbox throw-away CA\n");
        bundle.push_str(&self.ca_pem());
        if !bundle.ends_with('\n') {
            bundle.push('\n');
        }
        std::fs::write(path, bundle)?;
        Ok(())
    }
}

/// Binds 127.0.0.1:0.
async fn bind_loopback() -> std::io::Result<(TcpListener, SocketAddr)> {
    let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).await?;
    let addr = listener.local_addr()?;
    Ok((listener, addr))
}

/// The error that makes hyper close a connection without answering (see [`AbortConnection`]).
#[derive(Debug)]
struct Aborted;

impl fmt::Display for Aborted {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("connection closed by an injected fault")
    }
}

impl std::error::Error for Aborted {}

/// Serves one HTTP/1.1 connection with `router` until the client closes it. An answer marked
/// [`AbortConnection`] is not sent: the connection is closed instead.
async fn serve_connection<I>(io: I, router: axum::Router)
where
    I: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let inner = TowerToHyperService::new(router);
    let service =
        hyper::service::service_fn(move |request: hyper::Request<hyper::body::Incoming>| {
            let answer = hyper::service::Service::call(&inner, request);
            async move {
                let response = match answer.await {
                    Ok(response) => response,
                    Err(never) => match never {},
                };
                if response.extensions().get::<AbortConnection>().is_some() {
                    Err(Aborted)
                } else {
                    Ok(response)
                }
            }
        });
    if let Err(e) = hyper::server::conn::http1::Builder::new()
        .serve_connection(TokioIo::new(io), service)
        .await
    {
        tracing::debug!(error = %e, "sandbox: connection ended with an error");
    }
}

/// Accepts connections forever, handing each to `handle` in its own task. Accept errors (for
/// example running out of file descriptors) are logged and retried after a short pause.
async fn accept_loop<F, Fut>(listener: TcpListener, handle: F) -> Infallible
where
    F: Fn(tokio::net::TcpStream) -> Fut,
    Fut: Future<Output = ()> + Send + 'static,
{
    loop {
        match listener.accept().await {
            Ok((stream, _peer)) => {
                // As HTTP servers do: without it, a response written in two segments waits for the
                // client's delayed ACK (up to 40 ms on Linux) and every emulated call gets slower.
                let _ = stream.set_nodelay(true);
                tokio::spawn(handle(stream));
            }
            Err(e) => {
                tracing::warn!(error = %e, "sandbox: accept failed");
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        }
    }
}

/// Serves `router` over TLS on 127.0.0.1:0 in a background tokio task (which lives as long as the
/// runtime); returns the bound address. HTTP/1.1 only (ALPN `http/1.1`), which reqwest and the
/// Azure SDK both accept.
pub async fn serve_tls(
    router: axum::Router,
    config: Arc<rustls::ServerConfig>,
) -> std::io::Result<SocketAddr> {
    let (listener, addr) = bind_loopback().await?;
    let acceptor = TlsAcceptor::from(config);
    tokio::spawn(accept_loop(listener, move |stream| {
        let acceptor = acceptor.clone();
        let router = router.clone();
        async move {
            match tokio::time::timeout(HANDSHAKE_TIMEOUT, acceptor.accept(stream)).await {
                Ok(Ok(tls)) => serve_connection(tls, router).await,
                Ok(Err(e)) => tracing::debug!(error = %e, "sandbox: TLS handshake failed"),
                Err(_) => tracing::debug!("sandbox: TLS handshake timed out"),
            }
        }
    }));
    Ok(addr)
}

/// Serves `router` over plain HTTP on 127.0.0.1:0 in a background tokio task (for the
/// managed-identity endpoint, which is plain http on loopback as on App Service); returns the
/// bound address.
pub async fn serve_plain(router: axum::Router) -> std::io::Result<SocketAddr> {
    let (listener, addr) = bind_loopback().await?;
    tokio::spawn(accept_loop(listener, move |stream| {
        serve_connection(stream, router.clone())
    }));
    Ok(addr)
}

/// An error with its whole source chain, on one line (`outer <- cause <- root cause`): a TLS failure's
/// reason (unknown issuer, name mismatch) is several sources down a reqwest error.
pub fn error_chain(e: &dyn std::error::Error) -> String {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        text.push_str(" <- ");
        text.push_str(&s.to_string());
        source = s.source();
    }
    text
}
