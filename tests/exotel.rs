//! The Exotel client against a mock Balance API: request shape, both body shapes, every
//! status class, transport failures, size limits, currency rules, and that no error or
//! Debug print ever carries the credentials.

use std::time::{Duration, Instant, SystemTime};

use balance_alert::config::Secret;
use balance_alert::core::ErrorClass;
use balance_alert::core::Thresholds;
use balance_alert::http::MAX_BODY;
use balance_alert::provider::AccountConfig;
use balance_alert::provider::ProviderConfig;
use balance_alert::provider::exotel::ExotelConfig;
use balance_alert::provider::{Balance, BodyError, Client, PollError};
use rust_decimal::Decimal;
use wiremock::matchers::{header, method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

const KEY: &str = "KEY-acme-9f3b";
const TOKEN: &str = "TOKEN-7c1e5a2d";
/// base64("KEY-acme-9f3b:TOKEN-7c1e5a2d"), computed outside the code under test.
const BASIC: &str = "Basic S0VZLWFjbWUtOWYzYjpUT0tFTi03YzFlNWEyZA==";
const BALANCE_PATH: &str = "/v1/Accounts/acme/Balance.json";

const DOCUMENTED: &str = r#"{"Account":{"AccountSid":"acme","BalanceData":{"Balance":"1543.75",
    "Currency":"INR","PricingPlan":"Pay As You Go","DateUpdated":"2026-04-24 10:32:18"}}}"#;

fn account(base_url: &str) -> AccountConfig {
    AccountConfig {
        labels: Default::default(),
        name: "primary".into(),
        provider: ProviderConfig::Exotel(ExotelConfig {
            sid: "acme".into(),
            api_key: Secret::new(KEY),
            api_token: Secret::new(TOKEN),
            base_url: base_url.trim_end_matches('/').to_string(),
            currency: None,
        }),
        poll_interval: Duration::from_secs(300),
        repeat_every: None,
        blind_after: Duration::from_secs(900),
        timeout: Duration::from_secs(5),
        ca_file: None,
        notify: Vec::new(),
        thresholds: Thresholds::default(),
        runway: Default::default(),
        topup_min: rust_decimal::Decimal::ONE,
        escalate: Vec::new(),
    }
}

fn dec(s: &str) -> Decimal {
    s.parse().unwrap()
}

/// Mounts one response for the balance path that must be requested exactly once (the
/// client never retries), with the right credentials.
async fn serve(response: ResponseTemplate) -> MockServer {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path(BALANCE_PATH))
        .and(header("authorization", BASIC))
        .respond_with(response)
        .expect(1)
        .mount(&server)
        .await;
    server
}

/// Sets the currency the Exotel account insists on.
fn set_currency(account: &mut AccountConfig, currency: &str) {
    match &mut account.provider {
        ProviderConfig::Exotel(exotel) => exotel.currency = Some(currency.into()),
        other => panic!("not an Exotel account: {other:?}"),
    }
}

async fn fetch(account: &AccountConfig) -> Result<Balance, PollError> {
    Client::new(account).unwrap().fetch_balance().await
}

async fn fetch_err(response: ResponseTemplate) -> PollError {
    let server = serve(response).await;
    let err = fetch(&account(&server.uri())).await.unwrap_err();
    assert_no_secret(&err);
    err
}

/// Neither credential may appear in what an operator or a log sees.
fn assert_no_secret(err: &PollError) {
    for text in [err.to_string(), format!("{err:?}")] {
        assert!(!text.contains(TOKEN), "token leaked: {text}");
        assert!(!text.contains(KEY), "key leaked: {text}");
    }
}

#[tokio::test]
async fn documented_shape_with_exact_path_auth_and_accept() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path(BALANCE_PATH))
        .and(header("authorization", BASIC))
        .and(header("accept", "application/json"))
        .respond_with(ResponseTemplate::new(200).set_body_string(DOCUMENTED))
        .expect(1)
        .mount(&server)
        .await;
    let balance = fetch(&account(&server.uri())).await.unwrap();
    assert_eq!(balance.amount, dec("1543.75"));
    assert_eq!(balance.amount.to_string(), "1543.75");
    assert_eq!(balance.currency, "INR");
    assert_eq!(balance.pricing_plan.as_deref(), Some("Pay As You Go"));
    assert_eq!(balance.date_updated.as_deref(), Some("2026-04-24 10:32:18"));

    // Credentials travel only in the header, never in the URL.
    let requests = server.received_requests().await.unwrap();
    assert_eq!(requests.len(), 1);
    let url = requests[0].url.as_str();
    assert!(!url.contains(KEY) && !url.contains(TOKEN), "{url}");
    assert!(requests[0].url.query().is_none(), "{url}");
}

