//! The web endpoint's keys in `[daemon]` (SPEC §13), read and validated with the shared
//! helpers so every error names the file, line and key:
//!
//! ```toml
//! [daemon]
//! listen = "0.0.0.0:9184"
//! admin_token_file = "/etc/balance-alert/admin_token"   # or admin_token = "…"
//! web = { tls_cert_file = "/etc/balance-alert/tls.crt", tls_key_file = "/etc/balance-alert/tls.key",
//!         basic_auth = { user = "ops", password_hash = "$2y$10$…" } }
//! ```
//!
//! `basic_auth.password` / `password_file` are optional and only for this binary's own
//! clients (`status`, `snooze`, …), which cannot log in with a hash.

use serde::Deserialize;
use toml::Spanned;

use super::{BasicAuth, TlsFiles, WebConfig};
use crate::config::Secret;
use crate::config::raw::Opt;
use crate::config::validate::Place;
use crate::config::{Ctx, Res};

/// The shortest admin token accepted: it guards a write endpoint.
pub const MIN_TOKEN_LEN: usize = 16;

/// `[daemon] web`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawWeb {
    pub tls_cert_file: Opt<String>,
    pub tls_key_file: Opt<String>,
    pub basic_auth: Opt<RawBasicAuth>,
}

/// `[daemon] web.basic_auth`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawBasicAuth {
    pub user: Opt<String>,
    pub password_hash: Opt<String>,
    pub password: Opt<String>,
    pub password_file: Opt<String>,
}

/// Reads `[daemon] web`, `admin_token`/`admin_token_file`, and warns about an exposed
/// listen address without basic auth.
pub fn read(
    ctx: &mut Ctx<'_>,
    daemon: &std::ops::Range<usize>,
    web: &Opt<RawWeb>,
    admin_token: &Opt<String>,
    admin_token_file: &Opt<String>,
    listen: Option<std::net::SocketAddr>,
) -> Res<WebConfig> {
    let mut config = WebConfig::default();
    if let Some(web) = web {
        let table = web.span();
        let raw = web.get_ref();
        config.tls = match (&raw.tls_cert_file, &raw.tls_key_file) {
            (None, None) => None,
            (Some(_), None) => {
                return Err(ctx.err(
                    Some(table),
                    "daemon.web.tls_key_file",
                    "missing: tls_cert_file needs its tls_key_file",
                ));
            }
            (None, Some(_)) => {
                return Err(ctx.err(
                    Some(table),
                    "daemon.web.tls_cert_file",
                    "missing: tls_key_file needs its tls_cert_file",
                ));
            }
            (Some(cert), Some(key)) => Some(tls(ctx, cert, key)?),
        };
        config.basic_auth = match &raw.basic_auth {
            Some(b) => Some(basic_auth(ctx, b)?),
            None => None,
        };
    }
    let place = Place {
        base: "daemon",
        table: daemon.clone(),
    };
    config.admin_token = ctx.secret(admin_token, admin_token_file, &place, "admin_token", false)?;
    if let Some(token) = &config.admin_token {
        if token.expose().chars().count() < MIN_TOKEN_LEN {
            let span = admin_token
                .as_ref()
                .or(admin_token_file.as_ref())
                .map(Spanned::span);
            return Err(ctx.err(
                span,
                "daemon.admin_token",
                format!(
                    "too short: use at least {MIN_TOKEN_LEN} characters (e.g. `openssl rand -hex 24`)"
                ),
            ));
        }
    }
    match listen {
        None if web.is_some() || config.admin_token.is_some() => ctx.warn(
            "[daemon] web and admin_token have no effect without [daemon] listen".to_string(),
        ),
        Some(addr) if !addr.ip().is_loopback() && config.basic_auth.is_none() => ctx.warn(format!(
            "daemon.listen = {addr} is not a loopback address and [daemon] web.basic_auth \
                 is not set: the dashboard, /api/v1/status and /metrics are open to anyone who \
                 can reach it"
        )),
        _ => {}
    }
    Ok(config)
}

fn tls(ctx: &Ctx<'_>, cert: &Spanned<String>, key: &Spanned<String>) -> Res<TlsFiles> {
    let (cert_file, cert_pem) = ctx.file_text(cert, "daemon.web.tls_cert_file")?;
    let (key_file, key_pem) = ctx.file_text(key, "daemon.web.tls_key_file")?;
    super::tls::check_pem(&cert_pem, &key_pem).map_err(|e| {
        // Name the key whose file is at fault.
        let (span, at) = if e.starts_with("key") {
            (key.span(), "daemon.web.tls_key_file")
        } else {
            (cert.span(), "daemon.web.tls_cert_file")
        };
        ctx.err(Some(span), at, e)
    })?;
    Ok(TlsFiles {
        cert_file,
        key_file,
    })
}

fn basic_auth(ctx: &mut Ctx<'_>, raw: &Spanned<RawBasicAuth>) -> Res<BasicAuth> {
    let table = raw.span();
    let b = raw.get_ref();
    let user_value = ctx.required(&b.user, &table, "daemon.web.basic_auth.user")?;
    let user = ctx.string(user_value, "daemon.web.basic_auth.user")?;
    if user.is_empty() || user.contains(':') {
        return Err(ctx.err(
            Some(user_value.span()),
            "daemon.web.basic_auth.user",
            "must be non-empty and without `:` (HTTP basic auth cannot carry it)",
        ));
    }
    let hash_value = ctx.required(
        &b.password_hash,
        &table,
        "daemon.web.basic_auth.password_hash",
    )?;
    let hash = ctx.string(hash_value, "daemon.web.basic_auth.password_hash")?;
    let hash = hash.trim().to_string();
    super::auth::check_hash(&hash).map_err(|e| {
        ctx.err(
            Some(hash_value.span()),
            "daemon.web.basic_auth.password_hash",
            e,
        )
    })?;
    let place = Place {
        base: "daemon.web.basic_auth",
        table,
    };
    let password = ctx.secret(&b.password, &b.password_file, &place, "password", false)?;
    if let Some(p) = &password {
        // A client password that the server would refuse is a typo worth catching now.
        if !bcrypt::verify(p.expose(), &hash).unwrap_or(false) {
            let span = b
                .password
                .as_ref()
                .or(b.password_file.as_ref())
                .map(Spanned::span);
            return Err(ctx.err(
                span,
                "daemon.web.basic_auth.password",
                "does not match password_hash",
            ));
        }
    }
    Ok(BasicAuth {
        user,
        password_hash: Secret::new(hash),
        password,
    })
}
