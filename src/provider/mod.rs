//! Balance providers (SPEC §2, §10): one file per provider, each owning its config keys
//! and their validation, its request, its parser and its error text; this file holds
//! the enums that dispatch to them by exhaustive `match` and what they share: the
//! balance and error types, status classes, transport errors and redaction.
//!
//! Adding a provider is one new file plus one arm in [`ProviderConfig`] and [`Client`]
//! (and their `match`es here; the compiler lists them).

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use reqwest::StatusCode;
use rust_decimal::Decimal;

use crate::config::{Checked, Ctx, Res, Tables};
use crate::core::ErrorClass;
use crate::http;

mod account;
pub mod exotel;
pub mod infobip;
mod json;
pub mod plivo;
mod shared;
pub mod telnyx;
pub mod twilio;
pub mod vonage;

pub use account::{AccountConfig, RATE_FLOOR, is_loopback_url};

/// An account's provider and the settings that provider owns.
#[derive(Debug, Clone, PartialEq)]
pub enum ProviderConfig {
    Exotel(exotel::ExotelConfig),
    Twilio(twilio::TwilioConfig),
    Plivo(plivo::PlivoConfig),
    Vonage(vonage::VonageConfig),
    Telnyx(telnyx::TelnyxConfig),
    Infobip(infobip::InfobipConfig),
}

impl ProviderConfig {
    /// The `provider` values an account may name.
    pub const NAMES: &'static [&'static str] = &[
        exotel::NAME,
        twilio::NAME,
        plivo::NAME,
        vonage::NAME,
        telnyx::NAME,
        infobip::NAME,
    ];

    /// The keys a provider takes besides the common account keys, by `provider` value.
    pub fn fields(name: &str) -> Option<&'static [&'static str]> {
        match name {
            exotel::NAME => Some(exotel::FIELDS),
            twilio::NAME => Some(twilio::FIELDS),
            plivo::NAME => Some(plivo::FIELDS),
            vonage::NAME => Some(vonage::FIELDS),
            telnyx::NAME => Some(telnyx::FIELDS),
            infobip::NAME => Some(infobip::FIELDS),
            _ => None,
        }
    }

    /// Validates the provider keys of every account, each by the provider it names.
    pub fn read(ctx: &mut Ctx<'_>, tables: &Tables) -> Res<Vec<Checked<ProviderConfig>>> {
        let mut all = Vec::new();
        all.extend(ctx.typed_tables(tables, exotel::NAME, |ctx, raw, at| {
            exotel::ExotelConfig::validate(ctx, raw, at).map(ProviderConfig::Exotel)
        })?);
        all.extend(ctx.typed_tables(tables, twilio::NAME, |ctx, raw, at| {
            twilio::TwilioConfig::validate(ctx, raw, at).map(ProviderConfig::Twilio)
        })?);
        all.extend(ctx.typed_tables(tables, plivo::NAME, |ctx, raw, at| {
            plivo::PlivoConfig::validate(ctx, raw, at).map(ProviderConfig::Plivo)
        })?);
        all.extend(ctx.typed_tables(tables, vonage::NAME, |ctx, raw, at| {
            vonage::VonageConfig::validate(ctx, raw, at).map(ProviderConfig::Vonage)
        })?);
        all.extend(ctx.typed_tables(tables, telnyx::NAME, |ctx, raw, at| {
            telnyx::TelnyxConfig::validate(ctx, raw, at).map(ProviderConfig::Telnyx)
        })?);
        all.extend(ctx.typed_tables(tables, infobip::NAME, |ctx, raw, at| {
            infobip::InfobipConfig::validate(ctx, raw, at).map(ProviderConfig::Infobip)
        })?);
        Ok(all)
    }

    /// The `provider` value.
    pub fn type_name(&self) -> &'static str {
        match self {
            ProviderConfig::Exotel(_) => exotel::NAME,
            ProviderConfig::Twilio(_) => twilio::NAME,
            ProviderConfig::Plivo(_) => plivo::NAME,
            ProviderConfig::Vonage(_) => vonage::NAME,
            ProviderConfig::Telnyx(_) => telnyx::NAME,
            ProviderConfig::Infobip(_) => infobip::NAME,
        }
    }

    /// The provider's name as people write it ("Twilio"), for messages.
    pub fn display_name(&self) -> &'static str {
        display_name(self.type_name())
    }

    /// The provider's identifier of the account, as events and metrics carry it;
    /// `None` where the only credential is a secret key (Telnyx, Infobip), and the
    /// account's name stands in (SPEC §10).
    pub fn account_id(&self) -> Option<&str> {
        match self {
            ProviderConfig::Exotel(c) => Some(&c.sid),
            ProviderConfig::Twilio(c) => Some(&c.account_sid),
            ProviderConfig::Plivo(c) => Some(&c.auth_id),
            ProviderConfig::Vonage(c) => Some(&c.api_key),
            ProviderConfig::Telnyx(_) | ProviderConfig::Infobip(_) => None,
        }
    }

    /// The API base URL, without a trailing slash.
    pub fn base_url(&self) -> &str {
        match self {
            ProviderConfig::Exotel(c) => &c.base_url,
            ProviderConfig::Twilio(c) => &c.base_url,
            ProviderConfig::Plivo(c) => &c.base_url,
            ProviderConfig::Vonage(c) => &c.base_url,
            ProviderConfig::Telnyx(c) => &c.base_url,
            ProviderConfig::Infobip(c) => &c.base_url,
        }
    }

    /// The currency used when the API omits one.
    pub fn fallback_currency(&self) -> &str {
        match self {
            ProviderConfig::Exotel(c) => c.currency.as_deref().unwrap_or("INR"),
            ProviderConfig::Twilio(c) => c.currency.as_deref().unwrap_or(twilio::CURRENCY),
            ProviderConfig::Plivo(c) => c.currency.as_deref().unwrap_or(plivo::CURRENCY),
            ProviderConfig::Vonage(c) => c.currency.as_deref().unwrap_or(vonage::CURRENCY),
            ProviderConfig::Telnyx(c) => c.currency.as_deref().unwrap_or(telnyx::CURRENCY),
            ProviderConfig::Infobip(c) => c.currency.as_deref().unwrap_or(infobip::CURRENCY),
        }
    }

    /// The currency the account insists on, if any.
    pub fn expected_currency(&self) -> Option<&str> {
        match self {
            ProviderConfig::Exotel(c) => c.currency.as_deref(),
            ProviderConfig::Twilio(c) => c.currency.as_deref(),
            ProviderConfig::Plivo(c) => c.currency.as_deref(),
            ProviderConfig::Vonage(c) => c.currency.as_deref(),
            ProviderConfig::Telnyx(c) => c.currency.as_deref(),
            ProviderConfig::Infobip(c) => c.currency.as_deref(),
        }
    }

    /// The Exotel settings, for what only an Exotel account can do (send `exotel_sms`).
    pub fn exotel(&self) -> Option<&exotel::ExotelConfig> {
        match self {
            ProviderConfig::Exotel(c) => Some(c),
            _ => None,
        }
    }
}

