//! The view model behind the dashboard, `/api/v1/status` and `balance-alert status`:
//! plain data, built once per request from the daemon's state (or from the state file
//! when the daemon is down) and then rendered as HTML, JSON or a terminal table.
//!
//! Serialized as is, this is the public JSON shape of `/api/v1/status` (README
//! "Status API"): field names here are a contract, pinned by `api::tests`. Runway
//! figures are optional so that they read `null` (and "—" on the page) until the runway
//! work fills them in.

use std::time::Duration;

use jiff::Timestamp;
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

use crate::core::Level;
use crate::core::Snooze;

/// Everything one status page shows.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Status {
    /// The daemon's version (`CARGO_PKG_VERSION`).
    pub version: String,
    /// `[daemon] instance` in an HA pair; `null` until that exists.
    pub instance: Option<String>,
    pub generated_at: Timestamp,
    /// Where the data came from: `daemon` (live) or `state_file` (the daemon was down).
    pub source: Source,
    /// The page refreshes itself this often (the shortest `poll_interval`), in seconds.
    pub refresh_seconds: u64,
    /// Non-ok first (critical, warning, then ok), then by name.
    pub accounts: Vec<AccountView>,
    pub outbox: OutboxView,
    pub channels: Vec<ChannelView>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Source {
    Daemon,
    StateFile,
}

/// One account's row.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AccountView {
    pub name: String,
    pub provider: String,
    pub sid: String,
    /// The last balance polled; `null` before the first successful poll.
    #[serde(with = "rust_decimal::serde::str_option")]
    pub balance: Option<Decimal>,
    pub currency: String,
    pub level: Level,
    /// `monitor_failing` stands: the balance shown may be stale.
    pub monitor_failing: bool,
    #[serde(with = "rust_decimal::serde::str_option")]
    pub warning_below: Option<Decimal>,
    #[serde(with = "rust_decimal::serde::str_option")]
    pub critical_below: Option<Decimal>,
    /// Spend per day (SPEC §9.1); `null` while unknown.
    #[serde(with = "rust_decimal::serde::str_option")]
    pub burn_per_day: Option<Decimal>,
    /// Time to the floor; `null` while unknown or infinite (then `burn_per_day` is 0).
    pub runway_seconds: Option<u64>,
    pub depletes_at: Option<Timestamp>,
    /// The runway floor the forecast line runs to (0 unless the account sets one).
    #[serde(with = "rust_decimal::serde::str")]
    pub floor: Decimal,
    pub last_success_at: Option<Timestamp>,
    /// The error of the current failure streak.
    pub last_error: Option<String>,
    pub snooze: Option<Snooze>,
    /// The sample history, oldest first.
    pub history: Vec<Point>,
    /// Messages about this account still in the outbox.
    pub pending: usize,
}

/// One sample of the history.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Point {
    pub at: Timestamp,
    #[serde(with = "rust_decimal::serde::str")]
    pub balance: Decimal,
}

/// The outbox as a whole.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct OutboxView {
    /// Messages waiting to be delivered (including ones being retried).
    pub pending: usize,
    /// Of the pending messages, those held back by quiet hours (SPEC §12).
    pub held: usize,
    /// Messages that failed for good (refused permanently, or retried past
    /// `give_up_after`) since the daemon started.
    pub failed: u64,
}

/// One channel's health.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChannelView {
    pub name: String,
    #[serde(rename = "type")]
    pub kind: String,
    pub pending: usize,
    /// The last delivery attempt's result; `null` when none was made since the start.
    pub last_delivery: Option<Delivery>,
}

/// The outcome of one delivery attempt.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Delivery {
    pub at: Timestamp,
    pub result: DeliveryResult,
    pub event: String,
    pub account: String,
    /// Why it failed (secrets already redacted by the channel).
    pub error: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DeliveryResult {
    Delivered,
    /// Failed, will be retried.
    Retrying,
    /// Refused permanently.
    Failed,
    /// Retried past `give_up_after`.
    GaveUp,
}

