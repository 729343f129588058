//! The dashboard as HTML (SPEC §13): pure functions from the view model to a page.
//!
//! Server-rendered, one self-contained document per request: inline CSS and SVG, no
//! JavaScript, no external asset (an air-gapped ops host has nothing to fetch), a meta
//! refresh every poll interval, dark mode through `prefers-color-scheme`, and a layout
//! that turns the table into one card per account on a narrow (phone) screen.
//!
//! Every piece of text that comes from outside (account names, SIDs, error texts,
//! channel names, the search query) goes through [`escape`]; links percent-encode the
//! name first. The page for 10,000 accounts must stay under 2 MB and 100 ms
//! (`benches/dashboard.rs`): rows use short class names, omit optional end tags, and
//! the index draws a sparkline for the first [`SPARKLINE_ROWS`] rows only (non-ok
//! accounts come first, so those are the ones that matter); every account's page has
//! its full chart.

use std::fmt::Write as _;

use jiff::Timestamp;
use jiff::tz::TimeZone;
use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, utf8_percent_encode};
use rust_decimal::Decimal;

use crate::core::Level;
use crate::notify::render::format_amount;

use super::view::{AccountPage, AccountView, ChannelView, Source, Status};

/// Rows of the index that get an inline sparkline.
pub const SPARKLINE_ROWS: usize = 500;

/// What is left as is in a path segment: RFC 3986 unreserved characters.
const SEGMENT: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~');

/// Unknown or not (yet) available.
const DASH: &str = "—";

const CSS: &str = "\
:root{color-scheme:light dark;--bg:#fff;--fg:#1f2328;--mu:#59636e;--ln:#d1d9e0;--ok:#1a7f37;--wa:#9a6700;--cr:#d1242f;--ac:#0969da}\
@media(prefers-color-scheme:dark){:root{--bg:#0d1117;--fg:#e6edf3;--mu:#9198a1;--ln:#3d444d;--ok:#3fb950;--wa:#d29922;--cr:#f85149;--ac:#4493f8}}\
*{box-sizing:border-box}\
body{margin:0 auto;max-width:1400px;padding:12px;font:14px/1.45 system-ui,-apple-system,'Segoe UI',sans-serif;background:var(--bg);color:var(--fg)}\
h1{font-size:20px;margin:0 0 4px}h2{font-size:16px;margin:18px 0 6px}\
a{color:var(--ac)}.m{color:var(--mu)}\
table{border-collapse:collapse;width:100%}\
th,td{text-align:left;padding:5px 6px;border-bottom:1px solid var(--ln);vertical-align:middle}\
th{font-size:12px;color:var(--mu);font-weight:600}\
.n{text-align:right;font-variant-numeric:tabular-nums;white-space:nowrap}\
.a td:nth-child(4){text-align:right;font-variant-numeric:tabular-nums;white-space:nowrap}\
.a td:nth-child(5){font-weight:700}\
.a td:first-child{border-left:4px solid var(--ok);word-break:break-all}\
.a tr.w td:first-child{border-left-color:var(--wa)}.a tr.c td:first-child{border-left-color:var(--cr)}\
.a td:nth-child(5),.lo{color:var(--ok)}.w td:nth-child(5),.lw{color:var(--wa)}.c td:nth-child(5),.lc{color:var(--cr)}\
.a td:nth-child(10){max-width:22em;overflow-wrap:anywhere;font-size:12px}\
svg{display:block}.s{width:120px;height:30px}.g{width:100%;height:auto;max-height:320px}\
svg .h{fill:none;stroke:var(--fg);stroke-width:1.5;vector-effect:non-scaling-stroke}\
svg .f{fill:none;stroke:var(--mu);stroke-width:1.5;stroke-dasharray:4 3;vector-effect:non-scaling-stroke}\
svg .tw{stroke:var(--wa);stroke-width:1;vector-effect:non-scaling-stroke}\
svg .tc{stroke:var(--cr);stroke-width:1;vector-effect:non-scaling-stroke}\
svg text{fill:var(--mu);font-size:11px}\
form{margin:10px 0}input{font:inherit;padding:4px 6px;max-width:60vw}button{font:inherit;padding:4px 10px}\
.lv{font-weight:700}dl{display:grid;grid-template-columns:max-content 1fr;gap:4px 14px}dt{color:var(--mu)}dd{margin:0;overflow-wrap:anywhere}\
@media(max-width:760px){\
.a thead{display:none}.a,.a tbody,.a tr,.a td{display:block}\
.a tr{border:1px solid var(--ln);border-radius:6px;margin:0 0 8px;padding:4px 6px}\
.a td{border:0;padding:1px 0;text-align:left!important}\
.a td:first-child{border-left:0;font-size:16px;font-weight:600}\
.a tr{border-left:4px solid var(--ok)}.a tr.w{border-left:4px solid var(--wa)}.a tr.c{border-left:4px solid var(--cr)}\
.a td:empty{display:none}\
.a td:nth-child(2)::before{content:'Provider '}.a td:nth-child(3)::before{content:'SID '}\
.a td:nth-child(4)::before{content:'Balance '}.a td:nth-child(5)::before{content:'Level '}\
.a td:nth-child(6)::before{content:'Burn/day '}.a td:nth-child(7)::before{content:'Runway '}\
.a td:nth-child(8)::before{content:'Runs out '}.a td:nth-child(9)::before{content:'Last poll, age '}\
.a td:nth-child(10)::before{content:'Last error '}.a td:nth-child(11)::before{content:'Snooze '}\
.a td::before{color:var(--mu);font-weight:400}}";

