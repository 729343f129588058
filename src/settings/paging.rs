//! The paging keys (SPEC §12): an account's `escalate` steps and a channel's
//! `quiet_hours`, validated at their line with their key.

use std::collections::HashMap;

use toml::Spanned;

use crate::config::raw::{RawEscalation, RawFile, StrList};
use crate::config::{Ctx, Res};
use crate::core::Level;
use crate::core::escalation::Step;
use crate::core::quiet::{QuietHours, QuietRange};
use crate::provider::AccountConfig;

/// `quiet_hours = ["22:00-07:00", "Sat 00:00-24:00"]`.
pub(super) fn quiet_hours(ctx: &Ctx<'_>, list: &StrList, key: &str) -> Res<QuietHours> {
    let mut ranges = Vec::new();
    for (i, item) in list.get_ref().iter().enumerate() {
        let item_key = format!("{key}[{i}]");
        let text = ctx.string(item, &item_key)?;
        let range: QuietRange = text
            .parse()
            .map_err(|message: String| ctx.err(Some(item.span()), &item_key, message))?;
        ranges.push(range);
    }
    Ok(QuietHours { ranges })
}

/// `escalate = [{ after = "30m", level = "critical", to = ["oncall"] }, ...]`: every key
/// present and well formed, `after` strictly increasing. Whether each `to` names a
/// channel is checked once the channels are known ([`escalation_targets`]).
pub(super) fn escalate(
    ctx: &Ctx<'_>,
    steps: &Spanned<Vec<Spanned<RawEscalation>>>,
    key: &str,
) -> Res<Vec<Step>> {
    let mut out: Vec<Step> = Vec::new();
    for (i, s) in steps.get_ref().iter().enumerate() {
        let raw = s.get_ref();
        let base = format!("{key}[{i}]");
        let after_key = format!("{base}.after");
        let after_raw = ctx.required(&raw.after, &s.span(), &after_key)?;
        let after = ctx.duration(after_raw, &after_key)?;
        if after.is_zero() {
            return Err(ctx.err(
                Some(after_raw.span()),
                &after_key,
                "must be greater than zero",
            ));
        }
        if let Some(prev) = out.last() {
            if after <= prev.after {
                return Err(ctx.err(
                    Some(after_raw.span()),
                    &after_key,
                    format!(
                        "steps must be in order of increasing `after`: {} is not after the previous step's {}",
                        humantime::format_duration(after),
                        humantime::format_duration(prev.after)
                    ),
                ));
            }
        }
        let level_key = format!("{base}.level");
        let level = ctx.choice(
            ctx.required(&raw.level, &s.span(), &level_key)?,
            &level_key,
            &[("warning", Level::Warning), ("critical", Level::Critical)],
        )?;
        let to_key = format!("{base}.to");
        let to_raw = raw
            .to
            .as_ref()
            .ok_or_else(|| ctx.err(Some(s.span()), &to_key, "missing required key"))?;
        let to = ctx.list(to_raw, &to_key)?;
        for (j, name) in to.iter().enumerate() {
            if to[..j].contains(name) {
                return Err(ctx.err(
                    Some(to_raw.get_ref()[j].span()),
                    &format!("{to_key}[{j}]"),
                    format!("\"{name}\" is listed twice"),
                ));
            }
        }
        out.push(Step { after, level, to });
    }
    Ok(out)
}

/// Every escalation `to` names a configured channel.
pub(super) fn escalation_targets(
    ctx: &Ctx<'_>,
    raw: &RawFile,
    accounts: &[std::sync::Arc<AccountConfig>],
    channels: &HashMap<String, usize>,
) -> Res<()> {
    for (i, (a, acct)) in raw.account.iter().zip(accounts).enumerate() {
        let Some(steps) = &a.get_ref().escalate else {
            continue;
        };
        for (k, (s, step)) in steps.get_ref().iter().zip(&acct.escalate).enumerate() {
            let Some(to) = &s.get_ref().to else { continue };
            for (j, (entry, name)) in to.get_ref().iter().zip(&step.to).enumerate() {
                if !channels.contains_key(name) {
                    return Err(ctx.err(
                        Some(entry.span()),
                        &format!("account[{i}].escalate[{k}].to[{j}]"),
                        format!("no [[channel]] named \"{name}\""),
                    ));
                }
            }
        }
    }
    Ok(())
}
