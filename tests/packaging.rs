//! What the packages ship, made by the real binary (SPEC §14): `--version`, the shell
//! completions and the man page. `.ci/ops.sh` installs them from the .deb; these tests
//! check that the binary makes them, and makes them whole, on every `cargo test`.

mod common;

use std::path::Path;
use std::process::Command;

use common::cli::{code, run, stderr, stdout};

/// The subcommands, as `--help` lists them: a command added later is checked too.
fn subcommands() -> Vec<String> {
    let out = run(&["--help"], &[]);
    assert_eq!(code(&out), 0);
    let help = stdout(&out);
    let list = help
        .split("Commands:")
        .nth(1)
        .expect("--help has a Commands: section");
    let names: Vec<String> = list
        .lines()
        .skip(1)
        .take_while(|l| l.starts_with("  "))
        .filter_map(|l| l.split_whitespace().next())
        .filter(|name| *name != "help")
        .map(str::to_string)
        .collect();
    for expected in ["run", "check", "validate", "completions", "man"] {
        assert!(
            names.iter().any(|n| n == expected),
            "{expected} in {names:?}"
        );
    }
    names
}

/// `git rev-parse --short=12 HEAD` when this crate is a git work tree of its own.
fn git_head() -> Option<String> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"));
    let git = |args: &[&str]| {
        let out = Command::new("git")
            .args(args)
            .current_dir(dir)
            .output()
            .ok()?;
        let text = String::from_utf8(out.stdout).ok()?.trim().to_string();
        (out.status.success() && !text.is_empty()).then_some(text)
    };
    let top = git(&["rev-parse", "--show-toplevel"])?;
    if std::fs::canonicalize(top).ok()? != std::fs::canonicalize(dir).ok()? {
        return None;
    }
    git(&["rev-parse", "--short=12", "HEAD"])
}

