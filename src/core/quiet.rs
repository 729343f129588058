//! Quiet hours (SPEC §12): a channel's `quiet_hours = ["22:00-07:00", "Sat 00:00-24:00"]`,
//! evaluated in the daemon's time zone; which messages wait for the morning, and what
//! the held ones collapse to when the quiet period ends.
//!
//! Pure: ranges are parsed here, and every decision takes the time zone and `now` as
//! arguments. Wall-clock ranges are matched on the civil time in the zone (jiff, with
//! its bundled tz database), so "22:00-07:00" ends at 07:00 local on the night the
//! clocks change too.

use std::fmt;

use jiff::civil::{DateTime, Time, Weekday};
use jiff::tz::TimeZone;
use jiff::{Timestamp, ToSpan};

use super::event::EventKind;
use super::level::Level;

const MINUTES_PER_DAY: u16 = 24 * 60;

/// One range: `[Mon-Fri|Sat|Sat,Sun ]HH:MM-HH:MM`. A range whose end is not after its
/// start wraps midnight; the weekday names the day it *starts*.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct QuietRange {
    /// Bit `n` set: the range starts on weekday `n` (Monday = 0). All set: every day.
    days: u8,
    /// Minutes after midnight, `0..1440`.
    start: u16,
    /// Minutes after midnight, `1..=1440` (`24:00` is the end of the day).
    end: u16,
}

const ALL_DAYS: u8 = 0b111_1111;
const DAY_NAMES: [&str; 7] = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"];

fn day_index(name: &str) -> Option<u8> {
    let lower = name.to_ascii_lowercase();
    // "Sat", "sat", "Saturday" all name Saturday.
    DAY_NAMES
        .iter()
        .position(|d| lower.len() >= 3 && lower.starts_with(d) && full_name(d).starts_with(&lower))
        .and_then(|i| u8::try_from(i).ok())
}

fn full_name(short: &str) -> &'static str {
    match short {
        "mon" => "monday",
        "tue" => "tuesday",
        "wed" => "wednesday",
        "thu" => "thursday",
        "fri" => "friday",
        "sat" => "saturday",
        _ => "sunday",
    }
}

fn weekday_index(w: Weekday) -> u8 {
    u8::try_from(w.to_monday_zero_offset()).unwrap_or(0)
}

fn parse_days(text: &str) -> Result<u8, String> {
    let mut days = 0u8;
    for part in text.split(',') {
        let part = part.trim();
        let bad =
            || format!("unknown weekday \"{part}\": expected Mon, Tue, Wed, Thu, Fri, Sat or Sun");
        match part.split_once('-') {
            Some((from, to)) => {
                let from = day_index(from.trim()).ok_or_else(bad)?;
                let to = day_index(to.trim()).ok_or_else(bad)?;
                // Fri-Mon wraps through the weekend.
                let mut d = from;
                loop {
                    days |= 1 << d;
                    if d == to {
                        break;
                    }
                    d = (d + 1) % 7;
                }
            }
            None => days |= 1 << day_index(part).ok_or_else(bad)?,
        }
    }
    Ok(days)
}

fn parse_time(text: &str, allow_24: bool) -> Result<u16, String> {
    let bad = || format!("bad time \"{text}\": expected HH:MM, e.g. 22:00");
    let (h, m) = text.split_once(':').ok_or_else(bad)?;
    if h.is_empty() || h.len() > 2 || m.len() != 2 {
        return Err(bad());
    }
    let h: u16 = h.parse().map_err(|_| bad())?;
    let m: u16 = m.parse().map_err(|_| bad())?;
    if m >= 60 || h > 24 || (h == 24 && (m != 0 || !allow_24)) {
        return Err(bad());
    }
    Ok(h * 60 + m)
}

impl std::str::FromStr for QuietRange {
    type Err = String;

