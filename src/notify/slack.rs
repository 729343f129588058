//! `slack`: a Slack incoming webhook. The payload (Block Kit plus a plain `text`
//! fallback) comes from [`render::slack_payload`]; this file only posts it and classifies
//! Slack's answer: 200 is success, 429 is retried after `Retry-After`, 400/403/404/410
//! are permanent (invalid payload, action prohibited, channel not found or archived),
//! anything else is retried. Posts to one webhook URL are paced to one a second, even
//! when several channels share the URL.

use std::collections::HashMap;
use std::sync::{LazyLock, Mutex};
use std::time::{Duration, SystemTime};

use reqwest::StatusCode;

use super::{DeliveryError, Notifier, RenderCtx, render};
use crate::config::{Secret, SlackConfig};
use crate::core::Event;
use crate::http;

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
        let payload = render::slack_payload(event, ctx);
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
