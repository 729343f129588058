//! The pages as pure functions, checked against expected fragments.

use super::*;
use crate::core::Snooze;
use crate::web::view::{
    AccountPage, ChannelView, Delivery, DeliveryResult, EventLine, OutboxView, PendingLine, Point,
    Source, Status,
};

fn ts(s: &str) -> Timestamp {
    s.parse().unwrap()
}

fn d(s: &str) -> Decimal {
    s.parse().unwrap()
}

fn acct(name: &str, level: Level) -> AccountView {
    crate::web::view::tests::account(name, level)
}

fn status(accounts: Vec<AccountView>) -> Status {
    Status {
        version: "0.1.0".into(),
        instance: None,
        generated_at: ts("2026-12-03T04:00:00Z"),
        source: Source::Daemon,
        refresh_seconds: 300,
        accounts,
        outbox: OutboxView {
            pending: 3,
            held: 1,
            failed: 2,
        },
        channels: vec![ChannelView {
            name: "ops-slack".into(),
            kind: "slack".into(),
            pending: 3,
            last_delivery: Some(Delivery {
                at: ts("2026-12-03T03:59:00Z"),
                result: DeliveryResult::Retrying,
                event: "alert".into(),
                account: "primary".into(),
                error: Some("HTTP 503 <busy>".into()),
            }),
        }],
    }
}

/// A critical account with history, thresholds and a forecast.
fn draining() -> AccountView {
    let mut a = acct("primary", Level::Critical);
    a.sid = "acme".into();
    a.balance = Some(d("800.50"));
    a.warning_below = Some(d("5000"));
    a.critical_below = Some(d("1000"));
    a.burn_per_day = Some(d("1850"));
    a.runway_seconds = Some(10 * 3600 + 23 * 60);
    a.depletes_at = Some(ts("2026-12-03T14:23:00Z"));
    a.last_success_at = Some(ts("2026-12-03T03:57:00Z"));
    a.history = vec![
        Point {
            at: ts("2026-12-03T00:00:00Z"),
            balance: d("1200"),
        },
        Point {
            at: ts("2026-12-03T02:00:00Z"),
            balance: d("1000"),
        },
        Point {
            at: ts("2026-12-03T04:00:00Z"),
            balance: d("800.50"),
        },
    ];
    a
}

fn utc() -> TimeZone {
    TimeZone::UTC
}

