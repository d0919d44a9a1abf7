//! The real `handler` as a separate process: `handler sync --config ... --output json` with the world's
//! environment, timed from spawn to exit, its peak resident set size taken from `wait4`'s `rusage`
//! (`ru_maxrss`, the kernel's high-water mark, the same figure as `VmHWM`); and `handler serve`, timed
//! from spawn to its first successful `GET /`.

use std::io::{Read, Write};
use std::net::{Shutdown, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
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
    pub wall: Duration,
    /// Exit code (`None`: killed by a signal).
    pub code: Option<i32>,
    /// Peak resident set size, KiB.
    pub max_rss_kib: u64,
    pub stdout: String,
}

impl Launch {
    fn command(&self) -> Command {
        let mut command = Command::new(&self.handler);
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

    /// Runs `handler sync --config sync-config.json --output json` with `extra` variables; stderr goes
    /// to `stderr_to`. Blocking: call it from `spawn_blocking`.
    ///
    /// # Errors
    /// The process could not be started or waited for.
    pub fn sync(&self, extra: &[(String, String)], stderr_to: &Path) -> std::io::Result<Finished> {
        let stderr = std::fs::File::create(stderr_to)?;
        let started = Instant::now();
        let mut child = self
            .command()
            .envs(extra.iter().map(|(k, v)| (k, v)))
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
        let (code, max_rss_kib) = wait_with_rusage(child.id())?;
        let wall = started.elapsed();
        let stdout = reader
            .join()
            .map_err(|_| std::io::Error::other("the stdout reader panicked"))??;
        Ok(Finished {
            wall,
            code,
            max_rss_kib,
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
                .command()
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
