//! What the SMS channels share: one-segment bodies (160 GSM-7 units, 70 UTF-16 units
//! once a character forces UCS-2), the `body_template` language and its check, the
//! `from`/`to` keys, and the mapping of an SMS API's answer (`post_sms_form`): any
//! 2xx is sent; 408, 429 and 5xx are retried (honouring `Retry-After`); any other status
//! is a permanent refusal.

use std::time::SystemTime;

use super::DeliveryError;
use super::forecast;
use super::render::{
    SIGNATURE, balance_text, error_text, group_digits, level_upper, provider_name,
};
use crate::config::raw::{Opt, StrList};
use crate::config::{Ctx, Place, Res};
use crate::core::{Event, EventKind};
use crate::http;

/// Largest error body we read from an SMS API (only a snippet is reported).
const ERROR_BODY_LIMIT: usize = 64 * 1024;

/// `body_template`, checked to fit one SMS segment.
pub(super) fn body_template(
    ctx: &Ctx<'_>,
    raw: &Opt<String>,
    at: &Place<'_>,
) -> Res<Option<String>> {
    let Some(v) = raw else {
        return Ok(None);
    };
    let key = at.key("body_template");
    let template = ctx.string(v, &key)?;
    if let Some(problem) = sms_template_problem(&template) {
        return Err(ctx.err(Some(v.span()), &key, problem));
    }
    Ok(Some(template))
}

/// `from` and `to` of an SMS channel: a sender and a list of numbers, both required.
pub(super) fn endpoints(
    ctx: &Ctx<'_>,
    from: &Opt<String>,
    to: &Option<StrList>,
    at: &Place<'_>,
) -> Res<(String, Vec<String>)> {
    let from = ctx.string(
        ctx.required(from, &at.table, &at.key("from"))?,
        &at.key("from"),
    )?;
    let to_raw = to.as_ref().ok_or_else(|| {
        ctx.err(
            Some(at.table.clone()),
            &at.key("to"),
            "missing required key",
        )
    })?;
    let to = ctx.list(to_raw, &at.key("to"))?;
    Ok((from, to))
}

/// Sends one prepared SMS request and maps the answer (shared with `twilio_sms`).
pub(super) async fn post_sms_form(
    request: reqwest::RequestBuilder,
    peer: &str,
    secrets: &[&str],
) -> Result<(), DeliveryError> {
    let response = match request.send().await {
        Ok(r) => r,
        // `describe` leaves the URL out (it is harmless here, but the habit is cheap).
        Err(e) => {
            return Err(DeliveryError::retry(format!(
                "{peer}: {}",
                http::describe(&e)
            )));
        }
    };
    let status = response.status();
    if status.is_success() {
        return Ok(());
    }
    let retry_after = http::retry_after(response.headers(), SystemTime::now());
    let detail = match http::read_limited(response, ERROR_BODY_LIMIT).await {
        // The peer may echo the request; its credentials never reach a log line.
        Ok(body) if !body.is_empty() => format!(
            ": {}",
            crate::config::redact_secrets(&http::snippet(&body), secrets)
        ),
        Ok(_) => String::new(),
        Err(e) => format!(" ({e})"),
    };
    let reason = format!("{peer} answered HTTP {}{detail}", status.as_u16());
    let code = status.as_u16();
    if code == 408 || code == 429 || status.is_server_error() {
        Err(DeliveryError::Retry {
            reason,
            retry_after,
        })
    } else {
        // 400 (bad number, body refused), 401/403 (credentials), 402 (no money), 404
        // (wrong SID) and unexpected 1xx/3xx: sending the same request again will not
        // change the answer.
        Err(DeliveryError::Permanent(reason))
    }
}

