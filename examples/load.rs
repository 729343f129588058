//! Memory and latency harness for the budgets in docs/performance.md.
//!
//! Runs the real daemon (`balance_alert::daemon::run`) in-process against a simulated
//! Exotel and a webhook receiver, both small hyper servers on 127.0.0.1 driven by their
//! own thread so they do not compete with the daemon's runtime, then reports:
//!
//! - RSS (`VmRSS`) and peak RSS (`VmHWM`) from /proc/self/status once every account has
//!   been polled at least once (and again at the end);
//! - the latency from the simulated Exotel handing over a response that crosses a
//!   threshold to the webhook POST for it arriving at the receiver;
//! - the state database's size (each crossing writes only its own rows; the size is
//!   what start-up reads).
//!
//! ```text
//! cargo run --profile bench --example load -- 1
//! cargo run --profile bench --example load -- 10000
//! ```
//!
//! Accounts poll every 60 s (startup jitter spreads the first polls over 30 s, see
//! `daemon.rs` `first_poll`) and always read a steady 9,000 INR. One extra "probe"
//! account polls every second; once every account has been polled it alternates between
//! 4,0xx (warning: an `alert`) and 9,0xx (a `resolved`), so each of its polls is a
//! crossing. Each crossing balance is unique, which is how a POST is matched with the
//! response that caused it. Options: `--crossings K` (default 9), `--current-thread`
//! (run the daemon on a current-thread runtime instead of the production 2 workers).
//!
//! Every account has a 7-day runway window and starts with a full 7 days of 60 s
//! samples in its history (written to the state database before the daemon starts,
//! which loads it as after a restart): the §15 row "10,000 accounts with a 7-day runway window
//! of 60 s samples".
//!
//! RSS includes the harness itself (the two servers, their thread and its bookkeeping);
//! it is reported before the daemon starts so it can be told apart.

use std::collections::HashMap;
use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

#[path = "common/history.rs"]
mod history;
use history::{HISTORY_WINDOW, write_histories};

use balance_alert::config::{DaemonConfig, LogFormat, Secret};
use balance_alert::core::{Level, Threshold, Thresholds};
use balance_alert::daemon::{self, Options};
use balance_alert::notify::ChannelKind;
use balance_alert::notify::webhook::WebhookConfig;
use balance_alert::provider::AccountConfig;
use balance_alert::provider::ProviderConfig;
use balance_alert::provider::exotel::ExotelConfig;
use balance_alert::settings::{ChannelConfig, Config};
use http_body_util::{BodyExt, Full};
use hyper::body::Bytes;
use hyper::{Request, Response, StatusCode};
use rust_decimal::Decimal;
use tokio::sync::{Notify, oneshot};

const KEY: &str = "load-key";
const TOKEN: &str = "load-token";
const PROBE_SID: &str = "probe";
/// Steady accounts poll at a sane production-like interval.
const STEADY_INTERVAL: Duration = Duration::from_secs(60);
/// The probe polls fast so crossings come quickly (loopback has no 60 s rate floor).
const PROBE_INTERVAL: Duration = Duration::from_secs(1);

/// What both servers share with the driver.
struct Peers {
    /// Per steady account: has it been polled at least once?
    polled: Vec<AtomicBool>,
    polled_count: AtomicUsize,
    all_polled: Notify,
    /// Set once the settle phase is over: the probe starts crossing.
    armed: AtomicBool,
    probe_polls: AtomicUsize,
    /// Crossing balance (as the webhook body spells it) → when its response was handed
    /// to hyper.
    served: Mutex<HashMap<String, Instant>>,
    /// Latencies of the POSTs matched so far.
    latencies: Mutex<Vec<Duration>>,
    posted: Notify,
}

fn json(status: StatusCode, body: String) -> Response<Full<Bytes>> {
    Response::builder()
        .status(status)
        .header("content-type", "application/json")
        .body(Full::new(Bytes::from(body)))
        .expect("static response parts are valid")
}

fn balance_body(sid: &str, amount: &str) -> String {
    format!(
        r#"{{"Account":{{"AccountSid":"{sid}","BalanceData":{{"Balance":"{amount}","Currency":"INR","PricingPlan":"Pay As You Go","DateUpdated":"2026-04-24 10:32:18"}}}}}}"#
    )
}

