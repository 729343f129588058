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
//! Files: `poll.rs` (the account tasks), `commit.rs` (a poll's result to state and
//! outbox), `worker.rs` (the channel workers), `control.rs` (spawning, reload, the
//! flushers and the stop), `paging.rs` (escalation and quiet hours); this file wires
//! them in [`run`].
//!
//! Per-poll work is kept small: parse, evaluate, and a state write only when something
//! that must survive a crash changed (a level, a latch, a reminder time, the outbox).

use std::collections::HashMap;
use std::future::Future;
use std::net::SocketAddr;
use std::sync::{Arc, RwLock};
use std::time::Duration;

use jiff::Timestamp;
use tokio::sync::{broadcast, mpsc, oneshot};
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
use crate::state::prefetch::Prefetch;
use crate::state::{Opened, OutboxEntry, StateError, Store};
use crate::web::{self, activity::Activity, live::Live, view::Delivery, view::DeliveryResult};

mod commit;
mod control;
mod paging;
mod poll;
mod setup;
mod worker;

use commit::{build_event, decimal_to_f64};
use control::{policy, restore_mirror};
use poll::{AccountTask, sleep_until_opt};
use worker::Worker;

/// Extra time a task may take beyond its declared wake-up before it counts as stuck.
const HEARTBEAT_SLACK: Duration = Duration::from_secs(30);
/// How often the runway histories (and last balances) are flushed.
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
    /// The state database, being read since before the config was validated.
    pub prefetch: Option<Prefetch>,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            clock: Arc::new(crate::SystemClock),
            reload: None,
            on_ready: None,
            prefetch: None,
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
    /// The accounts as configured now (for the daily summary).
    accounts: RwLock<Vec<Arc<AccountConfig>>>,
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
    Enqueue(Arc<OutboxEntry>),
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
    accounts: HashMap<String, setup::SetupTx>,
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
        prefetch,
    } = options;
    for warning in &config.warnings {
        warn!("{warning}");
    }
    // Build every client first: a config that cannot be put to work stops here.
    let clients = build_clients(&config)?;
    let channels = build_channels(&config)?;

    let (store, opened) = Store::open_prefetched(&config.daemon.state_file, clock.now(), prefetch)?;
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
        accounts: RwLock::new(config.accounts.clone()),
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
    // Opening decoded every row (JSON) into short-lived buffers: give them back.
    release_freed_memory();

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
    if let Some(at) = daemon.config.daemon.summary_at {
        let tz = daemon
            .config
            .daemon
            .timezone
            .as_ref()
            .map_or(jiff::tz::TimeZone::UTC, |(_, tz)| tz.clone());
        daemon.spawn_summary(at, tz);
    }
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
    release_startup_code();
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

