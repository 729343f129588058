use std::time::Instant;

use super::*;
use crate::core::EventKind;

fn ts(s: &str) -> Timestamp {
    s.parse().unwrap()
}

fn event(account: &str) -> Event {
    Event {
        id: format!("id-{account}"),
        event: EventKind::Alert,
        account: account.into(),
        provider: "exotel".into(),
        sid: "s".into(),
        level: Level::Warning,
        previous_level: Some(Level::Ok),
        balance: Some(Decimal::from(4000)),
        currency: "INR".into(),
        threshold: Some(Decimal::from(5000)),
        pricing_plan: None,
        date_updated: None,
        observed_at: ts("2026-01-01T00:00:00Z"),
        error: None,
        ..Event::default()
    }
}

fn open(path: &Path) -> (Store, Opened) {
    Store::open(path, ts("2026-11-27T03:30:00Z")).unwrap()
}

#[tokio::test]
async fn rows_round_trip_and_only_the_owner_may_read_them() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("a/b/state.db");
    let (store, opened) = open(&path);
    assert_eq!(opened, Opened::Fresh);
    {
        let mut s = store.lock();
        s.accounts.entry("a".into()).or_default().eval.level = Level::Warning;
        s.push_outbox("hook".into(), ts("2026-01-01T00:00:00Z"), event("a"), None);
        s.push_outbox("hook".into(), ts("2026-01-01T00:00:01Z"), event("b"), None);
    }
    store.mark_account_dirty("a");
    store.save().await.unwrap();
    store.lock().remove_outbox(&[0]);
    store.save().await.unwrap();
    push(&store, "a", ts("2026-01-01T00:00:00Z"), Decimal::from(7));
    store.flush_samples().await.unwrap();
    use std::os::unix::fs::PermissionsExt as _;
    let mode = std::fs::metadata(&path).unwrap().permissions().mode();
    assert_eq!(mode & 0o777, 0o600);
    drop(store);

    let snapshot = read_snapshot(&path).unwrap();
    assert_eq!(snapshot.accounts["a"].eval.level, Level::Warning);
    assert_eq!(snapshot.outbox.len(), 1);
    assert_eq!(snapshot.outbox[0].event.id, "id-b");
    assert_eq!(snapshot.next_seq, 2);
    let (again, opened) = open(&path);
    assert_eq!(opened, Opened::Restored);
    assert_eq!(
        history(&again, "a").unwrap().last_balance(),
        Decimal::from(7)
    );
    // Sequence numbers never repeat across restarts.
    let e = again
        .lock()
        .push_outbox("hook".into(), ts("2026-01-01T00:00:02Z"), event("c"), None);
    assert_eq!(e.seq, 2);
}

#[tokio::test]
async fn a_newer_database_is_refused_and_left_alone() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("state.db");
    drop(open(&path));
    let conn = rusqlite::Connection::open(&path).unwrap();
    conn.pragma_update(None, "user_version", 7).unwrap();
    drop(conn);
    let before = std::fs::read(&path).unwrap();
    let err = Store::open(&path, ts("2026-01-01T00:00:00Z")).unwrap_err();
    let text = err.to_string();
    assert!(text.contains("schema version 7"), "{text}");
    assert!(matches!(err, StateError::NewerVersion { version: 7, .. }));
    assert_eq!(std::fs::read(&path).unwrap(), before, "never overwritten");
}

#[tokio::test]
async fn garbage_is_moved_aside_with_a_timestamp() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("state.db");
    std::fs::write(&path, vec![0x5a; 8192]).unwrap();
    let (store, opened) = open(&path);
    let aside = dir.path().join("state.db.corrupt-20261127T033000Z");
    match opened {
        Opened::Salvaged {
            aside: a, reason, ..
        } => {
            assert_eq!(a, aside);
            assert!(reason.contains("not a database"), "{reason}");
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(std::fs::read(&aside).unwrap(), vec![0x5a; 8192]);
    assert!(store.is_writable());
}

#[tokio::test]
async fn a_damaged_row_is_salvaged_with_the_rest() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("state.db");
    let (store, _) = open(&path);
    {
        let mut s = store.lock();
        for name in ["a", "b"] {
            let r = s.accounts.entry(name.into()).or_default();
            r.eval.level = Level::Critical;
            r.eval.critical_active = true;
        }
        s.push_outbox("hook".into(), ts("2026-01-01T00:00:00Z"), event("a"), None);
        s.push_outbox("hook".into(), ts("2026-01-01T00:00:00Z"), event("b"), None);
    }
    store.mark_dirty();
    store.save().await.unwrap();
    drop(store);
    let conn = rusqlite::Connection::open(&path).unwrap();
    // One record with a field of the wrong type (its level still reads), one
    // delivery that is not JSON at all.
    conn.execute(
        "UPDATE accounts SET record = json_set(record, '$.eval.last_notice_at', 42) WHERE name = 'a'",
        [],
    )
    .unwrap();
    conn.execute("UPDATE outbox SET entry = '{torn' WHERE seq = 0", [])
        .unwrap();
    drop(conn);
    let (store, opened) = open(&path);
    match opened {
        Opened::Salvaged {
            accounts,
            deliveries,
            reason,
            ..
        } => {
            assert_eq!((accounts, deliveries), (2, 1), "{reason}");
        }
        other => panic!("{other:?}"),
    }
    let s = store.lock();
    assert_eq!(s.accounts["a"].eval.level, Level::Critical);
    assert!(s.accounts["a"].eval.critical_active);
    assert_eq!(s.outbox().values().next().unwrap().event.id, "id-b");
    drop(s);
    drop(store);
    // The salvaged state is in the new database.
    assert_eq!(read_snapshot(&path).unwrap().accounts.len(), 2);
}

