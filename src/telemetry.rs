//! Logging. `serve`: JSON lines, Information and below on stdout, warnings and errors on stderr (the
//! Functions host turns stdout lines into Information traces and stderr lines into Error traces).
//! Command line: human-readable lines on stderr, so stdout carries only the command's output.
//! The filter comes from `RUST_LOG`. Nothing logged here ever formats a secret: request URLs, query
//! strings and headers are never logged, and secrets are held in types whose `Debug` redacts.

use std::io::IsTerminal;

use tracing::{Level, Metadata, Subscriber};
use tracing_subscriber::Layer;
use tracing_subscriber::filter::{EnvFilter, filter_fn};
use tracing_subscriber::fmt::MakeWriter;
use tracing_subscriber::prelude::*;
use tracing_subscriber::registry::LookupSpan;

/// Where the logs of this process go.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    Serve,
    Cli,
}

fn is_problem(meta: &Metadata<'_>) -> bool {
    *meta.level() <= Level::WARN
}

/// One JSON object per line, event fields at the top level, the current span's fields under `span`.
/// Without the module path (`target`): flattened, it would be a second `target` key after the
/// `actionFailed` event's own (the user name), and a reader that keeps the last of two equal keys
/// (serde_json does; KQL's `parse_json` documents neither) would read the module path instead.
pub(crate) fn json_lines<S, W>(writer: W) -> impl Layer<S>
where
    S: Subscriber + for<'a> LookupSpan<'a>,
    W: for<'w> MakeWriter<'w> + Send + Sync + 'static,
{
    tracing_subscriber::fmt::layer()
        .json()
        .with_target(false)
        .flatten_event(true)
        .with_current_span(true)
        .with_span_list(false)
        .with_writer(writer)
}

/// Installs the global subscriber; call once, first thing in `main`.
pub fn init(mode: Mode) {
    let default = match mode {
        Mode::Serve => "info",
        Mode::Cli => "warn,entra_databricks_sync::cli=info",
    };
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(default));
    let registry = tracing_subscriber::registry().with(filter);
    // A second init (tests) is harmless: `try_init` refuses and the first subscriber stays.
    let _ = match mode {
        Mode::Serve => registry
            .with(json_lines(std::io::stdout).with_filter(filter_fn(|m| !is_problem(m))))
            .with(json_lines(std::io::stderr).with_filter(filter_fn(is_problem)))
            .try_init(),
        Mode::Cli => registry
            .with(
                tracing_subscriber::fmt::layer()
                    .with_writer(std::io::stderr)
                    .with_ansi(std::io::stderr().is_terminal())
                    .with_target(false),
            )
            .try_init(),
    };
}
