//! The keys the file owns beyond `[daemon]`: the keys every `[[account]]`
//! has whatever its provider (name, polling, thresholds, routing), the keys every
//! `[[channel]]` has (name, type, min_level), and the check that every other key of an
//! account or channel belongs to its provider or channel type.

use std::time::Duration;

use rust_decimal::Decimal;
use toml::Spanned;

use super::ChannelConfig;
use crate::config::raw::{
    ACCOUNT_KEYS, RawAccount, RawChannel, RawFile, RawThreshold, key_start, table_entries,
};
use crate::config::validate::{Checked, Ctx, Res, Tables};
use crate::core::{Level, Threshold, Thresholds};
use crate::notify::ChannelKind;
use crate::provider::ProviderConfig;
use crate::provider::{AccountConfig, RATE_FLOOR, is_loopback_url};

/// The keys of `[[channel]]` besides name, type, min_level and the type's own.
const CHANNEL_KEYS: &[&str] = &["quiet_hours"];

/// The provider an account names, `exotel` when it names none.
const DEFAULT_PROVIDER: &str = "exotel";

/// The `[[account]]` tables: each one's provider, when it names a known one.
pub(super) fn account_tables(ctx: &Ctx<'_>, raw: &RawFile) -> Tables {
    let kinds = raw
        .account
        .iter()
        .enumerate()
        .map(|(i, a)| {
            provider_name(ctx, a.get_ref(), &format!("account[{i}]"))
                .ok()
                .filter(|name| ProviderConfig::fields(name).is_some())
        })
        .collect();
    let bases = (0..raw.account.len())
        .map(|i| format!("account[{i}]"))
        .collect();
    Tables {
        section: "account",
        kinds,
        bases,
    }
}

fn provider_name(ctx: &Ctx<'_>, raw: &RawAccount, base: &str) -> Res<String> {
    match &raw.provider {
        Some(v) => ctx.string(v, &format!("{base}.provider")),
        None => Ok(DEFAULT_PROVIDER.to_owned()),
    }
}

/// The `[[channel]]` tables: each one's type, when it names a known one.
pub(super) fn channel_tables(ctx: &Ctx<'_>, raw: &RawFile) -> Tables {
    let mut kinds = Vec::new();
    let mut bases = Vec::new();
    for (i, c) in raw.channel.iter().enumerate() {
        let base = match &c.get_ref().name {
            Some(name) => format!("channel \"{}\"", name.get_ref()),
            None => format!("channel[{i}]"),
        };
        let kind = c.get_ref().kind.as_ref().and_then(|v| {
            ctx.string(v, &format!("{base}.type"))
                .ok()
                .filter(|name| ChannelKind::fields(name).is_some())
        });
        kinds.push(kind);
        bases.push(base);
    }
    Tables {
        section: "channel",
        kinds,
        bases,
    }
}

/// Rejects a key of an account or channel that neither the common keys nor any provider
/// or channel type declares, at the key, listing what the table's type takes. (A key of
/// another channel type is reported by [`channel`], in its turn.)
pub(super) fn unknown_keys(ctx: &Ctx<'_>, accounts: &Tables, channels: &Tables) -> Res<()> {
    let every_channel_field = ChannelKind::all_fields();
    for (tables, common) in [
        (accounts, &["name", "provider"][..]),
        (channels, &["name", "type", "min_level", "events"][..]),
    ] {
        for (index, kind) in tables.kinds.iter().enumerate() {
            let Some(kind) = kind else { continue };
            let own = match tables.section {
                "account" => ProviderConfig::fields(kind),
                _ => ChannelKind::fields(kind),
            }
            .unwrap_or_default();
            let rest: &[&str] = if tables.section == "account" {
                ACCOUNT_KEYS
            } else {
                CHANNEL_KEYS
            };
            let known = |key: &str| {
                common.contains(&key)
                    || own.contains(&key)
                    || rest.contains(&key)
                    || (tables.section == "channel" && every_channel_field.contains(&key))
            };
            let entries = table_entries(ctx.tree.get_ref(), tables.section, index);
            let Some((key, value)) = entries.iter().find(|(k, _)| !known(k)) else {
                continue;
            };
            let expected: Vec<&str> = common.iter().chain(own).chain(rest).copied().collect();
            // Accounts list keys as serde did, channels as the channel check always has.
            let expected = if tables.section == "account" {
                expected
                    .iter()
                    .map(|k| format!("`{k}`"))
                    .collect::<Vec<_>>()
                    .join(", ")
            } else {
                expected.join(", ")
            };
            let at = key_start(ctx.text, value.span().start);
            return Err(ctx.err(
                Some(at..at),
                &format!("{}.{key}", tables.bases[index]),
                format!("unknown key; expected one of {expected}"),
            ));
        }
    }
    Ok(())
}

