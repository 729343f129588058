//! The heartbeat out (SPEC §11.2): a dead man's switch. Every `[daemon] heartbeat.every`
//! the daemon sends `GET url`, but only while the supervisor sees every scheduler and
//! delivery loop alive ([`Heartbeats::stuck`] is empty), so an external watcher
//! (healthchecks.io, Cronitor, Uptime Kuma, a Dead Man's Snitch) pages when the pings
//! stop: the process died, hung, or lost its network. While some account's monitor is
//! failing it pings `fail_url` instead, when one is set, so the watcher can say so too.
//!
//! A failed ping is logged and counted (`balance_alert_heartbeat_failures_total`) and
//! never retried: the next tick is the retry, and a backlog of late pings would only
//! tell the watcher that all is well when it may not be. The URLs are secrets: no log
//! line or error carries them.

use std::future::Future;
use std::sync::Arc;

use tracing::{debug, warn};

use crate::config::{HeartbeatConfig, Secret};
use crate::health::Heartbeats;
use crate::http;
use crate::metrics::Metrics;

/// What one tick does.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Ping {
    /// All is well: `GET url`.
    Alive,
    /// Loops are alive but an account's monitor is failing: `GET fail_url`.
    Failing,
    /// Some loop is stuck (named): no ping, so the watcher notices.
    Skip(Vec<String>),
}

/// The decision, pure: a stuck loop silences the heartbeat; a failing monitor switches
/// it to `fail_url` when there is one.
pub fn decide(stuck: Vec<String>, some_account_failing: bool, has_fail_url: bool) -> Ping {
    if !stuck.is_empty() {
        Ping::Skip(stuck)
    } else if some_account_failing && has_fail_url {
        Ping::Failing
    } else {
        Ping::Alive
    }
}

/// Pings until `shutdown` resolves: at once, then every `config.every`.
/// `some_account_failing` is asked at each tick.
pub async fn run(
    config: HeartbeatConfig,
    heartbeats: Arc<Heartbeats>,
    metrics: Arc<Metrics>,
    some_account_failing: impl Fn() -> bool,
    shutdown: impl Future<Output = ()>,
) {
    // A ping must be over before the next one is due; at most the usual request timeout.
    let timeout = config.every.min(http::REQUEST_TIMEOUT);
    let client = match http::client(None, timeout) {
        Ok(c) => c,
        Err(e) => {
            warn!(error = %e, "heartbeat disabled: cannot build its HTTP client");
            return;
        }
    };
    let mut ticks = tokio::time::interval(config.every);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    tokio::pin!(shutdown);
    loop {
        tokio::select! {
            _ = &mut shutdown => return,
            _ = ticks.tick() => {}
        }
        let decision = decide(
            heartbeats.stuck(),
            some_account_failing(),
            config.fail_url.is_some(),
        );
        let (url, which) = match &decision {
            Ping::Skip(stuck) => {
                warn!(stuck = %stuck.join(","), "heartbeat withheld: some loop is stuck");
                continue;
            }
            Ping::Alive => (&config.url, "url"),
            Ping::Failing => (
                config.fail_url.as_ref().expect("decided on fail_url"),
                "fail_url",
            ),
        };
        let ping = tokio::select! {
            _ = &mut shutdown => return,
            r = ping(&client, url) => r,
        };
        match ping {
            Ok(()) => debug!(which, "heartbeat sent"),
            Err(error) => {
                metrics.inc_heartbeat_failure();
                warn!(which, %error, "heartbeat ping failed; the next one is the retry");
            }
        }
    }
}

/// One `GET`; any 2xx is success. The error never holds the URL.
async fn ping(client: &reqwest::Client, url: &Secret) -> Result<(), String> {
    let response = client
        .get(url.expose())
        .send()
        .await
        .map_err(|e| http::describe(&e.without_url()))?;
    let status = response.status();
    if status.is_success() {
        Ok(())
    } else {
        Err(format!("the heartbeat endpoint answered HTTP {status}"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stuck_loops_silence_the_heartbeat_and_failing_switches_it() {
        assert_eq!(decide(vec![], false, true), Ping::Alive);
        assert_eq!(decide(vec![], true, true), Ping::Failing);
        // Without a fail_url, a failing monitor still pings url: the daemon is alive.
        assert_eq!(decide(vec![], true, false), Ping::Alive);
        assert_eq!(
            decide(vec!["account a".into()], true, true),
            Ping::Skip(vec!["account a".into()])
        );
    }
}
