//! The local Functions host ([`sandbox::host`]) driving a tiny custom handler that is not our
//! product: the `fake_handler` binary of this package (`src/bin/fake_handler.rs`). It serves `GET /`
//! and one behaviour per function name, and echoes what it received (headers, payload, environment)
//! in `ReturnValue`, so the tests check the wire format in-process.

// Test code: a panic is how a test and its helpers report a broken precondition, so the crate's
// lints against unwrap/expect (meant for the emulators themselves) do not apply here.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use sandbox::host::{
    ConsoleLine, HandlerStatus, HostError, HostOptions, InvocationRecord, Level, LocalHost, Output,
    PROGRAMMATIC, RetryPolicy, RetryStrategy,
};
use serde_json::{Value, json};

// ---------------------------------------------------------------- helpers

const FAR: &str = "0 0 0 1 1 *";

fn timer_fn(schedule: &str, use_monitor: bool) -> Value {
    json!({"bindings": [{"name": "timer", "type": "timerTrigger", "direction": "in",
        "schedule": schedule, "useMonitor": use_monitor}]})
}

fn http_fn() -> Value {
    json!({"bindings": [
        {"name": "req", "type": "httpTrigger", "direction": "in", "authLevel": "function", "methods": ["get", "post"]},
        {"name": "res", "type": "http", "direction": "out"}
    ]})
}

/// An app folder whose handler is the `fake_handler` binary.
fn app(functions: &[(&str, Value)]) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let host = json!({
        "version": "2.0",
        "customHandler": {
            "description": {
                "defaultExecutablePath": env!("CARGO_BIN_EXE_fake_handler"),
                "arguments": ["--as-custom-handler"],
            },
            "enableForwardingHttpRequest": false,
        },
        "extensionBundle": {"id": "Microsoft.Azure.Functions.ExtensionBundle", "version": "[4.0.0, 5.0.0)"},
    });
    std::fs::write(dir.path().join("host.json"), host.to_string()).unwrap();
    for (name, function) in functions {
        std::fs::create_dir(dir.path().join(name)).unwrap();
        std::fs::write(
            dir.path().join(name).join("function.json"),
            function.to_string(),
        )
        .unwrap();
    }
    let settings = json!({"IsEncrypted": false, "Values": {"FROM_LOCAL_SETTINGS": "local", "TICK": "*/1 * * * * *"}});
    std::fs::write(dir.path().join("local.settings.json"), settings.to_string()).unwrap();
    dir
}

type Lines = Arc<Mutex<Vec<ConsoleLine>>>;

fn options(dir: &tempfile::TempDir) -> (HostOptions, Lines) {
    let lines: Lines = Arc::default();
    let sink = Arc::clone(&lines);
    let options = HostOptions {
        port: 0,
        settings: vec![("FROM_CALLER".into(), "caller".into())],
        output: Output::Callback(Arc::new(move |line: &ConsoleLine| {
            sink.lock().unwrap().push(line.clone())
        })),
        start_timers: false,
        ..HostOptions::new(dir.path())
    };
    (options, lines)
}

async fn start(functions: &[(&str, Value)]) -> (LocalHost, Lines, tempfile::TempDir) {
    let dir = app(functions);
    let (options, lines) = options(&dir);
    let host = LocalHost::start(options).await.unwrap();
    (host, lines, dir)
}

fn printed(lines: &Lines) -> Vec<String> {
    lines
        .lock()
        .unwrap()
        .iter()
        .map(ToString::to_string)
        .collect()
}

fn text(lines: &Lines) -> String {
    printed(lines).join("\n")
}

fn header<'a>(seen: &'a Value, name: &str) -> Vec<&'a str> {
    let list = seen["headers"].as_array().unwrap();
    list.iter()
        .filter(|h| h[0] == name)
        .map(|h| h[1].as_str().unwrap())
        .collect()
}

fn echoed(record: &InvocationRecord) -> &Value {
    &record.answer.as_ref().expect("a successful answer")["ReturnValue"]
}

async fn ready_with_new_pid(host: &LocalHost, old: u32) -> u32 {
    let status = host
        .wait_for_handler(
            Duration::from_secs(20),
            |s| matches!(s, HandlerStatus::Ready { pid, .. } if *pid != old),
        )
        .await
        .unwrap();
    let HandlerStatus::Ready { pid, .. } = status else {
        unreachable!()
    };
    pid
}

