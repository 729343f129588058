//! Real signals to the real binary (SPEC §8): `balance-alert run` as a child process
//! against wiremock stand-ins for Exotel and a webhook receiver, polling every 200 ms
//! (allowed for a loopback `base_url`).
//!
//! - SIGHUP with a bad (or missing) file: refused with the reason, the file and the
//!   key in the log; the old config keeps polling and still alerts.
//! - SIGHUP with a good file: a lowered threshold resolves at once from the last known
//!   balance; unchanged thresholds keep the level (no duplicate alert); an added account
//!   starts polling; a removed account is forgotten, even with a poll in flight; a
//!   removed channel's pending deliveries are dropped with a warning naming the count.
//! - SIGTERM with a delivery in flight: it finishes inside `shutdown_grace`; one that
//!   outlasts the grace stays in the outbox and the next start delivers it, same `id`.
//! - No credential ever reaches the log, at `RUST_LOG=debug`.

mod common;

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use common::cli::{SIGHUP, SIGTERM};
use common::daemon::{KEY, SID, TOKEN, balance_response, polls, posted, wait_for, wait_polls};
use common::process::{Balance, Daemon, exotel_with, read_state, received, receiver_with};
use wiremock::{MockServer, ResponseTemplate};

/// The webhook URL carries this in its path, as a URL-embedded token would be.
const HOOK_SECRET: &str = "hook-path-T0K3N";
/// The webhook sends this header.
const HEADER_SECRET: &str = "Bearer hdr-S3CRET-value";

/// The credentials come from the environment, so the file holds no literal secret.
const ENV: &[(&str, &str)] = &[("TEST_EXOTEL_KEY", KEY), ("TEST_EXOTEL_TOKEN", TOKEN)];

fn state_file(dir: &Path) -> PathBuf {
    dir.join("state.db")
}

fn daemon_toml(dir: &Path, grace: &str) -> String {
    format!(
        "[daemon]\nstate_file = \"{}\"\nshutdown_grace = \"{grace}\"\n",
        state_file(dir).display()
    )
}

/// One `[[account]]`; `thresholds` is raw TOML (one or two lines).
fn account_toml(name: &str, base: &str, poll: &str, thresholds: &str, notify: &[&str]) -> String {
    let notify: Vec<String> = notify.iter().map(|n| format!("\"{n}\"")).collect();
    format!(
        r#"
[[account]]
name = "{name}"
sid = "{SID}"
api_key = "${{TEST_EXOTEL_KEY}}"
api_token = "${{TEST_EXOTEL_TOKEN}}"
base_url = "{base}"
poll_interval = "{poll}"
notify = [{}]
{thresholds}
"#,
        notify.join(", ")
    )
}

/// A webhook channel posting to `{server}/{HOOK_SECRET}` with a secret header.
fn webhook_toml(name: &str, server: &MockServer) -> String {
    format!(
        r#"
[[channel]]
name = "{name}"
type = "webhook"
url = "{}/{HOOK_SECRET}"
headers = {{ authorization = "{HEADER_SECRET}" }}
"#,
        server.uri()
    )
}

const WARN_5000: &str = "warning = { below = 5000, clear_above = 6000 }";

/// Fails if any credential, or the Basic auth header built from them, is in `log`.
fn assert_no_secrets(log: &str) {
    use base64::Engine as _;
    let basic = base64::engine::general_purpose::STANDARD.encode(format!("{KEY}:{TOKEN}"));
    for secret in [KEY, TOKEN, &basic, HOOK_SECRET, HEADER_SECRET, "hdr-S3CRET"] {
        assert!(
            !log.contains(secret),
            "secret {secret:?} leaked into the log:\n{log}"
        );
    }
}

/// SIGTERM, exit 0 within `secs`; returns the full log.
async fn stop(daemon: &mut Daemon, secs: u64) -> String {
    daemon.signal(SIGTERM);
    let (code, _) = daemon.wait_exit(secs).await;
    let log = daemon.log();
    assert_eq!(code, 0, "{log}");
    assert_no_secrets(&log);
    log
}

