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
    async fn send(&self, event: &Event, ctx: &RenderCtx) -> Result<(), DeliveryError> {
        let response = self
            .client
            .post(self.url.expose())
            .headers(self.headers.clone())
            .header(CONTENT_TYPE, "application/json")
            .body(webhook_body(event, ctx))
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

/// The `webhook` channel body: the event as its stable JSON object (SPEC §5, §9.3), with
/// `instance` (SPEC §11.3: null unless `[daemon] instance` is set); a `summary` as
/// `{"id", "event": "summary", "at", "accounts": [...], "instance"}` (SPEC §9.6).
pub fn webhook_body(event: &Event, ctx: &RenderCtx) -> String {
    if event.event == crate::core::EventKind::Summary {
        let body = serde_json::json!({
            "id": event.id,
            "event": "summary",
            "at": event.observed_at,
            "accounts": event.accounts,
            "instance": ctx.instance,
        });
        return body.to_string();
    }
    // Appended to the serialized event rather than built through a `Value`, so the
    // fields keep their documented order.
    let mut body = serde_json::to_string(event).expect("an Event always serializes");
    body.pop(); // the closing brace
    body.push_str(",\"instance\":");
    body.push_str(&serde_json::to_string(&ctx.instance).expect("a string serializes"));
    body.push('}');
    body
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::notify::test_events::*;

    #[test]
    fn webhook_body_carries_the_instance() {
        let body: serde_json::Value =
            serde_json::from_str(&webhook_body(&alert(), &kolkata())).unwrap();
        assert_eq!(body["instance"], serde_json::Value::Null);
        assert_eq!(body["event"], "alert");
        let ctx = RenderCtx {
            instance: Some("a".into()),
            ..kolkata()
        };
        let body: serde_json::Value = serde_json::from_str(&webhook_body(&alert(), &ctx)).unwrap();
        assert_eq!(body["instance"], "a");
    }

    /// The stable public format (SPEC §5, §9.3, §10): every field, in this order.
    #[test]
    fn webhook_bodies_exactly() {
        assert_eq!(
            webhook_body(&alert(), &RenderCtx::default()),
            r#"{"id":"0123456789abcdef0123456789abcdef","event":"alert","account":"primary","provider":"exotel","sid":"acme","level":"critical","previous_level":"warning","balance":"850.00","currency":"INR","threshold":"1000","pricing_plan":"Pay As You Go","date_updated":"2026-04-24 10:32:18","observed_at":"2026-04-24T05:02:18.123456Z","error":null,"cause":null,"burn_per_day":null,"runway_seconds":null,"depletes_at":null,"runway_threshold_seconds":null,"topup_amount":null,"burn_window_seconds":null,"instance":null}"#
        );
        assert_eq!(
            webhook_body(&twilio_alert(), &RenderCtx::default()),
            r#"{"id":"0123456789abcdef0123456789abcdef","event":"alert","account":"us-voice","provider":"twilio","sid":"AC0123456789abcdef","level":"critical","previous_level":"warning","balance":"7.25","currency":"USD","threshold":"10","pricing_plan":null,"date_updated":null,"observed_at":"2026-04-24T05:02:18.123456Z","error":null,"cause":null,"burn_per_day":null,"runway_seconds":null,"depletes_at":null,"runway_threshold_seconds":null,"topup_amount":null,"burn_window_seconds":null,"instance":null}"#
        );
    }

    /// An event stored before providers existed (no `provider`) is Exotel's.
    #[test]
    fn an_event_without_provider_reads_as_exotel() {
        let mut value: serde_json::Value =
            serde_json::from_str(&webhook_body(&alert(), &RenderCtx::default())).unwrap();
        value.as_object_mut().unwrap().remove("provider");
        value.as_object_mut().unwrap().remove("instance");
        let event: Event = serde_json::from_value(value).unwrap();
        assert_eq!(event, alert());
    }
}
