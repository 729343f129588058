//! The channel types of SPEC §11.1 against wiremock stand-ins of their APIs: the exact
//! request each sends, how each answer is classified (success, retried with the peer's
//! wait, refused for good), that no secret reaches an error, and `test-notify` through
//! the real binary for all six.

mod common;

use std::path::Path;
use std::time::Duration;

use balance_alert::config::MapEnv;
use balance_alert::notify::{Channel, DeliveryError, Notifier, RenderCtx};
use balance_alert::settings::{self as config, ChannelConfig};
use common::cli::{code, run, stdout, write};
use common::daemon::{KEY, SID, TOKEN};
use common::events::critical_alert;
use serde_json::{Value, json};
use wiremock::{Mock, MockServer, ResponseTemplate, matchers};

const BOT_TOKEN: &str = "123456789:AAHdqTcvCH1vGWJxfSeofSAs0K5PALDsaw";

fn account_toml() -> String {
    format!(
        r#"
[[account]]
name = "primary"
sid = "{SID}"
api_key = "{KEY}"
api_token = "{TOKEN}"
base_url = "http://127.0.0.1:9"
notify = []
warning = {{ below = 5000 }}
critical = {{ below = 1000 }}
"#
    )
}

/// One channel parsed from its TOML table, as the daemon would build it.
fn build(table: &str) -> (ChannelConfig, Channel) {
    let text = format!("{}\n[[channel]]\n{table}", account_toml());
    let config = config::parse(&text, Path::new("test.toml"), &MapEnv::default())
        .unwrap_or_else(|e| panic!("{e}"));
    let c = (*config.channels[0]).clone();
    let channel = Channel::new(&c.kind).unwrap();
    (c, channel)
}

fn ctx() -> RenderCtx {
    RenderCtx {
        timezone: None,
        instance: Some("a".into()),
    }
}

async fn server(status: u16, body: &str) -> MockServer {
    let server = MockServer::start().await;
    Mock::given(matchers::any())
        .respond_with(
            ResponseTemplate::new(status).set_body_raw(body.to_owned(), "application/json"),
        )
        .mount(&server)
        .await;
    server
}

async fn only_request(server: &MockServer) -> wiremock::Request {
    let mut requests = server.received_requests().await.unwrap();
    assert_eq!(requests.len(), 1, "{requests:?}");
    requests.remove(0)
}

fn json_body(request: &wiremock::Request) -> Value {
    serde_json::from_slice(&request.body).unwrap()
}

