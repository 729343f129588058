//! `pagerduty`: PagerDuty Events API v2 (SPEC §11.1). This file owns the channel's keys
//! (`routing_key` or `routing_key_file`, `url`), the request ([`pagerduty_body`], pure)
//! and its sending.
//!
//! `alert`, `reminder` and `improved` trigger (severity warning or critical) and
//! `resolved` resolves the account's balance incident; `monitor_failing` triggers
//! (severity `error`) and `monitor_recovered` resolves its monitor incident. The
//! `dedup_key` is `balance-alert/{provider}/{sid}/balance` or `…/monitor`, the same on
//! every instance, so an HA pair opens one incident. A runway alert (SPEC §9.2) is the
//! same balance incident: the account has one level, the worst of its amount and runway
//! latches, so one incident follows it and whichever `resolved` ends the episode closes
//! it (a separate runway incident would stay open when the amount latch resolves last).
//! The summary and custom details say which latch it was. A `test` triggers an `info`
//! event under `…/test` and resolves it at once, so it shows in the log without paging
//! anyone for long; so do `topped_up` (`…/topup`) and the daily `summary`
//! (`balance-alert/summary`), which are informational and reach a PagerDuty channel
//! only when its `events` lists them (SPEC §9.5). 202 is success; 429 and 5xx are
//! retried (PagerDuty asks for backoff); other 4xx are permanent.

use std::sync::Arc;

use reqwest::header::CONTENT_TYPE;
use serde::Deserialize;
use serde_json::{Value, json};

use super::post::{self, Accounts, event_json};
use super::render::{headline, shorten};
use super::{ChannelType, DeliveryError, Notifier, RenderCtx};
use crate::config::raw::Opt;
use crate::config::{Ctx, Place, Res, Secret};
use crate::core::{Event, EventKind, Level};
use crate::http;
use crate::provider::AccountConfig;

/// The Events API v2 endpoint.
pub const DEFAULT_URL: &str = "https://events.pagerduty.com/v2/enqueue";
/// PagerDuty's limit on `payload.summary`.
const SUMMARY_MAX: usize = 1024;

#[derive(Debug, Clone, PartialEq)]
pub struct PagerDutyConfig {
    pub routing_key: Secret,
    pub url: String,
    pub accounts: Accounts,
}

/// The keys as written.
#[derive(Deserialize)]
pub struct Raw {
    routing_key: Opt<String>,
    routing_key_file: Opt<String>,
    url: Opt<String>,
}

impl ChannelType for PagerDutyConfig {
    const NAME: &'static str = "pagerduty";
    const FIELDS: &'static [&'static str] = &["routing_key", "routing_key_file", "url"];
    type Raw = Raw;

    fn validate(
        ctx: &mut Ctx<'_>,
        raw: &Raw,
        at: &Place<'_>,
        accounts: &[Arc<AccountConfig>],
    ) -> Res<Self> {
        let base = at.base;
        let routing_key = ctx
            .secret(
                &raw.routing_key,
                &raw.routing_key_file,
                at,
                "routing_key",
                true,
            )?
            .expect("required");
        let url = match &raw.url {
            Some(v) => {
                let key = format!("{base}.url");
                let url = ctx.string(v, &key)?;
                ctx.http_url(&url, &v.span(), &key, false)?;
                url
            }
            None => DEFAULT_URL.to_owned(),
        };
        Ok(PagerDutyConfig {
            routing_key,
            url,
            accounts: Accounts::from_config(accounts),
        })
    }
}

pub struct PagerDuty {
    config: PagerDutyConfig,
    client: reqwest::Client,
}

impl std::fmt::Debug for PagerDuty {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PagerDuty")
            .field("url", &self.config.url)
            .field("routing_key", &self.config.routing_key)
            .finish_non_exhaustive()
    }
}

impl PagerDuty {
    pub fn new(config: &PagerDutyConfig) -> Result<Self, String> {
        Ok(PagerDuty {
            config: config.clone(),
            client: http::client(None, http::REQUEST_TIMEOUT)?,
        })
    }

    async fn post(&self, body: &Value) -> Result<(), DeliveryError> {
        let key = self.config.routing_key.expose();
        let request = self
            .client
            .post(&self.config.url)
            .header(CONTENT_TYPE, "application/json")
            .body(body.to_string());
        let answer = post::send(request, "PagerDuty", &[key]).await?;
        if answer.status.is_success() {
            return Ok(());
        }
        let retry_after = answer.retry_after();
        Err(post::classify(&answer, "PagerDuty", &[key], retry_after))
    }
}

impl Notifier for PagerDuty {
    async fn send(&self, event: &Event, ctx: &RenderCtx) -> Result<(), DeliveryError> {
        let provider = self.config.accounts.provider(event);
        let key = self.config.routing_key.expose();
        self.post(&pagerduty_body(event, ctx, provider, key))
            .await?;
        if is_informational(event.event) {
            let resolve = json!({
                "routing_key": key,
                "event_action": "resolve",
                "dedup_key": dedup_key(event, provider),
            });
            self.post(&resolve).await?;
        }
        Ok(())
    }
}

/// Kinds that trigger an `info` event resolved at once: seen in the log, paging no one.
fn is_informational(kind: EventKind) -> bool {
    matches!(
        kind,
        EventKind::Test | EventKind::ToppedUp | EventKind::Summary
    )
}

