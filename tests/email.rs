//! The `email` channel against a real SMTP server (Python aiosmtpd, started per test):
//! plain SMTP, STARTTLS and implicit TLS with a private CA trusted through `ca_file`,
//! AUTH, and the mapping of SMTP replies onto retry/permanent.

mod common;

use std::time::Duration;

use balance_alert::config::Secret;
use balance_alert::notify::email::Email;
use balance_alert::notify::email::{EmailConfig, SmtpTls, email_html};
use balance_alert::notify::render::{self, RenderCtx};
use balance_alert::notify::{DeliveryError, Notifier};
use common::events::critical_alert;
use common::smtp::{Mode, Options, Received, SmtpServer, TlsFiles};

const USER: &str = "alert-bot";
const PASSWORD: &str = "s3cret-smtp-pa55";
const WAIT: Duration = Duration::from_secs(10);

fn config(port: u16, tls: SmtpTls) -> EmailConfig {
    EmailConfig {
        smtp_host: "127.0.0.1".into(),
        smtp_port: port,
        tls,
        credentials: None,
        from: "balance-alert@example.com".into(),
        to: vec!["ops@example.com".into(), "oncall@example.net".into()],
        ca_file: None,
    }
}

fn start(mode: Mode, auth: bool, tls: Option<&TlsFiles>) -> SmtpServer {
    let options = Options {
        mode,
        auth: auth.then(|| (USER.to_string(), PASSWORD.to_string())),
    };
    SmtpServer::start(&options, tls)
}

fn ctx() -> RenderCtx {
    RenderCtx {
        timezone: Some((
            "Asia/Kolkata".into(),
            jiff::tz::TimeZone::get("Asia/Kolkata").unwrap(),
        )),
        instance: None,
    }
}

/// The envelope, headers and both bodies of the standard critical alert.
fn assert_is_the_alert(message: &Received) {
    let event = critical_alert();
    assert_eq!(message.mail_from, "balance-alert@example.com");
    assert_eq!(
        message.rcpt_tos,
        vec!["ops@example.com", "oncall@example.net"]
    );
    assert_eq!(
        message.subject.as_deref(),
        Some("[CRITICAL] Exotel balance low: primary 850.00 INR")
    );
    assert_eq!(message.from.as_deref(), Some("balance-alert@example.com"));
    assert_eq!(
        message.to.as_deref(),
        Some("ops@example.com, oncall@example.net")
    );
    assert_eq!(
        message.message_id.as_deref(),
        Some("<0123456789abcdef0123456789abcdef@example.com>")
    );
    assert_eq!(message.content_type, "multipart/alternative");
    assert_eq!(message.text(), render::text_body(&event, &ctx()));
    assert_eq!(message.html(), email_html(&event, &ctx()));
    assert!(
        message
            .text()
            .contains("Observed at (local): 2026-04-24 10:32:18 +05:30 (Asia/Kolkata)")
    );
}

#[tokio::test]
async fn plain_smtp_delivers_text_and_html() {
    let server = start(Mode::Plain, false, None);
    let email = Email::new(&config(server.port, SmtpTls::None)).unwrap();
    email.send(&critical_alert(), &ctx()).await.unwrap();
    let message = server.next_message(WAIT).expect("a message");
    assert_is_the_alert(&message);
    assert!(!message.tls);
    assert_eq!(message.auth_user, None);
}

#[tokio::test]
async fn starttls_with_a_private_ca_and_auth() {
    let tls = TlsFiles::generate();
    let server = start(Mode::Starttls, true, Some(&tls));
    let email = Email::new(&EmailConfig {
        credentials: Some((USER.into(), Secret::new(PASSWORD))),
        ca_file: Some(tls.ca.clone()),
        ..config(server.port, SmtpTls::Starttls)
    })
    .unwrap();
    assert!(!format!("{email:?}").contains(PASSWORD));
    email.send(&critical_alert(), &ctx()).await.unwrap();
    let message = server.next_message(WAIT).expect("a message");
    assert_is_the_alert(&message);
    assert!(message.tls);
    assert_eq!(message.auth_user.as_deref(), Some(USER));
}

#[tokio::test]
async fn implicit_tls_with_a_private_ca() {
    let tls = TlsFiles::generate();
    let server = start(Mode::ImplicitTls, false, Some(&tls));
    let email = Email::new(&EmailConfig {
        ca_file: Some(tls.ca.clone()),
        ..config(server.port, SmtpTls::Tls)
    })
    .unwrap();
    email.send(&critical_alert(), &ctx()).await.unwrap();
    let message = server.next_message(WAIT).expect("a message");
    assert_is_the_alert(&message);
    assert!(message.tls);
}

