//! Every message, built as a pure function of the [`Event`] (and the display time zone),
//! so all channels say the same facts in their own form and each form is tested against
//! exact expected output.
//!
//! This module owns the wording (headline and one-sentence summary per event kind), the
//! list of facts every message carries (SPEC §4), amount formatting, and the SMS rules:
//! one segment (160 GSM-7 units, 70 UTF-16 units once a character forces UCS-2) and the
//! `body_template` language. Channels only send what is built here.

use std::fmt::Write as _;

use rust_decimal::Decimal;
use serde_json::json;

use crate::core::{Event, EventKind, Level};

/// Rendering settings shared by all channels.
#[derive(Debug, Clone, Default)]
pub struct RenderCtx {
    /// `[daemon] timezone`: human-facing times are also shown in this zone.
    pub timezone: Option<(String, jiff::tz::TimeZone)>,
}

/// Who signs every message; short so it fits an SMS.
const SIGNATURE: &str = "balance-alert";

/// The longest error text a headline carries; the full text is in the facts.
const HEADLINE_ERROR_CHARS: usize = 120;

fn level_upper(level: Level) -> &'static str {
    match level {
        Level::Ok => "OK",
        Level::Warning => "WARNING",
        Level::Critical => "CRITICAL",
    }
}

/// `850.00 INR`, or `unknown` when the event carries no balance (a monitor that never
/// read one).
fn balance_text(event: &Event) -> String {
    match event.balance {
        Some(b) => format_amount(b, &event.currency),
        None => "unknown".to_string(),
    }
}

/// Cuts `text` to at most `max` characters, marking the cut with `…` (for channels that
/// take any Unicode; SMS uses its own GSM-safe cut).
fn shorten(text: &str, max: usize) -> String {
    if text.chars().count() <= max {
        return text.to_string();
    }
    let mut out: String = text.chars().take(max.saturating_sub(1)).collect();
    out.push('…');
    out
}

/// The error of a `monitor_failing` event, never empty.
fn error_text(event: &Event) -> &str {
    event
        .error
        .as_deref()
        .filter(|e| !e.trim().is_empty())
        .unwrap_or("unknown error")
}

/// One line saying what happened, e.g. `[CRITICAL] Exotel balance low: primary 850.00 INR`.
/// Also the email subject and the Slack `text` fallback.
pub fn headline(event: &Event) -> String {
    // One line, always: it becomes a mail header and a notification title, so a newline
    // from an account name or an error text must not survive.
    one_line(&headline_raw(event))
}

fn one_line(text: &str) -> String {
    text.chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect()
}

fn headline_raw(event: &Event) -> String {
    let account = &event.account;
    let level = level_upper(event.level);
    match event.event {
        EventKind::Alert => {
            format!(
                "[{level}] Exotel balance low: {account} {}",
                balance_text(event)
            )
        }
        EventKind::Improved => format!(
            "[{level}] Exotel balance improved: {account} {}, no longer critical",
            balance_text(event)
        ),
        EventKind::Resolved => format!(
            "[OK] Exotel balance recovered: {account} {}",
            balance_text(event)
        ),
        EventKind::Reminder => format!(
            "[{level}] Reminder, Exotel balance still low: {account} {}",
            balance_text(event)
        ),
        EventKind::MonitorFailing => format!(
            "[MONITOR FAILING] Cannot read Exotel balance of {account}: {}",
            shorten(error_text(event), HEADLINE_ERROR_CHARS)
        ),
        EventKind::MonitorRecovered => match event.balance {
            Some(_) => format!(
                "[OK] Exotel balance monitor recovered: {account} {}",
                balance_text(event)
            ),
            None => format!("[OK] Exotel balance monitor recovered: {account}"),
        },
        EventKind::Test => match event.balance {
            Some(_) => format!(
                "[TEST] balance-alert test message: {account} {}",
                balance_text(event)
            ),
            None => format!("[TEST] balance-alert test message: {account}"),
        },
    }
}

/// The threshold as the reader needs it: which side was crossed, in the event's
/// currency. `None` where no threshold applies.
fn threshold_text(event: &Event) -> Option<String> {
    let threshold = event.threshold?;
    let amount = format_amount(threshold, &event.currency);
    Some(match event.event {
        // For improved/resolved the threshold is the `clear_above` that was crossed.
        EventKind::Improved | EventKind::Resolved => format!("above {amount}"),
        _ => format!("below {amount}"),
    })
}

