//! `email` channel: sends each event as one message over SMTP (lettre, tokio, rustls).
//!
//! Owns the channel's keys and their validation, the HTML alternative ([`email_html`],
//! pure), transport setup (`tls = starttls | tls | none`, port, optional AUTH, a private
//! CA from `ca_file`), the MIME message (subject = headline, the plain text from
//! [`render::text_body`] with the HTML alternative) and the mapping of SMTP
//! failures onto [`DeliveryError`]: a 5xx reply is permanent, everything else (4xx,
//! connection, TLS, timeout) is retried by the outbox.

use std::fmt;
use std::fmt::Write as _;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use lettre::message::{Mailbox, Mailboxes, MultiPart, header};
use lettre::transport::smtp::authentication::Credentials;
use lettre::transport::smtp::client::{Certificate, Tls, TlsParameters};
use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};

use serde::Deserialize;
use toml::Spanned;

use super::render::{self, SIGNATURE, facts, headline, summary};
use super::{ChannelType, DeliveryError, Notifier, RenderCtx};
use crate::config::raw::{Opt, StrList};
use crate::config::{Ctx, Place, Res, Secret};
use crate::core::{Event, EventKind};
use crate::provider::AccountConfig;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SmtpTls {
    Starttls,
    Tls,
    None,
}

#[derive(Debug, Clone, PartialEq)]
pub struct EmailConfig {
    pub smtp_host: String,
    pub smtp_port: u16,
    pub tls: SmtpTls,
    /// `username` and password, given together or not at all.
    pub credentials: Option<(String, Secret)>,
    pub from: String,
    pub to: Vec<String>,
    pub ca_file: Option<PathBuf>,
}

/// The keys as written.
#[derive(Deserialize)]
pub struct Raw {
    smtp_host: Opt<String>,
    smtp_port: Opt<i64>,
    tls: Opt<String>,
    username: Opt<String>,
    password: Opt<String>,
    password_file: Opt<String>,
    from: Opt<String>,
    to: Option<StrList>,
    ca_file: Opt<String>,
}

impl ChannelType for EmailConfig {
    const NAME: &'static str = "email";
    const FIELDS: &'static [&'static str] = &[
        "smtp_host",
        "smtp_port",
        "tls",
        "username",
        "password",
        "password_file",
        "from",
        "to",
        "ca_file",
    ];
    type Raw = Raw;

    fn validate(
        ctx: &mut Ctx<'_>,
        raw: &Raw,
        at: &Place<'_>,
        _accounts: &[Arc<AccountConfig>],
    ) -> Res<Self> {
        let smtp_host = ctx.string(
            ctx.required(&raw.smtp_host, &at.table, &at.key("smtp_host"))?,
            &at.key("smtp_host"),
        )?;
        let tls = match &raw.tls {
            Some(v) => ctx.choice(
                v,
                &at.key("tls"),
                &[
                    ("starttls", SmtpTls::Starttls),
                    ("tls", SmtpTls::Tls),
                    ("none", SmtpTls::None),
                ],
            )?,
            None => SmtpTls::Starttls,
        };
        let smtp_port = match &raw.smtp_port {
            Some(v) => u16::try_from(*v.get_ref())
                .ok()
                .filter(|p| *p != 0)
                .ok_or_else(|| {
                    ctx.err(
                        Some(v.span()),
                        &at.key("smtp_port"),
                        "must be a port number 1-65535",
                    )
                })?,
            None => match tls {
                SmtpTls::Starttls => 587,
                SmtpTls::Tls => 465,
                SmtpTls::None => 25,
            },
        };
        let password = ctx.secret(&raw.password, &raw.password_file, at, "password", false)?;
        let username = ctx.opt_string(&raw.username, &at.key("username"))?;
        let credentials = match (username, password) {
            (Some(u), Some(p)) => Some((u, p)),
            (None, None) => None,
            (Some(_), None) => {
                let span = raw.username.as_ref().map(Spanned::span);
                return Err(ctx.err(
                    span,
                    &at.key("username"),
                    "username needs password or password_file",
                ));
            }
            (None, Some(_)) => {
                let span = raw
                    .password
                    .as_ref()
                    .or(raw.password_file.as_ref())
                    .map(Spanned::span);
                return Err(ctx.err(span, &at.key("password"), "password needs username"));
            }
        };
        if credentials.is_some() && tls == SmtpTls::None {
            ctx.warn(format!(
                "{}: tls = \"none\" sends the SMTP password unencrypted",
                at.base
            ));
        }
        let mailbox = |v: &Spanned<String>, k: &str| -> Res<String> {
            let value = ctx.string(v, k)?;
            value.parse::<lettre::message::Mailbox>().map_err(|e| {
                ctx.err(
                    Some(v.span()),
                    k,
                    format!("bad email address \"{value}\": {e}"),
                )
            })?;
            Ok(value)
        };
        let from = mailbox(
            ctx.required(&raw.from, &at.table, &at.key("from"))?,
            &at.key("from"),
        )?;
        let to_raw = raw.to.as_ref().ok_or_else(|| {
            ctx.err(
                Some(at.table.clone()),
                &at.key("to"),
                "missing required key",
            )
        })?;
        ctx.list(to_raw, &at.key("to"))?;
        let to = to_raw
            .get_ref()
            .iter()
            .enumerate()
            .map(|(i, v)| mailbox(v, &format!("{}[{i}]", at.key("to"))))
            .collect::<Res<Vec<_>>>()?;
        let ca_file = ctx.ca_file(&raw.ca_file, &at.key("ca_file"))?;
        Ok(EmailConfig {
            smtp_host,
            smtp_port,
            tls,
            credentials,
            from,
            to,
            ca_file,
        })
    }
}

