//! The heartbeat out (SPEC §11.2): pings while every loop is alive, none while one is
//! stuck, `fail_url` while an account's monitor is failing, failures counted, and the
//! whole thing through the real daemon.

mod common;

use std::sync::Arc;
use std::time::Duration;

use balance_alert::config::{HeartbeatConfig, Secret};
use balance_alert::health::Heartbeats;
use balance_alert::metrics::Metrics;
use common::cli::write;
use common::daemon::{KEY, SID, TOKEN, balance_response, exotel_responding, unauthorized};
use common::process::Daemon;
use wiremock::{Mock, MockServer, ResponseTemplate, matchers};

async fn watcher(status: u16) -> MockServer {
    let server = MockServer::start().await;
    Mock::given(matchers::method("GET"))
        .respond_with(ResponseTemplate::new(status))
        .mount(&server)
        .await;
    server
}

async fn hits(server: &MockServer, path: &str) -> usize {
    server
        .received_requests()
        .await
        .unwrap()
        .iter()
        .filter(|r| r.url.path() == path)
        .count()
}

fn config(server: &MockServer, every: Duration) -> HeartbeatConfig {
    HeartbeatConfig {
        url: Secret::new(format!("{}/ping", server.uri())),
        every,
        fail_url: Some(Secret::new(format!("{}/ping/fail", server.uri()))),
    }
}

/// Runs the heartbeat for `secs` against `server`.
async fn run_for(
    server: &MockServer,
    heartbeats: Arc<Heartbeats>,
    metrics: Arc<Metrics>,
    failing: bool,
    secs: f64,
) {
    let stop = tokio::time::sleep(Duration::from_secs_f64(secs));
    balance_alert::heartbeat::run(
        config(server, Duration::from_millis(100)),
        heartbeats,
        metrics,
        move || failing,
        stop,
    )
    .await;
}

#[tokio::test]
async fn a_stuck_loop_silences_the_heartbeat() {
    let server = watcher(200).await;
    let heartbeats = Heartbeats::new();
    let alive = heartbeats.register("account alive");
    alive.expect_back_within(Duration::from_secs(60));
    // Alive: pings.
    run_for(&server, heartbeats.clone(), Metrics::new(), false, 0.55).await;
    let pings = hits(&server, "/ping").await;
    assert!(pings >= 3, "{pings} pings while every loop is alive");
    // One loop misses its deadline: no more pings, not even to fail_url.
    let stuck = heartbeats.register("channel ops");
    stuck.expect_back_within(Duration::ZERO);
    tokio::time::sleep(Duration::from_millis(5)).await;
    run_for(&server, heartbeats.clone(), Metrics::new(), true, 0.55).await;
    assert_eq!(
        hits(&server, "/ping").await,
        pings,
        "pinged while a loop was stuck"
    );
    assert_eq!(hits(&server, "/ping/fail").await, 0);
    // It comes back: pings resume.
    stuck.idle();
    run_for(&server, heartbeats, Metrics::new(), false, 0.35).await;
    assert!(hits(&server, "/ping").await > pings);
}

#[tokio::test]
async fn a_failing_monitor_pings_fail_url_and_failures_are_counted() {
    let server = watcher(200).await;
    run_for(&server, Heartbeats::new(), Metrics::new(), true, 0.35).await;
    assert!(hits(&server, "/ping/fail").await >= 2);
    assert_eq!(hits(&server, "/ping").await, 0);

    let broken = watcher(500).await;
    let metrics = Metrics::new();
    run_for(&broken, Heartbeats::new(), metrics.clone(), false, 0.35).await;
    let tries = hits(&broken, "/ping").await;
    assert!(tries >= 2, "{tries}");
    let text = metrics.encode();
    let line = text
        .lines()
        .find(|l| l.starts_with("balance_alert_heartbeat_failures_total "))
        .unwrap_or_else(|| panic!("no heartbeat failure series:\n{text}"));
    let counted: usize = line.rsplit(' ').next().unwrap().parse().unwrap();
    // Each failed ping counted once: never retried before the next tick.
    assert_eq!(counted, tries, "{line}");
}

/// Through the real binary: an account reading fine pings `url`; one whose credentials
/// are refused (monitor failing at once) switches to `fail_url`. The URLs never reach
/// the log.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_daemon_pings_url_while_healthy_and_fail_url_while_failing() {
    let dir = tempfile::tempdir().unwrap();
    for (name, exotel_answer, wanted, unwanted) in [
        (
            "healthy",
            balance_response("7000.00"),
            "/hb-uuid-1234",
            "/hb-uuid-1234/fail",
        ),
        (
            "failing",
            unauthorized(),
            "/hb-uuid-1234/fail",
            "/hb-uuid-1234",
        ),
    ] {
        let exotel = exotel_responding(exotel_answer).await;
        let hc = watcher(200).await;
        let text = format!(
            r#"
[daemon]
state_file = "{state}"
heartbeat = {{ url = "{hc}/hb-uuid-1234", every = "300ms", fail_url = "{hc}/hb-uuid-1234/fail" }}

[[account]]
name = "primary"
sid = "{SID}"
api_key = "{KEY}"
api_token = "{TOKEN}"
base_url = "{exotel}"
poll_interval = "1s"
warning = {{ below = 5000 }}
"#,
            state = dir.path().join(format!("{name}.json")).display(),
            hc = hc.uri(),
            exotel = exotel.uri()
        );
        let path = write(dir.path(), &format!("{name}.toml"), &text);
        let log = dir.path().join(format!("{name}.log"));
        let daemon = Daemon::spawn(&path, &log, "balance_alert=debug", &[]);
        if name == "failing" {
            daemon.wait_log("monitor_failing", 15).await;
        }
        let deadline = std::time::Instant::now() + Duration::from_secs(15);
        while hits(&hc, wanted).await < 3 {
            assert!(
                std::time::Instant::now() < deadline,
                "{name}: fewer than 3 pings of {wanted}:\n{}",
                daemon.log()
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        if name == "healthy" {
            assert_eq!(hits(&hc, unwanted).await, 0, "{name}");
        }
        assert!(!daemon.log().contains("hb-uuid-1234"), "{}", daemon.log());
        drop(daemon);
    }
}
