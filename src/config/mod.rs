//! How configuration is read (SPEC §6): the machinery, knowing no provider and no
//! channel type. Every error is a [`ConfigError`] naming the file, line, column and
//! key; secrets never appear in one.
//!
//! - this file: [`ConfigError`], reading the file ([`read_text`]), the first reads of
//!   a document (TOML syntax, the fixed tables, serde's errors in TOML's words), the
//!   `[daemon]` section it owns, and the file-permission warning;
//! - [`raw`]: what serde reads (every field optional and spanned), a schema-free
//!   spanned tree of the same text that names the key behind any error, and the second
//!   read of `[[account]]`/`[[channel]]` tables into a provider's or channel's struct;
//! - [`env`](mod@env): `${VAR}` expansion and where `_file` values come from ([`Env`], injected
//!   so parsing is pure);
//! - [`secret`]: [`Secret`] and redaction;
//! - [`validate`]: [`Ctx`] and [`Place`], the helpers that turn raw values into typed
//!   ones at their line, which `[daemon]`, the account keys, every provider and every
//!   channel call.
//!
//! The keys of a provider live in its file under `provider/`, those of a channel type
//! in its file under `notify/`; [`crate::settings`] puts a whole file together.

use std::fmt;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use toml::Spanned;

pub mod env;
mod ha;
pub mod raw;
pub(crate) mod runway;
pub mod secret;
pub mod validate;

pub use env::{Env, MapEnv, ProcessEnv};
pub use ha::HeartbeatConfig;
pub use secret::{Secret, redact_secrets};
pub use validate::{Checked, Ctx, Place, Res, Tables};

use raw::{RawDaemon, RawFile, describe_serde_error, line_col};

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
    /// `instance`: names this instance of an HA pair in messages and labels (§11.3).
    pub instance: Option<String>,
    /// `shard`: poll only the accounts of this shard (§11.3).
    pub shard: Option<crate::core::Shard>,
    /// `heartbeat`: the dead man's switch pinged while every loop is alive (§11.2).
    pub heartbeat: Option<HeartbeatConfig>,
    /// TLS, basic auth and the admin token of the web endpoint on `listen`.
    pub web: crate::web::WebConfig,
}

pub const DEFAULT_STATE_FILE: &str = "/var/lib/balance-alert/state.db";

/// The longest duration any setting accepts.
pub const MAX_DURATION: Duration = Duration::from_secs(365 * 24 * 3600);

/// The largest config file read (SPEC §17): 10,000 accounts take about 3 MiB.
pub const MAX_CONFIG_BYTES: u64 = 16 * 1024 * 1024;

/// Reads the config file: a regular file (a FIFO would hang the read, `/dev/zero` would
/// never end) of at most [`MAX_CONFIG_BYTES`], in UTF-8 (a bad byte is named by line
/// and column).
pub fn read_config_file(path: &Path) -> Result<String, ConfigError> {
    use std::io::Read as _;
    let fail = |line: Option<usize>, column: Option<usize>, message: String| ConfigError {
        file: path.to_path_buf(),
        line,
        column,
        key: None,
        message,
    };
    // Checked before opening: opening a FIFO for reading blocks until a writer comes.
    let meta = std::fs::metadata(path)
        .map_err(|e| fail(None, None, format!("cannot read config file: {e}")))?;
    if !meta.is_file() {
        let what = if meta.is_dir() {
            "a directory"
        } else {
            "not a regular file (a FIFO, socket or device)"
        };
        return Err(fail(
            None,
            None,
            format!("cannot read config file: it is {what}"),
        ));
    }
    let too_large = || {
        fail(
            None,
            None,
            format!(
                "config file is larger than {} MiB",
                MAX_CONFIG_BYTES / (1024 * 1024)
            ),
        )
    };
    if meta.len() > MAX_CONFIG_BYTES {
        return Err(too_large());
    }
    let file = std::fs::File::open(path)
        .map_err(|e| fail(None, None, format!("cannot read config file: {e}")))?;
    let mut bytes = Vec::with_capacity(meta.len() as usize);
    // `take`: a file that grows while it is read still stops at the limit.
    file.take(MAX_CONFIG_BYTES + 1)
        .read_to_end(&mut bytes)
        .map_err(|e| fail(None, None, format!("cannot read config file: {e}")))?;
    if bytes.len() as u64 > MAX_CONFIG_BYTES {
        return Err(too_large());
    }
    String::from_utf8(bytes).map_err(|e| {
        let bytes = e.as_bytes();
        let at = e.utf8_error().valid_up_to();
        let valid = std::str::from_utf8(&bytes[..at]).expect("valid up to here");
        let (line, column) = raw::line_col(valid, at);
        fail(
            Some(line),
            Some(column),
            format!(
                "config file is not UTF-8: byte 0x{:02X} here is not valid UTF-8",
                bytes[at]
            ),
        )
    })
}

