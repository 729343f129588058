//! `alertmanager`: mirrors each account's state into an Alertmanager cluster (SPEC
//! §11.1), the way Prometheus does, so an HA pair of balance-alert instances and the
//! cluster's own deduplication page once. This file owns the channel's keys (`urls`,
//! `resend_every`, `basic_auth` or `bearer_token`) and the per-peer pushers; the alerts
//! themselves ([`apply`] and [`alerts_body`], pure) are in `alertmanager/mirror.rs`.
//!
//! An event does not become one message here: it changes the mirror (the standing
//! `BalanceLow` and `BalanceMonitorFailing` alerts of each account), and every peer
//! (`POST {url}/api/v2/alerts`) is sent the whole mirror whenever it changes and again
//! every `resend_every` while anything is active, with `endsAt` = now + 4 ×
//! `resend_every` (so a silent instance's alerts expire by themselves). A resolved alert
//! is posted once more to each peer with `endsAt` = the moment it resolved. Each peer has
//! its own pusher task: one peer down never delays another. A delivery from the outbox
//! succeeds as soon as one peer has taken the change; a peer that missed it catches up
//! on its next post (the resend, at the latest). The mirror is kept per channel name
//! for the life of the process, so a reload that edits the channel keeps it.
//!
//! A runway alert (SPEC §9.2) is the account's `BalanceLow` like an amount alert: the
//! account has one level, the worst of its latches, and one standing alert follows it;
//! its `runway` annotation says how long the money lasts. `topped_up` and the daily
//! `summary` are messages, not state: they change nothing in the mirror, so a channel
//! whose `events` lists them still sends nothing for them.

use std::collections::HashMap;
use std::sync::{Arc, LazyLock, Mutex};
use std::time::Duration;

use jiff::Timestamp;
use reqwest::header::CONTENT_TYPE;
use serde::Deserialize;
use serde_json::Value;
use tokio::sync::{Notify, watch};
use toml::Spanned;
use tracing::{info, warn};

use super::post::{self, Accounts};
use super::{ChannelType, DeliveryError, Notifier, RenderCtx};
use crate::config::raw::{Opt, RawDuration, StrList};
use crate::config::{Ctx, Place, Res, Secret};
use crate::core::{Event, EventKind};
use crate::http;
use crate::provider::AccountConfig;

mod mirror;

use mirror::{AlertKey, annotations, labels};
pub use mirror::{
    BALANCE_LOW, MONITOR_FAILING, Mirror, Mirrored, STATE_UNWRITABLE, alerts_body, apply,
};

#[derive(Debug, Clone, PartialEq)]
pub struct AlertmanagerConfig {
    /// The base URL of every peer of the cluster, without a trailing slash.
    pub urls: Vec<String>,
    pub resend_every: Duration,
    pub auth: Option<Auth>,
    pub accounts: Accounts,
    /// Which channel this is (`channel "am"`): its mirror outlives a reload.
    pub mirror_key: String,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Auth {
    Basic { user: String, password: Secret },
    Bearer(Secret),
}

/// The keys as written.
#[derive(Deserialize)]
pub struct Raw {
    urls: Option<StrList>,
    resend_every: Opt<RawDuration>,
    basic_auth: Opt<RawBasicAuth>,
    bearer_token: Opt<String>,
    bearer_token_file: Opt<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawBasicAuth {
    user: Opt<String>,
    password: Opt<String>,
    password_file: Opt<String>,
}

impl ChannelType for AlertmanagerConfig {
    const NAME: &'static str = "alertmanager";
    const FIELDS: &'static [&'static str] = &[
        "urls",
        "resend_every",
        "basic_auth",
        "bearer_token",
        "bearer_token_file",
    ];
    type Raw = Raw;

