//! Events built field by field, as the daemon would emit them, for channel tests.
#![allow(dead_code)] // each test binary uses a different subset

use std::str::FromStr;

use balance_alert::core::Level;
use balance_alert::core::{Event, EventKind};
use rust_decimal::Decimal;

pub fn dec(s: &str) -> Decimal {
    Decimal::from_str(s).unwrap()
}

/// `primary` turning critical at 850.00 INR (below 1000).
pub fn critical_alert() -> Event {
    Event {
        id: "0123456789abcdef0123456789abcdef".into(),
        event: EventKind::Alert,
        account: "primary".into(),
        provider: "exotel".into(),
        sid: "acme".into(),
        level: Level::Critical,
        previous_level: Some(Level::Warning),
        balance: Some(dec("850.00")),
        currency: "INR".into(),
        threshold: Some(dec("1000")),
        pricing_plan: Some("Pay As You Go".into()),
        date_updated: Some("2026-04-24 10:32:18".into()),
        observed_at: "2026-04-24T05:02:18Z".parse().unwrap(),
        error: None,
        ..Default::default()
    }
}
