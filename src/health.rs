//! Liveness: task heartbeats, the supervisor that turns them into systemd watchdog pings
//! and `/healthz` answers, and a dependency-free `sd_notify`.
//!
//! A task does not tick periodically to prove it is alive: with 10,000 account tasks that
//! would be 10,000 needless wakeups. Instead it declares a deadline before it waits
//! ("I'll be back within my sleep + request timeout + slack") and the supervisor, which
//! wakes anyway for the watchdog, compares deadlines with the clock. A task that waits
//! for work with no bound (a delivery worker with an empty queue) says [`Heartbeat::idle`]
//! and is never stuck. Cost per heartbeat: one atomic store; the registry is a mutexed
//! map touched only on register, drop and the supervisor's scan.
//!
//! Deadlines use `tokio::time::Instant`, so tests can pause and advance time.

use std::collections::HashMap;
use std::ffi::OsStr;
use std::future::Future;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, Weak};
use std::time::Duration;

use tokio::time::Instant;

/// Deadline value meaning "waiting with no deadline": never stuck.
const IDLE: u64 = u64::MAX;

/// The registry of live heartbeats, shared as `Arc` by the daemon, the supervisor and the
/// `/healthz` handler.
#[derive(Debug)]
pub struct Heartbeats {
    /// Deadlines are stored as nanoseconds since this instant so they fit an `AtomicU64`
    /// (584 years of range).
    base: Instant,
    next_id: AtomicU64,
    slots: Mutex<HashMap<u64, Arc<Slot>>>,
}

#[derive(Debug)]
struct Slot {
    name: String,
    /// Nanoseconds since `Heartbeats::base`, or [`IDLE`].
    deadline: AtomicU64,
}

/// One task's heartbeat. Deregisters itself when dropped, so a task that ends (an account
/// removed on reload) simply disappears from the supervisor's view.
#[derive(Debug)]
pub struct Heartbeat {
    id: u64,
    slot: Arc<Slot>,
    /// Weak so a heartbeat held by a lingering task never keeps the registry alive.
    registry: Weak<Heartbeats>,
}

impl Heartbeats {
    pub fn new() -> Arc<Self> {
        Arc::new(Heartbeats {
            base: Instant::now(),
            next_id: AtomicU64::new(0),
            slots: Mutex::new(HashMap::new()),
        })
    }

    /// Registers a task under `name` (names need not be unique; stuck names are reported
    /// once each). The heartbeat starts idle: call [`Heartbeat::expect_back_within`]
    /// before the task's first wait that must end.
    pub fn register(self: &Arc<Self>, name: impl Into<String>) -> Heartbeat {
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        let slot = Arc::new(Slot {
            name: name.into(),
            deadline: AtomicU64::new(IDLE),
        });
        self.lock().insert(id, Arc::clone(&slot));
        Heartbeat {
            id,
            slot,
            registry: Arc::downgrade(self),
        }
    }

    /// Names of tasks whose declared deadline has passed, sorted and without repeats.
    pub fn stuck(&self) -> Vec<String> {
        let now = self.nanos_since_base(Instant::now());
        let mut names: Vec<String> = self
            .lock()
            .values()
            .filter(|slot| {
                let deadline = slot.deadline.load(Ordering::Relaxed);
                deadline != IDLE && now > deadline
            })
            .map(|slot| slot.name.clone())
            .collect();
        names.sort_unstable();
        names.dedup();
        names
    }

