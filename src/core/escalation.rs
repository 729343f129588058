//! Escalation (SPEC §12): when an account has stayed at a step's `level` or worse for
//! the step's `after`, counted from the alert that brought it there, an `escalated`
//! event goes to the step's `to` channels, once per episode per step.
//!
//! The clock is plain data ([`EscalationClock`]) that the daemon persists with the
//! account, so an escalation survives a restart. It counts only *unpaused* time: while
//! the account is snoozed or its monitor is failing, the clock stands still (SPEC §12).
//! No I/O and no clock of its own: [`tick`] is told the level, whether the clock is
//! paused, and `now`.

use std::collections::BTreeSet;
use std::time::Duration;

use jiff::Timestamp;
use serde::{Deserialize, Serialize};

use super::level::Level;

/// One configured step: `{ after = "30m", level = "critical", to = ["oncall"] }`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Step {
    pub after: Duration,
    pub level: Level,
    pub to: Vec<String>,
}

/// One episode of "at `level` or worse": from the alert that brought the account there
/// until it is better than `level` again.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct Episode {
    /// When the episode began (the alert that brought the account to the level).
    pub since: Option<Timestamp>,
    /// Unpaused time credited so far, in milliseconds.
    pub active_ms: u64,
    /// The last time the clock was looked at; time after it is credited by the next
    /// tick unless the clock was paused at this one.
    pub checked_at: Option<Timestamp>,
    /// Whether the clock was paused at `checked_at`.
    pub paused: bool,
    /// The `after` (in milliseconds) of the steps already fired this episode; keyed by
    /// `after` rather than position, so a reload that inserts a step does not re-fire
    /// the ones that went.
    pub fired: BTreeSet<u64>,
}

/// The persisted escalation clocks of one account: one episode per level that steps
/// can name.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct EscalationClock {
    /// At warning or worse.
    ///
    /// Boxed: most accounts are ok most of the time, and the record of each of 10,000
    /// accounts would otherwise carry two empty episodes inline (issue 7).
    pub warning: Option<Box<Episode>>,
    /// At critical.
    pub critical: Option<Box<Episode>>,
}

/// A step that fell due: send an `escalated` event at `level` to `to`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Due {
    pub level: Level,
    pub after: Duration,
    pub to: Vec<String>,
}