/// A balance client for one account, of the account's provider.
#[derive(Debug)]
pub enum Client {
    Exotel(exotel::ExotelClient),
    Twilio(twilio::TwilioClient),
    Plivo(plivo::PlivoClient),
    Vonage(vonage::VonageClient),
    Telnyx(telnyx::TelnyxClient),
    Infobip(infobip::InfobipClient),
}

impl Client {
    /// Builds the client with an HTTP client of its own: the account's `ca_file` and
    /// `timeout` apply to every request. Fine for one-shot commands; the daemon uses
    /// [`Client::with_cache`].
    pub fn new(account: &AccountConfig) -> Result<Self, String> {
        Self::with_cache(&Arc::new(account.clone()), &mut http::ClientCache::new())
    }

    /// Builds the client on the HTTP client `cache` holds for the account's `ca_file`
    /// and `timeout`, so accounts with the same settings share one (see
    /// [`http::ClientCache`] for why that matters at 10,000 accounts).
    pub fn with_cache(
        account: &Arc<AccountConfig>,
        cache: &mut http::ClientCache,
    ) -> Result<Self, String> {
        Ok(match &account.provider {
            ProviderConfig::Exotel(_) => {
                Client::Exotel(exotel::ExotelClient::with_cache(account, cache)?)
            }
            ProviderConfig::Twilio(c) => {
                Client::Twilio(twilio::TwilioClient::with_cache(c, account, cache)?)
            }
            ProviderConfig::Plivo(c) => {
                Client::Plivo(plivo::PlivoClient::with_cache(c, account, cache)?)
            }
            ProviderConfig::Vonage(c) => {
                Client::Vonage(vonage::VonageClient::with_cache(c, account, cache)?)
            }
            ProviderConfig::Telnyx(c) => {
                Client::Telnyx(telnyx::TelnyxClient::with_cache(c, account, cache)?)
            }
            ProviderConfig::Infobip(c) => {
                Client::Infobip(infobip::InfobipClient::with_cache(c, account, cache)?)
            }
        })
    }

