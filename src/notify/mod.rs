//! Notification: the event every channel receives, the one small [`Notifier`] trait,
//! the [`Channel`] enum that dispatches to one file per channel type, and routing (who
//! is told what, SPEC §5).
//!
//! Messages are built by [`render`] as pure functions; a channel only sends them.

use std::future::Future;
use std::time::Duration;

use crate::config::{ChannelConfig, ChannelKind};
use crate::core::Event;

pub mod console;
pub mod email;
pub mod exotel_sms;
pub mod render;
pub mod slack;
pub mod twilio_sms;
pub mod webhook;

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
