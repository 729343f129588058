//! Pure hysteresis (SPEC §3–4): (state, observation, now) → (state, events).
//!
//! This module owns what an account's level is and which events a poll, a failed poll or
//! a config reload produces: the two amount latches and the two runway latches (SPEC
//! §9.2), the level derived from them and its `cause`, `alert`/`improved`/`resolved`,
//! `topped_up` (§9.4), the `reminder` clock and the `monitor_failing` /
//! `monitor_recovered` streak. The runway estimate itself comes from [`super::runway`]. Routing, rendering and delivery are not its business.
//!
//! No I/O and no clock: the daemon passes `now` in, so every rule here is a plain
//! function a test (or a property test) can drive. Each entry point takes the old state
//! by reference and returns the new one, so the daemon can persist the new state before
//! any of the events leave.

use std::time::Duration;

use jiff::Timestamp;
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

use super::event::{Cause, ErrorClass, EventKind};
use super::level::{Level, RunwayPolicy, RunwayThreshold, Threshold, Thresholds};
use super::runway::{Estimate, Runway};

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
    pub runway_warning_active: bool,
    pub runway_critical_active: bool,
    /// The runway estimate at the last successful poll.
    pub estimate: Estimate,
}

/// The per-account settings the evaluator needs.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Policy {
    pub thresholds: Thresholds,
    pub repeat_every: Option<Duration>,
    pub blind_after: Duration,
    pub runway: RunwayPolicy,
    /// The smallest rise that is a top-up (SPEC §9.4); `None` turns detection off.
    pub topup_min: Option<Decimal>,
}

/// An event the evaluator decided on; the daemon turns it into a message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Emitted {
    pub kind: EventKind,
    pub level: Level,
    pub previous_level: Option<Level>,
    /// For `alert`/`reminder` the `below` of the level; for `improved`/`resolved` the
    /// `clear_above` that was crossed; otherwise none (and none for a runway cause).
    pub threshold: Option<Decimal>,
    /// What set the level (`alert`, `improved`, `resolved`, `reminder`).
    pub cause: Option<Cause>,
    /// The runway `below`/`clear_above` crossed, in seconds, for a runway cause.
    pub runway_threshold: Option<u64>,
    /// The rise, for `topped_up` and an `improved`/`resolved` a top-up brought.
    pub topup_amount: Option<Decimal>,
}

impl Emitted {
    /// An event about the level the account stands at (a reminder, an escalation, a
    /// mirrored standing alert): the latch that holds the level, amount or runway, is
    /// its cause, and the `below` of that latch its threshold.
    pub fn standing(kind: EventKind, state: &AccountState, policy: &Policy) -> Emitted {
        let mut e = Emitted::plain(kind, state.level, None);
        if state.amount_level() == state.level {
            e.cause = Some(Cause::Balance);
            e.threshold = policy.thresholds.for_level(state.level).map(|t| t.below);
        } else {
            e.cause = Some(Cause::Runway);
            e.runway_threshold = policy.runway.for_level(state.level).map(|t| t.below);
        }
        e
    }

    /// An event with no threshold, cause or top-up.
    pub fn plain(kind: EventKind, level: Level, previous_level: Option<Level>) -> Emitted {
        Emitted {
            kind,
            level,
            previous_level,
            threshold: None,
            cause: None,
            runway_threshold: None,
            topup_amount: None,
        }
    }
}

impl AccountState {
    /// The worst active latch. Derived rather than trusted from `level`, so a state file
    /// whose fields disagree heals on the next evaluation.
    fn latched_level(&self) -> Level {
        self.amount_level().max(self.runway_level())
    }

    fn amount_level(&self) -> Level {
        level_of(self.warning_active, self.critical_active)
    }

    fn runway_level(&self) -> Level {
        level_of(self.runway_warning_active, self.runway_critical_active)
    }
}

fn level_of(warning: bool, critical: bool) -> Level {
    if critical {
        Level::Critical
    } else if warning {
        Level::Warning
    } else {
        Level::Ok
    }
}

/// One runway latch step (SPEC §9.2): like [`step_latch`] on the runway, where an
/// infinite runway is above everything and an unknown one leaves the latch as it is.
fn step_runway_latch(
    active: bool,
    threshold: Option<RunwayThreshold>,
    runway: Runway,
) -> (bool, Option<u64>) {
    let Some(t) = threshold else {
        return (false, None);
    };
    let above = |limit: u64| match runway {
        Runway::Infinite => Some(true),
        Runway::Seconds(s) => Some(s > limit),
        Runway::Unknown => None,
    };
    if active {
        match above(t.clear_above) {
            Some(true) => (false, Some(t.clear_above)),
            _ => (true, None),
        }
    } else {
        let under = match runway {
            Runway::Seconds(s) => s < t.below,
            Runway::Infinite | Runway::Unknown => false,
        };
        (under, None)
    }
}

/// One latch step (SPEC §3). `balance` is `None` when re-evaluating an account that was
/// never observed: then nothing can newly cross, and only a removed threshold changes the
/// latch. Returns the new state and, when an active latch cleared by crossing its
/// `clear_above`, that value (the threshold an `improved`/`resolved` reports).
fn step_latch(
    active: bool,
    threshold: Option<Threshold>,
    balance: Option<Decimal>,
) -> (bool, Option<Decimal>) {
    // A threshold that is not configured (or was removed by a reload) is never active.
    let Some(t) = threshold else {
        return (false, None);
    };
    let Some(balance) = balance else {
        return (active, None);
    };
    // Strict comparisons on both edges: equality never crosses.
    if active {
        if balance > t.clear_above {
            (false, Some(t.clear_above))
        } else {
            (true, None)
        }
    } else {
        (balance < t.below, None)
    }
}

