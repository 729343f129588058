//! The daemon: one task per account polls Exotel on its own schedule, one delivery
//! worker per channel drains that channel's part of the outbox in order, and `run`
//! wires them together with reload, metrics, the watchdog and shutdown.
//!
//! Shutdown follows tokio-rs/mini-redis: [`run`] takes the shutdown future as a
//! parameter (signals in production, anything in tests), broadcasts it to every task
//! through a [`Shutdown`] handle, and waits for each task to report completion by
//! dropping its `mpsc::Sender`. Deliveries in flight get `[daemon] shutdown_grace` to
//! finish; whatever is still pending stays in the persisted outbox for the next start.
//!
//! Per-poll work is kept small: parse, evaluate, and a state write only when something
//! that must survive a crash changed (a level, a latch, a reminder time, the outbox).

use std::collections::HashMap;
use std::future::Future;
use std::net::SocketAddr;
use std::sync::{Arc, RwLock};
use std::time::Duration;

use jiff::Timestamp;
use tokio::sync::{broadcast, mpsc, oneshot, watch};
use tokio::time::Instant;
use tracing::{debug, error, info, warn};

use crate::Clock;
use crate::core::evaluate::{self, AccountState, Emitted, Observation, Policy};
use crate::core::{ErrorClass, Event, EventKind, new_event_id, routing, snooze};
use crate::delivery::{self, Pick, Queue};
use crate::health::{self, Heartbeat, Heartbeats};
use crate::metrics::Metrics;
use crate::notify::{self, Channel, Notifier, RenderCtx};
use crate::provider::AccountConfig;
use crate::provider::Client;
use crate::settings::{ChannelConfig, Config};
use crate::state::{Opened, OutboxEntry, Sample, StateError, Store};
use crate::web::{self, activity::Activity, live::Live, view::Delivery, view::DeliveryResult};

mod paging;

/// Extra time a task may take beyond its declared wake-up before it counts as stuck.
const HEARTBEAT_SLACK: Duration = Duration::from_secs(30);
/// How often the sample history is flushed.
const SAMPLE_FLUSH_EVERY: Duration = Duration::from_secs(60);
/// Delivery retries start at 1 s and double up to this.
const MAX_DELIVERY_BACKOFF: Duration = Duration::from_secs(300);

/// Listens for the shutdown signal (mini-redis style). Every task owns one.
#[derive(Debug)]
pub struct Shutdown {
    is_shutdown: bool,
    notify: broadcast::Receiver<()>,
}

impl Shutdown {
    pub fn new(notify: broadcast::Receiver<()>) -> Shutdown {
        Shutdown {
            is_shutdown: false,
            notify,
        }
    }

    pub fn is_shutdown(&self) -> bool {
        self.is_shutdown
    }

    /// Resolves once shutdown has been signalled (at once if it already was).
    pub async fn recv(&mut self) {
        if self.is_shutdown {
            return;
        }
        // Lagged or closed both mean the sender is gone or fired: shut down.
        let _ = self.notify.recv().await;
        self.is_shutdown = true;
    }
}

/// Why the daemon could not start.
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    /// The configuration cannot be put to work (e.g. an unreadable `ca_file`).
    #[error("{0}")]
    Config(String),
    #[error(transparent)]
    State(#[from] StateError),
    #[error("cannot listen on {addr}: {source}")]
    Listen {
        addr: SocketAddr,
        source: std::io::Error,
    },
}

/// What a started daemon exposes (tests, the demo).
#[derive(Debug, Clone)]
pub struct Ready {
    /// Where `/metrics` and `/healthz` are served, when `listen` is set.
    pub listen: Option<SocketAddr>,
    pub store: Arc<Store>,
    pub metrics: Arc<Metrics>,
    pub heartbeats: Arc<Heartbeats>,
}

/// Knobs for [`run`] besides the config.
pub struct Options {
    pub clock: Arc<dyn Clock>,
    /// Each message asks for the config file to be read again (SIGHUP).
    pub reload: Option<mpsc::UnboundedReceiver<()>>,
    /// Told once the daemon is up (after config load and state restore).
    pub on_ready: Option<oneshot::Sender<Ready>>,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            clock: Arc::new(crate::SystemClock),
            reload: None,
            on_ready: None,
        }
    }
}

/// What every task shares.
struct Shared {
    store: Arc<Store>,
    metrics: Arc<Metrics>,
    heartbeats: Arc<Heartbeats>,
    clock: Arc<dyn Clock>,
    render: RenderCtx,
    give_up_after: Duration,
    grace: Duration,
    /// Channel name → its config and its worker's queue.
    routes: RwLock<HashMap<String, Route>>,
    /// Quiet hours and escalation (SPEC §12).
    paging: paging::Paging,
    /// Recent events and delivery results, for the dashboard.
    activity: Arc<Activity>,
}

struct Route {
    config: Arc<ChannelConfig>,
    tx: mpsc::UnboundedSender<WorkerMsg>,
}

enum WorkerMsg {
    Enqueue(Box<OutboxEntry>),
    Reconfigure(Arc<Channel>),
}

/// What an account task is given: its config and a ready client.
#[derive(Clone)]
struct AccountSetup {
    config: Arc<AccountConfig>,
    client: Arc<Client>,
}

/// The running daemon as `run` and reload see it.
struct Daemon {
    shared: Arc<Shared>,
    config: Config,
    accounts: HashMap<String, watch::Sender<AccountSetup>>,
    notify_shutdown: broadcast::Sender<()>,
    complete_tx: mpsc::Sender<()>,
    /// The web endpoint's view of the daemon, when `listen` is set.
    live: Option<Arc<Live>>,
}

