//! The one integration-test binary: the real `handler` spoken to as the Functions host speaks, the
//! router with scripted engines, the command line, and the configuration table.

// Test code: a panic is how a test and its helpers (`support.rs`, the clients) report a broken
// precondition, so the production lints against unwrap/expect do not apply to this crate.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod account_deactivated;
mod account_mode;
mod admins;
mod budget;
mod cli;
mod clients;
mod concurrency;
mod config;
mod crash;
mod deprovision;
mod e2e;
mod every_action;
mod external_ids;
mod faults;
mod host;
mod invocations;
mod limited;
mod local_host;
mod mirror;
mod notifications;
mod pace;
mod package;
mod scenario;
mod secrets;
mod service_principals;
mod shared_state;
mod support;
mod work_queue;
