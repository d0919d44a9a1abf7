//! The pace of one workspace's SCIM requests: the configured `scimRequestsPerSecond` is a ceiling, and
//! the workspace's own answers move the rate under it (AIMD, as TCP does with its window).
//!
//! - Every attempt, retries included, waits for its slot: requests are spaced `1 / rate` apart
//!   (GCRA, with a burst of 10 ms worth above 100 requests/s, where a tokio timer's 1 ms resolution
//!   would otherwise bind), in the order they asked (a fair queue).
//! - A 429 holds the whole workspace until its `Retry-After` ends (1 s without one): no request of the
//!   workspace is sent before, not only the one that is retried.
//! - A 429 halves the rate (down to a thirty-second of the ceiling), once per throttling episode: only a
//!   429 to a request sent after the last cut counts, so the 429s of requests already in flight when the
//!   first came back do not halve it again. A 429 to a retry sent after the hold is a new episode.
//! - Clean answers (any status below 500 but 429) grow the rate back by a twentieth of the ceiling per
//!   second (from half to full in 10 s), never above the ceiling.
//!
//! The decisions are plain functions of the time they are given ([`Pacer::slot`], [`Pacer::answered`]),
//! unit-tested with made-up instants; only [`Pacer::admit`] sleeps.

use std::sync::{Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use reqwest::StatusCode;
use tokio::time::Instant;

/// How long a 429 without a usable `Retry-After` holds the workspace.
const DEFAULT_HOLD: Duration = Duration::from_secs(1);
/// The rate never falls below this share of the ceiling (a workspace that throttles everything still
/// gets its requests through, slowly, and the retries in `http.rs` stay bounded).
const FLOOR_SHARE: f64 = 1.0 / 32.0;
/// Additive increase: per second of clean answers, this share of the ceiling.
const GROWTH_SHARE: f64 = 1.0 / 20.0;

/// What the pacer knows of one workspace.
#[derive(Debug)]
struct State {
    rate: f64,
    /// When the next request may go at the current rate (GCRA's theoretical arrival time).
    next: Instant,
    /// The end of the last `Retry-After`: nothing is sent before it.
    hold_until: Instant,
    /// Cuts so far: a request admitted under an older count was sent before the last cut.
    cuts: u64,
    /// Clean answers grow the rate for the time since this.
    grown_at: Instant,
}

/// One workspace's pace. Shared by every call of the workspace's sync.
#[derive(Debug)]
pub struct Pacer {
    ceiling: f64,
    /// Requests allowed back to back (1 up to 100 requests/s).
    burst: u32,
    state: Mutex<State>,
    /// Waiters take their slot in the order they came (tokio's mutex is fair).
    queue: tokio::sync::Mutex<()>,
}

/// What an admitted attempt carries back to [`Pacer::answered`]: the cuts made before it was sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Admission {
    cuts: u64,
}

/// How an attempt was answered, as the pacer learns from it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Answer {
    /// 429, with the `Retry-After` it carried (capped by `http.rs`).
    Throttled(Option<Duration>),
    /// An answer that says nothing of throttling: below 500 and not 429.
    Clean,
    /// A server error or no answer: neither a cut nor growth.
    Other,
}

impl Answer {
    pub fn of(status: Option<StatusCode>, retry_after: Option<Duration>) -> Answer {
        match status.map(|s| s.as_u16()) {
            Some(429) => Answer::Throttled(retry_after),
            Some(status) if status < 500 => Answer::Clean,
            _ => Answer::Other,
        }
    }
}

