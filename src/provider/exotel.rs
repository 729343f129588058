//! Exotel (SPEC §2): the provider's config keys and their validation, the Balance API
//! request (Basic auth in the header, never in the URL), the parser of both known body
//! shapes with exact decimals ([`parse_balance`], pure), and the error text Exotel's
//! `RestException` and statuses give. It makes exactly one request per call: retry
//! policy belongs to the scheduler, which also enforces the rate floor.

use std::fmt;
use std::sync::Arc;
use std::time::SystemTime;

use reqwest::header::ACCEPT;
use serde::Deserialize;

use super::json::{
    currency, describe_keys, get_ci, html_summary, looks_like_html, lookup_raw, object, one_line,
    optional_text, parse_amount, strip_bom, truncate,
};
use super::{
    Balance, BodyError, ParsedBalance, PollError, RestException, redact_basic, redact_body_error,
    transport_error,
};
use crate::config::raw::Opt;
use crate::config::{Ctx, Place, Res, Secret};
use crate::http;
use crate::provider::AccountConfig;

/// The `provider` value.
pub const NAME: &str = "exotel";

/// The keys an Exotel account takes besides the common account keys.
pub const FIELDS: &[&str] = &[
    "sid",
    "api_key",
    "api_key_file",
    "api_token",
    "api_token_file",
    "region",
    "base_url",
    "currency",
];

const SINGAPORE: &str = "https://api.exotel.com";
const MUMBAI: &str = "https://api.in.exotel.com";

/// An Exotel account's settings.
#[derive(Debug, Clone, PartialEq)]
pub struct ExotelConfig {
    pub sid: String,
    pub api_key: Secret,
    pub api_token: Secret,
    /// Without a trailing slash, e.g. `https://api.exotel.com`.
    pub base_url: String,
    /// The currency the account insists on; `None` means "accept what the API says, INR
    /// when it says nothing".
    pub currency: Option<String>,
}

/// [`FIELDS`] as written.
#[derive(Deserialize)]
pub struct Raw {
    sid: Opt<String>,
    api_key: Opt<String>,
    api_key_file: Opt<String>,
    api_token: Opt<String>,
    api_token_file: Opt<String>,
    region: Opt<String>,
    base_url: Opt<String>,
    currency: Opt<String>,
}

impl ExotelConfig {
    /// Validates an Exotel account's keys, found `at` the account's table.
    pub fn validate(ctx: &mut Ctx<'_>, raw: &Raw, at: &Place<'_>) -> Res<Self> {
        let sid_raw = ctx.required(&raw.sid, &at.table, &at.key("sid"))?;
        let sid = ctx.string(sid_raw, &at.key("sid"))?;
        // The SID goes into the URL path: keep it to the characters Exotel uses.
        if !sid
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
        {
            return Err(ctx.err(
                Some(sid_raw.span()),
                &at.key("sid"),
                "may only contain letters, digits, '-', '_' and '.'",
            ));
        }
        let api_key = ctx
            .secret(&raw.api_key, &raw.api_key_file, at, "api_key", true)?
            .expect("required");
        let api_token = ctx
            .secret(&raw.api_token, &raw.api_token_file, at, "api_token", true)?
            .expect("required");

        let base_url = match (&raw.region, &raw.base_url) {
            (Some(_), Some(b)) => {
                return Err(ctx.err(
                    Some(b.span()),
                    &at.key("base_url"),
                    "set either region or base_url, not both",
                ));
            }
            (Some(r), None) => ctx
                .choice(
                    r,
                    &at.key("region"),
                    &[("singapore", SINGAPORE), ("mumbai", MUMBAI)],
                )?
                .to_owned(),
            (None, Some(b)) => ctx.base_url(b, &at.key("base_url"))?,
            (None, None) => SINGAPORE.to_owned(),
        };

        let currency = match &raw.currency {
            Some(v) => {
                let c = ctx.string(v, &at.key("currency"))?;
                if c.len() != 3 || !c.chars().all(|ch| ch.is_ascii_uppercase()) {
                    return Err(ctx.err(
                    Some(v.span()),
                    &at.key("currency"),
                    format!(
                        "\"{c}\" is not a currency code: expected three capital letters like INR"
                    ),
                ));
                }
                Some(c)
            }
            None => None,
        };
        Ok(ExotelConfig {
            sid,
            api_key,
            api_token,
            base_url,
            currency,
        })
    }
}

