//! Builds configs in code, runs the real daemon task against wiremock peers, and
//! controls its wall clock.

use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicI64, AtomicUsize, Ordering};
use std::time::Duration;

use balance_alert::Clock;
use balance_alert::config::{DaemonConfig, LogFormat, Secret};
use balance_alert::core::{Level, Threshold, Thresholds};
use balance_alert::daemon::{self, Options, Ready, RunError};
use balance_alert::notify::ChannelKind;
use balance_alert::notify::slack::SlackConfig;
use balance_alert::notify::webhook::WebhookConfig;
use balance_alert::provider::AccountConfig;
use balance_alert::provider::ProviderConfig;
use balance_alert::provider::exotel::ExotelConfig;
use balance_alert::settings::{ChannelConfig, Config};
use tokio::sync::{mpsc, oneshot};
use wiremock::{Mock, MockServer, Request, Respond, ResponseTemplate, matchers};

pub const KEY: &str = "test-key-AKIA";
pub const TOKEN: &str = "test-token-s3cr3t";
pub const SID: &str = "acme";

pub fn d(s: &str) -> rust_decimal::Decimal {
    s.parse().unwrap()
}

/// The SPEC §3 worked-example thresholds.
pub fn worked_thresholds() -> Thresholds {
    Thresholds {
        warning: Some(Threshold {
            below: d("5000"),
            clear_above: d("6000"),
        }),
        critical: Some(Threshold {
            below: d("1000"),
            clear_above: d("1500"),
        }),
    }
}

pub fn account(name: &str, base_url: &str, notify: &[&str]) -> AccountConfig {
    AccountConfig {
        labels: Default::default(),
        name: name.into(),
        provider: ProviderConfig::Exotel(ExotelConfig {
            sid: SID.into(),
            api_key: Secret::new(KEY),
            api_token: Secret::new(TOKEN),
            base_url: base_url.trim_end_matches('/').into(),
            currency: None,
        }),
        poll_interval: Duration::from_millis(100),
        repeat_every: None,
        blind_after: Duration::from_secs(900),
        timeout: Duration::from_secs(2),
        ca_file: None,
        notify: notify.iter().map(|s| s.to_string()).collect(),
        thresholds: worked_thresholds(),
        runway: Default::default(),
        topup_min: rust_decimal::Decimal::ONE,
        escalate: Vec::new(),
    }
}

pub fn webhook(name: &str, url: &str, min_level: Level) -> ChannelConfig {
    ChannelConfig {
        name: name.into(),
        min_level,
        events: None,
        kind: ChannelKind::Webhook(WebhookConfig {
            url: Secret::new(url),
            headers: vec![("x-test".into(), Secret::new("yes"))],
        }),
        quiet_hours: Default::default(),
    }
}

pub fn slack(name: &str, url: &str) -> ChannelConfig {
    ChannelConfig {
        name: name.into(),
        min_level: Level::Warning,
        events: None,
        kind: ChannelKind::Slack(SlackConfig {
            webhook_url: Secret::new(url),
        }),
        quiet_hours: Default::default(),
    }
}

pub fn config(
    state_dir: &Path,
    accounts: Vec<AccountConfig>,
    channels: Vec<ChannelConfig>,
) -> Config {
    Config {
        path: state_dir.join("config.toml"),
        daemon: DaemonConfig {
            state_file: state_dir.join("state.db"),
            listen: None,
            log_format: LogFormat::Text,
            give_up_after: Duration::from_secs(3600),
            timezone: None,
            shutdown_grace: Duration::from_secs(2),
            summary_at: None,
            instance: None,
            shard: None,
            heartbeat: None,
            web: Default::default(),
        },
        accounts: accounts.into_iter().map(Arc::new).collect(),
        channels: channels.into_iter().map(Arc::new).collect(),
        warnings: Vec::new(),
        account_order: Vec::new(),
    }
    .with_index()
}

/// A wall clock the test moves by hand.
#[derive(Debug, Default)]
pub struct ManualClock {
    offset_ms: AtomicI64,
}