/// Runs the daemon until `shutdown` resolves, then stops polling, gives in-flight
/// deliveries the grace period, persists state and outbox, and returns.
pub async fn run(
    config: Config,
    options: Options,
    shutdown: impl Future<Output = ()>,
) -> Result<(), RunError> {
    let Options {
        clock,
        reload,
        on_ready,
    } = options;
    for warning in &config.warnings {
        warn!("{warning}");
    }
    // Build every client first: a config that cannot be put to work stops here.
    let clients = build_clients(&config)?;
    let channels = build_channels(&config)?;

    let (store, opened) = Store::open(&config.daemon.state_file, clock.now())?;
    let store = Arc::new(store);
    log_opened(&store, &opened);

    let metrics = Metrics::new();
    let heartbeats = Heartbeats::new();
    let render = RenderCtx {
        timezone: config.daemon.timezone.clone(),
        instance: config.daemon.instance.clone(),
    };
    let paging = paging::Paging::new(config.daemon.timezone.as_ref());
    let shared = Arc::new(Shared {
        store: store.clone(),
        metrics: metrics.clone(),
        heartbeats: heartbeats.clone(),
        clock,
        render,
        give_up_after: config.daemon.give_up_after,
        grace: config.daemon.shutdown_grace,
        routes: RwLock::new(HashMap::new()),
        paging,
        activity: Arc::new(Activity::new()),
    });

    // Reconcile saved state with the config: forget removed accounts, drop deliveries
    // for removed channels (saying how many), hand the rest to their workers in order.
    let mut pending = reconcile(&store, &config, &metrics);
    if let Err(e) = store.save().await {
        // Not fatal: the daemon runs from memory and says so (SPEC §17).
        debug!(error = %e, "cannot write the reconciled state");
    }

    // Bind before any task starts: a taken port must stop the start cleanly.
    // TLS files are read now: a bad certificate stops the start, not the first request.
    let tls = match (&config.daemon.listen, &config.daemon.web.tls) {
        (Some(_), Some(files)) => Some(
            web::tls::server_config(files)
                .map_err(|e| RunError::Config(format!("[daemon] web: {e}")))?,
        ),
        _ => None,
    };
    let listener = match config.daemon.listen {
        Some(addr) => Some(
            tokio::net::TcpListener::bind(addr)
                .await
                .map_err(|source| RunError::Listen { addr, source })?,
        ),
        None => None,
    };

    let (notify_shutdown, _) = broadcast::channel(1);
    let (complete_tx, mut complete_rx) = mpsc::channel::<()>(1);
    let live = listener.as_ref().map(|_| {
        Arc::new(Live {
            store: store.clone(),
            config: RwLock::new(Arc::new(config.clone())),
            metrics: metrics.clone(),
            heartbeats: heartbeats.clone(),
            activity: shared.activity.clone(),
            clock: shared.clock.clone(),
        })
    });
    let web_config = config.daemon.web.clone();
    let mut daemon = Daemon {
        shared: shared.clone(),
        config,
        accounts: HashMap::new(),
        notify_shutdown,
        complete_tx,
        live: live.clone(),
    };
    for (config, channel) in channels {
        restore_mirror(
            &daemon.config,
            &store,
            &config.name,
            &channel,
            &shared.render,
        );
        let initial = pending.remove(&config.name).unwrap_or_default();
        daemon.spawn_worker(config, channel, initial);
    }
    for setup in clients {
        daemon.spawn_account(setup);
    }
    daemon.spawn_sample_flusher();
    daemon.spawn_state_watcher();
    {
        let stop = daemon.shutdown_handle();
        let done = daemon.complete_tx.clone();
        tokio::spawn(paging::run_release(shared.clone(), stop, done));
    }

    let listen = match listener {
        Some(listener) => {
            let bound = listener.local_addr().ok();
            if let Some(addr) = bound {
                info!(
                    %addr,
                    tls = tls.is_some(),
                    basic_auth = web_config.basic_auth.is_some(),
                    snooze_api = web_config.admin_token.is_some(),
                    "serving the dashboard, /api/v1/status, /metrics and /healthz"
                );
            }
            let mut stop = Shutdown::new(daemon.notify_shutdown.subscribe());
            let done = daemon.complete_tx.clone();
            let live = live.expect("built with the listener");
            tokio::spawn(async move {
                let stopped = async move { stop.recv().await };
                if let Err(e) = web::serve(listener, live, web_config, tls, stopped).await {
                    error!(error = %e, "web server failed");
                }
                drop(done);
            });
            bound
        }
        None => None,
    };
    if let Some(interval) = health::watchdog_interval() {
        let mut stop = Shutdown::new(daemon.notify_shutdown.subscribe());
        let done = daemon.complete_tx.clone();
        let h = heartbeats.clone();
        tokio::spawn(async move {
            health::supervise(h, interval, async move { stop.recv().await }).await;
            drop(done);
        });
    }

    if let Some(hb) = daemon.config.daemon.heartbeat.clone() {
        let mut stop = Shutdown::new(daemon.notify_shutdown.subscribe());
        let done = daemon.complete_tx.clone();
        let (h, m, s) = (heartbeats.clone(), metrics.clone(), store.clone());
        tokio::spawn(async move {
            let failing = move || s.lock().accounts.values().any(|r| r.eval.monitor_failing);
            crate::heartbeat::run(hb, h, m, failing, async move { stop.recv().await }).await;
            drop(done);
        });
    }

    if let Some(shard) = daemon.config.shard_summary() {
        info!("{shard}");
    }
    let _ = health::sd_notify("READY=1");
    info!(
        accounts = daemon.accounts.len(),
        channels = daemon.config.channels.len(),
        "balance-alert running"
    );
    if let Some(tx) = on_ready {
        let _ = tx.send(Ready {
            listen,
            store: store.clone(),
            metrics: metrics.clone(),
            heartbeats: heartbeats.clone(),
        });
    }

    tokio::pin!(shutdown);
    let mut reload = reload;
    loop {
        tokio::select! {
            _ = &mut shutdown => break,
            Some(()) = recv_reload(&mut reload) => daemon.reload().await,
        }
    }

    info!("shutting down");
    let _ = health::sd_notify("STOPPING=1");
    let Daemon {
        notify_shutdown,
        complete_tx,
        accounts,
        ..
    } = daemon;
    let _ = notify_shutdown.send(());
    drop(accounts);
    drop(complete_tx);
    let waited = shared.grace + Duration::from_secs(5);
    if tokio::time::timeout(waited, complete_rx.recv())
        .await
        .is_err()
    {
        warn!("some tasks did not stop in time; saving state anyway");
    }
    let pending = store.lock().outbox().len();
    match store.save_all().await {
        Ok(()) => info!(
            pending,
            "state saved; pending deliveries will resume at the next start"
        ),
        Err(e) => {
            error!(
                error = %e,
                pending,
                "cannot save the state at shutdown; what is only in memory is lost"
            );
            store.close().await;
            return Err(e.into());
        }
    }
    store.close().await;
    Ok(())
}

/// Says in the log what opening the state found.
fn log_opened(store: &Store, opened: &Opened) {
    let path = store.path().display();
    match opened {
        Opened::Fresh => info!(path = %path, "no saved state; starting fresh"),
        Opened::Restored => info!(path = %path, "restored saved state"),
        Opened::Imported(kept) => {
            info!(path = %path, kept_as = %kept.display(), "imported the JSON state of an earlier version")
        }
        Opened::Salvaged {
            aside,
            reason,
            accounts,
            deliveries,
        } => warn!(
            path = %path,
            moved_to = %aside.display(),
            problem = %reason,
            accounts,
            deliveries,
            "state database was damaged; moved it aside and carried over what could be read"
        ),
        Opened::MemoryOnly(reason) => error!(
            path = %path,
            %reason,
            "cannot persist state; monitoring goes on from memory (levels and pending \
             messages are lost if the daemon stops before the disk is fixed)"
        ),
    }
}

