//! Exact-output tests for every form the renderer makes.

use std::str::FromStr;

use jiff::Timestamp;

use super::*;

fn dec(s: &str) -> Decimal {
    Decimal::from_str(s).unwrap()
}

/// The SPEC's worked example at the moment it turns critical.
fn alert() -> Event {
    Event {
        id: "0123456789abcdef0123456789abcdef".into(),
        event: EventKind::Alert,
        account: "primary".into(),
        sid: "acme".into(),
        level: Level::Critical,
        previous_level: Some(Level::Warning),
        balance: Some(dec("850.00")),
        currency: "INR".into(),
        threshold: Some(dec("1000")),
        pricing_plan: Some("Pay As You Go".into()),
        date_updated: Some("2026-04-24 10:32:18".into()),
        // Sub-second precision is dropped in human-facing text.
        observed_at: "2026-04-24T05:02:18.123456Z".parse::<Timestamp>().unwrap(),
        error: None,
    }
}

fn improved() -> Event {
    Event {
        event: EventKind::Improved,
        level: Level::Warning,
        previous_level: Some(Level::Critical),
        balance: Some(dec("1600.00")),
        threshold: Some(dec("1500")),
        ..alert()
    }
}

fn resolved() -> Event {
    Event {
        event: EventKind::Resolved,
        level: Level::Ok,
        previous_level: Some(Level::Warning),
        balance: Some(dec("7000.00")),
        threshold: Some(dec("6000")),
        ..alert()
    }
}

fn reminder() -> Event {
    Event {
        event: EventKind::Reminder,
        previous_level: None,
        ..alert()
    }
}

fn failing() -> Event {
    Event {
        event: EventKind::MonitorFailing,
        previous_level: None,
        balance: None,
        threshold: None,
        pricing_plan: None,
        date_updated: None,
        error: Some("HTTP 401: Authentication failed (code 20003)".into()),
        ..alert()
    }
}

fn recovered() -> Event {
    Event {
        event: EventKind::MonitorRecovered,
        level: Level::Ok,
        previous_level: None,
        balance: Some(dec("1543.75")),
        threshold: None,
        ..alert()
    }
}

fn test_event() -> Event {
    Event {
        event: EventKind::Test,
        level: Level::Ok,
        previous_level: None,
        balance: None,
        threshold: None,
        pricing_plan: None,
        date_updated: None,
        ..alert()
    }
}

fn kolkata() -> RenderCtx {
    RenderCtx {
        timezone: Some((
            "Asia/Kolkata".into(),
            jiff::tz::TimeZone::get("Asia/Kolkata").unwrap(),
        )),
    }
}

#[test]
fn headlines_say_what_happened_per_kind() {
    let cases = [
        (alert(), "[CRITICAL] Exotel balance low: primary 850.00 INR"),
        (
            improved(),
            "[WARNING] Exotel balance improved: primary 1,600.00 INR, no longer critical",
        ),
        (
            resolved(),
            "[OK] Exotel balance recovered: primary 7,000.00 INR",
        ),
        (
            reminder(),
            "[CRITICAL] Reminder, Exotel balance still low: primary 850.00 INR",
        ),
        (
            failing(),
            "[MONITOR FAILING] Cannot read Exotel balance of primary: HTTP 401: Authentication failed (code 20003)",
        ),
        (
            recovered(),
            "[OK] Exotel balance monitor recovered: primary 1,543.75 INR",
        ),
        (test_event(), "[TEST] balance-alert test message: primary"),
    ];
    for (event, expected) in cases {
        assert_eq!(headline(&event), expected, "{:?}", event.event);
    }
}

#[test]
fn headline_cuts_a_long_error() {
    let event = Event {
        error: Some("x".repeat(500)),
        ..failing()
    };
    let expected = format!(
        "[MONITOR FAILING] Cannot read Exotel balance of primary: {}…",
        "x".repeat(119)
    );
    assert_eq!(headline(&event), expected);
}

#[test]
fn headline_is_one_line() {
    let event = Event {
        error: Some("HTTP 500:\r\n<html>\n</html>".into()),
        ..failing()
    };
    assert_eq!(
        headline(&event),
        "[MONITOR FAILING] Cannot read Exotel balance of primary: HTTP 500:  <html> </html>"
    );
}

