//! The [`Store`]: the in-memory [`State`] behind a mutex and the database behind it.
//! Writes take only the dirty rows, off the runtime (`spawn_blocking`); while the disk
//! refuses, the store keeps running from memory and retries (SPEC §17).

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Instant;

use tokio::sync::watch;
use tracing::{info, warn};

use super::prefetch::Prefetch;
use super::*;

/// Where the store is with its database.
pub(super) struct Link {
    pub(super) backend: Option<Box<dyn Backend>>,
    /// Why the last write (or open) failed; `None` while writes succeed.
    pub(super) failing: Option<String>,
    pub(super) next_retry: Instant,
}

/// The state in memory and its database.
pub struct Store {
    pub(super) path: PathBuf,
    pub(super) state: Mutex<State>,
    /// Serialises writes; held across the blocking write.
    pub(super) link: Arc<tokio::sync::Mutex<Link>>,
    /// `None` while the state is written; the reason while it is not.
    pub(super) writability: watch::Sender<Option<String>>,
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
        Store::open_prefetched(path, now, None)
    }

    /// [`Store::open`], using what `prefetch` read when it read `path`.
    pub fn open_prefetched(
        path: &Path,
        now: Timestamp,
        prefetch: Option<Prefetch>,
    ) -> Result<(Store, Opened), StateError> {
        let (state, backend, opened) = import::open(path, now, prefetch)?;
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
            let (batch, samples) = state.batch_deferred(&dirty);
            (dirty, (batch, samples))
        };
        let (mut batch, samples) = batch;
        let Some(mut backend) = link.backend.take() else {
            self.lock().dirty.merge(dirty);
            return Err(self.unwritable("the database is not open".into()));
        };
        let (backend, result) = tokio::task::spawn_blocking(move || {
            super::encode_samples(&mut batch, samples);
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

    /// Runs `f` on the account's runway history (`None` before its first sample) and
    /// marks it for the next [`Store::flush_samples`] when `f` left one: a poll adds a
    /// sample in memory, and the row is written with the minute flush, never on its
    /// own.
    pub fn with_history<R>(
        &self,
        account: &str,
        f: impl FnOnce(&mut Option<Box<History>>) -> R,
    ) -> R {
        let mut state = self.lock();
        let state = &mut *state;
        // The history goes back under the key it came out with: a poll allocates nothing.
        let (key, mut slot) = match state.samples.remove_entry(account) {
            Some((key, history)) => (Some(key), Some(history)),
            None => (None, None),
        };
        let out = f(&mut slot);
        if let Some(h) = slot {
            state
                .samples
                .insert(key.unwrap_or_else(|| account.to_string()), h);
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