/// Forgets accounts no longer configured, drops deliveries for removed channels (saying
/// how many), and returns the rest by channel, oldest first.
fn reconcile(
    store: &Store,
    config: &Config,
    metrics: &Metrics,
) -> HashMap<String, Vec<OutboxEntry>> {
    let gone: Vec<String> = store
        .lock()
        .accounts
        .keys()
        .filter(|name| config.account(name).is_none())
        .cloned()
        .collect();
    for name in gone {
        store.forget(&name);
    }
    let mut state = store.lock();
    let mut dropped: HashMap<String, usize> = HashMap::new();
    state.retain_outbox(|e| {
        let keep = config.channel(&e.channel).is_some();
        if !keep {
            *dropped.entry(e.channel.clone()).or_default() += 1;
        }
        keep
    });
    for (channel, count) in dropped {
        warn!(
            channel,
            count, "dropping pending deliveries for a channel no longer configured"
        );
    }
    let mut pending: HashMap<String, Vec<OutboxEntry>> = HashMap::new();
    // Held entries wait for the release task, not for a worker.
    for entry in state.outbox().values().filter(|e| !e.is_held()) {
        pending
            .entry(entry.channel.clone())
            .or_default()
            .push(entry.clone());
    }
    for (name, record) in &state.accounts {
        // Kept accounts only (the rest were forgotten above).
        let Some(provider) = config.account(name).map(|a| a.provider_name()) else {
            continue;
        };
        metrics.set_level(name, provider, record.eval.level);
        if let Some(last) = &record.eval.last {
            let balance = decimal_to_f64(last.balance);
            metrics.set_balance(name, provider, &last.currency, balance);
            metrics.set_last_success(name, provider, last.observed_at);
        }
    }
    metrics.set_outbox_pending(state.outbox().len());
    metrics.set_outbox_held(paging::held_count(&state));
    if !state.outbox().is_empty() {
        info!(
            pending = state.outbox().len(),
            "resuming pending deliveries"
        );
    }
    pending
}

async fn recv_reload(rx: &mut Option<mpsc::UnboundedReceiver<()>>) -> Option<()> {
    match rx {
        Some(rx) => rx.recv().await,
        None => std::future::pending().await,
    }
}

/// One balance `Client` per account, sharing one HTTP client per distinct
/// `(ca_file, timeout)`: a client per account costs memory per account (TLS roots, pool,
/// idle connection), which is what kept 10,000 accounts from fitting in 64 MiB.
fn build_clients(config: &Config) -> Result<Vec<AccountSetup>, RunError> {
    let mut cache = crate::http::ClientCache::new();
    // SPEC §11.3: a shard polls only the accounts whose name hashes to it.
    config
        .accounts
        .iter()
        .filter(|account| config.owns(&account.name))
        .map(|account| {
            let client = Client::with_cache(account, &mut cache)
                .map_err(|e| RunError::Config(format!("account `{}`: {e}", account.name)))?;
            Ok(AccountSetup {
                config: account.clone(),
                client: Arc::new(client),
            })
        })
        .collect()
}

/// A channel's config with its ready sender.
type BuiltChannel = (Arc<ChannelConfig>, Arc<Channel>);

fn build_channels(config: &Config) -> Result<Vec<BuiltChannel>, RunError> {
    config
        .channels
        .iter()
        .map(|c| {
            let channel = Channel::new(&c.kind)
                .map_err(|e| RunError::Config(format!("channel `{}`: {e}", c.name)))?;
            Ok((c.clone(), Arc::new(channel)))
        })
        .collect()
}

impl Daemon {
    fn shutdown_handle(&self) -> Shutdown {
        Shutdown::new(self.notify_shutdown.subscribe())
    }

    fn spawn_account(&mut self, setup: AccountSetup) {
        let name = setup.config.name.clone();
        self.shared
            .metrics
            .register_account(&name, setup.config.provider_name());
        let (tx, rx) = watch::channel(setup);
        let task = AccountTask {
            shared: self.shared.clone(),
            setup: rx,
            shutdown: self.shutdown_handle(),
            _done: self.complete_tx.clone(),
        };
        tokio::spawn(task.run());
        self.accounts.insert(name, tx);
    }

    fn spawn_worker(
        &mut self,
        config: Arc<ChannelConfig>,
        channel: Arc<Channel>,
        initial: Vec<OutboxEntry>,
    ) {
        let (tx, rx) = mpsc::unbounded_channel();
        self.shared.metrics.register_channel(&config.name);
        // A restored queue gets the same rule as a live one: a reminder followed by a
        // newer event for the same account is dropped.
        let mut queue = Queue::new(!config.kind.one_event_per_account());
        let mut superseded = Vec::new();
        for entry in initial {
            superseded.extend(queue.push(entry));
        }
        if !superseded.is_empty() {
            self.shared.store.lock().remove_outbox(&superseded);
        }
        let worker = Worker {
            heartbeat: self
                .shared
                .heartbeats
                .register(format!("channel {}", config.name)),
            shared: self.shared.clone(),
            name: config.name.clone(),
            channel,
            queue,
            failures_in_row: 0,
            last_failed: None,
            not_before: Instant::now(),
            rx,
            shutdown: self.shutdown_handle(),
            _done: self.complete_tx.clone(),
        };
        tokio::spawn(worker.run());
        self.shared
            .routes
            .write()
            .unwrap_or_else(|p| p.into_inner())
            .insert(config.name.clone(), Route { config, tx });
    }

    fn spawn_sample_flusher(&self) {
        let shared = self.shared.clone();
        let mut shutdown = self.shutdown_handle();
        let done = self.complete_tx.clone();
        tokio::spawn(async move {
            let heartbeat = shared.heartbeats.register("sample flusher");
            loop {
                heartbeat.expect_back_within(SAMPLE_FLUSH_EVERY + HEARTBEAT_SLACK);
                tokio::select! {
                    _ = tokio::time::sleep(SAMPLE_FLUSH_EVERY) => {}
                    _ = shutdown.recv() => break,
                }
                // Samples, last balances and request times (the rate floor across a
                // crash). While the disk refuses, the state watcher retries and says so.
                if let Err(e) = shared.store.save_touched().await {
                    debug!(error = %e, "cannot write the sample history");
                }
            }
            drop(done);
        });
    }

    /// Watches whether the state is written: sets `balance_alert_state_writable`, tells
    /// every channel once when it cannot be (`state_unwritable`) and when it can again
    /// (`state_recovered`), and retries the disk while it refuses (SPEC §17).
    fn spawn_state_watcher(&self) {
        let shared = self.shared.clone();
        let mut shutdown = self.shutdown_handle();
        let done = self.complete_tx.clone();
        let mut writability = shared.store.writability();
        tokio::spawn(async move {
            let heartbeat = shared.heartbeats.register("state watcher");
            let mut failing: Option<String> = None;
            loop {
                let now_failing = writability.borrow_and_update().clone();
                shared.metrics.set_state_writable(now_failing.is_none());
                match (&failing, &now_failing) {
                    (None, Some(reason)) => shared
                        .broadcast_state_event(EventKind::StateUnwritable, Some(reason.clone())),
                    (Some(_), None) => {
                        shared.broadcast_state_event(EventKind::StateRecovered, None)
                    }
                    _ => {}
                }
                failing = now_failing;
                let retry = failing
                    .is_some()
                    .then(|| Instant::now() + crate::state::RETRY_EVERY);
                heartbeat.expect_back_within(crate::state::RETRY_EVERY + HEARTBEAT_SLACK);
                tokio::select! {
                    _ = shutdown.recv() => break,
                    changed = writability.changed() => if changed.is_err() { break },
                    _ = sleep_until_opt(retry) => {
                        shared.store.retry().await;
                    }
                }
            }
            drop(done);
        });
    }