/// Moves all four latches (amount with `balance`, runway with `runway`), recomputes the
/// level and decides the one level-change event (`alert`, `improved` or `resolved`), if
/// any, with its `cause`. Shared by a poll and a reload so the two can never disagree on
/// what a crossing means.
fn apply_latches(
    state: &mut AccountState,
    policy: &Policy,
    balance: Option<Decimal>,
    runway: Runway,
    now: Timestamp,
) -> Option<Emitted> {
    let thresholds = &policy.thresholds;
    let previous = state.level;
    let (warning_active, warning_cleared) =
        step_latch(state.warning_active, thresholds.warning, balance);
    let (critical_active, critical_cleared) =
        step_latch(state.critical_active, thresholds.critical, balance);
    let (runway_warning_active, runway_warning_cleared) =
        step_runway_latch(state.runway_warning_active, policy.runway.warning, runway);
    let (runway_critical_active, runway_critical_cleared) =
        step_runway_latch(state.runway_critical_active, policy.runway.critical, runway);
    state.warning_active = warning_active;
    state.critical_active = critical_active;
    state.runway_warning_active = runway_warning_active;
    state.runway_critical_active = runway_critical_active;
    state.level = state.latched_level();
    let level = state.level;
    let amount_cleared = warning_cleared.is_some() || critical_cleared.is_some();
    let runway_cleared = runway_warning_cleared.is_some() || runway_critical_cleared.is_some();

    let mut event = if level > previous {
        // The latch at the new level set it; when both kinds reached it, the amount.
        let cause = if state.amount_level() == level {
            Cause::Balance
        } else {
            Cause::Runway
        };
        let mut e = Emitted::plain(EventKind::Alert, level, Some(previous));
        e.cause = Some(cause);
        match cause {
            // An active latch always has its threshold configured.
            Cause::Balance => e.threshold = thresholds.for_level(level).map(|t| t.below),
            Cause::Runway => e.runway_threshold = policy.runway.for_level(level).map(|t| t.below),
        }
        e
    } else if level == previous {
        return None;
    } else {
        // The latches that released made the level drop; when both kinds did on this
        // poll, the amount is the cause (SPEC §9.2). Neither (a reload removed the
        // thresholds) reads as the amount's, with no threshold crossed.
        let cause = if runway_cleared && !amount_cleared {
            Cause::Runway
        } else {
            Cause::Balance
        };
        let kind = if level == Level::Ok {
            EventKind::Resolved
        } else {
            // The only improvement that does not reach ok: critical → warning.
            EventKind::Improved
        };
        let mut e = Emitted::plain(kind, level, Some(previous));
        e.cause = Some(cause);
        // For resolved, the value is above every clear_above that just released, so
        // the largest is the one it can truthfully be said to have crossed.
        match (cause, kind) {
            (Cause::Balance, EventKind::Resolved) => {
                e.threshold = warning_cleared.max(critical_cleared)
            }
            (Cause::Balance, _) => e.threshold = critical_cleared,
            (Cause::Runway, EventKind::Resolved) => {
                e.runway_threshold = runway_warning_cleared.max(runway_critical_cleared)
            }
            (Cause::Runway, _) => e.runway_threshold = runway_critical_cleared,
        }
        e
    };
    // Reminders count from the last alert/improved; resolved ends the episode, so the
    // next one starts its own clock.
    state.last_notice_at = match event.kind {
        EventKind::Resolved => None,
        _ => Some(now),
    };
    if event.kind == EventKind::Alert {
        event.topup_amount = None;
    }
    Some(event)
}

/// `duration` as signed nanoseconds, comparable with [`elapsed`]. Every `Duration` fits
/// (at most about 1.8e28 ns); the saturating fallback only keeps this free of `as`.
fn nanos(duration: Duration) -> i128 {
    i128::try_from(duration.as_nanos()).unwrap_or(i128::MAX)
}

/// Signed nanoseconds from `from` to `to`; negative when the clock went backwards.
fn elapsed(from: Timestamp, to: Timestamp) -> i128 {
    to.as_nanosecond() - from.as_nanosecond()
}

/// A successful poll with no runway estimate (see [`on_poll`]).
pub fn on_success(
    state: &AccountState,
    policy: &Policy,
    observation: Observation,
    now: Timestamp,
) -> (AccountState, Vec<Emitted>) {
    on_poll(state, policy, observation, Estimate::default(), now)
}

/// A successful poll: clears any failure streak, moves the latches (the runway ones on
/// `estimate`), and decides `monitor_recovered`, `alert`/`improved`/`resolved`, a
/// `topped_up` (SPEC §9.4) or a due `reminder` (SPEC §4).
pub fn on_poll(
    state: &AccountState,
    policy: &Policy,
    observation: Observation,
    estimate: Estimate,
    now: Timestamp,
) -> (AccountState, Vec<Emitted>) {
    let mut next = state.clone();
    next.estimate = estimate;
    // A rise of at least topup_min since the last successful poll.
    let topup = match (&state.last, policy.topup_min) {
        (Some(last), Some(min)) => Some(observation.balance - last.balance)
            .filter(|rise| *rise >= min && *rise > Decimal::ZERO),
        _ => None,
    };
    let mut events = Vec::new();

    // Any success ends the failure streak, announced or not.
    let recovered = next.monitor_failing;
    next.monitor_failing = false;
    next.failing_since = None;
    next.last_error = None;

    let mut change = apply_latches(
        &mut next,
        policy,
        Some(observation.balance),
        estimate.runway,
        now,
    );
    if recovered {
        // First, so a channel reads "monitoring is back" before the news it brings.
        events.push(Emitted::plain(
            EventKind::MonitorRecovered,
            next.level,
            None,
        ));
    }
    // The improvement a top-up brought carries its amount; otherwise it is news of its
    // own, after anything else this poll says.
    let mut topped_up = None;
    if let Some(rise) = topup {
        match change.as_mut() {
            Some(e) if matches!(e.kind, EventKind::Improved | EventKind::Resolved) => {
                e.topup_amount = Some(rise);
            }
            _ => {
                let mut e = Emitted::plain(EventKind::ToppedUp, next.level, None);
                e.topup_amount = Some(rise);
                topped_up = Some(e);
            }
        }
    }
    match change {
        Some(event) => events.push(event),
        None if next.level != Level::Ok => {
            if let Some(reminder) = reminder(&mut next, policy, now) {
                events.push(reminder);
            }
        }
        None => {}
    }
    events.extend(topped_up);
    next.last = Some(observation);
    (next, events)
}

/// A non-ok level was just confirmed with no change: is a reminder due? Because this runs
/// on the poll that confirms the level, a reminder that fell due while the daemon was
/// down goes out on its first poll after the restart, and none goes out while blind.
fn reminder(state: &mut AccountState, policy: &Policy, now: Timestamp) -> Option<Emitted> {
    let last = match state.last_notice_at {
        // A clock that stepped back would otherwise postpone reminders by the size of
        // the step; counting from now bounds the delay to one `repeat_every`.
        Some(at) if at > now => {
            state.last_notice_at = Some(now);
            return None;
        }
        Some(at) => at,
        // Non-ok with no notice time (a state file from before it was kept): we cannot
        // claim `repeat_every` has passed, so start the clock instead of sending a
        // possibly spurious reminder on upgrade.
        None => {
            state.last_notice_at = Some(now);
            return None;
        }
    };
    let every = policy.repeat_every?;
    if elapsed(last, now) < nanos(every) {
        return None;
    }
    state.last_notice_at = Some(now);
    Some(Emitted::standing(EventKind::Reminder, state, policy))
}

