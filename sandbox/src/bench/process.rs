//! The real `handler` as a separate process: `handler sync --config ... --output json` with the world's
//! environment, timed from spawn to exit, its peak resident set size taken from `wait4`'s `rusage`
//! (`ru_maxrss`, the kernel's high-water mark); and `handler serve`, timed from spawn to its first
//! successful `GET /`.
//!
//! The handler is started through a small probe process (`sandbox rss-probe`, [`probe`]) that spawns it
//! and reaps it with `wait4`: a process spawned straight from the bench would inherit the bench's own
//! high-water mark, because `posix_spawn` runs the child in the parent's memory until `exec`, and Linux
//! carries the larger of the old and new memory's peaks into `ru_maxrss`. Through the probe, the figure
//! is the handler's peak or the probe's own (a few MiB, reported as the floor), whichever is larger.

use std::ffi::OsString;
use std::io::{Read, Write};
use std::net::{Shutdown, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode, Stdio};
use std::time::{Duration, Instant};

use crate::world::World;

/// How the handler is started: binary, app root (holding `sync-config.json`) and environment.
#[derive(Debug, Clone)]
pub struct Launch {
    pub handler: PathBuf,
    pub app_root: PathBuf,
    pub env: Vec<(String, String)>,
}

/// One finished `handler sync`.
#[derive(Debug, Clone)]
pub struct Finished {
    /// When the launcher was spawned.
    pub spawned: Instant,
    pub wall: Duration,
    /// Exit code (`None`: killed by a signal).
    pub code: Option<i32>,
    /// Peak resident set size, KiB.
    pub max_rss_kib: u64,
    /// The probe's own peak, KiB: `max_rss_kib` cannot be told apart below it.
    pub floor_kib: u64,
    pub stdout: String,
}

/// `sandbox rss-probe --report FILE -- COMMAND...`: runs COMMAND (stdio, environment and folder
/// inherited), reaps it with `wait4`, writes `<peak RSS KiB> <wall µs> <exit code or -1> <own peak KiB>`
/// to FILE and exits with COMMAND's code.
#[derive(Debug, Clone, clap::Args)]
pub struct ProbeArgs {
    #[arg(long, value_name = "FILE")]
    pub report: PathBuf,
    #[arg(trailing_var_arg = true, allow_hyphen_values = true, required = true)]
    pub command: Vec<OsString>,
}

/// The probe's body (see [`ProbeArgs`]).
pub fn probe(args: &ProbeArgs) -> ExitCode {
    let Some((program, rest)) = args.command.split_first() else {
        return ExitCode::from(2);
    };
    let started = Instant::now();
    let outcome = Command::new(program)
        .args(rest)
        .spawn()
        .and_then(|child| wait_with_rusage(child.id()));
    let (code, rss) = match outcome {
        Ok(done) => done,
        Err(e) => {
            eprintln!("sandbox rss-probe: {}: {e}", program.to_string_lossy());
            return ExitCode::from(2);
        }
    };
    let line = format!(
        "{rss} {} {} {}\n",
        started.elapsed().as_micros(),
        code.unwrap_or(-1),
        own_peak_kib()
    );
    if let Err(e) = std::fs::write(&args.report, line) {
        eprintln!("sandbox rss-probe: {}: {e}", args.report.display());
        return ExitCode::from(2);
    }
    ExitCode::from(code.and_then(|c| u8::try_from(c).ok()).unwrap_or(1))
}

/// This process's `VmHWM`, KiB (0 where there is no `/proc`).
fn own_peak_kib() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|status| {
            status
                .lines()
                .find_map(|l| l.strip_prefix("VmHWM:"))
                .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        })
        .unwrap_or(0)
}

impl Launch {
    /// `program` with the handler's environment, in its app folder.
    fn command(&self, program: &Path) -> Command {
        let mut command = Command::new(program);
        for name in World::ENV_TO_CLEAR.iter().chain(&[
            "SYNC_CONFIG_PATH",
            "SYNC_MAX_RUN_SECONDS",
            "RUST_LOG",
        ]) {
            command.env_remove(name);
        }
        command
            .envs(self.env.iter().map(|(k, v)| (k, v)))
            .current_dir(&self.app_root);
        command
    }