    /// SIGHUP: read the config again. An invalid file changes nothing; a valid one is
    /// applied without losing any account's level or any pending delivery.
    async fn reload(&mut self) {
        let path = self.config.path.clone();
        let new = match crate::settings::load(&path) {
            Ok(new) => new,
            Err(e) => {
                error!(error = %e, "config reload refused; the running config stays in force");
                self.shared.metrics.set_reload_success(false);
                return;
            }
        };
        let built = build_clients(&new).and_then(|c| Ok((c, build_channels(&new)?)));
        let (clients, channels) = match built {
            Ok(b) => b,
            Err(e) => {
                error!(error = %e, "config reload refused; the running config stays in force");
                self.shared.metrics.set_reload_success(false);
                return;
            }
        };
        for warning in &new.warnings {
            warn!("{warning}");
        }
        if new.daemon != self.config.daemon {
            warn!("changes to [daemon] need a restart; they are not applied by a reload");
        }

        // Channels first, so the accounts' new `notify` lists find their workers.
        let removed: Vec<String> = {
            let routes = self.shared.routes.read().unwrap_or_else(|p| p.into_inner());
            routes
                .keys()
                .filter(|name| new.channel(name).is_none())
                .cloned()
                .collect()
        };
        for name in &removed {
            self.shared
                .routes
                .write()
                .unwrap_or_else(|p| p.into_inner())
                .remove(name);
            let dropped = self
                .shared
                .store
                .lock()
                .retain_outbox(|e| &e.channel != name);
            if dropped > 0 {
                warn!(channel = %name, count = dropped, "channel removed by reload; dropping its pending deliveries");
            }
        }
        for (config, channel) in channels {
            let existing = {
                let mut routes = self
                    .shared
                    .routes
                    .write()
                    .unwrap_or_else(|p| p.into_inner());
                match routes.get_mut(&config.name) {
                    Some(route) => {
                        let changed = route.config != config;
                        route.config = config.clone();
                        if changed {
                            let _ = route.tx.send(WorkerMsg::Reconfigure(channel.clone()));
                        }
                        true
                    }
                    None => false,
                }
            };
            if !existing {
                self.spawn_worker(config, channel, Vec::new());
            }
        }

        // Accounts: removed ones are forgotten, kept ones re-evaluated at once, new
        // ones start polling.
        let gone: Vec<String> = self
            .accounts
            .keys()
            .filter(|name| new.account(name).is_none())
            .cloned()
            .collect();
        for name in gone {
            // Dropping the sender ends the task.
            self.accounts.remove(&name);
            self.shared.store.forget(&name);
            self.shared.metrics.forget_account(&name);
            self.shared.activity.forget_account(&name);
            info!(account = %name, "account removed by reload; its state is forgotten");
        }
        for setup in clients {
            match self.accounts.get(&setup.config.name) {
                Some(tx) => {
                    tx.send_replace(setup);
                }
                None => self.spawn_account(setup),
            }
        }

        let new_daemon = std::mem::replace(&mut self.config.daemon, new.daemon.clone());
        self.config = Config {
            daemon: new_daemon,
            ..new
        };
        if let Some(live) = &self.live {
            live.set_config(Arc::new(self.config.clone()));
        }
        self.shared.store.mark_dirty();
        if let Err(e) = self.shared.store.save().await {
            debug!(error = %e, "cannot save state after reload");
            self.shared.metrics.inc_state_write_error();
        }
        self.shared
            .metrics
            .set_outbox_pending(self.shared.store.lock().outbox().len());
        self.shared.metrics.set_reload_success(true);
        // Quiet hours may have changed: re-plan the held messages.
        self.shared.paging.wake.notify_one();
        info!(
            accounts = self.accounts.len(),
            channels = self.config.channels.len(),
            "config reloaded"
        );
    }
}

/// A channel that mirrors state (Alertmanager) starts with each account's standing
/// alerts as the saved state has them, so a restart keeps re-posting them (SPEC §11.1).
fn restore_mirror(
    config: &Config,
    store: &Store,
    channel: &str,
    sender: &Channel,
    render: &RenderCtx,
) {
    if !sender.mirrors_state() {
        return;
    }
    let now = Timestamp::now();
    let state = store.lock();
    let mut standing = Vec::new();
    for (name, record) in &state.accounts {
        let Some(account) = config.account(name) else {
            continue;
        };
        let eval = &record.eval;
        let mut add = |kind: EventKind, level| {
            let emitted = Emitted {
                kind,
                level,
                previous_level: None,
                threshold: None,
            };
            standing.push(build_event(account, eval, &emitted, now));
        };
        if eval.level != crate::core::Level::Ok && record.routing.alerted.contains(channel) {
            add(EventKind::Reminder, eval.level);
        }
        if eval.monitor_failing && record.routing.failing.contains(channel) {
            add(EventKind::MonitorFailing, eval.level);
        }
    }
    drop(state);
    sender.restore(&standing, render);
}

/// The evaluator settings for an account.
fn policy(account: &AccountConfig) -> Policy {
    Policy {
        thresholds: account.thresholds,
        repeat_every: account.repeat_every,
        blind_after: account.blind_after,
    }
}

/// The parts of an account's state whose change must reach disk before anything is
/// sent. The last balance and error text are not among them: they change every poll.
fn must_persist(old: &AccountState, new: &AccountState) -> bool {
    old.warning_active != new.warning_active
        || old.critical_active != new.critical_active
        || old.level != new.level
        || old.last_notice_at != new.last_notice_at
        || old.failing_since != new.failing_since
        || old.monitor_failing != new.monitor_failing
}

