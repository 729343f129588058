//! Opening the state (SPEC §17): the import of an earlier version's JSON state file,
//! the refusal of a newer database, the salvage of a damaged one, and the fall-back to
//! memory when the disk will not have it. Every path here says in the log what it found.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use jiff::Timestamp;
use tracing::{info, warn};

use super::Opened;
use super::backend::{Backend, Loaded};
use super::prefetch::Prefetch;
use super::sqlite::{self, OpenError};
use super::{AccountRecord, OutboxEntry, State, StateError, decode_history, lenient_record};
use crate::core::History;

type OpenedState = (State, Option<Box<dyn Backend>>, Opened);

/// The file name of a JSON state file of an earlier version, looked for beside the
/// database when the configured path holds none.
const LEGACY_NAME: &str = "state.json";

/// Opens the state at `path`; see [`super::Store::open`].
pub fn open(
    path: &Path,
    now: Timestamp,
    prefetch: Option<Prefetch>,
) -> Result<OpenedState, StateError> {
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        // Operators expect `state_file = "/some/new/dir/state.db"` to just work.
        if let Err(e) = std::fs::create_dir_all(dir) {
            let reason = format!("cannot create directory {}: {e}", dir.display());
            return Ok(memory(path, Loaded::default(), reason));
        }
    }
    if path.is_dir() {
        let reason = format!("{} is a directory, not a state database", path.display());
        return Ok(memory(path, Loaded::default(), reason));
    }

    // An earlier version's JSON, at the configured path or beside it.
    let mut legacy: Option<(Loaded, PathBuf)> = None;
    if looks_like_json(path) {
        match read_legacy(path)? {
            Ok(loaded) => {
                let to = imported_path(path);
                // The database takes the JSON file's place: move it out of the way first.
                if let Err(e) = std::fs::rename(path, &to) {
                    let reason =
                        format!("cannot rename {} to {}: {e}", path.display(), to.display());
                    return Ok(memory(path, loaded, reason));
                }
                let _ = std::fs::rename(samples_path(path), imported_path(&samples_path(path)));
                legacy = Some((loaded, to));
            }
            Err(why) => {
                let aside = aside_path(path, now);
                warn!(path = %path.display(), moved_to = %aside.display(), problem = %why, "state file was corrupt; moved it aside and starting fresh");
                if let Err(e) = std::fs::rename(path, &aside) {
                    let reason = format!("cannot move {} aside: {e}", path.display());
                    return Ok(memory(path, Loaded::default(), reason));
                }
            }
        }
    } else if !path.exists() {
        let beside = path.with_file_name(LEGACY_NAME);
        if beside != path && looks_like_json(&beside) {
            match read_legacy(&beside)? {
                Ok(loaded) => legacy = Some((loaded, beside)),
                Err(why) => {
                    warn!(path = %beside.display(), problem = %why, "old JSON state beside the database is damaged; not imported")
                }
            }
        }
    }

    // The read half may have run already, while the config was validated.
    let opened = match prefetch.and_then(|p| p.take(path)) {
        Some(read) => read.and_then(|read| sqlite::finish(path, read)),
        None => sqlite::open(path),
    };
    match opened {
        Ok((db, loaded)) => {
            let backend: Box<dyn Backend> = Box::new(db);
            if !loaded.damaged.is_empty() {
                let reason = format!("{} row(s) do not decode", loaded.damaged.len());
                drop(backend);
                return salvage(path, now, reason);
            }
            if let Some((imported, from)) = legacy {
                return Ok(import(path, backend, loaded, imported, &from));
            }
            let opened = if loaded.accounts.is_empty() && loaded.outbox.is_empty() {
                Opened::Fresh
            } else {
                Opened::Restored
            };
            Ok((State::from_loaded(loaded), Some(backend), opened))
        }
        Err(OpenError::Newer(version)) => Err(StateError::NewerVersion {
            path: path.to_path_buf(),
            version: version.into(),
        }),
        Err(OpenError::Damaged(reason)) => salvage(path, now, reason),
        Err(OpenError::Unavailable(reason, loaded)) => {
            let loaded = match (legacy, loaded) {
                (Some((imported, _)), _) => imported,
                (None, Some(loaded)) => *loaded,
                (None, None) if path.exists() => sqlite::salvage(path).unwrap_or_default(),
                (None, None) => Loaded::default(),
            };
            Ok(memory(path, loaded, reason))
        }
    }
}

