//! Bad input named by `validate` through the real binary (SPEC §17): the config must be
//! a regular file of at most 16 MiB in UTF-8, and values that pass must make sense.

mod common;

use std::time::{Duration, Instant};

use common::cli::{code, run, stderr, write};

const ACCOUNT: &str = r#"
[[account]]
name = "primary"
sid = "acme"
api_key = "k"
api_token = "t"
base_url = "http://127.0.0.1:9"
notify = []
warning = { below = 5000 }
"#;

fn validate(path: &std::path::Path) -> (i32, String) {
    let out = run(&["validate", "-c", path.to_str().unwrap()], &[]);
    (code(&out), stderr(&out))
}

#[test]
fn a_fifo_is_refused_at_once_instead_of_hanging() {
    let dir = tempfile::tempdir().unwrap();
    let fifo = dir.path().join("config.toml");
    let made = std::process::Command::new("mkfifo")
        .arg(&fifo)
        .status()
        .unwrap();
    assert!(made.success());
    let started = Instant::now();
    let (code, err) = validate(&fifo);
    assert_eq!(code, 78, "{err}");
    assert!(err.contains("not a regular file"), "{err}");
    assert!(err.contains("config.toml"), "names the path: {err}");
    assert!(started.elapsed() < Duration::from_secs(5));
}

#[test]
fn a_device_or_a_directory_is_refused_without_reading_it() {
    let (code, err) = validate(std::path::Path::new("/dev/zero"));
    assert_eq!(code, 78, "{err}");
    assert!(
        err.contains("/dev/zero") && err.contains("not a regular file"),
        "{err}"
    );
    let dir = tempfile::tempdir().unwrap();
    let (code, err) = validate(dir.path());
    assert_eq!(code, 78, "{err}");
    assert!(err.contains("a directory"), "{err}");
}

#[test]
fn a_file_over_16_mib_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let mut text = String::from(ACCOUNT);
    let line = format!("# {}\n", "x".repeat(1000));
    while text.len() <= 16 * 1024 * 1024 {
        text.push_str(&line);
    }
    let path = write(dir.path(), "big.toml", &text);
    let (code, err) = validate(&path);
    assert_eq!(code, 78, "{err}");
    assert!(err.contains("larger than 16 MiB"), "{err}");
}

#[test]
fn a_non_utf8_config_names_the_line_and_column_of_the_bad_byte() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("latin1.toml");
    let mut bytes = ACCOUNT.as_bytes().to_vec();
    // Line 1 is empty, so `name = "primary"` is line 3; put é in Latin-1 into it.
    let text = String::from_utf8(bytes.clone()).unwrap();
    let at = text.find("primary").unwrap();
    bytes.splice(at..at, [b'c', b'a', b'f', 0xE9]);
    std::fs::write(&path, bytes).unwrap();
    let (code, err) = validate(&path);
    assert_eq!(code, 78, "{err}");
    assert!(err.contains("latin1.toml:3:12"), "{err}");
    assert!(err.contains("0xE9"), "{err}");
}

#[test]
fn sub_second_intervals_are_refused_even_on_loopback() {
    let dir = tempfile::tempdir().unwrap();
    for (key, value) in [
        ("poll_interval", "1ns"),
        ("timeout", "1ns"),
        ("poll_interval", "999ms"),
        ("timeout", "500ms"),
    ] {
        let text = ACCOUNT.replace("notify = []", &format!("notify = []\n{key} = \"{value}\""));
        let path = write(dir.path(), "fast.toml", &text);
        let (code, err) = validate(&path);
        assert_eq!(code, 78, "{key} = {value}: {err}");
        assert!(
            err.contains(&format!("account[0].{key}")) || err.contains(key),
            "{err}"
        );
        assert!(err.contains("under 1s"), "{err}");
    }
    // One second is fine on loopback.
    let text = ACCOUNT.replace(
        "notify = []",
        "notify = []\npoll_interval = \"1s\"\ntimeout = \"1s\"",
    );
    let path = write(dir.path(), "ok.toml", &text);
    let (code, err) = validate(&path);
    assert_eq!(code, 0, "{err}");
}

#[test]
fn a_state_file_that_names_a_directory_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    for value in ["/", "/var/lib/balance-alert/", ".", "/tmp/.."] {
        let text = format!("[daemon]\nstate_file = \"{value}\"\n{ACCOUNT}");
        let path = write(dir.path(), "state.toml", &text);
        let (code, err) = validate(&path);
        assert_eq!(code, 78, "{value:?}: {err}");
        assert!(
            err.contains("daemon.state_file") && err.contains("names a directory"),
            "{err}"
        );
    }
}