/// A failed poll: remembers the streak and decides `monitor_failing`. Levels and latches
/// are untouched: a failure says nothing about the balance.
pub fn on_failure(
    state: &AccountState,
    policy: &Policy,
    class: ErrorClass,
    error: &str,
    now: Timestamp,
) -> (AccountState, Vec<Emitted>) {
    let mut next = state.clone();
    // The streak starts at its first failure; later ones (or a clock step back) must not
    // move it forward, or blindness would never last long enough to be reported.
    let since = state.failing_since.map_or(now, |at| at.min(now));
    next.failing_since = Some(since);
    next.last_error = Some(error.to_owned());

    // Once per streak: monitor_failing stands until a success clears it.
    if next.monitor_failing {
        return (next, Vec::new());
    }
    let blind = match class {
        // Retrying will not fix a credential or a currency mismatch: say so at once.
        ErrorClass::Config => true,
        // A blip is normal; only blindness strictly longer than blind_after is news.
        ErrorClass::Throttled | ErrorClass::Transient => {
            elapsed(since, now) > nanos(policy.blind_after)
        }
    };
    if !blind {
        return (next, Vec::new());
    }
    next.monitor_failing = true;
    let event = Emitted::plain(EventKind::MonitorFailing, next.level, None);
    (next, vec![event])
}

/// After a reload: re-evaluates the last known balance against the new thresholds, so a
/// lowered threshold resolves (or a raised one alerts) at once. Not a new observation: it
/// sends no reminder and does not end a failure streak. A latch whose threshold was
/// removed is released; a kept latch keeps its memory and moves only if the balance
/// crosses the new `below`/`clear_above`.
pub fn reevaluate(
    state: &AccountState,
    policy: &Policy,
    now: Timestamp,
) -> (AccountState, Vec<Emitted>) {
    let mut next = state.clone();
    let balance = state.last.as_ref().map(|o| o.balance);
    let runway = state.estimate.runway;
    let events = apply_latches(&mut next, policy, balance, runway, now)
        .into_iter()
        .collect();
    (next, events)
}

#[cfg(test)]
mod runway_tests;

#[cfg(test)]
mod tests {
    use super::*;
    use std::str::FromStr;

    fn dec(s: &str) -> Decimal {
        Decimal::from_str(s).unwrap()
    }

    fn th(below: &str, clear_above: &str) -> Threshold {
        Threshold {
            below: dec(below),
            clear_above: dec(clear_above),
        }
    }

    fn at(seconds: i64) -> Timestamp {
        Timestamp::from_second(seconds).unwrap()
    }

    /// SPEC §3 worked example: warning below 5000 clear above 6000; critical below 1000
    /// clear above 1500.
    fn spec_policy() -> Policy {
        Policy {
            thresholds: Thresholds {
                warning: Some(th("5000", "6000")),
                critical: Some(th("1000", "1500")),
            },
            repeat_every: None,
            blind_after: Duration::from_secs(15 * 60),
            ..Policy::default()
        }
    }

    fn obs(balance: &str, now: Timestamp) -> Observation {
        Observation {
            balance: dec(balance),
            currency: "INR".into(),
            pricing_plan: Some("Pay As You Go".into()),
            date_updated: None,
            observed_at: now,
        }
    }

    fn poll(
        state: &AccountState,
        policy: &Policy,
        balance: &str,
        now: Timestamp,
    ) -> (AccountState, Vec<Emitted>) {
        on_success(state, policy, obs(balance, now), now)
    }

    fn ev(
        kind: EventKind,
        level: Level,
        previous: Option<Level>,
        threshold: Option<&str>,
    ) -> Emitted {
        let cause = match kind {
            EventKind::Alert | EventKind::Improved | EventKind::Resolved | EventKind::Reminder => {
                Some(Cause::Balance)
            }
            _ => None,
        };
        Emitted {
            threshold: threshold.map(dec),
            cause,
            ..Emitted::plain(kind, level, previous)
        }
    }

    /// Runs balances one minute apart from a fresh state; returns the final state.
    fn run(policy: &Policy, steps: &[(&str, Level, Vec<Emitted>)]) -> AccountState {
        let mut state = AccountState::default();
        for (i, (balance, level, events)) in steps.iter().enumerate() {
            let (next, got) = poll(&state, policy, balance, at(60 * i as i64));
            assert_eq!(next.level, *level, "level after {balance}");
            assert_eq!(&got, events, "events after {balance}");
            state = next;
        }
        state
    }

    #[test]
    fn spec_worked_example() {
        use EventKind::*;
        use Level::*;
        let state = run(
            &spec_policy(),
            &[
                ("10000", Ok, vec![]),
                (
                    "4000",
                    Warning,
                    vec![ev(Alert, Warning, Some(Ok), Some("5000"))],
                ),
                ("5500", Warning, vec![]),
                (
                    "800",
                    Critical,
                    vec![ev(Alert, Critical, Some(Warning), Some("1000"))],
                ),
                ("1200", Critical, vec![]),
                (
                    "1600",
                    Warning,
                    vec![ev(Improved, Warning, Some(Critical), Some("1500"))],
                ),
                ("5800", Warning, vec![]),
                (
                    "7000",
                    Ok,
                    vec![ev(Resolved, Ok, Some(Warning), Some("6000"))],
                ),
            ],
        );
        assert!(!state.warning_active && !state.critical_active);
        assert_eq!(
            state.last_notice_at, None,
            "resolved ends the reminder clock"
        );
        assert_eq!(state.last.unwrap().balance, dec("7000"));
    }

    #[test]
    fn notice_time_follows_alert_and_improved() {
        let policy = spec_policy();
        let (s, _) = poll(&AccountState::default(), &policy, "4000", at(10));
        assert_eq!(s.last_notice_at, Some(at(10)));
        let (s, _) = poll(&s, &policy, "4500", at(20));
        assert_eq!(s.last_notice_at, Some(at(10)), "a silent poll keeps it");
        let (s, _) = poll(&s, &policy, "800", at(30));
        assert_eq!(s.last_notice_at, Some(at(30)));
        let (s, _) = poll(&s, &policy, "1600", at(40));
        assert_eq!(s.last_notice_at, Some(at(40)));
    }

