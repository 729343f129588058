//! Infobip (SPEC §10): `GET {base}/account/1/balance` with `Authorization: App
//! {api_key}`, where `base_url` is required (each account has its own
//! `https://xxxx.api.infobip.com`); the amount is `balance` (a JSON number, read from
//! its literal text), the currency the body's `currency`; errors carry
//! `requestError.serviceException.messageId` and `text`.

use serde::Deserialize;
use std::sync::Arc;

use super::AccountConfig;
use super::shared::{self, Api, Auth, Fetcher, scalar};
use super::{Balance, BodyError, ParsedBalance, PollError, RestException};
use crate::config::raw::Opt;
use crate::config::{Ctx, Place, Res, Secret};
use crate::http;

/// The `provider` value.
pub const NAME: &str = "infobip";

/// The keys an Infobip account takes besides the common account keys.
pub const FIELDS: &[&str] = &["base_url", "api_key", "api_key_file", "currency"];

/// Used only if a body ever lacks `currency` and the account sets none.
pub const CURRENCY: &str = "EUR";

/// An Infobip account's settings.
#[derive(Debug, Clone, PartialEq)]
pub struct InfobipConfig {
    pub api_key: Secret,
    /// The account's own base URL, e.g. `https://xxxx.api.infobip.com`.
    pub base_url: String,
    /// The currency the account insists on.
    pub currency: Option<String>,
}

/// [`FIELDS`] as written.
#[derive(Deserialize)]
pub struct Raw {
    base_url: Opt<String>,
    api_key: Opt<String>,
    api_key_file: Opt<String>,
    currency: Opt<String>,
}

impl InfobipConfig {
    /// Validates an Infobip account's keys, found `at` the account's table.
    pub fn validate(ctx: &mut Ctx<'_>, raw: &Raw, at: &Place<'_>) -> Res<Self> {
        let table = &at.table;
        let key = |field: &str| at.key(field);
        let base_url = raw.base_url.as_ref().ok_or_else(|| {
            ctx.err(
                Some(table.clone()),
                &key("base_url"),
                "missing required key: every Infobip account has its own base URL \
                 (https://xxxx.api.infobip.com, shown on the Infobip portal's home page)",
            )
        })?;
        let base_url = ctx.base_url(base_url, &key("base_url"))?;
        let api_key = ctx
            .secret(&raw.api_key, &raw.api_key_file, at, "api_key", true)?
            .expect("required");
        Ok(InfobipConfig {
            api_key,
            base_url,
            currency: shared::currency(ctx, &raw.currency, &key("currency"))?,
        })
    }
}

static API: Api = Api {
    name: NAME,
    parse: parse_balance,
    exception,
};

/// A balance client for one Infobip account.
#[derive(Debug)]
pub struct InfobipClient(Fetcher);

impl InfobipClient {
    pub fn with_cache(
        config: &InfobipConfig,
        account: &Arc<AccountConfig>,
        cache: &mut http::ClientCache,
    ) -> Result<Self, String> {
        let auth = Auth::App(config.api_key.clone());
        let segments = ["account", "1", "balance"];
        Fetcher::new(&API, &config.base_url, &segments, auth, account, cache).map(Self)
    }

    /// One request: no retry, the scheduler decides when to try again.
    pub async fn fetch_balance(&self) -> Result<Balance, PollError> {
        self.0.fetch_balance().await
    }
}

/// Parses `{"balance":47.79134,"currency":"EUR"}`. Pure; `balance` is taken from its
/// literal JSON text, never through `f64`.
pub fn parse_balance(body: &[u8]) -> Result<ParsedBalance, BodyError> {
    shared::flat_balance(body, "balance", Some("currency"), exception)
}

/// `{"requestError":{"serviceException":{"messageId":"UNAUTHORIZED","text":"…"}}}`.
pub(super) fn exception(value: &serde_json::Value) -> Option<RestException> {
    let inner = value
        .get("requestError")?
        .get("serviceException")
        .or_else(|| value.get("requestError")?.get("policyException"))?
        .as_object()?;
    shared::exception(scalar(inner, "messageId"), scalar(inner, "text"))
}

/// What to check for a status that needs a human.
pub fn hint(status: u16) -> Option<&'static str> {
    match status {
        401 => Some("check api_key"),
        403 => Some("check that the API key may read the account balance"),
        404 => Some("check base_url (your account's own https://xxxx.api.infobip.com)"),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::provider::shared::error_details;

    fn parse(body: &str) -> Result<ParsedBalance, BodyError> {
        parse_balance(body.as_bytes())
    }

    #[test]
    fn documented_shape_with_extra_fields() {
        let parsed = parse(r#"{"balance":47.79134,"currency":"EUR","creditLimit":0}"#).unwrap();
        assert_eq!(parsed.amount.to_string(), "47.79134");
        assert_eq!(parsed.currency.as_deref(), Some("EUR"));
    }

    #[test]
    fn amounts_are_exact_from_numbers_and_strings() {
        for (literal, expected) in [
            ("0.1", "0.1"),
            ("\"0.1\"", "0.1"),
            ("-5.000", "-5.000"),
            ("12345678901234567.25", "12345678901234567.25"),
            ("1.5e3", "1500"),
        ] {
            let body = format!(r#"{{"balance":{literal},"currency":"EUR"}}"#);
            assert_eq!(parse(&body).unwrap().amount.to_string(), expected, "{body}");
        }
    }

    #[test]
    fn bad_bodies_are_named() {
        assert_eq!(parse(""), Err(BodyError::Empty));
        assert!(matches!(
            parse("\u{0}\u{1}"),
            Err(BodyError::NotJson { .. })
        ));
        let e = parse(r#"{"balance":"Infinity","currency":"EUR"}"#).unwrap_err();
        assert_eq!(e.to_string(), "balance is not a number: \"Infinity\"");
        let e = parse(r#"{"balance":1e40}"#).unwrap_err();
        assert!(matches!(e, BodyError::OutOfRange { .. }), "{e:?}");
        let e = parse(
            r#"{"requestError":{"serviceException":{"messageId":"UNAUTHORIZED","text":"Invalid login details"}}}"#,
        )
        .unwrap_err();
        assert_eq!(
            e.to_string(),
            "the API answered with an error: Invalid login details (code UNAUTHORIZED)"
        );
    }

    #[test]
    fn error_bodies() {
        let (e, _) = error_details(
            br#"{"requestError":{"serviceException":{"messageId":"UNAUTHORIZED","text":"Invalid login details"}}}"#,
            exception,
        );
        let status = PollError::Status {
            provider: NAME,
            status: 401,
            exception: e,
            snippet: None,
            retry_after: None,
        };
        assert_eq!(
            status.to_string(),
            "HTTP 401 Unauthorized: Invalid login details (code UNAUTHORIZED); check api_key"
        );
        let (e, _) = error_details(
            br#"{"requestError":{"serviceException":{"messageId":"TOO_MANY_REQUESTS","text":"Too many requests"}}}"#,
            exception,
        );
        assert_eq!(e.unwrap().code.as_deref(), Some("TOO_MANY_REQUESTS"));
        let (e, s) = error_details(b"<html><title>Bad Gateway</title></html>", exception);
        assert_eq!((e, s.as_deref()), (None, Some("title \"Bad Gateway\"")));
    }
}
