//! The state store through the real binary (SPEC §17): `balance-alert run` as a child
//! process against wiremock stand-ins for Exotel, a webhook and Slack.
//!
//! - A bad disk never stops monitoring: a directory where the database should be, a
//!   real full tmpfs and a read-only tmpfs (mounted for the test; skipped, saying so,
//!   where mounting is not allowed). The daemon alerts, says `state_unwritable` once,
//!   keeps `/healthz` at 200 with `balance_alert_state_writable 0`, and says
//!   `state_recovered` when the disk is back.
//! - An old JSON state file is imported with its pending delivery (same id).
//! - A newer database is refused with exit 78, untouched; a damaged one is salvaged.
//! - A SIGKILL loop loses no message and keeps ids.
//! - One account's failing backlog does not delay another account's alert.
//! - An outage of many accounts is one grouped Slack message, and one webhook event
//!   per account.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use balance_alert::core::{AccountState, Event, EventKind, Level};
use balance_alert::state::{AccountRecord, OutboxEntry, StateFile};
use common::cli::{SIGKILL, SIGTERM};
use common::daemon::{KEY, SID, TOKEN, balance_response, posted, unauthorized, wait_for};
use common::process::{Balance, Daemon, exotel_with, read_state};
use wiremock::{Mock, MockServer, Request, Respond, ResponseTemplate, matchers};

const ENV: &[(&str, &str)] = &[("TEST_EXOTEL_KEY", KEY), ("TEST_EXOTEL_TOKEN", TOKEN)];

fn account_toml(name: &str, base: &str) -> String {
    format!(
        r#"
[[account]]
name = "{name}"
sid = "{SID}"
api_key = "${{TEST_EXOTEL_KEY}}"
api_token = "${{TEST_EXOTEL_TOKEN}}"
base_url = "{base}"
poll_interval = "1s"
notify = ["hook"]
warning = {{ below = 5000, clear_above = 6000 }}
critical = {{ below = 1000, clear_above = 1500 }}
"#
    )
}

fn config(dir: &Path, state: &Path, listen: Option<u16>, accounts: &str, hook: &str) -> PathBuf {
    let listen = listen
        .map(|p| format!("listen = \"127.0.0.1:{p}\"\n"))
        .unwrap_or_default();
    let text = format!(
        "[daemon]\nstate_file = \"{}\"\nshutdown_grace = \"1s\"\n{listen}{accounts}\n\
         [[channel]]\nname = \"hook\"\ntype = \"webhook\"\nurl = \"{hook}/hook\"\n",
        state.display()
    );
    let path = dir.join("config.toml");
    std::fs::write(&path, text).unwrap();
    path
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

async fn receiver() -> MockServer {
    let server = MockServer::start().await;
    Mock::given(matchers::method("POST"))
        .respond_with(ResponseTemplate::new(200))
        .mount(&server)
        .await;
    server
}

async fn get(port: u16, path: &str) -> (u16, String) {
    let r = reqwest::get(format!("http://127.0.0.1:{port}{path}"))
        .await
        .unwrap();
    (r.status().as_u16(), r.text().await.unwrap())
}

fn kinds<'a>(bodies: &'a [serde_json::Value], kind: &str) -> Vec<&'a serde_json::Value> {
    bodies.iter().filter(|b| b["event"] == kind).collect()
}

/// A tmpfs mounted for one test; unmounted when dropped.
struct Mount(PathBuf);

impl Mount {
    fn tmpfs(dir: &Path, options: &str) -> Option<Mount> {
        std::fs::create_dir_all(dir).unwrap();
        let ok = Command::new("mount")
            .args(["-t", "tmpfs", "-o", options, "tmpfs"])
            .arg(dir)
            .status()
            .is_ok_and(|s| s.success());
        if !ok {
            eprintln!("SKIPPED: cannot mount a tmpfs here (needs root); not tested");
        }
        ok.then(|| Mount(dir.to_path_buf()))
    }