    fn validate(
        ctx: &mut Ctx<'_>,
        raw: &Raw,
        at: &Place<'_>,
        accounts: &[Arc<AccountConfig>],
    ) -> Res<Self> {
        let (table, base) = (&at.table, at.base);
        let key = format!("{base}.urls");
        let list = ctx.required(&raw.urls, table, &key)?;
        let mut urls = Vec::new();
        for (i, item) in list.get_ref().iter().enumerate() {
            let url = ctx.base_url(item, &format!("{key}[{i}]"))?;
            if urls.contains(&url) {
                return Err(ctx.err(
                    Some(item.span()),
                    &format!("{key}[{i}]"),
                    format!("\"{url}\" is listed twice"),
                ));
            }
            urls.push(url);
        }
        if urls.is_empty() {
            return Err(ctx.err(
                Some(list.span()),
                &key,
                "must list at least one Alertmanager URL (every peer of the cluster)",
            ));
        }
        let resend_every = ctx.positive_duration(
            &raw.resend_every,
            &format!("{base}.resend_every"),
            Duration::from_secs(60),
        )?;
        let bearer = ctx.secret(
            &raw.bearer_token,
            &raw.bearer_token_file,
            at,
            "bearer_token",
            false,
        )?;
        let basic = match &raw.basic_auth {
            Some(b) => {
                let bbase = format!("{base}.basic_auth");
                let r = b.get_ref();
                let user = ctx.string(
                    ctx.required(&r.user, &b.span(), &format!("{bbase}.user"))?,
                    &format!("{bbase}.user"),
                )?;
                let password = ctx
                    .secret(
                        &r.password,
                        &r.password_file,
                        &Place {
                            base: &bbase,
                            table: b.span(),
                        },
                        "password",
                        true,
                    )?
                    .expect("required");
                Some(Auth::Basic { user, password })
            }
            None => None,
        };
        let auth = match (basic, bearer) {
            (Some(_), Some(_)) => {
                let span = raw.basic_auth.as_ref().map(Spanned::span);
                return Err(ctx.err(
                    span,
                    &format!("{base}.basic_auth"),
                    "set either basic_auth or bearer_token, not both",
                ));
            }
            (Some(b), None) => Some(b),
            (None, Some(t)) => Some(Auth::Bearer(t)),
            (None, None) => None,
        };
        Ok(AlertmanagerConfig {
            urls,
            resend_every,
            auth,
            accounts: Accounts::from_config(accounts),
            mirror_key: at.base.to_owned(),
        })
    }
}

/// Mirrors live for the process, per channel name, so a reload keeps them.
static MIRRORS: LazyLock<Mutex<HashMap<String, Arc<Mutex<Mirror>>>>> =
    LazyLock::new(Default::default);

fn mirror_for(channel: &str) -> Arc<Mutex<Mirror>> {
    MIRRORS
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .entry(channel.to_owned())
        .or_default()
        .clone()
}

/// A peer's last post: the mirror generation it carried and the error, if it failed.
type Attempt = (u64, Option<String>);

/// What the pushers and the deliveries share.
struct Shared {
    name: String,
    config: AlertmanagerConfig,
    client: reqwest::Client,
    mirror: Arc<Mutex<Mirror>>,
    /// Per peer: the last generation it was sent and the error, if that failed.
    attempts: Mutex<Vec<Option<Attempt>>>,
    /// Told after every attempt of any peer.
    attempted: Notify,
    /// Per peer: "the mirror changed, post now".
    wake: Vec<Notify>,
}

pub struct Alertmanager {
    shared: Arc<Shared>,
    /// Dropping it stops the pushers.
    _stop: watch::Sender<()>,
    stop_rx: watch::Receiver<()>,
    started: std::sync::Once,
}

impl std::fmt::Debug for Alertmanager {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Alertmanager")
            .field("urls", &self.shared.config.urls)
            .finish_non_exhaustive()
    }
}

impl Alertmanager {
    pub fn new(config: &AlertmanagerConfig) -> Result<Self, String> {
        let name = config.mirror_key.as_str();
        let (stop, stop_rx) = watch::channel(());
        let peers = config.urls.len();
        let am = Alertmanager {
            shared: Arc::new(Shared {
                name: name.to_owned(),
                config: config.clone(),
                client: http::client(None, http::REQUEST_TIMEOUT)?,
                mirror: mirror_for(name),
                attempts: Mutex::new(vec![None; peers]),
                attempted: Notify::new(),
                wake: (0..peers).map(|_| Notify::new()).collect(),
            }),
            _stop: stop,
            stop_rx,
            started: std::sync::Once::new(),
        };
        // In the daemon, start at once: a mirror carried over a reload keeps being sent.
        if tokio::runtime::Handle::try_current().is_ok() {
            am.start();
        }
        Ok(am)
    }

