use std::collections::BTreeMap;

use serde_json::json;

use super::*;
use crate::notify::AccountFacts;
use crate::notify::test_events::*;

fn accounts() -> Accounts {
    let mut accounts = Accounts::default();
    accounts.insert(
        "primary",
        AccountFacts {
            provider: "exotel".into(),
            labels: BTreeMap::from([("team".to_owned(), "payments".to_owned())]),
        },
    );
    accounts
}

fn at(s: &str) -> Timestamp {
    s.parse().unwrap()
}

const PEERS: &[&str] = &["http://am-1:9093", "http://am-2:9093"];

fn peers() -> Vec<String> {
    PEERS.iter().map(|p| p.to_string()).collect()
}

#[test]
fn a_critical_alert_becomes_a_standing_balance_low_alert() {
    let ctx = RenderCtx {
        instance: Some("a".into()),
        ..kolkata()
    };
    let mut mirror = Mirror::default();
    let now = at("2026-04-24T05:02:19Z");
    assert!(apply(
        &mut mirror,
        &alert(),
        &ctx,
        &accounts(),
        &peers(),
        now
    ));
    let body = alerts_body(&mirror, PEERS[0], now, Duration::from_secs(60));
    let expected = json!([{
        "labels": {
            "alertname": "BalanceLow",
            "account": "primary",
            "sid": "acme",
            "provider": "exotel",
            "severity": "critical",
            "instance": "a",
            "team": "payments"
        },
        "annotations": {
            "summary": "[CRITICAL] Exotel balance low: primary 850.00 INR",
            "description": format!(
                "The Exotel balance of primary is below 1,000 INR: level critical. Top up the account.\n\n{}",
                crate::notify::render::text_body(&alert(), &ctx)
            ),
            "runway": ""
        },
        "startsAt": "2026-04-24T05:02:18.123Z",
        "endsAt": "2026-04-24T05:06:19.000Z"
    }]);
    assert_eq!(body, expected);
}

#[test]
fn resolution_is_posted_once_more_to_each_peer_with_ends_at_now() {
    let ctx = kolkata();
    let mut mirror = Mirror::default();
    let t0 = at("2026-04-24T05:02:19Z");
    apply(&mut mirror, &alert(), &ctx, &accounts(), &peers(), t0);
    // A later improvement keeps startsAt (the level left ok at the first alert).
    let t1 = at("2026-04-24T06:00:00Z");
    apply(&mut mirror, &improved(), &ctx, &accounts(), &peers(), t1);
    let body = alerts_body(&mirror, PEERS[0], t1, Duration::from_secs(60));
    assert_eq!(body[0]["labels"]["severity"], "warning");
    assert_eq!(body[0]["startsAt"], "2026-04-24T05:02:18.123Z");

    let t2 = at("2026-04-24T07:00:00Z");
    assert!(apply(
        &mut mirror,
        &resolved(),
        &ctx,
        &accounts(),
        &peers(),
        t2
    ));
    assert!(mirror.active.is_empty());
    for peer in PEERS {
        let body = alerts_body(&mirror, peer, t2, Duration::from_secs(60));
        assert_eq!(body.as_array().unwrap().len(), 1, "{peer}");
        assert_eq!(body[0]["endsAt"], "2026-04-24T07:00:00.000Z");
        assert_eq!(body[0]["labels"]["alertname"], "BalanceLow");
    }
    // Nothing to resolve twice; a test event never enters the mirror.
    let generation = mirror.generation;
    assert!(!apply(
        &mut mirror,
        &resolved(),
        &ctx,
        &accounts(),
        &peers(),
        t2
    ));
    assert!(!apply(
        &mut mirror,
        &test_event(),
        &ctx,
        &accounts(),
        &peers(),
        t2
    ));
    assert_eq!(mirror.generation, generation);
}

#[test]
fn monitor_failing_is_its_own_alert() {
    let ctx = kolkata();
    let mut mirror = Mirror::default();
    let now = at("2026-04-24T05:02:19Z");
    apply(&mut mirror, &alert(), &ctx, &accounts(), &peers(), now);
    apply(&mut mirror, &failing(), &ctx, &accounts(), &peers(), now);
    let body = alerts_body(&mirror, PEERS[1], now, Duration::from_secs(30));
    let names: Vec<&str> = body
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["labels"]["alertname"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["BalanceLow", "BalanceMonitorFailing"]);
    assert_eq!(body[1]["labels"]["severity"], "critical");
    assert_eq!(body[1]["endsAt"], "2026-04-24T05:04:19.000Z");
    apply(&mut mirror, &recovered(), &ctx, &accounts(), &peers(), now);
    assert_eq!(mirror.active.len(), 1);
    // An account the channel does not know still gets the provider label.
    let stranger = Event {
        account: "other".into(),
        ..alert()
    };
    apply(&mut mirror, &stranger, &ctx, &accounts(), &peers(), now);
    let body = alerts_body(&mirror, PEERS[1], now, Duration::from_secs(30));
    let other = body
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["labels"]["account"] == "other")
        .unwrap();
    assert_eq!(other["labels"]["provider"], "exotel");
    assert!(other["labels"].get("team").is_none());
    assert!(other["labels"].get("instance").is_none());
}