/// The base URL of an Exotel region name as written in the config.
pub fn region_base_url(region: &str) -> Option<&'static str> {
    match region {
        "singapore" => Some("https://api.exotel.com"),
        "mumbai" => Some("https://api.in.exotel.com"),
        _ => None,
    }
}

/// A Balance API client for one account.
pub struct ExotelClient {
    http: reqwest::Client,
    /// `{base_url}/v1/Accounts/{sid}/Balance.json`; never holds credentials.
    url: reqwest::Url,
    /// Shared with the config: credentials ([`ExotelClient::config`]); name, timeout and
    /// currency rules.
    account: Arc<AccountConfig>,
}

// Written by hand so neither the secrets nor reqwest's internals (proxy settings may
// carry credentials of their own) can reach a log line through `{:?}`.
impl fmt::Debug for ExotelClient {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ExotelClient")
            .field("account", &self.account.name)
            .field("url", &self.url.as_str())
            // `Secret`'s Debug prints a mask.
            .field("api_key", &self.config().api_key)
            .field("api_token", &self.config().api_token)
            .field("timeout", &self.account.timeout)
            .finish()
    }
}

impl ExotelClient {
    /// Builds the client on the HTTP client `cache` holds for the account's `ca_file`
    /// and `timeout` (see [`crate::provider::Client::with_cache`]).
    pub fn with_cache(
        account: &Arc<AccountConfig>,
        cache: &mut http::ClientCache,
    ) -> Result<Self, String> {
        let config = account
            .provider
            .exotel()
            .ok_or("an Exotel client needs an Exotel account")?;
        let url = balance_url(&config.base_url, &config.sid)?;
        let http = cache.client(account.ca_file.as_deref(), account.timeout)?;
        Ok(ExotelClient {
            http,
            url,
            account: Arc::clone(account),
        })
    }

    /// The account's Exotel keys (checked by [`ExotelClient::with_cache`]).
    fn config(&self) -> &ExotelConfig {
        self.account
            .provider
            .exotel()
            .expect("built from an Exotel account")
    }

    /// One `GET .../Balance.json`: no retry, the scheduler decides when to try again.
    pub async fn fetch_balance(&self) -> Result<Balance, PollError> {
        let response = self
            .http
            .get(self.url.clone())
            .basic_auth(
                self.config().api_key.expose(),
                Some(self.config().api_token.expose()),
            )
            .header(ACCEPT, "application/json")
            .send()
            .await
            .map_err(|e| self.transport_error(&e))?;
        let status = response.status();
        tracing::debug!(
            account = %self.account.name,
            status = status.as_u16(),
            "Exotel balance response"
        );
        if !status.is_success() {
            let retry_after = http::retry_after(response.headers(), SystemTime::now());
            // The body only decorates the message, so a body we cannot read must not
            // hide the status that decides the class.
            let body = http::read_limited(response, http::MAX_BODY)
                .await
                .unwrap_or_default();
            let (exception, snippet) = error_details(&body);
            return Err(PollError::Status {
                provider: NAME,
                status: status.as_u16(),
                exception: exception.map(|e| RestException {
                    message: e.message.map(|m| self.redact(&m)),
                    code: e.code.map(|c| self.redact(&c)),
                    ..e
                }),
                snippet: snippet.map(|s| self.redact(&s)),
                retry_after,
            });
        }
        let body = http::read_limited(response, http::MAX_BODY)
            .await
            .map_err(|e| match e {
                http::BodyReadError::TooLarge { limit } => {
                    PollError::Body(BodyError::TooLarge { limit })
                }
                http::BodyReadError::Read(detail) => PollError::Request {
                    provider: "Exotel",
                    detail,
                },
            })?;
        let parsed =
            parse_balance(&body).map_err(|e| PollError::Body(self.redact_body_error(e)))?;
        parsed.resolve(&self.account)
    }

