//! The commands that talk to the running daemon's web endpoint (SPEC §12–13): `status`
//! (falling back to the state file when the daemon is down, saying so), `snooze`,
//! `unsnooze`, and the `/healthz` probe behind `health`. All of them reach the daemon
//! through [`Client::from_config`], so TLS and basic auth apply as configured.

use std::fmt::Write as _;
use std::time::Duration;

use jiff::Timestamp;
use jiff::tz::TimeZone;

use super::client::{Client, ClientError};
use super::render::{short_duration, when};
use super::snapshot::{self, Inputs};
use super::view::{Source, Status};
use crate::core::snooze::Request;
use crate::notify::render::format_amount;
use crate::settings::Config;
use crate::state;

/// How long a command waits for the daemon.
pub const TIMEOUT: Duration = Duration::from_secs(10);

/// `--format` of `status`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Text,
    Json,
}

fn client(config: &Config) -> Result<Client, String> {
    let listen = config.daemon.listen.ok_or_else(|| {
        format!(
            "{}: [daemon] listen is not set: the daemon serves its API there",
            config.path.display()
        )
    })?;
    Client::from_config(listen, &config.daemon.web, TIMEOUT)
}

/// `GET /healthz` on the daemon; `Err` says what happened.
pub async fn probe_health(config: &Config, timeout: Duration) -> Result<(), String> {
    let listen = config.daemon.listen.ok_or_else(|| {
        format!(
            "{}: [daemon] listen is not set; `health` asks the daemon's /healthz there",
            config.path.display()
        )
    })?;
    let client = Client::from_config(listen, &config.daemon.web, timeout)?;
    client
        .send(client.request(reqwest::Method::GET, "/healthz"))
        .await
        .map(|_| ())
        .map_err(|e| e.to_string())
}

/// The status from the running daemon only, read as `T` (`preflight` reads the few
/// fields it needs; a state file's balance is no fresher than its own request would be).
pub async fn fetch_live_status<T: serde::de::DeserializeOwned>(
    config: &Config,
) -> Result<T, String> {
    let client = client(config)?;
    let body = client
        .send(client.request(reqwest::Method::GET, "/api/v1/status"))
        .await
        .map_err(|e| e.to_string())?;
    serde_json::from_str(&body)
        .map_err(|e| format!("{}: unexpected answer: {e}", client.url("/api/v1/status")))
}

/// The status from the daemon, or from the state file when the daemon cannot be
/// reached; the note says which and why.
pub async fn fetch_status(config: &Config) -> Result<(Status, Option<String>), String> {
    let reason = match client(config) {
        Ok(client) => match client
            .send(client.request(reqwest::Method::GET, "/api/v1/status"))
            .await
        {
            Ok(body) => {
                let status = serde_json::from_str(&body).map_err(|e| {
                    format!("{}: unexpected answer: {e}", client.url("/api/v1/status"))
                })?;
                return Ok((status, None));
            }
            // The daemon answered, but no: a wrong password is not "daemon down".
            Err(e @ ClientError::Status { .. }) => return Err(e.to_string()),
            Err(ClientError::Unreachable(why)) => why,
        },
        Err(why) => why,
    };
    let path = &config.daemon.state_file;
    let status = from_state_file(config, Timestamp::now())?;
    Ok((
        status,
        Some(format!(
            "the daemon is not reachable ({reason}); showing the state file {} as last written",
            path.display()
        )),
    ))
}

/// The status as the state file last recorded it (no activity: that lives in the
/// daemon's memory). Reads only; never moves or rewrites anything.
pub fn from_state_file(config: &Config, now: Timestamp) -> Result<Status, String> {
    let state = state::read_state(&config.daemon.state_file)?;
    Ok(snapshot::status(&Inputs {
        config,
        state: &state,
        histories: state.histories(),
        activity: None,
        now,
        source: Source::StateFile,
    }))
}

/// The terminal table: one line per account, worst first, then the outbox and channels.
pub fn text(status: &Status, tz: &TimeZone) -> String {
    let now = status.generated_at;
    let dash = || "—".to_string();
    let rows: Vec<[String; 10]> = status
        .accounts
        .iter()
        .map(|a| {
            [
                a.name.clone(),
                a.provider.clone(),
                if a.monitor_failing {
                    format!("{} (failing)", a.level)
                } else {
                    a.level.to_string()
                },
                a.balance
                    .map_or_else(dash, |b| format_amount(b, &a.currency)),
                a.burn_per_day
                    .map_or_else(dash, |b| format_amount(b.round_dp(2), "")),
                match (a.runway_seconds, a.burn_per_day) {
                    (Some(s), _) => short_duration(s),
                    (None, Some(b)) if b.is_zero() => "∞".into(),
                    _ => dash(),
                },
                a.depletes_at.map_or_else(dash, |at| when(at, tz)),
                a.last_success_at.map_or_else(
                    || "never".into(),
                    |at| {
                        let s = now.as_second().saturating_sub(at.as_second()).max(0);
                        format!("{} ago", short_duration(s as u64))
                    },
                ),
                match &a.snooze {
                    Some(s) => match s.until {
                        Some(until) => format!("until {}", when(until, tz)),
                        None => "until level changes".into(),
                    },
                    None => String::new(),
                },
                a.last_error
                    .as_deref()
                    .map(|e| e.replace(['\n', '\r'], " "))
                    .unwrap_or_default(),
            ]
        })
        .collect();
    let header = [
        "ACCOUNT",
        "PROVIDER",
        "LEVEL",
        "BALANCE",
        "BURN/DAY",
        "RUNWAY",
        "RUNS OUT",
        "LAST POLL",
        "SNOOZE",
        "LAST ERROR",
    ];
    let mut widths = header.map(|h| h.chars().count());
    for row in &rows {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(cell.chars().count());
        }
    }
    let mut out = String::new();
    let mut line = |cells: &[String]| {
        let mut text = String::new();
        for (i, (cell, w)) in cells.iter().zip(widths).enumerate() {
            if i + 1 == cells.len() {
                text.push_str(cell);
            } else {
                let pad = w.saturating_sub(cell.chars().count());
                // Balances line up on the right.
                if i == 3 {
                    let _ = write!(text, "{}{cell}  ", " ".repeat(pad));
                } else {
                    let _ = write!(text, "{cell}{}  ", " ".repeat(pad));
                }
            }
        }
        out.push_str(text.trim_end());
        out.push('\n');
    };
    line(&header.map(String::from));
    for row in &rows {
        line(row);
    }
    let o = &status.outbox;
    let _ = writeln!(
        out,
        "\noutbox: {} pending, {} held, {} failed",
        o.pending, o.held, o.failed
    );
    for c in &status.channels {
        let last = match &c.last_delivery {
            Some(d) => format!(
                "last {} {} for {} at {}{}",
                d.result.as_str(),
                d.event,
                d.account,
                when(d.at, tz),
                d.error
                    .as_deref()
                    .map(|e| format!(": {e}"))
                    .unwrap_or_default()
            ),
            None if status.source == Source::StateFile => {
                "last delivery unknown (daemon down)".into()
            }
            None => "no delivery yet".into(),
        };
        let _ = writeln!(
            out,
            "channel {} ({}): {} pending, {last}",
            c.name, c.kind, c.pending
        );
    }
    out
}

