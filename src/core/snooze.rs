//! Snooze (SPEC §12): "I know, I am topping it up": stops an account's reminders (and,
//! once escalation exists, its escalation clock) until the snooze expires or the
//! account's level changes. New alerts still go out.
//!
//! Pure: the snooze is a small value kept in the account's persisted record; whether it
//! still stands is a function of the clock and the current level, so nothing has to
//! wake up to end it. The daemon asks [`Snooze::is_active`] (escalation does the same)
//! and removes an ended snooze with [`settle`] when it next looks at the account.
//!
//! Semantics chosen where the SPEC is silent (README "Snooze"):
//! - every snooze ends when the level changes from the one it was set at, whether it
//!   was given `for` a duration or not; `until_change` alone means "no time limit";
//! - an `ok` account has nothing to snooze (it sends no reminders) and is refused;
//! - reminders skipped during a snooze are skipped, not queued: when the snooze ends
//!   the next reminder comes on the normal `repeat_every` schedule.

use std::time::Duration;

use jiff::Timestamp;
use serde::{Deserialize, Serialize};

use crate::core::{Emitted, EventKind, Level};

/// The longest snooze accepted: a forgotten snooze must not silence an account forever.
pub const MAX_SNOOZE: Duration = Duration::from_secs(30 * 24 * 3600);

/// A snooze on one account, as persisted.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Snooze {
    /// When it was set.
    pub since: Timestamp,
    /// When it expires; `None`: only a level change ends it.
    pub until: Option<Timestamp>,
    /// The level it was set at; any other level ends it.
    pub level: Level,
}

/// Why a snooze no longer stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ended {
    Expired,
    LevelChanged,
}

impl Ended {
    pub fn as_str(self) -> &'static str {
        match self {
            Ended::Expired => "expired",
            Ended::LevelChanged => "level changed",
        }
    }
}

impl Snooze {
    /// Whether the snooze still stands at `now` for an account now at `level`.
    /// This is the query escalation uses to pause its clock.
    pub fn is_active(&self, now: Timestamp, level: Level) -> bool {
        self.ended(now, level).is_none()
    }

    /// Why the snooze ended, or `None` while it stands.
    pub fn ended(&self, now: Timestamp, level: Level) -> Option<Ended> {
        if level != self.level {
            Some(Ended::LevelChanged)
        } else if self.until.is_some_and(|until| now >= until) {
            Some(Ended::Expired)
        } else {
            None
        }
    }
}

/// What a client asks for: `{"for": "4h"}`, `{"until_change": true}` or both (then the
/// duration bounds it; a level change ends every snooze anyway).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Request {
    pub duration: Option<Duration>,
}

/// Why a snooze request was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RequestError {
    #[error("bad snooze request: {0}")]
    Invalid(String),
    #[error("account `{0}` is ok: there are no reminders to snooze")]
    NothingToSnooze(String),
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Body {
    #[serde(rename = "for")]
    duration: Option<String>,
    #[serde(default)]
    until_change: bool,
}

impl Request {
    /// Parses the JSON body of `POST /api/v1/accounts/{name}/snooze`.
    pub fn from_json(body: &[u8]) -> Result<Request, RequestError> {
        let body: Body = serde_json::from_slice(body).map_err(|e| {
            RequestError::Invalid(format!(
                "{e}; send {{\"for\": \"4h\"}} or {{\"until_change\": true}}"
            ))
        })?;
        Request::new(body.duration.as_deref(), body.until_change)
    }

    /// From the CLI's `--for` and `--until-change` (or the JSON fields).
    pub fn new(duration: Option<&str>, until_change: bool) -> Result<Request, RequestError> {
        let duration = match duration {
            Some(text) => Some(parse_duration(text)?),
            None if until_change => None,
            None => {
                return Err(RequestError::Invalid(
                    "say how long: `for` (e.g. \"4h\") or `until_change`".into(),
                ));
            }
        };
        Ok(Request { duration })
    }

    /// The JSON body the CLI sends.
    pub fn to_json(&self) -> serde_json::Value {
        match self.duration {
            Some(d) => serde_json::json!({ "for": humantime::format_duration(d).to_string() }),
            None => serde_json::json!({ "until_change": true }),
        }
    }

    /// Starts the snooze for `account`, now at `level`.
    pub fn start(
        &self,
        account: &str,
        level: Level,
        now: Timestamp,
    ) -> Result<Snooze, RequestError> {
        if level == Level::Ok {
            return Err(RequestError::NothingToSnooze(account.to_string()));
        }
        let until = match self.duration {
            Some(d) => Some(
                jiff::SignedDuration::try_from(d)
                    .ok()
                    .and_then(|d| now.checked_add(d).ok())
                    .ok_or_else(|| RequestError::Invalid("duration out of range".into()))?,
            ),
            None => None,
        };
        Ok(Snooze {
            since: now,
            until,
            level,
        })
    }
}

