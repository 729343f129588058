//! One channel's delivery queue (SPEC §5, §17): each account's messages leave in the
//! order they were made, accounts take turns so one account's backlog or failing
//! message never holds up another's, and a provider outage that leaves more than
//! [`GROUP_OVER`] accounts' `monitor_failing` (or `monitor_recovered`) waiting goes out
//! as one grouped message on channels that read like chat, mail or SMS.
//!
//! Messages about no single account queue in lanes of their own ([`lane`]): the state
//! events in one, the daily summary in another.
//!
//! Pure bookkeeping: the daemon's worker sends and tells the queue how it went.

use std::collections::{BTreeSet, HashMap, VecDeque};
use std::sync::Arc;

use jiff::Timestamp;
use tokio::time::Instant;

use crate::core::{Event, EventKind, Level};
use crate::state::OutboxEntry;

/// More than this many accounts' outage messages pending at once are grouped.
pub const GROUP_OVER: usize = 5;

/// The daily summary's lane. Account names never hold control characters, so no
/// account can have it.
const SUMMARY_LANE: &str = "\u{1}summary";

/// The lane a message queues in: its account's (the name the queue's methods take). A
/// message about no single account has an empty account: the state events share that
/// lane, so `state_recovered` never overtakes `state_unwritable`; the daily summary
/// (SPEC §9.6) has a lane of its own, so a summary being retried (a long one to a slow
/// peer) holds up neither them nor any account.
pub fn lane(event: &Event) -> &str {
    match event.event {
        EventKind::Summary => SUMMARY_LANE,
        _ => &event.account,
    }
}

#[derive(Debug, Default)]
struct AccountQueue {
    /// Shared with the state's outbox, not copies of it.
    entries: VecDeque<Arc<OutboxEntry>>,
    /// How many of them are reminders: dropping superseded ones costs nothing when
    /// there are none, so restoring 100,000 pending entries stays linear.
    reminders: usize,
    /// Failed attempts of the head entry.
    attempts: u32,
    /// Waiting out a backoff until then.
    not_before: Option<Instant>,
    /// In the turn order ([`Queue::ready`]).
    in_turn: bool,
    /// Picked and not yet settled.
    busy: bool,
}

/// What to send next.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Pick {
    /// The head of this account's queue.
    One(String),
    /// The heads of these accounts' queues, as one grouped message.
    Group(Vec<String>),
}

/// One channel's pending deliveries, by account.
#[derive(Debug, Default)]
pub struct Queue {
    accounts: HashMap<String, AccountQueue>,
    /// Accounts with something to send now, in turn order.
    ready: VecDeque<String>,
    /// Accounts waiting out a retry backoff, by when they may try again.
    waiting: BTreeSet<(Instant, String)>,
    /// Whether this channel groups outage messages.
    groups: bool,
    len: usize,
}

impl Queue {
    pub fn new(groups: bool) -> Queue {
        Queue {
            groups,
            ..Queue::default()
        }
    }