/// Forgets accounts (and runway histories) no longer configured, drops deliveries for
/// removed channels (saying how many), and returns the rest by channel, oldest first.
fn reconcile(
    store: &Store,
    config: &Config,
    metrics: &Metrics,
) -> HashMap<String, Vec<Arc<OutboxEntry>>> {
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
    store.retain_histories(|name| config.account(name).is_some());
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
    let mut pending: HashMap<String, Vec<Arc<OutboxEntry>>> = HashMap::new();
    // Held entries wait for the release task, not for a worker. The workers share the
    // entries with the state (an `Arc` each), so a large backlog is not copied.
    for entry in state.outbox().values().filter(|e| !e.is_held()) {
        match pending.get_mut(&entry.channel) {
            Some(queue) => queue.push(entry.clone()),
            None => {
                pending.insert(entry.channel.clone(), vec![entry.clone()]);
            }
        }
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
            metrics.set_runway(name, provider, &last.currency, &record.eval.estimate);
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

/// Caps glibc's malloc arenas at two, unless `MALLOC_ARENA_MAX` says otherwise. glibc
/// gives threads that allocate at the same time arenas of their own (up to eight per
/// core), and each keeps its own freed memory. Since mimalloc is the global allocator
/// (lib.rs) this concerns only what C code allocates (SQLite); before, it was several
/// MiB at 10,000 accounts (docs/performance.md). Call before any thread starts. (musl
/// has one heap and no `mallopt`.)
pub fn limit_malloc_arenas() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    {
        if std::env::var_os("MALLOC_ARENA_MAX").is_some() {
            return;
        }
        unsafe extern "C" {
            fn mallopt(param: std::ffi::c_int, value: std::ffi::c_int) -> std::ffi::c_int;
        }
        const M_ARENA_MAX: std::ffi::c_int = -8;
        // SAFETY: mallopt only sets an allocator parameter; called before other threads.
        unsafe {
            mallopt(M_ARENA_MAX, 2);
        }
    }
}

/// Hands freed heap back to the kernel. Parsing a 10,000-account config file, and
/// decoding 10,000 runway histories and the pending outbox at start, each peak at tens
/// of MiB of short-lived allocations. mimalloc (the global allocator) returns freed
/// pages after a delay; this does it now, and trims glibc's heap of what SQLite freed
/// (musl has no `malloc_trim`).
pub fn release_freed_memory() {
    // SAFETY: mi_collect only returns the free memory of mimalloc's heaps (the global
    // allocator, see lib.rs); it takes no pointers.
    unsafe {
        libmimalloc_sys::mi_collect(true);
    }
    // SQLite allocates with the C library's malloc.
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    {
        unsafe extern "C" {
            fn malloc_trim(pad: usize) -> std::ffi::c_int;
        }
        // SAFETY: malloc_trim only releases free heap pages; it takes no pointers and
        // is safe to call at any time from any thread.
        unsafe {
            malloc_trim(0);
        }
    }
}

/// Gives the pages of this program's own code back to the kernel once it runs. Start-up
/// code (the CLI, the TOML reader and validation, opening the database, TLS set-up) is
/// most of the code a start touches, and a page once touched stays resident: with one
/// account that was 5.6 of the 6.9 MiB RSS, against SPEC §15's 4 MiB (5.9 MiB after).
/// `MADV_PAGEOUT` (Linux 5.4+) reclaims the clean pages; what a poll or a delivery runs
/// is read back from the page cache or the file on its first use and stays. Best
/// effort: an older kernel or any error leaves things as they were.
pub fn release_startup_code() {
    #[cfg(target_os = "linux")]
    {
        const MADV_PAGEOUT: std::ffi::c_int = 21;
        unsafe extern "C" {
            fn madvise(
                addr: *mut std::ffi::c_void,
                len: usize,
                advice: std::ffi::c_int,
            ) -> std::ffi::c_int;
        }
        let Ok(exe) = std::fs::read_link("/proc/self/exe") else {
            return;
        };
        let Ok(maps) = std::fs::read_to_string("/proc/self/maps") else {
            return;
        };
        for line in maps.lines() {
            // `start-end perms offset dev inode path`: the executable's code mappings.
            let mut fields = line.split_whitespace();
            let (Some(range), Some(perms)) = (fields.next(), fields.next()) else {
                continue;
            };
            if !perms.starts_with("r-x") || fields.nth(3).map(std::path::Path::new) != Some(&exe) {
                continue;
            }
            let Some((start, end)) = range.split_once('-') else {
                continue;
            };
            let (Ok(start), Ok(end)) = (
                usize::from_str_radix(start, 16),
                usize::from_str_radix(end, 16),
            ) else {
                continue;
            };
            // SAFETY: advice on a mapping of our own, read-only code; MADV_PAGEOUT only
            // drops clean pages, which the kernel reads back on the next access.
            unsafe {
                madvise(start as *mut std::ffi::c_void, end - start, MADV_PAGEOUT);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::poll::poll_backoff;
    use super::worker::delivery_backoff;
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
