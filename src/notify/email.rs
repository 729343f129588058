//! `email` channel: sends each event as one message over SMTP (lettre, tokio, rustls).
//!
//! Owns the SMTP side only: transport setup (`tls = starttls | tls | none`, port,
//! optional AUTH, a private CA from `ca_file`), the MIME message (subject = headline,
//! plain text with an HTML alternative, both from [`render`]) and the mapping of SMTP
//! failures onto [`DeliveryError`]: a 5xx reply is permanent, everything else (4xx,
//! connection, TLS, timeout) is retried by the outbox.

use std::fmt;
use std::time::Duration;

use lettre::message::{Mailbox, Mailboxes, MultiPart, header};
use lettre::transport::smtp::authentication::Credentials;
use lettre::transport::smtp::client::{Certificate, Tls, TlsParameters};
use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};

use super::{DeliveryError, Notifier, RenderCtx, render};
use crate::config::{EmailConfig, Secret, SmtpTls};
use crate::core::Event;

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
                render::email_html(event, ctx),
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
