//! `discord`: a Discord channel webhook (SPEC §11.1). This file owns the channel's key
//! (`webhook_url` or `webhook_url_file`), the message ([`discord_payload`], pure:
//! `content` of at most 2000 characters, the headline push notifications show, plus one
//! embed colored by level with the summary and facts) and its sending. 2xx is success;
//! 429 is retried after the JSON body's `retry_after` (seconds, fractional) or the
//! `Retry-After` header, whichever is longer; 5xx are retried; other 4xx (a deleted
//! webhook is 404, a bad payload 400) are permanent. Mentions are disabled: an account
//! name like `@everyone` must not ping a server.

use std::sync::Arc;
use std::time::Duration;

use reqwest::header::CONTENT_TYPE;
use serde::Deserialize;
use serde_json::{Value, json};

use super::forecast::summary_lines;
use super::post;
use super::render::{SIGNATURE, facts, headline, shorten, summary};
use super::teams::{self, TeamsConfig};
use super::{ChannelType, DeliveryError, Notifier, RenderCtx};
use crate::config::{Ctx, Place, Res, Secret};
use crate::core::{Event, EventKind, Level};
use crate::http;
use crate::provider::AccountConfig;

/// Discord's limits: message content 2000, embed title 256, description 4096, 25
/// fields of name 256 and value 1024.
const CONTENT_MAX: usize = 2000;
const TITLE_MAX: usize = 256;
const DESCRIPTION_MAX: usize = 4096;
const FIELDS_MAX: usize = 25;
const FIELD_VALUE_MAX: usize = 1024;

#[derive(Debug, Clone, PartialEq)]
pub struct DiscordConfig {
    pub webhook_url: Secret,
}

impl ChannelType for DiscordConfig {
    const NAME: &'static str = "discord";
    const FIELDS: &'static [&'static str] = TeamsConfig::FIELDS;
    /// The same keys as `teams`: one webhook URL.
    type Raw = teams::Raw;

    fn validate(
        ctx: &mut Ctx<'_>,
        raw: &teams::Raw,
        at: &Place<'_>,
        accounts: &[Arc<AccountConfig>],
    ) -> Res<Self> {
        let TeamsConfig { webhook_url } = TeamsConfig::validate(ctx, raw, at, accounts)?;
        Ok(DiscordConfig { webhook_url })
    }
}

pub struct Discord {
    webhook_url: Secret,
    client: reqwest::Client,
}

impl std::fmt::Debug for Discord {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Discord")
            .field("webhook_url", &self.webhook_url)
            .finish_non_exhaustive()
    }
}

impl Discord {
    pub fn new(config: &DiscordConfig) -> Result<Self, String> {
        Ok(Discord {
            webhook_url: config.webhook_url.clone(),
            client: http::client(None, http::REQUEST_TIMEOUT)?,
        })
    }
}

/// Discord's JSON rate-limit answer: `{"retry_after": 1.5, "global": false, ...}`.
#[derive(Deserialize)]
struct RateLimited {
    retry_after: f64,
}

/// The longer of the body's `retry_after` and the `Retry-After` header.
fn discord_retry_after(body: &str, header: Option<Duration>) -> Option<Duration> {
    let from_body = serde_json::from_str::<RateLimited>(body)
        .ok()
        .filter(|r| r.retry_after.is_finite() && r.retry_after >= 0.0)
        .map(|r| Duration::from_secs_f64(r.retry_after).min(http::MAX_RETRY_AFTER));
    match (from_body, header) {
        (Some(a), Some(b)) => Some(a.max(b)),
        (a, b) => a.or(b),
    }
}

impl Notifier for Discord {
    async fn send(&self, event: &Event, ctx: &RenderCtx) -> Result<(), DeliveryError> {
        let url = self.webhook_url.expose();
        let request = self
            .client
            .post(url)
            .header(CONTENT_TYPE, "application/json")
            .body(discord_payload(event, ctx).to_string());
        let answer = post::send(request, "Discord", &[url]).await?;
        if answer.status.is_success() {
            return Ok(());
        }
        let retry_after = discord_retry_after(&answer.body, answer.retry_after());
        Err(post::classify(&answer, "Discord", &[url], retry_after))
    }
}

/// The embed's side color (0xRRGGBB): red critical or failing, amber warning, green
/// ok, blue for a test. The level word is in the text too.
fn color(event: &Event) -> u32 {
    match (event.event, event.level) {
        (EventKind::MonitorFailing, _) | (_, Level::Critical) => 0xD32F2F,
        (EventKind::Test, _) => 0x1976D2,
        (_, Level::Warning) => 0xF9A825,
        (_, Level::Ok) => 0x2E7D32,
    }
}