    #[test]
    fn equality_never_crosses() {
        use Level::*;
        let policy = spec_policy();
        // Equal to below: not below.
        run(
            &policy,
            &[
                ("5000", Ok, vec![]),
                (
                    "1000",
                    Warning,
                    vec![ev(EventKind::Alert, Warning, Some(Ok), Some("5000"))],
                ),
            ],
        );
        // Equal to clear_above: not above, the latch holds.
        run(
            &policy,
            &[
                (
                    "999.99",
                    Critical,
                    vec![ev(EventKind::Alert, Critical, Some(Ok), Some("1000"))],
                ),
                ("1500", Critical, vec![]),
                (
                    "1500.01",
                    Warning,
                    vec![ev(
                        EventKind::Improved,
                        Warning,
                        Some(Critical),
                        Some("1500"),
                    )],
                ),
                ("6000", Warning, vec![]),
                (
                    "6000.01",
                    Ok,
                    vec![ev(EventKind::Resolved, Ok, Some(Warning), Some("6000"))],
                ),
            ],
        );
    }

    #[test]
    fn first_poll_inside_band_is_ok_and_silent() {
        let state = run(
            &spec_policy(),
            &[
                ("5500", Level::Ok, vec![]),
                (
                    "1200",
                    Level::Warning,
                    vec![ev(
                        EventKind::Alert,
                        Level::Warning,
                        Some(Level::Ok),
                        Some("5000"),
                    )],
                ),
            ],
        );
        // Inside the critical band from warning: the critical latch never activated.
        assert!(!state.critical_active);
    }

    #[test]
    fn first_poll_below_alerts() {
        run(
            &spec_policy(),
            &[(
                "4999",
                Level::Warning,
                vec![ev(
                    EventKind::Alert,
                    Level::Warning,
                    Some(Level::Ok),
                    Some("5000"),
                )],
            )],
        );
        let state = run(
            &spec_policy(),
            &[(
                "-5",
                Level::Critical,
                vec![ev(
                    EventKind::Alert,
                    Level::Critical,
                    Some(Level::Ok),
                    Some("1000"),
                )],
            )],
        );
        assert!(state.warning_active && state.critical_active);
    }

    #[test]
    fn negative_thresholds_for_postpaid() {
        use EventKind::*;
        use Level::*;
        let policy = Policy {
            thresholds: Thresholds {
                warning: Some(th("-1000", "-900")),
                critical: Some(th("-5000", "-4500")),
            },
            ..spec_policy()
        };
        run(
            &policy,
            &[
                ("0", Ok, vec![]),
                ("-1000", Ok, vec![]),
                (
                    "-1000.5",
                    Warning,
                    vec![ev(Alert, Warning, Some(Ok), Some("-1000"))],
                ),
                ("-950", Warning, vec![]),
                (
                    "-6000",
                    Critical,
                    vec![ev(Alert, Critical, Some(Warning), Some("-5000"))],
                ),
                ("-4500", Critical, vec![]),
                (
                    "-4400",
                    Warning,
                    vec![ev(Improved, Warning, Some(Critical), Some("-4500"))],
                ),
                (
                    "-899",
                    Ok,
                    vec![ev(Resolved, Ok, Some(Warning), Some("-900"))],
                ),
            ],
        );
    }

    #[test]
    fn only_critical_configured() {
        use EventKind::*;
        use Level::*;
        let policy = Policy {
            thresholds: Thresholds {
                warning: None,
                critical: Some(th("1000", "1500")),
            },
            ..spec_policy()
        };
        let state = run(
            &policy,
            &[
                (
                    "10",
                    Critical,
                    vec![ev(Alert, Critical, Some(Ok), Some("1000"))],
                ),
                (
                    "1501",
                    Ok,
                    vec![ev(Resolved, Ok, Some(Critical), Some("1500"))],
                ),
            ],
        );
        assert!(
            !state.warning_active,
            "an unconfigured threshold is never active"
        );
    }

    #[test]
    fn only_warning_configured() {
        use EventKind::*;
        use Level::*;
        let policy = Policy {
            thresholds: Thresholds {
                warning: Some(th("5000", "6000")),
                critical: None,
            },
            ..spec_policy()
        };
        let state = run(
            &policy,
            &[
                (
                    "-100000",
                    Warning,
                    vec![ev(Alert, Warning, Some(Ok), Some("5000"))],
                ),
                (
                    "6001",
                    Ok,
                    vec![ev(Resolved, Ok, Some(Warning), Some("6000"))],
                ),
            ],
        );
        assert!(!state.critical_active);
    }

    #[test]
    fn direct_critical_to_ok_reports_the_largest_clear_above() {
        use EventKind::*;
        use Level::*;
        run(
            &spec_policy(),
            &[
                (
                    "500",
                    Critical,
                    vec![ev(Alert, Critical, Some(Ok), Some("1000"))],
                ),
                (
                    "9000",
                    Ok,
                    vec![ev(Resolved, Ok, Some(Critical), Some("6000"))],
                ),
            ],
        );
        // Critical's band may reach above warning's: the critical latch then outlives the
        // warning one, and resolving crosses critical's clear_above.
        let policy = Policy {
            thresholds: Thresholds {
                warning: Some(th("5000", "5100")),
                critical: Some(th("1000", "8000")),
            },
            ..spec_policy()
        };
        run(
            &policy,
            &[
                (
                    "500",
                    Critical,
                    vec![ev(Alert, Critical, Some(Ok), Some("1000"))],
                ),
                ("6000", Critical, vec![]),
                (
                    "8000.01",
                    Ok,
                    vec![ev(Resolved, Ok, Some(Critical), Some("8000"))],
                ),
            ],
        );
    }

    fn with_reminders(every: Duration) -> Policy {
        Policy {
            repeat_every: Some(every),
            ..spec_policy()
        }
    }

    #[test]
    fn reminder_exactly_at_repeat_every() {
        let policy = with_reminders(Duration::from_secs(3600));
        let (s, _) = poll(&AccountState::default(), &policy, "4000", at(0));
        let before = Timestamp::from_millisecond(3_600_000 - 1).unwrap();
        let (s, events) = poll(&s, &policy, "4000", before);
        assert_eq!(events, vec![], "1 ms early");
        assert_eq!(s.last_notice_at, Some(at(0)));
        let (s, events) = poll(&s, &policy, "4100", at(3600));
        assert_eq!(
            events,
            vec![ev(EventKind::Reminder, Level::Warning, None, Some("5000"))]
        );
        assert_eq!(s.last_notice_at, Some(at(3600)));
        // The next one counts from this reminder.
        let (s, events) = poll(&s, &policy, "4100", at(7199));
        assert_eq!(events, vec![]);
        let (_, events) = poll(&s, &policy, "4100", at(7200));
        assert_eq!(events.len(), 1);
    }

    #[test]
    fn reminder_counts_from_improved_and_uses_current_below() {
        let policy = with_reminders(Duration::from_secs(100));
        let (s, _) = poll(&AccountState::default(), &policy, "500", at(0));
        let (s, _) = poll(&s, &policy, "2000", at(50));
        let (s, events) = poll(&s, &policy, "2000", at(149));
        assert_eq!(events, vec![]);
        let (_, events) = poll(&s, &policy, "2000", at(150));
        assert_eq!(
            events,
            vec![ev(EventKind::Reminder, Level::Warning, None, Some("5000"))]
        );
    }

