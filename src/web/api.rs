//! The JSON side of the web endpoint: `GET /api/v1/status` (the [`super::view::Status`]
//! view model serialized as is; README "Status API" documents it) and the small JSON
//! bodies of the snooze endpoints and of errors.
//!
//! The shape is a public contract for scripts: fields may be added, never renamed or
//! removed. `tests::status_shape_is_stable` pins every field name.

use serde::Serialize;

use super::view::Status;
use crate::core::Snooze;

/// `GET /api/v1/status`.
pub fn status(status: &Status) -> String {
    serde_json::to_string(status).expect("the status always serializes")
}

/// The answer to a snooze or unsnooze request.
#[derive(Debug, Serialize)]
pub struct SnoozeReply<'a> {
    pub account: &'a str,
    /// The snooze now standing, or `null` after `DELETE`.
    pub snooze: Option<&'a Snooze>,
}

pub fn snooze_reply(account: &str, snooze: Option<&Snooze>) -> String {
    serde_json::to_string(&SnoozeReply { account, snooze }).expect("always serializes")
}

/// `{"error": "..."}`.
pub fn error(message: &str) -> String {
    serde_json::json!({ "error": message }).to_string()
}

#[cfg(test)]
pub(crate) mod tests {
    use super::super::view::{ChannelView, Delivery, DeliveryResult, OutboxView, Point, Source};
    use super::*;
    use crate::core::Level;

    fn ts(s: &str) -> jiff::Timestamp {
        s.parse().unwrap()
    }

    /// Every key of a JSON value, recursively, as `a.b[].c` paths.
    fn keys(v: &serde_json::Value, prefix: &str, out: &mut Vec<String>) {
        match v {
            serde_json::Value::Object(map) => {
                for (k, v) in map {
                    let path = format!("{prefix}{}{k}", if prefix.is_empty() { "" } else { "." });
                    out.push(path.clone());
                    keys(v, &path, out);
                }
            }
            serde_json::Value::Array(items) => {
                if let Some(first) = items.first() {
                    keys(first, &format!("{prefix}[]"), out);
                }
            }
            _ => {}
        }
    }

    pub(crate) fn sample_status() -> Status {
        let mut account = super::super::view::tests::account("primary", Level::Critical);
        account.balance = Some("800.50".parse().unwrap());
        account.warning_below = Some("5000".parse().unwrap());
        account.critical_below = Some("1000".parse().unwrap());
        account.burn_per_day = Some("1850".parse().unwrap());
        account.runway_seconds = Some(37_000);
        account.depletes_at = Some(ts("2026-12-06T14:00:00Z"));
        account.last_success_at = Some(ts("2026-12-03T03:00:00Z"));
        account.last_error = Some("timeout".into());
        account.snooze = Some(Snooze {
            since: ts("2026-12-03T03:00:00Z"),
            until: Some(ts("2026-12-03T07:00:00Z")),
            level: Level::Critical,
        });
        account.history = vec![Point {
            at: ts("2026-12-03T03:00:00Z"),
            balance: "800.50".parse().unwrap(),
        }];
        account.pending = 1;
        Status {
            version: "0.1.0".into(),
            instance: None,
            generated_at: ts("2026-12-03T03:05:00Z"),
            source: Source::Daemon,
            refresh_seconds: 300,
            accounts: vec![account],
            outbox: OutboxView {
                pending: 1,
                held: 0,
                failed: 2,
            },
            channels: vec![ChannelView {
                name: "ops-slack".into(),
                kind: "slack".into(),
                pending: 1,
                last_delivery: Some(Delivery {
                    at: ts("2026-12-03T03:00:01Z"),
                    result: DeliveryResult::Retrying,
                    event: "alert".into(),
                    account: "primary".into(),
                    error: Some("HTTP 503".into()),
                }),
            }],
        }
    }

    #[test]
    fn status_shape_is_stable() {
        let json: serde_json::Value = serde_json::from_str(&status(&sample_status())).unwrap();
        let mut found = Vec::new();
        keys(&json, "", &mut found);
        let expected = [
            "version",
            "instance",
            "generated_at",
            "source",
            "refresh_seconds",
            "accounts",
            "accounts[].name",
            "accounts[].provider",
            "accounts[].sid",
            "accounts[].balance",
            "accounts[].currency",
            "accounts[].level",
            "accounts[].monitor_failing",
            "accounts[].warning_below",
            "accounts[].critical_below",
            "accounts[].burn_per_day",
            "accounts[].runway_seconds",
            "accounts[].depletes_at",
            "accounts[].floor",
            "accounts[].last_success_at",
            "accounts[].last_error",
            "accounts[].snooze",
            "accounts[].snooze.since",
            "accounts[].snooze.until",
            "accounts[].snooze.level",
            "accounts[].history",
            "accounts[].history[].at",
            "accounts[].history[].balance",
            "accounts[].pending",
            "outbox",
            "outbox.pending",
            "outbox.held",
            "outbox.failed",
            "channels",
            "channels[].name",
            "channels[].type",
            "channels[].pending",
            "channels[].last_delivery",
            "channels[].last_delivery.at",
            "channels[].last_delivery.result",
            "channels[].last_delivery.event",
            "channels[].last_delivery.account",
            "channels[].last_delivery.error",
        ];
        // serde_json sorts object keys; the set is what is stable.
        let mut expected = expected.map(String::from).to_vec();
        expected.sort();
        found.sort();
        assert_eq!(found, expected);
        // Decimals are strings, times RFC 3339, levels lowercase words.
        let a = &json["accounts"][0];
        assert_eq!(a["balance"], "800.50");
        assert_eq!(a["burn_per_day"], "1850");
        assert_eq!(a["level"], "critical");
        assert_eq!(a["depletes_at"], "2026-12-06T14:00:00Z");
        assert_eq!(json["source"], "daemon");
        assert_eq!(json["channels"][0]["last_delivery"]["result"], "retrying");
        assert!(json["instance"].is_null());
        // And it reads back (the `status` command's client side).
        let back: Status = serde_json::from_value(json).unwrap();
        assert_eq!(back, sample_status());
    }

    #[test]
    fn error_and_snooze_bodies() {
        assert_eq!(
            error("no \"such\" account"),
            r#"{"error":"no \"such\" account"}"#
        );
        assert_eq!(snooze_reply("a", None), r#"{"account":"a","snooze":null}"#);
    }
}
