//! The exposition checked line by line, by a 0.0.4 parser of our own and by promtool.

use std::collections::HashMap;

use super::*;

fn fill(metrics: &Metrics) {
    metrics.set_balance("primary", "exotel", "INR", 1543.75);
    metrics.set_level("primary", "exotel", Level::Critical);
    metrics.set_last_success(
        "primary",
        "exotel",
        "2026-04-24T10:32:18.5Z".parse().unwrap(),
    );
    metrics.inc_poll_error("primary", "exotel", ErrorClass::Throttled);
    metrics.inc_poll_error("primary", "exotel", ErrorClass::Throttled);
    metrics.inc_notification("ops-slack", "delivered");
    metrics.set_outbox_pending(3);
    metrics.set_reload_success(false);
}

/// (HELP names, TYPE by name, sample lines by series name).
type Parsed = (
    Vec<String>,
    HashMap<String, String>,
    HashMap<String, Vec<String>>,
);

/// Parses the text format, rejecting anything a 0.0.4 scraper would not expect.
fn parse(text: &str) -> Parsed {
    let mut helps = Vec::new();
    let mut types = HashMap::new();
    let mut samples: HashMap<String, Vec<String>> = HashMap::new();
    for line in text.lines() {
        if let Some(rest) = line.strip_prefix("# HELP ") {
            let (name, help) = rest.split_once(' ').unwrap();
            assert!(!help.trim().is_empty(), "{name} has empty HELP");
            helps.push(name.to_owned());
        } else if let Some(rest) = line.strip_prefix("# TYPE ") {
            let (name, ty) = rest.split_once(' ').unwrap();
            types.insert(name.to_owned(), ty.to_owned());
        } else if line.starts_with('#') {
            panic!("unexpected comment line {line:?} (OpenMetrics leaking into 0.0.4?)");
        } else if !line.is_empty() {
            let name = line.split(['{', ' ']).next().unwrap();
            samples
                .entry(name.to_owned())
                .or_default()
                .push(line.to_owned());
        }
    }
    (helps, types, samples)
}

#[test]
fn every_series_in_prometheus_text() {
    let metrics = Metrics::new();
    fill(&metrics);
    let body = metrics.encode();
    assert!(CONTENT_TYPE_TEXT.starts_with("text/plain; version=0.0.4"));
    assert!(!body.contains("# EOF"));

    let (helps, types, samples) = parse(&body);
    let expected = [
        ("balance_alert_balance", "gauge"),
        ("balance_alert_level", "gauge"),
        ("balance_alert_last_success_timestamp_seconds", "gauge"),
        ("balance_alert_poll_errors_total", "counter"),
        ("balance_alert_notifications_total", "counter"),
        ("balance_alert_outbox_pending", "gauge"),
        ("balance_alert_outbox_held", "gauge"),
        ("balance_alert_config_reload_success", "gauge"),
        ("balance_alert_state_write_errors_total", "counter"),
        ("balance_alert_state_writable", "gauge"),
        ("balance_alert_heartbeat_failures_total", "counter"),
    ];
    for (name, ty) in expected {
        assert!(
            helps.iter().any(|h| h == name),
            "no HELP for {name}:\n{body}"
        );
        assert_eq!(
            types.get(name).map(String::as_str),
            Some(ty),
            "{name}:\n{body}"
        );
        assert!(samples.contains_key(name), "no sample for {name}:\n{body}");
    }
    assert_eq!(helps.len(), expected.len(), "{body}");

    let one = |name: &str| samples[name].join("\n");
    assert_eq!(
        one("balance_alert_balance"),
        r#"balance_alert_balance{account="primary",provider="exotel",currency="INR"} 1543.75"#
    );
    assert_eq!(
        one("balance_alert_level"),
        r#"balance_alert_level{account="primary",provider="exotel"} 2"#
    );
    assert_eq!(
        one("balance_alert_last_success_timestamp_seconds"),
        r#"balance_alert_last_success_timestamp_seconds{account="primary",provider="exotel"} 1777026738.5"#
    );
    assert_eq!(
        one("balance_alert_poll_errors_total"),
        [
            r#"balance_alert_poll_errors_total{account="primary",provider="exotel",class="config"} 0"#,
            r#"balance_alert_poll_errors_total{account="primary",provider="exotel",class="throttled"} 2"#,
            r#"balance_alert_poll_errors_total{account="primary",provider="exotel",class="transient"} 0"#,
        ]
        .join("\n")
    );
    assert_eq!(
        one("balance_alert_notifications_total"),
        r#"balance_alert_notifications_total{channel="ops-slack",result="delivered"} 1"#
    );
    assert_eq!(
        one("balance_alert_outbox_pending"),
        "balance_alert_outbox_pending 3"
    );
    assert_eq!(
        one("balance_alert_config_reload_success"),
        "balance_alert_config_reload_success 0"
    );
}

