//! `webhook`: POSTs each event as the stable JSON object of SPEC §5 (the body is
//! [`render::webhook_body`]) with the configured extra headers. Any 2xx is success;
//! 3xx, 408, 425, 429 and 5xx are retried (honouring `Retry-After`); any other 4xx means
//! the receiver rejects this message for good, so it is not retried.

use std::time::SystemTime;

use reqwest::header::{CONTENT_TYPE, HeaderName, HeaderValue};

use super::{DeliveryError, Notifier, RenderCtx, render};
use crate::config::{Secret, WebhookConfig};
use crate::core::Event;
use crate::http;

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
            .body(render::webhook_body(event))
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
