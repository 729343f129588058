//! Configuration: the TOML schema of SPEC §6, loaded and validated.
//!
//! Loading is split so the interesting part is pure: [`load`] reads the file, [`parse`]
//! turns text into a validated [`Config`] given an [`Env`] (environment variables and
//! `_file` reads), and every error is a [`ConfigError`] naming the file, line, column
//! and key. A bad channel refuses the whole file: nothing is dropped with a log line.
//!
//! The folder is the machinery; it knows no provider and no channel type:
//!
//! - [`raw`]: what serde reads (every field optional and spanned) and a schema-free
//!   spanned tree of the same text that names the key behind any error;
//! - [`env`]: `${VAR}` expansion and where `_file` values come from;
//! - [`secret`]: [`Secret`] and redaction;
//! - [`validate`]: [`Ctx`], the helpers that turn raw values into typed ones at their
//!   line, which `[daemon]`, the account keys, every provider and every channel call;
//! - [`sections`]: `[daemon]` and the keys every `[[account]]` and `[[channel]]` has.
//!
//! The keys of a provider live in its file under `provider/`, those of a channel type
//! in its file under `notify/`; this module hands each table to the type it names.

use std::collections::BTreeMap;
use std::fmt;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use toml::Spanned;

use crate::core::{EventKind, Level, RunwayPolicy, Thresholds};
use crate::notify::ChannelKind;
use crate::provider::ProviderConfig;

pub mod env;
pub mod raw;
mod runway;
pub mod secret;
mod sections;
pub mod validate;

pub use env::{Env, MapEnv, ProcessEnv};
pub use secret::{Secret, redact_secrets};
pub use validate::{Checked, Ctx, Place, Res, Tables};

use raw::{Node, RawFile, describe_serde_error, line_col};

/// A configuration error: what is wrong and where.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub struct ConfigError {
    pub file: PathBuf,
    /// 1-based line and column, when known.
    pub line: Option<usize>,
    pub column: Option<usize>,
    /// Dotted key path, e.g. `account[0].warning.below` or `channel "ops".webhook_url`.
    pub key: Option<String>,
    pub message: String,
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.file.display())?;
        if let Some(line) = self.line {
            write!(f, ":{line}")?;
            if let Some(column) = self.column {
                write!(f, ":{column}")?;
            }
        }
        if let Some(key) = &self.key {
            write!(f, ": {key}")?;
        }
        write!(f, ": {}", self.message)
    }
}

/// A validated configuration.
#[derive(Debug, Clone)]
pub struct Config {
    pub path: PathBuf,
    pub daemon: DaemonConfig,
    pub accounts: Vec<Arc<AccountConfig>>,
    pub channels: Vec<Arc<ChannelConfig>>,
    /// Non-fatal findings (e.g. a literal secret in a group-readable file).
    pub warnings: Vec<String>,
}

