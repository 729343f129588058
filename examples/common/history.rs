//! Shared by `examples/load.rs` and `examples/scale.rs` (included with `#[path]`; not
//! an example of its own): a week of runway history for every account, written into
//! the state database through the real store, as a daemon that ran for 7 days left it.

use rust_decimal::Decimal;
use std::time::Duration;

/// The runway window every account uses: the §15 memory row's 7 days.
pub const HISTORY_WINDOW: Duration = Duration::from_secs(7 * 86_400);

/// Writes the runway histories the daemon loads at start into its state database,
/// through the real store (one `samples` row per account): for every account a full
/// `HISTORY_WINDOW` of 60 s samples (a steady drain of 1 INR a minute ending at 9,000),
/// pushed one by one through the real downsampling. Returns how many samples each has.
pub fn write_histories(dir: &std::path::Path, names: &[String]) -> usize {
    use balance_alert::core::History;
    let now = jiff::Timestamp::now();
    let minutes = (HISTORY_WINDOW.as_secs() / 60) as i64;
    let start = now - jiff::SignedDuration::from_secs(minutes * 60);
    let mut one = History::new(HISTORY_WINDOW, start, Decimal::from(9_000 + minutes));
    for k in 1..=minutes {
        one.push(
            HISTORY_WINDOW,
            start + jiff::SignedDuration::from_secs(k * 60),
            Decimal::from(9_000 + minutes - k),
        );
    }
    // Every account gets the same (fully pushed) history; pushing 10,080 samples for
    // each of 10,000 accounts only makes the harness slower, not the daemon bigger.
    let db = dir.join("state.db");
    let (store, _) = balance_alert::state::Store::open(&db, now).expect("open the state database");
    for name in names {
        store.with_history(name, |h| *h = Some(Box::new(one.clone())));
    }
    tokio::runtime::Builder::new_current_thread()
        .build()
        .expect("runtime")
        .block_on(async {
            store.flush_samples().await.expect("write the histories");
            store.close().await;
        });
    println!(
        "histories: {} accounts × {} samples (7 days at 60 s) in {} buckets, {:.2} MiB of database",
        names.len(),
        minutes + 1,
        balance_alert::core::runway::BUCKETS,
        std::fs::metadata(&db).map(|m| m.len()).unwrap_or(0) as f64 / (1024.0 * 1024.0)
    );
    minutes as usize + 1
}
