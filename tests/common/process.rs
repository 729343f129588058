//! The real `balance-alert run` as a long-lived child process, driven from async tests:
//! signals, waiting on its log without blocking the runtime that serves the wiremock
//! peers, and an Exotel stand-in whose answer the test changes while the daemon runs.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use wiremock::{Mock, MockServer, ResponseTemplate, matchers};

use super::cli::{BIN, signal};
use super::daemon::{Switch, balance_response, exotel_responding};

/// A running daemon. Dropping it kills the process, so a failed assertion does not
/// leave a daemon polling in the background.
pub struct Daemon {
    child: Child,
    pub log: PathBuf,
}

impl Daemon {
    /// `balance-alert run -c CONFIG` with stderr (the log) captured to `log`.
    pub fn spawn(config: &Path, log: &Path, rust_log: &str, envs: &[(&str, &str)]) -> Daemon {
        let mut cmd = Command::new(BIN);
        cmd.args(["run", "-c"])
            .arg(config)
            .env("RUST_LOG", rust_log)
            .env_remove("BALANCE_ALERT_CONFIG")
            .env_remove("NOTIFY_SOCKET")
            .env_remove("WATCHDOG_USEC")
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(log).unwrap());
        for (k, v) in envs {
            cmd.env(k, v);
        }
        Daemon {
            child: cmd.spawn().expect("spawn balance-alert run"),
            log: log.to_path_buf(),
        }
    }

    pub fn signal(&self, sig: i32) {
        signal(&self.child, sig);
    }

    /// The log so far, without ANSI colour codes (the formatter may colour field
    /// names even when stderr is a file, which would split `count=2`).
    pub fn log(&self) -> String {
        strip_ansi(&std::fs::read_to_string(&self.log).unwrap_or_default())
    }

    /// Waits until the log contains `needle` at least `n` times; returns the log.
    pub async fn wait_log_n(&self, needle: &str, n: usize, secs: u64) -> String {
        let deadline = Instant::now() + Duration::from_secs(secs);
        loop {
            let text = self.log();
            if text.matches(needle).count() >= n {
                return text;
            }
            if Instant::now() > deadline {
                panic!("log never contained {needle:?} {n} time(s) in {secs}s:\n{text}");
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    pub async fn wait_log(&self, needle: &str, secs: u64) -> String {
        self.wait_log_n(needle, 1, secs).await
    }

    /// Waits for the process to exit; returns its exit code and how long it took.
    /// Panics (and kills it) after `secs`, or if a signal killed it.
    pub async fn wait_exit(&mut self, secs: u64) -> (i32, Duration) {
        let started = Instant::now();
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                let code = status
                    .code()
                    .unwrap_or_else(|| panic!("killed by a signal ({status}):\n{}", self.log()));
                return (code, started.elapsed());
            }
            if started.elapsed() > Duration::from_secs(secs) {
                let _ = self.child.kill();
                panic!("did not exit within {secs}s:\n{}", self.log());
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// Removes `ESC [ ... letter` sequences.
pub fn strip_ansi(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut chars = text.chars();
    while let Some(c) = chars.next() {
        if c == '\u{1b}' {
            for c in chars.by_ref() {
                if c.is_ascii_alphabetic() {
                    break;
                }
            }
        } else {
            out.push(c);
        }
    }
    out
}

/// What the Exotel stand-in answers right now; the test changes it mid-run.
#[derive(Clone)]
pub struct Balance(Switch);

impl Balance {
    pub fn new(amount: &str) -> Balance {
        Balance(Switch::new(balance_response(amount)))
    }

    pub fn set(&self, amount: &str) {
        self.answer(balance_response(amount));
    }

    /// Answers every later request with `response` (an error, a delay...).
    pub fn answer(&self, response: ResponseTemplate) {
        self.0.set(response);
    }
}

/// An Exotel stand-in answering the Balance path from `balance`.
pub async fn exotel_with(balance: &Balance) -> MockServer {
    exotel_responding(balance.0.clone()).await
}

/// A webhook receiver answering every POST with `response` (e.g. with a delay).
pub async fn receiver_with(response: ResponseTemplate) -> MockServer {
    let server = MockServer::start().await;
    Mock::given(matchers::method("POST"))
        .respond_with(response)
        .mount(&server)
        .await;
    server
}

/// How many POSTs `server` has received so far, answered or still being answered
/// (wiremock records a request before it waits out a delay).
pub async fn received(server: &MockServer) -> usize {
    server
        .received_requests()
        .await
        .unwrap_or_default()
        .iter()
        .filter(|r| r.method.as_str() == "POST")
        .count()
}

/// The daemon's state file, parsed.
pub fn read_state(path: &Path) -> serde_json::Value {
    let snapshot = balance_alert::state::read_snapshot(path)
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    serde_json::to_value(snapshot).expect("state serializes")
}
