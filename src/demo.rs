//! `balance-alert demo`: the real daemon, the real provider clients and the real
//! renderer against a simulated Exotel and a simulated Twilio on one loopback port. The
//! Exotel wallet drains (first steadily, so the runway estimate raises a runway warning,
//! SPEC §9), through critical, is topped up, loses its credentials for a moment, and
//! recovers; beside it a Twilio wallet (USD) drains and is topped up. A console channel
//! prints each notification exactly as the renderer makes it. Time is compressed: the
//! daemon runs on a clock where each 1.2 s poll is an hour, so spend per day and time to
//! empty are shown in hours and days. Needs no credentials and finishes well within 60 s.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use http_body_util::Full;
use hyper::body::Bytes;
use hyper::{Request, Response, StatusCode};
use rust_decimal::Decimal;
use tokio::sync::{Notify, oneshot};

use crate::cli::{Error, exit};
use crate::config::{DaemonConfig, LogFormat, Secret};
use crate::core::{Level, Threshold, Thresholds};
use crate::daemon::{self, Options};
use crate::notify::console::ConsoleConfig;
use crate::notify::{ChannelKind, render};
use crate::provider::AccountConfig;
use crate::provider::ProviderConfig;
use crate::provider::exotel::ExotelConfig;
use crate::provider::twilio::TwilioConfig;
use crate::settings::{ChannelConfig, Config};

const API_KEY: &str = "demo-key";
const API_TOKEN: &str = "demo-token";
const SID: &str = "acme-demo";
const TWILIO_SID: &str = "AC0demo0000000000000000000000000";
const TWILIO_TOKEN: &str = "demo-twilio-token";

/// What the simulated Twilio answers, one balance (USD) per request; the last repeats.
/// Warning below 50, critical below 10.
const TWILIO_SCRIPT: &[&str] = &["125.00", "42.50", "41.00", "7.25", "7.00", "80.00"];