    pub fn len(&self) -> usize {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Puts an account that may send into the turn order, once.
    fn schedule(&mut self, name: &str) {
        let Some(q) = self.accounts.get_mut(name) else {
            return;
        };
        if q.entries.is_empty() || q.in_turn || q.busy || q.not_before.is_some() {
            return;
        }
        q.in_turn = true;
        self.ready.push_back(name.to_string());
    }

    /// Queues an entry behind its account's earlier ones. A pending `reminder` for the
    /// same account is dropped, since a newer event now says more; their sequence
    /// numbers are returned. (A reminder being sent right now is not recalled.)
    pub fn push(&mut self, entry: Arc<OutboxEntry>) -> Vec<u64> {
        // The lane name borrows from the entry, which moves into the queue below.
        let this = Arc::clone(&entry);
        let name = lane(&this.event);
        // Restoring a backlog pushes many entries an account: allocate its name once.
        if !self.accounts.contains_key(name) {
            self.accounts
                .insert(name.to_string(), AccountQueue::default());
        }
        let queue = self.accounts.get_mut(name).expect("inserted above");
        let mut dropped = Vec::new();
        if queue.reminders > 0 {
            let in_flight = if queue.busy {
                queue.entries.front().map(|e| e.seq)
            } else {
                None
            };
            let head = queue.entries.front().map(|e| e.seq);
            queue.entries.retain(|e| {
                let stale = e.event.event == EventKind::Reminder && Some(e.seq) != in_flight;
                if stale {
                    dropped.push(e.seq);
                }
                !stale
            });
            queue.reminders = queue
                .entries
                .iter()
                .filter(|e| e.event.event == EventKind::Reminder)
                .count();
            if queue.entries.front().map(|e| e.seq) != head {
                // The entry being retried is gone; its backoff does not carry over.
                queue.attempts = 0;
                if let Some(at) = queue.not_before.take() {
                    self.waiting.remove(&(at, name.to_string()));
                }
            }
        }
        if entry.event.event == EventKind::Reminder {
            queue.reminders += 1;
        }
        queue.entries.push_back(entry);
        self.len = self.len + 1 - dropped.len();
        self.schedule(name);
        dropped
    }

    /// When the next send is due: now when an account is ready, else the end of the
    /// earliest backoff; `None` when nothing is pending.
    pub fn due(&self, now: Instant) -> Option<Instant> {
        if !self.ready.is_empty() {
            return Some(now);
        }
        self.waiting.first().map(|(at, _)| *at)
    }

    fn wake(&mut self, now: Instant) {
        while let Some((at, _)) = self.waiting.first() {
            if *at > now {
                break;
            }
            let (_, name) = self.waiting.pop_first().expect("checked");
            if let Some(q) = self.accounts.get_mut(&name) {
                q.not_before = None;
            }
            self.schedule(&name);
        }
    }

    /// The next thing to send, if anything is due. The picked accounts leave the turn
    /// order until [`Queue::done`], [`Queue::retry_at`] or [`Queue::put_back`].
    pub fn pick(&mut self, now: Instant) -> Option<Pick> {
        self.wake(now);
        let name = self.ready.pop_front()?;
        let kind = self.head(&name)?.event.event;
        let mut picked = vec![name];
        if self.groups
            && matches!(
                kind,
                EventKind::MonitorFailing | EventKind::MonitorRecovered
            )
        {
            let same: Vec<String> = self
                .ready
                .iter()
                .filter(|n| self.head(n).is_some_and(|e| e.event.event == kind))
                .cloned()
                .collect();
            if same.len() + 1 > GROUP_OVER {
                self.ready.retain(|n| !same.contains(n));
                picked.extend(same);
            }
        }
        for name in &picked {
            if let Some(q) = self.accounts.get_mut(name) {
                q.in_turn = false;
                q.busy = true;
            }
        }
        Some(if picked.len() == 1 {
            Pick::One(picked.pop().expect("one"))
        } else {
            Pick::Group(picked)
        })
    }

    /// The entry at the head of an account's queue.
    pub fn head(&self, account: &str) -> Option<&Arc<OutboxEntry>> {
        self.accounts.get(account)?.entries.front()
    }

    /// Failed attempts so far of an account's head entry.
    pub fn attempts(&self, account: &str) -> u32 {
        self.accounts.get(account).map_or(0, |q| q.attempts)
    }

    /// The head of `account` was delivered (or given up): the next one may go, after
    /// every other ready account has had its turn.
    pub fn done(&mut self, account: &str) -> Option<Arc<OutboxEntry>> {
        let q = self.accounts.get_mut(account)?;
        q.busy = false;
        let entry = q.entries.pop_front()?;
        if entry.event.event == EventKind::Reminder {
            q.reminders -= 1;
        }
        self.len -= 1;
        q.attempts = 0;
        if q.entries.is_empty() {
            if let Some(at) = q.not_before {
                self.waiting.remove(&(at, account.to_string()));
            }
            if !q.in_turn {
                self.accounts.remove(account);
            }
        } else {
            self.schedule(account);
        }
        Some(entry)
    }

    /// The head of `account` failed; it is tried again no sooner than `at`. Returns the
    /// number of failed attempts so far.
    pub fn retry_at(&mut self, account: &str, at: Instant) -> u32 {
        let Some(q) = self.accounts.get_mut(account) else {
            return 0;
        };
        q.busy = false;
        q.attempts += 1;
        if let Some(old) = q.not_before.replace(at) {
            self.waiting.remove(&(old, account.to_string()));
        }
        if q.in_turn {
            q.in_turn = false;
            self.ready.retain(|n| n != account);
        }
        self.waiting.insert((at, account.to_string()));
        q.attempts
    }

    /// An attempt that did not happen (shutdown): the account keeps its place.
    pub fn put_back(&mut self, account: &str) {
        if let Some(q) = self.accounts.get_mut(account) {
            q.busy = false;
            if q.not_before.is_none() && !q.in_turn && !q.entries.is_empty() {
                q.in_turn = true;
                self.ready.push_front(account.to_string());
            }
        }
    }

    /// Every backoff ends now (the channel's settings changed: the fix may be in them).
    pub fn retry_all_now(&mut self) {
        while let Some((_, name)) = self.waiting.pop_first() {
            if let Some(q) = self.accounts.get_mut(&name) {
                q.not_before = None;
                q.attempts = 0;
            }
            self.schedule(&name);
        }
    }
}

/// One message standing for several accounts' outage messages of one `kind`, their
/// names worst first within `max_chars` ("and N more" for the rest). Every channel's
/// renderer can show it: it is an event whose account is the list.
pub fn group_event(kind: EventKind, members: &[&Event], now: Timestamp, max_chars: usize) -> Event {
    let mut sorted: Vec<&Event> = members.to_vec();
    // Worst first: an account already critical matters most while nobody can see it.
    sorted.sort_by(|a, b| {
        b.level
            .cmp(&a.level)
            .then_with(|| a.account.cmp(&b.account))
    });
    let total = sorted.len();
    let mut list = String::new();
    let mut shown = 0;
    for event in &sorted {
        let more = total - shown - 1;
        let candidate = if shown == 0 {
            event.account.clone()
        } else {
            format!("{list}, {}", event.account)
        };
        let tail = if more > 0 {
            format!(" and {more} more")
        } else {
            String::new()
        };
        if shown > 0 && candidate.chars().count() + tail.chars().count() > max_chars {
            break;
        }
        list = candidate;
        shown += 1;
    }
    if shown < total {
        list.push_str(&format!(" and {} more", total - shown));
    }
    let mut errors: Vec<&str> = sorted.iter().filter_map(|e| e.error.as_deref()).collect();
    errors.dedup();
    // One provider's outage is the usual case; several are named together.
    let mut providers: Vec<&str> = sorted.iter().map(|e| e.provider.as_str()).collect();
    providers.sort_unstable();
    providers.dedup();
    let provider = providers.join(",");
    let error = match (kind, errors.as_slice()) {
        (EventKind::MonitorFailing, [one]) => Some(one.to_string()),
        (EventKind::MonitorFailing, [first, ..]) => {
            Some(format!("{first} (and other errors on some accounts)"))
        }
        _ => None,
    };
    let worst = sorted.first().map_or(Level::Ok, |e| e.level);
    Event {
        id: crate::core::new_event_id(),
        event: kind,
        account: format!("{total} accounts ({list})"),
        provider,
        sid: format!("{total} accounts"),
        level: worst,
        previous_level: None,
        balance: None,
        currency: sorted
            .first()
            .map(|e| e.currency.clone())
            .unwrap_or_default(),
        threshold: None,
        pricing_plan: None,
        date_updated: None,
        observed_at: now,
        error,
        // Many accounts' outage news: no one account's forecast.
        ..Event::default()
    }
}

#[cfg(test)]
mod tests;