/// Writes the imported JSON state into the new database; the JSON file is kept as
/// `*.imported`.
fn import(
    path: &Path,
    mut backend: Box<dyn Backend>,
    existing: Loaded,
    imported: Loaded,
    from: &Path,
) -> OpenedState {
    let damaged = imported.damaged.clone();
    let mut state = State::from_loaded(imported);
    // A database that already holds state is newer than the JSON beside it.
    if !existing.accounts.is_empty() || !existing.outbox.is_empty() {
        warn!(path = %from.display(), "old JSON state found beside a database that already holds state; not imported");
        return (
            State::from_loaded(existing),
            Some(backend),
            Opened::Restored,
        );
    }
    for problem in &damaged {
        warn!(path = %from.display(), %problem, "part of the old JSON state could not be imported");
    }
    let dirty = super::Dirty {
        replace_all: true,
        ..super::Dirty::default()
    };
    let batch = state.batch(&dirty);
    if let Err(e) = backend.apply(&batch) {
        state.dirty.replace_all = true;
        let reason = format!("cannot write the imported state: {e}");
        return (state, None, Opened::MemoryOnly(reason));
    }
    let to = if from.extension().is_some_and(|e| e == "imported") {
        from.to_path_buf()
    } else {
        let to = imported_path(from);
        if let Err(e) = std::fs::rename(from, &to) {
            warn!(path = %from.display(), error = %e, "imported the old JSON state but cannot rename it");
        }
        let _ = std::fs::rename(samples_path(from), imported_path(&samples_path(from)));
        to
    };
    info!(
        from = %from.display(),
        into = %path.display(),
        accounts = state.accounts.len(),
        pending = state.outbox().len(),
        kept_as = %to.display(),
        "imported the JSON state of an earlier version"
    );
    (state, Some(backend), Opened::Imported(to))
}

/// Moves a damaged database aside and carries over whatever can still be read.
fn salvage(path: &Path, now: Timestamp, reason: String) -> Result<OpenedState, StateError> {
    let loaded = sqlite::salvage(path).unwrap_or_default();
    let aside = aside_path(path, now);
    for problem in &loaded.damaged {
        warn!(path = %path.display(), %problem, "damaged row in the state database");
    }
    if let Err(e) = move_database(path, &aside) {
        let why =
            format!("the state database is damaged ({reason}) and cannot be moved aside: {e}");
        return Ok(memory(path, loaded, why));
    }
    let (accounts, deliveries) = (loaded.accounts.len(), loaded.outbox.len());
    warn!(
        path = %path.display(),
        moved_to = %aside.display(),
        problem = %reason,
        accounts,
        deliveries,
        "state database was damaged; moved it aside and carried over what could be read"
    );
    let mut state = State::from_loaded(loaded);
    state.dirty.replace_all = true;
    let opened = Opened::Salvaged {
        aside,
        reason,
        accounts,
        deliveries,
    };
    match sqlite::open(path) {
        Ok((db, _)) => {
            let mut backend: Box<dyn Backend> = Box::new(db);
            let dirty = std::mem::take(&mut state.dirty);
            let batch = state.batch(&dirty);
            match backend.apply(&batch) {
                Ok(()) => Ok((state, Some(backend), opened)),
                Err(e) => {
                    state.dirty = dirty;
                    Ok((state, None, Opened::MemoryOnly(e)))
                }
            }
        }
        Err(e) => Ok((state, None, Opened::MemoryOnly(e.to_string()))),
    }
}

/// Opens the database again after it could not be written (the retry).
pub fn reopen(path: &Path) -> Result<Box<dyn Backend>, String> {
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir)
            .map_err(|e| format!("cannot create directory {}: {e}", dir.display()))?;
    }
    if path.is_dir() {
        return Err(format!(
            "{} is a directory, not a state database",
            path.display()
        ));
    }
    match sqlite::open(path) {
        Ok((db, _)) => Ok(Box::new(db)),
        Err(OpenError::Newer(v)) => Err(format!(
            "{} now holds a database of a newer version (schema {v}); not overwritten",
            path.display()
        )),
        Err(OpenError::Damaged(reason)) => {
            let aside = aside_path(path, Timestamp::now());
            move_database(path, &aside)
                .map_err(|e| format!("{reason}; cannot move it aside: {e}"))?;
            warn!(path = %path.display(), moved_to = %aside.display(), problem = %reason, "state database was damaged; moved it aside (memory holds the state)");
            match sqlite::open(path) {
                Ok((db, _)) => Ok(Box::new(db)),
                Err(e) => Err(e.to_string()),
            }
        }
        Err(OpenError::Unavailable(reason, _)) => Err(reason),
    }
}

/// Reads the state at `path` without changing anything.
pub fn read_only(path: &Path) -> Result<Loaded, String> {
    if looks_like_json(path) {
        return match read_legacy(path) {
            Ok(Ok(loaded)) => Ok(loaded),
            Ok(Err(why)) => Err(why),
            Err(e) => Err(e.to_string()),
        };
    }
    let mut loaded = sqlite::salvage(path)
        .ok_or_else(|| format!("cannot open the state database {}", path.display()))?;
    loaded.damaged.clear();
    Ok(loaded)
}

fn memory(path: &Path, loaded: Loaded, reason: String) -> OpenedState {
    warn!(path = %path.display(), %reason, "cannot use the state database; running from memory");
    let mut state = State::from_loaded(loaded);
    // Whatever was read must be written once the disk takes it.
    state.dirty.replace_all = true;
    (state, None, Opened::MemoryOnly(reason))
}