impl Shared {
    /// Stores an account's new state and turns its events into outbox entries: routed,
    /// persisted, then handed to the channel workers.
    async fn commit(
        &self,
        account: &AccountConfig,
        new: AccountState,
        emitted: Vec<Emitted>,
        polled_at: Option<Timestamp>,
        setup: &watch::Receiver<AccountSetup>,
    ) {
        let now = self.clock.now();
        let (entries, dirty, pending) = {
            let routes = self.routes.read().unwrap_or_else(|p| p.into_inner());
            let mut guard = self.store.lock();
            // A reload drops the account's sender before it forgets the account under
            // this lock, so checked here a late result can never bring it back.
            if setup.has_changed().is_err() {
                return;
            }
            let state = &mut *guard;
            let mut record = state.accounts.remove(&account.name).unwrap_or_default();
            // A snooze silences reminders until it expires or the level changes.
            let mut emitted = emitted;
            let before = emitted.len();
            let snooze_ended = snooze::settle(&mut record.snooze, new.level, now, &mut emitted);
            if emitted.len() < before {
                info!(account = %account.name, "reminder skipped: the account is snoozed");
            }
            if let Some(why) = snooze_ended {
                info!(account = %account.name, reason = why.as_str(), "snooze ended");
            }
            let dirty =
                must_persist(&record.eval, &new) || !emitted.is_empty() || snooze_ended.is_some();
            if polled_at.is_some() {
                record.last_poll_at = polled_at;
            }
            record.eval = new;
            let due = paging::tick(account, &mut record, now);
            let dirty = dirty || !due.is_empty();
            let channels: Vec<&ChannelConfig> = account
                .notify
                .iter()
                .filter_map(|n| routes.get(n).map(|r| &*r.config))
                .collect();
            // Follow-ups and monitor_failing may reach channels beyond the account's
            // own (SPEC §5); routing picks from all of them.
            let mut everyone: Vec<&ChannelConfig> = routes.values().map(|r| &*r.config).collect();
            everyone.sort_by(|a, b| a.name.cmp(&b.name));
            let mut entries = Vec::new();
            let mut held = 0usize;
            // The steps that fell due follow the poll's own events (SPEC §12).
            let current = record.eval.level;
            let emitted = emitted
                .into_iter()
                .map(|e| (e, None))
                .chain(due.into_iter().map(|d| {
                    let escalated = Emitted {
                        kind: EventKind::Escalated,
                        level: d.level,
                        previous_level: None,
                        threshold: account.thresholds.for_level(current).map(|t| t.below),
                    };
                    (escalated, Some(d.to))
                }));
            for (emitted, to) in emitted {
                let event = build_event(account, &record.eval, &emitted, now);
                let severity = routing::severity(emitted.kind, emitted.level);
                let targets = match to {
                    Some(to) => routing::route_escalation(&to, &everyone, &mut record.routing),
                    None => routing::route(
                        emitted.kind,
                        severity,
                        &channels,
                        &everyone,
                        &mut record.routing,
                    ),
                };
                info!(
                    account = %account.name,
                    provider = account.provider_name(),
                    event = emitted.kind.as_str(),
                    level = %emitted.level,
                    // Values, not Debug: a plain decimal and a comma-joined list read the
                    // same in text and JSON (jq, Loki), and an absent balance is omitted.
                    balance = event.balance.map(tracing::field::display),
                    channels = %targets.join(","),
                    "event"
                );
                self.activity.event(
                    &account.name,
                    now,
                    emitted.kind.as_str(),
                    emitted.level,
                    event.balance,
                    targets.clone(),
                );
                for channel in targets {
                    let held_until = paging::hold_until(
                        &self.paging,
                        &routes,
                        &channel,
                        emitted.kind,
                        severity,
                        now,
                    );
                    if held_until.is_none() {
                        held += paging::drop_superseded_held(
                            state,
                            &channel,
                            &account.name,
                            emitted.kind,
                        );
                    }
                    let entry = state.push_outbox(channel, now, event.clone(), held_until);
                    match held_until {
                        Some(until) => {
                            held += 1;
                            info!(account = %account.name, channel = %entry.channel, event = emitted.kind.as_str(), until = %until, "held for quiet hours");
                        }
                        None => entries.push(entry),
                    }
                }
            }
            if held > 0 {
                self.metrics.set_outbox_held(paging::held_count(state));
                self.paging.wake.notify_one();
            }
            state.accounts.insert(account.name.clone(), record);
            (entries, dirty, state.outbox().len())
        };
        if !dirty {
            // Last balance and request time: kept by the next save or the minute flush.
            self.store.touch_account(&account.name);
        }
        if dirty {
            self.store.mark_account_dirty(&account.name);
            if let Err(e) = self.store.save().await {
                // Still send: a message that leaves without being persisted beats one
                // that never leaves. The state watcher reports the disk once.
                debug!(error = %e, "cannot persist state before delivery");
                self.metrics.inc_state_write_error();
            }
        }
        self.metrics.set_outbox_pending(pending);
        if entries.is_empty() {
            return;
        }
        let routes = self.routes.read().unwrap_or_else(|p| p.into_inner());
        for entry in entries {
            if let Some(route) = routes.get(&entry.channel) {
                if route.tx.send(WorkerMsg::Enqueue(Box::new(entry))).is_err() {
                    // The worker is gone (it panicked); the entry stays in the outbox
                    // and goes out after a restart. /healthz reports the dead task.
                    error!("delivery worker is not running; message kept in the outbox");
                }
            }
        }
    }

    /// Queues a message about the state itself for every channel.
    fn broadcast_state_event(&self, kind: EventKind, reason: Option<String>) {
        let now = self.clock.now();
        let path = self.store.path().display().to_string();
        let event = Event {
            id: new_event_id(),
            event: kind,
            account: String::new(),
            provider: String::new(),
            sid: String::new(),
            level: match kind {
                EventKind::StateUnwritable => crate::core::Level::Warning,
                _ => crate::core::Level::Ok,
            },
            previous_level: None,
            balance: None,
            currency: String::new(),
            threshold: None,
            pricing_plan: None,
            date_updated: None,
            observed_at: now,
            error: reason.map(|r| format!("{path}: {r}")),
        };
        let routes = self.routes.read().unwrap_or_else(|p| p.into_inner());
        let mut names: Vec<&String> = routes.keys().collect();
        names.sort();
        info!(event = kind.as_str(), channels = ?names, "event");
        let entries: Vec<OutboxEntry> = {
            let mut state = self.store.lock();
            names
                .iter()
                .map(|name| state.push_outbox((*name).clone(), now, event.clone(), None))
                .collect()
        };
        for entry in entries {
            if let Some(route) = routes.get(&entry.channel) {
                let _ = route.tx.send(WorkerMsg::Enqueue(Box::new(entry)));
            }
        }
    }

    /// Removes delivered (or abandoned) entries from the persisted outbox.
    async fn remove_from_outbox(&self, seqs: &[u64]) {
        let pending = {
            let mut state = self.store.lock();
            state.remove_outbox(seqs);
            state.outbox().len()
        };
        self.metrics.set_outbox_pending(pending);
        if let Err(e) = self.store.save().await {
            debug!(error = %e, "cannot persist the outbox");
            self.metrics.inc_state_write_error();
        }
    }
}

/// The message for an event, with everything SPEC §4 says it carries.
fn build_event(
    account: &AccountConfig,
    state: &AccountState,
    emitted: &Emitted,
    now: Timestamp,
) -> Event {
    let last = state.last.as_ref();
    Event {
        id: new_event_id(),
        event: emitted.kind,
        account: account.name.clone(),
        provider: account.provider_name().to_owned(),
        sid: account.sid().to_owned(),
        level: emitted.level,
        previous_level: emitted.previous_level,
        balance: last.map(|o| o.balance),
        currency: last
            .map(|o| o.currency.clone())
            .unwrap_or_else(|| account.fallback_currency().to_string()),
        threshold: emitted.threshold,
        pricing_plan: last.and_then(|o| o.pricing_plan.clone()),
        date_updated: last.and_then(|o| o.date_updated.clone()),
        observed_at: match (emitted.kind, last) {
            (EventKind::MonitorFailing, _) | (_, None) => now,
            (_, Some(o)) => o.observed_at,
        },
        error: match emitted.kind {
            EventKind::MonitorFailing => state.last_error.clone(),
            _ => None,
        },
    }
}

fn decimal_to_f64(d: rust_decimal::Decimal) -> f64 {
    use rust_decimal::prelude::ToPrimitive;
    d.to_f64().unwrap_or(f64::NAN)
}