    #[test]
    fn no_reminder_while_ok_or_when_off() {
        let policy = with_reminders(Duration::from_secs(1));
        let (s, _) = poll(&AccountState::default(), &policy, "9000", at(0));
        let (s, events) = poll(&s, &policy, "9000", at(100));
        assert_eq!(events, vec![]);
        assert_eq!(s.last_notice_at, None);
        // Resolved, then ok for a long time: nothing.
        let (s, _) = poll(&s, &policy, "100", at(200));
        let (s, _) = poll(&s, &policy, "9000", at(300));
        let (_, events) = poll(&s, &policy, "9000", at(10_000));
        assert_eq!(events, vec![]);
        // Reminders off (the default).
        let policy = spec_policy();
        let (s, _) = poll(&AccountState::default(), &policy, "100", at(0));
        let (_, events) = poll(&s, &policy, "100", at(1_000_000));
        assert_eq!(events, vec![]);
    }

    #[test]
    fn no_reminder_while_monitor_failing_then_one_after_recovery() {
        let policy = Policy {
            blind_after: Duration::from_secs(60),
            ..with_reminders(Duration::from_secs(600))
        };
        let (s, _) = poll(&AccountState::default(), &policy, "4000", at(0));
        let (s, events) = on_failure(&s, &policy, ErrorClass::Transient, "timeout", at(100));
        assert_eq!(events, vec![]);
        let (s, events) = on_failure(&s, &policy, ErrorClass::Transient, "timeout", at(700));
        assert_eq!(
            events,
            vec![ev(EventKind::MonitorFailing, Level::Warning, None, None)]
        );
        // Reminder fell due at 600 while blind: failures never send it.
        let (s, events) = on_failure(&s, &policy, ErrorClass::Transient, "timeout", at(900));
        assert_eq!(events, vec![]);
        let (s, events) = poll(&s, &policy, "4000", at(1000));
        assert_eq!(
            events,
            vec![
                ev(EventKind::MonitorRecovered, Level::Warning, None, None),
                ev(EventKind::Reminder, Level::Warning, None, Some("5000")),
            ]
        );
        assert!(!s.monitor_failing);
        assert_eq!((s.failing_since, s.last_error), (None, None));
    }

    #[test]
    fn reminder_after_restart_goes_out_on_first_confirming_poll() {
        let policy = with_reminders(Duration::from_secs(3600));
        let (s, _) = poll(&AccountState::default(), &policy, "800", at(0));
        // The daemon was down for a day; the saved state round-trips through JSON.
        let saved: AccountState =
            serde_json::from_str(&serde_json::to_string(&s).unwrap()).unwrap();
        assert_eq!(saved, s);
        let (s, events) = poll(&saved, &policy, "700", at(86_400));
        assert_eq!(
            events,
            vec![ev(EventKind::Reminder, Level::Critical, None, Some("1000"))]
        );
        assert_eq!(s.last_notice_at, Some(at(86_400)));
        // But a changed level on that poll is the news instead.
        let (_, events) = poll(&saved, &policy, "3000", at(86_400));
        assert_eq!(
            events,
            vec![ev(
                EventKind::Improved,
                Level::Warning,
                Some(Level::Critical),
                Some("1500")
            )]
        );
    }

    #[test]
    fn missing_notice_time_starts_the_clock_silently() {
        let policy = with_reminders(Duration::from_secs(60));
        let old = AccountState {
            warning_active: true,
            level: Level::Warning,
            ..AccountState::default()
        };
        let (s, events) = poll(&old, &policy, "4000", at(1000));
        assert_eq!(events, vec![]);
        assert_eq!(s.last_notice_at, Some(at(1000)));
        let (_, events) = poll(&s, &policy, "4000", at(1060));
        assert_eq!(events.len(), 1);
    }

    #[test]
    fn notice_time_in_the_future_is_pulled_back() {
        let policy = with_reminders(Duration::from_secs(60));
        let (s, _) = poll(&AccountState::default(), &policy, "4000", at(10_000));
        // The clock stepped back an hour.
        let (s, events) = poll(&s, &policy, "4000", at(6_400));
        assert_eq!(events, vec![]);
        assert_eq!(s.last_notice_at, Some(at(6_400)));
        let (_, events) = poll(&s, &policy, "4000", at(6_460));
        assert_eq!(events.len(), 1);
    }

    #[test]
    fn config_error_fails_at_once_and_only_once() {
        let policy = spec_policy();
        let (s, _) = poll(&AccountState::default(), &policy, "800", at(0));
        let (s, events) = on_failure(
            &s,
            &policy,
            ErrorClass::Config,
            "401 Authentication failed",
            at(60),
        );
        assert_eq!(
            events,
            vec![ev(EventKind::MonitorFailing, Level::Critical, None, None)]
        );
        assert!(s.monitor_failing);
        assert_eq!(s.failing_since, Some(at(60)));
        assert_eq!(s.last_error.as_deref(), Some("401 Authentication failed"));
        assert_eq!((s.level, s.critical_active), (Level::Critical, true));
        for (i, class) in [
            ErrorClass::Config,
            ErrorClass::Transient,
            ErrorClass::Throttled,
        ]
        .into_iter()
        .enumerate()
        {
            let now = at(120 + 3600 * i as i64);
            let (next, events) = on_failure(&s, &policy, class, "still", now);
            assert_eq!(events, vec![], "{class:?}");
            assert_eq!(next.failing_since, Some(at(60)), "the earliest is kept");
            assert_eq!(next.last_error.as_deref(), Some("still"));
        }
    }

    #[test]
    fn transient_fails_only_after_blind_after() {
        let policy = spec_policy(); // 15 min
        for class in [ErrorClass::Transient, ErrorClass::Throttled] {
            let (s, _) = poll(&AccountState::default(), &policy, "9000", at(0));
            let (s, events) = on_failure(&s, &policy, class, "503", at(100));
            assert_eq!(events, vec![]);
            let (s, events) = on_failure(&s, &policy, class, "503", at(100 + 900));
            assert_eq!(events, vec![], "exactly blind_after is not longer than it");
            let exactly = s.clone();
            let later = Timestamp::from_millisecond((100 + 900) * 1000 + 1).unwrap();
            let (s, events) = on_failure(&exactly, &policy, class, "503", later);
            assert_eq!(
                events,
                vec![ev(EventKind::MonitorFailing, Level::Ok, None, None)]
            );
            let (_, events) = on_failure(&s, &policy, class, "503", at(5000));
            assert_eq!(events, vec![]);
        }
    }