    fn start(&self) {
        self.started.call_once(|| {
            for peer in 0..self.shared.config.urls.len() {
                let shared = self.shared.clone();
                let stop = self.stop_rx.clone();
                tokio::spawn(push_loop(shared, peer, stop));
            }
        });
    }

    /// Puts each standing alert (from the saved state, at start) into the mirror, unless
    /// it is there already, and starts the pushers: after a restart the alerts keep
    /// being re-posted without waiting for a new event. Their `startsAt` is the last
    /// observation the state has; Alertmanager keeps the earlier one it already holds.
    pub fn restore(&self, standing: &[Event], ctx: &RenderCtx) {
        {
            let mut mirror = self.shared.mirror.lock().unwrap_or_else(|p| p.into_inner());
            for event in standing {
                let name = match event.event {
                    EventKind::MonitorFailing => MONITOR_FAILING,
                    _ => BALANCE_LOW,
                };
                if !mirror.active.contains_key(&(event.account.clone(), name)) {
                    apply(
                        &mut mirror,
                        event,
                        ctx,
                        &self.shared.config.accounts,
                        &self.shared.config.urls,
                        Timestamp::now(),
                    );
                }
            }
        }
        if !standing.is_empty() {
            self.start();
            for wake in &self.shared.wake {
                wake.notify_one();
            }
        }
    }

    /// The longest a delivery waits for a peer to take a change.
    pub fn max_send_time(&self) -> Duration {
        http::REQUEST_TIMEOUT + Duration::from_secs(5)
    }

    /// Posts a `test` alert to every peer (it expires in 5 minutes by itself).
    async fn send_test(&self, event: &Event, ctx: &RenderCtx) -> Result<(), DeliveryError> {
        let now = Timestamp::now();
        let alert = Mirrored {
            labels: labels(
                event,
                "BalanceAlertTest",
                "info",
                &self.shared.config.accounts,
                ctx.instance.as_deref(),
            ),
            annotations: annotations(event, ctx),
            starts_at: now,
            resolved_at: None,
        };
        let mut mirror = Mirror::default();
        mirror
            .active
            .insert((event.account.clone(), "BalanceAlertTest"), alert);
        let body = alerts_body(&mirror, "", now, Duration::from_secs(75));
        let mut failed = Vec::new();
        for url in &self.shared.config.urls {
            if let Err(e) = post_alerts(&self.shared, url, &body).await {
                failed.push(e);
            }
        }
        if failed.is_empty() {
            Ok(())
        } else {
            Err(DeliveryError::retry(failed.join("; ")))
        }
    }
}

impl Notifier for Alertmanager {
    async fn send(&self, event: &Event, ctx: &RenderCtx) -> Result<(), DeliveryError> {
        if event.event == EventKind::Test {
            return self.send_test(event, ctx).await;
        }
        self.start();
        let shared = &self.shared;
        let generation = {
            let mut mirror = shared.mirror.lock().unwrap_or_else(|p| p.into_inner());
            apply(
                &mut mirror,
                event,
                ctx,
                &shared.config.accounts,
                &shared.config.urls,
                Timestamp::now(),
            );
            mirror.generation
        };
        for wake in &shared.wake {
            wake.notify_one();
        }
        let wait = async {
            loop {
                let attempted = shared.attempted.notified();
                tokio::pin!(attempted);
                attempted.as_mut().enable();
                {
                    let attempts = shared.attempts.lock().unwrap_or_else(|p| p.into_inner());
                    if attempts
                        .iter()
                        .any(|a| matches!(a, Some((g, None)) if *g >= generation))
                    {
                        return Ok(());
                    }
                    let errors: Vec<&str> = attempts
                        .iter()
                        .filter_map(|a| match a {
                            Some((g, Some(e))) if *g >= generation => Some(e.as_str()),
                            _ => None,
                        })
                        .collect();
                    if errors.len() == attempts.len() {
                        return Err(DeliveryError::retry(format!(
                            "no Alertmanager peer took the alert: {}",
                            errors.join("; ")
                        )));
                    }
                }
                attempted.await;
            }
        };
        match tokio::time::timeout(http::REQUEST_TIMEOUT + Duration::from_secs(2), wait).await {
            Ok(result) => result,
            Err(_) => Err(DeliveryError::retry(
                "no Alertmanager peer answered in time",
            )),
        }
    }
}

