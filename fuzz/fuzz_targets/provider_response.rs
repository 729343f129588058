//! Every provider's response readers (SPEC §2, §10): the first byte picks the provider,
//! the rest is the body. The balance parser must give a balance or a named error, an
//! accepted amount must be exactly its literal's value, and the error-body reader (what a
//! non-2xx response says) must give at most one short line; never a panic.
#![no_main]

use balance_alert::provider::{ProviderConfig, error_details_of, parse_balance_of};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|input: &[u8]| {
    let Some((&pick, body)) = input.split_first() else {
        return;
    };
    let names = ProviderConfig::NAMES;
    let provider = names[usize::from(pick) % names.len()];
    match parse_balance_of(provider, body).expect("a known provider") {
        Ok(parsed) => {
            let text = parsed.amount.to_string();
            assert_eq!(text.parse::<rust_decimal::Decimal>().ok(), Some(parsed.amount));
        }
        Err(e) => assert!(!e.to_string().is_empty()),
    }
    let (exception, snippet) = error_details_of(provider, body).expect("a known provider");
    if let Some(line) = snippet {
        assert!(!line.contains('\n'), "an excerpt is one line: {line:?}");
    }
    if let Some(e) = exception {
        assert!(e.message.as_deref().is_none_or(|m| !m.contains('\n')));
    }
});