/// One `[[account]]`: its name, its provider's keys (validated by the provider, in
/// `providers`), then polling, routing and thresholds.
pub(super) fn account(
    ctx: &mut Ctx<'_>,
    a: &Spanned<RawAccount>,
    index: usize,
    base: &str,
    providers: &mut [Checked<ProviderConfig>],
) -> Res<AccountConfig> {
    let raw = a.get_ref();
    let table = a.span();
    let key = |field: &str| format!("{base}.{field}");

    let name = ctx.name(ctx.required(&raw.name, &table, &key("name"))?, &key("name"))?;
    let provider_name = provider_name(ctx, raw, base)?;
    if ProviderConfig::fields(&provider_name).is_none() {
        let span = raw.provider.as_ref().map(Spanned::span);
        return Err(ctx.err(
            span,
            &key("provider"),
            format!(
                "unknown provider \"{provider_name}\": expected one of {}",
                ProviderConfig::NAMES.join(", ")
            ),
        ));
    }
    let provider = ctx.take(providers, index)?;
    let loopback = is_loopback_url(provider.base_url());

    let poll_interval = ctx.positive_duration(
        &raw.poll_interval,
        &key("poll_interval"),
        Duration::from_secs(300),
    )?;
    // Values that pass must make sense (SPEC §17): under a second is a typo even on
    // loopback (`1ns` was 900 polls a second).
    if poll_interval < Duration::from_secs(1) {
        let span = raw.poll_interval.as_ref().map(Spanned::span);
        return Err(ctx.err(
            span,
            &key("poll_interval"),
            format!(
                "{} is under 1s (the least allowed, even for a loopback base_url)",
                humantime::format_duration(poll_interval)
            ),
        ));
    }
    if poll_interval < RATE_FLOOR && !loopback {
        let span = raw.poll_interval.as_ref().map(Spanned::span);
        return Err(ctx.err(
            span,
            &key("poll_interval"),
            format!(
                "{} is under the 60s rate floor (allowed only for a loopback base_url)",
                humantime::format_duration(poll_interval)
            ),
        ));
    }
    let repeat_every = match &raw.repeat_every {
        Some(v) => {
            let d = ctx.duration(v, &key("repeat_every"))?;
            // Reminders more often than the rate floor would be spam, not reminders.
            if d < RATE_FLOOR && !loopback {
                return Err(ctx.err(
                    Some(v.span()),
                    &key("repeat_every"),
                    "must be at least 1m (leave it out to turn reminders off)",
                ));
            }
            if d.is_zero() {
                return Err(ctx.err(
                    Some(v.span()),
                    &key("repeat_every"),
                    "must be greater than zero",
                ));
            }
            Some(d)
        }
        None => None,
    };
    let blind_after = ctx.positive_duration(
        &raw.blind_after,
        &key("blind_after"),
        Duration::from_secs(15 * 60),
    )?;
    let timeout = ctx.positive_duration(&raw.timeout, &key("timeout"), Duration::from_secs(30))?;
    if timeout < Duration::from_secs(1) {
        return Err(ctx.err(
            raw.timeout.as_ref().map(Spanned::span),
            &key("timeout"),
            format!(
                "{} is under 1s: no request could finish; use at least 1s",
                humantime::format_duration(timeout)
            ),
        ));
    }
    let ca_file = ctx.ca_file(&raw.ca_file, &key("ca_file"))?;

    let mut notify = Vec::new();
    if let Some(list) = &raw.notify {
        for (j, entry) in list.get_ref().iter().enumerate() {
            let entry_key = format!("{base}.notify[{j}]");
            let n = ctx.string(entry, &entry_key)?;
            if notify.contains(&n) {
                return Err(ctx.err(
                    Some(entry.span()),
                    &entry_key,
                    format!("\"{n}\" is listed twice"),
                ));
            }
            notify.push(n);
        }
    }

    let warning = raw
        .warning
        .as_ref()
        .map(|t| threshold(ctx, t, &key("warning")))
        .transpose()?;
    let critical = raw
        .critical
        .as_ref()
        .map(|t| threshold(ctx, t, &key("critical")))
        .transpose()?;
    if let (Some(w), Some(c), Some(raw_c)) = (warning, critical, &raw.critical) {
        if c.below >= w.below {
            let span = raw_c
                .get_ref()
                .below
                .as_ref()
                .map_or(raw_c.span(), Spanned::span);
            return Err(ctx.err(
                Some(span),
                &key("critical.below"),
                format!("must be less than warning.below ({})", w.below),
            ));
        }
    }
    let runway = crate::config::runway::runway(ctx, raw.runway.as_ref(), base, poll_interval)?;
    let topup_min = crate::config::runway::topup_min(ctx, raw.topup_min.as_ref(), base)?;
    if warning.is_none()
        && critical.is_none()
        && runway.warning.is_none()
        && runway.critical.is_none()
    {
        ctx.warn(format!(
            "account \"{name}\" has no thresholds: it is only watched for failures"
        ));
    }

    let escalate = match &raw.escalate {
        Some(steps) => super::paging::escalate(ctx, steps, &key("escalate"))?,
        None => Vec::new(),
    };
    let labels = labels(ctx, &raw.labels, &key("labels"))?;

    Ok(AccountConfig {
        name,
        provider,
        escalate,
        poll_interval,
        repeat_every,
        blind_after,
        timeout,
        ca_file,
        notify,
        thresholds: Thresholds { warning, critical },
        runway,
        topup_min,
        labels,
    })
}

