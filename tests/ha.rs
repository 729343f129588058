//! High availability and sharding (SPEC §11.3).
//!
//! The HA recipe of the README, for real: two balance-alert instances with the same
//! config (each its own state file) mirror their alerts into a two-peer Alertmanager
//! cluster on loopback (the real `alertmanager` binary, Debian's
//! `prometheus-alertmanager`), whose receiver is a test HTTP server counting
//! notifications: one notification per crossing. When the binary is absent the test
//! skips loudly, unless `BALANCE_ALERT_REQUIRE_ALERTMANAGER` is set (CI sets it), in
//! which case it fails.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::cli::{code, run, stdout, write};
use common::daemon::{KEY, SID, TOKEN, balance_response, exotel_switch};
use common::process::Daemon;
use serde_json::Value;
use wiremock::{Mock, MockServer, ResponseTemplate, matchers};

/// The Alertmanager binary: `alertmanager` (upstream) or `prometheus-alertmanager`
/// (Debian), on `PATH` or in `/usr/bin`.
fn alertmanager_binary() -> Option<PathBuf> {
    let names = ["alertmanager", "prometheus-alertmanager"];
    let path = std::env::var_os("PATH").unwrap_or_default();
    let mut dirs: Vec<PathBuf> = std::env::split_paths(&path).collect();
    dirs.push(PathBuf::from("/usr/bin"));
    dirs.iter()
        .flat_map(|d| names.iter().map(move |n| d.join(n)))
        .find(|p| p.is_file())
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// A running Alertmanager peer; killed on drop.
struct Peer {
    child: Child,
    web: u16,
    log: PathBuf,
}

impl Drop for Peer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn start_peer(bin: &Path, dir: &Path, name: &str, web: u16, cluster: u16, other: u16) -> Peer {
    let storage = dir.join(format!("am-{name}"));
    std::fs::create_dir_all(&storage).unwrap();
    let log = dir.join(format!("am-{name}.log"));
    let child = Command::new(bin)
        .arg(format!(
            "--config.file={}",
            dir.join("alertmanager.yml").display()
        ))
        .arg(format!("--storage.path={}", storage.display()))
        .arg(format!("--web.listen-address=127.0.0.1:{web}"))
        .arg(format!("--cluster.listen-address=127.0.0.1:{cluster}"))
        .arg(format!("--cluster.advertise-address=127.0.0.1:{cluster}"))
        .arg(format!("--cluster.peer=127.0.0.1:{other}"))
        // Short timers so the test takes seconds: the second peer waits peer-timeout
        // for the first one's notification log before it would send itself.
        .arg("--cluster.peer-timeout=3s")
        .arg("--cluster.settle-timeout=2s")
        .arg("--cluster.gossip-interval=100ms")
        .arg("--cluster.pushpull-interval=1s")
        .arg("--cluster.reconnect-interval=1s")
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(&log).unwrap())
        .spawn()
        .expect("start alertmanager");
    Peer { child, web, log }
}

