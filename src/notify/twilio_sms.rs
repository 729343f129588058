//! `twilio_sms` channel: sends each event as one SMS per recipient through Twilio's
//! Messages API.
//!
//! Owns the channel's keys and their validation and the HTTP exchange (the body comes
//! from [`sms::sms_body`]):
//! `POST {base_url}/2010-04-01/Accounts/{AccountSid}/Messages.json`, form-encoded `To`,
//! `From`, `Body`, HTTP Basic auth (Account SID : auth token). Status mapping and the
//! per-recipient rules (all recipients tried; a retry re-sends to all) are shared with
//! `exotel_sms` (`sms::post_sms_form`).

use std::fmt;
use std::sync::Arc;

use serde::Deserialize;

use super::sms::{self, combine, post_sms_form};
use super::{ChannelType, DeliveryError, Notifier, RenderCtx};
use crate::config::raw::{Opt, StrList};
use crate::config::{Ctx, Place, Res, Secret};
use crate::core::Event;
use crate::http;
use crate::provider::AccountConfig;

#[derive(Debug, Clone, PartialEq)]
pub struct TwilioSmsConfig {
    pub account_sid: String,
    pub auth_token: Secret,
    pub from: String,
    pub to: Vec<String>,
    /// Without a trailing slash; default `https://api.twilio.com`.
    pub base_url: String,
    pub body_template: Option<String>,
}

/// The keys as written.
#[derive(Deserialize)]
pub struct Raw {
    account_sid: Opt<String>,
    auth_token: Opt<String>,
    auth_token_file: Opt<String>,
    from: Opt<String>,
    to: Option<StrList>,
    base_url: Opt<String>,
    body_template: Opt<String>,
}

impl ChannelType for TwilioSmsConfig {
    const NAME: &'static str = "twilio_sms";
    const FIELDS: &'static [&'static str] = &[
        "account_sid",
        "auth_token",
        "auth_token_file",
        "from",
        "to",
        "base_url",
        "body_template",
    ];
    type Raw = Raw;

    fn validate(
        ctx: &mut Ctx<'_>,
        raw: &Raw,
        at: &Place<'_>,
        _accounts: &[Arc<AccountConfig>],
    ) -> Res<Self> {
        let sid_raw = ctx.required(&raw.account_sid, &at.table, &at.key("account_sid"))?;
        let account_sid = ctx.string(sid_raw, &at.key("account_sid"))?;
        // It goes into the URL path.
        if !account_sid.chars().all(|c| c.is_ascii_alphanumeric()) {
            return Err(ctx.err(
                Some(sid_raw.span()),
                &at.key("account_sid"),
                "may only contain letters and digits",
            ));
        }
        let auth_token = ctx
            .secret(
                &raw.auth_token,
                &raw.auth_token_file,
                at,
                "auth_token",
                true,
            )?
            .expect("required");
        let (from, to) = sms::endpoints(ctx, &raw.from, &raw.to, at)?;
        let base_url = match &raw.base_url {
            Some(v) => ctx.base_url(v, &at.key("base_url"))?,
            None => "https://api.twilio.com".to_owned(),
        };
        Ok(TwilioSmsConfig {
            account_sid,
            auth_token,
            from,
            to,
            base_url,
            body_template: sms::body_template(ctx, &raw.body_template, at)?,
        })
    }
}

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
        let body = sms::sms_body(event, self.body_template.as_deref());
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
