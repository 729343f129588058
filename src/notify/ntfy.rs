//! `ntfy`: publishes to an ntfy topic (SPEC §11.1). This file owns the channel's keys
//! (`url`, the topic URL; `token` or `token_file`, sent as `Authorization: Bearer`), the
//! request ([`ntfy_request`], pure: the plain-text message as the body, `Title`,
//! `Priority` (critical 5, warning 4, ok 3) and `Tags` headers) and its sending. 2xx
//! is success; 429 and 5xx are retried after `Retry-After`; other 4xx (401/403 a bad
//! token, 413 too large) are permanent. Header values that are not ASCII are sent as
//! RFC 2047 encoded words, which ntfy decodes.

use std::sync::Arc;

use base64::Engine;
use serde::Deserialize;

use super::forecast::summary_lines;
use super::post;
use super::render::{headline, text_body};

/// Characters of a summary's body: a `₹` is 3 bytes, so this keeps under 4,096 bytes.
const SUMMARY_MAX: usize = 1_300;
use super::{ChannelType, DeliveryError, Notifier, RenderCtx};
use crate::config::raw::Opt;
use crate::config::{Ctx, Place, Res, Secret};
use crate::core::{Event, EventKind, Level};
use crate::http;
use crate::provider::AccountConfig;

#[derive(Debug, Clone, PartialEq)]
pub struct NtfyConfig {
    pub url: String,
    pub token: Option<Secret>,
}

/// The keys as written.
#[derive(Deserialize)]
pub struct Raw {
    url: Opt<String>,
    token: Opt<String>,
    token_file: Opt<String>,
}

impl ChannelType for NtfyConfig {
    const NAME: &'static str = "ntfy";
    const FIELDS: &'static [&'static str] = &["url", "token", "token_file"];
    type Raw = Raw;

    fn validate(
        ctx: &mut Ctx<'_>,
        raw: &Raw,
        at: &Place<'_>,
        _accounts: &[Arc<AccountConfig>],
    ) -> Res<Self> {
        let (table, base) = (&at.table, at.base);
        let key = format!("{base}.url");
        let url_raw = ctx.required(&raw.url, table, &key)?;
        let url = ctx.string(url_raw, &key)?;
        let parsed = ctx.http_url(&url, &url_raw.span(), &key, false)?;
        if parsed.path().trim_matches('/').is_empty() {
            return Err(ctx.err(
                Some(url_raw.span()),
                &key,
                "names no topic: write the topic URL, e.g. https://ntfy.sh/acme-ops",
            ));
        }
        let token = ctx.secret(&raw.token, &raw.token_file, at, "token", false)?;
        Ok(NtfyConfig { url, token })
    }
}

pub struct Ntfy {
    config: NtfyConfig,
    client: reqwest::Client,
}

impl std::fmt::Debug for Ntfy {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Ntfy")
            .field("url", &self.config.url)
            .field("token", &self.config.token)
            .finish_non_exhaustive()
    }
}

impl Ntfy {
    pub fn new(config: &NtfyConfig) -> Result<Self, String> {
        Ok(Ntfy {
            config: config.clone(),
            client: http::client(None, http::REQUEST_TIMEOUT)?,
        })
    }
}

/// One publish: headers (name, value) and the body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NtfyRequest {
    pub headers: Vec<(&'static str, String)>,
    pub body: String,
}

impl Notifier for Ntfy {
    async fn send(&self, event: &Event, ctx: &RenderCtx) -> Result<(), DeliveryError> {
        let message = ntfy_request(event, ctx);
        let mut request = self.client.post(&self.config.url).body(message.body);
        for (name, value) in message.headers {
            request = request.header(name, value);
        }
        let token = self.config.token.as_ref().map(Secret::expose);
        if let Some(token) = token {
            let mut value = reqwest::header::HeaderValue::from_str(&format!("Bearer {token}"))
                .map_err(|_| {
                    DeliveryError::Permanent("ntfy token is not valid in an HTTP header".into())
                })?;
            value.set_sensitive(true);
            request = request.header(reqwest::header::AUTHORIZATION, value);
        }
        let secrets: Vec<&str> = token.into_iter().collect();
        let answer = post::send(request, "ntfy", &secrets).await?;
        if answer.status.is_success() {
            return Ok(());
        }
        let retry_after = answer.retry_after();
        Err(post::classify(&answer, "ntfy", &secrets, retry_after))
    }
}

