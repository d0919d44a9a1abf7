//! The demo (being written).
use std::process::ExitCode;

#[derive(Debug, Clone, clap::Args)]
pub struct DemoArgs {
    /// Exit after the first run: 0 if it succeeded
    #[arg(long)]
    pub once: bool,
}

pub async fn run(_args: DemoArgs) -> ExitCode {
    ExitCode::FAILURE
}