    fn remount(&self, options: &str) {
        let ok = Command::new("mount")
            .args(["-o", &format!("remount,{options}")])
            .arg(&self.0)
            .status()
            .is_ok_and(|s| s.success());
        assert!(ok, "remount {options}");
    }
}

impl Drop for Mount {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg("-l").arg(&self.0).status();
    }
}

/// Runs the daemon on a state path that cannot be written, checks it monitors from
/// memory and says so, then calls `fix` and checks it recovers.
async fn runs_from_memory_then_recovers(
    dir: &Path,
    state: &Path,
    expect_reason: &[&str],
    fix: impl FnOnce(),
) {
    let balance = Balance::new("4000");
    let exotel = exotel_with(&balance).await;
    let hook = receiver().await;
    let port = free_port();
    let cfg = config(
        dir,
        state,
        Some(port),
        &account_toml("primary", &exotel.uri()),
        &hook.uri(),
    );
    let mut daemon = Daemon::spawn(&cfg, &dir.join("d.log"), "info", ENV);
    let bodies = wait_for(&hook, 15, "the alert and state_unwritable", |b| {
        !kinds(b, "alert").is_empty() && !kinds(b, "state_unwritable").is_empty()
    })
    .await;
    let unwritable = kinds(&bodies, "state_unwritable")[0];
    let error = unwritable["error"].as_str().unwrap();
    assert!(
        error.contains(&state.display().to_string()),
        "names the path: {error}"
    );
    assert!(
        expect_reason.iter().any(|r| error.contains(r)),
        "says why ({expect_reason:?}): {error}"
    );
    assert_eq!(kinds(&bodies, "alert")[0]["account"], "primary");
    let (status, _) = get(port, "/healthz").await;
    assert_eq!(status, 200, "a bad disk is no reason to restart");
    let (_, metrics) = get(port, "/metrics").await;
    assert!(
        metrics.contains("\nbalance_alert_state_writable 0\n"),
        "{metrics}"
    );
    // Monitoring goes on: a crossing while the disk is bad still alerts.
    balance.set("800");
    wait_for(&hook, 10, "the critical alert", |b| {
        kinds(b, "alert").iter().any(|a| a["level"] == "critical")
    })
    .await;

    fix();
    let bodies = wait_for(&hook, 20, "state_recovered", |b| {
        !kinds(b, "state_recovered").is_empty()
    })
    .await;
    assert_eq!(kinds(&bodies, "state_unwritable").len(), 1, "told once");
    let (_, metrics) = get(port, "/metrics").await;
    assert!(
        metrics.contains("\nbalance_alert_state_writable 1\n"),
        "{metrics}"
    );
    let log = daemon.log();
    assert!(log.contains("running from memory"), "{log}");
    daemon.signal(SIGTERM);
    assert_eq!(daemon.wait_exit(15).await.0, 0, "{}", daemon.log());
    // What was only in memory reached the disk.
    let saved = read_state(state);
    assert_eq!(saved["accounts"]["primary"]["eval"]["level"], "critical");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_directory_where_the_state_should_be_does_not_stop_monitoring() {
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("state.db");
    std::fs::create_dir_all(state.join("oops")).unwrap();
    let fix_path = state.clone();
    runs_from_memory_then_recovers(dir.path(), &state, &["is a directory"], move || {
        std::fs::remove_dir_all(&fix_path).unwrap()
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_disk_does_not_stop_monitoring() {
    let dir = tempfile::tempdir().unwrap();
    let mnt = dir.path().join("full");
    let Some(_mount) = Mount::tmpfs(&mnt, "size=256k") else {
        return;
    };
    // Fill it to the last byte.
    let filler = mnt.join("filler");
    {
        use std::io::Write as _;
        let mut f = std::fs::File::create(&filler).unwrap();
        let block = vec![0u8; 4096];
        while f.write_all(&block).and_then(|()| f.flush()).is_ok() {}
        let _ = f.sync_all();
    }
    let state = mnt.join("state.db");
    runs_from_memory_then_recovers(dir.path(), &state, &["full", "No space"], move || {
        std::fs::remove_file(&filler).unwrap()
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_read_only_disk_does_not_stop_monitoring() {
    let dir = tempfile::tempdir().unwrap();
    let mnt = dir.path().join("ro");
    let Some(mount) = Mount::tmpfs(&mnt, "size=1m,ro") else {
        return;
    };
    let state = mnt.join("state.db");
    runs_from_memory_then_recovers(
        dir.path(),
        &state,
        &["read-only", "unable to open", "Read-only"],
        move || mount.remount("rw"),
    )
    .await;
}

fn event(id: &str, kind: EventKind, account: &str, level: Level) -> Event {
    let at: jiff::Timestamp = "2026-11-01T00:00:00Z".parse().unwrap();
    Event {
        id: id.into(),
        event: kind,
        account: account.into(),
        provider: "exotel".into(),
        sid: SID.into(),
        level,
        previous_level: Some(Level::Ok),
        balance: Some("4000".parse().unwrap()),
        currency: "INR".into(),
        threshold: Some("5000".parse().unwrap()),
        pricing_plan: None,
        date_updated: None,
        observed_at: at,
        error: None,
        ..Event::default()
    }
}

fn warning_record() -> AccountRecord {
    AccountRecord {
        eval: AccountState {
            level: Level::Warning,
            warning_active: true,
            ..AccountState::default()
        },
        ..AccountRecord::default()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_old_json_state_file_is_imported_with_its_pending_deliveries() {
    let dir = tempfile::tempdir().unwrap();
    let old = StateFile {
        version: 1,
        accounts: [("primary".to_string(), warning_record())].into(),
        outbox: vec![OutboxEntry {
            seq: 7,
            channel: "hook".into(),
            created_at: jiff::Timestamp::now(),
            event: event(
                "imported-alert-7",
                EventKind::Alert,
                "primary",
                Level::Warning,
            ),
            held_until: None,
        }],
        next_seq: 8,
    };
    let mut bytes = b"\xEF\xBB\xBF".to_vec(); // a BOM costs nothing
    bytes.extend(serde_json::to_vec_pretty(&old).unwrap());
    std::fs::write(dir.path().join("state.json"), bytes).unwrap();
    let balance = Balance::new("4000");
    let exotel = exotel_with(&balance).await;
    let hook = receiver().await;
    let state = dir.path().join("state.db");
    let cfg = config(
        dir.path(),
        &state,
        None,
        &account_toml("primary", &exotel.uri()),
        &hook.uri(),
    );
    let mut daemon = Daemon::spawn(&cfg, &dir.path().join("d.log"), "info", ENV);
    let bodies = wait_for(&hook, 10, "the imported delivery", |b| !b.is_empty()).await;
    assert_eq!(bodies[0]["id"], "imported-alert-7", "same id: {bodies:#?}");
    daemon.wait_log("imported the JSON state", 5).await;
    // The level came along: 4000 is still warning, so no second alert.
    tokio::time::sleep(Duration::from_millis(800)).await;
    assert_eq!(posted(&hook).await.len(), 1, "{:#?}", posted(&hook).await);
    daemon.signal(SIGTERM);
    assert_eq!(daemon.wait_exit(15).await.0, 0);
    assert!(dir.path().join("state.json.imported").exists());
    assert!(!dir.path().join("state.json").exists());
    let saved = read_state(&state);
    assert_eq!(saved["accounts"]["primary"]["eval"]["level"], "warning");
    assert!(saved["next_seq"].as_u64().unwrap() >= 8);
    assert!(saved["outbox"].as_array().unwrap().is_empty());
}

#[test]
fn a_newer_database_is_refused_with_78_and_left_alone() {
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("state.db");
    let conn = rusqlite::Connection::open(&state).unwrap();
    conn.execute_batch("CREATE TABLE future (x); PRAGMA user_version = 9;")
        .unwrap();
    drop(conn);
    let before = std::fs::read(&state).unwrap();
    let cfg = config(
        dir.path(),
        &state,
        None,
        &account_toml("primary", "http://127.0.0.1:9"),
        "http://127.0.0.1:9",
    );
    let out = common::cli::run(&["run", "-c", cfg.to_str().unwrap()], ENV);
    let err = common::cli::stderr(&out);
    assert_eq!(common::cli::code(&out), 78, "{err}");
    assert!(err.contains("schema version 9"), "{err}");
    assert_eq!(std::fs::read(&state).unwrap(), before, "never overwritten");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_damaged_database_is_moved_aside_and_what_reads_is_carried_over() {
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("state.db");
    {
        let now: jiff::Timestamp = jiff::Timestamp::now();
        let (store, _) = balance_alert::state::Store::open(&state, now).unwrap();
        {
            let mut s = store.lock();
            s.accounts.insert("primary".into(), warning_record());
            for id in ["torn-1", "kept-2"] {
                let e = event(id, EventKind::Alert, "primary", Level::Warning);
                s.push_outbox("hook".into(), now, e, None);
            }
        }
        store.mark_dirty();
        store.save().await.unwrap();
        store.close().await;
    }
    let conn = rusqlite::Connection::open(&state).unwrap();
    conn.execute(
        "UPDATE outbox SET entry = '{\"seq\": 0, torn' WHERE seq = 0",
        [],
    )
    .unwrap();
    drop(conn);

    let balance = Balance::new("4000");
    let exotel = exotel_with(&balance).await;
    let hook = receiver().await;
    let cfg = config(
        dir.path(),
        &state,
        None,
        &account_toml("primary", &exotel.uri()),
        &hook.uri(),
    );
    let mut daemon = Daemon::spawn(&cfg, &dir.path().join("d.log"), "info", ENV);
    let bodies = wait_for(&hook, 10, "the carried-over delivery", |b| !b.is_empty()).await;
    assert_eq!(bodies[0]["id"], "kept-2");
    let log = daemon
        .wait_log("moved it aside and carried over what could be read", 5)
        .await;
    assert!(
        log.contains("pending delivery #0"),
        "names the bad row: {log}"
    );
    tokio::time::sleep(Duration::from_millis(600)).await;
    assert_eq!(posted(&hook).await.len(), 1, "the level came along too");
    daemon.signal(SIGTERM);
    assert_eq!(daemon.wait_exit(15).await.0, 0);
    let aside: Vec<String> = std::fs::read_dir(dir.path())
        .unwrap()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| {
            n.starts_with("state.db.corrupt-") && !n.ends_with("-wal") && !n.ends_with("-shm")
        })
        .collect();
    assert_eq!(aside.len(), 1, "{aside:?}");
}

/// Answers the Balance request alternately low and high, so every poll is a crossing.
struct Flapping {
    n: AtomicUsize,
    steady: Arc<std::sync::atomic::AtomicBool>,
}

impl Respond for Flapping {
    fn respond(&self, _: &Request) -> ResponseTemplate {
        if self.steady.load(Ordering::SeqCst) {
            return balance_response("9000");
        }
        let n = self.n.fetch_add(1, Ordering::SeqCst);
        balance_response(if n % 2 == 0 { "4000" } else { "9000" })
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sigkill_loop_loses_nothing_and_keeps_ids() {
    let dir = tempfile::tempdir().unwrap();
    let steady = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let exotel = common::daemon::exotel_responding(Flapping {
        n: AtomicUsize::new(0),
        steady: steady.clone(),
    })
    .await;
    // A receiver slow enough that kills land with deliveries in flight.
    let hook = MockServer::start().await;
    Mock::given(matchers::method("POST"))
        .respond_with(ResponseTemplate::new(200).set_delay(Duration::from_millis(40)))
        .mount(&hook)
        .await;
    let state = dir.path().join("state.db");
    let cfg = config(
        dir.path(),
        &state,
        None,
        &account_toml("primary", &exotel.uri()),
        &hook.uri(),
    );
    let kills = 6;
    for round in 0..kills {
        let daemon = Daemon::spawn(&cfg, &dir.path().join(format!("{round}.log")), "info", ENV);
        daemon.wait_log("balance-alert running", 10).await;
        // Polls come every second: a round sees one or two crossings, and the kill
        // lands anywhere: before a write, between write and send, mid-send.
        let wait = 1200 + fastrand::u64(0..1500);
        tokio::time::sleep(Duration::from_millis(wait)).await;
        daemon.signal(SIGKILL);
        drop(daemon);
    }
    steady.store(true, Ordering::SeqCst);
    let mut daemon = Daemon::spawn(&cfg, &dir.path().join("last.log"), "info", ENV);
    daemon.wait_log("balance-alert running", 10).await;
    // Drained: the level settles at ok and the outbox empties.
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    loop {
        tokio::time::sleep(Duration::from_millis(300)).await;
        let bodies = posted(&hook).await;
        if bodies.last().is_some_and(|b| b["event"] == "resolved") {
            break;
        }
        assert!(std::time::Instant::now() < deadline, "{bodies:#?}");
    }
    daemon.signal(SIGTERM);
    assert_eq!(daemon.wait_exit(15).await.0, 0);
    let saved = read_state(&state);
    assert!(saved["outbox"].as_array().unwrap().is_empty(), "{saved:#}");

    let bodies = posted(&hook).await;
    let mut seen = std::collections::HashSet::new();
    let mut sequence = Vec::new();
    let mut duplicates = 0;
    let mut last_id = String::new();
    for b in &bodies {
        let id = b["id"].as_str().unwrap().to_string();
        if !seen.insert(id.clone()) {
            // A redelivery repeats the message in flight, right after the kill.
            assert_eq!(id, last_id, "a duplicate out of order: {bodies:#?}");
            duplicates += 1;
            continue;
        }
        last_id = id;
        sequence.push(b["event"].as_str().unwrap().to_string());
    }
    assert!(sequence.len() >= 4, "{sequence:?}");
    // Every level change reached the receiver, in order: alert, resolved, alert...
    for (i, kind) in sequence.iter().enumerate() {
        let want = if i % 2 == 0 { "alert" } else { "resolved" };
        assert_eq!(kind, want, "message {i} lost or reordered: {sequence:?}");
    }
    assert!(
        duplicates <= kills,
        "{duplicates} duplicates for {kills} kills"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_accounts_failing_backlog_does_not_delay_another_accounts_alert() {
    let dir = tempfile::tempdir().unwrap();
    let busy = Balance::new("4000");
    let busy_exotel = exotel_with(&busy).await;
    let calm = Balance::new("9000");
    let calm_exotel = exotel_with(&calm).await;
    // The receiver refuses everything about `busy` (for now) and takes the rest.
    let hook = MockServer::start().await;
    Mock::given(matchers::method("POST"))
        .and(matchers::body_string_contains("\"account\":\"busy\""))
        .respond_with(ResponseTemplate::new(503))
        .mount(&hook)
        .await;
    Mock::given(matchers::method("POST"))
        .respond_with(ResponseTemplate::new(200))
        .mount(&hook)
        .await;
    let state = dir.path().join("state.db");
    let accounts = format!(
        "{}{}",
        account_toml("busy", &busy_exotel.uri()),
        account_toml("calm", &calm_exotel.uri())
    );
    let cfg = config(dir.path(), &state, None, &accounts, &hook.uri());
    let mut daemon = Daemon::spawn(&cfg, &dir.path().join("d.log"), "info", ENV);
    // busy's alert fails, then its critical alert queues behind it.
    wait_for(&hook, 10, "busy's first attempt", |b| !b.is_empty()).await;
    busy.set("800");
    daemon.wait_log("level=critical", 5).await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    let started = std::time::Instant::now();
    calm.set("800");
    let bodies = wait_for(&hook, 5, "calm's alert", |b| {
        b.iter().any(|x| x["account"] == "calm")
    })
    .await;
    let calm_alert = bodies.iter().find(|x| x["account"] == "calm").unwrap();
    assert_eq!(calm_alert["level"], "critical");
    assert!(
        started.elapsed() < Duration::from_secs(3),
        "calm waited {:?}",
        started.elapsed()
    );
    let saved_busy: Vec<_> = bodies.iter().filter(|x| x["account"] == "busy").collect();
    assert!(
        saved_busy.iter().all(|b| b["level"] == "warning"),
        "busy's order holds: its critical alert waits behind its warning one"
    );
    daemon.signal(SIGTERM);
    assert_eq!(daemon.wait_exit(15).await.0, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_outage_of_many_accounts_is_one_grouped_message() {
    let dir = tempfile::tempdir().unwrap();
    let exotel = MockServer::start().await;
    Mock::given(matchers::method("GET"))
        .respond_with(unauthorized())
        .mount(&exotel)
        .await;
    let hook = receiver().await;
    let slack = MockServer::start().await;
    Mock::given(matchers::method("POST"))
        .respond_with(ResponseTemplate::new(200).set_body_string("ok"))
        .mount(&slack)
        .await;
    let names: Vec<String> = (0..8).map(|i| format!("wallet-{i}")).collect();
    let mut accounts = String::new();
    for name in &names {
        accounts.push_str(
            &account_toml(name, &exotel.uri())
                .replace("notify = [\"hook\"]", "notify = [\"hook\", \"chat\"]"),
        );
    }
    let state = dir.path().join("state.db");
    let cfg = config(dir.path(), &state, None, &accounts, &hook.uri());
    let mut text = std::fs::read_to_string(&cfg).unwrap();
    text.push_str(&format!(
        "\n[[channel]]\nname = \"chat\"\ntype = \"slack\"\nwebhook_url = \"{}/services/T0/B0/X\"\n",
        slack.uri()
    ));
    std::fs::write(&cfg, text).unwrap();
    let mut daemon = Daemon::spawn(&cfg, &dir.path().join("d.log"), "info", ENV);
    // The webhook: one event per account.
    let deadline = std::time::Instant::now() + Duration::from_secs(15);
    while kinds(&posted(&hook).await, "monitor_failing").len() < 8 {
        assert!(
            std::time::Instant::now() < deadline,
            "eight monitor_failing events: {:#?}\n{}",
            posted(&hook).await,
            daemon.log()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    // Slack: every account named once, mostly in one grouped message (the first few
    // may leave before the others are queued; the rest wait for Slack's one-a-second
    // pace, pile up and go as one).
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    let texts = loop {
        let texts: Vec<String> = posted(&slack)
            .await
            .iter()
            .map(|b| b["text"].as_str().unwrap_or_default().to_string())
            .collect();
        if names
            .iter()
            .all(|n| texts.iter().any(|t| t.contains(n.as_str())))
        {
            break texts;
        }
        assert!(std::time::Instant::now() < deadline, "{texts:#?}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    let grouped: Vec<&String> = texts.iter().filter(|t| t.contains(" accounts (")).collect();
    assert_eq!(grouped.len(), 1, "{texts:#?}");
    assert!(grouped[0].starts_with("[MONITOR FAILING]"), "{texts:#?}");
    assert!(texts.len() <= 8 - 5, "more than 5 went as one: {texts:#?}");
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let later = posted(&slack).await;
    assert_eq!(
        later.len(),
        texts.len(),
        "no account told twice: {later:#?}"
    );
    for name in &names {
        let told = texts
            .iter()
            .filter(|t| {
                t.contains(&format!("{name}:"))
                    || t.contains(&format!("{name},"))
                    || t.contains(&format!("{name})"))
            })
            .count();
        assert_eq!(told, 1, "{name}: {texts:#?}");
    }
    daemon.signal(SIGTERM);
    assert_eq!(daemon.wait_exit(15).await.0, 0);
}