/// `balance-alert/{provider}/{sid}/balance`, `…/monitor`, `…/test` or `…/topup` (the
/// summary, about no one account: `balance-alert/summary`): the same on every instance
/// of an HA pair, so they open one incident.
pub fn dedup_key(event: &Event, provider: &str) -> String {
    let what = match event.event {
        EventKind::Summary => return "balance-alert/summary".to_owned(),
        EventKind::MonitorFailing | EventKind::MonitorRecovered => "monitor",
        EventKind::Test => "test",
        EventKind::ToppedUp => "topup",
        // About the daemon, not an account: one incident whatever the provider.
        EventKind::StateUnwritable | EventKind::StateRecovered => {
            return "balance-alert/state".to_string();
        }
        EventKind::Alert
        | EventKind::Reminder
        | EventKind::Improved
        | EventKind::Resolved
        | EventKind::Escalated => "balance",
    };
    format!("balance-alert/{provider}/{}/{what}", event.sid)
}

/// The Events API v2 request for an event.
pub fn pagerduty_body(event: &Event, ctx: &RenderCtx, provider: &str, routing_key: &str) -> Value {
    let dedup = dedup_key(event, provider);
    let severity = match event.event {
        EventKind::Resolved | EventKind::MonitorRecovered | EventKind::StateRecovered => {
            return json!({
                "routing_key": routing_key,
                "event_action": "resolve",
                "dedup_key": dedup,
            });
        }
        EventKind::MonitorFailing => "error",
        // Monitoring goes on from memory: a warning, not a page-worthy error.
        EventKind::StateUnwritable => "warning",
        EventKind::Test | EventKind::ToppedUp | EventKind::Summary => "info",
        // Listed, not a wildcard: a new event kind must decide here what it pages.
        // An escalation triggers the balance incident again at its level.
        EventKind::Alert | EventKind::Reminder | EventKind::Improved | EventKind::Escalated => {
            match event.level {
                Level::Critical => "critical",
                // An `alert` is never at ok; a warning is the least a trigger can say.
                Level::Warning | Level::Ok => "warning",
            }
        }
    };
    // The summary names no account: its source is the daemon.
    let source = match event.event {
        EventKind::Summary => "balance-alert",
        _ => event.sid.as_str(),
    };
    let payload = json!({
        "summary": shorten(&headline(event), SUMMARY_MAX),
        "source": source,
        "severity": severity,
        "timestamp": event.observed_at.strftime("%Y-%m-%dT%H:%M:%SZ").to_string(),
        "component": event.account,
        "group": provider,
        "class": event.event.as_str(),
        "custom_details": event_json(event, ctx.instance.as_deref()),
    });
    json!({
        "routing_key": routing_key,
        "event_action": "trigger",
        "dedup_key": dedup,
        "client": "balance-alert",
        "payload": payload,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::notify::test_events::*;

    #[test]
    fn a_critical_alert_triggers_the_balance_incident() {
        let expected = json!({
            "routing_key": "R0UT1NGKEY",
            "event_action": "trigger",
            "dedup_key": "balance-alert/exotel/acme/balance",
            "client": "balance-alert",
            "payload": {
                "summary": "[CRITICAL] Exotel balance low: primary 850.00 INR",
                "source": "acme",
                "severity": "critical",
                "timestamp": "2026-04-24T05:02:18Z",
                "component": "primary",
                "group": "exotel",
                "class": "alert",
                "custom_details": {
                    "id": "0123456789abcdef0123456789abcdef",
                    "event": "alert",
                    "account": "primary",
                    "provider": "exotel",
                    "sid": "acme",
                    "level": "critical",
                    "previous_level": "warning",
                    "balance": "850.00",
                    "currency": "INR",
                    "threshold": "1000",
                    "pricing_plan": "Pay As You Go",
                    "date_updated": "2026-04-24 10:32:18",
                    "observed_at": "2026-04-24T05:02:18.123456Z",
                    "error": null,
                    "cause": null,
                    "burn_per_day": null,
                    "runway_seconds": null,
                    "depletes_at": null,
                    "runway_threshold_seconds": null,
                    "topup_amount": null,
                    "burn_window_seconds": null,
                    "instance": null
                }
            }
        });
        assert_eq!(
            pagerduty_body(&alert(), &kolkata(), "exotel", "R0UT1NGKEY"),
            expected
        );
    }

    #[test]
    fn severities_actions_and_dedup_keys_per_kind() {
        let ctx = RenderCtx {
            instance: Some("b".into()),
            ..kolkata()
        };
        let body = |e: &Event| pagerduty_body(e, &ctx, "exotel", "K");
        assert_eq!(body(&improved())["payload"]["severity"], "warning");
        assert_eq!(body(&improved())["event_action"], "trigger");
        assert_eq!(body(&reminder())["payload"]["severity"], "critical");
        assert_eq!(body(&alert())["payload"]["custom_details"]["instance"], "b");
        assert_eq!(
            body(&resolved()),
            json!({"routing_key": "K", "event_action": "resolve",
                   "dedup_key": "balance-alert/exotel/acme/balance"})
        );
        let failing = body(&failing());
        assert_eq!(failing["payload"]["severity"], "error");
        assert_eq!(failing["dedup_key"], "balance-alert/exotel/acme/monitor");
        assert_eq!(
            body(&recovered()),
            json!({"routing_key": "K", "event_action": "resolve",
                   "dedup_key": "balance-alert/exotel/acme/monitor"})
        );
        assert_eq!(body(&test_event())["payload"]["severity"], "info");
    }

    #[test]
    fn the_summary_is_cut_to_1024_characters() {
        let event = Event {
            account: "x".repeat(3000),
            ..alert()
        };
        let summary = pagerduty_body(&event, &kolkata(), "exotel", "K")["payload"]["summary"]
            .as_str()
            .unwrap()
            .to_owned();
        assert_eq!(summary.chars().count(), 1024);
        assert!(summary.ends_with('…'));
    }
}
