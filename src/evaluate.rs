//! Pure hysteresis (SPEC §3–4): (state, observation, now) → (state, events).
//!
//! No I/O and no clock: the daemon passes `now` in, so every rule here is a plain
//! function a test (or a property test) can drive.

use std::time::Duration;

use jiff::Timestamp;
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

use crate::exotel::ErrorClass;
use crate::notify::EventKind;

/// How bad an account's balance is. Ordered: `Ok < Warning < Critical`.
#[derive(
    Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize,
)]
#[serde(rename_all = "lowercase")]
pub enum Level {
    #[default]
    Ok,
    Warning,
    Critical,
}

impl Level {
    pub fn as_str(self) -> &'static str {
        match self {
            Level::Ok => "ok",
            Level::Warning => "warning",
            Level::Critical => "critical",
        }
    }
    /// The metric value: 0 ok, 1 warning, 2 critical.
    pub fn as_number(self) -> u8 {
        self as u8
    }
}

impl std::fmt::Display for Level {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One latch: active when `balance < below`, cleared when `balance > clear_above`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Threshold {
    pub below: Decimal,
    pub clear_above: Decimal,
}

/// An account's thresholds; either may be absent.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Thresholds {
    pub warning: Option<Threshold>,
    pub critical: Option<Threshold>,
}

/// One successful reading of the balance.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Observation {
    pub balance: Decimal,
    pub currency: String,
    pub pricing_plan: Option<String>,
    /// Exotel's `DateUpdated`, verbatim (it carries no zone).
    pub date_updated: Option<String>,
    pub observed_at: Timestamp,
}

/// Everything the evaluator remembers about one account between polls.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct AccountState {
    pub warning_active: bool,
    pub critical_active: bool,
    pub level: Level,
    /// The last successful observation.
    pub last: Option<Observation>,
    /// When the last `alert`, `improved` or `reminder` was emitted; reminders are due
    /// `repeat_every` after it.
    pub last_notice_at: Option<Timestamp>,
    /// First failed poll of the current streak of failures.
    pub failing_since: Option<Timestamp>,
    /// `monitor_failing` was emitted and `monitor_recovered` not yet.
    pub monitor_failing: bool,
    /// The error behind the current failure streak, for messages and `/metrics`.
    pub last_error: Option<String>,
}

/// The per-account settings the evaluator needs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Policy {
    pub thresholds: Thresholds,
    pub repeat_every: Option<Duration>,
    pub blind_after: Duration,
}

/// An event the evaluator decided on; the daemon turns it into a message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Emitted {
    pub kind: EventKind,
    pub level: Level,
    pub previous_level: Option<Level>,
    /// For `alert`/`reminder` the `below` of the level; for `improved`/`resolved` the
    /// `clear_above` that was crossed; otherwise none.
    pub threshold: Option<Decimal>,
}

/// A successful poll.
pub fn on_success(
    _state: &AccountState,
    _policy: &Policy,
    _observation: Observation,
    _now: Timestamp,
) -> (AccountState, Vec<Emitted>) {
    unimplemented!()
}

/// A failed poll.
pub fn on_failure(
    _state: &AccountState,
    _policy: &Policy,
    _class: ErrorClass,
    _error: &str,
    _now: Timestamp,
) -> (AccountState, Vec<Emitted>) {
    unimplemented!()
}

/// After a reload: re-evaluate the last known balance against new thresholds.
pub fn reevaluate(
    _state: &AccountState,
    _policy: &Policy,
    _now: Timestamp,
) -> (AccountState, Vec<Emitted>) {
    unimplemented!()
}
