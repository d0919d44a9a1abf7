//! The HTTP CONNECT proxy that lets the real binary reach the emulators at the real host names:
//! started as `HTTPS_PROXY=http://127.0.0.1:<port>`, it tunnels each `CONNECT host:443` to the
//! local emulator routed for that host ([`ConnectProxy::add_route`]) and copies bytes both ways;
//! TLS runs end to end between the client and the emulator (see [`crate::tls`]), the proxy never
//! sees plaintext. It owns the route table and the log of every CONNECT target asked for.
//!
//! An unrouted host gets `502 Bad Gateway` naming the host, so a test that forgot a route fails
//! clearly instead of reaching the real internet. Plain-http proxying (absolute-form `GET
//! http://...`) is refused with `405`: the loopback endpoints are reached directly through
//! `NO_PROXY=127.0.0.1,localhost`.

use std::collections::HashMap;
use std::net::{Ipv4Addr, SocketAddr};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::task::AbortHandle;

/// Largest request head accepted (request line + headers).
const MAX_HEAD: usize = 16 * 1024;
/// How long a client may take to send its request head.
const HEAD_TIMEOUT: Duration = Duration::from_secs(10);
/// How long connecting to an emulator may take.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// Route table and CONNECT log, shared by the handle and the connection tasks.
#[derive(Debug, Default)]
struct Shared {
    /// Lower-cased "host:port" (or "*.suffix:port") → emulator address.
    routes: Mutex<HashMap<String, SocketAddr>>,
    /// Every CONNECT target, as the client wrote it, in arrival order.
    connects: Mutex<Vec<String>>,
}

/// Locks a mutex, ignoring poisoning: the guarded data (a map, a log) stays consistent even if a
/// holder panicked, because every critical section is a single insert/push/clone.
fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

/// Normalises a route key: lower case, and ":443" appended when no port is given.
fn route_key(host_port: &str) -> String {
    let key = host_port.trim().to_ascii_lowercase();
    if split_host_port(&key).is_some() {
        key
    } else {
        format!("{key}:443")
    }
}

/// Splits "host:port" / "[v6]:port" into host and port; `None` without a valid port.
fn split_host_port(target: &str) -> Option<(&str, u16)> {
    let (host, port) = target.rsplit_once(':')?;
    let port = port.parse::<u16>().ok()?;
    if host.is_empty() || (host.contains(':') && !(host.starts_with('[') && host.ends_with(']'))) {
        return None;
    }
    Some((host, port))
}

impl Shared {
    /// The emulator for `target` ("host:port", any case): an exact route first, then a wildcard
    /// route "*.suffix:port" matching exactly one more label, as a wildcard certificate would.
    fn lookup(&self, target: &str) -> Option<SocketAddr> {
        let target = target.to_ascii_lowercase();
        let routes = lock(&self.routes);
        if let Some(addr) = routes.get(&target) {
            return Some(*addr);
        }
        let (first_label, rest) = target.split_once('.')?;
        if first_label.is_empty() {
            return None;
        }
        routes.get(&format!("*.{rest}")).copied()
    }
}

/// A CONNECT proxy on 127.0.0.1 tunnelling to the emulators. Dropping it stops accepting new
/// connections (tunnels already open run until either side closes).
#[derive(Debug)]
pub struct ConnectProxy {
    addr: SocketAddr,
    shared: Arc<Shared>,
    accept_task: AbortHandle,
}

impl Drop for ConnectProxy {
    fn drop(&mut self) {
        self.accept_task.abort();
    }
}

impl ConnectProxy {
    /// Starts on 127.0.0.1:0. `routes` maps "host:port" (e.g. "graph.microsoft.com:443"; host
    /// case-insensitive; "*.vault.azure.net:443" for one-label wildcards; no port means 443) to
    /// the local address of the emulator serving that host.
    pub async fn start(routes: HashMap<String, SocketAddr>) -> std::io::Result<ConnectProxy> {
        let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).await?;
        let addr = listener.local_addr()?;
        let shared = Arc::new(Shared::default());
        {
            let mut table = lock(&shared.routes);
            for (host_port, target) in routes {
                table.insert(route_key(&host_port), target);
            }
        }
        let task_shared = Arc::clone(&shared);
        let accept_task = tokio::spawn(async move {
            loop {
                match listener.accept().await {
                    Ok((stream, _peer)) => {
                        // No Nagle delay on relayed segments (see `tls::accept_loop`).
                        let _ = stream.set_nodelay(true);
                        let shared = Arc::clone(&task_shared);
                        tokio::spawn(async move {
                            if let Err(e) = handle(stream, &shared).await {
                                tracing::debug!(error = %e, "sandbox proxy: connection ended with an error");
                            }
                        });
                    }
                    Err(e) => {
                        tracing::warn!(error = %e, "sandbox proxy: accept failed");
                        tokio::time::sleep(Duration::from_millis(50)).await;
                    }
                }
            }
        })
        .abort_handle();
        Ok(ConnectProxy {
            addr,
            shared,
            accept_task,
        })
    }

    /// Adds (or replaces) a route; takes effect for the next CONNECT.
    pub fn add_route(&self, host_port: &str, target: SocketAddr) {
        lock(&self.shared.routes).insert(route_key(host_port), target);
    }

    /// The proxy URL for `HTTPS_PROXY`: "http://127.0.0.1:<port>".
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// The address the proxy listens on.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Every CONNECT target asked for, as the client wrote it, in order (including refused ones).
    pub fn connects(&self) -> Vec<String> {
        lock(&self.shared.connects).clone()
    }
}

