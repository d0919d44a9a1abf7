//! Timer functions as the timer extension runs them: fired on their schedule (UTC), once at start
//! with `runOnStartup`, or on demand (admin API, [`super::LocalHost::invoke_timer`]). Invocations of
//! one timer function never overlap: a scheduled tick that finds one running is skipped (like the
//! singleton lock), an on-demand one waits. `ScheduleStatus` (with `useMonitor`) is the state before
//! the run and is updated after each scheduled or start-up run; on-demand runs only read it. A failed
//! invocation is retried under the function's `retry` policy with `Metadata.RetryContext`.

use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use serde_json::{Map, Value, json};
use time::OffsetDateTime;

use super::clock;
use super::console::TIMER;
use super::function::{FunctionInfo, TimerTrigger, Trigger};
use super::invoke::{Call, PROGRAMMATIC, invoke};
use super::local_host::Shared;
use super::options::InvocationRecord;
use super::payload;

/// The schedule monitor's record (what the host keeps in storage).
#[derive(Debug, Clone, Copy)]
struct ScheduleStatus {
    /// `None`: never ran (`0001-01-01T00:00:00+00:00`).
    last: Option<OffsetDateTime>,
    next: Option<OffsetDateTime>,
    last_updated: OffsetDateTime,
}

impl ScheduleStatus {
    fn to_json(self) -> Value {
        json!({
            "Last": self.last.map_or_else(|| clock::NEVER.to_owned(), clock::json_local),
            "Next": self.next.map_or_else(|| clock::NEVER.to_owned(), clock::json_local),
            "LastUpdated": clock::json_local(self.last_updated),
        })
    }
}

/// Per timer function: the run lock and the schedule status.
#[derive(Debug)]
pub(crate) struct TimerState {
    lock: tokio::sync::Mutex<()>,
    status: Mutex<ScheduleStatus>,
}

impl TimerState {
    /// The state at host start: never ran, next occurrence from now.
    pub(crate) fn new(trigger: &TimerTrigger, now: OffsetDateTime) -> TimerState {
        TimerState {
            lock: tokio::sync::Mutex::new(()),
            status: Mutex::new(ScheduleStatus {
                last: None,
                next: trigger.parsed.next_after(now),
                last_updated: now,
            }),
        }
    }
}

impl TimerState {
    /// The schedule starts: a status that never ran counts from now, as the schedule monitor's
    /// first check does.
    fn listening(&self, trigger: &TimerTrigger, now: OffsetDateTime) {
        let mut status = self.status.lock().unwrap_or_else(PoisonError::into_inner);
        if status.last.is_none() {
            status.next = trigger.parsed.next_after(now);
            status.last_updated = now;
        }
    }
}

/// Why a timer function runs.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Firing {
    /// The schedule's occurrence at this time.
    Scheduled(OffsetDateTime),
    Startup,
    /// Admin API or `invoke_timer`.
    OnDemand,
}