impl Config {
    pub fn account(&self, name: &str) -> Option<&Arc<AccountConfig>> {
        self.accounts.iter().find(|a| a.name == name)
    }
    pub fn channel(&self, name: &str) -> Option<&Arc<ChannelConfig>> {
        self.channels.iter().find(|c| c.name == name)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogFormat {
    Text,
    Json,
}

/// `[daemon]`.
#[derive(Debug, Clone, PartialEq)]
pub struct DaemonConfig {
    pub state_file: PathBuf,
    pub listen: Option<SocketAddr>,
    pub log_format: LogFormat,
    pub give_up_after: Duration,
    /// IANA zone for human-facing times, with its name as written.
    pub timezone: Option<(String, jiff::tz::TimeZone)>,
    /// How long in-flight deliveries may finish at shutdown.
    pub shutdown_grace: Duration,
    /// When the daily summary goes out, in `timezone` (else UTC) (SPEC §9.6).
    pub summary_at: Option<jiff::civil::Time>,
}

pub const DEFAULT_STATE_FILE: &str = "/var/lib/balance-alert/state.json";

/// One `[[account]]`.
#[derive(Debug, Clone, PartialEq)]
pub struct AccountConfig {
    pub name: String,
    /// The provider and the keys it owns (credentials, base URL, currency rules).
    pub provider: ProviderConfig,
    pub poll_interval: Duration,
    pub repeat_every: Option<Duration>,
    pub blind_after: Duration,
    pub timeout: Duration,
    pub ca_file: Option<PathBuf>,
    pub notify: Vec<String>,
    pub thresholds: Thresholds,
    /// Runway window, floor and latches (SPEC §9.2).
    pub runway: RunwayPolicy,
    /// The smallest rise that counts as a top-up (SPEC §9.4).
    pub topup_min: rust_decimal::Decimal,
}

/// Requests for one account are never closer together than this (SPEC §2).
pub const RATE_FLOOR: Duration = Duration::from_secs(60);

impl AccountConfig {
    /// The provider's identifier of the account (Exotel's SID), as events carry it.
    pub fn sid(&self) -> &str {
        self.provider.account_id()
    }
    /// The currency used when the API omits one.
    pub fn fallback_currency(&self) -> &str {
        self.provider.fallback_currency()
    }
    /// The currency the account insists on, if any.
    pub fn expected_currency(&self) -> Option<&str> {
        self.provider.expected_currency()
    }
    /// True when `base_url` points at a loopback address (tests, the demo).
    pub fn is_loopback(&self) -> bool {
        is_loopback_url(self.provider.base_url())
    }
    /// The minimum spacing between two Balance requests.
    pub fn rate_floor(&self) -> Duration {
        if self.is_loopback() {
            RATE_FLOOR.min(self.poll_interval)
        } else {
            RATE_FLOOR
        }
    }
}

/// True for `http(s)://localhost`, `127.x.x.x` and `[::1]` URLs.
pub fn is_loopback_url(url: &str) -> bool {
    let Ok(parsed) = reqwest::Url::parse(url) else {
        return false;
    };
    match parsed.host() {
        Some(url::Host::Domain(d)) => d.eq_ignore_ascii_case("localhost"),
        Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
        Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
        None => false,
    }
}

/// One `[[channel]]`.
#[derive(Debug, Clone, PartialEq)]
pub struct ChannelConfig {
    pub name: String,
    pub min_level: Level,
    /// The event kinds it wants (SPEC §9.5); `None`: all but `topped_up` and `summary`.
    pub events: Option<Vec<EventKind>>,
    pub kind: ChannelKind,
}

impl ChannelConfig {
    /// Whether this channel's `events` filter lets `kind` through.
    pub fn wants(&self, kind: EventKind) -> bool {
        match &self.events {
            Some(list) => list.contains(&kind),
            None => crate::core::routing::default_events(kind),
        }
    }
}

impl Config {
    /// The one line `validate` prints, e.g. `config OK: /etc/balance-alert/config.toml:
    /// 2 accounts (primary, backup), 1 channel (ops-slack: slack)`.
    pub fn summary(&self) -> String {
        let accounts: Vec<&str> = self.accounts.iter().map(|a| a.name.as_str()).collect();
        let channels: Vec<String> = self
            .channels
            .iter()
            .map(|c| format!("{}: {}", c.name, c.kind.type_name()))
            .collect();
        format!(
            "config OK: {}: {} ({}), {} ({})",
            self.path.display(),
            plural(accounts.len(), "account"),
            accounts.join(", "),
            plural(channels.len(), "channel"),
            channels.join(", ")
        )
    }
}

fn plural(n: usize, word: &str) -> String {
    if n == 1 {
        format!("1 {word}")
    } else {
        format!("{n} {word}s")
    }
}

/// The longest duration any setting accepts.
pub const MAX_DURATION: Duration = Duration::from_secs(365 * 24 * 3600);

/// Reads and validates the config file at `path`.
pub fn load(path: &Path) -> Result<Config, ConfigError> {
    let text = std::fs::read_to_string(path).map_err(|e| ConfigError {
        file: path.to_path_buf(),
        line: None,
        column: None,
        key: None,
        message: format!("cannot read config file: {e}"),
    })?;
    let (mut config, literal_secrets) = parse_detailed(&text, path, &ProcessEnv)?;
    config
        .warnings
        .extend(permission_warning(path, &literal_secrets));
    Ok(config)
}

/// Parses and validates config text. Pure given `env`.
pub fn parse(text: &str, path: &Path, env: &dyn Env) -> Result<Config, ConfigError> {
    parse_detailed(text, path, env).map(|(config, _)| config)
}

/// A warning when the file is readable by group or others and holds a literal secret
/// (`literal_secrets` names the keys, as [`parse_detailed`] found them).
pub fn permission_warning(path: &Path, literal_secrets: &[String]) -> Option<String> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(path).ok()?.permissions().mode();
        mode_warning(path, mode, literal_secrets)
    }
    #[cfg(not(unix))]
    {
        let _ = (path, literal_secrets);
        None
    }
}

/// The decision behind [`permission_warning`], separate from the file system so it is
/// testable without depending on the umask of whoever runs the tests.
fn mode_warning(path: &Path, mode: u32, literal_secrets: &[String]) -> Option<String> {
    if mode & 0o044 == 0 || literal_secrets.is_empty() {
        return None;
    }
    Some(format!(
        "{} is readable by group or others (mode {:03o}) and holds literal secrets ({}): \
         run `chmod 600 {}`, or take them from ${{VAR}} or a *_file",
        path.display(),
        mode & 0o777,
        literal_secrets.join(", "),
        path.display()
    ))
}

/// Parses and validates config text, also returning the keys of secrets written inline
/// (for [`permission_warning`]). Pure given `env`.
pub fn parse_detailed(
    text: &str,
    path: &Path,
    env: &dyn Env,
) -> Result<(Config, Vec<String>), ConfigError> {
    parse_checked(text, path, env).map_err(|mut e| {
        // One unset variable rarely comes alone: name them all, so a first run of
        // `validate` is not followed by one more run per variable.
        if e.message.ends_with(" is not set") {
            let others = env::unset_variables(text, env, &e.message);
            if !others.is_empty() {
                e.message = format!("{}; also unset: {}", e.message, others.join(", "));
            }
        }
        e
    })
}