impl Peers {
    /// The simulated Exotel: `/v1/Accounts/{sid}/Balance.json`.
    fn exotel(&self, request: &Request<hyper::body::Incoming>) -> Response<Full<Bytes>> {
        let sid = request
            .uri()
            .path()
            .strip_prefix("/v1/Accounts/")
            .and_then(|p| p.strip_suffix("/Balance.json"))
            .unwrap_or_default();
        if sid == PROBE_SID {
            if !self.armed.load(Ordering::SeqCst) {
                return json(StatusCode::OK, balance_body(sid, "9000.00"));
            }
            // Odd polls go low (alert), even ones high again (resolved); the cents make
            // each crossing's balance unique.
            let k = self.probe_polls.fetch_add(1, Ordering::SeqCst) + 1;
            let amount = if k % 2 == 1 {
                format!("4000.{:02}", k % 100)
            } else {
                format!("9000.{:02}", k % 100)
            };
            let response = json(StatusCode::OK, balance_body(sid, &amount));
            self.served.lock().unwrap().insert(amount, Instant::now());
            return response;
        }
        let flag = sid
            .strip_prefix("acct")
            .and_then(|n| n.parse::<usize>().ok())
            .and_then(|i| self.polled.get(i));
        if let Some(flag) = flag {
            if !flag.swap(true, Ordering::SeqCst)
                && self.polled_count.fetch_add(1, Ordering::SeqCst) + 1 == self.polled.len()
            {
                self.all_polled.notify_one();
            }
            return json(StatusCode::OK, balance_body(sid, "9000.00"));
        }
        json(
            StatusCode::NOT_FOUND,
            r#"{"RestException":{"Status":404,"Message":"Not found"}}"#.into(),
        )
    }

    /// The webhook receiver: matches the POST's balance with the response that caused it.
    fn webhook(&self, body: &[u8]) {
        let arrived = Instant::now();
        let Ok(value) = serde_json::from_slice::<serde_json::Value>(body) else {
            return;
        };
        let Some(balance) = value["balance"].as_str() else {
            return;
        };
        if let Some(at) = self.served.lock().unwrap().remove(balance) {
            self.latencies.lock().unwrap().push(arrived - at);
            self.posted.notify_one();
        }
    }
}

/// Serves one of the two peers; `hook` picks which.
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
                        Ok::<_, Infallible>(json(StatusCode::OK, "{}".into()))
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

fn account(name: String, sid: String, base_url: &str, poll_interval: Duration) -> AccountConfig {
    let d = |s: &str| s.parse::<Decimal>().expect("literal decimal");
    AccountConfig {
        labels: Default::default(),
        name,
        provider: ProviderConfig::Exotel(ExotelConfig {
            sid,
            api_key: Secret::new(KEY),
            api_token: Secret::new(TOKEN),
            base_url: base_url.to_string(),
            currency: Some("INR".into()),
        }),
        poll_interval,
        repeat_every: None,
        blind_after: Duration::from_secs(900),
        timeout: Duration::from_secs(10),
        ca_file: None,
        notify: vec!["hook".into()],
        thresholds: Thresholds {
            warning: Some(Threshold {
                below: d("5000"),
                clear_above: d("6000"),
            }),
            critical: Some(Threshold {
                below: d("1000"),
                clear_above: d("1500"),
            }),
        },
        // The history and the estimate are kept and computed on every poll; no runway
        // latch, so the probe's crossings stay amount crossings (alert, resolved).
        runway: balance_alert::core::RunwayPolicy {
            window: HISTORY_WINDOW,
            ..Default::default()
        },
        topup_min: Decimal::ONE,
        escalate: Vec::new(),
    }
}

fn config(steady: usize, exotel: SocketAddr, hook: SocketAddr, dir: &std::path::Path) -> Config {
    let base_url = format!("http://{exotel}");
    let mut accounts = vec![Arc::new(account(
        "probe".into(),
        PROBE_SID.into(),
        &base_url,
        PROBE_INTERVAL,
    ))];
    accounts.extend((0..steady).map(|i| {
        Arc::new(account(
            format!("acct{i}"),
            format!("acct{i}"),
            &base_url,
            STEADY_INTERVAL,
        ))
    }));
    Config {
        path: dir.join("config.toml"),
        daemon: DaemonConfig {
            state_file: dir.join("state.db"),
            listen: None,
            log_format: LogFormat::Text,
            give_up_after: Duration::from_secs(3600),
            timezone: None,
            shutdown_grace: Duration::from_secs(2),
            summary_at: None,
            instance: None,
            shard: None,
            heartbeat: None,
            web: Default::default(),
        },
        accounts,
        channels: vec![Arc::new(ChannelConfig {
            name: "hook".into(),
            min_level: Level::Warning,
            events: None,
            kind: ChannelKind::Webhook(WebhookConfig {
                url: Secret::new(format!("http://{hook}/hook")),
                headers: Vec::new(),
            }),
            quiet_hours: Default::default(),
        })],
        warnings: Vec::new(),
        account_order: Vec::new(),
    }
    .with_index()
}

/// `VmRSS` and `VmHWM` in KiB.
fn rss() -> (u64, u64) {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let field = |name: &str| {
        status
            .lines()
            .find_map(|l| l.strip_prefix(name))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
            .unwrap_or(0)
    };
    (field("VmRSS:"), field("VmHWM:"))
}

fn report_rss(when: &str) {
    let (rss, hwm) = rss();
    println!(
        "RSS {when:<38} VmRSS {:>7.2} MiB   VmHWM {:>7.2} MiB",
        rss as f64 / 1024.0,
        hwm as f64 / 1024.0
    );
}

