//! SPEC §9 through the real binary against wiremock peers on loopback, with windows of
//! seconds instead of days: a steady drain raises a runway alert with the §9.3 fields,
//! a top-up resolves it carrying `topup_amount`, `topped_up` reaches only the channel
//! that lists it, the runway metrics, the daily summary at `summary_at`, `preflight`'s
//! exit codes and its use of the daemon's API, and `check --format json --timeout`.

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use common::cli::{SIGTERM, code, run, stdout, write};
use common::daemon::{KEY, SID, TOKEN, balance_response, posted, wait_for};
use common::process::Daemon;
use wiremock::{Mock, MockServer, Request, Respond, ResponseTemplate, matchers};

/// Exotel draining 40.00 INR per request from 10,000.00, with top-ups of 100,000.00
/// from request `first_topup` on and again from `second_topup` on.
struct Drain {
    polls: Arc<AtomicUsize>,
    first_topup: usize,
    second_topup: usize,
}

impl Respond for Drain {
    fn respond(&self, _: &Request) -> ResponseTemplate {
        let n = self.polls.fetch_add(1, Ordering::SeqCst);
        let mut cents: i64 = 1_000_000 - 4_000 * n as i64;
        if n >= self.first_topup {
            cents += 10_000_000;
        }
        if n >= self.second_topup {
            cents += 10_000_000;
        }
        balance_response(&format!("{}.{:02}", cents / 100, cents % 100))
    }
}

async fn exotel(responder: impl Respond + 'static) -> MockServer {
    let server = MockServer::start().await;
    Mock::given(matchers::method("GET"))
        .and(matchers::path(format!("/v1/Accounts/{SID}/Balance.json")))
        .and(matchers::basic_auth(KEY, TOKEN))
        .respond_with(responder)
        .mount(&server)
        .await;
    server
}

