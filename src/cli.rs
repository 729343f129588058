//! The commands of SPEC §7 and their exit codes. `main.rs` only parses arguments and
//! calls these; each returns the process status (or a typed [`Error`] that maps to one).

use std::path::{Path, PathBuf};
use std::time::Duration;

use futures_util::StreamExt;
use rust_decimal::Decimal;
use signal_hook::consts::{SIGHUP, SIGINT, SIGTERM};
use tokio::sync::{mpsc, oneshot};
use tracing::info;

use crate::config::ConfigError;
use crate::core::{Event, EventKind};
use crate::core::{Level, Thresholds};
use crate::daemon::{self, Options, RunError};
use crate::notify::{Channel, Notifier, RenderCtx, render};
use crate::provider::AccountConfig;
use crate::provider::Client;
use crate::settings as config;
use crate::state::prefetch::Prefetch;
use crate::{Clock, SystemClock, logging, web};

/// Exit statuses.
pub mod exit {
    pub const OK: u8 = 0;
    pub const FAILURE: u8 = 1;
    /// A command-line usage error (clap's convention).
    pub const USAGE: u8 = 2;
    /// `EX_CONFIG` from sysexits.h; systemd's `RestartPreventExitStatus=78`.
    pub const CONFIG: u8 = 78;
    pub const NAGIOS_OK: u8 = 0;
    pub const NAGIOS_WARNING: u8 = 1;
    pub const NAGIOS_CRITICAL: u8 = 2;
    pub const NAGIOS_UNKNOWN: u8 = 3;
}

/// Where the config is read from when `-c` is not given.
pub const DEFAULT_CONFIG: &str = "/etc/balance-alert/config.toml";