#[tokio::test]
async fn pagerduty_triggers_with_the_shared_dedup_key_and_classifies_answers() {
    let pd = server(
        202,
        r#"{"status":"success","message":"Event processed","dedup_key":"x"}"#,
    )
    .await;
    let (_, channel) = build(&format!(
        "name = \"pd\"\ntype = \"pagerduty\"\nrouting_key = \"R0UT1NGKEY0123456789\"\nurl = \"{}/v2/enqueue\"",
        pd.uri()
    ));
    channel.send(&critical_alert(), &ctx()).await.unwrap();
    let request = only_request(&pd).await;
    assert_eq!(request.url.path(), "/v2/enqueue");
    let mut details = serde_json::to_value(critical_alert()).unwrap();
    details["instance"] = json!("a");
    assert_eq!(
        json_body(&request),
        json!({
            "routing_key": "R0UT1NGKEY0123456789",
            "event_action": "trigger",
            "dedup_key": "balance-alert/exotel/acme/balance",
            "client": "balance-alert",
            "payload": {
                "summary": "[CRITICAL] Exotel balance low: primary 850.00 INR",
                "source": "acme",
                "severity": "critical",
                "timestamp": "2026-04-24T05:02:18Z",
                "component": "primary",
                "group": "exotel",
                "class": "alert",
                "custom_details": details
            }
        })
    );

    // 429 and 5xx are retried (429 after Retry-After); 400 is refused for good, and the
    // routing key PagerDuty may echo back is masked.
    for (status, retried) in [
        (429, true),
        (500, true),
        (503, true),
        (400, false),
        (404, false),
    ] {
        let pd = MockServer::start().await;
        Mock::given(matchers::any())
            .respond_with(
                ResponseTemplate::new(status)
                    .insert_header("Retry-After", "7")
                    .set_body_string(r#"{"status":"invalid event","errors":["routing_key R0UT1NGKEY0123456789 unknown"]}"#),
            )
            .mount(&pd)
            .await;
        let (_, channel) = build(&format!(
            "name = \"pd\"\ntype = \"pagerduty\"\nrouting_key = \"R0UT1NGKEY0123456789\"\nurl = \"{}/v2/enqueue\"",
            pd.uri()
        ));
        let err = channel.send(&critical_alert(), &ctx()).await.unwrap_err();
        assert!(!err.to_string().contains("R0UT1NGKEY0123456789"), "{err}");
        match err {
            DeliveryError::Retry { retry_after, .. } => {
                assert!(retried, "{status} must be permanent");
                assert_eq!(retry_after, Some(Duration::from_secs(7)));
            }
            DeliveryError::Permanent(_) => assert!(!retried, "{status} must be retried"),
        }
    }
}

#[tokio::test]
async fn teams_posts_an_adaptive_card() {
    let teams = server(202, "").await;
    let (_, channel) = build(&format!(
        "name = \"t\"\ntype = \"teams\"\nwebhook_url = \"{}/workflows/abc?sig=S1GNATURE\"",
        teams.uri()
    ));
    channel.send(&critical_alert(), &ctx()).await.unwrap();
    let request = only_request(&teams).await;
    assert_eq!(request.url.query(), Some("sig=S1GNATURE"));
    let body = json_body(&request);
    assert_eq!(
        body,
        balance_alert::notify::teams::teams_payload(&critical_alert(), &ctx())
    );
    assert_eq!(body["attachments"][0]["content"]["version"], "1.4");
    assert_eq!(
        body["attachments"][0]["content"]["body"][0]["text"],
        "[CRITICAL] Exotel balance low: primary 850.00 INR"
    );

    let refused = server(400, "Bad payload for sig=S1GNATURE").await;
    let (_, channel) = build(&format!(
        "name = \"t\"\ntype = \"teams\"\nwebhook_url = \"{}/workflows/abc?sig=S1GNATURE\"",
        refused.uri()
    ));
    let err = channel.send(&critical_alert(), &ctx()).await.unwrap_err();
    assert!(matches!(err, DeliveryError::Permanent(_)), "{err:?}");
}

#[tokio::test]
async fn discord_posts_content_and_embed_and_honours_retry_after() {
    let discord = server(204, "").await;
    let (_, channel) = build(&format!(
        "name = \"d\"\ntype = \"discord\"\nwebhook_url = \"{}/api/webhooks/1/T0KEN\"",
        discord.uri()
    ));
    channel.send(&critical_alert(), &ctx()).await.unwrap();
    let body = json_body(&only_request(&discord).await);
    assert_eq!(
        body,
        balance_alert::notify::discord::discord_payload(&critical_alert(), &ctx())
    );
    assert_eq!(
        body["content"],
        "[CRITICAL] Exotel balance low: primary 850.00 INR"
    );
    assert_eq!(body["embeds"][0]["color"], 0xD32F2F);

    let limited = MockServer::start().await;
    Mock::given(matchers::any())
        .respond_with(
            ResponseTemplate::new(429)
                .insert_header("Retry-After", "1")
                .set_body_raw(
                    r#"{"message": "You are being rate limited.", "retry_after": 3.5, "global": false}"#,
                    "application/json",
                ),
        )
        .mount(&limited)
        .await;
    let (_, channel) = build(&format!(
        "name = \"d\"\ntype = \"discord\"\nwebhook_url = \"{}/api/webhooks/1/T0KEN\"",
        limited.uri()
    ));
    match channel.send(&critical_alert(), &ctx()).await.unwrap_err() {
        DeliveryError::Retry { retry_after, .. } => {
            assert_eq!(retry_after, Some(Duration::from_millis(3500)))
        }
        other => panic!("{other:?}"),
    }
    let gone = server(404, r#"{"message": "Unknown Webhook", "code": 10015}"#).await;
    let (_, channel) = build(&format!(
        "name = \"d\"\ntype = \"discord\"\nwebhook_url = \"{}/api/webhooks/1/T0KEN\"",
        gone.uri()
    ));
    assert!(matches!(
        channel.send(&critical_alert(), &ctx()).await.unwrap_err(),
        DeliveryError::Permanent(_)
    ));
}

#[tokio::test]
async fn telegram_sends_html_and_never_shows_the_token() {
    let tg = MockServer::start().await;
    Mock::given(matchers::method("POST"))
        .and(matchers::path(format!("/bot{BOT_TOKEN}/sendMessage")))
        .respond_with(ResponseTemplate::new(200).set_body_raw(
            r#"{"ok":true,"result":{"message_id":1}}"#,
            "application/json",
        ))
        .mount(&tg)
        .await;
    let (_, channel) = build(&format!(
        "name = \"tg\"\ntype = \"telegram\"\nbot_token = \"{BOT_TOKEN}\"\nchat_id = -1001234567890\nbase_url = \"{}\"",
        tg.uri()
    ));
    channel.send(&critical_alert(), &ctx()).await.unwrap();
    let body = json_body(&only_request(&tg).await);
    assert_eq!(
        body,
        balance_alert::notify::telegram::telegram_body(
            &critical_alert(),
            &ctx(),
            &json!(-1001234567890_i64)
        )
    );
    assert_eq!(body["parse_mode"], "HTML");
    assert!(
        body["text"]
            .as_str()
            .unwrap()
            .starts_with("<b>[CRITICAL] Exotel balance low: primary 850.00 INR</b>\n\n")
    );

    // 429: parameters.retry_after; 401 (bad token) permanent; neither error, nor one
    // for an unreachable host, carries the token.
    let cases = [
        (
            429,
            r#"{"ok":false,"error_code":429,"description":"Too Many Requests: retry after 12","parameters":{"retry_after":12}}"#,
            Some(Some(Duration::from_secs(12))),
        ),
        (
            401,
            r#"{"ok":false,"error_code":401,"description":"Unauthorized"}"#,
            None,
        ),
        (
            400,
            r#"{"ok":false,"error_code":400,"description":"Bad Request: chat not found"}"#,
            None,
        ),
    ];
    for (status, answer, retry) in cases {
        let tg = server(status, answer).await;
        let (_, channel) = build(&format!(
            "name = \"tg\"\ntype = \"telegram\"\nbot_token = \"{BOT_TOKEN}\"\nchat_id = \"@acme_ops\"\nbase_url = \"{}\"",
            tg.uri()
        ));
        let err = channel.send(&critical_alert(), &ctx()).await.unwrap_err();
        assert!(!format!("{err} {err:?}").contains(BOT_TOKEN), "{err:?}");
        match (err, retry) {
            (DeliveryError::Retry { retry_after, .. }, Some(want)) => assert_eq!(retry_after, want),
            (DeliveryError::Permanent(reason), None) => {
                assert!(reason.contains(&status.to_string()), "{reason}")
            }
            (other, _) => panic!("{status}: {other:?}"),
        }
        assert_eq!(json_body(&only_request(&tg).await)["chat_id"], "@acme_ops");
    }
    let (_, channel) = build(&format!(
        "name = \"tg\"\ntype = \"telegram\"\nbot_token = \"{BOT_TOKEN}\"\nchat_id = 42\nbase_url = \"http://127.0.0.1:9\""
    ));
    let err = channel.send(&critical_alert(), &ctx()).await.unwrap_err();
    assert!(matches!(err, DeliveryError::Retry { .. }));
    assert!(
        !format!("{err} {err:?} {channel:?}").contains(BOT_TOKEN),
        "{err:?}"
    );
    assert!(!format!("{err}").contains("127.0.0.1:9/bot"), "{err}");
}

#[tokio::test]
async fn ntfy_publishes_text_with_title_priority_tags_and_token() {
    let ntfy = MockServer::start().await;
    Mock::given(matchers::method("POST"))
        .and(matchers::path("/acme-ops"))
        .and(matchers::header("Authorization", "Bearer tk_s3cr3tt0ken"))
        .respond_with(ResponseTemplate::new(200).set_body_string("{}"))
        .mount(&ntfy)
        .await;
    let (_, channel) = build(&format!(
        "name = \"n\"\ntype = \"ntfy\"\nurl = \"{}/acme-ops\"\ntoken = \"tk_s3cr3tt0ken\"",
        ntfy.uri()
    ));
    channel.send(&critical_alert(), &ctx()).await.unwrap();
    let request = only_request(&ntfy).await;
    let header = |name: &str| {
        request
            .headers
            .get(name)
            .unwrap()
            .to_str()
            .unwrap()
            .to_owned()
    };
    assert_eq!(
        header("Title"),
        "[CRITICAL] Exotel balance low: primary 850.00 INR"
    );
    assert_eq!(header("Priority"), "5");
    assert_eq!(header("Tags"), "rotating_light,balance-alert,alert");
    let expected = balance_alert::notify::render::text_body(&critical_alert(), &ctx());
    assert_eq!(String::from_utf8(request.body.clone()).unwrap(), expected);
    assert!(expected.contains("Instance:"), "{expected}");

    for (status, retried) in [(429, true), (502, true), (403, false), (413, false)] {
        let ntfy = server(status, r#"{"code":40301,"error":"forbidden"}"#).await;
        let (_, channel) = build(&format!(
            "name = \"n\"\ntype = \"ntfy\"\nurl = \"{}/acme-ops\"\ntoken = \"tk_s3cr3tt0ken\"",
            ntfy.uri()
        ));
        let err = channel.send(&critical_alert(), &ctx()).await.unwrap_err();
        assert_eq!(
            matches!(err, DeliveryError::Retry { .. }),
            retried,
            "{status}"
        );
        assert!(!format!("{err:?}").contains("tk_s3cr3tt0ken"));
    }
}

#[tokio::test]
async fn alertmanager_posts_to_every_peer_even_when_one_is_down() {
    let up = MockServer::start().await;
    Mock::given(matchers::method("POST"))
        .and(matchers::path("/api/v2/alerts"))
        .and(matchers::header("Authorization", "Bearer am-t0ken"))
        .respond_with(ResponseTemplate::new(200))
        .mount(&up)
        .await;
    // The first peer refuses connections: the second still gets every post at once.
    let (_, channel) = build(&format!(
        "name = \"am-peer-down\"\ntype = \"alertmanager\"\nurls = [\"http://127.0.0.1:9\", \"{}\"]\nresend_every = \"300ms\"\nbearer_token = \"am-t0ken\"",
        up.uri()
    ));
    channel.send(&critical_alert(), &ctx()).await.unwrap();
    let first = up.received_requests().await.unwrap();
    assert!(!first.is_empty());
    let body = json_body(&first[0]);
    assert_eq!(body.as_array().unwrap().len(), 1);
    assert_eq!(
        body[0]["labels"],
        json!({"alertname": "BalanceLow", "account": "primary", "sid": "acme",
               "provider": "exotel", "severity": "critical", "instance": "a"})
    );
    assert_eq!(body[0]["startsAt"], "2026-04-24T05:02:18.000Z");
    assert_eq!(body[0]["annotations"]["runway"], "");
    // Re-posted every resend_every while active.
    tokio::time::sleep(Duration::from_millis(1000)).await;
    let n = up.received_requests().await.unwrap().len();
    assert!(n >= 3, "only {n} posts in 1 s at resend_every = 300ms");
    // Resolved: posted once more with endsAt = now, then nothing is left to send.
    let resolved = balance_alert::core::Event {
        event: balance_alert::core::EventKind::Resolved,
        level: balance_alert::core::Level::Ok,
        ..critical_alert()
    };
    channel.send(&resolved, &ctx()).await.unwrap();
    let requests = up.received_requests().await.unwrap();
    let last = json_body(requests.last().unwrap());
    let ends: jiff::Timestamp = last[0]["endsAt"].as_str().unwrap().parse().unwrap();
    assert!(ends <= jiff::Timestamp::now(), "{last}");
    tokio::time::sleep(Duration::from_millis(800)).await;
    assert_eq!(
        up.received_requests().await.unwrap().len(),
        requests.len(),
        "nothing is posted once no alert stands"
    );

    // Every peer down: the delivery fails and is retried from the outbox.
    let (_, channel) = build(
        "name = \"am-all-down\"\ntype = \"alertmanager\"\nurls = [\"http://127.0.0.1:9\"]\nbasic_auth = { user = \"u\", password = \"pw-s3cr3t\" }",
    );
    let err = channel.send(&critical_alert(), &ctx()).await.unwrap_err();
    assert!(matches!(err, DeliveryError::Retry { .. }), "{err:?}");
    assert!(!format!("{err:?}").contains("pw-s3cr3t"));
}

/// All six types in one file, through `balance-alert test-notify`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn test_notify_reaches_every_new_channel_type() {
    let dir = tempfile::tempdir().unwrap();
    let pd = server(202, r#"{"status":"success"}"#).await;
    let am = server(200, "").await;
    let teams = server(202, "").await;
    let discord = server(204, "").await;
    let tg = server(200, r#"{"ok":true}"#).await;
    let ntfy = server(200, "{}").await;
    let text = format!(
        r#"{}
[[channel]]
name = "pd"
type = "pagerduty"
routing_key = "R0UT1NGKEY0123456789"
url = "{}/v2/enqueue"

[[channel]]
name = "am"
type = "alertmanager"
urls = ["{}"]

[[channel]]
name = "teams"
type = "teams"
webhook_url = "{}/wf"

[[channel]]
name = "discord"
type = "discord"
webhook_url = "{}/api/webhooks/1/x"

[[channel]]
name = "tg"
type = "telegram"
bot_token = "{BOT_TOKEN}"
chat_id = 42
base_url = "{}"

[[channel]]
name = "ntfy"
type = "ntfy"
url = "{}/ops"
"#,
        account_toml(),
        pd.uri(),
        am.uri(),
        teams.uri(),
        discord.uri(),
        tg.uri(),
        ntfy.uri()
    );
    let path = write(dir.path(), "six.toml", &text);
    let out = tokio::task::spawn_blocking(move || {
        run(&["test-notify", "-c", path.to_str().unwrap()], &[])
    })
    .await
    .unwrap();
    let printed = stdout(&out);
    assert_eq!(code(&out), 0, "{printed}");
    for line in [
        "pd (pagerduty): delivered",
        "am (alertmanager): delivered",
        "teams (teams): delivered",
        "discord (discord): delivered",
        "tg (telegram): delivered",
        "ntfy (ntfy): delivered",
    ] {
        assert!(printed.contains(line), "{line} missing from:\n{printed}");
    }
    // PagerDuty: a test triggers `info` under …/test and resolves it at once.
    let pd_bodies: Vec<Value> = pd
        .received_requests()
        .await
        .unwrap()
        .iter()
        .map(json_body)
        .collect();
    assert_eq!(pd_bodies.len(), 2);
    assert_eq!(pd_bodies[0]["payload"]["severity"], "info");
    assert_eq!(pd_bodies[0]["dedup_key"], "balance-alert/exotel/acme/test");
    assert_eq!(pd_bodies[1]["event_action"], "resolve");
    let am_body = json_body(&only_request(&am).await);
    assert_eq!(am_body[0]["labels"]["alertname"], "BalanceAlertTest");
    for s in [&teams, &discord, &tg, &ntfy] {
        only_request(s).await;
    }
}

#[test]
fn bad_channel_keys_are_named() {
    let bad = |table: &str| {
        let text = format!("{}\n[[channel]]\n{table}", account_toml());
        config::parse(&text, Path::new("c.toml"), &MapEnv::default())
            .unwrap_err()
            .to_string()
    };
    let e = bad("name = \"pd\"\ntype = \"pagerduty\"");
    assert!(
        e.contains("channel \"pd\".routing_key: missing required key"),
        "{e}"
    );
    let e = bad("name = \"am\"\ntype = \"alertmanager\"\nurls = []");
    assert!(
        e.contains("channel \"am\".urls: must list at least one"),
        "{e}"
    );
    let e = bad(
        "name = \"am\"\ntype = \"alertmanager\"\nurls = [\"http://a:9093\"]\nbearer_token = \"t\"\nbasic_auth = { user = \"u\", password = \"p\" }",
    );
    assert!(e.contains("either basic_auth or bearer_token"), "{e}");
    let e = bad("name = \"tg\"\ntype = \"telegram\"\nbot_token = \"1:abc/../x\"\nchat_id = 1");
    assert!(e.contains("not a Telegram bot token"), "{e}");
    assert!(!e.contains("abc/../x"), "{e}");
    let e = bad("name = \"n\"\ntype = \"ntfy\"\nurl = \"https://ntfy.sh/\"");
    assert!(e.contains("names no topic"), "{e}");
    let e = bad("name = \"d\"\ntype = \"discord\"\nwebhook_url = \"not a url\"");
    assert!(
        e.contains("channel \"d\".webhook_url: not a valid URL"),
        "{e}"
    );
    // Account labels: valid names, none the daemon sets itself.
    let text = account_toml().replace("notify = []", "notify = []\nlabels = { severity = \"x\" }");
    let e = config::parse(&text, Path::new("c.toml"), &MapEnv::default())
        .unwrap_err()
        .to_string();
    assert!(e.contains("account[0].labels.severity"), "{e}");
    let text = account_toml().replace(
        "notify = []",
        "notify = []\nlabels = { \"team-name\" = \"x\" }",
    );
    let e = config::parse(&text, Path::new("c.toml"), &MapEnv::default())
        .unwrap_err()
        .to_string();
    assert!(e.contains("not a valid label name"), "{e}");
}

/// Through the real daemon: a critical account is mirrored into Alertmanager and keeps
/// being re-posted every `resend_every`, also after a restart that brings no new event
/// (the standing alert comes from the saved state).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_daemon_mirrors_a_standing_alert_across_a_restart() {
    use common::daemon::{balance_response, exotel_switch};
    use common::process::Daemon;
    let dir = tempfile::tempdir().unwrap();
    let (exotel, _balance) = exotel_switch(balance_response("800.00")).await;
    let am = server(200, "").await;
    let text = format!(
        r#"[daemon]
state_file = "{}"
instance = "a"

[[account]]
name = "primary"
sid = "{SID}"
api_key = "{KEY}"
api_token = "{TOKEN}"
base_url = "{}"
poll_interval = "1s"
notify = ["am"]
labels = {{ team = "payments" }}
warning = {{ below = 5000 }}
critical = {{ below = 1000 }}

[[channel]]
name = "am"
type = "alertmanager"
urls = ["{}"]
resend_every = "500ms"
"#,
        dir.path().join("state.json").display(),
        exotel.uri(),
        am.uri()
    );
    let path = write(dir.path(), "am.toml", &text);
    let mut daemon = Daemon::spawn(&path, &dir.path().join("1.log"), "balance_alert=info", &[]);
    daemon.wait_log("delivered channel=am", 10).await;
    tokio::time::sleep(Duration::from_millis(1200)).await;
    let posts = am.received_requests().await.unwrap();
    assert!(posts.len() >= 3, "{} posts", posts.len());
    let last = json_body(posts.last().unwrap());
    assert_eq!(
        last[0]["labels"],
        json!({"alertname": "BalanceLow", "account": "primary", "sid": "acme",
               "provider": "exotel", "severity": "critical", "instance": "a",
               "team": "payments"})
    );
    daemon.signal(15);
    assert_eq!(daemon.wait_exit(10).await.0, 0);

    let before = am.received_requests().await.unwrap().len();
    let daemon = Daemon::spawn(&path, &dir.path().join("2.log"), "balance_alert=info", &[]);
    daemon.wait_log("balance-alert running", 10).await;
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let after = am.received_requests().await.unwrap();
    assert!(after.len() >= before + 2, "{} → {}", before, after.len());
    assert_eq!(
        json_body(after.last().unwrap())[0]["labels"]["alertname"],
        "BalanceLow"
    );
    assert!(
        !daemon.log().contains("event=\"alert\""),
        "no new event was needed"
    );
    drop(daemon);
}
