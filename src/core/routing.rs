//! Routing decisions (SPEC §5): who is told what. Pure: the daemon passes the
//! channels in and persists the [`Routing`] memory this updates.

use std::collections::BTreeSet;

use serde::{Deserialize, Serialize};

use super::event::EventKind;
use super::level::Level;

/// What routing needs to know of a channel; the channel config implements it.
pub trait Routed {
    fn name(&self) -> &str;
    fn min_level(&self) -> Level;
    /// Whether the channel's `events` list (SPEC §9.5) names this kind.
    fn wants(&self, kind: EventKind) -> bool {
        default_events(kind)
    }
}

/// The kinds a channel gets when it sets no `events` (SPEC §9.5): all but `topped_up`
/// and `summary`.
pub fn default_events(kind: EventKind) -> bool {
    !matches!(kind, EventKind::ToppedUp | EventKind::Summary)
}

/// Per-account routing memory (SPEC §5), persisted with the account's state: who was
/// sent what, so `improved`, `resolved` and `monitor_recovered` reach exactly the
/// channels that heard the news they follow up on.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct Routing {
    /// Channels sent any alert since the level left `ok`.
    pub alerted: BTreeSet<String>,
    /// Channels sent the `critical` alert.
    pub critical: BTreeSet<String>,
    /// Channels sent the standing `monitor_failing`.
    pub failing: BTreeSet<String>,
    /// Channels sent an `escalated` since the level left `ok` (SPEC §12): the
    /// follow-ups (`improved`, `resolved`) reach them too.
    pub escalated: BTreeSet<String>,
}

/// Decides which channels receive an event of `kind` at `severity`, and updates the
/// routing memory. `own` are the account's `notify` channels; `all` every configured
/// channel (in the order the result keeps). `min_level` picks among the account's own
/// channels; follow-ups (`improved`, `resolved`, `monitor_recovered`) go to whoever got
/// the news they answer, even a channel a reload has since taken off the account's
/// list; `monitor_failing` goes to every channel; `topped_up` to the account's own
/// channels. Within all of that, a channel gets only the kinds its `events` names
/// (SPEC §9.5); `test` is an operator's explicit request and ignores the list.
pub fn route<C: Routed + ?Sized>(
    kind: EventKind,
    severity: Level,
    own: &[&C],
    all: &[&C],
    memory: &mut Routing,
) -> Vec<String> {
    let is_own = |c: &C| own.iter().any(|o| o.name() == c.name());
    let passes_filter = |c: &C| is_own(c) && severity != Level::Ok && c.min_level() <= severity;
    let picked: Vec<String> = all
        .iter()
        .filter(|c| kind == EventKind::Test || c.wants(kind))
        .filter(|c| match kind {
            EventKind::Alert | EventKind::Reminder => passes_filter(c),
            EventKind::Improved => {
                passes_filter(c)
                    || memory.critical.contains(c.name())
                    || memory.escalated.contains(c.name())
            }
            EventKind::Resolved => {
                memory.alerted.contains(c.name()) || memory.escalated.contains(c.name())
            }
            EventKind::MonitorFailing => true,
            EventKind::MonitorRecovered => memory.failing.contains(c.name()),
            EventKind::Test | EventKind::ToppedUp => is_own(c),
            // Built per channel by the daemon's summary task, never routed.
            EventKind::Summary => false,
            // Escalations name their channels themselves: see [`route_escalation`].
            EventKind::Escalated => false,
            // Queued for every channel by the daemon itself, never routed per account.
            EventKind::StateUnwritable | EventKind::StateRecovered => true,
        })
        .map(|c| c.name().to_owned())
        .collect();
    match kind {
        EventKind::Alert | EventKind::Reminder => {
            memory.alerted.extend(picked.iter().cloned());
            if severity == Level::Critical {
                memory.critical.extend(picked.iter().cloned());
            }
        }
        EventKind::Improved => {
            memory.alerted.extend(picked.iter().cloned());
            memory.critical.clear();
        }
        EventKind::Resolved => {
            memory.alerted.clear();
            memory.critical.clear();
            memory.escalated.clear();
        }
        EventKind::MonitorFailing => memory.failing.extend(picked.iter().cloned()),
        EventKind::MonitorRecovered => memory.failing.clear(),
        EventKind::Escalated
        | EventKind::Test
        | EventKind::ToppedUp
        | EventKind::Summary
        | EventKind::StateUnwritable
        | EventKind::StateRecovered => {}
    }
    picked
}

