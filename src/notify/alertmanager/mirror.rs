//! The mirror of one `alertmanager` channel (SPEC §11.1): the standing alerts an event
//! sets or resolves ([`apply`]) and the body posted to a peer ([`alerts_body`]). Pure:
//! the pushers in `alertmanager.rs` own the time and the network.

use std::collections::{BTreeMap, HashMap};
use std::time::Duration;

use jiff::Timestamp;
use serde_json::{Value, json};

use crate::core::{Event, EventKind, Level};
use crate::notify::RenderCtx;
use crate::notify::forecast::runway_sentence;
use crate::notify::post::Accounts;
use crate::notify::render::{headline, summary, text_body};

/// `BalanceLow` or `BalanceMonitorFailing`, per account.
pub(super) type AlertKey = (String, &'static str);

/// One alert as the mirror holds it.
#[derive(Debug, Clone, PartialEq)]
pub struct Mirrored {
    pub labels: BTreeMap<String, String>,
    pub annotations: BTreeMap<String, String>,
    pub starts_at: Timestamp,
    /// Set when it resolved: posted once more to each peer with this `endsAt`.
    pub resolved_at: Option<Timestamp>,
}

/// The alerts of one channel: those standing, and per peer URL those resolved but not
/// yet told to it.
#[derive(Debug, Default)]
pub struct Mirror {
    pub active: BTreeMap<AlertKey, Mirrored>,
    pub resolved: HashMap<String, BTreeMap<AlertKey, Mirrored>>,
    /// Bumped by every change, so a delivery knows when a peer has taken it.
    pub generation: u64,
}

pub const BALANCE_LOW: &str = "BalanceLow";
pub const MONITOR_FAILING: &str = "BalanceMonitorFailing";
/// The daemon cannot write its state (SPEC §17): about the daemon, not an account.
pub const STATE_UNWRITABLE: &str = "BalanceAlertStateUnwritable";

/// The labels of an account's alert: `alertname`, `account`, `sid`, `provider`,
/// `severity`, `instance` (when set), then the account's own `labels`.
pub(super) fn labels(
    event: &Event,
    alertname: &str,
    severity: &str,
    accounts: &Accounts,
    instance: Option<&str>,
) -> BTreeMap<String, String> {
    let mut labels: BTreeMap<String, String> = accounts.labels(event).cloned().unwrap_or_default();
    labels.insert("alertname".into(), alertname.into());
    labels.insert("account".into(), event.account.clone());
    labels.insert("sid".into(), event.sid.clone());
    labels.insert("provider".into(), accounts.provider(event).into());
    labels.insert("severity".into(), severity.into());
    if let Some(instance) = instance {
        labels.insert("instance".into(), instance.into());
    }
    labels
}

/// `summary` (the headline), `description` (the full text) and `runway` (the runway
/// sentence, SPEC §9.3; empty until the account's burn rate is known).
pub(super) fn annotations(event: &Event, ctx: &RenderCtx) -> BTreeMap<String, String> {
    BTreeMap::from([
        ("summary".to_owned(), headline(event)),
        (
            "description".to_owned(),
            format!("{}\n\n{}", summary(event, ctx), text_body(event, ctx)),
        ),
        (
            "runway".to_owned(),
            runway_sentence(event, ctx).unwrap_or_default(),
        ),
    ])
}

/// Applies an event to the mirror (pure but for the mirror it changes). `peers` are the
/// URLs a resolution must still be told to. Returns whether anything changed.
pub fn apply(
    mirror: &mut Mirror,
    event: &Event,
    ctx: &RenderCtx,
    accounts: &Accounts,
    peers: &[String],
    now: Timestamp,
) -> bool {
    let instance = ctx.instance.as_deref();
    let (alertname, firing) = match event.event {
        // An escalation is the same low balance, still firing: it refreshes that alert.
        EventKind::Alert | EventKind::Reminder | EventKind::Improved | EventKind::Escalated => {
            (BALANCE_LOW, true)
        }
        EventKind::Resolved => (BALANCE_LOW, false),
        EventKind::MonitorFailing => (MONITOR_FAILING, true),
        EventKind::MonitorRecovered => (MONITOR_FAILING, false),
        EventKind::StateUnwritable => (STATE_UNWRITABLE, true),
        EventKind::StateRecovered => (STATE_UNWRITABLE, false),
        // Messages, not state: nothing to mirror (see the module comment).
        EventKind::Test | EventKind::ToppedUp | EventKind::Summary => return false,
    };
    let key = (event.account.clone(), alertname);
    if firing {
        let severity = match (event.event, event.level) {
            (EventKind::MonitorFailing, _) | (_, Level::Critical) => "critical",
            _ => "warning",
        };
        let starts_at = mirror
            .active
            .get(&key)
            .map_or(event.observed_at, |a| a.starts_at);
        let alert = Mirrored {
            labels: labels(event, alertname, severity, accounts, instance),
            annotations: annotations(event, ctx),
            starts_at,
            resolved_at: None,
        };
        // A new episode replaces any resolution still waiting for a peer.
        for pending in mirror.resolved.values_mut() {
            pending.remove(&key);
        }
        mirror.active.insert(key, alert);
    } else {
        let Some(mut alert) = mirror.active.remove(&key) else {
            return false;
        };
        alert.resolved_at = Some(now);
        alert.annotations = annotations(event, ctx);
        for peer in peers {
            mirror
                .resolved
                .entry(peer.clone())
                .or_default()
                .insert(key.clone(), alert.clone());
        }
    }
    mirror.generation += 1;
    true
}

/// The JSON array one peer is sent: every standing alert (`endsAt` = now + 4 ×
/// `resend_every`) and the resolutions it has not taken yet (`endsAt` = when resolved).
pub fn alerts_body(mirror: &Mirror, peer: &str, now: Timestamp, resend_every: Duration) -> Value {
    let ends = now
        .checked_add(resend_every.saturating_mul(4))
        .unwrap_or(now);
    let one = |alert: &Mirrored, ends_at: Timestamp| {
        json!({
            "labels": alert.labels,
            "annotations": alert.annotations,
            "startsAt": rfc3339(alert.starts_at),
            "endsAt": rfc3339(ends_at),
        })
    };
    let mut out: Vec<Value> = mirror.active.values().map(|a| one(a, ends)).collect();
    if let Some(pending) = mirror.resolved.get(peer) {
        out.extend(
            pending
                .values()
                .map(|a| one(a, a.resolved_at.unwrap_or(now))),
        );
    }
    Value::Array(out)
}

fn rfc3339(t: Timestamp) -> String {
    t.strftime("%Y-%m-%dT%H:%M:%S%.3fZ").to_string()
}