/// ntfy's priority: critical (and a blind monitor) 5, warning 4, ok 3.
fn priority(event: &Event) -> u8 {
    match (event.event, event.level) {
        (EventKind::MonitorFailing, _) | (_, Level::Critical) => 5,
        (EventKind::Test, _) | (_, Level::Ok) => 3,
        (_, Level::Warning) => 4,
    }
}

/// Tags: an emoji ntfy shows for the level, then the event kind.
fn tags(event: &Event) -> String {
    let emoji = match (event.event, event.level) {
        (EventKind::MonitorFailing, _) => "rotating_light",
        (EventKind::Test, _) => "test_tube",
        (_, Level::Critical) => "rotating_light",
        (_, Level::Warning) => "warning",
        (_, Level::Ok) => "white_check_mark",
    };
    format!("{emoji},balance-alert,{}", event.event.as_str())
}

/// A header value as ntfy takes it: ASCII as is, anything else as an RFC 2047 encoded
/// word (`=?UTF-8?B?…?=`).
fn header_value(text: &str) -> String {
    if text.chars().all(|c| c.is_ascii() && !c.is_ascii_control()) {
        text.to_owned()
    } else {
        let encoded = base64::engine::general_purpose::STANDARD.encode(text.as_bytes());
        format!("=?UTF-8?B?{encoded}?=")
    }
}

/// The publish request for an event.
pub fn ntfy_request(event: &Event, ctx: &RenderCtx) -> NtfyRequest {
    NtfyRequest {
        headers: vec![
            ("Title", header_value(&headline(event))),
            ("Priority", priority(event).to_string()),
            ("Tags", tags(event)),
        ],
        body: match event.event {
            // The daily summary (SPEC §9.6) within ntfy's 4,096-byte message limit
            // (larger ones become attachments): worst first, then "N more ok".
            EventKind::Summary => summary_lines(&event.accounts, SUMMARY_MAX).join("\n"),
            _ => text_body(event, ctx),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::notify::test_events::*;

    #[test]
    fn ntfy_request_headers_and_body() {
        let expected = NtfyRequest {
            headers: vec![
                ("Title", "[WARNING] Exotel balance improved: primary 1,600.00 INR, no longer critical".into()),
                ("Priority", "4".into()),
                ("Tags", "warning,balance-alert,improved".into()),
            ],
            body: "The Exotel balance of primary rose above 1,500 INR: no longer critical, still warning.\n\n\
                Account:             primary\n\
                Account SID:         acme\n\
                Balance:             1,600.00 INR\n\
                Level:               warning\n\
                Previous level:      critical\n\
                Threshold:           above 1,500 INR\n\
                Pricing plan:        Pay As You Go\n\
                Exotel DateUpdated:  2026-04-24 10:32:18 (as reported by Exotel, no time zone)\n\
                Observed at:         2026-04-24T05:02:18Z\n\
                Observed at (local): 2026-04-24 10:32:18 +05:30 (Asia/Kolkata)\n\n\
                Sent by balance-alert.\n"
                .into(),
        };
        assert_eq!(ntfy_request(&improved(), &kolkata()), expected);
    }

    #[test]
    fn priorities_and_non_ascii_titles() {
        assert_eq!(priority(&alert()), 5);
        assert_eq!(priority(&improved()), 4);
        assert_eq!(priority(&resolved()), 3);
        assert_eq!(priority(&failing()), 5);
        assert_eq!(header_value("₹ low"), "=?UTF-8?B?4oK5IGxvdw==?=");
        assert_eq!(header_value("plain"), "plain");
    }
}