    #[test]
    fn config_error_after_a_transient_streak_fires_at_once() {
        let policy = spec_policy();
        let (s, _) = on_failure(
            &AccountState::default(),
            &policy,
            ErrorClass::Transient,
            "timeout",
            at(0),
        );
        let (s, events) = on_failure(&s, &policy, ErrorClass::Config, "403", at(60));
        assert_eq!(events.len(), 1);
        assert_eq!(s.failing_since, Some(at(0)));
    }

    #[test]
    fn recovery_clears_the_streak_and_a_new_streak_can_fail_again() {
        let policy = spec_policy();
        let (s, _) = poll(&AccountState::default(), &policy, "4000", at(0));
        let (s, _) = on_failure(&s, &policy, ErrorClass::Config, "401", at(60));
        let (s, events) = poll(&s, &policy, "800", at(120));
        assert_eq!(
            events,
            vec![
                ev(EventKind::MonitorRecovered, Level::Critical, None, None),
                ev(
                    EventKind::Alert,
                    Level::Critical,
                    Some(Level::Warning),
                    Some("1000")
                ),
            ]
        );
        assert!(!s.monitor_failing);
        assert_eq!((s.failing_since, s.last_error.clone()), (None, None));
        let (_, events) = on_failure(&s, &policy, ErrorClass::Config, "401", at(180));
        assert_eq!(events.len(), 1, "a new streak reports again");
        // A short unannounced streak ends silently.
        let (s, _) = on_failure(&s, &policy, ErrorClass::Transient, "timeout", at(200));
        let (s, events) = poll(&s, &policy, "800", at(260));
        assert_eq!(events, vec![]);
        assert_eq!(s.failing_since, None);
    }

    #[test]
    fn reevaluate_lowered_threshold_resolves_at_once() {
        let policy = spec_policy();
        let (s, _) = poll(&AccountState::default(), &policy, "4000", at(0));
        let lowered = Policy {
            thresholds: Thresholds {
                warning: Some(th("3000", "3500")),
                ..policy.thresholds
            },
            ..policy
        };
        let (s, events) = reevaluate(&s, &lowered, at(10));
        assert_eq!(
            events,
            vec![ev(
                EventKind::Resolved,
                Level::Ok,
                Some(Level::Warning),
                Some("3500")
            )]
        );
        assert_eq!(s.last_notice_at, None);
        assert_eq!(
            s.last.as_ref().unwrap().observed_at,
            at(0),
            "not a new observation"
        );
    }

    #[test]
    fn reevaluate_keeps_latch_memory_and_sends_no_reminder() {
        let policy = with_reminders(Duration::from_secs(60));
        let (s, _) = poll(&AccountState::default(), &policy, "4000", at(0));
        let (s, _) = poll(&s, &policy, "5500", at(10));
        // Inside the band: the latch holds under a reload with the same or a wider band,
        // and no reminder goes out even though one is overdue.
        let (s2, events) = reevaluate(&s, &policy, at(1000));
        assert_eq!(events, vec![]);
        assert_eq!(s2, s);
        // A new clear_above below the balance releases the latch.
        let narrower = Policy {
            thresholds: Thresholds {
                warning: Some(th("5000", "5400")),
                ..policy.thresholds
            },
            ..policy
        };
        let (_, events) = reevaluate(&s, &narrower, at(1000));
        assert_eq!(
            events,
            vec![ev(
                EventKind::Resolved,
                Level::Ok,
                Some(Level::Warning),
                Some("5400")
            )]
        );
    }

    #[test]
    fn reevaluate_raised_threshold_alerts_and_removed_threshold_releases() {
        let policy = spec_policy();
        let (s, _) = poll(&AccountState::default(), &policy, "800", at(0));
        let raised = Policy {
            thresholds: Thresholds {
                warning: Some(th("20000", "21000")),
                critical: Some(th("10000", "12000")),
            },
            ..policy
        };
        // Already critical: no change, latches kept.
        let (_, events) = reevaluate(&s, &raised, at(5));
        assert_eq!(events, vec![]);
        // From ok, a raised threshold alerts at once.
        let (ok, _) = poll(&AccountState::default(), &policy, "9000", at(0));
        let (_, events) = reevaluate(&ok, &raised, at(5));
        assert_eq!(
            events,
            vec![ev(
                EventKind::Alert,
                Level::Critical,
                Some(Level::Ok),
                Some("10000")
            )]
        );
        // Critical removed: its latch releases without crossing anything.
        let no_critical = Policy {
            thresholds: Thresholds {
                critical: None,
                ..policy.thresholds
            },
            ..policy
        };
        let (s2, events) = reevaluate(&s, &no_critical, at(5));
        assert_eq!(
            events,
            vec![ev(
                EventKind::Improved,
                Level::Warning,
                Some(Level::Critical),
                None
            )]
        );
        assert!(!s2.critical_active && s2.warning_active);
        let none = Policy {
            thresholds: Thresholds::default(),
            ..policy
        };
        let (s3, events) = reevaluate(&s, &none, at(5));
        assert_eq!(
            events,
            vec![ev(
                EventKind::Resolved,
                Level::Ok,
                Some(Level::Critical),
                None
            )]
        );
        assert_eq!(s3.level, Level::Ok);
    }

    #[test]
    fn reevaluate_while_failing_keeps_the_streak() {
        let policy = spec_policy();
        let (s, _) = poll(&AccountState::default(), &policy, "4000", at(0));
        let (s, _) = on_failure(&s, &policy, ErrorClass::Config, "401", at(60));
        let (s, events) = reevaluate(&s, &policy, at(70));
        assert_eq!(events, vec![]);
        assert!(s.monitor_failing);
        assert_eq!(s.failing_since, Some(at(60)));
    }

    #[test]
    fn reevaluate_without_any_observation_is_quiet() {
        let (s, events) = reevaluate(&AccountState::default(), &spec_policy(), at(0));
        assert_eq!(events, vec![]);
        assert_eq!(s, AccountState::default());
    }

    /// Property tests: random threshold configs and random runs of polls, failures and
    /// reloads, each step checked against a reference model written straight from the
    /// SPEC sentences rather than from the implementation.
    mod props {
        use super::*;
        use proptest::prelude::*;

        /// Cents, so values are exact and boundaries are one cent apart.
        fn cents(n: i64) -> Decimal {
            Decimal::new(n, 2)
        }