#[tokio::test]
async fn json_state_of_an_earlier_version_is_imported_leniently() {
    let dir = tempfile::tempdir().unwrap();
    let legacy = dir.path().join("state.json");
    let good = serde_json::to_value(AccountRecord {
        eval: AccountState {
            level: Level::Warning,
            warning_active: true,
            ..AccountState::default()
        },
        ..AccountRecord::default()
    })
    .unwrap();
    let entry = OutboxEntry {
        seq: 4,
        channel: "hook".into(),
        created_at: ts("2026-01-01T00:00:00Z"),
        event: event("good"),
        held_until: None,
    };
    let doc = serde_json::json!({
        "version": 1,
        "accounts": {
            "good": good,
            "odd": {"eval": {"level": "critical", "last_notice_at": 12}},
        },
        "outbox": [entry, {"seq": "nope"}],
        "next_seq": 5,
    });
    // A UTF-8 BOM in front, as some editors write.
    let mut bytes = b"\xEF\xBB\xBF".to_vec();
    bytes.extend(serde_json::to_vec(&doc).unwrap());
    std::fs::write(&legacy, bytes).unwrap();
    // Beside it, the sample file: a list of samples (before runway forecasting) or a
    // runway history (with it), either imported; a damaged entry starts again.
    let runway = History::new(
        crate::core::runway::DEFAULT_WINDOW,
        ts("2026-01-01T00:00:00Z"),
        Decimal::from(300),
    );
    let samples = serde_json::json!({
        "good": [{"at": "2026-01-01T00:00:00Z", "balance": "12.5"}],
        "odd": runway,
        "bad": {"width": "x"},
    });
    std::fs::write(
        dir.path().join("state.samples.json"),
        serde_json::to_vec(&samples).unwrap(),
    )
    .unwrap();
    let db = dir.path().join("state.db");
    let (store, opened) = open(&db);
    assert_eq!(
        opened,
        Opened::Imported(dir.path().join("state.json.imported"))
    );
    assert!(!legacy.exists());
    assert!(dir.path().join("state.samples.json.imported").exists());
    {
        let s = store.lock();
        assert_eq!(s.accounts["good"].eval.level, Level::Warning);
        assert_eq!(s.accounts["odd"].eval.level, Level::Critical);
        assert_eq!(s.outbox().len(), 1);
        assert_eq!(s.outbox()[&4].event.id, "id-good");
    }
    // The list of samples of an earlier version becomes a runway history.
    assert_eq!(
        history(&store, "good").unwrap().last_balance(),
        "12.5".parse().unwrap()
    );
    assert_eq!(history(&store, "odd"), Some(runway));
    assert!(history(&store, "bad").is_none());
    drop(store);
    // Written into the database's rows, not left in the imported file.
    assert_eq!(read_histories(&db).unwrap().len(), 2);
    let snapshot = read_snapshot(&db).unwrap();
    assert_eq!(snapshot.outbox.len(), 1);
    assert_eq!(snapshot.next_seq, 5);
}

#[tokio::test]
async fn json_at_the_configured_path_is_imported_in_place_and_a_newer_one_refused() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("state.json");
    std::fs::write(
        &path,
        r#"{"version":1,"accounts":{},"outbox":[],"next_seq":3}"#,
    )
    .unwrap();
    let (store, opened) = open(&path);
    assert_eq!(
        opened,
        Opened::Imported(dir.path().join("state.json.imported"))
    );
    assert_eq!(
        store
            .lock()
            .push_outbox("c".into(), ts("2026-01-01T00:00:00Z"), event("x"), None)
            .seq,
        3
    );
    drop(store);
    assert!(
        std::fs::read(&path)
            .unwrap()
            .starts_with(b"SQLite format 3")
    );

    let newer = dir.path().join("newer.json");
    std::fs::write(
        &newer,
        r#"{"version":99,"accounts":{},"outbox":[],"next_seq":0}"#,
    )
    .unwrap();
    let err = Store::open(&newer, ts("2026-01-01T00:00:00Z")).unwrap_err();
    assert!(err.to_string().contains("schema version 99"), "{err}");
    assert!(newer.exists(), "left alone");
}