/// Writes a short plain-text error response and closes.
async fn refuse(
    stream: &mut TcpStream,
    status: &str,
    extra: &str,
    body: &str,
) -> std::io::Result<()> {
    let response = format!(
        "HTTP/1.1 {status}\r\ncontent-type: text/plain; charset=utf-8\r\ncontent-length: {}\r\n{extra}connection: close\r\n\r\n{body}",
        body.len()
    );
    stream.write_all(response.as_bytes()).await?;
    stream.shutdown().await
}

/// Reads the request head (up to and including the blank line). Returns the head and any bytes
/// the client already sent after it (e.g. a TLS ClientHello sent without waiting for the 200),
/// or `None` if the client closed first or the head is too large (then it has been answered).
async fn read_head(stream: &mut TcpStream) -> std::io::Result<Option<(String, Vec<u8>)>> {
    let mut buf = Vec::with_capacity(1024);
    let mut chunk = [0u8; 4096];
    loop {
        let searched_from = buf.len().saturating_sub(3);
        let n = stream.read(&mut chunk).await?;
        if n == 0 {
            return Ok(None);
        }
        buf.extend_from_slice(&chunk[..n]);
        if let Some(pos) = buf[searched_from..]
            .windows(4)
            .position(|w| w == b"\r\n\r\n")
        {
            let end = searched_from + pos + 4;
            let rest = buf.split_off(end);
            return Ok(Some((String::from_utf8_lossy(&buf).into_owned(), rest)));
        }
        if buf.len() > MAX_HEAD {
            refuse(
                stream,
                "431 Request Header Fields Too Large",
                "",
                "sandbox proxy: request head larger than 16 KiB\n",
            )
            .await?;
            return Ok(None);
        }
    }
}

/// Handles one client connection: one CONNECT, then the tunnel.
async fn handle(mut stream: TcpStream, shared: &Shared) -> std::io::Result<()> {
    let Ok(head) = tokio::time::timeout(HEAD_TIMEOUT, read_head(&mut stream)).await else {
        return Ok(()); // the client went silent: drop it
    };
    let Some((head, early_data)) = head? else {
        return Ok(());
    };
    let request_line = head.lines().next().unwrap_or_default();
    let mut parts = request_line.split_whitespace();
    let (method, target) = (
        parts.next().unwrap_or_default(),
        parts.next().unwrap_or_default(),
    );

    if !method.eq_ignore_ascii_case("CONNECT") {
        let body = format!(
            "sandbox proxy: only CONNECT tunnels are supported, got `{method} {target}`; \
             plain http to loopback must bypass the proxy (NO_PROXY=127.0.0.1,localhost)\n"
        );
        return refuse(
            &mut stream,
            "405 Method Not Allowed",
            "allow: CONNECT\r\n",
            &body,
        )
        .await;
    }
    lock(&shared.connects).push(target.to_string());
    if split_host_port(target).is_none() {
        let body = format!("sandbox proxy: CONNECT target `{target}` is not host:port\n");
        return refuse(&mut stream, "400 Bad Request", "", &body).await;
    }
    let Some(upstream_addr) = shared.lookup(target) else {
        tracing::warn!(target, "sandbox proxy: no emulator route");
        let body = format!(
            "sandbox proxy: no emulator route for CONNECT {target} (add one with ConnectProxy::add_route)\n"
        );
        return refuse(&mut stream, "502 Bad Gateway", "", &body).await;
    };
    let mut upstream = match tokio::time::timeout(
        CONNECT_TIMEOUT,
        TcpStream::connect(upstream_addr),
    )
    .await
    {
        Ok(Ok(upstream)) => {
            let _ = upstream.set_nodelay(true);
            upstream
        }
        Ok(Err(e)) => {
            let body = format!(
                "sandbox proxy: emulator for {target} at {upstream_addr} is unreachable: {e}\n"
            );
            return refuse(&mut stream, "502 Bad Gateway", "", &body).await;
        }
        Err(_) => {
            let body = format!(
                "sandbox proxy: emulator for {target} at {upstream_addr} did not accept in time\n"
            );
            return refuse(&mut stream, "504 Gateway Timeout", "", &body).await;
        }
    };
    stream
        .write_all(b"HTTP/1.1 200 Connection Established\r\n\r\n")
        .await?;
    if !early_data.is_empty() {
        upstream.write_all(&early_data).await?;
    }
    tokio::io::copy_bidirectional(&mut stream, &mut upstream).await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn route_keys_are_normalised() {
        assert_eq!(
            route_key("Graph.Microsoft.com:443"),
            "graph.microsoft.com:443"
        );
        assert_eq!(route_key("graph.microsoft.com"), "graph.microsoft.com:443");
        assert_eq!(route_key("[::1]:8443"), "[::1]:8443");
    }

    #[test]
    fn wildcard_routes_match_one_label() {
        let shared = Shared::default();
        let a: SocketAddr = "127.0.0.1:1".parse().unwrap();
        let b: SocketAddr = "127.0.0.1:2".parse().unwrap();
        lock(&shared.routes).insert(route_key("*.vault.azure.net:443"), a);
        lock(&shared.routes).insert(route_key("kv1.vault.azure.net:443"), b);
        assert_eq!(shared.lookup("KV1.vault.azure.net:443"), Some(b));
        assert_eq!(shared.lookup("other.vault.azure.net:443"), Some(a));
        assert_eq!(shared.lookup("a.b.vault.azure.net:443"), None);
        assert_eq!(shared.lookup("vault.azure.net:443"), None);
        assert_eq!(shared.lookup("other.vault.azure.net:8443"), None);
    }
}
