//! Every message, built as a pure function of the [`Event`] (and the display time zone),
//! so all channels say the same facts in their own form and each form is tested against
//! exact expected output.
//!
//! This module owns what every channel shares: the wording (headline and one-sentence
//! summary per event kind), the list of facts every message carries (SPEC §4), the
//! plain-text body, and amount formatting. Each channel's own form (Slack blocks, HTML
//! mail, the webhook body) is built in the channel's file; SMS bodies in [`super::sms`].

use std::fmt::Write as _;

use rust_decimal::Decimal;

use super::forecast;
use crate::core::{Cause, Event, EventKind, Level};

/// Rendering settings shared by all channels.
#[derive(Debug, Clone, Default)]
pub struct RenderCtx {
    /// `[daemon] timezone`: human-facing times are also shown in this zone.
    pub timezone: Option<(String, jiff::tz::TimeZone)>,
    /// `[daemon] instance` (SPEC §11.3): which of an HA pair speaks, in every message.
    pub instance: Option<String>,
}

/// Who signs every message; short so it fits an SMS.
pub(super) const SIGNATURE: &str = "balance-alert";

/// The longest error text a headline carries; the full text is in the facts.
const HEADLINE_ERROR_CHARS: usize = 120;

pub(super) fn level_upper(level: Level) -> &'static str {
    match level {
        Level::Ok => "OK",
        Level::Warning => "WARNING",
        Level::Critical => "CRITICAL",
    }
}

/// `850.00 INR`, or `unknown` when the event carries no balance (a monitor that never
/// read one).
pub(super) fn balance_text(event: &Event) -> String {
    match event.balance {
        Some(b) => format_amount(b, &event.currency),
        None => "unknown".to_string(),
    }
}

/// Cuts `text` to at most `max` characters, marking the cut with `…` (for channels that
/// take any Unicode; SMS uses its own GSM-safe cut).
pub(super) fn shorten(text: &str, max: usize) -> String {
    if text.chars().count() <= max {
        return text.to_string();
    }
    let mut out: String = text.chars().take(max.saturating_sub(1)).collect();
    out.push('…');
    out
}

/// The error of a `monitor_failing` event, never empty.
pub(super) fn error_text(event: &Event) -> &str {
    event
        .error
        .as_deref()
        .filter(|e| !e.trim().is_empty())
        .unwrap_or("unknown error")
}

/// The provider's name as people write it ("Exotel", "Twilio"), for the wording.
pub(super) fn provider_name(event: &Event) -> &'static str {
    crate::provider::display_name(&event.provider)
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
    let p = provider_name(event);
    let level = level_upper(event.level);
    match event.event {
        EventKind::Alert if event.cause == Some(Cause::Runway) => format!(
            "[{level}] {p} balance runs out soon: {account} {}{}",
            balance_text(event),
            runway_left(event)
        ),
        EventKind::Reminder if event.cause == Some(Cause::Runway) => format!(
            "[{level}] Reminder, {p} balance runs out soon: {account} {}{}",
            balance_text(event),
            runway_left(event)
        ),
        EventKind::Alert => {
            format!(
                "[{level}] {p} balance low: {account} {}",
                balance_text(event)
            )
        }
        EventKind::Improved => format!(
            "[{level}] {p} balance improved: {account} {}, no longer critical",
            balance_text(event)
        ),
        EventKind::Resolved => format!(
            "[OK] {p} balance recovered: {account} {}",
            balance_text(event)
        ),
        EventKind::Reminder => format!(
            "[{level}] Reminder, {p} balance still low: {account} {}",
            balance_text(event)
        ),
        EventKind::Escalated => format!(
            "[{level}] Escalated, {p} balance still low: {account} {}",
            balance_text(event)
        ),
        EventKind::MonitorFailing => format!(
            "[MONITOR FAILING] Cannot read {p} balance of {account}: {}",
            shorten(error_text(event), HEADLINE_ERROR_CHARS)
        ),
        EventKind::MonitorRecovered => match event.balance {
            Some(_) => format!(
                "[OK] {p} balance monitor recovered: {account} {}",
                balance_text(event)
            ),
            None => format!("[OK] {p} balance monitor recovered: {account}"),
        },
        EventKind::Test => match event.balance {
            Some(_) => format!(
                "[TEST] balance-alert test message: {account} {}",
                balance_text(event)
            ),
            None => format!("[TEST] balance-alert test message: {account}"),
        },
        EventKind::ToppedUp => format!(
            "[{level}] {p} balance topped up: {account} {}",
            balance_text(event)
        ),
        EventKind::Summary => {
            let (total, ok) = summary_counts(event);
            format!(
                "[SUMMARY] balance-alert daily summary: {total} account{}, {ok} ok",
                if total == 1 { "" } else { "s" }
            )
        }
        EventKind::StateUnwritable => format!(
            "[STATE UNWRITABLE] balance-alert cannot save its state, monitoring goes on: {}",
            shorten(error_text(event), HEADLINE_ERROR_CHARS)
        ),
        EventKind::StateRecovered => "[OK] balance-alert saves its state again".to_string(),
    }
}