/// Waits until the peer reports a cluster of two ready peers.
async fn wait_cluster(peer: &Peer) {
    let client = reqwest::Client::new();
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let status = client
            .get(format!("http://127.0.0.1:{}/api/v2/status", peer.web))
            .send()
            .await;
        if let Ok(r) = status {
            let bytes = r.bytes().await.unwrap_or_default();
            if let Ok(v) = serde_json::from_slice::<Value>(&bytes) {
                let peers = v["cluster"]["peers"].as_array().map_or(0, Vec::len);
                if peers == 2 && v["cluster"]["status"] == "ready" {
                    return;
                }
            }
        }
        assert!(
            Instant::now() < deadline,
            "Alertmanager cluster never formed:\n{}",
            std::fs::read_to_string(&peer.log).unwrap_or_default()
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// The notifications the receiver got, as (status, alert count).
async fn notifications(receiver: &MockServer) -> Vec<(String, usize)> {
    receiver
        .received_requests()
        .await
        .unwrap()
        .iter()
        .map(|r| {
            let v: Value = serde_json::from_slice(&r.body).unwrap();
            (
                v["status"].as_str().unwrap_or_default().to_owned(),
                v["alerts"].as_array().map_or(0, Vec::len),
            )
        })
        .collect()
}

async fn wait_notifications(receiver: &MockServer, n: usize, secs: u64, peers: &[&Peer]) {
    let deadline = Instant::now() + Duration::from_secs(secs);
    while notifications(receiver).await.len() < n {
        if Instant::now() > deadline {
            let logs: Vec<String> = peers
                .iter()
                .map(|p| std::fs::read_to_string(&p.log).unwrap_or_default())
                .collect();
            panic!(
                "fewer than {n} notifications after {secs}s: {:?}\n{}",
                notifications(receiver).await,
                logs.join("\n----\n")
            );
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_instances_behind_a_two_peer_alertmanager_cluster_page_once() {
    let Some(bin) = alertmanager_binary() else {
        if std::env::var_os("BALANCE_ALERT_REQUIRE_ALERTMANAGER").is_some() {
            panic!(
                "BALANCE_ALERT_REQUIRE_ALERTMANAGER is set but no alertmanager binary was \
                 found (apt-get install prometheus-alertmanager)"
            );
        }
        eprintln!(
            "\n\n!!!!! SKIPPED two_instances_behind_a_two_peer_alertmanager_cluster_page_once: \
             no `alertmanager` or `prometheus-alertmanager` binary on PATH. Install Debian's \
             prometheus-alertmanager to run the HA test (CI sets \
             BALANCE_ALERT_REQUIRE_ALERTMANAGER=1 so it cannot skip there). !!!!!\n\n"
        );
        return;
    };
    let dir = tempfile::tempdir().unwrap();

    // The receiver Alertmanager fans out to: counts what a person would be sent.
    let receiver = MockServer::start().await;
    Mock::given(matchers::method("POST"))
        .and(matchers::path("/am-hook"))
        .respond_with(ResponseTemplate::new(200))
        .mount(&receiver)
        .await;
    std::fs::write(
        dir.path().join("alertmanager.yml"),
        format!(
            r#"route:
  receiver: hook
  group_by: ['alertname', 'account']
  group_wait: 1s
  group_interval: 5s
  repeat_interval: 1h
receivers:
  - name: hook
    webhook_configs:
      - url: "{}/am-hook"
        send_resolved: true
"#,
            receiver.uri()
        ),
    )
    .unwrap();
    let (web_a, web_b, cl_a, cl_b) = (free_port(), free_port(), free_port(), free_port());
    let peer_a = start_peer(&bin, dir.path(), "a", web_a, cl_a, cl_b);
    let peer_b = start_peer(&bin, dir.path(), "b", web_b, cl_b, cl_a);
    wait_cluster(&peer_a).await;
    wait_cluster(&peer_b).await;

    // Two balance-alert instances, one config file (each instance's state file comes
    // from the environment), one Exotel account that turns critical.
    let (exotel, balance) = exotel_switch(balance_response("7000.00")).await;
    let config = format!(
        r#"[daemon]
state_file = "${{STATE_FILE}}"

[[account]]
name = "primary"
sid = "{SID}"
api_key = "{KEY}"
api_token = "{TOKEN}"
base_url = "{exotel}"
poll_interval = "1s"
notify = ["am"]
labels = {{ team = "payments" }}
warning = {{ below = 5000, clear_above = 6000 }}
critical = {{ below = 1000, clear_above = 1500 }}

[[channel]]
name = "am"
type = "alertmanager"
urls = ["http://127.0.0.1:{web_a}", "http://127.0.0.1:{web_b}"]
resend_every = "1s"
"#,
        exotel = exotel.uri()
    );
    let path = write(dir.path(), "ha.toml", &config);
    let state_a = dir.path().join("a.json");
    let state_b = dir.path().join("b.json");
    let a = Daemon::spawn(
        &path,
        &dir.path().join("a.log"),
        "balance_alert=info",
        &[("STATE_FILE", state_a.to_str().unwrap())],
    );
    let b = Daemon::spawn(
        &path,
        &dir.path().join("b.log"),
        "balance_alert=info",
        &[("STATE_FILE", state_b.to_str().unwrap())],
    );
    a.wait_log("balance-alert running", 10).await;
    b.wait_log("balance-alert running", 10).await;

    // The crossing: both instances alert, both post to both peers, every second.
    balance.set(balance_response("800.00"));
    a.wait_log("event=\"alert\"", 10).await;
    b.wait_log("event=\"alert\"", 10).await;
    wait_notifications(&receiver, 1, 20, &[&peer_a, &peer_b]).await;
    // Past the second peer's peer-timeout and several group intervals and resends:
    // still one.
    tokio::time::sleep(Duration::from_secs(9)).await;
    let seen = notifications(&receiver).await;
    assert_eq!(seen, [("firing".to_owned(), 1)], "one page per crossing");
    let body: Value =
        serde_json::from_slice(&receiver.received_requests().await.unwrap()[0].body).unwrap();
    let labels = &body["alerts"][0]["labels"];
    assert_eq!(labels["alertname"], "BalanceLow");
    assert_eq!(labels["account"], "primary");
    assert_eq!(labels["severity"], "critical");
    assert_eq!(labels["team"], "payments");

    // Topped up: both resolve; the cluster sends one resolved notification.
    balance.set(balance_response("7000.00"));
    a.wait_log("event=\"resolved\"", 10).await;
    b.wait_log("event=\"resolved\"", 10).await;
    wait_notifications(&receiver, 2, 20, &[&peer_a, &peer_b]).await;
    tokio::time::sleep(Duration::from_secs(9)).await;
    let seen = notifications(&receiver).await;
    assert_eq!(
        seen,
        [("firing".to_owned(), 1), ("resolved".to_owned(), 1)],
        "one notification per crossing"
    );
    drop((a, b, peer_a, peer_b));
}

/// `validate` says which accounts a shard owns; the daemon polls only those.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_shard_polls_only_the_accounts_that_hash_to_it() {
    use balance_alert::core::Shard;
    let names = ["alpha", "bravo", "charlie", "delta", "echo"];
    let owned: Vec<&str> = names
        .iter()
        .copied()
        .filter(|n| Shard::of(n, 2) == 1)
        .collect();
    assert!(!owned.is_empty() && owned.len() < names.len(), "{owned:?}");

    let exotel = MockServer::start().await;
    Mock::given(matchers::method("GET"))
        .respond_with(balance_response("7000.00"))
        .mount(&exotel)
        .await;
    let dir = tempfile::tempdir().unwrap();
    let mut text = format!(
        "[daemon]\nstate_file = \"{}\"\nshard = {{ index = 1, count = 2 }}\n",
        dir.path().join("s.json").display()
    );
    for name in names {
        text.push_str(&format!(
            "\n[[account]]\nname = \"{name}\"\nsid = \"sid-{name}\"\napi_key = \"{KEY}\"\napi_token = \"{TOKEN}\"\nbase_url = \"{}\"\npoll_interval = \"1s\"\nwarning = {{ below = 5000 }}\n",
            exotel.uri()
        ));
    }
    let path = write(dir.path(), "shard.toml", &text);
    let p = path.clone();
    let out =
        tokio::task::spawn_blocking(move || run(&["validate", "-c", p.to_str().unwrap()], &[]))
            .await
            .unwrap();
    assert_eq!(code(&out), 0);
    let line = stdout(&out);
    let expected = format!(
        "shard 1 of 2 polls {} account{} ({})",
        owned.len(),
        if owned.len() == 1 { "" } else { "s" },
        owned.join(", ")
    );
    assert!(line.contains(&expected), "{line} lacks {expected}");

    let daemon = Daemon::spawn(
        &path,
        &dir.path().join("shard.log"),
        "balance_alert=info",
        &[],
    );
    daemon.wait_log(&expected, 10).await;
    tokio::time::sleep(Duration::from_secs(3)).await;
    let polled: std::collections::BTreeSet<String> = exotel
        .received_requests()
        .await
        .unwrap()
        .iter()
        .map(|r| {
            r.url
                .path()
                .split('/')
                .nth(3)
                .unwrap()
                .trim_start_matches("sid-")
                .to_owned()
        })
        .collect();
    let want: std::collections::BTreeSet<String> = owned.iter().map(|s| s.to_string()).collect();
    assert_eq!(polled, want);
    drop(daemon);
}

/// `instance`, `shard` and `heartbeat` are checked like every other key: what is wrong
/// and where, and a heartbeat URL (a secret) is never echoed.
#[test]
fn ha_daemon_keys_are_validated() {
    use balance_alert::config::MapEnv;
    use balance_alert::settings as config;
    let parse = |daemon: &str| {
        let text = format!(
            "[daemon]\n{daemon}\n\n[[account]]\nname = \"primary\"\nsid = \"{SID}\"\napi_key = \"{KEY}\"\napi_token = \"{TOKEN}\"\nwarning = {{ below = 5000 }}\n"
        );
        config::parse(&text, Path::new("ha.toml"), &MapEnv::default())
    };
    let err = |daemon: &str| parse(daemon).unwrap_err().to_string();
    let e = err("shard = { index = 3, count = 3 }");
    assert!(
        e.contains("ha.toml:2:") && e.contains("daemon.shard.index: must be between 0 and 2"),
        "{e}"
    );
    let e = err("shard = { index = 0, count = 0 }");
    assert!(e.contains("daemon.shard.count: must be at least 1"), "{e}");
    let e = err("shard = { index = 0 }");
    assert!(
        e.contains("daemon.shard.count: missing required key"),
        "{e}"
    );
    let e = err("heartbeat = { every = \"1m\" }");
    assert!(
        e.contains("daemon.heartbeat.url: missing required key"),
        "{e}"
    );
    let e = err("heartbeat = { url = \"hc-ping.com/s3cr3t-uuid\" }");
    assert!(e.contains("daemon.heartbeat.url: not a valid URL"), "{e}");
    assert!(!e.contains("s3cr3t-uuid"), "{e}");
    let e = err("heartbeat = { url = \"https://hc-ping.com/x\", every = \"0s\" }");
    assert!(
        e.contains("daemon.heartbeat.every: must be greater than zero"),
        "{e}"
    );
    let e = err("heartbeat = { url = \"https://hc-ping.com/x\", fail = \"y\" }");
    assert!(e.contains("fail"), "{e}");
    let e = err("instance = \" a\"");
    assert!(e.contains("daemon.instance"), "{e}");

    let ok = parse(
        "instance = \"a\"\nshard = { index = 0, count = 1 }\nheartbeat = { url = \"https://hc-ping.com/x\", every = \"2m\" }",
    )
    .unwrap();
    assert_eq!(ok.daemon.instance.as_deref(), Some("a"));
    let hb = ok.daemon.heartbeat.as_ref().unwrap();
    assert_eq!(hb.every, Duration::from_secs(120));
    assert!(hb.fail_url.is_none());
    assert!(!format!("{:?}", ok.daemon).contains("hc-ping.com"));
    assert_eq!(
        ok.shard_summary().unwrap(),
        "shard 0 of 1 polls 1 account (primary)"
    );
    assert_eq!(ok.owned_accounts().len(), 1);
}
