//! What the providers after Exotel share, so each of their files holds only what is its
//! own (keys, URL, body shape, error text): the one-request [`Fetcher`] that applies
//! SPEC §2 to any JSON balance API (auth header, status classes, `Retry-After`, the
//! 1 MiB cap, redaction of every secret in whatever the server sent back), the parse
//! preamble every body goes through ([`top_object`]), the error-body reading
//! ([`error_details`]) and the config helpers for `base_url` and `currency`.

use std::collections::BTreeMap;
use std::fmt;
use std::sync::Arc;
use std::time::SystemTime;

use reqwest::header::{ACCEPT, AUTHORIZATION, HeaderValue};
use serde_json::value::RawValue;
use toml::Spanned;

use super::AccountConfig;
use super::json::currency as json_currency;
use super::json::{
    ObjectError, describe_keys, get_ci, html_summary, looks_like_html, lookup_raw, object,
    one_line, parse_amount, strip_bom, truncate,
};
use super::{
    Balance, BodyError, ParsedBalance, PollError, RestException, redact_body_error, transport_error,
};
use crate::config::raw::Opt;
use crate::config::{Ctx, Res, Secret, redact_secrets};
use crate::http;

/// How a provider authenticates its balance request.
#[derive(Clone)]
pub(super) enum Auth {
    /// HTTP Basic: `user` is the account identifier (not a secret, but it is part of
    /// the encoded header value, which is).
    Basic { user: String, password: Secret },
    /// `Authorization: Bearer {key}` (Telnyx).
    Bearer(Secret),
    /// `Authorization: App {key}` (Infobip).
    App(Secret),
}

impl Auth {
    /// Every form in which the credential could come back in a server's text: the
    /// secret itself and, for Basic auth, the encoded header value.
    fn secrets(&self) -> Vec<String> {
        use base64::Engine as _;
        match self {
            Auth::Basic { user, password } => vec![
                base64::engine::general_purpose::STANDARD
                    .encode(format!("{user}:{}", password.expose())),
                password.expose().to_owned(),
            ],
            Auth::Bearer(key) | Auth::App(key) => vec![key.expose().to_owned()],
        }
    }

    fn header(&self) -> Result<HeaderValue, String> {
        use base64::Engine as _;
        let value = match self {
            Auth::Basic { user, password } => format!(
                "Basic {}",
                base64::engine::general_purpose::STANDARD
                    .encode(format!("{user}:{}", password.expose()))
            ),
            Auth::Bearer(key) => format!("Bearer {}", key.expose()),
            Auth::App(key) => format!("App {}", key.expose()),
        };
        // Never quote the value: it is the credential.
        let mut header = HeaderValue::from_str(&value)
            .map_err(|_| "the credential holds characters an HTTP header cannot carry")?;
        // Sensitive headers are left out of hyper's and h2's own trace output.
        header.set_sensitive(true);
        Ok(header)
    }
}

/// One provider's balance API, as the [`Fetcher`] needs it.
pub(super) struct Api {
    /// The `provider` value (for the status hints).
    pub name: &'static str,
    /// The body parser (pure).
    pub parse: fn(&[u8]) -> Result<ParsedBalance, BodyError>,
    /// The provider's error text in a JSON error body, if it has any.
    pub exception: fn(&serde_json::Value) -> Option<RestException>,
}

/// One balance request of one account: built once, sent on every poll.
pub(super) struct Fetcher {
    http: reqwest::Client,
    /// Never holds credentials.
    url: reqwest::Url,
    auth: Auth,
    /// The pre-built `Authorization` value (marked sensitive).
    header: HeaderValue,
    api: &'static Api,
    account: Arc<AccountConfig>,
}

// By hand: neither the credential nor reqwest's internals reach a log through `{:?}`.
impl fmt::Debug for Fetcher {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Fetcher")
            .field("provider", &self.api.name)
            .field("account", &self.account.name)
            .field("url", &self.url.as_str())
            .field("credential", &"****")
            .field("timeout", &self.account.timeout)
            .finish()
    }
}

impl Fetcher {
    /// `segments` are appended to the account's base URL, each percent-encoded as one
    /// path segment (an identifier can never change the path); a trailing empty segment
    /// gives the trailing slash Plivo's URL has.
    pub fn new(
        api: &'static Api,
        base_url: &str,
        segments: &[&str],
        auth: Auth,
        account: &Arc<AccountConfig>,
        cache: &mut http::ClientCache,
    ) -> Result<Self, String> {
        let url = api_url(base_url, segments)?;
        let header = auth.header()?;
        let http = cache.client(account.ca_file.as_deref(), account.timeout)?;
        Ok(Fetcher {
            http,
            url,
            auth,
            header,
            api,
            account: Arc::clone(account),
        })
    }

