//! Persisted state (SPEC §8, §17): per-account levels, latches, reminder times and
//! routing memory, the delivery outbox and each account's bounded runway history
//! ([`crate::core::History`], SPEC §9.1), kept in memory and written row by row to an
//! embedded database behind the [`backend::Backend`] seam. The store treats a history
//! as an opaque serializable value: one `samples` row per account, written by the
//! minute flush only when a poll changed it; the core decides what is in it.
//!
//! The daemon works on the in-memory [`State`]; every change marks the rows it touched,
//! and [`Store::save`] writes just those rows in one transaction before a message may
//! leave. When the database cannot be opened or written (full or read-only disk, a
//! directory in its place), the store keeps running from memory, says so through
//! [`Store::writability`], and retries every few seconds; once a write succeeds again
//! everything in memory is written out.
//!
//! Opening also imports a JSON state file of an earlier version ([`import`]), refuses a
//! database of a newer version, and salvages a damaged one.
//!
//! Files: this one has the records and the in-memory [`State`] with its dirty rows;
//! `store.rs` the [`Store`] (locking, writes, retries); `backend.rs` the storage seam,
//! `sqlite.rs` its SQLite implementation, `import.rs` opening, import and salvage,
//! `prefetch.rs` reading the database at start while the config is validated.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use jiff::Timestamp;
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

use crate::core::Snooze;
use crate::core::escalation::EscalationClock;
use crate::core::{AccountState, Event, History, Level, Routing};

pub mod backend;
mod import;
pub mod prefetch;
mod sqlite;
mod store;

use backend::{Backend, Batch, Loaded, OutboxRow};
pub use sqlite::SCHEMA_VERSION;
pub use store::Store;

/// Rows of the minute flush written per transaction: a crossing's commit waits for at
/// most one slice (500 held the static musl build's p99 at 72 ms, 100 at 4.0-7.5 ms,
/// 25 at 3.4-4.6 ms; docs/performance.md, runs 4 and 5). A commit to the WAL costs no
/// sync, so 400 small transactions a minute at 10,000 accounts cost nothing to speak of.
const FLUSH_SLICE: usize = 25;

/// How often writes are retried while the state cannot be written.
pub const RETRY_EVERY: Duration = Duration::from_secs(5);

/// Everything that must survive a restart, as one document: the JSON state file of
/// earlier versions, and what [`read_snapshot`] returns.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct StateFile {
    pub version: u32,
    pub accounts: BTreeMap<String, AccountRecord>,
    /// Pending deliveries, oldest first.
    pub outbox: Vec<OutboxEntry>,
    /// Next outbox sequence number.
    pub next_seq: u64,
}

/// One account's persisted record.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct AccountRecord {
    pub eval: AccountState,
    pub routing: Routing,
    /// When the last Balance request was made; keeps the 60 s floor across restarts.
    pub last_poll_at: Option<Timestamp>,
    /// The escalation clocks (SPEC §12), so an escalation survives a restart.
    #[serde(skip_serializing_if = "EscalationClock::is_idle")]
    pub escalation: EscalationClock,
    /// `balance-alert snooze` (SPEC §12). Optional and additive: state files written
    /// before it read as "not snoozed".
    #[serde(skip_serializing_if = "Option::is_none")]
    pub snooze: Option<Snooze>,
}

impl AccountRecord {
    /// Whether a snooze stands for this account at `now` (reminders and escalation
    /// pause while it does).
    pub fn is_snoozed(&self, now: Timestamp) -> bool {
        self.snooze
            .as_ref()
            .is_some_and(|s| s.is_active(now, self.eval.level))
    }
}

/// One message for one channel, persisted before it is sent.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OutboxEntry {
    pub seq: u64,
    pub channel: String,
    pub created_at: Timestamp,
    pub event: Event,
    /// Held for the channel's quiet hours (SPEC §12) until this time, when it is
    /// released or collapsed with the account's other held messages; absent: due now.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub held_until: Option<Timestamp>,
}

impl OutboxEntry {
    pub fn is_held(&self) -> bool {
        self.held_until.is_some()
    }
}

/// One balance reading, as earlier versions kept them (a list per account, in the
/// `samples` rows and in the JSON sample file); read once into a [`History`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Sample {
    pub at: Timestamp,
    #[serde(with = "rust_decimal::serde::str")]
    pub balance: Decimal,
}

