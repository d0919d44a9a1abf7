//! The demo, `cargo run -p sandbox`: builds the real `handler`, starts an emulated Azure (an Entra ID
//! tenant of a few dozen people in nested groups, Key Vault, the managed-identity endpoint, two
//! Databricks workspaces in workspace mode and one in account mode, with its Databricks account), puts the app in a temporary folder run by the local Functions host, triggers
//! one `SyncHttp` run, prints what it did and where to look next, and keeps serving until Ctrl-C
//! (`--once`: exits after the run, 0 only if it succeeded).

pub(crate) mod app;

pub use app::FUNCTIONS;
pub mod tenant;

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use serde_json::Value;

use crate::host::{ConsoleLine, HostOptions, Level, LocalHost, Output};
use crate::world::World;

#[derive(Debug, Clone, clap::Args)]
pub struct DemoArgs {
    /// Exit after the first run: status 0 only if the sync succeeded
    #[arg(long)]
    pub once: bool,
    /// Port of the local Functions host (0 picks a free one)
    #[arg(long, default_value_t = 7071)]
    pub port: u16,
    /// Use this handler binary instead of building it
    #[arg(long, value_name = "PATH")]
    pub handler: Option<PathBuf>,
    /// Also print the handler's own log lines (JSON)
    #[arg(long)]
    pub verbose: bool,
}

fn fail(what: &str, error: impl std::fmt::Display) -> ExitCode {
    eprintln!("sandbox: {what}: {error}");
    ExitCode::FAILURE
}

/// Runs the demo.
pub async fn run(args: DemoArgs) -> ExitCode {
    let handler = match &args.handler {
        Some(path) => path.clone(),
        None => match app::build_handler() {
            Ok(path) => path,
            Err(e) => return fail("cannot build the handler", e),
        },
    };
    println!(
        "Starting an emulated tenant, Key Vault, managed identity, a Databricks account and three workspaces..."
    );
    let world = match World::start().await {
        Ok(world) => world,
        Err(e) => return fail("cannot start the emulators", e),
    };
    let demo = match tenant::populate(&world).await {
        Ok(demo) => demo,
        Err(e) => return fail("cannot start the workspaces", e),
    };
    let app_root = match app::stage(&handler, &demo.config) {
        Ok(dir) => dir,
        Err(e) => return fail("cannot prepare the app folder", e),
    };
    let mut settings = world.handler_env();
    settings.extend(
        app::SETTINGS
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned())),
    );
    let verbose = args.verbose;
    let print = move |line: &ConsoleLine| {
        let handler_info =
            line.category == "Host.Function.Console" && line.level == Level::Information;
        if verbose || !handler_info {
            println!("{line}");
        }
    };
    let options = HostOptions {
        port: args.port,
        settings,
        env_remove: World::ENV_TO_CLEAR
            .iter()
            .map(|v| (*v).to_owned())
            .collect(),
        output: Output::Callback(Arc::new(print)),
        ..HostOptions::new(app_root.path())
    };
    let host = match LocalHost::start(options).await {
        Ok(host) => host,
        Err(e) => return fail("cannot start the local Functions host", e),
    };
    println!(
        "Local Functions host on {} (app folder {})\n",
        host.url(),
        app_root.path().display()
    );

    let outcome = app::sync_now(&host.url()).await;
    let succeeded = match &outcome {
        Ok((status, report)) => {
            print!("{}", summary(*status, report, &demo));
            report["status"] == "succeeded"
        }
        Err(e) => {
            eprintln!("sandbox: the SyncHttp call failed: {e}");
            false
        }
    };
    if args.once {
        host.stop().await;
        return if succeeded {
            ExitCode::SUCCESS
        } else {
            ExitCode::FAILURE
        };
    }
    print!("{}", next_steps(&host.url()));
    let code = tokio::select! {
        _ = tokio::signal::ctrl_c() => ExitCode::SUCCESS,
        error = host.wait_for_shutdown() => fail("the local host stopped", error),
    };
    host.stop().await;
    code
}