/// Escapes text for HTML element content and quoted attribute values.
pub fn escape(out: &mut String, text: &str) {
    let mut last = 0;
    for (i, b) in text.bytes().enumerate() {
        let rep = match b {
            b'&' => "&amp;",
            b'<' => "&lt;",
            b'>' => "&gt;",
            b'"' => "&quot;",
            b'\'' => "&#39;",
            _ => continue,
        };
        out.push_str(&text[last..i]);
        out.push_str(rep);
        last = i + 1;
    }
    out.push_str(&text[last..]);
}

fn escaped(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    escape(&mut out, text);
    out
}

/// The name as a path segment (percent-encoded; safe inside a quoted attribute).
fn segment(name: &str) -> impl std::fmt::Display + '_ {
    utf8_percent_encode(name, SEGMENT)
}

fn level_class(level: Level) -> &'static str {
    match level {
        Level::Ok => "o",
        Level::Warning => "w",
        Level::Critical => "c",
    }
}

/// `45s`, `3m`, `2h 5m`, `3d 4h`: short enough for a table cell.
pub fn short_duration(seconds: u64) -> String {
    let (d, h, m) = (
        seconds / 86_400,
        seconds % 86_400 / 3600,
        seconds % 3600 / 60,
    );
    match seconds {
        0..60 => format!("{seconds}s"),
        60..3600 => format!("{m}m"),
        3600..86_400 if m == 0 => format!("{h}h"),
        3600..86_400 => format!("{h}h {m}m"),
        _ if h == 0 => format!("{d}d"),
        _ => format!("{d}d {h}h"),
    }
}

fn seconds_since(now: Timestamp, then: Timestamp) -> u64 {
    now.as_second().saturating_sub(then.as_second()).max(0) as u64
}

fn age(now: Timestamp, then: Timestamp) -> String {
    format!("{} ago", short_duration(seconds_since(now, then)))
}

/// `Fri 6 Dec 14:00 IST` in the daemon's timezone.
pub fn when(at: Timestamp, tz: &TimeZone) -> String {
    at.to_zoned(tz.clone())
        .strftime("%a %-d %b %H:%M %Z")
        .to_string()
}

/// `Fri 6 Dec 14:00`: the index's column header names the zone once.
fn when_short(at: Timestamp, tz: &TimeZone) -> String {
    at.to_zoned(tz.clone())
        .strftime("%a %-d %b %H:%M")
        .to_string()
}

/// The zone's name for a column header.
fn zone_name(tz: &TimeZone) -> &str {
    tz.iana_name().unwrap_or("UTC")
}