/// A JSON document rather than a database (SQLite files start `SQLite format 3`).
fn looks_like_json(path: &Path) -> bool {
    use std::io::Read as _;
    let Ok(file) = std::fs::File::open(path) else {
        return false;
    };
    if !file.metadata().is_ok_and(|m| m.is_file()) {
        return false;
    }
    let mut head = Vec::with_capacity(64);
    if file.take(64).read_to_end(&mut head).is_err() {
        return false;
    }
    let head = head.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(&head);
    head.iter()
        .find(|b| !b.is_ascii_whitespace())
        .is_some_and(|b| *b == b'{')
}

/// Reads an earlier version's JSON state file, keeping every part that reads: a UTF-8
/// BOM or one bad field does not cost the rest. `Ok(Err(why))` when it is not JSON at
/// all; `Err` when it was written by a newer version.
fn read_legacy(path: &Path) -> Result<Result<Loaded, String>, StateError> {
    let bytes = match std::fs::read(path) {
        Ok(b) => b,
        Err(e) => return Ok(Err(format!("cannot read it: {e}"))),
    };
    let body = bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(&bytes);
    let doc: serde_json::Value = match serde_json::from_slice(body) {
        Ok(v) => v,
        Err(e) => return Ok(Err(format!("not valid JSON: {e}"))),
    };
    if let Some(version) = doc.get("version").and_then(|v| v.as_u64()) {
        if version > 1 {
            return Err(StateError::NewerVersion {
                path: path.to_path_buf(),
                version,
            });
        }
    }
    let mut loaded = Loaded::default();
    if let Some(accounts) = doc.get("accounts").and_then(|a| a.as_object()) {
        for (name, value) in accounts {
            match serde_json::from_value::<AccountRecord>(value.clone()) {
                Ok(r) => {
                    loaded.accounts.insert(name.clone(), r);
                }
                Err(e) => match lenient_record(value) {
                    Some(r) => {
                        loaded
                            .damaged
                            .push(format!("account `{name}`: {e}; kept its level"));
                        loaded.accounts.insert(name.clone(), r);
                    }
                    None => loaded
                        .damaged
                        .push(format!("account `{name}`: {e}; not imported")),
                },
            }
        }
    }
    if let Some(outbox) = doc.get("outbox").and_then(|a| a.as_array()) {
        for (i, value) in outbox.iter().enumerate() {
            match serde_json::from_value::<OutboxEntry>(value.clone()) {
                Ok(e) => loaded.outbox.push(Arc::new(e)),
                Err(e) => loaded
                    .damaged
                    .push(format!("pending delivery {}: {e}; not imported", i + 1)),
            }
        }
    }
    loaded.outbox.sort_by_key(|e| e.seq);
    loaded.next_seq = doc.get("next_seq").and_then(|v| v.as_u64()).unwrap_or(0);
    loaded.samples = read_legacy_samples(&samples_path(path));
    Ok(Ok(loaded))
}

/// The sample file beside an earlier version's state file: per account, a runway
/// history (versions with runway forecasting) or a list of samples (before them). What
/// does not read is started again.
fn read_legacy_samples(path: &Path) -> BTreeMap<String, Box<History>> {
    let Ok(bytes) = std::fs::read(path) else {
        return BTreeMap::new();
    };
    let body = bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(&bytes);
    // Each entry as raw text, decoded like a database row: no generic JSON tree of the
    // whole file (at 10,000 accounts it would cost over 100 MiB).
    let Ok(map) =
        serde_json::from_slice::<BTreeMap<String, Box<serde_json::value::RawValue>>>(body)
    else {
        return BTreeMap::new();
    };
    map.into_iter()
        .filter_map(|(name, v)| Some((name, decode_history(v.get())?)))
        .collect()
}

/// `state.json` → `state.samples.json`, beside it (the earlier versions' layout).
pub fn samples_path(path: &Path) -> PathBuf {
    path.with_extension("samples.json")
}

fn imported_path(path: &Path) -> PathBuf {
    let mut name = path.file_name().unwrap_or_default().to_os_string();
    name.push(".imported");
    path.with_file_name(name)
}

fn aside_path(path: &Path, now: Timestamp) -> PathBuf {
    let stamp = now.strftime("%Y%m%dT%H%M%SZ").to_string();
    let mut name = path.file_name().unwrap_or_default().to_os_string();
    name.push(format!(".corrupt-{stamp}"));
    path.with_file_name(name)
}

/// Moves a database and its WAL and shared-memory files.
fn move_database(from: &Path, to: &Path) -> std::io::Result<()> {
    std::fs::rename(from, to)?;
    for suffix in ["-wal", "-shm"] {
        let mut f = from.as_os_str().to_os_string();
        f.push(suffix);
        let mut t = to.as_os_str().to_os_string();
        t.push(suffix);
        if Path::new(&f).exists() {
            let _ = std::fs::rename(&f, &t);
        }
    }
    Ok(())
}
