//! `exotel_sms` and `twilio_sms` against a mock HTTP server: the exact request (path,
//! Basic auth, form fields), the status mapping and one-segment bodies.

mod common;

use std::sync::Arc;
use std::time::Duration;

use balance_alert::config::Secret;
use balance_alert::core::Event;
use balance_alert::core::Thresholds;
use balance_alert::notify::exotel_sms::ExotelSms;
use balance_alert::notify::exotel_sms::ExotelSmsConfig;
use balance_alert::notify::render::RenderCtx;
use balance_alert::notify::twilio_sms::TwilioSms;
use balance_alert::notify::twilio_sms::TwilioSmsConfig;
use balance_alert::notify::{DeliveryError, Notifier};
use balance_alert::provider::AccountConfig;
use balance_alert::provider::ProviderConfig;
use balance_alert::provider::exotel::ExotelConfig;
use common::events::critical_alert;
use wiremock::matchers::{basic_auth, header, method, path};
use wiremock::{Match, Mock, MockServer, Request, ResponseTemplate};

const API_KEY: &str = "exo-key-4f1c";
const API_TOKEN: &str = "exo-token-93ab77";
const TWILIO_SID: &str = "AC0123456789abcdef";
const TWILIO_TOKEN: &str = "twilio-token-5e5e5e";

/// Matches a form-encoded body whose fields are exactly `fields`, in that order.
struct FormIs(Vec<(String, String)>);

impl FormIs {
    fn new(fields: &[(&str, &str)]) -> Self {
        FormIs(
            fields
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
        )
    }
}

fn form_of(request: &Request) -> Vec<(String, String)> {
    url::form_urlencoded::parse(&request.body)
        .into_owned()
        .collect()
}

impl Match for FormIs {
    fn matches(&self, request: &Request) -> bool {
        form_of(request) == self.0
    }
}

fn account(base_url: &str) -> Arc<AccountConfig> {
    Arc::new(AccountConfig {
        labels: Default::default(),
        name: "primary".into(),
        provider: ProviderConfig::Exotel(ExotelConfig {
            sid: "acme".into(),
            api_key: Secret::new(API_KEY),
            api_token: Secret::new(API_TOKEN),
            base_url: base_url.into(),
            currency: None,
        }),
        poll_interval: Duration::from_secs(300),
        repeat_every: None,
        blind_after: Duration::from_secs(900),
        timeout: Duration::from_secs(10),
        ca_file: None,
        notify: vec![],
        thresholds: Thresholds::default(),
        runway: Default::default(),
        topup_min: rust_decimal::Decimal::ONE,
        escalate: Vec::new(),
    })
}

fn exotel(base_url: &str, to: &[&str]) -> ExotelSmsConfig {
    ExotelSmsConfig {
        account: account(base_url),
        from: "ACMEOP".into(),
        to: to.iter().map(|s| s.to_string()).collect(),
        dlt_entity_id: None,
        dlt_template_id: None,
        body_template: None,
    }
}

fn twilio(base_url: &str, to: &[&str]) -> TwilioSmsConfig {
    TwilioSmsConfig {
        account_sid: TWILIO_SID.into(),
        auth_token: Secret::new(TWILIO_TOKEN),
        from: "+15005550006".into(),
        to: to.iter().map(|s| s.to_string()).collect(),
        base_url: base_url.into(),
        body_template: None,
    }
}

const EXOTEL_PATH: &str = "/v1/Accounts/acme/Sms/send.json";
const DEFAULT_BODY: &str =
    "CRITICAL: Exotel primary balance 850.00 INR (below 1,000). balance-alert";

async fn send(channel: &impl Notifier, event: &Event) -> Result<(), DeliveryError> {
    channel.send(event, &RenderCtx::default()).await
}

fn assert_no_secret(text: &str) {
    for secret in [API_TOKEN, TWILIO_TOKEN] {
        assert!(!text.contains(secret), "secret leaked into {text:?}");
    }
}

