//! The helpers of `scripts/conformance.sh`, which checks the product and our emulators against
//! independent SCIM servers (peers written by others: PyPI `scim2-server`, npm `scimmy`):
//! - `conformance run`: the real `handler sync`, in an emulated world (Graph, Key Vault, managed
//!   identity from [`crate::world`]), against a peer served as the Databricks workspace through a
//!   TLS [`front`] at a fake workspace host; the steps are in [`steps`], the assembly in [`stage`];
//! - `conformance serve-emulator`: our own Databricks SCIM emulator ([`crate::scim`]) over plain
//!   http on 127.0.0.1, for the RFC compliance checker `scim2 test` (scim2-tester).

mod front;
mod loopback;
mod peer;
mod stage;
mod steps;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::Subcommand;

use crate::scim::{SCIM_ROOT, ScimWorkspace};

pub use front::Front;

#[derive(Debug, Clone, clap::Args)]
pub struct ConformanceArgs {
    #[command(subcommand)]
    command: ConformanceCommand,
}

#[derive(Debug, Clone, Subcommand)]
enum ConformanceCommand {
    /// Run the real handler against a peer SCIM server as the Databricks workspace (steps a–d)
    Run(RunArgs),
    /// Serve the sandbox's Databricks SCIM emulator over plain http on 127.0.0.1 until killed
    ServeEmulator(ServeArgs),
}

#[derive(Debug, Clone, clap::Args)]
struct RunArgs {
    /// The peer's SCIM root, e.g. http://127.0.0.1:8080/api/2.0/preview/scim/v2
    #[arg(long)]
    peer: String,
    /// The peer's bearer token (stored in the emulated Key Vault for the handler)
    #[arg(long)]
    token: String,
    /// The handler binary
    #[arg(long, default_value = "target/debug/handler")]
    handler: PathBuf,
    /// The workspace name in the configuration and in every PASS/FAIL line
    #[arg(long, default_value = "peer")]
    name: String,
}

#[derive(Debug, Clone, clap::Args)]
struct ServeArgs {
    /// Port on 127.0.0.1 (0: a free one; the first line printed says which)
    #[arg(long, default_value_t = 0)]
    port: u16,
    /// The workspace-admin token the emulator accepts
    #[arg(long)]
    token: String,
}

pub async fn run(args: ConformanceArgs) -> ExitCode {
    match args.command {
        ConformanceCommand::Run(args) => run_peer(args).await,
        ConformanceCommand::ServeEmulator(args) => serve_emulator(args).await,
    }
}

async fn run_peer(args: RunArgs) -> ExitCode {
    let started = std::time::Instant::now();
    let (front, peer) = match (
        Front::new(&args.peer),
        peer::Peer::new(&args.peer, &args.token),
    ) {
        (Ok(front), Ok(peer)) => (front, peer),
        (Err(e), _) | (_, Err(e)) => {
            eprintln!("sandbox conformance: {e}");
            return ExitCode::from(2);
        }
    };
    if !args.handler.is_file() {
        eprintln!(
            "sandbox conformance: no handler binary at {} (cargo build --bin handler)",
            args.handler.display()
        );
        return ExitCode::from(2);
    }
    let stage = match stage::Stage::start(&args.name, front, &args.token, args.handler).await {
        Ok(stage) => stage,
        Err(e) => {
            eprintln!("sandbox conformance: cannot start the world: {e}");
            return ExitCode::FAILURE;
        }
    };
    let passed = steps::run_all(&stage, &peer, &args.name, &args.token).await;
    println!(
        "{}: steps took {:.1}s",
        args.name,
        started.elapsed().as_secs_f64()
    );
    if passed {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}

async fn serve_emulator(args: ServeArgs) -> ExitCode {
    let listener = match tokio::net::TcpListener::bind(("127.0.0.1", args.port)).await {
        Ok(listener) => listener,
        Err(e) => {
            eprintln!(
                "sandbox conformance: cannot listen on 127.0.0.1:{}: {e}",
                args.port
            );
            return ExitCode::FAILURE;
        }
    };
    let port = listener.local_addr().map(|a| a.port()).unwrap_or(args.port);
    println!("listening http://127.0.0.1:{port}{SCIM_ROOT}");
    let workspace = ScimWorkspace::new(&args.token);
    match axum::serve(listener, workspace.router()).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("sandbox conformance: serving failed: {e}");
            ExitCode::FAILURE
        }
    }
}