/// One sentence explaining the event, used by the long forms (email, Slack, console).
fn summary(event: &Event) -> String {
    let account = &event.account;
    let level = event.level.as_str();
    let threshold = threshold_text(event);
    match event.event {
        EventKind::Alert => match threshold {
            Some(t) => format!(
                "The Exotel balance of {account} is {t}: level {level}. Top up the account."
            ),
            None => format!("The Exotel balance of {account} is at level {level}."),
        },
        EventKind::Improved => match threshold {
            Some(t) => format!(
                "The Exotel balance of {account} rose {t}: no longer critical, still {level}."
            ),
            None => {
                format!("The Exotel balance of {account} is no longer critical, still {level}.")
            }
        },
        EventKind::Resolved => match threshold {
            Some(t) => format!("The Exotel balance of {account} is back {t}: level ok."),
            None => format!("The Exotel balance of {account} is back to level ok."),
        },
        EventKind::Reminder => match threshold {
            Some(t) => format!("The Exotel balance of {account} is still {t}: level {level}."),
            None => format!("The Exotel balance of {account} is still at level {level}."),
        },
        EventKind::MonitorFailing => format!(
            "balance-alert cannot read the Exotel balance of {account}, so its level is not \
             being checked: {}",
            error_text(event)
        ),
        EventKind::MonitorRecovered => format!(
            "balance-alert reads the Exotel balance of {account} again; its level is being \
             checked."
        ),
        EventKind::Test => {
            format!("This is a test message from balance-alert for {account}; no action is needed.")
        }
    }
}

/// The labelled facts every message carries (SPEC §4).
///
/// Absent values (no threshold, no pricing plan, no `DateUpdated`) are left out rather
/// than shown as blanks. Times: Exotel's `DateUpdated` verbatim (it has no zone), the
/// observation time in UTC to the second, and in `ctx.timezone` when one is set.
pub fn facts(event: &Event, ctx: &RenderCtx) -> Vec<(&'static str, String)> {
    let mut out: Vec<(&'static str, String)> = vec![
        ("Account", event.account.clone()),
        ("Account SID", event.sid.clone()),
    ];
    if event.event == EventKind::MonitorFailing {
        out.push(("Error", error_text(event).to_string()));
        // A failing monitor has at best an old reading: say so.
        if let Some(b) = event.balance {
            out.push(("Last known balance", format_amount(b, &event.currency)));
        }
    } else {
        out.push(("Balance", balance_text(event)));
        if let Some(e) = event.error.as_deref().filter(|e| !e.trim().is_empty()) {
            out.push(("Error", e.to_string()));
        }
    }
    out.push(("Level", event.level.as_str().to_string()));
    if let Some(previous) = event.previous_level {
        out.push(("Previous level", previous.as_str().to_string()));
    }
    if let Some(t) = threshold_text(event) {
        out.push(("Threshold", t));
    }
    if let Some(plan) = &event.pricing_plan {
        out.push(("Pricing plan", plan.clone()));
    }
    if let Some(date) = &event.date_updated {
        out.push((
            "Exotel DateUpdated",
            format!("{date} (as reported by Exotel, no time zone)"),
        ));
    }
    out.push((
        "Observed at",
        event.observed_at.strftime("%Y-%m-%dT%H:%M:%SZ").to_string(),
    ));
    if let Some((name, tz)) = &ctx.timezone {
        let local = event.observed_at.to_zoned(tz.clone());
        out.push((
            "Observed at (local)",
            format!("{} ({name})", local.strftime("%Y-%m-%d %H:%M:%S %:z")),
        ));
    }
    out
}

/// Plain-text body (email, console).
pub fn text_body(event: &Event, ctx: &RenderCtx) -> String {
    let facts = facts(event, ctx);
    let width = facts.iter().map(|(k, _)| k.len()).max().unwrap_or(0) + 1;
    let mut out = summary(event);
    out.push_str("\n\n");
    for (label, value) in &facts {
        let label = format!("{label}:");
        let _ = writeln!(out, "{label:<width$} {value}");
    }
    let _ = write!(out, "\nSent by {SIGNATURE}.\n");
    out
}

/// Escapes text for HTML element content and attribute values.
fn html_escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// Plain-text email body and optional HTML alternative are [`text_body`] and
/// [`email_html`]; the subject is [`headline`].
///
/// Deliberately plain markup (one table, inline style) so every mail client shows the
/// same thing; every value is escaped because account names, plans and error texts come
/// from the config or from a peer.
pub fn email_html(event: &Event, ctx: &RenderCtx) -> String {
    let mut out = String::new();
    out.push_str("<!DOCTYPE html>\n<html>\n<head><meta charset=\"utf-8\"><title>");
    out.push_str(&html_escape(&headline(event)));
    out.push_str("</title></head>\n<body style=\"font-family: sans-serif\">\n<p>");
    out.push_str(&html_escape(&summary(event)));
    out.push_str("</p>\n<table cellpadding=\"4\">\n");
    for (label, value) in facts(event, ctx) {
        let _ = writeln!(
            out,
            "<tr><th align=\"left\">{}</th><td>{}</td></tr>",
            html_escape(label),
            html_escape(&value)
        );
    }
    let _ = write!(
        out,
        "</table>\n<p style=\"color: #666666\">Sent by {SIGNATURE}.</p>\n</body>\n</html>\n"
    );
    out
}