/// The wait before the next poll after `failures` consecutive failures (SPEC §2): 60 s
/// (or `poll_interval` if shorter), doubling, never longer than `poll_interval` unless
/// a larger `Retry-After` says so, never shorter than the rate floor. `jitter` in
/// [0, 1) shaves up to 10 % off so retries of many accounts spread out.
pub fn poll_backoff(
    failures: u32,
    poll_interval: Duration,
    floor: Duration,
    retry_after: Option<Duration>,
    jitter: f64,
) -> Duration {
    let first = Duration::from_secs(60).min(poll_interval);
    let doublings = failures.saturating_sub(1).min(20);
    let grown = first.saturating_mul(1u32 << doublings).min(poll_interval);
    let wait = grown.mul_f64(1.0 - 0.1 * jitter.clamp(0.0, 1.0)).max(floor);
    match retry_after {
        Some(ra) if ra > wait => ra,
        _ => wait,
    }
}

/// The wait before the next delivery attempt: 1 s doubling to 5 min, with jitter, and
/// never sooner than the peer's `Retry-After`.
pub fn delivery_backoff(attempts: u32, retry_after: Option<Duration>, jitter: f64) -> Duration {
    let doublings = attempts.saturating_sub(1).min(20);
    let grown = Duration::from_secs(1)
        .saturating_mul(1u32 << doublings)
        .min(MAX_DELIVERY_BACKOFF);
    let wait = grown.mul_f64(1.0 - 0.2 * jitter.clamp(0.0, 1.0));
    match retry_after {
        Some(ra) if ra > wait => ra,
        _ => wait,
    }
}

struct AccountTask {
    shared: Arc<Shared>,
    setup: watch::Receiver<AccountSetup>,
    shutdown: Shutdown,
    /// Dropped when the task ends: that is how `run` learns it finished.
    _done: mpsc::Sender<()>,
}

impl AccountTask {
    async fn run(mut self) {
        let AccountSetup {
            mut config,
            mut client,
        } = self.setup.borrow_and_update().clone();
        let heartbeat = self
            .shared
            .heartbeats
            .register(format!("account {}", config.name));
        let mut next = self.first_poll(&config);
        let mut failures = 0u32;
        let mut last_request: Option<Instant> = None;
        // When a long Retry-After pushes the next poll past `blind_after`, the task
        // wakes at that moment anyway so `monitor_failing` is not late.
        let mut blind_check: Option<Instant> = None;
        // When the next escalation step falls due between polls (SPEC §12).
        let mut escalation_check = self.escalation_due(&config);
        loop {
            let wake = blind_check.map_or(next, |b| b.min(next));
            let wake = escalation_check.map_or(wake, |e| e.min(wake));
            heartbeat.expect_back_within(
                wake.saturating_duration_since(Instant::now()) + HEARTBEAT_SLACK,
            );
            // Biased: a removal by reload (or shutdown) must win over a poll that is
            // already due, or a removed account gets polled once more.
            tokio::select! {
                biased;
                _ = self.shutdown.recv() => return,
                changed = self.setup.changed() => {
                    if changed.is_err() {
                        return; // removed by a reload
                    }
                    let setup = self.setup.borrow_and_update().clone();
                    config = setup.config;
                    client = setup.client;
                    Box::pin(self.reevaluate(&config)).await;
                    if let Some(last) = last_request {
                        next = if failures == 0 {
                            last + config.poll_interval
                        } else {
                            // Perhaps the reload fixed what was failing: try again as
                            // soon as the rate floor allows.
                            next.min(last + config.rate_floor())
                        };
                    }
                    let state = self.current_state(&config.name);
                    blind_check =
                        blindness_due(&state, &config, self.shared.clock.now(), Instant::now());
                    escalation_check = self.escalation_due(&config);
                    continue;
                }
                _ = sleep_until_opt(blind_check.filter(|b| *b < next)) => {
                    blind_check = Box::pin(self.check_blindness(&config)).await;
                    escalation_check = self.escalation_due(&config);
                    continue;
                }
                _ = sleep_until_opt(escalation_check.filter(|e| *e < next)) => {
                    // Nothing new is known: only the clock moved.
                    let state = self.current_state(&config.name);
                    Box::pin(self.shared.commit(&config, state, Vec::new(), None, &self.setup)).await;
                    escalation_check = self.escalation_due(&config);
                    continue;
                }
                _ = tokio::time::sleep_until(next) => {}
            }
            heartbeat.expect_back_within(config.timeout + HEARTBEAT_SLACK);
            let started = Instant::now();
            last_request = Some(started);
            let polled_at = self.shared.clock.now();
            self.note_request(&config.name, polled_at);
            let result = tokio::select! {
                // Boxed, like every large await in this loop: 10,000 idle account
                // tasks would otherwise each hold room for an HTTP request and a state
                // commit inline, several KiB apiece (issue 7: RSS at 10,000 accounts).
                r = Box::pin(client.fetch_balance()) => r,
                _ = self.shutdown.recv() => return,
            };
            if self.setup.has_changed().is_err() {
                return; // removed by a reload while the request was out
            }
            let before = self.current_state(&config.name);
            let now = self.shared.clock.now();
            let metrics = &self.shared.metrics;
            let (new, emitted) = match result {
                Ok(balance) => {
                    failures = 0;
                    next = started + config.poll_interval;
                    metrics.set_balance(
                        &config.name,
                        config.provider_name(),
                        &balance.currency,
                        decimal_to_f64(balance.amount),
                    );
                    metrics.set_last_success(&config.name, config.provider_name(), now);
                    self.shared.store.record_sample(
                        &config.name,
                        Sample {
                            at: now,
                            balance: balance.amount,
                        },
                    );
                    debug!(account = %config.name, provider = config.provider_name(), balance = %balance.amount, currency = %balance.currency, "balance polled");
                    let observation = Observation {
                        balance: balance.amount,
                        currency: balance.currency,
                        pricing_plan: balance.pricing_plan,
                        date_updated: balance.date_updated,
                        observed_at: now,
                    };
                    evaluate::on_success(&before, &policy(&config), observation, now)
                }
                Err(err) => {
                    failures += 1;
                    let class = err.class();
                    metrics.inc_poll_error(&config.name, config.provider_name(), class);
                    let wait = match class {
                        // A credential fix should be noticed at the normal cadence.
                        ErrorClass::Config => config
                            .poll_interval
                            .max(err.retry_after().unwrap_or_default()),
                        ErrorClass::Throttled | ErrorClass::Transient => poll_backoff(
                            failures,
                            config.poll_interval,
                            config.rate_floor(),
                            err.retry_after(),
                            fastrand::f64(),
                        ),
                    };
                    next = started + wait;
                    warn!(
                        account = %config.name,
                        provider = config.provider_name(),
                        class = class.as_str(),
                        error = %err,
                        retry_in = %humantime::format_duration(Duration::from_millis(wait.as_millis() as u64)),
                        "balance poll failed"
                    );
                    evaluate::on_failure(&before, &policy(&config), class, &err.to_string(), now)
                }
            };
            metrics.set_level(&config.name, config.provider_name(), new.level);
            // Counted from after the response, like `failing_since` in the state.
            blind_check = blindness_due(&new, &config, now, Instant::now());
            Box::pin(
                self.shared
                    .commit(&config, new, emitted, Some(polled_at), &self.setup),
            )
            .await;
            escalation_check = self.escalation_due(&config);
        }
    }

