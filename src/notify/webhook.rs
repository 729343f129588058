//! `webhook`: POSTs each event as the stable JSON object of SPEC §5 (the body is
//! [`webhook_body`]) with the configured extra headers. This file owns the channel's
//! keys (`url`, `headers`), its body and its sending. Any 2xx is success;
//! 3xx, 408, 425, 429 and 5xx are retried (honouring `Retry-After`); any other 4xx means
//! the receiver rejects this message for good, so it is not retried.

use std::time::SystemTime;

use reqwest::header::{CONTENT_TYPE, HeaderName, HeaderValue};

use std::collections::BTreeMap;
use std::sync::Arc;

use serde::Deserialize;
use toml::Spanned;

use super::{ChannelType, DeliveryError, Notifier, RenderCtx};
use crate::config::raw::Opt;
use crate::config::{Ctx, Place, Res, Secret};
use crate::core::Event;
use crate::http;
use crate::provider::AccountConfig;

#[derive(Debug, Clone, PartialEq)]
pub struct WebhookConfig {
    pub url: Secret,
    /// Header values may carry tokens, so they are secrets too.
    pub headers: Vec<(String, Secret)>,
}

/// The keys as written.
#[derive(Deserialize)]
pub struct Raw {
    url: Opt<String>,
    headers: Opt<BTreeMap<String, Spanned<String>>>,
}

impl ChannelType for WebhookConfig {
    const NAME: &'static str = "webhook";
    const FIELDS: &'static [&'static str] = &["url", "headers"];
    type Raw = Raw;

    fn validate(
        ctx: &mut Ctx<'_>,
        raw: &Raw,
        at: &Place<'_>,
        _accounts: &[Arc<AccountConfig>],
    ) -> Res<Self> {
        let url_key = at.key("url");
        let url_raw = ctx.required(&raw.url, &at.table, &url_key)?;
        let (url, used_var) = ctx.expand(url_raw.get_ref(), &url_raw.span(), &url_key)?;
        let parsed = ctx.http_url(&url, &url_raw.span(), &url_key, true)?;
        // A generic webhook URL is kept as a Secret so it never reaches a log, but only one
        // with credentials or a query (where tokens live) makes the file worth a permission
        // warning; otherwise every plain webhook would warn.
        let sensitive = !parsed.username().is_empty()
            || parsed.password().is_some()
            || parsed.query().is_some();
        if sensitive && !used_var {
            ctx.literal_secret(url_key);
        }
        let url = Secret::new(url);
        let mut headers = Vec::new();
        if let Some(h) = &raw.headers {
            for (name, value) in h.get_ref() {
                let key = at.key(&format!("headers.{name}"));
                if reqwest::header::HeaderName::from_bytes(name.as_bytes()).is_err() {
                    return Err(ctx.err(Some(value.span()), &key, "not a valid HTTP header name"));
                }
                let (v, used_var) = ctx.expand(value.get_ref(), &value.span(), &key)?;
                if reqwest::header::HeaderValue::from_str(&v).is_err() {
                    return Err(ctx.err(
                        Some(value.span()),
                        &key,
                        "not a valid HTTP header value (no control characters or newlines)",
                    ));
                }
                // Same reasoning as for the URL: only credential-like headers warn.
                let lower = name.to_ascii_lowercase();
                let sensitive = ["auth", "token", "key", "secret", "cookie", "signature"]
                    .iter()
                    .any(|word| lower.contains(word));
                if sensitive && !used_var {
                    ctx.literal_secret(key);
                }
                headers.push((name.clone(), Secret::new(v)));
            }
        }
        Ok(WebhookConfig { url, headers })
    }
}

pub struct Webhook {
    url: Secret,
    headers: reqwest::header::HeaderMap,
    client: reqwest::Client,
}

impl std::fmt::Debug for Webhook {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Webhook")
            .field("url", &self.url)
            .field("headers", &self.headers.keys().collect::<Vec<_>>())
            .finish_non_exhaustive()
    }
}

impl Webhook {
    pub fn new(config: &WebhookConfig) -> Result<Self, String> {
        let mut headers = reqwest::header::HeaderMap::new();
        for (name, value) in &config.headers {
            let name = HeaderName::from_bytes(name.as_bytes())
                .map_err(|_| format!("webhook header name `{name}` is not a valid HTTP header"))?;
            let mut value = HeaderValue::from_str(value.expose()).map_err(|_| {
                format!("webhook header `{name}` has a value that is not valid in HTTP")
            })?;
            // Keeps the value out of reqwest/hyper debug output.
            value.set_sensitive(true);
            headers.insert(name, value);
        }
        Ok(Webhook {
            url: config.url.clone(),
            headers,
            client: http::client(None, http::REQUEST_TIMEOUT)?,
        })
    }
}

impl Notifier for Webhook {
    async fn send(&self, event: &Event, _ctx: &RenderCtx) -> Result<(), DeliveryError> {
        let response = self
            .client
            .post(self.url.expose())
            .headers(self.headers.clone())
            .header(CONTENT_TYPE, "application/json")
            .body(webhook_body(event))
            .send()
            .await
            .map_err(|e| DeliveryError::retry(http::describe(&e)))?;
        let status = response.status();
        if status.is_success() {
            return Ok(());
        }
        let retry_after = http::retry_after(response.headers(), SystemTime::now());
        let reason = format!("webhook answered HTTP {status}");
        match status.as_u16() {
            // A redirect is a URL to fix in the config; retrying keeps the message
            // until a reload points the channel at the right place.
            300..=399 | 408 | 425 | 429 | 500..=599 => Err(DeliveryError::Retry {
                reason,
                retry_after,
            }),
            _ => Err(DeliveryError::Permanent(reason)),
        }
    }
}

/// The `webhook` channel body: the event as its stable JSON object (SPEC §5, §9.3); a
/// `summary` as `{"id", "event": "summary", "at", "accounts": [...]}` (SPEC §9.6).
pub fn webhook_body(event: &Event) -> String {
    if event.event == crate::core::EventKind::Summary {
        let body = serde_json::json!({
            "id": event.id,
            "event": "summary",
            "at": event.observed_at,
            "accounts": event.accounts,
        });
        return body.to_string();
    }
    serde_json::to_string(event).expect("an Event always serializes")
}
