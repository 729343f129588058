//! The Exotel Balance API client (SPEC §2) and its error classes.
//!
//! This module owns everything between "poll account X" and "here is its balance or a
//! classified error": building the request (Basic auth in the header, never in the URL),
//! reading the response with a size limit, parsing both known body shapes with exact
//! decimals ([`parse_balance`], pure), resolving the currency against the account, and
//! turning every failure into a [`PollError`] whose [`ErrorClass`] drives backoff and
//! `monitor_failing`. It makes exactly one request per call: retry policy belongs to the
//! scheduler, which also enforces the rate floor.

use std::collections::BTreeMap;
use std::fmt;
use std::time::{Duration, SystemTime};

use reqwest::StatusCode;
use reqwest::header::ACCEPT;
use rust_decimal::Decimal;
use serde_json::value::RawValue;

use crate::config::AccountConfig;
use crate::core::ErrorClass;
use crate::http;

/// A balance as read from the API, currency resolved.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Balance {
    pub amount: Decimal,
    pub currency: String,
    pub pricing_plan: Option<String>,
    pub date_updated: Option<String>,
}

/// A balance as found in a response body, before the account's currency rules apply.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParsedBalance {
    pub amount: Decimal,
    /// `None` when the body carries no currency (the short production shape).
    pub currency: Option<String>,
    pub pricing_plan: Option<String>,
    pub date_updated: Option<String>,
}

impl ParsedBalance {
    /// Applies the account's currency rules (SPEC §2): a missing currency falls back to
    /// the account's `currency` (default INR); a reported currency that differs from a
    /// configured one is a config error, because thresholds in one currency must never be
    /// compared with amounts in another.
    pub fn resolve(self, account: &AccountConfig) -> Result<Balance, PollError> {
        let currency = match (self.currency, account.currency.as_deref()) {
            (None, _) => account.fallback_currency().to_string(),
            (Some(reported), Some(expected)) if !reported.eq_ignore_ascii_case(expected) => {
                return Err(PollError::CurrencyMismatch {
                    expected: expected.to_string(),
                    reported,
                });
            }
            // Same currency, perhaps spelled in another case: keep the configured spelling
            // so metrics labels do not flap between "INR" and "inr".
            (Some(_), Some(expected)) => expected.to_string(),
            (Some(reported), None) => reported.to_ascii_uppercase(),
        };
        Ok(Balance {
            amount: self.amount,
            currency,
            pricing_plan: self.pricing_plan,
            date_updated: self.date_updated,
        })
    }
}

/// What `{"RestException": {...}}` (or nothing recognisable) said about a failed request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RestException {
    /// Exotel's own `Status`, when present (normally equal to the HTTP status).
    pub status: Option<u16>,
    /// `Code`, a number in some answers and a string such as `UNAUTHORIZED` in others.
    pub code: Option<String>,
    pub message: Option<String>,
}

impl fmt::Display for RestException {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut details = Vec::new();
        if let Some(code) = &self.code {
            details.push(format!("code {code}"));
        }
        if let Some(status) = self.status {
            details.push(format!("Exotel status {status}"));
        }
        match &self.message {
            Some(message) => f.write_str(message)?,
            None => f.write_str("no message")?,
        }
        if !details.is_empty() {
            write!(f, " ({})", details.join(", "))?;
        }
        Ok(())
    }
}

