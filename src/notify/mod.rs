//! Notification channels (SPEC §5): one file per channel type, each owning its config
//! keys and their validation, its message rendering (pure, tested against exact output)
//! and its sending. This file holds what dispatches to them by exhaustive `match`: the
//! config enum [`ChannelKind`] and the sender enum [`Channel`], plus the one small
//! [`Notifier`] trait and the [`ChannelType`] trait each channel's config implements.
//! Wording and facts all channels share are in [`render`]; SMS rules in [`sms`].
//!
//! Adding a channel type is one new file plus one arm in [`ChannelKind`] and
//! [`Channel`] (and their `match`es here; the compiler lists them).

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use serde::de::DeserializeOwned;

use crate::config::{Checked, Ctx, Place, Res, Tables};
use crate::core::Event;
use crate::provider::AccountConfig;

pub mod alertmanager;
pub mod console;
pub mod discord;
pub mod email;
pub mod exotel_sms;
pub mod forecast;
pub mod ntfy;
pub mod pagerduty;
mod post;
pub mod render;
pub mod slack;
pub mod sms;
pub mod teams;
pub mod telegram;
#[cfg(test)]
mod test_events;
pub mod twilio_sms;
pub mod webhook;

/// What each channel type's file provides to read its `[[channel]]` tables.
pub trait ChannelType: Sized {
    /// The `type` value.
    const NAME: &'static str;
    /// The keys it takes besides `name`, `type` and `min_level`.
    const FIELDS: &'static [&'static str];
    /// [`Self::FIELDS`] as written, every one optional and spanned.
    type Raw: DeserializeOwned;
    /// Validates one channel's keys, found `at` its table; `accounts` are the validated
    /// accounts (for a channel that sends through one).
    fn validate(
        ctx: &mut Ctx<'_>,
        raw: &Self::Raw,
        at: &Place<'_>,
        accounts: &[Arc<AccountConfig>],
    ) -> Res<Self>;
}

/// A channel's type and the settings its type owns (SPEC §5, plus `console`, which
/// prints to stdout; the demo uses it).
#[derive(Debug, Clone, PartialEq)]
pub enum ChannelKind {
    Slack(slack::SlackConfig),
    Email(email::EmailConfig),
    ExotelSms(exotel_sms::ExotelSmsConfig),
    TwilioSms(twilio_sms::TwilioSmsConfig),
    Webhook(webhook::WebhookConfig),
    Console(console::ConsoleConfig),
    PagerDuty(pagerduty::PagerDutyConfig),
    Alertmanager(alertmanager::AlertmanagerConfig),
    Teams(teams::TeamsConfig),
    Discord(discord::DiscordConfig),
    Telegram(telegram::TelegramConfig),
    Ntfy(ntfy::NtfyConfig),
}

/// Every channel type with its keys, in the order errors list them.
const TYPES: &[(&str, &[&str])] = &[
    type_entry::<slack::SlackConfig>(),
    type_entry::<email::EmailConfig>(),
    type_entry::<exotel_sms::ExotelSmsConfig>(),
    type_entry::<twilio_sms::TwilioSmsConfig>(),
    type_entry::<webhook::WebhookConfig>(),
    type_entry::<console::ConsoleConfig>(),
    type_entry::<pagerduty::PagerDutyConfig>(),
    type_entry::<alertmanager::AlertmanagerConfig>(),
    type_entry::<teams::TeamsConfig>(),
    type_entry::<discord::DiscordConfig>(),
    type_entry::<telegram::TelegramConfig>(),
    type_entry::<ntfy::NtfyConfig>(),
];

