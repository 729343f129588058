use super::*;
use crate::notify::test_events::*;

fn kolkata_ctx() -> RenderCtx {
    kolkata()
}

fn draining() -> Event {
    Event {
        burn_per_day: Some(dec("1850")),
        // 2 days 15 hours
        runway_seconds: Some(2 * 86_400 + 15 * 3_600 + 59),
        depletes_at: Some("2026-12-06T08:30:00Z".parse().unwrap()),
        burn_window_seconds: Some(3 * 86_400 - 120),
        ..alert()
    }
}

fn row(account: &str, level: Level, runway: Option<u64>) -> SummaryRow {
    SummaryRow {
        account: account.into(),
        sid: "s".into(),
        provider: "exotel".into(),
        level,
        balance: Some(dec("1000.00")),
        currency: "INR".into(),
        spend_24h: Some(dec("10.00")),
        burn_per_day: runway.map(|_| dec("10")),
        runway_seconds: runway,
        depletes_at: None,
    }
}

#[test]
fn the_runway_sentence_of_the_spec() {
    assert_eq!(
        runway_sentence(&draining(), &kolkata_ctx()).unwrap(),
        "At ₹1,850/day (last 3 days) this lasts about 2 days 15 hours — until Sun 6 Dec 14:00 IST."
    );
    // Without a zone: UTC.
    assert_eq!(
        runway_sentence(&draining(), &RenderCtx::default()).unwrap(),
        "At ₹1,850/day (last 3 days) this lasts about 2 days 15 hours — until Sun 6 Dec 08:30 UTC."
    );
    let flat = Event {
        burn_per_day: Some(dec("0")),
        runway_seconds: None,
        depletes_at: None,
        burn_window_seconds: Some(18 * 3600),
        ..alert()
    };
    assert_eq!(
        runway_sentence(&flat, &kolkata_ctx()).unwrap(),
        "At ₹0.00/day (last 18 hours) the balance is not running down."
    );
    assert_eq!(runway_sentence(&alert(), &kolkata_ctx()), None);
}

#[test]
fn words_for_durations_and_money() {
    assert_eq!(duration_words(0), "less than a minute");
    assert_eq!(duration_words(59), "less than a minute");
    assert_eq!(duration_words(60), "1 minute");
    assert_eq!(duration_words(3_600 + 120), "1 hour 2 minutes");
    assert_eq!(duration_words(86_400), "1 day");
    assert_eq!(duration_words(86_400 + 60), "1 day");
    assert_eq!(duration_words(3 * 86_400 + 7_200 + 60), "3 days 2 hours");
    assert_eq!(duration_short(3 * 86_400 + 7_200), "3d2h");
    assert_eq!(duration_short(7_260), "2h01m");
    assert_eq!(duration_short(59), "0m");
    assert_eq!(money(dec("1849.6"), "INR"), "₹1,850");
    assert_eq!(money(dec("12.345"), "USD"), "$12.35");
    assert_eq!(money(dec("120000"), "IDR"), "120,000 IDR");
}

#[test]
fn every_long_form_carries_the_runway() {
    let e = draining();
    let body = crate::notify::render::text_body(&e, &kolkata_ctx());
    assert!(
        body.contains("this lasts about 2 days 15 hours — until Sun 6 Dec 14:00 IST."),
        "{body}"
    );
    assert!(body.contains("Spend per day:"), "{body}");
    assert!(body.contains("Runs out:"), "{body}");
    let slack = crate::notify::slack::slack_payload(&e, &kolkata_ctx()).to_string();
    assert!(slack.contains("2 days 15 hours"), "{slack}");
    let html = crate::notify::email::email_html(&e, &kolkata_ctx());
    assert!(html.contains("2 days 15 hours"), "{html}");
    let sms = crate::notify::sms::sms_body(&e, None);
    assert_eq!(
        sms,
        "CRITICAL: Exotel primary balance 850.00 INR (below 1,000). Lasts ~2d15h. balance-alert"
    );
    // A monitor_failing says nothing of the future.
    let failing = Event {
        event: crate::core::EventKind::MonitorFailing,
        error: Some("boom".into()),
        ..draining()
    };
    assert!(!crate::notify::render::text_body(&failing, &kolkata_ctx()).contains("Spend per day"));
}

