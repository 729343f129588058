//! The Exotel Balance response parser (both success shapes, the RestException inside a
//! success body, BOMs, HTML pages): any bytes must give a balance or a named error,
//! never a panic; an accepted amount must be exactly the literal's value.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|body: &[u8]| {
    match balance_alert::provider::exotel::parse_balance(body) {
        Ok(parsed) => {
            // The amount round-trips through its own text exactly.
            let text = parsed.amount.to_string();
            assert_eq!(text.parse::<rust_decimal::Decimal>().ok(), Some(parsed.amount));
        }
        Err(e) => {
            // Every error names what was wrong.
            assert!(!e.to_string().is_empty());
        }
    }
});