#[tokio::test]
async fn short_shape_falls_back_to_the_account_currency() {
    let response = || ResponseTemplate::new(200).set_body_string(r#"{"Balance":{"Amount":618.3}}"#);

    let server = serve(response()).await;
    let balance = fetch(&account(&server.uri())).await.unwrap();
    assert_eq!(balance.amount.to_string(), "618.3");
    assert_eq!(balance.currency, "INR", "default fallback");
    assert_eq!(balance.pricing_plan, None);
    assert_eq!(balance.date_updated, None);

    let server = serve(response()).await;
    let mut usd = account(&server.uri());
    set_currency(&mut usd, "USD");
    let balance = fetch(&usd).await.unwrap();
    assert_eq!(balance.currency, "USD", "configured fallback");
}

#[tokio::test]
async fn matching_currency_is_accepted() {
    let server = serve(ResponseTemplate::new(200).set_body_string(DOCUMENTED)).await;
    let mut inr = account(&server.uri());
    set_currency(&mut inr, "INR");
    assert_eq!(fetch(&inr).await.unwrap().currency, "INR");
}

#[tokio::test]
async fn currency_mismatch_is_a_config_error() {
    let body = r#"{"Account":{"BalanceData":{"Balance":"10","Currency":"USD"}}}"#;
    let server = serve(ResponseTemplate::new(200).set_body_string(body)).await;
    let mut inr = account(&server.uri());
    set_currency(&mut inr, "INR");
    let err = fetch(&inr).await.unwrap_err();
    assert_no_secret(&err);
    assert_eq!(err.class(), ErrorClass::Config);
    assert_eq!(
        err.to_string(),
        "currency mismatch: account expects INR, API reports USD"
    );
}

#[tokio::test]
async fn unauthorized_surfaces_the_rest_exception() {
    let err = fetch_err(ResponseTemplate::new(401).set_body_string(
        r#"{"RestException":{"Status":401,"Message":"Authentication failed","Code":20003}}"#,
    ))
    .await;
    assert_eq!(err.class(), ErrorClass::Config);
    assert!(
        err.to_string()
            .starts_with("HTTP 401 Unauthorized: Authentication failed (code 20003)"),
        "{err}"
    );
    assert_eq!(err.retry_after(), None);
}

#[tokio::test]
async fn string_code_is_surfaced() {
    let err = fetch_err(ResponseTemplate::new(403).set_body_string(
        r#"{"RestException":{"Status":403,"Message":"Not allowed","Code":"UNAUTHORIZED"}}"#,
    ))
    .await;
    assert_eq!(err.class(), ErrorClass::Config);
    assert!(
        err.to_string()
            .starts_with("HTTP 403 Forbidden: Not allowed (code UNAUTHORIZED)"),
        "{err}"
    );
}

#[tokio::test]
async fn config_class_statuses() {
    for status in [402, 404] {
        let err = fetch_err(ResponseTemplate::new(status)).await;
        assert_eq!(err.class(), ErrorClass::Config, "{status}: {err}");
        assert!(
            err.to_string().starts_with(&format!("HTTP {status}")),
            "{err}"
        );
    }
}

#[tokio::test]
async fn xml_error_body_is_shown_as_a_snippet() {
    let xml = "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<TwilioResponse>\n  <RestException>\n    \
               <Status>401</Status>\n    <Message>Authentication failed</Message>\n  \
               </RestException>\n</TwilioResponse>\n";
    let err = fetch_err(ResponseTemplate::new(401).set_body_raw(xml, "application/xml")).await;
    assert_eq!(err.class(), ErrorClass::Config);
    let text = err.to_string();
    assert!(text.starts_with("HTTP 401 Unauthorized: <?xml"), "{text}");
    assert!(
        text.contains("<Message>Authentication failed</Message>"),
        "{text}"
    );
    assert!(!text.contains('\n'), "one log line: {text}");
}

#[tokio::test]
async fn plain_text_error_body_is_shown() {
    let err = fetch_err(ResponseTemplate::new(500).set_body_string("upstream exploded")).await;
    assert_eq!(err.class(), ErrorClass::Transient);
    assert_eq!(
        err.to_string(),
        "HTTP 500 Internal Server Error: upstream exploded"
    );
}

#[tokio::test]
async fn too_many_requests_with_retry_after_seconds() {
    let err = fetch_err(ResponseTemplate::new(429).insert_header("Retry-After", "30")).await;
    assert_eq!(err.class(), ErrorClass::Throttled);
    assert_eq!(err.retry_after(), Some(Duration::from_secs(30)));
    assert!(
        err.to_string().starts_with("HTTP 429 Too Many Requests"),
        "{err}"
    );
}

#[tokio::test]
async fn too_many_requests_with_retry_after_date() {
    let when = httpdate::fmt_http_date(SystemTime::now() + Duration::from_secs(120));
    let err =
        fetch_err(ResponseTemplate::new(429).insert_header("Retry-After", when.as_str())).await;
    assert_eq!(err.class(), ErrorClass::Throttled);
    let wait = err.retry_after().expect("Retry-After date honoured");
    // HTTP dates have one-second resolution and the request takes a moment.
    assert!(
        wait > Duration::from_secs(110) && wait <= Duration::from_secs(120),
        "{wait:?}"
    );
}

#[tokio::test]
async fn service_unavailable_is_throttled() {
    let err = fetch_err(ResponseTemplate::new(503)).await;
    assert_eq!(err.class(), ErrorClass::Throttled);
    assert_eq!(err.retry_after(), None);
    assert_eq!(err.to_string(), "HTTP 503 Service Unavailable");

    let err = fetch_err(ResponseTemplate::new(503).insert_header("Retry-After", "7")).await;
    assert_eq!(err.retry_after(), Some(Duration::from_secs(7)));
}

#[tokio::test]
async fn other_statuses_are_transient() {
    for status in [400, 409, 500, 502, 504] {
        let err = fetch_err(ResponseTemplate::new(status)).await;
        assert_eq!(err.class(), ErrorClass::Transient, "{status}: {err}");
        assert!(matches!(err, PollError::Status { status: s, .. } if s == status));
    }
}

#[tokio::test]
async fn retry_after_is_kept_on_any_status() {
    let err = fetch_err(ResponseTemplate::new(500).insert_header("Retry-After", "12")).await;
    assert_eq!(err.class(), ErrorClass::Transient);
    assert_eq!(err.retry_after(), Some(Duration::from_secs(12)));
}

#[tokio::test]
async fn proxy_html_error_page_is_summed_up_by_its_title() {
    let html = "<!DOCTYPE html>\n<html><head><title>502 Bad Gateway</title></head>\
                <body><center><h1>502 Bad Gateway</h1></center><hr>nginx</body></html>";
    let err = fetch_err(ResponseTemplate::new(502).set_body_raw(html, "text/html")).await;
    assert_eq!(err.class(), ErrorClass::Transient);
    assert_eq!(
        err.to_string(),
        "HTTP 502 Bad Gateway: title \"502 Bad Gateway\""
    );
}

#[tokio::test]
async fn redirect_is_not_followed() {
    let server = MockServer::start().await;
    Mock::given(path("/elsewhere"))
        .respond_with(ResponseTemplate::new(200).set_body_string(DOCUMENTED))
        .expect(0)
        .mount(&server)
        .await;
    Mock::given(path(BALANCE_PATH))
        .respond_with(
            ResponseTemplate::new(302)
                .insert_header("Location", format!("{}/elsewhere", server.uri()).as_str()),
        )
        .expect(1)
        .mount(&server)
        .await;
    let err = fetch(&account(&server.uri())).await.unwrap_err();
    assert_no_secret(&err);
    assert_eq!(err.class(), ErrorClass::Transient);
    assert!(
        matches!(err, PollError::Status { status: 302, .. }),
        "{err:?}"
    );
}

#[tokio::test]
async fn slow_answer_times_out_as_transient() {
    let server = serve(
        ResponseTemplate::new(200)
            .set_body_string(DOCUMENTED)
            .set_delay(Duration::from_secs(3)),
    )
    .await;
    let mut acct = account(&server.uri());
    acct.timeout = Duration::from_millis(300);
    let started = Instant::now();
    let err = fetch(&acct).await.unwrap_err();
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "{:?}",
        started.elapsed()
    );
    assert_no_secret(&err);
    assert_eq!(err.class(), ErrorClass::Transient);
    assert!(matches!(err, PollError::Timeout { .. }), "{err:?}");
    assert!(
        err.to_string().contains("did not answer within 300ms"),
        "{err}"
    );
}