/// A warning when the file is readable by group or others and holds a literal secret
/// (`literal_secrets` names the keys, as [`crate::settings::parse_detailed`] found them).
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
pub(crate) fn mode_warning(path: &Path, mode: u32, literal_secrets: &[String]) -> Option<String> {
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

/// The first steps of reading a file, pure given `env`: the schema-free spanned read
/// (which fails only on TOML syntax) and the read of `[daemon]` and the common keys of
/// every `[[account]]` and `[[channel]]`, with serde's errors in TOML's words.
pub(crate) fn read_document<'a>(
    text: &'a str,
    path: &'a Path,
    env: &'a dyn Env,
) -> Result<(Ctx<'a>, RawFile), ConfigError> {
    // First a schema-free read: it fails only on TOML syntax, and its spans name the key
    // behind any error of the typed reads that follow.
    // One parse: the tree and every typed read below work on the parsed document.
    let doc = raw::parse(text).map_err(|e| {
        let at = e.span().map(|span| line_col(text, span.start));
        ConfigError {
            file: path.to_path_buf(),
            line: at.map(|(line, _)| line),
            column: at.map(|(_, column)| column),
            key: None,
            message: format!("TOML syntax error: {}", describe_serde_error(e.message())),
        }
    })?;
    let ctx = Ctx {
        text,
        path,
        env,
        literal_secrets: Vec::new(),
        warnings: Vec::new(),
        tree: raw::tree(&doc),
        doc,
    };
    let raw: RawFile = raw::read_doc(&ctx.doc).map_err(|e| ctx.serde_error(&e))?;
    Ok((ctx, raw))
}

/// `[daemon]`, with its defaults when the section is absent.
pub(crate) fn daemon_section(ctx: &mut Ctx<'_>, raw: &RawFile) -> Res<DaemonConfig> {
    match &raw.daemon {
        Some(d) => daemon(ctx, d),
        None => Ok(DaemonConfig {
            state_file: PathBuf::from(DEFAULT_STATE_FILE),
            listen: None,
            log_format: LogFormat::Text,
            give_up_after: Duration::from_secs(24 * 3600),
            timezone: None,
            shutdown_grace: Duration::from_secs(10),
            summary_at: None,
            instance: None,
            shard: None,
            heartbeat: None,
            web: crate::web::WebConfig::default(),
        }),
    }
}

/// The text of the config file at `path` (see [`read_config_file`]).
pub fn read_text(path: &Path) -> Result<String, ConfigError> {
    read_config_file(path)
}

