//! `twilio_sms` channel (stub; being implemented).

use super::{DeliveryError, Event, Notifier, RenderCtx};
use crate::config::TwilioSmsConfig;

#[derive(Debug)]
pub struct TwilioSms {
    config: TwilioSmsConfig,
}

impl TwilioSms {
    pub fn new(config: &TwilioSmsConfig) -> Result<Self, String> {
        Ok(TwilioSms {
            config: config.clone(),
        })
    }
}

impl Notifier for TwilioSms {
    async fn send(&self, _event: &Event, _ctx: &RenderCtx) -> Result<(), DeliveryError> {
        let _ = &self.config;
        Err(DeliveryError::Permanent("not implemented".into()))
    }
}
