//! Twilio, Plivo, Vonage, Telnyx and Infobip (SPEC §10) against wiremock stand-ins
//! serving their documented shapes: the exact request (path, `Authorization`), amounts
//! as strings and JSON numbers kept exact, extra fields, each provider's error body on
//! 401/429/500 surfaced and classed, garbage and empty bodies, the 1 MiB cap, echoed
//! credentials redacted. Then through the real binary: a crossing alert for every
//! provider, 401 → `monitor_failing` → `monitor_recovered`, `check`, `validate` and
//! `test-notify`, and a trace-level log scan for every provider's secret.

mod common;

use std::time::Duration;

use balance_alert::core::ErrorClass;
use balance_alert::http::MAX_BODY;
use balance_alert::provider::{Balance, BodyError, Client, PollError};
use common::cli::{SIGTERM, code, run, stdout, write};
use common::daemon::{Switch, receiver, wait_for};
use common::process::Daemon;
use common::providers::{ALL, Provider, TELNYX, TWILIO};
use wiremock::ResponseTemplate;

async fn fetch_from(p: &Provider, response: ResponseTemplate) -> Result<Balance, PollError> {
    let server = p.stand_in(response).await;
    let account = p.account("wallet", &server.uri());
    let result = Client::new(&account).unwrap().fetch_balance().await;
    // Exactly one request: the client never retries on its own.
    assert_eq!(
        server.received_requests().await.unwrap().len(),
        1,
        "{}",
        p.name
    );
    if let Err(e) = &result {
        assert_no_secret(p, &e.to_string());
        assert_no_secret(p, &format!("{e:?}"));
    }
    result
}

fn assert_no_secret(p: &Provider, text: &str) {
    assert!(!text.contains(p.secret), "{} secret leaked: {text}", p.name);
    let encoded = p.authorization.split_once(' ').unwrap().1;
    assert!(!text.contains(encoded), "{} header leaked: {text}", p.name);
}

#[tokio::test]
async fn documented_shapes_with_the_exact_request() {
    for p in ALL {
        let literal = if matches!(p.name, "vonage" | "infobip") {
            "1543.75"
        } else {
            "\"1543.75\""
        };
        let balance = fetch_from(&p, p.ok(literal))
            .await
            .unwrap_or_else(|e| panic!("{}: {e}", p.name));
        assert_eq!(balance.amount.to_string(), "1543.75", "{}", p.name);
        assert_eq!(balance.currency, p.currency, "{}", p.name);
        assert_eq!(balance.pricing_plan, None, "{}", p.name);
        assert_eq!(balance.date_updated, None, "{}", p.name);
    }
}

#[tokio::test]
async fn amounts_are_exact_as_strings_and_as_numbers() {
    let cases = [
        ("0.1", "0.1"),
        ("\"0.1\"", "0.1"),
        ("-2500.50", "-2500.50"),
        ("\"12345678901234567.25\"", "12345678901234567.25"),
        ("12345678901234567.25", "12345678901234567.25"),
        ("19.38320", "19.38320"),
    ];
    for p in ALL {
        for (literal, expected) in cases {
            let balance = fetch_from(&p, p.ok(literal))
                .await
                .unwrap_or_else(|e| panic!("{} {literal}: {e}", p.name));
            assert_eq!(balance.amount.to_string(), expected, "{} {literal}", p.name);
        }
    }
}

#[tokio::test]
async fn error_bodies_are_surfaced_and_classed() {
    for p in ALL {
        for (status, class) in [
            (401, ErrorClass::Config),
            (429, ErrorClass::Throttled),
            (500, ErrorClass::Transient),
        ] {
            let mut response = p.error(status);
            if status == 429 {
                response = response.insert_header("retry-after", "120");
            }
            let e = fetch_from(&p, response).await.unwrap_err();
            let text = e.to_string();
            assert_eq!(e.class(), class, "{} {status}: {text}", p.name);
            assert!(
                text.starts_with(&format!("HTTP {status} ")),
                "{} {status}: {text}",
                p.name
            );
            assert!(text.contains(p.error_text), "{} {status}: {text}", p.name);
            if status == 429 {
                assert_eq!(
                    e.retry_after(),
                    Some(Duration::from_secs(120)),
                    "{}",
                    p.name
                );
            }
        }
        // 503 is throttled too; 402/403/404 are config errors.
        for (status, class) in [
            (503, ErrorClass::Throttled),
            (402, ErrorClass::Config),
            (403, ErrorClass::Config),
            (404, ErrorClass::Config),
        ] {
            let e = fetch_from(&p, ResponseTemplate::new(status))
                .await
                .unwrap_err();
            assert_eq!(e.class(), class, "{} {status}: {e}", p.name);
        }
    }
}