fn ms(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

impl EscalationClock {
    fn episode_mut(&mut self, level: Level) -> Option<&mut Option<Box<Episode>>> {
        match level {
            Level::Ok => None,
            Level::Warning => Some(&mut self.warning),
            Level::Critical => Some(&mut self.critical),
        }
    }

    fn episode(&self, level: Level) -> Option<&Episode> {
        match level {
            Level::Ok => None,
            Level::Warning => self.warning.as_deref(),
            Level::Critical => self.critical.as_deref(),
        }
    }

    /// True when no episode is running (nothing worth persisting).
    pub fn is_idle(&self) -> bool {
        self.warning.is_none() && self.critical.is_none()
    }
}

/// Advances the clocks to `now` for an account at `level`, with the clock `paused`
/// (snoozed or monitor failing) from now on, and returns the steps that fell due.
///
/// The interval since the last tick is credited when the clock was not paused at the
/// last tick: the daemon ticks on every poll and whenever the pause changes, so a pause
/// is honoured to within one tick. An episode starts when the level reaches it and ends
/// (with its fired steps forgotten) as soon as the level is better than it.
pub fn tick(
    clock: &mut EscalationClock,
    steps: &[Step],
    level: Level,
    paused: bool,
    now: Timestamp,
) -> Vec<Due> {
    for episode_level in [Level::Warning, Level::Critical] {
        let slot = clock
            .episode_mut(episode_level)
            .expect("warning and critical have episodes");
        if level < episode_level {
            *slot = None;
            continue;
        }
        match slot {
            None => {
                *slot = Some(Box::new(Episode {
                    since: Some(now),
                    active_ms: 0,
                    checked_at: Some(now),
                    paused,
                    fired: BTreeSet::new(),
                }));
            }
            Some(episode) => {
                if let Some(at) = episode.checked_at {
                    if !episode.paused {
                        // A clock that stepped back credits nothing rather than a
                        // negative amount.
                        let nanos = now.as_nanosecond() - at.as_nanosecond();
                        let add = u64::try_from(nanos.max(0) / 1_000_000).unwrap_or(u64::MAX);
                        episode.active_ms = episode.active_ms.saturating_add(add);
                    }
                }
                episode.checked_at = Some(now.max(episode.checked_at.unwrap_or(now)));
                episode.paused = paused;
            }
        }
    }
    if paused {
        // A paused clock fires nothing, even a step that fell due just before.
        return Vec::new();
    }
    let mut due = Vec::new();
    for step in steps {
        let Some(Some(episode)) = clock.episode_mut(step.level) else {
            continue;
        };
        let key = ms(step.after);
        if episode.active_ms >= key && !episode.fired.contains(&key) {
            episode.fired.insert(key);
            due.push(Due {
                level: step.level,
                after: step.after,
                to: step.to.clone(),
            });
        }
    }
    due
}

/// How long from the last tick until the next step falls due, if the clock keeps
/// running; `None` when no step is pending or the clock is paused. The daemon wakes
/// then, so an escalation is not late by up to a poll interval.
pub fn next_due(clock: &EscalationClock, steps: &[Step]) -> Option<Duration> {
    steps
        .iter()
        .filter_map(|step| {
            let episode = clock.episode(step.level)?;
            let key = ms(step.after);
            if episode.paused || episode.fired.contains(&key) {
                return None;
            }
            Some(Duration::from_millis(key.saturating_sub(episode.active_ms)))
        })
        .min()
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn at(secs: i64) -> Timestamp {
        Timestamp::from_second(1_800_000_000 + secs).unwrap()
    }

    fn step(after: u64, level: Level, to: &str) -> Step {
        Step {
            after: Duration::from_secs(after),
            level,
            to: vec![to.to_owned()],
        }
    }

    fn names(due: &[Due]) -> Vec<&str> {
        due.iter().map(|d| d.to[0].as_str()).collect()
    }

    #[test]
    fn steps_fire_once_each_at_their_after() {
        let steps = [
            step(1800, Level::Critical, "pager"),
            step(3600, Level::Critical, "boss"),
        ];
        let mut clock = EscalationClock::default();
        assert!(tick(&mut clock, &steps, Level::Critical, false, at(0)).is_empty());
        assert_eq!(next_due(&clock, &steps), Some(Duration::from_secs(1800)));
        assert!(tick(&mut clock, &steps, Level::Critical, false, at(1799)).is_empty());
        assert_eq!(
            names(&tick(&mut clock, &steps, Level::Critical, false, at(1800))),
            ["pager"]
        );
        // Once per episode.
        assert!(tick(&mut clock, &steps, Level::Critical, false, at(2400)).is_empty());
        assert_eq!(next_due(&clock, &steps), Some(Duration::from_secs(1200)));
        assert_eq!(
            names(&tick(&mut clock, &steps, Level::Critical, false, at(3600))),
            ["boss"]
        );
        assert_eq!(next_due(&clock, &steps), None);
        assert!(tick(&mut clock, &steps, Level::Critical, false, at(9000)).is_empty());
    }

    #[test]
    fn a_new_episode_fires_again_and_a_better_level_ends_it() {
        let steps = [step(600, Level::Critical, "pager")];
        let mut clock = EscalationClock::default();
        tick(&mut clock, &steps, Level::Critical, false, at(0));
        assert_eq!(
            tick(&mut clock, &steps, Level::Critical, false, at(600)).len(),
            1
        );
        // improved: the critical episode ends.
        tick(&mut clock, &steps, Level::Warning, false, at(700));
        assert!(clock.critical.is_none());
        // Critical again: a new episode, counted from its own alert.
        tick(&mut clock, &steps, Level::Critical, false, at(800));
        assert!(tick(&mut clock, &steps, Level::Critical, false, at(1399)).is_empty());
        assert_eq!(
            tick(&mut clock, &steps, Level::Critical, false, at(1400)).len(),
            1
        );
    }

    #[test]
    fn warning_steps_count_critical_time_too() {
        // "at level or worse": warning→critical does not restart a warning step.
        let steps = [step(600, Level::Warning, "lead")];
        let mut clock = EscalationClock::default();
        tick(&mut clock, &steps, Level::Warning, false, at(0));
        tick(&mut clock, &steps, Level::Critical, false, at(300));
        assert_eq!(
            names(&tick(&mut clock, &steps, Level::Critical, false, at(600))),
            ["lead"]
        );
    }

    #[test]
    fn pauses_stop_the_clock() {
        let steps = [step(600, Level::Critical, "pager")];
        let mut clock = EscalationClock::default();
        tick(&mut clock, &steps, Level::Critical, false, at(0));
        // 300 s counted, then paused (snooze or monitor_failing) for an hour.
        assert!(tick(&mut clock, &steps, Level::Critical, true, at(300)).is_empty());
        assert_eq!(next_due(&clock, &steps), None);
        assert!(tick(&mut clock, &steps, Level::Critical, true, at(3900)).is_empty());
        assert!(tick(&mut clock, &steps, Level::Critical, false, at(4000)).is_empty());
        assert_eq!(next_due(&clock, &steps), Some(Duration::from_secs(300)));
        assert!(tick(&mut clock, &steps, Level::Critical, false, at(4299)).is_empty());
        assert_eq!(
            tick(&mut clock, &steps, Level::Critical, false, at(4300)).len(),
            1
        );
    }

    #[test]
    fn the_clock_survives_a_round_trip_through_json() {
        let steps = [step(600, Level::Critical, "pager")];
        let mut clock = EscalationClock::default();
        tick(&mut clock, &steps, Level::Critical, false, at(0));
        tick(&mut clock, &steps, Level::Critical, false, at(500));
        let json = serde_json::to_string(&clock).unwrap();
        let mut restored: EscalationClock = serde_json::from_str(&json).unwrap();
        assert_eq!(restored, clock);
        assert_eq!(
            tick(&mut restored, &steps, Level::Critical, false, at(600)).len(),
            1
        );
    }

    #[test]
    fn a_clock_stepping_back_credits_nothing() {
        let steps = [step(600, Level::Critical, "pager")];
        let mut clock = EscalationClock::default();
        tick(&mut clock, &steps, Level::Critical, false, at(1000));
        assert!(tick(&mut clock, &steps, Level::Critical, false, at(0)).is_empty());
        assert_eq!(clock.critical.as_ref().unwrap().active_ms, 0);
    }

    proptest! {
        /// Each step fires at most once per episode, never before `after` of unpaused
        /// time, and never while paused.
        #[test]
        fn steps_fire_once_and_never_early(
            moves in proptest::collection::vec((0u64..400, any::<bool>()), 1..60),
        ) {
            let steps = [step(600, Level::Critical, "a"), step(1200, Level::Critical, "b")];
            let mut clock = EscalationClock::default();
            let mut now = 0i64;
            let mut unpaused = 0u64;
            let mut was_paused = false;
            let mut fired: Vec<&str> = Vec::new();
            tick(&mut clock, &steps, Level::Critical, false, at(0));
            for (dt, paused) in moves {
                now += i64::try_from(dt).unwrap();
                if !was_paused {
                    unpaused += dt;
                }
                let due = tick(&mut clock, &steps, Level::Critical, paused, at(now));
                prop_assert!(!paused || due.is_empty());
                for d in &due {
                    prop_assert!(unpaused >= d.after.as_secs());
                    fired.push(if d.to[0] == "a" { "a" } else { "b" });
                }
                was_paused = paused;
            }
            let a = fired.iter().filter(|f| **f == "a").count();
            let b = fired.iter().filter(|f| **f == "b").count();
            prop_assert!(a <= 1 && b <= 1);
            // Whatever was not fired was not yet due (or is waiting out a pause).
            if !was_paused && unpaused >= 1200 {
                prop_assert_eq!(b, 1);
            }
        }
    }
}