    /// One balance request: no retry, the scheduler decides when to try again.
    pub async fn fetch_balance(&self) -> Result<Balance, PollError> {
        match self {
            Client::Exotel(c) => c.fetch_balance().await,
            Client::Twilio(c) => c.fetch_balance().await,
            Client::Plivo(c) => c.fetch_balance().await,
            Client::Vonage(c) => c.fetch_balance().await,
            Client::Telnyx(c) => c.fetch_balance().await,
            Client::Infobip(c) => c.fetch_balance().await,
        }
    }
}

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
        let currency = match (self.currency, account.expected_currency()) {
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

/// The provider's name as people write it, by `provider` value: each value is the
/// name in lower case.
pub fn display_name(name: &str) -> &'static str {
    match name {
        exotel::NAME => "Exotel",
        twilio::NAME => "Twilio",
        plivo::NAME => "Plivo",
        vonage::NAME => "Vonage",
        telnyx::NAME => "Telnyx",
        infobip::NAME => "Infobip",
        _ => "the provider",
    }
}

/// What an error body said: Exotel's `{"RestException": {...}}`, or each other
/// provider's error fields mapped onto a code and a message (SPEC §10's list).
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
    /// `expected` names the field(s) the provider's parser looks for.
    #[error("no balance amount in the response (expected {expected}; found {found})")]
    NoAmount {
        expected: &'static str,
        found: String,
    },
    #[error("{field} is not a number: {value}")]
    NotANumber { field: &'static str, value: String },
    #[error("{field} {value} cannot be represented exactly as a decimal")]
    OutOfRange { field: &'static str, value: String },
    #[error("{field} is not a string: {value}")]
    NotAString { field: &'static str, value: String },
    #[error("the response body is larger than {limit} bytes")]
    TooLarge { limit: usize },
    #[error("the response has the key \"{0}\" twice in one object; which one counts is unclear")]
    DuplicateKey(String),
}

/// A failed poll. `Display` is written for operators and never contains a credential
/// or a URL. `provider` is the `provider` value in [`PollError::Status`] (it picks the
/// hint) and the display name in the transport variants.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PollError {
    /// A non-2xx answer.
    #[error("{}", describe_status(provider, *status, exception.as_ref(), snippet.as_deref()))]
    Status {
        provider: &'static str,
        status: u16,
        /// The provider's error text, when the body had it.
        exception: Option<RestException>,
        /// A short, single-line excerpt of any other body (XML, plain text, HTML title).
        snippet: Option<String>,
        retry_after: Option<Duration>,
    },
    #[error(
        "{provider} did not answer within {}{}",
        humantime::format_duration(*after),
        if detail.is_empty() { String::new() } else { format!(" ({detail})") }
    )]
    Timeout {
        provider: &'static str,
        after: Duration,
        detail: String,
    },
    /// `host` is the base URL (never holds credentials): a Mumbai account on the
    /// Singapore host, or a proxy in the way, shows at once.
    #[error("cannot reach {provider} at {host}: {detail}")]
    Connect {
        provider: &'static str,
        host: String,
        detail: String,
    },
    /// Any other transport failure (including a body cut off mid-read).
    #[error("request to {provider} failed: {detail}")]
    Request {
        provider: &'static str,
        detail: String,
    },
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

/// What to check for a status that needs a human, in the provider's own words.
fn hint(provider: &str, status: u16) -> Option<&'static str> {
    match provider {
        exotel::NAME => exotel::hint(status),
        twilio::NAME => twilio::hint(status),
        plivo::NAME => plivo::hint(status),
        vonage::NAME => vonage::hint(status),
        telnyx::NAME => telnyx::hint(status),
        infobip::NAME => infobip::hint(status),
        _ => None,
    }
}

fn describe_status(
    provider: &str,
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
    if let Some(hint) = hint(provider, status) {
        out.push_str("; ");
        out.push_str(hint);
    }
    out
}

/// A transport failure as a [`PollError`], its text redacted by `redact`. `describe`
/// drops the URL and keeps the cause chain; its leading kind ("timed out", "connection
/// failed") is what our variants already say, so it is dropped to keep the message
/// free of stutter.
fn transport_error(
    err: &reqwest::Error,
    account: &AccountConfig,
    redact: impl Fn(&str) -> String,
) -> PollError {
    let described = redact(&http::describe(err));
    let detail = |kind: &str| {
        described
            .strip_prefix(kind)
            .map(|rest| rest.trim_start_matches(": ").to_string())
            .unwrap_or_else(|| described.clone())
    };
    let provider = account.provider.display_name();
    if err.is_timeout() {
        PollError::Timeout {
            provider,
            after: account.timeout,
            detail: detail("timed out"),
        }
    } else if err.is_connect() {
        PollError::Connect {
            provider,
            host: account.provider.base_url().to_owned(),
            detail: detail("connection failed"),
        }
    } else {
        PollError::Request {
            provider,
            detail: described,
        }
    }
}