/// `, about 2 days 15 hours left` when the runway is known.
fn runway_left(event: &Event) -> String {
    event
        .runway_seconds
        .map(|s| format!(", about {} left", forecast::duration_words(s)))
        .unwrap_or_default()
}

/// The threshold as the reader needs it: which side was crossed, in the event's
/// currency. `None` where no threshold applies.
fn threshold_text(event: &Event) -> Option<String> {
    if event.cause == Some(Cause::Runway) {
        return forecast::runway_threshold_text(event);
    }
    let threshold = event.threshold?;
    let amount = format_amount(threshold, &event.currency);
    Some(match event.event {
        // For improved/resolved the threshold is the `clear_above` that was crossed.
        EventKind::Improved | EventKind::Resolved => format!("above {amount}"),
        _ => format!("below {amount}"),
    })
}

/// What the long forms (email, Slack, console) say first: the explaining sentence, then
/// the top-up and the runway sentence when the event carries them (SPEC §9.3, §9.4).
pub(super) fn summary(event: &Event, ctx: &RenderCtx) -> String {
    let mut out = explain(event);
    if let Some(t) = forecast::topup_sentence(event) {
        out.push(' ');
        out.push_str(&t);
    }
    if let Some(r) = forecast::runway_sentence(event, ctx) {
        out.push(' ');
        out.push_str(&r);
    }
    out
}

/// One sentence explaining the event.
fn explain(event: &Event) -> String {
    let account = &event.account;
    let p = provider_name(event);
    let level = event.level.as_str();
    let threshold = threshold_text(event);
    let runway = event.cause == Some(Cause::Runway);
    match event.event {
        EventKind::Alert if runway => match threshold {
            Some(t) => format!(
                "At the current spend the {p} balance of {account} runs out soon ({t}): \
                 level {level}. Top up the account."
            ),
            None => format!("The {p} balance of {account} runs out soon: level {level}."),
        },
        EventKind::Reminder if runway => match threshold {
            Some(t) => {
                format!("The {p} balance of {account} still runs out soon ({t}): level {level}.")
            }
            None => format!("The {p} balance of {account} still runs out soon: level {level}."),
        },
        EventKind::Improved | EventKind::Resolved if runway => match threshold {
            Some(t) => {
                format!("The {p} balance of {account} lasts longer again ({t}): level {level}.")
            }
            None => format!("The {p} balance of {account} lasts longer again: level {level}."),
        },
        EventKind::Alert => match threshold {
            Some(t) => {
                format!("The {p} balance of {account} is {t}: level {level}. Top up the account.")
            }
            None => format!("The {p} balance of {account} is at level {level}."),
        },
        EventKind::Improved => match threshold {
            Some(t) => {
                format!("The {p} balance of {account} rose {t}: no longer critical, still {level}.")
            }
            None => {
                format!("The {p} balance of {account} is no longer critical, still {level}.")
            }
        },
        EventKind::Resolved => match threshold {
            Some(t) => format!("The {p} balance of {account} is back {t}: level ok."),
            None => format!("The {p} balance of {account} is back to level ok."),
        },
        EventKind::Reminder => match threshold {
            Some(t) => format!("The {p} balance of {account} is still {t}: level {level}."),
            None => format!("The {p} balance of {account} is still at level {level}."),
        },
        EventKind::Escalated => match threshold {
            Some(t) => format!(
                "Escalated: the {p} balance of {account} is still {t} (level {level}) and \
                 nobody has fixed it. Top up the account."
            ),
            None => format!(
                "Escalated: the {p} balance of {account} is still at level {level} and \
                 nobody has fixed it. Top up the account."
            ),
        },
        EventKind::MonitorFailing => format!(
            "balance-alert cannot read the {p} balance of {account}, so its level is not \
             being checked: {}",
            error_text(event)
        ),
        EventKind::MonitorRecovered => format!(
            "balance-alert reads the {p} balance of {account} again; its level is being \
             checked."
        ),
        EventKind::Test => {
            format!("This is a test message from balance-alert for {account}; no action is needed.")
        }
        EventKind::ToppedUp => {
            format!("The {p} balance of {account} was topped up: level {level}.")
        }
        EventKind::Summary => {
            let (total, ok) = summary_counts(event);
            format!(
                "Daily summary of {total} account{}: {ok} ok, {} not ok.",
                if total == 1 { "" } else { "s" },
                total - ok
            )
        }
        EventKind::StateUnwritable => format!(
            "balance-alert cannot write its state ({}). Balances are still checked and alerts \
             still sent, from memory; levels and pending messages would be lost if it stopped \
             before the disk is fixed (free space, fix permissions or the path).",
            error_text(event)
        ),
        EventKind::StateRecovered => {
            "balance-alert writes its state again; what it kept in memory is saved.".to_string()
        }
    }
}