    /// One GET: no retry, the scheduler decides when to try again.
    pub async fn fetch_balance(&self) -> Result<Balance, PollError> {
        let response = self
            .http
            .get(self.url.clone())
            .header(AUTHORIZATION, self.header.clone())
            .header(ACCEPT, "application/json")
            .send()
            .await
            .map_err(|e| transport_error(&e, &self.account, |t| self.redact(t)))?;
        let status = response.status();
        tracing::debug!(
            account = %self.account.name,
            provider = self.api.name,
            status = status.as_u16(),
            "balance response"
        );
        if !status.is_success() {
            let retry_after = http::retry_after(response.headers(), SystemTime::now());
            // The body only decorates the message: one we cannot read must not hide the
            // status that decides the class.
            let body = http::read_limited(response, http::MAX_BODY)
                .await
                .unwrap_or_default();
            let (exception, snippet) = error_details(&body, self.api.exception);
            return Err(PollError::Status {
                provider: self.api.name,
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
                    provider: super::display_name(self.api.name),
                    detail: self.redact(&detail),
                },
            })?;
        let parsed = (self.api.parse)(&body)
            .map_err(|e| PollError::Body(redact_body_error(e, |t| self.redact(t))))?;
        parsed.resolve(&self.account)
    }

    /// Removes the credential (and its Basic auth encoding) from text a server sent: a
    /// proxy or debug endpoint may echo the request, and that text reaches logs and
    /// alerts.
    pub fn redact(&self, text: &str) -> String {
        let secrets = self.auth.secrets();
        let secrets: Vec<&str> = secrets.iter().map(String::as_str).collect();
        redact_secrets(text, &secrets)
    }
}

/// `{base}/{segments...}`, keeping any path prefix of `base`. Errors never quote
/// `base`, which could hold credentials by mistake.
fn api_url(base: &str, segments: &[&str]) -> Result<reqwest::Url, String> {
    let mut url = reqwest::Url::parse(base).map_err(|e| format!("base_url is not a URL: {e}"))?;
    if !url.username().is_empty() || url.password().is_some() {
        return Err("base_url must not contain credentials".into());
    }
    if !matches!(url.scheme(), "http" | "https") {
        return Err(format!(
            "base_url must be an http or https URL, not {}:",
            url.scheme()
        ));
    }
    url.path_segments_mut()
        .map_err(|()| "base_url cannot take a path".to_string())?
        .pop_if_empty()
        .extend(segments);
    Ok(url)
}

/// The first steps of every parser: not empty, UTF-8, not an HTML page, a JSON object.
/// Returns the text and the object's members as raw (exact) JSON.
pub(super) fn top_object(body: &[u8]) -> Result<(&str, BTreeMap<String, &RawValue>), BodyError> {
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
        ObjectError::DuplicateKey(key) => BodyError::DuplicateKey(truncate(&key, 60)),
    })?;
    Ok((text, top))
}

/// The whole parser of a flat balance body (Twilio, Plivo, Vonage, Infobip): the amount
/// at `field` of the top object, read from its literal JSON text, and the currency at
/// `currency_field` when the provider's body carries one.
pub(super) fn flat_balance(
    body: &[u8],
    field: &'static str,
    currency_field: Option<&'static str>,
    exception: fn(&serde_json::Value) -> Option<RestException>,
) -> Result<ParsedBalance, BodyError> {
    let (text, top) = top_object(body)?;
    let Some(raw) = lookup_raw(&top, field) else {
        return Err(no_amount(text, &top, field, exception));
    };
    Ok(ParsedBalance {
        amount: parse_amount(field, raw)?,
        currency: match currency_field {
            Some(key) => json_currency(&top, key)?,
            None => None,
        },
        pricing_plan: None,
        date_updated: None,
    })
}

/// A 2xx body without the amount: the provider's error text when the body carries one
/// (some APIs answer 200 with an error), otherwise which keys it had.
pub(super) fn no_amount(
    text: &str,
    top: &BTreeMap<String, &RawValue>,
    expected: &'static str,
    exception: fn(&serde_json::Value) -> Option<RestException>,
) -> BodyError {
    if let Some(e) = serde_json::from_str(text).ok().as_ref().and_then(exception) {
        return BodyError::Exception(e);
    }
    BodyError::NoAmount {
        expected,
        found: describe_keys(top),
    }
}

