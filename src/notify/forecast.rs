//! The words every channel uses to tell the future (SPEC §9.3) and the daily summary
//! (§9.6): spend per day, runway and depletion time in words, runway thresholds, top-up
//! amounts, and the summary's lines, worst first. Pure functions of the [`Event`] and
//! the display time zone, so every channel says the same thing in its own form.

use rust_decimal::Decimal;

use super::render::{RenderCtx, format_amount, group_digits, level_upper};
use crate::core::{Event, EventKind, Level, SummaryRow};

/// `2 days 15 hours`, `5 hours 10 minutes`, `45 minutes`, `less than a minute`: the two
/// largest units, rounded down (a runway is never promised longer than estimated).
pub fn duration_words(secs: u64) -> String {
    let units = [(86_400, "day"), (3_600, "hour"), (60, "minute")];
    let mut parts = Vec::new();
    let mut rest = secs;
    for (size, name) in units {
        let n = rest / size;
        rest %= size;
        if n > 0 || !parts.is_empty() {
            if n > 0 {
                parts.push(format!("{n} {name}{}", if n == 1 { "" } else { "s" }));
            }
            if parts.len() == 2 || (!parts.is_empty() && n == 0) {
                break;
            }
        }
    }
    if parts.is_empty() {
        "less than a minute".to_string()
    } else {
        parts.join(" ")
    }
}

/// Compact form for SMS: `2d15h`, `5h10m`, `45m`.
pub fn duration_short(secs: u64) -> String {
    let (d, h, m) = (secs / 86_400, secs % 86_400 / 3_600, secs % 3_600 / 60);
    match (d, h) {
        (0, 0) => format!("{m}m"),
        (0, _) => format!("{h}h{m:02}m"),
        _ => format!("{d}d{h}h"),
    }
}

/// The span the rate was measured over, coarsely: `3 days`, `18 hours`, `40 minutes`.
fn span_words(secs: u64) -> String {
    let (n, unit) = if secs >= 2 * 86_400 {
        ((secs + 43_200) / 86_400, "day")
    } else if secs >= 2 * 3_600 {
        ((secs + 1_800) / 3_600, "hour")
    } else {
        ((secs + 30) / 60, "minute")
    };
    format!("{n} {unit}{}", if n == 1 { "" } else { "s" })
}

/// `₹1,850`: a symbol for the common currencies, the code after the amount otherwise;
/// whole units from 100 up (a daily rate is an estimate), cents below.
pub fn money(amount: Decimal, currency: &str) -> String {
    let dp = if amount.abs() >= Decimal::ONE_HUNDRED {
        0
    } else {
        2
    };
    let mut rounded =
        amount.round_dp_with_strategy(dp, rust_decimal::RoundingStrategy::MidpointAwayFromZero);
    rounded.rescale(dp);
    let symbol = match currency {
        "INR" => Some("₹"),
        "USD" => Some("$"),
        "EUR" => Some("€"),
        "GBP" => Some("£"),
        _ => None,
    };
    match symbol {
        Some(s) => format!("{s}{}", group_digits(rounded)),
        None => format_amount(rounded, currency),
    }
}

/// `Fri 6 Dec 14:00 IST` in `[daemon] timezone`, else UTC.
pub fn when_words(at: jiff::Timestamp, ctx: &RenderCtx) -> String {
    let tz = ctx
        .timezone
        .as_ref()
        .map_or(jiff::tz::TimeZone::UTC, |(_, tz)| tz.clone());
    at.to_zoned(tz).strftime("%a %-d %b %H:%M %Z").to_string()
}

/// The runway sentence, e.g. `At ₹1,850/day (last 3 days) this lasts about 2 days 15
/// hours — until Fri 6 Dec 14:00 IST.`; `None` when the burn rate is not known.
pub fn runway_sentence(event: &Event, ctx: &RenderCtx) -> Option<String> {
    let burn = event.burn_per_day?;
    let rate = format!("{}/day", money(burn, &event.currency));
    let over = event
        .burn_window_seconds
        .map(|s| format!(" (last {})", span_words(s)))
        .unwrap_or_default();
    Some(match (event.runway_seconds, event.depletes_at) {
        (Some(0), _) => format!("At {rate}{over} the balance is already at its floor."),
        (Some(secs), Some(until)) => format!(
            "At {rate}{over} this lasts about {} — until {}.",
            duration_words(secs),
            when_words(until, ctx)
        ),
        (Some(secs), None) => format!("At {rate}{over} this lasts about {}.", duration_words(secs)),
        // Known rate, no finite runway: nothing is being spent.
        (None, _) => format!("At {rate}{over} the balance is not running down."),
    })
}

