//! The SQLite backend (SPEC §17): one database file in WAL mode, one row per account,
//! per pending delivery and per account's runway history (the `samples` table, which
//! held a list of samples before the runway history replaced it), each a JSON document,
//! so a change writes only what changed. `PRAGMA user_version` is the schema version: a
//! database written by a newer version is refused, never overwritten.

use std::os::unix::fs::{DirBuilderExt as _, MetadataExt as _};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use rusqlite::{Connection, ErrorCode, OpenFlags, params};

use super::backend::{Backend, Batch, Loaded};
use super::{OutboxEntry, decode_history, decode_record, lenient_record};
use crate::core::History;

/// The schema this build writes and reads. Bump it with a migration when rows change
/// shape in a way an older build would misread. (A `samples` row holding a runway
/// history instead of a list of samples needed no bump: each build reads a row it does
/// not understand as no history and starts one afresh, never as damage.)
pub const SCHEMA_VERSION: u32 = 1;

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS accounts (name TEXT PRIMARY KEY, record TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS outbox (
    seq INTEGER PRIMARY KEY,
    channel TEXT NOT NULL,
    account TEXT NOT NULL,
    entry TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS samples (account TEXT PRIMARY KEY, samples TEXT NOT NULL);
";

/// Why a database could not be put to use.
#[derive(Debug)]
pub enum OpenError {
    /// Written by a newer version: refuse to start.
    Newer(u32),
    /// Not a database, or a damaged one: salvage what can be read.
    Damaged(String),
    /// Cannot be opened or written here (permissions, read-only, full, a directory).
    /// Carries what could still be read from an existing database.
    Unavailable(String, Option<Box<Loaded>>),
}

impl std::fmt::Display for OpenError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            OpenError::Newer(v) => write!(f, "written by a newer version (schema {v})"),
            OpenError::Damaged(why) | OpenError::Unavailable(why, _) => f.write_str(why),
        }
    }
}

/// An open, writable database.
pub struct Sqlite {
    /// First, so it stops before `conn` closes (whose close checkpoints what is left).
    _checkpointer: Option<Checkpointer>,
    conn: Connection,
    path: PathBuf,
    /// Device and inode of the file opened: a database deleted or replaced under a
    /// running daemon would otherwise swallow every write until the restart loses them.
    identity: (u64, u64),
}

/// How often [`Checkpointer`] copies the WAL into the database.
const CHECKPOINT_EVERY: std::time::Duration = std::time::Duration::from_secs(1);

/// Checkpoints the WAL from its own connection on its own thread (`PASSIVE`: it never
/// blocks a writer). Commits are `synchronous = NORMAL`, so they write the WAL without
/// an fsync; the fsyncs happen here, in the checkpoint, and a crossing's commit never
/// waits for them (an automatic checkpoint runs inside whichever commit crosses the
/// threshold: that commit took 10-20 ms on this disk, the p99 of the crossing latency).
struct Checkpointer {
    stop: std::sync::mpsc::Sender<()>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Checkpointer {
    fn start(path: &Path) -> Option<Checkpointer> {
        let conn = Connection::open_with_flags(
            path,
            OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX,
        )
        .ok()?;
        let (stop, stopped) = std::sync::mpsc::channel::<()>();
        let thread = std::thread::Builder::new()
            .name("state-checkpoint".into())
            .spawn(move || {
                while let Err(std::sync::mpsc::RecvTimeoutError::Timeout) =
                    stopped.recv_timeout(CHECKPOINT_EVERY)
                {
                    let _ = conn.query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |_| Ok(()));
                }
            })
            .ok()?;
        Some(Checkpointer {
            stop,
            thread: Some(thread),
        })
    }
}

