//! The daemon's side of SPEC §12: ticking an account's escalation clock when its state
//! is committed, deciding which outbox entries wait out a channel's quiet hours, and the
//! task that releases them (collapsed to the net change) when the quiet period ends, or
//! re-plans them when a reload changed the ranges.
//!
//! The decisions are the pure ones of [`crate::core::escalation`] and
//! [`crate::core::quiet`]; this file only applies them to the store and the workers.
//! Held messages are ordinary outbox entries with `held_until` set: they are persisted
//! like any other, survive restarts, and are not handed to a worker until released.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::time::Duration;

use jiff::Timestamp;
use jiff::tz::TimeZone;
use tokio::sync::{Notify, mpsc};
use tracing::{error, info};

use super::{Route, Shared, Shutdown, WorkerMsg};
use crate::core::escalation::{self, Due};
use crate::core::quiet::{self, HeldFact};
use crate::core::{Event, EventKind, Level, new_event_id};
use crate::provider::AccountConfig;
use crate::state::{AccountRecord, OutboxEntry, State};

/// The longest the release task sleeps without looking: bounds the effect of a wall
/// clock that jumps.
const RECHECK_EVERY: Duration = Duration::from_secs(60);

/// What the paging part of the daemon shares.
pub(super) struct Paging {
    /// The zone quiet hours are read in: `[daemon] timezone`, else the host's.
    pub tz: TimeZone,
    /// Wakes the release task: something was held, or a reload changed the ranges.
    pub wake: Notify,
}

impl Paging {
    pub fn new(timezone: Option<&(String, TimeZone)>) -> Paging {
        Paging {
            tz: timezone.map_or_else(TimeZone::system, |(_, tz)| tz.clone()),
            wake: Notify::new(),
        }
    }
}

/// Whether the account's escalation clock stands still at `now`: while its monitor is
/// failing or a snooze stands (SPEC §12).
fn paused(record: &AccountRecord, now: Timestamp) -> bool {
    record.eval.monitor_failing || record.is_snoozed(now)
}

/// Advances the account's escalation clock to `now` and returns the steps that fell
/// due. Called with the store locked, after the account's new state is in `record`.
pub(super) fn tick(
    account: &AccountConfig,
    record: &mut AccountRecord,
    now: Timestamp,
) -> Vec<Due> {
    if account.escalate.is_empty() {
        record.escalation = Default::default();
        return Vec::new();
    }
    let paused = paused(record, now);
    escalation::tick(
        &mut record.escalation,
        &account.escalate,
        record.eval.level,
        paused,
        now,
    )
}

/// How long until the account's next escalation step falls due, if its clock runs.
pub(super) fn next_escalation(
    account: &AccountConfig,
    record: &AccountRecord,
    now: Timestamp,
) -> Option<Duration> {
    if paused(record, now) {
        return None;
    }
    escalation::next_due(&record.escalation, &account.escalate)
}

/// Until when a message for `channel` waits; `None`: it goes now.
pub(super) fn hold_until(
    paging: &Paging,
    routes: &HashMap<String, Route>,
    channel: &str,
    kind: EventKind,
    severity: Level,
    now: Timestamp,
) -> Option<Timestamp> {
    let quiet = &routes.get(channel)?.config.quiet_hours;
    if quiet.is_empty() {
        return None;
    }
    quiet::hold_until(quiet, &paging.tz, kind, severity, now)
}

/// A level change that goes at once (a critical alert in quiet hours) tells the channel
/// the account's level itself: the messages held before it for that account are old
/// news and are dropped, so the collapse later starts from what the channel now knows.
pub(super) fn drop_superseded_held(
    state: &mut State,
    channel: &str,
    account: &str,
    kind: EventKind,
) -> usize {
    if !matches!(
        kind,
        EventKind::Alert | EventKind::Improved | EventKind::Resolved
    ) {
        return 0;
    }
    state.retain_outbox(|e| {
        !(e.is_held()
            && e.channel == channel
            && e.event.account == account
            && e.event.event != EventKind::MonitorRecovered)
    })
}

/// Counts the held entries (for the metric).
pub(super) fn held_count(state: &State) -> usize {
    state.outbox().values().filter(|e| e.is_held()).count()
}

/// The messages one account's held entries for one channel become (SPEC §12): a held
/// `monitor_recovered`, then one message for the net level change, if any.
fn released_events(held: &[&OutboxEntry]) -> Vec<Event> {
    let facts: Vec<HeldFact> = held
        .iter()
        .map(|e| HeldFact {
            kind: e.event.event,
            level: e.event.level,
            previous_level: e.event.previous_level,
        })
        .collect();
    let released = quiet::collapse(&facts);
    let mut out = Vec::new();
    if released.recovered {
        if let Some(e) = held
            .iter()
            .rev()
            .find(|e| e.event.event == EventKind::MonitorRecovered)
        {
            out.push(e.event.clone());
        }
    }
    if let (Some((kind, level, before)), Some(last)) = (released.change, held.last()) {
        // The threshold the last message of the same kind and level reported: the
        // crossing that brought the account where it is now.
        let threshold = held
            .iter()
            .rev()
            .find(|e| e.event.event == kind && e.event.level == level)
            .and_then(|e| e.event.threshold);
        out.push(Event {
            id: new_event_id(),
            event: kind,
            level,
            previous_level: Some(before),
            threshold,
            error: None,
            ..last.event.clone()
        });
    }
    out
}