#[tokio::test]
async fn an_untrusted_certificate_is_refused_and_retried() {
    let tls = TlsFiles::generate();
    let server = start(Mode::Starttls, false, Some(&tls));
    // No ca_file: the private CA is not among the webpki roots.
    let email = Email::new(&config(server.port, SmtpTls::Starttls)).unwrap();
    match email.send(&critical_alert(), &ctx()).await.unwrap_err() {
        DeliveryError::Retry { reason, .. } => {
            assert!(
                reason.ends_with(": Connection error: invalid peer certificate: UnknownIssuer"),
                "{reason}"
            )
        }
        other => panic!("expected a retry, got {other:?}"),
    }
    server.assert_no_message();
}

#[tokio::test]
async fn starttls_is_required_not_opportunistic() {
    // A server that offers no STARTTLS (or an attacker stripping it) gets nothing.
    let server = start(Mode::Plain, false, None);
    let email = Email::new(&config(server.port, SmtpTls::Starttls)).unwrap();
    let err = email.send(&critical_alert(), &ctx()).await.unwrap_err();
    assert!(
        matches!(&err, DeliveryError::Retry { reason, .. } if reason.contains("STARTTLS")),
        "{err:?}"
    );
    server.assert_no_message();
}

#[tokio::test]
async fn auth_over_plain_smtp() {
    let server = start(Mode::Plain, true, None);
    let email = Email::new(&EmailConfig {
        credentials: Some((USER.into(), Secret::new(PASSWORD))),
        ..config(server.port, SmtpTls::None)
    })
    .unwrap();
    email.send(&critical_alert(), &ctx()).await.unwrap();
    let message = server.next_message(WAIT).expect("a message");
    assert_eq!(message.auth_user.as_deref(), Some(USER));
}

#[tokio::test]
async fn a_wrong_password_is_permanent_and_never_shown() {
    let tls = TlsFiles::generate();
    let server = start(Mode::Starttls, true, Some(&tls));
    let wrong = "wr0ng-pa55word";
    let email = Email::new(&EmailConfig {
        credentials: Some((USER.into(), Secret::new(wrong))),
        ca_file: Some(tls.ca.clone()),
        ..config(server.port, SmtpTls::Starttls)
    })
    .unwrap();
    let err = email.send(&critical_alert(), &ctx()).await.unwrap_err();
    match &err {
        DeliveryError::Permanent(reason) => assert!(reason.contains("535"), "{reason}"),
        other => panic!("expected a permanent refusal, got {other:?}"),
    }
    let shown = format!("{err} {err:?} {email:?}");
    assert!(!shown.contains(wrong), "{shown}");
    assert!(!shown.contains(PASSWORD), "{shown}");
    server.assert_no_message();
}

#[tokio::test]
async fn smtp_4xx_is_retried_and_5xx_is_permanent() {
    let server = start(Mode::Plain, false, None);
    let busy = Email::new(&EmailConfig {
        to: vec!["busy@example.com".into()],
        ..config(server.port, SmtpTls::None)
    })
    .unwrap();
    match busy.send(&critical_alert(), &ctx()).await.unwrap_err() {
        DeliveryError::Retry { reason, .. } => assert!(reason.contains("450"), "{reason}"),
        other => panic!("expected a retry, got {other:?}"),
    }
    let nobody = Email::new(&EmailConfig {
        to: vec!["nobody@example.com".into()],
        ..config(server.port, SmtpTls::None)
    })
    .unwrap();
    match nobody.send(&critical_alert(), &ctx()).await.unwrap_err() {
        DeliveryError::Permanent(reason) => assert!(reason.contains("550"), "{reason}"),
        other => panic!("expected a permanent refusal, got {other:?}"),
    }
    server.assert_no_message();
}

#[tokio::test]
async fn no_server_is_retried() {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let email = Email::new(&config(port, SmtpTls::None)).unwrap();
    let err = email.send(&critical_alert(), &ctx()).await.unwrap_err();
    assert!(matches!(err, DeliveryError::Retry { .. }), "{err:?}");
}

#[test]
fn bad_addresses_and_ca_files_fail_at_startup() {
    let err = Email::new(&EmailConfig {
        from: "not an address".into(),
        ..config(25, SmtpTls::None)
    })
    .unwrap_err();
    assert!(err.contains("not an address"), "{err}");
    let dir = tempfile::tempdir().unwrap();
    let empty = dir.path().join("empty.pem");
    std::fs::write(&empty, "").unwrap();
    let err = Email::new(&EmailConfig {
        ca_file: Some(empty),
        ..config(587, SmtpTls::Starttls)
    })
    .unwrap_err();
    assert!(err.contains("holds no PEM certificate"), "{err}");
}