        /// A valid threshold config (SPEC §3 validation): clear_above > below and
        /// critical.below < warning.below; either may be absent.
        fn thresholds() -> impl Strategy<Value = Thresholds> {
            (
                -1_000_000i64..1_000_000,
                1i64..500_000,
                1i64..500_000,
                1i64..500_000,
                any::<bool>(),
                any::<bool>(),
            )
                .prop_map(|(w_below, w_gap, c_down, c_gap, has_w, has_c)| {
                    let c_below = w_below - c_down;
                    Thresholds {
                        warning: has_w.then(|| Threshold {
                            below: cents(w_below),
                            clear_above: cents(w_below + w_gap),
                        }),
                        critical: has_c.then(|| Threshold {
                            below: cents(c_below),
                            clear_above: cents(c_below + c_gap),
                        }),
                    }
                })
        }

        #[derive(Debug, Clone)]
        enum Op {
            /// A balance: either anywhere, or pinned to a threshold edge ± one cent, so
            /// the equality cases come up often.
            Poll {
                anywhere: i64,
                edge: Option<(usize, i64)>,
            },
            Fail(ErrorClass),
            Reload(Thresholds),
        }

        fn op() -> impl Strategy<Value = Op> {
            let class = prop_oneof![
                Just(ErrorClass::Config),
                Just(ErrorClass::Throttled),
                Just(ErrorClass::Transient),
            ];
            prop_oneof![
                6 => (-2_000_000i64..2_000_000, proptest::option::of((0usize..4, -1i64..=1)))
                    .prop_map(|(anywhere, edge)| Op::Poll { anywhere, edge }),
                3 => class.prop_map(Op::Fail),
                1 => thresholds().prop_map(Op::Reload),
            ]
        }

        fn balance_for(t: &Thresholds, anywhere: i64, edge: Option<(usize, i64)>) -> Decimal {
            let edges: Vec<Decimal> = [t.warning, t.critical]
                .into_iter()
                .flatten()
                .flat_map(|t| [t.below, t.clear_above])
                .collect();
            match edge {
                Some((i, off)) if !edges.is_empty() => edges[i % edges.len()] + cents(off),
                _ => cents(anywhere),
            }
        }

        /// The SPEC §3 latch sentence: active when balance < below; once active, stays
        /// active until balance > clear_above (so while balance <= clear_above);
        /// unconfigured never active. With no balance (a reload before any poll) nothing
        /// crosses.
        fn model_latch(active: bool, t: Option<Threshold>, balance: Option<Decimal>) -> bool {
            match (t, balance) {
                (None, _) => false,
                (Some(_), None) => active,
                (Some(t), Some(b)) if active => b <= t.clear_above,
                (Some(t), Some(b)) => b < t.below,
            }
        }

        fn model_level(warning: bool, critical: bool) -> Level {
            [(critical, Level::Critical), (warning, Level::Warning)]
                .into_iter()
                .find(|(on, _)| *on)
                .map_or(Level::Ok, |(_, l)| l)
        }

        fn is_level_change(k: EventKind) -> bool {
            matches!(
                k,
                EventKind::Alert | EventKind::Improved | EventKind::Resolved
            )
        }

        /// Invariants that hold across the whole run, whatever the step.
        #[derive(Default)]
        struct History {
            /// Levels alerted since the last recovery that covers them.
            alerted: Vec<Level>,
            /// A monitor_failing stands (no monitor_recovered since).
            failing: bool,
        }

        impl History {
            fn see(&mut self, e: &Emitted) -> Result<(), TestCaseError> {
                match e.kind {
                    EventKind::Alert => {
                        prop_assert!(
                            !self.alerted.contains(&e.level),
                            "two alerts for {} without a recovery between",
                            e.level
                        );
                        self.alerted.push(e.level);
                    }
                    EventKind::Improved => self.alerted.retain(|l| *l != Level::Critical),
                    EventKind::Resolved => self.alerted.clear(),
                    EventKind::ToppedUp | EventKind::Summary => {}
                    EventKind::MonitorFailing => {
                        prop_assert!(!self.failing, "monitor_failing twice");
                        self.failing = true;
                    }
                    EventKind::MonitorRecovered => {
                        prop_assert!(self.failing, "recovered without failing");
                        self.failing = false;
                    }
                    EventKind::Reminder | EventKind::Escalated | EventKind::Test => {}
                    EventKind::StateUnwritable | EventKind::StateRecovered => {
                        prop_assert!(false, "the evaluator never emits state events");
                    }
                }
                Ok(())
            }
        }

        /// Checks the level-change event (if any) of one latch step from `before` to
        /// `after`.
        fn check_level_change(
            before: &AccountState,
            after: &AccountState,
            policy: &Policy,
            events: &[Emitted],
            now: Timestamp,
        ) -> Result<(), TestCaseError> {
            let changes: Vec<&Emitted> =
                events.iter().filter(|e| is_level_change(e.kind)).collect();
            if after.level == before.level {
                prop_assert!(
                    changes.is_empty(),
                    "event without a level change: {changes:?}"
                );
                return Ok(());
            }
            prop_assert_eq!(changes.len(), 1);
            let e = changes[0];
            prop_assert_eq!(e.level, after.level);
            prop_assert_eq!(e.previous_level, Some(before.level));
            match e.kind {
                EventKind::Alert => {
                    prop_assert!(after.level > before.level, "alert on a non-worsening");
                    prop_assert_eq!(
                        e.threshold,
                        policy.thresholds.for_level(after.level).map(|t| t.below)
                    );
                    prop_assert_eq!(after.last_notice_at, Some(now));
                }
                EventKind::Improved => {
                    prop_assert_eq!(
                        (before.level, after.level),
                        (Level::Critical, Level::Warning)
                    );
                    prop_assert_eq!(after.last_notice_at, Some(now));
                }
                EventKind::Resolved => {
                    prop_assert_eq!(after.level, Level::Ok, "resolved to a non-ok level");
                    prop_assert!(before.level != Level::Ok);
                    prop_assert_eq!(after.last_notice_at, None);
                }
                _ => unreachable!(),
            }
            // A crossing threshold, when reported, is one the balance really crossed.
            if let (Some(t), Some(b)) = (e.threshold, after.last.as_ref().map(|o| o.balance)) {
                match e.kind {
                    EventKind::Alert => prop_assert!(b < t),
                    _ => prop_assert!(b > t),
                }
            }
            Ok(())
        }

