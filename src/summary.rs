//! The daily summary (SPEC §9.6): when it is due and what it says. The daemon's summary
//! task sleeps until [`next_due`], then hands [`build`]'s event for each channel whose
//! `events` names `summary` to the outbox like any other message.
//!
//! A summary that fell due while the daemon was down is not sent late: the first due
//! time is always the next one strictly after the start.

use jiff::Timestamp;
use jiff::civil::Time;
use jiff::tz::TimeZone;

use crate::core::{AccountState, Event, EventKind, Level, SummaryRow, new_event_id};
use crate::provider::AccountConfig;

/// The first moment after `now` whose wall-clock time in `tz` is `at`. On a day where
/// `at` does not exist (a DST gap) the moment after the gap is used.
pub fn next_due(now: Timestamp, at: Time, tz: &TimeZone) -> Timestamp {
    let today = now.to_zoned(tz.clone()).date();
    let mut day = today;
    for _ in 0..3 {
        if let Ok(zoned) = day.to_datetime(at).to_zoned(tz.clone()) {
            if zoned.timestamp() > now {
                return zoned.timestamp();
            }
        }
        day = day.tomorrow().unwrap_or(day);
    }
    // Unreachable for real zones; a day later is a safe answer.
    now + jiff::SignedDuration::from_hours(24)
}

/// One account's row from its config and state (no state yet: level ok, all unknown).
pub fn row(account: &AccountConfig, state: Option<&AccountState>) -> SummaryRow {
    let last = state.and_then(|s| s.last.as_ref());
    let estimate = state.map(|s| s.estimate).unwrap_or_default();
    SummaryRow {
        account: account.name.clone(),
        sid: account.sid().to_owned(),
        provider: account.provider.type_name().to_owned(),
        level: state.map_or(Level::Ok, |s| s.level),
        balance: last.map(|o| o.balance),
        currency: last.map_or_else(
            || account.fallback_currency().to_owned(),
            |o| o.currency.clone(),
        ),
        spend_24h: estimate.spend_24h,
        burn_per_day: estimate.burn_per_day,
        runway_seconds: estimate.runway.seconds(),
        depletes_at: last.and_then(|o| estimate.depletes_at(o.observed_at)),
    }
}

/// The `summary` event for one channel: its rows in config order (renderers sort worst
/// first), `at` the moment it fell due.
pub fn build(rows: Vec<SummaryRow>, at: Timestamp) -> Event {
    let level = rows.iter().map(|r| r.level).max().unwrap_or(Level::Ok);
    Event {
        id: new_event_id(),
        event: EventKind::Summary,
        level,
        observed_at: at,
        accounts: rows,
        ..Event::default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn due_today_or_tomorrow_never_in_the_past() {
        let tz = TimeZone::get("Asia/Kolkata").unwrap();
        let at = Time::new(9, 0, 0, 0).unwrap();
        // 08:00 IST: today at 09:00 IST (03:30Z).
        let now: Timestamp = "2026-12-03T02:30:00Z".parse().unwrap();
        assert_eq!(
            next_due(now, at, &tz),
            "2026-12-03T03:30:00Z".parse().unwrap()
        );
        // Exactly 09:00 or after: tomorrow (a summary that fell due is not sent late).
        let now: Timestamp = "2026-12-03T03:30:00Z".parse().unwrap();
        assert_eq!(
            next_due(now, at, &tz),
            "2026-12-04T03:30:00Z".parse().unwrap()
        );
        assert_eq!(
            next_due(now, at, &TimeZone::UTC),
            "2026-12-03T09:00:00Z".parse().unwrap()
        );
    }

    #[test]
    fn a_dst_gap_moves_to_after_the_gap() {
        let tz = TimeZone::get("Europe/Berlin").unwrap();
        let at = Time::new(2, 30, 0, 0).unwrap();
        let now: Timestamp = "2026-03-28T12:00:00Z".parse().unwrap();
        let due = next_due(now, at, &tz);
        // 29 March 2026 02:30 does not exist in Berlin; jiff's compatible choice is 03:30
        // CEST (01:30Z).
        assert_eq!(due, "2026-03-29T01:30:00Z".parse().unwrap());
    }
}