    /// When the account's next escalation step falls due, if its clock runs.
    fn escalation_due(&self, config: &AccountConfig) -> Option<Instant> {
        let state = self.shared.store.lock();
        let record = state.accounts.get(&config.name)?;
        // Just past it, like blindness: the step fires at `after`, not before.
        paging::next_escalation(config, record, self.shared.clock.now())
            .map(|d| Instant::now() + d + Duration::from_millis(1))
    }

    /// Startup jitter spreads many accounts out; the rate floor holds across restarts.
    fn first_poll(&self, config: &AccountConfig) -> Instant {
        let spread = config.poll_interval.min(Duration::from_secs(30));
        let mut due = Instant::now() + spread.mul_f64(fastrand::f64());
        let last = self
            .shared
            .store
            .lock()
            .accounts
            .get(&config.name)
            .and_then(|r| r.last_poll_at);
        if let Some(last) = last {
            let since = self.shared.clock.now().duration_since(last);
            let since = Duration::try_from(since).unwrap_or(Duration::ZERO);
            let floor = config.rate_floor();
            if since < floor {
                due = due.max(Instant::now() + (floor - since));
            }
        }
        due
    }

    /// Records the request time in memory at once, so the shutdown save carries it
    /// and the rate floor holds across a restart even when this request is cut short.
    fn note_request(&self, name: &str, at: Timestamp) {
        let mut state = self.shared.store.lock();
        if self.setup.has_changed().is_err() {
            return; // removed by a reload: do not bring its record back
        }
        state
            .accounts
            .entry(name.to_string())
            .or_default()
            .last_poll_at = Some(at);
    }

    /// Between polls: raises `monitor_failing` once failures have lasted longer than
    /// `blind_after`, without making a request.
    /// Returns when to check again if the account is failing but not yet blind (the
    /// wall clock and the monotonic clock may drift apart a little).
    async fn check_blindness(&self, config: &AccountConfig) -> Option<Instant> {
        let before = self.current_state(&config.name);
        let error = before.last_error.clone()?;
        let now = self.shared.clock.now();
        let (new, emitted) =
            evaluate::on_failure(&before, &policy(config), ErrorClass::Transient, &error, now);
        let again = blindness_due(&new, config, now, Instant::now())
            .map(|due| due.max(Instant::now() + Duration::from_millis(100)));
        self.shared
            .commit(config, new, emitted, None, &self.setup)
            .await;
        again
    }

    fn current_state(&self, name: &str) -> AccountState {
        self.shared
            .store
            .lock()
            .accounts
            .get(name)
            .map(|r| r.eval.clone())
            .unwrap_or_default()
    }

    /// After a reload: the last known balance against the new thresholds, at once.
    async fn reevaluate(&self, config: &AccountConfig) {
        let before = self.current_state(&config.name);
        if let (Some(want), Some(last)) = (config.expected_currency(), &before.last) {
            if !want.eq_ignore_ascii_case(&last.currency) {
                // Thresholds in one currency are never compared with amounts in
                // another; the next poll settles it (or fails as a config error).
                info!(account = %config.name, "currency changed by reload; waiting for the next poll");
                return;
            }
        }
        let (new, emitted) =
            evaluate::reevaluate(&before, &policy(config), self.shared.clock.now());
        self.shared
            .metrics
            .set_level(&config.name, config.provider_name(), new.level);
        self.shared
            .commit(config, new, emitted, None, &self.setup)
            .await;
    }
}

/// Drains one channel's queue: each account's messages in order, accounts in turn,
/// retrying each with its own backoff (SPEC §5, §17).
struct Worker {
    shared: Arc<Shared>,
    name: String,
    channel: Arc<Channel>,
    queue: Queue,
    /// Failed attempts in a row on this channel, across accounts: two accounts failing
    /// one after the other mean the peer is down, and the whole channel backs off.
    failures_in_row: u32,
    last_failed: Option<String>,
    /// The whole channel waits until then (a peer's `Retry-After`, a peer down).
    not_before: Instant,
    rx: mpsc::UnboundedReceiver<WorkerMsg>,
    heartbeat: Heartbeat,
    shutdown: Shutdown,
    _done: mpsc::Sender<()>,
}

impl Worker {
    async fn run(mut self) {
        loop {
            let due = self
                .queue
                .due(Instant::now())
                .map(|d| d.max(self.not_before));
            match due {
                Some(due) => self.heartbeat.expect_back_within(
                    due.saturating_duration_since(Instant::now()) + HEARTBEAT_SLACK,
                ),
                None => self.heartbeat.idle(),
            }
            tokio::select! {
                biased;
                _ = self.shutdown.recv() => return,
                msg = self.rx.recv() => match msg {
                    None => return, // channel removed by a reload
                    Some(WorkerMsg::Enqueue(entry)) => { self.enqueue(*entry).await; continue; }
                    Some(WorkerMsg::Reconfigure(channel)) => {
                        self.channel = channel;
                        // The fix may be in the new settings: retry now.
                        self.queue.retry_all_now();
                        self.failures_in_row = 0;
                        self.not_before = Instant::now();
                        continue;
                    }
                },
                _ = sleep_until_opt(due) => {}
            }
            if !self.deliver_next().await {
                return;
            }
        }
    }

    /// Queues an entry behind its account's earlier ones.
    async fn enqueue(&mut self, entry: OutboxEntry) {
        let superseded = self.queue.push(entry);
        if !superseded.is_empty() {
            debug!(channel = %self.name, count = superseded.len(), "dropping superseded reminders");
            for _ in &superseded {
                self.shared.metrics.inc_notification(&self.name, "dropped");
            }
            self.shared.remove_from_outbox(&superseded).await;
        }
    }

    /// Sends what is due next. Returns false when shutdown ended the worker.
    async fn deliver_next(&mut self) -> bool {
        let Some(pick) = self.queue.pick(Instant::now()) else {
            return true;
        };
        let accounts = match &pick {
            Pick::One(a) => vec![a.clone()],
            Pick::Group(all) => all.clone(),
        };
        let heads: Vec<OutboxEntry> = accounts
            .iter()
            .filter_map(|a| self.queue.head(a).cloned())
            .collect();
        let event = match (&pick, heads.first()) {
            (_, None) => return true,
            (Pick::One(_), Some(head)) => head.event.clone(),
            (Pick::Group(_), Some(head)) => {
                let members: Vec<&Event> = heads.iter().map(|e| &e.event).collect();
                let grouped = delivery::group_event(
                    head.event.event,
                    &members,
                    self.shared.clock.now(),
                    self.channel.group_list_chars(),
                );
                info!(channel = %self.name, event = head.event.event.as_str(), accounts = heads.len(), "sending one grouped message for many accounts");
                grouped
            }
        };
        self.heartbeat
            .expect_back_within(self.channel.max_send_time() + HEARTBEAT_SLACK);
        let (channel, shared) = (self.channel.clone(), self.shared.clone());
        let send = channel.send(&event, &shared.render);
        tokio::pin!(send);
        let result = tokio::select! {
            r = &mut send => r,
            _ = self.shutdown.recv() => {
                // Shutdown: the message in flight gets the grace period, then stays in
                // the outbox for the next start.
                match tokio::time::timeout(self.shared.grace, &mut send).await {
                    Ok(r) => {
                        self.settle(&heads, r).await;
                    }
                    Err(_) => warn!(
                        channel = %self.name,
                        event = event.event.as_str(),
                        "delivery still in flight at shutdown; kept in the outbox"
                    ),
                }
                return false;
            }
        };
        self.settle(&heads, result).await;
        true
    }