#[test]
fn escape_covers_html_metacharacters() {
    let mut out = String::new();
    escape(&mut out, r#"<script>alert("x")</script> & 'y'"#);
    assert_eq!(
        out,
        "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt; &amp; &#39;y&#39;"
    );
}

#[test]
fn index_has_every_column_for_every_account() {
    let mut ok = acct("backup", Level::Ok);
    ok.balance = Some(d("25000"));
    let page = index(&status(vec![draining(), ok]), "", 2, &utc());
    for header in [
        "<th>Account",
        "<th>Provider",
        "<th>SID",
        "<th>Balance",
        "<th>Level",
        "<th>Burn/day",
        "<th>Runway",
        "<th>Runs out",
        "<th>Last poll (age)",
        "<th>Last error",
        "<th>Snooze",
        "<th>Trend",
    ] {
        assert!(page.contains(header), "missing {header}");
    }
    let row = concat!(
        "<tr class=c><td><a href=accounts/primary>primary</a><td>exotel<td>acme",
        "<td>800.50 INR<td>critical<td>1,850<td>10h 23m<td>Thu 3 Dec 14:23",
        "<td>3m<td><td><td><svg class=s"
    );
    assert!(page.contains(row), "{page}");
    // Unknown runway figures read as a dash; a level is a word and a class (color).
    assert!(
        page.contains("<tr><td><a href=accounts/backup>backup</a><td>exotel<td>sid<td>25,000 INR<td>ok<td>—<td>—<td>—<td>never<td><td><td>"),
        "{page}"
    );
    assert!(page.contains("<title>balance-alert: 1 critical, 0 warning</title>"));
    assert!(page.contains("2 accounts: <span class=lc>1 critical</span>"));
}

#[test]
fn page_is_self_contained_refreshing_dark_aware_and_phone_ready() {
    let page = index(&status(vec![draining()]), "", 1, &utc());
    assert!(page.starts_with("<!doctype html>"));
    assert!(page.contains("<meta http-equiv=refresh content=300>"));
    assert!(page.contains("<meta name=viewport content=\"width=device-width,initial-scale=1\">"));
    assert!(page.contains("@media(prefers-color-scheme:dark)"));
    assert!(page.contains("@media(max-width:760px)"));
    for forbidden in [
        "<script", "http://", "https://", "src=", "<link", "@import", "url(",
    ] {
        assert!(!page.contains(forbidden), "page contains {forbidden}");
    }
}

#[test]
fn outbox_and_channel_health_are_shown() {
    let page = index(&status(vec![]), "", 0, &utc());
    assert!(page.contains("<h2>Outbox</h2><p>3 pending · 1 held · 2 failed</p>"));
    assert!(page.contains(
        "<tr><td>ops-slack<td>slack<td class=n>3<td><span class=\"lv lw\">retrying</span> alert for primary, Thu 3 Dec 03:59 UTC: HTTP 503 &lt;busy&gt;"
    ), "{page}");
    assert!(page.contains("<p>No account matches.</p>"));
}

#[test]
fn hostile_names_are_text_everywhere() {
    let mut evil = acct("<script>alert(1)</script>", Level::Warning);
    evil.sid = "\"><img src=x>".into();
    evil.last_error = Some("<b>boom</b>".into());
    let page = index(&status(vec![evil.clone()]), "<script>", 1, &utc());
    assert!(!page.contains("<script>"), "{page}");
    assert!(!page.contains("<img"), "{page}");
    assert!(page.contains(
        "<a href=accounts/%3Cscript%3Ealert%281%29%3C%2Fscript%3E>&lt;script&gt;alert(1)&lt;/script&gt;</a>"
    ));
    assert!(page.contains("&lt;b&gt;boom&lt;/b&gt;"));
    // The search box echoes the query escaped.
    assert!(page.contains("value=\"&lt;script&gt;\""));
    let detail = account_page(evil);
    assert!(
        !detail.contains("<script>") && !detail.contains("<img"),
        "{detail}"
    );
    assert!(detail.contains("<title>&lt;script&gt;alert(1)&lt;/script&gt;: warning"));
    assert!(!not_found("<script>").contains("<script>"));
}

#[test]
fn sparkline_has_threshold_lines_history_and_dashed_forecast() {
    let mut out = String::new();
    chart(&mut out, &draining(), Size::SPARK, &utc());
    // Balances 800.50–1200, thresholds 1000 and 5000, the floor 0 (forecast): the
    // range is 0…5000 padded by 6 % to −300…5300 over 28 units.
    assert!(
        out.starts_with("<svg class=s viewBox=\"0 0 120 30\""),
        "{out}"
    );
    assert!(out.contains("<path class=tw d=\"M1 2H119\"/>"), "{out}");
    assert!(out.contains("<path class=tc d=\"M1 22H119\"/>"), "{out}");
    // History spans 4 h; the forecast gets at most as much room again, so the last
    // sample sits in the middle and the dashed line is cut at the right edge.
    assert!(
        out.contains("<polyline class=h points=\"1,22 30,22 60,23\"/>"),
        "{out}"
    );
    assert!(out.contains("<path class=f d=\"M60 23L119 25\"/>"), "{out}");
    assert!(out.ends_with("</svg>"));
}

#[test]
fn forecast_reaches_the_floor_when_it_fits() {
    let mut a = draining();
    a.depletes_at = Some(ts("2026-12-03T06:00:00Z"));
    let mut out = String::new();
    chart(&mut out, &a, Size::SPARK, &utc());
    // Depletes 2 h after the last sample: the x range ends there, at the floor (0).
    assert!(out.contains("points=\"1,22 40,22 80,23\""), "{out}");
    assert!(out.contains("<path class=f d=\"M80 23L119 28\"/>"), "{out}");
}

#[test]
fn no_forecast_without_a_burn_rate_and_edge_cases() {
    let mut a = draining();
    a.burn_per_day = None;
    a.depletes_at = None;
    let mut out = String::new();
    chart(&mut out, &a, Size::SPARK, &utc());
    assert!(!out.contains("class=f"), "{out}");
    assert!(out.contains("points=\"1,"), "{out}");

    // One sample: a short level line. No sample: nothing in a row.
    a.history.truncate(1);
    let mut out = String::new();
    chart(&mut out, &a, Size::SPARK, &utc());
    assert!(out.contains("<path class=h d=\"M1 "), "{out}");
    a.history.clear();
    let mut out = String::new();
    chart(&mut out, &a, Size::SPARK, &utc());
    assert_eq!(out, "");

    // Flat history, no thresholds: still a finite, drawable range.
    let mut flat = acct("flat", Level::Ok);
    flat.history = vec![
        Point {
            at: ts("2026-12-03T00:00:00Z"),
            balance: d("10"),
        },
        Point {
            at: ts("2026-12-03T01:00:00Z"),
            balance: d("10"),
        },
    ];
    let mut out = String::new();
    chart(&mut out, &flat, Size::SPARK, &utc());
    assert!(out.contains("points=\"1,15 119,15\""), "{out}");
}

fn account_page(a: AccountView) -> String {
    account_page_with(a, vec![], vec![])
}

fn account_page_with(a: AccountView, events: Vec<EventLine>, pending: Vec<PendingLine>) -> String {
    account(
        &AccountPage {
            version: "0.1.0".into(),
            generated_at: ts("2026-12-03T04:00:00Z"),
            refresh_seconds: 60,
            account: a,
            events,
            pending,
        },
        &utc(),
    )
}

#[test]
fn account_page_has_big_chart_facts_events_and_pending() {
    let mut a = draining();
    a.snooze = Some(Snooze {
        since: ts("2026-12-03T03:00:00Z"),
        until: Some(ts("2026-12-03T07:00:00Z")),
        level: Level::Critical,
    });
    let page = account_page_with(
        a,
        vec![EventLine {
            at: ts("2026-12-03T02:00:00Z"),
            event: "alert".into(),
            level: Level::Critical,
            balance: Some(d("1000")),
            channels: vec!["ops-slack".into(), "oncall".into()],
        }],
        vec![
            PendingLine {
                created_at: ts("2026-12-03T02:00:00Z"),
                channel: "ops-slack".into(),
                event: "alert".into(),
                held: false,
                held_until: None,
            },
            PendingLine {
                created_at: ts("2026-12-03T02:10:00Z"),
                channel: "team-chat".into(),
                event: "reminder".into(),
                held: true,
                held_until: Some(ts("2026-12-03T07:00:00Z")),
            },
        ],
    );
    assert!(page.contains("<a href=\"../\">← all accounts</a>"));
    assert!(page.contains("<h1>primary <span class=\"lv lc\">critical</span></h1>"));
    assert!(page.contains("<svg class=g viewBox=\"0 0 640 220\""));
    assert!(page.contains(">warning 5,000</text>"), "{page}");
    assert!(page.contains(">critical 1,000</text>"), "{page}");
    assert!(page.contains("class=f"), "forecast on the big chart");
    assert!(page.contains("<dt>Runway<dd>10h 23m"));
    assert!(page.contains("<dt>Burn/day<dd>1,850 INR"));
    assert!(page.contains("<dt>Runs out<dd>Thu 3 Dec 14:23 UTC"));
    assert!(page.contains("<dt>Snooze<dd>until Thu 3 Dec 07:00 UTC"));
    assert!(page.contains("<dt>Warning<dd>below 5,000 INR"));
    assert!(page.contains("<tr><td>Thu 3 Dec 02:00 UTC<td>ops-slack<td>alert<td>pending"));
    assert!(page.contains(
        "<tr><td>Thu 3 Dec 02:10 UTC<td>team-chat<td>reminder<td>held (quiet hours) until Thu 3 Dec 07:00 UTC"
    ));
    assert!(page.contains(
        "<tr><td>Thu 3 Dec 02:00 UTC<td>alert<td class=\"lv lc\">critical<td class=n>1,000 INR<td>ops-slack, oncall"
    ), "{page}");
}

#[test]
fn times_follow_the_daemon_timezone() {
    let tz = TimeZone::get("Asia/Kolkata").unwrap();
    assert_eq!(when(ts("2026-12-06T08:30:00Z"), &tz), "Sun 6 Dec 14:00 IST");
}

#[test]
fn runway_texts() {
    let mut a = acct("a", Level::Ok);
    assert_eq!(runway_text(&a), "—");
    a.burn_per_day = Some(Decimal::ZERO);
    assert_eq!(runway_text(&a), "∞");
    a.runway_seconds = Some(3 * 86_400 + 5 * 3600);
    assert_eq!(runway_text(&a), "3d 5h");
    assert_eq!(short_duration(59), "59s");
    assert_eq!(short_duration(7200), "2h");
    assert_eq!(short_duration(86_400), "1d");
}

#[test]
fn snoozes_and_failing_monitors_show_in_the_row() {
    let mut a = acct("a", Level::Warning);
    a.monitor_failing = true;
    a.snooze = Some(Snooze {
        since: ts("2026-12-03T03:00:00Z"),
        until: None,
        level: Level::Warning,
    });
    let page = index(&status(vec![a]), "", 1, &utc());
    assert!(page.contains("<td>warning · monitor failing<td>"), "{page}");
    assert!(page.contains("<td>until the level changes<td>"), "{page}");
}

#[test]
fn only_the_first_rows_get_sparklines() {
    let accounts: Vec<AccountView> = (0..SPARKLINE_ROWS + 2)
        .map(|i| {
            let mut a = draining();
            a.name = format!("acct-{i:05}");
            a
        })
        .collect();
    let page = index(&status(accounts), "", SPARKLINE_ROWS + 2, &utc());
    assert_eq!(page.matches("<svg class=s").count(), SPARKLINE_ROWS);
    assert!(page.contains("Trends are drawn for the first 500 rows"));
}
