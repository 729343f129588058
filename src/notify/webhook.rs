//! `webhook` channel (stub; being implemented).

use super::{DeliveryError, Event, Notifier, RenderCtx};
use crate::config::WebhookConfig;

#[derive(Debug)]
pub struct Webhook {
    config: WebhookConfig,
}

impl Webhook {
    pub fn new(config: &WebhookConfig) -> Result<Self, String> {
        Ok(Webhook {
            config: config.clone(),
        })
    }
}

impl Notifier for Webhook {
    async fn send(&self, _event: &Event, _ctx: &RenderCtx) -> Result<(), DeliveryError> {
        let _ = &self.config;
        Err(DeliveryError::Permanent("not implemented".into()))
    }
}
