//! Telnyx (SPEC §10): `GET {base}/v2/balance` with `Authorization: Bearer {api_key}`;
//! the amount compared is `data.available_credit` (balance plus credit limit: what can
//! still be spent), `data.balance` and `data.credit_limit` are logged beside it; the
//! currency is `data.currency`; errors carry `errors[0].code`, `title` and `detail`.

use serde::Deserialize;
use std::sync::Arc;

use super::AccountConfig;
use super::json::{currency, lookup_raw, object, parse_amount};
use super::shared::{self, Api, Auth, Fetcher, no_amount, scalar, top_object};
use super::{Balance, BodyError, ParsedBalance, PollError, RestException};
use crate::config::raw::Opt;
use crate::config::{Ctx, Place, Res, Secret};
use crate::http;

/// The `provider` value.
pub const NAME: &str = "telnyx";

/// The keys a Telnyx account takes besides the common account keys.
pub const FIELDS: &[&str] = &["api_key", "api_key_file", "base_url", "currency"];

/// Used only if a body ever lacks `data.currency` and the account sets none.
pub const CURRENCY: &str = "USD";

const BASE_URL: &str = "https://api.telnyx.com";

/// A Telnyx account's settings.
#[derive(Debug, Clone, PartialEq)]
pub struct TelnyxConfig {
    pub api_key: Secret,
    pub base_url: String,
    /// The currency the account insists on.
    pub currency: Option<String>,
}

/// [`FIELDS`] as written.
#[derive(Deserialize)]
pub struct Raw {
    api_key: Opt<String>,
    api_key_file: Opt<String>,
    base_url: Opt<String>,
    currency: Opt<String>,
}