/// What the simulated Exotel answers, one step per Balance request.
#[derive(Debug, Clone, Copy)]
enum Step {
    /// The documented response shape.
    Documented(&'static str),
    /// The short shape production also uses.
    Short(&'static str),
    /// 401 with a RestException: the credentials were revoked.
    Unauthorized,
}

/// A steady drain of 500 an hour (a runway warning once the estimate knows the rate),
/// the SPEC §3 worked example, a top-up that resolves it all, then a credential outage
/// and its recovery.
const SCRIPT: &[Step] = &[
    Step::Documented("12000.00"),
    Step::Documented("11500.00"),
    Step::Documented("11000.00"),
    Step::Documented("10500.00"),
    Step::Documented("10000.00"),
    Step::Documented("4000.00"),
    Step::Short("5500.00"),
    Step::Documented("800.00"),
    Step::Documented("1200.00"),
    Step::Short("1600.00"),
    Step::Documented("5800.00"),
    Step::Documented("90000.00"),
    Step::Unauthorized,
    Step::Documented("90000.00"),
];

/// Each real second is this many simulated ones: a 1.2 s poll is an hour.
const TIME_FACTOR: f64 = 3000.0;

/// The demo's compressed clock (see the module comment).
struct DemoClock {
    real_start: std::time::Instant,
    start: jiff::Timestamp,
}

impl crate::Clock for DemoClock {
    fn now(&self) -> jiff::Timestamp {
        let real = self.real_start.elapsed().as_secs_f64();
        let simulated = jiff::SignedDuration::try_from_secs_f64(real * TIME_FACTOR)
            .unwrap_or(jiff::SignedDuration::ZERO);
        self.start.saturating_add(simulated).unwrap_or(self.start)
    }
}

struct Simulator {
    step: AtomicUsize,
    twilio_step: AtomicUsize,
    finished: Notify,
    /// Dim the simulator's lines on a terminal; plain text when piped or NO_COLOR.
    color: bool,
}

impl Simulator {
    fn answer(&self, request: &Request<hyper::body::Incoming>) -> Response<Full<Bytes>> {
        let twilio = format!("/2010-04-01/Accounts/{TWILIO_SID}/Balance.json");
        if request.uri().path() == twilio && authorized(request, TWILIO_SID, TWILIO_TOKEN) {
            return self.answer_twilio();
        }
        let expected = format!("/v1/Accounts/{SID}/Balance.json");
        if request.uri().path() != expected || !authorized(request, API_KEY, API_TOKEN) {
            return json(
                StatusCode::NOT_FOUND,
                r#"{"RestException":{"Status":404,"Message":"Not found","Code":20404}}"#.into(),
            );
        }
        let i = self.step.fetch_add(1, Ordering::SeqCst);
        let step = SCRIPT
            .get(i)
            .copied()
            .unwrap_or(Step::Documented("90000.00"));
        if i + 1 >= SCRIPT.len() {
            self.finished.notify_one();
        }
        let (dim, reset) = if self.color {
            ("\x1b[2m", "\x1b[0m")
        } else {
            ("", "")
        };
        let say =
            |what: String| println!("{dim}[simulated Exotel] poll {:>2}: {what}{reset}", i + 1);
        match step {
            Step::Documented(amount) => {
                say(format!(
                    "balance {}",
                    render::format_amount(amount.parse().unwrap_or(Decimal::ZERO), "INR")
                ));
                json(
                    StatusCode::OK,
                    format!(
                        r#"{{"Account":{{"AccountSid":"{SID}","BalanceData":{{"Balance":"{amount}","Currency":"INR","PricingPlan":"Pay As You Go","DateUpdated":"2026-04-24 10:32:18"}}}}}}"#
                    ),
                )
            }
            Step::Short(amount) => {
                say(format!(
                    "balance {} (short response shape)",
                    render::format_amount(amount.parse().unwrap_or(Decimal::ZERO), "INR")
                ));
                json(
                    StatusCode::OK,
                    format!(r#"{{"Balance":{{"Amount":{amount}}}}}"#),
                )
            }
            Step::Unauthorized => {
                say("401 Authentication failed (someone rotated the API token)".into());
                json(
                    StatusCode::UNAUTHORIZED,
                    r#"{"RestException":{"Status":401,"Message":"Authentication failed","Code":20003}}"#.into(),
                )
            }
        }
    }
}

impl Simulator {
    /// Twilio's documented shape: `{"account_sid":..,"balance":"42.50","currency":"USD"}`.
    fn answer_twilio(&self) -> Response<Full<Bytes>> {
        let i = self.twilio_step.fetch_add(1, Ordering::SeqCst);
        let amount = TWILIO_SCRIPT[i.min(TWILIO_SCRIPT.len() - 1)];
        let (dim, reset) = if self.color {
            ("\x1b[2m", "\x1b[0m")
        } else {
            ("", "")
        };
        println!(
            "{dim}[simulated Twilio] poll {:>2}: balance {}{reset}",
            i + 1,
            render::format_amount(amount.parse().unwrap_or(Decimal::ZERO), "USD")
        );
        json(
            StatusCode::OK,
            format!(r#"{{"account_sid":"{TWILIO_SID}","balance":"{amount}","currency":"USD"}}"#),
        )
    }
}

fn authorized(request: &Request<hyper::body::Incoming>, user: &str, password: &str) -> bool {
    use base64::Engine as _;
    let expected = format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"))
    );
    request
        .headers()
        .get(hyper::header::AUTHORIZATION)
        .is_some_and(|v| v.as_bytes() == expected.as_bytes())
}

fn json(status: StatusCode, body: String) -> Response<Full<Bytes>> {
    Response::builder()
        .status(status)
        .header("content-type", "application/json")
        .body(Full::new(Bytes::from(body)))
        .expect("static response parts are valid")
}

async fn serve(listener: tokio::net::TcpListener, sim: Arc<Simulator>) {
    loop {
        let Ok((stream, _)) = listener.accept().await else {
            continue;
        };
        let sim = sim.clone();
        tokio::spawn(async move {
            let service = hyper::service::service_fn(move |req| {
                let sim = sim.clone();
                async move { Ok::<_, Infallible>(sim.answer(&req)) }
            });
            let _ = hyper::server::conn::http1::Builder::new()
                .serve_connection(hyper_util::rt::TokioIo::new(stream), service)
                .await;
        });
    }
}

fn demo_config(base_url: String, state_file: std::path::PathBuf) -> Config {
    let d = |s: &str| s.parse::<Decimal>().expect("literal decimal");
    let account = AccountConfig {
        labels: Default::default(),
        name: "primary".into(),
        provider: ProviderConfig::Exotel(ExotelConfig {
            sid: SID.into(),
            api_key: Secret::new(API_KEY),
            api_token: Secret::new(API_TOKEN),
            base_url,
            currency: Some("INR".into()),
        }),
        // Loopback: the 60 s rate floor becomes the poll interval.
        poll_interval: Duration::from_millis(1200),
        repeat_every: None,
        // In simulated time: 30 simulated days are 15 real minutes, past the demo's end.
        blind_after: Duration::from_secs(30 * 24 * 3600),
        timeout: Duration::from_secs(5),
        ca_file: None,
        notify: vec!["console".into()],
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
        // Simulated time: a 10 h window knows the rate after 2.5 h (three polls).
        runway: crate::core::RunwayPolicy {
            window: Duration::from_secs(10 * 3600),
            floor: Decimal::ZERO,
            warning: Some(crate::core::RunwayThreshold {
                below: 2 * 86_400,
                clear_above: 2 * 86_400 + 43_200,
            }),
            critical: None,
        },
        topup_min: Decimal::ONE,
        escalate: Vec::new(),
    };
    // Beside it, a Twilio wallet in USD, polled at the same pace.
    let twilio = AccountConfig {
        name: "us-voice".into(),
        provider: ProviderConfig::Twilio(TwilioConfig {
            account_sid: TWILIO_SID.into(),
            auth_token: Secret::new(TWILIO_TOKEN),
            base_url: account.provider.base_url().to_owned(),
            currency: Some("USD".into()),
        }),
        thresholds: Thresholds {
            warning: Some(Threshold {
                below: d("50"),
                clear_above: d("60"),
            }),
            critical: Some(Threshold {
                below: d("10"),
                clear_above: d("15"),
            }),
        },
        // Amount thresholds only: the runway warning is the Exotel wallet's to show.
        runway: crate::core::RunwayPolicy::default(),
        ..account.clone()
    };
    Config {
        path: "(built-in demo)".into(),
        daemon: DaemonConfig {
            state_file,
            listen: None,
            log_format: LogFormat::Text,
            // Simulated time (the console never refuses; this only must not expire).
            give_up_after: Duration::from_secs(365 * 24 * 3600),
            timezone: jiff::tz::TimeZone::get("Asia/Kolkata")
                .ok()
                .map(|tz| ("Asia/Kolkata".to_string(), tz)),
            shutdown_grace: Duration::from_secs(2),
            summary_at: None,
            instance: None,
            shard: None,
            heartbeat: None,
            web: Default::default(),
        },
        accounts: vec![Arc::new(account), Arc::new(twilio)],
        channels: vec![Arc::new(ChannelConfig {
            name: "console".into(),
            min_level: Level::Warning,
            events: None,
            kind: ChannelKind::Console(ConsoleConfig),
            quiet_hours: Default::default(),
        })],
        warnings: Vec::new(),
        account_order: Vec::new(),
    }
    .with_index()
}

/// Runs the demo; returns the exit status.
pub fn run() -> Result<u8, Error> {
    if std::env::var_os("RUST_LOG").is_none() {
        // SAFETY: single-threaded here, before the runtime and logging start.
        unsafe { std::env::set_var("RUST_LOG", "warn") };
    }
    crate::logging::init_default();
    let dir = std::env::temp_dir().join(format!("balance-alert-demo-{}", std::process::id()));
    std::fs::create_dir_all(&dir)
        .map_err(|e| anyhow::anyhow!("cannot create {}: {e}", dir.display()))?;
    let runtime = crate::cli::runtime()?;
    let result = runtime.block_on(demo(dir.join("state.json")));
    let _ = std::fs::remove_dir_all(&dir);
    result
}

async fn demo(state_file: std::path::PathBuf) -> Result<u8, Error> {
    let listener = tokio::net::TcpListener::bind(SocketAddr::from(([127, 0, 0, 1], 0)))
        .await
        .map_err(|e| anyhow::anyhow!("cannot bind a loopback port: {e}"))?;
    let addr = listener.local_addr().map_err(anyhow::Error::from)?;
    let sim = Arc::new(Simulator {
        step: AtomicUsize::new(0),
        twilio_step: AtomicUsize::new(0),
        finished: Notify::new(),
        color: std::io::IsTerminal::is_terminal(&std::io::stdout())
            && std::env::var_os("NO_COLOR").is_none(),
    });
    tokio::spawn(serve(listener, sim.clone()));

    println!(
        "balance-alert demo: the real daemon polls a simulated Exotel and a simulated Twilio at http://{addr}"
    );
    println!(
        "account `primary` (Exotel, INR): warning below 5,000 (clears above 6,000), critical below 1,000 (clears above 1,500)"
    );
    println!(
        "account `us-voice` (Twilio, USD): warning below 50 (clears above 60), critical below 10 (clears above 15)"
    );
    println!(
        "`primary` also warns when the money lasts under 2 days at the spend of the last 10 hours"
    );
    println!("time is compressed: each poll (1.2 s) is an hour on the daemon's clock");
    println!("notifications are printed by a console channel exactly as the renderer makes them\n");

    let config = demo_config(format!("http://{addr}"), state_file);
    let (ready_tx, ready_rx) = oneshot::channel();
    let options = Options {
        on_ready: Some(ready_tx),
        clock: Arc::new(DemoClock {
            real_start: std::time::Instant::now(),
            start: jiff::Timestamp::now(),
        }),
        ..Options::default()
    };
    let finished = async move {
        let Ok(ready) = ready_rx.await else { return };
        let done = async {
            sim.finished.notified().await;
            // Let the last notifications leave before stopping.
            loop {
                tokio::time::sleep(Duration::from_millis(100)).await;
                if ready.store.lock().outbox().is_empty() {
                    break;
                }
            }
        };
        if tokio::time::timeout(Duration::from_secs(55), done)
            .await
            .is_err()
        {
            eprintln!("demo: timed out waiting for the script to finish");
        }
    };
    daemon::run(config, options, finished)
        .await
        .map_err(|e| anyhow::anyhow!(e))?;
    println!(
        "\ndemo finished: the runway warned before the amount did, every crossing of both wallets alerted once,"
    );
    println!(
        "silent in between; the top-ups resolved them, the outage was reported and its recovery too."
    );
    Ok(exit::OK)
}