/// Why the state cannot be used at all. Anything else (a full disk, a read-only one)
/// is not an error: the daemon runs from memory.
#[derive(Debug, thiserror::Error)]
pub enum StateError {
    #[error(
        "state {path} was written by a newer version of balance-alert (schema version \
         {version}; this build reads up to {SCHEMA_VERSION}); refusing to overwrite it: run \
         the newer version, or point [daemon] state_file elsewhere"
    )]
    NewerVersion { path: PathBuf, version: u64 },
    /// A write failed; the state stays in memory and is retried.
    #[error("cannot write state {path}: {reason}")]
    Unwritable { path: PathBuf, reason: String },
}

/// What [`Store::open`] found.
#[derive(Debug, PartialEq, Eq)]
pub enum Opened {
    Fresh,
    Restored,
    /// An earlier version's JSON state was imported; the file was renamed to this path.
    Imported(PathBuf),
    /// The database was damaged: moved to `aside`, with what could be read carried over.
    Salvaged {
        aside: PathBuf,
        reason: String,
        accounts: usize,
        deliveries: usize,
    },
    /// Cannot be opened or written: running from memory.
    MemoryOnly(String),
}

/// Rows changed since the last write.
#[derive(Debug, Default)]
struct Dirty {
    replace_all: bool,
    /// Accounts whose change must be written before a message leaves.
    accounts: BTreeSet<String>,
    /// Accounts whose change can wait for the minute flush (last balance, request time).
    touched: BTreeSet<String>,
    outbox: BTreeSet<u64>,
    /// Runway histories, also written by the minute flush.
    samples: BTreeSet<String>,
    next_seq: bool,
    /// Something that must survive a power cut is among them.
    durable: bool,
}

impl Dirty {
    /// What a write before a message leaves must carry; the rest waits for the flush,
    /// so a crossing on one of 10,000 accounts does not first write the other 9,999.
    fn take_urgent(&mut self) -> Dirty {
        for name in &self.accounts {
            self.touched.remove(name);
        }
        Dirty {
            replace_all: std::mem::take(&mut self.replace_all),
            accounts: std::mem::take(&mut self.accounts),
            touched: BTreeSet::new(),
            outbox: std::mem::take(&mut self.outbox),
            samples: BTreeSet::new(),
            next_seq: std::mem::take(&mut self.next_seq),
            durable: std::mem::take(&mut self.durable),
        }
    }

    /// The urgent rows and up to `limit` of the lazy ones (touched accounts, runway
    /// histories): the minute flush of 10,000 accounts goes in slices, so a crossing
    /// waits for one slice at most, not for the whole flush.
    fn take_slice(&mut self, limit: usize) -> Dirty {
        let mut slice = self.take_urgent();
        let take = |from: &mut BTreeSet<String>| {
            let mut out = BTreeSet::new();
            while out.len() < limit {
                match from.pop_first() {
                    Some(name) => out.insert(name),
                    None => break,
                };
            }
            out
        };
        slice.touched = take(&mut self.touched);
        slice.samples = take(&mut self.samples);
        slice
    }

    fn is_empty(&self) -> bool {
        !self.replace_all
            && self.accounts.is_empty()
            && self.touched.is_empty()
            && self.outbox.is_empty()
            && self.samples.is_empty()
            && !self.next_seq
    }

    fn merge(&mut self, other: Dirty) {
        self.replace_all |= other.replace_all;
        self.accounts.extend(other.accounts);
        self.touched.extend(other.touched);
        self.outbox.extend(other.outbox);
        self.samples.extend(other.samples);
        self.next_seq |= other.next_seq;
        self.durable |= other.durable;
    }
}

/// The in-memory state the daemon works on. Account records are changed in place
/// (then [`Store::mark_account_dirty`] or [`Store::touch_account`]); the outbox only
/// through its methods, which track the rows to write.
#[derive(Debug, Default)]
pub struct State {
    pub accounts: BTreeMap<String, AccountRecord>,
    /// Shared with the channel workers' queues: an entry is decoded and held once.
    outbox: BTreeMap<u64, Arc<OutboxEntry>>,
    next_seq: u64,
    samples: BTreeMap<String, Box<History>>,
    dirty: Dirty,
}

impl From<StateFile> for State {
    /// A state document (an earlier version's file, a test's or benchmark's fixture) as
    /// the in-memory state.
    fn from(file: StateFile) -> State {
        State::from_loaded(Loaded {
            accounts: file.accounts,
            outbox: file.outbox.into_iter().map(Arc::new).collect(),
            next_seq: file.next_seq,
            ..Loaded::default()
        })
    }
}

impl State {
    /// Every account's runway history.
    pub fn histories(&self) -> &BTreeMap<String, Box<History>> {
        &self.samples
    }

