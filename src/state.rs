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

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use jiff::Timestamp;
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};
use tokio::sync::watch;
use tracing::{info, warn};

use crate::core::Snooze;
use crate::core::escalation::EscalationClock;
use crate::core::{AccountState, Event, History, Level, Routing};

pub mod backend;
mod import;
mod sqlite;

use backend::{Backend, Batch, Loaded, OutboxRow};
pub use sqlite::SCHEMA_VERSION;

/// Rows of the minute flush written per transaction.
const FLUSH_SLICE: usize = 500;

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
    outbox: BTreeMap<u64, OutboxEntry>,
    next_seq: u64,
    samples: BTreeMap<String, History>,
    dirty: Dirty,
}

impl From<StateFile> for State {
    /// A state document (an earlier version's file, a test's or benchmark's fixture) as
    /// the in-memory state.
    fn from(file: StateFile) -> State {
        State::from_loaded(Loaded {
            accounts: file.accounts,
            outbox: file.outbox,
            next_seq: file.next_seq,
            ..Loaded::default()
        })
    }
}

impl State {
    /// Every account's runway history.
    pub fn histories(&self) -> &BTreeMap<String, History> {
        &self.samples
    }

    /// Pending deliveries by sequence number (the order they were made).
    pub fn outbox(&self) -> &BTreeMap<u64, OutboxEntry> {
        &self.outbox
    }

    /// Adds a delivery with the next sequence number and returns it.
    pub fn push_outbox(
        &mut self,
        channel: String,
        created_at: Timestamp,
        event: Event,
        held_until: Option<Timestamp>,
    ) -> OutboxEntry {
        let entry = OutboxEntry {
            seq: self.next_seq,
            channel,
            created_at,
            event,
            held_until,
        };
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
                entry.held_until = Some(until);
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
            outbox: self.outbox.values().cloned().collect(),
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
                entry: encode(e),
            });
            batch.outbox.push((seq, row));
        }
        let names: Vec<&String> = if dirty.replace_all {
            self.samples.keys().collect()
        } else {
            dirty.samples.iter().collect()
        };
        for name in names {
            let row = self.samples.get(name).map(encode);
            batch.samples.push((name.clone(), row));
        }
        batch
    }
}

fn encode<T: Serialize>(row: &T) -> String {
    serde_json::to_string(row).expect("state rows always serialize")
}

/// Where the store is with its database.
struct Link {
    backend: Option<Box<dyn Backend>>,
    /// Why the last write (or open) failed; `None` while writes succeed.
    failing: Option<String>,
    next_retry: Instant,
}

/// The state in memory and its database.
pub struct Store {
    path: PathBuf,
    state: Mutex<State>,
    /// Serialises writes; held across the blocking write.
    link: Arc<tokio::sync::Mutex<Link>>,
    /// `None` while the state is written; the reason while it is not.
    writability: watch::Sender<Option<String>>,
}

impl std::fmt::Debug for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Store")
            .field("path", &self.path)
            .finish_non_exhaustive()
    }
}

