//! Levels and thresholds (SPEC §3): how bad a balance is and the two latches that
//! decide it. Plain data shared by the evaluator, routing, config and every renderer.

use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

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

impl Thresholds {
    /// The threshold whose latch makes the account `level`; `ok` has none.
    pub fn for_level(&self, level: Level) -> Option<Threshold> {
        match level {
            Level::Ok => None,
            Level::Warning => self.warning,
            Level::Critical => self.critical,
        }
    }
}

/// One runway latch (SPEC §9.2), in whole seconds: active when the runway is under
/// `below`, cleared when it is over `clear_above`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RunwayThreshold {
    pub below: u64,
    pub clear_above: u64,
}

/// An account's runway settings: the estimate's window and floor, and either latch.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RunwayPolicy {
    pub window: std::time::Duration,
    pub floor: Decimal,
    pub warning: Option<RunwayThreshold>,
    pub critical: Option<RunwayThreshold>,
}

impl Default for RunwayPolicy {
    fn default() -> Self {
        RunwayPolicy {
            window: super::runway::DEFAULT_WINDOW,
            floor: Decimal::ZERO,
            warning: None,
            critical: None,
        }
    }
}

impl RunwayPolicy {
    pub fn for_level(&self, level: Level) -> Option<RunwayThreshold> {
        match level {
            Level::Ok => None,
            Level::Warning => self.warning,
            Level::Critical => self.critical,
        }
    }
}
