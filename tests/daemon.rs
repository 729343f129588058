//! The real daemon task end to end: Exotel (wiremock) → hysteresis → routing → outbox →
//! webhook/Slack (wiremock).

mod common;

use std::sync::Arc;
use std::time::Duration;

use balance_alert::SystemClock;
use balance_alert::core::Level;
use common::daemon::*;
use wiremock::ResponseTemplate;

fn s(v: &[(&str, &str)]) -> Vec<(String, String)> {
    v.iter()
        .map(|(a, b)| (a.to_string(), b.to_string()))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn worked_example_end_to_end() {
    let exotel = exotel(Script::balances(&[
        "10000", "4000", "5500", "800", "1200", "1600", "5800", "7000",
    ]))
    .await;
    let hook = receiver(200).await;
    let dir = tempfile::tempdir().unwrap();
    let config = config(
        dir.path(),
        vec![account("primary", &exotel.uri(), &["hook"])],
        vec![webhook(
            "hook",
            &format!("{}/hook", hook.uri()),
            Level::Warning,
        )],
    );
    let running = start(config, Arc::new(SystemClock)).await;
    wait_for(&hook, 15, "four events", |b| b.len() >= 4).await;
    // A few more polls at 7000 must stay silent.
    wait_polls(&exotel, 12, 10).await;
    running.stop().await.unwrap();
    let bodies = posted(&hook).await;
    assert_eq!(
        kinds(&bodies),
        s(&[
            ("alert", "warning"),
            ("alert", "critical"),
            ("improved", "warning"),
            ("resolved", "ok"),
        ])
    );
    let thresholds: Vec<_> = bodies.iter().map(|b| b["threshold"].clone()).collect();
    assert_eq!(thresholds, ["5000", "1000", "1500", "6000"]);
    let balances: Vec<_> = bodies.iter().map(|b| b["balance"].clone()).collect();
    assert_eq!(balances, ["4000", "800", "1600", "7000"]);
    let first = &bodies[0];
    assert_eq!(first["account"], "primary");
    assert_eq!(first["sid"], SID);
    assert_eq!(first["previous_level"], "ok");
    assert_eq!(first["currency"], "INR");
    assert_eq!(first["pricing_plan"], "Pay As You Go");
    assert_eq!(first["date_updated"], "2026-04-24 10:32:18");
    assert!(first["observed_at"].as_str().unwrap().ends_with('Z'));
    assert_eq!(first["id"].as_str().unwrap().len(), 32);
    // The configured header rides along.
    let requests = hook.received_requests().await.unwrap();
    assert_eq!(requests[0].headers.get("x-test").unwrap(), "yes");
    assert_eq!(
        requests[0].headers.get("content-type").unwrap(),
        "application/json"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn restart_does_not_alert_again() {
    let exotel = exotel(Script::balances(&["4000"])).await;
    let hook = receiver(200).await;
    let dir = tempfile::tempdir().unwrap();
    let make = || {
        config(
            dir.path(),
            vec![account("primary", &exotel.uri(), &["hook"])],
            vec![webhook(
                "hook",
                &format!("{}/hook", hook.uri()),
                Level::Warning,
            )],
        )
    };
    let running = start(make(), Arc::new(SystemClock)).await;
    wait_for(&hook, 10, "the alert", |b| !b.is_empty()).await;
    running.stop().await.unwrap();
    let polls_before = polls(&exotel).await;

    let running = start(make(), Arc::new(SystemClock)).await;
    wait_polls(&exotel, polls_before + 5, 10).await;
    running.stop().await.unwrap();
    assert_eq!(kinds(&posted(&hook).await), s(&[("alert", "warning")]));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unauthorized_reports_monitor_failing_then_recovered() {
    let exotel = exotel(Script::new(vec![
        balance_response("4000"),
        unauthorized(),
        unauthorized(),
        balance_response("4000"),
    ]))
    .await;
    let hook = receiver(200).await;
    // A critical-only channel still hears that the monitor is blind.
    let oncall = receiver(200).await;
    let dir = tempfile::tempdir().unwrap();
    let config = config(
        dir.path(),
        vec![account("primary", &exotel.uri(), &["hook", "oncall"])],
        vec![
            webhook("hook", &format!("{}/hook", hook.uri()), Level::Warning),
            webhook("oncall", &format!("{}/hook", oncall.uri()), Level::Critical),
        ],
    );
    let running = start(config, Arc::new(SystemClock)).await;
    let bodies = wait_for(&hook, 10, "recovery", |b| b.len() >= 3).await;
    wait_polls(&exotel, 8, 10).await;
    running.stop().await.unwrap();
    assert_eq!(
        kinds(&posted(&hook).await),
        s(&[
            ("alert", "warning"),
            ("monitor_failing", "warning"),
            ("monitor_recovered", "warning"),
        ])
    );
    let failing = &bodies[1];
    let error = failing["error"].as_str().unwrap();
    assert!(
        error.contains("401") && error.contains("Authentication failed"),
        "{error}"
    );
    assert!(!error.contains(TOKEN) && !error.contains(KEY));
    assert_eq!(failing["threshold"], serde_json::Value::Null);
    let oncall_kinds: Vec<String> = kinds(&posted(&oncall).await)
        .into_iter()
        .map(|k| k.0)
        .collect();
    assert_eq!(oncall_kinds, ["monitor_failing", "monitor_recovered"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn routing_follows_min_level_and_follow_ups() {
    let exotel = exotel(Script::balances(&["4000", "800", "1600", "7000"])).await;
    let warn = receiver(200).await;
    let crit = receiver(200).await;
    let dir = tempfile::tempdir().unwrap();
    let config = config(
        dir.path(),
        vec![account("primary", &exotel.uri(), &["warn", "crit"])],
        vec![
            webhook("warn", &format!("{}/hook", warn.uri()), Level::Warning),
            webhook("crit", &format!("{}/hook", crit.uri()), Level::Critical),
        ],
    );
    let running = start(config, Arc::new(SystemClock)).await;
    wait_for(&warn, 10, "resolved", |b| b.len() >= 4).await;
    wait_for(&crit, 10, "resolved", |b| b.len() >= 3).await;
    running.stop().await.unwrap();
    assert_eq!(
        kinds(&posted(&warn).await),
        s(&[
            ("alert", "warning"),
            ("alert", "critical"),
            ("improved", "warning"),
            ("resolved", "ok"),
        ])
    );
    // The critical-only channel: its alert, then the follow-ups of the news it heard.
    assert_eq!(
        kinds(&posted(&crit).await),
        s(&[
            ("alert", "critical"),
            ("improved", "warning"),
            ("resolved", "ok"),
        ])
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reminders_follow_the_injected_clock() {
    let exotel = exotel(Script::balances(&["4000"])).await;
    let hook = receiver(200).await;
    let dir = tempfile::tempdir().unwrap();
    let mut acct = account("primary", &exotel.uri(), &["hook"]);
    acct.repeat_every = Some(Duration::from_secs(6 * 3600));
    let config = config(
        dir.path(),
        vec![acct],
        vec![webhook(
            "hook",
            &format!("{}/hook", hook.uri()),
            Level::Warning,
        )],
    );
    let clock = Arc::new(ManualClock::default());
    let running = start(config, clock.clone()).await;
    wait_for(&hook, 10, "the alert", |b| b.len() == 1).await;
    // Polls continue; nothing new until the clock passes repeat_every.
    let p = polls(&exotel).await;
    wait_polls(&exotel, p + 3, 10).await;
    assert_eq!(posted(&hook).await.len(), 1);
    clock.advance(Duration::from_secs(6 * 3600));
    let bodies = wait_for(&hook, 10, "a reminder", |b| b.len() == 2).await;
    assert_eq!(bodies[1]["event"], "reminder");
    assert_eq!(bodies[1]["level"], "warning");
    assert_eq!(bodies[1]["threshold"], "5000");
    let p = polls(&exotel).await;
    wait_polls(&exotel, p + 3, 10).await;
    running.stop().await.unwrap();
    assert_eq!(
        posted(&hook).await.len(),
        2,
        "one reminder per repeat_every"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reload_reevaluates_with_new_thresholds_at_once() {
    let exotel = exotel(Script::balances(&["4000"])).await;
    let hook = receiver(200).await;
    let dir = tempfile::tempdir().unwrap();
    let mut acct = account("primary", &exotel.uri(), &["hook"]);
    // Slow polling: the resolve must come from the reload itself, not a new poll.
    acct.poll_interval = Duration::from_secs(30);
    let cfg = config(
        dir.path(),
        vec![acct],
        vec![webhook(
            "hook",
            &format!("{}/hook", hook.uri()),
            Level::Warning,
        )],
    );
    let running = start(cfg, Arc::new(SystemClock)).await;
    wait_for(&hook, 40, "the alert", |b| b.len() == 1).await;
    std::fs::write(
        dir.path().join("config.toml"),
        format!(
            r#"
[daemon]
state_file = "{state}"

[[account]]
name = "primary"
sid = "{SID}"
api_key = "{KEY}"
api_token = "{TOKEN}"
base_url = "{base}"
poll_interval = "30s"
notify = ["hook"]
warning = {{ below = 3000, clear_above = 3500 }}

[[channel]]
name = "hook"
type = "webhook"
url = "{hook}/hook"
"#,
            state = dir.path().join("state.db").display(),
            base = exotel.uri(),
            hook = hook.uri()
        ),
    )
    .unwrap();
    let polls_before = polls(&exotel).await;
    running.reload.send(()).unwrap();
    let bodies = wait_for(&hook, 10, "resolved after reload", |b| b.len() == 2).await;
    assert_eq!(bodies[1]["event"], "resolved");
    assert_eq!(bodies[1]["threshold"], "3500");
    assert_eq!(
        polls(&exotel).await,
        polls_before,
        "re-evaluated without polling"
    );
    running.stop().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn monitor_failing_reaches_every_channel_even_other_accounts() {
    let exotel = exotel(Script::new(vec![unauthorized(), balance_response("9000")])).await;
    let own = receiver(200).await;
    let other = receiver(200).await;
    let dir = tempfile::tempdir().unwrap();
    let mut second = account("second", "http://127.0.0.1:9", &["other"]);
    second.poll_interval = Duration::from_secs(3600);
    let config = config(
        dir.path(),
        vec![account("primary", &exotel.uri(), &["own"]), second],
        vec![
            webhook("own", &format!("{}/hook", own.uri()), Level::Critical),
            webhook("other", &format!("{}/hook", other.uri()), Level::Critical),
        ],
    );
    let running = start(config, Arc::new(SystemClock)).await;
    // ...and so does its recovery: each channel that heard the failure hears it ended.
    for server in [&other, &own] {
        let got = wait_for(server, 10, "failing, then recovered", |b| b.len() >= 2).await;
        let events: Vec<_> = got
            .iter()
            .map(|e| (e["event"].as_str(), e["account"].as_str()))
            .collect();
        assert_eq!(
            events,
            [
                (Some("monitor_failing"), Some("primary")),
                (Some("monitor_recovered"), Some("primary"))
            ]
        );
    }
    running.stop().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_long_retry_after_does_not_delay_monitor_failing() {
    // A slow answer: blindness is counted from the failure, not from the request.
    let exotel = exotel(Script::new(vec![
        ResponseTemplate::new(429)
            .insert_header("retry-after", "86400")
            .set_delay(Duration::from_millis(300)),
    ]))
    .await;
    let hook = receiver(200).await;
    let dir = tempfile::tempdir().unwrap();
    let mut acct = account("primary", &exotel.uri(), &["hook"]);
    acct.blind_after = Duration::from_millis(800);
    let config = config(
        dir.path(),
        vec![acct],
        vec![webhook(
            "hook",
            &format!("{}/hook", hook.uri()),
            Level::Warning,
        )],
    );
    let running = start(config, Arc::new(SystemClock)).await;
    let bodies = wait_for(&hook, 10, "monitor_failing", |b| !b.is_empty()).await;
    running.stop().await.unwrap();
    assert_eq!(bodies[0]["event"], "monitor_failing");
    assert!(
        bodies[0]["error"].as_str().unwrap().contains("429"),
        "{}",
        bodies[0]
    );
    // Retry-After was honoured: one request only.
    assert_eq!(polls(&exotel).await, 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_overdue_reminder_goes_out_after_a_restart() {
    let exotel = exotel(Script::balances(&["4000"])).await;
    let hook = receiver(200).await;
    let dir = tempfile::tempdir().unwrap();
    let make = || {
        let mut acct = account("primary", &exotel.uri(), &["hook"]);
        acct.repeat_every = Some(Duration::from_secs(6 * 3600));
        config(
            dir.path(),
            vec![acct],
            vec![webhook(
                "hook",
                &format!("{}/hook", hook.uri()),
                Level::Warning,
            )],
        )
    };
    let running = start(make(), Arc::new(ManualClock::default())).await;
    wait_for(&hook, 10, "the alert", |b| b.len() == 1).await;
    running.stop().await.unwrap();

    // The daemon was down while the reminder fell due: the first poll after the
    // restart confirms the level and sends it, once.
    let later = Arc::new(ManualClock::default());
    later.advance(Duration::from_secs(7 * 3600));
    let running = start(make(), later).await;
    let bodies = wait_for(&hook, 10, "the overdue reminder", |b| b.len() == 2).await;
    let p = polls(&exotel).await;
    wait_polls(&exotel, p + 3, 10).await;
    running.stop().await.unwrap();
    assert_eq!(bodies[1]["event"], "reminder");
    assert_eq!(posted(&hook).await.len(), 2);
}
