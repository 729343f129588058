//! One task per account: polls on its own schedule with backoff and the rate floor,
//! notices blindness between polls, and hands each result to the commit.

use super::*;

/// The wait before the next poll after `failures` consecutive failures (SPEC §2): 60 s
/// (or `poll_interval` if shorter), doubling, never longer than `poll_interval` unless
/// a larger `Retry-After` says so, never shorter than the rate floor. `jitter` in
/// [0, 1) shaves up to 10 % off so retries of many accounts spread out.
pub(super) fn poll_backoff(
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

pub(super) struct AccountTask {
    pub(super) shared: Arc<Shared>,
    pub(super) setup: super::setup::SetupRx,
    pub(super) shutdown: Shutdown,
    /// Dropped when the task ends: that is how `run` learns it finished.
    pub(super) _done: mpsc::Sender<()>,
}

impl AccountTask {
    pub(super) async fn run(mut self) {
        let Ok(AccountSetup {
            mut config,
            mut client,
        }) = self.setup.latest()
        else {
            return; // removed by a reload before it started
        };
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
            // already due, or a removed account gets polled once more. One timer for
            // the earliest of the three deadlines, not one each: 10,000 idle tasks
            // would each hold two more timer entries (issue 7: RSS at 10,000 accounts).
            tokio::select! {
                biased;
                _ = self.shutdown.recv() => return,
                changed = self.setup.changed() => {
                    if changed.is_err() {
                        return; // removed by a reload
                    }
                    let Ok(setup) = self.setup.latest() else {
                        return; // removed by a reload
                    };
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
                _ = tokio::time::sleep_until(wake) => {}
            }
            // The same order as the deadlines were taken: blindness, escalation, poll.
            if blind_check.is_some_and(|b| b < next && b <= wake) {
                blind_check = Box::pin(self.check_blindness(&config)).await;
                escalation_check = self.escalation_due(&config);
                continue;
            }
            if escalation_check.is_some_and(|e| e < next && e <= wake) {
                // Nothing new is known: only the clock moved.
                let state = self.current_state(&config.name);
                Box::pin(
                    self.shared
                        .commit(&config, state, Vec::new(), None, &self.setup),
                )
                .await;
                escalation_check = self.escalation_due(&config);
                continue;
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
            // Built in a block so that `before`, `new` and `result` end before the
            // await: an idle task's future would otherwise keep room for them
            // (they are ~600 bytes; the idle future went from 936 to 632, issue 7).
            let commit = {
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
                        let estimate = self.shared.store.with_history(&config.name, |h| {
                            crate::core::runway::record(h, &config.runway, now, balance.amount)
                        });
                        metrics.set_runway(
                            &config.name,
                            config.provider_name(),
                            &balance.currency,
                            &estimate,
                        );
                        debug!(account = %config.name, provider = config.provider_name(), balance = %balance.amount, currency = %balance.currency, "balance polled");
                        let observation = Observation {
                            balance: balance.amount,
                            currency: balance.currency,
                            pricing_plan: balance.pricing_plan,
                            date_updated: balance.date_updated,
                            observed_at: now,
                        };
                        evaluate::on_poll(&before, &policy(&config), observation, estimate, now)
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
                        evaluate::on_failure(
                            &before,
                            &policy(&config),
                            class,
                            &err.to_string(),
                            now,
                        )
                    }
                };
                metrics.set_level(&config.name, config.provider_name(), new.level);
                // Counted from after the response, like `failing_since` in the state.
                blind_check = blindness_due(&new, &config, now, Instant::now());
                Box::pin(
                    self.shared
                        .commit(&config, new, emitted, Some(polled_at), &self.setup),
                )
            };
            commit.await;
            escalation_check = self.escalation_due(&config);
        }
    }

    /// When the account's next escalation step falls due, if its clock runs.
    pub(super) fn escalation_due(&self, config: &AccountConfig) -> Option<Instant> {
        let state = self.shared.store.lock();
        let record = state.accounts.get(&config.name)?;
        // Just past it, like blindness: the step fires at `after`, not before.
        paging::next_escalation(config, record, self.shared.clock.now())
            .map(|d| Instant::now() + d + Duration::from_millis(1))
    }

    /// Startup jitter spreads many accounts out; the rate floor holds across restarts.
    pub(super) fn first_poll(&self, config: &AccountConfig) -> Instant {
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
    pub(super) fn note_request(&self, name: &str, at: Timestamp) {
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
    pub(super) async fn check_blindness(&self, config: &AccountConfig) -> Option<Instant> {
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

    pub(super) fn current_state(&self, name: &str) -> AccountState {
        self.shared
            .store
            .lock()
            .accounts
            .get(name)
            .map(|r| r.eval.clone())
            .unwrap_or_default()
    }

    /// After a reload: the last known balance against the new thresholds, at once.
    pub(super) async fn reevaluate(&self, config: &AccountConfig) {
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

/// When a failing account (not yet reported) turns blind, as a monotonic instant.
pub(super) fn blindness_due(
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

pub(super) async fn sleep_until_opt(due: Option<Instant>) {
    match due {
        Some(due) => tokio::time::sleep_until(due).await,
        None => std::future::pending().await,
    }
}