/// For SMS: ` Lasts ~2d15h.` or empty.
pub fn runway_short(event: &Event) -> String {
    match (event.burn_per_day, event.runway_seconds) {
        (Some(_), Some(secs)) => format!(" Lasts ~{}.", duration_short(secs)),
        _ => String::new(),
    }
}

/// `runway below 4 days` / `runway above 5 days`, for a runway-caused event.
pub fn runway_threshold_text(event: &Event) -> Option<String> {
    let secs = event.runway_threshold_seconds?;
    let side = match event.event {
        EventKind::Improved | EventKind::Resolved => "above",
        _ => "below",
    };
    Some(format!("runway {side} {}", duration_words(secs)))
}

/// `Topped up by 10,000.00 INR.` when the event carries a top-up.
pub fn topup_sentence(event: &Event) -> Option<String> {
    event
        .topup_amount
        .map(|a| format!("Topped up by {}.", format_amount(a, &event.currency)))
}

/// The facts runway adds to the long forms (email, Slack, console).
pub fn runway_facts(event: &Event, ctx: &RenderCtx) -> Vec<(&'static str, String)> {
    let mut out = Vec::new();
    if let Some(burn) = event.burn_per_day {
        out.push((
            "Spend per day",
            format!("{}/day", money(burn, &event.currency)),
        ));
        match event.runway_seconds {
            Some(secs) => out.push(("Runway", duration_words(secs))),
            None => out.push(("Runway", "not running down".to_string())),
        }
        if let Some(at) = event.depletes_at {
            out.push((
                "Runs out",
                format!(
                    "{} ({})",
                    when_words(at, ctx),
                    at.strftime("%Y-%m-%dT%H:%M:%SZ")
                ),
            ));
        }
    }
    if let Some(t) = runway_threshold_text(event) {
        out.push(("Runway threshold", t));
    }
    if let Some(a) = event.topup_amount {
        out.push(("Top-up", format_amount(a, &event.currency)));
    }
    out
}

/// How bad a summary row is, for "worst first": level, then the shortest runway.
fn severity_key(row: &SummaryRow) -> (std::cmp::Reverse<Level>, u64) {
    (
        std::cmp::Reverse(row.level),
        row.runway_seconds.unwrap_or(u64::MAX),
    )
}

/// The summary's rows worst first (stable, so equal rows keep the config order).
pub fn worst_first(rows: &[SummaryRow]) -> Vec<&SummaryRow> {
    let mut sorted: Vec<&SummaryRow> = rows.iter().collect();
    sorted.sort_by_key(|r| severity_key(r));
    sorted
}

/// One account's summary line: `primary OK 31,200.50 INR, spent 1,850.00 in 24h,
/// ₹1,850/day, lasts about 16 days`.
pub fn summary_line(row: &SummaryRow) -> String {
    let balance = match row.balance {
        Some(b) => format_amount(b, &row.currency),
        None => "balance unknown".to_string(),
    };
    let mut line = format!("{} {} {balance}", row.account, level_upper(row.level));
    if let Some(spent) = row.spend_24h {
        line.push_str(&format!(", spent {} in 24h", group_digits(spent)));
    }
    match (row.burn_per_day, row.runway_seconds) {
        (Some(b), Some(secs)) => line.push_str(&format!(
            ", {}/day, lasts about {}",
            money(b, &row.currency),
            duration_words(secs)
        )),
        (Some(b), None) => line.push_str(&format!(
            ", {}/day, not running down",
            money(b, &row.currency)
        )),
        (None, _) => line.push_str(", runway not yet known"),
    }
    line
}

/// The summary as lines within `max_chars` in total (each line plus a newline): the
/// accounts that are not ok, worst first, as many as fit, then `N more ok` (or `N
/// more`) for the rest. With everything ok, the first line says so.
pub fn summary_lines(rows: &[SummaryRow], max_chars: usize) -> Vec<String> {
    let sorted = worst_first(rows);
    let ok = rows.iter().filter(|r| r.level == Level::Ok).count();
    let mut lines = vec![format!(
        "{} account{}: {} ok, {} not ok.",
        rows.len(),
        if rows.len() == 1 { "" } else { "s" },
        ok,
        rows.len() - ok
    )];
    let mut used = lines[0].chars().count() + 1;
    for (i, row) in sorted.iter().enumerate() {
        let line = summary_line(row);
        let rest = sorted.len() - i - 1;
        // Keep room for the "N more" tail whenever something would still follow.
        let tail = if rest > 0 { 24 } else { 0 };
        if used + line.chars().count() + 1 + tail > max_chars {
            let left = &sorted[i..];
            let all_ok = left.iter().all(|r| r.level == Level::Ok);
            lines.push(format!(
                "{} more{}.",
                left.len(),
                if all_ok { " ok" } else { "" }
            ));
            return lines;
        }
        used += line.chars().count() + 1;
        lines.push(line);
    }
    lines
}

#[cfg(test)]
mod tests;