#[tokio::test]
async fn connection_refused_is_transient() {
    // Bind to learn a free port, then close it so nothing listens there.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    drop(listener);
    let err = fetch(&account(&format!("http://127.0.0.1:{port}")))
        .await
        .unwrap_err();
    assert_no_secret(&err);
    assert_eq!(err.class(), ErrorClass::Transient);
    assert!(matches!(err, PollError::Connect { .. }), "{err:?}");
    let text = err.to_string();
    // Names the configured host (never the request URL with its path).
    assert!(
        text.starts_with(&format!("cannot reach Exotel at http://127.0.0.1:{port}: ")),
        "{text}"
    );
    assert!(
        !text.contains("/v1/Accounts"),
        "no request URL in the message: {text}"
    );
}

#[tokio::test]
async fn body_over_one_mebibyte_is_refused() {
    let mut body = br#"{"Balance":{"Amount":1}}"#.to_vec();
    body.resize(MAX_BODY + 1, b' ');
    let err = fetch_err(ResponseTemplate::new(200).set_body_raw(body, "application/json")).await;
    assert_eq!(err.class(), ErrorClass::Transient);
    assert!(
        matches!(err, PollError::Body(BodyError::TooLarge { limit }) if limit == MAX_BODY),
        "{err:?}"
    );
    assert!(err.to_string().contains("larger than"), "{err}");
}

