//! The Exotel Balance API client (SPEC §2) and its error classes.

use std::time::Duration;

use rust_decimal::Decimal;

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

/// A balance as read from the API, currency resolved.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Balance {
    pub amount: Decimal,
    pub currency: String,
    pub pricing_plan: Option<String>,
    pub date_updated: Option<String>,
}

/// A failed poll.
#[derive(Debug, Clone, thiserror::Error)]
pub enum PollError {
    #[error("placeholder")]
    Placeholder,
}

impl PollError {
    pub fn class(&self) -> ErrorClass {
        ErrorClass::Transient
    }
    pub fn retry_after(&self) -> Option<Duration> {
        None
    }
}

/// Stub until the client lands.
#[derive(Debug)]
pub struct ExotelClient;

impl ExotelClient {
    pub fn new(_account: &crate::config::AccountConfig) -> Result<Self, String> {
        Ok(ExotelClient)
    }
    pub async fn fetch_balance(&self) -> Result<Balance, PollError> {
        Err(PollError::Placeholder)
    }
}
