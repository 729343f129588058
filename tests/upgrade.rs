//! Upgrades through the real binary: a state file written by an earlier build
//! (`tests/fixtures/state/v1-state.json`, made by `balance-alert run` before the source
//! tree was reorganised) loads in this one. Its pending deliveries leave with their
//! original ids, in order, and the levels it remembers suppress repeats.

mod common;

use std::path::Path;

use common::cli::{SIGTERM, write};
use common::daemon::{balance_response, posted, unauthorized, wait_for, wait_polls};
use common::process::Daemon;
use wiremock::{Mock, MockServer, ResponseTemplate, matchers};

/// The fixture's pending outbox, oldest first: (event, account, id).
const PENDING: [(&str, &str, &str); 3] = [
    ("alert", "primary", "b59ba9410de5aecfdd47593c029298a8"),
    (
        "monitor_failing",
        "backup",
        "01f35b2ae076b4eb5a72da6dc5981ecd",
    ),
    ("alert", "primary", "814080741274fb321a23b444209f034c"),
];

fn fixture(name: &str) -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/state")
        .join(name)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_state_file_from_before_the_reorganisation_loads() {
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("state.json");
    std::fs::copy(fixture("v1-state.json"), &state).unwrap();
    std::fs::copy(
        fixture("v1-state.samples.json"),
        dir.path().join("state.samples.json"),
    )
    .unwrap();

    // `primary` is still critical at 800 and `backup` still refused: nothing new to say.
    let exotel = MockServer::start().await;
    Mock::given(matchers::path("/v1/Accounts/acme/Balance.json"))
        .respond_with(balance_response("800.00"))
        .mount(&exotel)
        .await;
    Mock::given(matchers::path("/v1/Accounts/acme2/Balance.json"))
        .respond_with(unauthorized())
        .mount(&exotel)
        .await;
    let hook = MockServer::start().await;
    Mock::given(matchers::method("POST"))
        .and(matchers::path("/hook"))
        .respond_with(ResponseTemplate::new(200))
        .mount(&hook)
        .await;

    let base = exotel.uri();
    let config = write(
        dir.path(),
        "config.toml",
        &format!(
            r#"
[daemon]
state_file = "{state}"
shutdown_grace = "1s"

[[account]]
name = "primary"
sid = "acme"
api_key = "k-123456789"
api_token = "t-123456789"
base_url = "{base}"
poll_interval = "1s"
blind_after = "10s"
timeout = "2s"
notify = ["ops-hook", "stdout"]
warning = {{ below = 5000, clear_above = 6000 }}
critical = {{ below = 1000, clear_above = 1500 }}

[[account]]
name = "backup"
sid = "acme2"
api_key = "k-123456789"
api_token = "t-123456789"
base_url = "{base}"
poll_interval = "1s"
timeout = "2s"
blind_after = "2s"
notify = ["stdout"]
warning = {{ below = 500 }}

[[channel]]
name = "ops-hook"
type = "webhook"
url = "{hook}/hook"

[[channel]]
name = "stdout"
type = "console"
"#,
            state = state.display(),
            hook = hook.uri(),
        ),
    );
    let mut daemon = Daemon::spawn(&config, &dir.path().join("log"), "info", &[]);

    let bodies = wait_for(&hook, 20, "the three pending deliveries", |b| b.len() >= 3).await;
    let got: Vec<(&str, &str, &str)> = bodies
        .iter()
        .map(|b| {
            (
                b["event"].as_str().unwrap(),
                b["account"].as_str().unwrap(),
                b["id"].as_str().unwrap(),
            )
        })
        .collect();
    assert_eq!(got, PENDING);
    assert_eq!(bodies[2]["level"], "critical");
    assert_eq!(bodies[2]["balance"], "800.00");

    // Several more polls of both accounts: the remembered levels and the failing latch
    // hold, so nothing more is sent (reminders are off here: the fixture is old enough
    // for one to be due).
    let before = exotel.received_requests().await.unwrap().len();
    wait_polls(&exotel, before + 6, 20).await;
    assert_eq!(posted(&hook).await.len(), 3, "{:#?}", posted(&hook).await);

    daemon.signal(SIGTERM);
    let (code, _) = daemon.wait_exit(20).await;
    assert_eq!(code, 0, "{}", daemon.log());
    let log = daemon.log();
    assert!(!log.contains("ERROR"), "{log}");
}
