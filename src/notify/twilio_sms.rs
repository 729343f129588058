//! `twilio_sms` channel: sends each event as one SMS per recipient through Twilio's
//! Messages API.
//!
//! Owns the HTTP exchange only (the body comes from [`render::sms_body`]):
//! `POST {base_url}/2010-04-01/Accounts/{AccountSid}/Messages.json`, form-encoded `To`,
//! `From`, `Body`, HTTP Basic auth (Account SID : auth token). Status mapping and the
//! per-recipient rules (all recipients tried; a retry re-sends to all) are shared with
//! `exotel_sms` ([`super::exotel_sms::post_sms_form`]).

use std::fmt;

use super::exotel_sms::{combine, post_sms_form};
use super::{DeliveryError, Notifier, RenderCtx, render};
use crate::config::{Secret, TwilioSmsConfig};
use crate::core::Event;
use crate::http;

pub struct TwilioSms {
    client: reqwest::Client,
    url: reqwest::Url,
    account_sid: String,
    auth_token: Secret,
    from: String,
    to: Vec<String>,
    body_template: Option<String>,
}

impl fmt::Debug for TwilioSms {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TwilioSms")
            .field("url", &self.url.as_str())
            .field("from", &self.from)
            .field("to", &self.to)
            .field("body_template", &self.body_template)
            .finish_non_exhaustive()
    }
}

impl TwilioSms {
    pub fn new(config: &TwilioSmsConfig) -> Result<Self, String> {
        if config.to.is_empty() {
            return Err("twilio_sms needs at least one `to` number".to_string());
        }
        let mut url = reqwest::Url::parse(&config.base_url)
            .map_err(|e| format!("twilio_sms base_url is not a URL: {e}"))?;
        url.path_segments_mut()
            .map_err(|()| "twilio_sms base_url cannot take a path".to_string())?
            .pop_if_empty()
            .extend([
                "2010-04-01",
                "Accounts",
                config.account_sid.as_str(),
                "Messages.json",
            ]);
        let client = http::client(None, http::REQUEST_TIMEOUT)?;
        Ok(TwilioSms {
            client,
            url,
            account_sid: config.account_sid.clone(),
            auth_token: config.auth_token.clone(),
            from: config.from.clone(),
            to: config.to.clone(),
            body_template: config.body_template.clone(),
        })
    }
}

impl TwilioSms {
    /// How many numbers each message goes to (one request each).
    pub fn recipients(&self) -> usize {
        self.to.len()
    }
}

impl Notifier for TwilioSms {
    async fn send(&self, event: &Event, _ctx: &RenderCtx) -> Result<(), DeliveryError> {
        let body = render::sms_body(event, self.body_template.as_deref());
        let secrets = [self.auth_token.expose()];
        let mut outcomes = Vec::with_capacity(self.to.len());
        for to in &self.to {
            let form = [("To", to.as_str()), ("From", &self.from), ("Body", &body)];
            let request = self
                .client
                .post(self.url.clone())
                .basic_auth(&self.account_sid, Some(self.auth_token.expose()))
                .form(&form);
            outcomes.push((
                to.as_str(),
                post_sms_form(request, "Twilio SMS", &secrets).await,
            ));
        }
        combine(outcomes)
    }
}