#[tokio::test]
async fn garbage_empty_and_oversized_bodies_are_transient_and_named() {
    for p in ALL {
        let cases: [(ResponseTemplate, &str); 4] = [
            (
                ResponseTemplate::new(200).set_body_string(""),
                "the response body is empty",
            ),
            (
                ResponseTemplate::new(200).set_body_string("\u{1}garbage\u{2}"),
                "not JSON",
            ),
            (
                ResponseTemplate::new(200)
                    .set_body_string("<html><title>Gateway login</title></html>"),
                "title \"Gateway login\"",
            ),
            (
                ResponseTemplate::new(200).set_body_string(r#"{"nothing":"here"}"#),
                "no balance amount in the response",
            ),
        ];
        for (response, needle) in cases {
            let e = fetch_from(&p, response).await.unwrap_err();
            assert_eq!(e.class(), ErrorClass::Transient, "{}: {e}", p.name);
            assert!(e.to_string().contains(needle), "{}: {e}", p.name);
        }
        let huge = format!("{{\"pad\":\"{}\"}}", "x".repeat(MAX_BODY));
        let e = fetch_from(&p, ResponseTemplate::new(200).set_body_string(huge))
            .await
            .unwrap_err();
        assert_eq!(
            e,
            PollError::Body(BodyError::TooLarge { limit: MAX_BODY }),
            "{}",
            p.name
        );
    }
}

#[tokio::test]
async fn echoed_credentials_are_redacted() {
    for p in ALL {
        let encoded = p.authorization.split_once(' ').unwrap().1;
        let echo = format!("you sent Authorization: {} ({})", p.authorization, p.secret);
        let e = fetch_from(&p, ResponseTemplate::new(500).set_body_string(echo))
            .await
            .unwrap_err();
        let text = e.to_string();
        assert!(text.contains("****"), "{}: {text}", p.name);
        assert!(!text.contains(encoded), "{}: {text}", p.name);
        // And in a 200 body the parser quotes back.
        let body = format!(r#"{{"unexpected":"{}"}}"#, p.secret);
        let e = fetch_from(&p, ResponseTemplate::new(200).set_body_string(body))
            .await
            .unwrap_err();
        assert!(!e.to_string().contains(p.secret), "{}: {e}", p.name);
    }
}

#[tokio::test]
async fn a_reported_currency_other_than_the_configured_one_is_a_config_error() {
    for p in [TWILIO, TELNYX] {
        let server = p.stand_in(p.ok("\"10.00\"")).await;
        let mut account = p.account("wallet", &server.uri());
        match &mut account.provider {
            balance_alert::provider::ProviderConfig::Twilio(c) => c.currency = Some("INR".into()),
            balance_alert::provider::ProviderConfig::Telnyx(c) => c.currency = Some("INR".into()),
            _ => unreachable!(),
        }
        let e = Client::new(&account)
            .unwrap()
            .fetch_balance()
            .await
            .unwrap_err();
        assert_eq!(e.class(), ErrorClass::Config, "{}: {e}", p.name);
        assert_eq!(
            e.to_string(),
            "currency mismatch: account expects INR, API reports USD"
        );
    }
}

#[tokio::test]
async fn debug_of_a_client_masks_the_credential() {
    for p in ALL {
        let client = Client::new(&p.account("wallet", "https://example.invalid")).unwrap();
        let debug = format!("{client:?}");
        assert_no_secret(&p, &debug);
        assert!(debug.contains("****"), "{debug}");
    }
}

// ---------------------------------------------------------------------------------------
// Through the real binary.

/// A config with one account per provider (each on its own stand-in), all notifying a
/// webhook; polled every 200 ms (loopback).
fn config(dir: &std::path::Path, servers: &[(Provider, String)], hook: &str) -> String {
    let mut text = format!(
        "[daemon]\nstate_file = \"{}\"\n",
        dir.join("state.json").display()
    );
    for (p, base) in servers {
        text.push_str(&format!(
            "\n[[account]]\nname = \"{name}-wallet\"\n{keys}poll_interval = \"1s\"\n\
             notify = [\"hook\"]\nwarning = {{ below = 5000, clear_above = 6000 }}\n\
             critical = {{ below = 1000, clear_above = 1500 }}\n",
            name = p.name,
            keys = p.toml_keys(base),
        ));
    }
    text.push_str(&format!(
        "\n[[channel]]\nname = \"hook\"\ntype = \"webhook\"\nurl = \"{hook}/hook\"\n"
    ));
    text
}

fn event_for<'a>(
    bodies: &'a [serde_json::Value],
    p: &Provider,
    event: &str,
) -> Option<&'a serde_json::Value> {
    let account = format!("{}-wallet", p.name);
    bodies
        .iter()
        .find(|b| b["event"] == event && b["account"] == account.as_str())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_provider_alerts_on_a_crossing_with_its_provider_and_sid() {
    let dir = tempfile::tempdir().unwrap();
    let hook = receiver(200).await;
    let mut servers = Vec::new();
    let mut switches = Vec::new();
    for p in ALL {
        let switch = Switch::new(p.ok("\"4000.50\""));
        let server = p.stand_in(switch.clone()).await;
        servers.push((p, server.uri(), server));
        switches.push(switch);
    }
    let bases: Vec<(Provider, String)> = servers.iter().map(|(p, u, _)| (*p, u.clone())).collect();
    let path = write(
        dir.path(),
        "config.toml",
        &config(dir.path(), &bases, &hook.uri()),
    );
    let mut daemon = Daemon::spawn(&path, &dir.path().join("log"), "trace", &[]);

    let bodies = wait_for(&hook, 30, "a warning alert per provider", |b| {
        ALL.iter().all(|p| event_for(b, p, "alert").is_some())
    })
    .await;
    for p in ALL {
        let alert = event_for(&bodies, &p, "alert").unwrap();
        let account = format!("{}-wallet", p.name);
        assert_eq!(alert["provider"], p.name, "{alert}");
        assert_eq!(alert["sid"], p.sid(&account), "{alert}");
        assert_eq!(alert["level"], "warning", "{alert}");
        assert_eq!(alert["balance"], "4000.50", "{alert}");
        assert_eq!(alert["currency"], p.currency, "{alert}");
        assert_eq!(alert["threshold"], "5000", "{alert}");
        assert!(alert["pricing_plan"].is_null(), "{alert}");
        assert!(alert["date_updated"].is_null(), "{alert}");
    }

    // Down through critical: the amount is compared exactly (999.99 < 1000).
    for (p, switch) in ALL.iter().zip(&switches) {
        let literal = if matches!(p.name, "vonage" | "infobip") {
            "999.99"
        } else {
            "\"999.99\""
        };
        switch.set(p.ok(literal));
    }
    let bodies = wait_for(&hook, 30, "a critical alert per provider", |b| {
        ALL.iter().all(|p| {
            b.iter().any(|e| {
                e["event"] == "alert"
                    && e["level"] == "critical"
                    && e["account"] == format!("{}-wallet", p.name).as_str()
            })
        })
    })
    .await;
    assert!(
        bodies
            .iter()
            .filter(|b| b["level"] == "critical")
            .all(|b| b["balance"] == "999.99" && b["threshold"] == "1000"),
        "{bodies:#?}"
    );

    daemon.signal(SIGTERM);
    let (status, _) = daemon.wait_exit(20).await;
    assert_eq!(status, 0, "{}", daemon.log());
    let log = daemon.log();
    // The trace level is really on, and no provider's secret is in it.
    assert!(log.contains("TRACE"), "not a trace log:\n{log}");
    for p in ALL {
        assert_no_secret(&p, &log);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unauthorized_fails_the_monitor_with_the_provider_error_then_recovers() {
    let dir = tempfile::tempdir().unwrap();
    let hook = receiver(200).await;
    let mut servers = Vec::new();
    let mut switches = Vec::new();
    for p in ALL {
        let switch = Switch::new(p.error(401));
        let server = p.stand_in(switch.clone()).await;
        servers.push((p, server.uri(), server));
        switches.push(switch);
    }
    let bases: Vec<(Provider, String)> = servers.iter().map(|(p, u, _)| (*p, u.clone())).collect();
    let path = write(
        dir.path(),
        "config.toml",
        &config(dir.path(), &bases, &hook.uri()),
    );
    let mut daemon = Daemon::spawn(&path, &dir.path().join("log"), "trace", &[]);

    let bodies = wait_for(&hook, 30, "monitor_failing per provider", |b| {
        ALL.iter()
            .all(|p| event_for(b, p, "monitor_failing").is_some())
    })
    .await;
    for p in ALL {
        let failing = event_for(&bodies, &p, "monitor_failing").unwrap();
        let error = failing["error"].as_str().unwrap();
        assert!(
            error.starts_with("HTTP 401 Unauthorized: ") && error.contains(p.error_text),
            "{}: {error}",
            p.name
        );
        assert_eq!(failing["provider"], p.name, "{failing}");
    }
    // The log says the same, per account, naming the provider.
    let log = daemon.log();
    for p in ALL {
        let account = format!("account={}-wallet", p.name);
        let line = log
            .lines()
            .find(|l| l.contains("balance poll failed") && l.contains(&account))
            .unwrap_or_else(|| panic!("no failed poll of {} in:\n{log}", p.name));
        assert!(line.contains(p.error_text), "{line}");
        assert!(line.contains(&format!("provider=\"{}\"", p.name)), "{line}");
    }

    for (p, switch) in ALL.iter().zip(&switches) {
        switch.set(p.ok("\"7000\""));
    }
    let bodies = wait_for(&hook, 30, "monitor_recovered per provider", |b| {
        ALL.iter()
            .all(|p| event_for(b, p, "monitor_recovered").is_some())
    })
    .await;
    for p in ALL {
        let recovered = event_for(&bodies, &p, "monitor_recovered").unwrap();
        assert_eq!(recovered["balance"], "7000", "{recovered}");
        assert_eq!(recovered["provider"], p.name, "{recovered}");
    }

    daemon.signal(SIGTERM);
    let (status, _) = daemon.wait_exit(20).await;
    assert_eq!(status, 0, "{}", daemon.log());
    let log = daemon.log();
    assert!(log.contains("TRACE"), "not a trace log:\n{log}");
    for p in ALL {
        assert_no_secret(&p, &log);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn check_validate_and_test_notify_work_for_every_provider() {
    let dir = tempfile::tempdir().unwrap();
    let hook = receiver(200).await;
    let mut servers = Vec::new();
    for (p, amount) in ALL.iter().zip(["9000", "4000", "800", "6000.5", "12"]) {
        let server = p.stand_in(p.ok(amount)).await;
        servers.push((*p, server.uri(), server));
    }
    let bases: Vec<(Provider, String)> = servers.iter().map(|(p, u, _)| (*p, u.clone())).collect();
    let path = write(
        dir.path(),
        "config.toml",
        &config(dir.path(), &bases, &hook.uri()),
    );
    let config_path = path.to_str().unwrap().to_owned();

    let args = config_path.clone();
    let out = tokio::task::spawn_blocking(move || run(&["check", "-c", &args], &[]))
        .await
        .unwrap();
    let line = stdout(&out);
    assert_eq!(code(&out), 2, "{line}");
    // Worst first, each as provider/account, in its own currency, exact digits.
    assert_eq!(
        line.trim_end(),
        "BALANCE CRITICAL - vonage/vonage-wallet 800 EUR (critical: below 1,000 EUR), \
         infobip/infobip-wallet 12 EUR (critical: below 1,000 EUR), \
         plivo/plivo-wallet 4,000 USD (warning: below 5,000 USD), \
         twilio/twilio-wallet 9,000 USD (ok), telnyx/telnyx-wallet 6,000.5 USD (ok) | \
         'vonage/vonage-wallet'=800;5000:;1000: 'infobip/infobip-wallet'=12;5000:;1000: \
         'plivo/plivo-wallet'=4000;5000:;1000: 'twilio/twilio-wallet'=9000;5000:;1000: \
         'telnyx/telnyx-wallet'=6000.5;5000:;1000:"
    );

    let args = config_path.clone();
    let out = tokio::task::spawn_blocking(move || run(&["validate", "-c", &args], &[]))
        .await
        .unwrap();
    assert_eq!(code(&out), 0, "{}", stdout(&out));
    assert!(
        stdout(&out).contains(
            "5 accounts (twilio-wallet, plivo-wallet, vonage-wallet, telnyx-wallet, infobip-wallet)"
        ),
        "{}",
        stdout(&out)
    );

    let args = config_path.clone();
    let out = tokio::task::spawn_blocking(move || run(&["test-notify", "-c", &args], &[]))
        .await
        .unwrap();
    assert_eq!(code(&out), 0, "{}", stdout(&out));
    let bodies = wait_for(&hook, 10, "the test event", |b| !b.is_empty()).await;
    assert_eq!(bodies[0]["event"], "test");
    assert_eq!(bodies[0]["provider"], "twilio");
    assert_eq!(bodies[0]["sid"], TWILIO.id.unwrap());
}
