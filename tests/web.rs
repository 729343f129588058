//! The web endpoint through the real binary (SPEC §12–13): `balance-alert run` as a
//! child process against a wiremock Exotel and webhook receiver, polling every 200 ms.
//!
//! - the dashboard, the status API and /metrics behind bcrypt basic auth: 401 with
//!   `WWW-Authenticate` without or with wrong credentials, /healthz open;
//! - `status` (text and JSON) from the API, and from the state file when the daemon is
//!   down, saying so;
//! - snooze: 401 without the admin token; `snooze` stops reminders (new alerts still go
//!   out), survives a restart, shows in `status`, and ends when the level changes;
//! - TLS with a CA the test makes (rcgen): `health` and `status` follow the config;
//! - config errors for the new keys name the file, line and key.

mod common;

use std::path::PathBuf;
use std::time::Duration;

use common::cli::{SIGTERM, code, run, stderr, stdout};
use common::daemon::{KEY, SID, TOKEN, posted, wait_for};
use common::process::{Balance, Daemon, exotel_with, receiver_with};
use wiremock::{MockServer, ResponseTemplate};

const ADMIN: &str = "admin-token-0123456789abcdef";
const USER: &str = "ops";
const PASSWORD: &str = "dashboard-pw";

fn env() -> Vec<(&'static str, &'static str)> {
    vec![
        ("TEST_EXOTEL_KEY", KEY),
        ("TEST_EXOTEL_TOKEN", TOKEN),
        ("TEST_ADMIN_TOKEN", ADMIN),
        ("BALANCE_ALERT_WEB_PASSWORD", PASSWORD),
    ]
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

struct Setup {
    dir: tempfile::TempDir,
    port: u16,
    config: PathBuf,
}

/// Writes a config: one account `primary` (warning below 5000, critical below 1000,
/// reminders every second) notifying a webhook; `web` is raw TOML for `[daemon] web`.
fn setup(exotel: &MockServer, hook: &MockServer, web: &str) -> Setup {
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let config = dir.path().join("config.toml");
    let text = format!(
        r#"[daemon]
state_file = "{state}"
listen = "127.0.0.1:{port}"
admin_token = "${{TEST_ADMIN_TOKEN}}"
shutdown_grace = "1s"
{web}

[[account]]
name = "primary"
sid = "{SID}"
api_key = "${{TEST_EXOTEL_KEY}}"
api_token = "${{TEST_EXOTEL_TOKEN}}"
base_url = "{base}"
poll_interval = "1s"
repeat_every = "1s"
notify = ["hook"]
warning = {{ below = 5000, clear_above = 6000 }}
critical = {{ below = 1000, clear_above = 1500 }}

[[channel]]
name = "hook"
type = "webhook"
url = "{hook}/events"
"#,
        state = dir.path().join("state.db").display(),
        base = exotel.uri(),
        hook = hook.uri(),
    );
    std::fs::write(&config, text).unwrap();
    Setup { dir, port, config }
}

fn basic_auth_toml() -> String {
    let hash = bcrypt::hash(PASSWORD, 4).unwrap();
    format!("web = {{ basic_auth = {{ user = \"{USER}\", password_hash = \"{hash}\" }} }}")
}

fn http() -> reqwest::Client {
    reqwest::Client::builder().no_proxy().build().unwrap()
}

impl Setup {
    fn start(&self) -> Daemon {
        Daemon::spawn(
            &self.config,
            &self.dir.path().join(format!("log-{}", fastrand_suffix())),
            "info",
            &env(),
        )
    }

    fn cli(&self, args: &[&str]) -> std::process::Output {
        let mut all: Vec<&str> = args.to_vec();
        all.extend(["-c", self.config.to_str().unwrap()]);
        run(&all, &env())
    }

    fn base(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    async fn status_json(&self) -> serde_json::Value {
        let out = self.cli(&["status", "--format", "json"]);
        assert_eq!(code(&out), 0, "{}", stderr(&out));
        serde_json::from_str(&stdout(&out)).unwrap()
    }
}

/// Distinct log file names across restarts.
fn fastrand_suffix() -> u128 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos()
}

async fn reminders(hook: &MockServer) -> usize {
    posted(hook)
        .await
        .iter()
        .filter(|b| b["event"] == "reminder")
        .count()
}

#[tokio::test(flavor = "multi_thread")]
async fn dashboard_api_and_basic_auth_through_the_binary() {
    let balance = Balance::new("4000.50");
    let exotel = exotel_with(&balance).await;
    let hook = receiver_with(ResponseTemplate::new(200)).await;
    let s = setup(&exotel, &hook, &basic_auth_toml());
    let daemon = s.start();
    daemon.wait_log("event=\"alert\"", 20).await;

    for path in ["/", "/accounts/primary", "/api/v1/status", "/metrics"] {
        let r = http()
            .get(format!("{}{path}", s.base()))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 401, "{path}");
        assert!(
            r.headers()["www-authenticate"]
                .to_str()
                .unwrap()
                .starts_with("Basic realm="),
            "{path}"
        );
        let r = http()
            .get(format!("{}{path}", s.base()))
            .basic_auth(USER, Some("not-it"))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 401, "{path} with a wrong password");
    }
    let r = http()
        .get(format!("{}/healthz", s.base()))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200, "healthz is exempt");

    let page = http()
        .get(format!("{}/", s.base()))
        .basic_auth(USER, Some(PASSWORD))
        .send()
        .await
        .unwrap();
    assert_eq!(page.status(), 200);
    assert!(
        page.headers()["content-security-policy"]
            .to_str()
            .unwrap()
            .contains("default-src 'none'")
    );
    let page = page.text().await.unwrap();
    assert!(page.contains("<tr class=w><td><a href=accounts/primary>primary</a><td>exotel<td>acme<td>4,000.50 INR<td>warning"), "{page}");
    assert!(page.contains(" class=h "), "the history is drawn: {page}");
    assert!(
        page.contains("<tr><td>hook<td>webhook<td class=n>"),
        "{page}"
    );

    let detail = http()
        .get(format!("{}/accounts/primary", s.base()))
        .basic_auth(USER, Some(PASSWORD))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        detail.contains("<h2>Recent events</h2>") && detail.contains("<td>alert<td"),
        "{detail}"
    );

    let api: serde_json::Value = serde_json::from_str(
        &http()
            .get(format!("{}/api/v1/status", s.base()))
            .basic_auth(USER, Some(PASSWORD))
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap(),
    )
    .unwrap();
    assert_eq!(api["accounts"][0]["name"], "primary");
    assert_eq!(api["accounts"][0]["level"], "warning");
    assert_eq!(api["accounts"][0]["balance"], "4000.50");
    assert!(api["accounts"][0]["burn_per_day"].is_null());
    assert!(api["instance"].is_null());
    assert_eq!(api["source"], "daemon");
    assert_eq!(api["version"], env!("CARGO_PKG_VERSION"));

    // The CLI uses the same basic auth (password from BALANCE_ALERT_WEB_PASSWORD).
    let out = s.cli(&["status"]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let text = stdout(&out);
    assert!(text.starts_with("ACCOUNT  PROVIDER  LEVEL"), "{text}");
    assert!(
        text.contains("primary  exotel    warning  4,000.50 INR"),
        "{text}"
    );
    assert!(text.contains("channel hook (webhook)"), "{text}");
    // Without the password it is refused, saying why.
    let out = run(&["status", "-c", s.config.to_str().unwrap()], &env()[..3]);
    assert_eq!(code(&out), 1);
    assert!(stderr(&out).contains("401"), "{}", stderr(&out));

    // Snooze: basic credentials are not the admin token.
    let url = format!("{}/api/v1/accounts/primary/snooze", s.base());
    let r = http()
        .post(&url)
        .basic_auth(USER, Some(PASSWORD))
        .body(r#"{"for":"1h"}"#)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
    let r = http()
        .post(&url)
        .body(r#"{"for":"1h"}"#)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
    let r = http()
        .delete(&url)
        .bearer_auth("wrong-token-wrong-token")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
    drop(daemon);
}

#[tokio::test(flavor = "multi_thread")]
async fn snooze_stops_reminders_survives_a_restart_and_ends_on_a_level_change() {
    let balance = Balance::new("4000");
    let exotel = exotel_with(&balance).await;
    let hook = receiver_with(ResponseTemplate::new(200)).await;
    let s = setup(&exotel, &hook, "");
    let mut daemon = s.start();
    // Reminders every second while warning.
    wait_for(&hook, 20, "two reminders", |b| {
        b.iter().filter(|e| e["event"] == "reminder").count() >= 2
    })
    .await;

    let out = s.cli(&["snooze", "primary", "--for", "1h"]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    assert!(
        stdout(&out).contains("primary: snoozed until") && stdout(&out).contains("level changes"),
        "{}",
        stdout(&out)
    );
    // One reminder may have been on its way; after that, silence.
    tokio::time::sleep(Duration::from_millis(600)).await;
    let settled = reminders(&hook).await;
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert_eq!(reminders(&hook).await, settled, "no reminder while snoozed");
    daemon
        .wait_log("reminder skipped: the account is snoozed", 5)
        .await;

    // Shown in status and on the dashboard.
    let status = s.status_json().await;
    let snooze = &status["accounts"][0]["snooze"];
    assert_eq!(snooze["level"], "warning");
    assert!(snooze["until"].is_string(), "{status}");
    let page = http()
        .get(format!("{}/", s.base()))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(page.contains("<td>until "), "{page}");

    // A restart keeps it.
    daemon.signal(SIGTERM);
    assert_eq!(daemon.wait_exit(15).await.0, 0);
    let daemon = s.start();
    daemon.wait_log("balance-alert running", 10).await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert_eq!(
        reminders(&hook).await,
        settled,
        "still snoozed after a restart"
    );
    assert_eq!(
        s.status_json().await["accounts"][0]["snooze"]["level"],
        "warning"
    );

    // The level changes: the alert goes out, the snooze ends, reminders resume.
    balance.set("800");
    wait_for(&hook, 10, "the critical alert", |b| {
        b.iter()
            .any(|e| e["event"] == "alert" && e["level"] == "critical")
    })
    .await;
    daemon.wait_log("snooze ended", 5).await;
    assert!(daemon.log().contains("level changed"));
    wait_for(&hook, 10, "a critical reminder", |b| {
        b.iter()
            .any(|e| e["event"] == "reminder" && e["level"] == "critical")
    })
    .await;
    assert!(s.status_json().await["accounts"][0]["snooze"].is_null());

    // Snooze again, then unsnooze: reminders come back at once.
    let out = s.cli(&["snooze", "primary", "--until-change"]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    assert!(stdout(&out).contains("snoozed until its level changes"));
    let out = s.cli(&["unsnooze", "primary"]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let before = reminders(&hook).await;
    wait_for(&hook, 10, "reminders after unsnooze", |b| {
        b.iter().filter(|e| e["event"] == "reminder").count() > before
    })
    .await;

    // An ok account has nothing to snooze; an unknown one is named.
    let out = s.cli(&["snooze", "nobody", "--for", "1h"]);
    assert_eq!(code(&out), 1);
    assert!(
        stderr(&out).contains("no account named `nobody`"),
        "{}",
        stderr(&out)
    );
    let out = s.cli(&["snooze", "primary", "--for", "soon"]);
    assert_eq!(code(&out), 1);
    assert!(stderr(&out).contains("soon"), "{}", stderr(&out));
    drop(daemon);
}

#[tokio::test(flavor = "multi_thread")]
async fn status_reads_the_state_file_when_the_daemon_is_down() {
    let balance = Balance::new("800");
    let exotel = exotel_with(&balance).await;
    let hook = receiver_with(ResponseTemplate::new(200)).await;
    let s = setup(&exotel, &hook, "");
    let mut daemon = s.start();
    daemon.wait_log("event=\"alert\"", 20).await;
    daemon.signal(SIGTERM);
    assert_eq!(daemon.wait_exit(15).await.0, 0);

    // `status` reads the SQLite database without changing it or leaving files beside
    // it (a read-only WAL connection would create `-wal` and `-shm` files).
    let db = s.dir.path().join("state.db");
    let listing = || {
        let mut names: Vec<String> = std::fs::read_dir(s.dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        names
    };
    let (bytes_before, files_before) = (std::fs::read(&db).unwrap(), listing());

    let out = s.cli(&["status"]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    assert!(
        stderr(&out).contains("the daemon is not reachable") && stderr(&out).contains("state.db"),
        "{}",
        stderr(&out)
    );
    assert!(
        stdout(&out).contains("primary  exotel    critical  800 INR"),
        "{}",
        stdout(&out)
    );
    let out = s.cli(&["status", "--format", "json"]);
    let json: serde_json::Value = serde_json::from_str(&stdout(&out)).unwrap();
    assert_eq!(json["source"], "state_file");
    assert_eq!(json["accounts"][0]["level"], "critical");
    assert_eq!(
        std::fs::read(&db).unwrap(),
        bytes_before,
        "status changed the database"
    );
    assert_eq!(
        listing(),
        files_before,
        "status left files beside the database"
    );

    // No daemon and no state file: nothing to show, exit 1, saying why; and no empty
    // database is created in its place.
    std::fs::remove_file(&db).unwrap();
    let out = s.cli(&["status"]);
    assert_eq!(code(&out), 1);
    assert!(stderr(&out).contains("cannot read"), "{}", stderr(&out));
    assert!(!db.exists(), "status created a database");
}

#[tokio::test(flavor = "multi_thread")]
async fn tls_with_a_test_ca_for_the_server_and_the_commands() {
    let ca_key = rcgen::KeyPair::generate().unwrap();
    let mut ca_params = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
    ca_params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
    let ca = ca_params.self_signed(&ca_key).unwrap();
    let key = rcgen::KeyPair::generate().unwrap();
    let cert = rcgen::CertificateParams::new(vec!["127.0.0.1".to_string()])
        .unwrap()
        .signed_by(&key, &ca, &ca_key)
        .unwrap();
    let certs = tempfile::tempdir().unwrap();
    let cert_file = certs.path().join("tls.crt");
    let key_file = certs.path().join("tls.key");
    std::fs::write(&cert_file, format!("{}{}", cert.pem(), ca.pem())).unwrap();
    std::fs::write(&key_file, key.serialize_pem()).unwrap();

    let balance = Balance::new("9000");
    let exotel = exotel_with(&balance).await;
    let hook = receiver_with(ResponseTemplate::new(200)).await;
    let web = format!(
        "web = {{ tls_cert_file = \"{}\", tls_key_file = \"{}\" }}",
        cert_file.display(),
        key_file.display()
    );
    let s = setup(&exotel, &hook, &web);
    let daemon = s.start();
    daemon.wait_log("tls=true", 20).await;

    let ca_only = reqwest::Client::builder()
        .no_proxy()
        .tls_built_in_root_certs(false)
        .add_root_certificate(reqwest::Certificate::from_pem(ca.pem().as_bytes()).unwrap())
        .build()
        .unwrap();
    let https = format!("https://127.0.0.1:{}", s.port);
    let r = ca_only.get(format!("{https}/")).send().await.unwrap();
    assert_eq!(r.status(), 200);
    assert!(r.text().await.unwrap().contains("accounts/primary"));
    assert!(
        http()
            .get(format!("{}/healthz", s.base()))
            .send()
            .await
            .is_err(),
        "no plain HTTP"
    );

    let out = s.cli(&["health"]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    assert_eq!(stdout(&out).trim(), "alive");
    let out = s.cli(&["status", "--format", "json"]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    assert!(stdout(&out).contains("\"source\":\"daemon\""));
    drop(daemon);
}

fn validate(text: &str) -> std::process::Output {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("c.toml");
    std::fs::write(&path, text).unwrap();
    let out = run(&["validate", "-c", path.to_str().unwrap()], &env());
    drop(dir);
    out
}

fn minimal(daemon: &str) -> String {
    format!(
        "[daemon]\n{daemon}\n\n[[account]]\nname = \"a\"\nsid = \"s\"\napi_key = \"${{TEST_EXOTEL_KEY}}\"\napi_token = \"${{TEST_EXOTEL_TOKEN}}\"\nwarning = {{ below = 5 }}\n"
    )
}

#[test]
fn config_errors_for_the_web_keys_name_file_line_and_key() {
    let out = validate(&minimal(
        "listen = \"127.0.0.1:9184\"\nweb = { basic_auth = { user = \"ops\", password_hash = \"plain\" } }",
    ));
    assert_eq!(code(&out), 78);
    let e = stderr(&out);
    assert!(
        e.contains(":3:")
            && e.contains("daemon.web.basic_auth.password_hash")
            && e.contains("bcrypt"),
        "{e}"
    );

    let out = validate(&minimal(
        "listen = \"127.0.0.1:9184\"\nadmin_token = \"short\"",
    ));
    assert_eq!(code(&out), 78);
    assert!(stderr(&out).contains("daemon.admin_token") && stderr(&out).contains("at least 16"));

    let out = validate(&minimal(
        "listen = \"127.0.0.1:9184\"\nweb = { tls_cert_file = \"/nonexistent/tls.crt\", tls_key_file = \"/nonexistent/tls.key\" }",
    ));
    assert_eq!(code(&out), 78);
    assert!(
        stderr(&out).contains("daemon.web.tls_cert_file")
            && stderr(&out).contains("/nonexistent/tls.crt")
    );

    let out = validate(&minimal(
        "listen = \"127.0.0.1:9184\"\nweb = { tls_cert_file = \"x\" }",
    ));
    assert_eq!(code(&out), 78);
    assert!(
        stderr(&out).contains("daemon.web.tls_key_file"),
        "{}",
        stderr(&out)
    );

    let out = validate(&minimal(
        "listen = \"127.0.0.1:9184\"\nweb = { colour = \"blue\" }",
    ));
    assert_eq!(code(&out), 78);
    assert!(stderr(&out).contains("colour"), "{}", stderr(&out));

    // Exposed without basic auth: valid, with a warning.
    let out = validate(&minimal("listen = \"0.0.0.0:9184\""));
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    assert!(stderr(&out).contains("not a loopback address") && stderr(&out).contains("basic_auth"));
    let out = validate(&minimal("listen = \"127.0.0.1:9184\""));
    assert!(!stderr(&out).contains("loopback"), "{}", stderr(&out));
}