impl Store {
    /// Opens the state at `path` (SPEC §17). Only a database of a newer version is an
    /// error; anything else that goes wrong leaves a store running from memory.
    pub fn open(path: &Path, now: Timestamp) -> Result<(Store, Opened), StateError> {
        let (state, backend, opened) = import::open(path, now)?;
        let failing = match &opened {
            Opened::MemoryOnly(reason) => Some(reason.clone()),
            _ => None,
        };
        let store = Store {
            path: path.to_path_buf(),
            state: Mutex::new(state),
            link: Arc::new(tokio::sync::Mutex::new(Link {
                backend,
                failing: failing.clone(),
                next_retry: Instant::now() + RETRY_EVERY,
            })),
            writability: watch::Sender::new(failing),
        };
        Ok((store, opened))
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The in-memory state. Hold the guard briefly and never across an `.await`.
    pub fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// `None` while the state is being written; the reason while it cannot be.
    pub fn writability(&self) -> watch::Receiver<Option<String>> {
        self.writability.subscribe()
    }

    pub fn is_writable(&self) -> bool {
        self.writability.borrow().is_none()
    }

    /// Everything must be written again (after a reload, at shutdown).
    pub fn mark_dirty(&self) {
        let mut state = self.lock();
        let names: Vec<String> = state.accounts.keys().cloned().collect();
        state.dirty.accounts.extend(names);
        state.dirty.next_seq = true;
        state.dirty.durable = true;
    }

    /// This account's record changed in a way that must reach disk before any message
    /// it caused leaves.
    pub fn mark_account_dirty(&self, account: &str) {
        let mut state = self.lock();
        state.dirty.accounts.insert(account.to_string());
        state.dirty.durable = true;
    }

    /// This account's record changed in a way worth keeping but not worth a sync of its
    /// own (last balance, last request time): the next write carries it, and
    /// [`Store::save_touched`] at least once a minute.
    pub fn touch_account(&self, account: &str) {
        let mut state = self.lock();
        if !state.dirty.touched.contains(account) {
            state.dirty.touched.insert(account.to_string());
        }
    }

    /// Writes whatever changed (the minute flush of last balances and request times).
    pub async fn save_touched(&self) -> Result<(), StateError> {
        self.save_everything().await
    }

    /// Writes every changed row in one transaction. Returns once the caller's change
    /// (made before the call) is on disk. While the state cannot be written this fails
    /// at once; the retry is [`Store::retry`]'s job.
    pub async fn save(&self) -> Result<(), StateError> {
        let mut link = self.link.lock().await;
        if let Some(reason) = &link.failing {
            return Err(self.unwritable(reason.clone()));
        }
        self.write(&mut link, false).await
    }

    /// Like [`Store::save`], with the rows that wait for the minute flush too, written
    /// in slices of [`FLUSH_SLICE`] rows with the write lock let go in between, so a
    /// crossing's own write never queues behind the whole flush.
    async fn save_everything(&self) -> Result<(), StateError> {
        loop {
            let mut link = self.link.lock().await;
            if let Some(reason) = &link.failing {
                return Err(self.unwritable(reason.clone()));
            }
            self.write(&mut link, true).await?;
            drop(link);
            let state = self.lock();
            if state.dirty.touched.is_empty() && state.dirty.samples.is_empty() {
                return Ok(());
            }
        }
    }

    async fn write(&self, link: &mut Link, everything: bool) -> Result<(), StateError> {
        let (dirty, batch) = {
            let mut state = self.lock();
            let dirty = if everything && state.dirty.replace_all {
                std::mem::take(&mut state.dirty)
            } else if everything {
                state.dirty.take_slice(FLUSH_SLICE)
            } else {
                state.dirty.take_urgent()
            };
            if dirty.is_empty() {
                return Ok(());
            }
            let batch = state.batch(&dirty);
            (dirty, batch)
        };
        let Some(mut backend) = link.backend.take() else {
            self.lock().dirty.merge(dirty);
            return Err(self.unwritable("the database is not open".into()));
        };
        let (backend, result) = tokio::task::spawn_blocking(move || {
            let result = backend.apply(&batch);
            let healthy = result.is_ok() || backend.healthy();
            (healthy.then_some(backend), result)
        })
        .await
        .expect("state writer panicked");
        link.backend = backend;
        match result {
            Ok(()) => {
                if link.failing.take().is_some() {
                    info!(path = %self.path.display(), "state is written again");
                    self.writability.send_replace(None);
                }
                Ok(())
            }
            Err(reason) => {
                self.lock().dirty.merge(dirty);
                self.fail(link, reason.clone());
                Err(self.unwritable(reason))
            }
        }
    }

    fn fail(&self, link: &mut Link, reason: String) {
        link.next_retry = Instant::now() + RETRY_EVERY;
        if link.failing.is_none() {
            warn!(path = %self.path.display(), %reason, "cannot write the state; running from memory and retrying every {}s", RETRY_EVERY.as_secs());
            self.writability.send_replace(Some(reason.clone()));
        }
        link.failing = Some(reason);
    }

    fn unwritable(&self, reason: String) -> StateError {
        StateError::Unwritable {
            path: self.path.clone(),
            reason,
        }
    }

    /// While the state cannot be written: reopens the database if need be and writes
    /// everything in memory. Does nothing while writes succeed or before the next
    /// retry is due. Returns whether the state is written now.
    pub async fn retry(&self) -> bool {
        let mut link = self.link.lock().await;
        if link.failing.is_none() {
            return true;
        }
        if Instant::now() < link.next_retry {
            return false;
        }
        if link.backend.is_none() {
            let path = self.path.clone();
            let opened = tokio::task::spawn_blocking(move || import::reopen(&path))
                .await
                .expect("state opener panicked");
            match opened {
                Ok(backend) => link.backend = Some(backend),
                Err(reason) => {
                    self.fail(&mut link, reason);
                    return false;
                }
            }
        }
        // The database may hold anything (or nothing): memory is the truth now.
        self.lock().dirty.replace_all = true;
        self.write(&mut link, true).await.is_ok()
    }

    /// The messages held for quiet hours, oldest first (for `status` and the
    /// dashboard).
    pub fn held(&self) -> Vec<OutboxEntry> {
        self.lock()
            .outbox
            .values()
            .filter(|e| e.is_held())
            .cloned()
            .collect()
    }

    /// Runs `f` on the account's runway history (`None` before its first sample) and
    /// marks it for the next [`Store::flush_samples`] when `f` left one: a poll adds a
    /// sample in memory, and the row is written with the minute flush, never on its
    /// own.
    pub fn with_history<R>(&self, account: &str, f: impl FnOnce(&mut Option<History>) -> R) -> R {
        let mut state = self.lock();
        let state = &mut *state;
        let mut slot = state.samples.remove(account);
        let out = f(&mut slot);
        if let Some(h) = slot {
            state.samples.insert(account.to_string(), h);
            if !state.dirty.samples.contains(account) {
                state.dirty.samples.insert(account.to_string());
            }
        }
        out
    }

    /// Drops the histories of accounts no longer configured (at start); their rows are
    /// deleted by the next flush.
    pub fn retain_histories(&self, keep: impl Fn(&str) -> bool) {
        let mut state = self.lock();
        let state = &mut *state;
        let gone: Vec<String> = state
            .samples
            .keys()
            .filter(|name| !keep(name))
            .cloned()
            .collect();
        for name in gone {
            state.samples.remove(&name);
            state.dirty.samples.insert(name);
        }
    }

    /// Forgets an account removed from the config.
    pub fn forget(&self, account: &str) {
        let mut state = self.lock();
        state.accounts.remove(account);
        state.samples.remove(account);
        state.dirty.accounts.insert(account.to_string());
        state.dirty.samples.insert(account.to_string());
    }

    /// Writes the runway histories (and anything else that changed).
    pub async fn flush_samples(&self) -> Result<(), StateError> {
        self.save_everything().await
    }

    /// Writes everything that changed (shutdown).
    pub async fn save_all(&self) -> Result<(), StateError> {
        self.save_everything().await
    }

    /// Closes the database cleanly (checkpoints the WAL).
    pub async fn close(&self) {
        let mut link = self.link.lock().await;
        if let Some(backend) = link.backend.take() {
            let _ = tokio::task::spawn_blocking(move || drop(backend)).await;
        }
        link.failing = Some("closed".into());
    }
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
pub fn read_histories(path: &Path) -> Result<BTreeMap<String, History>, String> {
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
fn decode_history(row: &str) -> Option<History> {
    serde_json::from_str::<History>(row).ok().or_else(|| {
        let samples: Vec<Sample> = serde_json::from_str(row).ok()?;
        history_from_samples(&samples)
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