#[tokio::test]
async fn a_directory_in_its_place_runs_from_memory_until_it_is_gone() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("state.db");
    std::fs::create_dir(&path).unwrap();
    let (store, opened) = open(&path);
    assert!(
        matches!(&opened, Opened::MemoryOnly(r) if r.contains("is a directory")),
        "{opened:?}"
    );
    assert!(!store.is_writable());
    let e = store
        .lock()
        .push_outbox("hook".into(), ts("2026-01-01T00:00:00Z"), event("a"), None);
    assert!(store.save().await.is_err());
    // Not yet due: nothing is tried.
    assert!(!store.retry().await);
    std::fs::remove_dir(&path).unwrap();
    {
        let mut link = store.link.lock().await;
        link.next_retry = Instant::now();
    }
    assert!(store.retry().await);
    assert!(store.is_writable());
    drop(store);
    let snapshot = read_snapshot(&path).unwrap();
    assert_eq!(
        snapshot.outbox,
        [(*e).clone()],
        "what was only in memory is written out"
    );
}

fn history(store: &Store, account: &str) -> Option<History> {
    store.lock().histories().get(account).map(|h| (**h).clone())
}

/// Adds a sample to the account's runway history, as a poll does.
fn push(store: &Store, account: &str, at: Timestamp, balance: Decimal) {
    let policy = crate::core::RunwayPolicy::default();
    store.with_history(account, |h| {
        crate::core::runway::record(h, &policy, at, balance)
    });
}

/// One row per account, written by the flush only when a poll changed it; a row of an
/// earlier version (a list of samples) reads as a history, and a damaged one is started
/// again instead of being salvaged.
#[tokio::test]
async fn histories_are_rows_written_only_when_changed() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("s.db");
    let (store, _) = open(&path);
    for i in 0..40i64 {
        let at = ts("2026-01-01T00:00:00Z") + jiff::SignedDuration::from_secs(i * 60);
        push(&store, "a", at, Decimal::from(1000 - i));
        push(&store, "b", at, Decimal::from(500));
    }
    store.flush_samples().await.unwrap();
    assert!(store.lock().dirty.samples.is_empty());
    push(&store, "a", ts("2026-01-01T01:00:00Z"), Decimal::from(900));
    assert_eq!(
        store.lock().dirty.samples,
        BTreeSet::from(["a".to_string()]),
        "only the account polled is written again"
    );
    store.retain_histories(|name| name != "b");
    store.flush_samples().await.unwrap();
    let h = history(&store, "a").unwrap();
    assert_eq!(h.last_balance(), Decimal::from(900));
    store.close().await;
    drop(store);
    let stored = read_histories(&path).unwrap();
    assert_eq!(stored.get("a").map(|h| &**h), Some(&h));
    assert!(
        !stored.contains_key("b"),
        "a dropped account's row is deleted"
    );

    let conn = rusqlite::Connection::open(&path).unwrap();
    conn.execute_batch(
        r#"INSERT INTO samples (account, samples) VALUES
           ('old', '[{"at":"2026-01-01T00:00:00Z","balance":"10"},{"at":"2026-01-01T00:01:00Z","balance":"9"}]'),
           ('bad', '{"width":7');"#,
    )
    .unwrap();
    drop(conn);
    let (again, _) = open(&path);
    assert_eq!(history(&again, "a"), Some(h));
    assert_eq!(
        history(&again, "old").unwrap().last_balance(),
        Decimal::from(9)
    );
    assert!(history(&again, "bad").is_none());
}