/// The format check that matters is Prometheus' own. `promtool` is not a Rust
/// dependency, so the test passes without it unless BALANCE_ALERT_REQUIRE_PROMTOOL is
/// set (as `.ci/ops.sh` does after installing it).
#[test]
fn promtool_accepts_the_exposition() {
    use std::io::Write;
    use std::process::{Command, Stdio};
    let metrics = Metrics::new();
    fill(&metrics);
    metrics.set_balance("second", "twilio", "USD", -0.5);
    let child = Command::new("promtool")
        .args(["check", "metrics"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn();
    let mut child = match child {
        Ok(child) => child,
        Err(e) if std::env::var_os("BALANCE_ALERT_REQUIRE_PROMTOOL").is_none() => {
            eprintln!("promtool not run ({e}); skipping");
            return;
        }
        Err(e) => panic!("promtool required but not runnable: {e}"),
    };
    child
        .stdin
        .take()
        .unwrap()
        .write_all(metrics.encode().as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    let report = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    // promtool exits non-zero on errors; lint findings (e.g. naming) print but also
    // fail it, and we want neither.
    assert!(out.status.success() && report.trim().is_empty(), "{report}");
}

#[test]
fn reload_success_starts_at_one() {
    assert!(
        Metrics::new()
            .encode()
            .contains("\nbalance_alert_config_reload_success 1\n")
    );
}

/// Per-account series come sorted by account name, whatever order they were set in.
#[test]
fn per_account_series_are_sorted_by_account() {
    let metrics = Metrics::new();
    for name in ["zeta", "alpha", "mid"] {
        metrics.set_level(name, "exotel", Level::Ok);
    }
    let text = metrics.encode();
    let order: Vec<&str> = text
        .lines()
        .filter(|l| l.starts_with("balance_alert_level{"))
        .map(|l| l.split('"').nth(1).unwrap())
        .collect();
    assert_eq!(order, ["alpha", "mid", "zeta"], "{text}");
}

#[test]
fn currency_change_and_forget_account_remove_stale_series() {
    let metrics = Metrics::new();
    fill(&metrics);
    metrics.set_balance("other", "vonage", "USD", -12.5);
    metrics.set_balance("primary", "exotel", "USD", 20.0);
    let text = metrics.encode();
    assert!(!text.contains(r#"currency="INR""#), "{text}");
    assert!(text.contains(
        r#"balance_alert_balance{account="primary",provider="exotel",currency="USD"} 20.0"#
    ));

    metrics.forget_account("primary");
    let text = metrics.encode();
    assert!(!text.contains(r#"account="primary""#), "{text}");
    assert!(text.contains(
        r#"balance_alert_balance{account="other",provider="vonage",currency="USD"} -12.5"#
    ));
    // Channel series are not per-account and stay.
    assert!(text.contains("channel=\"ops-slack\""));
}

#[test]
fn a_provider_change_removes_the_old_series() {
    let metrics = Metrics::new();
    fill(&metrics);
    metrics.register_account("primary", "twilio");
    metrics.set_balance("primary", "twilio", "USD", 5.0);
    metrics.set_level("primary", "twilio", Level::Ok);
    let text = metrics.encode();
    assert!(!text.contains(r#"provider="exotel""#), "{text}");
    assert!(text.contains(
        r#"balance_alert_balance{account="primary",provider="twilio",currency="USD"} 5.0"#
    ));
    assert!(text.contains(
        r#"balance_alert_poll_errors_total{account="primary",provider="twilio",class="config"} 0"#
    ));
    metrics.forget_account("primary");
    assert!(!metrics.encode().contains(r#"account="primary""#));
}

#[test]
fn label_values_are_escaped() {
    let metrics = Metrics::new();
    metrics.set_level("we\"ird\\name\n", "exotel", Level::Warning);
    assert!(
        metrics
            .encode()
            .contains(r#"balance_alert_level{account="we\"ird\\name\n",provider="exotel"} 1"#)
    );
}