fn parse_checked(
    text: &str,
    path: &Path,
    env: &dyn Env,
) -> Result<(Config, Vec<String>), ConfigError> {
    // First a schema-free read: it fails only on TOML syntax, and its spans name the key
    // behind any error of the typed reads that follow.
    let tree: Spanned<Node> = toml::from_str(text).map_err(|e| {
        let at = e.span().map(|span| line_col(text, span.start));
        ConfigError {
            file: path.to_path_buf(),
            line: at.map(|(line, _)| line),
            column: at.map(|(_, column)| column),
            key: None,
            message: format!("TOML syntax error: {}", describe_serde_error(e.message())),
        }
    })?;
    let mut ctx = Ctx {
        text,
        path,
        env,
        literal_secrets: Vec::new(),
        warnings: Vec::new(),
        tree,
    };
    let raw: RawFile = toml::from_str(text).map_err(|e| ctx.serde_error(&e))?;
    let account_tables = sections::account_tables(&ctx, &raw);
    let channel_tables = sections::channel_tables(&ctx, &raw);
    sections::unknown_keys(&ctx, &account_tables, &channel_tables)?;

    let daemon = match &raw.daemon {
        Some(d) => sections::daemon(&ctx, d)?,
        None => DaemonConfig {
            state_file: PathBuf::from(DEFAULT_STATE_FILE),
            listen: None,
            log_format: LogFormat::Text,
            give_up_after: Duration::from_secs(24 * 3600),
            timezone: None,
            shutdown_grace: Duration::from_secs(10),
            summary_at: None,
        },
    };

    if raw.account.is_empty() {
        return Err(ctx.err(
            None,
            "account",
            "no [[account]] configured: nothing to watch",
        ));
    }
    let mut providers = ProviderConfig::read(&mut ctx, &account_tables)?;
    let mut accounts: Vec<Arc<AccountConfig>> = Vec::new();
    let mut account_lines: BTreeMap<String, usize> = BTreeMap::new();
    for (i, a) in raw.account.iter().enumerate() {
        let base = &account_tables.bases[i];
        let acct = sections::account(&mut ctx, a, i, base, &mut providers)?;
        let name_span = a
            .get_ref()
            .name
            .as_ref()
            .map(Spanned::span)
            .unwrap_or(a.span());
        ctx.unique(&mut account_lines, "account", &acct.name, name_span, base)?;
        accounts.push(Arc::new(acct));
    }

    let mut kinds = ChannelKind::read(&mut ctx, &channel_tables, &accounts)?;
    let mut channels: Vec<Arc<ChannelConfig>> = Vec::new();
    let mut channel_lines: BTreeMap<String, usize> = BTreeMap::new();
    for (i, c) in raw.channel.iter().enumerate() {
        let base = &channel_tables.bases[i];
        let chan = sections::channel(&mut ctx, c, i, &channel_tables, &mut kinds)?;
        let name_span = c
            .get_ref()
            .name
            .as_ref()
            .map(Spanned::span)
            .unwrap_or(c.span());
        ctx.unique(&mut channel_lines, "channel", &chan.name, name_span, base)?;
        channels.push(Arc::new(chan));
    }

    // Routing: every notify entry names a channel.
    for (i, (a, acct)) in raw.account.iter().zip(&accounts).enumerate() {
        let base = format!("account[{i}].notify");
        if let Some(list) = &a.get_ref().notify {
            for (j, entry) in list.get_ref().iter().enumerate() {
                let name = &acct.notify[j];
                if !channel_lines.contains_key(name) {
                    return Err(ctx.err(
                        Some(entry.span()),
                        &format!("{base}[{j}]"),
                        format!("no [[channel]] named \"{name}\""),
                    ));
                }
            }
        }
        if acct.notify.is_empty() {
            ctx.warn(format!(
                "account \"{}\" notifies no channel: only monitor_failing (which goes to every channel) will be heard",
                acct.name
            ));
        } else if acct.notify.iter().all(|n| {
            channels
                .iter()
                .any(|c| &c.name == n && c.kind.paid_from_a_watched_wallet())
        }) {
            ctx.warn(format!(
                "account \"{}\" notifies only through exotel_sms, which Exotel may refuse when the wallet is empty: pair it with another channel",
                acct.name
            ));
        }
    }
    for c in &channels {
        if !accounts.iter().any(|a| a.notify.contains(&c.name)) {
            ctx.warn(format!(
                "channel \"{}\" is in no account's notify list: it only gets monitor_failing",
                c.name
            ));
        }
    }

    let config = Config {
        path: path.to_path_buf(),
        daemon,
        accounts,
        channels,
        warnings: ctx.warnings,
    };
    Ok((config, ctx.literal_secrets))
}

#[cfg(test)]
mod tests;
