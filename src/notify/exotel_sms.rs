//! `exotel_sms` channel: sends each event as one SMS per recipient through Exotel's own
//! SMS API, with the credentials and base URL of the account named in the channel.
//!
//! Owns the HTTP exchange only (the body comes from [`render::sms_body`]):
//! `POST {base}/v1/Accounts/{sid}/Sms/send.json`, form-encoded `From`, `To`, `Body` and
//! the India DLT fields when configured, HTTP Basic auth (API key : token). It also owns
//! [`post_sms_form`], the status mapping both SMS channels share: any 2xx is sent;
//! 408, 429 and 5xx are retried (honouring `Retry-After`); any other status is a
//! permanent refusal.
//!
//! Recipients are tried one after another and all of them are tried even when one
//! fails. If any failure is worth retrying the whole event is retried, and the retry
//! sends to every recipient again: a recipient that already got it may get it twice.
//! That is the at-least-once contract (SPEC §5); remembering per-recipient progress
//! would need outbox support and is not worth it for an alert SMS.

use std::fmt;
use std::time::SystemTime;

use super::{DeliveryError, Notifier, RenderCtx, render};
use crate::config::{ExotelSmsConfig, Secret};
use crate::core::Event;
use crate::http;

/// Largest error body we read from an SMS API (only a snippet is reported).
const ERROR_BODY_LIMIT: usize = 64 * 1024;

pub struct ExotelSms {
    client: reqwest::Client,
    url: reqwest::Url,
    api_key: Secret,
    api_token: Secret,
    from: String,
    to: Vec<String>,
    dlt_entity_id: Option<String>,
    dlt_template_id: Option<String>,
    body_template: Option<String>,
    /// The sending account's name, for `Debug` and errors.
    account: String,
}

impl fmt::Debug for ExotelSms {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ExotelSms")
            .field("account", &self.account)
            .field("url", &self.url.as_str())
            .field("from", &self.from)
            .field("to", &self.to)
            .field("dlt_entity_id", &self.dlt_entity_id)
            .field("dlt_template_id", &self.dlt_template_id)
            .field("body_template", &self.body_template)
            .finish_non_exhaustive()
    }
}

impl ExotelSms {
    pub fn new(config: &ExotelSmsConfig) -> Result<Self, String> {
        let account = &config.account;
        if config.to.is_empty() {
            return Err("exotel_sms needs at least one `to` number".to_string());
        }
        let mut url = reqwest::Url::parse(&account.base_url)
            .map_err(|e| format!("account {:?} base_url is not a URL: {e}", account.name))?;
        // Segments are pushed (not formatted into a string) so the SID is
        // percent-encoded and cannot change the path.
        url.path_segments_mut()
            .map_err(|()| format!("account {:?} base_url cannot take a path", account.name))?
            .pop_if_empty()
            .extend(["v1", "Accounts", account.sid.as_str(), "Sms", "send.json"]);
        let client = http::client(account.ca_file.as_deref(), http::REQUEST_TIMEOUT)?;
        Ok(ExotelSms {
            client,
            url,
            api_key: account.api_key.clone(),
            api_token: account.api_token.clone(),
            from: config.from.clone(),
            to: config.to.clone(),
            dlt_entity_id: config.dlt_entity_id.clone(),
            dlt_template_id: config.dlt_template_id.clone(),
            body_template: config.body_template.clone(),
            account: account.name.clone(),
        })
    }
}

impl ExotelSms {
    /// How many numbers each message goes to (one request each).
    pub fn recipients(&self) -> usize {
        self.to.len()
    }
}

impl Notifier for ExotelSms {
    async fn send(&self, event: &Event, _ctx: &RenderCtx) -> Result<(), DeliveryError> {
        let body = render::sms_body(event, self.body_template.as_deref());
        let secrets = [self.api_key.expose(), self.api_token.expose()];
        let mut outcomes = Vec::with_capacity(self.to.len());
        for to in &self.to {
            let mut form: Vec<(&str, &str)> =
                vec![("From", &self.from), ("To", to), ("Body", &body)];
            if let Some(id) = &self.dlt_entity_id {
                form.push(("DltEntityId", id));
            }
            if let Some(id) = &self.dlt_template_id {
                form.push(("DltTemplateId", id));
            }
            let request = self
                .client
                .post(self.url.clone())
                .basic_auth(self.api_key.expose(), Some(self.api_token.expose()))
                .form(&form);
            outcomes.push((
                to.as_str(),
                post_sms_form(request, "Exotel SMS", &secrets).await,
            ));
        }
        combine(outcomes)
    }
}

/// Sends one prepared SMS request and maps the answer (shared with `twilio_sms`).
pub(super) async fn post_sms_form(
    request: reqwest::RequestBuilder,
    peer: &str,
    secrets: &[&str],
) -> Result<(), DeliveryError> {
    let response = match request.send().await {
        Ok(r) => r,
        // `describe` leaves the URL out (it is harmless here, but the habit is cheap).
        Err(e) => {
            return Err(DeliveryError::retry(format!(
                "{peer}: {}",
                http::describe(&e)
            )));
        }
    };
    let status = response.status();
    if status.is_success() {
        return Ok(());
    }
    let retry_after = http::retry_after(response.headers(), SystemTime::now());
    let detail = match http::read_limited(response, ERROR_BODY_LIMIT).await {
        // The peer may echo the request; its credentials never reach a log line.
        Ok(body) if !body.is_empty() => format!(
            ": {}",
            crate::config::redact_secrets(&http::snippet(&body), secrets)
        ),
        Ok(_) => String::new(),
        Err(e) => format!(" ({e})"),
    };
    let reason = format!("{peer} answered HTTP {}{detail}", status.as_u16());
    let code = status.as_u16();
    if code == 408 || code == 429 || status.is_server_error() {
        Err(DeliveryError::Retry {
            reason,
            retry_after,
        })
    } else {
        // 400 (bad number, body refused), 401/403 (credentials), 402 (no money), 404
        // (wrong SID) and unexpected 1xx/3xx: sending the same request again will not
        // change the answer.
        Err(DeliveryError::Permanent(reason))
    }
}

/// One outcome for the event from the per-recipient outcomes: success only if every
/// recipient got it; a retry if any failure is worth retrying (the longest
/// `Retry-After` wins); else permanent.
pub(super) fn combine(
    outcomes: Vec<(&str, Result<(), DeliveryError>)>,
) -> Result<(), DeliveryError> {
    let total = outcomes.len();
    let mut failures = Vec::new();
    let mut retry = false;
    let mut retry_after = None;
    for (to, outcome) in outcomes {
        match outcome {
            Ok(()) => {}
            Err(DeliveryError::Retry {
                reason,
                retry_after: after,
            }) => {
                retry = true;
                retry_after = retry_after.max(after);
                failures.push(format!("{to}: {reason}"));
            }
            Err(DeliveryError::Permanent(reason)) => failures.push(format!("{to}: {reason}")),
        }
    }
    if failures.is_empty() {
        return Ok(());
    }
    let reason = if total == 1 {
        failures.remove(0)
    } else {
        format!(
            "{} of {total} recipients failed: {}",
            failures.len(),
            failures.join("; ")
        )
    };
    if retry {
        Err(DeliveryError::Retry {
            reason,
            retry_after,
        })
    } else {
        Err(DeliveryError::Permanent(reason))
    }
}
