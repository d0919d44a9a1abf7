//! The child process of `sandbox/tests/tls_proxy.rs`: GETs each URL given as an argument with a
//! DEFAULT `reqwest::Client` (`Client::builder().build()` is exactly what `Client::new()` does, minus
//! the panic), so the proxy and trust store come from the environment only, as in the production
//! `handler`. Prints `CHILD-BUILD-ERR <error chain>` if the client cannot be built, else one
//! `CHILD-RESULT <url> OK <status> <body>` or `CHILD-RESULT <url> ERR <error chain>` line per URL.
//!
//! It is a binary of its own (not a test re-run as a child) so that `cargo test` never counts it as a
//! test that passes by doing nothing.

use sandbox::tls::error_chain;

#[tokio::main]
async fn main() {
    let client = match reqwest::Client::builder().build() {
        Ok(client) => client,
        Err(e) => {
            println!("CHILD-BUILD-ERR {}", error_chain(&e));
            return;
        }
    };
    for url in std::env::args().skip(1) {
        match client.get(&url).send().await {
            Ok(res) => {
                let status = res.status().as_u16();
                let body = res.text().await.unwrap_or_default();
                println!("CHILD-RESULT {url} OK {status} {body}");
            }
            Err(e) => println!("CHILD-RESULT {url} ERR {}", error_chain(&e)),
        }
    }
}