    fn from_str(text: &str) -> Result<QuietRange, String> {
        let text = text.trim();
        let (days, times) = match text.rsplit_once(char::is_whitespace) {
            Some((days, times)) => (parse_days(days.trim())?, times),
            None => (ALL_DAYS, text),
        };
        let (start, end) = times.split_once('-').ok_or_else(|| {
            format!("bad range \"{text}\": expected HH:MM-HH:MM with an optional weekday, e.g. \"22:00-07:00\" or \"Sat 00:00-24:00\"")
        })?;
        let start = parse_time(start.trim(), false)?;
        let end = parse_time(end.trim(), true)?;
        if start == end {
            return Err(format!(
                "empty range \"{text}\": start and end are the same (write 00:00-24:00 for a whole day)"
            ));
        }
        // "22:00-00:00" means until midnight.
        let end = if end == 0 { MINUTES_PER_DAY } else { end };
        Ok(QuietRange { days, start, end })
    }
}

impl fmt::Display for QuietRange {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.days != ALL_DAYS {
            let names: Vec<&str> = (0..7usize)
                .filter(|d| self.days & (1 << d) != 0)
                .map(|d| DAY_NAMES[d])
                .collect();
            write!(f, "{} ", names.join(","))?;
        }
        write!(
            f,
            "{:02}:{:02}-{:02}:{:02}",
            self.start / 60,
            self.start % 60,
            self.end / 60,
            self.end % 60
        )
    }
}

impl QuietRange {
    fn wraps(&self) -> bool {
        self.end <= self.start
    }

    fn starts_on(&self, w: Weekday) -> bool {
        self.days & (1 << weekday_index(w)) != 0
    }

    /// If `local` is inside this range, the civil time it ends.
    fn end_if_inside(&self, local: DateTime) -> Option<DateTime> {
        let minute = u16::try_from(local.hour()).unwrap_or(0) * 60
            + u16::try_from(local.minute()).unwrap_or(0);
        let date = local.date();
        let at = |d: jiff::civil::Date, minutes: u16| -> Option<DateTime> {
            if minutes == MINUTES_PER_DAY {
                Some(d.tomorrow().ok()?.to_datetime(Time::midnight()))
            } else {
                let t = Time::new(
                    i8::try_from(minutes / 60).ok()?,
                    i8::try_from(minutes % 60).ok()?,
                    0,
                    0,
                )
                .ok()?;
                Some(d.to_datetime(t))
            }
        };
        if !self.wraps() {
            if self.starts_on(local.weekday()) && minute >= self.start && minute < self.end {
                return at(date, self.end);
            }
            return None;
        }
        // Wrapping: the evening part belongs to today's start, the morning part to
        // yesterday's.
        if self.starts_on(local.weekday()) && minute >= self.start {
            return at(date.tomorrow().ok()?, self.end);
        }
        let yesterday = date.yesterday().ok()?;
        if self.starts_on(yesterday.weekday()) && minute < self.end {
            return at(date, self.end);
        }
        None
    }
}

/// A channel's quiet hours.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct QuietHours {
    pub ranges: Vec<QuietRange>,
}

impl QuietHours {
    pub fn is_empty(&self) -> bool {
        self.ranges.is_empty()
    }

    /// The end of the latest range containing `at`, when any does.
    fn end_at(&self, tz: &TimeZone, at: Timestamp) -> Option<Timestamp> {
        let local = at.to_zoned(tz.clone()).datetime();
        self.ranges
            .iter()
            .filter_map(|r| r.end_if_inside(local))
            // A civil time that falls in a DST gap or fold is taken the way the clocks
            // on the wall show it: the later of two, past the gap.
            .filter_map(|end| tz.to_ambiguous_zoned(end).later().ok())
            .map(|z| z.timestamp())
            .max()
    }

    /// Whether `at` is within quiet hours.
    pub fn is_quiet(&self, tz: &TimeZone, at: Timestamp) -> bool {
        self.end_at(tz, at).is_some_and(|end| end > at)
    }

