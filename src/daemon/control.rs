//! The daemon's own lifecycle: spawning account tasks and channel workers, reload
//! (SIGHUP: a new config applied without losing state or pending deliveries), the sample
//! flusher, the state watcher and the daily summary, and the orderly stop.

use super::*;

impl Daemon {
    pub(super) fn shutdown_handle(&self) -> Shutdown {
        Shutdown::new(self.notify_shutdown.subscribe())
    }

    pub(super) fn spawn_account(&mut self, setup: AccountSetup) {
        let name = setup.config.name.clone();
        self.shared
            .metrics
            .register_account(&name, setup.config.provider_name());
        let (tx, rx) = setup::channel(setup);
        let task = AccountTask {
            shared: self.shared.clone(),
            setup: rx,
            shutdown: self.shutdown_handle(),
            _done: self.complete_tx.clone(),
        };
        tokio::spawn(task.run());
        self.accounts.insert(name, tx);
    }

    pub(super) fn spawn_worker(
        &mut self,
        config: Arc<ChannelConfig>,
        channel: Arc<Channel>,
        initial: Vec<Arc<OutboxEntry>>,
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

    pub(super) fn spawn_sample_flusher(&self) {
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
                // Runway histories, last balances and estimates, request times (the
                // rate floor across a crash), each a row written only if it changed, in
                // slices. While the disk refuses, the state watcher retries and says so.
                if let Err(e) = shared.store.save_touched().await {
                    debug!(error = %e, "cannot write the runway histories");
                }
            }
            drop(done);
        });
    }

    /// The daily summary (SPEC §9.6): sleeps until the next `summary_at`, then queues
    /// one `summary` per channel that wants it. Due times are computed from the wall
    /// clock each time, so a summary that fell due while the daemon was down is skipped.
    pub(super) fn spawn_summary(&self, at: jiff::civil::Time, tz: jiff::tz::TimeZone) {
        let shared = self.shared.clone();
        let mut shutdown = self.shutdown_handle();
        let done = self.complete_tx.clone();
        tokio::spawn(async move {
            let heartbeat = shared.heartbeats.register("daily summary");
            let mut due = crate::summary::next_due(shared.clock.now(), at, &tz);
            info!(next = %due, "daily summary scheduled");
            loop {
                let wait = Duration::try_from(due.duration_since(shared.clock.now()))
                    .unwrap_or(Duration::ZERO);
                // Wake at least hourly: the wall clock may step, and the heartbeat
                // must not look stuck for a day.
                let nap = wait.min(Duration::from_secs(3600));
                heartbeat.expect_back_within(nap + HEARTBEAT_SLACK);
                tokio::select! {
                    _ = tokio::time::sleep(nap) => {}
                    _ = shutdown.recv() => break,
                }
                if shared.clock.now() < due {
                    continue;
                }
                shared.send_summaries(due).await;
                due = crate::summary::next_due(due.max(shared.clock.now()), at, &tz);
            }
            drop(done);
        });
    }

    /// Watches whether the state is written: sets `balance_alert_state_writable`, tells
    /// every channel once when it cannot be (`state_unwritable`) and when it can again
    /// (`state_recovered`), and retries the disk while it refuses (SPEC §17).
    pub(super) fn spawn_state_watcher(&self) {
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
    pub(super) async fn reload(&mut self) {
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

        *self
            .shared
            .accounts
            .write()
            .unwrap_or_else(|p| p.into_inner()) = new.accounts.clone();
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
pub(super) fn restore_mirror(
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
        if eval.level != crate::core::Level::Ok && record.routing.alerted.contains(channel) {
            let emitted = Emitted::standing(EventKind::Reminder, eval, &policy(account));
            standing.push(build_event(account, eval, &emitted, now));
        }
        if eval.monitor_failing && record.routing.failing.contains(channel) {
            let emitted = Emitted::plain(EventKind::MonitorFailing, eval.level, None);
            standing.push(build_event(account, eval, &emitted, now));
        }
    }
    drop(state);
    sender.restore(&standing, render);
}

/// The evaluator settings for an account.
pub(super) fn policy(account: &AccountConfig) -> Policy {
    Policy {
        thresholds: account.thresholds,
        repeat_every: account.repeat_every,
        blind_after: account.blind_after,
        runway: account.runway,
        topup_min: Some(account.topup_min),
    }
}
