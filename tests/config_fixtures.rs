//! Walks the config fixtures: every file in `tests/fixtures/valid/` (and the shipped
//! example `config/balance-alert.toml`) must parse; every file in
//! `tests/fixtures/invalid/` must fail with the error its first line announces:
//!
//! ```toml
//! # expect: line 7: account[0].warning.clear_above: must be greater than below
//! ```
//!
//! `line N: ` is checked against the error's line (an expectation without it means the
//! error has no line); the rest must appear in the error's `file:line:col: key: message`
//! text.
//!
//! The fixtures run against a fixed environment, [`fixture_env`]: the variables
//! `EXOTEL_API_KEY`, `EXOTEL_API_TOKEN`, `SLACK_WEBHOOK_URL`, `SMTP_PASSWORD`,
//! `TWILIO_AUTH_TOKEN`, `PLIVO_AUTH_TOKEN`, `VONAGE_API_SECRET`, `TELNYX_API_KEY`,
//! `INFOBIP_API_KEY`, `WEBHOOK_TOKEN` and `CREDENTIALS_DIRECTORY` (=
//! `/run/credentials/balance-alert.service`, holding `exotel_key`, `exotel_token`,
//! `slack_webhook`, `smtp_password`, `twilio_token`, `plivo_token`, `vonage_secret`,
//! `telnyx_key` and `infobip_key`).

use std::path::{Path, PathBuf};

use balance_alert::config::MapEnv;
use balance_alert::settings as config;

const CREDENTIALS: &str = "/run/credentials/balance-alert.service";

fn fixture_env() -> MapEnv {
    let mut env = MapEnv::default();
    for (name, value) in [
        ("EXOTEL_API_KEY", "fixture-api-key"),
        ("EXOTEL_API_TOKEN", "fixture-api-token"),
        (
            "SLACK_WEBHOOK_URL",
            "https://hooks.slack.com/services/T000/B000/XXXX",
        ),
        ("SMTP_PASSWORD", "fixture-smtp-password"),
        ("TWILIO_AUTH_TOKEN", "fixture-twilio-token"),
        ("PLIVO_AUTH_TOKEN", "fixture-plivo-token"),
        ("VONAGE_API_SECRET", "fixture-vonage-secret"),
        ("TELNYX_API_KEY", "fixture-telnyx-key"),
        ("INFOBIP_API_KEY", "fixture-infobip-key"),
        ("WEBHOOK_TOKEN", "fixture-webhook-token"),
        ("CREDENTIALS_DIRECTORY", CREDENTIALS),
    ] {
        env.vars.insert(name.to_owned(), value.to_owned());
    }
    for (file, content) in [
        ("exotel_key", "fixture-api-key-from-file\n"),
        ("exotel_token", "fixture-api-token-from-file\n"),
        (
            "slack_webhook",
            "https://hooks.slack.com/services/T000/B000/FILE\n",
        ),
        ("smtp_password", "fixture-smtp-password-from-file\n"),
        ("twilio_token", "fixture-twilio-token-from-file\n"),
        ("plivo_token", "fixture-plivo-token-from-file\n"),
        ("vonage_secret", "fixture-vonage-secret-from-file\n"),
        ("telnyx_key", "fixture-telnyx-key-from-file\n"),
        ("infobip_key", "fixture-infobip-key-from-file\n"),
    ] {
        env.files
            .insert(Path::new(CREDENTIALS).join(file), content.to_owned());
    }
    env
}

fn toml_files(dir: &str) -> Vec<PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join(dir);
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("cannot list {}: {e}", dir.display()))
        .map(|entry| entry.expect("directory entry").path())
        .filter(|path| path.extension().is_some_and(|ext| ext == "toml"))
        .collect();
    files.sort();
    assert!(!files.is_empty(), "no fixtures in {}", dir.display());
    files
}

#[test]
fn valid_fixtures_parse() {
    let env = fixture_env();
    let mut files = toml_files("tests/fixtures/valid");
    files.push(Path::new(env!("CARGO_MANIFEST_DIR")).join("config/balance-alert.toml"));
    for path in files {
        let text = std::fs::read_to_string(&path).expect("fixture readable");
        if let Err(e) = config::parse(&text, &path, &env) {
            panic!("{} should be valid, got: {e}", path.display());
        }
    }
}

#[test]
fn the_example_config_uses_every_channel_type_and_no_literal_secret() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("config/balance-alert.toml");
    let text = std::fs::read_to_string(&path).unwrap();
    let (config, literal_secrets) = config::parse_detailed(&text, &path, &fixture_env()).unwrap();
    let mut types: Vec<&str> = config.channels.iter().map(|c| c.kind.type_name()).collect();
    types.sort();
    // `console` is in the example too, commented out: it is for trials.
    assert_eq!(
        types,
        ["email", "exotel_sms", "slack", "twilio_sms", "webhook"]
    );
    assert!(text.contains("type = \"console\""));
    assert!(literal_secrets.is_empty(), "{literal_secrets:?}");
    assert!(config.warnings.is_empty(), "{:?}", config.warnings);
    let account = config.account("primary").unwrap();
    assert!(account.thresholds.warning.is_some() && account.thresholds.critical.is_some());
    assert!(account.repeat_every.is_some());
    assert!(config.daemon.listen.is_some() && config.daemon.timezone.is_some());
    // A second provider's wallet beside Exotel's; the other providers commented out.
    let providers: Vec<&str> = config.accounts.iter().map(|a| a.provider_name()).collect();
    assert_eq!(providers, ["exotel", "exotel", "twilio"]);
    for other in ["plivo", "vonage", "telnyx", "infobip"] {
        assert!(
            text.contains(&format!("# provider = \"{other}\"")),
            "{other}"
        );
    }
}

#[test]
fn invalid_fixtures_fail_as_announced() {
    let env = fixture_env();
    // Every fixture is checked before failing, so one run shows every mismatch.
    let mut failures = Vec::new();
    for path in toml_files("tests/fixtures/invalid") {
        let text = std::fs::read_to_string(&path).expect("fixture readable");
        let expect = text
            .lines()
            .next()
            .and_then(|line| line.strip_prefix("# expect: "))
            .unwrap_or_else(|| panic!("{} lacks a `# expect: ` first line", path.display()));
        let (line, needle) = match expect.strip_prefix("line ") {
            Some(rest) => {
                let (n, needle) = rest.split_once(": ").expect("`line N: ...`");
                (Some(n.parse::<usize>().expect("a line number")), needle)
            }
            None => (None, expect),
        };
        let error = match config::parse(&text, &path, &env) {
            Ok(_) => {
                failures.push(format!("{}: should be invalid", path.display()));
                continue;
            }
            Err(e) => e,
        };
        let shown = error.to_string();
        let name = path.display();
        if error.line != line {
            failures.push(format!("{name}: expected line {line:?}, got: {shown}"));
        }
        if !shown.contains(needle) {
            failures.push(format!("{name}: expected {needle:?} in: {shown}"));
        }
        if !shown.starts_with(&name.to_string()) {
            failures.push(format!("{name}: the error does not name the file: {shown}"));
        }
        if line.is_some() && error.column.is_none() {
            failures.push(format!("{name}: no column in: {shown}"));
        }
        // No secret from the environment ever reaches an error.
        if shown.contains("fixture-") {
            failures.push(format!("{name}: leaked a secret: {shown}"));
        }
    }
    assert!(failures.is_empty(), "\n{}", failures.join("\n"));
}