/// Why a response body is not a usable balance. Every variant names what was wrong so
/// the operator can tell a changed API shape from a proxy's error page.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BodyError {
    #[error("the response body is empty")]
    Empty,
    #[error("the response is an HTML page, not JSON: {0}")]
    Html(String),
    #[error("the response is not JSON ({reason}): {snippet}")]
    NotJson { reason: String, snippet: String },
    #[error("the response is JSON but not an object: {0}")]
    NotAnObject(String),
    #[error("the API answered with an error: {0}")]
    Exception(RestException),
    #[error(
        "no balance amount in the response (expected Account.BalanceData.Balance or \
         Balance.Amount; found {found})"
    )]
    NoAmount { found: String },
    #[error("{field} is not a number: {value}")]
    NotANumber { field: &'static str, value: String },
    #[error("{field} {value} cannot be represented exactly as a decimal")]
    OutOfRange { field: &'static str, value: String },
    #[error("{field} is not a string: {value}")]
    NotAString { field: &'static str, value: String },
    #[error("the response body is larger than {limit} bytes")]
    TooLarge { limit: usize },
}

/// A failed poll. `Display` is written for operators and never contains the API key,
/// the API token or a URL.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PollError {
    /// A non-2xx answer.
    #[error("{}", describe_status(*status, exception.as_ref(), snippet.as_deref()))]
    Status {
        status: u16,
        /// The parsed `RestException`, when the body had one.
        exception: Option<RestException>,
        /// A short, single-line excerpt of any other body (XML, plain text, HTML title).
        snippet: Option<String>,
        retry_after: Option<Duration>,
    },
    #[error(
        "Exotel did not answer within {}{}",
        humantime::format_duration(*after),
        if detail.is_empty() { String::new() } else { format!(" ({detail})") }
    )]
    Timeout { after: Duration, detail: String },
    /// `host` is the base URL (never holds credentials): a Mumbai account on the
    /// Singapore host, or a proxy in the way, shows at once.
    #[error("cannot reach Exotel at {host}: {detail}")]
    Connect { host: String, detail: String },
    /// Any other transport failure (including a body cut off mid-read).
    #[error("request to Exotel failed: {detail}")]
    Request { detail: String },
    #[error("bad balance response: {0}")]
    Body(#[from] BodyError),
    #[error("currency mismatch: account expects {expected}, API reports {reported}")]
    CurrencyMismatch { expected: String, reported: String },
}

impl PollError {
    /// The class that drives backoff and `monitor_failing` (SPEC §2 status table).
    pub fn class(&self) -> ErrorClass {
        match self {
            PollError::Status { status, .. } => match status {
                401..=404 => ErrorClass::Config,
                429 | 503 => ErrorClass::Throttled,
                _ => ErrorClass::Transient,
            },
            PollError::CurrencyMismatch { .. } => ErrorClass::Config,
            PollError::Timeout { .. }
            | PollError::Connect { .. }
            | PollError::Request { .. }
            | PollError::Body(_) => ErrorClass::Transient,
        }
    }

    /// How long the server asked us to wait, from `Retry-After` on any status.
    pub fn retry_after(&self) -> Option<Duration> {
        match self {
            PollError::Status { retry_after, .. } => *retry_after,
            _ => None,
        }
    }
}

fn describe_status(
    status: u16,
    exception: Option<&RestException>,
    snippet: Option<&str>,
) -> String {
    let mut out = format!("HTTP {status}");
    if let Some(reason) = StatusCode::from_u16(status)
        .ok()
        .and_then(|s| s.canonical_reason())
    {
        out.push(' ');
        out.push_str(reason);
    }
    if let Some(exception) = exception {
        // Exotel's Status normally repeats the HTTP status; only show it when it adds
        // information.
        let exception = RestException {
            status: exception.status.filter(|s| *s != status),
            ..exception.clone()
        };
        out.push_str(": ");
        out.push_str(&exception.to_string());
    } else if let Some(snippet) = snippet.filter(|s| !s.is_empty()) {
        out.push_str(": ");
        out.push_str(snippet);
    }
    // The statuses that need a human say what to check.
    let hint = match status {
        401 => Some("check api_key and api_token"),
        402 => Some("Exotel reports payment required: is the account out of funds or suspended?"),
        403 => Some("check that the API key may read the balance and the account is active"),
        404 => Some("check sid and region or base_url"),
        _ => None,
    };
    if let Some(hint) = hint {
        out.push_str("; ");
        out.push_str(hint);
    }
    out
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
    /// Owned copy: name, credentials, timeout and currency rules.
    account: AccountConfig,
}

// Written by hand so neither the secrets nor reqwest's internals (proxy settings may
// carry credentials of their own) can reach a log line through `{:?}`.
impl fmt::Debug for ExotelClient {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ExotelClient")
            .field("account", &self.account.name)
            .field("url", &self.url.as_str())
            // `Secret`'s Debug prints a mask.
            .field("api_key", &self.account.api_key)
            .field("api_token", &self.account.api_token)
            .field("timeout", &self.account.timeout)
            .finish()
    }
}

impl ExotelClient {
    /// Builds the client with an HTTP client of its own: the account's `ca_file` and
    /// `timeout` apply to every request. Fine for one-shot commands; the daemon uses
    /// [`ExotelClient::with_cache`].
    pub fn new(account: &AccountConfig) -> Result<Self, String> {
        Self::with_cache(account, &mut http::ClientCache::new())
    }

