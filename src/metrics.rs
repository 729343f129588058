//! Prometheus metrics and the small HTTP server behind `[daemon] listen`: `GET /metrics`
//! (Prometheus text format 0.0.4) and `GET /healthz` (liveness from [`crate::health`]);
//! plus [`probe`], the client side used by `balance-alert health`.
//!
//! Series (SPEC §8), all with HELP text:
//! `balance_alert_balance{account,provider,currency}`,
//! `balance_alert_level{account,provider}`,
//! `balance_alert_last_success_timestamp_seconds{account,provider}`,
//! `balance_alert_poll_errors_total{account,provider,class}` (every per-account series
//! carries the account's `provider`, SPEC §10),
//! `balance_alert_notifications_total{channel,result}`, `balance_alert_outbox_pending`,
//! `balance_alert_config_reload_success`; and (SPEC §9.3)
//! `balance_alert_burn_rate_per_day{account,provider,currency}` and
//! `balance_alert_runway_seconds{account,provider}`, absent while unknown, `+Inf` when
//! infinite (with the `provider` label every per-account series has).
//!
//! The server is deliberately tiny (hyper's http1 connection driver, no router): two
//! read-only endpoints on what is normally a loopback address.

use std::collections::HashMap;
use std::convert::Infallible;
use std::future::Future;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::atomic::AtomicU64;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use http_body_util::Full;
use hyper::body::{Bytes, Incoming};
use hyper::header::{CACHE_CONTROL, CONTENT_TYPE};
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::{TokioIo, TokioTimer};
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;
use tokio::net::{TcpListener, TcpStream};

use crate::core::{ErrorClass, Level};
use crate::health::Heartbeats;