    /// When the quiet period that contains `now` ends (following ranges that touch or
    /// overlap, e.g. a weekend and the nights around it); `None` when `now` is not quiet.
    /// A week of back-to-back ranges is followed for at most eight days: a channel that
    /// is always quiet is re-checked then.
    pub fn quiet_until(&self, tz: &TimeZone, now: Timestamp) -> Option<Timestamp> {
        let mut end = self.end_at(tz, now).filter(|end| *end > now)?;
        let limit = now.checked_add(192.hours()).unwrap_or(Timestamp::MAX);
        while end < limit {
            match self.end_at(tz, end) {
                Some(next) if next > end => end = next,
                _ => break,
            }
        }
        Some(end.min(limit))
    }
}

/// Whether a message of `kind` at `severity` waits out quiet hours (SPEC §12): warning
/// and ok severities wait; critical, `escalated` and `monitor_failing` go at once. A
/// `topped_up` (severity ok) waits and, changing no level, collapses away like a
/// reminder; the daily `summary` goes at the `summary_at` the operator chose, since it
/// is about no one account and holding it would only collapse it away.
pub fn is_holdable(kind: EventKind, severity: Level) -> bool {
    match kind {
        // About the daemon's own disk, rare and not about a balance: told at once.
        EventKind::StateUnwritable | EventKind::StateRecovered => false,
        EventKind::Escalated | EventKind::MonitorFailing | EventKind::Test => false,
        EventKind::Summary => false,
        EventKind::Alert
        | EventKind::Improved
        | EventKind::Resolved
        | EventKind::Reminder
        | EventKind::MonitorRecovered
        | EventKind::ToppedUp => severity < Level::Critical,
    }
}

/// Until when a message of `kind` at `severity`, made at `now`, is held for a channel
/// with these quiet hours; `None`: it goes at once.
pub fn hold_until(
    quiet: &QuietHours,
    tz: &TimeZone,
    kind: EventKind,
    severity: Level,
    now: Timestamp,
) -> Option<Timestamp> {
    if !is_holdable(kind, severity) {
        return None;
    }
    quiet.quiet_until(tz, now)
}

/// What a held message says about the level, for [`collapse`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HeldFact {
    pub kind: EventKind,
    /// The account's level after the message.
    pub level: Level,
    /// The level before it (level changes only).
    pub previous_level: Option<Level>,
}

/// What the held messages of one account for one channel become at the end of quiet
/// hours.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Released {
    /// A `monitor_recovered` was held: the channel heard `monitor_failing` at once and
    /// must hear that it is over too.
    pub recovered: bool,
    /// The net level change, as one message: (`alert`/`improved`/`resolved`, level
    /// now, level before the first held message); `None` when the level is back where
    /// it was.
    pub change: Option<(EventKind, Level, Level)>,
}

/// The collapse to the net change (SPEC §12): nothing if the level is the one it had
/// before the first held message, otherwise one message of the right kind for the
/// level now. Reminders carry no change of their own and vanish.
pub fn collapse(held: &[HeldFact]) -> Released {
    let recovered = held.iter().any(|h| h.kind == EventKind::MonitorRecovered);
    let Some(first) = held.first() else {
        return Released {
            recovered,
            change: None,
        };
    };
    let before = first.previous_level.unwrap_or(first.level);
    let now = held.last().map_or(before, |h| h.level);
    Released {
        recovered,
        change: change_kind(before, now).map(|kind| (kind, now, before)),
    }
}

/// The event that announces a move from `before` to `now`.
pub fn change_kind(before: Level, now: Level) -> Option<EventKind> {
    if now == before {
        None
    } else if now > before {
        Some(EventKind::Alert)
    } else if now == Level::Ok {
        Some(EventKind::Resolved)
    } else {
        Some(EventKind::Improved)
    }
}

#[cfg(test)]
mod tests;
