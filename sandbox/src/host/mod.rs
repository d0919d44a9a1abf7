//! The local Functions host (being written).
use std::process::ExitCode;

#[derive(Debug, Clone, clap::Args)]
pub struct HostArgs {}

pub async fn run(_args: HostArgs) -> ExitCode {
    ExitCode::FAILURE
}