/// The channels an `escalated` event goes to: the step's `to`, whatever their
/// `min_level` and whether or not they are in the account's `notify` (SPEC §12), in the
/// order of `all`; a name no longer configured is skipped. Remembered so the follow-ups
/// reach them.
pub fn route_escalation<C: Routed + ?Sized>(
    to: &[String],
    all: &[&C],
    memory: &mut Routing,
) -> Vec<String> {
    let picked: Vec<String> = all
        .iter()
        // A channel whose `events` list leaves `escalated` out never gets it (SPEC §9.5).
        .filter(|c| c.wants(EventKind::Escalated) && to.iter().any(|t| t == c.name()))
        .map(|c| c.name().to_owned())
        .collect();
    memory.escalated.extend(picked.iter().cloned());
    picked
}

/// The severity routing filters an event by (SPEC §4 table).
pub fn severity(kind: EventKind, level: Level) -> Level {
    match kind {
        EventKind::Alert | EventKind::Reminder | EventKind::Escalated => level,
        EventKind::Improved => Level::Warning,
        EventKind::Resolved
        | EventKind::MonitorRecovered
        | EventKind::Test
        | EventKind::ToppedUp
        | EventKind::Summary
        | EventKind::StateRecovered => Level::Ok,
        EventKind::StateUnwritable => Level::Warning,
        // Goes to every channel regardless of min_level; the level is informative.
        EventKind::MonitorFailing => level,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Channel {
        name: &'static str,
        min_level: Level,
    }

    impl Routed for Channel {
        fn name(&self) -> &str {
            self.name
        }
        fn min_level(&self) -> Level {
            self.min_level
        }
    }

    fn channel(name: &'static str, min_level: Level) -> Channel {
        Channel { name, min_level }
    }

    #[test]
    fn routing_follows_spec_section_5() {
        let warn = channel("warn", Level::Warning);
        let crit = channel("crit", Level::Critical);
        let other = channel("other", Level::Warning);
        let own = [&warn, &crit];
        let all = [&crit, &other, &warn];
        let mut memory = Routing::default();
        let mut go = |kind, level| route(kind, severity(kind, level), &own, &all, &mut memory);

        assert_eq!(go(EventKind::Alert, Level::Warning), ["warn"]);
        assert_eq!(go(EventKind::Alert, Level::Critical), ["crit", "warn"]);
        assert_eq!(go(EventKind::Reminder, Level::Critical), ["crit", "warn"]);
        // improved: the warning filter plus whoever got the critical alert.
        assert_eq!(go(EventKind::Improved, Level::Warning), ["crit", "warn"]);
        // resolved: everyone alerted since the level left ok.
        assert_eq!(go(EventKind::Resolved, Level::Ok), ["crit", "warn"]);
        assert_eq!(go(EventKind::Resolved, Level::Ok), Vec::<String>::new());
        // monitor_failing: every channel; recovered: exactly those.
        assert_eq!(
            go(EventKind::MonitorFailing, Level::Ok),
            ["crit", "other", "warn"]
        );
        assert_eq!(
            go(EventKind::MonitorRecovered, Level::Ok),
            ["crit", "other", "warn"]
        );
        assert_eq!(
            go(EventKind::MonitorRecovered, Level::Ok),
            Vec::<String>::new()
        );
    }

    /// A channel with an `events` list (SPEC §9.5).
    struct Picky {
        name: &'static str,
        events: &'static [EventKind],
    }

    impl Routed for Picky {
        fn name(&self) -> &str {
            self.name
        }
        fn min_level(&self) -> Level {
            Level::Warning
        }
        fn wants(&self, kind: EventKind) -> bool {
            self.events.contains(&kind)
        }
    }

    #[test]
    fn the_events_filter_applies_within_routing() {
        let all_default = Picky {
            name: "default",
            events: &[
                EventKind::Alert,
                EventKind::Improved,
                EventKind::Resolved,
                EventKind::Reminder,
                EventKind::MonitorFailing,
                EventKind::MonitorRecovered,
            ],
        };
        let money = Picky {
            name: "money",
            events: &[EventKind::ToppedUp, EventKind::Resolved],
        };
        let stranger = Picky {
            name: "stranger",
            events: &[EventKind::ToppedUp, EventKind::MonitorFailing],
        };
        let own = [&all_default, &money];
        let all = [&all_default, &money, &stranger];
        let mut memory = Routing::default();
        let mut go = |kind, level| route(kind, severity(kind, level), &own, &all, &mut memory);
        // The alert is not on money's list, so the resolve has nobody there to follow.
        assert_eq!(go(EventKind::Alert, Level::Warning), ["default"]);
        assert_eq!(go(EventKind::Resolved, Level::Ok), ["default"]);
        // topped_up: the account's own channels that list it, never a stranger.
        assert_eq!(go(EventKind::ToppedUp, Level::Ok), ["money"]);
        // monitor_failing: every channel that lists it.
        assert_eq!(
            go(EventKind::MonitorFailing, Level::Ok),
            ["default", "stranger"]
        );
        assert_eq!(go(EventKind::Summary, Level::Ok), Vec::<String>::new());
        // The default list (a channel that sets none) leaves both new kinds out.
        assert!(!default_events(EventKind::ToppedUp) && !default_events(EventKind::Summary));
        assert!(default_events(EventKind::Alert));
    }

    #[test]
    fn escalations_reach_their_channels_and_so_do_the_follow_ups() {
        let chat = channel("chat", Level::Warning);
        // Not in notify, and its min_level would filter a warning.
        let pager = channel("pager", Level::Critical);
        let all = [&chat, &pager];
        let own = [&chat];
        let mut memory = Routing::default();
        let go = |kind, level, memory: &mut Routing| {
            route(kind, severity(kind, level), &own, &all, memory)
        };
        assert_eq!(go(EventKind::Alert, Level::Critical, &mut memory), ["chat"]);
        let to = vec!["pager".to_owned(), "gone".to_owned()];
        assert_eq!(route_escalation(&to, &all, &mut memory), ["pager"]);
        // Reminders are not follow-ups: the pager heard the escalation, not the alert.
        assert_eq!(
            go(EventKind::Reminder, Level::Critical, &mut memory),
            ["chat"]
        );
        assert_eq!(
            go(EventKind::Improved, Level::Warning, &mut memory),
            ["chat", "pager"]
        );
        assert_eq!(
            go(EventKind::Resolved, Level::Ok, &mut memory),
            ["chat", "pager"]
        );
        assert!(memory.escalated.is_empty());
        // A warning escalation: improved cannot follow, resolved does.
        let mut memory = Routing::default();
        go(EventKind::Alert, Level::Warning, &mut memory);
        route_escalation(&["pager".to_owned()], &all, &mut memory);
        assert_eq!(
            go(EventKind::Resolved, Level::Ok, &mut memory),
            ["chat", "pager"]
        );
    }

    #[test]
    fn follow_ups_reach_a_channel_no_longer_listed() {
        let pager = channel("pager", Level::Critical);
        let chat = channel("chat", Level::Warning);
        let mut memory = Routing::default();
        let alerted = route(
            EventKind::Alert,
            Level::Critical,
            &[&pager, &chat],
            &[&chat, &pager],
            &mut memory,
        );
        assert_eq!(alerted, ["chat", "pager"]);
        // A reload took the pager off the account; it still hears the resolve.
        let resolved = route(
            EventKind::Resolved,
            Level::Ok,
            &[&chat],
            &[&chat, &pager],
            &mut memory,
        );
        assert_eq!(resolved, ["chat", "pager"]);
    }
}