/// The release task: wakes when the earliest held message is due (or when told), and
/// for each channel whose quiet period is over collapses each account's held messages
/// into what is released; for a channel still quiet, re-plans the release time (a
/// reload may have changed its ranges).
pub(super) async fn run_release(
    shared: Arc<Shared>,
    mut shutdown: Shutdown,
    done: mpsc::Sender<()>,
) {
    let heartbeat = shared.heartbeats.register("quiet hours");
    loop {
        let next = release_due(&shared).await;
        let now = shared.clock.now();
        let wait = next
            .map(|at| Duration::try_from(at.duration_since(now)).unwrap_or(Duration::ZERO))
            .unwrap_or(RECHECK_EVERY)
            .min(RECHECK_EVERY);
        heartbeat.expect_back_within(wait + super::HEARTBEAT_SLACK);
        tokio::select! {
            _ = shutdown.recv() => break,
            _ = shared.paging.wake.notified() => {}
            // A few milliseconds past the end, so the range has surely ended.
            _ = tokio::time::sleep(wait + Duration::from_millis(5)) => {}
        }
    }
    drop(done);
}

/// One pass of the release task; returns when the next held message is due.
async fn release_due(shared: &Shared) -> Option<Timestamp> {
    let now = shared.clock.now();
    let (released, next, held, pending, changed) = {
        let routes = shared.routes.read().unwrap_or_else(|p| p.into_inner());
        let mut guard = shared.store.lock();
        let state = &mut *guard;
        // (channel, account) → held entries, oldest first (the outbox is in seq order).
        let mut groups: BTreeMap<(String, String), Vec<u64>> = BTreeMap::new();
        for e in state.outbox().values().filter(|e| e.is_held()) {
            groups
                .entry((e.channel.clone(), e.event.account.clone()))
                .or_default()
                .push(e.seq);
        }
        let mut release: Vec<u64> = Vec::new();
        let mut new_events: Vec<(String, Event)> = Vec::new();
        let mut next: Option<Timestamp> = None;
        let mut changed = false;
        for ((channel, _account), seqs) in groups {
            // A channel removed by a reload had its entries dropped there.
            let Some(route) = routes.get(&channel) else {
                continue;
            };
            match route.config.quiet_hours.quiet_until(&shared.paging.tz, now) {
                Some(until) => {
                    for seq in &seqs {
                        changed |= state.hold_until(*seq, until);
                    }
                    next = Some(next.map_or(until, |n| n.min(until)));
                }
                None => {
                    let held: Vec<&OutboxEntry> = seqs
                        .iter()
                        .filter_map(|s| state.outbox().get(s).map(|e| &**e))
                        .collect();
                    for event in released_events(&held) {
                        new_events.push((channel.clone(), event));
                    }
                    release.extend(seqs);
                }
            }
        }
        let mut entries = Vec::new();
        if !release.is_empty() {
            changed = true;
            info!(
                held = release.len(),
                released = new_events.len(),
                "quiet hours over: held messages collapsed to the net change"
            );
            state.remove_outbox(&release);
            for (channel, event) in new_events {
                entries.push(state.push_outbox(channel, now, event, None));
            }
        }
        (
            entries,
            next,
            held_count(state),
            state.outbox().len(),
            changed,
        )
    };
    shared.metrics.set_outbox_held(held);
    shared.metrics.set_outbox_pending(pending);
    if changed {
        if let Err(e) = shared.store.save().await {
            // The state watcher reports the disk once; memory holds the outbox.
            error!(error = %e, "cannot persist the outbox");
            shared.metrics.inc_state_write_error();
        }
    }
    let routes = shared.routes.read().unwrap_or_else(|p| p.into_inner());
    for entry in released {
        if let Some(route) = routes.get(&entry.channel) {
            if route.tx.send(WorkerMsg::Enqueue(entry)).is_err() {
                error!("delivery worker is not running; message kept in the outbox");
            }
        }
    }
    next
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::state::StateFile;

    fn held(seq: u64, kind: EventKind, level: Level, previous: Option<Level>) -> OutboxEntry {
        let at: Timestamp = "2026-12-03T01:00:00Z".parse().unwrap();
        OutboxEntry {
            seq,
            channel: "chat".into(),
            created_at: at,
            held_until: Some(at),
            event: Event {
                id: seq.to_string(),
                event: kind,
                account: "primary".into(),
                provider: "exotel".into(),
                sid: "acme".into(),
                level,
                previous_level: previous,
                balance: Some(rust_decimal::Decimal::from(4000 + seq)),
                currency: "INR".into(),
                threshold: Some(rust_decimal::Decimal::from(5000)),
                pricing_plan: None,
                date_updated: None,
                observed_at: at,
                error: None,
                ..Default::default()
            },
        }
    }

    /// A standing snooze stops the escalation clock like a failing monitor (SPEC §12):
    /// the step falls due only after `after` of unsnoozed time at the level.
    #[test]
    fn a_snooze_pauses_the_escalation_clock() {
        let text = r#"
[[account]]
name = "primary"
sid = "acme"
api_key = "k"
api_token = "t"
notify = ["chat"]
warning = { below = 5000, clear_above = 6000 }
critical = { below = 1000, clear_above = 1500 }
escalate = [{ after = "30m", level = "critical", to = ["pager"] }]

[[channel]]
name = "chat"
type = "console"

[[channel]]
name = "pager"
type = "console"
"#;
        let config = crate::settings::parse(
            text,
            std::path::Path::new("c.toml"),
            &crate::config::MapEnv::default(),
        )
        .unwrap();
        let account = config.account("primary").unwrap();
        let t = |s: &str| -> Timestamp { s.parse().unwrap() };
        let mut record = AccountRecord::default();
        record.eval.level = Level::Critical;
        record.eval.critical_active = true;
        // The alert at 00:00 starts the clock; 10 minutes run.
        assert!(tick(account, &mut record, t("2026-12-03T00:00:00Z")).is_empty());
        assert!(tick(account, &mut record, t("2026-12-03T00:10:00Z")).is_empty());
        // Snoozed for an hour (the clock learns of it at the next tick: a pause is
        // honoured to within one poll): the clock stands, nothing is due, no wake-up.
        record.snooze = Some(crate::core::Snooze {
            since: t("2026-12-03T00:10:00Z"),
            until: Some(t("2026-12-03T01:10:00Z")),
            level: Level::Critical,
        });
        assert!(tick(account, &mut record, t("2026-12-03T00:10:00Z")).is_empty());
        assert!(tick(account, &mut record, t("2026-12-03T00:50:00Z")).is_empty());
        assert_eq!(
            next_escalation(account, &record, t("2026-12-03T00:50:00Z")),
            None
        );
        assert!(tick(account, &mut record, t("2026-12-03T01:10:00Z")).is_empty());
        // Expired: 20 more minutes of running clock make the 30.
        let now = t("2026-12-03T01:10:00Z");
        assert!(!record.is_snoozed(now));
        assert_eq!(
            next_escalation(account, &record, now),
            Some(Duration::from_secs(20 * 60))
        );
        assert!(tick(account, &mut record, t("2026-12-03T01:29:00Z")).is_empty());
        let due = tick(account, &mut record, t("2026-12-03T01:30:00Z"));
        assert_eq!(due.len(), 1, "{due:?}");
        assert_eq!(due[0].to, ["pager"]);
    }

    #[test]
    fn released_events_carry_the_latest_facts() {
        let a = held(1, EventKind::Alert, Level::Warning, Some(Level::Ok));
        let b = held(2, EventKind::Reminder, Level::Warning, None);
        let r = held(3, EventKind::MonitorRecovered, Level::Warning, None);
        let out = released_events(&[&a, &b, &r]);
        assert_eq!(out.len(), 2);
        assert_eq!(out[0].event, EventKind::MonitorRecovered);
        assert_eq!(out[1].event, EventKind::Alert);
        assert_eq!(out[1].level, Level::Warning);
        assert_eq!(out[1].previous_level, Some(Level::Ok));
        // The newest balance, a fresh id.
        assert_eq!(out[1].balance, Some(rust_decimal::Decimal::from(4003)));
        assert_ne!(out[1].id, "1");
        let resolved = held(4, EventKind::Resolved, Level::Ok, Some(Level::Warning));
        assert!(released_events(&[&a, &b, &resolved]).is_empty());
    }

    #[test]
    fn only_an_at_once_level_change_supersedes_held_messages() {
        let mut outbox = State::from(StateFile {
            outbox: vec![
                held(1, EventKind::Alert, Level::Warning, Some(Level::Ok)),
                held(2, EventKind::MonitorRecovered, Level::Warning, None),
            ],
            ..StateFile::default()
        });
        assert_eq!(
            drop_superseded_held(&mut outbox, "chat", "primary", EventKind::MonitorFailing),
            0
        );
        assert_eq!(
            drop_superseded_held(&mut outbox, "other", "primary", EventKind::Alert),
            0
        );
        assert_eq!(
            drop_superseded_held(&mut outbox, "chat", "primary", EventKind::Alert),
            1
        );
        let left: Vec<EventKind> = outbox.outbox().values().map(|e| e.event.event).collect();
        assert_eq!(left, [EventKind::MonitorRecovered]);
    }
}
