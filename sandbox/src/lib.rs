//! Emulators of the outside APIs entra-databricks-sync talks to, faithful to their documented wire
//! formats (see ../shared/reference/): Microsoft Graph (Entra ID), Databricks workspace SCIM, Azure Key
//! Vault, the App Service managed-identity endpoint and the Databricks account with its identity
//! federation ([`account`]). Each is a stateful axum router with a request log and fault switches
//! ([`faults`]); a local Functions host ([`host`]); the demo ([`demo`]), the benchmark ([`bench`]) and
//! the helpers of `scripts/conformance.sh` ([`conformance`]). Used by the tests, the demo and CI.

pub mod account;
pub mod azurite;
pub mod bench;
pub mod conformance;
pub mod demo;
pub mod faults;
pub mod graph;
pub mod host;
pub mod identity;
pub mod keyvault;
pub mod proxy;
pub mod scim;
pub mod tls;
pub mod world;
