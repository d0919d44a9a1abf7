//! A small HTTP/1.1 client for the calls the host makes to the handler on `127.0.0.1:<port>`:
//! the readiness `GET /` and the invocation `POST /<Function>` with a chunked body (no
//! `Content-Length`, exactly as the host's `HttpClient` streams it). One connection per call. It
//! reads any well-formed answer: `Content-Length`, chunked, or delimited by the connection closing;
//! interim `1xx` answers are skipped. (The sandbox's hyper has no client feature.)

use std::fmt;
use std::io;

use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;

/// Longest status or header line, and most headers, accepted in an answer.
const MAX_LINE: u64 = 64 * 1024;
const MAX_HEADERS: usize = 200;
/// Largest answer body accepted.
const MAX_BODY: u64 = 256 * 1024 * 1024;
/// Size of the chunks the request body is sent in.
const CHUNK: usize = 16 * 1024;

/// Why a call got no answer.
#[derive(Debug)]
pub(crate) enum WireError {
    /// Nothing listens on the port (yet): the host's "not ready".
    Connect(io::Error),
    /// Connected, then the exchange broke.
    Io(io::Error),
    /// The answer was not HTTP/1.x.
    Protocol(String),
}

impl fmt::Display for WireError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            WireError::Connect(e) => write!(f, "cannot connect to the handler: {e}"),
            WireError::Io(e) => write!(f, "the connection to the handler failed: {e}"),
            WireError::Protocol(m) => write!(f, "the handler's answer is not valid HTTP/1.1: {m}"),
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

/// Sends one request to `127.0.0.1:port`. `headers` are written in order after `Host`; a `body` is
/// sent in chunks, so `headers` should include `Transfer-Encoding: chunked` where the caller wants it.
pub(crate) async fn send(
    port: u16,
    method: &str,
    path: &str,
    headers: &[(&str, String)],
    body: Option<&[u8]>,
) -> Result<WireResponse, WireError> {
    let mut stream = TcpStream::connect(("127.0.0.1", port))
        .await
        .map_err(WireError::Connect)?;
    let _ = stream.set_nodelay(true);
    let mut head = format!("{method} {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n");
    for (name, value) in headers {
        head.push_str(&format!("{name}: {value}\r\n"));
    }
    head.push_str("\r\n");
    stream.write_all(head.as_bytes()).await?;
    if let Some(body) = body {
        for chunk in body.chunks(CHUNK) {
            stream
                .write_all(format!("{:x}\r\n", chunk.len()).as_bytes())
                .await?;
            stream.write_all(chunk).await?;
            stream.write_all(b"\r\n").await?;
        }
        stream.write_all(b"0\r\n\r\n").await?;
    }
    stream.flush().await?;

    let mut reader = BufReader::new(stream);
    let (status, reason, headers) = loop {
        let head = read_head(&mut reader).await?;
        if !(100..200).contains(&head.0) || head.0 == 101 {
            break head;
        }
    };
    let mut response = WireResponse {
        status,
        reason,
        headers,
        body: Vec::new(),
    };
    if method == "HEAD" || status == 204 || status == 304 {
        return Ok(response);
    }
    let chunked = response
        .header("transfer-encoding")
        .is_some_and(|te| te.to_ascii_lowercase().contains("chunked"));
    if chunked {
        response.body = read_chunked(&mut reader).await?;
    } else if let Some(length) = response.header("content-length") {
        let length: u64 = length
            .trim()
            .parse()
            .map_err(|_| WireError::Protocol(format!("Content-Length '{length}'")))?;
        if length > MAX_BODY {
            return Err(WireError::Protocol(format!("a body of {length} bytes")));
        }
        let mut body = vec![0; usize::try_from(length).unwrap_or(0)];
        reader.read_exact(&mut body).await?;
        response.body = body;
    } else {
        (&mut reader)
            .take(MAX_BODY)
            .read_to_end(&mut response.body)
            .await?;
    }
    Ok(response)
}

type Head = (u16, String, Vec<(String, String)>);

async fn read_line(reader: &mut BufReader<TcpStream>) -> Result<String, WireError> {
    let mut line = Vec::new();
    let n = (&mut *reader)
        .take(MAX_LINE)
        .read_until(b'\n', &mut line)
        .await?;
    if n == 0 {
        return Err(WireError::Io(io::Error::new(
            io::ErrorKind::UnexpectedEof,
            "the handler closed the connection without answering",
        )));
    }
    if !line.ends_with(b"\n") {
        return Err(WireError::Protocol("a line too long or cut off".into()));
    }
    let text = String::from_utf8_lossy(&line);
    Ok(text.trim_end_matches(['\r', '\n']).to_owned())
}

async fn read_head(reader: &mut BufReader<TcpStream>) -> Result<Head, WireError> {
    let status_line = read_line(reader).await?;
    let mut parts = status_line.splitn(3, ' ');
    let version = parts.next().unwrap_or_default();
    let status = parts.next().and_then(|s| s.parse::<u16>().ok());
    let (true, Some(status)) = (version.starts_with("HTTP/1."), status) else {
        return Err(WireError::Protocol(format!("status line '{status_line}'")));
    };
    let reason = parts.next().unwrap_or_default().to_owned();
    let mut headers = Vec::new();
    loop {
        let line = read_line(reader).await?;
        if line.is_empty() {
            return Ok((status, reason, headers));
        }
        if headers.len() == MAX_HEADERS {
            return Err(WireError::Protocol("too many headers".into()));
        }
        let Some((name, value)) = line.split_once(':') else {
            return Err(WireError::Protocol(format!("header line '{line}'")));
        };
        headers.push((name.trim().to_owned(), value.trim().to_owned()));
    }
}

async fn read_chunked(reader: &mut BufReader<TcpStream>) -> Result<Vec<u8>, WireError> {
    let mut body = Vec::new();
    loop {
        let line = read_line(reader).await?;
        let size = line.split(';').next().unwrap_or_default().trim();
        let size = u64::from_str_radix(size, 16)
            .map_err(|_| WireError::Protocol(format!("chunk size '{line}'")))?;
        if size == 0 {
            // Trailers, up to the empty line.
            while !read_line(reader).await?.is_empty() {}
            return Ok(body);
        }
        if body.len() as u64 + size > MAX_BODY {
            return Err(WireError::Protocol("a body too large".into()));
        }
        let start = body.len();
        body.resize(start + usize::try_from(size).unwrap_or(0), 0);
        reader.read_exact(&mut body[start..]).await?;
        if !read_line(reader).await?.is_empty() {
            return Err(WireError::Protocol("no CRLF after a chunk".into()));
        }
    }
}