// ---------------------------------------------------------------- tests

#[tokio::test]
async fn readiness_is_polled_until_the_handler_listens_and_its_console_is_printed() {
    let dir = app(&[("Echo", timer_fn(FAR, false))]);
    let (mut options, lines) = options(&dir);
    options
        .settings
        .push(("FAKE_STARTUP_DELAY_MS".into(), "700".into()));
    let started = Instant::now();
    let host = LocalHost::start(options).await.unwrap();
    assert!(started.elapsed() >= Duration::from_millis(700));
    assert!(host.handler_pid().is_some());
    assert_eq!(host.restarts(), 0);
    assert!(host.invoke_timer("Echo").await.unwrap().succeeded);

    let all = lines.lock().unwrap().clone();
    let line = |needle: &str| {
        all.iter()
            .find(|l| l.text.contains(needle))
            .unwrap_or_else(|| panic!("{needle}"))
    };
    assert_eq!(line("fake handler listening on").level, Level::Information);
    assert_eq!(
        line("fake handler listening on").category,
        "Host.Function.Console"
    );
    assert_eq!(line("warning: a fake warning").level, Level::Warning);
    assert_eq!(line("a fake line on stderr").level, Level::Error);
    assert!(
        line("Worker process started and initialized")
            .text
            .contains("pid")
    );
    // The console prefix: [2026-11-28T11:00:00.123Z]
    let first = printed(&lines)[0].clone();
    let stamp = &first[..first.find("] ").unwrap() + 2];
    assert_eq!(stamp.len(), "[2026-11-28T11:00:00.123Z] ".len(), "{first}");
    assert!(
        stamp.starts_with("[20") && stamp.ends_with("Z] ") && &stamp[11..12] == "T",
        "{first}"
    );
    host.stop().await;
}

#[tokio::test]
async fn a_timer_invocation_is_sent_as_the_host_sends_it() {
    let (host, lines, dir) = start(&[
        ("Echo", timer_fn(FAR, false)),
        ("Monitored", timer_fn(FAR, true)),
    ])
    .await;
    let record = host.invoke_timer("Echo").await.unwrap();
    assert!(record.succeeded, "{record:?}");
    assert_eq!(
        (record.status, record.reason.as_str(), record.retry_count),
        (Some(200), PROGRAMMATIC, 0)
    );
    assert_eq!(record.logs, ["first log line", "second log line"]);
    let seen = echoed(&record);

    // Headers: chunked, no Content-Length, the host's names and values.
    assert_eq!(seen["method"], "POST");
    assert_eq!(
        header(seen, "content-type"),
        ["application/json; charset=utf-8"]
    );
    assert_eq!(header(seen, "transfer-encoding"), ["chunked"]);
    assert!(header(seen, "content-length").is_empty());
    assert_eq!(
        header(seen, "x-azure-functions-hostversion"),
        ["4.1040.300.1"]
    );
    assert_eq!(
        header(seen, "x-azure-functions-invocationid"),
        [record.id.as_str()]
    );
    assert_eq!(
        header(seen, "user-agent"),
        ["Azure-Functions-Host/4.1040.300.1"]
    );
    let trace = header(seen, "traceparent")[0]
        .split('-')
        .map(str::len)
        .collect::<Vec<_>>();
    assert_eq!(trace, [2, 32, 16, 2]);

    // The payload, exactly.
    let payload = &seen["payload"];
    assert_eq!(payload.as_object().unwrap().len(), 2);
    assert_eq!(
        payload["Data"],
        json!({"timer": {"Schedule": {"AdjustForDST": true}, "ScheduleStatus": null, "IsPastDue": false}})
    );
    let sys = &payload["Metadata"]["sys"];
    assert_eq!(
        payload["Metadata"].as_object().unwrap().len(),
        1,
        "{payload}"
    );
    assert_eq!(sys["MethodName"], "Echo");
    assert!(sys["UtcNow"].as_str().unwrap().ends_with('Z'));
    assert!(uuid::Uuid::parse_str(sys["RandGuid"].as_str().unwrap()).is_ok());

    // The environment of the handler.
    let env = &seen["env"];
    assert_eq!(
        env["FUNCTIONS_CUSTOMHANDLER_PORT"],
        env["FUNCTIONS_HTTPWORKER_PORT"]
    );
    assert!(
        uuid::Uuid::parse_str(env["FUNCTIONS_CUSTOMHANDLER_WORKER_ID"].as_str().unwrap()).is_ok()
    );
    let root = std::fs::canonicalize(dir.path()).unwrap();
    assert_eq!(env["FUNCTIONS_APP_ROOT_PATH"], root.display().to_string());
    assert_eq!(seen["cwd"], root.display().to_string());
    assert_eq!(
        (&env["FROM_LOCAL_SETTINGS"], &env["FROM_CALLER"]),
        (&json!("local"), &json!("caller"))
    );

    // useMonitor: the status before the (first) run.
    let monitored = host.invoke_timer("Monitored").await.unwrap();
    let status = &echoed(&monitored)["payload"]["Data"]["timer"]["ScheduleStatus"];
    assert_eq!(status["Last"], "0001-01-01T00:00:00+00:00");
    let next = status["Next"].as_str().unwrap();
    assert!(next.ends_with("-01-01T00:00:00+00:00"), "{next}");
    assert!(status["LastUpdated"].as_str().unwrap().ends_with("+00:00"));

    // What was printed, in order.
    let out = printed(&lines);
    let at = |needle: &str| {
        out.iter()
            .position(|l| l.contains(needle))
            .unwrap_or_else(|| panic!("{needle}"))
    };
    let executing = at(&format!(
        "] Executing 'Functions.Echo' (Reason='This function was programmatically called via the host APIs.', Id={})",
        record.id
    ));
    let log = at("] first log line");
    let executed = at(&format!(
        "] Executed 'Functions.Echo' (Succeeded, Id={}, Duration=",
        record.id
    ));
    assert!(executing < log && log < executed, "{out:#?}");
    assert!(out[executed].ends_with("ms)"));
    host.stop().await;
}