/// Per workspace: what the run did, in words.
fn summary(status: u16, report: &Value, demo: &tenant::DemoTenant) -> String {
    let mut out = format!(
        "\nSync {} (HTTP {status}, run {}, {} ms):\n",
        report["status"].as_str().unwrap_or("?"),
        report["runId"].as_str().unwrap_or("?"),
        report["durationMs"]
    );
    if let Some(account) = report.get("account") {
        let (u, sp) = (&account["users"], &account["servicePrincipals"]);
        out.push_str(&format!(
            "  account    {:<9} (identities: \"account\", for lakehouse) users: created {:>2}, reactivated {}, \
             already there {}, deactivated {}; service principals: created {}\n",
            account["status"].as_str().unwrap_or("?"),
            u["created"],
            u["reactivated"],
            u["existing"],
            u["deactivated"],
            sp["created"],
        ));
    }
    for ws in report["workspaces"].as_array().into_iter().flatten() {
        if let Some(a) = ws.get("assignments") {
            out.push_str(&format!(
                "  {:<10} {:<9} assignments at the account: assigned {}, already there {}, taken back {}, failed {}\n",
                ws["name"].as_str().unwrap_or("?"),
                ws["status"].as_str().unwrap_or("?"),
                a["assigned"],
                a["existing"],
                a["unassigned"],
                a["failed"]
            ));
            if let Some(error) = ws["error"].as_str() {
                out.push_str(&format!("             error: {error}\n"));
            }
            continue;
        }
        let u = &ws["users"];
        out.push_str(&format!(
            "  {:<10} {:<9} users: created {:>2}, reactivated {}, already there {:>2}, deactivated {}, removed {}, skipped {}, failed {}\n",
            ws["name"].as_str().unwrap_or("?"),
            ws["status"].as_str().unwrap_or("?"),
            u["created"],
            u["reactivated"],
            u["existing"],
            u["deactivated"],
            u["removed"],
            u["skipped"],
            u["failed"]
        ));
        let sp = &ws["servicePrincipals"];
        out.push_str(&format!(
            "  {:<20} service principals: created {}, reactivated {}, already there {}, deactivated {}, removed {}, failed {}\n",
            "",
            sp["created"],
            sp["reactivated"],
            sp["existing"],
            sp["deactivated"],
            sp["removed"],
            sp["failed"]
        ));
        let kinds: std::collections::BTreeSet<&str> = ws["actions"]
            .as_array()
            .into_iter()
            .flatten()
            .filter(|a| a["outcome"] == "applied")
            .filter_map(|a| a["type"].as_str())
            .collect();
        if !kinds.is_empty() {
            let kinds: Vec<&str> = kinds.into_iter().collect();
            out.push_str(&format!(
                "  {:<20} changes made: {}\n",
                "",
                kinds.join(", ")
            ));
        }
        if let Some(error) = ws["error"].as_str() {
            out.push_str(&format!("             error: {error}\n"));
        }
        for action in ws["actions"]
            .as_array()
            .into_iter()
            .flatten()
            .filter(|a| a["outcome"] == "skipped")
        {
            out.push_str(&format!(
                "             skipped {}: {}\n",
                action["target"].as_str().unwrap_or("?"),
                action["detail"].as_str().unwrap_or("")
            ));
        }
    }
    let users = |ws: &crate::world::Workspace| ws.scim.users().iter().filter(|u| u.active).count();
    out.push_str(&format!(
        "  The workspaces now have {}, {} and {} active users (admin included; lakehouse's through its \
         assigned account groups).\n",
        users(&demo.analytics),
        users(&demo.platform),
        users(&demo.lakehouse)
    ));
    out
}

fn next_steps(url: &str) -> String {
    format!(
        "\nTry next (Ctrl-C to stop):\n  \
         curl -s -X POST {url}/api/SyncHttp -H 'Content-Type: application/json' -d '{{\"dryRun\": true}}'   # plan only\n  \
         curl -s -X POST {url}/admin/functions/SyncTimer -H 'Content-Type: application/json' -d '{{}}'        # run the timer now\n  \
         curl -s {url}/api/SyncHttp                                                                          # last report\n"
    )
}