impl DeliveryResult {
    pub fn as_str(self) -> &'static str {
        match self {
            DeliveryResult::Delivered => "delivered",
            DeliveryResult::Retrying => "retrying",
            DeliveryResult::Failed => "failed",
            DeliveryResult::GaveUp => "gave up",
        }
    }
}

/// `GET /accounts/{name}`: one account, its recent events and its pending messages.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AccountPage {
    pub version: String,
    pub generated_at: Timestamp,
    pub refresh_seconds: u64,
    pub account: AccountView,
    /// Newest first.
    pub events: Vec<EventLine>,
    /// Oldest first, as they will leave.
    pub pending: Vec<PendingLine>,
}

/// An event the daemon emitted for the account.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EventLine {
    pub at: Timestamp,
    pub event: String,
    pub level: Level,
    #[serde(with = "rust_decimal::serde::str_option")]
    pub balance: Option<Decimal>,
    /// The channels it was routed to.
    pub channels: Vec<String>,
}

/// A message still in the outbox.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PendingLine {
    pub created_at: Timestamp,
    pub channel: String,
    pub event: String,
    pub held: bool,
    /// When quiet hours end and a held message is released (or collapsed).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub held_until: Option<Timestamp>,
}

impl AccountView {
    /// Sort key: critical first, then warning, then ok; failing monitors before healthy
    /// ones of the same level; then by name.
    fn rank(&self) -> (u8, bool) {
        (2 - self.level.as_number(), !self.monitor_failing)
    }
}

/// Sorts accounts the way every view shows them: non-ok first, then by name.
pub fn sort_accounts(accounts: &mut [AccountView]) {
    accounts.sort_by(|a, b| a.rank().cmp(&b.rank()).then_with(|| a.name.cmp(&b.name)));
}

/// Keeps the accounts whose name contains `query` (case-insensitive); an empty query
/// keeps all.
pub fn filter_accounts(accounts: &mut Vec<AccountView>, query: &str) {
    let query = query.trim().to_lowercase();
    if query.is_empty() {
        return;
    }
    accounts.retain(|a| a.name.to_lowercase().contains(&query));
}

/// Seconds for the page's meta refresh: at least 5 s, so a loopback test config with a
/// sub-second poll does not make a browser hammer the daemon.
pub fn refresh_seconds(shortest_poll: Option<Duration>) -> u64 {
    shortest_poll.map_or(60, |d| d.as_secs().max(5))
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    pub(crate) fn account(name: &str, level: Level) -> AccountView {
        AccountView {
            name: name.into(),
            provider: "exotel".into(),
            sid: "sid".into(),
            balance: None,
            currency: "INR".into(),
            level,
            monitor_failing: false,
            warning_below: None,
            critical_below: None,
            burn_per_day: None,
            runway_seconds: None,
            depletes_at: None,
            floor: Decimal::ZERO,
            last_success_at: None,
            last_error: None,
            snooze: None,
            history: Vec::new(),
            pending: 0,
        }
    }

    #[test]
    fn non_ok_first_then_by_name_and_search_by_name() {
        let mut accounts = vec![
            account("b-ok", Level::Ok),
            account("a-ok", Level::Ok),
            account("z-crit", Level::Critical),
            account("w-warn", Level::Warning),
            account("x-ok-failing", Level::Ok),
        ];
        accounts[4].monitor_failing = true;
        sort_accounts(&mut accounts);
        let names: Vec<&str> = accounts.iter().map(|a| a.name.as_str()).collect();
        assert_eq!(names, ["z-crit", "w-warn", "x-ok-failing", "a-ok", "b-ok"]);
        filter_accounts(&mut accounts, " OK ");
        let names: Vec<&str> = accounts.iter().map(|a| a.name.as_str()).collect();
        assert_eq!(names, ["x-ok-failing", "a-ok", "b-ok"]);
    }

    #[test]
    fn refresh_has_a_floor() {
        assert_eq!(refresh_seconds(Some(Duration::from_millis(200))), 5);
        assert_eq!(refresh_seconds(Some(Duration::from_secs(300))), 300);
        assert_eq!(refresh_seconds(None), 60);
    }
}
