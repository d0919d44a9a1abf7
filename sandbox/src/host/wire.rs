//! The calls the host makes to the handler on `127.0.0.1:<port>`: the readiness `GET /` and the
//! invocation `POST /<Function>` with a streamed, chunked body (no `Content-Length`, exactly as the
//! host's `HttpClient` sends it). One connection per call, over `reqwest` (no proxy: loopback).

use std::fmt;
use std::io;
use std::sync::OnceLock;

/// Size of the chunks the request body is sent in.
const CHUNK: usize = 16 * 1024;

/// Why a call got no answer.
#[derive(Debug)]
pub(crate) enum WireError {
    /// Nothing listens on the port (yet): the host's "not ready".
    Connect(io::Error),
    /// Connected, then the exchange broke (or the answer was not HTTP/1.1).
    Io(io::Error),
}

impl fmt::Display for WireError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            WireError::Connect(e) => write!(f, "cannot connect to the handler: {e}"),
            WireError::Io(e) => write!(f, "the connection to the handler failed: {e}"),
        }
    }
}

impl From<io::Error> for WireError {
    fn from(e: io::Error) -> Self {
        WireError::Io(e)
    }
}

/// An answer of the handler.
#[derive(Debug, Clone)]
pub(crate) struct WireResponse {
    pub status: u16,
    pub reason: String,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl WireResponse {
    /// The first header of that name (case-insensitive).
    pub(crate) fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

fn client() -> Result<&'static reqwest::Client, WireError> {
    static CLIENT: OnceLock<reqwest::Client> = OnceLock::new();
    if let Some(client) = CLIENT.get() {
        return Ok(client);
    }
    let client = reqwest::Client::builder()
        .no_proxy()
        .http1_only()
        .pool_max_idle_per_host(0)
        .build()
        .map_err(|e| WireError::Io(io::Error::other(e)))?;
    Ok(CLIENT.get_or_init(|| client))
}

/// Sends one request to `127.0.0.1:port`. A `body` is streamed in chunks, which makes it chunked
/// (a `Transfer-Encoding` in `headers` is left to the client, which writes it itself).
pub(crate) async fn send(
    port: u16,
    method: &str,
    path: &str,
    headers: &[(&str, String)],
    body: Option<&[u8]>,
) -> Result<WireResponse, WireError> {
    let method = reqwest::Method::from_bytes(method.as_bytes())
        .map_err(|e| WireError::Io(io::Error::other(e)))?;
    let mut request = client()?.request(method, format!("http://127.0.0.1:{port}{path}"));
    for (name, value) in headers
        .iter()
        .filter(|(n, _)| !n.eq_ignore_ascii_case("transfer-encoding"))
    {
        request = request.header(*name, value);
    }
    if let Some(body) = body {
        let chunks: Vec<Result<Vec<u8>, io::Error>> =
            body.chunks(CHUNK).map(|c| Ok(c.to_vec())).collect();
        request = request.body(reqwest::Body::wrap_stream(futures::stream::iter(chunks)));
    }
    let response = request.send().await.map_err(|e| {
        if e.is_connect() {
            WireError::Connect(io::Error::other(e))
        } else {
            WireError::Io(io::Error::other(e))
        }
    })?;
    let status = response.status();
    let headers = response
        .headers()
        .iter()
        .map(|(n, v)| {
            (
                n.as_str().to_owned(),
                String::from_utf8_lossy(v.as_bytes()).into_owned(),
            )
        })
        .collect();
    let body = response
        .bytes()
        .await
        .map_err(|e| WireError::Io(io::Error::other(e)))?
        .to_vec();
    Ok(WireResponse {
        status: status.as_u16(),
        reason: status.canonical_reason().unwrap_or("").to_owned(),
        headers,
        body,
    })
}