impl ManualClock {
    pub fn advance(&self, by: Duration) {
        self.offset_ms
            .fetch_add(by.as_millis() as i64, Ordering::SeqCst);
    }
}

impl Clock for ManualClock {
    fn now(&self) -> jiff::Timestamp {
        let ms = self.offset_ms.load(Ordering::SeqCst);
        jiff::Timestamp::now()
            .checked_add(jiff::SignedDuration::from_millis(ms))
            .unwrap()
    }
}

/// A running daemon task.
pub struct Running {
    pub ready: Ready,
    pub reload: mpsc::UnboundedSender<()>,
    stop: Option<oneshot::Sender<()>>,
    task: tokio::task::JoinHandle<Result<(), RunError>>,
}

impl Running {
    pub async fn stop(mut self) -> Result<(), RunError> {
        let _ = self.stop.take().unwrap().send(());
        tokio::time::timeout(Duration::from_secs(20), self.task)
            .await
            .expect("daemon stops in time")
            .expect("daemon task does not panic")
    }
}

pub async fn start(config: Config, clock: Arc<dyn Clock>) -> Running {
    let (ready_tx, ready_rx) = oneshot::channel();
    let (stop_tx, stop_rx) = oneshot::channel::<()>();
    let (reload_tx, reload_rx) = mpsc::unbounded_channel();
    let options = Options {
        clock,
        reload: Some(reload_rx),
        on_ready: Some(ready_tx),
        prefetch: None,
    };
    let task = tokio::spawn(daemon::run(config, options, async move {
        let _ = stop_rx.await;
    }));
    let ready = tokio::time::timeout(Duration::from_secs(10), ready_rx)
        .await
        .expect("daemon becomes ready")
        .expect("daemon started");
    Running {
        ready,
        reload: reload_tx,
        stop: Some(stop_tx),
        task,
    }
}

/// Serves balances from a script, one per request; the last one repeats.
pub struct Script {
    steps: Vec<ResponseTemplate>,
    next: AtomicUsize,
}

impl Script {
    pub fn balances(amounts: &[&str]) -> Self {
        Script::new(amounts.iter().map(|a| balance_response(a)).collect())
    }
    pub fn new(steps: Vec<ResponseTemplate>) -> Self {
        Script {
            steps,
            next: AtomicUsize::new(0),
        }
    }
}

impl Respond for Script {
    fn respond(&self, _request: &Request) -> ResponseTemplate {
        let i = self.next.fetch_add(1, Ordering::SeqCst);
        self.steps[i.min(self.steps.len() - 1)].clone()
    }
}

pub fn balance_response(amount: &str) -> ResponseTemplate {
    ResponseTemplate::new(200).set_body_raw(
        format!(
            r#"{{"Account":{{"AccountSid":"{SID}","BalanceData":{{"Balance":"{amount}","Currency":"INR","PricingPlan":"Pay As You Go","DateUpdated":"2026-04-24 10:32:18"}}}}}}"#
        ),
        "application/json",
    )
}

pub fn unauthorized() -> ResponseTemplate {
    ResponseTemplate::new(401).set_body_raw(
        r#"{"RestException":{"Status":401,"Message":"Authentication failed","Code":20003}}"#,
        "application/json",
    )
}

/// An Exotel stand-in answering the Balance path (with the test credentials only).
pub async fn exotel_responding(responder: impl Respond + 'static) -> MockServer {
    let server = MockServer::start().await;
    Mock::given(matchers::method("GET"))
        .and(matchers::path(format!("/v1/Accounts/{SID}/Balance.json")))
        .and(matchers::basic_auth(KEY, TOKEN))
        .respond_with(responder)
        .mount(&server)
        .await;
    server
}

/// An Exotel stand-in answering from `script`.
pub async fn exotel(script: Script) -> MockServer {
    exotel_responding(script).await
}