impl Drop for Checkpointer {
    fn drop(&mut self) {
        let _ = self.stop.send(());
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

fn is_damage(e: &rusqlite::Error) -> bool {
    matches!(
        e.sqlite_error_code(),
        Some(ErrorCode::NotADatabase | ErrorCode::DatabaseCorrupt)
    )
}

fn classify(e: rusqlite::Error, what: &str) -> OpenError {
    if is_damage(&e) {
        OpenError::Damaged(format!("{what}: {e}"))
    } else {
        OpenError::Unavailable(format!("{what}: {e}"), None)
    }
}

/// Opens (creating if need be) the database at `path` and reads everything in it.
pub fn open(path: &Path) -> Result<(Sqlite, Loaded), OpenError> {
    finish(path, read(path, Threads::Spread)?)
}

/// The first half of [`open`]: the database opened and read, not yet set up for writes
/// (which is [`finish`]). Reading is the slow half, so a start may run it early on
/// another thread ([`super::prefetch`]).
pub struct Read {
    conn: Connection,
    /// `None` for a new database (schema version 0).
    loaded: Option<Loaded>,
}

/// Opens (creating if need be) the database at `path` and reads it: the slow half of
/// [`open`].
pub fn read(path: &Path, threads: Threads) -> Result<Read, OpenError> {
    // Balances and routing are nobody else's business, even without systemd's UMask:
    // a new database starts as an empty file only its owner may read (an empty file is
    // an empty database), and SQLite gives its WAL files the same mode.
    {
        use std::os::unix::fs::OpenOptionsExt as _;
        let _ = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(path);
    }
    let conn = Connection::open_with_flags(
        path,
        OpenFlags::SQLITE_OPEN_READ_WRITE
            | OpenFlags::SQLITE_OPEN_CREATE
            | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )
    .map_err(|e| classify(e, "cannot open the database"))?;
    let version: u32 = conn
        .pragma_query_value(None, "user_version", |r| r.get(0))
        .map_err(|e| classify(e, "cannot read the schema version"))?;
    if version > SCHEMA_VERSION {
        return Err(OpenError::Newer(version));
    }
    // No `PRAGMA quick_check` here: it reads every page (a second with 100,000 pending
    // deliveries), and reading every row below meets the same damage anyway
    // (SQLITE_CORRUPT is classified as damage).
    // Reading first: a database we may not write is still worth reading.
    let loaded = if version == 0 {
        None
    } else {
        Some(read_all(&conn, threads).map_err(|e| classify(e, "cannot read the database"))?)
    };
    Ok(Read { conn, loaded })
}

/// Sets a read database up for writing: WAL, the schema, a first write that proves the
/// disk takes it. The second half of [`open`].
pub fn finish(path: &Path, read: Read) -> Result<(Sqlite, Loaded), OpenError> {
    let Read { conn, loaded } = read;
    let unavailable = |e: rusqlite::Error, what: &str, loaded: Option<Loaded>| {
        if is_damage(&e) {
            OpenError::Damaged(format!("{what}: {e}"))
        } else {
            OpenError::Unavailable(format!("{what}: {e}"), loaded.map(Box::new))
        }
    };
    let prepared = (|| -> Result<(), (rusqlite::Error, &str)> {
        conn.pragma_update(None, "busy_timeout", 5000)
            .map_err(|e| (e, "cannot set up the database"))?;
        let mode: String = conn
            .pragma_update_and_check(None, "journal_mode", "WAL", |r| r.get(0))
            .map_err(|e| (e, "cannot switch the database to WAL mode"))?;
        if !mode.eq_ignore_ascii_case("wal") {
            return Err((
                rusqlite::Error::SqliteFailure(
                    rusqlite::ffi::Error::new(rusqlite::ffi::SQLITE_CANTOPEN),
                    Some(format!("journal mode is {mode}, not WAL")),
                ),
                "cannot switch the database to WAL mode",
            ));
        }
        // WAL with `synchronous = NORMAL` (SQLite's recommended WAL setting): a commit
        // is in the WAL before `save` returns, so it survives the process crashing or
        // being killed; only an OS crash or power cut can lose the last commits, those
        // since the last checkpoint (at most about a second: see `Checkpointer`). A
        // deliberate choice for the crossing → POST budget (SPEC §15): a synced commit
        // alone took 4-8 ms on the development disk. See docs/performance.md.
        conn.pragma_update(None, "synchronous", "NORMAL")
            .map_err(|e| (e, "cannot set up the database"))?;
        // A page cache of 512 KiB instead of SQLite's 2 MiB: the daemon reads the
        // database once, at open, and then only writes rows whose pages the OS caches
        // anyway; the 1.5 MiB counts against SPEC §15's 64 MiB at 10,000 accounts.
        conn.pragma_update(None, "cache_size", -512)
            .map_err(|e| (e, "cannot set up the database"))?;
        // A write at open proves the database is writable before anything relies on it.
        conn.execute_batch(&format!(
            "BEGIN IMMEDIATE; {SCHEMA} \
             INSERT OR REPLACE INTO meta (key, value) VALUES ('written_by', '{}'); \
             PRAGMA user_version = {SCHEMA_VERSION}; COMMIT;",
            env!("CARGO_PKG_VERSION")
        ))
        .map_err(|e| {
            let _ = conn.execute_batch("ROLLBACK");
            (e, "cannot write the database")
        })
    })();
    match prepared {
        Ok(()) => {}
        Err((e, what)) => return Err(unavailable(e, what, loaded)),
    }
    let loaded = loaded.unwrap_or_default();
    let identity = identity(path).map_err(|e| OpenError::Unavailable(e, None))?;
    let checkpointer = Checkpointer::start(path);
    if checkpointer.is_some() {
        // The checkpointer keeps the WAL short; the automatic checkpoint (inside a
        // commit) stays only as a bound should it fall behind.
        let _ = conn.pragma_update(None, "wal_autocheckpoint", 10_000);
    }
    Ok((
        Sqlite {
            _checkpointer: checkpointer,
            conn,
            path: path.to_path_buf(),
            identity,
        },
        loaded,
    ))
}

fn identity(path: &Path) -> Result<(u64, u64), String> {
    let meta = std::fs::metadata(path).map_err(|e| format!("cannot find the database: {e}"))?;
    Ok((meta.dev(), meta.ino()))
}

/// A private copy of a database and its WAL, removed when dropped.
struct ReadCopy {
    dir: PathBuf,
}

impl Drop for ReadCopy {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// Opens the database at `path` for reading without leaving anything beside it. Even a
/// read-only SQLite connection to a WAL database creates `-wal` and `-shm` files, owned
/// by whoever reads (`sudo balance-alert status`), which could later lock the daemon
/// out of its own database. So: with no `-wal` file every committed row is in the main
/// file, read as `immutable` (no locks, no side files); with one (the daemon is running
/// or crashed), the WAL holds rows not yet in the main file, so the two are copied to
/// a private directory and the copy is read. Only if the copy fails (a full disk) is
/// the original opened read-only.
fn open_for_reading(path: &Path, copy: &mut Option<ReadCopy>) -> rusqlite::Result<Connection> {
    let read_only = OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX;
    let mut wal = path.as_os_str().to_owned();
    wal.push("-wal");
    let wal = PathBuf::from(wal);
    if !wal.exists() {
        if let Some(text) = path.to_str() {
            use percent_encoding::{AsciiSet, CONTROLS, utf8_percent_encode};
            const URI_PATH: &AsciiSet = &CONTROLS.add(b'%').add(b'?').add(b'#').add(b' ');
            let uri = format!("file:{}?immutable=1", utf8_percent_encode(text, URI_PATH));
            return Connection::open_with_flags(uri, read_only | OpenFlags::SQLITE_OPEN_URI);
        }
        return Connection::open_with_flags(path, read_only);
    }
    let stamp = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default()
        .as_nanos();
    let dir =
        std::env::temp_dir().join(format!("balance-alert-read-{}-{stamp}", std::process::id()));
    // Private: the rows name accounts and balances.
    let copied = std::fs::DirBuilder::new()
        .mode(0o700)
        .create(&dir)
        .and_then(|()| {
            *copy = Some(ReadCopy { dir: dir.clone() });
            std::fs::copy(path, dir.join("state.db"))?;
            std::fs::copy(&wal, dir.join("state.db-wal"))
        });
    match copied {
        Ok(_) => Connection::open_with_flags(
            dir.join("state.db"),
            OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX,
        ),
        Err(_) => {
            *copy = None;
            Connection::open_with_flags(path, read_only)
        }
    }
}

/// Reads what can still be read from a damaged (or unwritable) database, row by row,
/// from both ends of each table so one bad page does not hide the rows after it.
/// Never writes, creates or migrates anything at `path` (see [`open_for_reading`]).
pub fn salvage(path: &Path) -> Option<Loaded> {
    // Declared before the connection, so the copy outlives it.
    let mut copy = None;
    let conn = open_for_reading(path, &mut copy).ok()?;
    let mut loaded = Loaded::default();
    let mut accounts: Vec<(String, String)> = Vec::new();
    for order in ["ASC", "DESC"] {
        scan(
            &conn,
            &format!("SELECT name, record FROM accounts ORDER BY name {order}"),
            &mut accounts,
            |r| Ok((r.get(0)?, r.get(1)?)),
        );
    }
    for (name, row) in accounts {
        if loaded.accounts.contains_key(&name) {
            continue;
        }
        match decode_record(&row) {
            Ok(record) => {
                loaded.accounts.insert(name, record);
            }
            Err(e) => {
                let partial = serde_json::from_str(&row)
                    .ok()
                    .and_then(|v| lenient_record(&v));
                match partial {
                    Some(record) => {
                        loaded
                            .damaged
                            .push(format!("account `{name}`: {e}; kept its level"));
                        loaded.accounts.insert(name, record);
                    }
                    None => loaded.damaged.push(format!("account `{name}`: {e}; lost")),
                }
            }
        }
    }
    let mut outbox: Vec<(i64, String)> = Vec::new();
    for order in ["ASC", "DESC"] {
        scan(
            &conn,
            &format!("SELECT seq, entry FROM outbox ORDER BY seq {order}"),
            &mut outbox,
            |r| Ok((r.get(0)?, r.get(1)?)),
        );
    }
    outbox.sort_by_key(|(seq, _)| *seq);
    outbox.dedup_by_key(|(seq, _)| *seq);
    add_outbox(
        &mut loaded,
        outbox
            .into_iter()
            .map(|(seq, row)| (seq, decode_entry(&row))),
    );
    let mut samples: Vec<(String, String)> = Vec::new();
    scan(
        &conn,
        "SELECT account, samples FROM samples",
        &mut samples,
        |r| Ok((r.get(0)?, r.get(1)?)),
    );
    add_histories(
        &mut loaded,
        samples
            .into_iter()
            .map(|(account, row)| (account, decode_history(&row))),
    );
    let seq: Option<String> = conn
        .query_row("SELECT value FROM meta WHERE key = 'next_seq'", [], |r| {
            r.get(0)
        })
        .ok();
    loaded.next_seq = seq.and_then(|s| s.parse().ok()).unwrap_or(0);
    Some(loaded)
}

/// One `outbox` row's entry.
fn decode_entry(row: &str) -> Result<Arc<OutboxEntry>, serde_json::Error> {
    serde_json::from_str::<OutboxEntry>(row).map(Arc::new)
}

/// Decoded pending deliveries (in `seq` order) into `loaded`, a damaged row into
/// `loaded.damaged`.
fn add_outbox(
    loaded: &mut Loaded,
    decoded: impl IntoIterator<Item = (i64, Result<Arc<OutboxEntry>, serde_json::Error>)>,
) {
    for (seq, entry) in decoded {
        match entry {
            Ok(entry) => loaded.outbox.push(entry),
            Err(e) => loaded.damaged.push(format!("pending delivery #{seq}: {e}")),
        }
    }
}

/// Decoded runway histories into `loaded`. The history is a nicety: a damaged one is
/// started again, not salvaged.
fn add_histories(
    loaded: &mut Loaded,
    decoded: impl IntoIterator<Item = (String, Option<Box<History>>)>,
) {
    for (account, history) in decoded {
        if let Some(h) = history {
            loaded.samples.insert(account, h);
        }
    }
}

/// Collects rows until the first error (a damaged page ends the scan, not the salvage).
fn scan<T>(
    conn: &Connection,
    sql: &str,
    out: &mut Vec<T>,
    row: impl Fn(&rusqlite::Row<'_>) -> rusqlite::Result<T>,
) {
    let Ok(mut stmt) = conn.prepare(sql) else {
        return;
    };
    let Ok(mut rows) = stmt.query([]) else {
        return;
    };
    while let Ok(Some(r)) = rows.next() {
        if let Ok(v) = row(r) {
            out.push(v);
        }
    }
}

fn read_all(conn: &Connection, threads: Threads) -> rusqlite::Result<Loaded> {
    std::thread::scope(|scope| {
        // With 100,000 pending deliveries and 10,000 runway histories, decoding the JSON
        // is most of the start-up time (SPEC §15: READY within 1 s): a read on its own
        // decodes on other threads while it reads on (`Threads::Spread`).
        let accounts: Decoding<String, _> = read_rows(
            scope,
            conn,
            "SELECT name, record FROM accounts",
            decode_record,
            threads,
        )?;
        let outbox: Decoding<i64, _> = read_rows(
            scope,
            conn,
            "SELECT seq, entry FROM outbox ORDER BY seq",
            decode_entry,
            threads,
        )?;
        let samples: Decoding<String, _> = read_rows(
            scope,
            conn,
            "SELECT account, samples FROM samples",
            decode_history,
            threads,
        )?;
        let seq: Option<String> = conn
            .query_row("SELECT value FROM meta WHERE key = 'next_seq'", [], |r| {
                r.get(0)
            })
            .map(Some)
            .or_else(|e| match e {
                rusqlite::Error::QueryReturnedNoRows => Ok(None),
                e => Err(e),
            })?;
        let mut loaded = Loaded::default();
        for (name, record) in accounts.join() {
            match record {
                Ok(record) => {
                    loaded.accounts.insert(name, record);
                }
                Err(e) => loaded.damaged.push(format!("account `{name}`: {e}")),
            }
        }
        add_outbox(&mut loaded, outbox.join());
        add_histories(&mut loaded, samples.join());
        loaded.next_seq = match seq {
            Some(s) => match s.parse() {
                Ok(n) => n,
                Err(_) => {
                    loaded
                        .damaged
                        .push(format!("next_seq `{s}` is not a number"));
                    0
                }
            },
            None => 0,
        };
        Ok(loaded)
    })
}

/// Rows per decoding thread: a few threads for 100,000 rows, none for a small table.
pub(super) const DECODE_CHUNK: usize = 16_384;

/// A table's rows being decoded, in the order read.
struct Decoding<'scope, K, T> {
    running: Vec<std::thread::ScopedJoinHandle<'scope, Vec<(K, T)>>>,
    /// What the reading thread decoded: the last chunk (all of a small table), or
    /// every chunk with [`Threads::This`].
    rest: Vec<(K, T)>,
}

impl<K, T> Decoding<'_, K, T> {
    fn join(self) -> impl Iterator<Item = (K, T)> {
        self.running
            .into_iter()
            .flat_map(|h| h.join().expect("decoding JSON does not panic"))
            .chain(self.rest)
    }
}

/// Where a read decodes its rows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Threads {
    /// On other threads, chunk by chunk, while the next chunk is read: for a read that
    /// has the machine to itself.
    Spread,
    /// On the reading thread: for a read beside other work (the prefetch, while the
    /// config is validated), where more threads only contend for the cores and for
    /// malloc's arenas (measured: slower).
    This,
}

/// Reads `sql`'s (key, JSON) rows and decodes them where `threads` says.
fn read_rows<'scope, K, T>(
    scope: &'scope std::thread::Scope<'scope, '_>,
    conn: &Connection,
    sql: &str,
    decode: fn(&str) -> T,
    threads: Threads,
) -> rusqlite::Result<Decoding<'scope, K, T>>
where
    K: rusqlite::types::FromSql + Send + 'scope,
    T: Send + 'scope,
{
    let run = move |chunk: Vec<(K, String)>| -> Vec<(K, T)> {
        chunk
            .into_iter()
            .map(|(k, row)| (k, decode(&row)))
            .collect()
    };
    let mut stmt = conn.prepare(sql)?;
    let mut rows = stmt.query([])?;
    let mut running = Vec::new();
    let mut done = Vec::new();
    let mut chunk = Vec::new();
    while let Some(r) = rows.next()? {
        chunk.push((r.get::<_, K>(0)?, r.get::<_, String>(1)?));
        if chunk.len() == DECODE_CHUNK {
            let full = std::mem::take(&mut chunk);
            match threads {
                Threads::Spread => running.push(scope.spawn(move || run(full))),
                Threads::This => done.extend(run(full)),
            }
        }
    }
    done.extend(run(chunk));
    Ok(Decoding {
        running,
        rest: done,
    })
}

