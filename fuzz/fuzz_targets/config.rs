//! The config loader: any file content must load or give an error naming the file, and
//! never panic (unset variables and `_file` reads go to an in-memory environment).
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|text: &str| {
    let env = balance_alert::config::env::MapEnv::default();
    let path = std::path::Path::new("fuzz.toml");
    if let Err(e) = balance_alert::settings::parse(text, path, &env) {
        assert!(e.to_string().starts_with("fuzz.toml"), "{e}");
    }
});