impl TelnyxConfig {
    /// Validates a Telnyx account's keys, found `at` the account's table.
    pub fn validate(ctx: &mut Ctx<'_>, raw: &Raw, at: &Place<'_>) -> Res<Self> {
        let key = |field: &str| at.key(field);
        let api_key = ctx
            .secret(&raw.api_key, &raw.api_key_file, at, "api_key", true)?
            .expect("required");
        Ok(TelnyxConfig {
            api_key,
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

/// A balance client for one Telnyx account.
#[derive(Debug)]
pub struct TelnyxClient(Fetcher);

impl TelnyxClient {
    pub fn with_cache(
        config: &TelnyxConfig,
        account: &Arc<AccountConfig>,
        cache: &mut http::ClientCache,
    ) -> Result<Self, String> {
        let auth = Auth::Bearer(config.api_key.clone());
        Fetcher::new(
            &API,
            &config.base_url,
            &["v2", "balance"],
            auth,
            account,
            cache,
        )
        .map(Self)
    }

    /// One request: no retry, the scheduler decides when to try again.
    pub async fn fetch_balance(&self) -> Result<Balance, PollError> {
        self.0.fetch_balance().await
    }
}

/// Parses `{"data":{"balance":"300.00","credit_limit":"100.00","available_credit":
/// "400.00","currency":"USD","record_type":"balance"}}`. The amounts are read from
/// their literal text.
pub fn parse_balance(body: &[u8]) -> Result<ParsedBalance, BodyError> {
    const FIELD: &str = "data.available_credit";
    let (text, top) = top_object(body)?;
    let data = lookup_raw(&top, "data").and_then(|d| object(d.get()).ok());
    let Some((data, raw)) = data.and_then(|d| lookup_raw(&d, "available_credit").map(|r| (d, r)))
    else {
        return Err(no_amount(text, &top, FIELD, exception));
    };
    let amount = parse_amount(FIELD, raw)?;
    // Reported, not compared: a bad one must not fail the poll.
    let reported = |field: &'static str| {
        lookup_raw(&data, field)
            .and_then(|r| parse_amount(field, r).ok())
            .map(|d| d.to_string())
            .unwrap_or_else(|| "-".into())
    };
    tracing::debug!(
        available_credit = %amount,
        balance = %reported("balance"),
        credit_limit = %reported("credit_limit"),
        "Telnyx balance"
    );
    Ok(ParsedBalance {
        amount,
        currency: currency(&data, "data.currency")?,
        pricing_plan: None,
        date_updated: None,
    })
}

/// `{"errors":[{"code":"10009","title":"Authentication failed","detail":"…"}]}`.
pub(super) fn exception(value: &serde_json::Value) -> Option<RestException> {
    let first = value.get("errors")?.as_array()?.first()?.as_object()?;
    let message = match (scalar(first, "title"), scalar(first, "detail")) {
        (Some(t), Some(d)) => Some(format!("{t}: {d}")),
        (t, d) => t.or(d),
    };
    shared::exception(scalar(first, "code"), message)
}

/// What to check for a status that needs a human.
pub fn hint(status: u16) -> Option<&'static str> {
    match status {
        401 => Some("check api_key"),
        403 => Some("check that the API key may read the balance"),
        404 => Some("check base_url"),
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
    fn documented_shape_compares_available_credit() {
        let parsed = parse(
            r#"{"data":{"balance":"300.00","credit_limit":"100.00","available_credit":"400.00",
            "currency":"USD","pending":"10.00","record_type":"balance"},"meta":{}}"#,
        )
        .unwrap();
        assert_eq!(parsed.amount.to_string(), "400.00");
        assert_eq!(parsed.currency.as_deref(), Some("USD"));
        assert_eq!(parsed.pricing_plan, None);
    }

    #[test]
    fn amounts_are_exact_from_strings_and_numbers() {
        for (literal, expected) in [
            ("\"0.1\"", "0.1"),
            ("0.1", "0.1"),
            ("\"-25.125\"", "-25.125"),
            ("\"12345678901234567.25\"", "12345678901234567.25"),
        ] {
            let body = format!(r#"{{"data":{{"available_credit":{literal},"currency":"USD"}}}}"#);
            assert_eq!(parse(&body).unwrap().amount.to_string(), expected, "{body}");
        }
    }

    #[test]
    fn bad_bodies_are_named() {
        assert_eq!(parse("\n"), Err(BodyError::Empty));
        assert!(matches!(parse("nope"), Err(BodyError::NotJson { .. })));
        let e = parse(r#"{"data":{"available_credit":"abc"}}"#).unwrap_err();
        assert_eq!(
            e.to_string(),
            "data.available_credit is not a number: \"abc\""
        );
        // data.balance alone is not what is compared.
        let e = parse(r#"{"data":{"balance":"1.00"}}"#).unwrap_err();
        assert_eq!(
            e.to_string(),
            "no balance amount in the response (expected data.available_credit; found keys data)"
        );
        let e = parse(r#"{"data":{"available_credit":"1","currency":7}}"#).unwrap_err();
        assert!(
            matches!(
                e,
                BodyError::NotAString {
                    field: "data.currency",
                    ..
                }
            ),
            "{e:?}"
        );
        let e =
            parse(r#"{"errors":[{"code":"10009","title":"Authentication failed"}]}"#).unwrap_err();
        assert_eq!(
            e.to_string(),
            "the API answered with an error: Authentication failed (code 10009)"
        );
    }

    #[test]
    fn error_bodies() {
        let (e, _) = error_details(
            br#"{"errors":[{"code":"10009","title":"Authentication failed","detail":"The API key looks malformed.","meta":{"url":"https://developers.telnyx.com/docs/overview/errors/10009"}}]}"#,
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
            "HTTP 401 Unauthorized: Authentication failed: The API key looks malformed. (code 10009); check api_key"
        );
        let (e, _) = error_details(
            br#"{"errors":[{"code":"10011","title":"Too many requests"}]}"#,
            exception,
        );
        assert_eq!(e.unwrap().code.as_deref(), Some("10011"));
        let (e, s) = error_details(br#"{"errors":[]}"#, exception);
        assert_eq!((e, s.as_deref()), (None, Some(r#"{"errors":[]}"#)));
    }
}
