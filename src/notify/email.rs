//! `email` channel (stub; being implemented).

use super::{DeliveryError, Event, Notifier, RenderCtx};
use crate::config::EmailConfig;

#[derive(Debug)]
pub struct Email {
    config: EmailConfig,
}

impl Email {
    pub fn new(config: &EmailConfig) -> Result<Self, String> {
        Ok(Email {
            config: config.clone(),
        })
    }
}

impl Notifier for Email {
    async fn send(&self, _event: &Event, _ctx: &RenderCtx) -> Result<(), DeliveryError> {
        let _ = &self.config;
        Err(DeliveryError::Permanent("not implemented".into()))
    }
}
