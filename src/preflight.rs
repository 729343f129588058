//! `balance-alert preflight` (SPEC §9.7): "is there enough credit for this campaign?".
//!
//! It asks the running daemon first (`GET /api/v1/status` on `[daemon] listen`, with the
//! web client's TLS and basic auth) and uses its last balance when younger than `--max-age`;
//! otherwise it makes one request of its own (no retry, like `check`, so a script that runs
//! it once a minute stays within the 60 s rate floor) and takes the burn rate from the
//! daemon's saved history, read-only. The decision itself ([`decide`]) is pure.
//!
//! Exit: 0 enough, 1 not enough, 3 unknown (no balance, no burn rate when `--runway`
//! asks for one, a bad config).

use std::path::Path;
use std::time::Duration;

use jiff::Timestamp;
use rust_decimal::Decimal;
use serde::Deserialize;

use crate::core::runway::{self, Runway};
use crate::notify::forecast::{duration_words, money};
use crate::notify::render::format_amount;
use crate::provider::AccountConfig;
use crate::provider::Client;
use crate::settings as config;

pub const ENOUGH: u8 = 0;
pub const NOT_ENOUGH: u8 = 1;
pub const UNKNOWN: u8 = 3;

/// What the command line asked.
#[derive(Debug, Clone)]
pub struct Request {
    pub account: String,
    pub need: Decimal,
    pub runway: Option<Duration>,
    pub max_age: Duration,
    pub json: bool,
}

/// The balance preflight judges, wherever it came from.
#[derive(Debug, Clone, PartialEq)]
pub struct Reading {
    pub balance: Decimal,
    pub currency: String,
    pub burn_per_day: Option<Decimal>,
    pub observed_at: Timestamp,
    /// `daemon` or `request`.
    pub source: &'static str,
}

/// The verdict.
#[derive(Debug, Clone, PartialEq)]
pub struct Verdict {
    pub code: u8,
    pub left: Decimal,
    /// Runway after spending `need`, when the burn rate is known.
    pub runway_after: Runway,
    pub reason: Option<String>,
}

/// Pure decision (SPEC §9.7): enough when `balance − need ≥ floor` and, with
/// `--runway`, the runway after spending `need` is at least that; unknown when the
/// runway is asked for and no burn rate is known.
pub fn decide(reading: &Reading, need: Decimal, floor: Decimal, want: Option<Duration>) -> Verdict {
    let left = reading.balance - need;
    let runway_after = match reading.burn_per_day {
        Some(burn) => runway::runway(left, floor, runway::per_second(burn)),
        None => Runway::Unknown,
    };
    if left < floor {
        return Verdict {
            code: NOT_ENOUGH,
            left,
            runway_after,
            reason: Some(format!(
                "{} short",
                format_amount(floor - left, &reading.currency)
            )),
        };
    }
    let Some(want) = want else {
        return Verdict {
            code: ENOUGH,
            left,
            runway_after,
            reason: None,
        };
    };
    let (code, reason) = match runway_after {
        Runway::Unknown => (UNKNOWN, Some("burn rate not yet known".to_string())),
        Runway::Infinite => (ENOUGH, None),
        Runway::Seconds(s) if s >= want.as_secs() => (ENOUGH, None),
        Runway::Seconds(s) => (
            NOT_ENOUGH,
            Some(format!(
                "lasts about {}, under the {} asked for",
                duration_words(s),
                duration_words(want.as_secs())
            )),
        ),
    };
    Verdict {
        code,
        left,
        runway_after,
        reason,
    }
}

/// The one line: `primary: 31,200.50 INR available, 25,000.00 needed: OK (6,200.50
/// left, about 3 days at ₹1,850/day)`.
pub fn line(account: &str, reading: &Reading, need: Decimal, v: &Verdict) -> String {
    let word = match v.code {
        ENOUGH => "OK",
        NOT_ENOUGH => "NOT ENOUGH",
        _ => "UNKNOWN",
    };
    let mut detail = format!("{} left", crate::notify::render::group_digits(v.left));
    if let (Some(burn), Runway::Seconds(s)) = (reading.burn_per_day, v.runway_after) {
        detail.push_str(&format!(
            ", about {} at {}/day",
            duration_words(s),
            money(burn, &reading.currency)
        ));
    }
    if let Some(reason) = &v.reason {
        detail.push_str(&format!("; {reason}"));
    }
    format!(
        "{account}: {} available, {} needed: {word} ({detail})",
        format_amount(reading.balance, &reading.currency),
        crate::notify::render::group_digits(need)
    )
}

/// The daemon's `/api/v1/status`, as far as preflight reads it (the documented shape,
/// `web::view::Status`, of which only these fields matter here).
#[derive(Debug, Deserialize)]
struct Status {
    accounts: Vec<StatusAccount>,
}

#[derive(Debug, Deserialize)]
struct StatusAccount {
    name: String,
    #[serde(default, with = "rust_decimal::serde::str_option")]
    balance: Option<Decimal>,
    #[serde(default)]
    currency: String,
    #[serde(default)]
    last_success_at: Option<Timestamp>,
    #[serde(default, with = "rust_decimal::serde::str_option")]
    burn_per_day: Option<Decimal>,
}

/// The daemon's reading of `account` from its status API (with the web client's TLS
/// and basic auth, SPEC §13), if it answers and has one.
async fn ask_daemon(config: &config::Config, account: &str) -> Result<Option<Reading>, String> {
    let status: Status = crate::web::commands::fetch_live_status(config).await?;
    let Some(a) = status.accounts.into_iter().find(|a| a.name == account) else {
        return Ok(None);
    };
    let (Some(balance), Some(observed_at)) = (a.balance, a.last_success_at) else {
        return Ok(None);
    };
    Ok(Some(Reading {
        balance,
        currency: a.currency,
        burn_per_day: a.burn_per_day,
        observed_at,
        source: "daemon",
    }))
}