impl Sqlite {
    fn apply_inner(&mut self, batch: &Batch) -> rusqlite::Result<()> {
        let tx = self.conn.transaction()?;
        if batch.replace_all {
            tx.execute_batch("DELETE FROM accounts; DELETE FROM outbox; DELETE FROM samples;")?;
        }
        {
            let mut put = tx.prepare_cached(
                "INSERT INTO accounts (name, record) VALUES (?1, ?2) \
                 ON CONFLICT (name) DO UPDATE SET record = excluded.record",
            )?;
            let mut del = tx.prepare_cached("DELETE FROM accounts WHERE name = ?1")?;
            for (name, row) in &batch.accounts {
                match row {
                    Some(row) => put.execute(params![name, row])?,
                    None => del.execute(params![name])?,
                };
            }
            let mut put = tx.prepare_cached(
                "INSERT OR REPLACE INTO outbox (seq, channel, account, entry) \
                 VALUES (?1, ?2, ?3, ?4)",
            )?;
            let mut del = tx.prepare_cached("DELETE FROM outbox WHERE seq = ?1")?;
            for (seq, row) in &batch.outbox {
                let seq = *seq as i64;
                match row {
                    Some(r) => put.execute(params![seq, r.channel, r.account, r.entry])?,
                    None => del.execute(params![seq])?,
                };
            }
            let mut put = tx.prepare_cached(
                "INSERT INTO samples (account, samples) VALUES (?1, ?2) \
                 ON CONFLICT (account) DO UPDATE SET samples = excluded.samples",
            )?;
            let mut del = tx.prepare_cached("DELETE FROM samples WHERE account = ?1")?;
            for (name, row) in &batch.samples {
                match row {
                    Some(row) => put.execute(params![name, row])?,
                    None => del.execute(params![name])?,
                };
            }
            if let Some(seq) = batch.next_seq {
                tx.prepare_cached(
                    "INSERT OR REPLACE INTO meta (key, value) VALUES ('next_seq', ?1)",
                )?
                .execute(params![seq.to_string()])?;
            }
        }
        tx.commit()
    }
}

impl Backend for Sqlite {
    fn apply(&mut self, batch: &Batch) -> Result<(), String> {
        if batch.is_empty() {
            return Ok(());
        }
        if !self.healthy() {
            return Err(format!(
                "{} was removed or replaced while open; writes there would be lost",
                self.path.display()
            ));
        }
        self.apply_inner(batch).map_err(|e| {
            // A failed commit leaves no transaction open, but be sure.
            let _ = self.conn.execute_batch("ROLLBACK");
            e.to_string()
        })
    }

    fn healthy(&self) -> bool {
        identity(&self.path).is_ok_and(|id| id == self.identity)
    }
}