async fn hook() -> MockServer {
    let server = MockServer::start().await;
    Mock::given(matchers::method("POST"))
        .respond_with(ResponseTemplate::new(200))
        .mount(&server)
        .await;
    server
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

async fn metrics(port: u16) -> String {
    reqwest::get(format!("http://127.0.0.1:{port}/metrics"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_drain_alerts_on_runway_and_a_top_up_resolves_it() {
    let dir = tempfile::tempdir().unwrap();
    let polls = Arc::new(AtomicUsize::new(0));
    let exotel = exotel(Drain {
        polls: polls.clone(),
        first_topup: 6,
        second_topup: 12,
    })
    .await;
    let ops = hook().await;
    let money = hook().await;
    let port = free_port();
    // 40 INR a second at the 1 s poll floor: 10,000 lasts ~250 s, under the 1000 s
    // warning even if polls ran at half speed; the burn is known from the third poll (a
    // quarter of the 8 s window); after +100,000 it lasts ~2,750 s, above the 2000 s
    // clear_above.
    let config = write(
        dir.path(),
        "config.toml",
        &format!(
            r#"
[daemon]
state_file = "{state}"
listen = "127.0.0.1:{port}"
shutdown_grace = "1s"

[[account]]
name = "primary"
sid = "{SID}"
api_key = "{KEY}"
api_token = "{TOKEN}"
base_url = "{base}"
poll_interval = "1s"
notify = ["ops", "money"]
runway = {{ window = "8s", warning = {{ below = "1000s", clear_above = "2000s" }} }}

[[channel]]
name = "ops"
type = "webhook"
url = "{ops}/hook"

[[channel]]
name = "money"
type = "webhook"
url = "{money}/hook"
events = ["alert", "resolved", "topped_up"]
"#,
            state = dir.path().join("state.db").display(),
            base = exotel.uri(),
            ops = ops.uri(),
            money = money.uri(),
        ),
    );
    let mut daemon = Daemon::spawn(&config, &dir.path().join("log"), "info", &[]);

    let bodies = wait_for(&ops, 20, "a runway alert", |b| {
        b.iter().any(|e| e["event"] == "alert")
    })
    .await;
    let alert = bodies.iter().find(|e| e["event"] == "alert").unwrap();
    assert_eq!(alert["cause"], "runway", "{alert:#}");
    assert_eq!(alert["level"], "warning");
    assert_eq!(alert["threshold"], serde_json::Value::Null);
    assert_eq!(alert["runway_threshold_seconds"], 1000);
    assert_eq!(alert["topup_amount"], serde_json::Value::Null);
    let runway = alert["runway_seconds"].as_u64().expect("runway_seconds");
    assert!(runway < 1000, "{alert:#}");
    let burn: f64 = alert["burn_per_day"].as_str().unwrap().parse().unwrap();
    // 40 a second is 3,456,000 a day; the poll cadence on a busy box may wander.
    assert!((1_000_000.0..6_000_000.0).contains(&burn), "{alert:#}");
    let depletes: jiff::Timestamp = alert["depletes_at"].as_str().unwrap().parse().unwrap();
    let observed: jiff::Timestamp = alert["observed_at"].as_str().unwrap().parse().unwrap();
    assert_eq!(
        depletes.duration_since(observed).as_secs(),
        i64::try_from(runway).unwrap()
    );
    // The metrics while known.
    let text = metrics(port).await;
    assert!(
        text.contains("balance_alert_runway_seconds{account=\"primary\",provider=\"exotel\"}"),
        "{text}"
    );
    assert!(
        text.contains("balance_alert_burn_rate_per_day{account=\"primary\",provider=\"exotel\",currency=\"INR\"}"),
        "{text}"
    );

    // The first top-up resolves it, carrying the rise (100,000 less one poll's 40).
    let bodies = wait_for(&ops, 20, "resolved", |b| {
        b.iter().any(|e| e["event"] == "resolved")
    })
    .await;
    let resolved = bodies.iter().find(|e| e["event"] == "resolved").unwrap();
    assert_eq!(resolved["cause"], "runway", "{resolved:#}");
    assert_eq!(resolved["runway_threshold_seconds"], 2000);
    assert_eq!(resolved["topup_amount"], "99960.00", "{resolved:#}");

    // The second, with nothing to resolve, is `topped_up`: only `money` lists it.
    let money_bodies = wait_for(&money, 20, "topped_up", |b| {
        b.iter().any(|e| e["event"] == "topped_up")
    })
    .await;
    let topped = money_bodies
        .iter()
        .find(|e| e["event"] == "topped_up")
        .unwrap();
    assert_eq!(topped["topup_amount"], "99960.00");
    assert_eq!(topped["level"], "ok");
    assert!(topped["burn_per_day"].is_string(), "{topped:#}");
    let kinds: Vec<&str> = money_bodies
        .iter()
        .map(|e| e["event"].as_str().unwrap())
        .collect();
    assert_eq!(kinds, ["alert", "resolved", "topped_up"]);
    // A few polls later still nothing for `ops` but its alert and resolve.
    let seen = polls.load(Ordering::SeqCst);
    while polls.load(Ordering::SeqCst) < seen + 4 {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let ops_kinds: Vec<String> = posted(&ops)
        .await
        .iter()
        .map(|e| e["event"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(ops_kinds, ["alert", "resolved"]);

    daemon.signal(SIGTERM);
    assert_eq!(daemon.wait_exit(15).await.0, 0);
    // The history survives the restart: the account's row in the state database, from
    // which the burn rate is known again at once.
    let histories = balance_alert::state::read_histories(&dir.path().join("state.db")).unwrap();
    let history = &histories["primary"];
    let estimate = history.estimate(
        Duration::from_secs(8),
        history.last_balance(),
        rust_decimal::Decimal::ZERO,
    );
    assert!(estimate.burn_per_day.is_some(), "{history:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_summary_arrives_at_summary_at_for_the_channels_that_want_it() {
    let dir = tempfile::tempdir().unwrap();
    let exotel = exotel(Drain {
        polls: Arc::new(AtomicUsize::new(0)),
        first_topup: usize::MAX,
        second_topup: usize::MAX,
    })
    .await;
    let wants = hook().await;
    let default = hook().await;
    // A few seconds ahead, in UTC (no timezone set); the past one would be never.
    let at = jiff::Timestamp::now() + jiff::SignedDuration::from_secs(3);
    let at_text = at.strftime("%H:%M:%S").to_string();
    let config = write(
        dir.path(),
        "config.toml",
        &format!(
            r#"
[daemon]
state_file = "{state}"
shutdown_grace = "1s"
summary_at = "{at_text}"

[[account]]
name = "primary"
sid = "{SID}"
api_key = "{KEY}"
api_token = "{TOKEN}"
base_url = "{base}"
poll_interval = "1s"
notify = ["wants", "default"]
warning = {{ below = 5000 }}

[[account]]
name = "other"
sid = "{SID}"
api_key = "{KEY}"
api_token = "{TOKEN}"
base_url = "{base}"
poll_interval = "1s"
notify = ["default"]
warning = {{ below = 5000 }}

[[channel]]
name = "wants"
type = "webhook"
url = "{wants}/hook"
events = ["summary"]

[[channel]]
name = "default"
type = "webhook"
url = "{default}/hook"
"#,
            state = dir.path().join("state.db").display(),
            base = exotel.uri(),
            wants = wants.uri(),
            default = default.uri(),
        ),
    );
    let mut daemon = Daemon::spawn(&config, &dir.path().join("log"), "info", &[]);
    let bodies = wait_for(&wants, 15, "the summary", |b| !b.is_empty()).await;
    assert_eq!(bodies.len(), 1, "{bodies:#?}");
    let summary = &bodies[0];
    assert_eq!(summary["event"], "summary");
    let sent_at: jiff::Timestamp = summary["at"].as_str().unwrap().parse().unwrap();
    assert_eq!(sent_at.as_second(), at.as_second(), "{summary:#}");
    let accounts = summary["accounts"].as_array().unwrap();
    // Only the accounts that list the channel.
    assert_eq!(accounts.len(), 1, "{summary:#}");
    let row = &accounts[0];
    assert_eq!(row["account"], "primary");
    assert_eq!(row["sid"], SID);
    assert_eq!(row["provider"], "exotel");
    assert_eq!(row["currency"], "INR");
    assert!(row["balance"].is_string(), "{row:#}");
    for key in [
        "level",
        "spend_24h",
        "burn_per_day",
        "runway_seconds",
        "depletes_at",
    ] {
        assert!(row.get(key).is_some(), "{key} missing: {row:#}");
    }
    // The default events leave `summary` out.
    assert!(posted(&default).await.is_empty());
    daemon.signal(SIGTERM);
    assert_eq!(daemon.wait_exit(15).await.0, 0);
    assert!(daemon.log().contains("daily summary"), "{}", daemon.log());
}

fn preflight_config(dir: &std::path::Path, exotel: &str, listen: Option<&str>) -> String {
    let listen = listen
        .map(|l| format!("listen = \"{l}\""))
        .unwrap_or_default();
    write(
        dir,
        "config.toml",
        &format!(
            r#"
[daemon]
state_file = "{state}"
{listen}

[[account]]
name = "primary"
sid = "{SID}"
api_key = "{KEY}"
api_token = "{TOKEN}"
base_url = "{exotel}"
warning = {{ below = 5000 }}
"#,
            state = dir.join("state.db").display(),
        ),
    )
    .to_string_lossy()
    .into_owned()
}

async fn preflight(args: &[&str]) -> std::process::Output {
    let args: Vec<String> = args.iter().map(|s| s.to_string()).collect();
    tokio::task::spawn_blocking(move || {
        let refs: Vec<&str> = args.iter().map(String::as_str).collect();
        run(&refs, &[])
    })
    .await
    .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn preflight_makes_its_own_request_without_a_daemon() {
    let dir = tempfile::tempdir().unwrap();
    let server = MockServer::start().await;
    Mock::given(matchers::path(format!("/v1/Accounts/{SID}/Balance.json")))
        .and(matchers::basic_auth(KEY, TOKEN))
        .respond_with(balance_response("31200.50"))
        .mount(&server)
        .await;
    let config = preflight_config(dir.path(), &server.uri(), None);
    let ok = preflight(&[
        "preflight",
        "-c",
        &config,
        "--account",
        "primary",
        "--need",
        "25000.00",
    ])
    .await;
    assert_eq!(code(&ok), 0, "{}", stdout(&ok));
    assert_eq!(
        stdout(&ok).trim(),
        "primary: 31,200.50 INR available, 25,000.00 needed: OK (6,200.50 left)"
    );
    let short = preflight(&[
        "preflight",
        "-c",
        &config,
        "--account",
        "primary",
        "--need",
        "40000",
    ])
    .await;
    assert_eq!(code(&short), 1, "{}", stdout(&short));
    assert!(
        stdout(&short).contains("NOT ENOUGH (-8,799.50 left; 8,799.50 INR short)"),
        "{}",
        stdout(&short)
    );
    // A runway asked for with no history to measure a burn rate: unknown.
    let runway = preflight(&[
        "preflight",
        "-c",
        &config,
        "--account",
        "primary",
        "--need",
        "1",
        "--runway",
        "1d",
        "--format",
        "json",
    ])
    .await;
    assert_eq!(code(&runway), 3, "{}", stdout(&runway));
    let json: serde_json::Value = serde_json::from_str(stdout(&runway).trim()).unwrap();
    assert_eq!(json["result"], "unknown");
    assert_eq!(json["source"], "request");
    assert_eq!(json["reason"], "burn rate not yet known");
    // One request per run, no retry.
    assert_eq!(server.received_requests().await.unwrap().len(), 3);
    // No such account, or a refused credential: unknown.
    let missing = preflight(&[
        "preflight",
        "-c",
        &config,
        "--account",
        "nope",
        "--need",
        "1",
    ])
    .await;
    assert_eq!(code(&missing), 3);
    let refused = MockServer::start().await;
    Mock::given(matchers::any())
        .respond_with(common::daemon::unauthorized())
        .mount(&refused)
        .await;
    let config = preflight_config(dir.path(), &refused.uri(), None);
    let out = preflight(&[
        "preflight",
        "-c",
        &config,
        "--account",
        "primary",
        "--need",
        "1",
    ])
    .await;
    assert_eq!(code(&out), 3, "{}", stdout(&out));
    assert!(stdout(&out).contains("UNKNOWN"), "{}", stdout(&out));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn preflight_asks_the_daemon_first_and_falls_back_when_stale() {
    let dir = tempfile::tempdir().unwrap();
    let provider = MockServer::start().await;
    Mock::given(matchers::path(format!("/v1/Accounts/{SID}/Balance.json")))
        .respond_with(balance_response("100.00"))
        .mount(&provider)
        .await;
    let daemon = MockServer::start().await;
    let fresh = jiff::Timestamp::now();
    let status = |at: jiff::Timestamp| {
        ResponseTemplate::new(200).set_body_json(serde_json::json!({
            "version": "x",
            "accounts": [
                {"name": "other", "balance": "1.00", "currency": "INR", "last_success_at": fresh},
                {"name": "primary", "balance": "50000.00", "currency": "INR",
                 "last_success_at": at, "burn_per_day": "1000", "runway_seconds": 4_320_000}
            ]
        }))
    };
    Mock::given(matchers::method("GET"))
        .and(matchers::path("/api/v1/status"))
        .respond_with(status(fresh))
        .up_to_n_times(2)
        .mount(&daemon)
        .await;
    let addr = daemon.address().to_string();
    let config = preflight_config(dir.path(), &provider.uri(), Some(&addr));
    let ok = preflight(&[
        "preflight",
        "-c",
        &config,
        "--account",
        "primary",
        "--need",
        "25000",
    ])
    .await;
    assert_eq!(code(&ok), 0, "{}", stdout(&ok));
    assert_eq!(
        stdout(&ok).trim(),
        "primary: 50,000.00 INR available, 25,000 needed: OK (25,000.00 left, about 25 days at ₹1,000/day)"
    );
    // The runway after spending: 25 days, under 40 asked for.
    let long = preflight(&[
        "preflight",
        "-c",
        &config,
        "--account",
        "primary",
        "--need",
        "25000",
        "--runway",
        "40d",
    ])
    .await;
    assert_eq!(code(&long), 1, "{}", stdout(&long));
    assert_eq!(
        provider.received_requests().await.unwrap().len(),
        0,
        "the daemon's answer was used"
    );
    // A stale answer (older than --max-age) means a request of its own: 100 INR.
    Mock::given(matchers::method("GET"))
        .and(matchers::path("/api/v1/status"))
        .respond_with(status(fresh - jiff::SignedDuration::from_secs(3600)))
        .mount(&daemon)
        .await;
    let stale = preflight(&[
        "preflight",
        "-c",
        &config,
        "--account",
        "primary",
        "--need",
        "25000",
    ])
    .await;
    assert_eq!(code(&stale), 1, "{}", stdout(&stale));
    assert!(
        stdout(&stale).starts_with("primary: 100.00 INR available"),
        "{}",
        stdout(&stale)
    );
    assert_eq!(provider.received_requests().await.unwrap().len(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn check_json_and_a_timeout_for_the_whole_command() {
    let dir = tempfile::tempdir().unwrap();
    let slow = MockServer::start().await;
    Mock::given(matchers::any())
        .respond_with(balance_response("100.00").set_delay(Duration::from_secs(20)))
        .mount(&slow)
        .await;
    let fine = MockServer::start().await;
    Mock::given(matchers::any())
        .respond_with(balance_response("4000.00"))
        .mount(&fine)
        .await;
    let config = write(
        dir.path(),
        "config.toml",
        &format!(
            r#"
[[account]]
name = "fine"
sid = "{SID}"
api_key = "{KEY}"
api_token = "{TOKEN}"
base_url = "{fine}"
warning = {{ below = 5000 }}

[[account]]
name = "slow"
sid = "{SID}"
api_key = "{KEY}"
api_token = "{TOKEN}"
base_url = "{slow}"
timeout = "30s"
warning = {{ below = 5000 }}
"#,
            fine = fine.uri(),
            slow = slow.uri(),
        ),
    );
    let config = config.to_string_lossy().into_owned();
    let out = preflight(&[
        "check",
        "-c",
        &config,
        "--format",
        "json",
        "--timeout",
        "1s",
    ])
    .await;
    // A warning beats an unknown (SPEC §7 order).
    assert_eq!(code(&out), 1, "{}", stdout(&out));
    let json: serde_json::Value = serde_json::from_str(stdout(&out).trim()).unwrap();
    assert_eq!(json["status"], "WARNING");
    assert_eq!(json["accounts"][0]["account"], "fine");
    assert_eq!(json["accounts"][0]["status"], "warning");
    assert_eq!(json["accounts"][0]["balance"], "4000.00");
    assert_eq!(json["accounts"][0]["threshold"], "5000");
    assert_eq!(json["accounts"][1]["status"], "unknown");
    assert_eq!(json["accounts"][1]["error"], "no answer within 1s");
}