#[test]
fn runway_alerts_and_top_ups_read_as_such() {
    let e = Event {
        level: Level::Warning,
        threshold: None,
        cause: Some(crate::core::Cause::Runway),
        runway_threshold_seconds: Some(4 * 86_400),
        ..draining()
    };
    assert_eq!(
        crate::notify::render::headline(&e),
        "[WARNING] Exotel balance runs out soon: primary 850.00 INR, about 2 days 15 hours left"
    );
    let body = crate::notify::render::text_body(&e, &kolkata_ctx());
    assert!(body.starts_with("At the current spend the Exotel balance of primary runs out soon (runway below 4 days): level warning."), "{body}");
    assert!(body.contains("Runway threshold:"), "{body}");
    assert!(!body.contains("\nThreshold:"), "{body}");
    assert_eq!(
        crate::notify::sms::sms_body(&e, None),
        "WARNING: Exotel primary balance 850.00 INR (below runway 4d0h). Lasts ~2d15h. balance-alert"
    );
    let topped = Event {
        event: crate::core::EventKind::ToppedUp,
        level: Level::Ok,
        topup_amount: Some(dec("10000.00")),
        ..draining()
    };
    assert_eq!(
        crate::notify::render::headline(&topped),
        "[OK] Exotel balance topped up: primary 850.00 INR"
    );
    assert!(
        crate::notify::render::text_body(&topped, &kolkata_ctx())
            .contains("Topped up by 10,000.00 INR.")
    );
    assert_eq!(
        crate::notify::sms::sms_body(&topped, None),
        "TOPPED UP: Exotel primary balance 850.00 INR, +10,000.00. Lasts ~2d15h. balance-alert"
    );
}

#[test]
fn summary_lines_worst_first_within_a_limit() {
    let rows = vec![
        row("a", Level::Ok, Some(900_000)),
        row("b", Level::Warning, Some(200_000)),
        row("c", Level::Critical, Some(3_600)),
        row("d", Level::Warning, Some(100_000)),
        row("e", Level::Ok, None),
    ];
    let all = summary_lines(&rows, 10_000);
    assert_eq!(all[0], "5 accounts: 2 ok, 3 not ok.");
    assert_eq!(
        all[1],
        "c CRITICAL 1,000.00 INR, spent 10.00 in 24h, ₹10.00/day, lasts about 1 hour"
    );
    assert!(all[2].starts_with("d WARNING"));
    assert!(all[3].starts_with("b WARNING"));
    assert_eq!(all.len(), 6);
    assert_eq!(
        all[5],
        "e OK 1,000.00 INR, spent 10.00 in 24h, runway not yet known"
    );
    let cut = summary_lines(&rows, 200);
    assert!(
        cut.iter().map(|l| l.chars().count() + 1).sum::<usize>() <= 200,
        "{cut:?}"
    );
    assert!(cut.last().unwrap().ends_with("more."), "{cut:?}");
    let oks = summary_lines(
        &rows[..1]
            .iter()
            .chain(rows[4..].iter())
            .cloned()
            .collect::<Vec<_>>(),
        60,
    );
    assert_eq!(oks, ["2 accounts: 2 ok, 0 not ok.", "2 more ok."]);
}

