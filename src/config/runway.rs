//! The runway keys of SPEC §9: an account's `runway` table and `topup_min`, a channel's
//! `events` list and `[daemon] summary_at`. Each error names file, line and key.

use std::time::Duration;

use rust_decimal::Decimal;
use toml::Spanned;

use super::raw::{RawNumber, RawRunway, RawRunwayThreshold, StrList};
use super::validate::{Ctx, Res};
use crate::core::runway::DEFAULT_WINDOW;
use crate::core::{EventKind, RunwayPolicy, RunwayThreshold};

/// An account's `runway` table (absent: the defaults, no latches).
pub(crate) fn runway(
    ctx: &Ctx<'_>,
    raw: Option<&Spanned<RawRunway>>,
    base: &str,
    poll_interval: Duration,
) -> Res<RunwayPolicy> {
    let Some(raw) = raw else {
        return Ok(RunwayPolicy::default());
    };
    let key = |field: &str| format!("{base}.runway.{field}");
    let r = raw.get_ref();
    let window = ctx.positive_duration(&r.window, &key("window"), DEFAULT_WINDOW)?;
    if window < poll_interval * 2 {
        let span = r.window.as_ref().map_or(raw.span(), Spanned::span);
        return Err(ctx.err(
            Some(span),
            &key("window"),
            format!(
                "must be at least twice poll_interval ({}), or the estimate never has samples",
                humantime::format_duration(poll_interval)
            ),
        ));
    }
    let floor = match &r.floor {
        Some(v) => ctx.decimal(v, &key("floor"))?,
        None => Decimal::ZERO,
    };
    let warning = r
        .warning
        .as_ref()
        .map(|t| latch(ctx, t, &key("warning")))
        .transpose()?;
    let critical = r
        .critical
        .as_ref()
        .map(|t| latch(ctx, t, &key("critical")))
        .transpose()?;
    if let (Some(w), Some(c), Some(raw_c)) = (warning, critical, &r.critical) {
        if c.below >= w.below {
            let span = raw_c
                .get_ref()
                .below
                .as_ref()
                .map_or(raw_c.span(), Spanned::span);
            return Err(ctx.err(
                Some(span),
                &key("critical.below"),
                format!(
                    "must be less than runway.warning.below ({})",
                    humantime::format_duration(Duration::from_secs(w.below))
                ),
            ));
        }
    }
    Ok(RunwayPolicy {
        window,
        floor,
        warning,
        critical,
    })
}

/// One runway latch; `clear_above` defaults to `below × 1.25` (SPEC §9.2).
fn latch(ctx: &Ctx<'_>, t: &Spanned<RawRunwayThreshold>, base: &str) -> Res<RunwayThreshold> {
    let raw = t.get_ref();
    let below_key = format!("{base}.below");
    let below_raw = ctx.required(&raw.below, &t.span(), &below_key)?;
    let below = ctx.duration(below_raw, &below_key)?;
    if below.is_zero() {
        return Err(ctx.err(
            Some(below_raw.span()),
            &below_key,
            "must be greater than zero",
        ));
    }
    let below = below.as_secs().max(1);
    let clear_above = match &raw.clear_above {
        Some(v) => {
            let clear_key = format!("{base}.clear_above");
            let c = ctx.duration(v, &clear_key)?.as_secs();
            if c <= below {
                return Err(ctx.err(
                    Some(v.span()),
                    &clear_key,
                    format!(
                        "must be greater than below ({})",
                        humantime::format_duration(Duration::from_secs(below))
                    ),
                ));
            }
            c
        }
        // Rounded up, so a short `below` still gets a band of at least a second.
        None => (below * 5).div_ceil(4).max(below + 1),
    };
    Ok(RunwayThreshold { below, clear_above })
}

/// `topup_min` (default 1): the smallest rise that is a top-up; must be positive.
pub(crate) fn topup_min(
    ctx: &Ctx<'_>,
    raw: Option<&Spanned<RawNumber>>,
    base: &str,
) -> Res<Decimal> {
    let Some(v) = raw else {
        return Ok(Decimal::ONE);
    };
    let key = format!("{base}.topup_min");
    let d = ctx.decimal(v, &key)?;
    if d <= Decimal::ZERO {
        return Err(ctx.err(Some(v.span()), &key, "must be greater than zero"));
    }
    Ok(d)
}

/// A channel's `events` list (SPEC §9.5); `None` when absent (the default set).
pub(crate) fn events(
    ctx: &Ctx<'_>,
    raw: Option<&StrList>,
    base: &str,
) -> Res<Option<Vec<EventKind>>> {
    let Some(list) = raw else { return Ok(None) };
    let key = format!("{base}.events");
    let mut out = Vec::new();
    for (i, entry) in list.get_ref().iter().enumerate() {
        let entry_key = format!("{key}[{i}]");
        let name = ctx.string(entry, &entry_key)?;
        let kind = EventKind::parse(&name)
            .filter(|k| *k != EventKind::Test)
            .ok_or_else(|| {
                let names: Vec<&str> = EventKind::ALL
                    .iter()
                    .filter(|k| **k != EventKind::Test)
                    .map(|k| k.as_str())
                    .collect();
                ctx.err(
                    Some(entry.span()),
                    &entry_key,
                    format!(
                        "unknown event \"{name}\": expected one of {}",
                        names.join(", ")
                    ),
                )
            })?;
        if out.contains(&kind) {
            return Err(ctx.err(
                Some(entry.span()),
                &entry_key,
                format!("\"{name}\" is listed twice"),
            ));
        }
        out.push(kind);
    }
    Ok(Some(out))
}

/// `[daemon] summary_at`: `HH:MM` or `HH:MM:SS`.
pub(crate) fn summary_at(
    ctx: &Ctx<'_>,
    raw: Option<&Spanned<String>>,
) -> Res<Option<jiff::civil::Time>> {
    let Some(v) = raw else { return Ok(None) };
    let key = "daemon.summary_at";
    let text = ctx.string(v, key)?;
    let bad = || {
        ctx.err(
            Some(v.span()),
            key,
            format!("bad time \"{text}\": expected HH:MM or HH:MM:SS, e.g. \"09:00\""),
        )
    };
    let parts: Vec<&str> = text.trim().split(':').collect();
    if !(2..=3).contains(&parts.len()) || parts.iter().any(|p| p.len() != 2) {
        return Err(bad());
    }
    let num = |p: &str| p.parse::<i8>().map_err(|_| bad());
    let hour = num(parts[0])?;
    let minute = num(parts[1])?;
    let second = match parts.get(2) {
        Some(p) => num(p)?,
        None => 0,
    };
    jiff::civil::Time::new(hour, minute, second, 0)
        .map(Some)
        .map_err(|_| bad())
}