/// Spend per day; the row leaves the currency to the balance column beside it.
fn burn_text(a: &AccountView, with_currency: bool) -> String {
    match a.burn_per_day {
        Some(burn) => format_amount(
            burn.round_dp(2),
            if with_currency { &a.currency } else { "" },
        ),
        None => DASH.into(),
    }
}

fn runway_text(a: &AccountView) -> String {
    match (a.runway_seconds, a.burn_per_day) {
        (Some(s), _) => short_duration(s),
        (None, Some(b)) if b.is_zero() => "∞".into(),
        _ => DASH.into(),
    }
}

fn depletes_text(a: &AccountView, tz: &TimeZone) -> String {
    a.depletes_at.map_or_else(|| DASH.into(), |at| when(at, tz))
}

fn snooze_text(a: &AccountView, tz: &TimeZone) -> String {
    match &a.snooze {
        Some(s) => match s.until {
            Some(until) => format!("until {}", when(until, tz)),
            None => "until the level changes".into(),
        },
        None => String::new(),
    }
}

fn level_text(a: &AccountView) -> String {
    if a.monitor_failing {
        format!("{} · monitor failing", a.level)
    } else {
        a.level.to_string()
    }
}

/// At most `max` characters, ending in `…` when cut.
fn cut(text: &str, max: usize) -> String {
    match text.char_indices().nth(max) {
        Some((i, _)) => format!("{}…", &text[..i]),
        None => text.to_string(),
    }
}

fn head(out: &mut String, title: &str, refresh: u64) {
    let _ = write!(
        out,
        "<!doctype html><html lang=en><head><meta charset=utf-8>\
         <meta name=viewport content=\"width=device-width,initial-scale=1\">\
         <meta http-equiv=refresh content={refresh}><title>"
    );
    escape(out, title);
    out.push_str("</title><style>");
    out.push_str(CSS);
    out.push_str("</style></head><body>");
}

/// `GET /`: every account (non-ok first), the outbox and each channel's last delivery.
/// `query` is the search box's text; `status.accounts` is already filtered by it.
pub fn index(status: &Status, query: &str, total: usize, tz: &TimeZone) -> String {
    let accounts = &status.accounts;
    let count = |l: Level| accounts.iter().filter(|a| a.level == l).count();
    let (crit, warn) = (count(Level::Critical), count(Level::Warning));
    let mut out = String::with_capacity(4096 + accounts.len() * 200);
    let title = match (crit, warn) {
        (0, 0) => "balance-alert: all ok".to_string(),
        _ => format!("balance-alert: {crit} critical, {warn} warning"),
    };
    head(&mut out, &title, status.refresh_seconds);
    out.push_str("<header><h1>balance-alert</h1><p class=m>");
    let _ = write!(
        out,
        "{total} accounts: <span class=lc>{crit} critical</span>, <span class=lw>{warn} warning</span>, <span class=lo>{} ok</span> · updated {} · v",
        count(Level::Ok),
        when(status.generated_at, tz),
    );
    escape(&mut out, &status.version);
    if let Some(instance) = &status.instance {
        out.push_str(" · instance ");
        escape(&mut out, instance);
    }
    if status.source == Source::StateFile {
        out.push_str(" · from the state file (daemon not reachable)");
    }
    out.push_str("</p></header>");

    let o = &status.outbox;
    let _ = write!(
        out,
        "<h2>Outbox</h2><p>{} pending · {} held · {} failed</p>",
        o.pending, o.held, o.failed
    );
    channels(&mut out, &status.channels, tz);

    out.push_str("<h2>Accounts</h2><form method=get><label for=q>Search by name</label> <input id=q name=q type=search value=\"");
    escape(&mut out, query);
    out.push_str("\"> <button>Search</button>");
    if !query.is_empty() {
        let _ = write!(out, " <a href=\"?\">show all {total}</a>");
    }
    out.push_str("</form>");
    if accounts.is_empty() {
        out.push_str("<p>No account matches.</p>");
    } else {
        out.push_str(
            "<table class=a><thead><tr><th>Account<th>Provider<th>SID<th>Balance<th>Level\
             <th>Burn/day<th>Runway<th>Runs out (",
        );
        escape(&mut out, zone_name(tz));
        out.push_str(")<th>Last poll (age)<th>Last error<th>Snooze<th>Trend</thead><tbody>\n");
        for (i, a) in accounts.iter().enumerate() {
            row(&mut out, a, status.generated_at, tz, i < SPARKLINE_ROWS);
        }
        out.push_str("</tbody></table>");
        if accounts.len() > SPARKLINE_ROWS {
            let _ = write!(
                out,
                "<p class=m>Trends are drawn for the first {SPARKLINE_ROWS} rows; each account's page has its chart.</p>"
            );
        }
    }
    out.push_str("</body></html>\n");
    out
}