#[test]
fn the_summary_sms_fits_one_segment_worst_first() {
    let mut rows: Vec<SummaryRow> = (0..10_000)
        .map(|i| row(&format!("ok{i}"), Level::Ok, None))
        .collect();
    rows.push(row("low", Level::Critical, Some(7_200)));
    rows.push(row("mid", Level::Warning, Some(90_000)));
    let event = Event {
        event: crate::core::EventKind::Summary,
        accounts: rows,
        ..alert()
    };
    let sms = crate::notify::sms::sms_body(&event, None);
    assert_eq!(
        sms,
        "SUMMARY 10000/10002 ok. low CRITICAL 1,000.00 INR ~2h00m; mid WARNING 1,000.00 INR ~1d1h; 10000 more ok. balance-alert"
    );
    let (used, limit) = crate::notify::sms::sms_length(&sms);
    assert!(used <= limit);
    // Slack stays within 50 blocks and says how many more.
    let slack = crate::notify::slack::slack_payload(&event, &kolkata_ctx());
    let blocks = slack["blocks"].as_array().unwrap();
    assert!(blocks.len() <= 50);
    let text = slack.to_string();
    assert!(text.contains("low CRITICAL"), "{text}");
    // Webhook: the documented shape.
    let body: serde_json::Value = serde_json::from_str(&crate::notify::webhook::webhook_body(
        &event,
        &kolkata_ctx(),
    ))
    .unwrap();
    assert_eq!(body["event"], "summary");
    assert_eq!(body["accounts"].as_array().unwrap().len(), 10_002);
    assert_eq!(body["accounts"][10_000]["account"], "low");
    assert_eq!(body["accounts"][10_000]["runway_seconds"], 7_200);
    assert_eq!(body["accounts"][10_000]["spend_24h"], "10.00");
    assert!(body.get("at").is_some());
    // The channels of SPEC §11.1: worst first within each one's limit, never cut mid-list.
    let ctx = kolkata_ctx();
    let discord = crate::notify::discord::discord_payload(&event, &ctx);
    let description = discord["embeds"][0]["description"].as_str().unwrap();
    assert!(description.starts_with("10002 accounts"), "{description}");
    assert!(description.contains("low CRITICAL") && description.ends_with("more ok."));
    assert!(
        discord["embeds"][0]["fields"]
            .as_array()
            .unwrap()
            .is_empty()
    );
    let teams = crate::notify::teams::teams_payload(&event, &ctx).to_string();
    assert!(
        teams.contains("low CRITICAL") && teams.contains("more ok."),
        "{teams}"
    );
    let telegram =
        crate::notify::telegram::telegram_body(&event, &ctx, &serde_json::json!(1))["text"]
            .as_str()
            .unwrap()
            .to_owned();
    assert!(telegram.chars().count() <= 4096 && telegram.ends_with("more ok."));
    let ntfy = crate::notify::ntfy::ntfy_request(&event, &ctx).body;
    assert!(ntfy.len() <= 4096 && ntfy.contains("low CRITICAL") && ntfy.ends_with("more ok."));
    // PagerDuty: informational, resolved at once, under its own key.
    let pd = crate::notify::pagerduty::pagerduty_body(&event, &ctx, "", "k");
    assert_eq!(pd["dedup_key"], "balance-alert/summary");
    assert_eq!(pd["payload"]["severity"], "info");
}

#[test]
fn paging_channels_carry_runway_alerts_and_top_ups() {
    let runway = Event {
        level: Level::Warning,
        threshold: None,
        cause: Some(crate::core::Cause::Runway),
        runway_threshold_seconds: Some(4 * 86_400),
        ..draining()
    };
    let ctx = kolkata_ctx();
    // A runway alert is the account's balance incident, saying which latch it was.
    let pd = crate::notify::pagerduty::pagerduty_body(&runway, &ctx, "exotel", "k");
    assert_eq!(pd["dedup_key"], "balance-alert/exotel/acme/balance");
    assert_eq!(pd["event_action"], "trigger");
    assert_eq!(pd["payload"]["severity"], "warning");
    assert_eq!(pd["payload"]["custom_details"]["cause"], "runway");
    assert!(
        pd["payload"]["summary"]
            .as_str()
            .unwrap()
            .contains("runs out soon")
    );
    let topped = Event {
        event: crate::core::EventKind::ToppedUp,
        level: Level::Ok,
        topup_amount: Some(dec("10000.00")),
        ..draining()
    };
    let pd = crate::notify::pagerduty::pagerduty_body(&topped, &ctx, "exotel", "k");
    assert_eq!(pd["dedup_key"], "balance-alert/exotel/acme/topup");
    assert_eq!(pd["payload"]["severity"], "info");
    // Chat channels say the future too.
    let discord = crate::notify::discord::discord_payload(&runway, &ctx).to_string();
    assert!(discord.contains("2 days 15 hours"), "{discord}");
    let ntfy = crate::notify::ntfy::ntfy_request(&topped, &ctx).body;
    assert!(ntfy.contains("Topped up by 10,000.00 INR."), "{ntfy}");
}
