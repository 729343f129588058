//! `slack`: a Slack incoming webhook. This file owns the channel's keys
//! (`webhook_url` or `webhook_url_file`), its payload ([`slack_payload`]: Block Kit plus
//! a plain `text` fallback, pure) and its sending, which classifies Slack's answer: 200 is success, 429 is retried after `Retry-After`, 400/403/404/410
//! are permanent (invalid payload, action prohibited, channel not found or archived),
//! anything else is retried. Posts to one webhook URL are paced to one a second, even
//! when several channels share the URL.

use std::collections::HashMap;
use std::sync::{LazyLock, Mutex};
use std::time::{Duration, SystemTime};

use std::sync::Arc;

use reqwest::StatusCode;
use serde::Deserialize;
use serde_json::json;
use toml::Spanned;

use super::render::{SIGNATURE, facts, headline, shorten, summary};
use super::{ChannelType, DeliveryError, Notifier, RenderCtx};
use crate::config::raw::Opt;
use crate::config::{Ctx, Place, Res, Secret};
use crate::core::Event;
use crate::http;
use crate::provider::AccountConfig;

#[derive(Debug, Clone, PartialEq)]
pub struct SlackConfig {
    pub webhook_url: Secret,
}

/// The keys as written.
#[derive(Deserialize)]
pub struct Raw {
    webhook_url: Opt<String>,
    webhook_url_file: Opt<String>,
}

impl ChannelType for SlackConfig {
    const NAME: &'static str = "slack";
    const FIELDS: &'static [&'static str] = &["webhook_url", "webhook_url_file"];
    type Raw = Raw;

    fn validate(
        ctx: &mut Ctx<'_>,
        raw: &Raw,
        at: &Place<'_>,
        _accounts: &[Arc<AccountConfig>],
    ) -> Res<Self> {
        let webhook_url = secret_webhook_url(ctx, raw, at)?;
        Ok(SlackConfig { webhook_url })
    }
}

/// `webhook_url` or `webhook_url_file`: required, a secret (the URL embeds the
/// credential), an http(s) URL. Teams and Discord take the same keys.
pub(super) fn secret_webhook_url(ctx: &mut Ctx<'_>, raw: &Raw, at: &Place<'_>) -> Res<Secret> {
    let url = ctx
        .secret(
            &raw.webhook_url,
            &raw.webhook_url_file,
            at,
            "webhook_url",
            true,
        )?
        .expect("required");
    let span = raw
        .webhook_url
        .as_ref()
        .or(raw.webhook_url_file.as_ref())
        .map_or(at.table.clone(), Spanned::span);
    ctx.http_url(url.expose(), &span, &at.key("webhook_url"), true)?;
    Ok(url)
}

pub struct Slack {
    /// The webhook URL embeds the credential, so it is kept as a [`Secret`].
    webhook_url: Secret,
    client: reqwest::Client,
}

impl std::fmt::Debug for Slack {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Slack")
            .field("webhook_url", &self.webhook_url)
            .finish_non_exhaustive()
    }
}

impl Slack {
    pub fn new(config: &SlackConfig) -> Result<Self, String> {
        Ok(Slack {
            webhook_url: config.webhook_url.clone(),
            client: http::client(None, http::REQUEST_TIMEOUT)?,
        })
    }
}

/// Slack allows about one message a second per webhook ("short bursts" aside).
const SLACK_SPACING: Duration = Duration::from_secs(1);

/// The next free posting slot per webhook URL, across all channels of the process.
static NEXT_SLOT: LazyLock<Mutex<HashMap<String, tokio::time::Instant>>> =
    LazyLock::new(Default::default);

/// Waits for this URL's next slot and books the one after it.
async fn wait_for_slot(url: &str) {
    let wait = {
        let mut slots = NEXT_SLOT.lock().unwrap_or_else(|p| p.into_inner());
        let now = tokio::time::Instant::now();
        let slot = slots.get(url).copied().filter(|t| *t > now).unwrap_or(now);
        slots.insert(url.to_string(), slot + SLACK_SPACING);
        slot - now
    };
    if !wait.is_zero() {
        tokio::time::sleep(wait).await;
    }
}