/// `status` with the daemon down reads the database: a snooze and the rows still only
/// in the WAL (the daemon running or killed) are seen, and nothing at the path is
/// created, changed or left behind.
#[tokio::test]
async fn reading_without_the_daemon_sees_the_wal_and_changes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("state.db");
    let listing = || {
        let mut names: Vec<String> = std::fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        names
    };
    let (store, _) = open(&path);
    let snooze = Snooze {
        since: ts("2026-01-01T00:00:00Z"),
        until: Some(ts("2026-01-02T00:00:00Z")),
        level: Level::Warning,
    };
    {
        let mut s = store.lock();
        let record = s.accounts.entry("a".into()).or_default();
        record.eval.level = Level::Warning;
        record.snooze = Some(snooze.clone());
    }
    store.mark_account_dirty("a");
    store.save().await.unwrap();
    assert!(
        dir.path().join("state.db-wal").exists(),
        "an open database keeps its WAL"
    );
    let (bytes, files) = (std::fs::read(&path).unwrap(), listing());
    let state = read_state(&path).unwrap();
    assert_eq!(state.accounts["a"].snooze, Some(snooze.clone()));
    assert_eq!(std::fs::read(&path).unwrap(), bytes);
    assert_eq!(listing(), files);

    store.close().await;
    drop(store);
    let (bytes, files) = (std::fs::read(&path).unwrap(), listing());
    assert_eq!(
        files,
        ["state.db"],
        "a clean close leaves the database alone"
    );
    let state = read_state(&path).unwrap();
    assert_eq!(state.accounts["a"].eval.level, Level::Warning);
    assert_eq!(state.accounts["a"].snooze, Some(snooze));
    assert_eq!(
        std::fs::read(&path).unwrap(),
        bytes,
        "reading changed the file"
    );
    assert_eq!(listing(), files, "reading left files beside the database");

    let missing = dir.path().join("missing.db");
    let e = read_state(&missing).unwrap_err();
    assert!(e.contains("cannot read") && e.contains("missing.db"), "{e}");
    assert!(!missing.exists(), "reading created a database");
}

/// A state with an account, a history and `n` pending deliveries, written to `path`.
async fn write_state(path: &Path, n: usize) {
    let (store, _) = open(path);
    {
        let mut s = store.lock();
        s.accounts.entry("a".into()).or_default().eval.level = Level::Critical;
        for i in 0..n {
            s.push_outbox(
                "hook".into(),
                ts("2026-01-01T00:00:00Z"),
                event(&format!("acct{i}")),
                None,
            );
        }
    }
    store.mark_account_dirty("a");
    push(&store, "a", ts("2026-01-01T00:00:00Z"), Decimal::from(7));
    store.save().await.unwrap();
    store.flush_samples().await.unwrap();
}

#[tokio::test]
async fn a_prefetched_read_opens_the_same_state_as_opening_does() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("state.db");
    // More rows than one decoding chunk, so several threads decode them.
    write_state(&path, sqlite::DECODE_CHUNK + 7).await;
    let text = format!("[daemon]\nstate_file = \"{}\"\n", path.display());
    let prefetch = prefetch::Prefetch::start(&text).expect("a thread");
    let now = ts("2026-11-27T03:30:00Z");
    let (fetched, opened) = Store::open_prefetched(&path, now, Some(prefetch)).unwrap();
    assert_eq!(opened, Opened::Restored);
    let (plain, _) = open(&path);
    let (a, b) = (fetched.lock(), plain.lock());
    assert_eq!(a.outbox().len(), sqlite::DECODE_CHUNK + 7);
    assert_eq!(a.outbox(), b.outbox());
    assert_eq!(a.accounts, b.accounts);
    assert_eq!(a.accounts["a"].eval.level, Level::Critical);
    assert_eq!(a.histories(), b.histories());
    assert_eq!(a.next_seq, b.next_seq);
    // In seq order, as read.
    let seqs: Vec<u64> = a.outbox().keys().copied().collect();
    assert!(seqs.windows(2).all(|w| w[0] < w[1]));
}

#[tokio::test]
async fn a_prefetch_of_another_path_is_not_used() {
    let dir = tempfile::tempdir().unwrap();
    let (named, other) = (dir.path().join("named.db"), dir.path().join("other.db"));
    write_state(&named, 3).await;
    write_state(&other, 1).await;
    // The text names `named`; the validated config (here: the caller) says `other`.
    let text = format!("[daemon]\nstate_file = \"{}\"\n", named.display());
    let prefetch = prefetch::Prefetch::start(&text).expect("a thread");
    let now = ts("2026-11-27T03:30:00Z");
    let (store, _) = Store::open_prefetched(&other, now, Some(prefetch)).unwrap();
    assert_eq!(store.lock().outbox().len(), 1);
}

#[tokio::test]
async fn a_damaged_database_read_ahead_is_salvaged_as_without_it() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("state.db");
    write_state(&path, 2).await;
    {
        let conn = rusqlite::Connection::open(&path).unwrap();
        conn.execute("UPDATE outbox SET entry = '{broken' WHERE seq = 0", [])
            .unwrap();
    }
    let text = format!("[daemon]\nstate_file = \"{}\"\n", path.display());
    let prefetch = prefetch::Prefetch::start(&text).expect("a thread");
    let now = ts("2026-11-27T03:30:00Z");
    let (store, opened) = Store::open_prefetched(&path, now, Some(prefetch)).unwrap();
    assert!(
        matches!(&opened, Opened::Salvaged { deliveries: 1, .. }),
        "{opened:?}"
    );
    assert_eq!(store.lock().outbox().len(), 1);
}