#[test]
fn facts_of_an_alert_in_utc_only() {
    let expected: Vec<(&str, String)> = vec![
        ("Account", "primary".into()),
        ("Account SID", "acme".into()),
        ("Balance", "850.00 INR".into()),
        ("Level", "critical".into()),
        ("Previous level", "warning".into()),
        ("Threshold", "below 1,000 INR".into()),
        ("Pricing plan", "Pay As You Go".into()),
        (
            "Exotel DateUpdated",
            "2026-04-24 10:32:18 (as reported by Exotel, no time zone)".into(),
        ),
        ("Observed at", "2026-04-24T05:02:18Z".into()),
    ];
    assert_eq!(facts(&alert(), &RenderCtx::default()), expected);
}

#[test]
fn facts_of_a_failing_monitor_carry_the_error_and_last_known_balance() {
    let event = Event {
        balance: Some(dec("-2500.00")),
        ..failing()
    };
    let expected: Vec<(&str, String)> = vec![
        ("Account", "primary".into()),
        ("Account SID", "acme".into()),
        (
            "Error",
            "HTTP 401: Authentication failed (code 20003)".into(),
        ),
        ("Last known balance", "-2,500.00 INR".into()),
        ("Level", "critical".into()),
        ("Observed at", "2026-04-24T05:02:18Z".into()),
        (
            "Observed at (local)",
            "2026-04-24 10:32:18 +05:30 (Asia/Kolkata)".into(),
        ),
    ];
    assert_eq!(facts(&event, &kolkata()), expected);
}

#[test]
fn text_body_alert_with_timezone() {
    let expected = "\
The Exotel balance of primary is below 1,000 INR: level critical. Top up the account.

Account:             primary
Account SID:         acme
Balance:             850.00 INR
Level:               critical
Previous level:      warning
Threshold:           below 1,000 INR
Pricing plan:        Pay As You Go
Exotel DateUpdated:  2026-04-24 10:32:18 (as reported by Exotel, no time zone)
Observed at:         2026-04-24T05:02:18Z
Observed at (local): 2026-04-24 10:32:18 +05:30 (Asia/Kolkata)

Sent by balance-alert.
";
    assert_eq!(text_body(&alert(), &kolkata()), expected);
}

#[test]
fn text_body_improved() {
    let expected = "\
The Exotel balance of primary rose above 1,500 INR: no longer critical, still warning.

Account:            primary
Account SID:        acme
Balance:            1,600.00 INR
Level:              warning
Previous level:     critical
Threshold:          above 1,500 INR
Pricing plan:       Pay As You Go
Exotel DateUpdated: 2026-04-24 10:32:18 (as reported by Exotel, no time zone)
Observed at:        2026-04-24T05:02:18Z

Sent by balance-alert.
";
    assert_eq!(text_body(&improved(), &RenderCtx::default()), expected);
}

#[test]
fn text_body_resolved() {
    let expected = "\
The Exotel balance of primary is back above 6,000 INR: level ok.

Account:             primary
Account SID:         acme
Balance:             7,000.00 INR
Level:               ok
Previous level:      warning
Threshold:           above 6,000 INR
Pricing plan:        Pay As You Go
Exotel DateUpdated:  2026-04-24 10:32:18 (as reported by Exotel, no time zone)
Observed at:         2026-04-24T05:02:18Z
Observed at (local): 2026-04-24 10:32:18 +05:30 (Asia/Kolkata)

Sent by balance-alert.
";
    assert_eq!(text_body(&resolved(), &kolkata()), expected);
}

#[test]
fn text_body_reminder() {
    let expected = "\
The Exotel balance of primary is still below 1,000 INR: level critical.

Account:            primary
Account SID:        acme
Balance:            850.00 INR
Level:              critical
Threshold:          below 1,000 INR
Pricing plan:       Pay As You Go
Exotel DateUpdated: 2026-04-24 10:32:18 (as reported by Exotel, no time zone)
Observed at:        2026-04-24T05:02:18Z

Sent by balance-alert.
";
    assert_eq!(text_body(&reminder(), &RenderCtx::default()), expected);
}