/// The webhook request: the headline as `content`, one embed with the details. The
/// daily summary (SPEC §9.6) lists its accounts in the description, worst first, within
/// the embed's limit, and has no per-account fields.
pub fn discord_payload(event: &Event, ctx: &RenderCtx) -> Value {
    let head = headline(event);
    let description = match event.event {
        EventKind::Summary => summary_lines(&event.accounts, DESCRIPTION_MAX).join("\n"),
        _ => summary(event, ctx),
    };
    let fields: Vec<Value> = facts(event, ctx)
        .into_iter()
        .filter(|_| event.event != EventKind::Summary)
        .take(FIELDS_MAX)
        .map(|(name, value)| {
            json!({"name": name, "value": shorten(&value, FIELD_VALUE_MAX), "inline": true})
        })
        .collect();
    json!({
        "content": shorten(&head, CONTENT_MAX),
        "allowed_mentions": {"parse": []},
        "embeds": [{
            "title": shorten(&head, TITLE_MAX),
            "description": shorten(&description, DESCRIPTION_MAX),
            "color": color(event),
            "fields": fields,
            "footer": {"text": format!("{SIGNATURE} · event {} · id {}", event.event.as_str(), event.id)},
            "timestamp": event.observed_at.strftime("%Y-%m-%dT%H:%M:%SZ").to_string(),
        }]
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::notify::test_events::*;

    #[test]
    fn discord_payload_content_and_embed() {
        let expected = json!({
            "content": "[CRITICAL] Exotel balance low: primary 850.00 INR",
            "allowed_mentions": {"parse": []},
            "embeds": [{
                "title": "[CRITICAL] Exotel balance low: primary 850.00 INR",
                "description": "The Exotel balance of primary is below 1,000 INR: level critical. Top up the account.",
                "color": 0xD32F2F,
                "fields": [
                    {"name": "Account", "value": "primary", "inline": true},
                    {"name": "Account SID", "value": "acme", "inline": true},
                    {"name": "Balance", "value": "850.00 INR", "inline": true},
                    {"name": "Level", "value": "critical", "inline": true},
                    {"name": "Previous level", "value": "warning", "inline": true},
                    {"name": "Threshold", "value": "below 1,000 INR", "inline": true},
                    {"name": "Pricing plan", "value": "Pay As You Go", "inline": true},
                    {"name": "Exotel DateUpdated", "value": "2026-04-24 10:32:18 (as reported by Exotel, no time zone)", "inline": true},
                    {"name": "Observed at", "value": "2026-04-24T05:02:18Z", "inline": true},
                    {"name": "Observed at (local)", "value": "2026-04-24 10:32:18 +05:30 (Asia/Kolkata)", "inline": true}
                ],
                "footer": {"text": "balance-alert · event alert · id 0123456789abcdef0123456789abcdef"},
                "timestamp": "2026-04-24T05:02:18Z"
            }]
        });
        assert_eq!(discord_payload(&alert(), &kolkata()), expected);
    }

    #[test]
    fn content_fits_2000_characters_and_colors_follow_the_level() {
        let event = Event {
            account: "y".repeat(5000),
            ..improved()
        };
        let payload = discord_payload(&event, &kolkata());
        assert_eq!(payload["content"].as_str().unwrap().chars().count(), 2000);
        assert_eq!(
            payload["embeds"][0]["title"]
                .as_str()
                .unwrap()
                .chars()
                .count(),
            256
        );
        assert_eq!(payload["embeds"][0]["color"], 0xF9A825);
        assert_eq!(
            discord_payload(&resolved(), &kolkata())["embeds"][0]["color"],
            0x2E7D32
        );
    }

    #[test]
    fn rate_limit_answers_take_the_longer_wait() {
        let body =
            r#"{"message": "You are being rate limited.", "retry_after": 2.5, "global": false}"#;
        assert_eq!(
            discord_retry_after(body, None),
            Some(Duration::from_millis(2500))
        );
        assert_eq!(
            discord_retry_after(body, Some(Duration::from_secs(4))),
            Some(Duration::from_secs(4))
        );
        assert_eq!(
            discord_retry_after("not json", Some(Duration::from_secs(1))),
            Some(Duration::from_secs(1))
        );
        assert_eq!(discord_retry_after("{}", None), None);
    }
}