/// The labelled facts every message carries (SPEC §4).
///
/// Absent values (no threshold, no pricing plan, no `DateUpdated`) are left out rather
/// than shown as blanks. Times: Exotel's `DateUpdated` verbatim (it has no zone), the
/// observation time in UTC to the second, and in `ctx.timezone` when one is set.
pub fn facts(event: &Event, ctx: &RenderCtx) -> Vec<(&'static str, String)> {
    if matches!(
        event.event,
        EventKind::StateUnwritable | EventKind::StateRecovered
    ) {
        // About the daemon itself: no account, balance or level to show.
        let mut out = Vec::new();
        if let Some(e) = event.error.as_deref() {
            out.push(("Error", e.to_string()));
        }
        out.push((
            "Observed at",
            event.observed_at.strftime("%Y-%m-%dT%H:%M:%SZ").to_string(),
        ));
        return out;
    }
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
    if let Some(t) = threshold_text(event).filter(|_| event.cause != Some(Cause::Runway)) {
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
    if event.event != EventKind::MonitorFailing {
        out.extend(forecast::runway_facts(event, ctx));
    }
    if let Some(instance) = &ctx.instance {
        out.push(("Instance", instance.clone()));
    }
    out
}

/// Plain-text body (email, console).
pub fn text_body(event: &Event, ctx: &RenderCtx) -> String {
    if event.event == EventKind::Summary {
        // A mail can be long; this bound only keeps 10,000 accounts from making it huge.
        let mut out = forecast::summary_lines(&event.accounts, 200_000).join("\n");
        let _ = write!(out, "\n\nSent by {SIGNATURE}.\n");
        return out;
    }
    let facts = facts(event, ctx);
    let width = facts.iter().map(|(k, _)| k.len()).max().unwrap_or(0) + 1;
    let mut out = summary(event, ctx);
    out.push_str("\n\n");
    for (label, value) in &facts {
        let label = format!("{label}:");
        let _ = writeln!(out, "{label:<width$} {value}");
    }
    let _ = write!(out, "\nSent by {SIGNATURE}.\n");
    out
}

/// Digits of `amount` with `,` every three places in the integer part, keeping the
/// decimal's own scale: `1543.75` → `1,543.75`, `-2500.00` → `-2,500.00`.
pub fn group_digits(amount: Decimal) -> String {
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

/// A summary's account count and how many of them are ok.
fn summary_counts(event: &Event) -> (usize, usize) {
    let ok = event
        .accounts
        .iter()
        .filter(|r| r.level == Level::Ok)
        .count();
    (event.accounts.len(), ok)
}

#[cfg(test)]
mod tests;
