//! The seam between the in-memory state and where it is kept. [`Backend`] is what a
//! store needs from a database: load everything once, then apply small batches of row
//! changes. SQLite ([`super::sqlite`]) implements it today; a Postgres backend for an HA
//! pair that shares state would implement the same two calls over the same rows
//! (accounts, outbox, runway histories, one counter), each row a JSON document keyed
//! as here.

use std::collections::BTreeMap;
use std::sync::Arc;

use super::{AccountRecord, OutboxEntry};
use crate::core::History;

/// Everything a backend holds, as read at start.
#[derive(Debug, Default)]
pub struct Loaded {
    pub accounts: BTreeMap<String, AccountRecord>,
    /// Pending deliveries, oldest first.
    pub outbox: Vec<Arc<OutboxEntry>>,
    pub next_seq: u64,
    /// Each account's runway history (the `samples` rows).
    pub samples: BTreeMap<String, Box<History>>,
    /// Rows that could not be decoded, one line each (what and why); the store treats a
    /// non-empty list as damage to salvage.
    pub damaged: Vec<String>,
}

/// One row change: the encoded row, or `None` to delete it.
pub type Change<K> = (K, Option<String>);

/// One transaction's worth of row changes. Rows are JSON documents.
#[derive(Debug, Default)]
pub struct Batch {
    /// Delete every row first (a full rewrite after the disk came back).
    pub replace_all: bool,
    pub accounts: Vec<Change<String>>,
    /// `(seq, (channel, account, row))` or a deletion.
    pub outbox: Vec<(u64, Option<OutboxRow>)>,
    pub samples: Vec<Change<String>>,
    pub next_seq: Option<u64>,
    /// The batch carries something that must be written before a message leaves (a
    /// level, a new outbox row); deleting a delivered row need not be: losing it only
    /// repeats a delivery. SQLite commits every batch to its WAL with `synchronous =
    /// NORMAL` (safe against a process crash; see `sqlite::Checkpointer`); a backend
    /// that can sync selectively may use this.
    pub durable: bool,
}

/// An outbox row as stored.
#[derive(Debug, Clone)]
pub struct OutboxRow {
    pub channel: String,
    pub account: String,
    /// The whole [`OutboxEntry`] as JSON.
    pub entry: String,
}

impl Batch {
    pub fn is_empty(&self) -> bool {
        !self.replace_all
            && self.accounts.is_empty()
            && self.outbox.is_empty()
            && self.samples.is_empty()
            && self.next_seq.is_none()
    }
}

/// Where state is kept. Implementations are used from one thread at a time (the store
/// serialises writes), off the async runtime.
pub trait Backend: Send {
    /// Applies the batch atomically: all of it or none of it.
    fn apply(&mut self, batch: &Batch) -> Result<(), String>;

    /// Whether this connection still writes to the configured place; a backend that is
    /// not is dropped and opened again by the retry.
    fn healthy(&self) -> bool {
        true
    }
}
