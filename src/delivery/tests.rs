use std::time::Duration;

use super::*;

fn entry(seq: u64, account: &str, kind: EventKind) -> Arc<OutboxEntry> {
    let at: Timestamp = "2026-01-01T00:00:00Z".parse().unwrap();
    Arc::new(OutboxEntry {
        seq,
        channel: "c".into(),
        created_at: at,
        event: Event {
            id: seq.to_string(),
            event: kind,
            account: account.into(),
            provider: "exotel".into(),
            sid: "s".into(),
            level: Level::Warning,
            previous_level: None,
            balance: None,
            currency: "INR".into(),
            threshold: None,
            pricing_plan: None,
            date_updated: None,
            observed_at: at,
            error: Some(format!("HTTP 503 for {account}")),
            ..Event::default()
        },
        held_until: None,
    })
}

/// Sends everything due, in order, marking each delivered; returns the sequence numbers.
fn drain(q: &mut Queue, now: Instant) -> Vec<u64> {
    let mut sent = Vec::new();
    while let Some(pick) = q.pick(now) {
        let accounts = match pick {
            Pick::One(a) => vec![a],
            Pick::Group(all) => all,
        };
        for a in accounts {
            sent.push(q.done(&a).unwrap().seq);
        }
    }
    sent
}

#[test]
fn a_restored_queue_drops_reminders_that_newer_events_supersede() {
    let restored = vec![
        entry(1, "a", EventKind::Alert),
        entry(2, "a", EventKind::Reminder),
        entry(3, "b", EventKind::Reminder),
        entry(4, "a", EventKind::Improved),
        entry(5, "a", EventKind::Reminder),
    ];
    let mut q = Queue::new(true);
    let mut dropped = Vec::new();
    for e in restored {
        dropped.extend(q.push(e));
    }
    assert_eq!(dropped, [2]);
    let mut kept = drain(&mut q, Instant::now());
    kept.sort();
    // a's first reminder gave way to its improved; b's and a's last one stay.
    assert_eq!(kept, [1, 3, 4, 5]);
}

#[test]
fn each_account_in_order_and_accounts_take_turns() {
    let mut q = Queue::new(true);
    for seq in 1..=4 {
        q.push(entry(seq, "backlog", EventKind::Alert));
    }
    q.push(entry(10, "fresh", EventKind::Alert));
    let order = drain(&mut q, Instant::now());
    // The fresh account's alert goes second, not behind the whole backlog; the
    // backlog's own order holds.
    assert_eq!(order, [1, 10, 2, 3, 4]);
    assert!(q.is_empty());
}

#[test]
fn a_failing_account_does_not_block_the_others() {
    let now = Instant::now();
    let mut q = Queue::new(true);
    q.push(entry(1, "stuck", EventKind::Alert));
    q.push(entry(2, "stuck", EventKind::Resolved));
    q.push(entry(3, "other", EventKind::Alert));
    assert_eq!(q.pick(now), Some(Pick::One("stuck".into())));
    assert_eq!(q.retry_at("stuck", now + Duration::from_secs(60)), 1);
    // The other account goes while the stuck one waits; the stuck one's resolved
    // never overtakes its alert.
    assert_eq!(drain(&mut q, now), [3]);
    assert_eq!(q.due(now), Some(now + Duration::from_secs(60)));
    assert_eq!(q.pick(now), None);
    let later = now + Duration::from_secs(61);
    assert_eq!(drain(&mut q, later), [1, 2]);
}

/// The summary and the state events are about no single account: they queue in lanes
/// of their own, so a summary being retried holds up neither an account nor the state
/// events, which keep their order.
#[test]
fn the_summary_and_the_state_events_have_lanes_of_their_own() {
    let now = Instant::now();
    let mut q = Queue::new(true);
    q.push(entry(1, "", EventKind::Summary));
    q.push(entry(2, "", EventKind::StateUnwritable));
    q.push(entry(3, "", EventKind::StateRecovered));
    q.push(entry(4, "a", EventKind::Alert));
    let summary = match q.pick(now) {
        Some(Pick::One(lane)) => lane,
        other => panic!("{other:?}"),
    };
    assert_eq!(q.head(&summary).unwrap().seq, 1);
    q.retry_at(&summary, now + Duration::from_secs(60));
    assert_eq!(drain(&mut q, now), [2, 4, 3]);
    assert_eq!(drain(&mut q, now + Duration::from_secs(61)), [1]);
}

#[test]
fn more_than_five_outage_messages_go_as_one_group() {
    let mut q = Queue::new(true);
    for (i, name) in ["a", "b", "c", "d", "e", "f", "g"].iter().enumerate() {
        q.push(entry(i as u64, name, EventKind::MonitorFailing));
    }
    q.push(entry(50, "h", EventKind::Alert));
    match q.pick(Instant::now()) {
        Some(Pick::Group(all)) => assert_eq!(all, ["a", "b", "c", "d", "e", "f", "g"]),
        other => panic!("{other:?}"),
    }
    // Exactly five are not grouped, and a channel that does not group never does.
    for grouping in [true, false] {
        let mut q = Queue::new(grouping);
        let n = if grouping { 5 } else { 9 };
        for i in 0..n {
            q.push(entry(i, &format!("acct{i}"), EventKind::MonitorFailing));
        }
        assert!(matches!(q.pick(Instant::now()), Some(Pick::One(_))));
    }
}

#[test]
fn a_group_names_the_worst_first_within_the_limit() {
    let mut entries: Vec<OutboxEntry> = (0..12)
        .map(|i| (*entry(i, &format!("acct{i:02}"), EventKind::MonitorFailing)).clone())
        .collect();
    entries[7].event.level = Level::Critical;
    let members: Vec<&Event> = entries.iter().map(|e| &e.event).collect();
    let now: Timestamp = "2026-01-01T00:00:00Z".parse().unwrap();
    let g = group_event(EventKind::MonitorFailing, &members, now, 33);
    assert_eq!(g.event, EventKind::MonitorFailing);
    assert_eq!(g.level, Level::Critical);
    assert_eq!(g.account, "12 accounts (acct07, acct00, acct01 and 9 more)");
    assert_eq!(
        g.error.as_deref(),
        Some("HTTP 503 for acct07 (and other errors on some accounts)")
    );
    let all = group_event(EventKind::MonitorRecovered, &members, now, 10_000);
    assert!(all.account.ends_with("acct11)"), "{}", all.account);
    assert_eq!(all.error, None);
}
