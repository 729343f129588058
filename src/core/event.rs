//! Events (SPEC §4) and the classes of a failed poll (SPEC §2): what the evaluator
//! decides and every edge (providers, channels, state, metrics) speaks.

use jiff::Timestamp;
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

use super::level::Level;

/// How a failed poll is treated (SPEC §2 status table).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ErrorClass {
    /// 401, 402, 403, 404, currency mismatch: `monitor_failing` at once.
    Config,
    /// 429, 503: back off, honour `Retry-After`.
    Throttled,
    /// Everything else: back off.
    Transient,
}

impl ErrorClass {
    /// The `class` label of `balance_alert_poll_errors_total`.
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorClass::Config => "config",
            ErrorClass::Throttled => "throttled",
            ErrorClass::Transient => "transient",
        }
    }
}

/// What happened (SPEC §4).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EventKind {
    Alert,
    Improved,
    Resolved,
    Reminder,
    MonitorFailing,
    MonitorRecovered,
    /// The account stayed at a level past an escalation step's `after` (SPEC §12).
    Escalated,
    Test,
    /// The balance rose by at least `topup_min` (SPEC §9.4).
    ToppedUp,
    /// The daily summary of a channel's accounts (SPEC §9.6).
    Summary,
    /// The state cannot be written: monitoring goes on from memory (SPEC §17).
    StateUnwritable,
    /// The state is written again.
    StateRecovered,
}

impl EventKind {
    pub fn as_str(self) -> &'static str {
        match self {
            EventKind::Alert => "alert",
            EventKind::Improved => "improved",
            EventKind::Resolved => "resolved",
            EventKind::Reminder => "reminder",
            EventKind::MonitorFailing => "monitor_failing",
            EventKind::MonitorRecovered => "monitor_recovered",
            EventKind::Escalated => "escalated",
            EventKind::Test => "test",
            EventKind::ToppedUp => "topped_up",
            EventKind::Summary => "summary",
            EventKind::StateUnwritable => "state_unwritable",
            EventKind::StateRecovered => "state_recovered",
        }
    }

    /// Every kind, in the order the docs list them.
    pub const ALL: [EventKind; 12] = [
        EventKind::Alert,
        EventKind::Improved,
        EventKind::Resolved,
        EventKind::Reminder,
        EventKind::MonitorFailing,
        EventKind::MonitorRecovered,
        EventKind::Escalated,
        EventKind::Test,
        EventKind::ToppedUp,
        EventKind::Summary,
        EventKind::StateUnwritable,
        EventKind::StateRecovered,
    ];

    /// The kind a channel's `events` entry names.
    pub fn parse(name: &str) -> Option<EventKind> {
        EventKind::ALL.into_iter().find(|k| k.as_str() == name)
    }
}

/// What set an account's new level (SPEC §9.2): an amount latch or a runway latch.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Cause {
    Balance,
    Runway,
}

/// One account's line in a daily summary (SPEC §9.6).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SummaryRow {
    pub account: String,
    pub sid: String,
    pub provider: String,
    pub level: Level,
    #[serde(with = "rust_decimal::serde::str_option")]
    pub balance: Option<Decimal>,
    pub currency: String,
    #[serde(with = "rust_decimal::serde::str_option")]
    pub spend_24h: Option<Decimal>,
    #[serde(with = "rust_decimal::serde::str_option")]
    pub burn_per_day: Option<Decimal>,
    /// Null while unknown, and when infinite (nothing is being spent).
    pub runway_seconds: Option<u64>,
    pub depletes_at: Option<Timestamp>,
}

/// One event, exactly as the `webhook` channel posts it (SPEC §5) and as the outbox
/// stores it. Decimals serialize as strings; absent values as `null`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Event {
    /// Unique per event; reused when a delivery is retried.
    pub id: String,
    pub event: EventKind,
    pub account: String,
    /// The account's provider (`exotel`, `twilio`, …; SPEC §10). Events stored before
    /// there were other providers were Exotel's.
    #[serde(default = "exotel")]
    pub provider: String,
    /// The provider's identifier of the account (SPEC §10).
    pub sid: String,
    pub level: Level,
    pub previous_level: Option<Level>,
    #[serde(with = "rust_decimal::serde::str_option")]
    pub balance: Option<Decimal>,
    pub currency: String,
    #[serde(with = "rust_decimal::serde::str_option")]
    pub threshold: Option<Decimal>,
    pub pricing_plan: Option<String>,
    pub date_updated: Option<String>,
    /// RFC 3339, UTC.
    pub observed_at: Timestamp,
    /// Why the monitor is failing (`monitor_failing` only); null otherwise.
    #[serde(default)]
    pub error: Option<String>,
    /// What set the new level (`alert`, `improved`, `resolved`, `reminder`).
    #[serde(default)]
    pub cause: Option<Cause>,
    /// Spend per day over the runway window, when known (SPEC §9.3).
    #[serde(default, with = "rust_decimal::serde::str_option")]
    pub burn_per_day: Option<Decimal>,
    /// Time to the floor at that rate; null while unknown or when infinite.
    #[serde(default)]
    pub runway_seconds: Option<u64>,
    /// `observed_at + runway`, when the runway is finite.
    #[serde(default)]
    pub depletes_at: Option<Timestamp>,
    /// For a runway `alert`/`reminder` the `below` crossed, for a runway
    /// `improved`/`resolved` the `clear_above` (seconds).
    #[serde(default)]
    pub runway_threshold_seconds: Option<u64>,
    /// The rise of a top-up (`topped_up`, or the `improved`/`resolved` it caused).
    #[serde(default, with = "rust_decimal::serde::str_option")]
    pub topup_amount: Option<Decimal>,
    /// The time the burn rate was measured over, in seconds ("last 3 days").
    #[serde(default)]
    pub burn_window_seconds: Option<u64>,
    /// `summary` only: every account of the channel, worst first.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub accounts: Vec<SummaryRow>,
}

impl Default for Event {
    /// An empty `test` event; real events name every field that matters and take the
    /// rest (everything null) from here.
    fn default() -> Self {
        Event {
            id: String::new(),
            event: EventKind::Test,
            account: String::new(),
            provider: String::new(),
            sid: String::new(),
            level: Level::Ok,
            previous_level: None,
            balance: None,
            currency: String::new(),
            threshold: None,
            pricing_plan: None,
            date_updated: None,
            observed_at: Timestamp::UNIX_EPOCH,
            error: None,
            cause: None,
            burn_per_day: None,
            runway_seconds: None,
            depletes_at: None,
            runway_threshold_seconds: None,
            topup_amount: None,
            burn_window_seconds: None,
            accounts: Vec::new(),
        }
    }
}

fn exotel() -> String {
    "exotel".to_owned()
}

/// A fresh event id: 128 random bits, hex.
pub fn new_event_id() -> String {
    format!("{:032x}", fastrand::u128(..))
}