const fn type_entry<T: ChannelType>() -> (&'static str, &'static [&'static str]) {
    (T::NAME, T::FIELDS)
}

impl ChannelKind {
    /// Validates the type-specific keys of every channel, each by the type it names.
    pub fn read(
        ctx: &mut Ctx<'_>,
        tables: &Tables,
        accounts: &[Arc<AccountConfig>],
    ) -> Res<Vec<Checked<ChannelKind>>> {
        fn read<T: ChannelType>(
            ctx: &mut Ctx<'_>,
            tables: &Tables,
            accounts: &[Arc<AccountConfig>],
            wrap: fn(T) -> ChannelKind,
        ) -> Res<Vec<Checked<ChannelKind>>> {
            ctx.typed_tables(tables, T::NAME, |ctx, raw, at| {
                T::validate(ctx, raw, at, accounts).map(wrap)
            })
        }
        let mut all = read(ctx, tables, accounts, ChannelKind::Slack)?;
        all.extend(read(ctx, tables, accounts, ChannelKind::Email)?);
        all.extend(read(ctx, tables, accounts, ChannelKind::ExotelSms)?);
        all.extend(read(ctx, tables, accounts, ChannelKind::TwilioSms)?);
        all.extend(read(ctx, tables, accounts, ChannelKind::Webhook)?);
        all.extend(read(ctx, tables, accounts, ChannelKind::Console)?);
        all.extend(read(ctx, tables, accounts, ChannelKind::PagerDuty)?);
        all.extend(read(ctx, tables, accounts, ChannelKind::Alertmanager)?);
        all.extend(read(ctx, tables, accounts, ChannelKind::Teams)?);
        all.extend(read(ctx, tables, accounts, ChannelKind::Discord)?);
        all.extend(read(ctx, tables, accounts, ChannelKind::Telegram)?);
        all.extend(read(ctx, tables, accounts, ChannelKind::Ntfy)?);
        Ok(all)
    }

    /// The `type` values, in the order errors list them.
    pub fn names() -> Vec<&'static str> {
        TYPES.iter().map(|(name, _)| *name).collect()
    }

    /// The keys a channel type takes besides `name`, `type` and `min_level`.
    pub fn fields(name: &str) -> Option<&'static [&'static str]> {
        TYPES.iter().find(|(n, _)| *n == name).map(|(_, f)| *f)
    }

    /// The keys of every channel type.
    pub fn all_fields() -> Vec<&'static str> {
        TYPES.iter().flat_map(|(_, f)| f.iter().copied()).collect()
    }

    /// The `type` as written in the config.
    pub fn type_name(&self) -> &'static str {
        match self {
            ChannelKind::Slack(_) => slack::SlackConfig::NAME,
            ChannelKind::Email(_) => email::EmailConfig::NAME,
            ChannelKind::ExotelSms(_) => exotel_sms::ExotelSmsConfig::NAME,
            ChannelKind::TwilioSms(_) => twilio_sms::TwilioSmsConfig::NAME,
            ChannelKind::Webhook(_) => webhook::WebhookConfig::NAME,
            ChannelKind::Console(_) => console::ConsoleConfig::NAME,
            ChannelKind::PagerDuty(_) => pagerduty::PagerDutyConfig::NAME,
            ChannelKind::Alertmanager(_) => alertmanager::AlertmanagerConfig::NAME,
            ChannelKind::Teams(_) => teams::TeamsConfig::NAME,
            ChannelKind::Discord(_) => discord::DiscordConfig::NAME,
            ChannelKind::Telegram(_) => telegram::TelegramConfig::NAME,
            ChannelKind::Ntfy(_) => ntfy::NtfyConfig::NAME,
        }
    }

    /// True when the channel is paid from a wallet this daemon watches, so it may be
    /// refused exactly when the alert matters (an empty Exotel wallet).
    pub fn paid_from_a_watched_wallet(&self) -> bool {
        matches!(self, ChannelKind::ExotelSms(_))
    }

    /// True when the channel takes one event per account even when many accounts fail
    /// at once (SPEC §17 grouping): machines read these, not people.
    pub fn one_event_per_account(&self) -> bool {
        matches!(self, ChannelKind::Webhook(_) | ChannelKind::Alertmanager(_))
    }
}

pub use post::{AccountFacts, Accounts, event_json};
pub use render::RenderCtx;

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
    PagerDuty(pagerduty::PagerDuty),
    Alertmanager(alertmanager::Alertmanager),
    Teams(teams::Teams),
    Discord(discord::Discord),
    Telegram(telegram::Telegram),
    Ntfy(ntfy::Ntfy),
}