/// A failure that ends a command; its exit status is [`Error::exit_code`].
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error(transparent)]
    Config(#[from] ConfigError),
    #[error(transparent)]
    Fatal(#[from] anyhow::Error),
}

impl Error {
    pub fn exit_code(&self) -> u8 {
        match self {
            Error::Config(_) => exit::CONFIG,
            Error::Fatal(_) => exit::FAILURE,
        }
    }
}

pub(crate) fn runtime() -> Result<tokio::runtime::Runtime, Error> {
    // Two workers: one stuck task cannot stop /healthz and the watchdog from noticing.
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .map_err(|e| Error::Fatal(anyhow::anyhow!("cannot start the async runtime: {e}")))
}

/// `run`: the daemon until SIGTERM/SIGINT; SIGHUP reloads.
pub fn run(path: &Path) -> Result<u8, Error> {
    crate::daemon::limit_malloc_arenas();
    runtime()?.block_on(async move {
        // Handlers first: a SIGHUP (say, `systemctl reload` racing the start) must never
        // hit the default action and kill the process while the config loads. Signals
        // that arrive before the daemon runs are queued in the stream.
        let mut signals = signal_hook_tokio::Signals::new([SIGTERM, SIGINT, SIGHUP])
            .map_err(|e| anyhow::anyhow!("cannot install signal handlers: {e}"))?;
        // The state database is read on another core while the config is validated:
        // with 10,000 accounts and a large backlog, one after the other was over
        // SPEC §15's second to READY.
        let text = crate::config::read_text(path)?;
        let prefetch = Prefetch::start(&text);
        let config = config::load_text(path, &text)?;
        drop(text);
        crate::daemon::release_freed_memory();
        logging::init(config.daemon.log_format);
        let handle = signals.handle();
        let (reload_tx, reload_rx) = mpsc::unbounded_channel();
        let (stop_tx, stop_rx) = oneshot::channel::<()>();
        tokio::spawn(async move {
            let mut stop_tx = Some(stop_tx);
            while let Some(signal) = signals.next().await {
                if signal == SIGHUP {
                    info!("SIGHUP: reloading the config");
                    let _ = reload_tx.send(());
                } else if let Some(tx) = stop_tx.take() {
                    info!(
                        signal = if signal == SIGTERM {
                            "SIGTERM"
                        } else {
                            "SIGINT"
                        },
                        "stopping"
                    );
                    let _ = tx.send(());
                }
            }
        });
        let options = Options {
            reload: Some(reload_rx),
            prefetch,
            ..Options::default()
        };
        let result = daemon::run(config, options, async move {
            let _ = stop_rx.await;
        })
        .await;
        handle.close();
        match result {
            Ok(()) => Ok(exit::OK),
            Err(RunError::Config(message)) => Err(Error::Config(ConfigError {
                file: path.to_path_buf(),
                line: None,
                column: None,
                key: None,
                message,
            })),
            // A database of a newer version is a deployment mistake like a bad config:
            // exit 78 so systemd does not restart into the same refusal (SPEC §17).
            Err(RunError::State(e @ crate::state::StateError::NewerVersion { .. })) => {
                Err(Error::Config(ConfigError {
                    file: path.to_path_buf(),
                    line: None,
                    column: None,
                    key: Some("daemon.state_file".into()),
                    message: e.to_string(),
                }))
            }
            Err(e) => Err(Error::Fatal(e.into())),
        }
    })
}

/// `validate`: load, check, print a one-line summary.
pub fn validate(path: &Path) -> Result<u8, Error> {
    let config = config::load(path)?;
    for warning in &config.warnings {
        eprintln!("warning: {warning}");
    }
    println!("{}", config.summary());
    Ok(exit::OK)
}

/// The level a balance is at against each `below`, with no latch (for `check`).
pub fn level_without_latch(balance: Decimal, thresholds: &Thresholds) -> Level {
    let below = |t: Option<crate::core::Threshold>| t.is_some_and(|t| balance < t.below);
    if below(thresholds.critical) {
        Level::Critical
    } else if below(thresholds.warning) {
        Level::Warning
    } else {
        Level::Ok
    }
}

/// One account's result in `check`.
#[derive(Debug)]
enum Checked {
    Level(Level, Decimal, String),
    Unknown(String),
}

impl Checked {
    /// Order for "worst status first": critical, warning, unknown, ok.
    fn rank(&self) -> u8 {
        match self {
            Checked::Level(Level::Critical, ..) => 0,
            Checked::Level(Level::Warning, ..) => 1,
            Checked::Unknown(_) => 2,
            Checked::Level(Level::Ok, ..) => 3,
        }
    }
}

/// `check`: one request per account, one Nagios line (or, with `json`, one JSON object),
/// the Nagios exit status. `timeout` bounds the whole command (SPEC §9.7): an account
/// that has not answered by then is unknown.
pub fn check(path: &Path, only: Option<&str>, json: bool, timeout: Duration) -> u8 {
    let say_unknown = |message: String| {
        if json {
            println!(
                "{}",
                serde_json::json!({"status": "UNKNOWN", "exit": exit::NAGIOS_UNKNOWN, "error": message, "accounts": []})
            );
        } else {
            println!("BALANCE UNKNOWN - {message}");
        }
        exit::NAGIOS_UNKNOWN
    };
    let config = match config::load(path) {
        Ok(c) => c,
        Err(e) => return say_unknown(format!("config error: {e}")),
    };
    let accounts: Vec<std::sync::Arc<AccountConfig>> = match only {
        Some(name) => match config.account(name) {
            Some(a) => vec![a.clone()],
            None => {
                return say_unknown(format!("no account named `{name}` in {}", path.display()));
            }
        },
        None => config.accounts.clone(),
    };
    let rt = match runtime() {
        Ok(rt) => rt,
        Err(e) => return say_unknown(e.to_string()),
    };
    let results: Vec<(std::sync::Arc<AccountConfig>, Checked)> = rt.block_on(async {
        let mut set = tokio::task::JoinSet::new();
        for (i, account) in accounts.iter().enumerate() {
            let account = account.clone();
            set.spawn(async move {
                let checked = match Client::new(&account) {
                    Err(e) => Checked::Unknown(e),
                    Ok(client) => match client.fetch_balance().await {
                        Ok(b) => Checked::Level(
                            level_without_latch(b.amount, &account.thresholds),
                            b.amount,
                            b.currency,
                        ),
                        Err(e) => Checked::Unknown(e.to_string()),
                    },
                };
                (i, account, checked)
            });
        }
        let mut out = Vec::new();
        let deadline = tokio::time::Instant::now() + timeout;
        while let Ok(Some(joined)) = tokio::time::timeout_at(deadline, set.join_next()).await {
            if let Ok(r) = joined {
                out.push(r);
            }
        }
        set.abort_all();
        // Whoever has not answered by the deadline is unknown, saying so.
        for (i, account) in accounts.iter().enumerate() {
            if !out.iter().any(|(j, ..)| *j == i) {
                let why = format!("no answer within {}", humantime::format_duration(timeout));
                out.push((i, account.clone(), Checked::Unknown(why)));
            }
        }
        out.sort_by_key(|(i, ..)| *i);
        out.into_iter().map(|(_, a, c)| (a, c)).collect()
    });
    let (line, code) = nagios_line(&results);
    if json {
        println!("{}", check_json(&results, code));
    } else {
        println!("{line}");
    }
    code
}

/// `check --format json`: the same verdict as the Nagios line, one object per account in
/// config order: `{"status": "WARNING", "exit": 1, "accounts": [{"account", "status",
/// "provider", "balance", "currency", "threshold", "error"}]}`.
fn check_json(results: &[(std::sync::Arc<AccountConfig>, Checked)], code: u8) -> serde_json::Value {
    let status = match code {
        exit::NAGIOS_CRITICAL => "CRITICAL",
        exit::NAGIOS_WARNING => "WARNING",
        exit::NAGIOS_OK => "OK",
        _ => "UNKNOWN",
    };
    let accounts: Vec<serde_json::Value> = results
        .iter()
        .map(|(account, checked)| match checked {
            Checked::Level(level, amount, currency) => serde_json::json!({
                "account": account.name,
                "provider": account.provider_name(),
                "status": level.as_str(),
                "balance": amount.to_string(),
                "currency": currency,
                "threshold": account.thresholds.for_level(*level).map(|t| t.below.to_string()),
                "error": null,
            }),
            Checked::Unknown(error) => serde_json::json!({
                "account": account.name,
                "provider": account.provider_name(),
                "status": "unknown",
                "balance": null,
                "currency": null,
                "threshold": null,
                "error": error,
            }),
        })
        .collect();
    serde_json::json!({"status": status, "exit": code, "accounts": accounts})
}

/// `provider/name`, e.g. `twilio/us-wallet`: which wallet a line or a perfdata label
/// is about, at a glance (SPEC §10).
fn qualified_name(account: &AccountConfig) -> String {
    format!("{}/{}", account.provider_name(), account.name)
}

fn nagios_line(results: &[(std::sync::Arc<AccountConfig>, Checked)]) -> (String, u8) {
    let mut ordered: Vec<&(std::sync::Arc<AccountConfig>, Checked)> = results.iter().collect();
    ordered.sort_by_key(|(_, c)| c.rank());
    let (word, code) = match ordered.first().map(|(_, c)| c.rank()) {
        Some(0) => ("CRITICAL", exit::NAGIOS_CRITICAL),
        Some(1) => ("WARNING", exit::NAGIOS_WARNING),
        Some(2) | None => ("UNKNOWN", exit::NAGIOS_UNKNOWN),
        _ => ("OK", exit::NAGIOS_OK),
    };
    let text: Vec<String> = ordered
        .iter()
        .map(|(account, checked)| match checked {
            Checked::Level(level, amount, currency) => {
                let limit = match level {
                    Level::Critical => account.thresholds.critical,
                    Level::Warning => account.thresholds.warning,
                    Level::Ok => None,
                };
                match limit {
                    Some(t) => format!(
                        "{} {} ({level}: below {})",
                        qualified_name(account),
                        render::format_amount(*amount, currency),
                        render::format_amount(t.below, currency)
                    ),
                    None => format!(
                        "{} {} (ok)",
                        qualified_name(account),
                        render::format_amount(*amount, currency)
                    ),
                }
            }
            Checked::Unknown(error) => {
                format!("{} unknown: {error}", qualified_name(account))
            }
        })
        .collect();
    let perf: Vec<String> = ordered
        .iter()
        .map(|(account, checked)| {
            // Nagios ranges: `5000:` alerts when the value is below 5000.
            let range = |t: Option<crate::core::Threshold>| {
                t.map(|t| format!("{}:", t.below)).unwrap_or_default()
            };
            let value = match checked {
                Checked::Level(_, amount, _) => amount.to_string(),
                Checked::Unknown(_) => "U".to_string(),
            };
            format!(
                "'{}'={};{};{}",
                qualified_name(account).replace('\'', "''"),
                value,
                range(account.thresholds.warning),
                range(account.thresholds.critical)
            )
        })
        .collect();
    (
        format!(
            "BALANCE {word} - {} | {}",
            text.join(", ").replace('|', "/"),
            perf.join(" ")
        ),
        code,
    )
}

/// `test-notify`: a `test` event through each channel (or one), with each result.
pub fn test_notify(path: &Path, only: Option<&str>) -> Result<u8, Error> {
    let config = config::load(path)?;
    logging::init(config.daemon.log_format);
    let channels: Vec<_> = match only {
        Some(name) => match config.channel(name) {
            Some(c) => vec![c.clone()],
            None => {
                eprintln!("no channel named `{name}` in {}", path.display());
                return Ok(exit::FAILURE);
            }
        },
        None => config.channels.clone(),
    };
    if channels.is_empty() {
        eprintln!("{} configures no channel", path.display());
        return Ok(exit::FAILURE);
    }
    let ctx = RenderCtx {
        timezone: config.daemon.timezone.clone(),
        instance: config.daemon.instance.clone(),
    };
    let account = config.accounts.first();
    let event = Event {
        id: crate::core::new_event_id(),
        event: EventKind::Test,
        account: account.map(|a| a.name.clone()).unwrap_or_default(),
        provider: account
            .map(|a| a.provider_name().to_owned())
            .unwrap_or_else(|| "exotel".into()),
        sid: account.map(|a| a.sid().to_owned()).unwrap_or_default(),
        level: Level::Ok,
        previous_level: None,
        balance: None,
        currency: account
            .map(|a| a.fallback_currency().to_string())
            .unwrap_or_else(|| "INR".into()),
        threshold: None,
        pricing_plan: None,
        date_updated: None,
        observed_at: SystemClock.now(),
        error: None,
        ..Default::default()
    };
    let all_ok = runtime()?.block_on(async {
        let mut all_ok = true;
        for c in &channels {
            let result = match Channel::new(&c.kind) {
                Ok(channel) => channel.send(&event, &ctx).await.map_err(|e| e.to_string()),
                Err(e) => Err(e),
            };
            match result {
                Ok(()) => println!("{} ({}): delivered", c.name, c.kind.type_name()),
                Err(e) => {
                    all_ok = false;
                    println!("{} ({}): FAILED: {e}", c.name, c.kind.type_name());
                }
            }
        }
        all_ok
    });
    Ok(if all_ok { exit::OK } else { exit::FAILURE })
}

/// `health`: asks the running daemon's `/healthz` (over TLS when `[daemon] web` has a
/// certificate; `/healthz` needs no login).
pub fn health(path: &Path) -> u8 {
    let config = match config::load(path) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("balance-alert: {e}");
            return exit::FAILURE;
        }
    };
    let rt = match runtime() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("balance-alert: {e}");
            return exit::FAILURE;
        }
    };
    match rt.block_on(web::commands::probe_health(&config, Duration::from_secs(5))) {
        Ok(()) => {
            println!("alive");
            exit::OK
        }
        Err(e) => {
            eprintln!("not healthy: {e}");
            exit::FAILURE
        }
    }
}

