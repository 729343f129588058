//! Notification: the event every channel receives, the one small [`Notifier`] trait,
//! the [`Channel`] enum that dispatches to one file per channel type, and routing (who
//! is told what, SPEC §5).
//!
//! Messages are built by [`render`] as pure functions; a channel only sends them.

use std::collections::BTreeSet;
use std::future::Future;
use std::time::Duration;

use jiff::Timestamp;
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

use crate::config::{ChannelConfig, ChannelKind};
use crate::evaluate::Level;

pub mod console;
pub mod email;
pub mod exotel_sms;
pub mod render;
pub mod slack;
pub mod twilio_sms;
pub mod webhook;

pub use render::RenderCtx;

/// What happened (SPEC §4).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EventKind {
    Alert,
    Improved,
    Resolved,
    Reminder,
    MonitorFailing,
    MonitorRecovered,
    Test,
    /// The state cannot be written: monitoring goes on from memory (SPEC §17).
    StateUnwritable,
    /// The state is written again.
    StateRecovered,
}

impl EventKind {
    pub fn as_str(self) -> &'static str {
        match self {
            EventKind::Alert => "alert",
            EventKind::Improved => "improved",
            EventKind::Resolved => "resolved",
            EventKind::Reminder => "reminder",
            EventKind::MonitorFailing => "monitor_failing",
            EventKind::MonitorRecovered => "monitor_recovered",
            EventKind::Test => "test",
            EventKind::StateUnwritable => "state_unwritable",
            EventKind::StateRecovered => "state_recovered",
        }
    }
}

/// One event, exactly as the `webhook` channel posts it (SPEC §5) and as the outbox
/// stores it. Decimals serialize as strings; absent values as `null`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Event {
    /// Unique per event; reused when a delivery is retried.
    pub id: String,
    pub event: EventKind,
    pub account: String,
    pub sid: String,
    pub level: Level,
    pub previous_level: Option<Level>,
    #[serde(with = "rust_decimal::serde::str_option")]
    pub balance: Option<Decimal>,
    pub currency: String,
    #[serde(with = "rust_decimal::serde::str_option")]
    pub threshold: Option<Decimal>,
    pub pricing_plan: Option<String>,
    pub date_updated: Option<String>,
    /// RFC 3339, UTC.
    pub observed_at: Timestamp,
    /// Why the monitor is failing (`monitor_failing` only); null otherwise.
    #[serde(default)]
    pub error: Option<String>,
}

/// A fresh event id: 128 random bits, hex.
pub fn new_event_id() -> String {
    format!("{:032x}", fastrand::u128(..))
}

/// Why a delivery did not go through.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DeliveryError {
    /// The peer refused for good (Slack 400/403/404/410, SMTP 5xx): not retried.
    #[error("refused permanently: {0}")]
    Permanent(String),
    /// Worth another try, no sooner than `retry_after` when the peer said so.
    #[error("{reason}")]
    Retry {
        reason: String,
        retry_after: Option<Duration>,
    },
}

impl DeliveryError {
    pub fn retry(reason: impl Into<String>) -> Self {
        DeliveryError::Retry {
            reason: reason.into(),
            retry_after: None,
        }
    }
}

/// The one thing every channel does.
pub trait Notifier {
    fn send(
        &self,
        event: &Event,
        ctx: &RenderCtx,
    ) -> impl Future<Output = Result<(), DeliveryError>> + Send;
}

/// A ready-to-send channel. An enum (not a registry of trait objects) so adding a type
/// is a compile error until every `match` handles it.
#[derive(Debug)]
pub enum Channel {
    Slack(slack::Slack),
    Email(email::Email),
    ExotelSms(exotel_sms::ExotelSms),
    TwilioSms(twilio_sms::TwilioSms),
    Webhook(webhook::Webhook),
    Console(console::Console),
}

