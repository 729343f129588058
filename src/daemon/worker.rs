//! One delivery worker per channel: drains that channel's part of the outbox, each
//! account's messages in order, retrying with backoff and never blocking other accounts
//! behind one account's failures (SPEC §5, §17).

use super::*;

/// The wait before the next delivery attempt: 1 s doubling to 5 min, with jitter, and
/// never sooner than the peer's `Retry-After`.
pub(super) fn delivery_backoff(
    attempts: u32,
    retry_after: Option<Duration>,
    jitter: f64,
) -> Duration {
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

/// Drains one channel's queue: each account's messages in order, accounts in turn,
/// retrying each with its own backoff (SPEC §5, §17).
pub(super) struct Worker {
    pub(super) shared: Arc<Shared>,
    pub(super) name: String,
    pub(super) channel: Arc<Channel>,
    pub(super) queue: Queue,
    /// Failed attempts in a row on this channel, across accounts: two accounts failing
    /// one after the other mean the peer is down, and the whole channel backs off.
    pub(super) failures_in_row: u32,
    pub(super) last_failed: Option<String>,
    /// The whole channel waits until then (a peer's `Retry-After`, a peer down).
    pub(super) not_before: Instant,
    pub(super) rx: mpsc::UnboundedReceiver<WorkerMsg>,
    pub(super) heartbeat: Heartbeat,
    pub(super) shutdown: Shutdown,
    pub(super) _done: mpsc::Sender<()>,
}

impl Worker {
    pub(super) async fn run(mut self) {
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
                    Some(WorkerMsg::Enqueue(entry)) => { self.enqueue(entry).await; continue; }
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
    pub(super) async fn enqueue(&mut self, entry: Arc<OutboxEntry>) {
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
    pub(super) async fn deliver_next(&mut self) -> bool {
        let Some(pick) = self.queue.pick(Instant::now()) else {
            return true;
        };
        let accounts = match &pick {
            Pick::One(a) => vec![a.clone()],
            Pick::Group(all) => all.clone(),
        };
        let heads: Vec<Arc<OutboxEntry>> = accounts
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

    pub(super) async fn settle(
        &mut self,
        heads: &[Arc<OutboxEntry>],
        result: Result<(), notify::DeliveryError>,
    ) {
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
                let account = heads.first().map(|e| delivery::lane(&e.event).to_string());
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
                    let attempts = self.queue.attempts(delivery::lane(&entry.event)) + 1;
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
                        self.queue
                            .retry_at(delivery::lane(&entry.event), now + wait);
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
                .head(delivery::lane(&entry.event))
                .is_some_and(|e| e.seq == entry.seq)
            {
                self.queue.done(delivery::lane(&entry.event));
            }
            seqs.push(entry.seq);
        }
        self.shared.remove_from_outbox(&seqs).await;
    }
}