#[tokio::test]
async fn an_http_function_round_trips_query_headers_body_and_outputs_res() {
    let (host, lines, _dir) = start(&[
        ("Http", http_fn()),
        ("HttpFail", http_fn()),
        ("Echo", timer_fn(FAR, false)),
    ])
    .await;
    let client = reqwest::Client::new();
    let url = format!("{}/api/Http?x=1&x=2&code=abc", host.url());
    let response = client
        .post(&url)
        .header("X-Custom", "a")
        .header("Content-Type", "application/json")
        .body(r#"{"hello":"world"}"#)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 201);
    assert_eq!(response.headers()["x-fake"], "yes");
    assert_eq!(response.headers()["content-type"], "application/json");
    let echo: Value = response.json().await.unwrap();
    let req = &echo["req"];
    assert_eq!(req["Url"], url);
    assert_eq!(req["Method"], "POST");
    assert_eq!(req["Query"], json!({"x": "1,2", "code": "abc"}));
    assert_eq!(req["Headers"]["X-Custom"], json!(["a"]));
    assert_eq!(req["Headers"]["Content-Type"], json!(["application/json"]));
    assert_eq!(req["Params"], json!({}));
    assert_eq!(req["Body"], r#"{"hello":"world"}"#);
    assert_eq!(req["Identities"][0]["IsAuthenticated"], false);
    let metadata = &echo["metadata"];
    assert_eq!(metadata["Query"], json!({"x": "1,2"}));
    assert_eq!(
        (&metadata["x"], &metadata["hello"]),
        (&json!("1,2"), &json!("world"))
    );
    assert_eq!(metadata["Headers"]["X-Custom"], "a");
    assert_eq!(metadata["sys"]["MethodName"], "Http");
    assert!(text(&lines).contains("] http log line"));

    // GET without a body: no Body; method names are case-insensitive in the route.
    let echo: Value = client
        .get(format!("{}/API/http", host.url()))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(echo["req"]["Method"], "GET");
    assert!(echo["req"].get("Body").is_none(), "{echo}");
    // A method not listed, an unknown function: 404. A failed invocation: a bare 500.
    assert_eq!(
        client
            .put(format!("{}/api/Http", host.url()))
            .send()
            .await
            .unwrap()
            .status(),
        404
    );
    assert_eq!(
        client
            .get(format!("{}/api/Nope", host.url()))
            .send()
            .await
            .unwrap()
            .status(),
        404
    );
    let failed = client
        .post(format!("{}/api/HttpFail", host.url()))
        .send()
        .await
        .unwrap();
    assert_eq!(failed.status(), 500);
    assert_eq!(failed.text().await.unwrap(), "");

    // The admin API: 202 at once, the run in the background.
    let admin = client
        .post(format!("{}/admin/functions/Echo", host.url()))
        .json(&json!({"input": ""}))
        .send()
        .await
        .unwrap();
    assert_eq!(admin.status(), 202);
    let runs = host
        .wait_for_invocations("Echo", 1, Duration::from_secs(10))
        .await
        .unwrap();
    assert!(runs[0].succeeded && runs[0].reason == PROGRAMMATIC);
    let missing = client
        .post(format!("{}/admin/functions/Nope", host.url()))
        .send()
        .await
        .unwrap();
    assert_eq!(missing.status(), 404);
    // The status page.
    let status: Value = client
        .get(format!("{}/admin/host/status", host.url()))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(status["state"], "Running");
    assert_eq!(status["handler"]["pid"], json!(host.handler_pid()));
    host.stop().await;
}

#[tokio::test]
async fn non_2xx_and_non_json_answers_fail_without_the_body() {
    let (host, lines, _dir) = start(&[
        ("Fail500", timer_fn(FAR, false)),
        ("Text", timer_fn(FAR, false)),
    ])
    .await;
    let record = host.invoke_timer("Fail500").await.unwrap();
    assert!(!record.succeeded);
    assert_eq!(record.status, Some(500));
    assert_eq!(
        record.error.as_deref(),
        Some("Response status code does not indicate success: 500 (Internal Server Error).")
    );
    assert!(record.logs.is_empty());
    let out = text(&lines);
    assert!(
        out.contains(&format!(
            "] Executed 'Functions.Fail500' (Failed, Id={}, Duration=",
            record.id
        )),
        "{out}"
    );
    assert!(!out.contains("SECRET-IN-BODY"), "{out}");

    let record = host.invoke_timer("Text").await.unwrap();
    assert!(!record.succeeded);
    assert!(
        record
            .error
            .unwrap()
            .contains("with media type 'text/plain'")
    );
    host.stop().await;
}

#[tokio::test]
async fn an_empty_answer_waits_for_the_function_timeout_which_restarts_the_handler() {
    let dir = app(&[
        ("Empty", timer_fn(FAR, false)),
        ("Echo", timer_fn(FAR, false)),
    ]);
    let (mut options, lines) = options(&dir);
    options.function_timeout = Some(Duration::from_secs(1));
    let host = LocalHost::start(options).await.unwrap();
    let pid = host.handler_pid().unwrap();
    let started = Instant::now();
    let record = host.invoke_timer("Empty").await.unwrap();
    assert!(started.elapsed() >= Duration::from_secs(1));
    assert!(!record.succeeded);
    assert_eq!(
        record.error.as_deref(),
        Some("Timeout value of 00:00:01 was exceeded by function: Functions.Empty")
    );
    let out = text(&lines);
    assert!(
        out.contains("the real host waits for the function timeout"),
        "{out}"
    );
    assert!(
        out.contains("Timeout value of 00:00:01 exceeded by function 'Functions.Empty'"),
        "{out}"
    );
    let new_pid = ready_with_new_pid(&host, pid).await;
    assert_ne!(new_pid, pid);
    assert!(host.invoke_timer("Echo").await.unwrap().succeeded);
    host.stop().await;
}

#[tokio::test]
async fn a_handler_that_exits_non_zero_is_restarted_and_the_third_error_stops_the_host() {
    let (host, lines, _dir) = start(&[
        ("Exit1", timer_fn(FAR, false)),
        ("Echo", timer_fn(FAR, false)),
        ("Http", http_fn()),
    ])
    .await;
    let first = host.handler_pid().unwrap();
    let record = host.invoke_timer("Exit1").await.unwrap();
    assert!(!record.succeeded && record.status.is_none(), "{record:?}");
    let second = ready_with_new_pid(&host, first).await;
    assert_eq!(host.restarts(), 1);
    assert!(host.invoke_timer("Echo").await.unwrap().succeeded);
    assert!(text(&lines).contains(&format!("(pid {first}) exited with code 1")));

    // Two more errors within 30 minutes: the host shuts down.
    host.invoke_timer("Exit1").await.unwrap();
    ready_with_new_pid(&host, second).await;
    host.invoke_timer("Exit1").await.unwrap();
    let error = tokio::time::timeout(Duration::from_secs(10), host.wait_for_shutdown())
        .await
        .unwrap();
    assert!(
        matches!(&error, HostError::Handler(m) if m.contains("exited with code 1")),
        "{error:?}"
    );
    assert!(
        text(&lines)
            .contains("Exceeded http worker restart retry count. Shutting down Functions Host")
    );
    let answer = reqwest::get(format!("{}/api/Http", host.url()))
        .await
        .unwrap();
    assert_eq!(answer.status(), 503);
    host.stop().await;
}

#[tokio::test]
async fn a_handler_that_exits_zero_is_gone_and_not_restarted() {
    let (host, lines, _dir) = start(&[
        ("Exit0", timer_fn(FAR, false)),
        ("Echo", timer_fn(FAR, false)),
    ])
    .await;
    let pid = host.handler_pid().unwrap();
    assert!(!host.invoke_timer("Exit0").await.unwrap().succeeded);
    let status = host
        .wait_for_handler(Duration::from_secs(10), |s| {
            matches!(s, HandlerStatus::Gone { .. })
        })
        .await
        .unwrap();
    assert_eq!(status, HandlerStatus::Gone { pid });
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(host.restarts(), 0);
    let record = host.invoke_timer("Echo").await.unwrap();
    assert!(
        record
            .error
            .unwrap()
            .contains("exited with code 0 and is not restarted")
    );
    assert!(text(&lines).contains("the process is gone and is not restarted"));
    host.stop().await;
}

#[tokio::test]
async fn timers_fire_on_their_schedule_with_the_status_before_each_run() {
    let dir = app(&[
        ("Tick", timer_fn("%TICK%", true)),
        (
            "Startup",
            json!({"bindings": [{"name": "t",
        "type": "timerTrigger", "direction": "in", "schedule": FAR, "runOnStartup": true}]}),
        ),
    ]);
    let (mut options, lines) = options(&dir);
    options.start_timers = true;
    let host = LocalHost::start(options).await.unwrap();
    let startup = host
        .wait_for_invocations("Startup", 1, Duration::from_secs(10))
        .await
        .unwrap();
    assert!(
        startup[0].reason.starts_with("Timer fired at "),
        "{:?}",
        startup[0]
    );
    assert_eq!(
        echoed(&startup[0])["payload"]["Data"]["t"]["ScheduleStatus"]["Last"],
        "0001-01-01T00:00:00+00:00"
    );

    tokio::time::sleep(Duration::from_millis(2500)).await;
    let ticks = host
        .wait_for_invocations("Tick", 2, Duration::from_secs(5))
        .await
        .unwrap();
    for tick in &ticks {
        assert!(tick.succeeded);
        // Timer fired at 2026-11-28T11:00:00.0000000+00:00
        let at = tick.reason.strip_prefix("Timer fired at ").unwrap();
        assert_eq!(
            (at.len(), &at[19..20], &at[27..]),
            (33, ".", "+00:00"),
            "{at}"
        );
    }
    let status = |i: usize| echoed(&ticks[i])["payload"]["Data"]["timer"]["ScheduleStatus"].clone();
    assert_eq!(status(0)["Last"], "0001-01-01T00:00:00+00:00");
    assert_eq!(
        status(1)["Last"],
        status(0)["Next"],
        "{} / {}",
        status(0),
        status(1)
    );
    assert!(
        text(&lines)
            .contains("The next 5 occurrences of the 'Tick' schedule (*/1 * * * * *) will be:")
    );
    host.stop().await;
}

#[tokio::test]
async fn failed_timer_runs_are_retried_with_a_retry_context() {
    let mut flaky = timer_fn(FAR, false);
    flaky["retry"] =
        json!({"strategy": "fixedDelay", "maxRetryCount": 3, "delayInterval": "00:00:00.2"});
    let (host, lines, _dir) = start(&[("Flaky", flaky)]).await;
    let record = host.invoke_timer("Flaky").await.unwrap();
    assert!(record.succeeded, "{record:?}");
    assert_eq!(record.retry_count, 2);
    let context = &echoed(&record)["payload"]["Metadata"]["RetryContext"];
    assert_eq!(
        (&context["RetryCount"], &context["MaxRetryCount"]),
        (&json!(2), &json!(3))
    );
    assert_eq!(
        context["Exception"]["Message"],
        "Response status code does not indicate success: 500 (Internal Server Error)."
    );
    let all = host.invocations();
    let outcomes: Vec<(bool, u32)> = all.iter().map(|r| (r.succeeded, r.retry_count)).collect();
    assert_eq!(outcomes, [(false, 0), (false, 1), (true, 2)]);
    let out = text(&lines);
    assert!(out.contains("FLAKY call 0 RetryContext=null"), "{out}");
    assert!(
        out.contains(r#"FLAKY call 1 RetryContext={"Exception""#),
        "{out}"
    );
    let waiting = "Waiting for 00:00:00.2000000 before retrying function execution. \
                   Next attempt: '1'. Max retry count: '3'";
    assert!(out.contains(waiting), "{out}");

    let backoff = RetryPolicy {
        strategy: RetryStrategy::ExponentialBackoff {
            minimum: Duration::from_secs(1),
            maximum: Duration::from_secs(5),
        },
        max_retry_count: 4,
    };
    let delays: Vec<u64> = (1..=4).map(|n| backoff.delay(n).as_secs()).collect();
    assert_eq!(delays, [1, 2, 4, 5]);
    assert!(backoff.allows(4) && !backoff.allows(5));
    host.stop().await;
}

#[tokio::test]
async fn a_handler_that_never_listens_is_killed_after_the_startup_limit_three_times() {
    let dir = app(&[("Echo", timer_fn(FAR, false))]);
    let (mut options, lines) = options(&dir);
    options
        .settings
        .push(("FAKE_STARTUP_DELAY_MS".into(), "60000".into()));
    options.startup_timeout = Duration::from_millis(300);
    let started = Instant::now();
    let Err(error) = LocalHost::start(options).await else {
        panic!("started")
    };
    assert!(started.elapsed() < Duration::from_secs(20));
    assert!(
        matches!(&error, HostError::Handler(m) if m.contains("did not answer GET /")),
        "{error}"
    );
    assert_eq!(text(&lines).matches("did not answer GET /").count(), 3);
}

#[tokio::test]
async fn bad_app_folders_are_refused_naming_the_file() {
    let start_err = |dir: &tempfile::TempDir| {
        let (options, _) = options(dir);
        async move { LocalHost::start(options).await.err().unwrap().to_string() }
    };
    let empty = tempfile::tempdir().unwrap();
    assert!(start_err(&empty).await.contains("host.json: not found"));

    let dir = app(&[("Echo", timer_fn(FAR, false))]);
    let host_json = dir.path().join("host.json");
    let mut host: Value =
        serde_json::from_str(&std::fs::read_to_string(&host_json).unwrap()).unwrap();
    host["customHandler"]["enableForwardingHttpRequest"] = true.into();
    std::fs::write(&host_json, host.to_string()).unwrap();
    let err = start_err(&dir).await;
    assert!(
        err.contains("host.json: customHandler.enableForwardingHttpRequest is true"),
        "{err}"
    );

    let dir = app(&[("Echo", timer_fn("%MISSING%", false))]);
    let err = start_err(&dir).await;
    assert!(
        err.contains("Echo/function.json: schedule '%MISSING%': app setting 'MISSING' is not set"),
        "{err}"
    );

    let dir = app(&[("Echo", timer_fn(FAR, false))]);
    std::fs::write(dir.path().join("Echo/function.json"), "{ nope").unwrap();
    let err = start_err(&dir).await;
    assert!(err.contains("Echo/function.json: not valid JSON"), "{err}");

    let mut retry = timer_fn(FAR, false);
    retry["retry"] = json!({"strategy": "linear", "maxRetryCount": 1});
    let dir = app(&[("Echo", retry)]);
    let err = start_err(&dir).await;
    assert!(
        err.contains("Echo/function.json: retry: \"strategy\" must be"),
        "{err}"
    );
}