/// `status`: the daemon's view of every account (or the state file's, when the daemon
/// is down); 1 when neither can be read.
pub fn status(path: &Path, format: web::commands::Format) -> Result<u8, Error> {
    let config = config::load(path)?;
    let outcome = runtime()?.block_on(web::commands::status(&config, format));
    Ok(print_outcome(outcome))
}

/// `snooze ACCOUNT [--for D] [--until-change]` through the daemon's API.
pub fn snooze(
    path: &Path,
    account: &str,
    duration: Option<&str>,
    until_change: bool,
) -> Result<u8, Error> {
    let config = config::load(path)?;
    let outcome = runtime()?.block_on(web::commands::snooze(
        &config,
        account,
        duration,
        until_change,
    ));
    Ok(print_outcome(outcome.map(|line| line + "\n")))
}

/// `unsnooze ACCOUNT` through the daemon's API.
pub fn unsnooze(path: &Path, account: &str) -> Result<u8, Error> {
    let config = config::load(path)?;
    let outcome = runtime()?.block_on(web::commands::unsnooze(&config, account));
    Ok(print_outcome(outcome.map(|line| line + "\n")))
}

fn print_outcome(outcome: Result<String, String>) -> u8 {
    match outcome {
        Ok(text) => {
            print!("{text}");
            exit::OK
        }
        Err(e) => {
            eprintln!("balance-alert: {e}");
            exit::FAILURE
        }
    }
}