/// Escapes text for Slack `mrkdwn` (Slack asks for exactly these three).
fn slack_escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

/// Slack limits: header text 150 characters, a section field 2000, ten fields per
/// section.
const SLACK_HEADER_MAX: usize = 150;
const SLACK_FIELD_MAX: usize = 1900;
const SLACK_FIELDS_PER_SECTION: usize = 10;

/// Slack incoming-webhook payload: Block Kit blocks plus the `text` fallback.
///
/// `text` is the headline (what notifications and old clients show); the blocks are a
/// header, the summary, the facts as two-column fields and a context line with the event
/// kind and id (to match a Slack message with logs and webhook deliveries).
pub fn slack_payload(event: &Event, ctx: &RenderCtx) -> serde_json::Value {
    let headline = headline(event);
    let mut blocks = vec![
        json!({
            "type": "header",
            "text": {"type": "plain_text", "text": shorten(&headline, SLACK_HEADER_MAX), "emoji": true}
        }),
        json!({
            "type": "section",
            "text": {"type": "mrkdwn", "text": shorten(&slack_escape(&summary(event)), SLACK_FIELD_MAX)}
        }),
    ];
    let fields: Vec<serde_json::Value> = facts(event, ctx)
        .into_iter()
        .map(|(label, value)| {
            json!({
                "type": "mrkdwn",
                "text": shorten(&format!("*{label}*\n{}", slack_escape(&value)), SLACK_FIELD_MAX)
            })
        })
        .collect();
    for chunk in fields.chunks(SLACK_FIELDS_PER_SECTION) {
        blocks.push(json!({"type": "section", "fields": chunk}));
    }
    blocks.push(json!({
        "type": "context",
        "elements": [{
            "type": "mrkdwn",
            "text": format!("{SIGNATURE} · event `{}` · id `{}`", event.event.as_str(), slack_escape(&event.id))
        }]
    }));
    json!({"text": headline, "blocks": blocks})
}

/// The `webhook` channel body: the event as its stable JSON object.
pub fn webhook_body(event: &Event) -> String {
    serde_json::to_string(event).expect("an Event always serializes")
}

/// Digits of `amount` with `,` every three places in the integer part, keeping the
/// decimal's own scale: `1543.75` → `1,543.75`, `-2500.00` → `-2,500.00`.
fn group_digits(amount: Decimal) -> String {
    let text = amount.to_string();
    // A zero never reads as negative (`-0.00` can come out of arithmetic).
    let (negative, digits) = match text.strip_prefix('-') {
        Some(rest) if !amount.is_zero() => (true, rest),
        Some(rest) => (false, rest),
        None => (false, text.as_str()),
    };
    let (int_part, frac_part) = match digits.split_once('.') {
        Some((i, f)) => (i, Some(f)),
        None => (digits, None),
    };
    let mut out = String::with_capacity(text.len() + int_part.len() / 3 + 1);
    if negative {
        out.push('-');
    }
    for (i, c) in int_part.chars().enumerate() {
        if i > 0 && (int_part.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(c);
    }
    if let Some(f) = frac_part {
        out.push('.');
        out.push_str(f);
    }
    out
}

/// `1,543.75 INR`.
pub fn format_amount(amount: Decimal, currency: &str) -> String {
    let digits = group_digits(amount);
    if currency.is_empty() {
        digits
    } else {
        format!("{digits} {currency}")
    }
}

// ---------------------------------------------------------------------------------
// SMS
// ---------------------------------------------------------------------------------

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
    if let Some(pieces) = template.and_then(|t| parse_template(t).ok()) {
        let values = TemplateValues::of(event);
        return fit_account(&event.account, |account| {
            fill_template(&pieces, account, &values)
        });
    }
    let balance = balance_text(event);
    let threshold = event.threshold.map(group_digits);
    let level = level_upper(event.level);
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
        EventKind::Resolved => (
            "RESOLVED".to_string(),
            threshold.map(|t| format!(" (above {t})")),
        ),
        EventKind::MonitorFailing => {
            let error = cut(&gsm7_sanitize(error_text(event)), SMS_ERROR_CHARS);
            return fit_account(&event.account, |account| {
                format!(
                    "MONITOR FAILING: cannot read Exotel {account} balance: {error}. {SIGNATURE}"
                )
            });
        }
        EventKind::MonitorRecovered => ("MONITOR OK".to_string(), None),
        EventKind::Test => ("TEST".to_string(), None),
    };
    let detail = detail.unwrap_or_default();
    fit_account(&event.account, |account| {
        format!("{prefix}: Exotel {account} balance {balance}{detail}. {SIGNATURE}")
    })
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
mod tests;
