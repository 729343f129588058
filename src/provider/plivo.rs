//! Plivo (SPEC §10): `GET {base}/v1/Account/{auth_id}/` with Basic auth
//! `auth_id:auth_token`; the amount is `cash_credits` (a decimal string); the body has
//! no currency, so it is the account's `currency` setting (USD by default); errors
//! carry `error`.

use serde::Deserialize;
use std::sync::Arc;

use super::AccountConfig;
use super::shared::{self, Api, Auth, Fetcher, scalar};
use super::{Balance, BodyError, ParsedBalance, PollError, RestException};
use crate::config::raw::Opt;
use crate::config::{Ctx, Place, Res, Secret};
use crate::http;

/// The `provider` value.
pub const NAME: &str = "plivo";

/// The keys a Plivo account takes besides the common account keys.
pub const FIELDS: &[&str] = &[
    "auth_id",
    "auth_token",
    "auth_token_file",
    "base_url",
    "currency",
];

/// Plivo bills in USD; the body does not say.
pub const CURRENCY: &str = "USD";

const BASE_URL: &str = "https://api.plivo.com";

/// A Plivo account's settings.
#[derive(Debug, Clone, PartialEq)]
pub struct PlivoConfig {
    /// `MA…`: in the URL, in events and metrics.
    pub auth_id: String,
    pub auth_token: Secret,
    pub base_url: String,
    /// The account's currency (the body has none); USD when unset.
    pub currency: Option<String>,
}

/// [`FIELDS`] as written.
#[derive(Deserialize)]
pub struct Raw {
    auth_id: Opt<String>,
    auth_token: Opt<String>,
    auth_token_file: Opt<String>,
    base_url: Opt<String>,
    currency: Opt<String>,
}

impl PlivoConfig {
    /// Validates a Plivo account's keys, found `at` the account's table.
    pub fn validate(ctx: &mut Ctx<'_>, raw: &Raw, at: &Place<'_>) -> Res<Self> {
        let table = &at.table;
        let key = |field: &str| at.key(field);
        let id = ctx.required(&raw.auth_id, table, &key("auth_id"))?;
        let auth_id = shared::identifier(ctx, id, &key("auth_id"))?;
        let auth_token = ctx
            .secret(
                &raw.auth_token,
                &raw.auth_token_file,
                at,
                "auth_token",
                true,
            )?
            .expect("required");
        Ok(PlivoConfig {
            auth_id,
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

/// A balance client for one Plivo account.
#[derive(Debug)]
pub struct PlivoClient(Fetcher);

impl PlivoClient {
    pub fn with_cache(
        config: &PlivoConfig,
        account: &Arc<AccountConfig>,
        cache: &mut http::ClientCache,
    ) -> Result<Self, String> {
        // The trailing slash is part of Plivo's URL.
        let segments = ["v1", "Account", config.auth_id.as_str(), ""];
        let auth = Auth::Basic {
            user: config.auth_id.clone(),
            password: config.auth_token.clone(),
        };
        Fetcher::new(&API, &config.base_url, &segments, auth, account, cache).map(Self)
    }

    /// One request: no retry, the scheduler decides when to try again.
    pub async fn fetch_balance(&self) -> Result<Balance, PollError> {
        self.0.fetch_balance().await
    }
}

/// Parses `{"auth_id":"MA…","billing_mode":"prepaid","cash_credits":"19.38320",…}`.
/// Pure; the amount is read from its literal text (a string as documented, or a
/// number). The body carries no currency.
pub fn parse_balance(body: &[u8]) -> Result<ParsedBalance, BodyError> {
    shared::flat_balance(body, "cash_credits", None, exception)
}

/// `{"api_id":"…","error":"authentication failed"}`.
pub(super) fn exception(value: &serde_json::Value) -> Option<RestException> {
    let map = value.as_object()?;
    shared::exception(None, scalar(map, "error"))
}

/// What to check for a status that needs a human.
pub fn hint(status: u16) -> Option<&'static str> {
    match status {
        401 => Some("check auth_id and auth_token"),
        402 => Some("Plivo reports payment required: is the account out of credit or suspended?"),
        403 => Some("check that these credentials may read the account (a subaccount's may not)"),
        404 => Some("check auth_id and base_url"),
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
            r#"{"account_type":"standard","address":"","api_id":"5a9fcb68-xxxx","auth_id":"MA0123",
            "auto_recharge":false,"billing_mode":"prepaid","cash_credits":"19.38320","city":"",
            "name":"Acme","resource_uri":"/v1/Account/MA0123/","state":"","timezone":"Asia/Kolkata"}"#,
        )
        .unwrap();
        // Every digit as written, the trailing zero too.
        assert_eq!(parsed.amount.to_string(), "19.38320");
        assert_eq!(parsed.currency, None);
        assert_eq!(parsed.pricing_plan, None);
    }

    #[test]
    fn amounts_are_exact_from_strings_and_numbers() {
        for (literal, expected) in [
            ("\"0.1\"", "0.1"),
            ("0.1", "0.1"),
            ("\"-3.50000\"", "-3.50000"),
            ("12345678901234567.25", "12345678901234567.25"),
            ("\"1e2\"", "100"),
        ] {
            let body = format!(r#"{{"cash_credits":{literal}}}"#);
            assert_eq!(parse(&body).unwrap().amount.to_string(), expected, "{body}");
        }
    }

    #[test]
    fn bad_bodies_are_named() {
        assert_eq!(parse(" "), Err(BodyError::Empty));
        assert!(matches!(parse("{oops"), Err(BodyError::NotJson { .. })));
        let e = parse(r#"{"cash_credits":"NaN"}"#).unwrap_err();
        assert_eq!(e.to_string(), "cash_credits is not a number: \"NaN\"");
        let e = parse(r#"{"auth_id":"MA0123"}"#).unwrap_err();
        assert_eq!(
            e.to_string(),
            "no balance amount in the response (expected cash_credits; found keys auth_id)"
        );
        let e = parse(r#"{"api_id":"x","error":"not found"}"#).unwrap_err();
        assert_eq!(e.to_string(), "the API answered with an error: not found");
    }

    #[test]
    fn error_bodies() {
        let (e, _) = error_details(
            br#"{"api_id":"8f4a","error":"authentication failed"}"#,
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
            "HTTP 401 Unauthorized: authentication failed; check auth_id and auth_token"
        );
        // Plivo's front end answers some 401s in plain text.
        let (e, s) = error_details(
            b"Could not verify your access level for that URL.\nYou have to login with proper credentials",
            exception,
        );
        assert_eq!(e, None);
        assert_eq!(
            s.as_deref(),
            Some(
                "Could not verify your access level for that URL. You have to login with proper credentials"
            )
        );
        let (e, _) = error_details(br#"{"api_id":"x","error":"too many requests"}"#, exception);
        assert_eq!(e.unwrap().message.as_deref(), Some("too many requests"));
        // JSON without Plivo's field is shown as an excerpt.
        let (e, s) = error_details(br#"{"unexpected":true}"#, exception);
        assert_eq!((e, s.as_deref()), (None, Some(r#"{"unexpected":true}"#)));
    }
}
