//! `telegram`: the Telegram Bot API `sendMessage` (SPEC §11.1). This file owns the
//! channel's keys (`bot_token` or `bot_token_file`, `chat_id`, `base_url`), the request
//! ([`telegram_body`], pure: `parse_mode` HTML with every text escaped, at most 4096
//! characters) and its sending.
//!
//! The token is part of the URL path (`/bot{token}/sendMessage`), so no error built
//! here carries the URL: reqwest errors are stripped of it and every text a peer sends
//! back is redacted. 200 with `"ok": true` is success; 429 is retried after
//! `parameters.retry_after` (or `Retry-After`); 5xx are retried; other 4xx (a wrong
//! token is 401 or 404, a wrong chat 400, a bot removed from the chat 403) are permanent.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use reqwest::header::CONTENT_TYPE;
use serde::Deserialize;
use serde_json::{Value, json};
use toml::Spanned;

use super::forecast::summary_lines;
use super::post;
use super::render::{headline, text_body};
use super::{ChannelType, DeliveryError, Notifier, RenderCtx};
use crate::config::raw::Opt;
use crate::config::{Ctx, Place, Res, Secret};
use crate::core::{Event, EventKind};
use crate::http;
use crate::provider::AccountConfig;

pub const DEFAULT_BASE_URL: &str = "https://api.telegram.org";
/// Telegram's limit on a message's text (after entity parsing; we count the markup too,
/// which only errs on the safe side).
const TEXT_MAX: usize = 4096;

#[derive(Debug, Clone, PartialEq)]
pub struct TelegramConfig {
    pub bot_token: Secret,
    /// A numeric chat id (as a JSON number) or an `@channelusername` (as a string).
    pub chat_id: Value,
    pub base_url: String,
}

/// `chat_id` as written: a number or a string.
pub enum RawChatId {
    Int(i64),
    Text(String),
}

impl<'de> Deserialize<'de> for RawChatId {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl serde::de::Visitor<'_> for V {
            type Value = RawChatId;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(
                    "a chat id: a number like -1001234567890 or a string like \"@acme_ops\"",
                )
            }
            fn visit_i64<E: serde::de::Error>(self, v: i64) -> Result<RawChatId, E> {
                Ok(RawChatId::Int(v))
            }
            fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<RawChatId, E> {
                Ok(RawChatId::Text(v.to_owned()))
            }
        }
        d.deserialize_any(V)
    }
}

/// The keys as written.
#[derive(Deserialize)]
pub struct Raw {
    bot_token: Opt<String>,
    bot_token_file: Opt<String>,
    chat_id: Opt<RawChatId>,
    base_url: Opt<String>,
}

impl ChannelType for TelegramConfig {
    const NAME: &'static str = "telegram";
    const FIELDS: &'static [&'static str] = &["bot_token", "bot_token_file", "chat_id", "base_url"];
    type Raw = Raw;

    fn validate(
        ctx: &mut Ctx<'_>,
        raw: &Raw,
        at: &Place<'_>,
        _accounts: &[Arc<AccountConfig>],
    ) -> Res<Self> {
        let (table, base) = (&at.table, at.base);
        let bot_token = ctx
            .secret(&raw.bot_token, &raw.bot_token_file, at, "bot_token", true)?
            .expect("required");
        // `123456:ABC-DEF…`: anything else would change the URL's path or fail anyway.
        if !bot_token
            .expose()
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == ':' || c == '_' || c == '-')
        {
            let span = raw
                .bot_token
                .as_ref()
                .or(raw.bot_token_file.as_ref())
                .map(Spanned::span);
            return Err(ctx.err(
                span,
                &format!("{base}.bot_token"),
                "not a Telegram bot token (expected digits, `:` and letters, as BotFather gives it)",
            ));
        }
        let key = format!("{base}.chat_id");
        let chat = ctx.required(&raw.chat_id, table, &key)?;
        let chat_id = match chat.get_ref() {
            RawChatId::Int(i) => json!(i),
            RawChatId::Text(t) => {
                let (t, _) = ctx.expand(t, &chat.span(), &key)?;
                let t = t.trim().to_owned();
                if t.is_empty() {
                    return Err(ctx.err(Some(chat.span()), &key, "must not be empty"));
                }
                match t.parse::<i64>() {
                    Ok(i) => json!(i),
                    Err(_) => json!(t),
                }
            }
        };
        let base_url = match &raw.base_url {
            Some(v) => ctx.base_url(v, &format!("{base}.base_url"))?,
            None => DEFAULT_BASE_URL.to_owned(),
        };
        Ok(TelegramConfig {
            bot_token,
            chat_id,
            base_url,
        })
    }
}

pub struct Telegram {
    config: TelegramConfig,
    client: reqwest::Client,
}

impl fmt::Debug for Telegram {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Telegram")
            .field("base_url", &self.config.base_url)
            .field("bot_token", &self.config.bot_token)
            .field("chat_id", &self.config.chat_id)
            .finish_non_exhaustive()
    }
}

impl Telegram {
    pub fn new(config: &TelegramConfig) -> Result<Self, String> {
        Ok(Telegram {
            config: config.clone(),
            client: http::client(None, http::REQUEST_TIMEOUT)?,
        })
    }
}