#[tokio::test]
async fn exotel_posts_one_form_per_recipient_with_basic_auth() {
    let server = MockServer::start().await;
    for to in ["+919800000001", "+919800000002"] {
        Mock::given(method("POST"))
            .and(path(EXOTEL_PATH))
            .and(basic_auth(API_KEY, API_TOKEN))
            .and(header("content-type", "application/x-www-form-urlencoded"))
            .and(FormIs::new(&[
                ("From", "ACMEOP"),
                ("To", to),
                ("Body", DEFAULT_BODY),
            ]))
            .respond_with(
                ResponseTemplate::new(200)
                    .set_body_string(r#"{"SMSMessage":{"Sid":"abc","Status":"queued"}}"#),
            )
            .expect(1)
            .mount(&server)
            .await;
    }
    let channel =
        ExotelSms::new(&exotel(&server.uri(), &["+919800000001", "+919800000002"])).unwrap();
    send(&channel, &critical_alert()).await.unwrap();
    assert_no_secret(&format!("{channel:?}"));
}

#[tokio::test]
async fn exotel_sends_dlt_fields_and_a_filled_template() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path(EXOTEL_PATH))
        .and(FormIs::new(&[
            ("From", "ACMEOP"),
            ("To", "+919800000001"),
            (
                "Body",
                "ACME: Exotel account primary balance 850.00 INR is critical",
            ),
            ("DltEntityId", "1101000000000001"),
            ("DltTemplateId", "1107000000000002"),
        ]))
        .respond_with(ResponseTemplate::new(202))
        .expect(1)
        .mount(&server)
        .await;
    let config = ExotelSmsConfig {
        dlt_entity_id: Some("1101000000000001".into()),
        dlt_template_id: Some("1107000000000002".into()),
        body_template: Some(
            "ACME: Exotel account {account} balance {balance} {currency} is {level}".into(),
        ),
        ..exotel(&server.uri(), &["+919800000001"])
    };
    let channel = ExotelSms::new(&config).unwrap();
    send(&channel, &critical_alert()).await.unwrap();
}

#[tokio::test]
async fn exotel_429_is_retried_after_the_servers_delay() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(
            ResponseTemplate::new(429)
                .insert_header("Retry-After", "30")
                .set_body_string(
                    r#"{"RestException":{"Status":429,"Message":"Too many requests"}}"#,
                ),
        )
        .mount(&server)
        .await;
    let channel = ExotelSms::new(&exotel(&server.uri(), &["+919800000001"])).unwrap();
    let err = send(&channel, &critical_alert()).await.unwrap_err();
    assert_eq!(
        err,
        DeliveryError::Retry {
            reason: "+919800000001: Exotel SMS answered HTTP 429: {\"RestException\":{\"Status\":429,\"Message\":\"Too many requests\"}}".into(),
            retry_after: Some(Duration::from_secs(30)),
        }
    );
}

#[tokio::test]
async fn exotel_503_is_retried() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(503))
        .mount(&server)
        .await;
    let channel = ExotelSms::new(&exotel(&server.uri(), &["+919800000001"])).unwrap();
    let err = send(&channel, &critical_alert()).await.unwrap_err();
    assert_eq!(
        err,
        DeliveryError::Retry {
            reason: "+919800000001: Exotel SMS answered HTTP 503".into(),
            retry_after: None,
        }
    );
}

#[tokio::test]
async fn exotel_400_and_401_are_permanent_and_name_no_secret() {
    for (status, body) in [
        (
            400,
            r#"{"RestException":{"Status":400,"Message":"Invalid To number","Code":21211}}"#,
        ),
        (
            401,
            r#"{"RestException":{"Status":401,"Message":"Authentication failed","Code":20003}}"#,
        ),
    ] {
        let server = MockServer::start().await;
        Mock::given(method("POST"))
            .respond_with(ResponseTemplate::new(status).set_body_string(body))
            .mount(&server)
            .await;
        let channel = ExotelSms::new(&exotel(&server.uri(), &["+919800000001"])).unwrap();
        let err = send(&channel, &critical_alert()).await.unwrap_err();
        assert_eq!(
            err,
            DeliveryError::Permanent(format!(
                "+919800000001: Exotel SMS answered HTTP {status}: {body}"
            ))
        );
        assert_no_secret(&err.to_string());
    }
}

#[tokio::test]
async fn exotel_tries_every_recipient_and_retries_if_any_may_pass() {
    let server = MockServer::start().await;
    let respond = |to: &str, status: u16| {
        Mock::given(method("POST"))
            .and(FormIs::new(&[
                ("From", "ACMEOP"),
                ("To", to),
                ("Body", DEFAULT_BODY),
            ]))
            .respond_with(ResponseTemplate::new(status))
            .expect(1)
    };
    respond("+919800000001", 400).mount(&server).await;
    respond("+919800000002", 503).mount(&server).await;
    respond("+919800000003", 200).mount(&server).await;
    let channel = ExotelSms::new(&exotel(
        &server.uri(),
        &["+919800000001", "+919800000002", "+919800000003"],
    ))
    .unwrap();
    let err = send(&channel, &critical_alert()).await.unwrap_err();
    assert_eq!(
        err,
        DeliveryError::Retry {
            reason: "2 of 3 recipients failed: +919800000001: Exotel SMS answered HTTP 400; \
                     +919800000002: Exotel SMS answered HTTP 503"
                .into(),
            retry_after: None,
        }
    );
}

