//! Scale benchmark through the real binary (SPEC §15, issue 7): generates a real config
//! file, runs the shipped `balance-alert` executable against a simulated Exotel and a
//! fast webhook receiver (small hyper servers on 127.0.0.1, on their own runtime), and
//! measures from outside:
//!
//! 1. `validate` wall time on the generated file (median of 5): the config load;
//! 2. start to `READY=1` (read from a `NOTIFY_SOCKET` this harness listens on);
//! 3. RSS (`VmRSS` of the daemon process) after READY, once every account has been
//!    polled, and the maximum over a steady minute after that;
//! 4. crossing → webhook POST latency (p50, p99, max): `--probes` extra accounts poll
//!    every second and alternate between 4,000 and 9,000 INR, so each poll is a crossing;
//!    latency runs from the simulated Exotel handing over the crossing response to the
//!    POST about it arriving;
//! 5. with `--pending` deliveries (default 100,000) already in the state database
//!    (written with the library's own store beforehand): start to READY, and the drain
//!    rate to the webhook.
//!
//! ```text
//! cargo build --profile bench --bin balance-alert --example scale
//! target/bench/examples/scale                       # 10,000 accounts, 100,000 pending
//! target/bench/examples/scale --accounts 1000 --pending 10000 --steady 20
//! ```
//! Options: `--accounts N`, `--probes P` (20), `--pending M`, `--steady SECS` (60),
//! `--bin PATH` (default: `balance-alert` beside the examples directory),
//! `--history 1`: every account has a 7-day `runway.window` and starts with a full week
//! of 60 s samples in its history, as after a week of running (SPEC §15's runway row);
//! then step 2 is a restart rather than a fresh start.

use std::collections::HashMap;
use std::convert::Infallible;
use std::os::unix::net::UnixDatagram;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

#[path = "common/history.rs"]
mod history;

use balance_alert::core::{Event, EventKind, Level};
use balance_alert::state::Store;
use http_body_util::{BodyExt, Full};
use hyper::body::Bytes;
use hyper::{Request, Response};

const KEY: &str = "scale-key";
const TOKEN: &str = "scale-token";

#[derive(Default)]
struct Peers {
    /// Per probe: how many polls it has answered (even: 9,000; odd: 4,000).
    probe_polls: Mutex<HashMap<String, u64>>,
    /// Per probe: when its last crossing response was handed over.
    served: Mutex<HashMap<String, Instant>>,
    latencies: Mutex<Vec<Duration>>,
    /// Latencies count only once the steady phase begins.
    measuring: std::sync::atomic::AtomicBool,
    polls: AtomicU64,
    posts: AtomicU64,
    first_post: Mutex<Option<Instant>>,
    last_post: Mutex<Option<Instant>>,
}

impl Peers {
    fn exotel(&self, req: &Request<hyper::body::Incoming>) -> Response<Full<Bytes>> {
        self.polls.fetch_add(1, Ordering::Relaxed);
        let sid = req
            .uri()
            .path()
            .trim_start_matches("/v1/Accounts/")
            .trim_end_matches("/Balance.json")
            .to_string();
        let balance = if sid.starts_with("probe") {
            let mut polls = self.probe_polls.lock().unwrap();
            let n = polls.entry(sid.clone()).or_default();
            *n += 1;
            let low = *n % 2 == 0;
            self.served.lock().unwrap().insert(sid, Instant::now());
            if low { "4000.00" } else { "9000.00" }
        } else {
            "9000.00"
        };
        let body = format!(
            r#"{{"Account":{{"AccountSid":"x","BalanceData":{{"Balance":"{balance}","Currency":"INR"}}}}}}"#
        );
        Response::new(Full::new(Bytes::from(body)))
    }

