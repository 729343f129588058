//! `slack` channel (stub; being implemented).

use super::{DeliveryError, Event, Notifier, RenderCtx};
use crate::config::SlackConfig;

#[derive(Debug)]
pub struct Slack {
    config: SlackConfig,
}

impl Slack {
    pub fn new(config: &SlackConfig) -> Result<Self, String> {
        Ok(Slack {
            config: config.clone(),
        })
    }
}

impl Notifier for Slack {
    async fn send(&self, _event: &Event, _ctx: &RenderCtx) -> Result<(), DeliveryError> {
        let _ = &self.config;
        Err(DeliveryError::Permanent("not implemented".into()))
    }
}
