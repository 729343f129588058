//! The real binary as a child process: exit codes, `check`'s Nagios line, `validate`,
//! `test-notify`, clean shutdown on signals, the demo, and no secret in any log line.

mod common;

use std::time::Duration;

use common::cli::*;
use common::daemon::{KEY, SID, Script, TOKEN, balance_response, exotel, unauthorized};
use wiremock::{Mock, MockServer, ResponseTemplate, matchers};

const HOOK_SECRET: &str = "hook-path-T0K3N";

fn daemon_config(state_dir: &std::path::Path, exotel_uri: &str, hook_uri: &str) -> String {
    format!(
        r#"
[daemon]
state_file = "{state}"

[[account]]
name = "primary"
sid = "{SID}"
api_key = "${{TEST_EXOTEL_KEY}}"
api_token = "${{TEST_EXOTEL_TOKEN}}"
base_url = "{exotel_uri}"
poll_interval = "1s"
notify = ["hook"]
warning = {{ below = 5000, clear_above = 6000 }}
critical = {{ below = "1000.00", clear_above = "1500" }}

[[channel]]
name = "hook"
type = "webhook"
url = "{hook_uri}/{HOOK_SECRET}"
"#,
        state = state_dir.join("state.db").display()
    )
}

fn check_config(accounts: &[(&str, &str)]) -> String {
    let mut text = String::new();
    for (name, uri) in accounts {
        text.push_str(&format!(
            r#"
[[account]]
name = "{name}"
sid = "{SID}"
api_key = "{KEY}"
api_token = "{TOKEN}"
base_url = "{uri}"
timeout = "2s"
warning = {{ below = 5000 }}
critical = {{ below = 1000 }}
"#
        ));
    }
    text
}