/// Runs a timer function (with its retries); `None` when a scheduled tick was skipped because an
/// invocation of the function is still running.
pub(crate) async fn fire(
    shared: &Arc<Shared>,
    function: &FunctionInfo,
    firing: Firing,
) -> Option<InvocationRecord> {
    let Trigger::Timer(trigger) = &function.trigger else {
        return None;
    };
    let state = shared.timers.get(&function.name)?;
    let _running = match firing {
        Firing::Scheduled(at) => match state.lock.try_lock() {
            Ok(guard) => guard,
            Err(_) => {
                shared.console.info(
                    TIMER,
                    format!(
                        "Skipping the occurrence of '{}' at {}: an invocation is still running.",
                        function.name,
                        clock::round_trip(at)
                    ),
                );
                return None;
            }
        },
        Firing::Startup | Firing::OnDemand => state.lock.lock().await,
    };
    let status = trigger
        .use_monitor
        .then(|| *state.status.lock().unwrap_or_else(PoisonError::into_inner));
    let invoked_at = clock::now();
    let reason = match firing {
        Firing::OnDemand => PROGRAMMATIC.to_owned(),
        _ => format!("Timer fired at {}", clock::round_trip(invoked_at)),
    };
    let data = payload::timer_input(
        &trigger.binding,
        status.map_or(Value::Null, ScheduleStatus::to_json),
        false,
    );
    let call = |retry_count: u32, metadata: Map<String, Value>| Call {
        function: function.name.clone(),
        reason: reason.clone(),
        data: data.clone(),
        metadata,
        retry_count,
        http_output: None,
    };
    let mut record = invoke(shared, call(0, Map::new())).await.record;
    if let Some(policy) = &function.retry {
        let mut retry = 0;
        while !record.succeeded && policy.allows(retry + 1) {
            retry += 1;
            let delay = policy.delay(retry);
            shared.console.info(
                &format!("Function.{}", function.name),
                format!(
                    "Waiting for {} before retrying function execution. Next attempt: '{retry}'. Max retry count: '{}'",
                    clock::format_timespan(delay),
                    policy.max_retry_count
                ),
            );
            tokio::time::sleep(delay).await;
            let context = payload::retry_context(
                retry,
                policy.max_retry_count,
                record.error.as_deref().unwrap_or_default(),
            );
            let metadata = Map::from_iter([("RetryContext".to_owned(), context)]);
            record = invoke(shared, call(retry, metadata)).await.record;
        }
    }
    if trigger.use_monitor {
        let last = match firing {
            Firing::Scheduled(at) => Some(at),
            Firing::Startup => Some(invoked_at),
            Firing::OnDemand => None,
        };
        if let Some(last) = last {
            *state.status.lock().unwrap_or_else(PoisonError::into_inner) = ScheduleStatus {
                last: Some(last),
                next: trigger.parsed.next_after(last),
                last_updated: clock::now(),
            };
        }
    }
    Some(record)
}

/// Runs a timer function on its schedule until aborted (after the start-up run, if asked for).
pub(crate) async fn schedule_loop(shared: Arc<Shared>, function: Arc<FunctionInfo>) {
    let Trigger::Timer(trigger) = &function.trigger else {
        return;
    };
    let mut after = clock::now();
    if let Some(state) = shared.timers.get(&function.name) {
        state.listening(trigger, after);
    }
    if trigger.run_on_startup {
        fire(&shared, &function, Firing::Startup).await;
        after = clock::now();
    }
    loop {
        let Some(next) = trigger.parsed.next_after(after) else {
            shared.console.warn(
                TIMER,
                format!(
                    "The schedule of '{}' has no further occurrence.",
                    function.name
                ),
            );
            return;
        };
        sleep_until(next).await;
        fire(&shared, &function, Firing::Scheduled(next)).await;
        after = next.max(clock::now());
    }
}

/// Sleeps until the wall clock reaches `t` (in steps, so a clock change is noticed).
async fn sleep_until(t: OffsetDateTime) {
    loop {
        let left = t - clock::now();
        if left <= time::Duration::ZERO {
            return;
        }
        let left = Duration::try_from(left).unwrap_or_default();
        tokio::time::sleep(left.min(Duration::from_secs(60))).await;
    }
}

/// The next occurrences, as the host lists them when a timer starts.
pub(crate) fn announce(shared: &Shared, function: &FunctionInfo) {
    let Trigger::Timer(trigger) = &function.trigger else {
        return;
    };
    shared.console.info(
        TIMER,
        format!(
            "The next 5 occurrences of the '{}' schedule ({}) will be:",
            function.name, trigger.schedule
        ),
    );
    let mut at = clock::now();
    for _ in 0..5 {
        let Some(next) = trigger.parsed.next_after(at) else {
            break;
        };
        shared.console.info(TIMER, clock::json_local(next));
        at = next;
    }
}