#[test]
fn text_body_monitor_failing_without_balance() {
    let expected = "\
balance-alert cannot read the Exotel balance of primary, so its level is not being checked: HTTP 401: Authentication failed (code 20003)

Account:             primary
Account SID:         acme
Error:               HTTP 401: Authentication failed (code 20003)
Level:               critical
Observed at:         2026-04-24T05:02:18Z
Observed at (local): 2026-04-24 10:32:18 +05:30 (Asia/Kolkata)

Sent by balance-alert.
";
    assert_eq!(text_body(&failing(), &kolkata()), expected);
}

#[test]
fn text_body_monitor_recovered() {
    let expected = "\
balance-alert reads the Exotel balance of primary again; its level is being checked.

Account:            primary
Account SID:        acme
Balance:            1,543.75 INR
Level:              ok
Pricing plan:       Pay As You Go
Exotel DateUpdated: 2026-04-24 10:32:18 (as reported by Exotel, no time zone)
Observed at:        2026-04-24T05:02:18Z

Sent by balance-alert.
";
    assert_eq!(text_body(&recovered(), &RenderCtx::default()), expected);
}

#[test]
fn text_body_test_event() {
    let expected = "\
This is a test message from balance-alert for primary; no action is needed.

Account:     primary
Account SID: acme
Balance:     unknown
Level:       ok
Observed at: 2026-04-24T05:02:18Z

Sent by balance-alert.
";
    assert_eq!(text_body(&test_event(), &RenderCtx::default()), expected);
}

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

#[test]
fn slack_payload_blocks_and_fallback() {
    let expected = json!({
        "text": "[WARNING] Exotel balance improved: primary 1,600.00 INR, no longer critical",
        "blocks": [
            {"type": "header", "text": {"type": "plain_text", "emoji": true,
                "text": "[WARNING] Exotel balance improved: primary 1,600.00 INR, no longer critical"}},
            {"type": "section", "text": {"type": "mrkdwn",
                "text": "The Exotel balance of primary rose above 1,500 INR: no longer critical, still warning."}},
            {"type": "section", "fields": [
                {"type": "mrkdwn", "text": "*Account*\nprimary"},
                {"type": "mrkdwn", "text": "*Account SID*\nacme"},
                {"type": "mrkdwn", "text": "*Balance*\n1,600.00 INR"},
                {"type": "mrkdwn", "text": "*Level*\nwarning"},
                {"type": "mrkdwn", "text": "*Previous level*\ncritical"},
                {"type": "mrkdwn", "text": "*Threshold*\nabove 1,500 INR"},
                {"type": "mrkdwn", "text": "*Pricing plan*\nPay As You Go"},
                {"type": "mrkdwn", "text": "*Exotel DateUpdated*\n2026-04-24 10:32:18 (as reported by Exotel, no time zone)"},
                {"type": "mrkdwn", "text": "*Observed at*\n2026-04-24T05:02:18Z"},
                {"type": "mrkdwn", "text": "*Observed at (local)*\n2026-04-24 10:32:18 +05:30 (Asia/Kolkata)"}
            ]},
            {"type": "context", "elements": [{"type": "mrkdwn",
                "text": "balance-alert · event `improved` · id `0123456789abcdef0123456789abcdef`"}]}
        ]
    });
    assert_eq!(slack_payload(&improved(), &kolkata()), expected);
}

#[test]
fn slack_payload_splits_more_than_ten_fields_and_escapes() {
    let event = Event {
        account: "ops <&> team".into(),
        error: Some("boom".into()),
        ..alert()
    };
    let payload = slack_payload(&event, &kolkata());
    let blocks = payload["blocks"].as_array().unwrap();
    // header, summary, 10 fields, 1 field, context
    assert_eq!(blocks.len(), 5);
    assert_eq!(blocks[2]["fields"].as_array().unwrap().len(), 10);
    assert_eq!(
        blocks[3]["fields"],
        json!([{"type": "mrkdwn", "text": "*Observed at (local)*\n2026-04-24 10:32:18 +05:30 (Asia/Kolkata)"}])
    );
    assert_eq!(
        blocks[2]["fields"][0],
        json!({"type": "mrkdwn", "text": "*Account*\nops &lt;&amp;&gt; team"})
    );
    // The fallback is plain text, not mrkdwn: no escaping.
    assert_eq!(
        payload["text"],
        "[CRITICAL] Exotel balance low: ops <&> team 850.00 INR"
    );
}

