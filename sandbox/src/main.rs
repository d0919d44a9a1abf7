//! `cargo run -p sandbox`: the demo (default), the local Functions host on its own, the benchmark, and
//! the helpers of `scripts/conformance.sh`. Each subcommand lives in its own module of the library.

use std::process::ExitCode;

use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(
    name = "sandbox",
    about = "entra-databricks-sync on one machine: emulated Azure, a local Functions host, the real handler"
)]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
    #[command(flatten)]
    demo: sandbox::demo::DemoArgs,
}

#[derive(Subcommand)]
enum Command {
    /// The demo: emulated tenant and workspaces, the local host running the real handler, one sync (the default)
    Demo(sandbox::demo::DemoArgs),
    /// Run any custom handler under the local Functions host
    Host(sandbox::host::HostArgs),
    /// Helpers of scripts/conformance.sh (independent SCIM servers as the workspace)
    Conformance(sandbox::conformance::ConformanceArgs),
    /// What a sync costs at scale: the real handler against emulators with latency and a write rate
    Bench(sandbox::bench::BenchArgs),
    /// How long a change in Entra takes to reach Databricks through change notifications
    Latency(sandbox::bench::latency::LatencyArgs),
    /// The bench's launcher: runs a command and writes its peak RSS (wait4) to a file
    #[command(hide = true)]
    RssProbe(sandbox::bench::ProbeArgs),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(e) => {
            eprintln!("sandbox: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    runtime.block_on(async move {
        match cli.command {
            None => sandbox::demo::run(cli.demo).await,
            Some(Command::Demo(args)) => sandbox::demo::run(args).await,
            Some(Command::Host(args)) => sandbox::host::run(args).await,
            Some(Command::Conformance(args)) => sandbox::conformance::run(args).await,
            Some(Command::Bench(args)) => sandbox::bench::run(args).await,
            Some(Command::Latency(args)) => sandbox::bench::latency::run(args).await,
            Some(Command::RssProbe(args)) => sandbox::bench::probe(&args),
        }
    })
}
