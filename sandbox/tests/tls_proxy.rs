//! Tests of the TLS + CONNECT-proxy setup that lets the real binary reach the emulators at the
//! real host names ([`sandbox::tls`], [`sandbox::proxy`]). The key tests run the `default_client`
//! binary of this package (`src/bin/default_client.rs`) as a child process holding a DEFAULT
//! `reqwest::Client` configured only through the environment (`HTTPS_PROXY`, `NO_PROXY`,
//! `SSL_CERT_FILE`), exactly as the production `handler` would be.

// Test code: a panic is how a test and its helpers report a broken precondition, so the crate's
// lints against unwrap/expect (meant for the emulators themselves) do not apply here.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};

use axum::Router;
use axum::http::{HeaderMap, Uri};
use sandbox::proxy::ConnectProxy;
use sandbox::tls::{Authority, error_chain, serve_plain, serve_tls};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

const GRAPH: &str = "graph.microsoft.com";
const DATABRICKS: &str = "adb-1234567890123456.7.azuredatabricks.net";
const VAULT_WILDCARD: &str = "*.vault.azure.net";

/// Every variable that steers reqwest's proxy choice or rustls-native-certs' roots: the child
/// starts without any of them, then gets exactly the ones a case sets.
const CONTROLLED_VARS: [&str; 11] = [
    "HTTPS_PROXY",
    "https_proxy",
    "HTTP_PROXY",
    "http_proxy",
    "ALL_PROXY",
    "all_proxy",
    "NO_PROXY",
    "no_proxy",
    "SSL_CERT_FILE",
    "SSL_CERT_DIR",
    "REQUEST_METHOD",
];

/// An emulator stand-in: answers every request with the Host header and path it saw.
fn echo_router(name: &'static str) -> Router {
    Router::new().fallback(move |headers: HeaderMap, uri: Uri| async move {
        let host = headers
            .get("host")
            .and_then(|h| h.to_str().ok())
            .unwrap_or("-")
            .to_string();
        format!("{name} host={host} path={}", uri.path())
    })
}

/// A CA, one TLS emulator for the real names, a plain loopback emulator and a proxy routing
/// Graph, Databricks and any Key Vault to the TLS emulator.
struct Fixture {
    authority: Authority,
    tls: SocketAddr,
    plain: SocketAddr,
    proxy: ConnectProxy,
}

async fn fixture() -> Fixture {
    let authority = Authority::new().unwrap();
    let config = authority
        .server_config(&[GRAPH, DATABRICKS, VAULT_WILDCARD])
        .unwrap();
    let tls = serve_tls(echo_router("tls-emulator"), config)
        .await
        .unwrap();
    let plain = serve_plain(echo_router("plain-emulator")).await.unwrap();
    let routes = HashMap::from([
        (format!("{GRAPH}:443"), tls),
        (format!("{DATABRICKS}:443"), tls),
    ]);
    let proxy = ConnectProxy::start(routes).await.unwrap();
    proxy.add_route(&format!("{VAULT_WILDCARD}:443"), tls);
    Fixture {
        authority,
        tls,
        plain,
        proxy,
    }
}

/// A client configured explicitly (not through the environment): proxy + the CA.
fn explicit_client(f: &Fixture) -> reqwest::Client {
    let ca = reqwest::Certificate::from_pem(f.authority.ca_pem().as_bytes()).unwrap();
    reqwest::Client::builder()
        .proxy(reqwest::Proxy::https(f.proxy.url()).unwrap())
        .tls_certs_merge([ca])
        .build()
        .unwrap()
}

/// A unique path in the temp dir, removed on drop.
struct TempPath(PathBuf);

impl TempPath {
    fn new(name: &str) -> TempPath {
        static N: AtomicUsize = AtomicUsize::new(0);
        let n = N.fetch_add(1, Ordering::Relaxed);
        TempPath(std::env::temp_dir().join(format!(
            "sandbox-tls-proxy-{}-{n}-{name}",
            std::process::id()
        )))
    }
}