impl Channel {
    /// Builds the sender for a validated channel config (HTTP clients, TLS settings).
    pub fn new(config: &ChannelConfig) -> Result<Channel, String> {
        Ok(match &config.kind {
            ChannelKind::Slack(c) => Channel::Slack(slack::Slack::new(c)?),
            ChannelKind::Email(c) => Channel::Email(email::Email::new(c)?),
            ChannelKind::ExotelSms(c) => Channel::ExotelSms(exotel_sms::ExotelSms::new(c)?),
            ChannelKind::TwilioSms(c) => Channel::TwilioSms(twilio_sms::TwilioSms::new(c)?),
            ChannelKind::Webhook(c) => Channel::Webhook(webhook::Webhook::new(c)?),
            ChannelKind::Console => Channel::Console(console::Console::stdout()),
        })
    }
}

impl Channel {
    /// The longest one delivery attempt can legitimately take: its worker's heartbeat
    /// deadline, so a slow but working peer is never mistaken for a stuck task.
    pub fn max_send_time(&self) -> Duration {
        let request = crate::http::REQUEST_TIMEOUT;
        match self {
            // Slack may first wait for the webhook's next one-a-second slot.
            Channel::Slack(_) => request + request,
            Channel::Webhook(_) | Channel::Console(_) => request,
            Channel::Email(_) => email::SEND_TIMEOUT,
            // One request per recipient, one after another.
            Channel::ExotelSms(c) => request.saturating_mul(c.recipients().max(1) as u32),
            Channel::TwilioSms(c) => request.saturating_mul(c.recipients().max(1) as u32),
        }
    }
}

impl Channel {
    /// Whether many accounts' outage messages go as one (SPEC §17): not for the
    /// webhook, whose receivers are programs that want one event per account.
    pub fn groups_outages(&self) -> bool {
        !matches!(self, Channel::Webhook(_))
    }

    /// How long a grouped message's list of account names may be.
    pub fn group_list_chars(&self) -> usize {
        match self {
            Channel::ExotelSms(_) | Channel::TwilioSms(_) => 60,
            Channel::Slack(_) | Channel::Console(_) => 1500,
            Channel::Email(_) | Channel::Webhook(_) => 4000,
        }
    }
}

impl Notifier for Channel {
    async fn send(&self, event: &Event, ctx: &RenderCtx) -> Result<(), DeliveryError> {
        match self {
            Channel::Slack(c) => c.send(event, ctx).await,
            Channel::Email(c) => c.send(event, ctx).await,
            Channel::ExotelSms(c) => c.send(event, ctx).await,
            Channel::TwilioSms(c) => c.send(event, ctx).await,
            Channel::Webhook(c) => c.send(event, ctx).await,
            Channel::Console(c) => c.send(event, ctx).await,
        }
    }
}

/// Per-account routing memory (SPEC §5), persisted with the account's state: who was
/// sent what, so `improved`, `resolved` and `monitor_recovered` reach exactly the
/// channels that heard the news they follow up on.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct Routing {
    /// Channels sent any alert since the level left `ok`.
    pub alerted: BTreeSet<String>,
    /// Channels sent the `critical` alert.
    pub critical: BTreeSet<String>,
    /// Channels sent the standing `monitor_failing`.
    pub failing: BTreeSet<String>,
}

