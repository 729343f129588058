//! Persisted state (SPEC §8): per-account levels, latches, reminder times and routing
//! memory, plus the delivery outbox, in one JSON file written atomically (temp file,
//! fsync, rename, fsync of the directory). The bounded runway history of each account
//! ([`crate::core::History`], SPEC §9.1) lives in a sibling file flushed at most once a
//! minute, so a poll that changes nothing writes nothing. The store treats a history as
//! an opaque serializable value: it keeps, saves and loads it, and the core decides
//! what is in it.
//!
//! Writes are coalesced: [`Store::save`] returns once a snapshot that includes the
//! caller's change is on disk, and concurrent callers share one write.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, MutexGuard};

use jiff::Timestamp;
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

use crate::core::Snooze;
use crate::core::escalation::EscalationClock;
use crate::core::{AccountState, Event, History, Routing};

const FORMAT_VERSION: u32 = 1;

/// Everything that must survive a restart.
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

/// One balance reading, as the sample file of earlier versions kept them (a list per
/// account); read once on upgrade into a [`History`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Sample {
    pub at: Timestamp,
    #[serde(with = "rust_decimal::serde::str")]
    pub balance: Decimal,
}

/// Why the state could not be loaded or saved.
#[derive(Debug, thiserror::Error)]
pub enum StateError {
    #[error("cannot read state file {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error(
        "cannot write state file {path} ([daemon] state_file): {source}; run as a user who may \
         write there, or point state_file elsewhere"
    )]
    Write {
        path: PathBuf,
        source: std::io::Error,
    },
}

/// The state file on disk and its in-memory copy.
#[derive(Debug)]
pub struct Store {
    path: PathBuf,
    samples_path: PathBuf,
    state: Mutex<StateFile>,
    samples: Mutex<BTreeMap<String, History>>,
    samples_dirty: std::sync::atomic::AtomicBool,
    /// Each account's record as JSON, re-serialized only when the account changed, so
    /// a crossing on one of 10,000 accounts does not re-encode the other 9,999 before
    /// its message may leave.
    encoded: Mutex<Encoded>,
    /// Bumped by every change that must reach disk.
    requested: AtomicU64,
    /// Highest `requested` value known to be on disk; guarded by the write lock.
    written: tokio::sync::Mutex<u64>,
}

#[derive(Debug, Default)]
struct Encoded {
    records: BTreeMap<String, String>,
    /// Accounts whose record changed since it was last encoded.
    stale: std::collections::HashSet<String>,
    /// Everything may have changed: re-encode every record.
    all_stale: bool,
}

/// What [`Store::open`] found.
#[derive(Debug, PartialEq, Eq)]
pub enum Opened {
    Fresh,
    Restored,
    /// The file was unreadable as state; it was moved to this path.
    MovedAside(PathBuf),
}

