use super::*;
use proptest::prelude::*;

fn r(text: &str) -> QuietRange {
    text.parse().unwrap_or_else(|e| panic!("{text}: {e}"))
}

fn hours(texts: &[&str]) -> QuietHours {
    QuietHours {
        ranges: texts.iter().map(|t| r(t)).collect(),
    }
}

fn utc() -> TimeZone {
    TimeZone::UTC
}

/// A civil time in `tz` as a timestamp.
fn local(tz: &TimeZone, text: &str) -> Timestamp {
    let dt: DateTime = text.parse().unwrap();
    tz.to_ambiguous_zoned(dt).compatible().unwrap().timestamp()
}

#[test]
fn ranges_parse_and_print() {
    assert_eq!(r("22:00-07:00").to_string(), "22:00-07:00");
    assert_eq!(r("Sat 00:00-24:00").to_string(), "sat 00:00-24:00");
    assert_eq!(
        r("mon-fri 18:30-08:00").to_string(),
        "mon,tue,wed,thu,fri 18:30-08:00"
    );
    assert_eq!(
        r("Fri-Mon 12:00-13:00").to_string(),
        "mon,fri,sat,sun 12:00-13:00"
    );
    assert_eq!(
        r("Sat,Sunday 9:00-10:00").to_string(),
        "sat,sun 09:00-10:00"
    );
    assert_eq!(r("22:00-00:00").to_string(), "22:00-24:00");
    for (bad, why) in [
        ("22:00", "expected HH:MM-HH:MM"),
        ("25:00-07:00", "bad time \"25:00\""),
        ("22:60-07:00", "bad time \"22:60\""),
        ("24:00-07:00", "bad time \"24:00\""),
        ("22-07", "bad time \"22\""),
        ("Sa 22:00-07:00", "unknown weekday \"Sa\""),
        ("Caturday 22:00-07:00", "unknown weekday"),
        ("07:00-07:00", "empty range"),
    ] {
        let err = bad.parse::<QuietRange>().unwrap_err();
        assert!(err.contains(why), "{bad}: {err}");
    }
}

#[test]
fn a_range_wraps_midnight() {
    let tz = utc();
    let q = hours(&["22:00-07:00"]);
    // 2026-12-03 is a Thursday.
    assert!(!q.is_quiet(&tz, local(&tz, "2026-12-03T21:59:59")));
    assert!(q.is_quiet(&tz, local(&tz, "2026-12-03T22:00")));
    assert!(q.is_quiet(&tz, local(&tz, "2026-12-04T03:00")));
    assert!(q.is_quiet(&tz, local(&tz, "2026-12-04T06:59:59")));
    assert!(!q.is_quiet(&tz, local(&tz, "2026-12-04T07:00")));
    assert_eq!(
        q.quiet_until(&tz, local(&tz, "2026-12-03T23:00")),
        Some(local(&tz, "2026-12-04T07:00"))
    );
    assert_eq!(q.quiet_until(&tz, local(&tz, "2026-12-03T12:00")), None);
}

#[test]
fn a_weekday_names_the_day_the_range_starts() {
    let tz = utc();
    let q = hours(&["Fri 22:00-07:00"]);
    assert!(q.is_quiet(&tz, local(&tz, "2026-12-04T23:00"))); // Friday night
    assert!(q.is_quiet(&tz, local(&tz, "2026-12-05T06:00"))); // Saturday morning
    assert!(!q.is_quiet(&tz, local(&tz, "2026-12-04T06:00"))); // Friday morning
    assert!(!q.is_quiet(&tz, local(&tz, "2026-12-05T23:00"))); // Saturday night
}

#[test]
fn touching_ranges_chain_into_one_quiet_period() {
    let tz = utc();
    let q = hours(&["22:00-07:00", "Sat 00:00-24:00", "Sun 00:00-24:00"]);
    // Friday 23:00: the night runs into the weekend and the weekend into Sunday night's
    // range, which ends Monday 07:00.
    assert_eq!(
        q.quiet_until(&tz, local(&tz, "2026-12-04T23:00")),
        Some(local(&tz, "2026-12-07T07:00"))
    );
}

#[test]
fn always_quiet_is_rechecked_after_eight_days() {
    let tz = utc();
    let q = hours(&["00:00-24:00"]);
    let now = local(&tz, "2026-12-03T12:00");
    assert_eq!(q.quiet_until(&tz, now), Some(now + 192.hours()));
}

#[test]
fn quiet_hours_follow_the_wall_clock_through_dst() {
    let tz = TimeZone::get("America/New_York").unwrap();
    let q = hours(&["22:00-07:00"]);
    // Spring forward on 2026-03-08 (02:00 → 03:00): the night is an hour shorter in
    // absolute time but still ends at 07:00 on the wall.
    let evening = local(&tz, "2026-03-07T23:00");
    let end = q.quiet_until(&tz, evening).unwrap();
    assert_eq!(end, local(&tz, "2026-03-08T07:00"));
    assert_eq!(end.to_zoned(tz.clone()).hour(), 7);
    assert_eq!(end.duration_since(evening).as_secs(), 7 * 3600);
    // Fall back on 2026-11-01: nine hours of absolute time.
    let evening = local(&tz, "2026-10-31T23:00");
    let end = q.quiet_until(&tz, evening).unwrap();
    assert_eq!(end.to_zoned(tz.clone()).hour(), 7);
    assert_eq!(end.duration_since(evening).as_secs(), 9 * 3600);
    // A range ending inside the gap ends when the wall clock has passed it.
    let q = hours(&["01:00-02:30"]);
    let end = q.quiet_until(&tz, local(&tz, "2026-03-08T01:30")).unwrap();
    assert_eq!(end, local(&tz, "2026-03-08T03:30"));
    assert!(!q.is_quiet(&tz, end));
}