/// One outcome for the event from the per-recipient outcomes: success only if every
/// recipient got it; a retry if any failure is worth retrying (the longest
/// `Retry-After` wins); else permanent.
pub(super) fn combine(
    outcomes: Vec<(&str, Result<(), DeliveryError>)>,
) -> Result<(), DeliveryError> {
    let total = outcomes.len();
    let mut failures = Vec::new();
    let mut retry = false;
    let mut retry_after = None;
    for (to, outcome) in outcomes {
        match outcome {
            Ok(()) => {}
            Err(DeliveryError::Retry {
                reason,
                retry_after: after,
            }) => {
                retry = true;
                retry_after = retry_after.max(after);
                failures.push(format!("{to}: {reason}"));
            }
            Err(DeliveryError::Permanent(reason)) => failures.push(format!("{to}: {reason}")),
        }
    }
    if failures.is_empty() {
        return Ok(());
    }
    let reason = if total == 1 {
        failures.remove(0)
    } else {
        format!(
            "{} of {total} recipients failed: {}",
            failures.len(),
            failures.join("; ")
        )
    };
    if retry {
        Err(DeliveryError::Retry {
            reason,
            retry_after,
        })
    } else {
        Err(DeliveryError::Permanent(reason))
    }
}

/// One GSM-7 segment.
pub const SMS_GSM7_LIMIT: usize = 160;
/// One UCS-2 segment, in UTF-16 code units.
pub const SMS_UCS2_LIMIT: usize = 70;

/// The longest values `sms_template_problem` assumes for each placeholder. A template
/// that fits one segment with these fits with any real event: a longer account name is
/// cut (ending in `...`) at send time; level, currency and event names are never
/// longer, and 16 characters hold a balance up to `-999,999,999.99`.
pub const TEMPLATE_BOUND_ACCOUNT: usize = 32;
pub const TEMPLATE_BOUND_LEVEL: usize = 8;
pub const TEMPLATE_BOUND_BALANCE: usize = 16;
pub const TEMPLATE_BOUND_CURRENCY: usize = 3;
pub const TEMPLATE_BOUND_EVENT: usize = 17;

/// GSM 03.38 basic character set (one septet each; ESC at 0x1B excluded).
const GSM7_BASIC: &str = "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?\
¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà";
/// GSM 03.38 extension table: each costs two septets (ESC + char).
const GSM7_EXTENSION: &str = "\u{0C}^{}\\[~]|€";

/// Septets `c` costs in GSM-7, or `None` when it forces UCS-2.
fn gsm7_units(c: char) -> Option<usize> {
    if GSM7_BASIC.contains(c) {
        Some(1)
    } else if GSM7_EXTENSION.contains(c) {
        Some(2)
    } else {
        None
    }
}

/// `(used, limit)` for one segment: GSM-7 septets out of 160 when every character is
/// GSM-7, else UTF-16 code units out of 70.
pub fn sms_length(text: &str) -> (usize, usize) {
    let gsm: Option<usize> = text.chars().map(gsm7_units).sum();
    match gsm {
        Some(units) => (units, SMS_GSM7_LIMIT),
        None => (text.encode_utf16().count(), SMS_UCS2_LIMIT),
    }
}

/// True when `text` fits one SMS segment.
pub fn sms_fits(text: &str) -> bool {
    let (used, limit) = sms_length(text);
    used <= limit
}

/// Replaces every character outside GSM-7 with `?`, so a stray `…` or emoji in an
/// error text does not shrink the segment from 160 to 70.
fn gsm7_sanitize(text: &str) -> String {
    text.chars()
        .map(|c| if gsm7_units(c).is_some() { c } else { '?' })
        .collect()
}

/// The first `n` characters of `text`, plus `...` when cut (`…` is not GSM-7).
fn cut(text: &str, n: usize) -> String {
    if text.chars().count() <= n {
        return text.to_string();
    }
    let mut out: String = text.chars().take(n).collect();
    out.push_str("...");
    out
}