fn row(out: &mut String, a: &AccountView, now: Timestamp, tz: &TimeZone, sparkline: bool) {
    let _ = write!(
        out,
        // The percent-encoded segment has no character that needs attribute quotes, and
        // an ok row (most of 10,000) needs no class: bytes count at that scale.
        "{}<td><a href=accounts/{}>",
        match a.level {
            Level::Ok => "<tr>",
            Level::Warning => "<tr class=w>",
            Level::Critical => "<tr class=c>",
        },
        segment(&a.name)
    );
    escape(out, &a.name);
    out.push_str("</a><td>");
    escape(out, &a.provider);
    out.push_str("<td>");
    escape(out, &a.sid);
    out.push_str("<td>");
    match a.balance {
        Some(b) => escape(out, &format_amount(b, &a.currency)),
        None => out.push_str(DASH),
    }
    out.push_str("<td>");
    out.push_str(&level_text(a));
    out.push_str("<td>");
    escape(out, &burn_text(a, false));
    out.push_str("<td>");
    out.push_str(&runway_text(a));
    out.push_str("<td>");
    match a.depletes_at {
        Some(at) => out.push_str(&when_short(at, tz)),
        None => out.push_str(DASH),
    }
    out.push_str("<td>");
    match a.last_success_at {
        Some(at) => out.push_str(&short_duration(seconds_since(now, at))),
        None => out.push_str("never"),
    }
    out.push_str("<td>");
    if let Some(e) = &a.last_error {
        escape(out, &cut(e, 120));
    }
    out.push_str("<td>");
    escape(out, &snooze_text(a, tz));
    out.push_str("<td>");
    if sparkline {
        chart(out, a, Size::SPARK, tz);
    }
    out.push('\n');
}

fn channels(out: &mut String, channels: &[ChannelView], tz: &TimeZone) {
    out.push_str("<h2>Channels</h2>");
    if channels.is_empty() {
        out.push_str("<p class=m>No channels configured.</p>");
        return;
    }
    out.push_str(
        "<table><thead><tr><th>Channel<th>Type<th class=n>Pending<th>Last delivery</thead><tbody>",
    );
    for c in channels {
        out.push_str("<tr><td>");
        escape(out, &c.name);
        out.push_str("<td>");
        escape(out, &c.kind);
        let _ = write!(out, "<td class=n>{}<td>", c.pending);
        match &c.last_delivery {
            None => out.push_str("<span class=m>none yet</span>"),
            Some(d) => {
                let class = match d.result {
                    super::view::DeliveryResult::Delivered => "lo",
                    super::view::DeliveryResult::Retrying => "lw",
                    _ => "lc",
                };
                let _ = write!(
                    out,
                    "<span class=\"lv {class}\">{}</span> ",
                    d.result.as_str()
                );
                escape(out, &d.event);
                out.push_str(" for ");
                escape(out, &d.account);
                out.push_str(", ");
                escape(out, &when(d.at, tz));
                if let Some(e) = &d.error {
                    out.push_str(": ");
                    escape(out, &cut(e, 200));
                }
            }
        }
    }
    out.push_str("</tbody></table>");
}