#[tokio::test]
async fn exotel_connection_refused_is_retried() {
    // Bind then drop: nothing listens on that port any more.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let channel = ExotelSms::new(&exotel(
        &format!("http://127.0.0.1:{port}"),
        &["+919800000001"],
    ))
    .unwrap();
    match send(&channel, &critical_alert()).await.unwrap_err() {
        DeliveryError::Retry { reason, .. } => {
            assert!(reason.contains("connection failed"), "{reason}");
            assert_no_secret(&reason);
        }
        other => panic!("expected a retry, got {other:?}"),
    }
}

#[tokio::test]
async fn sms_bodies_stay_in_one_segment_for_long_account_names() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(200))
        .mount(&server)
        .await;
    let channel = ExotelSms::new(&exotel(&server.uri(), &["+919800000001"])).unwrap();
    let names = [
        "finance-department-india-west-region-primary-prepaid-account-number-7".repeat(3),
        "मुख्य खाता पश्चिम क्षेत्र".to_string(),
    ];
    for name in &names {
        let event = Event {
            account: name.clone(),
            ..critical_alert()
        };
        send(&channel, &event).await.unwrap();
    }
    let requests = server.received_requests().await.unwrap();
    assert_eq!(requests.len(), names.len());
    for request in &requests {
        let body = form_of(request)
            .into_iter()
            .find(|(k, _)| k == "Body")
            .unwrap()
            .1;
        let (used, limit) = balance_alert::notify::sms::sms_length(&body);
        assert!(used <= limit, "{body:?} is {used} of {limit}");
        assert!(body.contains("850.00 INR"), "{body}");
    }
}

#[tokio::test]
async fn twilio_posts_messages_with_basic_auth() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path(format!(
            "/2010-04-01/Accounts/{TWILIO_SID}/Messages.json"
        )))
        .and(basic_auth(TWILIO_SID, TWILIO_TOKEN))
        .and(FormIs::new(&[
            ("To", "+14155550100"),
            ("From", "+15005550006"),
            ("Body", DEFAULT_BODY),
        ]))
        .respond_with(
            ResponseTemplate::new(201).set_body_string(r#"{"sid":"SM1","status":"queued"}"#),
        )
        .expect(1)
        .mount(&server)
        .await;
    let channel = TwilioSms::new(&twilio(&server.uri(), &["+14155550100"])).unwrap();
    send(&channel, &critical_alert()).await.unwrap();
    assert_no_secret(&format!("{channel:?}"));
}

#[tokio::test]
async fn twilio_status_mapping() {
    let cases: [(u16, Option<&str>, Result<(), DeliveryError>); 4] = [
        (
            429,
            Some("7"),
            Err(DeliveryError::Retry {
                reason: "+14155550100: Twilio SMS answered HTTP 429".into(),
                retry_after: Some(Duration::from_secs(7)),
            }),
        ),
        (
            500,
            None,
            Err(DeliveryError::Retry {
                reason: "+14155550100: Twilio SMS answered HTTP 500".into(),
                retry_after: None,
            }),
        ),
        (
            400,
            None,
            Err(DeliveryError::Permanent(
                "+14155550100: Twilio SMS answered HTTP 400".into(),
            )),
        ),
        (200, None, Ok(())),
    ];
    for (status, retry_after, expected) in cases {
        let server = MockServer::start().await;
        let mut response = ResponseTemplate::new(status);
        if let Some(after) = retry_after {
            response = response.insert_header("Retry-After", after);
        }
        Mock::given(method("POST"))
            .respond_with(response)
            .mount(&server)
            .await;
        let channel = TwilioSms::new(&twilio(&server.uri(), &["+14155550100"])).unwrap();
        assert_eq!(
            send(&channel, &critical_alert()).await,
            expected,
            "{status}"
        );
    }
}

#[tokio::test]
async fn an_echoed_credential_never_reaches_the_error() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(400).set_body_string(format!(
            "bad request from user {API_KEY} with token {API_TOKEN} and {TWILIO_TOKEN}"
        )))
        .mount(&server)
        .await;
    let exotel_channel = ExotelSms::new(&exotel(&server.uri(), &["+919800000001"])).unwrap();
    let err = send(&exotel_channel, &critical_alert())
        .await
        .unwrap_err()
        .to_string();
    assert!(!err.contains(API_KEY) && !err.contains(API_TOKEN), "{err}");
    assert!(err.contains("bad request from user ****"), "{err}");
    let twilio_channel = TwilioSms::new(&twilio(&server.uri(), &["+15550100001"])).unwrap();
    let err = send(&twilio_channel, &critical_alert())
        .await
        .unwrap_err()
        .to_string();
    assert!(!err.contains(TWILIO_TOKEN), "{err}");
}