/// `status`: prints the table (or JSON); `Err` when neither the daemon nor the state
/// file could be read.
pub async fn status(config: &Config, format: Format) -> Result<String, String> {
    let (status, note) = fetch_status(config).await?;
    if let Some(note) = note {
        eprintln!("balance-alert: {note}");
    }
    Ok(match format {
        Format::Json => format!("{}\n", super::api::status(&status)),
        Format::Text => {
            let tz = config
                .daemon
                .timezone
                .as_ref()
                .map_or(TimeZone::UTC, |(_, tz)| tz.clone());
            text(&status, &tz)
        }
    })
}

fn snooze_path(account: &str) -> String {
    let segment =
        percent_encoding::utf8_percent_encode(account, percent_encoding::NON_ALPHANUMERIC);
    format!("/api/v1/accounts/{segment}/snooze")
}

/// `snooze ACCOUNT [--for D] [--until-change]` (neither flag: until the level changes).
pub async fn snooze(
    config: &Config,
    account: &str,
    duration: Option<&str>,
    until_change: bool,
) -> Result<String, String> {
    let request =
        Request::new(duration, until_change || duration.is_none()).map_err(|e| e.to_string())?;
    let client = client(config)?;
    let body = client
        .send(
            client
                .admin_request(reqwest::Method::POST, &snooze_path(account))?
                .header(reqwest::header::CONTENT_TYPE, "application/json")
                .body(request.to_json().to_string()),
        )
        .await
        .map_err(|e| e.to_string())?;
    let reply: serde_json::Value =
        serde_json::from_str(&body).map_err(|e| format!("unexpected answer: {e}"))?;
    let tz = config
        .daemon
        .timezone
        .as_ref()
        .map_or(TimeZone::UTC, |(_, tz)| tz.clone());
    let until = reply["snooze"]["until"]
        .as_str()
        .and_then(|t| t.parse::<Timestamp>().ok());
    Ok(match until {
        Some(at) => format!(
            "{account}: snoozed until {} or until its level changes; new alerts still go out",
            when(at, &tz)
        ),
        None => format!("{account}: snoozed until its level changes; new alerts still go out"),
    })
}

/// `unsnooze ACCOUNT`.
pub async fn unsnooze(config: &Config, account: &str) -> Result<String, String> {
    let client = client(config)?;
    client
        .send(client.admin_request(reqwest::Method::DELETE, &snooze_path(account))?)
        .await
        .map_err(|e| e.to_string())?;
    Ok(format!("{account}: not snoozed; reminders resume"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::Level;

    #[test]
    fn text_table_lines_up_and_says_what_is_unknown() {
        let mut status = super::super::api::tests::sample_status();
        let mut ok = super::super::view::tests::account("backup-wallet", Level::Ok);
        ok.balance = Some("25000".parse().unwrap());
        status.accounts.push(ok);
        let out = text(&status, &TimeZone::UTC);
        let lines: Vec<&str> = out.lines().collect();
        assert!(
            lines[0].starts_with("ACCOUNT        PROVIDER  LEVEL     "),
            "{out}"
        );
        assert!(
            lines[1].starts_with("primary        exotel    critical  "),
            "{out}"
        );
        assert!(
            lines[1].contains("800.50 INR  1,850     10h 16m  Sun 6 Dec 14:00 UTC  5m ago"),
            "{out}"
        );
        assert!(
            lines[1].ends_with("until Thu 3 Dec 07:00 UTC  timeout"),
            "{out}"
        );
        assert!(
            lines[2].starts_with("backup-wallet  exotel    ok        25,000 INR  —"),
            "{out}"
        );
        assert!(out.contains("outbox: 1 pending, 0 held, 2 failed"));
        assert!(out.contains(
            "channel ops-slack (slack): 1 pending, last retrying alert for primary at Thu 3 Dec 03:00 UTC: HTTP 503"
        ), "{out}");
    }

    #[test]
    fn snooze_paths_encode_the_name() {
        assert_eq!(snooze_path("a b/c"), "/api/v1/accounts/a%20b%2Fc/snooze");
    }
}