    /// Pending deliveries by sequence number (the order they were made).
    pub fn outbox(&self) -> &BTreeMap<u64, Arc<OutboxEntry>> {
        &self.outbox
    }

    /// Adds a delivery with the next sequence number and returns it.
    pub fn push_outbox(
        &mut self,
        channel: String,
        created_at: Timestamp,
        event: Event,
        held_until: Option<Timestamp>,
    ) -> Arc<OutboxEntry> {
        let entry = Arc::new(OutboxEntry {
            seq: self.next_seq,
            channel,
            created_at,
            event,
            held_until,
        });
        self.next_seq += 1;
        self.outbox.insert(entry.seq, entry.clone());
        self.dirty.outbox.insert(entry.seq);
        self.dirty.next_seq = true;
        self.dirty.durable = true;
        entry
    }

    /// Removes delivered (or abandoned) entries; returns how many were pending.
    pub fn remove_outbox(&mut self, seqs: &[u64]) -> usize {
        let mut removed = 0;
        for seq in seqs {
            if self.outbox.remove(seq).is_some() {
                self.dirty.outbox.insert(*seq);
                removed += 1;
            }
        }
        removed
    }

    /// Moves a held entry's release time (quiet hours re-planned); returns whether it
    /// changed.
    pub fn hold_until(&mut self, seq: u64, until: Timestamp) -> bool {
        match self.outbox.get_mut(&seq) {
            Some(entry) if entry.held_until != Some(until) => {
                // Held entries are in no worker's queue: this does not copy.
                Arc::make_mut(entry).held_until = Some(until);
                self.dirty.outbox.insert(seq);
                self.dirty.durable = true;
                true
            }
            _ => false,
        }
    }

    /// Keeps only the entries `keep` accepts; returns how many were removed.
    pub fn retain_outbox(&mut self, mut keep: impl FnMut(&OutboxEntry) -> bool) -> usize {
        let gone: Vec<u64> = self
            .outbox
            .values()
            .filter(|e| !keep(e))
            .map(|e| e.seq)
            .collect();
        self.remove_outbox(&gone)
    }

    /// A snapshot in the one-document shape.
    pub fn snapshot(&self) -> StateFile {
        StateFile {
            version: SCHEMA_VERSION,
            accounts: self.accounts.clone(),
            outbox: self.outbox.values().map(|e| (**e).clone()).collect(),
            next_seq: self.next_seq,
        }
    }

    fn from_loaded(loaded: Loaded) -> State {
        let max_seq = loaded.outbox.iter().map(|e| e.seq + 1).max().unwrap_or(0);
        State {
            accounts: loaded.accounts,
            next_seq: loaded.next_seq.max(max_seq),
            outbox: loaded.outbox.into_iter().map(|e| (e.seq, e)).collect(),
            samples: loaded.samples,
            dirty: Dirty::default(),
        }
    }

    /// The rows named in `dirty`, encoded.
    fn batch(&self, dirty: &Dirty) -> Batch {
        let (mut batch, samples) = self.batch_deferred(dirty);
        encode_samples(&mut batch, samples);
        batch
    }

    /// [`State::batch`] with the sample rows left to encode: a copy of each changed
    /// history (1.2 KB, a `memcpy`) instead of its JSON, so the minute flush encodes
    /// them off the state lock and off the runtime ([`encode_samples`], called on the
    /// writer's thread). Encoding 500 histories under the lock held up crossings'
    /// commits by tens to hundreds of milliseconds with musl's allocator.
    fn batch_deferred(&self, dirty: &Dirty) -> (Batch, PendingSamples) {
        let mut batch = Batch {
            replace_all: dirty.replace_all,
            durable: dirty.durable || dirty.replace_all,
            next_seq: (dirty.next_seq || dirty.replace_all).then_some(self.next_seq),
            ..Batch::default()
        };
        let all_accounts: Vec<&String>;
        let accounts: Box<dyn Iterator<Item = &String>> = if dirty.replace_all {
            all_accounts = self.accounts.keys().collect();
            Box::new(all_accounts.into_iter())
        } else {
            Box::new(
                dirty.accounts.iter().chain(
                    dirty
                        .touched
                        .iter()
                        .filter(|n| !dirty.accounts.contains(*n)),
                ),
            )
        };
        for name in accounts {
            let row = self.accounts.get(name).map(encode);
            batch.accounts.push((name.clone(), row));
        }
        let seqs: Vec<u64> = if dirty.replace_all {
            self.outbox.keys().copied().collect()
        } else {
            dirty.outbox.iter().copied().collect()
        };
        for seq in seqs {
            let row = self.outbox.get(&seq).map(|e| OutboxRow {
                channel: e.channel.clone(),
                account: e.event.account.clone(),
                entry: encode(&**e),
            });
            batch.outbox.push((seq, row));
        }
        let names: Vec<&String> = if dirty.replace_all {
            self.samples.keys().collect()
        } else {
            dirty.samples.iter().collect()
        };
        let samples = names
            .into_iter()
            .map(|name| (name.clone(), self.samples.get(name).cloned()))
            .collect();
        (batch, samples)
    }
}