/// Timeout for connecting and for each SMTP command.
const COMMAND_TIMEOUT: Duration = Duration::from_secs(30);
/// Bound on one whole delivery (connect, TLS, AUTH, DATA, QUIT), so a server that
/// trickles replies cannot hold the channel's queue for long.
pub const SEND_TIMEOUT: Duration = Duration::from_secs(90);

pub struct Email {
    transport: AsyncSmtpTransport<Tokio1Executor>,
    from: Mailbox,
    to: Mailboxes,
    /// Kept only to scrub it from error texts a server might echo it in.
    password: Option<Secret>,
    /// For `Debug` and error messages.
    endpoint: String,
    /// The domain for Message-IDs (the sender's).
    id_domain: String,
}

impl fmt::Debug for Email {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Email")
            .field("endpoint", &self.endpoint)
            .field("from", &self.from.to_string())
            .field("to", &self.to.to_string())
            .field("auth", &self.password.as_ref().map(|_| "****"))
            .finish()
    }
}

impl Email {
    pub fn new(config: &EmailConfig) -> Result<Self, String> {
        let from: Mailbox = config
            .from
            .parse()
            .map_err(|e| format!("email from {:?} is not an address: {e}", config.from))?;
        if config.to.is_empty() {
            return Err("email needs at least one `to` address".to_string());
        }
        let mut to = Mailboxes::new();
        for address in &config.to {
            let mailbox: Mailbox = address
                .parse()
                .map_err(|e| format!("email to {address:?} is not an address: {e}"))?;
            to.push(mailbox);
        }

        let mut builder =
            AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(config.smtp_host.as_str())
                .port(config.smtp_port)
                .timeout(Some(COMMAND_TIMEOUT));
        let tls = match config.tls {
            SmtpTls::None => Tls::None,
            // `Required`, not `Opportunistic`: a server (or an attacker in the path) that
            // does not offer STARTTLS must not get the password or the message in clear.
            SmtpTls::Starttls => Tls::Required(tls_parameters(config)?),
            SmtpTls::Tls => Tls::Wrapper(tls_parameters(config)?),
        };
        builder = builder.tls(tls);
        if let Some((user, password)) = &config.credentials {
            builder = builder.credentials(Credentials::new(
                user.clone(),
                password.expose().to_string(),
            ));
        }
        let id_domain = from.email.domain().to_string();
        Ok(Email {
            transport: builder.build(),
            from,
            to,
            password: config.credentials.as_ref().map(|(_, p)| p.clone()),
            endpoint: format!(
                "{}:{} ({})",
                config.smtp_host,
                config.smtp_port,
                match config.tls {
                    SmtpTls::None => "no TLS",
                    SmtpTls::Starttls => "STARTTLS",
                    SmtpTls::Tls => "TLS",
                }
            ),
            id_domain,
        })
    }

