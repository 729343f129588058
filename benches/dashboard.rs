//! The dashboard with 10,000 accounts against its budget (SPEC §15: ≤ 100 ms to render,
//! ≤ 2 MB), recorded in docs/performance.md. Run with `cargo bench --bench dashboard`.
//!
//! A plain `harness = false` binary like `benches/poll.rs`. Each row renders the page
//! (or the JSON) from a view model of 10,000 accounts with a full sample history,
//! thresholds, runway figures on every account (so every sparkline has its forecast
//! line: the worst case for size), 10 % of them non-ok and some with errors; the median
//! of 15 timed runs after a warm-up is compared with the budget.
//!
//! `status/build+render` is what a request costs in the daemon: turning the live state
//! (records, outbox, sample history) into the view model, then rendering it.

use std::hint::black_box;
use std::time::{Duration, Instant};

use balance_alert::core::Level;
use balance_alert::web::render;
use balance_alert::web::view::{
    self, AccountView, ChannelView, Delivery, DeliveryResult, OutboxView, Point, Source, Status,
};
use jiff::Timestamp;
use rust_decimal::Decimal;

const ACCOUNTS: usize = 10_000;
const BUDGET_MS: f64 = 100.0;
const BUDGET_BYTES: usize = 2_000_000;
/// Points per account: what the index draws of the daemon's bounded history.
const SAMPLES: usize = balance_alert::web::snapshot::SPARKLINE_POINTS;

fn accounts(now: Timestamp) -> Vec<AccountView> {
    (0..ACCOUNTS)
        .map(|i| {
            let level = match i % 20 {
                0 => Level::Critical,
                1 => Level::Warning,
                _ => Level::Ok,
            };
            let start = 50_000 + (i as i64 * 37) % 40_000;
            let history: Vec<Point> = (0..SAMPLES)
                .map(|s| Point {
                    at: now - jiff::SignedDuration::from_secs(((SAMPLES - s) * 300) as i64),
                    balance: Decimal::new((start - s as i64 * 130) * 100 + 75, 2),
                })
                .collect();
            let balance = history.last().map(|p| p.balance);
            AccountView {
                name: format!("tenant-{i:05}-prod"),
                provider: if i % 3 == 0 { "twilio" } else { "exotel" }.into(),
                sid: format!("acme{i:05}"),
                balance,
                currency: "INR".into(),
                level,
                monitor_failing: i % 97 == 0,
                warning_below: Some(Decimal::from(5000)),
                critical_below: Some(Decimal::from(1000)),
                burn_per_day: Some(Decimal::new(185_050, 2)),
                runway_seconds: Some(226_800 + i as u64),
                depletes_at: Some(now + jiff::SignedDuration::from_secs(226_800 + i as i64)),
                floor: Decimal::ZERO,
                last_success_at: Some(now - jiff::SignedDuration::from_secs(120)),
                last_error: (i % 97 == 0).then(|| {
                    "HTTP 503 from https://api.exotel.com: Service Unavailable (code 503)".into()
                }),
                snooze: None,
                history,
                pending: 0,
            }
        })
        .collect()
}

fn status() -> Status {
    let now: Timestamp = "2026-12-03T04:00:00Z".parse().unwrap();
    let mut accounts = accounts(now);
    view::sort_accounts(&mut accounts);
    Status {
        version: env!("CARGO_PKG_VERSION").into(),
        instance: None,
        generated_at: now,
        source: Source::Daemon,
        refresh_seconds: 300,
        accounts,
        outbox: OutboxView::default(),
        channels: (0..5)
            .map(|i| ChannelView {
                name: format!("channel-{i}"),
                kind: "slack".into(),
                pending: 0,
                last_delivery: Some(Delivery {
                    at: now,
                    result: DeliveryResult::Delivered,
                    event: "alert".into(),
                    account: "tenant-00000-prod".into(),
                    error: None,
                }),
            })
            .collect(),
    }
}

