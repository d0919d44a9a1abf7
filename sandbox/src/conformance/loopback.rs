//! Plain-HTTP calls to the peer SCIM servers on loopback, for the front and the state checks: one
//! request, the answer read to the end. A thin layer over `reqwest` (no proxy: the peers are local).

use std::sync::OnceLock;
use std::time::Duration;

use bytes::Bytes;

/// How long one exchange with a peer may take, connection to last byte.
const TIMEOUT: Duration = Duration::from_secs(30);

/// An answer from a peer.
#[derive(Debug, Clone)]
pub struct Answer {
    pub status: u16,
    /// Header names in lower case, in the order received.
    pub headers: Vec<(String, String)>,
    pub body: Bytes,
}

impl Answer {
    /// The body as JSON (`Null` when empty or not JSON).
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body).unwrap_or(serde_json::Value::Null)
    }
}

fn client() -> std::io::Result<&'static reqwest::Client> {
    static CLIENT: OnceLock<reqwest::Client> = OnceLock::new();
    if let Some(client) = CLIENT.get() {
        return Ok(client);
    }
    let client = reqwest::Client::builder()
        .no_proxy()
        .timeout(TIMEOUT)
        .build()
        .map_err(std::io::Error::other)?;
    Ok(CLIENT.get_or_init(|| client))
}

/// Sends one request to `authority` ("127.0.0.1:port"). `target` is the path and query; `headers`
/// must not include `Host`, `Connection` or `Content-Length` (the client writes them).
pub async fn send(
    authority: &str,
    method: &str,
    target: &str,
    headers: &[(String, String)],
    body: &[u8],
) -> std::io::Result<Answer> {
    let method = reqwest::Method::from_bytes(method.as_bytes()).map_err(std::io::Error::other)?;
    let mut request = client()?.request(method, format!("http://{authority}{target}"));
    for (name, value) in headers {
        request = request.header(name, value);
    }
    let response = request
        .body(body.to_vec())
        .send()
        .await
        .map_err(std::io::Error::other)?;
    let status = response.status().as_u16();
    let headers = response
        .headers()
        .iter()
        .filter_map(|(n, v)| Some((n.as_str().to_ascii_lowercase(), v.to_str().ok()?.to_owned())))
        .collect();
    let body = response.bytes().await.map_err(std::io::Error::other)?;
    Ok(Answer {
        status,
        headers,
        body,
    })
}
