//! What the daemon did lately, for the dashboard: each channel's last delivery result,
//! the count of messages that failed for good, and each account's recent events.
//!
//! In memory only and bounded ([`EVENTS_PER_ACCOUNT`] per account): it answers "what
//! happened since the daemon started", while what must survive a restart (levels, the
//! outbox, snoozes) is in the state. The daemon records here; the web reads.

use std::collections::{HashMap, VecDeque};
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

use jiff::Timestamp;
use rust_decimal::Decimal;

use super::view::{Delivery, DeliveryResult, EventLine};
use crate::core::Level;

/// Recent events kept per account.
pub const EVENTS_PER_ACCOUNT: usize = 20;

/// The daemon's recent activity.
#[derive(Debug, Default)]
pub struct Activity {
    deliveries: Mutex<HashMap<String, Delivery>>,
    events: Mutex<HashMap<String, VecDeque<EventLine>>>,
    failed: AtomicU64,
}

impl Activity {
    pub fn new() -> Activity {
        Activity::default()
    }

    /// A delivery attempt's result on `channel`.
    pub fn delivery(&self, channel: &str, delivery: Delivery) {
        if matches!(
            delivery.result,
            DeliveryResult::Failed | DeliveryResult::GaveUp
        ) {
            self.failed.fetch_add(1, Ordering::Relaxed);
        }
        lock(&self.deliveries).insert(channel.to_string(), delivery);
    }

    /// An event emitted for `account` and the channels it was routed to.
    pub fn event(
        &self,
        account: &str,
        at: Timestamp,
        event: &str,
        level: Level,
        balance: Option<Decimal>,
        channels: Vec<String>,
    ) {
        let mut events = lock(&self.events);
        let list = events.entry(account.to_string()).or_default();
        if list.len() == EVENTS_PER_ACCOUNT {
            list.pop_back();
        }
        list.push_front(EventLine {
            at,
            event: event.to_string(),
            level,
            balance,
            channels,
        });
    }

    pub fn last_delivery(&self, channel: &str) -> Option<Delivery> {
        lock(&self.deliveries).get(channel).cloned()
    }

    /// Newest first.
    pub fn events(&self, account: &str) -> Vec<EventLine> {
        lock(&self.events)
            .get(account)
            .map(|l| l.iter().cloned().collect())
            .unwrap_or_default()
    }

    /// Messages refused permanently or given up on since the start.
    pub fn failed(&self) -> u64 {
        self.failed.load(Ordering::Relaxed)
    }

    /// Forgets an account removed by a reload.
    pub fn forget_account(&self, account: &str) {
        lock(&self.events).remove(account);
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    // Every critical section is one map operation: a poisoned map is still consistent.
    m.lock().unwrap_or_else(|p| p.into_inner())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn delivery(result: DeliveryResult) -> Delivery {
        Delivery {
            at: Timestamp::UNIX_EPOCH,
            result,
            event: "alert".into(),
            account: "a".into(),
            error: None,
        }
    }

    #[test]
    fn keeps_the_last_delivery_counts_failures_and_bounds_events() {
        let a = Activity::new();
        a.delivery("slack", delivery(DeliveryResult::Retrying));
        a.delivery("slack", delivery(DeliveryResult::GaveUp));
        a.delivery("mail", delivery(DeliveryResult::Failed));
        a.delivery("mail", delivery(DeliveryResult::Delivered));
        assert_eq!(a.failed(), 2);
        assert_eq!(
            a.last_delivery("slack").unwrap().result,
            DeliveryResult::GaveUp
        );
        assert_eq!(
            a.last_delivery("mail").unwrap().result,
            DeliveryResult::Delivered
        );
        for i in 0..(EVENTS_PER_ACCOUNT + 5) {
            a.event(
                "acct",
                Timestamp::from_second(i as i64).unwrap(),
                "reminder",
                Level::Warning,
                None,
                vec![],
            );
        }
        let events = a.events("acct");
        assert_eq!(events.len(), EVENTS_PER_ACCOUNT);
        assert_eq!(events[0].at.as_second(), (EVENTS_PER_ACCOUNT + 4) as i64);
        a.forget_account("acct");
        assert!(a.events("acct").is_empty());
    }
}
