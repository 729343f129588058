//! `console`: prints each message to stdout as the renderer makes it (the demo, trials).

use std::io::Write;

use super::{DeliveryError, Notifier, RenderCtx, render};
use crate::core::Event;

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