/// `-c`, else `$BALANCE_ALERT_CONFIG`, else [`DEFAULT_CONFIG`].
pub fn config_path(flag: Option<PathBuf>) -> PathBuf {
    flag.or_else(|| std::env::var_os("BALANCE_ALERT_CONFIG").map(PathBuf::from))
        .unwrap_or_else(|| PathBuf::from(DEFAULT_CONFIG))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::Threshold;

    fn d(s: &str) -> Decimal {
        s.parse().unwrap()
    }

    #[test]
    fn check_compares_with_below_only() {
        let t = Thresholds {
            warning: Some(Threshold {
                below: d("5000"),
                clear_above: d("6000"),
            }),
            critical: Some(Threshold {
                below: d("1000"),
                clear_above: d("1500"),
            }),
        };
        assert_eq!(level_without_latch(d("5500"), &t), Level::Ok);
        assert_eq!(level_without_latch(d("5000"), &t), Level::Ok);
        assert_eq!(level_without_latch(d("4999.99"), &t), Level::Warning);
        assert_eq!(level_without_latch(d("1000"), &t), Level::Warning);
        assert_eq!(level_without_latch(d("999"), &t), Level::Critical);
        assert_eq!(
            level_without_latch(d("-5"), &Thresholds::default()),
            Level::Ok
        );
    }
}