    fn webhook(&self, body: &[u8]) {
        let arrived = Instant::now();
        self.posts.fetch_add(1, Ordering::Relaxed);
        self.first_post.lock().unwrap().get_or_insert(arrived);
        *self.last_post.lock().unwrap() = Some(arrived);
        if !self.measuring.load(Ordering::Relaxed) {
            return;
        }
        let Ok(value) = serde_json::from_slice::<serde_json::Value>(body) else {
            return;
        };
        let Some(account) = value["account"].as_str() else {
            return;
        };
        if !account.starts_with("probe") {
            return;
        }
        if let Some(at) = self.served.lock().unwrap().remove(account) {
            self.latencies.lock().unwrap().push(arrived - at);
        }
    }
}

async fn serve(listener: tokio::net::TcpListener, peers: Arc<Peers>, hook: bool) {
    loop {
        let Ok((stream, _)) = listener.accept().await else {
            continue;
        };
        let peers = peers.clone();
        tokio::spawn(async move {
            let service = hyper::service::service_fn(move |req: Request<hyper::body::Incoming>| {
                let peers = peers.clone();
                async move {
                    if hook {
                        let body = req
                            .into_body()
                            .collect()
                            .await
                            .map(|b| b.to_bytes())
                            .unwrap_or_default();
                        peers.webhook(&body);
                        Ok::<_, Infallible>(Response::new(Full::new(Bytes::from_static(b"{}"))))
                    } else {
                        Ok::<_, Infallible>(peers.exotel(&req))
                    }
                }
            });
            let _ = hyper::server::conn::http1::Builder::new()
                .serve_connection(hyper_util::rt::TokioIo::new(stream), service)
                .await;
        });
    }
}

fn arg(name: &str, default: u64) -> u64 {
    let args: Vec<String> = std::env::args().collect();
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1))
        .map(|v| v.parse().expect("a number"))
        .unwrap_or(default)
}

fn binary() -> PathBuf {
    let args: Vec<String> = std::env::args().collect();
    if let Some(i) = args.iter().position(|a| a == "--bin") {
        return PathBuf::from(&args[i + 1]);
    }
    let exe = std::env::current_exe().expect("own path");
    exe.parent()
        .and_then(Path::parent)
        .expect("target/<profile>/examples")
        .join("balance-alert")
}

/// `week_window`: every account gets a 7-day `runway.window` (`--history 1`).
fn write_config(
    dir: &Path,
    accounts: usize,
    probes: usize,
    exotel: &str,
    hook: &str,
    week_window: bool,
) -> PathBuf {
    let runway = if week_window {
        "runway = { window = \"7d\" }\n"
    } else {
        ""
    };
    let mut text = format!(
        "[daemon]\nstate_file = \"{}\"\nshutdown_grace = \"2s\"\n\n\
         [[channel]]\nname = \"hook\"\ntype = \"webhook\"\nurl = \"{hook}/hook\"\n",
        dir.join("state.db").display()
    );
    let mut add = |name: String, poll: &str| {
        text.push_str(&format!(
            "\n[[account]]\nname = \"{name}\"\nsid = \"{name}\"\napi_key = \"{KEY}\"\n\
             api_token = \"{TOKEN}\"\nbase_url = \"{exotel}\"\ncurrency = \"INR\"\n\
             poll_interval = \"{poll}\"\nnotify = [\"hook\"]\n\
             warning = {{ below = 5000, clear_above = 6000 }}\n\
             critical = {{ below = \"1000.00\", clear_above = \"1500\" }}\n{runway}"
        ));
    };
    for i in 0..accounts {
        add(format!("acct{i}"), "60s");
    }
    for i in 0..probes {
        add(format!("probe{i}"), "1s");
    }
    let path = dir.join("config.toml");
    std::fs::write(&path, text).expect("write config");
    // A literal secret in a file only its owner reads: no warning noise.
    use std::os::unix::fs::PermissionsExt as _;
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).unwrap();
    path
}

fn rss_mib(pid: u32) -> f64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    status
        .lines()
        .find(|l| l.starts_with("VmRSS:"))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|v| v.parse::<f64>().ok())
        .unwrap_or(0.0)
        / 1024.0
}