/// The state database `text` names (`[daemon] state_file`, or the default), found by
/// scanning its lines, so `run` can start reading the database while the file is
/// validated. A full TOML parse would cost what it saves (a 10,000-account file takes
/// ~100 ms and tens of MiB to parse), so this reads only the plain forms: a
/// `state_file = "..."` (or `'...'`) line under `[daemon]`, or `daemon.state_file = "..."`
/// before any table; with no `state_file` anywhere, the default. Anything else that
/// mentions `state_file` (an inline table, an escape or `${VAR}` in the path, several
/// of them) gives `None`. A hint, not a validated value: the daemon uses what was read
/// only when the validated config names the same path.
pub fn state_file_hint(text: &str) -> Option<PathBuf> {
    fn value(rest: &str) -> Option<&str> {
        let rest = rest.trim_start().strip_prefix('=')?.trim_start();
        let quote = rest.chars().next().filter(|q| *q == '"' || *q == '\'')?;
        let (path, after) = rest[1..].split_once(quote)?;
        let after = after.trim_start();
        let plain = !path.is_empty() && !path.contains(['\\', '$', '"', '\'']);
        (plain && (after.is_empty() || after.starts_with('#'))).then_some(path)
    }
    let mut table = None;
    let mut found = None;
    for line in text.lines() {
        let line = line.trim();
        if line.starts_with('[') {
            table = Some(line.trim_end_matches(|c: char| c != ']'));
            continue;
        }
        if line.starts_with('#') || !line.contains("state_file") {
            continue;
        }
        let path = match table {
            Some("[daemon]") => line.strip_prefix("state_file").and_then(value),
            None => line.strip_prefix("daemon.state_file").and_then(value),
            Some(_) => None,
        };
        match (path, &found) {
            (Some(path), None) => found = Some(PathBuf::from(path)),
            _ => return None,
        }
    }
    Some(found.unwrap_or_else(|| PathBuf::from(DEFAULT_STATE_FILE)))
}

fn daemon(ctx: &mut Ctx<'_>, d: &Spanned<RawDaemon>) -> Res<DaemonConfig> {
    let raw = d.get_ref();
    let state_file = match &raw.state_file {
        Some(v) => {
            let text = ctx.string(v, "daemon.state_file")?;
            // A path that can only name a directory is a mistake; a directory found at a
            // file's path at run time is a bad disk, handled from memory (SPEC §17).
            let names_a_file = !text.trim().is_empty()
                && !text.ends_with('/')
                && Path::new(&text)
                    .file_name()
                    .is_some_and(|n| n != "." && n != "..");
            if !names_a_file {
                return Err(ctx.err(
                    Some(v.span()),
                    "daemon.state_file",
                    format!("\"{text}\" names a directory; give the database file's path, e.g. \"/var/lib/balance-alert/state.db\""),
                ));
            }
            PathBuf::from(text)
        }
        None => PathBuf::from(DEFAULT_STATE_FILE),
    };
    let listen = match &raw.listen {
        Some(v) => {
            let text = ctx.string(v, "daemon.listen")?;
            Some(text.trim().parse::<SocketAddr>().map_err(|_| {
                ctx.err(
                    Some(v.span()),
                    "daemon.listen",
                    format!("bad listen address \"{text}\": expected IP:port, e.g. 127.0.0.1:9184 or [::1]:9184"),
                )
            })?)
        }
        None => None,
    };
    let log_format = match &raw.log_format {
        Some(v) => ctx.choice(
            v,
            "daemon.log_format",
            &[("text", LogFormat::Text), ("json", LogFormat::Json)],
        )?,
        None => LogFormat::Text,
    };
    let give_up_after = ctx.positive_duration(
        &raw.give_up_after,
        "daemon.give_up_after",
        Duration::from_secs(24 * 3600),
    )?;
    let timezone = match &raw.timezone {
        Some(v) => {
            let name = ctx.string(v, "daemon.timezone")?;
            let tz = jiff::tz::TimeZone::get(&name).map_err(|_| {
                ctx.err(
                    Some(v.span()),
                    "daemon.timezone",
                    format!(
                        "unknown time zone \"{name}\": expected an IANA name like Asia/Kolkata"
                    ),
                )
            })?;
            Some((name, tz))
        }
        None => None,
    };
    let shutdown_grace = match &raw.shutdown_grace {
        Some(v) => ctx.duration(v, "daemon.shutdown_grace")?,
        None => Duration::from_secs(10),
    };
    let summary_at = runway::summary_at(ctx, raw.summary_at.as_ref())?;
    let (instance, shard, heartbeat) = ha::read(ctx, raw)?;
    let web = crate::web::config::read(
        ctx,
        &d.span(),
        &raw.web,
        &raw.admin_token,
        &raw.admin_token_file,
        listen,
    )?;
    Ok(DaemonConfig {
        summary_at,
        web,
        state_file,
        listen,
        log_format,
        give_up_after,
        timezone,
        shutdown_grace,
        instance,
        shard,
        heartbeat,
    })
}