#[test]
fn validate_accepts_the_example_and_names_problems() {
    let dir = tempfile::tempdir().unwrap();
    let good = write(
        dir.path(),
        "good.toml",
        &check_config(&[("primary", "http://127.0.0.1:9")]),
    );
    let out = run(&["validate", "-c", good.to_str().unwrap()], &[]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    assert!(stdout(&out).contains("1 account"), "{}", stdout(&out));

    let bad = write(
        dir.path(),
        "bad.toml",
        "[[account]]\nname = \"a\"\nsid = \"s\"\napi_key = \"k\"\napi_token = \"t\"\nwarning = { below = 5000, clear_above = 4000 }\n",
    );
    let out = run(&["validate", "-c", bad.to_str().unwrap()], &[]);
    assert_eq!(code(&out), 78);
    let err = stderr(&out);
    assert!(
        err.contains("bad.toml") && err.contains(":6") && err.contains("clear_above"),
        "{err}"
    );

    let missing = dir.path().join("nope.toml");
    let out = run(&["validate", "-c", missing.to_str().unwrap()], &[]);
    assert_eq!(code(&out), 78);
    assert!(stderr(&out).contains("nope.toml"), "{}", stderr(&out));

    // -c falls back to $BALANCE_ALERT_CONFIG.
    let out = run(
        &["validate"],
        &[("BALANCE_ALERT_CONFIG", good.to_str().unwrap())],
    );
    assert_eq!(code(&out), 0, "{}", stderr(&out));
}

#[test]
fn the_shipped_example_config_validates() {
    let example = concat!(env!("CARGO_MANIFEST_DIR"), "/config/balance-alert.toml");
    let out = run(
        &["validate", "-c", example],
        &[
            ("EXOTEL_API_KEY", "key"),
            ("EXOTEL_API_TOKEN", "token"),
            (
                "CREDENTIALS_DIRECTORY",
                concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/credentials"),
            ),
            (
                "SLACK_WEBHOOK_URL",
                "https://hooks.slack.com/services/T/B/X",
            ),
            ("SMTP_PASSWORD", "pw"),
            ("TWILIO_AUTH_TOKEN", "tw"),
            ("WEBHOOK_TOKEN", "wh"),
        ],
    );
    assert_eq!(
        code(&out),
        0,
        "stdout: {}\nstderr: {}",
        stdout(&out),
        stderr(&out)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn check_exit_codes_follow_nagios() {
    let dir = tempfile::tempdir().unwrap();
    let ok = exotel(Script::balances(&["9000.50"])).await;
    let warn = exotel(Script::balances(&["4000"])).await;
    let crit = exotel(Script::balances(&["800"])).await;
    let broken = exotel(Script::new(vec![unauthorized()])).await;

    let cases = [
        (vec![("primary", ok.uri())], 0, "BALANCE OK"),
        (
            vec![("primary", ok.uri()), ("second", warn.uri())],
            1,
            "BALANCE WARNING",
        ),
        (
            vec![
                ("primary", ok.uri()),
                ("second", warn.uri()),
                ("third", crit.uri()),
            ],
            2,
            "BALANCE CRITICAL",
        ),
        (
            vec![("primary", ok.uri()), ("second", broken.uri())],
            3,
            "BALANCE UNKNOWN",
        ),
        (
            vec![("primary", warn.uri()), ("second", broken.uri())],
            1,
            "BALANCE WARNING",
        ),
    ];
    for (i, (accounts, expected, prefix)) in cases.into_iter().enumerate() {
        let refs: Vec<(&str, &str)> = accounts.iter().map(|(n, u)| (*n, u.as_str())).collect();
        let path = write(dir.path(), &format!("c{i}.toml"), &check_config(&refs));
        let out =
            tokio::task::spawn_blocking(move || run(&["check", "-c", path.to_str().unwrap()], &[]))
                .await
                .unwrap();
        let line = stdout(&out);
        assert_eq!(code(&out), expected, "case {i}: {line}");
        assert!(line.starts_with(prefix), "case {i}: {line}");
        assert_eq!(line.trim_end().lines().count(), 1, "one line: {line}");
        // Every account's balance is in the perfdata.
        assert!(
            line.contains("| 'exotel/primary'=") || line.contains(" 'exotel/primary'="),
            "{line}"
        );
        assert!(!line.contains(TOKEN), "{line}");
    }

    // Worst first, every balance in text and perfdata.
    let path = write(
        dir.path(),
        "order.toml",
        &check_config(&[("fine", &ok.uri()), ("low", &crit.uri())]),
    );
    let out =
        tokio::task::spawn_blocking(move || run(&["check", "-c", path.to_str().unwrap()], &[]))
            .await
            .unwrap();
    let line = stdout(&out);
    assert_eq!(
        line.trim_end(),
        "BALANCE CRITICAL - exotel/low 800 INR (critical: below 1,000 INR), exotel/fine 9,000.50 INR (ok) | 'exotel/low'=800;5000:;1000: 'exotel/fine'=9000.50;5000:;1000:"
    );

    // --account limits the check; a bad config is UNKNOWN.
    let path = write(
        dir.path(),
        "one.toml",
        &check_config(&[("fine", &ok.uri()), ("low", &crit.uri())]),
    );
    let p = path.clone();
    let out = tokio::task::spawn_blocking(move || {
        run(
            &["check", "-c", p.to_str().unwrap(), "--account", "fine"],
            &[],
        )
    })
    .await
    .unwrap();
    assert_eq!(code(&out), 0, "{}", stdout(&out));
    let out = run(&["check", "-c", "/nonexistent/config.toml"], &[]);
    assert_eq!(code(&out), 3);
    assert!(stdout(&out).starts_with("BALANCE UNKNOWN"));
    // One request per checked account: case 2 and `order.toml`; `--account fine` left
    // it alone.
    assert_eq!(crit.received_requests().await.unwrap().len(), 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn test_notify_reports_each_channel() {
    let dir = tempfile::tempdir().unwrap();
    let good = MockServer::start().await;
    Mock::given(matchers::method("POST"))
        .respond_with(ResponseTemplate::new(200))
        .mount(&good)
        .await;
    let config = format!(
        r#"{}
[[channel]]
name = "good"
type = "webhook"
url = "{}/hook"

[[channel]]
name = "bad"
type = "webhook"
url = "http://127.0.0.1:9/hook"
"#,
        check_config(&[("primary", "http://127.0.0.1:9")]),
        good.uri()
    );
    let path = write(dir.path(), "notify.toml", &config);
    let p = path.clone();
    let out =
        tokio::task::spawn_blocking(move || run(&["test-notify", "-c", p.to_str().unwrap()], &[]))
            .await
            .unwrap();
    assert_eq!(code(&out), 1, "{}", stdout(&out));
    assert!(
        stdout(&out).contains("good (webhook): delivered"),
        "{}",
        stdout(&out)
    );
    assert!(
        stdout(&out).contains("bad (webhook): FAILED"),
        "{}",
        stdout(&out)
    );
    let p = path.clone();
    let out = tokio::task::spawn_blocking(move || {
        run(
            &[
                "test-notify",
                "-c",
                p.to_str().unwrap(),
                "--channel",
                "good",
            ],
            &[],
        )
    })
    .await
    .unwrap();
    assert_eq!(code(&out), 0, "{}", stdout(&out));
    let bodies = good.received_requests().await.unwrap();
    let last: serde_json::Value = serde_json::from_slice(&bodies.last().unwrap().body).unwrap();
    assert_eq!(last["event"], "test");
    let out = run(&["test-notify", "-c", "/nonexistent.toml"], &[]);
    assert_eq!(code(&out), 78);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_stops_cleanly_and_no_secret_reaches_the_log() {
    let dir = tempfile::tempdir().unwrap();
    let exotel_mock = exotel(Script::new(vec![
        balance_response("4000"),
        unauthorized(),
        balance_response("800"),
    ]))
    .await;
    let hook = MockServer::start().await;
    Mock::given(matchers::method("POST"))
        .respond_with(ResponseTemplate::new(500))
        .mount(&hook)
        .await;
    let path = write(
        dir.path(),
        "run.toml",
        &daemon_config(dir.path(), &exotel_mock.uri(), &hook.uri()),
    );
    let log = dir.path().join("daemon.log");
    let mut child = std::process::Command::new(BIN)
        .args(["run", "-c", path.to_str().unwrap()])
        .env("RUST_LOG", "trace")
        .env("TEST_EXOTEL_KEY", KEY)
        .env("TEST_EXOTEL_TOKEN", TOKEN)
        .env_remove("NOTIFY_SOCKET")
        .stdout(std::process::Stdio::null())
        .stderr(std::fs::File::create(&log).unwrap())
        .spawn()
        .unwrap();
    // Wait for a failed delivery (so the webhook URL was used) after the 401.
    let l = log.clone();
    tokio::task::spawn_blocking(move || wait_log(&l, "delivery failed", 20))
        .await
        .unwrap();
    let l = log.clone();
    tokio::task::spawn_blocking(move || wait_log(&l, "monitor_failing", 20))
        .await
        .unwrap();
    signal(&child, SIGTERM);
    let status = tokio::task::spawn_blocking(move || wait_exit(&mut child, 20))
        .await
        .unwrap();
    assert_eq!(status, 0);
    let text = std::fs::read_to_string(&log).unwrap();
    assert!(text.contains("state saved"), "{text}");
    use base64::Engine as _;
    let basic = base64::engine::general_purpose::STANDARD.encode(format!("{KEY}:{TOKEN}"));
    for secret in [KEY, TOKEN, HOOK_SECRET, basic.as_str()] {
        assert!(
            !text.contains(secret),
            "secret {secret:?} leaked into the trace log"
        );
    }
    // Pending deliveries were persisted for the next start.
    let state = serde_json::to_value(
        balance_alert::state::read_snapshot(&dir.path().join("state.db")).unwrap(),
    )
    .unwrap();
    assert!(!state["outbox"].as_array().unwrap().is_empty());
    let saved = serde_json::to_string(&state).unwrap();
    assert!(!saved.contains(TOKEN) && !saved.contains(KEY));
}

#[test]
fn sigint_also_stops_cleanly() {
    let dir = tempfile::tempdir().unwrap();
    let path = write(
        dir.path(),
        "idle.toml",
        &format!(
            "[daemon]\nstate_file = \"{}\"\n{}",
            dir.path().join("state.db").display(),
            check_config(&[("primary", "http://127.0.0.1:9")])
        ),
    );
    let log = dir.path().join("d.log");
    let mut child = spawn_daemon(&path, &log, "info");
    wait_log(&log, "balance-alert running", 10);
    signal(&child, SIGINT);
    assert_eq!(wait_exit(&mut child, 15), 0);
    assert!(dir.path().join("state.db").exists());
}

#[test]
fn run_refuses_a_bad_config_with_78() {
    let dir = tempfile::tempdir().unwrap();
    let path = write(dir.path(), "bad.toml", "[daemon]\nbogus = 1\n");
    let out = run(&["run", "-c", path.to_str().unwrap()], &[]);
    assert_eq!(code(&out), 78, "{}", stderr(&out));
    assert!(stderr(&out).contains("bogus"), "{}", stderr(&out));
}

#[test]
fn demo_runs_the_whole_pipeline() {
    let started = std::time::Instant::now();
    let out = run(&["demo"], &[]);
    assert_eq!(code(&out), 0, "{}\n{}", stdout(&out), stderr(&out));
    assert!(started.elapsed() < Duration::from_secs(60));
    let text = stdout(&out);
    let headlines = |provider: &str| -> Vec<String> {
        text.lines()
            .filter(|l| l.starts_with("────") && l.contains(provider))
            .map(str::to_owned)
            .collect()
    };
    let all = text.lines().filter(|l| l.starts_with("────")).count();
    // The Exotel wallet and, side by side, a Twilio one (SPEC §10).
    let exotel = headlines("Exotel");
    let twilio = headlines("Twilio");
    assert_eq!(exotel.len(), 6, "{text}");
    assert_eq!(twilio.len(), 3, "{text}");
    assert_eq!(all, 9, "{text}");
    for (line, word) in exotel
        .iter()
        .zip(["WARNING", "CRITICAL", "WARNING", "OK", "FAIL", "OK"])
    {
        assert!(
            line.to_uppercase().contains(word),
            "{line} should say {word}"
        );
    }
    for (line, word) in twilio.iter().zip([
        "[WARNING] TWILIO BALANCE LOW: US-VOICE 42.50 USD",
        "[CRITICAL] TWILIO BALANCE LOW: US-VOICE 7.25 USD",
        "[OK] TWILIO BALANCE RECOVERED: US-VOICE 80.00 USD",
    ]) {
        assert!(
            line.to_uppercase().contains(word),
            "{line} should say {word}"
        );
    }
}

#[test]
fn usage_errors_exit_2_but_unknown_for_check() {
    let out = run(&["check", "--acount", "primary"], &[]);
    assert_eq!(code(&out), 3, "Nagios must read a typo as UNKNOWN");
    assert!(stderr(&out).contains("--account"), "{}", stderr(&out));
    let out = run(&["validate", "--bogus"], &[]);
    assert_eq!(code(&out), 2);
    let out = run(&["--version"], &[]);
    assert_eq!(code(&out), 0);
    assert!(stdout(&out).starts_with("balance-alert "));
}

#[test]
fn a_corrupt_state_file_is_moved_aside_and_said_so() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("state.json"), b"{ torn write").unwrap();
    let path = write(
        dir.path(),
        "c.toml",
        &format!(
            "[daemon]\nstate_file = \"{}\"\n{}",
            dir.path().join("state.json").display(),
            check_config(&[("primary", "http://127.0.0.1:9")])
        ),
    );
    let log = dir.path().join("d.log");
    let mut child = spawn_daemon(&path, &log, "info");
    let text = wait_log(&log, "balance-alert running", 10);
    signal(&child, SIGTERM);
    assert_eq!(wait_exit(&mut child, 15), 0);
    assert!(
        text.contains("state file was corrupt; moved it aside"),
        "{text}"
    );
    let aside: Vec<_> = std::fs::read_dir(dir.path())
        .unwrap()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with("state.json.corrupt-"))
        .collect();
    assert_eq!(aside.len(), 1, "{aside:?}");
    assert_eq!(
        std::fs::read(dir.path().join(&aside[0])).unwrap(),
        b"{ torn write",
        "the bad file is kept as it was"
    );
    // The fresh state (now a database) replaced it.
    let state = balance_alert::state::read_snapshot(&dir.path().join("state.json")).unwrap();
    assert!(state.outbox.is_empty());
    assert!(
        std::fs::read(dir.path().join("state.json"))
            .unwrap()
            .starts_with(b"SQLite format 3")
    );
}

#[test]
fn validate_warns_about_literal_secrets_in_a_readable_file() {
    use std::os::unix::fs::PermissionsExt as _;
    let dir = tempfile::tempdir().unwrap();
    let path = write(
        dir.path(),
        "open.toml",
        &check_config(&[("primary", "http://127.0.0.1:9")]),
    );
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
    let out = run(&["validate", "-c", path.to_str().unwrap()], &[]);
    assert_eq!(code(&out), 0);
    assert!(stderr(&out).contains("chmod 600"), "{}", stderr(&out));
    assert!(
        !stderr(&out).contains(TOKEN),
        "the warning names keys, not values"
    );
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).unwrap();
    let out = run(&["validate", "-c", path.to_str().unwrap()], &[]);
    assert!(!stderr(&out).contains("chmod 600"), "{}", stderr(&out));
}