#[tokio::test]
async fn body_of_exactly_one_mebibyte_is_read() {
    let mut body = br#"{"Balance":{"Amount":1}}"#.to_vec();
    body.resize(MAX_BODY, b' ');
    let server = serve(ResponseTemplate::new(200).set_body_raw(body, "application/json")).await;
    assert_eq!(
        fetch(&account(&server.uri())).await.unwrap().amount,
        dec("1")
    );
}

#[tokio::test]
async fn bad_bodies_are_transient_and_named() {
    let cases = [
        ("", "empty"),
        ("<html><body>Sign in</body></html>", "HTML"),
        ("definitely not json", "not JSON"),
        (
            r#"{"Balance":{"Amount":"abc"}}"#,
            "Balance.Amount is not a number: \"abc\"",
        ),
        (
            r#"{"Account":{"BalanceData":{"Balance":"NaN"}}}"#,
            "not a number",
        ),
        (r#"{"Account":{}}"#, "no balance amount"),
        // SPEC §17: a duplicate key, at any depth, is a bad body (it was last-wins).
        (
            r#"{"Balance":{"Amount":"5000","Amount":"10"}}"#,
            "the key \"Amount\" twice",
        ),
        (
            r#"{"Account":{"BalanceData":{"Balance":"1"}},"Account":{}}"#,
            "the key \"Account\" twice",
        ),
        (
            r#"{"Balance":{"Amount":1},"Other":[{"x":1,"x":2}]}"#,
            "the key \"x\" twice",
        ),
        // SPEC §17: a mantissa that cannot be held exactly is refused, not rounded.
        (
            r#"{"Balance":{"Amount":999.99999999999999999999999999999e0}}"#,
            "cannot be represented exactly",
        ),
        (
            r#"{"Balance":{"Amount":"0.12345678901234567890123456789012345e0"}}"#,
            "cannot be represented exactly",
        ),
    ];
    for (body, expected) in cases {
        let err = fetch_err(ResponseTemplate::new(200).set_body_string(body)).await;
        assert_eq!(err.class(), ErrorClass::Transient, "{body}");
        assert!(matches!(err, PollError::Body(_)), "{body}: {err:?}");
        assert!(err.to_string().contains(expected), "{body}: {err}");
    }
}

#[tokio::test]
async fn echoed_credentials_are_redacted_from_errors() {
    // A misbehaving proxy that echoes the request must not push the token into logs.
    let echo = format!("denied for {KEY}:{TOKEN}");
    let err = fetch_err(ResponseTemplate::new(401).set_body_string(echo.as_str())).await;
    assert!(err.to_string().contains("denied for ****:****"), "{err}");

    let json = format!(r#"{{"RestException":{{"Message":"bad token {TOKEN}","Code":"{KEY}"}}}}"#);
    let err = fetch_err(ResponseTemplate::new(401).set_body_string(json.as_str())).await;
    assert!(err.to_string().contains("bad token ****"), "{err}");

    let body = format!(r#"{{"Balance":{{"Amount":"{TOKEN}"}}}}"#);
    let err = fetch_err(ResponseTemplate::new(200).set_body_string(body.as_str())).await;
    assert!(
        matches!(err, PollError::Body(BodyError::NotANumber { .. })),
        "{err:?}"
    );
}

#[tokio::test]
async fn debug_of_the_client_masks_credentials() {
    let client = Client::new(&account("https://api.exotel.com")).unwrap();
    let debug = format!("{client:?}");
    assert!(!debug.contains(TOKEN) && !debug.contains(KEY), "{debug}");
    assert!(debug.contains("/v1/Accounts/acme/Balance.json"), "{debug}");
}

#[test]
fn credentials_in_base_url_are_refused_without_echoing_them() {
    let err = Client::new(&account(&format!("https://{KEY}:{TOKEN}@api.exotel.com"))).unwrap_err();
    assert!(!err.contains(TOKEN) && !err.contains(KEY), "{err}");
    assert!(err.contains("credentials"), "{err}");
}