    /// Builds the client on the HTTP client `cache` holds for the account's `ca_file`
    /// and `timeout`, so accounts with the same settings share one (see
    /// [`http::ClientCache`] for why that matters at 10,000 accounts).
    pub fn with_cache(
        account: &AccountConfig,
        cache: &mut http::ClientCache,
    ) -> Result<Self, String> {
        let url = balance_url(&account.base_url, &account.sid)?;
        let http = cache.client(account.ca_file.as_deref(), account.timeout)?;
        Ok(ExotelClient {
            http,
            url,
            account: account.clone(),
        })
    }

    /// One `GET .../Balance.json`: no retry, the scheduler decides when to try again.
    pub async fn fetch_balance(&self) -> Result<Balance, PollError> {
        let response = self
            .http
            .get(self.url.clone())
            .basic_auth(
                self.account.api_key.expose(),
                Some(self.account.api_token.expose()),
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
                http::BodyReadError::Read(detail) => PollError::Request { detail },
            })?;
        let parsed =
            parse_balance(&body).map_err(|e| PollError::Body(self.redact_body_error(e)))?;
        parsed.resolve(&self.account)
    }

    fn transport_error(&self, err: &reqwest::Error) -> PollError {
        // `describe` drops the URL and keeps the cause chain; its leading kind ("timed
        // out", "connection failed") is what our variants already say, so it is dropped
        // to keep the message free of stutter.
        let described = self.redact(&http::describe(err));
        let detail = |kind: &str| {
            described
                .strip_prefix(kind)
                .map(|rest| rest.trim_start_matches(": ").to_string())
                .unwrap_or_else(|| described.clone())
        };
        if err.is_timeout() {
            PollError::Timeout {
                after: self.account.timeout,
                detail: detail("timed out"),
            }
        } else if err.is_connect() {
            PollError::Connect {
                host: self.account.base_url.clone(),
                detail: detail("connection failed"),
            }
        } else {
            PollError::Request { detail: described }
        }
    }

    /// Removes the key and token from text a server sent us: a misbehaving proxy or a
    /// debug endpoint may echo the request, and that text ends up in logs and alerts.
    fn redact(&self, text: &str) -> String {
        redact_credentials(text, &self.account)
    }

    fn redact_body_error(&self, err: BodyError) -> BodyError {
        match err {
            BodyError::Html(s) => BodyError::Html(self.redact(&s)),
            BodyError::NotJson { reason, snippet } => BodyError::NotJson {
                reason,
                snippet: self.redact(&snippet),
            },
            BodyError::NotAnObject(s) => BodyError::NotAnObject(self.redact(&s)),
            BodyError::Exception(e) => BodyError::Exception(RestException {
                message: e.message.map(|m| self.redact(&m)),
                code: e.code.map(|c| self.redact(&c)),
                ..e
            }),
            BodyError::NoAmount { found } => BodyError::NoAmount {
                found: self.redact(&found),
            },
            BodyError::NotANumber { field, value } => BodyError::NotANumber {
                field,
                value: self.redact(&value),
            },
            BodyError::OutOfRange { field, value } => BodyError::OutOfRange {
                field,
                value: self.redact(&value),
            },
            BodyError::NotAString { field, value } => BodyError::NotAString {
                field,
                value: self.redact(&value),
            },
            e @ (BodyError::Empty | BodyError::TooLarge { .. }) => e,
        }
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
fn error_details(body: &[u8]) -> (Option<RestException>, Option<String>) {
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

/// Exact key first, then case-insensitive: Exotel documents PascalCase, but nothing is
/// lost by also accepting `message` or `balance`.
fn get_ci<'a>(
    map: &'a serde_json::Map<String, serde_json::Value>,
    key: &str,
) -> Option<&'a serde_json::Value> {
    map.get(key).or_else(|| {
        map.iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(key))
            .map(|(_, v)| v)
    })
}

/// [`get_ci`] for a map of raw values.
fn lookup_raw<'a>(map: &BTreeMap<String, &'a RawValue>, key: &str) -> Option<&'a RawValue> {
    map.get(key).copied().or_else(|| {
        map.iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(key))
            .map(|(_, v)| *v)
    })
}