fn main() {
    let mut args = std::env::args().skip(1);
    let mut total = 1usize;
    let mut crossings = 9usize;
    let mut current_thread = false;
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--crossings" => {
                crossings = args
                    .next()
                    .and_then(|v| v.parse().ok())
                    .expect("--crossings K")
            }
            "--current-thread" => current_thread = true,
            n => total = n.parse().expect("usage: load [N accounts] [--crossings K]"),
        }
    }
    // The probe is one of the N accounts.
    let steady = total.saturating_sub(1);
    report_rss("at start");

    // The peers get their own thread and runtime, as if they were other processes.
    let peers = Arc::new(Peers {
        polled: (0..steady).map(|_| AtomicBool::new(false)).collect(),
        polled_count: AtomicUsize::new(0),
        all_polled: Notify::new(),
        armed: AtomicBool::new(false),
        probe_polls: AtomicUsize::new(0),
        served: Mutex::new(HashMap::new()),
        latencies: Mutex::new(Vec::new()),
        posted: Notify::new(),
    });
    let (addrs_tx, addrs_rx) = std::sync::mpsc::channel();
    {
        let peers = peers.clone();
        std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("peer runtime");
            rt.block_on(async move {
                let bind = || tokio::net::TcpListener::bind(SocketAddr::from(([127, 0, 0, 1], 0)));
                let exotel = bind().await.expect("bind exotel");
                let hook = bind().await.expect("bind hook");
                addrs_tx
                    .send((exotel.local_addr().unwrap(), hook.local_addr().unwrap()))
                    .unwrap();
                tokio::spawn(serve(exotel, peers.clone(), false));
                serve(hook, peers, true).await;
            });
        });
    }
    let (exotel, hook) = addrs_rx.recv().expect("peers started");
    report_rss("peers up, daemon not started");

    let dir = std::env::temp_dir().join(format!("balance-alert-load-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let config = config(steady, exotel, hook, &dir);
    let names: Vec<String> = config.accounts.iter().map(|a| a.name.clone()).collect();
    write_histories(&dir, &names);

    // The production runtime (src/cli.rs `runtime()`): two workers.
    let runtime = if current_thread {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
    } else {
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
    }
    .expect("runtime");
    let started = Instant::now();
    let latencies = runtime.block_on(async {
        let (ready_tx, ready_rx) = oneshot::channel();
        let (stop_tx, stop_rx) = oneshot::channel::<()>();
        let options = Options {
            on_ready: Some(ready_tx),
            ..Options::default()
        };
        let daemon = tokio::spawn(daemon::run(config, options, async move {
            let _ = stop_rx.await;
        }));
        let ready = ready_rx.await.expect("daemon started");
        println!(
            "daemon ready after {:.2} s with {total} accounts",
            started.elapsed().as_secs_f64()
        );

        // Settle: every steady account polled at least once (first polls spread over
        // up to 30 s), then a few seconds for the state writes that first polls cause.
        if steady > 0 {
            peers.all_polled.notified().await;
            println!(
                "all {steady} steady accounts polled after {:.1} s",
                started.elapsed().as_secs_f64()
            );
        }
        tokio::time::sleep(Duration::from_secs(5)).await;
        report_rss("settled (all polled)");

        peers.armed.store(true, Ordering::SeqCst);
        let deadline = Instant::now() + PROBE_INTERVAL * (crossings as u32 + 5) * 2;
        while peers.latencies.lock().unwrap().len() < crossings && Instant::now() < deadline {
            let _ = tokio::time::timeout(Duration::from_secs(1), peers.posted.notified()).await;
        }
        report_rss(&format!("after {crossings} crossings"));
        // Each crossing writes only its own rows (one account, one outbox row per
        // channel); the database's size says what start-up has to read.
        let db = ready.store.path().to_path_buf();
        let size = std::fs::metadata(&db).map(|m| m.len()).unwrap_or(0);
        println!(
            "state database is {:.2} MiB ({total} accounts)",
            size as f64 / (1024.0 * 1024.0)
        );
        let _ = stop_tx.send(());
        daemon.await.expect("daemon task").expect("daemon run");
        peers.latencies.lock().unwrap().clone()
    });
    let _ = std::fs::remove_dir_all(&dir);

    let mut ms: Vec<f64> = latencies.iter().map(|d| d.as_secs_f64() * 1e3).collect();
    ms.sort_by(|a, b| a.total_cmp(b));
    if ms.is_empty() {
        println!("no crossing reached the webhook: latency not measured");
        std::process::exit(1);
    }
    println!(
        "crossing → webhook POST latency over {} crossings: median {:.2} ms, max {:.2} ms, min {:.2} ms",
        ms.len(),
        ms[ms.len() / 2],
        ms[ms.len() - 1],
        ms[0]
    );
}