#[test]
fn amounts() {
    assert_eq!(format_amount(dec("1543.75"), "INR"), "1,543.75 INR");
    assert_eq!(format_amount(dec("-2500.00"), "INR"), "-2,500.00 INR");
    assert_eq!(format_amount(dec("850.00"), "INR"), "850.00 INR");
    assert_eq!(format_amount(dec("1000"), "USD"), "1,000 USD");
    assert_eq!(format_amount(dec("100000"), "INR"), "100,000 INR");
    assert_eq!(
        format_amount(dec("1234567.891"), "INR"),
        "1,234,567.891 INR"
    );
    assert_eq!(format_amount(dec("0.5"), "INR"), "0.5 INR");
    assert_eq!(format_amount(dec("-999"), "INR"), "-999 INR");
    assert_eq!(format_amount(dec("-0.00"), "INR"), "0.00 INR");
    assert_eq!(format_amount(dec("618.3"), ""), "618.3");
}

#[test]
fn sms_default_bodies() {
    let cases = [
        (
            alert(),
            "CRITICAL: Exotel primary balance 850.00 INR (below 1,000). balance-alert",
        ),
        (
            improved(),
            "IMPROVED, WARNING: Exotel primary balance 1,600.00 INR (above 1,500). balance-alert",
        ),
        (
            resolved(),
            "RESOLVED: Exotel primary balance 7,000.00 INR (above 6,000). balance-alert",
        ),
        (
            reminder(),
            "STILL CRITICAL: Exotel primary balance 850.00 INR (below 1,000). balance-alert",
        ),
        (
            failing(),
            "MONITOR FAILING: cannot read Exotel primary balance: HTTP 401: Authentication failed (code 20003). balance-alert",
        ),
        (
            recovered(),
            "MONITOR OK: Exotel primary balance 1,543.75 INR. balance-alert",
        ),
        (
            test_event(),
            "TEST: Exotel primary balance unknown. balance-alert",
        ),
    ];
    for (event, expected) in cases {
        let body = sms_body(&event, None);
        assert_eq!(body, expected, "{:?}", event.event);
        assert!(sms_fits(&body));
    }
}

#[test]
fn sms_cuts_a_long_account_name_with_ascii_dots() {
    let event = Event {
        account: "a-very-long-account-name-".repeat(10),
        ..alert()
    };
    let body = sms_body(&event, None);
    assert_eq!(sms_length(&body), (160, 160));
    assert!(body.starts_with("CRITICAL: Exotel a-very-long-account-name-a-very"));
    assert!(body.ends_with("... balance 850.00 INR (below 1,000). balance-alert"));
}

#[test]
fn sms_with_a_ucs2_account_name_fits_70() {
    let event = Event {
        account: "मुख्य खाता".into(),
        ..alert()
    };
    let body = sms_body(&event, None);
    assert_eq!(
        body,
        "CRITICAL: Exotel मु... balance 850.00 INR (below 1,000). balance-alert"
    );
    assert_eq!(sms_length(&body), (70, 70));
    let (used, limit) = sms_length(&body);
    assert!(used <= limit, "{body:?} is {used} of {limit}");
    // The name forces UCS-2 and was too long for 70 units with the rest of the
    // message, so it was cut; the facts survive.
    assert!(body.contains("850.00 INR"), "{body}");
    assert!(body.starts_with("CRITICAL: Exotel "), "{body}");
}

#[test]
fn sms_error_text_never_forces_ucs2() {
    let event = Event {
        error: Some("connection failed: “refused” …".into()),
        ..failing()
    };
    let body = sms_body(&event, None);
    assert_eq!(
        body,
        "MONITOR FAILING: cannot read Exotel primary balance: connection failed: ?refused? ?. balance-alert"
    );
    assert_eq!(sms_length(&body).1, 160);
}

