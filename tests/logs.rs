//! Structured log fields through the real binary: values, not Rust `Debug`, in both
//! formats, so `jq` and Loki queries can use them (`"balance":"4000.50"`, not
//! `"Some(\"4000.50\")"`; `"channels":"hook,out"`, not `"[\"hook\", \"out\"]"`).

mod common;

use common::cli::{SIGTERM, write};
use common::daemon::{KEY, SID, TOKEN};
use common::process::{Balance, Daemon, exotel_with, receiver_with};
use wiremock::ResponseTemplate;

/// Runs the daemon until its first `event` line, with `log_format`; returns the log.
async fn event_log(log_format: &str) -> String {
    let dir = tempfile::tempdir().unwrap();
    let balance = Balance::new("4000.50");
    let exotel = exotel_with(&balance).await;
    let hook = receiver_with(ResponseTemplate::new(200)).await;
    let config = write(
        dir.path(),
        "config.toml",
        &format!(
            r#"
[daemon]
state_file = "{state}"
log_format = "{log_format}"

[[account]]
name = "primary"
sid = "{SID}"
api_key = "{KEY}"
api_token = "{TOKEN}"
base_url = "{base}"
poll_interval = "1s"
notify = ["hook", "out"]
warning = {{ below = 5000, clear_above = 6000 }}

[[channel]]
name = "hook"
type = "webhook"
url = "{hook}/hook"

[[channel]]
name = "out"
type = "console"
"#,
            state = dir.path().join("state.json").display(),
            base = exotel.uri(),
            hook = hook.uri(),
        ),
    );
    let mut daemon = Daemon::spawn(&config, &dir.path().join("log"), "info", &[]);
    daemon.wait_log("delivered", 20).await;
    daemon.signal(SIGTERM);
    let (code, _) = daemon.wait_exit(20).await;
    assert_eq!(code, 0, "{}", daemon.log());
    daemon.log()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn json_log_fields_are_values() {
    let log = event_log("json").await;
    let lines: Vec<serde_json::Value> = log
        .lines()
        .filter(|l| l.starts_with('{'))
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{l}: {e}")))
        .collect();
    let event = lines
        .iter()
        .find(|l| l["message"] == "event")
        .unwrap_or_else(|| panic!("no event line in:\n{log}"));
    assert_eq!(event["balance"], "4000.50", "{event}");
    assert_eq!(event["channels"], "hook,out", "{event}");
    assert_eq!(event["account"], "primary", "{event}");
    assert_eq!(event["event"], "alert", "{event}");
    assert_eq!(event["level"], "warning", "{event}");
    assert!(!log.contains("Some("), "{log}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn text_log_fields_are_values() {
    let log = event_log("text").await;
    let line = log
        .lines()
        .find(|l| l.contains("balance_alert::daemon") && l.contains(": event "))
        .unwrap_or_else(|| panic!("no event line in:\n{log}"));
    assert!(line.contains("balance=4000.50"), "{line}");
    assert!(line.contains("channels=hook,out"), "{line}");
    assert!(!log.contains("Some("), "{log}");
}