impl Store {
    /// Opens the state at `path`. A missing file starts fresh; a corrupt one is moved
    /// aside with a timestamp and the daemon starts fresh, saying so.
    pub fn open(path: &Path, now: Timestamp) -> Result<(Store, Opened), StateError> {
        let samples_path = samples_path(path);
        // Operators expect `state_file = "/some/new/dir/state.json"` to just work.
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).map_err(|source| StateError::Write {
                path: dir.to_path_buf(),
                source,
            })?;
        }
        remove_stale_temp_files(path);
        let (state, opened) = match std::fs::read(path) {
            Ok(bytes) => match serde_json::from_slice::<StateFile>(&bytes) {
                Ok(state) => (state, Opened::Restored),
                Err(_) => {
                    let aside = aside_path(path, now);
                    std::fs::rename(path, &aside).map_err(|source| StateError::Write {
                        path: aside.clone(),
                        source,
                    })?;
                    (StateFile::default(), Opened::MovedAside(aside))
                }
            },
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                (StateFile::default(), Opened::Fresh)
            }
            Err(source) => {
                return Err(StateError::Read {
                    path: path.to_path_buf(),
                    source,
                });
            }
        };
        // The history is a nicety: a damaged one is simply started again.
        let samples = std::fs::read(&samples_path)
            .ok()
            .map(|b| read_histories(&b))
            .unwrap_or_default();
        let store = Store {
            path: path.to_path_buf(),
            samples_path,
            state: Mutex::new(StateFile {
                version: FORMAT_VERSION,
                ..state
            }),
            samples: Mutex::new(samples),
            samples_dirty: Default::default(),
            encoded: Mutex::new(Encoded {
                all_stale: true,
                ..Encoded::default()
            }),
            requested: AtomicU64::new(0),
            written: tokio::sync::Mutex::new(0),
        };
        Ok((store, opened))
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The in-memory state. Hold the guard briefly and never across an `.await`.
    pub fn lock(&self) -> MutexGuard<'_, StateFile> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Records that the in-memory state changed in a way that must reach disk (any
    /// part of it); call after the change and before [`Store::save`].
    pub fn mark_dirty(&self) {
        self.encoded().all_stale = true;
        self.requested.fetch_add(1, Ordering::SeqCst);
    }

    /// Like [`Store::mark_dirty`] when only this account's record (and perhaps the
    /// outbox) changed: the next save re-encodes just that record.
    pub fn mark_account_dirty(&self, account: &str) {
        self.encoded().stale.insert(account.to_string());
        self.requested.fetch_add(1, Ordering::SeqCst);
    }

    /// Notes that an account's record changed in a way worth keeping but not worth a
    /// write of its own (last balance, last request time): the next save carries it,
    /// and [`Store::save_touched`] at least once a minute.
    pub fn touch_account(&self, account: &str) {
        let mut encoded = self.encoded();
        if !encoded.stale.contains(account) {
            encoded.stale.insert(account.to_string());
        }
    }

    /// Saves when some account was touched since the last save.
    pub async fn save_touched(&self) -> Result<(), StateError> {
        {
            let encoded = self.encoded();
            if encoded.stale.is_empty() && !encoded.all_stale {
                return Ok(());
            }
        }
        self.requested.fetch_add(1, Ordering::SeqCst);
        self.save().await
    }

    /// Like [`Store::mark_dirty`] when only the outbox changed.
    pub fn mark_outbox_dirty(&self) {
        self.requested.fetch_add(1, Ordering::SeqCst);
    }

    fn encoded(&self) -> MutexGuard<'_, Encoded> {
        self.encoded.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The state file's bytes: cached records for unchanged accounts, fresh encoding
    /// for the rest. Same JSON as serializing [`StateFile`] directly.
    fn encode(&self) -> Vec<u8> {
        let state = self.lock();
        let mut encoded = self.encoded();
        let Encoded {
            records,
            stale,
            all_stale,
        } = &mut *encoded;
        let encode_record =
            |r: &AccountRecord| serde_json::to_string(r).expect("records always serialize");
        if std::mem::take(all_stale) {
            stale.clear();
            *records = state
                .accounts
                .iter()
                .map(|(name, r)| (name.clone(), encode_record(r)))
                .collect();
        } else {
            for name in stale.drain() {
                match state.accounts.get(&name) {
                    Some(r) => records.insert(name, encode_record(r)),
                    None => records.remove(&name),
                };
            }
        }
        let size: usize = records.values().map(|r| r.len() + 40).sum();
        let mut out = Vec::with_capacity(size + 4096);
        out.extend_from_slice(format!(r#"{{"version":{},"accounts":{{"#, state.version).as_bytes());
        for (i, (name, record)) in records.iter().enumerate() {
            if i > 0 {
                out.push(b',');
            }
            serde_json::to_writer(&mut out, name).expect("names always serialize");
            out.push(b':');
            out.extend_from_slice(record.as_bytes());
        }
        out.extend_from_slice(br#"},"outbox":"#);
        serde_json::to_writer(&mut out, &state.outbox).expect("the outbox always serializes");
        out.extend_from_slice(format!(r#","next_seq":{}}}"#, state.next_seq).as_bytes());
        out
    }

    /// Writes the state unless a snapshot taken after the last [`Store::mark_dirty`]
    /// is already on disk. Concurrent callers share one write.
    pub async fn save(&self) -> Result<(), StateError> {
        let wanted = self.requested.load(Ordering::SeqCst);
        let mut written = self.written.lock().await;
        if *written >= wanted && wanted != 0 {
            return Ok(());
        }
        let upto = self.requested.load(Ordering::SeqCst);
        let bytes = self.encode();
        let path = self.path.clone();
        tokio::task::spawn_blocking(move || write_atomic(&path, &bytes))
            .await
            .expect("state writer panicked")?;
        *written = upto;
        Ok(())
    }

    /// The messages held for quiet hours, oldest first (for `status` and the
    /// dashboard).
    pub fn held(&self) -> Vec<OutboxEntry> {
        self.lock()
            .outbox
            .iter()
            .filter(|e| e.is_held())
            .cloned()
            .collect()
    }

    /// Runs `f` on the account's history (`None` before its first sample), in memory
    /// only; the minute flush writes it.
    pub fn with_history<R>(&self, account: &str, f: impl FnOnce(&mut Option<History>) -> R) -> R {
        let mut samples = self.samples.lock().unwrap_or_else(|p| p.into_inner());
        let mut slot = samples.remove(account);
        let out = f(&mut slot);
        if let Some(h) = slot {
            samples.insert(account.to_string(), h);
        }
        self.samples_dirty.store(true, Ordering::Relaxed);
        out
    }

    /// Drops the histories of accounts no longer configured (at start).
    pub fn retain_histories(&self, keep: impl Fn(&str) -> bool) {
        let mut samples = self.samples.lock().unwrap_or_else(|p| p.into_inner());
        let before = samples.len();
        samples.retain(|name, _| keep(name));
        if samples.len() != before {
            self.samples_dirty.store(true, Ordering::Relaxed);
        }
    }

    /// A copy of the account's history, if it has one.
    pub fn history(&self, account: &str) -> Option<History> {
        let samples = self.samples.lock().unwrap_or_else(|p| p.into_inner());
        samples.get(account).cloned()
    }

    /// A copy of every account's history, taken under one lock (the dashboard's view of
    /// all; a copy so drawing never holds up a poll).
    pub fn histories(&self) -> BTreeMap<String, History> {
        self.samples
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    /// Forgets an account removed from the config.
    pub fn forget(&self, account: &str) {
        self.lock().accounts.remove(account);
        let mut samples = self.samples.lock().unwrap_or_else(|p| p.into_inner());
        samples.remove(account);
        self.samples_dirty.store(true, Ordering::Relaxed);
        drop(samples);
        self.mark_account_dirty(account);
    }

    /// Writes the sample history if it changed since the last flush.
    pub async fn flush_samples(&self) -> Result<(), StateError> {
        if !self.samples_dirty.swap(false, Ordering::Relaxed) {
            return Ok(());
        }
        // A copy under the lock (a memcpy of ~700 bytes an account), encoded off the
        // runtime: encoding 10,000 histories takes tens of milliseconds, which must not
        // hold up every account task waiting for the lock.
        let copy = {
            let samples = self.samples.lock().unwrap_or_else(|p| p.into_inner());
            samples.clone()
        };
        let path = self.samples_path.clone();
        tokio::task::spawn_blocking(move || {
            let bytes = serde_json::to_vec(&copy).expect("samples always serialize");
            drop(copy);
            write_atomic(&path, &bytes)
        })
        .await
        .expect("sample writer panicked")
    }

    /// Writes state and samples unconditionally (shutdown).
    pub async fn save_all(&self) -> Result<(), StateError> {
        self.mark_dirty();
        self.save().await?;
        self.samples_dirty.store(true, Ordering::Relaxed);
        self.flush_samples().await
    }
}

/// The sample file: one history per account. A list of samples (the file of earlier
/// versions) is turned into a history; an entry that is neither is dropped, since the
/// history is a nicety that rebuilds itself.
///
/// Read straight into histories (no `serde_json::Value` in between: at 10,000 accounts
/// a generic tree of the file costs over 100 MiB, which glibc then keeps).
fn read_histories(bytes: &[u8]) -> BTreeMap<String, History> {
    if let Ok(map) = serde_json::from_slice::<BTreeMap<String, History>>(bytes) {
        return map;
    }
    let Ok(old) = serde_json::from_slice::<BTreeMap<String, Vec<Sample>>>(bytes) else {
        return BTreeMap::new();
    };
    old.into_iter()
        .filter_map(|(name, samples)| {
            let (first, rest) = samples.split_first()?;
            let window = crate::core::runway::DEFAULT_WINDOW;
            let mut h = History::new(window, first.at, first.balance);
            for s in rest {
                h.push(window, s.at, s.balance);
            }
            Some((name, h))
        })
        .collect()
}

/// One account's history from the sample file beside `state_file`, read-only (for
/// `preflight`, which must not write the daemon's files).
pub fn load_history(state_file: &Path, account: &str) -> Option<History> {
    load_histories(state_file).remove(account)
}

/// Every history in the sample file beside `state_file`, read-only (for `status` when
/// the daemon is not running); none when there is no readable file.
pub fn load_histories(state_file: &Path) -> BTreeMap<String, History> {
    std::fs::read(samples_path(state_file))
        .map(|b| read_histories(&b))
        .unwrap_or_default()
}

/// `state.json` → `state.samples.json`, beside it.
pub fn samples_path(path: &Path) -> PathBuf {
    path.with_extension("samples.json")
}

fn aside_path(path: &Path, now: Timestamp) -> PathBuf {
    let stamp = now.strftime("%Y%m%dT%H%M%SZ").to_string();
    let mut name = path.file_name().unwrap_or_default().to_os_string();
    name.push(format!(".corrupt-{stamp}"));
    path.with_file_name(name)
}

/// Temp files a crash left behind (`state.json.tmp.PID.N`); never the real file.
fn remove_stale_temp_files(path: &Path) {
    let (Some(dir), Some(name)) = (path.parent(), path.file_name()) else {
        return;
    };
    let dir = if dir.as_os_str().is_empty() {
        Path::new(".")
    } else {
        dir
    };
    let prefix = format!("{}.tmp.", name.to_string_lossy());
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        if entry.file_name().to_string_lossy().starts_with(&prefix) {
            let _ = std::fs::remove_file(entry.path());
        }
    }
}

/// Temp file in the same directory, fsync, rename over the target, fsync the directory:
/// a crash leaves either the old file or the new one, never a torn one.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<(), StateError> {
    let fail = |source| StateError::Write {
        path: path.to_path_buf(),
        source,
    };
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
        _ => PathBuf::from("."),
    };
    // A name of its own per write: two writers can never interleave in one temp file.
    static NEXT: AtomicU64 = AtomicU64::new(0);
    let mut tmp_name = path.file_name().unwrap_or_default().to_os_string();
    tmp_name.push(format!(
        ".tmp.{}.{}",
        std::process::id(),
        NEXT.fetch_add(1, Ordering::Relaxed)
    ));
    let tmp = dir.join(tmp_name);
    let written = (|| {
        use std::os::unix::fs::OpenOptionsExt as _;
        // Balances and routing are nobody else's business, even without systemd's UMask.
        let mut file = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(&tmp)?;
        file.write_all(bytes)?;
        file.sync_all()?;
        std::fs::rename(&tmp, path)
    })();
    if let Err(e) = written {
        // A full disk must not also leave half-written temp files behind.
        let _ = std::fs::remove_file(&tmp);
        return Err(fail(e));
    }
    if let Ok(d) = std::fs::File::open(&dir) {
        // Directory fsync makes the rename durable; some file systems refuse it.
        let _ = d.sync_all();
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ts(s: &str) -> Timestamp {
        s.parse().unwrap()
    }

    #[tokio::test]
    async fn round_trip_and_atomic_replace() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("state.json");
        let (store, opened) = Store::open(&path, ts("2026-01-01T00:00:00Z")).unwrap();
        assert_eq!(opened, Opened::Fresh);
        {
            let mut s = store.lock();
            s.accounts
                .entry("a".into())
                .or_default()
                .eval
                .warning_active = true;
        }
        store.mark_dirty();
        store.save().await.unwrap();
        let leftovers: Vec<_> = std::fs::read_dir(dir.path())
            .unwrap()
            .flatten()
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .filter(|n| n.contains(".tmp"))
            .collect();
        assert!(leftovers.is_empty(), "{leftovers:?}");
        use std::os::unix::fs::PermissionsExt as _;
        let mode = std::fs::metadata(&path).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
        std::fs::write(dir.path().join("state.json.tmp.1.2"), b"half").unwrap();
        let (again, opened) = Store::open(&path, ts("2026-01-01T00:00:00Z")).unwrap();
        assert_eq!(opened, Opened::Restored);
        assert!(
            !dir.path().join("state.json.tmp.1.2").exists(),
            "crash leftovers removed"
        );
        assert!(again.lock().accounts["a"].eval.warning_active);
    }

    #[tokio::test]
    async fn cached_encoding_matches_serde_and_tracks_changes() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("state.json");
        let (store, _) = Store::open(&path, ts("2026-01-01T00:00:00Z")).unwrap();
        for name in ["a", "b\"quoted\"", "c"] {
            store.lock().accounts.entry(name.into()).or_default();
        }
        store.mark_dirty();
        store.save().await.unwrap();
        let on_disk =
            || -> StateFile { serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap() };
        assert_eq!(on_disk(), *store.lock());
        // One account changes: only it is re-encoded, and the file says so.
        store
            .lock()
            .accounts
            .get_mut("b\"quoted\"")
            .unwrap()
            .eval
            .critical_active = true;
        store.mark_account_dirty("b\"quoted\"");
        store.save().await.unwrap();
        assert_eq!(on_disk(), *store.lock());
        assert_eq!(
            std::fs::read(&path).unwrap(),
            serde_json::to_vec(&*store.lock()).unwrap()
        );
        // Forgetting removes the cached record too.
        store.forget("a");
        store.save().await.unwrap();
        assert!(!on_disk().accounts.contains_key("a"));
        assert_eq!(on_disk(), *store.lock());
    }

    #[tokio::test]
    async fn missing_directories_are_created() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("a/b/state.json");
        let (store, opened) = Store::open(&path, ts("2026-01-01T00:00:00Z")).unwrap();
        assert_eq!(opened, Opened::Fresh);
        store.save().await.unwrap();
        assert!(path.exists());
    }

    #[tokio::test]
    async fn corrupt_file_is_moved_aside() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("state.json");
        std::fs::write(&path, b"{not json").unwrap();
        let (store, opened) = Store::open(&path, ts("2026-11-27T03:30:00Z")).unwrap();
        let aside = dir.path().join("state.json.corrupt-20261127T033000Z");
        assert_eq!(opened, Opened::MovedAside(aside.clone()));
        assert_eq!(std::fs::read(&aside).unwrap(), b"{not json");
        assert!(store.lock().accounts.is_empty());
    }

    #[tokio::test]
    async fn save_skips_when_nothing_changed() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("state.json");
        let (store, _) = Store::open(&path, ts("2026-01-01T00:00:00Z")).unwrap();
        store.mark_dirty();
        store.save().await.unwrap();
        std::fs::remove_file(&path).unwrap();
        store.save().await.unwrap();
        assert!(!path.exists(), "no change, no write");
        store.mark_dirty();
        store.save().await.unwrap();
        assert!(path.exists());
    }

    #[test]
    fn histories_persist_and_old_sample_lists_are_imported() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("s.json");
        let window = std::time::Duration::from_secs(3600);
        let (store, _) = Store::open(&path, ts("2026-01-01T00:00:00Z")).unwrap();
        for i in 0..40i64 {
            store.with_history("a", |h| {
                let at = ts("2026-01-01T00:00:00Z") + jiff::SignedDuration::from_secs(i * 60);
                let balance = Decimal::from(1000 - i);
                match h {
                    Some(h) => h.push(window, at, balance),
                    None => *h = Some(History::new(window, at, balance)),
                }
            });
        }
        let h = store.history("a").unwrap();
        assert_eq!(h.last_balance(), Decimal::from(961));
        tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap()
            .block_on(store.save_all())
            .unwrap();
        let (again, _) = Store::open(&path, ts("2026-01-01T01:00:00Z")).unwrap();
        assert_eq!(again.history("a"), Some(h));
        // The list-of-samples file of earlier versions becomes a history.
        std::fs::write(
            samples_path(&path),
            r#"{"old":[{"at":"2026-01-01T00:00:00Z","balance":"10"},{"at":"2026-01-01T00:01:00Z","balance":"9"}]}"#,
        )
        .unwrap();
        let (old, _) = Store::open(&path, ts("2026-01-01T01:00:00Z")).unwrap();
        assert_eq!(old.history("old").unwrap().last_balance(), Decimal::from(9));
        // A damaged file is a history started again, never a failed start.
        std::fs::write(samples_path(&path), r#"{"old":7"#).unwrap();
        let (bad, _) = Store::open(&path, ts("2026-01-01T01:00:00Z")).unwrap();
        assert!(bad.history("old").is_none());
    }
}