/// Renders with the longest form of `account` that fits one segment: the full name,
/// then shorter cuts ending in `...`, then the same with non-GSM characters replaced
/// (a name that forces UCS-2 may leave too little room), and as a last resort the body
/// itself is cut so an SMS never spills into a second segment.
fn fit_account(account: &str, render: impl Fn(&str) -> String) -> String {
    let full = render(account);
    if sms_fits(&full) {
        return full;
    }
    let sanitized = gsm7_sanitize(account);
    for name in [account, sanitized.as_str()] {
        let len = name.chars().count();
        for n in (0..len).rev() {
            let body = render(&cut(name, n));
            if sms_fits(&body) {
                return body;
            }
        }
    }
    hard_cut(&render(&cut(&sanitized, 0)))
}

/// Cuts `text` to one segment (last resort: only reachable with values beyond the
/// documented bounds).
fn hard_cut(text: &str) -> String {
    let mut out = String::new();
    for c in text.chars() {
        out.push(c);
        if !sms_fits(&out) {
            out.pop();
            break;
        }
    }
    out
}

/// The longest error text the default `monitor_failing` SMS carries.
const SMS_ERROR_CHARS: usize = 60;

/// One SMS segment (160 GSM-7 characters, 70 when a character forces UCS-2) carrying at
/// least account, level and balance; `template` is a channel's `body_template`.
///
/// The default wording, e.g. `CRITICAL: Exotel primary balance 850.00 INR (below
/// 1,000). balance-alert`. A template (already validated by [`sms_template_problem`]) is
/// filled in; a template that does not parse is ignored in favour of the default, since
/// a message that goes out beats none.
pub fn sms_body(event: &Event, template: Option<&str>) -> String {
    // A summary has no one account for a template to name: it has its own form.
    if event.event == EventKind::Summary {
        return summary_sms(event);
    }
    if let Some(pieces) = template.and_then(|t| parse_template(t).ok()) {
        let values = TemplateValues::of(event);
        return fit_account(&event.account, |account| {
            fill_template(&pieces, account, &values)
        });
    }
    let balance = balance_text(event);
    let threshold = match (event.cause, event.runway_threshold_seconds) {
        // A runway crossing names the runway it crossed: "below 1d0h".
        (Some(crate::core::Cause::Runway), Some(secs)) => {
            Some(format!("runway {}", forecast::duration_short(secs)))
        }
        _ => event.threshold.map(group_digits),
    };
    let level = level_upper(event.level);
    let p = provider_name(event);
    let (prefix, detail) = match event.event {
        EventKind::Alert => (
            level.to_string(),
            threshold.map(|t| format!(" (below {t})")),
        ),
        EventKind::Reminder => (
            format!("STILL {level}"),
            threshold.map(|t| format!(" (below {t})")),
        ),
        EventKind::Improved => (
            format!("IMPROVED, {level}"),
            threshold.map(|t| format!(" (above {t})")),
        ),
        EventKind::Escalated => (
            format!("ESCALATED, STILL {level}"),
            threshold.map(|t| format!(" (below {t})")),
        ),
        EventKind::Resolved => (
            "RESOLVED".to_string(),
            threshold.map(|t| format!(" (above {t})")),
        ),
        EventKind::MonitorFailing => {
            let error = cut(&gsm7_sanitize(error_text(event)), SMS_ERROR_CHARS);
            return fit_account(&event.account, |account| {
                format!("MONITOR FAILING: cannot read {p} {account} balance: {error}. {SIGNATURE}")
            });
        }
        EventKind::MonitorRecovered => ("MONITOR OK".to_string(), None),
        EventKind::Test => ("TEST".to_string(), None),
        EventKind::ToppedUp => ("TOPPED UP".to_string(), None),
        EventKind::Summary => unreachable!("handled above"),
        EventKind::StateUnwritable => {
            let error = cut(&gsm7_sanitize(error_text(event)), SMS_ERROR_CHARS);
            return format!(
                "STATE UNWRITABLE: balance-alert cannot save state: {error}. {SIGNATURE}"
            );
        }
        EventKind::StateRecovered => {
            return format!("STATE OK: balance-alert saves its state again. {SIGNATURE}");
        }
    };
    let mut detail = detail.unwrap_or_default();
    if let Some(rise) = event.topup_amount {
        detail.push_str(&format!(", +{}", group_digits(rise)));
    }
    // The runway goes in when it fits; the account, level and balance always do.
    let future = forecast::runway_short(event);
    let with = fit_account(&event.account, |account| {
        format!("{prefix}: {p} {account} balance {balance}{detail}.{future} {SIGNATURE}")
    });
    if future.is_empty() || with.contains(event.account.as_str()) {
        return with;
    }
    fit_account(&event.account, |account| {
        format!("{prefix}: {p} {account} balance {balance}{detail}. {SIGNATURE}")
    })
}