    /// How many heartbeats are registered (for logs and tests).
    pub fn len(&self) -> usize {
        self.lock().len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    fn nanos_since_base(&self, at: Instant) -> u64 {
        // Saturate: IDLE - 1 is still a real (if absurdly distant) deadline.
        u64::try_from(at.saturating_duration_since(self.base).as_nanos())
            .unwrap_or(IDLE - 1)
            .min(IDLE - 1)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<u64, Arc<Slot>>> {
        // A panic while holding this lock cannot leave the map half-updated (every
        // critical section is one map call), so a poisoned lock is still usable.
        self.slots.lock().unwrap_or_else(|e| e.into_inner())
    }
}

impl Heartbeat {
    /// "I will be back within `d`": the task is stuck if it has not called this (or
    /// [`idle`](Self::idle)) again by then. Choose `d` as the longest legitimate wait plus
    /// slack, e.g. sleep + request timeout + a minute.
    pub fn expect_back_within(&self, d: Duration) {
        let Some(registry) = self.registry.upgrade() else {
            return;
        };
        let deadline = Instant::now()
            .checked_add(d)
            .map_or(IDLE - 1, |at| registry.nanos_since_base(at));
        self.slot.deadline.store(deadline, Ordering::Relaxed);
    }

    /// Waiting with no deadline (e.g. for work to arrive): never reported stuck.
    pub fn idle(&self) {
        self.slot.deadline.store(IDLE, Ordering::Relaxed);
    }

    pub fn name(&self) -> &str {
        &self.slot.name
    }
}

impl Drop for Heartbeat {
    fn drop(&mut self) {
        if std::thread::panicking() {
            // The task died: it stays registered with a deadline long past, so
            // /healthz and the watchdog report it instead of it vanishing silently.
            // (Release builds abort on panic; systemd then restarts the daemon.)
            self.slot.deadline.store(0, Ordering::Relaxed);
            return;
        }
        if let Some(registry) = self.registry.upgrade() {
            registry.lock().remove(&self.id);
        }
    }
}

/// Sends `state` (e.g. `READY=1`, `WATCHDOG=1`, `RELOADING=1`, `STOPPING=1`,
/// `STATUS=...`) to systemd's `$NOTIFY_SOCKET`.
///
/// Hand-written on purpose: the `sd-notify` crate (0.5) connects to the variable's value
/// as a path, so the abstract `@name` sockets systemd hands to services in containers
/// fail with it; what it would replace is these ~30 lines, tested below. `Ok(false)` when the variable is unset or
/// empty (not started by systemd with `Type=notify`), so callers can ignore the result.
pub fn sd_notify(state: &str) -> std::io::Result<bool> {
    match std::env::var_os("NOTIFY_SOCKET") {
        Some(path) if !path.is_empty() => notify_socket(&path, state).map(|()| true),
        _ => Ok(false),
    }
}

/// The protocol itself: one datagram to a path, or to an abstract socket when the name
/// starts with `@` (systemd uses those in containers and for user services).
fn notify_socket(path: &OsStr, state: &str) -> std::io::Result<()> {
    use std::os::unix::ffi::OsStrExt;
    use std::os::unix::net::UnixDatagram;

    let socket = UnixDatagram::unbound()?;
    let bytes = path.as_bytes();
    if let Some(name) = bytes.strip_prefix(b"@") {
        use std::os::linux::net::SocketAddrExt;
        let addr = std::os::unix::net::SocketAddr::from_abstract_name(name)?;
        socket.send_to_addr(state.as_bytes(), &addr)?;
    } else if bytes.starts_with(b"/") {
        socket.send_to(state.as_bytes(), path)?;
    } else {
        // e.g. `vsock:` addresses, which this daemon has no use for.
        return Err(std::io::Error::new(
            std::io::ErrorKind::InvalidInput,
            "NOTIFY_SOCKET is neither an absolute path nor an abstract (@) name",
        ));
    }
    Ok(())
}

/// How often to ping the systemd watchdog: half of `$WATCHDOG_USEC` (systemd's own
/// advice), or `None` when the watchdog is off or meant for another process
/// (`$WATCHDOG_PID` set to a different pid).
pub fn watchdog_interval() -> Option<Duration> {
    let usec = std::env::var("WATCHDOG_USEC").ok();
    let pid = std::env::var("WATCHDOG_PID").ok();
    watchdog_interval_from(usec.as_deref(), pid.as_deref(), std::process::id())
}

fn watchdog_interval_from(usec: Option<&str>, pid: Option<&str>, me: u32) -> Option<Duration> {
    if let Some(pid) = pid {
        if pid.trim().parse::<u32>().ok()? != me {
            return None;
        }
    }
    let usec: u64 = usec?.trim().parse().ok()?;
    (usec > 0).then(|| Duration::from_micros(usec / 2))
}

/// Every `interval` until `shutdown` completes: ping the systemd watchdog when no task is
/// stuck, otherwise log the stuck tasks and withhold the ping so systemd restarts us.
/// Without systemd the pings are no-ops and this only logs (`/healthz` reports the same).
pub async fn supervise(
    heartbeats: Arc<Heartbeats>,
    interval: Duration,
    shutdown: impl Future<Output = ()>,
) {
    supervise_with(heartbeats, interval, shutdown, |state| {
        if let Err(e) = sd_notify(state) {
            tracing::warn!(error = %e, "could not notify systemd");
        }
    })
    .await
}

/// [`supervise`] with the notifier injected, so tests need not touch the process-global
/// environment.
async fn supervise_with(
    heartbeats: Arc<Heartbeats>,
    interval: Duration,
    shutdown: impl Future<Output = ()>,
    mut notify: impl FnMut(&str),
) {
    let mut ticks = tokio::time::interval(interval.max(Duration::from_millis(10)));
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    tokio::pin!(shutdown);
    // Log when the set of stuck tasks changes, not every tick: without systemd nothing
    // restarts us and a per-tick error would flood the log.
    let mut reported: Vec<String> = Vec::new();
    loop {
        tokio::select! {
            () = &mut shutdown => return,
            _ = ticks.tick() => {}
        }
        let stuck = heartbeats.stuck();
        if stuck.is_empty() {
            notify("WATCHDOG=1");
            if !reported.is_empty() {
                tracing::info!("all tasks are responsive again");
            }
        } else if stuck != reported {
            tracing::error!(
                stuck = %stuck.join(", "),
                "tasks missed their heartbeat deadline; withholding the watchdog ping"
            );
        }
        reported = stuck;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::net::UnixDatagram;

    #[tokio::test(start_paused = true)]
    async fn deadline_passes_then_task_is_stuck() {
        let hb = Heartbeats::new();
        let a = hb.register("account primary");
        let b = hb.register("delivery ops-slack");
        a.expect_back_within(Duration::from_secs(60));
        b.idle();
        assert!(hb.stuck().is_empty());

        tokio::time::advance(Duration::from_secs(60)).await;
        assert!(hb.stuck().is_empty(), "exactly at the deadline is not late");

        tokio::time::advance(Duration::from_millis(1)).await;
        assert_eq!(hb.stuck(), vec!["account primary".to_string()]);

        // Coming back clears it; an idle task never becomes stuck.
        a.expect_back_within(Duration::from_secs(60));
        tokio::time::advance(Duration::from_secs(3600)).await;
        assert_eq!(hb.stuck(), vec!["account primary".to_string()]);
        a.idle();
        assert!(hb.stuck().is_empty());
    }

    #[tokio::test(start_paused = true)]
    async fn new_heartbeat_is_idle_and_drop_deregisters() {
        let hb = Heartbeats::new();
        let a = hb.register("a");
        tokio::time::advance(Duration::from_secs(86_400)).await;
        assert!(hb.stuck().is_empty());

        a.expect_back_within(Duration::from_secs(1));
        tokio::time::advance(Duration::from_secs(2)).await;
        assert_eq!(hb.stuck(), vec!["a".to_string()]);
        assert_eq!(hb.len(), 1);
        drop(a);
        assert!(hb.is_empty());
        assert!(hb.stuck().is_empty());
    }

    #[tokio::test(start_paused = true)]
    async fn duplicate_names_reported_once_and_huge_deadlines_saturate() {
        let hb = Heartbeats::new();
        let a = hb.register("same");
        let b = hb.register("same");
        let forever = hb.register("forever");
        a.expect_back_within(Duration::ZERO);
        b.expect_back_within(Duration::ZERO);
        forever.expect_back_within(Duration::MAX);
        tokio::time::advance(Duration::from_millis(1)).await;
        assert_eq!(hb.stuck(), vec!["same".to_string()]);
    }

    #[test]
    fn heartbeat_outliving_registry_is_harmless() {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_time()
            .build()
            .unwrap();
        rt.block_on(async {
            let hb = Heartbeats::new();
            let a = hb.register("a");
            drop(hb);
            a.expect_back_within(Duration::from_secs(1));
            a.idle();
            drop(a);
        });
    }

    fn recv(sock: &UnixDatagram) -> String {
        let mut buf = [0u8; 256];
        let n = sock.recv(&mut buf).unwrap();
        String::from_utf8(buf[..n].to_vec()).unwrap()
    }

    #[test]
    fn notify_reaches_a_path_socket() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("notify.sock");
        let server = UnixDatagram::bind(&path).unwrap();
        notify_socket(path.as_os_str(), "READY=1").unwrap();
        assert_eq!(recv(&server), "READY=1");
    }

    #[test]
    fn notify_reaches_an_abstract_socket() {
        use std::os::linux::net::SocketAddrExt;
        let name = format!("balance-alert-test-{}-{}", std::process::id(), line!());
        let addr = std::os::unix::net::SocketAddr::from_abstract_name(name.as_bytes()).unwrap();
        let server = UnixDatagram::bind_addr(&addr).unwrap();
        notify_socket(OsStr::new(&format!("@{name}")), "WATCHDOG=1").unwrap();
        assert_eq!(recv(&server), "WATCHDOG=1");
    }

    #[test]
    fn notify_rejects_relative_and_reports_missing_socket() {
        assert_eq!(
            notify_socket(OsStr::new("relative.sock"), "READY=1")
                .unwrap_err()
                .kind(),
            std::io::ErrorKind::InvalidInput
        );
        let dir = tempfile::tempdir().unwrap();
        assert!(notify_socket(dir.path().join("absent").as_os_str(), "READY=1").is_err());
    }

    #[test]
    fn watchdog_interval_is_half_and_respects_pid() {
        let half = Some(Duration::from_secs(15));
        assert_eq!(watchdog_interval_from(Some("30000000"), None, 42), half);
        assert_eq!(
            watchdog_interval_from(Some("30000000"), Some("42"), 42),
            half
        );
        assert_eq!(
            watchdog_interval_from(Some("30000000"), Some("7"), 42),
            None
        );
        assert_eq!(
            watchdog_interval_from(Some("30000000"), Some("x"), 42),
            None
        );
        assert_eq!(watchdog_interval_from(None, None, 42), None);
        assert_eq!(watchdog_interval_from(Some("0"), None, 42), None);
        assert_eq!(watchdog_interval_from(Some("soon"), None, 42), None);
    }

    #[test]
    fn supervise_can_be_spawned() {
        fn assert_send<T: Send + 'static>(_: T) {}
        assert_send(supervise(
            Heartbeats::new(),
            Duration::from_secs(1),
            async {},
        ));
        let hb = Heartbeats::new();
        let beat = hb.register("x");
        assert_send(beat);
    }

    #[tokio::test(start_paused = true)]
    async fn supervisor_pings_only_while_nothing_is_stuck() {
        let hb = Heartbeats::new();
        let task = hb.register("account primary");
        task.expect_back_within(Duration::from_secs(25));

        let pings = Arc::new(Mutex::new(Vec::<Instant>::new()));
        let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
        let start = Instant::now();
        let sup = tokio::spawn({
            let pings = Arc::clone(&pings);
            let hb = Arc::clone(&hb);
            supervise_with(
                hb,
                Duration::from_secs(10),
                async move {
                    let _ = stop_rx.await;
                },
                move |state| {
                    assert_eq!(state, "WATCHDOG=1");
                    pings.lock().unwrap().push(Instant::now());
                },
            )
        });

        // Ticks at 0, 10, 20 ping; at 30 and 40 the task is 5 s / 15 s late.
        tokio::time::sleep(Duration::from_secs(45)).await;
        let secs =
            |v: &[Instant]| -> Vec<u64> { v.iter().map(|t| (*t - start).as_secs()).collect() };
        assert_eq!(secs(&pings.lock().unwrap()), vec![0, 10, 20]);

        // The task comes back: pings resume at the next tick.
        task.expect_back_within(Duration::from_secs(60));
        tokio::time::sleep(Duration::from_secs(10)).await;
        assert_eq!(secs(&pings.lock().unwrap()), vec![0, 10, 20, 50]);

        stop_tx.send(()).unwrap();
        sup.await.unwrap();
    }

    #[tokio::test]
    async fn a_task_that_panics_is_reported_stuck() {
        let heartbeats = Heartbeats::new();
        let registry = heartbeats.clone();
        let task = tokio::spawn(async move {
            let heartbeat = registry.register("doomed task");
            heartbeat.idle();
            panic!("boom");
        });
        assert!(task.await.is_err());
        assert_eq!(heartbeats.stuck(), ["doomed task"]);
    }
}
