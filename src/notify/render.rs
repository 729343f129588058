//! Every message, built as a pure function of the [`Event`] (and the display time zone),
//! so all channels say the same facts in their own form and each form is tested against
//! exact expected output.

use rust_decimal::Decimal;

use super::Event;

/// Rendering settings shared by all channels.
#[derive(Debug, Clone, Default)]
pub struct RenderCtx {
    /// `[daemon] timezone`: human-facing times are also shown in this zone.
    pub timezone: Option<(String, jiff::tz::TimeZone)>,
}

/// One line saying what happened, e.g. `[CRITICAL] Exotel balance low: primary 850.00 INR`.
/// Also the email subject and the Slack `text` fallback.
pub fn headline(_event: &Event) -> String {
    unimplemented!()
}

/// The labelled facts every message carries (SPEC §4).
pub fn facts(_event: &Event, _ctx: &RenderCtx) -> Vec<(&'static str, String)> {
    unimplemented!()
}

/// Plain-text body (email, console).
pub fn text_body(_event: &Event, _ctx: &RenderCtx) -> String {
    unimplemented!()
}

/// Slack incoming-webhook payload: Block Kit blocks plus the `text` fallback.
pub fn slack_payload(_event: &Event, _ctx: &RenderCtx) -> serde_json::Value {
    unimplemented!()
}

/// The `webhook` channel body: the event as its stable JSON object.
pub fn webhook_body(event: &Event) -> String {
    serde_json::to_string(event).expect("an Event always serializes")
}

/// `1,543.75 INR`.
pub fn format_amount(_amount: Decimal, _currency: &str) -> String {
    unimplemented!()
}

/// Plain-text email body and optional HTML alternative are [`text_body`] and
/// [`email_html`]; the subject is [`headline`].
pub fn email_html(_event: &Event, _ctx: &RenderCtx) -> String {
    unimplemented!()
}

/// One SMS segment (160 GSM-7 characters, 70 when a character forces UCS-2) carrying at
/// least account, level and balance; `template` is a channel's `body_template`.
pub fn sms_body(_event: &Event, _template: Option<&str>) -> String {
    unimplemented!()
}

/// Validation of a `body_template`: `None` when it is fine, else what is wrong (unknown
/// placeholder, or it cannot fit one segment with the longest values).
pub fn sms_template_problem(_template: &str) -> Option<String> {
    unimplemented!()
}