/// Telegram's error answer: `{"ok": false, "error_code": 429, "description": "...",
/// "parameters": {"retry_after": 5}}`.
#[derive(Deserialize)]
struct Answer {
    #[serde(default)]
    ok: bool,
    parameters: Option<Parameters>,
}

#[derive(Deserialize)]
struct Parameters {
    retry_after: Option<u64>,
}

impl Notifier for Telegram {
    async fn send(&self, event: &Event, ctx: &RenderCtx) -> Result<(), DeliveryError> {
        let token = self.config.bot_token.expose();
        let url = format!("{}/bot{token}/sendMessage", self.config.base_url);
        let request = self
            .client
            .post(&url)
            .header(CONTENT_TYPE, "application/json")
            .body(telegram_body(event, ctx, &self.config.chat_id).to_string());
        let answer = post::send(request, "Telegram", &[token]).await?;
        let parsed = serde_json::from_str::<Answer>(&answer.body).ok();
        if answer.status.is_success() {
            if parsed.as_ref().is_none_or(|a| a.ok) {
                return Ok(());
            }
            return Err(DeliveryError::Permanent(
                answer.reason("Telegram", &[token]),
            ));
        }
        let from_body = parsed
            .and_then(|a| a.parameters)
            .and_then(|p| p.retry_after)
            .map(|s| Duration::from_secs(s).min(http::MAX_RETRY_AFTER));
        let retry_after = from_body.or(answer.retry_after());
        Err(post::classify(&answer, "Telegram", &[token], retry_after))
    }
}

/// Escapes text for Telegram's HTML parse mode (it asks for exactly these three).
fn escape_html(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

/// The `sendMessage` request: the headline in bold, then the plain-text body, escaped,
/// cut to fit 4096 characters. The daily summary (SPEC §9.6) lists as many accounts as
/// fit, worst first, then "N more ok", rather than being cut mid-list.
pub fn telegram_body(event: &Event, ctx: &RenderCtx, chat_id: &Value) -> Value {
    let head = format!("<b>{}</b>\n\n", escape_html(&headline(event)));
    let body = match event.event {
        // Room for the headline and for escaping to lengthen a few names.
        EventKind::Summary => escape_html(
            &summary_lines(&event.accounts, TEXT_MAX.saturating_sub(head.len() + 200)).join("\n"),
        ),
        _ => escape_html(text_body(event, ctx).trim_end()),
    };
    let text = fit(&head, &body, TEXT_MAX);
    json!({
        "chat_id": chat_id,
        "text": text,
        "parse_mode": "HTML",
        "disable_web_page_preview": true,
    })
}

/// `head` + `body` in at most `max` characters: the body is cut (marked `…`) without
/// splitting an `&amp;`-style entity; a headline too long on its own is dropped to plain
/// escaped text cut the same way.
fn fit(head: &str, body: &str, max: usize) -> String {
    let head_len = head.chars().count();
    let body_len = body.chars().count();
    if head_len + body_len <= max {
        return format!("{head}{body}");
    }
    if head_len + 1 >= max {
        return cut_escaped(body, max);
    }
    format!("{head}{}", cut_escaped(body, max - head_len))
}

/// Cuts escaped text to `max` characters including the `…`, never inside an entity.
fn cut_escaped(text: &str, max: usize) -> String {
    if text.chars().count() <= max {
        return text.to_owned();
    }
    let mut out: String = text.chars().take(max.saturating_sub(1)).collect();
    if let Some(amp) = out.rfind('&') {
        if !out[amp..].contains(';') {
            out.truncate(amp);
        }
    }
    out.push('…');
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::notify::test_events::*;

    #[test]
    fn telegram_body_is_escaped_html() {
        let event = Event {
            account: "R&D <ops>".into(),
            ..alert()
        };
        let expected = json!({
            "chat_id": -1001234567890_i64,
            "parse_mode": "HTML",
            "disable_web_page_preview": true,
            "text": "<b>[CRITICAL] Exotel balance low: R&amp;D &lt;ops&gt; 850.00 INR</b>\n\n\
                The Exotel balance of R&amp;D &lt;ops&gt; is below 1,000 INR: level critical. Top up the account.\n\n\
                Account:             R&amp;D &lt;ops&gt;\n\
                Account SID:         acme\n\
                Balance:             850.00 INR\n\
                Level:               critical\n\
                Previous level:      warning\n\
                Threshold:           below 1,000 INR\n\
                Pricing plan:        Pay As You Go\n\
                Exotel DateUpdated:  2026-04-24 10:32:18 (as reported by Exotel, no time zone)\n\
                Observed at:         2026-04-24T05:02:18Z\n\
                Observed at (local): 2026-04-24 10:32:18 +05:30 (Asia/Kolkata)\n\n\
                Sent by balance-alert."
        });
        assert_eq!(
            telegram_body(&event, &kolkata(), &json!(-1001234567890_i64)),
            expected
        );
    }

    #[test]
    fn text_fits_4096_characters_without_splitting_an_entity() {
        let event = Event {
            error: Some("&".repeat(5000)),
            ..failing()
        };
        let body = telegram_body(&event, &kolkata(), &json!("@ops"));
        let text = body["text"].as_str().unwrap();
        assert!(text.chars().count() <= 4096, "{}", text.chars().count());
        assert!(text.ends_with("&amp;…"), "{}", &text[text.len() - 20..]);
        assert_eq!(body["chat_id"], "@ops");
    }
}