/// Parses a Balance response body. Pure.
///
/// Accepts the documented shape `{"Account":{"BalanceData":{"Balance":"1543.75",
/// "Currency":"INR",...}}}` and the short production shape `{"Balance":{"Amount":618.3}}`.
/// The amount is read from its literal JSON text (a string or a number), never through
/// `f64`, so `0.1` stays `0.1` and long amounts keep every digit.
pub fn parse_balance(body: &[u8]) -> Result<ParsedBalance, BodyError> {
    let body = strip_bom(body);
    if body.iter().all(u8::is_ascii_whitespace) {
        return Err(BodyError::Empty);
    }
    let text = std::str::from_utf8(body).map_err(|e| BodyError::NotJson {
        reason: format!("not UTF-8: {e}"),
        snippet: one_line(&http::snippet(body)),
    })?;
    if looks_like_html(text) {
        return Err(BodyError::Html(html_summary(text)));
    }
    let top = object(text).map_err(|e| match e {
        ObjectError::NotJson(reason) => BodyError::NotJson {
            reason,
            snippet: one_line(&http::snippet(body)),
        },
        ObjectError::NotObject => BodyError::NotAnObject(one_line(&http::snippet(body))),
    })?;

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
        found: describe_keys(&top),
    })
}

enum ObjectError {
    NotJson(String),
    NotObject,
}

/// One level of a JSON object with its values left as raw text.
fn object(text: &str) -> Result<BTreeMap<String, &RawValue>, ObjectError> {
    match serde_json::from_str::<BTreeMap<String, &RawValue>>(text) {
        Ok(map) => Ok(map),
        Err(e) if e.is_data() => Err(ObjectError::NotObject),
        Err(e) => Err(ObjectError::NotJson(e.to_string())),
    }
}

/// Reads an amount from its literal JSON text: a number, or a string holding one.
fn parse_amount(field: &'static str, raw: &RawValue) -> Result<Decimal, BodyError> {
    let literal = raw.get();
    let text = if literal.starts_with('"') {
        // A string: unescape it, then it must hold a plain decimal literal.
        let s: String = serde_json::from_str(literal).map_err(|_| not_a_number(field, literal))?;
        s.trim().to_string()
    } else {
        literal.to_string()
    };
    match exact_decimal(&text) {
        Ok(d) => Ok(d),
        Err(DecimalError::NotANumber) => Err(not_a_number(field, literal)),
        Err(DecimalError::OutOfRange) => Err(BodyError::OutOfRange {
            field,
            value: truncate(literal, 60),
        }),
    }
}

/// Why [`exact_decimal`] refused a literal.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DecimalError {
    /// Not `-?digits(.digits)?([eE][+-]?digits)?`.
    NotANumber,
    /// A number, but not one a `Decimal` holds exactly.
    OutOfRange,
}

/// Parses a decimal literal exactly: amounts from Exotel and thresholds from the config
/// go through here. rust_decimal's own parser is lenient (it takes `1_000`, and rounds
/// digits it cannot hold), so the grammar is checked first (that also rejects NaN,
/// Infinity and the like) and rounding is refused.
pub fn exact_decimal(text: &str) -> Result<Decimal, DecimalError> {
    if !is_decimal_literal(text) {
        return Err(DecimalError::NotANumber);
    }
    let parsed = if text.contains(['e', 'E']) {
        Decimal::from_scientific(text)
    } else {
        Decimal::from_str_exact(text)
    };
    parsed.map_err(|_| DecimalError::OutOfRange)
}

fn not_a_number(field: &'static str, literal: &str) -> BodyError {
    BodyError::NotANumber {
        field,
        value: one_line(&truncate(literal, 60)),
    }
}

/// `-?digits(.digits)?([eE][+-]?digits)?`: JSON's number grammar, minus its ban on
/// leading zeros (a string such as "007.50" is still clearly a number).
fn is_decimal_literal(s: &str) -> bool {
    fn digits(s: &[u8]) -> usize {
        s.iter().take_while(|b| b.is_ascii_digit()).count()
    }
    let b = s.as_bytes();
    let mut i = usize::from(b.first() == Some(&b'-'));
    let n = digits(&b[i..]);
    if n == 0 {
        return false;
    }
    i += n;
    if b.get(i) == Some(&b'.') {
        let n = digits(&b[i + 1..]);
        if n == 0 {
            return false;
        }
        i += 1 + n;
    }
    if matches!(b.get(i), Some(b'e' | b'E')) {
        i += 1;
        if matches!(b.get(i), Some(b'+' | b'-')) {
            i += 1;
        }
        let n = digits(&b[i..]);
        if n == 0 {
            return false;
        }
        i += n;
    }
    i == b.len()
}

/// The currency, when present: it decides whether thresholds apply, so a currency that
/// is there but is not a string is an error rather than silently ignored.
fn currency(
    map: &BTreeMap<String, &RawValue>,
    field: &'static str,
) -> Result<Option<String>, BodyError> {
    let Some(raw) = lookup_raw(map, "Currency") else {
        return Ok(None);
    };
    match serde_json::from_str::<Option<String>>(raw.get()) {
        Ok(Some(s)) => {
            let s = s.trim();
            Ok((!s.is_empty()).then(|| s.to_string()))
        }
        Ok(None) => Ok(None),
        Err(_) => Err(BodyError::NotAString {
            field,
            value: one_line(&truncate(raw.get(), 60)),
        }),
    }
}