/// `GET /accounts/{name}`.
pub fn account(page: &AccountPage, tz: &TimeZone) -> String {
    let a = &page.account;
    let mut out = String::with_capacity(8192);
    head(
        &mut out,
        &format!("{}: {} · balance-alert", a.name, a.level),
        page.refresh_seconds,
    );
    out.push_str("<p><a href=\"../\">← all accounts</a></p><h1>");
    escape(&mut out, &a.name);
    let _ = write!(
        out,
        " <span class=\"lv l{}\">{}</span></h1>",
        level_class(a.level),
        escaped(&level_text(a))
    );
    chart(&mut out, a, Size::BIG, tz);
    out.push_str("<dl>");
    let mut fact = |label: &str, value: &str| {
        let _ = write!(out, "<dt>{label}<dd>");
        escape(&mut out, value);
    };
    fact("Provider", &a.provider);
    fact("SID", &a.sid);
    fact(
        "Balance",
        &a.balance
            .map_or_else(|| DASH.into(), |b| format_amount(b, &a.currency)),
    );
    fact("Level", &level_text(a));
    let threshold = |t: Option<Decimal>| {
        t.map_or_else(
            || DASH.into(),
            |b| format!("below {}", format_amount(b, &a.currency)),
        )
    };
    fact("Warning", &threshold(a.warning_below));
    fact("Critical", &threshold(a.critical_below));
    fact("Burn/day", &burn_text(a, true));
    fact("Runway", &runway_text(a));
    fact("Runs out", &depletes_text(a, tz));
    fact(
        "Last poll",
        &a.last_success_at.map_or_else(
            || "never".into(),
            |at| format!("{} ({})", age(page.generated_at, at), when(at, tz)),
        ),
    );
    fact("Last error", a.last_error.as_deref().unwrap_or(DASH));
    let snooze = snooze_text(a, tz);
    fact("Snooze", if snooze.is_empty() { "no" } else { &snooze });
    out.push_str("</dl>");

    out.push_str("<h2>Pending messages</h2>");
    if page.pending.is_empty() {
        out.push_str("<p class=m>None.</p>");
    } else {
        out.push_str("<table><thead><tr><th>Queued<th>Channel<th>Event<th>State</thead><tbody>");
        for p in &page.pending {
            out.push_str("<tr><td>");
            escape(&mut out, &when(p.created_at, tz));
            out.push_str("<td>");
            escape(&mut out, &p.channel);
            out.push_str("<td>");
            escape(&mut out, &p.event);
            match p.held_until {
                Some(until) => {
                    out.push_str("<td>held (quiet hours) until ");
                    escape(&mut out, &when(until, tz));
                }
                None if p.held => out.push_str("<td>held (quiet hours)"),
                None => out.push_str("<td>pending"),
            }
        }
        out.push_str("</tbody></table>");
    }
    out.push_str("<h2>Recent events</h2>");
    if page.events.is_empty() {
        out.push_str("<p class=m>None since the daemon started.</p>");
    } else {
        out.push_str("<table><thead><tr><th>When<th>Event<th>Level<th class=n>Balance<th>Sent to</thead><tbody>");
        for e in &page.events {
            out.push_str("<tr><td>");
            escape(&mut out, &when(e.at, tz));
            out.push_str("<td>");
            escape(&mut out, &e.event);
            let _ = write!(
                out,
                "<td class=\"lv l{}\">{}",
                level_class(e.level),
                e.level
            );
            out.push_str("<td class=n>");
            match e.balance {
                Some(b) => escape(&mut out, &format_amount(b, &a.currency)),
                None => out.push_str(DASH),
            }
            out.push_str("<td>");
            escape(&mut out, &e.channels.join(", "));
        }
        out.push_str("</tbody></table>");
    }
    let _ = write!(out, "<p class=m>v");
    escape(&mut out, &page.version);
    out.push_str("</p></body></html>\n");
    out
}

/// `GET /accounts/{name}` for a name no account has.
pub fn not_found(name: &str) -> String {
    let mut out = String::with_capacity(1024);
    head(&mut out, "not found · balance-alert", 3600);
    out.push_str("<p><a href=\"../\">← all accounts</a></p><h1>No such account</h1><p>No account is named <b>");
    escape(&mut out, name);
    out.push_str("</b>.</p></body></html>\n");
    out
}

mod chart;
use chart::{Size, chart};

#[cfg(test)]
mod tests;
