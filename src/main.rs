//! `handler`: the Azure Functions custom handler and its command line. Everything lives in the library.

fn main() -> std::process::ExitCode {
    entra_databricks_sync::memory::configure();
    entra_databricks_sync::cli::run(std::env::args_os())
}