/// Decides which channels receive an event of `kind` at `severity`, and updates the
/// routing memory. `own` are the account's `notify` channels; `all` every configured
/// channel (in the order the result keeps). `min_level` picks among the account's own
/// channels; follow-ups (`improved`, `resolved`, `monitor_recovered`) go to whoever got
/// the news they answer, even a channel a reload has since taken off the account's
/// list; `monitor_failing` goes to every channel.
pub fn route(
    kind: EventKind,
    severity: Level,
    own: &[&ChannelConfig],
    all: &[&ChannelConfig],
    memory: &mut Routing,
) -> Vec<String> {
    let is_own = |c: &ChannelConfig| own.iter().any(|o| o.name == c.name);
    let passes_filter =
        |c: &ChannelConfig| is_own(c) && severity != Level::Ok && c.min_level <= severity;
    let picked: Vec<String> = all
        .iter()
        .filter(|c| match kind {
            EventKind::Alert | EventKind::Reminder => passes_filter(c),
            EventKind::Improved => passes_filter(c) || memory.critical.contains(&c.name),
            EventKind::Resolved => memory.alerted.contains(&c.name),
            EventKind::MonitorFailing => true,
            EventKind::MonitorRecovered => memory.failing.contains(&c.name),
            EventKind::Test => is_own(c),
            EventKind::StateUnwritable | EventKind::StateRecovered => true,
        })
        .map(|c| c.name.clone())
        .collect();
    match kind {
        EventKind::Alert | EventKind::Reminder => {
            memory.alerted.extend(picked.iter().cloned());
            if severity == Level::Critical {
                memory.critical.extend(picked.iter().cloned());
            }
        }
        EventKind::Improved => {
            memory.alerted.extend(picked.iter().cloned());
            memory.critical.clear();
        }
        EventKind::Resolved => {
            memory.alerted.clear();
            memory.critical.clear();
        }
        EventKind::MonitorFailing => memory.failing.extend(picked.iter().cloned()),
        EventKind::MonitorRecovered => memory.failing.clear(),
        EventKind::Test | EventKind::StateUnwritable | EventKind::StateRecovered => {}
    }
    picked
}

/// The severity routing filters an event by (SPEC §4 table).
pub fn severity(kind: EventKind, level: Level) -> Level {
    match kind {
        EventKind::Alert | EventKind::Reminder => level,
        EventKind::Improved => Level::Warning,
        EventKind::Resolved
        | EventKind::MonitorRecovered
        | EventKind::Test
        | EventKind::StateRecovered => Level::Ok,
        EventKind::StateUnwritable => Level::Warning,
        // Goes to every channel regardless of min_level; the level is informative.
        EventKind::MonitorFailing => level,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn channel(name: &str, min_level: Level) -> ChannelConfig {
        ChannelConfig {
            name: name.into(),
            min_level,
            kind: ChannelKind::Console,
        }
    }

    #[test]
    fn routing_follows_spec_section_5() {
        let warn = channel("warn", Level::Warning);
        let crit = channel("crit", Level::Critical);
        let other = channel("other", Level::Warning);
        let own = [&warn, &crit];
        let all = [&crit, &other, &warn];
        let mut memory = Routing::default();
        let mut go = |kind, level| route(kind, severity(kind, level), &own, &all, &mut memory);

        assert_eq!(go(EventKind::Alert, Level::Warning), ["warn"]);
        assert_eq!(go(EventKind::Alert, Level::Critical), ["crit", "warn"]);
        assert_eq!(go(EventKind::Reminder, Level::Critical), ["crit", "warn"]);
        // improved: the warning filter plus whoever got the critical alert.
        assert_eq!(go(EventKind::Improved, Level::Warning), ["crit", "warn"]);
        // resolved: everyone alerted since the level left ok.
        assert_eq!(go(EventKind::Resolved, Level::Ok), ["crit", "warn"]);
        assert_eq!(go(EventKind::Resolved, Level::Ok), Vec::<String>::new());
        // monitor_failing: every channel; recovered: exactly those.
        assert_eq!(
            go(EventKind::MonitorFailing, Level::Ok),
            ["crit", "other", "warn"]
        );
        assert_eq!(
            go(EventKind::MonitorRecovered, Level::Ok),
            ["crit", "other", "warn"]
        );
        assert_eq!(
            go(EventKind::MonitorRecovered, Level::Ok),
            Vec::<String>::new()
        );
    }

    #[test]
    fn follow_ups_reach_a_channel_no_longer_listed() {
        let pager = channel("pager", Level::Critical);
        let chat = channel("chat", Level::Warning);
        let mut memory = Routing::default();
        let alerted = route(
            EventKind::Alert,
            Level::Critical,
            &[&pager, &chat],
            &[&chat, &pager],
            &mut memory,
        );
        assert_eq!(alerted, ["chat", "pager"]);
        // A reload took the pager off the account; it still hears the resolve.
        let resolved = route(
            EventKind::Resolved,
            Level::Ok,
            &[&chat],
            &[&chat, &pager],
            &mut memory,
        );
        assert_eq!(resolved, ["chat", "pager"]);
    }
}