/// Applies `redact` to every text a server sent that a [`BodyError`] carries.
fn redact_body_error(err: BodyError, redact: impl Fn(&str) -> String) -> BodyError {
    let exception = |e: RestException| RestException {
        message: e.message.map(|m| redact(&m)),
        code: e.code.map(|c| redact(&c)),
        ..e
    };
    match err {
        BodyError::Html(s) => BodyError::Html(redact(&s)),
        BodyError::NotJson { reason, snippet } => BodyError::NotJson {
            reason,
            snippet: redact(&snippet),
        },
        BodyError::NotAnObject(s) => BodyError::NotAnObject(redact(&s)),
        BodyError::DuplicateKey(k) => BodyError::DuplicateKey(redact(&k)),
        BodyError::Exception(e) => BodyError::Exception(exception(e)),
        BodyError::NoAmount { expected, found } => BodyError::NoAmount {
            expected,
            found: redact(&found),
        },
        BodyError::NotANumber { field, value } => BodyError::NotANumber {
            field,
            value: redact(&value),
        },
        BodyError::OutOfRange { field, value } => BodyError::OutOfRange {
            field,
            value: redact(&value),
        },
        BodyError::NotAString { field, value } => BodyError::NotAString {
            field,
            value: redact(&value),
        },
        e @ (BodyError::Empty | BodyError::TooLarge { .. }) => e,
    }
}

/// Removes a user and password (also as the Basic auth value, and a secret cut off at
/// the end of a `…` snippet) from text a server sent us: a misbehaving proxy or debug
/// endpoint may echo the request, and that text ends up in logs and alerts.
pub fn redact_basic(text: &str, user: &str, password: &str) -> String {
    use base64::Engine as _;
    let basic = base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"));
    crate::config::redact_secrets(text, &[basic.as_str(), password, user])
}

/// A provider's balance-body parser, by `provider` value (the fuzz targets feed every
/// provider's parsers through here). `None` for a name no provider has.
pub fn parse_balance_of(provider: &str, body: &[u8]) -> Option<Result<ParsedBalance, BodyError>> {
    Some(match provider {
        exotel::NAME => exotel::parse_balance(body),
        twilio::NAME => twilio::parse_balance(body),
        plivo::NAME => plivo::parse_balance(body),
        vonage::NAME => vonage::parse_balance(body),
        telnyx::NAME => telnyx::parse_balance(body),
        infobip::NAME => infobip::parse_balance(body),
        _ => return None,
    })
}

/// What a provider's error body (a non-2xx response) says: its own error object, or a
/// one-line excerpt. `None` for a name no provider has.
pub fn error_details_of(
    provider: &str,
    body: &[u8],
) -> Option<(Option<RestException>, Option<String>)> {
    Some(match provider {
        exotel::NAME => exotel::error_details(body),
        twilio::NAME => shared::error_details(body, twilio::exception),
        plivo::NAME => shared::error_details(body, plivo::exception),
        vonage::NAME => shared::error_details(body, vonage::exception),
        telnyx::NAME => shared::error_details(body, telnyx::exception),
        infobip::NAME => shared::error_details(body, infobip::exception),
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    #[test]
    fn every_provider_parser_is_reachable_by_name() {
        for name in super::ProviderConfig::NAMES {
            assert!(super::parse_balance_of(name, b"{}").is_some_and(|r| r.is_err()));
            let (exception, snippet) = super::error_details_of(name, b"plain\ntext").unwrap();
            assert!(exception.is_none());
            assert_eq!(snippet.as_deref(), Some("plain text"), "{name}");
        }
        assert!(super::parse_balance_of("nope", b"{}").is_none());
        assert!(super::error_details_of("nope", b"").is_none());
        let body = br#"{"balance":47.79,"currency":"EUR"}"#;
        let parsed = super::parse_balance_of("infobip", body).unwrap().unwrap();
        assert_eq!(parsed.amount.to_string(), "47.79");
    }

    use super::*;
    use crate::config::raw::serde_fields;

    /// `FIELDS` drives the unknown-key checks and messages; `Raw` is what is read.
    #[test]
    fn every_provider_declares_the_keys_its_raw_struct_reads() {
        assert_eq!(serde_fields::<exotel::Raw>(), exotel::FIELDS);
        assert_eq!(serde_fields::<twilio::Raw>(), twilio::FIELDS);
        assert_eq!(serde_fields::<plivo::Raw>(), plivo::FIELDS);
        assert_eq!(serde_fields::<vonage::Raw>(), vonage::FIELDS);
        assert_eq!(serde_fields::<telnyx::Raw>(), telnyx::FIELDS);
        assert_eq!(serde_fields::<infobip::Raw>(), infobip::FIELDS);
        for name in ProviderConfig::NAMES {
            assert!(ProviderConfig::fields(name).is_some(), "{name}");
        }
    }
}