impl Notifier for Slack {
    async fn send(&self, event: &Event, ctx: &RenderCtx) -> Result<(), DeliveryError> {
        let payload = slack_payload(event, ctx);
        wait_for_slot(self.webhook_url.expose()).await;
        let response = self
            .client
            .post(self.webhook_url.expose())
            .header(reqwest::header::CONTENT_TYPE, "application/json")
            .body(payload.to_string())
            .send()
            .await
            .map_err(|e| DeliveryError::retry(http::describe(&e)))?;
        let status = response.status();
        if status == StatusCode::OK {
            return Ok(());
        }
        let retry_after = http::retry_after(response.headers(), SystemTime::now());
        let body = http::read_limited(response, 64 * 1024)
            .await
            .map(|b| http::snippet(&b))
            .unwrap_or_default();
        Err(classify(status, &body, retry_after))
    }
}

fn classify(
    status: StatusCode,
    body: &str,
    retry_after: Option<std::time::Duration>,
) -> DeliveryError {
    let reason = if body.is_empty() {
        format!("Slack answered HTTP {status}")
    } else {
        format!("Slack answered HTTP {status}: {body}")
    };
    match status.as_u16() {
        400 | 403 | 404 | 410 => DeliveryError::Permanent(reason),
        _ => DeliveryError::Retry {
            reason,
            retry_after,
        },
    }
}

/// Escapes text for Slack `mrkdwn` (Slack asks for exactly these three).
fn slack_escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

/// Slack limits: header text 150 characters, a section field 2000, ten fields per
/// section.
const SLACK_HEADER_MAX: usize = 150;
const SLACK_FIELD_MAX: usize = 1900;
const SLACK_FIELDS_PER_SECTION: usize = 10;

/// Slack incoming-webhook payload: Block Kit blocks plus the `text` fallback.
///
/// `text` is the headline (what notifications and old clients show); the blocks are a
/// header, the summary, the facts as two-column fields and a context line with the event
/// kind and id (to match a Slack message with logs and webhook deliveries).
pub fn slack_payload(event: &Event, ctx: &RenderCtx) -> serde_json::Value {
    if event.event == crate::core::EventKind::Summary {
        return summary_payload(event, ctx);
    }
    let headline = headline(event);
    let mut blocks = vec![
        json!({
            "type": "header",
            "text": {"type": "plain_text", "text": shorten(&headline, SLACK_HEADER_MAX), "emoji": true}
        }),
        json!({
            "type": "section",
            "text": {"type": "mrkdwn", "text": shorten(&slack_escape(&summary(event, ctx)), SLACK_FIELD_MAX)}
        }),
    ];
    let fields: Vec<serde_json::Value> = facts(event, ctx)
        .into_iter()
        .map(|(label, value)| {
            json!({
                "type": "mrkdwn",
                "text": shorten(&format!("*{label}*\n{}", slack_escape(&value)), SLACK_FIELD_MAX)
            })
        })
        .collect();
    for chunk in fields.chunks(SLACK_FIELDS_PER_SECTION) {
        blocks.push(json!({"type": "section", "fields": chunk}));
    }
    blocks.push(json!({
        "type": "context",
        "elements": [{
            "type": "mrkdwn",
            "text": format!("{SIGNATURE} · event `{}` · id `{}`", event.event.as_str(), slack_escape(&event.id))
        }]
    }));
    json!({"text": headline, "blocks": blocks})
}

/// Slack caps a message at 50 blocks and a section's text at 3000 characters.
const SLACK_MAX_BLOCKS: usize = 50;
const SLACK_SECTION_TEXT: usize = 2900;

