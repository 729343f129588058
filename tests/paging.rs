//! Escalation and quiet hours (SPEC §12) through the real binary: `balance-alert run`
//! as a child process against wiremock stand-ins for Exotel and two webhook receivers
//! (a chat channel the account notifies, and a pager it does not), polling every
//! 250 ms (allowed for a loopback `base_url`), with second-scale windows.
//!
//! - An escalation goes to the pager once, no sooner than `after` after the alert, and
//!   the pager then hears the `resolved`.
//! - The escalation clock survives a restart, and stands still while the monitor fails.
//! - A warning during quiet hours is held (persisted in the outbox), then collapsed to
//!   the net change when the quiet period ends.
//! - A critical during quiet hours goes at once and supersedes the held warning; a
//!   reload that removes the quiet hours releases what was held.
//! - Held messages survive a restart in the outbox and the next start releases them.

mod common;

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use common::cli::{SIGHUP, SIGTERM};
use common::daemon::{KEY, SID, TOKEN, kinds, posted, wait_for};
use common::process::{Balance, Daemon, exotel_with, read_state, receiver_with};
use wiremock::{MockServer, ResponseTemplate};

const ENV: &[(&str, &str)] = &[("TEST_EXOTEL_KEY", KEY), ("TEST_EXOTEL_TOKEN", TOKEN)];

struct Setup {
    _dir: tempfile::TempDir,
    dir: PathBuf,
    balance: Balance,
    exotel: MockServer,
    chat: MockServer,
    pager: MockServer,
}

impl Setup {
    async fn new(initial: &str) -> Setup {
        let dir = tempfile::tempdir().unwrap();
        let balance = Balance::new(initial);
        let exotel = exotel_with(&balance).await;
        let chat = receiver_with(ResponseTemplate::new(200)).await;
        let pager = receiver_with(ResponseTemplate::new(200)).await;
        Setup {
            dir: dir.path().to_path_buf(),
            _dir: dir,
            balance,
            exotel,
            chat,
            pager,
        }
    }

    fn state(&self) -> PathBuf {
        self.dir.join("state.json")
    }

    /// The config: `account_extra` and `chat_extra` are raw TOML lines added to the
    /// account and to the chat channel.
    fn write_config(&self, account_extra: &str, chat_extra: &str) -> PathBuf {
        let text = format!(
            r#"[daemon]
state_file = "{state}"
timezone = "UTC"
shutdown_grace = "2s"

[[account]]
name = "primary"
sid = "{SID}"
api_key = "${{TEST_EXOTEL_KEY}}"
api_token = "${{TEST_EXOTEL_TOKEN}}"
base_url = "{exotel}"
poll_interval = "1s"
notify = ["chat"]
warning = {{ below = 5000, clear_above = 6000 }}
critical = {{ below = 1000, clear_above = 1500 }}
{account_extra}

[[channel]]
name = "chat"
type = "webhook"
url = "{chat}/hook"
{chat_extra}

[[channel]]
name = "pager"
type = "webhook"
url = "{pager}/hook"
min_level = "critical"
"#,
            state = self.state().display(),
            exotel = self.exotel.uri(),
            chat = self.chat.uri(),
            pager = self.pager.uri(),
        );
        let path = self.dir.join("config.toml");
        std::fs::write(&path, text).unwrap();
        path
    }

    fn spawn(&self, config: &Path, log: &str) -> Daemon {
        Daemon::spawn(config, &self.dir.join(log), "info", ENV)
    }
}

