//! Twilio (SPEC §10): `GET {base}/2010-04-01/Accounts/{account_sid}/Balance.json` with
//! Basic auth `account_sid:auth_token`; the amount is `balance` (a decimal string), the
//! currency the body's `currency`; errors carry `code` and `message`.

use serde::Deserialize;
use std::sync::Arc;

use super::AccountConfig;
use super::shared::{self, Api, Auth, Fetcher, scalar};
use super::{Balance, BodyError, ParsedBalance, PollError, RestException};
use crate::config::raw::Opt;
use crate::config::{Ctx, Place, Res, Secret};
use crate::http;

/// The `provider` value.
pub const NAME: &str = "twilio";

/// The keys a Twilio account takes besides the common account keys.
pub const FIELDS: &[&str] = &[
    "account_sid",
    "auth_token",
    "auth_token_file",
    "base_url",
    "currency",
];

/// Used only if a body ever lacks `currency` and the account sets none.
pub const CURRENCY: &str = "USD";

const BASE_URL: &str = "https://api.twilio.com";

/// A Twilio account's settings.
#[derive(Debug, Clone, PartialEq)]
pub struct TwilioConfig {
    /// `AC…`: in the URL, in events and metrics.
    pub account_sid: String,
    pub auth_token: Secret,
    pub base_url: String,
    /// The currency the account insists on.
    pub currency: Option<String>,
}

/// [`FIELDS`] as written.
#[derive(Deserialize)]
pub struct Raw {
    account_sid: Opt<String>,
    auth_token: Opt<String>,
    auth_token_file: Opt<String>,
    base_url: Opt<String>,
    currency: Opt<String>,
}

impl TwilioConfig {
    /// Validates a Twilio account's keys, found `at` the account's table.
    pub fn validate(ctx: &mut Ctx<'_>, raw: &Raw, at: &Place<'_>) -> Res<Self> {
        let table = &at.table;
        let key = |field: &str| at.key(field);
        let sid = ctx.required(&raw.account_sid, table, &key("account_sid"))?;
        let account_sid = shared::identifier(ctx, sid, &key("account_sid"))?;
        let auth_token = ctx
            .secret(
                &raw.auth_token,
                &raw.auth_token_file,
                at,
                "auth_token",
                true,
            )?
            .expect("required");
        Ok(TwilioConfig {
            account_sid,
            auth_token,
            base_url: shared::base_url(ctx, &raw.base_url, &key("base_url"), BASE_URL)?,
            currency: shared::currency(ctx, &raw.currency, &key("currency"))?,
        })
    }
}

static API: Api = Api {
    name: NAME,
    parse: parse_balance,
    exception,
};

/// A Balance API client for one Twilio account.
#[derive(Debug)]
pub struct TwilioClient(Fetcher);

impl TwilioClient {
    pub fn with_cache(
        config: &TwilioConfig,
        account: &Arc<AccountConfig>,
        cache: &mut http::ClientCache,
    ) -> Result<Self, String> {
        let segments = [
            "2010-04-01",
            "Accounts",
            config.account_sid.as_str(),
            "Balance.json",
        ];
        let auth = Auth::Basic {
            user: config.account_sid.clone(),
            password: config.auth_token.clone(),
        };
        Fetcher::new(&API, &config.base_url, &segments, auth, account, cache).map(Self)
    }

    /// One request: no retry, the scheduler decides when to try again.
    pub async fn fetch_balance(&self) -> Result<Balance, PollError> {
        self.0.fetch_balance().await
    }
}

/// Parses `{"account_sid":"AC…","balance":"0.05","currency":"USD"}`. Pure; the amount is
/// read from its literal text (a string as documented, or a number).
pub fn parse_balance(body: &[u8]) -> Result<ParsedBalance, BodyError> {
    shared::flat_balance(body, "balance", Some("currency"), exception)
}

/// `{"code":20003,"message":"Authenticate","more_info":"…","status":401}`.
pub(super) fn exception(value: &serde_json::Value) -> Option<RestException> {
    let map = value.as_object()?;
    shared::exception(scalar(map, "code"), scalar(map, "message"))
}

/// What to check for a status that needs a human.
pub fn hint(status: u16) -> Option<&'static str> {
    match status {
        401 => Some("check account_sid and auth_token"),
        403 => Some("check that these credentials may read the account's balance"),
        404 => Some("check account_sid and base_url"),
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
        let parsed = parse(
            r#"{"account_sid":"AC0123","balance":"0.05","currency":"USD","subresource_uris":{}}"#,
        )
        .unwrap();
        assert_eq!(parsed.amount.to_string(), "0.05");
        assert_eq!(parsed.currency.as_deref(), Some("USD"));
        assert_eq!(parsed.pricing_plan, None);
        assert_eq!(parsed.date_updated, None);
    }

    #[test]
    fn amounts_are_exact_from_strings_and_numbers() {
        for (literal, expected) in [
            ("\"0.1\"", "0.1"),
            ("0.1", "0.1"),
            ("\"-12.345\"", "-12.345"),
            ("\"12345678901234567.25\"", "12345678901234567.25"),
            ("12345678901234567.25", "12345678901234567.25"),
            ("\"1543.750\"", "1543.750"),
        ] {
            let body = format!(r#"{{"balance":{literal},"currency":"USD"}}"#);
            assert_eq!(parse(&body).unwrap().amount.to_string(), expected, "{body}");
        }
    }

    #[test]
    fn bad_bodies_are_named() {
        assert_eq!(parse(""), Err(BodyError::Empty));
        assert!(matches!(parse("garbage"), Err(BodyError::NotJson { .. })));
        assert!(matches!(
            parse("<html><title>502</title></html>"),
            Err(BodyError::Html(_))
        ));
        let e = parse(r#"{"balance":"abc","currency":"USD"}"#).unwrap_err();
        assert_eq!(e.to_string(), "balance is not a number: \"abc\"");
        let e = parse(r#"{"currency":"USD"}"#).unwrap_err();
        assert_eq!(
            e.to_string(),
            "no balance amount in the response (expected balance; found keys currency)"
        );
        let e = parse(r#"{"code":20003,"message":"Authenticate","status":401}"#).unwrap_err();
        assert_eq!(
            e.to_string(),
            "the API answered with an error: Authenticate (code 20003)"
        );
    }

    #[test]
    fn error_bodies() {
        let (e, s) = error_details(
            br#"{"code":20003,"message":"Authenticate","more_info":"https://www.twilio.com/docs/errors/20003","status":401}"#,
            exception,
        );
        assert_eq!(
            e.unwrap().to_string(),
            "Authenticate (code 20003)".to_string()
        );
        assert_eq!(s, None);
        let (e, _) = error_details(
            br#"{"code":20429,"message":"Too Many Requests","status":429}"#,
            exception,
        );
        assert_eq!(e.unwrap().code.as_deref(), Some("20429"));
        let (e, s) = error_details(b"Internal Server Error", exception);
        assert_eq!((e, s.as_deref()), (None, Some("Internal Server Error")));
        let status = PollError::Status {
            provider: NAME,
            status: 401,
            exception: error_details(br#"{"code":20003,"message":"Authenticate"}"#, exception).0,
            snippet: None,
            retry_after: None,
        };
        assert_eq!(
            status.to_string(),
            "HTTP 401 Unauthorized: Authenticate (code 20003); check account_sid and auth_token"
        );
    }
}