/// An informational field (plan, date): a string as is, a number as written, anything
/// else ignored, because a cosmetic field must not fail the poll.
fn optional_text(map: &BTreeMap<String, &RawValue>, key: &str) -> Option<String> {
    let raw = lookup_raw(map, key)?;
    let text = match serde_json::from_str::<serde_json::Value>(raw.get()).ok()? {
        serde_json::Value::String(s) => s,
        serde_json::Value::Number(_) => raw.get().to_string(),
        _ => return None,
    };
    let text = one_line(&truncate(&text, 200));
    (!text.is_empty()).then_some(text)
}

fn describe_keys(top: &BTreeMap<String, &RawValue>) -> String {
    if top.is_empty() {
        return "an empty object".into();
    }
    let keys: Vec<String> = top.keys().take(5).map(|k| truncate(k, 40)).collect();
    let more = if top.len() > keys.len() { ", …" } else { "" };
    format!("keys {}{more}", keys.join(", "))
}

fn strip_bom(body: &[u8]) -> &[u8] {
    body.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(body)
}

fn looks_like_html(text: &str) -> bool {
    let start: String = text.trim_start().chars().take(15).collect();
    let start = start.to_ascii_lowercase();
    start.starts_with("<!doctype html") || start.starts_with("<html")
}

/// An HTML error page (a proxy's 502, a login portal) summed up by its `<title>`.
fn html_summary(text: &str) -> String {
    let lower = text.to_ascii_lowercase();
    let title_at = lower.find("<title>").map(|i| i + "<title>".len());
    if let Some((start, len)) =
        title_at.and_then(|start| lower[start..].find("</title>").map(|len| (start, len)))
    {
        let title = one_line(&truncate(&text[start..start + len], 100));
        if !title.is_empty() {
            return format!("title \"{title}\"");
        }
    }
    one_line(&http::snippet(text.as_bytes()))
}

/// Collapses whitespace runs (newlines included) so a message stays one log line.
fn one_line(text: &str) -> String {
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}

fn truncate(text: &str, max_chars: usize) -> String {
    let mut out: String = text.chars().take(max_chars).collect();
    if text.chars().count() > max_chars {
        out.push('…');
    }
    out
}

/// Removes an account's key and token (also as the Basic auth value, and a secret cut
/// off at the end of a `…` snippet) from text a server sent us: a misbehaving proxy or
/// debug endpoint may echo the request, and that text ends up in logs and alerts.
pub fn redact_credentials(text: &str, account: &AccountConfig) -> String {
    use base64::Engine as _;
    let (key, token) = (account.api_key.expose(), account.api_token.expose());
    let basic = base64::engine::general_purpose::STANDARD.encode(format!("{key}:{token}"));
    crate::config::redact_secrets(text, &[basic.as_str(), token, key])
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::str::FromStr;

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
    fn decimal_literal_grammar() {
        for ok in ["0", "-1", "1.5", "1e3", "1E-3", "1.5e+2", "007.50"] {
            assert!(is_decimal_literal(ok), "{ok}");
        }
        for bad in [
            "", "-", ".5", "5.", "1e", "1e+", "+1", "1.2.3", "0x10", "1 2", "NaN",
        ] {
            assert!(!is_decimal_literal(bad), "{bad}");
        }
    }

    #[test]
    fn error_classes() {
        let status = |status| PollError::Status {
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
            status: 502,
            exception: None,
            snippet: Some("upstream down".into()),
            retry_after: None,
        };
        assert_eq!(e.to_string(), "HTTP 502 Bad Gateway: upstream down");
        let e = PollError::Status {
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
        let account = AccountConfig {
            name: "primary".into(),
            sid: "acme".into(),
            api_key: crate::config::Secret::new("key-ABCDEFGH"),
            api_token: crate::config::Secret::new("token-0123456789"),
            base_url: "https://api.exotel.com".into(),
            currency: None,
            poll_interval: Duration::from_secs(300),
            repeat_every: None,
            blind_after: Duration::from_secs(900),
            timeout: Duration::from_secs(30),
            ca_file: None,
            notify: Vec::new(),
            thresholds: Default::default(),
        };
        let client = ExotelClient::new(&account).unwrap();
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