/// The daily summary in one segment (SPEC §9.6): the count, then the accounts that are
/// not ok, worst first, as many as fit, then how many more there are.
fn summary_sms(event: &Event) -> String {
    let rows = forecast::worst_first(&event.accounts);
    let total = rows.len();
    let ok = rows
        .iter()
        .filter(|r| r.level == crate::core::Level::Ok)
        .count();
    let head = format!("SUMMARY {ok}/{total} ok.");
    let entry = |r: &crate::core::SummaryRow| {
        let balance = r.balance.map_or("?".to_string(), |b| {
            format!("{} {}", group_digits(b), r.currency)
        });
        let runway = r
            .runway_seconds
            .map(|s| format!(" ~{}", forecast::duration_short(s)))
            .unwrap_or_default();
        gsm7_sanitize(&format!(
            " {} {} {balance}{runway};",
            r.account,
            level_upper(r.level)
        ))
    };
    let mut body = head;
    for (i, row) in rows.iter().enumerate() {
        let left = total - i;
        let tail = |n: usize| {
            let all_ok = rows[total - n..]
                .iter()
                .all(|r| r.level == crate::core::Level::Ok);
            format!(" {n} more{}. {SIGNATURE}", if all_ok { " ok" } else { "" })
        };
        let candidate = format!("{body}{}", entry(row));
        let rest = left - 1;
        let closing = if rest == 0 {
            format!(" {SIGNATURE}")
        } else {
            tail(rest)
        };
        if row.level == crate::core::Level::Ok || !sms_fits(&format!("{candidate}{closing}")) {
            return format!("{body}{}", tail(left));
        }
        body = candidate;
    }
    format!("{body} {SIGNATURE}")
}

/// A placeholder of `body_template`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Field {
    Account,
    Level,
    Balance,
    Currency,
    Event,
}

impl Field {
    fn parse(name: &str) -> Option<Field> {
        Some(match name {
            "account" => Field::Account,
            "level" => Field::Level,
            "balance" => Field::Balance,
            "currency" => Field::Currency,
            "event" => Field::Event,
            _ => return None,
        })
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Piece {
    Text(String),
    Field(Field),
}

/// Parses a template: `{name}` is a placeholder, `{{` and `}}` are literal braces.
fn parse_template(template: &str) -> Result<Vec<Piece>, String> {
    const KNOWN: &str = "{account}, {level}, {balance}, {currency} or {event}";
    let mut pieces = Vec::new();
    let mut text = String::new();
    let mut chars = template.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '{' if chars.peek() == Some(&'{') => {
                chars.next();
                text.push('{');
            }
            '}' if chars.peek() == Some(&'}') => {
                chars.next();
                text.push('}');
            }
            '{' => {
                let mut name = String::new();
                loop {
                    match chars.next() {
                        Some('}') => break,
                        Some('{') | None => {
                            return Err(format!(
                                "unbalanced `{{` in body_template (write `{{{{` for a literal brace); \
                                 placeholders are {KNOWN}"
                            ));
                        }
                        Some(c) => name.push(c),
                    }
                }
                let field = Field::parse(&name).ok_or_else(|| {
                    format!("unknown placeholder {{{name}}} in body_template; use {KNOWN}")
                })?;
                if !text.is_empty() {
                    pieces.push(Piece::Text(std::mem::take(&mut text)));
                }
                pieces.push(Piece::Field(field));
            }
            '}' => {
                return Err(
                    "unbalanced `}` in body_template (write `}}` for a literal brace)".to_string(),
                );
            }
            c => text.push(c),
        }
    }
    if !text.is_empty() {
        pieces.push(Piece::Text(text));
    }
    Ok(pieces)
}

