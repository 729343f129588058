//! The runway latches (SPEC §9.2), `cause` and top-ups (§9.4) through the evaluator.

use std::str::FromStr;
use std::time::Duration;

use super::*;

fn dec(s: &str) -> Decimal {
    Decimal::from_str(s).unwrap()
}

fn at(seconds: i64) -> Timestamp {
    Timestamp::from_second(seconds).unwrap()
}

const DAY: u64 = 86_400;

/// Amount warning below 5000 (clear 6000); runway warning under 4 days (clear 5 days),
/// critical under 1 day (clear 36 h).
fn policy() -> Policy {
    Policy {
        thresholds: Thresholds {
            warning: Some(Threshold {
                below: dec("5000"),
                clear_above: dec("6000"),
            }),
            critical: None,
        },
        blind_after: Duration::from_secs(900),
        runway: RunwayPolicy {
            warning: Some(RunwayThreshold {
                below: 4 * DAY,
                clear_above: 5 * DAY,
            }),
            critical: Some(RunwayThreshold {
                below: DAY,
                clear_above: 36 * 3600,
            }),
            ..RunwayPolicy::default()
        },
        topup_min: Some(Decimal::ONE),
        ..Policy::default()
    }
}

fn poll(
    state: &AccountState,
    balance: &str,
    runway: Runway,
    t: i64,
) -> (AccountState, Vec<Emitted>) {
    let observation = Observation {
        balance: dec(balance),
        currency: "INR".into(),
        pricing_plan: None,
        date_updated: None,
        observed_at: at(t),
    };
    let estimate = Estimate {
        burn_per_day: Some(dec("1850")),
        runway,
        span_seconds: 3 * DAY,
        spend_24h: None,
    };
    on_poll(state, &policy(), observation, estimate, at(t))
}

#[test]
fn runway_alert_improved_resolved_with_hysteresis_and_cause() {
    let s = AccountState::default();
    // Plenty of money, unknown runway: ok, silent.
    let (s, e) = poll(&s, "20000", Runway::Unknown, 0);
    assert_eq!((s.level, e.len()), (Level::Ok, 0));
    // Runway 3 days: warning by runway, threshold null, runway_threshold = below.
    let (s, e) = poll(&s, "19000", Runway::Seconds(3 * DAY), 60);
    assert_eq!(s.level, Level::Warning);
    assert_eq!(e.len(), 1);
    assert_eq!(e[0].kind, EventKind::Alert);
    assert_eq!(e[0].cause, Some(Cause::Runway));
    assert_eq!(e[0].threshold, None);
    assert_eq!(e[0].runway_threshold, Some(4 * DAY));
    // Unknown leaves the latch as it is; equality never crosses.
    let (s, e) = poll(&s, "18999", Runway::Unknown, 120);
    assert_eq!((s.level, e.len()), (Level::Warning, 0));
    let (s, e) = poll(&s, "18998", Runway::Seconds(5 * DAY), 180);
    assert_eq!((s.level, e.len()), (Level::Warning, 0));
    // Under a day: critical by runway.
    let (s, e) = poll(&s, "18997", Runway::Seconds(DAY - 1), 240);
    assert_eq!(e[0].kind, EventKind::Alert);
    assert_eq!(e[0].level, Level::Critical);
    assert_eq!(e[0].runway_threshold, Some(DAY));
    // Over 36 h: improved, reporting the clear_above crossed.
    let (s, e) = poll(&s, "18996", Runway::Seconds(36 * 3600 + 1), 300);
    assert_eq!(e[0].kind, EventKind::Improved);
    assert_eq!(e[0].cause, Some(Cause::Runway));
    assert_eq!(e[0].runway_threshold, Some(36 * 3600));
    // Nothing spent any more: resolved.
    let (s, e) = poll(&s, "18996", Runway::Infinite, 360);
    assert_eq!(s.level, Level::Ok);
    assert_eq!(e[0].kind, EventKind::Resolved);
    assert_eq!(e[0].runway_threshold, Some(5 * DAY));
}

#[test]
fn both_kinds_on_one_poll_is_the_balance() {
    let (s, e) = poll(
        &AccountState::default(),
        "4000",
        Runway::Seconds(2 * DAY),
        0,
    );
    assert_eq!(s.level, Level::Warning);
    assert_eq!(e[0].cause, Some(Cause::Balance));
    assert_eq!(e[0].threshold, Some(dec("5000")));
    assert_eq!(e[0].runway_threshold, None);
    // A top-up clears both on one poll: resolved, by the balance, carrying the amount.
    let (s, e) = poll(&s, "50000", Runway::Seconds(20 * DAY), 60);
    assert_eq!(s.level, Level::Ok);
    assert_eq!(e.len(), 1, "{e:?}");
    assert_eq!(e[0].kind, EventKind::Resolved);
    assert_eq!(e[0].cause, Some(Cause::Balance));
    assert_eq!(e[0].topup_amount, Some(dec("46000")));
}

#[test]
fn runway_critical_over_amount_warning_is_the_runway() {
    let (s, _) = poll(
        &AccountState::default(),
        "4000",
        Runway::Seconds(2 * DAY),
        0,
    );
    let (s, e) = poll(&s, "3990", Runway::Seconds(3600), 60);
    assert_eq!(s.level, Level::Critical);
    assert_eq!(e[0].cause, Some(Cause::Runway));
    assert_eq!(e[0].runway_threshold, Some(DAY));
}

#[test]
fn a_top_up_without_a_level_change_is_topped_up() {
    let (s, _) = poll(&AccountState::default(), "20000", Runway::Unknown, 0);
    let (s, e) = poll(&s, "20000.99", Runway::Unknown, 60);
    assert!(
        e.is_empty(),
        "a rise under topup_min is not a top-up: {e:?}"
    );
    let (_, e) = poll(&s, "30000", Runway::Unknown, 120);
    assert_eq!(e.len(), 1);
    assert_eq!(e[0].kind, EventKind::ToppedUp);
    assert_eq!(e[0].level, Level::Ok);
    assert_eq!(e[0].topup_amount, Some(dec("9999.01")));
}

#[test]
fn reload_reevaluates_the_last_runway() {
    let (s, _) = poll(
        &AccountState::default(),
        "20000",
        Runway::Seconds(3 * DAY),
        0,
    );
    assert_eq!(s.level, Level::Warning);
    let mut relaxed = policy();
    relaxed.runway.warning = Some(RunwayThreshold {
        below: DAY + 1,
        clear_above: 2 * DAY,
    });
    let (s, e) = reevaluate(&s, &relaxed, at(60));
    assert_eq!(s.level, Level::Ok);
    assert_eq!(e[0].kind, EventKind::Resolved);
    assert_eq!(e[0].cause, Some(Cause::Runway));
}