impl Drop for TempPath {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

// ---------------------------------------------------------------- 1. explicit client

#[tokio::test]
async fn explicit_client_reaches_the_real_names_through_the_proxy() {
    let f = fixture().await;
    let client = explicit_client(&f);

    let res = client
        .get(format!("https://{GRAPH}/v1.0/ping"))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    assert_eq!(
        res.text().await.unwrap(),
        "tls-emulator host=graph.microsoft.com path=/v1.0/ping"
    );

    // A wildcard route and a wildcard certificate name.
    let res = client
        .get("https://kv-sync-prod.vault.azure.net/secrets/databricks-token/")
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    assert_eq!(
        res.text().await.unwrap(),
        "tls-emulator host=kv-sync-prod.vault.azure.net path=/secrets/databricks-token/"
    );

    assert_eq!(
        f.proxy.connects(),
        vec![
            "graph.microsoft.com:443".to_string(),
            "kv-sync-prod.vault.azure.net:443".to_string()
        ]
    );
}

// ---------------------------------------------------------------- 2. default client, env only

/// What the child saw for one URL: `Ok((status, body))` or `Err(error chain)`.
type ChildResult = Result<(u16, String), String>;

/// Runs the `default_client` binary with only `env` among [`CONTROLLED_VARS`], the URLs as arguments.
async fn run_child(env: &[(&str, String)], urls: &[String]) -> HashMap<String, ChildResult> {
    let mut cmd = tokio::process::Command::new(env!("CARGO_BIN_EXE_default_client"));
    cmd.args(urls);
    for var in CONTROLLED_VARS {
        cmd.env_remove(var);
    }
    for (k, v) in env {
        cmd.env(k, v);
    }
    let out = cmd.output().await.unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "child failed: {}\n{stdout}\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(!stdout.contains("CHILD-BUILD-ERR"), "{stdout}");
    let mut results = HashMap::new();
    for line in stdout.lines() {
        let Some(rest) = line.strip_prefix("CHILD-RESULT ") else {
            continue;
        };
        let (url, rest) = rest.split_once(' ').unwrap();
        let result = if let Some(ok) = rest.strip_prefix("OK ") {
            let (status, body) = ok.split_once(' ').unwrap_or((ok, ""));
            Ok((status.parse().unwrap(), body.to_string()))
        } else {
            Err(rest.strip_prefix("ERR ").unwrap_or(rest).to_string())
        };
        results.insert(url.to_string(), result);
    }
    assert_eq!(results.len(), urls.len(), "child output:\n{stdout}");
    results
}

/// The environment the real `handler` gets, with the bundle at `bundle`.
fn production_env(f: &Fixture, cert_file: &std::path::Path) -> Vec<(&'static str, String)> {
    vec![
        ("HTTPS_PROXY", f.proxy.url()),
        ("NO_PROXY", "127.0.0.1,localhost".to_string()),
        ("SSL_CERT_FILE", cert_file.display().to_string()),
    ]
}

#[tokio::test]
async fn default_client_honours_https_proxy_no_proxy_and_ssl_cert_file() {
    let f = fixture().await;
    let bundle = TempPath::new("bundle.pem");
    f.authority.write_bundle(&bundle.0).unwrap();

    // The bundle is the system roots followed by our CA.
    let text = std::fs::read_to_string(&bundle.0).unwrap();
    assert!(
        text.ends_with(&f.authority.ca_pem())
            || text.ends_with(&format!("{}\n", f.authority.ca_pem()))
    );
    if let Some(system) = sandbox::tls::SYSTEM_BUNDLES
        .iter()
        .find_map(|p| std::fs::read_to_string(p).ok())
    {
        assert!(text.starts_with(&system));
    }

    let databricks = format!("https://{DATABRICKS}/api/2.0/preview/scim/v2/Users");
    let identity = format!("http://{}/msi/token", f.plain);
    let results = run_child(
        &production_env(&f, &bundle.0),
        &[databricks.clone(), identity.clone()],
    )
    .await;

    assert_eq!(
        results[&databricks],
        Ok((
            200,
            format!("tls-emulator host={DATABRICKS} path=/api/2.0/preview/scim/v2/Users")
        ))
    );
    // NO_PROXY: the loopback identity endpoint is reached directly, not through the proxy
    // (which would have answered 405 to an absolute-form GET).
    assert_eq!(
        results[&identity],
        Ok((
            200,
            format!("plain-emulator host={} path=/msi/token", f.plain)
        ))
    );
    assert_eq!(f.proxy.connects(), vec![format!("{DATABRICKS}:443")]);

    // Same with SSL_CERT_DIR also set, as on machines (like this one) that export both.
    let mut env = production_env(&f, &bundle.0);
    env.push(("SSL_CERT_DIR", "/etc/ssl/certs".to_string()));
    let results = run_child(&env, std::slice::from_ref(&databricks)).await;
    assert!(matches!(results[&databricks], Ok((200, _))), "{results:?}");
}

#[tokio::test]
async fn default_client_rejects_the_emulator_when_the_ca_is_not_in_its_trust_store() {
    let f = fixture().await;
    let databricks = format!("https://{DATABRICKS}/api/2.0/preview/scim/v2/Users");

    // SSL_CERT_FILE = the plain system bundle (no sandbox CA): the certificate is refused, which
    // proves the CA in the passing test came from SSL_CERT_FILE.
    if let Some(system) = sandbox::tls::SYSTEM_BUNDLES
        .iter()
        .find(|p| std::path::Path::new(p).exists())
    {
        let env = production_env(&f, std::path::Path::new(system));
        let results = run_child(&env, std::slice::from_ref(&databricks)).await;
        let err = results[&databricks].clone().unwrap_err();
        assert!(err.contains("UnknownIssuer"), "{err}");
    }

    // No SSL_CERT_FILE / SSL_CERT_DIR at all: the platform store (openssl-probe locations) is
    // used, which does not know the sandbox CA either.
    let env = vec![
        ("HTTPS_PROXY", f.proxy.url()),
        ("NO_PROXY", "127.0.0.1,localhost".to_string()),
    ];
    let results = run_child(&env, std::slice::from_ref(&databricks)).await;
    let err = results[&databricks].clone().unwrap_err();
    assert!(err.contains("UnknownIssuer"), "{err}");
}

#[tokio::test]
async fn default_client_also_accepts_the_ca_through_ssl_cert_dir() {
    let f = fixture().await;
    let dir = TempPath::new("certs");
    std::fs::create_dir(&dir.0).unwrap();
    // Any file name: rustls-native-certs reads every file in the directory (no c_rehash needed).
    std::fs::write(dir.0.join("sandbox-ca.pem"), f.authority.ca_pem()).unwrap();
    let databricks = format!("https://{DATABRICKS}/ping");
    let env = vec![
        ("HTTPS_PROXY", f.proxy.url()),
        ("NO_PROXY", "127.0.0.1,localhost".to_string()),
        ("SSL_CERT_DIR", dir.0.display().to_string()),
    ];
    let results = run_child(&env, std::slice::from_ref(&databricks)).await;
    assert!(matches!(results[&databricks], Ok((200, _))), "{results:?}");
}

// ---------------------------------------------------------------- 3. failures are clear

#[tokio::test]
async fn unrouted_host_is_refused_with_502_naming_it_and_logged() {
    let f = fixture().await;
    let client = explicit_client(&f);

    let err = client
        .get("https://login.microsoftonline.com/tenant/oauth2/v2.0/token")
        .send()
        .await
        .unwrap_err();
    assert!(err.is_connect(), "{}", error_chain(&err));
    assert!(
        f.proxy
            .connects()
            .contains(&"login.microsoftonline.com:443".to_string())
    );

    // What the client is told, byte for byte.
    let mut raw = TcpStream::connect(f.proxy.addr()).await.unwrap();
    raw.write_all(
        b"CONNECT Unknown.Example.org:443 HTTP/1.1\r\nHost: Unknown.Example.org:443\r\n\r\n",
    )
    .await
    .unwrap();
    let mut answer = String::new();
    raw.read_to_string(&mut answer).await.unwrap();
    assert!(
        answer.starts_with("HTTP/1.1 502 Bad Gateway\r\n"),
        "{answer}"
    );
    assert!(
        answer.contains("no emulator route for CONNECT Unknown.Example.org:443"),
        "{answer}"
    );
    assert_eq!(
        f.proxy.connects().last().map(String::as_str),
        Some("Unknown.Example.org:443")
    );
}

#[tokio::test]
async fn routes_match_host_names_case_insensitively() {
    let f = fixture().await;
    let mut raw = TcpStream::connect(f.proxy.addr()).await.unwrap();
    // Route to the plain emulator so the tunnel can be used without TLS.
    f.proxy.add_route("Plain.Example.Test:80", f.plain);
    raw.write_all(b"CONNECT PLAIN.example.test:80 HTTP/1.1\r\n\r\n")
        .await
        .unwrap();
    raw.write_all(b"GET /x HTTP/1.1\r\nHost: plain.example.test\r\nConnection: close\r\n\r\n")
        .await
        .unwrap();
    let mut answer = String::new();
    raw.read_to_string(&mut answer).await.unwrap();
    assert!(
        answer.starts_with("HTTP/1.1 200 Connection Established\r\n\r\nHTTP/1.1 200 OK\r\n"),
        "{answer}"
    );
    assert!(answer.ends_with("plain-emulator host=plain.example.test path=/x"));
}

#[tokio::test]
async fn certificate_without_the_host_name_is_a_tls_error() {
    let f = fixture().await;
    // Routed, but the leaf is not valid for this name.
    f.proxy.add_route("graph.microsoft.us:443", f.tls);
    let err = explicit_client(&f)
        .get("https://graph.microsoft.us/v1.0/ping")
        .send()
        .await
        .unwrap_err();
    let text = error_chain(&err);
    assert!(
        text.contains("certificate not valid for name \"graph.microsoft.us\""),
        "{text}"
    );
    assert!(
        f.proxy
            .connects()
            .contains(&"graph.microsoft.us:443".to_string())
    );
}

#[tokio::test]
async fn non_connect_requests_are_refused_with_405() {
    let f = fixture().await;
    let mut raw = TcpStream::connect(f.proxy.addr()).await.unwrap();
    raw.write_all(
        b"GET http://graph.microsoft.com/v1.0/ping HTTP/1.1\r\nHost: graph.microsoft.com\r\n\r\n",
    )
    .await
    .unwrap();
    let mut answer = String::new();
    raw.read_to_string(&mut answer).await.unwrap();
    assert!(
        answer.starts_with("HTTP/1.1 405 Method Not Allowed\r\n"),
        "{answer}"
    );
    assert!(
        answer.contains("only CONNECT tunnels are supported"),
        "{answer}"
    );
    assert!(f.proxy.connects().is_empty());

    // The same through reqwest's plain-http proxy support.
    let client = reqwest::Client::builder()
        .proxy(reqwest::Proxy::http(f.proxy.url()).unwrap())
        .build()
        .unwrap();
    let res = client
        .get("http://graph.microsoft.com/")
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 405);
}

