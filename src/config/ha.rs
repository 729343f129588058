//! The `[daemon]` keys for high availability and the heartbeat (SPEC §11.2, §11.3):
//! `instance`, `shard = { index, count }` and `heartbeat = { url, every, fail_url }`.

use std::time::Duration;

use toml::Spanned;

use super::raw::{RawDaemon, RawHeartbeat, RawShard};
use super::secret::Secret;
use super::validate::{Ctx, Place, Res};
use crate::core::Shard;

/// `[daemon] heartbeat = { url, every, fail_url }`. The URLs carry the check's
/// identity (anyone who knows one can ping it), so both are secrets.
#[derive(Debug, Clone, PartialEq)]
pub struct HeartbeatConfig {
    pub url: Secret,
    pub every: Duration,
    pub fail_url: Option<Secret>,
}

/// `instance`, `shard` and `heartbeat` of `[daemon]`.
pub(super) fn read(
    ctx: &mut Ctx<'_>,
    raw: &RawDaemon,
) -> Res<(Option<String>, Option<Shard>, Option<HeartbeatConfig>)> {
    let instance = match &raw.instance {
        Some(v) => Some(ctx.name(v, "daemon.instance")?),
        None => None,
    };
    let shard = raw.shard.as_ref().map(|s| shard(ctx, s)).transpose()?;
    let heartbeat = raw
        .heartbeat
        .as_ref()
        .map(|h| heartbeat(ctx, h))
        .transpose()?;
    Ok((instance, shard, heartbeat))
}

/// `shard = { index, count }`: `count` ≥ 1, `0 ≤ index < count`.
fn shard(ctx: &Ctx<'_>, s: &Spanned<RawShard>) -> Res<Shard> {
    let raw = s.get_ref();
    let count = ctx.required(&raw.count, &s.span(), "daemon.shard.count")?;
    let index = ctx.required(&raw.index, &s.span(), "daemon.shard.index")?;
    if *count.get_ref() < 1 {
        return Err(ctx.err(
            Some(count.span()),
            "daemon.shard.count",
            "must be at least 1",
        ));
    }
    if *index.get_ref() < 0 || index.get_ref() >= count.get_ref() {
        return Err(ctx.err(
            Some(index.span()),
            "daemon.shard.index",
            format!("must be between 0 and {} (count - 1)", count.get_ref() - 1),
        ));
    }
    Ok(Shard {
        index: *index.get_ref() as u64,
        count: *count.get_ref() as u64,
    })
}

/// `heartbeat = { url, every, fail_url }`: both URLs are secrets (either may be given
/// as `*_file`); `every` defaults to 5 minutes.
fn heartbeat(ctx: &mut Ctx<'_>, h: &Spanned<RawHeartbeat>) -> Res<HeartbeatConfig> {
    let raw = h.get_ref();
    let at = Place {
        base: "daemon.heartbeat",
        table: h.span(),
    };
    let url = ctx
        .secret(&raw.url, &raw.url_file, &at, "url", true)?
        .expect("required");
    let span = raw
        .url
        .as_ref()
        .or(raw.url_file.as_ref())
        .map_or(at.table.clone(), Spanned::span);
    ctx.http_url(url.expose(), &span, "daemon.heartbeat.url", true)?;
    let fail_url = ctx.secret(&raw.fail_url, &raw.fail_url_file, &at, "fail_url", false)?;
    if let Some(f) = &fail_url {
        let span = raw
            .fail_url
            .as_ref()
            .or(raw.fail_url_file.as_ref())
            .map_or(at.table.clone(), Spanned::span);
        ctx.http_url(f.expose(), &span, "daemon.heartbeat.fail_url", true)?;
    }
    let every = ctx.positive_duration(
        &raw.every,
        "daemon.heartbeat.every",
        Duration::from_secs(300),
    )?;
    Ok(HeartbeatConfig {
        url,
        every,
        fail_url,
    })
}
