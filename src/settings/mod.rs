//! The whole configuration file (SPEC §6): `[daemon]`, every `[[account]]` with its
//! provider's keys, every `[[channel]]` with its type's keys, and the checks that span
//! them (unique names, `notify` naming a channel, the warnings `validate` prints).
//!
//! This module sits above [`crate::provider`] and [`crate::notify`]: it hands each
//! account to the provider it names and each channel to its type. How a file is read
//! (spans, `${VAR}`, secrets, errors at file:line:column) is [`crate::config`]'s.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use toml::Spanned;

use crate::config::{self, ConfigError, DaemonConfig, Env, ProcessEnv};
use crate::core::{EventKind, Level};
use crate::notify::ChannelKind;
use crate::provider::{AccountConfig, ProviderConfig};

mod paging;
mod sections;

/// A validated configuration.
#[derive(Debug, Clone)]
pub struct Config {
    pub path: PathBuf,
    pub daemon: DaemonConfig,
    pub accounts: Vec<Arc<AccountConfig>>,
    pub channels: Vec<Arc<ChannelConfig>>,
    /// Non-fatal findings (e.g. a literal secret in a group-readable file).
    pub warnings: Vec<String>,
    /// Indices into `accounts` in the order of their names ([`Config::with_index`]).
    /// Left empty, [`Config::account`] falls back to a linear search.
    pub account_order: Vec<u32>,
}

impl Config {
    /// Builds the name index [`Config::account`] searches.
    pub fn with_index(mut self) -> Self {
        let mut order: Vec<u32> = (0..self.accounts.len() as u32).collect();
        order.sort_unstable_by(|&a, &b| {
            self.accounts[a as usize]
                .name
                .cmp(&self.accounts[b as usize].name)
        });
        self.account_order = order;
        self
    }

    pub fn account(&self, name: &str) -> Option<&Arc<AccountConfig>> {
        // A binary search: start-up and reload look up every account by name, which a
        // linear search made quadratic (0.7 s of a restart at 10,000 accounts, issue 7).
        if self.account_order.len() == self.accounts.len() {
            let found = self
                .account_order
                .binary_search_by(|&i| self.accounts[i as usize].name.as_str().cmp(name))
                .ok()?;
            return Some(&self.accounts[self.account_order[found] as usize]);
        }
        self.accounts.iter().find(|a| a.name == name)
    }
    pub fn channel(&self, name: &str) -> Option<&Arc<ChannelConfig>> {
        self.channels.iter().find(|c| c.name == name)
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
    /// When warning and ok messages wait (SPEC §12); empty: never.
    pub quiet_hours: crate::core::quiet::QuietHours,
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

impl crate::core::Routed for ChannelConfig {
    fn name(&self) -> &str {
        &self.name
    }
    fn min_level(&self) -> Level {
        self.min_level
    }
    fn wants(&self, kind: EventKind) -> bool {
        ChannelConfig::wants(self, kind)
    }
}

impl Config {
    /// The one line `validate` prints, e.g. `config OK: /etc/balance-alert/config.toml:
    /// 2 accounts (primary, backup), 1 channel (ops-slack: slack)`.
    pub fn summary(&self) -> String {
        let accounts: Vec<&str> = self.accounts.iter().map(|a| a.name.as_str()).collect();
        let shard = self
            .shard_summary()
            .map(|s| format!("; {s}"))
            .unwrap_or_default();
        let channels: Vec<String> = self
            .channels
            .iter()
            .map(|c| format!("{}: {}", c.name, c.kind.type_name()))
            .collect();
        format!(
            "config OK: {}: {} ({}), {} ({}){shard}",
            self.path.display(),
            plural(accounts.len(), "account"),
            accounts.join(", "),
            plural(channels.len(), "channel"),
            channels.join(", ")
        )
    }

    /// True when this instance polls `account` (its shard owns it, or no shard is set).
    pub fn owns(&self, account: &str) -> bool {
        crate::core::shard::owned(self.daemon.shard, account)
    }

    /// The accounts this instance polls, in config order.
    pub fn owned_accounts(&self) -> Vec<&Arc<AccountConfig>> {
        self.accounts
            .iter()
            .filter(|a| self.owns(&a.name))
            .collect()
    }

    /// `shard 1 of 3 polls 2 accounts (primary, backup)`, when a shard is set: what
    /// `validate` (and `status`) say about the split.
    pub fn shard_summary(&self) -> Option<String> {
        let shard = self.daemon.shard?;
        let owned: Vec<&str> = self
            .owned_accounts()
            .iter()
            .map(|a| a.name.as_str())
            .collect();
        Some(format!(
            "shard {} of {} polls {} ({})",
            shard.index,
            shard.count,
            plural(owned.len(), "account"),
            owned.join(", ")
        ))
    }
}

fn plural(n: usize, word: &str) -> String {
    if n == 1 {
        format!("1 {word}")
    } else {
        format!("{n} {word}s")
    }
}

/// Reads and validates the config file at `path`.
pub fn load(path: &Path) -> Result<Config, ConfigError> {
    load_text(path, &config::read_text(path)?)
}

/// [`load`] of text already read from `path` (with [`config::read_text`]).
pub fn load_text(path: &Path, text: &str) -> Result<Config, ConfigError> {
    let (mut config, literal_secrets) = parse_detailed(text, path, &ProcessEnv)?;
    config
        .warnings
        .extend(config::permission_warning(path, &literal_secrets));
    Ok(config)
}

/// Parses and validates config text. Pure given `env`.
pub fn parse(text: &str, path: &Path, env: &dyn Env) -> Result<Config, ConfigError> {
    parse_detailed(text, path, env).map(|(config, _)| config)
}

/// Parses and validates config text, also returning the keys of secrets written inline
/// (for [`config::permission_warning`]). Pure given `env`.
pub fn parse_detailed(
    text: &str,
    path: &Path,
    env: &dyn Env,
) -> Result<(Config, Vec<String>), ConfigError> {
    parse_checked(text, path, env).map_err(|mut e| {
        // One unset variable rarely comes alone: name them all, so a first run of
        // `validate` is not followed by one more run per variable.
        if e.message.ends_with(" is not set") {
            let others = config::env::unset_variables(text, env, &e.message);
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
    let (mut ctx, raw) = config::read_document(text, path, env)?;
    let account_tables = sections::account_tables(&ctx, &raw);
    let channel_tables = sections::channel_tables(&ctx, &raw);
    sections::unknown_keys(&ctx, &account_tables, &channel_tables)?;

    let daemon = config::daemon_section(&mut ctx, &raw)?;

    if raw.account.is_empty() {
        return Err(ctx.err(
            None,
            "account",
            "no [[account]] configured: nothing to watch",
        ));
    }
    let mut providers = ProviderConfig::read(&mut ctx, &account_tables)?;
    let mut accounts: Vec<Arc<AccountConfig>> = Vec::new();
    let mut account_lines: HashMap<String, usize> = HashMap::new();
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
    let mut channel_lines: HashMap<String, usize> = HashMap::new();
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
    paging::escalation_targets(&ctx, &raw, &accounts, &channel_lines)?;
    for c in &channels {
        if !accounts
            .iter()
            .any(|a| a.notify.contains(&c.name) || a.escalates_to(&c.name))
        {
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
        account_order: Vec::new(),
    }
    .with_index();
    Ok((config, ctx.literal_secrets))
}

#[cfg(test)]
mod tests;
