//! Conformance helpers (being written).
use std::process::ExitCode;

#[derive(Debug, Clone, clap::Args)]
pub struct ConformanceArgs {}

pub async fn run(_args: ConformanceArgs) -> ExitCode {
    ExitCode::FAILURE
}
