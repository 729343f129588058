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
            EventKind::StateUnwritable => "state_unwritable",
            EventKind::StateRecovered => "state_recovered",
        }
    }
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
}

fn exotel() -> String {
    "exotel".to_owned()
}

/// A fresh event id: 128 random bits, hex.
pub fn new_event_id() -> String {
    format!("{:032x}", fastrand::u128(..))
}
