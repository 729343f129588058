//! At-least-once delivery through the persisted outbox: retries, restarts, give-up,
//! ordering, and Slack's answers.

mod common;

use std::sync::Arc;
use std::time::Duration;

use balance_alert::SystemClock;
use balance_alert::core::Level;
use balance_alert::state::StateFile;
use common::daemon::*;
use wiremock::{Mock, MockServer, ResponseTemplate, matchers};

fn read_state(dir: &std::path::Path) -> StateFile {
    balance_alert::state::read_snapshot(&dir.join("state.db")).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pending_alert_survives_a_restart() {
    let exotel = exotel(Script::balances(&["4000"])).await;
    let down = receiver(503).await;
    let dir = tempfile::tempdir().unwrap();
    let hook_url = format!("{}/hook", down.uri());
    let running = start(
        config(
            dir.path(),
            vec![account("primary", &exotel.uri(), &["hook"])],
            vec![webhook("hook", &hook_url, Level::Warning)],
        ),
        Arc::new(SystemClock),
    )
    .await;
    let tried = wait_for(&down, 10, "a failed attempt", |b| !b.is_empty()).await;
    let id = tried[0]["id"].as_str().unwrap().to_string();
    running.stop().await.unwrap();
    let saved = read_state(dir.path());
    assert_eq!(saved.outbox.len(), 1, "the alert waits in the outbox");
    assert_eq!(saved.outbox[0].event.id, id);

    // Next start: the receiver is up at the same address; the same event arrives once.
    down.reset().await;
    Mock::given(matchers::method("POST"))
        .respond_with(ResponseTemplate::new(200))
        .mount(&down)
        .await;
    let running = start(
        config(
            dir.path(),
            vec![account("primary", &exotel.uri(), &["hook"])],
            vec![webhook("hook", &hook_url, Level::Warning)],
        ),
        Arc::new(SystemClock),
    )
    .await;
    let bodies = wait_for(&down, 10, "the redelivery", |b| !b.is_empty()).await;
    let p = polls(&exotel).await;
    wait_polls(&exotel, p + 3, 10).await;
    running.stop().await.unwrap();
    assert_eq!(posted(&down).await.len(), 1);
    assert_eq!(bodies[0]["id"], id.as_str(), "a retry reuses the event id");
    assert!(read_state(dir.path()).outbox.is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_failing_channel_never_blocks_another() {
    let exotel = exotel(Script::balances(&["4000", "800"])).await;
    let down = receiver(500).await;
    let up = receiver(200).await;
    let dir = tempfile::tempdir().unwrap();
    let running = start(
        config(
            dir.path(),
            vec![account("primary", &exotel.uri(), &["down", "up"])],
            vec![
                webhook("down", &format!("{}/hook", down.uri()), Level::Warning),
                webhook("up", &format!("{}/hook", up.uri()), Level::Warning),
            ],
        ),
        Arc::new(SystemClock),
    )
    .await;
    let bodies = wait_for(&up, 10, "both alerts on the healthy channel", |b| {
        b.len() == 2
    })
    .await;
    running.stop().await.unwrap();
    assert_eq!(bodies[0]["level"], "warning");
    assert_eq!(bodies[1]["level"], "critical");
    // The failing channel kept its two messages, in order, for later.
    let saved = read_state(dir.path());
    let pending: Vec<_> = saved
        .outbox
        .iter()
        .map(|e| (e.channel.as_str(), e.event.level))
        .collect();
    assert_eq!(
        pending,
        [("down", Level::Warning), ("down", Level::Critical)]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn undeliverable_messages_are_given_up_after_give_up_after() {
    let exotel = exotel(Script::balances(&["4000"])).await;
    let down = receiver(503).await;
    let dir = tempfile::tempdir().unwrap();
    let mut cfg = config(
        dir.path(),
        vec![account("primary", &exotel.uri(), &["hook"])],
        vec![webhook(
            "hook",
            &format!("{}/hook", down.uri()),
            Level::Warning,
        )],
    );
    cfg.daemon.give_up_after = Duration::from_secs(3600);
    let clock = Arc::new(ManualClock::default());
    let running = start(cfg, clock.clone()).await;
    wait_for(&down, 10, "a first attempt", |b| !b.is_empty()).await;
    clock.advance(Duration::from_secs(3601));
    // Next attempt (1-2 s later) finds the message too old and drops it.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    loop {
        if running.ready.store.lock().outbox().is_empty() {
            break;
        }
        assert!(tokio::time::Instant::now() < deadline, "not given up");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let attempts = posted(&down).await.len();
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert_eq!(
        posted(&down).await.len(),
        attempts,
        "no attempts after giving up"
    );
    running.stop().await.unwrap();
}

async fn slack_server(responses: Vec<ResponseTemplate>) -> MockServer {
    let server = MockServer::start().await;
    Mock::given(matchers::method("POST"))
        .and(matchers::path("/services/T000/B000/XXXX"))
        .and(matchers::header("content-type", "application/json"))
        .respond_with(Script::new(responses))
        .mount(&server)
        .await;
    server
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slack_down_then_up_delivers_exactly_once() {
    let exotel = exotel(Script::balances(&["4000"])).await;
    let slack_mock = slack_server(vec![
        ResponseTemplate::new(500),
        ResponseTemplate::new(429).insert_header("retry-after", "1"),
        ResponseTemplate::new(200).set_body_string("ok"),
    ])
    .await;
    let dir = tempfile::tempdir().unwrap();
    let url = format!("{}/services/T000/B000/XXXX", slack_mock.uri());
    let running = start(
        config(
            dir.path(),
            vec![account("primary", &exotel.uri(), &["ops-slack"])],
            vec![slack("ops-slack", &url)],
        ),
        Arc::new(SystemClock),
    )
    .await;
    let bodies = wait_for(&slack_mock, 15, "three attempts", |b| b.len() >= 3).await;
    let p = polls(&exotel).await;
    wait_polls(&exotel, p + 5, 10).await;
    running.stop().await.unwrap();
    assert_eq!(
        posted(&slack_mock).await.len(),
        3,
        "no attempt after the 200"
    );
    // The same message each time, with blocks and the text fallback.
    assert_eq!(bodies[0], bodies[2]);
    assert!(bodies[2]["text"].as_str().unwrap().contains("primary"));
    assert!(
        bodies[2]["blocks"]
            .as_array()
            .is_some_and(|b| !b.is_empty())
    );
    assert!(read_state(dir.path()).outbox.is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slack_permanent_refusal_is_not_retried() {
    let exotel = exotel(Script::balances(&["4000", "800"])).await;
    let slack_mock = slack_server(vec![
        ResponseTemplate::new(404).set_body_string("channel_not_found"),
        ResponseTemplate::new(200),
    ])
    .await;
    let dir = tempfile::tempdir().unwrap();
    let url = format!("{}/services/T000/B000/XXXX", slack_mock.uri());
    let running = start(
        config(
            dir.path(),
            vec![account("primary", &exotel.uri(), &["ops-slack"])],
            vec![slack("ops-slack", &url)],
        ),
        Arc::new(SystemClock),
    )
    .await;
    // The warning alert is refused (404) and dropped; the critical one goes through.
    let bodies = wait_for(&slack_mock, 15, "two posts", |b| b.len() >= 2).await;
    tokio::time::sleep(Duration::from_millis(1500)).await;
    running.stop().await.unwrap();
    assert_eq!(posted(&slack_mock).await.len(), 2);
    assert!(
        bodies[1]["text"]
            .as_str()
            .unwrap()
            .to_lowercase()
            .contains("critical")
    );
    assert!(read_state(dir.path()).outbox.is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_pending_reminder_is_dropped_when_a_newer_event_queues_behind_it() {
    use balance_alert::core::EventKind;
    let (exotel, balance) = exotel_switch(balance_response("4000")).await;
    let (hook, status) = receiver_switch(503).await;
    let dir = tempfile::tempdir().unwrap();
    let mut acct = account("primary", &exotel.uri(), &["hook"]);
    acct.repeat_every = Some(Duration::from_secs(3600));
    let clock = Arc::new(ManualClock::default());
    let running = start(
        config(
            dir.path(),
            vec![acct],
            vec![webhook(
                "hook",
                &format!("{}/hook", hook.uri()),
                Level::Warning,
            )],
        ),
        clock.clone(),
    )
    .await;
    wait_for(&hook, 10, "a first (failing) attempt", |b| !b.is_empty()).await;
    clock.advance(Duration::from_secs(3600));
    wait_outbox(&running.ready, 10, "alert + reminder", |o| {
        o.iter().map(|e| e.event.event).collect::<Vec<_>>()
            == [EventKind::Alert, EventKind::Reminder]
    })
    .await;
    balance.set(balance_response("800"));
    wait_outbox(
        &running.ready,
        10,
        "the reminder replaced by the critical alert",
        |o| {
            o.iter()
                .map(|e| (e.event.event, e.event.level))
                .collect::<Vec<_>>()
                == [
                    (EventKind::Alert, Level::Warning),
                    (EventKind::Alert, Level::Critical),
                ]
        },
    )
    .await;
    status.set(ResponseTemplate::new(200));
    wait_outbox(&running.ready, 20, "both delivered", |o| o.is_empty()).await;
    running.stop().await.unwrap();
    let bodies = posted(&hook).await;
    assert!(
        bodies.iter().all(|b| b["event"] != "reminder"),
        "{bodies:#?}"
    );
    let last = bodies.last().unwrap();
    assert_eq!(
        (last["event"].as_str(), last["level"].as_str()),
        (Some("alert"), Some("critical"))
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failing_state_write_is_counted_and_the_alert_still_leaves() {
    let (exotel, balance) = exotel_switch(balance_response("9000")).await;
    let hook = receiver(200).await;
    let dir = tempfile::tempdir().unwrap();
    let state_dir = dir.path().join("state");
    let mut cfg = config(
        dir.path(),
        vec![account("primary", &exotel.uri(), &["hook"])],
        vec![webhook(
            "hook",
            &format!("{}/hook", hook.uri()),
            Level::Warning,
        )],
    );
    cfg.daemon.state_file = state_dir.join("state.db");
    let running = start(cfg, Arc::new(SystemClock)).await;
    wait_polls(&exotel, 1, 10).await;
    // The state directory turns into a file: every write fails from now on (this
    // works as root too, unlike taking permissions away).
    std::fs::remove_dir_all(&state_dir).unwrap();
    std::fs::write(&state_dir, b"not a directory").unwrap();
    balance.set(balance_response("4000"));
    let bodies = wait_for(&hook, 10, "the alert despite the failed write", |b| {
        !b.is_empty()
    })
    .await;
    assert_eq!(bodies[0]["event"], "alert");
    let metrics = running.ready.metrics.encode();
    let line = metrics
        .lines()
        .find(|l| l.starts_with("balance_alert_state_write_errors_total "))
        .unwrap_or_else(|| panic!("no state write error series in:\n{metrics}"));
    let count: f64 = line.rsplit(' ').next().unwrap().parse().unwrap();
    assert!(count >= 1.0, "{line}");
    // Shutdown cannot save either; it says so instead of hanging.
    assert!(running.stop().await.is_err());
}

/// Answers 200 and records when each request arrived.
#[derive(Clone, Default)]
struct Arrivals(Arc<std::sync::Mutex<Vec<std::time::Instant>>>);

impl wiremock::Respond for Arrivals {
    fn respond(&self, _: &wiremock::Request) -> ResponseTemplate {
        self.0.lock().unwrap().push(std::time::Instant::now());
        ResponseTemplate::new(200)
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slack_is_paced_per_webhook_even_across_channels() {
    let exotel = exotel(Script::balances(&["800"])).await;
    let arrivals = Arrivals::default();
    let server = MockServer::start().await;
    Mock::given(matchers::method("POST"))
        .respond_with(arrivals.clone())
        .mount(&server)
        .await;
    let url = format!("{}/services/T000/B000/SHARED", server.uri());
    let dir = tempfile::tempdir().unwrap();
    // Two channels, one webhook: the critical alert goes to both at the same moment.
    let running = start(
        config(
            dir.path(),
            vec![account("primary", &exotel.uri(), &["a", "b"])],
            vec![slack("a", &url), slack("b", &url)],
        ),
        Arc::new(SystemClock),
    )
    .await;
    wait_for(&server, 10, "both posts", |b| b.len() == 2).await;
    running.stop().await.unwrap();
    let times = arrivals.0.lock().unwrap().clone();
    let gap = times[1].duration_since(times[0]);
    assert!(gap >= Duration::from_millis(900), "posts {gap:?} apart");
}