/// Labels the daemon sets itself; an account's `labels` table may not override them.
pub const RESERVED_LABELS: &[&str] = &[
    "alertname",
    "account",
    "sid",
    "provider",
    "severity",
    "instance",
];

/// `labels = {…}`: Alertmanager label names (`[a-zA-Z_][a-zA-Z0-9_]*`, not `__`-prefixed,
/// not one the daemon sets) with non-empty values.
fn labels(
    ctx: &Ctx<'_>,
    raw: &crate::config::raw::Opt<std::collections::BTreeMap<String, Spanned<String>>>,
    base: &str,
) -> Res<std::collections::BTreeMap<String, String>> {
    let mut out = std::collections::BTreeMap::new();
    let Some(table) = raw else { return Ok(out) };
    for (name, value) in table.get_ref() {
        let key = format!("{base}.{name}");
        let valid = !name.is_empty()
            && !name.starts_with("__")
            && name
                .chars()
                .enumerate()
                .all(|(i, c)| c == '_' || c.is_ascii_alphabetic() || (i > 0 && c.is_ascii_digit()));
        if !valid {
            return Err(ctx.err(
                Some(value.span()),
                &key,
                "not a valid label name: use letters, digits and _ (not first a digit, not starting with __)",
            ));
        }
        if RESERVED_LABELS.contains(&name.as_str()) {
            return Err(ctx.err(
                Some(value.span()),
                &key,
                format!("`{name}` is set by balance-alert itself; choose another label name"),
            ));
        }
        out.insert(name.clone(), ctx.string(value, &key)?);
    }
    Ok(out)
}

fn threshold(ctx: &Ctx<'_>, t: &Spanned<RawThreshold>, base: &str) -> Res<Threshold> {
    let raw = t.get_ref();
    let below_key = format!("{base}.below");
    let below = ctx.decimal(ctx.required(&raw.below, &t.span(), &below_key)?, &below_key)?;
    let clear_above = match &raw.clear_above {
        Some(v) => {
            let clear_key = format!("{base}.clear_above");
            let c = ctx.decimal(v, &clear_key)?;
            if c <= below {
                return Err(ctx.err(
                    Some(v.span()),
                    &clear_key,
                    format!("must be greater than below ({below})"),
                ));
            }
            c
        }
        // SPEC §3: a band of 10 % of the amount, at least 1.
        None => below
            .checked_add((below.abs() * Decimal::new(1, 1)).max(Decimal::ONE))
            .ok_or_else(|| {
                ctx.err(
                    Some(t.span()),
                    &below_key,
                    "too large to derive clear_above from; set clear_above explicitly",
                )
            })?,
    };
    Ok(Threshold { below, clear_above })
}

/// One `[[channel]]`: name, type, that every key is its type's, `min_level`, then the
/// type's own keys (validated by the type's file, in `kinds`).
pub(super) fn channel(
    ctx: &mut Ctx<'_>,
    c: &Spanned<RawChannel>,
    index: usize,
    tables: &Tables,
    kinds: &mut [Checked<ChannelKind>],
) -> Res<ChannelConfig> {
    let raw = c.get_ref();
    let table = c.span();
    let base = &tables.bases[index];
    let name_key = format!("{base}.name");
    let name = ctx.name(ctx.required(&raw.name, &table, &name_key)?, &name_key)?;
    let type_key = format!("{base}.type");
    let kind_raw = ctx.required(&raw.kind, &table, &type_key)?;
    let kind_name = ctx.string(kind_raw, &type_key)?;
    let Some(allowed) = ChannelKind::fields(&kind_name) else {
        return Err(ctx.err(
            Some(kind_raw.span()),
            &type_key,
            format!(
                "unknown channel type \"{kind_name}\": expected one of {}",
                ChannelKind::names().join(", ")
            ),
        ));
    };
    let common = ["name", "type", "min_level", "events", "quiet_hours"];
    let entries = table_entries(ctx.tree.get_ref(), "channel", index);
    if let Some((field, value)) = entries
        .iter()
        .find(|(k, _)| !common.contains(&k.as_str()) && !allowed.contains(&k.as_str()))
    {
        return Err(ctx.err(
            Some(value.span()),
            &format!("{base}.{field}"),
            format!("`{field}` is not a field of a {kind_name} channel"),
        ));
    }
    let min_level = match &raw.min_level {
        Some(v) => ctx.choice(
            v,
            &format!("{base}.min_level"),
            &[("warning", Level::Warning), ("critical", Level::Critical)],
        )?,
        None => Level::Warning,
    };
    let events = crate::config::runway::events(ctx, raw.events.as_ref(), base)?;
    let quiet_hours = match &raw.quiet_hours {
        Some(list) => super::paging::quiet_hours(ctx, list, &format!("{base}.quiet_hours"))?,
        None => Default::default(),
    };
    let kind = ctx.take(kinds, index)?;
    Ok(ChannelConfig {
        name,
        min_level,
        events,
        kind,
        quiet_hours,
    })
}
