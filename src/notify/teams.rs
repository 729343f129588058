//! `teams`: a Microsoft Teams Workflows webhook ("When a Teams webhook request is
//! received", SPEC §11.1). This file owns the channel's key (`webhook_url` or
//! `webhook_url_file`), the message ([`teams_payload`], pure: an Adaptive Card 1.4 in a
//! `message` envelope; the retired Office 365 connector `MessageCard` is not sent) and its
//! sending. Any 2xx is success (Workflows answers 202); 429 and 5xx are retried after
//! `Retry-After`; other 4xx are permanent. The URL carries its signature, so it is a
//! secret and never logged.

use std::sync::Arc;

use reqwest::header::CONTENT_TYPE;
use serde_json::{Value, json};

use super::forecast::summary_lines;
use super::post;
use super::render::{SIGNATURE, facts, headline, summary};

/// Characters of a summary's account list: Teams takes cards of about 28 KB.
const SUMMARY_MAX: usize = 20_000;
use super::{ChannelType, DeliveryError, Notifier, RenderCtx};
use crate::config::{Ctx, Place, Res, Secret};
use crate::core::{Event, EventKind, Level};
use crate::http;
use crate::provider::AccountConfig;

#[derive(Debug, Clone, PartialEq)]
pub struct TeamsConfig {
    pub webhook_url: Secret,
}

/// The keys as written: Slack's (`webhook_url` or `webhook_url_file`).
pub use super::slack::Raw;

impl ChannelType for TeamsConfig {
    const NAME: &'static str = "teams";
    const FIELDS: &'static [&'static str] = &["webhook_url", "webhook_url_file"];
    type Raw = Raw;

    fn validate(
        ctx: &mut Ctx<'_>,
        raw: &Raw,
        at: &Place<'_>,
        _accounts: &[Arc<AccountConfig>],
    ) -> Res<Self> {
        let webhook_url = super::slack::secret_webhook_url(ctx, raw, at)?;
        Ok(TeamsConfig { webhook_url })
    }
}

pub struct Teams {
    webhook_url: Secret,
    client: reqwest::Client,
}

impl std::fmt::Debug for Teams {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Teams")
            .field("webhook_url", &self.webhook_url)
            .finish_non_exhaustive()
    }
}

impl Teams {
    pub fn new(config: &TeamsConfig) -> Result<Self, String> {
        Ok(Teams {
            webhook_url: config.webhook_url.clone(),
            client: http::client(None, http::REQUEST_TIMEOUT)?,
        })
    }
}

impl Notifier for Teams {
    async fn send(&self, event: &Event, ctx: &RenderCtx) -> Result<(), DeliveryError> {
        let url = self.webhook_url.expose();
        let request = self
            .client
            .post(url)
            .header(CONTENT_TYPE, "application/json")
            .body(teams_payload(event, ctx).to_string());
        let answer = post::send(request, "Teams", &[url]).await?;
        if answer.status.is_success() {
            return Ok(());
        }
        let retry_after = answer.retry_after();
        Err(post::classify(&answer, "Teams", &[url], retry_after))
    }
}

/// The Adaptive Card color of the headline: the level, at a glance (the word is in the
/// text too, so color is never the only signal).
fn color(event: &Event) -> &'static str {
    match (event.event, event.level) {
        (EventKind::MonitorFailing, _) | (_, Level::Critical) => "Attention",
        (EventKind::Test, _) => "Accent",
        (_, Level::Warning) => "Warning",
        (_, Level::Ok) => "Good",
    }
}

/// The Workflows request: one Adaptive Card 1.4 with the headline, the summary and the
/// facts. The daily summary (SPEC §9.6) lists its accounts instead of facts, worst
/// first, within [`SUMMARY_MAX`].
pub fn teams_payload(event: &Event, ctx: &RenderCtx) -> Value {
    let text = match event.event {
        // Markdown needs a blank line between lines of a TextBlock.
        EventKind::Summary => summary_lines(&event.accounts, SUMMARY_MAX).join("\n\n"),
        _ => summary(event, ctx),
    };
    let facts: Vec<Value> = facts(event, ctx)
        .into_iter()
        .filter(|_| event.event != EventKind::Summary)
        .map(|(title, value)| json!({"title": title, "value": value}))
        .collect();
    let card = json!({
        "$schema": "http://adaptivecards.io/schemas/adaptive-card.json",
        "type": "AdaptiveCard",
        "version": "1.4",
        "msteams": {"width": "Full"},
        "body": [
            {"type": "TextBlock", "text": headline(event), "weight": "Bolder",
             "size": "Medium", "color": color(event), "wrap": true},
            {"type": "TextBlock", "text": text, "wrap": true},
            {"type": "FactSet", "facts": facts},
            {"type": "TextBlock", "text": format!("{SIGNATURE} · event {} · id {}", event.event.as_str(), event.id),
             "isSubtle": true, "size": "Small", "wrap": true}
        ]
    });
    json!({
        "type": "message",
        "attachments": [{
            "contentType": "application/vnd.microsoft.card.adaptive",
            "contentUrl": null,
            "content": card
        }]
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::notify::test_events::*;

    #[test]
    fn teams_payload_is_an_adaptive_card() {
        let expected = json!({
            "type": "message",
            "attachments": [{
                "contentType": "application/vnd.microsoft.card.adaptive",
                "contentUrl": null,
                "content": {
                    "$schema": "http://adaptivecards.io/schemas/adaptive-card.json",
                    "type": "AdaptiveCard",
                    "version": "1.4",
                    "msteams": {"width": "Full"},
                    "body": [
                        {"type": "TextBlock", "weight": "Bolder", "size": "Medium",
                         "color": "Good", "wrap": true,
                         "text": "[OK] Exotel balance recovered: primary 7,000.00 INR"},
                        {"type": "TextBlock", "wrap": true,
                         "text": "The Exotel balance of primary is back above 6,000 INR: level ok."},
                        {"type": "FactSet", "facts": [
                            {"title": "Account", "value": "primary"},
                            {"title": "Account SID", "value": "acme"},
                            {"title": "Balance", "value": "7,000.00 INR"},
                            {"title": "Level", "value": "ok"},
                            {"title": "Previous level", "value": "warning"},
                            {"title": "Threshold", "value": "above 6,000 INR"},
                            {"title": "Pricing plan", "value": "Pay As You Go"},
                            {"title": "Exotel DateUpdated", "value": "2026-04-24 10:32:18 (as reported by Exotel, no time zone)"},
                            {"title": "Observed at", "value": "2026-04-24T05:02:18Z"},
                            {"title": "Observed at (local)", "value": "2026-04-24 10:32:18 +05:30 (Asia/Kolkata)"},
                            {"title": "Instance", "value": "a"}
                        ]},
                        {"type": "TextBlock", "isSubtle": true, "size": "Small", "wrap": true,
                         "text": "balance-alert · event resolved · id 0123456789abcdef0123456789abcdef"}
                    ]
                }
            }]
        });
        let ctx = RenderCtx {
            instance: Some("a".into()),
            ..kolkata()
        };
        assert_eq!(teams_payload(&resolved(), &ctx), expected);
    }

    #[test]
    fn colors_follow_the_level() {
        let color_of = |e: &Event| {
            teams_payload(e, &kolkata())["attachments"][0]["content"]["body"][0]["color"].clone()
        };
        assert_eq!(color_of(&alert()), "Attention");
        assert_eq!(color_of(&improved()), "Warning");
        assert_eq!(color_of(&failing()), "Attention");
        assert_eq!(color_of(&test_event()), "Accent");
    }
}
