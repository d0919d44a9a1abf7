//! Shared test helpers: configuration files, scripted engines, and the real `handler` started the way
//! the Functions host starts it.

use std::collections::HashMap;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use entra_databricks_sync::config::{Config, Workspace};
use entra_databricks_sync::sync::{
    Engine, RunContext, RunScope, Status, UserCounts, WorkspaceReport,
};
use tokio::sync::Semaphore;

/// A valid configuration with the named workspaces (the seed's keys).
/// A new group `name` of `count` new members `{prefix}00@contoso.com`, `{prefix}01@contoso.com`, ...
/// (each its own display name); returns the group's id.
pub fn numbered_group(
    tenant: &sandbox::graph::Tenant,
    name: &str,
    prefix: &str,
    count: usize,
) -> String {
    let group = tenant.add_group(name);
    for i in 0..count {
        let upn = format!("{prefix}{i:02}@contoso.com");
        let user = tenant.add_user(sandbox::graph::NewUser::member(&upn, &upn));
        tenant.add_member(&group, &user);
    }
    group
}

pub fn config_json(names: &[&str]) -> String {
    let entries: Vec<String> = names
        .iter()
        .enumerate()
        .map(|(i, name)| {
            format!(
                r#"{{"name":"{name}","databricksInstance":"https://adb-{i}00.1.azuredatabricks.net","accessGroups":"Databricks-Group-{i}","scimToken":"https://kv-dbx-sync.vault.azure.net/secrets/{name}-pat"}}"#
            )
        })
        .collect();
    format!(r#"{{"workspaces":[{}]}}"#, entries.join(","))
}

pub fn config(names: &[&str]) -> Arc<Config> {
    Arc::new(
        Config::parse(&config_json(names), Path::new("test-config.json"))
            .expect("test config is valid"),
    )
}

/// What a scripted engine does for one workspace.
#[derive(Clone)]
pub enum Behaviour {
    Succeed,
    Fail(&'static str),
    Panic,
    /// Waits for a permit of the semaphore, then succeeds.
    WaitFor(Arc<Semaphore>),
}

/// An engine whose outcome per workspace is set by the test; it also counts how many syncs of each
/// workspace ran at the same time (the highest such count must stay 1).
#[derive(Default)]
pub struct Scripted {
    inner: Arc<ScriptedState>,
}

#[derive(Default)]
pub struct ScriptedState {
    behaviours: HashMap<String, Behaviour>,
    in_flight: Mutex<HashMap<String, usize>>,
    pub max_in_flight: Mutex<HashMap<String, usize>>,
}

impl Scripted {
    pub fn new(behaviours: &[(&str, Behaviour)]) -> Arc<Self> {
        let state = ScriptedState {
            behaviours: behaviours
                .iter()
                .map(|(n, b)| (n.to_string(), b.clone()))
                .collect(),
            ..Default::default()
        };
        Arc::new(Scripted {
            inner: Arc::new(state),
        })
    }

    pub fn max_in_flight(&self) -> HashMap<String, usize> {
        self.inner.max_in_flight.lock().unwrap().clone()
    }
}

impl Engine for Scripted {
    fn start_run(&self, _run: Arc<RunContext>) -> Arc<dyn RunScope> {
        self.inner.clone()
    }
}

impl ScriptedState {
    fn enter(&self, name: &str) {
        let mut in_flight = self.in_flight.lock().unwrap();
        let n = in_flight.entry(name.to_owned()).or_default();
        *n += 1;
        let mut max = self.max_in_flight.lock().unwrap();
        let m = max.entry(name.to_owned()).or_default();
        *m = (*m).max(*n);
    }

    fn leave(&self, name: &str) {
        *self.in_flight.lock().unwrap().get_mut(name).unwrap() -= 1;
    }
}

#[async_trait::async_trait]
impl RunScope for ScriptedState {
    async fn sync_workspace(&self, workspace: Workspace) -> WorkspaceReport {
        let name = workspace.name.to_string();
        let behaviour = self
            .behaviours
            .get(&name)
            .cloned()
            .unwrap_or(Behaviour::Succeed);
        self.enter(&name);
        let outcome = match behaviour {
            Behaviour::Succeed => Ok(()),
            Behaviour::Fail(message) => Err(message),
            Behaviour::Panic => {
                self.leave(&name);
                panic!("scripted panic in {name}");
            }
            Behaviour::WaitFor(semaphore) => {
                let _permit = semaphore.acquire().await.unwrap();
                Ok(())
            }
        };
        self.leave(&name);
        match outcome {
            Ok(()) => {
                let mut report = WorkspaceReport::failed(workspace.name, "");
                report.status = Status::Succeeded;
                report.error = None;
                report.users = UserCounts {
                    desired: 3,
                    existing: 2,
                    created: 1,
                    ..UserCounts::default()
                };
                report
            }
            Err(message) => WorkspaceReport::failed(workspace.name, message),
        }
    }
}

/// The real `handler` binary, started as the Functions host starts it.
pub struct Handler {
    child: Child,
    pub port: u16,
    pub ready_after: Duration,
    stdout: Arc<Mutex<Vec<String>>>,
    stderr: Arc<Mutex<Vec<String>>>,
    _app_root: tempfile::TempDir,
}

pub fn handler_exe() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_handler"))
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn collect(stream: impl std::io::Read + Send + 'static) -> Arc<Mutex<Vec<String>>> {
    let lines = Arc::new(Mutex::new(Vec::new()));
    let sink = Arc::clone(&lines);
    std::thread::spawn(move || {
        for line in BufReader::new(stream).lines().map_while(Result::ok) {
            sink.lock().unwrap().push(line);
        }
    });
    lines
}

impl Handler {
    /// Starts `handler` in a fresh app root holding `sync-config.json` = `config_text`, with `env` (see
    /// `World::handler_env`) added to a cleaned environment, and polls
    /// `GET /` every 25 ms (30 s limit), as the host does.
    pub async fn start(config_text: &str, env: &[(String, String)]) -> Handler {
        Handler::start_command(Command::new(handler_exe()), config_text, env).await
    }

    /// As [`Handler::start`], with `command` instead of the cargo-built `handler` (another build of
    /// it, or a tracer that runs it).
    pub async fn start_command(
        mut command: Command,
        config_text: &str,
        env: &[(String, String)],
    ) -> Handler {
        let app_root = tempfile::tempdir().unwrap();
        std::fs::write(app_root.path().join("sync-config.json"), config_text).unwrap();
        let inherited = [
            "RUST_LOG",
            "SYNC_CONFIG_PATH",
            "GRAPH_ENDPOINT",
            "IDENTITY_ENDPOINT",
            "IDENTITY_HEADER",
        ];
        for name in sandbox::world::World::ENV_TO_CLEAR.iter().chain(&inherited) {
            command.env_remove(name);
        }
        command.envs(env.iter().map(|(k, v)| (k, v)));
        command
            .current_dir(app_root.path())
            .env(
                "FUNCTIONS_CUSTOMHANDLER_WORKER_ID",
                "0b5e3ad1-39a4-4d6d-9f5e-7c4b7d0c1e2f",
            )
            .env("FUNCTIONS_APP_ROOT_PATH", app_root.path())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let started = Instant::now();
        let client = reqwest::Client::new();
        // A free port is free only until someone binds it: another test's emulator may take it before
        // the handler does. Ready means the handler's own answer to `GET /`; a handler that exits
        // first (its port taken) is started again on another port.
        let mut attempts = 0;
        let (child, port, stdout, stderr) = 'spawn: loop {
            attempts += 1;
            let port = free_port();
            let mut child = command
                .env("FUNCTIONS_CUSTOMHANDLER_PORT", port.to_string())
                .env("FUNCTIONS_HTTPWORKER_PORT", port.to_string())
                .spawn()
                .expect("handler starts");
            let stdout = collect(child.stdout.take().unwrap());
            let stderr = collect(child.stderr.take().unwrap());
            loop {
                let answer = client.get(format!("http://127.0.0.1:{port}/")).send().await;
                if let Ok(answer) = answer {
                    let body: Option<serde_json::Value> = answer.json().await.ok();
                    if body.is_some_and(|b| b == serde_json::json!({"status": "ready"})) {
                        break 'spawn (child, port, stdout, stderr);
                    }
                }
                if let Some(status) = child.try_wait().unwrap() {
                    let stderr = stderr.lock().unwrap().join("\n");
                    assert!(
                        attempts < 5 && stderr.contains("Address already in use"),
                        "handler exited with {status} before it was ready; stderr: {stderr}"
                    );
                    continue 'spawn;
                }
                assert!(
                    started.elapsed() < Duration::from_secs(30),
                    "handler not ready within 30 s"
                );
                tokio::time::sleep(Duration::from_millis(25)).await;
            }
        };
        Handler {
            child,
            port,
            ready_after: started.elapsed(),
            stdout,
            stderr,
            _app_root: app_root,
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{path}", self.port)
    }

    pub fn stdout(&self) -> Vec<String> {
        self.stdout.lock().unwrap().clone()
    }

    pub fn stderr(&self) -> Vec<String> {
        self.stderr.lock().unwrap().clone()
    }

    /// The process id (to kill it as a crash would).
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Waits for the process to exit.
    pub fn wait(&mut self) -> std::process::ExitStatus {
        self.child.wait().unwrap()
    }

    /// Still running?
    pub fn alive(&mut self) -> bool {
        self.child.try_wait().unwrap().is_none()
    }

    /// Waits until stderr has been read up to `needle` (or 5 s).
    pub async fn wait_for_stderr(&self, needle: &str) -> bool {
        wait_for(&self.stderr, needle).await
    }

    /// Waits until stdout has been read up to `needle` (or 5 s).
    pub async fn wait_for_stdout(&self, needle: &str) -> bool {
        wait_for(&self.stdout, needle).await
    }
}

async fn wait_for(lines: &Mutex<Vec<String>>, needle: &str) -> bool {
    for _ in 0..200 {
        if lines.lock().unwrap().iter().any(|l| l.contains(needle)) {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    false
}

impl Drop for Handler {
    fn drop(&mut self) {
        // As the host does.
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Sends `body` to the handler the way the host does: POST, chunked (no Content-Length), JSON content
/// type, the `X-Azure-Functions-*` headers. Returns status, content type and body.
pub async fn invoke(
    port: u16,
    function: &str,
    body: &[u8],
    headers: &[(String, String)],
) -> (u16, String, String) {
    let chunks: Vec<Result<Vec<u8>, std::io::Error>> =
        body.chunks(97).map(|c| Ok(c.to_vec())).collect();
    let mut request = reqwest::Client::new()
        .post(format!("http://127.0.0.1:{port}/{function}"))
        .body(reqwest::Body::wrap_stream(futures_stream(chunks)));
    for (name, value) in headers {
        request = request.header(name, value);
    }
    let response = request.send().await.expect("the handler answers");
    let status = response.status().as_u16();
    let content_type = response
        .headers()
        .get("content-type")
        .map(|v| v.to_str().unwrap().to_owned())
        .unwrap_or_default();
    (status, content_type, response.text().await.unwrap())
}

fn futures_stream<T: Send + 'static>(
    items: Vec<T>,
) -> impl futures::Stream<Item = T> + Send + 'static {
    futures::stream::iter(items)
}

/// The host's headers for one invocation.
pub fn host_headers(invocation_id: &str) -> Vec<(String, String)> {
    [
        ("Content-Type", "application/json; charset=utf-8"),
        ("X-Azure-Functions-HostVersion", "4.1040.300.1"),
        ("X-Azure-Functions-InvocationId", invocation_id),
        ("User-Agent", "Azure-Functions-Host/4.1040.300.1"),
        (
            "traceparent",
            "00-bb2bd5eef54cb15a1506d0326d2489e7-d3f54c84c7034d76-00",
        ),
    ]
    .iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect()
}

/// A host payload for `POST /SyncHttp` with this JSON body, called with the function key in the
/// query string (`?code=`, as clients of a Function App do; the host passes it on).
pub fn sync_http_payload(body: &serde_json::Value) -> Vec<u8> {
    let req = serde_json::json!({
        "Url": format!("http://localhost:7071/api/SyncHttp?code={FUNCTION_KEY}"), "Method": "POST",
        "Query": { "code": FUNCTION_KEY },
        "Headers": { "Content-Type": ["application/json"] },
        "Body": body.to_string(),
    });
    serde_json::json!({ "Data": { "req": req }, "Metadata": {} })
        .to_string()
        .into_bytes()
}

/// POSTs `body` to the handler's SyncHttp as the host does; returns the client status and the report.
pub async fn sync_http(handler: &Handler, body: serde_json::Value) -> (u64, serde_json::Value) {
    let payload = sync_http_payload(&body);
    let (status, _, answer) = invoke(
        handler.port,
        "SyncHttp",
        &payload,
        &host_headers("sync-http"),
    )
    .await;
    assert_eq!(
        status, 200,
        "SyncHttp always answers the host 200: {answer}"
    );
    let answer: serde_json::Value = serde_json::from_str(&answer).unwrap();
    let res = &answer["Outputs"]["res"];
    let report = serde_json::from_str(res["body"].as_str().unwrap()).unwrap();
    (res["statusCode"].as_u64().unwrap(), report)
}

/// The length of the pieces of a secret that no output may hold.
pub const LEAK_WINDOW: usize = 12;

/// The function key the scenarios send (`?code=`), as distinctive as a real one.
pub const FUNCTION_KEY: &str = "fk-Qz7vW2pL9xR4tN8mK3jH6cB1";

/// Fails, naming the output and the secret (by its position in `secrets`, never by its value), if
/// any output holds a secret or any piece of one `LEAK_WINDOW` characters long. `outputs` are
/// `(where, text)`: handler stdout and stderr lines, reports, host answers, panic messages.
pub fn assert_no_leak(secrets: &[String], outputs: &[(&str, String)]) {
    let mut pieces = HashMap::new();
    for (index, secret) in secrets.iter().enumerate() {
        assert!(
            secret.len() >= LEAK_WINDOW,
            "secret #{index} is too short to search for"
        );
        for piece in secret.as_bytes().windows(LEAK_WINDOW) {
            pieces.insert(piece.to_vec(), index);
        }
    }
    for (place, text) in outputs {
        if let Some(index) = text
            .as_bytes()
            .windows(LEAK_WINDOW)
            .find_map(|w| pieces.get(w))
        {
            // Where it is, with every secret masked, so the leak can be found.
            let at = text
                .as_bytes()
                .windows(LEAK_WINDOW)
                .position(|w| pieces.contains_key(w))
                .unwrap_or(0);
            let mut from = at.saturating_sub(300);
            while !text.is_char_boundary(from) {
                from -= 1;
            }
            let mut to = (at + 100).min(text.len());
            while !text.is_char_boundary(to) {
                to += 1;
            }
            let mut around = text[from..to].to_owned();
            for secret in secrets {
                around = around.replace(secret.as_str(), "***");
            }
            for secret in secrets {
                for piece in secret.as_bytes().windows(LEAK_WINDOW) {
                    let piece = String::from_utf8_lossy(piece);
                    around = around.replace(piece.as_ref(), "*");
                }
            }
            panic!(
                "{place} holds secret #{index} (or a {LEAK_WINDOW}-character piece of it), here \
                 (secrets masked with *): ...{around}..."
            );
        }
    }
}

/// Every secret of `world` (PATs, the identity header, the access tokens issued so far) and the
/// function key.
pub fn secrets_of(world: &sandbox::world::World) -> Vec<String> {
    let mut secrets = world.secrets();
    secrets.push(FUNCTION_KEY.to_owned());
    secrets
}

/// The handler's stdout and stderr, one entry each, for [`assert_no_leak`].
pub fn handler_outputs(handler: &Handler) -> Vec<(&'static str, String)> {
    vec![
        ("handler stdout", handler.stdout().join("\n")),
        ("handler stderr", handler.stderr().join("\n")),
    ]
}

/// A deployed app folder, as in Azure: this repository's `host.json`, `SyncTimer/`, `SyncHttp/`,
/// `local.settings.example.json`, the `handler` binary and `sync-config.json` = `config`.
pub fn app_folder(config: &str) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let repo = Path::new(env!("CARGO_MANIFEST_DIR"));
    for file in ["host.json", "local.settings.example.json"] {
        std::fs::copy(repo.join(file), dir.path().join(file)).unwrap();
    }
    for function in sandbox::demo::FUNCTIONS {
        std::fs::create_dir(dir.path().join(function)).unwrap();
        let json = Path::new(function).join("function.json");
        std::fs::copy(repo.join(&json), dir.path().join(&json)).unwrap();
    }
    std::os::unix::fs::symlink(handler_exe(), dir.path().join("handler")).unwrap();
    std::fs::write(dir.path().join("sync-config.json"), config).unwrap();
    dir
}

/// The local Functions host running `app` against `world` (timers on, with a far schedule; `RUST_LOG`
/// `info` unless `settings` say otherwise), and every line it prints (the handler's own included).
pub async fn local_host(
    world: &sandbox::world::World,
    app: &tempfile::TempDir,
    settings: &[(&str, &str)],
) -> (sandbox::host::LocalHost, Arc<Mutex<Vec<String>>>) {
    let mut all = world.handler_env();
    all.extend(
        [
            ("RUST_LOG", "info"),
            ("SYNC_CONFIG_PATH", "sync-config.json"),
            ("SYNC_SCHEDULE", "0 0 0 1 1 *"),
            ("SUBSCRIPTION_SCHEDULE", "0 0 0 1 1 *"),
        ]
        .iter()
        .chain(settings)
        .map(|(k, v)| (k.to_string(), v.to_string())),
    );
    let settings = all;
    let (output, lines) = sandbox::host::Output::capture();
    let options = sandbox::host::HostOptions {
        port: 0,
        settings,
        env_remove: sandbox::world::World::ENV_TO_CLEAR
            .iter()
            .map(|v| v.to_string())
            .collect(),
        output,
        ..sandbox::host::HostOptions::new(app.path())
    };
    (
        sandbox::host::LocalHost::start(options).await.unwrap(),
        lines,
    )
}