/// A receiver that accepts every POST to `/hook` with `status`.
pub async fn receiver(status: u16) -> MockServer {
    let server = MockServer::start().await;
    Mock::given(matchers::method("POST"))
        .and(matchers::path("/hook"))
        .respond_with(ResponseTemplate::new(status))
        .mount(&server)
        .await;
    server
}

/// Bodies of the POSTs the server answered with 2xx... or all POSTs when `all`.
pub async fn posted(server: &MockServer) -> Vec<serde_json::Value> {
    server
        .received_requests()
        .await
        .unwrap_or_default()
        .iter()
        .filter(|r| r.method.as_str() == "POST")
        .map(|r| serde_json::from_slice(&r.body).expect("JSON body"))
        .collect()
}

/// Waits until `cond` holds on the posted bodies, or fails after `secs`.
pub async fn wait_for<F>(
    server: &MockServer,
    secs: u64,
    what: &str,
    cond: F,
) -> Vec<serde_json::Value>
where
    F: Fn(&[serde_json::Value]) -> bool,
{
    let deadline = tokio::time::Instant::now() + Duration::from_secs(secs);
    loop {
        let bodies = posted(server).await;
        if cond(&bodies) {
            return bodies;
        }
        if tokio::time::Instant::now() > deadline {
            panic!("timed out waiting for {what}; got {bodies:#?}");
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
}

/// `(event, level)` pairs of webhook bodies, in order.
pub fn kinds(bodies: &[serde_json::Value]) -> Vec<(String, String)> {
    bodies
        .iter()
        .map(|b| {
            (
                b["event"].as_str().unwrap().to_string(),
                b["level"].as_str().unwrap().to_string(),
            )
        })
        .collect()
}

/// How many requests the Exotel stand-in has seen.
pub async fn polls(server: &MockServer) -> usize {
    server.received_requests().await.unwrap_or_default().len()
}

/// Waits until the Exotel stand-in has served at least `n` requests.
pub async fn wait_polls(server: &MockServer, n: usize, secs: u64) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(secs);
    while polls(server).await < n {
        assert!(
            tokio::time::Instant::now() < deadline,
            "fewer than {n} polls in {secs}s"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// A response the test can change while the server runs.
#[derive(Clone)]
pub struct Switch(Arc<std::sync::Mutex<ResponseTemplate>>);

impl Switch {
    pub fn new(initial: ResponseTemplate) -> Self {
        Switch(Arc::new(std::sync::Mutex::new(initial)))
    }
    pub fn set(&self, response: ResponseTemplate) {
        *self.0.lock().unwrap() = response;
    }
}

impl Respond for Switch {
    fn respond(&self, _request: &Request) -> ResponseTemplate {
        self.0.lock().unwrap().clone()
    }
}

/// An Exotel stand-in whose answer the test switches.
pub async fn exotel_switch(initial: ResponseTemplate) -> (MockServer, Switch) {
    let switch = Switch::new(initial);
    (exotel_responding(switch.clone()).await, switch)
}

/// A receiver for POSTs to `/hook` whose status the test switches.
pub async fn receiver_switch(initial: u16) -> (MockServer, Switch) {
    let switch = Switch::new(ResponseTemplate::new(initial));
    let server = MockServer::start().await;
    Mock::given(matchers::method("POST"))
        .and(matchers::path("/hook"))
        .respond_with(switch.clone())
        .mount(&server)
        .await;
    (server, switch)
}

/// Waits until the daemon's outbox satisfies `cond`.
pub async fn wait_outbox<F>(ready: &Ready, secs: u64, what: &str, cond: F)
where
    F: Fn(&[balance_alert::state::OutboxEntry]) -> bool,
{
    let deadline = tokio::time::Instant::now() + Duration::from_secs(secs);
    loop {
        let outbox: Vec<_> = ready
            .store
            .lock()
            .outbox()
            .values()
            .map(|e| (**e).clone())
            .collect();
        if cond(&outbox) {
            return;
        }
        if tokio::time::Instant::now() > deadline {
            panic!("timed out waiting for {what}; outbox: {outbox:#?}");
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
}
