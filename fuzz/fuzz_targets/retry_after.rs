//! `Retry-After` values (delta-seconds or an HTTP date): never a panic, never above the
//! cap (SPEC §17).
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|value: &str| {
    let now = std::time::SystemTime::UNIX_EPOCH + std::time::Duration::from_secs(1_800_000_000);
    if let Some(wait) = balance_alert::http::parse_retry_after(value, now) {
        assert!(wait <= balance_alert::http::MAX_RETRY_AFTER);
    }
});