    fn transport_error(&self, err: &reqwest::Error) -> PollError {
        transport_error(err, &self.account, |text| self.redact(text))
    }

    /// Removes the key and token from text a server sent us: a misbehaving proxy or a
    /// debug endpoint may echo the request, and that text ends up in logs and alerts.
    fn redact(&self, text: &str) -> String {
        redact_credentials(text, self.config())
    }

    fn redact_body_error(&self, err: BodyError) -> BodyError {
        redact_body_error(err, |text| self.redact(text))
    }
}

/// `{base}/v1/Accounts/{sid}/Balance.json`, with the SID percent-encoded as one path
/// segment and any path prefix of `base` kept (an internal gateway may mount Exotel under
/// one). Errors never quote `base`, which could hold credentials by mistake.
fn balance_url(base: &str, sid: &str) -> Result<reqwest::Url, String> {
    let mut url = reqwest::Url::parse(base).map_err(|e| format!("base_url is not a URL: {e}"))?;
    if !url.username().is_empty() || url.password().is_some() {
        // The Exotel docs show https://key:token@host URLs; that would put the token in
        // every log line that prints a URL.
        return Err(
            "base_url must not contain credentials; set api_key and api_token instead".into(),
        );
    }
    if !matches!(url.scheme(), "http" | "https") {
        return Err(format!(
            "base_url must be an http or https URL, not {}:",
            url.scheme()
        ));
    }
    if sid.is_empty() {
        return Err("sid is empty".into());
    }
    url.path_segments_mut()
        .map_err(|()| "base_url cannot take a path".to_string())?
        .pop_if_empty()
        .extend(["v1", "Accounts", sid, "Balance.json"]);
    Ok(url)
}

/// Pulls what an operator needs out of an error body: a `RestException` when it is JSON,
/// otherwise a short single-line excerpt (XML, plain text, an HTML page's title).
pub(super) fn error_details(body: &[u8]) -> (Option<RestException>, Option<String>) {
    let text = strip_bom(body);
    if let Ok(text) = std::str::from_utf8(text) {
        if let Some(exception) = rest_exception(text) {
            return (Some(exception), None);
        }
        if looks_like_html(text) {
            return (None, Some(html_summary(text)));
        }
    }
    let snippet = one_line(&http::snippet(body));
    (None, (!snippet.is_empty()).then_some(snippet))
}

/// Parses `{"RestException":{"Status":..,"Message":..,"Code":..}}`, tolerating a `Code`
/// or `Status` that is a number or a string.
fn rest_exception(text: &str) -> Option<RestException> {
    let value: serde_json::Value = serde_json::from_str(text).ok()?;
    let exception = get_ci(value.as_object()?, "RestException")?.as_object()?;
    let scalar = |key: &str| -> Option<String> {
        match get_ci(exception, key)? {
            serde_json::Value::String(s) => Some(one_line(&truncate(s, 200))),
            serde_json::Value::Number(n) => Some(n.to_string()),
            _ => None,
        }
        .filter(|s| !s.is_empty())
    };
    Some(RestException {
        status: scalar("Status").and_then(|s| s.parse().ok()),
        code: scalar("Code"),
        message: scalar("Message"),
    })
}

