//! Events the exact-output tests of every renderer share: the SPEC's worked example at
//! each kind of event.

use std::str::FromStr;

use jiff::Timestamp;
use rust_decimal::Decimal;

use super::RenderCtx;
use crate::core::{Event, EventKind, Level};

pub(crate) fn dec(s: &str) -> Decimal {
    Decimal::from_str(s).unwrap()
}

/// The SPEC's worked example at the moment it turns critical.
pub(crate) fn alert() -> Event {
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
        // Sub-second precision is dropped in human-facing text.
        observed_at: "2026-04-24T05:02:18.123456Z".parse::<Timestamp>().unwrap(),
        error: None,
        ..Default::default()
    }
}

pub(crate) fn improved() -> Event {
    Event {
        event: EventKind::Improved,
        level: Level::Warning,
        previous_level: Some(Level::Critical),
        balance: Some(dec("1600.00")),
        threshold: Some(dec("1500")),
        ..alert()
    }
}

pub(crate) fn resolved() -> Event {
    Event {
        event: EventKind::Resolved,
        level: Level::Ok,
        previous_level: Some(Level::Warning),
        balance: Some(dec("7000.00")),
        threshold: Some(dec("6000")),
        ..alert()
    }
}

pub(crate) fn reminder() -> Event {
    Event {
        event: EventKind::Reminder,
        previous_level: None,
        ..alert()
    }
}

pub(crate) fn escalated() -> Event {
    Event {
        event: EventKind::Escalated,
        previous_level: None,
        ..alert()
    }
}

pub(crate) fn failing() -> Event {
    Event {
        event: EventKind::MonitorFailing,
        previous_level: None,
        balance: None,
        threshold: None,
        pricing_plan: None,
        date_updated: None,
        error: Some("HTTP 401: Authentication failed (code 20003)".into()),
        ..alert()
    }
}

pub(crate) fn recovered() -> Event {
    Event {
        event: EventKind::MonitorRecovered,
        level: Level::Ok,
        previous_level: None,
        balance: Some(dec("1543.75")),
        threshold: None,
        ..alert()
    }
}

pub(crate) fn test_event() -> Event {
    Event {
        event: EventKind::Test,
        level: Level::Ok,
        previous_level: None,
        balance: None,
        threshold: None,
        pricing_plan: None,
        date_updated: None,
        ..alert()
    }
}

/// A Twilio wallet (SPEC §10) turning critical: no pricing plan, no `DateUpdated`.
pub(crate) fn twilio_alert() -> Event {
    Event {
        account: "us-voice".into(),
        provider: "twilio".into(),
        sid: "AC0123456789abcdef".into(),
        balance: Some(dec("7.25")),
        currency: "USD".into(),
        threshold: Some(dec("10")),
        pricing_plan: None,
        date_updated: None,
        ..alert()
    }
}

/// A Telnyx wallet whose monitor fails: `sid` is the account name.
pub(crate) fn telnyx_failing() -> Event {
    Event {
        account: "sip".into(),
        provider: "telnyx".into(),
        sid: "sip".into(),
        currency: "USD".into(),
        error: Some(
            "HTTP 401 Unauthorized: Authentication failed (code 10009); check api_key".into(),
        ),
        ..failing()
    }
}

pub(crate) fn kolkata() -> RenderCtx {
    RenderCtx {
        timezone: Some((
            "Asia/Kolkata".into(),
            jiff::tz::TimeZone::get("Asia/Kolkata").unwrap(),
        )),
        instance: None,
    }
}