/// Changed runway histories still to encode as `samples` rows (`None`: delete the row).
type PendingSamples = Vec<(String, Option<Box<History>>)>;

/// Encodes [`State::batch_deferred`]'s histories into the batch.
fn encode_samples(batch: &mut Batch, samples: PendingSamples) {
    batch.samples.extend(
        samples
            .into_iter()
            .map(|(name, history)| (name, history.map(|h| encode(&*h)))),
    );
}

fn encode<T: Serialize>(row: &T) -> String {
    serde_json::to_string(row).expect("state rows always serialize")
}

/// Reads the state and sample history at `path` without creating, migrating or
/// changing anything (`status` when the daemon is down). A JSON state file of an
/// earlier version is read too.
pub fn read_state(path: &Path) -> Result<State, String> {
    // Checked first: opening a missing database, even read-only, would only say
    // "cannot open".
    std::fs::metadata(path).map_err(|e| format!("cannot read {}: {e}", path.display()))?;
    Ok(State::from_loaded(import::read_only(path)?))
}

/// Reads the state at `path` without changing it (tests, `status` when the daemon is
/// down). A JSON state file of an earlier version is read too.
pub fn read_snapshot(path: &Path) -> Result<StateFile, String> {
    let loaded = import::read_only(path)?;
    Ok(State::from_loaded(loaded).snapshot())
}

/// The runway histories stored at `path`, read without changing it (`preflight`, which
/// must not write the daemon's files).
pub fn read_histories(path: &Path) -> Result<BTreeMap<String, Box<History>>, String> {
    Ok(import::read_only(path)?.samples)
}

/// An account record as stored; strict, so a damaged row is noticed.
fn decode_record(row: &str) -> Result<AccountRecord, String> {
    serde_json::from_str(row).map_err(|e| e.to_string())
}

/// What can be kept of a record that does not decode in full: its level and latches,
/// and its routing memory when that still reads. `None` when not even the level does.
fn lenient_record(value: &serde_json::Value) -> Option<AccountRecord> {
    let eval = value.get("eval")?;
    let level: Level = serde_json::from_value(eval.get("level")?.clone()).ok()?;
    let flag = |k: &str| eval.get(k).and_then(|v| v.as_bool()).unwrap_or(false);
    let mut record = AccountRecord::default();
    record.eval.level = level;
    record.eval.warning_active = flag("warning_active") || level == Level::Warning;
    record.eval.critical_active = flag("critical_active") || level == Level::Critical;
    record.eval.monitor_failing = flag("monitor_failing");
    if let Some(r) = value
        .get("routing")
        .and_then(|r| serde_json::from_value(r.clone()).ok())
    {
        record.routing = r;
    }
    // A snooze the operator asked for is kept when it still reads.
    record.snooze = value
        .get("snooze")
        .and_then(|s| serde_json::from_value(s.clone()).ok());
    // So does a running escalation: its next step must not be lost or repeated.
    if let Some(e) = value
        .get("escalation")
        .and_then(|e| serde_json::from_value(e.clone()).ok())
    {
        record.escalation = e;
    }
    Some(record)
}

/// A `samples` row: a runway history, or the list of samples that earlier versions kept
/// there (and in their JSON sample file), turned into a history over the default
/// window (a configured window re-buckets it on the next poll). `None` when it is
/// neither: the history is a nicety, started again rather than salvaged.
fn decode_history(row: &str) -> Option<Box<History>> {
    serde_json::from_str::<Box<History>>(row).ok().or_else(|| {
        let samples: Vec<Sample> = serde_json::from_str(row).ok()?;
        history_from_samples(&samples).map(Box::new)
    })
}

/// A history from a list of samples, oldest first; `None` for an empty list.
fn history_from_samples(samples: &[Sample]) -> Option<History> {
    let (first, rest) = samples.split_first()?;
    let window = crate::core::runway::DEFAULT_WINDOW;
    let mut h = History::new(window, first.at, first.balance);
    for s in rest {
        h.push(window, s.at, s.balance);
    }
    Some(h)
}

#[cfg(test)]
mod tests;