/// One request of its own; the burn rate from the saved history, when there is one.
async fn ask_provider(account: &AccountConfig, state_file: &Path) -> Result<Reading, String> {
    let client = Client::new(account)?;
    let b = client.fetch_balance().await.map_err(|e| e.to_string())?;
    let now = Timestamp::now();
    // Read-only: preflight must never write (or lock) the daemon's database.
    let history = crate::state::read_histories(state_file)
        .ok()
        .and_then(|mut all| all.remove(&account.name));
    let burn = history.and_then(|mut h| {
        h.push(account.runway.window, now, b.amount);
        h.estimate(account.runway.window, b.amount, account.runway.floor)
            .burn_per_day
    });
    Ok(Reading {
        balance: b.amount,
        currency: b.currency,
        burn_per_day: burn,
        observed_at: now,
        source: "request",
    })
}

/// `preflight`: prints one line (or a JSON object) and returns the exit status.
pub fn run(path: &Path, req: &Request) -> u8 {
    let unknown = |message: String| {
        if req.json {
            println!(
                "{}",
                serde_json::json!({"account": req.account, "result": "unknown", "error": message})
            );
        } else {
            println!("{}: UNKNOWN ({message})", req.account);
        }
        UNKNOWN
    };
    let config = match config::load(path) {
        Ok(c) => c,
        Err(e) => return unknown(format!("config error: {e}")),
    };
    let Some(account) = config.account(&req.account).cloned() else {
        return unknown(format!(
            "no account named `{}` in {}",
            req.account,
            path.display()
        ));
    };
    let rt = match crate::cli::runtime() {
        Ok(rt) => rt,
        Err(e) => return unknown(e.to_string()),
    };
    let state_file = config.daemon.state_file.clone();
    let reading = rt.block_on(async {
        if config.daemon.listen.is_some() {
            match ask_daemon(&config, &account.name).await {
                Ok(Some(r)) => {
                    let age = Timestamp::now().duration_since(r.observed_at);
                    if Duration::try_from(age).is_ok_and(|a| a <= req.max_age) {
                        return Ok(r);
                    }
                    tracing::debug!("the daemon's balance is older than --max-age");
                }
                Ok(None) => {}
                Err(e) => tracing::debug!(error = %e, "daemon not asked"),
            }
        }
        ask_provider(&account, &state_file).await
    });
    let reading = match reading {
        Ok(r) => r,
        Err(e) => return unknown(e),
    };
    let verdict = decide(&reading, req.need, account.runway.floor, req.runway);
    if req.json {
        let body = serde_json::json!({
            "account": account.name,
            "result": match verdict.code { ENOUGH => "ok", NOT_ENOUGH => "not_enough", _ => "unknown" },
            "balance": reading.balance.to_string(),
            "currency": reading.currency,
            "need": req.need.to_string(),
            "left": verdict.left.to_string(),
            "floor": account.runway.floor.to_string(),
            "burn_per_day": reading.burn_per_day.map(|b| b.to_string()),
            "runway_after_seconds": verdict.runway_after.seconds(),
            "observed_at": reading.observed_at,
            "source": reading.source,
            "reason": verdict.reason,
        });
        println!("{body}");
    } else {
        println!("{}", line(&account.name, &reading, req.need, &verdict));
    }
    verdict.code
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(s: &str) -> Decimal {
        s.parse().unwrap()
    }

    fn reading(balance: &str, burn: Option<&str>) -> Reading {
        Reading {
            balance: d(balance),
            currency: "INR".into(),
            burn_per_day: burn.map(d),
            observed_at: Timestamp::UNIX_EPOCH,
            source: "daemon",
        }
    }

    #[test]
    fn the_spec_line() {
        let r = reading("31200.50", Some("1850"));
        let v = decide(&r, d("25000.00"), Decimal::ZERO, None);
        assert_eq!(v.code, ENOUGH);
        assert_eq!(
            line("primary", &r, d("25000.00"), &v),
            "primary: 31,200.50 INR available, 25,000.00 needed: OK (6,200.50 left, about 3 days 8 hours at ₹1,850/day)"
        );
    }

    #[test]
    fn floor_runway_and_unknown() {
        let r = reading("1000", Some("100"));
        assert_eq!(decide(&r, d("1000"), Decimal::ZERO, None).code, ENOUGH);
        let short = decide(&r, d("1000.01"), Decimal::ZERO, None);
        assert_eq!(short.code, NOT_ENOUGH);
        assert_eq!(short.reason.as_deref(), Some("0.01 INR short"));
        // A postpaid floor below zero.
        assert_eq!(decide(&r, d("1500"), d("-500"), None).code, ENOUGH);
        // 500 left at 100/day is 5 days.
        let day = Duration::from_secs(86_400);
        assert_eq!(
            decide(&r, d("500"), Decimal::ZERO, Some(day * 5)).code,
            ENOUGH
        );
        assert_eq!(
            decide(&r, d("500"), Decimal::ZERO, Some(day * 6)).code,
            NOT_ENOUGH
        );
        let no_rate = reading("1000", None);
        assert_eq!(
            decide(&no_rate, d("500"), Decimal::ZERO, Some(day)).code,
            UNKNOWN
        );
        // Not enough money is not enough, rate or no rate.
        assert_eq!(
            decide(&no_rate, d("5000"), Decimal::ZERO, Some(day)).code,
            NOT_ENOUGH
        );
    }
}