fn pairs(list: &[(&str, &str)]) -> Vec<(String, String)> {
    list.iter()
        .map(|(a, b)| (a.to_string(), b.to_string()))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_escalation_reaches_the_pager_after_after_once_and_then_the_resolve() {
    let s = Setup::new("800").await;
    let config = s.write_config(
        r#"escalate = [{ after = "2s", level = "critical", to = ["pager"] }]"#,
        "",
    );
    let mut daemon = s.spawn(&config, "run.log");
    wait_for(&s.chat, 20, "the critical alert", |b| !b.is_empty()).await;
    let alerted = Instant::now();
    assert!(
        posted(&s.pager).await.is_empty(),
        "pager paged before `after`"
    );
    let paged = wait_for(&s.pager, 20, "the escalation", |b| !b.is_empty()).await;
    let waited = alerted.elapsed();
    // Not before `after` (measured from when the chat had the alert, which is after the
    // alert was made, so this can only under-estimate).
    assert!(
        waited >= Duration::from_millis(1500),
        "escalated after {waited:?}"
    );
    assert_eq!(kinds(&paged), pairs(&[("escalated", "critical")]));
    assert_eq!(paged[0]["account"], "primary");
    assert_eq!(paged[0]["threshold"], "1000");
    // Once per episode: a few more polls bring no second page.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert_eq!(posted(&s.pager).await.len(), 1);
    // The follow-up reaches the pager although it is not in notify.
    s.balance.set("7000");
    let paged = wait_for(&s.pager, 20, "the resolve on the pager", |b| b.len() >= 2).await;
    assert_eq!(
        kinds(&paged),
        pairs(&[("escalated", "critical"), ("resolved", "ok")])
    );
    let chat = wait_for(&s.chat, 20, "the resolve on chat", |b| b.len() >= 2).await;
    assert_eq!(
        kinds(&chat),
        pairs(&[("alert", "critical"), ("resolved", "ok")])
    );
    daemon.signal(SIGTERM);
    assert_eq!(daemon.wait_exit(20).await.0, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_escalation_clock_survives_a_restart() {
    let s = Setup::new("800").await;
    let config = s.write_config(
        r#"escalate = [{ after = "4s", level = "critical", to = ["pager"] }]"#,
        "",
    );
    let mut daemon = s.spawn(&config, "first.log");
    wait_for(&s.chat, 20, "the critical alert", |b| !b.is_empty()).await;
    // Two more polls (1 s apart) tick the clock, still short of `after`.
    tokio::time::sleep(Duration::from_millis(2500)).await;
    daemon.signal(SIGTERM);
    assert_eq!(daemon.wait_exit(20).await.0, 0);
    assert!(posted(&s.pager).await.is_empty(), "paged before `after`");
    // The clock is in the state file, running: at least one poll's worth (a tick
    // credits the time between polls, which a busy machine may make a little short
    // of a whole second).
    let state = read_state(&s.state());
    let episode = &state["accounts"]["primary"]["escalation"]["critical"];
    assert!(episode["active_ms"].as_u64().unwrap() >= 900, "{state:#}");
    assert!(episode["since"].is_string(), "{state:#}");

    let mut daemon = s.spawn(&config, "second.log");
    let paged = wait_for(&s.pager, 20, "the escalation after the restart", |b| {
        !b.is_empty()
    })
    .await;
    assert_eq!(kinds(&paged), pairs(&[("escalated", "critical")]));
    // The restored level does not alert again, and the step fires once.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert_eq!(posted(&s.chat).await.len(), 1);
    assert_eq!(posted(&s.pager).await.len(), 1);
    daemon.signal(SIGTERM);
    assert_eq!(daemon.wait_exit(20).await.0, 0);
    let state = read_state(&s.state());
    let fired = &state["accounts"]["primary"]["escalation"]["critical"]["fired"];
    assert_eq!(fired, &serde_json::json!([4000]), "{state:#}");
}

/// A quiet range that covers now and ends at the next minute boundary in UTC, at least
/// `min_left` from now (waiting for the next minute when the current one is nearly
/// over); returns the range and when it ends.
async fn quiet_until_next_minute(min_left: Duration) -> (String, jiff::Timestamp) {
    loop {
        let now = jiff::Timestamp::now();
        let second = now.as_second();
        let end = jiff::Timestamp::from_second(second - second.rem_euclid(60) + 60).unwrap();
        if Duration::try_from(end.duration_since(now)).unwrap() >= min_left {
            let start = now.to_zoned(jiff::tz::TimeZone::UTC);
            let stop = end.to_zoned(jiff::tz::TimeZone::UTC);
            let range = format!(
                "{:02}:{:02}-{:02}:{:02}",
                start.hour(),
                start.minute(),
                stop.hour(),
                stop.minute()
            );
            // 23:59-00:00 is "until midnight", which the grammar takes as 24:00.
            return (range, end);
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// The held entries of the persisted outbox, once there are `n` of them.
async fn held_in_state(path: &Path, n: usize) -> Vec<serde_json::Value> {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let state = read_state(path);
        let held: Vec<serde_json::Value> = state["outbox"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|e| e["held_until"].is_string())
            .cloned()
            .collect();
        if held.len() == n {
            return held;
        }
        assert!(
            Instant::now() < deadline,
            "expected {n} held messages in the state file: {state:#}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_warning_is_held_then_collapsed_to_the_net_change() {
    let s = Setup::new("10000").await;
    let (range, end) = quiet_until_next_minute(Duration::from_secs(8)).await;
    let config = s.write_config("", &format!("quiet_hours = [\"{range}\"]"));
    let mut daemon = s.spawn(&config, "run.log");
    // ok → warning → ok → warning, all in the quiet period.
    s.balance.set("4000");
    daemon.wait_log_n("held for quiet hours", 1, 20).await;
    s.balance.set("7000");
    daemon.wait_log_n("held for quiet hours", 2, 20).await;
    s.balance.set("4200");
    daemon.wait_log_n("held for quiet hours", 3, 20).await;
    assert!(
        jiff::Timestamp::now() < end,
        "the test ran past the quiet period"
    );
    assert!(posted(&s.chat).await.is_empty(), "sent during quiet hours");
    // Held messages are in the persisted outbox, with their release time (the log line
    // comes just before the state write, so give the write a moment).
    let held = held_in_state(&s.state(), 3).await;
    for entry in &held {
        let until: jiff::Timestamp = entry["held_until"].as_str().unwrap().parse().unwrap();
        assert_eq!(until, end);
    }
    // `status` shows them (from the database: this daemon has no `listen`).
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_balance-alert"))
        .args(["status", "--format", "json", "-c"])
        .arg(&config)
        .envs(ENV.iter().copied())
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let status: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(status["outbox"]["held"], 3, "{status:#}");
    assert_eq!(status["outbox"]["pending"], 3, "{status:#}");

    // When the quiet period ends: one alert, the net change from ok.
    let chat = wait_for(&s.chat, 90, "the release", |b| !b.is_empty()).await;
    assert!(jiff::Timestamp::now() >= end);
    assert_eq!(kinds(&chat), pairs(&[("alert", "warning")]));
    assert_eq!(chat[0]["previous_level"], "ok");
    assert_eq!(chat[0]["balance"], "4200");
    assert_eq!(chat[0]["threshold"], "5000");
    tokio::time::sleep(Duration::from_millis(1000)).await;
    assert_eq!(posted(&s.chat).await.len(), 1);
    // Nothing is held any more.
    held_in_state(&s.state(), 0).await;
    daemon.signal(SIGTERM);
    assert_eq!(daemon.wait_exit(20).await.0, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_critical_goes_at_once_in_quiet_hours_and_a_reload_releases_what_is_held() {
    let s = Setup::new("4000").await;
    let config = s.write_config("", r#"quiet_hours = ["00:00-24:00"]"#);
    let mut daemon = s.spawn(&config, "run.log");
    daemon.wait_log("held for quiet hours", 20).await;
    assert!(posted(&s.chat).await.is_empty());
    // Critical: at once, and the held warning is old news.
    s.balance.set("800");
    let chat = wait_for(&s.chat, 20, "the critical alert", |b| !b.is_empty()).await;
    assert_eq!(kinds(&chat), pairs(&[("alert", "critical")]));
    assert_eq!(chat[0]["previous_level"], "warning");
    let state = read_state(&s.state());
    assert!(
        !state["outbox"]
            .as_array()
            .unwrap()
            .iter()
            .any(|e| e["held_until"].is_string()),
        "the held warning should be dropped: {state:#}"
    );
    // critical → warning: improved is held again.
    s.balance.set("1600");
    daemon.wait_log_n("held for quiet hours", 2, 20).await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(posted(&s.chat).await.len(), 1);
    // A reload that ends the quiet hours re-plans the held message: it goes now.
    s.write_config("", "");
    daemon.signal(SIGHUP);
    let chat = wait_for(&s.chat, 20, "the released improvement", |b| b.len() >= 2).await;
    assert_eq!(
        kinds(&chat),
        pairs(&[("alert", "critical"), ("improved", "warning")])
    );
    assert_eq!(chat[1]["previous_level"], "critical");
    daemon.signal(SIGTERM);
    assert_eq!(daemon.wait_exit(20).await.0, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn held_messages_survive_a_restart_and_are_released_by_the_next_start() {
    let s = Setup::new("4000").await;
    let config = s.write_config("", r#"quiet_hours = ["00:00-24:00"]"#);
    let mut daemon = s.spawn(&config, "first.log");
    daemon.wait_log("held for quiet hours", 20).await;
    daemon.signal(SIGTERM);
    assert_eq!(daemon.wait_exit(20).await.0, 0);
    assert!(posted(&s.chat).await.is_empty());
    let state = read_state(&s.state());
    let outbox = state["outbox"].as_array().unwrap();
    assert_eq!(outbox.len(), 1, "{state:#}");
    assert!(outbox[0]["held_until"].is_string(), "{state:#}");

    // The next start, without quiet hours: the held alert goes out once.
    s.write_config("", "");
    let mut daemon = s.spawn(&config, "second.log");
    let chat = wait_for(&s.chat, 20, "the released alert", |b| !b.is_empty()).await;
    assert_eq!(kinds(&chat), pairs(&[("alert", "warning")]));
    tokio::time::sleep(Duration::from_millis(1000)).await;
    assert_eq!(posted(&s.chat).await.len(), 1);
    daemon.signal(SIGTERM);
    assert_eq!(daemon.wait_exit(20).await.0, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failing_monitor_pauses_the_escalation_clock() {
    let s = Setup::new("800").await;
    let config = s.write_config(
        r#"escalate = [{ after = "2s", level = "critical", to = ["pager"] }]"#,
        "",
    );
    let mut daemon = s.spawn(&config, "run.log");
    wait_for(&s.chat, 20, "the critical alert", |b| !b.is_empty()).await;
    // A credential error: monitor_failing at once (to every channel), clock stopped.
    s.balance.answer(common::daemon::unauthorized());
    wait_for(&s.pager, 20, "monitor_failing on the pager", |b| {
        !b.is_empty()
    })
    .await;
    tokio::time::sleep(Duration::from_secs(3)).await;
    let paged = posted(&s.pager).await;
    assert_eq!(
        kinds(&paged),
        pairs(&[("monitor_failing", "critical")]),
        "escalated while the monitor was failing"
    );
    // Back: the clock runs again and the step fires after the rest of `after`.
    s.balance.set("800");
    let paged = wait_for(&s.pager, 20, "the escalation", |b| b.len() >= 3).await;
    assert_eq!(
        kinds(&paged),
        pairs(&[
            ("monitor_failing", "critical"),
            ("monitor_recovered", "critical"),
            ("escalated", "critical"),
        ])
    );
    daemon.signal(SIGTERM);
    assert_eq!(daemon.wait_exit(20).await.0, 0);
}