    /// The message for `event`: subject is the headline, body plain text plus HTML.
    fn message(&self, event: &Event, ctx: &RenderCtx) -> Result<Message, DeliveryError> {
        let mut builder = Message::builder()
            .from(self.from.clone())
            .subject(render::headline(event))
            // The event id makes the Message-ID stable across retries, so a mail client
            // can fold a duplicate from an at-least-once redelivery.
            .message_id(Some(format!("<{}@{}>", event.id, self.id_domain)));
        builder = builder.mailbox(header::To::from(self.to.clone()));
        builder
            .multipart(MultiPart::alternative_plain_html(
                render::text_body(event, ctx),
                email_html(event, ctx),
            ))
            .map_err(|e| DeliveryError::Permanent(format!("cannot build the email: {e}")))
    }

    /// Error text without the password, even if a server echoed it back.
    fn scrub(&self, text: String) -> String {
        match &self.password {
            Some(p) => crate::config::redact_secrets(&text, &[p.expose()]),
            None => text,
        }
    }
}

/// TLS settings: webpki roots plus the `ca_file` certificates, if any.
fn tls_parameters(config: &EmailConfig) -> Result<TlsParameters, String> {
    let mut builder = TlsParameters::builder(config.smtp_host.clone());
    if let Some(path) = &config.ca_file {
        let pem = std::fs::read(path)
            .map_err(|e| format!("cannot read ca_file {}: {e}", path.display()))?;
        // Fail here, at startup, rather than on the first alert: an empty or non-PEM
        // file would otherwise surface as a TLS failure hours later.
        if !String::from_utf8_lossy(&pem).contains("-----BEGIN CERTIFICATE-----") {
            return Err(format!(
                "ca_file {} holds no PEM certificate",
                path.display()
            ));
        }
        let cert = Certificate::from_pem(&pem).map_err(|e| {
            format!(
                "ca_file {} holds no usable PEM certificate: {e}",
                path.display()
            )
        })?;
        builder = builder.add_root_certificate(cert);
    }
    builder
        .build()
        .map_err(|e| format!("cannot set up TLS for {}: {e}", config.smtp_host))
}

/// Maps a lettre error to a delivery outcome: SMTP 5xx is a permanent refusal (bad
/// recipient, AUTH rejected, policy); 4xx and every transport failure may pass.
fn classify(err: &lettre::transport::smtp::Error) -> (bool, String) {
    let mut text = err.to_string();
    // lettre's Display already carries its source; add deeper causes (e.g. the
    // rustls certificate error under "tls error: ...") once each.
    let mut source = std::error::Error::source(err).and_then(std::error::Error::source);
    while let Some(cause) = source {
        let cause_text = cause.to_string();
        if !text.contains(&cause_text) {
            text.push_str(": ");
            text.push_str(&cause_text);
        }
        source = cause.source();
    }
    (err.is_permanent(), dedupe_segments(&text))
}

/// lettre nests errors of one kind (`Connection error: Connection error: invalid peer
/// certificate`); say each part once.
fn dedupe_segments(text: &str) -> String {
    let mut parts: Vec<&str> = Vec::new();
    for part in text.split(": ") {
        if parts.last() != Some(&part) {
            parts.push(part);
        }
    }
    parts.join(": ")
}

impl Notifier for Email {
    async fn send(&self, event: &Event, ctx: &RenderCtx) -> Result<(), DeliveryError> {
        let message = self.message(event, ctx)?;
        let result = tokio::time::timeout(SEND_TIMEOUT, self.transport.send(message)).await;
        match result {
            Ok(Ok(_response)) => Ok(()),
            Ok(Err(err)) => {
                let (permanent, text) = classify(&err);
                let text = self.scrub(format!("SMTP {}: {text}", self.endpoint));
                if permanent {
                    Err(DeliveryError::Permanent(text))
                } else {
                    Err(DeliveryError::retry(text))
                }
            }
            Err(_elapsed) => Err(DeliveryError::retry(format!(
                "SMTP {}: no answer within {} s",
                self.endpoint,
                SEND_TIMEOUT.as_secs()
            ))),
        }
    }
}

