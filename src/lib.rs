//! entra-databricks-sync: an Azure Functions custom handler that keeps Azure Databricks workspaces in step
//! with Microsoft Entra ID groups. `main.rs` only parses the command line and calls [`cli::run`].

pub mod auth;
pub mod cli;
pub mod config;
pub mod databricks;
pub mod entra;
pub mod functions;
pub mod http;
pub mod keyvault;
pub mod memory;
pub mod notify;
pub mod principal;
pub mod settings;
pub mod state;
pub mod sync;
pub mod telemetry;
#[cfg(test)]
mod testing;