/// Placeholder values other than the account (which [`fit_account`] varies).
struct TemplateValues {
    level: String,
    balance: String,
    currency: String,
    event: String,
}

impl TemplateValues {
    fn of(event: &Event) -> Self {
        TemplateValues {
            level: event.level.as_str().to_string(),
            balance: event
                .balance
                .map(group_digits)
                .unwrap_or_else(|| "unknown".to_string()),
            currency: event.currency.clone(),
            event: event.event.as_str().to_string(),
        }
    }
}

fn fill_template(pieces: &[Piece], account: &str, values: &TemplateValues) -> String {
    let mut out = String::new();
    for piece in pieces {
        match piece {
            Piece::Text(t) => out.push_str(t),
            Piece::Field(Field::Account) => out.push_str(account),
            Piece::Field(Field::Level) => out.push_str(&values.level),
            Piece::Field(Field::Balance) => out.push_str(&values.balance),
            Piece::Field(Field::Currency) => out.push_str(&values.currency),
            Piece::Field(Field::Event) => out.push_str(&values.event),
        }
    }
    out
}

/// Validation of a `body_template`: `None` when it is fine, else what is wrong (unknown
/// placeholder, or it cannot fit one segment with the longest values).
///
/// The longest values are the `TEMPLATE_BOUND_*` constants (account 32, level 8,
/// balance 16, currency 3, event 17 characters), counted as one GSM-7 septet each, or
/// one UTF-16 unit each when the template's own text forces UCS-2.
pub fn sms_template_problem(template: &str) -> Option<String> {
    if template.trim().is_empty() {
        return Some("body_template is empty".to_string());
    }
    let pieces = match parse_template(template) {
        Ok(p) => p,
        Err(e) => return Some(e),
    };
    let worst = TemplateValues {
        level: "x".repeat(TEMPLATE_BOUND_LEVEL),
        balance: "9".repeat(TEMPLATE_BOUND_BALANCE),
        currency: "X".repeat(TEMPLATE_BOUND_CURRENCY),
        event: "x".repeat(TEMPLATE_BOUND_EVENT),
    };
    let body = fill_template(&pieces, &"x".repeat(TEMPLATE_BOUND_ACCOUNT), &worst);
    let (used, limit) = sms_length(&body);
    if used > limit {
        let unit = if limit == SMS_GSM7_LIMIT {
            "GSM-7 characters"
        } else {
            "UCS-2 units (the template has a character outside GSM-7)"
        };
        return Some(format!(
            "body_template does not fit one SMS segment: with the longest values (account \
             {TEMPLATE_BOUND_ACCOUNT}, level {TEMPLATE_BOUND_LEVEL}, balance \
             {TEMPLATE_BOUND_BALANCE}, currency {TEMPLATE_BOUND_CURRENCY}, event \
             {TEMPLATE_BOUND_EVENT} characters) it is {used} of {limit} {unit}"
        ));
    }
    None
}

#[cfg(test)]
mod tests {
    use rust_decimal::Decimal;

    use super::*;
    use crate::notify::test_events::*;

