//! Reading the state database while the config is still being validated. With 10,000
//! accounts, validating the config and reading a database holding 100,000 pending
//! deliveries each take a few hundred milliseconds of one core; one after the other
//! they took `run` past SPEC §15's one second to READY. `run` starts a [`Prefetch`] with
//! the config's text before validating it: it finds the database path in the text
//! ([`crate::config::state_file_hint`]) and, when an SQLite database is there, a thread
//! does the read half of opening it ([`sqlite::read`]) on the core the validation
//! leaves idle.
//!
//! Nothing else changes: opening the store takes the prefetched read only for the very
//! path the validated config names, and otherwise opens as before. The read is the one
//! opening would do itself (same connection, same errors), so a damaged or newer
//! database is handled exactly as without it. No prefetch for a missing file (a fresh
//! start reads nothing) or anything not an SQLite database (an old JSON state file is
//! imported by the usual path).

use std::io::Read as _;
use std::path::{Path, PathBuf};
use std::thread::JoinHandle;

use super::sqlite::{self, OpenError, Read, Threads};

/// A database being read ahead of the store's opening.
pub struct Prefetch {
    path: PathBuf,
    thread: JoinHandle<Result<Read, OpenError>>,
}

impl Prefetch {
    /// Starts reading the database `config_text` names, on a thread of its own; `None`
    /// when the text does not plainly name one that exists.
    pub fn start(config_text: &str) -> Option<Prefetch> {
        let path = crate::config::state_file_hint(config_text)?;
        if !is_sqlite(&path) {
            return None;
        }
        let thread = std::thread::Builder::new()
            .name("state-prefetch".into())
            .spawn({
                let path = path.clone();
                move || sqlite::read(&path, Threads::This)
            })
            .ok()?;
        Some(Prefetch { path, thread })
    }

    /// What was read, when it was read from `path` (waiting for the read to finish);
    /// `None` for another path, without waiting.
    pub(super) fn take(self, path: &Path) -> Option<Result<Read, OpenError>> {
        if self.path != path {
            return None;
        }
        self.thread.join().ok()
    }
}

/// Whether `path` is a regular file (never a FIFO, whose opening would block) that
/// starts with SQLite's header.
fn is_sqlite(path: &Path) -> bool {
    if !path.is_file() {
        return false;
    }
    let mut header = [0u8; 16];
    std::fs::File::open(path)
        .and_then(|mut f| f.read_exact(&mut header))
        .is_ok_and(|()| &header == b"SQLite format 3\0")
}