fn parse_duration(text: &str) -> Result<Duration, RequestError> {
    let d = humantime::parse_duration(text.trim())
        .map_err(|e| RequestError::Invalid(format!("`for` = {text:?}: {e}")))?;
    if d.is_zero() {
        return Err(RequestError::Invalid("`for` must be longer than 0".into()));
    }
    if d > MAX_SNOOZE {
        return Err(RequestError::Invalid(format!(
            "`for` = {text:?} is longer than the maximum of 30 days"
        )));
    }
    Ok(d)
}

/// Applies a snooze to what one evaluation emitted: drops the reminders while it stands,
/// and clears it once it ended (returning why, so the caller logs and persists that).
pub fn settle(
    snooze: &mut Option<Snooze>,
    level: Level,
    now: Timestamp,
    emitted: &mut Vec<Emitted>,
) -> Option<Ended> {
    let current = snooze.as_ref()?;
    if let Some(ended) = current.ended(now, level) {
        *snooze = None;
        return Some(ended);
    }
    emitted.retain(|e| e.kind != EventKind::Reminder);
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(s: i64) -> Timestamp {
        Timestamp::from_second(s).unwrap()
    }

    fn emitted(kind: EventKind) -> Emitted {
        Emitted::plain(kind, Level::Warning, None)
    }

    #[test]
    fn requests_parse_from_json_and_flags() {
        let r = Request::from_json(br#"{"for":"4h"}"#).unwrap();
        assert_eq!(r.duration, Some(Duration::from_secs(4 * 3600)));
        let r = Request::from_json(br#"{"until_change":true}"#).unwrap();
        assert_eq!(r.duration, None);
        let r = Request::from_json(br#"{"for":"30m","until_change":true}"#).unwrap();
        assert_eq!(r.duration, Some(Duration::from_secs(1800)));
        for bad in [
            &br#"{}"#[..],
            br#"{"until_change":false}"#,
            br#"{"for":"soon"}"#,
            br#"{"for":"0s"}"#,
            br#"{"for":"31d"}"#,
            br#"{"for":"4h","extra":1}"#,
            b"not json",
        ] {
            let e = Request::from_json(bad).unwrap_err();
            assert!(matches!(e, RequestError::Invalid(_)), "{e}");
        }
        assert_eq!(
            Request::new(Some("90m"), false).unwrap().to_json(),
            serde_json::json!({"for": "1h 30m"})
        );
        assert_eq!(
            Request::new(None, true).unwrap().to_json(),
            serde_json::json!({"until_change": true})
        );
    }

    #[test]
    fn an_ok_account_cannot_be_snoozed() {
        let r = Request::new(None, true).unwrap();
        assert_eq!(
            r.start("a", Level::Ok, at(0)),
            Err(RequestError::NothingToSnooze("a".into()))
        );
    }

    #[test]
    fn a_timed_snooze_expires_and_ends_on_a_level_change() {
        let s = Request::new(Some("1h"), false)
            .unwrap()
            .start("a", Level::Warning, at(1000))
            .unwrap();
        assert_eq!(s.until, Some(at(4600)));
        assert!(s.is_active(at(4599), Level::Warning));
        assert_eq!(s.ended(at(4600), Level::Warning), Some(Ended::Expired));
        assert_eq!(
            s.ended(at(2000), Level::Critical),
            Some(Ended::LevelChanged)
        );
        assert_eq!(s.ended(at(2000), Level::Ok), Some(Ended::LevelChanged));
    }

    #[test]
    fn an_until_change_snooze_has_no_time_limit() {
        let s = Request::new(None, true)
            .unwrap()
            .start("a", Level::Critical, at(0))
            .unwrap();
        assert!(s.is_active(at(10_000_000), Level::Critical));
        assert!(!s.is_active(at(1), Level::Warning));
    }

    #[test]
    fn settle_drops_reminders_only_while_the_snooze_stands() {
        let mut snooze = Some(Snooze {
            since: at(0),
            until: Some(at(100)),
            level: Level::Warning,
        });
        let mut events = vec![emitted(EventKind::Reminder)];
        assert_eq!(
            settle(&mut snooze, Level::Warning, at(50), &mut events),
            None
        );
        assert!(events.is_empty(), "reminder dropped while snoozed");
        assert!(snooze.is_some());

        // A level change: the alert goes out and the snooze is gone.
        let mut events = vec![emitted(EventKind::Alert)];
        assert_eq!(
            settle(&mut snooze, Level::Critical, at(60), &mut events),
            Some(Ended::LevelChanged)
        );
        assert_eq!(events.len(), 1);
        assert!(snooze.is_none());

        // Expired: the reminder goes out.
        let mut snooze = Some(Snooze {
            since: at(0),
            until: Some(at(100)),
            level: Level::Warning,
        });
        let mut events = vec![emitted(EventKind::Reminder)];
        assert_eq!(
            settle(&mut snooze, Level::Warning, at(100), &mut events),
            Some(Ended::Expired)
        );
        assert_eq!(events.len(), 1);

        // No snooze: nothing changes.
        let mut none = None;
        let mut events = vec![emitted(EventKind::Reminder)];
        assert_eq!(settle(&mut none, Level::Warning, at(0), &mut events), None);
        assert_eq!(events.len(), 1);
    }
}