/// Escapes text for HTML element content and attribute values.
fn html_escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// Plain-text email body and optional HTML alternative are [`render::text_body`] and
/// [`email_html`]; the subject is [`headline`].
///
/// Deliberately plain markup (one table, inline style) so every mail client shows the
/// same thing; every value is escaped because account names, plans and error texts come
/// from the config or from a peer.
pub fn email_html(event: &Event, ctx: &RenderCtx) -> String {
    let mut out = String::new();
    out.push_str("<!DOCTYPE html>\n<html>\n<head><meta charset=\"utf-8\"><title>");
    out.push_str(&html_escape(&headline(event)));
    out.push_str("</title></head>\n<body style=\"font-family: sans-serif\">\n<p>");
    if event.event == EventKind::Summary {
        // The summary's lines, worst first, one paragraph each.
        out.push_str(&html_escape(&summary(event, ctx)));
        out.push_str("</p>\n<ul>\n");
        for line in crate::notify::forecast::summary_lines(&event.accounts, 200_000)
            .iter()
            .skip(1)
        {
            let _ = writeln!(out, "<li>{}</li>", html_escape(line));
        }
        let _ = write!(
            out,
            "</ul>\n<p style=\"color: #666666\">Sent by {SIGNATURE}.</p>\n</body>\n</html>\n"
        );
        return out;
    }
    out.push_str(&html_escape(&summary(event, ctx)));
    out.push_str("</p>\n<table cellpadding=\"4\">\n");
    for (label, value) in facts(event, ctx) {
        let _ = writeln!(
            out,
            "<tr><th align=\"left\">{}</th><td>{}</td></tr>",
            html_escape(label),
            html_escape(&value)
        );
    }
    let _ = write!(
        out,
        "</table>\n<p style=\"color: #666666\">Sent by {SIGNATURE}.</p>\n</body>\n</html>\n"
    );
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::notify::test_events::*;

    #[test]
    fn email_html_escapes_user_text() {
        let event = Event {
            account: "a<b>&\"c\"".into(),
            pricing_plan: Some("<script>alert(1)</script>".into()),
            date_updated: None,
            ..alert()
        };
        let expected = "\
<!DOCTYPE html>
<html>
<head><meta charset=\"utf-8\"><title>[CRITICAL] Exotel balance low: a&lt;b&gt;&amp;&quot;c&quot; 850.00 INR</title></head>
<body style=\"font-family: sans-serif\">
<p>The Exotel balance of a&lt;b&gt;&amp;&quot;c&quot; is below 1,000 INR: level critical. Top up the account.</p>
<table cellpadding=\"4\">
<tr><th align=\"left\">Account</th><td>a&lt;b&gt;&amp;&quot;c&quot;</td></tr>
<tr><th align=\"left\">Account SID</th><td>acme</td></tr>
<tr><th align=\"left\">Balance</th><td>850.00 INR</td></tr>
<tr><th align=\"left\">Level</th><td>critical</td></tr>
<tr><th align=\"left\">Previous level</th><td>warning</td></tr>
<tr><th align=\"left\">Threshold</th><td>below 1,000 INR</td></tr>
<tr><th align=\"left\">Pricing plan</th><td>&lt;script&gt;alert(1)&lt;/script&gt;</td></tr>
<tr><th align=\"left\">Observed at</th><td>2026-04-24T05:02:18Z</td></tr>
<tr><th align=\"left\">Observed at (local)</th><td>2026-04-24 10:32:18 +05:30 (Asia/Kolkata)</td></tr>
</table>
<p style=\"color: #666666\">Sent by balance-alert.</p>
</body>
</html>
";
        assert_eq!(email_html(&event, &kolkata()), expected);
    }
}