#[tokio::test]
async fn oversized_or_slowly_sent_heads_are_handled() {
    let f = fixture().await;

    // A head sent in small pieces, with the tunnelled request right behind it in the same write.
    f.proxy.add_route("plain.example.test:80", f.plain);
    let mut raw = TcpStream::connect(f.proxy.addr()).await.unwrap();
    for piece in [
        &b"CONN"[..],
        b"ECT plain.example.test:80 HTTP/1.1\r",
        b"\n",
        b"Host: x\r\n\r",
    ] {
        raw.write_all(piece).await.unwrap();
        raw.flush().await.unwrap();
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    raw.write_all(
        b"\nGET /early HTTP/1.1\r\nHost: plain.example.test\r\nConnection: close\r\n\r\n",
    )
    .await
    .unwrap();
    let mut answer = String::new();
    raw.read_to_string(&mut answer).await.unwrap();
    assert!(
        answer.starts_with("HTTP/1.1 200 Connection Established\r\n\r\nHTTP/1.1 200 OK\r\n"),
        "{answer}"
    );
    assert!(answer.ends_with("path=/early"), "{answer}");

    // A head that never ends is cut off at 16 KiB.
    let mut raw = TcpStream::connect(f.proxy.addr()).await.unwrap();
    let junk = vec![b'a'; 20 * 1024];
    let _ = raw.write_all(&junk).await; // the proxy may close while we write
    let mut answer = Vec::new();
    let _ = raw.read_to_end(&mut answer).await;
    let answer = String::from_utf8_lossy(&answer);
    assert!(answer.starts_with("HTTP/1.1 431 "), "{answer}");
}

// ---------------------------------------------------------------- 4. plain serving

#[tokio::test]
async fn serve_plain_serves_the_router() {
    let addr = serve_plain(echo_router("plain-emulator")).await.unwrap();
    assert!(addr.ip().is_loopback());
    let client = reqwest::Client::builder().no_proxy().build().unwrap();
    let res = client
        .get(format!("http://{addr}/msi/token?resource=x"))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    assert_eq!(
        res.text().await.unwrap(),
        format!("plain-emulator host={addr} path=/msi/token")
    );
}

#[tokio::test]
async fn serve_tls_refuses_plain_http_and_keeps_serving() {
    let f = fixture().await;
    // A plain-http client on the TLS port fails...
    let client = reqwest::Client::builder().no_proxy().build().unwrap();
    assert!(
        client
            .get(format!("http://{}/", f.tls))
            .send()
            .await
            .is_err()
    );
    // ...and the emulator still serves TLS clients afterwards.
    let res = explicit_client(&f)
        .get(format!("https://{GRAPH}/v1.0/ping"))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
}

// ---------------------------------------------------------------- 5. concurrency

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn fifty_concurrent_requests_through_one_proxy() {
    let f = fixture().await;
    let hosts = [
        GRAPH,
        DATABRICKS,
        "kv1.vault.azure.net",
        "kv2.vault.azure.net",
    ];
    // One client per request: 50 separate tunnels and TLS handshakes at once.
    let requests = (0..50).map(|i| {
        let client = explicit_client(&f);
        let host = hosts[i % hosts.len()];
        async move {
            let res = client
                .get(format!("https://{host}/req/{i}"))
                .send()
                .await
                .map_err(|e| error_chain(&e))?;
            let status = res.status().as_u16();
            let body = res.text().await.map_err(|e| error_chain(&e))?;
            Ok::<_, String>((status, body, host, i))
        }
    });
    let results = futures::future::join_all(requests).await;
    for result in results {
        let (status, body, host, i) = result.unwrap();
        assert_eq!(status, 200);
        assert_eq!(body, format!("tls-emulator host={host} path=/req/{i}"));
    }
    assert_eq!(f.proxy.connects().len(), 50);
}
