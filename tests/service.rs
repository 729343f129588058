//! The daemon as a service, through the real binary: systemd readiness and watchdog
//! over a `NOTIFY_SOCKET` the test binds, `/metrics` and `/healthz`, the `health`
//! command, and `test-notify` over every channel type (a real SMTP server, wiremock for
//! the SMS APIs).

mod common;

use std::time::Duration;

use common::cli::{SIGTERM, code, run, stdout, write};
use common::daemon::{KEY, SID, TOKEN};
use common::process::{Balance, Daemon, exotel_with};
use common::smtp::{Mode, Options, SmtpServer};
use wiremock::{Mock, MockServer, ResponseTemplate, matchers};

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

async fn next_datagram(socket: &tokio::net::UnixDatagram, secs: u64) -> String {
    let mut buf = [0u8; 512];
    let n = tokio::time::timeout(Duration::from_secs(secs), socket.recv(&mut buf))
        .await
        .expect("a notify datagram in time")
        .unwrap();
    String::from_utf8_lossy(&buf[..n]).into_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn notify_socket_metrics_and_health() {
    let dir = tempfile::tempdir().unwrap();
    let balance = Balance::new("4000.50");
    let exotel = exotel_with(&balance).await;
    let port = free_port();
    let config = write(
        dir.path(),
        "service.toml",
        &format!(
            r#"
[daemon]
state_file = "{state}"
listen = "127.0.0.1:{port}"

[[account]]
name = "primary"
sid = "{SID}"
api_key = "{KEY}"
api_token = "{TOKEN}"
base_url = "{base}"
poll_interval = "1s"
notify = ["out"]
warning = {{ below = 5000, clear_above = 6000 }}

[[channel]]
name = "out"
type = "console"
"#,
            state = dir.path().join("state.db").display(),
            base = exotel.uri()
        ),
    );
    let socket_path = dir.path().join("notify.sock");
    let socket = tokio::net::UnixDatagram::bind(&socket_path).unwrap();
    let mut daemon = Daemon::spawn(
        &config,
        &dir.path().join("log"),
        "info",
        &[
            ("NOTIFY_SOCKET", socket_path.to_str().unwrap()),
            ("WATCHDOG_USEC", "1000000"),
        ],
    );
    assert_eq!(next_datagram(&socket, 10).await, "READY=1");
    // The supervisor pings at half the watchdog interval while every task is on time.
    for _ in 0..2 {
        assert_eq!(next_datagram(&socket, 5).await, "WATCHDOG=1");
    }

    daemon.wait_log("event", 10).await;
    let url = format!("http://127.0.0.1:{port}");
    let client = reqwest::Client::new();
    let metrics = client
        .get(format!("{url}/metrics"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    for expected in [
        "balance_alert_balance{account=\"primary\",provider=\"exotel\",currency=\"INR\"} 4000.5",
        "balance_alert_level{account=\"primary\",provider=\"exotel\"} 1",
        "balance_alert_last_success_timestamp_seconds{account=\"primary\",provider=\"exotel\"}",
        "balance_alert_outbox_pending",
        "balance_alert_config_reload_success 1",
        "balance_alert_poll_errors_total{account=\"primary\",provider=\"exotel\",class=\"config\"} 0",
        "# HELP balance_alert_notifications_total",
    ] {
        assert!(
            metrics.contains(expected),
            "missing {expected:?} in:\n{metrics}"
        );
    }
    let health = client.get(format!("{url}/healthz")).send().await.unwrap();
    assert_eq!(health.status(), 200);

    let c = config.clone();
    let out = tokio::task::spawn_blocking(move || run(&["health", "-c", c.to_str().unwrap()], &[]))
        .await
        .unwrap();
    assert_eq!(code(&out), 0, "{}", stdout(&out));

    daemon.signal(SIGTERM);
    // Watchdog pings may still be queued; STOPPING=1 must follow.
    let mut seen = Vec::new();
    loop {
        let message = next_datagram(&socket, 10).await;
        if message == "STOPPING=1" {
            break;
        }
        assert_eq!(message, "WATCHDOG=1", "after {seen:?}");
        seen.push(message);
    }
    assert_eq!(daemon.wait_exit(15).await.0, 0);

    let c = config.clone();
    let out = tokio::task::spawn_blocking(move || run(&["health", "-c", c.to_str().unwrap()], &[]))
        .await
        .unwrap();
    assert_eq!(code(&out), 1, "nothing listens any more");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn test_notify_covers_email_and_both_sms_apis() {
    let dir = tempfile::tempdir().unwrap();
    let smtp = SmtpServer::start(
        &Options {
            mode: Mode::Plain,
            auth: None,
        },
        None,
    );
    let sms = MockServer::start().await;
    Mock::given(matchers::method("POST"))
        .and(matchers::path(format!("/v1/Accounts/{SID}/Sms/send.json")))
        .and(matchers::basic_auth(KEY, TOKEN))
        .respond_with(ResponseTemplate::new(200).set_body_string(r#"{"SMSMessage":{"Sid":"x"}}"#))
        .mount(&sms)
        .await;
    Mock::given(matchers::method("POST"))
        .and(matchers::path("/2010-04-01/Accounts/AC123/Messages.json"))
        .and(matchers::basic_auth("AC123", "twilio-token"))
        .respond_with(ResponseTemplate::new(201).set_body_string(r#"{"sid":"SM1"}"#))
        .mount(&sms)
        .await;
    let config = write(
        dir.path(),
        "channels.toml",
        &format!(
            r#"
[[account]]
name = "primary"
sid = "{SID}"
api_key = "{KEY}"
api_token = "{TOKEN}"
base_url = "{base}"
notify = ["mail", "exotel", "twilio"]
warning = {{ below = 5000 }}

[[channel]]
name = "mail"
type = "email"
smtp_host = "127.0.0.1"
smtp_port = {smtp_port}
tls = "none"
from = "balance-alert <alerts@example.com>"
to = ["ops@example.com"]

[[channel]]
name = "exotel"
type = "exotel_sms"
account = "primary"
from = "ACMEOP"
to = ["+919800000000"]

[[channel]]
name = "twilio"
type = "twilio_sms"
account_sid = "AC123"
auth_token = "twilio-token"
from = "+15550100000"
to = ["+15550100001"]
base_url = "{base}"
"#,
            base = sms.uri(),
            smtp_port = smtp.port
        ),
    );
    let c = config.clone();
    let out =
        tokio::task::spawn_blocking(move || run(&["test-notify", "-c", c.to_str().unwrap()], &[]))
            .await
            .unwrap();
    let text = stdout(&out);
    assert_eq!(code(&out), 0, "{text}");
    for line in [
        "mail (email): delivered",
        "exotel (exotel_sms): delivered",
        "twilio (twilio_sms): delivered",
    ] {
        assert!(text.contains(line), "{line:?} missing in {text}");
    }
    let message = smtp
        .next_message(Duration::from_secs(5))
        .expect("the test email");
    assert_eq!(message.rcpt_tos, ["ops@example.com"]);
    assert!(
        message
            .subject
            .unwrap_or_default()
            .to_uppercase()
            .contains("TEST")
    );
    assert_eq!(sms.received_requests().await.unwrap().len(), 2);
}
