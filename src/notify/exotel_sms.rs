//! `exotel_sms` channel: sends each event as one SMS per recipient through Exotel's own
//! SMS API, with the credentials and base URL of the account named in the channel.
//!
//! Owns the channel's keys and their validation and the HTTP exchange (the body comes
//! from [`sms::sms_body`]): `POST {base}/v1/Accounts/{sid}/Sms/send.json`, form-encoded
//! `From`, `To`, `Body` and the India DLT fields when configured, HTTP Basic auth (API
//! key : token). The status mapping is `sms::post_sms_form`, shared with `twilio_sms`.
//!
//! Recipients are tried one after another and all of them are tried even when one
//! fails. If any failure is worth retrying the whole event is retried, and the retry
//! sends to every recipient again: a recipient that already got it may get it twice.
//! That is the at-least-once contract (SPEC §5); remembering per-recipient progress
//! would need outbox support and is not worth it for an alert SMS.

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
pub struct ExotelSmsConfig {
    /// The account whose credentials and base URL send the SMS.
    pub account: Arc<AccountConfig>,
    pub from: String,
    pub to: Vec<String>,
    pub dlt_entity_id: Option<String>,
    pub dlt_template_id: Option<String>,
    pub body_template: Option<String>,
}

/// The keys as written.
#[derive(Deserialize)]
pub struct Raw {
    account: Opt<String>,
    from: Opt<String>,
    to: Option<StrList>,
    dlt_entity_id: Opt<String>,
    dlt_template_id: Opt<String>,
    body_template: Opt<String>,
}

impl ChannelType for ExotelSmsConfig {
    const NAME: &'static str = "exotel_sms";
    const FIELDS: &'static [&'static str] = &[
        "account",
        "from",
        "to",
        "dlt_entity_id",
        "dlt_template_id",
        "body_template",
    ];
    type Raw = Raw;

    fn validate(
        ctx: &mut Ctx<'_>,
        raw: &Raw,
        at: &Place<'_>,
        accounts: &[Arc<AccountConfig>],
    ) -> Res<Self> {
        let account_raw = ctx.required(&raw.account, &at.table, &at.key("account"))?;
        let account_name = ctx.string(account_raw, &at.key("account"))?;
        let account = accounts
            .iter()
            .find(|a| a.name == account_name)
            .cloned()
            .ok_or_else(|| {
                ctx.err(
                    Some(account_raw.span()),
                    &at.key("account"),
                    format!("no [[account]] named \"{account_name}\""),
                )
            })?;
        if account.provider.exotel().is_none() {
            return Err(ctx.err(
                Some(account_raw.span()),
                &at.key("account"),
                format!("account \"{account_name}\" is not an Exotel account"),
            ));
        }
        let (from, to) = sms::endpoints(ctx, &raw.from, &raw.to, at)?;
        Ok(ExotelSmsConfig {
            account,
            from,
            to,
            dlt_entity_id: ctx.opt_string(&raw.dlt_entity_id, &at.key("dlt_entity_id"))?,
            dlt_template_id: ctx.opt_string(&raw.dlt_template_id, &at.key("dlt_template_id"))?,
            body_template: sms::body_template(ctx, &raw.body_template, at)?,
        })
    }
}

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
        let exotel = account
            .provider
            .exotel()
            .ok_or_else(|| format!("account {:?} is not an Exotel account", account.name))?;
        if config.to.is_empty() {
            return Err("exotel_sms needs at least one `to` number".to_string());
        }
        let mut url = reqwest::Url::parse(&exotel.base_url)
            .map_err(|e| format!("account {:?} base_url is not a URL: {e}", account.name))?;
        // Segments are pushed (not formatted into a string) so the SID is
        // percent-encoded and cannot change the path.
        url.path_segments_mut()
            .map_err(|()| format!("account {:?} base_url cannot take a path", account.name))?
            .pop_if_empty()
            .extend(["v1", "Accounts", exotel.sid.as_str(), "Sms", "send.json"]);
        let client = http::client(account.ca_file.as_deref(), http::REQUEST_TIMEOUT)?;
        Ok(ExotelSms {
            client,
            url,
            api_key: exotel.api_key.clone(),
            api_token: exotel.api_token.clone(),
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
        let body = sms::sms_body(event, self.body_template.as_deref());
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