/// What an error body says: the provider's error text when it is JSON the provider's
/// `exception` recognises, otherwise a one-line excerpt (plain text, an HTML title).
pub(super) fn error_details(
    body: &[u8],
    exception: fn(&serde_json::Value) -> Option<RestException>,
) -> (Option<RestException>, Option<String>) {
    let text = strip_bom(body);
    if let Ok(text) = std::str::from_utf8(text) {
        if let Some(e) = serde_json::from_str(text).ok().as_ref().and_then(exception) {
            return (Some(e), None);
        }
        if looks_like_html(text) {
            return (None, Some(html_summary(text)));
        }
    }
    let snippet = one_line(&http::snippet(body));
    (None, (!snippet.is_empty()).then_some(snippet))
}

/// A scalar of an error object as one short line: strings as they are, numbers as
/// written; anything else (or an empty string) is absent.
pub(super) fn scalar(
    map: &serde_json::Map<String, serde_json::Value>,
    key: &str,
) -> Option<String> {
    match get_ci(map, key)? {
        serde_json::Value::String(s) => Some(one_line(&truncate(s, 200))),
        serde_json::Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
    .filter(|s| !s.is_empty())
}

/// A [`RestException`] with the provider's code and message, or `None` when neither is
/// there (so a body that merely is JSON is shown as an excerpt instead).
pub(super) fn exception(code: Option<String>, message: Option<String>) -> Option<RestException> {
    (code.is_some() || message.is_some()).then_some(RestException {
        status: None,
        code,
        message,
    })
}

/// `base_url`: the provider's default unless set (then checked like every base URL).
pub(super) fn base_url(ctx: &Ctx<'_>, raw: &Opt<String>, key: &str, default: &str) -> Res<String> {
    match raw {
        Some(v) => ctx.base_url(v, key),
        None => Ok(default.to_owned()),
    }
}

/// `currency`: three capital letters, when set.
pub(super) fn currency(ctx: &Ctx<'_>, raw: &Opt<String>, key: &str) -> Res<Option<String>> {
    let Some(v) = raw else { return Ok(None) };
    let c = ctx.string(v, key)?;
    if c.len() != 3 || !c.chars().all(|ch| ch.is_ascii_uppercase()) {
        return Err(ctx.err(
            Some(v.span()),
            key,
            format!("\"{c}\" is not a currency code: expected three capital letters like USD"),
        ));
    }
    Ok(Some(c))
}

/// An account identifier that goes into the URL path and into events and metrics:
/// letters, digits, `-`, `_` and `.` only, so a typo cannot smuggle a path in.
pub(super) fn identifier(ctx: &Ctx<'_>, raw: &Spanned<String>, key: &str) -> Res<String> {
    let id = ctx.string(raw, key)?;
    if !id
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
    {
        return Err(ctx.err(
            Some(raw.span()),
            key,
            "may only contain letters, digits, '-', '_' and '.'",
        ));
    }
    Ok(id)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_keep_a_prefix_and_encode_segments() {
        let url = api_url("https://gw.example/p/", &["v1", "Account", "a b/c", ""]).unwrap();
        assert_eq!(url.as_str(), "https://gw.example/p/v1/Account/a%20b%2Fc/");
        let e = api_url("https://u:s3cr3t@x.example", &["v2"]).unwrap_err();
        assert!(!e.contains("s3cr3t"), "{e}");
        assert!(api_url("ftp://x.example", &[]).is_err());
    }

    #[test]
    fn auth_headers_are_sensitive_and_redacted_in_every_form() {
        let auth = Auth::Basic {
            user: "AC0123456789".into(),
            password: Secret::new("token-0123456789"),
        };
        let header = auth.header().unwrap();
        assert!(header.is_sensitive());
        assert_eq!(
            header.to_str().unwrap(),
            "Basic QUMwMTIzNDU2Nzg5OnRva2VuLTAxMjM0NTY3ODk="
        );
        let secrets = auth.secrets();
        let secrets: Vec<&str> = secrets.iter().map(String::as_str).collect();
        assert_eq!(
            redact_secrets(
                "echo QUMwMTIzNDU2Nzg5OnRva2VuLTAxMjM0NTY3ODk= token-0123456789",
                &secrets
            ),
            "echo **** ****"
        );
        let bearer = Auth::Bearer(Secret::new("KEY0123456789"));
        assert_eq!(
            bearer.header().unwrap().to_str().unwrap(),
            "Bearer KEY0123456789"
        );
        let app = Auth::App(Secret::new("abcdef0123456789"));
        assert_eq!(
            app.header().unwrap().to_str().unwrap(),
            "App abcdef0123456789"
        );
        assert!(Auth::App(Secret::new("bad\nkey")).header().is_err());
    }
}
