//! Vonage (SPEC §10): `GET {base}/account/get-balance` with Basic auth
//! `api_key:api_secret`; the amount is `value`, a JSON number read from its literal
//! text (so `0.1` is exactly 0.1); the body has no currency, so it is the account's
//! `currency` setting (EUR by default); errors carry `error-code-label` and
//! `error_code` (the newer RFC 7807 bodies `title` and `detail`).

use serde::Deserialize;
use std::sync::Arc;

use super::AccountConfig;
use super::shared::{self, Api, Auth, Fetcher, scalar};
use super::{Balance, BodyError, ParsedBalance, PollError, RestException};
use crate::config::raw::Opt;
use crate::config::{Ctx, Place, Res, Secret};
use crate::http;

/// The `provider` value.
pub const NAME: &str = "vonage";

/// The keys a Vonage account takes besides the common account keys.
pub const FIELDS: &[&str] = &[
    "api_key",
    "api_secret",
    "api_secret_file",
    "base_url",
    "currency",
];

/// Vonage accounts are billed in EUR unless set otherwise; the body does not say.
pub const CURRENCY: &str = "EUR";

const BASE_URL: &str = "https://rest.nexmo.com";

/// A Vonage account's settings.
#[derive(Debug, Clone, PartialEq)]
pub struct VonageConfig {
    /// The API key: an identifier (in events and metrics), the secret is `api_secret`.
    pub api_key: String,
    pub api_secret: Secret,
    pub base_url: String,
    /// The account's currency (the body has none); EUR when unset.
    pub currency: Option<String>,
}

/// [`FIELDS`] as written.
#[derive(Deserialize)]
pub struct Raw {
    api_key: Opt<String>,
    api_secret: Opt<String>,
    api_secret_file: Opt<String>,
    base_url: Opt<String>,
    currency: Opt<String>,
}

impl VonageConfig {
    /// Validates a Vonage account's keys, found `at` the account's table.
    pub fn validate(ctx: &mut Ctx<'_>, raw: &Raw, at: &Place<'_>) -> Res<Self> {
        let table = &at.table;
        let key = |field: &str| at.key(field);
        let api_key = ctx.required(&raw.api_key, table, &key("api_key"))?;
        let api_key = shared::identifier(ctx, api_key, &key("api_key"))?;
        let api_secret = ctx
            .secret(
                &raw.api_secret,
                &raw.api_secret_file,
                at,
                "api_secret",
                true,
            )?
            .expect("required");
        Ok(VonageConfig {
            api_key,
            api_secret,
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

/// A balance client for one Vonage account.
#[derive(Debug)]
pub struct VonageClient(Fetcher);

impl VonageClient {
    pub fn with_cache(
        config: &VonageConfig,
        account: &Arc<AccountConfig>,
        cache: &mut http::ClientCache,
    ) -> Result<Self, String> {
        let auth = Auth::Basic {
            user: config.api_key.clone(),
            password: config.api_secret.clone(),
        };
        let segments = ["account", "get-balance"];
        Fetcher::new(&API, &config.base_url, &segments, auth, account, cache).map(Self)
    }

    /// One request: no retry, the scheduler decides when to try again.
    pub async fn fetch_balance(&self) -> Result<Balance, PollError> {
        self.0.fetch_balance().await
    }
}

/// Parses `{"value":10.28,"autoReload":false}`. Pure; `value` is taken from its literal
/// JSON text, never through `f64`.
pub fn parse_balance(body: &[u8]) -> Result<ParsedBalance, BodyError> {
    shared::flat_balance(body, "value", None, exception)
}

/// `{"error-code":"401","error-code-label":"authentication failed"}` (also spelled
/// `error_code`), or an RFC 7807 `{"type":…,"title":…,"detail":…}`.
pub(super) fn exception(value: &serde_json::Value) -> Option<RestException> {
    let map = value.as_object()?;
    let code = scalar(map, "error_code").or_else(|| scalar(map, "error-code"));
    let label = scalar(map, "error-code-label").or_else(|| scalar(map, "error_code_label"));
    let message = label.or_else(|| match (scalar(map, "title"), scalar(map, "detail")) {
        (Some(t), Some(d)) => Some(format!("{t}: {d}")),
        (t, d) => t.or(d),
    });
    shared::exception(code, message)
}

/// What to check for a status that needs a human.
pub fn hint(status: u16) -> Option<&'static str> {
    match status {
        401 => Some("check api_key and api_secret"),
        403 => Some("check that the API key may read the account's balance"),
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
    fn documented_shape_with_extra_fields() {
        let parsed = parse(r#"{"value":10.28,"autoReload":false,"extra":{"x":[1,2]}}"#).unwrap();
        assert_eq!(parsed.amount.to_string(), "10.28");
        assert_eq!(parsed.currency, None);
    }

    #[test]
    fn value_is_exact_from_its_literal_text() {
        for (literal, expected) in [
            ("0.1", "0.1"),
            ("0.30000000000000004", "0.30000000000000004"),
            ("12345678901234567.25", "12345678901234567.25"),
            ("-1.10", "-1.10"),
            ("\"7.5\"", "7.5"),
            ("2E1", "20"),
        ] {
            let body = format!(r#"{{"value":{literal}}}"#);
            assert_eq!(parse(&body).unwrap().amount.to_string(), expected, "{body}");
        }
        // 0.1 is exactly one tenth, not f64's 0.1000000000000000055…
        assert_eq!(
            parse(r#"{"value":0.1}"#).unwrap().amount,
            rust_decimal::Decimal::new(1, 1)
        );
    }

    #[test]
    fn bad_bodies_are_named() {
        assert_eq!(parse(""), Err(BodyError::Empty));
        assert!(matches!(parse("value=1"), Err(BodyError::NotJson { .. })));
        assert!(matches!(parse("[0.1]"), Err(BodyError::NotAnObject(_))));
        let e = parse(r#"{"value":null}"#).unwrap_err();
        assert_eq!(e.to_string(), "value is not a number: null");
        let e = parse(r#"{"autoReload":true}"#).unwrap_err();
        assert_eq!(
            e.to_string(),
            "no balance amount in the response (expected value; found keys autoReload)"
        );
    }

    #[test]
    fn error_bodies() {
        let (e, _) = error_details(
            br#"{"error-code":"401","error-code-label":"authentication failed"}"#,
            exception,
        );
        assert_eq!(e.unwrap().to_string(), "authentication failed (code 401)");
        let (e, _) = error_details(
            br#"{"error_code":"429","error-code-label":"Throughput Rate Exceeded"}"#,
            exception,
        );
        assert_eq!(
            e.unwrap().to_string(),
            "Throughput Rate Exceeded (code 429)"
        );
        let (e, _) = error_details(
            br#"{"type":"https://developer.nexmo.com/api-errors#unauthorized","title":"Invalid credentials","detail":"You did not provide correct credentials."}"#,
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
            "HTTP 401 Unauthorized: Invalid credentials: You did not provide correct credentials.; check api_key and api_secret"
        );
        let (e, s) = error_details(b"", exception);
        assert_eq!((e, s), (None, None));
    }
}
