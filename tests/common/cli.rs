//! Runs the real `balance-alert` binary as a child process.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

pub const BIN: &str = env!("CARGO_BIN_EXE_balance-alert");

/// Runs `balance-alert ARGS` to completion with a clean environment for config lookup.
pub fn run(args: &[&str], envs: &[(&str, &str)]) -> Output {
    let mut cmd = Command::new(BIN);
    cmd.args(args)
        .env_remove("BALANCE_ALERT_CONFIG")
        .env_remove("RUST_LOG");
    for (k, v) in envs {
        cmd.env(k, v);
    }
    cmd.output().expect("run balance-alert")
}

pub fn code(output: &Output) -> i32 {
    output.status.code().expect("exited, not killed")
}

pub fn stdout(output: &Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

pub fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

/// Spawns the daemon; stderr goes to a file so the test can read the log.
pub fn spawn_daemon(config: &Path, log: &Path, rust_log: &str) -> Child {
    let log_file = std::fs::File::create(log).unwrap();
    Command::new(BIN)
        .args(["run", "-c"])
        .arg(config)
        .env("RUST_LOG", rust_log)
        .env_remove("BALANCE_ALERT_CONFIG")
        .env_remove("NOTIFY_SOCKET")
        .env_remove("WATCHDOG_USEC")
        .stdout(Stdio::null())
        .stderr(log_file)
        .spawn()
        .expect("spawn balance-alert run")
}

pub fn signal(child: &Child, sig: i32) {
    // SAFETY: kill(2) on our own child's pid.
    let rc = unsafe { libc_kill(child.id() as i32, sig) };
    assert_eq!(rc, 0, "kill failed");
}

unsafe extern "C" {
    #[link_name = "kill"]
    fn libc_kill(pid: i32, sig: i32) -> i32;
}

pub const SIGHUP: i32 = 1;
pub const SIGINT: i32 = 2;
pub const SIGTERM: i32 = 15;
pub const SIGKILL: i32 = 9;

/// Waits for the child to exit, killing it after `secs`.
pub fn wait_exit(child: &mut Child, secs: u64) -> i32 {
    let deadline = Instant::now() + Duration::from_secs(secs);
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            return status.code().expect("exited, not killed by a signal");
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("balance-alert did not exit within {secs}s");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Waits until the log file contains `needle`.
pub fn wait_log(log: &Path, needle: &str, secs: u64) -> String {
    let deadline = Instant::now() + Duration::from_secs(secs);
    loop {
        let text = std::fs::read_to_string(log).unwrap_or_default();
        if text.contains(needle) {
            return text;
        }
        if Instant::now() > deadline {
            panic!("log never contained {needle:?}:\n{text}");
        }
        std::thread::sleep(Duration::from_millis(25));
    }
}

pub fn write(dir: &Path, name: &str, text: &str) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, text).unwrap();
    path
}