    /// Runs `handler sync --config sync-config.json --output json` with `extra` variables, through the
    /// probe; stderr goes to `stderr_to`. Blocking: call it from `spawn_blocking`.
    ///
    /// # Errors
    /// The process could not be started or waited for, or the probe wrote no report.
    pub fn sync(&self, extra: &[(String, String)], stderr_to: &Path) -> std::io::Result<Finished> {
        let stderr = std::fs::File::create(stderr_to)?;
        let report = stderr_to.with_extension("rss");
        let _ = std::fs::remove_file(&report);
        let started = Instant::now();
        let mut child = self
            .command(&std::env::current_exe()?)
            .envs(extra.iter().map(|(k, v)| (k, v)))
            .arg("rss-probe")
            .arg("--report")
            .arg(&report)
            .arg("--")
            .arg(&self.handler)
            .args(["sync", "--config", "sync-config.json", "--output", "json"])
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::from(stderr))
            .spawn()?;
        let mut pipe = child
            .stdout
            .take()
            .ok_or_else(|| std::io::Error::other("no stdout pipe"))?;
        let reader = std::thread::spawn(move || {
            let mut out = String::new();
            pipe.read_to_string(&mut out).map(|_| out)
        });
        child.wait()?;
        let fallback = started.elapsed();
        let stdout = reader
            .join()
            .map_err(|_| std::io::Error::other("the stdout reader panicked"))??;
        let text = std::fs::read_to_string(&report)?;
        let fields: Vec<i64> = text
            .split_whitespace()
            .filter_map(|f| f.parse().ok())
            .collect();
        let [rss, micros, code, floor] = fields[..] else {
            return Err(std::io::Error::other(format!(
                "the probe's report {} is not understood: {text:?}",
                report.display()
            )));
        };
        let wall = u64::try_from(micros).map_or(fallback, Duration::from_micros);
        Ok(Finished {
            spawned: started,
            wall,
            code: (code >= 0).then(|| i32::try_from(code).unwrap_or(-1)),
            max_rss_kib: u64::try_from(rss).unwrap_or(0),
            floor_kib: u64::try_from(floor).unwrap_or(0),
            stdout,
        })
    }

    /// Starts `handler serve` `starts` times; each time, the time from spawn to the first `GET /` answered
    /// 200 (polled every 0.5 ms), then the process is stopped. Blocking.
    ///
    /// # Errors
    /// A start failed or did not answer within 10 s.
    pub fn ready_times(&self, starts: usize) -> std::io::Result<Vec<Duration>> {
        let mut times = Vec::new();
        for _ in 0..starts {
            let port = std::net::TcpListener::bind("127.0.0.1:0")?
                .local_addr()?
                .port();
            let started = Instant::now();
            let mut child = self
                .command(&self.handler)
                .env("FUNCTIONS_CUSTOMHANDLER_PORT", port.to_string())
                .env("SYNC_CONFIG_PATH", "sync-config.json")
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()?;
            let ready = loop {
                if answers_ok(port) {
                    break Ok(started.elapsed());
                }
                if started.elapsed() > Duration::from_secs(10) {
                    break Err(std::io::Error::other("handler serve not ready within 10 s"));
                }
                if let Some(status) = child.try_wait()? {
                    break Err(std::io::Error::other(format!(
                        "handler serve exited with {status} before answering"
                    )));
                }
                std::thread::sleep(Duration::from_micros(500));
            };
            let _ = child.kill();
            let _ = child.wait();
            times.push(ready?);
        }
        Ok(times)
    }
}

/// Whether `GET /` on the port answers 200.
fn answers_ok(port: u16) -> bool {
    let Ok(mut stream) = TcpStream::connect(("127.0.0.1", port)) else {
        return false;
    };
    let _ = stream.set_read_timeout(Some(Duration::from_secs(2)));
    let request = "GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n";
    if stream.write_all(request.as_bytes()).is_err() {
        return false;
    }
    let _ = stream.shutdown(Shutdown::Write);
    let mut head = [0u8; 12];
    stream.read_exact(&mut head).is_ok() && head.starts_with(b"HTTP/1.1 200")
}

/// Waits for the child `pid` and returns its exit code and peak RSS (KiB), from `wait4`.
#[cfg(unix)]
// The crate denies `unsafe_code`; std has no call that gives a child's peak RSS, so `wait4` is called
// through libc, with the safety argument beside each block.
#[allow(unsafe_code)]
fn wait_with_rusage(pid: u32) -> std::io::Result<(Option<i32>, u64)> {
    let pid = libc::pid_t::try_from(pid).map_err(std::io::Error::other)?;
    let mut status: libc::c_int = 0;
    // SAFETY: `rusage` is plain old data, so all-zero is a valid value; `wait4` writes only into the
    // two locals passed by pointer, and `pid` is our own child, not yet reaped (std never waited on it).
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    let reaped = loop {
        // SAFETY: as above.
        let r = unsafe { libc::wait4(pid, &raw mut status, 0, &raw mut usage) };
        if r == -1 && std::io::Error::last_os_error().kind() == std::io::ErrorKind::Interrupted {
            continue;
        }
        break r;
    };
    if reaped != pid {
        return Err(std::io::Error::last_os_error());
    }
    let code = libc::WIFEXITED(status).then(|| libc::WEXITSTATUS(status));
    // Linux reports ru_maxrss in KiB (macOS in bytes).
    let max_rss = u64::try_from(usage.ru_maxrss).unwrap_or(0);
    let max_rss = if cfg!(target_os = "macos") {
        max_rss / 1024
    } else {
        max_rss
    };
    Ok((code, max_rss))
}

#[cfg(not(unix))]
fn wait_with_rusage(_pid: u32) -> std::io::Result<(Option<i32>, u64)> {
    Err(std::io::Error::other("the benchmark needs wait4 (Unix)"))
}