/// Parses a Balance response body. Pure.
///
/// Accepts the documented shape `{"Account":{"BalanceData":{"Balance":"1543.75",
/// "Currency":"INR",...}}}` and the short production shape `{"Balance":{"Amount":618.3}}`.
/// The amount is read from its literal JSON text (a string or a number), never through
/// `f64`, so `0.1` stays `0.1` and long amounts keep every digit.
pub fn parse_balance(body: &[u8]) -> Result<ParsedBalance, BodyError> {
    let (text, top) = super::shared::top_object(body)?;

    // The documented shape first: it is the one that carries a currency.
    let data = lookup_raw(&top, "Account")
        .and_then(|a| object(a.get()).ok())
        .and_then(|account| lookup_raw(&account, "BalanceData"))
        .and_then(|d| object(d.get()).ok());
    // (No let-chains: rust-version is 1.85.)
    if let Some((data, raw)) = data.and_then(|d| lookup_raw(&d, "Balance").map(|r| (d, r))) {
        const FIELD: &str = "Account.BalanceData.Balance";
        return Ok(ParsedBalance {
            amount: parse_amount(FIELD, raw)?,
            currency: currency(&data, "Account.BalanceData.Currency")?,
            pricing_plan: optional_text(&data, "PricingPlan"),
            date_updated: optional_text(&data, "DateUpdated"),
        });
    }

    let short = lookup_raw(&top, "Balance").and_then(|b| object(b.get()).ok());
    if let Some((short, raw)) = short.and_then(|m| lookup_raw(&m, "Amount").map(|r| (m, r))) {
        return Ok(ParsedBalance {
            amount: parse_amount("Balance.Amount", raw)?,
            // Not seen in production, but if Exotel ever adds them, use them.
            currency: currency(&short, "Balance.Currency")?,
            pricing_plan: optional_text(&short, "PricingPlan"),
            date_updated: optional_text(&short, "DateUpdated"),
        });
    }

    if let Some(exception) = rest_exception(text) {
        return Err(BodyError::Exception(exception));
    }
    Err(BodyError::NoAmount {
        expected: "Account.BalanceData.Balance or Balance.Amount",
        found: describe_keys(&top),
    })
}

/// What to check for a status that needs a human.
pub fn hint(status: u16) -> Option<&'static str> {
    match status {
        401 => Some("check api_key and api_token"),
        402 => Some("Exotel reports payment required: is the account out of funds or suspended?"),
        403 => Some("check that the API key may read the balance and the account is active"),
        404 => Some("check sid and region or base_url"),
        _ => None,
    }
}