/// One peer's pusher: posts the mirror when it changes and every `resend_every` while
/// anything is in it; after a failure tries again sooner (1 s doubling, at most
/// `resend_every`).
async fn push_loop(shared: Arc<Shared>, peer: usize, mut stop: watch::Receiver<()>) {
    let url = shared.config.urls[peer].clone();
    let resend = shared.config.resend_every;
    let mut failures: u32 = 0;
    // First pass at once: a mirror carried over a reload is re-announced.
    let mut wait = Duration::ZERO;
    loop {
        tokio::select! {
            _ = stop.changed() => return,
            _ = shared.wake[peer].notified() => {}
            _ = tokio::time::sleep(wait) => {}
        }
        let now = Timestamp::now();
        let (generation, body, sent_resolved) = {
            let mut mirror = shared.mirror.lock().unwrap_or_else(|p| p.into_inner());
            // A resolution older than 4 × resend_every has expired at the peer anyway.
            let horizon = now.checked_sub(resend.saturating_mul(4)).unwrap_or(now);
            let sent: Vec<(AlertKey, Option<Timestamp>)> = match mirror.resolved.get_mut(&url) {
                Some(pending) => {
                    pending.retain(|_, a| a.resolved_at.is_none_or(|r| r > horizon));
                    pending
                        .iter()
                        .map(|(k, a)| (k.clone(), a.resolved_at))
                        .collect()
                }
                None => Vec::new(),
            };
            (
                mirror.generation,
                alerts_body(&mirror, &url, now, resend),
                sent,
            )
        };
        let empty = body.as_array().is_none_or(Vec::is_empty);
        let result = if empty {
            Ok(())
        } else {
            post_alerts(&shared, &url, &body).await
        };
        let failed = result.as_ref().err().cloned();
        match &result {
            Ok(()) => {
                if failures > 0 {
                    info!(channel = %shared.name, peer, "Alertmanager peer reachable again");
                }
                failures = 0;
                wait = resend;
                // The resolutions it was sent are taken (unless a newer one replaced
                // them meanwhile): done for this peer.
                let mut mirror = shared.mirror.lock().unwrap_or_else(|p| p.into_inner());
                if let Some(pending) = mirror.resolved.get_mut(&url) {
                    pending.retain(|k, a| !sent_resolved.contains(&(k.clone(), a.resolved_at)));
                }
            }
            Err(e) => {
                failures += 1;
                warn!(channel = %shared.name, peer, error = %e, attempt = failures, "Alertmanager peer did not take the alerts; the next post carries them");
                wait = Duration::from_secs(1)
                    .saturating_mul(1 << failures.min(16))
                    .min(resend);
            }
        }
        shared.attempts.lock().unwrap_or_else(|p| p.into_inner())[peer] =
            Some((generation, failed));
        shared.attempted.notify_waiters();
    }
}

/// One `POST {url}/api/v2/alerts`; 200 is success.
async fn post_alerts(shared: &Shared, url: &str, body: &Value) -> Result<(), String> {
    let mut request = shared
        .client
        .post(format!("{url}/api/v2/alerts"))
        .header(CONTENT_TYPE, "application/json")
        .body(body.to_string());
    let mut secrets: Vec<&str> = Vec::new();
    match &shared.config.auth {
        Some(Auth::Basic { user, password }) => {
            request = request.basic_auth(user, Some(password.expose()));
            secrets.push(password.expose());
        }
        Some(Auth::Bearer(token)) => {
            request = request.bearer_auth(token.expose());
            secrets.push(token.expose());
        }
        None => {}
    }
    let peer = format!("Alertmanager {url}");
    let answer = post::send(request, &peer, &secrets)
        .await
        .map_err(|e| e.to_string())?;
    if answer.status.is_success() {
        Ok(())
    } else {
        Err(answer.reason(&peer, &secrets))
    }
}

#[cfg(test)]
mod tests;