    #[test]
    fn sms_bodies_name_the_provider() {
        assert_eq!(
            sms_body(&twilio_alert(), None),
            "CRITICAL: Twilio us-voice balance 7.25 USD (below 10). balance-alert"
        );
        let body = sms_body(&telnyx_failing(), None);
        assert!(
            body.starts_with("MONITOR FAILING: cannot read Telnyx sip balance: HTTP 401"),
            "{body}"
        );
        assert!(sms_fits(&body), "{body}");
    }

    #[test]
    fn sms_default_bodies() {
        let cases = [
            (
                alert(),
                "CRITICAL: Exotel primary balance 850.00 INR (below 1,000). balance-alert",
            ),
            (
                improved(),
                "IMPROVED, WARNING: Exotel primary balance 1,600.00 INR (above 1,500). balance-alert",
            ),
            (
                resolved(),
                "RESOLVED: Exotel primary balance 7,000.00 INR (above 6,000). balance-alert",
            ),
            (
                reminder(),
                "STILL CRITICAL: Exotel primary balance 850.00 INR (below 1,000). balance-alert",
            ),
            (
                failing(),
                "MONITOR FAILING: cannot read Exotel primary balance: HTTP 401: Authentication failed (code 20003). balance-alert",
            ),
            (
                recovered(),
                "MONITOR OK: Exotel primary balance 1,543.75 INR. balance-alert",
            ),
            (
                test_event(),
                "TEST: Exotel primary balance unknown. balance-alert",
            ),
        ];
        for (event, expected) in cases {
            let body = sms_body(&event, None);
            assert_eq!(body, expected, "{:?}", event.event);
            assert!(sms_fits(&body));
        }
    }

    #[test]
    fn sms_cuts_a_long_account_name_with_ascii_dots() {
        let event = Event {
            account: "a-very-long-account-name-".repeat(10),
            ..alert()
        };
        let body = sms_body(&event, None);
        assert_eq!(sms_length(&body), (160, 160));
        assert!(body.starts_with("CRITICAL: Exotel a-very-long-account-name-a-very"));
        assert!(body.ends_with("... balance 850.00 INR (below 1,000). balance-alert"));
    }

    #[test]
    fn sms_with_a_ucs2_account_name_fits_70() {
        let event = Event {
            account: "मुख्य खाता".into(),
            ..alert()
        };
        let body = sms_body(&event, None);
        assert_eq!(
            body,
            "CRITICAL: Exotel मु... balance 850.00 INR (below 1,000). balance-alert"
        );
        assert_eq!(sms_length(&body), (70, 70));
        let (used, limit) = sms_length(&body);
        assert!(used <= limit, "{body:?} is {used} of {limit}");
        // The name forces UCS-2 and was too long for 70 units with the rest of the
        // message, so it was cut; the facts survive.
        assert!(body.contains("850.00 INR"), "{body}");
        assert!(body.starts_with("CRITICAL: Exotel "), "{body}");
    }

    #[test]
    fn sms_error_text_never_forces_ucs2() {
        let event = Event {
            error: Some("connection failed: “refused” …".into()),
            ..failing()
        };
        let body = sms_body(&event, None);
        assert_eq!(
            body,
            "MONITOR FAILING: cannot read Exotel primary balance: connection failed: ?refused? ?. balance-alert"
        );
        assert_eq!(sms_length(&body).1, 160);
    }

    #[test]
    fn sms_length_counts_extension_characters_twice() {
        assert_eq!(sms_length("abc"), (3, 160));
        assert_eq!(sms_length("a€[]"), (7, 160));
        assert_eq!(sms_length("@£$¥èé"), (6, 160));
        assert_eq!(sms_length("a`"), (2, 70));
        assert_eq!(sms_length("₹100"), (4, 70));
        // An emoji is two UTF-16 units.
        assert_eq!(sms_length("ok 🙂"), (5, 70));
        assert!(sms_fits(&"x".repeat(160)));
        assert!(!sms_fits(&"x".repeat(161)));
        assert!(!sms_fits(&"€".repeat(81)));
    }