#[test]
fn what_is_held_and_what_goes() {
    use EventKind::*;
    for (kind, severity, held) in [
        (Alert, Level::Warning, true),
        (Alert, Level::Critical, false),
        (Reminder, Level::Warning, true),
        (Reminder, Level::Critical, false),
        (Improved, Level::Warning, true),
        (Resolved, Level::Ok, true),
        (MonitorRecovered, Level::Ok, true),
        (MonitorFailing, Level::Ok, false),
        (Escalated, Level::Warning, false),
        (Escalated, Level::Critical, false),
    ] {
        assert_eq!(is_holdable(kind, severity), held, "{kind:?} {severity}");
    }
}

fn fact(kind: EventKind, level: Level, previous: Option<Level>) -> HeldFact {
    HeldFact {
        kind,
        level,
        previous_level: previous,
    }
}

#[test]
fn the_collapse_is_the_net_change() {
    use EventKind::*;
    use Level::*;
    // ok → warning → ok: nothing.
    let c = collapse(&[
        fact(Alert, Warning, Some(Ok)),
        fact(Reminder, Warning, None),
        fact(Resolved, Ok, Some(Warning)),
    ]);
    assert_eq!(c.change, None);
    // ok → warning: one alert.
    let c = collapse(&[
        fact(Alert, Warning, Some(Ok)),
        fact(Reminder, Warning, None),
    ]);
    assert_eq!(c.change, Some((Alert, Warning, Ok)));
    // warning → ok: resolved; critical → warning → ok: resolved from critical.
    let c = collapse(&[
        fact(Improved, Warning, Some(Critical)),
        fact(Resolved, Ok, Some(Warning)),
    ]);
    assert_eq!(c.change, Some((Resolved, Ok, Critical)));
    let c = collapse(&[fact(Improved, Warning, Some(Critical))]);
    assert_eq!(c.change, Some((Improved, Warning, Critical)));
    // A held recovery survives the collapse.
    let c = collapse(&[fact(MonitorRecovered, Warning, None)]);
    assert!(c.recovered);
    assert_eq!(c.change, None);
}

fn level() -> impl Strategy<Value = Level> {
    prop_oneof![Just(Level::Ok), Just(Level::Warning), Just(Level::Critical)]
}

/// Time zones with and without DST, on both sides of UTC.
fn zone() -> impl Strategy<Value = TimeZone> {
    prop_oneof![
        Just("UTC"),
        Just("Asia/Kolkata"),
        Just("America/New_York"),
        Just("Europe/London"),
        Just("Australia/Lord_Howe"),
    ]
    .prop_map(|name| TimeZone::get(name).unwrap())
}

fn range() -> impl Strategy<Value = QuietRange> {
    (0u8..=ALL_DAYS, 0u16..1440, 1u16..=1440)
        .prop_filter("empty", |(_, s, e)| s != e)
        .prop_map(|(days, start, end)| QuietRange {
            days: days.max(1),
            start,
            end,
        })
}

proptest! {
    /// A quiet range never releases a critical late: whatever the ranges, the zone and
    /// the moment, a critical message (or an escalation, or a failing monitor) is not
    /// held; everything held is released at a moment that is no longer quiet, and only
    /// ever held while it is quiet.
    #[test]
    fn a_quiet_range_never_releases_a_critical_late(
        ranges in proptest::collection::vec(range(), 0..4),
        tz in zone(),
        secs in 1_700_000_000i64..1_900_000_000,
        kind in prop_oneof![
            Just(EventKind::Alert), Just(EventKind::Reminder), Just(EventKind::Improved),
            Just(EventKind::Resolved), Just(EventKind::Escalated),
            Just(EventKind::MonitorFailing), Just(EventKind::MonitorRecovered),
        ],
        severity in level(),
    ) {
        let quiet = QuietHours { ranges };
        let now = Timestamp::from_second(secs).unwrap();
        let held = hold_until(&quiet, &tz, kind, severity, now);
        if severity == Level::Critical
            || matches!(kind, EventKind::Escalated | EventKind::MonitorFailing)
        {
            prop_assert_eq!(held, None);
        }
        match held {
            Some(until) => {
                prop_assert!(quiet.is_quiet(&tz, now));
                prop_assert!(until > now);
                // Released as soon as the quiet period ends (unless always quiet).
                if until < now + 192.hours() {
                    prop_assert!(!quiet.is_quiet(&tz, until), "still quiet at {until}");
                }
            }
            None => prop_assert!(!is_holdable(kind, severity) || !quiet.is_quiet(&tz, now)),
        }
    }

    /// The collapse of any held sequence equals the net change: the held messages of a
    /// walk through the levels (as the evaluator emits them, reminders in between)
    /// become nothing when the walk ends where it began, else one message that moves
    /// the channel from the first level to the last.
    #[test]
    fn the_collapse_of_any_held_sequence_equals_the_net_change(
        start in level(),
        walk in proptest::collection::vec((level(), any::<bool>()), 1..30),
    ) {
        let mut facts = Vec::new();
        let mut current = start;
        for (next, remind) in walk {
            match change_kind(current, next) {
                Some(kind) => facts.push(fact(kind, next, Some(current))),
                None if remind && next != Level::Ok => {
                    facts.push(fact(EventKind::Reminder, next, None));
                }
                None => {}
            }
            current = next;
        }
        let released = collapse(&facts);
        if facts.is_empty() || current == start {
            prop_assert_eq!(released.change, None);
        } else {
            let (kind, now, before) = released.change.unwrap();
            prop_assert_eq!(now, current);
            prop_assert_eq!(before, start);
            prop_assert_eq!(Some(kind), change_kind(start, current));
        }
    }
}