/// The log lines containing `needle`.
fn lines_with<'a>(log: &'a str, needle: &str) -> Vec<&'a str> {
    log.lines().filter(|l| l.contains(needle)).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sighup_with_a_bad_file_keeps_polling_with_the_old_config() {
    let dir = tempfile::tempdir().unwrap();
    let balance = Balance::new("9000");
    let exotel = exotel_with(&balance).await;
    let hook = receiver_with(ResponseTemplate::new(200)).await;
    let path = dir.path().join("config.toml");
    let good = format!(
        "{}{}{}",
        daemon_toml(dir.path(), "5s"),
        account_toml("primary", &exotel.uri(), "1s", WARN_5000, &["hook"]),
        webhook_toml("hook", &hook)
    );
    std::fs::write(&path, &good).unwrap();
    let log = dir.path().join("daemon.log");
    let mut daemon = Daemon::spawn(&path, &log, "info", ENV);
    daemon.wait_log("balance-alert running", 10).await;
    wait_polls(&exotel, 3, 10).await;

    // 60 s polling and lowered thresholds (either would show if any part of this file
    // were applied: polling would stop, the 4000 below would not alert) with an
    // invalid `clear_above`.
    let bad = good
        .replace("\"200ms\"", "\"60s\"")
        .replace(WARN_5000, "warning = { below = 3000, clear_above = 2000 }");
    let bad_line = bad
        .lines()
        .position(|l| l.contains("clear_above = 2000"))
        .unwrap()
        + 1;
    std::fs::write(&path, &bad).unwrap();
    daemon.signal(SIGHUP);
    let text = daemon.wait_log("config reload refused", 10).await;
    let refused = lines_with(&text, "config reload refused")[0];
    let location = format!("{}:{bad_line}", path.display());
    assert!(
        refused.contains(&location) && refused.contains("account[0].warning.clear_above"),
        "the refusal names the file, line and key: {refused}"
    );

    // A file that is gone is refused too, naming the path.
    std::fs::remove_file(&path).unwrap();
    daemon.signal(SIGHUP);
    let text = daemon.wait_log_n("config reload refused", 2, 10).await;
    let refused = lines_with(&text, "config reload refused")[1];
    assert!(refused.contains(&path.display().to_string()), "{refused}");
    assert!(!text.contains("config reloaded"), "{text}");

    // Still polling, at the old 200 ms cadence (not the refused 60 s).
    let after = polls(&exotel).await;
    wait_polls(&exotel, after + 5, 10).await;
    assert!(posted(&hook).await.is_empty(), "nothing to say yet");

    // And still alerting on the old thresholds.
    balance.set("4000");
    let bodies = wait_for(&hook, 10, "the alert", |b| !b.is_empty()).await;
    assert_eq!(bodies[0]["event"], "alert");
    assert_eq!(bodies[0]["level"], "warning");
    assert_eq!(bodies[0]["threshold"], "5000", "the old threshold");

    let log = stop(&mut daemon, 15).await;
    assert_eq!(lines_with(&log, "config reload refused").len(), 2, "{log}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sighup_with_a_lowered_threshold_resolves_at_once_from_the_last_balance() {
    let dir = tempfile::tempdir().unwrap();
    let balance = Balance::new("4000");
    let exotel = exotel_with(&balance).await;
    let hook = receiver_with(ResponseTemplate::new(200)).await;
    let path = dir.path().join("config.toml");
    let config = |thresholds: &str, poll: &str| {
        format!(
            "{}{}{}",
            daemon_toml(dir.path(), "5s"),
            account_toml("primary", &exotel.uri(), poll, thresholds, &["hook"]),
            webhook_toml("hook", &hook)
        )
    };
    std::fs::write(&path, config(WARN_5000, "1s")).unwrap();
    let log = dir.path().join("daemon.log");
    let mut daemon = Daemon::spawn(&path, &log, "info", ENV);
    let bodies = wait_for(&hook, 10, "the alert", |b| !b.is_empty()).await;
    assert_eq!(bodies[0]["event"], "alert");
    assert_eq!(bodies[0]["level"], "warning");

    // From now on Exotel only fails, so no poll can supply a balance: a `resolved`
    // can only come from re-evaluating the last known one (4000) on reload.
    balance.answer(ResponseTemplate::new(503));
    daemon.wait_log("balance poll failed", 10).await;

    // 60 s polling too: after the reload no new poll is due for a minute.
    std::fs::write(
        &path,
        config("warning = { below = 3000, clear_above = 3500 }", "60s"),
    )
    .unwrap();
    let polls_at_hup = polls(&exotel).await;
    let hup = Instant::now();
    daemon.signal(SIGHUP);
    let bodies = wait_for(&hook, 5, "resolved after reload", |b| b.len() >= 2).await;
    assert!(hup.elapsed() < Duration::from_secs(2), "promptly");
    let resolved = &bodies[1];
    assert_eq!(resolved["event"], "resolved");
    assert_eq!(resolved["level"], "ok");
    assert_eq!(resolved["previous_level"], "warning");
    assert_eq!(resolved["threshold"], "3500");
    assert_eq!(resolved["balance"], "4000", "the last known balance");

    // At most the one retry already scheduled on the old cadence; then the new 60 s.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let extra = polls(&exotel).await - polls_at_hup;
    assert!(extra <= 1, "{extra} polls after the reload");
    assert_eq!(posted(&hook).await.len(), 2, "nothing more");

    let log = stop(&mut daemon, 15).await;
    assert!(log.contains("config reloaded"), "{log}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sighup_keeps_levels_starts_added_accounts_and_forgets_removed_ones() {
    let dir = tempfile::tempdir().unwrap();
    let primary_balance = Balance::new("4000");
    let old_balance = Balance::new("4000");
    let added_balance = Balance::new("4000");
    let primary = exotel_with(&primary_balance).await;
    let old = exotel_with(&old_balance).await;
    let added = exotel_with(&added_balance).await;
    let hook = receiver_with(ResponseTemplate::new(200)).await;
    let path = dir.path().join("config.toml");
    let before = format!(
        "{}{}{}{}",
        daemon_toml(dir.path(), "5s"),
        account_toml("primary", &primary.uri(), "1s", WARN_5000, &["hook"]),
        account_toml("old", &old.uri(), "1s", WARN_5000, &["hook"]),
        webhook_toml("hook", &hook)
    );
    std::fs::write(&path, &before).unwrap();
    let log = dir.path().join("daemon.log");
    let mut daemon = Daemon::spawn(&path, &log, "info", ENV);
    wait_for(&hook, 10, "both alerts", |b| b.len() >= 2).await;

    // `primary` unchanged, `old` removed, `added` new.
    let after = format!(
        "{}{}{}{}",
        daemon_toml(dir.path(), "5s"),
        account_toml("primary", &primary.uri(), "1s", WARN_5000, &["hook"]),
        account_toml("added", &added.uri(), "1s", WARN_5000, &["hook"]),
        webhook_toml("hook", &hook)
    );
    std::fs::write(&path, &after).unwrap();
    // Remove `old` while one of its polls is in flight: its answer must not bring the
    // forgotten account back.
    old_balance.answer(balance_response("4000").set_delay(Duration::from_millis(800)));
    let n = polls(&old).await;
    wait_polls(&old, n + 1, 10).await; // slow, and it just started
    daemon.signal(SIGHUP);
    daemon.wait_log("config reloaded", 10).await;
    let old_at_hup = polls(&old).await;
    let primary_at_hup = polls(&primary).await;

    let bodies = wait_for(&hook, 10, "the added account's alert", |b| {
        b.iter().any(|b| b["account"] == "added")
    })
    .await;
    let first = bodies.iter().find(|b| b["account"] == "added").unwrap();
    assert_eq!(first["event"], "alert");
    wait_polls(&added, 3, 10).await;
    // Several polls of `primary` under the reloaded config, still at warning.
    wait_polls(&primary, primary_at_hup + 5, 10).await;
    // Past the in-flight poll of `old`.
    tokio::time::sleep(Duration::from_millis(1000)).await;
    assert_eq!(polls(&old).await, old_at_hup, "`old` is no longer polled");

    let bodies = posted(&hook).await;
    let per_account = |name: &str| bodies.iter().filter(|b| b["account"] == name).count();
    assert_eq!(per_account("primary"), 1, "no duplicate alert: {bodies:#?}");
    assert_eq!(per_account("old"), 1, "{bodies:#?}");
    assert_eq!(per_account("added"), 1, "{bodies:#?}");

    let log = stop(&mut daemon, 15).await;
    assert!(log.contains("account removed by reload"), "{log}");
    let state = read_state(&state_file(dir.path()));
    let mut names: Vec<&String> = state["accounts"].as_object().unwrap().keys().collect();
    names.sort();
    assert_eq!(names, ["added", "primary"], "{state:#}");
    assert_eq!(state["accounts"]["primary"]["eval"]["level"], "warning");
    let samples = serde_json::to_string(
        &balance_alert::state::read_histories(&state_file(dir.path())).unwrap(),
    )
    .unwrap();
    assert!(!samples.contains("\"old\""), "{samples}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sighup_removing_a_channel_drops_its_pending_deliveries_with_a_count() {
    let dir = tempfile::tempdir().unwrap();
    let balance = Balance::new("4000");
    let exotel = exotel_with(&balance).await;
    let good = receiver_with(ResponseTemplate::new(200)).await;
    let stuck = receiver_with(ResponseTemplate::new(500)).await;
    let path = dir.path().join("config.toml");
    let thresholds = "warning = { below = 5000, clear_above = 6000 }\n\
                      critical = { below = 1000, clear_above = 1500 }";
    let config = |notify: &[&str], channels: &str| {
        format!(
            "{}{}{channels}",
            daemon_toml(dir.path(), "5s"),
            account_toml("primary", &exotel.uri(), "1s", thresholds, notify),
        )
    };
    std::fs::write(
        &path,
        config(
            &["good", "stuck"],
            &(webhook_toml("good", &good) + &webhook_toml("stuck", &stuck)),
        ),
    )
    .unwrap();
    let log = dir.path().join("daemon.log");
    let mut daemon = Daemon::spawn(&path, &log, "info", ENV);
    wait_for(&good, 10, "the warning alert", |b| !b.is_empty()).await;
    balance.set("800");
    wait_for(&good, 10, "the critical alert", |b| b.len() >= 2).await;
    // Both events were routed to `stuck` too, where they wait behind a failing head.
    daemon.wait_log("delivery failed; will retry", 10).await;

    std::fs::write(&path, config(&["good"], &webhook_toml("good", &good))).unwrap();
    daemon.signal(SIGHUP);
    let text = daemon.wait_log("config reloaded", 10).await;
    let dropped = lines_with(&text, "dropping its pending deliveries");
    assert_eq!(dropped.len(), 1, "{text}");
    assert!(
        dropped[0].contains("channel=stuck") && dropped[0].contains("count=2"),
        "{}",
        dropped[0]
    );

    let log = stop(&mut daemon, 15).await;
    assert!(log.contains("pending=0"), "{log}");
    let state = read_state(&state_file(dir.path()));
    assert_eq!(state["outbox"], serde_json::json!([]), "{state:#}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_lets_a_delivery_in_flight_finish_within_the_grace() {
    let dir = tempfile::tempdir().unwrap();
    let balance = Balance::new("4000");
    let exotel = exotel_with(&balance).await;
    // Answers 2.5 s after the request: well after our SIGTERM, well inside the 5 s grace.
    let slow =
        receiver_with(ResponseTemplate::new(200).set_delay(Duration::from_millis(2500))).await;
    let path = dir.path().join("config.toml");
    std::fs::write(
        &path,
        format!(
            "{}{}{}",
            daemon_toml(dir.path(), "5s"),
            account_toml("primary", &exotel.uri(), "1s", WARN_5000, &["hook"]),
            webhook_toml("hook", &slow)
        ),
    )
    .unwrap();
    let log = dir.path().join("daemon.log");
    let mut daemon = Daemon::spawn(&path, &log, "info", ENV);
    while received(&slow).await == 0 {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    // The request is in and its answer is at least a second away.
    daemon.signal(SIGTERM);
    let (code, took) = daemon.wait_exit(15).await;
    let log = daemon.log();
    assert_eq!(code, 0, "{log}");
    assert_no_secrets(&log);
    assert!(took >= Duration::from_secs(1), "waited for it: {took:?}");
    // Delivered once, after the SIGTERM was taken in.
    assert_eq!(lines_with(&log, ": delivered ").len(), 1, "{log}");
    let stopping = log.find("stopping").expect("SIGTERM logged");
    assert!(log.find(": delivered ").unwrap() > stopping, "{log}");
    assert!(log.contains("pending=0"), "{log}");
    let state = read_state(&state_file(dir.path()));
    assert_eq!(state["outbox"], serde_json::json!([]), "{state:#}");
    assert_eq!(received(&slow).await, 1, "sent once");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_keeps_a_delivery_that_outlasts_the_grace_for_the_next_start() {
    let dir = tempfile::tempdir().unwrap();
    let balance = Balance::new("4000");
    let exotel = exotel_with(&balance).await;
    // Never answers in time: 30 s against a 1 s grace.
    let hung = receiver_with(ResponseTemplate::new(200).set_delay(Duration::from_secs(30))).await;
    let working = receiver_with(ResponseTemplate::new(200)).await;
    let path = dir.path().join("config.toml");
    let config = |receiver: &MockServer| {
        format!(
            "{}{}{}",
            daemon_toml(dir.path(), "1s"),
            account_toml("primary", &exotel.uri(), "1s", WARN_5000, &["hook"]),
            webhook_toml("hook", receiver)
        )
    };
    std::fs::write(&path, config(&hung)).unwrap();
    let log = dir.path().join("daemon.log");
    let mut daemon = Daemon::spawn(&path, &log, "info", ENV);
    while received(&hung).await == 0 {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    daemon.signal(SIGTERM);
    let (code, took) = daemon.wait_exit(15).await;
    let log = daemon.log();
    assert_eq!(code, 0, "{log}");
    assert_no_secrets(&log);
    assert!(
        took < Duration::from_secs(1 + 3),
        "grace + a little: {took:?}"
    );
    assert!(log.contains("kept in the outbox"), "{log}");
    let state = read_state(&state_file(dir.path()));
    let outbox = state["outbox"].as_array().unwrap();
    assert_eq!(outbox.len(), 1, "{state:#}");
    assert_eq!(outbox[0]["channel"], "hook");
    assert_eq!(outbox[0]["event"]["event"], "alert");
    let id = outbox[0]["event"]["id"].as_str().unwrap().to_string();

    // The next start, with a receiver that answers, delivers that very event once;
    // the restored level means no new alert for the same 4000.
    std::fs::write(&path, config(&working)).unwrap();
    let log2 = dir.path().join("daemon2.log");
    let mut daemon = Daemon::spawn(&path, &log2, "info", ENV);
    let bodies = wait_for(&working, 10, "the kept alert", |b| !b.is_empty()).await;
    assert_eq!(bodies[0]["id"], id.as_str(), "same id");
    assert_eq!(bodies[0]["event"], "alert");
    let n = polls(&exotel).await;
    wait_polls(&exotel, n + 3, 10).await;
    assert_eq!(
        posted(&working).await.len(),
        1,
        "delivered once, nothing new"
    );
    let log = stop(&mut daemon, 15).await;
    assert!(log.contains("resuming pending deliveries"), "{log}");
    let state = read_state(&state_file(dir.path()));
    assert_eq!(state["outbox"], serde_json::json!([]), "{state:#}");
    assert_eq!(received(&hung).await, 1, "not retried against the old URL");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn debug_log_never_shows_credentials() {
    let dir = tempfile::tempdir().unwrap();
    let balance = Balance::new("4000");
    let exotel = exotel_with(&balance).await;
    // Fails every delivery, so error paths that might print the URL or headers run.
    let failing = receiver_with(ResponseTemplate::new(500).set_body_string("nope")).await;
    let path = dir.path().join("config.toml");
    // Literal credentials this time, so a config error could echo them; a second
    // channel to a closed port, whose connection error could carry the URL.
    let good = format!(
        "{}{}{}
[[channel]]
name = \"dead\"
type = \"webhook\"
url = \"http://127.0.0.1:9/{HOOK_SECRET}?token={HOOK_SECRET}\"
",
        daemon_toml(dir.path(), "2s"),
        account_toml("primary", &exotel.uri(), "1s", WARN_5000, &["hook", "dead"])
            .replace("${TEST_EXOTEL_KEY}", KEY)
            .replace("${TEST_EXOTEL_TOKEN}", TOKEN),
        webhook_toml("hook", &failing)
    );
    std::fs::write(&path, &good).unwrap();
    let log = dir.path().join("daemon.log");
    let mut daemon = Daemon::spawn(&path, &log, "debug", &[]);
    daemon.wait_log("delivery failed; will retry", 10).await;
    daemon.wait_log("channel=dead", 10).await;

    // A 401 (a config-class failure: monitor_failing at once), then a 500.
    balance.answer(
        ResponseTemplate::new(401).set_body_string(
            r#"{"RestException":{"Status":401,"Message":"Authentication failed"}}"#,
        ),
    );
    daemon.wait_log("monitor_failing", 10).await;
    balance.answer(ResponseTemplate::new(500));
    daemon.wait_log("class=\"transient\"", 10).await;
    balance.set("4000");

    // Reloads refused on the very lines that hold the secrets.
    let token_line = format!("api_token = \"{TOKEN}\"");
    let broken = [
        format!("api_token = \"{TOKEN}"),     // unterminated string
        format!("api_token = [\"{TOKEN}\"]"), // wrong type
        format!("{token_line}\napi_token = \"{TOKEN}\""), // duplicate key
    ];
    for (i, broken) in broken.iter().enumerate() {
        std::fs::write(&path, good.replace(&token_line, broken)).unwrap();
        daemon.signal(SIGHUP);
        // One at a time: the next write must not race this reload's read.
        daemon.wait_log_n("config reload refused", i + 1, 10).await;
    }
    std::fs::write(&path, &good).unwrap();
    daemon.signal(SIGHUP);
    daemon.wait_log("config reloaded", 10).await;
    daemon.wait_log("monitor_recovered", 10).await;

    let log = stop(&mut daemon, 15).await;
    // The scan means something only if the debug log covered these paths.
    for seen in ["balance polled", "balance poll failed", "delivery failed"] {
        assert!(log.contains(seen), "{seen:?} not in the log:\n{log}");
    }
}