#[test]
fn sms_length_counts_extension_characters_twice() {
    assert_eq!(sms_length("abc"), (3, 160));
    assert_eq!(sms_length("a€[]"), (7, 160));
    assert_eq!(sms_length("@£$¥èé"), (6, 160));
    assert_eq!(sms_length("a`"), (2, 70));
    assert_eq!(sms_length("₹100"), (4, 70));
    // An emoji is two UTF-16 units.
    assert_eq!(sms_length("ok 🙂"), (5, 70));
    assert!(sms_fits(&"x".repeat(160)));
    assert!(!sms_fits(&"x".repeat(161)));
    assert!(!sms_fits(&"€".repeat(81)));
}

proptest::proptest! {
    #[test]
    fn every_sms_fits_one_segment(
        account in "\\PC{0,80}",
        balance in -1_000_000_000i64..1_000_000_000,
        kind in 0usize..7,
    ) {
        let kinds = [
            EventKind::Alert, EventKind::Improved, EventKind::Resolved, EventKind::Reminder,
            EventKind::MonitorFailing, EventKind::MonitorRecovered, EventKind::Test,
        ];
        let event = Event {
            event: kinds[kind],
            account,
            balance: Some(Decimal::new(balance, 2)),
            error: Some("something went wrong".into()),
            ..alert()
        };
        let body = sms_body(&event, None);
        proptest::prop_assert!(sms_fits(&body), "{body:?}");
        let templated = sms_body(&event, Some("{level} {event}: Exotel {account} balance {balance} {currency}"));
        proptest::prop_assert!(sms_fits(&templated), "{templated:?}");
    }
}

#[test]
fn sms_template_fills_placeholders() {
    let template =
        "Exotel acct {account} is {level} ({event}): balance {balance} {currency}. {{ACME}}";
    assert_eq!(sms_template_problem(template), None);
    assert_eq!(
        sms_body(&alert(), Some(template)),
        "Exotel acct primary is critical (alert): balance 850.00 INR. {ACME}"
    );
    assert_eq!(
        sms_body(&failing(), Some(template)),
        "Exotel acct primary is critical (monitor_failing): balance unknown INR. {ACME}"
    );
}

#[test]
fn sms_template_cuts_the_account_to_fit() {
    let template = format!("{}{{account}}", "x".repeat(100));
    assert_eq!(sms_template_problem(&template), None);
    let event = Event {
        account: "y".repeat(100),
        ..alert()
    };
    let body = sms_body(&event, Some(&template));
    assert_eq!(body, format!("{}{}...", "x".repeat(100), "y".repeat(57)));
    assert_eq!(sms_length(&body), (160, 160));
}

#[test]
fn sms_template_problems() {
    let unknown = sms_template_problem("Balance {#var#} low").unwrap();
    assert_eq!(
        unknown,
        "unknown placeholder {#var#} in body_template; use {account}, {level}, {balance}, {currency} or {event}"
    );
    assert_eq!(
        sms_template_problem("Balance {balance low").unwrap(),
        "unbalanced `{` in body_template (write `{{` for a literal brace); placeholders are {account}, {level}, {balance}, {currency} or {event}"
    );
    assert_eq!(
        sms_template_problem("Balance balance} low").unwrap(),
        "unbalanced `}` in body_template (write `}}` for a literal brace)"
    );
    assert_eq!(
        sms_template_problem("  ").unwrap(),
        "body_template is empty"
    );
    // 84 characters of text plus the worst case of all five placeholders (76) is 160:
    // fits; one more does not.
    let fixed = "y".repeat(84);
    let fits = format!("{fixed}{{account}}{{level}}{{balance}}{{currency}}{{event}}");
    assert_eq!(sms_template_problem(&fits), None);
    let too_long = format!("{fits}z");
    assert_eq!(
        sms_template_problem(&too_long).unwrap(),
        "body_template does not fit one SMS segment: with the longest values (account 32, level 8, balance 16, currency 3, event 17 characters) it is 161 of 160 GSM-7 characters"
    );
    // A character outside GSM-7 shrinks the budget to 70 UCS-2 units.
    assert_eq!(
        sms_template_problem("शेष {balance} {currency} {account} {level} {event}").unwrap(),
        "body_template does not fit one SMS segment: with the longest values (account 32, level 8, balance 16, currency 3, event 17 characters) it is 84 of 70 UCS-2 units (the template has a character outside GSM-7)"
    );
}