/// Starts `run`; returns the child and how long until it said READY=1.
fn start(bin: &Path, config: &Path, dir: &Path, log: &str) -> (Child, Duration) {
    let socket_path = dir.join("notify.sock");
    let _ = std::fs::remove_file(&socket_path);
    let socket = UnixDatagram::bind(&socket_path).expect("notify socket");
    socket
        .set_read_timeout(Some(Duration::from_secs(120)))
        .unwrap();
    let started = Instant::now();
    let mut child = Command::new(bin)
        .args(["run", "-c"])
        .arg(config)
        .env("NOTIFY_SOCKET", &socket_path)
        .env("RUST_LOG", "warn")
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(dir.join(log)).unwrap())
        .spawn()
        .expect("spawn balance-alert run");
    let mut buf = [0u8; 256];
    loop {
        match socket.recv(&mut buf) {
            Ok(n) if String::from_utf8_lossy(&buf[..n]).contains("READY=1") => {
                return (child, started.elapsed());
            }
            Ok(_) => {}
            Err(e) => {
                let _ = child.kill();
                let _ = child.wait();
                panic!("no READY=1 within 120 s: {e}");
            }
        }
    }
}

fn stop(mut child: Child) {
    let _ = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status();
    let status = child.wait().expect("wait");
    assert!(status.success(), "daemon exited with {status}");
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

fn main() {
    let accounts = arg("--accounts", 10_000) as usize;
    let probes = arg("--probes", 20) as usize;
    let pending = arg("--pending", 100_000) as usize;
    let steady_secs = arg("--steady", 60);
    let with_history = arg("--history", 0) != 0;
    let bin = binary();
    assert!(
        bin.exists(),
        "no binary at {}; build it or pass --bin",
        bin.display()
    );
    let dir = tempfile::tempdir_in(std::env::var_os("SCALE_DIR").unwrap_or("/tmp".into()))
        .expect("temp dir");
    let dir = dir.path().to_path_buf();

    // The peers run on their own runtime and threads, apart from the measured process.
    let peers = Arc::new(Peers::default());
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let (exotel, hook) = runtime.block_on(async {
        let e = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let h = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let urls = (
            format!("http://{}", e.local_addr().unwrap()),
            format!("http://{}", h.local_addr().unwrap()),
        );
        tokio::spawn(serve(e, peers.clone(), false));
        tokio::spawn(serve(h, peers.clone(), true));
        urls
    });
    println!("balance-alert scale benchmark: {}", bin.display());
    println!(
        "{accounts} accounts polling every 60 s + {probes} probes every 1 s, one webhook channel"
    );

    // 1. Config load, from outside.
    let config = write_config(&dir, accounts, probes, &exotel, &hook, with_history);
    let size = std::fs::metadata(&config).unwrap().len();
    let mut loads = Vec::new();
    for _ in 0..5 {
        let t = Instant::now();
        let out = Command::new(&bin)
            .args(["validate", "-c"])
            .arg(&config)
            .output()
            .expect("validate");
        loads.push(t.elapsed());
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    loads.sort();
    println!(
        "validate ({:.1} MiB config): median {:.0} ms (min {:.0}, max {:.0})",
        size as f64 / 1048576.0,
        ms(loads[2]),
        ms(loads[0]),
        ms(loads[4])
    );

    // 2-4. Start, settle, steady state with crossings.
    if with_history {
        let names: Vec<String> = (0..accounts).map(|i| format!("acct{i}")).collect();
        history::write_histories(&dir, &names);
    }
    let (child, ready) = start(&bin, &config, &dir, "run.log");
    let pid = child.id();
    println!(
        "start to READY ({}): {:.0} ms; RSS at READY {:.1} MiB",
        if with_history {
            "a week of history per account"
        } else {
            "fresh state"
        },
        ms(ready),
        rss_mib(pid)
    );
    let total = (accounts + probes) as u64;
    let t = Instant::now();
    while peers.polls.load(Ordering::Relaxed) < total && t.elapsed() < Duration::from_secs(90) {
        std::thread::sleep(Duration::from_millis(200));
    }
    println!(
        "every account polled after {:.1} s; RSS {:.1} MiB",
        t.elapsed().as_secs_f64(),
        rss_mib(pid)
    );
    peers.measuring.store(true, Ordering::Relaxed);
    let mut max_rss: f64 = 0.0;
    let steady_started = Instant::now();
    while steady_started.elapsed() < Duration::from_secs(steady_secs) {
        std::thread::sleep(Duration::from_secs(1));
        max_rss = max_rss.max(rss_mib(pid));
    }
    peers.measuring.store(false, Ordering::Relaxed);
    println!("RSS steady over {steady_secs} s: max {max_rss:.1} MiB");
    let mut lat = peers.latencies.lock().unwrap().clone();
    lat.sort();
    if lat.is_empty() {
        println!("no crossing reached the webhook");
    } else {
        let pct = |p: f64| ms(lat[((lat.len() as f64 * p) as usize).min(lat.len() - 1)]);
        println!(
            "crossing → webhook POST over {} crossings: p50 {:.2} ms, p99 {:.2} ms, max {:.2} ms",
            lat.len(),
            pct(0.5),
            pct(0.99),
            ms(lat[lat.len() - 1])
        );
    }
    stop(child);

    // 5. A backlog: `pending` deliveries already in the database, then drain.
    if pending > 0 {
        let db = dir.join("state.db");
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(async {
            let now = jiff::Timestamp::now();
            let (store, _) = Store::open(&db, now).expect("open state");
            {
                let mut state = store.lock();
                for i in 0..pending {
                    let account = format!("acct{}", i % accounts.max(1));
                    let event = Event {
                        id: format!("{:032x}", i),
                        event: EventKind::Alert,
                        sid: account.clone(),
                        account,
                        provider: "exotel".into(),
                        level: Level::Warning,
                        previous_level: Some(Level::Ok),
                        balance: Some("4000.00".parse().unwrap()),
                        currency: "INR".into(),
                        threshold: Some("5000".parse().unwrap()),
                        pricing_plan: None,
                        date_updated: None,
                        observed_at: now,
                        error: None,
                        ..Event::default()
                    };
                    state.push_outbox("hook".into(), now, event, None);
                }
            }
            store.save().await.expect("write backlog");
            store.close().await;
        });
        let db_size = std::fs::metadata(&db).map(|m| m.len()).unwrap_or(0);
        let before = peers.posts.load(Ordering::Relaxed);
        *peers.first_post.lock().unwrap() = None;
        // No probes here: every POST is one of the backlog.
        let drain_dir = dir.join("drain");
        std::fs::create_dir_all(&drain_dir).unwrap();
        let drain_config = write_config(&drain_dir, accounts, 0, &exotel, &hook, with_history);
        let text = std::fs::read_to_string(&drain_config).unwrap().replace(
            &drain_dir.join("state.db").display().to_string(),
            &db.display().to_string(),
        );
        std::fs::write(&drain_config, text).unwrap();
        let (child, ready) = start(&bin, &drain_config, &dir, "drain.log");
        println!(
            "start to READY with {pending} pending ({:.1} MiB database): {:.0} ms",
            db_size as f64 / 1048576.0,
            ms(ready)
        );
        let want = before + pending as u64;
        let t = Instant::now();
        let mut peak_rss: f64 = 0.0;
        while peers.posts.load(Ordering::Relaxed) < want && t.elapsed() < Duration::from_secs(600) {
            std::thread::sleep(Duration::from_millis(500));
            peak_rss = peak_rss.max(rss_mib(child.id()));
        }
        let delivered = peers.posts.load(Ordering::Relaxed) - before;
        let first = peers.first_post.lock().unwrap().expect("a post");
        let last = peers.last_post.lock().unwrap().expect("a post");
        let span = (last - first).as_secs_f64().max(1e-3);
        println!(
            "drain: {delivered} of {pending} delivered in {span:.1} s: {:.0} deliveries/s; peak RSS {peak_rss:.1} MiB",
            delivered as f64 / span
        );
        stop(child);
    }
    let _ = std::fs::remove_dir_all(&dir);
}
