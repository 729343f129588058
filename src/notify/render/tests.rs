//! Exact-output tests for the shared wording, facts, text bodies and amounts.

use super::*;
use crate::notify::test_events::*;

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
fn other_providers_are_named_in_every_line() {
    assert_eq!(
        headline(&twilio_alert()),
        "[CRITICAL] Twilio balance low: us-voice 7.25 USD"
    );
    let expected = "\
The Twilio balance of us-voice is below 10 USD: level critical. Top up the account.

Account:        us-voice
Account SID:    AC0123456789abcdef
Balance:        7.25 USD
Level:          critical
Previous level: warning
Threshold:      below 10 USD
Observed at:    2026-04-24T05:02:18Z

Sent by balance-alert.
";
    assert_eq!(text_body(&twilio_alert(), &RenderCtx::default()), expected);
    assert_eq!(
        headline(&telnyx_failing()),
        "[MONITOR FAILING] Cannot read Telnyx balance of sip: HTTP 401 Unauthorized: Authentication failed (code 10009); check api_key"
    );
    assert_eq!(
        summary(&telnyx_failing(), &RenderCtx::default()),
        "balance-alert cannot read the Telnyx balance of sip, so its level is not being \
         checked: HTTP 401 Unauthorized: Authentication failed (code 10009); check api_key"
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
fn text_body_escalated() {
    let expected = "\
Escalated: the Exotel balance of primary is still below 1,000 INR (level critical) and nobody has fixed it. Top up the account.

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
    assert_eq!(text_body(&escalated(), &RenderCtx::default()), expected);
    assert_eq!(
        headline(&escalated()),
        "[CRITICAL] Escalated, Exotel balance still low: primary 850.00 INR"
    );
    assert_eq!(
        crate::notify::sms::sms_body(&escalated(), None),
        "ESCALATED, STILL CRITICAL: Exotel primary balance 850.00 INR (below 1,000). balance-alert"
    );
    // The webhook's public JSON names the kind.
    let json = serde_json::to_value(escalated()).unwrap();
    assert_eq!(json["event"], "escalated");
    assert_eq!(json["level"], "critical");
}