/// The daemon's side: a config of 10,000 accounts, their persisted records (last
/// observation, level) and runway histories, as the live backend holds them.
fn daemon_inputs(
    now: Timestamp,
) -> (
    balance_alert::settings::Config,
    balance_alert::state::StateFile,
    std::collections::BTreeMap<String, Box<balance_alert::core::History>>,
) {
    use balance_alert::core::runway::DEFAULT_WINDOW;
    use balance_alert::core::{AccountState, History, Observation};
    use balance_alert::state::{AccountRecord, StateFile};
    let views = accounts(now);
    let mut toml = String::new();
    for a in &views {
        toml.push_str(&format!(
            "[[account]]\nname = \"{}\"\nsid = \"{}\"\napi_key = \"k\"\napi_token = \"t\"\nbase_url = \"http://127.0.0.1:9\"\nwarning = {{ below = 5000 }}\ncritical = {{ below = 1000 }}\n",
            a.name, a.sid
        ));
    }
    let env = balance_alert::config::MapEnv::default();
    let config = balance_alert::settings::parse(&toml, std::path::Path::new("bench.toml"), &env)
        .expect("the generated config is valid");
    let mut state = StateFile::default();
    let mut samples = std::collections::BTreeMap::new();
    for a in views {
        let record = AccountRecord {
            eval: AccountState {
                level: a.level,
                last: a.balance.map(|balance| Observation {
                    balance,
                    currency: "INR".into(),
                    pricing_plan: None,
                    date_updated: None,
                    observed_at: now,
                }),
                last_error: a.last_error.clone(),
                monitor_failing: a.monitor_failing,
                ..AccountState::default()
            },
            ..AccountRecord::default()
        };
        state.accounts.insert(a.name.clone(), record);
        if let Some((first, rest)) = a.history.split_first() {
            let mut h = History::new(DEFAULT_WINDOW, first.at, first.balance);
            for p in rest {
                h.push(DEFAULT_WINDOW, p.at, p.balance);
            }
            samples.insert(a.name.clone(), Box::new(h));
        }
    }
    (config, state, samples)
}

/// Median of 15 timed runs after 3 warm-up runs, and the output size.
fn measure(mut f: impl FnMut() -> usize) -> (Duration, usize) {
    let mut size = 0;
    for _ in 0..3 {
        size = black_box(f());
    }
    let mut times: Vec<Duration> = (0..15)
        .map(|_| {
            let t = Instant::now();
            size = black_box(f());
            t.elapsed()
        })
        .collect();
    times.sort();
    (times[times.len() / 2], size)
}

fn report(name: &str, (time, size): (Duration, usize), budgeted: bool) -> bool {
    let ms = time.as_secs_f64() * 1000.0;
    let within = ms <= BUDGET_MS && size <= BUDGET_BYTES;
    println!(
        "{name:<28} {ms:>8.2} ms  {:>9} bytes ({:.2} MB){}",
        size,
        size as f64 / 1e6,
        if !budgeted {
            ""
        } else if within {
            "  within budget (100 ms, 2 MB)"
        } else {
            "  OVER BUDGET (100 ms, 2 MB)"
        }
    );
    !budgeted || within
}

fn main() {
    let filter = std::env::args().skip(1).find(|a| !a.starts_with('-'));
    let run = |name: &str| filter.as_deref().is_none_or(|f| name.contains(f));
    let status = status();
    let tz = jiff::tz::TimeZone::UTC;
    let mut ok = true;
    println!("{ACCOUNTS} accounts, {SAMPLES} samples each");
    if run("index/render") {
        ok &= report(
            "index/render",
            measure(|| render::index(&status, "", ACCOUNTS, &tz).len()),
            true,
        );
    }
    if run("index/search") {
        ok &= report(
            "index/search (1 match)",
            measure(|| {
                let mut s = status.clone();
                view::filter_accounts(&mut s.accounts, "tenant-04242");
                render::index(&s, "tenant-04242", ACCOUNTS, &tz).len()
            }),
            true,
        );
    }
    if run("status/build+render") {
        // What one `GET /` costs in the daemon: the view model from the live state,
        // then the page (runway figures are not known yet here, so no forecast lines).
        let now: Timestamp = "2026-12-03T04:00:00Z".parse().unwrap();
        let (config, state, samples) = daemon_inputs(now);
        let live_state = balance_alert::state::State::from(state);
        ok &= report(
            "status/build+render",
            measure(|| {
                let status =
                    balance_alert::web::snapshot::status(&balance_alert::web::snapshot::Inputs {
                        config: &config,
                        state: &live_state,
                        histories: &samples,
                        activity: None,
                        now,
                        source: Source::Daemon,
                    });
                render::index(&status, "", ACCOUNTS, &tz).len()
            }),
            true,
        );
    }
    if run("api/status") {
        report(
            "api/status (JSON)",
            measure(|| balance_alert::web::api::status(&status).len()),
            false,
        );
    }
    if !ok {
        std::process::exit(1);
    }
}