/// The daily summary (SPEC §9.6): a header, the count line, then the accounts that are
/// not ok, worst first, in sections of whole lines, within Slack's block limits; the
/// rest is counted ("N more ok").
fn summary_payload(event: &Event, ctx: &RenderCtx) -> serde_json::Value {
    let headline = headline(event);
    // Header, context and the sections: bounded so the whole fits 50 blocks.
    let budget = SLACK_SECTION_TEXT * (SLACK_MAX_BLOCKS - 3);
    let lines = super::forecast::summary_lines(&event.accounts, budget);
    let mut blocks = vec![json!({
        "type": "header",
        "text": {"type": "plain_text", "text": shorten(&headline, SLACK_HEADER_MAX), "emoji": true}
    })];
    let mut section = String::new();
    for line in lines {
        let line = slack_escape(&line);
        if !section.is_empty() && section.len() + line.len() + 1 > SLACK_SECTION_TEXT {
            blocks.push(json!({"type": "section", "text": {"type": "mrkdwn", "text": section}}));
            section = String::new();
        }
        if !section.is_empty() {
            section.push('\n');
        }
        section.push_str(&shorten(&line, SLACK_SECTION_TEXT));
    }
    if !section.is_empty() {
        blocks.push(json!({"type": "section", "text": {"type": "mrkdwn", "text": section}}));
    }
    blocks.truncate(SLACK_MAX_BLOCKS - 1);
    let _ = ctx;
    blocks.push(json!({
        "type": "context",
        "elements": [{
            "type": "mrkdwn",
            "text": format!("{SIGNATURE} · event `summary` · id `{}`", slack_escape(&event.id))
        }]
    }));
    json!({"text": headline, "blocks": blocks})
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::notify::test_events::*;

    #[test]
    fn slack_payload_blocks_and_fallback() {
        let expected = json!({
            "text": "[WARNING] Exotel balance improved: primary 1,600.00 INR, no longer critical",
            "blocks": [
                {"type": "header", "text": {"type": "plain_text", "emoji": true,
                    "text": "[WARNING] Exotel balance improved: primary 1,600.00 INR, no longer critical"}},
                {"type": "section", "text": {"type": "mrkdwn",
                    "text": "The Exotel balance of primary rose above 1,500 INR: no longer critical, still warning."}},
                {"type": "section", "fields": [
                    {"type": "mrkdwn", "text": "*Account*\nprimary"},
                    {"type": "mrkdwn", "text": "*Account SID*\nacme"},
                    {"type": "mrkdwn", "text": "*Balance*\n1,600.00 INR"},
                    {"type": "mrkdwn", "text": "*Level*\nwarning"},
                    {"type": "mrkdwn", "text": "*Previous level*\ncritical"},
                    {"type": "mrkdwn", "text": "*Threshold*\nabove 1,500 INR"},
                    {"type": "mrkdwn", "text": "*Pricing plan*\nPay As You Go"},
                    {"type": "mrkdwn", "text": "*Exotel DateUpdated*\n2026-04-24 10:32:18 (as reported by Exotel, no time zone)"},
                    {"type": "mrkdwn", "text": "*Observed at*\n2026-04-24T05:02:18Z"},
                    {"type": "mrkdwn", "text": "*Observed at (local)*\n2026-04-24 10:32:18 +05:30 (Asia/Kolkata)"}
                ]},
                {"type": "context", "elements": [{"type": "mrkdwn",
                    "text": "balance-alert · event `improved` · id `0123456789abcdef0123456789abcdef`"}]}
            ]
        });
        assert_eq!(slack_payload(&improved(), &kolkata()), expected);
    }

    #[test]
    fn slack_payload_splits_more_than_ten_fields_and_escapes() {
        let event = Event {
            account: "ops <&> team".into(),
            error: Some("boom".into()),
            ..alert()
        };
        let payload = slack_payload(&event, &kolkata());
        let blocks = payload["blocks"].as_array().unwrap();
        // header, summary, 10 fields, 1 field, context
        assert_eq!(blocks.len(), 5);
        assert_eq!(blocks[2]["fields"].as_array().unwrap().len(), 10);
        assert_eq!(
            blocks[3]["fields"],
            json!([{"type": "mrkdwn", "text": "*Observed at (local)*\n2026-04-24 10:32:18 +05:30 (Asia/Kolkata)"}])
        );
        assert_eq!(
            blocks[2]["fields"][0],
            json!({"type": "mrkdwn", "text": "*Account*\nops &lt;&amp;&gt; team"})
        );
        // The fallback is plain text, not mrkdwn: no escaping.
        assert_eq!(
            payload["text"],
            "[CRITICAL] Exotel balance low: ops <&> team 850.00 INR"
        );
    }
}
