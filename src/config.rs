//! Configuration: the TOML schema of SPEC §6, secrets and validation.
//!
//! Loading is split so the interesting part is pure: [`load`] reads the file, [`parse`]
//! turns text into a validated [`Config`] given an [`Env`] (environment variables and
//! `_file` reads), and every error is a [`ConfigError`] naming the file, line, column
//! and key. A bad channel refuses the whole file: nothing is dropped with a log line.

use std::collections::BTreeMap;
use std::fmt;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use crate::evaluate::{Level, Thresholds};

/// A secret string (API token, webhook URL, password). `Debug` and `Display` print a
/// mask so a secret cannot reach a log line, an error or a panic message by accident.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    pub fn new(value: impl Into<String>) -> Self {
        Secret(value.into())
    }
    /// The secret itself; call sites are few and obvious (auth headers, URLs to POST to).
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(****)")
    }
}

impl fmt::Display for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("****")
    }
}

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

/// Where `${VAR}` and `_file` values come from; injected so [`parse`] is pure.
pub trait Env {
    fn var(&self, name: &str) -> Option<String>;
    fn read_file(&self, path: &Path) -> std::io::Result<String>;
}

/// The process environment and file system.
#[derive(Debug, Default, Clone, Copy)]
pub struct ProcessEnv;

impl Env for ProcessEnv {
    fn var(&self, name: &str) -> Option<String> {
        std::env::var(name).ok()
    }
    fn read_file(&self, path: &Path) -> std::io::Result<String> {
        std::fs::read_to_string(path)
    }
}

/// A fixed environment for tests.
#[derive(Debug, Default, Clone)]
pub struct MapEnv {
    pub vars: BTreeMap<String, String>,
    pub files: BTreeMap<PathBuf, String>,
}

impl Env for MapEnv {
    fn var(&self, name: &str) -> Option<String> {
        self.vars.get(name).cloned()
    }
    fn read_file(&self, path: &Path) -> std::io::Result<String> {
        self.files
            .get(path)
            .cloned()
            .ok_or_else(|| std::io::Error::new(std::io::ErrorKind::NotFound, "no such file"))
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
}

pub const DEFAULT_STATE_FILE: &str = "/var/lib/balance-alert/state.json";

/// One `[[account]]`.
#[derive(Debug, Clone, PartialEq)]
pub struct AccountConfig {
    pub name: String,
    pub sid: String,
    pub api_key: Secret,
    pub api_token: Secret,
    /// Without a trailing slash, e.g. `https://api.exotel.com`.
    pub base_url: String,
    /// The currency the account insists on; `None` means "accept what the API says, INR
    /// when it says nothing".
    pub currency: Option<String>,
    pub poll_interval: Duration,
    pub repeat_every: Option<Duration>,
    pub blind_after: Duration,
    pub timeout: Duration,
    pub ca_file: Option<PathBuf>,
    pub notify: Vec<String>,
    pub thresholds: Thresholds,
}

/// Requests for one account are never closer together than this (SPEC §2).
pub const RATE_FLOOR: Duration = Duration::from_secs(60);

impl AccountConfig {
    /// The currency used when the API omits one.
    pub fn fallback_currency(&self) -> &str {
        self.currency.as_deref().unwrap_or("INR")
    }
    /// True when `base_url` points at a loopback address (tests, the demo).
    pub fn is_loopback(&self) -> bool {
        is_loopback_url(&self.base_url)
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
    pub kind: ChannelKind,
}

/// The channel types of SPEC §5, plus `console` (prints to stdout; the demo uses it).
#[derive(Debug, Clone, PartialEq)]
pub enum ChannelKind {
    Slack(SlackConfig),
    Email(EmailConfig),
    ExotelSms(ExotelSmsConfig),
    TwilioSms(TwilioSmsConfig),
    Webhook(WebhookConfig),
    Console,
}

impl ChannelKind {
    /// The `type` as written in the config.
    pub fn type_name(&self) -> &'static str {
        match self {
            ChannelKind::Slack(_) => "slack",
            ChannelKind::Email(_) => "email",
            ChannelKind::ExotelSms(_) => "exotel_sms",
            ChannelKind::TwilioSms(_) => "twilio_sms",
            ChannelKind::Webhook(_) => "webhook",
            ChannelKind::Console => "console",
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct SlackConfig {
    pub webhook_url: Secret,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SmtpTls {
    Starttls,
    Tls,
    None,
}

#[derive(Debug, Clone, PartialEq)]
pub struct EmailConfig {
    pub smtp_host: String,
    pub smtp_port: u16,
    pub tls: SmtpTls,
    /// `username` and password, given together or not at all.
    pub credentials: Option<(String, Secret)>,
    pub from: String,
    pub to: Vec<String>,
    pub ca_file: Option<PathBuf>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct ExotelSmsConfig {
    /// The account whose credentials and base URL send the SMS.
    pub account: Arc<AccountConfig>,
    pub from: String,
    pub to: Vec<String>,
    pub dlt_entity_id: Option<String>,
    pub dlt_template_id: Option<String>,
    pub body_template: Option<String>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct TwilioSmsConfig {
    pub account_sid: String,
    pub auth_token: Secret,
    pub from: String,
    pub to: Vec<String>,
    /// Without a trailing slash; default `https://api.twilio.com`.
    pub base_url: String,
    pub body_template: Option<String>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct WebhookConfig {
    pub url: Secret,
    /// Header values may carry tokens, so they are secrets too.
    pub headers: Vec<(String, Secret)>,
}

/// Reads and validates the config file at `path`.
pub fn load(path: &Path) -> Result<Config, ConfigError> {
    let text = std::fs::read_to_string(path).map_err(|e| ConfigError {
        file: path.to_path_buf(),
        line: None,
        column: None,
        key: None,
        message: format!("cannot read config file: {e}"),
    })?;
    let mut config = parse(&text, path, &ProcessEnv)?;
    config.warnings.extend(permission_warning(path, &text));
    Ok(config)
}

/// Parses and validates config text. Pure given `env`.
pub fn parse(_text: &str, _path: &Path, _env: &dyn Env) -> Result<Config, ConfigError> {
    unimplemented!("config parsing")
}

/// A warning when the file is readable by group or others and holds a literal secret.
fn permission_warning(_path: &Path, _text: &str) -> Option<String> {
    None
}