/// What `/metrics` answers with. Prometheus' classic text format rather than the
/// OpenMetrics one `prometheus-client` defaults to: `promtool check metrics` and every
/// scraper accept it, and it needs no `# EOF` or content negotiation.
pub const CONTENT_TYPE_TEXT: &str = prometheus_client::encoding::prometheus_text::CONTENT_TYPE;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct AccountLabels {
    account: String,
    provider: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct BalanceLabels {
    account: String,
    provider: String,
    currency: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct PollErrorLabels {
    account: String,
    provider: String,
    class: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct NotificationLabels {
    channel: String,
    result: String,
}

type FloatGauge = Gauge<f64, AtomicU64>;

/// Every series the daemon exports. Cheap to update from any task (atomics behind a
/// read-mostly lock per family); shared as `Arc`.
#[derive(Debug)]
pub struct Metrics {
    registry: Registry,
    balance: Family<BalanceLabels, FloatGauge>,
    level: Family<AccountLabels, Gauge>,
    last_success: Family<AccountLabels, FloatGauge>,
    poll_errors: Family<PollErrorLabels, Counter>,
    notifications: Family<NotificationLabels, Counter>,
    outbox_pending: Gauge,
    outbox_held: Gauge,
    reload_success: Gauge,
    state_write_errors: Counter,
    burn_rate: Family<BalanceLabels, FloatGauge>,
    runway: Family<AccountLabels, FloatGauge>,
    state_writable: Gauge,
    heartbeat_failures: Counter,
    /// The provider and currency each account's series carry, so a changed provider or
    /// currency (or a forgotten account) removes the old series instead of leaving a
    /// stale one behind.
    known: Mutex<HashMap<String, Known>>,
}

/// The labels an account's series were last written with.
#[derive(Debug, Default)]
struct Known {
    provider: String,
    currency: Option<String>,
}

impl Metrics {
    pub fn new() -> Arc<Self> {
        let mut registry = Registry::default();
        let balance = Family::<BalanceLabels, FloatGauge>::default();
        let level = Family::<AccountLabels, Gauge>::default();
        let last_success = Family::<AccountLabels, FloatGauge>::default();
        let poll_errors = Family::<PollErrorLabels, Counter>::default();
        let notifications = Family::<NotificationLabels, Counter>::default();
        let outbox_pending = Gauge::default();
        let outbox_held = Gauge::default();
        let reload_success = Gauge::default();
        let state_write_errors = Counter::default();
        let burn_rate = Family::<BalanceLabels, FloatGauge>::default();
        let runway = Family::<AccountLabels, FloatGauge>::default();
        let state_writable = Gauge::default();
        let heartbeat_failures = Counter::default();
        // prometheus-client appends "." to each help text and "_total" to counter names.
        registry.register(
            "balance_alert_balance",
            "Last balance reported by the provider's balance API, in the account's currency",
            balance.clone(),
        );
        registry.register(
            "balance_alert_level",
            "Current alert level per account: 0 ok, 1 warning, 2 critical",
            level.clone(),
        );
        registry.register(
            "balance_alert_last_success_timestamp_seconds",
            "Unix time of the last successful balance poll per account",
            last_success.clone(),
        );
        registry.register(
            "balance_alert_poll_errors",
            "Failed balance polls by account and error class (config, throttled, transient)",
            poll_errors.clone(),
        );
        registry.register(
            "balance_alert_notifications",
            "Notification delivery attempts by channel and result \
             (delivered, retried, failed, gave_up, dropped)",
            notifications.clone(),
        );
        registry.register(
            "balance_alert_outbox_pending",
            "Notifications persisted in the outbox and not yet delivered",
            outbox_pending.clone(),
        );
        // SPEC §12: of those, the ones waiting out a channel's quiet hours.
        registry.register(
            "balance_alert_outbox_held",
            "Notifications in the outbox held until a channel's quiet hours end",
            outbox_held.clone(),
        );
        registry.register(
            "balance_alert_config_reload_success",
            "Whether the last configuration load or reload succeeded (1) or failed (0)",
            reload_success.clone(),
        );
        // Beyond SPEC §8's list: a full disk would otherwise show only in the log.
        registry.register(
            "balance_alert_state_write_errors",
            "Failed writes of the state file (levels, outbox); messages are still sent",
            state_write_errors.clone(),
        );
        registry.register(
            "balance_alert_burn_rate_per_day",
            "Spend per day over the account's runway window (absent until known)",
            burn_rate.clone(),
        );
        registry.register(
            "balance_alert_runway_seconds",
            "Seconds until the balance reaches the runway floor at the current burn rate \
             (absent until known, +Inf when nothing is spent)",
            runway.clone(),
        );
        registry.register(
            "balance_alert_state_writable",
            "Whether the state database is being written (1) or the daemon runs from memory (0)",
            state_writable.clone(),
        );
        state_writable.set(1);
        registry.register(
            "balance_alert_heartbeat_failures",
            "Heartbeat pings (SPEC 11.2) that did not reach the dead man's switch",
            heartbeat_failures.clone(),
        );
        // The config that started the daemon was valid, or it would not be running.
        reload_success.set(1);
        Arc::new(Metrics {
            registry,
            balance,
            level,
            last_success,
            poll_errors,
            notifications,
            outbox_pending,
            outbox_held,
            reload_success,
            state_write_errors,
            burn_rate,
            runway,
            state_writable,
            heartbeat_failures,
            known: Mutex::new(HashMap::new()),
        })
    }

    pub fn inc_heartbeat_failure(&self) {
        self.heartbeat_failures.inc();
    }

    pub fn set_balance(&self, account: &str, provider: &str, currency: &str, value: f64) {
        let previous = {
            let mut known = self.note(account, provider);
            let entry = known.get_mut(account).expect("noted");
            entry.currency.replace(currency.to_owned())
        };
        if let Some(previous) = previous.filter(|p| p != currency) {
            let old = BalanceLabels {
                account: account.to_owned(),
                provider: provider.to_owned(),
                currency: previous,
            };
            self.balance.remove(&old);
            self.burn_rate.remove(&old);
        }
        self.balance
            .get_or_create(&BalanceLabels {
                account: account.to_owned(),
                provider: provider.to_owned(),
                currency: currency.to_owned(),
            })
            .set(value);
    }

    /// The runway series of an account: removed while the estimate is unknown.
    pub fn set_runway(
        &self,
        account: &str,
        provider: &str,
        currency: &str,
        estimate: &crate::core::Estimate,
    ) {
        use crate::core::Runway;
        use rust_decimal::prelude::ToPrimitive;
        // The burn series follows the balance series' provider and currency (set just
        // before, which removed any series of an old provider or currency).
        let labels = BalanceLabels {
            account: account.to_owned(),
            provider: provider.to_owned(),
            currency: currency.to_owned(),
        };
        match estimate.burn_per_day.and_then(|b| b.to_f64()) {
            Some(b) => {
                self.burn_rate.get_or_create(&labels).set(b);
            }
            None => {
                self.burn_rate.remove(&labels);
            }
        }
        let value = match estimate.runway {
            Runway::Unknown => None,
            Runway::Infinite => Some(f64::INFINITY),
            Runway::Seconds(s) => Some(s as f64),
        };
        match value {
            Some(v) => {
                self.runway
                    .get_or_create(&account_labels(account, provider))
                    .set(v);
            }
            None => {
                self.runway.remove(&account_labels(account, provider));
            }
        }
    }

    pub fn set_level(&self, account: &str, provider: &str, level: Level) {
        let value = match level {
            Level::Ok => 0,
            Level::Warning => 1,
            Level::Critical => 2,
        };
        drop(self.note(account, provider));
        self.level
            .get_or_create(&account_labels(account, provider))
            .set(value);
    }

    pub fn set_last_success(&self, account: &str, provider: &str, at: jiff::Timestamp) {
        // Millisecond precision is plenty and keeps the f64 exact.
        let seconds = at.as_millisecond() as f64 / 1000.0;
        drop(self.note(account, provider));
        self.last_success
            .get_or_create(&account_labels(account, provider))
            .set(seconds);
    }

    /// Starts an account's error counters at 0 for every class, so the series exist
    /// (with their HELP) before the first error and `rate()`/`increase()` see it.
    pub fn register_account(&self, account: &str, provider: &str) {
        drop(self.note(account, provider));
        for class in [
            ErrorClass::Config,
            ErrorClass::Throttled,
            ErrorClass::Transient,
        ] {
            let _ = self.poll_errors.get_or_create(&PollErrorLabels {
                account: account.to_owned(),
                provider: provider.to_owned(),
                class: class.as_str().to_owned(),
            });
        }
    }

    /// Starts a channel's notification counters at 0 for every result.
    pub fn register_channel(&self, channel: &str) {
        for result in ["delivered", "retried", "failed", "gave_up", "dropped"] {
            let _ = self.notifications.get_or_create(&NotificationLabels {
                channel: channel.to_owned(),
                result: result.to_owned(),
            });
        }
    }

    pub fn inc_poll_error(&self, account: &str, provider: &str, class: ErrorClass) {
        drop(self.note(account, provider));
        self.poll_errors
            .get_or_create(&PollErrorLabels {
                account: account.to_owned(),
                provider: provider.to_owned(),
                class: class.as_str().to_owned(),
            })
            .inc();
    }

    /// `result`: `delivered`, `retried`, `failed` (permanent refusal), `gave_up`
    /// (`give_up_after` passed) or `dropped` (superseded reminder, removed channel).
    pub fn inc_notification(&self, channel: &str, result: &str) {
        self.notifications
            .get_or_create(&NotificationLabels {
                channel: channel.to_owned(),
                result: result.to_owned(),
            })
            .inc();
    }

    pub fn set_outbox_pending(&self, n: usize) {
        self.outbox_pending
            .set(i64::try_from(n).unwrap_or(i64::MAX));
    }

    pub fn set_outbox_held(&self, n: usize) {
        self.outbox_held.set(i64::try_from(n).unwrap_or(i64::MAX));
    }

    pub fn inc_state_write_error(&self) {
        self.state_write_errors.inc();
    }

    pub fn set_state_writable(&self, ok: bool) {
        self.state_writable.set(i64::from(ok));
    }

    pub fn set_reload_success(&self, ok: bool) {
        self.reload_success.set(i64::from(ok));
    }

    /// Drops every series of an account removed by a reload, so dashboards do not show a
    /// frozen balance for an account nobody watches any more.
    pub fn forget_account(&self, account: &str) {
        let known = self.lock_known().remove(account);
        if let Some(known) = known {
            self.remove_series(account, known);
        }
    }

    /// Records the provider `account`'s series are written with; when a reload moved the
    /// account to another provider, its old series go first. Returns the map, locked.
    fn note(&self, account: &str, provider: &str) -> MutexGuard<'_, HashMap<String, Known>> {
        let mut known = self.lock_known();
        let entry = known.entry(account.to_owned()).or_insert_with(|| Known {
            provider: provider.to_owned(),
            currency: None,
        });
        if entry.provider != provider {
            let old = std::mem::replace(
                entry,
                Known {
                    provider: provider.to_owned(),
                    currency: None,
                },
            );
            self.remove_series(account, old);
        }
        known
    }

    fn remove_series(&self, account: &str, known: Known) {
        let provider = known.provider;
        if let Some(currency) = known.currency {
            let labels = BalanceLabels {
                account: account.to_owned(),
                provider: provider.clone(),
                currency,
            };
            self.balance.remove(&labels);
            self.burn_rate.remove(&labels);
        }
        self.level.remove(&account_labels(account, &provider));
        self.runway.remove(&account_labels(account, &provider));
        self.last_success
            .remove(&account_labels(account, &provider));
        for class in [
            ErrorClass::Config,
            ErrorClass::Throttled,
            ErrorClass::Transient,
        ] {
            self.poll_errors.remove(&PollErrorLabels {
                account: account.to_owned(),
                provider: provider.clone(),
                class: class.as_str().to_owned(),
            });
        }
    }

    /// The Prometheus text exposition (format 0.0.4) of every series.
    pub fn encode(&self) -> String {
        let mut out = String::new();
        // Writing to a String cannot fail; an Err could only come from a label encoder,
        // and ours are plain strings.
        if let Err(e) =
            prometheus_client::encoding::prometheus_text::encode(&mut out, &self.registry)
        {
            tracing::error!(error = %e, "could not encode metrics");
        }
        out
    }

    fn lock_known(&self) -> MutexGuard<'_, HashMap<String, Known>> {
        // Each critical section is a few map calls, so a poisoned map is still usable.
        self.known.lock().unwrap_or_else(|e| e.into_inner())
    }
}

fn account_labels(account: &str, provider: &str) -> AccountLabels {
    AccountLabels {
        account: account.to_owned(),
        provider: provider.to_owned(),
    }
}

/// How long a client may take to send its request headers (slow clients must not pin
/// connections).
const HEADER_READ_TIMEOUT: Duration = Duration::from_secs(10);
/// How long open connections get to finish once shutdown starts.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(2);

/// Serves `/metrics` and `/healthz` on `listener` until `shutdown` completes, then lets
/// open connections finish for a moment and returns. Accept errors (e.g. out of file
/// descriptors) are logged and retried after a pause instead of ending the server.
pub async fn serve(
    listener: TcpListener,
    metrics: Arc<Metrics>,
    heartbeats: Arc<Heartbeats>,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let mut connections = tokio::task::JoinSet::new();
    tokio::pin!(shutdown);
    loop {
        tokio::select! {
            () = &mut shutdown => break,
            Some(_) = connections.join_next(), if !connections.is_empty() => {}
            accepted = listener.accept() => match accepted {
                Ok((stream, _peer)) => {
                    connections.spawn(connection(
                        stream,
                        Arc::clone(&metrics),
                        Arc::clone(&heartbeats),
                        stop_rx.clone(),
                    ));
                }
                Err(e) => {
                    tracing::warn!(error = %e, "metrics server: accept failed");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
            },
        }
    }
    drop(listener);
    let _ = stop_tx.send(true);
    let drain = async { while connections.join_next().await.is_some() {} };
    if tokio::time::timeout(SHUTDOWN_GRACE, drain).await.is_err() {
        connections.abort_all();
    }
    Ok(())
}

async fn connection(
    stream: TcpStream,
    metrics: Arc<Metrics>,
    heartbeats: Arc<Heartbeats>,
    mut stop: tokio::sync::watch::Receiver<bool>,
) {
    let service = hyper::service::service_fn(move |req: Request<Incoming>| {
        let response = respond(&req, &metrics, &heartbeats);
        async move { Ok::<_, Infallible>(response) }
    });
    let mut builder = hyper::server::conn::http1::Builder::new();
    builder
        .timer(TokioTimer::new())
        .header_read_timeout(HEADER_READ_TIMEOUT);
    let conn = builder.serve_connection(TokioIo::new(stream), service);
    tokio::pin!(conn);
    tokio::select! {
        result = conn.as_mut() => {
            if let Err(e) = result {
                tracing::debug!(error = %e, "metrics server: connection error");
            }
            return;
        }
        _ = stop.wait_for(|stopped| *stopped) => {}
    }
    // Shutting down: finish the request in flight, then close.
    conn.as_mut().graceful_shutdown();
    let _ = conn.await;
}

fn respond(
    req: &Request<Incoming>,
    metrics: &Metrics,
    heartbeats: &Heartbeats,
) -> Response<Full<Bytes>> {
    let get = matches!(*req.method(), Method::GET | Method::HEAD);
    match (get, req.uri().path()) {
        (true, "/metrics") => reply(StatusCode::OK, CONTENT_TYPE_TEXT, metrics.encode()),
        (true, "/healthz") => {
            let stuck = heartbeats.stuck();
            if stuck.is_empty() {
                reply(StatusCode::OK, "text/plain; charset=utf-8", "ok\n".into())
            } else {
                reply(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "text/plain; charset=utf-8",
                    format!("stuck: {}\n", stuck.join(", ")),
                )
            }
        }
        (false, "/metrics" | "/healthz") => {
            let mut response = reply(
                StatusCode::METHOD_NOT_ALLOWED,
                "text/plain; charset=utf-8",
                "method not allowed\n".into(),
            );
            response.headers_mut().insert(
                hyper::header::ALLOW,
                "GET, HEAD".parse().expect("static header"),
            );
            response
        }
        _ => reply(
            StatusCode::NOT_FOUND,
            "text/plain; charset=utf-8",
            "not found: try /metrics or /healthz\n".into(),
        ),
    }
}

fn reply(status: StatusCode, content_type: &'static str, body: String) -> Response<Full<Bytes>> {
    let mut response = Response::new(Full::new(Bytes::from(body)));
    *response.status_mut() = status;
    let headers = response.headers_mut();
    headers.insert(CONTENT_TYPE, content_type.parse().expect("static header"));
    headers.insert(CACHE_CONTROL, "no-store".parse().expect("static header"));
    response
}

/// `balance-alert health`: asks the daemon listening on `addr` for `/healthz`. `Ok` on
/// 200; otherwise an error saying what happened (refused, timed out, or the status and
/// body, which names the stuck tasks). A wildcard `listen` (0.0.0.0, ::) is probed on
/// loopback, which is where a health check inside the container or host can reach it.
pub async fn probe(addr: SocketAddr, timeout: Duration) -> Result<(), String> {
    let addr = probe_target(addr);
    match tokio::time::timeout(timeout, probe_inner(addr)).await {
        Ok(result) => result,
        Err(_) => Err(format!(
            "http://{addr}/healthz: no answer within {timeout:?}"
        )),
    }
}

pub fn probe_target(addr: SocketAddr) -> SocketAddr {
    let ip = match addr.ip() {
        IpAddr::V4(ip) if ip.is_unspecified() => IpAddr::V4(Ipv4Addr::LOCALHOST),
        IpAddr::V6(ip) if ip.is_unspecified() => IpAddr::V6(Ipv6Addr::LOCALHOST),
        ip => ip,
    };
    SocketAddr::new(ip, addr.port())
}

/// One `GET /healthz`; anything but 200 is unhealthy, with the status and the body
/// (which names the stuck tasks) in the error.
async fn probe_inner(addr: SocketAddr) -> Result<(), String> {
    let url = format!("http://{addr}/healthz");
    let client = crate::http::local_client()?;
    let response = client
        .get(&url)
        .send()
        .await
        .map_err(|e| format!("{url}: {}", crate::http::describe(&e)))?;
    let status = response.status().as_u16();
    if status == 200 {
        return Ok(());
    }
    // /healthz answers are tiny; cap what we read in case something else listens there.
    let body = crate::http::read_limited(response, 64 * 1024)
        .await
        .unwrap_or_default();
    Err(format!(
        "{url}: HTTP {status}: {}",
        String::from_utf8_lossy(&body).trim()
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn start() -> (
        SocketAddr,
        Arc<Metrics>,
        Arc<Heartbeats>,
        tokio::sync::oneshot::Sender<()>,
        tokio::task::JoinHandle<std::io::Result<()>>,
    ) {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let metrics = Metrics::new();
        let heartbeats = Heartbeats::new();
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        let server = tokio::spawn(serve(
            listener,
            Arc::clone(&metrics),
            Arc::clone(&heartbeats),
            async move {
                let _ = rx.await;
            },
        ));
        (addr, metrics, heartbeats, tx, server)
    }

    /// A client that ignores HTTP(S)_PROXY: these requests must reach our loopback server.
    fn client() -> reqwest::Client {
        reqwest::Client::builder().no_proxy().build().unwrap()
    }

    async fn get(addr: SocketAddr, path: &str) -> (u16, String, String) {
        let response = client()
            .get(format!("http://{addr}{path}"))
            .send()
            .await
            .unwrap();
        let status = response.status().as_u16();
        let content_type = response
            .headers()
            .get("content-type")
            .map(|v| v.to_str().unwrap().to_owned())
            .unwrap_or_default();
        (status, content_type, response.text().await.unwrap())
    }

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

    #[tokio::test]
    async fn metrics_endpoint_serves_every_series_in_prometheus_text() {
        let (addr, metrics, _hb, stop, server) = start().await;
        fill(&metrics);
        let (status, content_type, body) = get(addr, "/metrics").await;
        assert_eq!(status, 200);
        assert!(
            content_type.starts_with("text/plain; version=0.0.4"),
            "{content_type}"
        );
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
            r#"balance_alert_poll_errors_total{account="primary",provider="exotel",class="throttled"} 2"#
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

        stop.send(()).unwrap();
        server.await.unwrap().unwrap();
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

    #[tokio::test]
    async fn healthz_turns_503_when_a_deadline_lapses_and_probe_follows() {
        let (addr, _metrics, heartbeats, stop, server) = start().await;
        let task = heartbeats.register("account primary");
        // Generous while we expect health (a loaded CI machine may be slow to answer)...
        task.expect_back_within(Duration::from_secs(60));

        assert_eq!(get(addr, "/healthz").await.0, 200);
        assert_eq!(get(addr, "/healthz").await.2, "ok\n");
        probe(addr, Duration::from_secs(5)).await.unwrap();

        // ...then a deadline that has certainly lapsed by the next request.
        task.expect_back_within(Duration::ZERO);
        tokio::time::sleep(Duration::from_millis(5)).await;
        let (status, _, body) = get(addr, "/healthz").await;
        assert_eq!(status, 503);
        assert_eq!(body, "stuck: account primary\n");
        let err = probe(addr, Duration::from_secs(5)).await.unwrap_err();
        assert!(
            err.contains("503") && err.contains("account primary"),
            "{err}"
        );

        // Back on time: healthy again.
        task.expect_back_within(Duration::from_secs(60));
        probe(addr, Duration::from_secs(5)).await.unwrap();

        stop.send(()).unwrap();
        server.await.unwrap().unwrap();
    }

    #[tokio::test]
    async fn unknown_paths_404_and_wrong_methods_405() {
        let (addr, _metrics, _hb, stop, server) = start().await;
        assert_eq!(get(addr, "/").await.0, 404);
        assert_eq!(get(addr, "/metrics/extra").await.0, 404);
        let response = client()
            .post(format!("http://{addr}/metrics"))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status().as_u16(), 405);
        stop.send(()).unwrap();
        server.await.unwrap().unwrap();
    }

    #[tokio::test]
    async fn probe_fails_when_nothing_listens_and_on_wildcard_uses_loopback() {
        // Bind then drop to get a port that is (very likely) closed.
        let closed = TcpListener::bind("127.0.0.1:0")
            .await
            .unwrap()
            .local_addr()
            .unwrap();
        let err = probe(closed, Duration::from_secs(5)).await.unwrap_err();
        assert!(err.contains(&closed.to_string()), "{err}");

        let (addr, _metrics, _hb, stop, server) = start().await;
        let wildcard = SocketAddr::new(IpAddr::V4(Ipv4Addr::UNSPECIFIED), addr.port());
        probe(wildcard, Duration::from_secs(5)).await.unwrap();
        assert_eq!(
            probe_target("[::]:9184".parse().unwrap()),
            "[::1]:9184".parse::<SocketAddr>().unwrap()
        );
        stop.send(()).unwrap();
        server.await.unwrap().unwrap();
    }

    #[tokio::test]
    async fn probe_times_out_on_a_silent_peer() {
        // Accepts (via the backlog) but never answers.
        let silent = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let err = probe(silent.local_addr().unwrap(), Duration::from_millis(100))
            .await
            .unwrap_err();
        assert!(err.contains("no answer"), "{err}");
    }

    #[tokio::test]
    async fn shutdown_returns_promptly_with_an_idle_keepalive_connection_open() {
        let (addr, _metrics, _hb, stop, server) = start().await;
        // reqwest keeps the connection alive in its pool after this request.
        let client = client();
        let response = client
            .get(format!("http://{addr}/healthz"))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status().as_u16(), 200);
        let asked = std::time::Instant::now();
        stop.send(()).unwrap();
        tokio::time::timeout(Duration::from_secs(5), server)
            .await
            .expect("serve did not stop")
            .unwrap()
            .unwrap();
        // Idle connections close at once rather than waiting out SHUTDOWN_GRACE.
        assert!(asked.elapsed() < SHUTDOWN_GRACE, "{:?}", asked.elapsed());
        drop(client);
    }
}