impl Pacer {
    /// A pacer at `ceiling` requests per second (at least 0.001), starting at the ceiling.
    pub fn new(ceiling: f64, now: Instant) -> Pacer {
        let ceiling = if ceiling.is_finite() {
            ceiling.max(0.001)
        } else {
            0.001
        };
        Pacer {
            ceiling,
            burst: ((ceiling / 100.0).ceil() as u32).max(1),
            state: Mutex::new(State {
                rate: ceiling,
                next: now,
                hold_until: now,
                cuts: 0,
                grown_at: now,
            }),
            queue: tokio::sync::Mutex::new(()),
        }
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The configured rate, which the pace never exceeds.
    pub fn ceiling(&self) -> f64 {
        self.ceiling
    }

    /// The current rate, requests per second.
    pub fn rate(&self) -> f64 {
        self.lock().rate
    }

    /// Whether an attempt may go at `now` (then its slot is taken), or the instant to wait for.
    pub fn slot(&self, now: Instant) -> Result<Admission, Instant> {
        let mut state = self.lock();
        let interval = Duration::from_secs_f64(1.0 / state.rate);
        let tolerance = interval * (self.burst - 1);
        let at = state
            .next
            .checked_sub(tolerance)
            .unwrap_or(now)
            .max(state.hold_until);
        if at > now {
            return Err(at);
        }
        state.next = state.next.max(now) + interval;
        Ok(Admission { cuts: state.cuts })
    }

    /// Waits for a slot and takes it.
    pub async fn admit(&self) -> Admission {
        let _turn = self.queue.lock().await;
        loop {
            match self.slot(Instant::now()) {
                Ok(admission) => return admission,
                // A cut while asleep moves the slot later: asked again on waking.
                Err(at) => tokio::time::sleep_until(at).await,
            }
        }
    }

    /// Learns from the answer to an attempt admitted as `admission`; says whether the rate was cut.
    pub fn answered(&self, admission: Admission, answer: Answer, now: Instant) -> bool {
        let mut state = self.lock();
        match answer {
            Answer::Throttled(retry_after) => {
                let hold = now + retry_after.unwrap_or(DEFAULT_HOLD);
                state.hold_until = state.hold_until.max(hold);
                if admission.cuts != state.cuts {
                    // Sent before the last cut: the same episode, already answered by that cut.
                    return false;
                }
                state.rate = (state.rate / 2.0).max(self.ceiling * FLOOR_SHARE);
                state.cuts += 1;
                state.grown_at = state.hold_until;
                true
            }
            Answer::Clean => {
                if now > state.grown_at {
                    let clean = (now - state.grown_at).as_secs_f64();
                    state.rate =
                        (state.rate + self.ceiling * GROWTH_SHARE * clean).min(self.ceiling);
                    state.grown_at = now;
                }
                false
            }
            Answer::Other => false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    /// Takes slots at every millisecond from `from` for `span`: the instants admitted.
    /// A pacer at `rate` whose first request, at `start`, was answered 429 with this `Retry-After`.
    fn throttled(rate: f64, retry_after: Option<Duration>) -> (Instant, Pacer, Admission) {
        let start = Instant::now();
        let pacer = Pacer::new(rate, start);
        let sent = pacer.slot(start).unwrap();
        pacer.answered(sent, Answer::Throttled(retry_after), start);
        (start, pacer, sent)
    }

    fn admitted(pacer: &Pacer, from: Instant, span: Duration) -> Vec<Duration> {
        let mut out = Vec::new();
        let mut t = from;
        while t < from + span {
            if pacer.slot(t).is_ok() {
                out.push(t - from);
            }
            t += ms(1);
        }
        out
    }

    #[test]
    fn requests_are_spaced_at_the_ceiling_from_the_start() {
        let start = Instant::now();
        let pacer = Pacer::new(4.0, start);
        assert_eq!(
            admitted(&pacer, start, ms(1_000)),
            [ms(0), ms(250), ms(500), ms(750)]
        );
        assert_eq!(pacer.slot(start + ms(1_000)).map(drop), Ok(()));
        assert_eq!(pacer.slot(start + ms(1_001)), Err(start + ms(1_250)));
    }

    #[test]
    fn above_a_hundred_per_second_ten_ms_worth_may_go_back_to_back() {
        let start = Instant::now();
        let pacer = Pacer::new(1_000.0, start);
        let mut at_once = 0;
        while pacer.slot(start).is_ok() {
            at_once += 1;
        }
        assert_eq!(at_once, 10);
    }

    #[test]
    fn a_429_halves_the_rate_and_holds_every_request_until_its_retry_after() {
        let start = Instant::now();
        let pacer = Pacer::new(4.0, start);
        let sent = pacer.slot(start).unwrap();
        let cut = pacer.answered(sent, Answer::Throttled(Some(ms(2_000))), start + ms(10));
        assert!(cut);
        assert_eq!(pacer.rate(), 2.0);
        // Nothing goes before the hold ends, though the slot at 250 ms was free.
        assert_eq!(pacer.slot(start + ms(300)), Err(start + ms(2_010)));
        assert!(pacer.slot(start + ms(2_010)).is_ok());
        // Then half the rate: 500 ms apart.
        assert_eq!(pacer.slot(start + ms(2_011)), Err(start + ms(2_510)));
    }

    #[test]
    fn a_429_without_retry_after_holds_one_second() {
        let (start, pacer, _) = throttled(4.0, None);
        assert_eq!(pacer.slot(start + ms(1)), Err(start + DEFAULT_HOLD));
    }

    #[test]
    fn the_429s_of_requests_in_flight_before_the_cut_do_not_cut_again() {
        let start = Instant::now();
        let pacer = Pacer::new(1_000.0, start);
        // Ten requests in flight at once (the burst), all answered 429.
        let in_flight: Vec<Admission> = (0..10).map(|_| pacer.slot(start).unwrap()).collect();
        let cuts: Vec<bool> = in_flight
            .iter()
            .map(|&a| pacer.answered(a, Answer::Throttled(Some(ms(1_000))), start + ms(5)))
            .collect();
        assert_eq!(cuts.iter().filter(|&&c| c).count(), 1, "{cuts:?}");
        assert_eq!(pacer.rate(), 500.0);
        // A request sent after the cut (a retry after the hold) that is refused again is a new episode.
        let retry = pacer.slot(start + ms(1_005)).unwrap();
        assert!(pacer.answered(retry, Answer::Throttled(Some(ms(1_000))), start + ms(1_010)));
        assert_eq!(pacer.rate(), 250.0);
    }

    #[test]
    fn a_late_429_of_an_old_request_still_extends_the_hold() {
        let start = Instant::now();
        let pacer = Pacer::new(10.0, start);
        let first = pacer.slot(start).unwrap();
        let second = pacer.slot(start + ms(100)).unwrap();
        pacer.answered(first, Answer::Throttled(Some(ms(1_000))), start + ms(150));
        pacer.answered(second, Answer::Throttled(Some(ms(1_000))), start + ms(400));
        assert_eq!(pacer.rate(), 5.0, "one cut");
        assert_eq!(pacer.slot(start + ms(1_200)), Err(start + ms(1_400)));
    }

    #[test]
    fn clean_answers_grow_the_rate_back_gradually_and_never_above_the_ceiling() {
        let (start, pacer, sent) = throttled(4.0, Some(ms(1_000)));
        assert_eq!(pacer.rate(), 2.0);
        // Answers during the hold (requests already in flight) grow nothing.
        let clean = |at: u64| pacer.answered(sent, Answer::Clean, start + ms(at));
        clean(500);
        assert_eq!(pacer.rate(), 2.0);
        // A twentieth of the ceiling (0.2/s) per second of clean answers after the hold.
        clean(2_000);
        assert!((pacer.rate() - 2.2).abs() < 1e-9, "{}", pacer.rate());
        clean(6_000);
        assert!((pacer.rate() - 3.0).abs() < 1e-9, "{}", pacer.rate());
        clean(60_000);
        assert_eq!(pacer.rate(), 4.0);
    }

    #[test]
    fn server_errors_and_lost_answers_neither_cut_nor_grow() {
        let (start, pacer, sent) = throttled(4.0, Some(ms(1_000)));
        assert!(!pacer.answered(sent, Answer::Other, start + ms(5_000)));
        assert_eq!(pacer.rate(), 2.0);
        assert_eq!(
            Answer::of(Some(StatusCode::SERVICE_UNAVAILABLE), None),
            Answer::Other
        );
        assert_eq!(Answer::of(None, None), Answer::Other);
        assert_eq!(Answer::of(Some(StatusCode::CONFLICT), None), Answer::Clean);
        assert_eq!(
            Answer::of(Some(StatusCode::TOO_MANY_REQUESTS), Some(ms(3))),
            Answer::Throttled(Some(ms(3)))
        );
    }

    #[test]
    fn repeated_episodes_stop_at_the_floor() {
        let start = Instant::now();
        let pacer = Pacer::new(4.0, start);
        let mut now = start;
        for _ in 0..20 {
            let sent = loop {
                match pacer.slot(now) {
                    Ok(a) => break a,
                    Err(at) => now = at,
                }
            };
            pacer.answered(sent, Answer::Throttled(Some(ms(1_000))), now);
        }
        assert_eq!(pacer.rate(), 4.0 * FLOOR_SHARE);
    }
}