impl Channel {
    /// Builds the sender for a validated channel config (HTTP clients, TLS settings).
    pub fn new(kind: &ChannelKind) -> Result<Channel, String> {
        Ok(match kind {
            ChannelKind::Slack(c) => Channel::Slack(slack::Slack::new(c)?),
            ChannelKind::Email(c) => Channel::Email(email::Email::new(c)?),
            ChannelKind::ExotelSms(c) => Channel::ExotelSms(exotel_sms::ExotelSms::new(c)?),
            ChannelKind::TwilioSms(c) => Channel::TwilioSms(twilio_sms::TwilioSms::new(c)?),
            ChannelKind::Webhook(c) => Channel::Webhook(webhook::Webhook::new(c)?),
            ChannelKind::Console(_) => Channel::Console(console::Console::stdout()),
            ChannelKind::PagerDuty(c) => Channel::PagerDuty(pagerduty::PagerDuty::new(c)?),
            ChannelKind::Alertmanager(c) => {
                Channel::Alertmanager(alertmanager::Alertmanager::new(c)?)
            }
            ChannelKind::Teams(c) => Channel::Teams(teams::Teams::new(c)?),
            ChannelKind::Discord(c) => Channel::Discord(discord::Discord::new(c)?),
            ChannelKind::Telegram(c) => Channel::Telegram(telegram::Telegram::new(c)?),
            ChannelKind::Ntfy(c) => Channel::Ntfy(ntfy::Ntfy::new(c)?),
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
            Channel::Webhook(_)
            | Channel::Console(_)
            | Channel::Teams(_)
            | Channel::Discord(_)
            | Channel::Telegram(_)
            | Channel::Ntfy(_) => request,
            // A test is a trigger and a resolve.
            Channel::PagerDuty(_) => request + request,
            Channel::Alertmanager(c) => c.max_send_time(),
            Channel::Email(_) => email::SEND_TIMEOUT,
            // One request per recipient, one after another.
            Channel::ExotelSms(c) => request.saturating_mul(c.recipients().max(1) as u32),
            Channel::TwilioSms(c) => request.saturating_mul(c.recipients().max(1) as u32),
        }
    }
}

impl Channel {
    /// How long a grouped message's list of account names may be (grouping itself
    /// is decided by [`ChannelKind::one_event_per_account`]).
    pub fn group_list_chars(&self) -> usize {
        match self {
            Channel::ExotelSms(_) | Channel::TwilioSms(_) => 60,
            // PagerDuty cuts a summary at 1024 characters, Discord a message at 2000.
            Channel::PagerDuty(_) => 600,
            Channel::Slack(_)
            | Channel::Console(_)
            | Channel::Teams(_)
            | Channel::Discord(_)
            | Channel::Telegram(_)
            | Channel::Ntfy(_) => 1500,
            Channel::Email(_) | Channel::Webhook(_) | Channel::Alertmanager(_) => 4000,
        }
    }

    /// True for a channel that mirrors state rather than sending messages (Alertmanager):
    /// it is told each account's standing alerts at start ([`Channel::restore`]).
    pub fn mirrors_state(&self) -> bool {
        matches!(self, Channel::Alertmanager(_))
    }

    /// Seeds a state-mirroring channel with standing events (a `reminder` per non-ok
    /// account, a `monitor_failing` per failing one); others ignore it.
    pub fn restore(&self, standing: &[Event], ctx: &RenderCtx) {
        if let Channel::Alertmanager(c) = self {
            c.restore(standing, ctx);
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
            Channel::PagerDuty(c) => c.send(event, ctx).await,
            Channel::Alertmanager(c) => c.send(event, ctx).await,
            Channel::Teams(c) => c.send(event, ctx).await,
            Channel::Discord(c) => c.send(event, ctx).await,
            Channel::Telegram(c) => c.send(event, ctx).await,
            Channel::Ntfy(c) => c.send(event, ctx).await,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::raw::serde_fields;

    fn check<T: ChannelType>() {
        assert_eq!(serde_fields::<T::Raw>(), T::FIELDS, "{}", T::NAME);
    }

    /// `FIELDS` drives the unknown-key checks and messages; `Raw` is what is read.
    #[test]
    fn every_channel_type_declares_the_keys_its_raw_struct_reads() {
        check::<slack::SlackConfig>();
        check::<email::EmailConfig>();
        check::<exotel_sms::ExotelSmsConfig>();
        check::<twilio_sms::TwilioSmsConfig>();
        check::<webhook::WebhookConfig>();
        check::<console::ConsoleConfig>();
        check::<pagerduty::PagerDutyConfig>();
        check::<alertmanager::AlertmanagerConfig>();
        check::<teams::TeamsConfig>();
        check::<discord::DiscordConfig>();
        check::<telegram::TelegramConfig>();
        check::<ntfy::NtfyConfig>();
        assert_eq!(TYPES.len(), 12);
    }
}