    async fn settle(&mut self, heads: &[OutboxEntry], result: Result<(), notify::DeliveryError>) {
        let (outcome, error) = match &result {
            Ok(()) => (DeliveryResult::Delivered, None),
            Err(notify::DeliveryError::Permanent(reason)) => {
                (DeliveryResult::Failed, Some(reason.to_string()))
            }
            Err(notify::DeliveryError::Retry { reason, .. }) => {
                (DeliveryResult::Retrying, Some(reason.to_string()))
            }
        };
        let metrics = &self.shared.metrics;
        let now = Instant::now();
        let mut finished = Vec::new();
        let mut gave_up: Vec<u64> = Vec::new();
        match result {
            Ok(()) => {
                self.failures_in_row = 0;
                for entry in heads {
                    info!(channel = %self.name, account = %entry.event.account, event = entry.event.event.as_str(), id = %entry.event.id, "delivered");
                    metrics.inc_notification(&self.name, "delivered");
                    finished.push(entry);
                }
            }
            Err(notify::DeliveryError::Permanent(reason)) => {
                for entry in heads {
                    error!(channel = %self.name, account = %entry.event.account, event = entry.event.event.as_str(), %reason, "delivery refused permanently; not retried");
                    metrics.inc_notification(&self.name, "failed");
                    finished.push(entry);
                }
            }
            Err(notify::DeliveryError::Retry {
                reason,
                retry_after,
            }) => {
                let account = heads.first().map(|e| e.event.account.clone());
                if self.last_failed != account {
                    self.failures_in_row += 1;
                }
                self.last_failed = account;
                // The peer said when everyone may come back, or two accounts in a row
                // failed: the whole channel waits, so a dead peer is not hammered by
                // one retry per account.
                if let Some(ra) = retry_after {
                    self.not_before = self.not_before.max(now + ra);
                }
                if self.failures_in_row >= 2 {
                    let wait = delivery_backoff(self.failures_in_row - 1, None, fastrand::f64());
                    self.not_before = self.not_before.max(now + wait);
                }
                for entry in heads {
                    let attempts = self.queue.attempts(&entry.event.account) + 1;
                    let age = self.shared.clock.now().duration_since(entry.created_at);
                    let age = Duration::try_from(age).unwrap_or(Duration::ZERO);
                    if age >= self.shared.give_up_after {
                        error!(channel = %self.name, account = %entry.event.account, event = entry.event.event.as_str(), %reason, attempts, "giving up on delivery after give_up_after");
                        metrics.inc_notification(&self.name, "gave_up");
                        gave_up.push(entry.seq);
                        finished.push(entry);
                    } else {
                        // Never wait past the give-up moment: the last try happens then.
                        let left = self.shared.give_up_after.saturating_sub(age);
                        let wait = delivery_backoff(attempts, retry_after, fastrand::f64())
                            .min(left + Duration::from_millis(1));
                        warn!(channel = %self.name, account = %entry.event.account, event = entry.event.event.as_str(), %reason, attempt = attempts, retry_in = %humantime::format_duration(Duration::from_millis(wait.as_millis() as u64)), "delivery failed; will retry");
                        metrics.inc_notification(&self.name, "retried");
                        self.queue.retry_at(&entry.event.account, now + wait);
                    }
                }
            }
        }
        for entry in heads {
            self.shared.activity.delivery(
                &self.name,
                Delivery {
                    at: self.shared.clock.now(),
                    result: if gave_up.contains(&entry.seq) {
                        DeliveryResult::GaveUp
                    } else {
                        outcome
                    },
                    event: entry.event.event.as_str().to_string(),
                    account: entry.event.account.clone(),
                    error: error.clone(),
                },
            );
        }
        if finished.is_empty() {
            return;
        }
        let mut seqs = Vec::with_capacity(finished.len());
        for entry in finished {
            if self
                .queue
                .head(&entry.event.account)
                .is_some_and(|e| e.seq == entry.seq)
            {
                self.queue.done(&entry.event.account);
            }
            seqs.push(entry.seq);
        }
        self.shared.remove_from_outbox(&seqs).await;
    }
}

/// When a failing account (not yet reported) turns blind, as a monotonic instant.
fn blindness_due(
    state: &AccountState,
    config: &AccountConfig,
    now: Timestamp,
    now_instant: Instant,
) -> Option<Instant> {
    if state.monitor_failing {
        return None;
    }
    let since = state.failing_since?;
    let elapsed = Duration::try_from(now.duration_since(since)).unwrap_or(Duration::ZERO);
    let left = config.blind_after.saturating_sub(elapsed);
    // "Longer than blind_after": just past it.
    Some(now_instant + left + Duration::from_millis(1))
}

async fn sleep_until_opt(due: Option<Instant>) {
    match due {
        Some(due) => tokio::time::sleep_until(due).await,
        None => std::future::pending().await,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const S: fn(u64) -> Duration = Duration::from_secs;

    #[test]
    fn poll_backoff_follows_spec() {
        let five_min = S(300);
        // First retry after 60 s, doubling, capped at poll_interval.
        assert_eq!(poll_backoff(1, five_min, S(60), None, 0.0), S(60));
        assert_eq!(poll_backoff(2, five_min, S(60), None, 0.0), S(120));
        assert_eq!(poll_backoff(3, five_min, S(60), None, 0.0), S(240));
        assert_eq!(poll_backoff(4, five_min, S(60), None, 0.0), five_min);
        assert_eq!(poll_backoff(40, five_min, S(60), None, 0.0), five_min);
        // Jitter shaves a little but never goes under the floor.
        let j = poll_backoff(3, five_min, S(60), None, 0.99);
        assert!(j < S(240) && j >= S(216), "{j:?}");
        assert_eq!(poll_backoff(1, five_min, S(60), None, 0.99), S(60));
        // A larger Retry-After wins, a smaller one does not shorten the wait.
        assert_eq!(poll_backoff(1, five_min, S(60), Some(S(900)), 0.0), S(900));
        assert_eq!(poll_backoff(2, five_min, S(60), Some(S(5)), 0.0), S(120));
        // Loopback: poll_interval under 60 s is its own floor.
        let fast = Duration::from_millis(200);
        assert_eq!(poll_backoff(1, fast, fast, None, 0.5), fast);
    }

    #[test]
    fn delivery_backoff_doubles_to_five_minutes() {
        assert_eq!(delivery_backoff(1, None, 0.0), S(1));
        assert_eq!(delivery_backoff(2, None, 0.0), S(2));
        assert_eq!(delivery_backoff(5, None, 0.0), S(16));
        assert_eq!(delivery_backoff(30, None, 0.0), S(300));
        assert!(delivery_backoff(30, None, 0.9) >= S(240));
        assert_eq!(delivery_backoff(1, Some(S(30)), 0.0), S(30));
    }
}