        proptest! {
            #![proptest_config(ProptestConfig::with_cases(512))]

            #[test]
            fn runs_obey_the_spec(
                initial in thresholds(),
                repeat_every in proptest::option::of(1u64..300),
                blind_after in 0u64..300,
                // Mostly whole seconds, so a step lands exactly on blind_after or
                // repeat_every now and then; sometimes any millisecond.
                ops in proptest::collection::vec(
                    (op(), prop_oneof![3 => (0u64..120).prop_map(|s| s * 1000), 1 => 0u64..300_000]),
                    1..60,
                ),
            ) {
                let mut policy = Policy {
                    thresholds: initial,
                    repeat_every: repeat_every.map(Duration::from_secs),
                    blind_after: Duration::from_secs(blind_after),
                    ..Policy::default()
                };
                let mut state = AccountState::default();
                let mut history = History::default();
                let mut now_ms = 1_700_000_000_000i64;

                for (op, dt_ms) in ops {
                    now_ms += dt_ms as i64;
                    let now = Timestamp::from_millisecond(now_ms).unwrap();
                    let before = state.clone();
                    let (after, events) = match op {
                        Op::Poll { anywhere, edge } => {
                            let balance = balance_for(&policy.thresholds, anywhere, edge);
                            let (after, events) = on_success(&before, &policy, obs_at(balance, now), now);
                            let w = model_latch(before.warning_active, policy.thresholds.warning, Some(balance));
                            let c = model_latch(before.critical_active, policy.thresholds.critical, Some(balance));
                            prop_assert_eq!((after.warning_active, after.critical_active), (w, c));
                            prop_assert_eq!(after.last.as_ref().map(|o| o.balance), Some(balance));
                            prop_assert!(!after.monitor_failing && after.failing_since.is_none() && after.last_error.is_none());
                            // monitor_recovered exactly when one stood, and first.
                            let recovered = events.iter().filter(|e| e.kind == EventKind::MonitorRecovered).count();
                            prop_assert_eq!(recovered, usize::from(before.monitor_failing));
                            if before.monitor_failing {
                                prop_assert_eq!(events[0].kind, EventKind::MonitorRecovered);
                            }
                            // Reminder oracle: exactly when due.
                            let due = after.level == before.level
                                && after.level != Level::Ok
                                && match (policy.repeat_every, before.last_notice_at) {
                                    (Some(d), Some(last)) => last <= now
                                        && now.as_millisecond() - last.as_millisecond() >= d.as_millis() as i64,
                                    _ => false,
                                };
                            let reminders: Vec<&Emitted> = events.iter().filter(|e| e.kind == EventKind::Reminder).collect();
                            prop_assert_eq!(reminders.len(), usize::from(due), "reminder due={}", due);
                            if let Some(r) = reminders.first() {
                                prop_assert_eq!(r.level, after.level);
                                prop_assert_eq!(r.threshold, policy.thresholds.for_level(after.level).map(|t| t.below));
                                prop_assert_eq!(after.last_notice_at, Some(now));
                            }
                            if after.level != Level::Ok {
                                prop_assert!(after.last_notice_at.is_some());
                            }
                            (after, events)
                        }
                        Op::Fail(class) => {
                            let (after, events) = on_failure(&before, &policy, class, "boom", now);
                            // Failures never touch levels, latches or the last balance.
                            prop_assert_eq!(
                                (after.warning_active, after.critical_active, after.level, &after.last, after.last_notice_at),
                                (before.warning_active, before.critical_active, before.level, &before.last, before.last_notice_at)
                            );
                            let since = before.failing_since.unwrap_or(now);
                            prop_assert_eq!(after.failing_since, Some(since));
                            let should_fail = !before.monitor_failing
                                && (class == ErrorClass::Config
                                    || now.as_millisecond() - since.as_millisecond() > (blind_after * 1000) as i64);
                            let expected: Vec<Emitted> = if should_fail {
                                vec![Emitted::plain(EventKind::MonitorFailing, before.level, None)]
                            } else {
                                vec![]
                            };
                            prop_assert_eq!(&events, &expected);
                            prop_assert_eq!(after.monitor_failing, before.monitor_failing || should_fail);
                            (after, events)
                        }
                        Op::Reload(new) => {
                            policy.thresholds = new;
                            let (after, events) = reevaluate(&before, &policy, now);
                            let balance = before.last.as_ref().map(|o| o.balance);
                            let w = model_latch(before.warning_active, new.warning, balance);
                            let c = model_latch(before.critical_active, new.critical, balance);
                            prop_assert_eq!((after.warning_active, after.critical_active), (w, c));
                            prop_assert!(events.iter().all(|e| is_level_change(e.kind)), "reload sent {:?}", events);
                            prop_assert_eq!(
                                (&after.last, after.monitor_failing, after.failing_since, &after.last_error),
                                (&before.last, before.monitor_failing, before.failing_since, &before.last_error)
                            );
                            (after, events)
                        }
                    };
                    prop_assert_eq!(after.level, model_level(after.warning_active, after.critical_active));
                    check_level_change(&before, &after, &policy, &events, now)?;
                    for e in &events {
                        history.see(e)?;
                    }
                    prop_assert_eq!(history.failing, after.monitor_failing);
                    state = after;
                }
            }

            /// Polls alone (no reloads): a full cycle from a fresh state, with every
            /// crossing reporting a threshold, since none can be removed under it.
            #[test]
            fn polls_always_report_the_crossed_threshold(
                t in thresholds(),
                balances in proptest::collection::vec((-2_000_000i64..2_000_000, proptest::option::of((0usize..4, -1i64..=1))), 1..60),
            ) {
                let policy = Policy { thresholds: t, repeat_every: None, blind_after: Duration::ZERO, ..Policy::default() };
                let mut state = AccountState::default();
                for (i, (anywhere, edge)) in balances.into_iter().enumerate() {
                    let now = Timestamp::from_second(i as i64 * 60).unwrap();
                    let b = balance_for(&t, anywhere, edge);
                    let (next, events) = on_success(&state, &policy, obs_at(b, now), now);
                    for e in events.iter().filter(|e| is_level_change(e.kind)) {
                        prop_assert!(e.threshold.is_some(), "{:?} without threshold", e);
                        if e.kind == EventKind::Improved {
                            prop_assert_eq!(e.threshold, t.critical.map(|c| c.clear_above));
                        }
                        if e.kind == EventKind::Resolved {
                            // The largest clear_above among the latches that released.
                            let released = [
                                (state.warning_active, t.warning),
                                (state.critical_active, t.critical),
                            ]
                            .into_iter()
                            .filter_map(|(was, t)| was.then_some(t).flatten().map(|t| t.clear_above))
                            .max();
                            prop_assert_eq!(e.threshold, released);
                        }
                    }
                    state = next;
                }
            }
        }

        fn obs_at(balance: Decimal, now: Timestamp) -> Observation {
            Observation {
                balance,
                currency: "INR".into(),
                pricing_plan: None,
                date_updated: None,
                observed_at: now,
            }
        }
    }
}
