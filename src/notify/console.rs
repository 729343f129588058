//! `console`: prints each message to stdout as the renderer makes it (the demo, trials).

use std::io::Write;

use std::sync::Arc;

use serde::Deserialize;

use super::{ChannelType, DeliveryError, Notifier, RenderCtx, render};
use crate::config::{Ctx, Place, Res};
use crate::core::Event;
use crate::provider::AccountConfig;

/// `console` takes no keys of its own.
#[derive(Debug, Clone, PartialEq)]
pub struct ConsoleConfig;

/// No keys.
#[derive(Deserialize)]
pub struct Raw {}

impl ChannelType for ConsoleConfig {
    const NAME: &'static str = "console";
    const FIELDS: &'static [&'static str] = &[];
    type Raw = Raw;

    fn validate(
        _ctx: &mut Ctx<'_>,
        _raw: &Raw,
        _at: &Place<'_>,
        _accounts: &[Arc<AccountConfig>],
    ) -> Res<Self> {
        Ok(ConsoleConfig)
    }
}

#[derive(Debug, Default)]
pub struct Console;

impl Console {
    pub fn stdout() -> Self {
        Console
    }
}

impl Notifier for Console {
    async fn send(&self, event: &Event, ctx: &RenderCtx) -> Result<(), DeliveryError> {
        let text = format!(
            "──── {} ────\n{}\n",
            render::headline(event),
            render::text_body(event, ctx)
        );
        let mut out = std::io::stdout().lock();
        out.write_all(text.as_bytes())
            .and_then(|()| out.flush())
            .map_err(|e| DeliveryError::retry(format!("cannot write to stdout: {e}")))
    }
}
