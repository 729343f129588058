//! From an evaluated poll to outbox entries: the account's new state is stored, its
//! events are built, routed and (outside quiet hours) handed to the channel workers,
//! persisted first when something that must survive a crash changed (SPEC §8, §17).

use super::*;

/// The parts of an account's state whose change must reach disk before anything is
/// sent. The last balance, runway estimate and error text are not among them: they
/// change every poll, and the minute flush keeps them.
pub(super) fn must_persist(old: &AccountState, new: &AccountState) -> bool {
    old.warning_active != new.warning_active
        || old.critical_active != new.critical_active
        || old.runway_warning_active != new.runway_warning_active
        || old.runway_critical_active != new.runway_critical_active
        || old.level != new.level
        || old.last_notice_at != new.last_notice_at
        || old.failing_since != new.failing_since
        || old.monitor_failing != new.monitor_failing
}

impl Shared {
    /// Stores an account's new state and turns its events into outbox entries: routed,
    /// persisted, then handed to the channel workers.
    pub(super) async fn commit(
        &self,
        account: &AccountConfig,
        new: AccountState,
        emitted: Vec<Emitted>,
        polled_at: Option<Timestamp>,
        setup: &super::setup::SetupRx,
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
            let emitted = emitted
                .into_iter()
                .map(|e| (e, None))
                .chain(due.into_iter().map(|d| {
                    // Says which latch holds the level now: amount or runway (SPEC §9.2).
                    let escalated = Emitted {
                        level: d.level,
                        ..Emitted::standing(EventKind::Escalated, &record.eval, &policy(account))
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
                if route.tx.send(WorkerMsg::Enqueue(entry)).is_err() {
                    // The worker is gone (it panicked); the entry stays in the outbox
                    // and goes out after a restart. /healthz reports the dead task.
                    error!("delivery worker is not running; message kept in the outbox");
                }
            }
        }
    }

    /// Queues a message about the state itself for every channel whose `events` names
    /// it (all do by default, SPEC §9.5).
    pub(super) fn broadcast_state_event(&self, kind: EventKind, reason: Option<String>) {
        let now = self.clock.now();
        let path = self.store.path().display().to_string();
        // No account, provider or balance: it is about the daemon's own disk.
        let event = Event {
            id: new_event_id(),
            event: kind,
            level: routing::severity(kind, crate::core::Level::Ok),
            observed_at: now,
            error: reason.map(|r| format!("{path}: {r}")),
            ..Event::default()
        };
        let routes = self.routes.read().unwrap_or_else(|p| p.into_inner());
        let mut names: Vec<&String> = routes
            .iter()
            .filter(|(_, r)| r.config.wants(kind))
            .map(|(n, _)| n)
            .collect();
        names.sort();
        info!(event = kind.as_str(), channels = ?names, "event");
        let entries: Vec<Arc<OutboxEntry>> = {
            let mut state = self.store.lock();
            names
                .iter()
                .map(|name| state.push_outbox((*name).clone(), now, event.clone(), None))
                .collect()
        };
        for entry in entries {
            if let Some(route) = routes.get(&entry.channel) {
                let _ = route.tx.send(WorkerMsg::Enqueue(entry));
            }
        }
    }

    /// Queues one `summary` for each channel whose `events` names it, covering every
    /// account that lists the channel in `notify`: persisted, then handed to the
    /// workers, where it queues in a lane of its own ([`delivery::lane`]). Never held
    /// for quiet hours: it goes at the `summary_at` the operator chose.
    pub(super) async fn send_summaries(&self, at: Timestamp) {
        let now = self.clock.now();
        let accounts = self
            .accounts
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .clone();
        let (entries, pending) = {
            let routes = self.routes.read().unwrap_or_else(|p| p.into_inner());
            let mut names: Vec<&String> = routes
                .iter()
                .filter(|(_, r)| r.config.wants(EventKind::Summary))
                .map(|(n, _)| n)
                .collect();
            names.sort();
            let mut state = self.store.lock();
            let mut entries = Vec::new();
            for name in names {
                let rows: Vec<_> = accounts
                    .iter()
                    .filter(|a| a.notify.iter().any(|n| n == name))
                    .map(|a| crate::summary::row(a, state.accounts.get(&a.name).map(|r| &r.eval)))
                    .collect();
                if rows.is_empty() {
                    continue;
                }
                let event = crate::summary::build(rows, at);
                entries.push(state.push_outbox(name.clone(), now, event, None));
            }
            (entries, state.outbox().len())
        };
        if entries.is_empty() {
            return;
        }
        info!(channels = entries.len(), "daily summary");
        if let Err(e) = self.store.save().await {
            // Still send, like any other message; the state watcher reports the disk.
            debug!(error = %e, "cannot persist the daily summary before delivery");
            self.metrics.inc_state_write_error();
        }
        self.metrics.set_outbox_pending(pending);
        let routes = self.routes.read().unwrap_or_else(|p| p.into_inner());
        for entry in entries {
            if let Some(route) = routes.get(&entry.channel) {
                let _ = route.tx.send(WorkerMsg::Enqueue(entry));
            }
        }
    }

    /// Removes delivered (or abandoned) entries from the persisted outbox.
    pub(super) async fn remove_from_outbox(&self, seqs: &[u64]) {
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
pub(super) fn build_event(
    account: &AccountConfig,
    state: &AccountState,
    emitted: &Emitted,
    now: Timestamp,
) -> Event {
    let last = state.last.as_ref();
    // Every account message but a failing monitor's tells the future (SPEC §9.3).
    let tells_future = !matches!(emitted.kind, EventKind::MonitorFailing | EventKind::Test);
    let estimate = state.estimate;
    let known = tells_future && estimate.burn_per_day.is_some();
    Event {
        cause: emitted.cause,
        runway_threshold_seconds: emitted.runway_threshold,
        topup_amount: emitted.topup_amount,
        burn_per_day: estimate.burn_per_day.filter(|_| known),
        runway_seconds: estimate.runway.seconds().filter(|_| known),
        depletes_at: last
            .and_then(|o| estimate.depletes_at(o.observed_at))
            .filter(|_| known),
        burn_window_seconds: Some(estimate.span_seconds).filter(|_| known),
        accounts: Vec::new(),
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

pub(super) fn decimal_to_f64(d: rust_decimal::Decimal) -> f64 {
    use rust_decimal::prelude::ToPrimitive;
    d.to_f64().unwrap_or(f64::NAN)
}
