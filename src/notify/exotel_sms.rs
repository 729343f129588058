//! `exotel_sms` channel (stub; being implemented).

use super::{DeliveryError, Event, Notifier, RenderCtx};
use crate::config::ExotelSmsConfig;

#[derive(Debug)]
pub struct ExotelSms {
    config: ExotelSmsConfig,
}

impl ExotelSms {
    pub fn new(config: &ExotelSmsConfig) -> Result<Self, String> {
        Ok(ExotelSms {
            config: config.clone(),
        })
    }
}

impl Notifier for ExotelSms {
    async fn send(&self, _event: &Event, _ctx: &RenderCtx) -> Result<(), DeliveryError> {
        let _ = &self.config;
        Err(DeliveryError::Permanent("not implemented".into()))
    }
}