/// Removes an account's key and token (also as the Basic auth value, and a secret cut
/// off at the end of a `…` snippet) from text a server sent us: a misbehaving proxy or
/// debug endpoint may echo the request, and that text ends up in logs and alerts.
pub fn redact_credentials(text: &str, config: &ExotelConfig) -> String {
    redact_basic(text, config.api_key.expose(), config.api_token.expose())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::str::FromStr;
    use std::time::Duration;

    use rust_decimal::Decimal;

    use crate::core::ErrorClass;
    use crate::provider::ProviderConfig;

    fn dec(s: &str) -> Decimal {
        Decimal::from_str(s).unwrap()
    }

    fn amount(body: &str) -> Decimal {
        parse_balance(body.as_bytes())
            .unwrap_or_else(|e| panic!("{body}: {e}"))
            .amount
    }

    fn err(body: &str) -> BodyError {
        match parse_balance(body.as_bytes()) {
            Ok(b) => panic!("{body} parsed as {b:?}"),
            Err(e) => e,
        }
    }

    #[test]
    fn documented_shape() {
        let body = br#"{"Account":{"AccountSid":"Exotel","BalanceData":{"Balance":"1543.75",
            "Currency":"INR","PricingPlan":"Pay As You Go","DateUpdated":"2026-04-24 10:32:18"}}}"#;
        let parsed = parse_balance(body).unwrap();
        assert_eq!(
            parsed,
            ParsedBalance {
                amount: dec("1543.75"),
                currency: Some("INR".into()),
                pricing_plan: Some("Pay As You Go".into()),
                date_updated: Some("2026-04-24 10:32:18".into()),
            }
        );
        assert_eq!(parsed.amount.to_string(), "1543.75");
    }

    #[test]
    fn short_shape() {
        let parsed = parse_balance(br#"{"Balance":{"Amount":618.3}}"#).unwrap();
        assert_eq!(
            parsed,
            ParsedBalance {
                amount: dec("618.3"),
                currency: None,
                pricing_plan: None,
                date_updated: None,
            }
        );
    }

    #[test]
    fn amounts_are_exact_from_strings_and_numbers() {
        let cases = [
            ("618.3", "618.3"),
            ("\"1543.75\"", "1543.75"),
            ("-250.5", "-250.5"),
            ("\"-250.5\"", "-250.5"),
            ("1e3", "1000"),
            ("1E+3", "1000"),
            ("\"2.5e-2\"", "0.025"),
            ("0", "0"),
            ("0.1", "0.1"),
            ("\"123456789012.123456\"", "123456789012.123456"),
            ("123456789012.123456", "123456789012.123456"),
            ("\" 42.00 \"", "42.00"),
        ];
        for (literal, expected) in cases {
            let short = format!(r#"{{"Balance":{{"Amount":{literal}}}}}"#);
            let long = format!(r#"{{"Account":{{"BalanceData":{{"Balance":{literal}}}}}}}"#);
            for body in [short, long] {
                let got = amount(&body);
                assert_eq!(got, dec(expected), "{body}");
                // Numerically equal is not enough: the digits must survive exactly.
                if !literal.contains(['e', 'E']) {
                    assert_eq!(got.to_string(), expected, "{body}");
                }
            }
        }
    }

    #[test]
    fn exact_where_f64_is_not() {
        // 17 significant digits: f64 would turn this into 12345678901234568.
        let got = amount(r#"{"Balance":{"Amount":12345678901234567.25}}"#);
        assert_eq!(got.to_string(), "12345678901234567.25");
    }

    #[test]
    fn amount_that_is_not_a_number_is_named() {
        for literal in [
            r#""abc""#,
            r#""NaN""#,
            r#""Infinity""#,
            r#""-Infinity""#,
            r#""""#,
            r#""1,543.75""#,
            r#""1_000""#,
            r#""12.""#,
            "null",
            "true",
            r#"{"value":1}"#,
            "[1]",
        ] {
            let body = format!(r#"{{"Account":{{"BalanceData":{{"Balance":{literal}}}}}}}"#);
            match err(&body) {
                BodyError::NotANumber { field, value } => {
                    assert_eq!(field, "Account.BalanceData.Balance", "{body}");
                    assert_eq!(value, literal, "{body}");
                }
                other => panic!("{body}: {other:?}"),
            }
            let body = format!(r#"{{"Balance":{{"Amount":{literal}}}}}"#);
            let e = err(&body);
            assert!(
                matches!(
                    &e,
                    BodyError::NotANumber {
                        field: "Balance.Amount",
                        ..
                    }
                ),
                "{body}: {e:?}"
            );
            assert!(
                e.to_string().contains("Balance.Amount is not a number"),
                "{e}"
            );
        }
    }

    #[test]
    fn amount_too_large_for_a_decimal() {
        let e = err(r#"{"Balance":{"Amount":1e40}}"#);
        assert!(matches!(e, BodyError::OutOfRange { .. }), "{e:?}");
        let e = err(r#"{"Balance":{"Amount":"99999999999999999999999999999999"}}"#);
        assert!(matches!(e, BodyError::OutOfRange { .. }), "{e:?}");
    }

    #[test]
    fn no_amount() {
        for body in [
            "{}",
            r#"{"Account":{"AccountSid":"x"}}"#,
            r#"{"Account":{"BalanceData":{"Currency":"INR"}}}"#,
            r#"{"Balance":{"Currency":"INR"}}"#,
            r#"{"Balance":618.3}"#,
            r#"{"status":"ok"}"#,
        ] {
            let e = err(body);
            assert!(matches!(e, BodyError::NoAmount { .. }), "{body}: {e:?}");
            assert!(e.to_string().contains("no balance amount"), "{e}");
        }
        assert!(
            err(r#"{"status":"ok"}"#)
                .to_string()
                .contains("keys status")
        );
    }

    #[test]
    fn empty_html_and_not_json() {
        assert_eq!(err(""), BodyError::Empty);
        assert_eq!(err("  \n"), BodyError::Empty);

        let e = err("<!DOCTYPE html><html><head><title>502 Bad Gateway</title></head></html>");
        assert_eq!(e, BodyError::Html("title \"502 Bad Gateway\"".into()));
        assert!(e.to_string().contains("HTML"), "{e}");
        assert!(matches!(
            err("<html><body>login</body></html>"),
            BodyError::Html(_)
        ));

        for body in [
            "not json",
            "{\"Balance\":",
            "<Response><Balance>1</Balance></Response>",
        ] {
            let e = err(body);
            assert!(matches!(e, BodyError::NotJson { .. }), "{body}: {e:?}");
            assert!(e.to_string().contains("not JSON"), "{e}");
        }
        assert!(matches!(err("[1,2]"), BodyError::NotAnObject(_)));
        assert!(matches!(err("\"1543.75\""), BodyError::NotAnObject(_)));
        assert!(matches!(
            parse_balance(b"\xff\xfe{}"),
            Err(BodyError::NotJson { .. })
        ));
    }

    #[test]
    fn rest_exception_in_a_success_body() {
        let e = err(
            r#"{"RestException":{"Status":401,"Message":"Authentication failed","Code":20003}}"#,
        );
        assert_eq!(
            e.to_string(),
            "the API answered with an error: Authentication failed (code 20003, Exotel status 401)"
        );
    }

    #[test]
    fn currency_plan_and_date_are_optional_and_checked() {
        let parsed = parse_balance(br#"{"Account":{"BalanceData":{"Balance":"5"}}}"#).unwrap();
        assert_eq!(parsed.currency, None);
        assert_eq!(parsed.pricing_plan, None);
        let parsed = parse_balance(
            br#"{"Account":{"BalanceData":{"Balance":"5","Currency":null,"PricingPlan":7}}}"#,
        )
        .unwrap();
        assert_eq!(parsed.currency, None);
        assert_eq!(parsed.pricing_plan.as_deref(), Some("7"));
        let e = err(r#"{"Account":{"BalanceData":{"Balance":"5","Currency":5}}}"#);
        assert!(matches!(e, BodyError::NotAString { .. }), "{e:?}");
        let parsed = parse_balance(br#"{"Balance":{"Amount":"5","Currency":"USD"}}"#).unwrap();
        assert_eq!(parsed.currency.as_deref(), Some("USD"));
    }

    #[test]
    fn documented_shape_wins_over_short_shape() {
        let parsed = parse_balance(
            br#"{"Balance":{"Amount":1},"Account":{"BalanceData":{"Balance":"2","Currency":"INR"}}}"#,
        )
        .unwrap();
        assert_eq!(parsed.amount, dec("2"));
    }

    #[test]
    fn error_classes() {
        let status = |status| PollError::Status {
            provider: NAME,
            status,
            exception: None,
            snippet: None,
            retry_after: None,
        };
        for s in [401, 402, 403, 404] {
            assert_eq!(status(s).class(), ErrorClass::Config, "{s}");
        }
        for s in [429, 503] {
            assert_eq!(status(s).class(), ErrorClass::Throttled, "{s}");
        }
        for s in [400, 405, 409, 500, 502, 504, 302] {
            assert_eq!(status(s).class(), ErrorClass::Transient, "{s}");
        }
        let mismatch = PollError::CurrencyMismatch {
            expected: "INR".into(),
            reported: "USD".into(),
        };
        assert_eq!(mismatch.class(), ErrorClass::Config);
        assert_eq!(
            mismatch.to_string(),
            "currency mismatch: account expects INR, API reports USD"
        );
        assert_eq!(
            PollError::Body(BodyError::Empty).class(),
            ErrorClass::Transient
        );
    }

    #[test]
    fn status_messages() {
        let e = PollError::Status {
            provider: NAME,
            status: 401,
            exception: Some(RestException {
                status: Some(401),
                code: Some("20003".into()),
                message: Some("Authentication failed".into()),
            }),
            snippet: None,
            retry_after: None,
        };
        assert_eq!(
            e.to_string(),
            "HTTP 401 Unauthorized: Authentication failed (code 20003); check api_key and api_token"
        );
        let e = PollError::Status {
            provider: NAME,
            status: 502,
            exception: None,
            snippet: Some("upstream down".into()),
            retry_after: None,
        };
        assert_eq!(e.to_string(), "HTTP 502 Bad Gateway: upstream down");
        let e = PollError::Status {
            provider: NAME,
            status: 599,
            exception: None,
            snippet: None,
            retry_after: None,
        };
        assert_eq!(e.to_string(), "HTTP 599");
    }

    #[test]
    fn error_details_from_bodies() {
        let (e, s) = error_details(
            br#"{"RestException":{"Status":"403","Message":"Forbidden\nnow","Code":"UNAUTHORIZED"}}"#,
        );
        assert_eq!(
            e,
            Some(RestException {
                status: Some(403),
                code: Some("UNAUTHORIZED".into()),
                message: Some("Forbidden now".into()),
            })
        );
        assert_eq!(s, None);
        let (e, s) = error_details(b"<?xml version=\"1.0\"?>\n<TwilioResponse>\n  <RestException>\n    <Message>Authentication failed</Message>\n  </RestException>\n</TwilioResponse>");
        assert_eq!(e, None);
        let s = s.unwrap();
        assert!(
            s.contains("<Message>Authentication failed</Message>"),
            "{s}"
        );
        assert!(!s.contains('\n'), "{s}");
        assert_eq!(error_details(b""), (None, None));
        let (_, s) = error_details(&vec![b'x'; 5000]);
        assert!(s.unwrap().chars().count() <= 201);
    }

    #[test]
    fn balance_url_is_built_safely() {
        let url = balance_url("https://api.exotel.com", "acme").unwrap();
        assert_eq!(
            url.as_str(),
            "https://api.exotel.com/v1/Accounts/acme/Balance.json"
        );
        let url = balance_url("https://gw.example/exotel/", "ac me/x").unwrap();
        assert_eq!(
            url.as_str(),
            "https://gw.example/exotel/v1/Accounts/ac%20me%2Fx/Balance.json"
        );
        let e = balance_url("https://key:s3cr3t@api.exotel.com", "acme").unwrap_err();
        assert!(!e.contains("s3cr3t"), "{e}");
        assert!(balance_url("ftp://x", "acme").is_err());
        assert!(balance_url("not a url", "acme").is_err());
    }

    #[test]
    fn regions() {
        assert_eq!(region_base_url("singapore"), Some("https://api.exotel.com"));
        assert_eq!(region_base_url("mumbai"), Some("https://api.in.exotel.com"));
        assert_eq!(region_base_url("tokyo"), None);
    }

    #[test]
    fn redaction_covers_basic_auth_and_cut_off_secrets() {
        use base64::Engine as _;
        let account = Arc::new(AccountConfig {
            labels: Default::default(),
            name: "primary".into(),
            provider: ProviderConfig::Exotel(ExotelConfig {
                sid: "acme".into(),
                api_key: crate::config::Secret::new("key-ABCDEFGH"),
                api_token: crate::config::Secret::new("token-0123456789"),
                base_url: "https://api.exotel.com".into(),
                currency: None,
            }),
            poll_interval: Duration::from_secs(300),
            repeat_every: None,
            blind_after: Duration::from_secs(900),
            timeout: Duration::from_secs(30),
            ca_file: None,
            notify: Vec::new(),
            thresholds: Default::default(),
            runway: Default::default(),
            topup_min: rust_decimal::Decimal::ONE,
            escalate: Vec::new(),
        });
        let client = ExotelClient::with_cache(&account, &mut http::ClientCache::new()).unwrap();
        let basic =
            base64::engine::general_purpose::STANDARD.encode("key-ABCDEFGH:token-0123456789");
        let echoed = client.redact(&format!(
            "Authorization: Basic {basic} token=token-0123456789"
        ));
        assert_eq!(echoed, "Authorization: Basic **** token=****");
        // A snippet cut in the middle of the token keeps none of it.
        assert_eq!(client.redact("echo: token-01234…"), "echo: ****…");
        assert_eq!(client.redact("plain text…"), "plain text…");
        // Too short to mask inside words: the whole text is withheld.
        assert_eq!(
            crate::config::redact_secrets("smtp.example.com refused", &["x"]),
            "(details withheld: they contain a credential)"
        );
        assert_eq!(
            crate::config::redact_secrets("no match here", &["q"]),
            "no match here"
        );
    }
}