#[test]
fn version_names_the_version_the_commit_and_the_target() {
    let out = run(&["--version"], &[]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let line = stdout(&out);
    let line = line.trim_end();
    let prefix = format!("balance-alert {} (", env!("CARGO_PKG_VERSION"));
    let inner = line
        .strip_prefix(&prefix)
        .and_then(|rest| rest.strip_suffix(')'))
        .unwrap_or_else(|| panic!("{line:?} is not `{prefix}...)`"));
    let (commit, target) = match inner.split_once(", ") {
        Some((commit, target)) => (
            Some(
                commit
                    .strip_prefix("commit ")
                    .unwrap_or_else(|| panic!("{line:?}: no `commit ` before the hash")),
            ),
            target,
        ),
        None => (None, inner),
    };
    // The target triple of the binary: this machine's architecture and OS.
    assert!(
        target.starts_with(std::env::consts::ARCH) && target.contains(std::env::consts::OS),
        "{line:?}: {target:?} is not a {}-{} target triple",
        std::env::consts::ARCH,
        std::env::consts::OS
    );
    // The commit is the one checked out (build.rs reruns when HEAD moves), unless the
    // build was told another one.
    match std::env::var("BALANCE_ALERT_GIT_COMMIT") {
        Ok(given) if !given.trim().is_empty() => assert_eq!(commit, Some(given.trim())),
        _ => assert_eq!(commit.map(str::to_string), git_head(), "{line:?}"),
    }
    if let Some(commit) = commit {
        assert!(
            commit.len() >= 7 && commit.chars().all(|c| c.is_ascii_hexdigit()),
            "{line:?}: {commit:?} is not a commit hash"
        );
    }
    // -V says the same.
    assert_eq!(stdout(&run(&["-V"], &[])).trim_end(), line);
}

#[test]
fn completions_for_bash_zsh_and_fish_know_every_command_and_flag() {
    let commands = subcommands();
    for (shell, marker) in [
        ("bash", "complete -F _balance__alert"),
        ("zsh", "#compdef balance-alert"),
        ("fish", "complete -c balance-alert"),
    ] {
        let out = run(&["completions", shell], &[]);
        assert_eq!(code(&out), 0, "{shell}: {}", stderr(&out));
        let script = stdout(&out);
        assert!(script.contains(marker), "{shell} script lacks {marker:?}");
        for command in &commands {
            assert!(script.contains(command.as_str()), "{shell}: no {command}");
        }
        for flag in ["config", "account", "channel"] {
            assert!(script.contains(flag), "{shell}: no --{flag}");
        }
        // The shell itself must accept it, where that shell is installed.
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join(format!("balance-alert.{shell}"));
        std::fs::write(&file, &script).unwrap();
        let check = match shell {
            "fish" => Command::new("fish").arg("--no-execute").arg(&file).output(),
            _ => Command::new(shell).arg("-n").arg(&file).output(),
        };
        match check {
            Ok(out) => assert!(
                out.status.success(),
                "{shell} rejects its completion script: {}",
                String::from_utf8_lossy(&out.stderr)
            ),
            // bash is everywhere the tests run; zsh and fish are checked where present.
            Err(e) => assert!(shell != "bash", "cannot run bash: {e}"),
        }
    }
    let out = run(&["completions", "tcsh"], &[]);
    assert_eq!(code(&out), 2, "an unknown shell is a usage error");
    assert!(stderr(&out).contains("bash"), "{}", stderr(&out));
}

/// What bash offers for `words` (the last one being completed), through the installed
/// script's completion function, as bash itself would call it on TAB.
fn bash_completes(script: &Path, words: &[&str]) -> Vec<String> {
    let quoted: Vec<String> = words.iter().map(|w| format!("'{w}'")).collect();
    let program = format!(
        r#"source '{script}'
COMP_WORDS=({words})
COMP_CWORD=$(( ${{#COMP_WORDS[@]}} - 1 ))
COMP_LINE="${{COMP_WORDS[*]}}"
COMP_POINT=${{#COMP_LINE}}
_balance__alert balance-alert "${{COMP_WORDS[COMP_CWORD]}}" "${{COMP_WORDS[COMP_CWORD-1]}}"
printf '%s\n' "${{COMPREPLY[@]}}""#,
        script = script.display(),
        words = quoted.join(" ")
    );
    let out = Command::new("bash")
        .arg("-c")
        .arg(program)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter(|l| !l.is_empty())
        .map(str::to_string)
        .collect()
}

#[test]
fn bash_completes_commands_their_flags_and_values() {
    let out = run(&["completions", "bash"], &[]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let dir = tempfile::tempdir().unwrap();
    let script = dir.path().join("balance-alert");
    std::fs::write(&script, stdout(&out)).unwrap();
    assert_eq!(
        bash_completes(&script, &["balance-alert", "va"]),
        ["validate"]
    );
    // Past a subcommand (what clap-rs/clap#6421 breaks for hyphenated binary names).
    assert_eq!(
        bash_completes(&script, &["balance-alert", "check", "--acc"]),
        ["--account"]
    );
    assert_eq!(
        bash_completes(&script, &["balance-alert", "test-notify", "--ch"]),
        ["--channel"]
    );
    assert_eq!(
        bash_completes(&script, &["balance-alert", "completions", "z"]),
        ["zsh"]
    );
}

#[test]
fn fish_completes_commands_and_their_flags_where_fish_is_installed() {
    let out = run(&["completions", "fish"], &[]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let dir = tempfile::tempdir().unwrap();
    let script = dir.path().join("balance-alert.fish");
    std::fs::write(&script, stdout(&out)).unwrap();
    let complete = |line: &str| {
        let program = format!("source '{}'; complete -C '{line}'", script.display());
        let out = Command::new("fish").arg("-c").arg(program).output().ok()?;
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        Some(String::from_utf8_lossy(&out.stdout).into_owned())
    };
    let Some(commands) = complete("balance-alert va") else {
        return; // no fish on this machine; the content test above still checks the script
    };
    assert!(commands.starts_with("validate\t"), "{commands}");
    let flags = complete("balance-alert check --acc").unwrap();
    assert!(flags.starts_with("--account\t"), "{flags}");
}

#[test]
fn the_man_page_is_roff_with_every_command_and_the_files() {
    let out = run(&["man"], &[]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let page = stdout(&out);
    let title = page
        .lines()
        .find(|l| l.starts_with(".TH "))
        .expect("a .TH title line");
    assert!(
        title.starts_with(".TH balance-alert 1 "),
        "section 1 page for balance-alert: {title}"
    );
    assert!(
        title.contains(&format!("balance-alert {}", env!("CARGO_PKG_VERSION"))),
        "{title}"
    );
    for section in [
        ".SH NAME",
        ".SH SYNOPSIS",
        ".SH COMMANDS",
        ".SH \"EXIT STATUS\"",
        ".SH FILES",
        ".SH ENVIRONMENT",
    ] {
        assert!(page.contains(section), "no {section}");
    }
    // roff escapes hyphens: `balance\-alert test\-notify`.
    for command in subcommands() {
        let roff = format!("balance\\-alert {}", command.replace('-', "\\-"));
        assert!(page.contains(&roff), "no {roff} in the COMMANDS section");
    }
    assert!(page.contains("/etc/balance\\-alert/config.toml"));
    // man itself renders it, where man is installed.
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("balance-alert.1");
    std::fs::write(&file, &page).unwrap();
    if let Ok(out) = Command::new("man")
        .arg("-l")
        .arg(&file)
        .env("MANPAGER", "cat")
        .env("MANWIDTH", "80")
        .output()
    {
        let text = String::from_utf8_lossy(&out.stdout);
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(text.contains("balance-alert validate"), "{text}");
    }
}

#[test]
fn the_container_image_labels_carry_the_crate_version() {
    let dockerfile =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("Dockerfile")).unwrap();
    let label = format!(
        "org.opencontainers.image.version=\"{}\"",
        env!("CARGO_PKG_VERSION")
    );
    assert!(
        dockerfile.contains(&label),
        "the Dockerfile must say {label} (bump it with Cargo.toml's version)"
    );
}