    proptest::proptest! {
        #[test]
        fn every_sms_fits_one_segment(
            account in "\\PC{0,80}",
            balance in -1_000_000_000i64..1_000_000_000,
            kind in 0usize..10,
        ) {
            let kinds = [
                EventKind::Alert, EventKind::Improved, EventKind::Resolved, EventKind::Reminder,
                EventKind::MonitorFailing, EventKind::MonitorRecovered, EventKind::Test,
                EventKind::StateUnwritable, EventKind::StateRecovered, EventKind::Escalated,
            ];
            let event = Event {
                event: kinds[kind],
                account,
                balance: Some(Decimal::new(balance, 2)),
                error: Some("something went wrong".into()),
                ..alert()
            };
            let body = sms_body(&event, None);
            proptest::prop_assert!(sms_fits(&body), "{body:?}");
            let templated = sms_body(&event, Some("{level} {event}: Exotel {account} balance {balance} {currency}"));
            proptest::prop_assert!(sms_fits(&templated), "{templated:?}");
        }
    }

    #[test]
    fn sms_template_fills_placeholders() {
        let template =
            "Exotel acct {account} is {level} ({event}): balance {balance} {currency}. {{ACME}}";
        assert_eq!(sms_template_problem(template), None);
        assert_eq!(
            sms_body(&alert(), Some(template)),
            "Exotel acct primary is critical (alert): balance 850.00 INR. {ACME}"
        );
        assert_eq!(
            sms_body(&failing(), Some(template)),
            "Exotel acct primary is critical (monitor_failing): balance unknown INR. {ACME}"
        );
    }

    #[test]
    fn sms_template_cuts_the_account_to_fit() {
        let template = format!("{}{{account}}", "x".repeat(100));
        assert_eq!(sms_template_problem(&template), None);
        let event = Event {
            account: "y".repeat(100),
            ..alert()
        };
        let body = sms_body(&event, Some(&template));
        assert_eq!(body, format!("{}{}...", "x".repeat(100), "y".repeat(57)));
        assert_eq!(sms_length(&body), (160, 160));
    }

    #[test]
    fn sms_template_problems() {
        let unknown = sms_template_problem("Balance {#var#} low").unwrap();
        assert_eq!(
            unknown,
            "unknown placeholder {#var#} in body_template; use {account}, {level}, {balance}, {currency} or {event}"
        );
        assert_eq!(
            sms_template_problem("Balance {balance low").unwrap(),
            "unbalanced `{` in body_template (write `{{` for a literal brace); placeholders are {account}, {level}, {balance}, {currency} or {event}"
        );
        assert_eq!(
            sms_template_problem("Balance balance} low").unwrap(),
            "unbalanced `}` in body_template (write `}}` for a literal brace)"
        );
        assert_eq!(
            sms_template_problem("  ").unwrap(),
            "body_template is empty"
        );
        // 84 characters of text plus the worst case of all five placeholders (76) is 160:
        // fits; one more does not.
        let fixed = "y".repeat(84);
        let fits = format!("{fixed}{{account}}{{level}}{{balance}}{{currency}}{{event}}");
        assert_eq!(sms_template_problem(&fits), None);
        let too_long = format!("{fits}z");
        assert_eq!(
            sms_template_problem(&too_long).unwrap(),
            "body_template does not fit one SMS segment: with the longest values (account 32, level 8, balance 16, currency 3, event 17 characters) it is 161 of 160 GSM-7 characters"
        );
        // A character outside GSM-7 shrinks the budget to 70 UCS-2 units.
        assert_eq!(
            sms_template_problem("शेष {balance} {currency} {account} {level} {event}").unwrap(),
            "body_template does not fit one SMS segment: with the longest values (account 32, level 8, balance 16, currency 3, event 17 characters) it is 84 of 70 UCS-2 units (the template has a character outside GSM-7)"
        );
    }
}
