//! Build script: records what `balance-alert --version` reports besides the version
//! (SPEC §14): the git commit the binary was built from, when known, and the target.
//!
//! The commit comes from `$BALANCE_ALERT_GIT_COMMIT` when set (a container build, where
//! `.git` is not in the context, passes it as a build argument), else from
//! `git rev-parse HEAD` when this crate is the top of a git work tree, else it is
//! unknown. Never an error: a tarball or `cargo install` without git must still build.

use std::path::{Path, PathBuf};
use std::process::Command;

fn main() {
    println!("cargo:rerun-if-env-changed=BALANCE_ALERT_GIT_COMMIT");
    let commit = match std::env::var("BALANCE_ALERT_GIT_COMMIT") {
        Ok(c) if !c.trim().is_empty() => Some(c.trim().to_string()),
        _ => git_commit(),
    };
    // Empty means unknown; main.rs leaves it out of the version line.
    println!(
        "cargo:rustc-env=BALANCE_ALERT_GIT_COMMIT={}",
        commit.unwrap_or_default()
    );
    let target = std::env::var("TARGET").unwrap_or_default();
    println!("cargo:rustc-env=BALANCE_ALERT_TARGET={target}");
}

/// The short commit of HEAD, if the manifest directory is itself a git work tree (not a
/// tarball unpacked inside some unrelated repository), and git is installed.
fn git_commit() -> Option<String> {
    let dir = PathBuf::from(std::env::var_os("CARGO_MANIFEST_DIR")?);
    let top = git(&dir, &["rev-parse", "--show-toplevel"])?;
    if std::fs::canonicalize(&top).ok()? != std::fs::canonicalize(&dir).ok()? {
        return None;
    }
    // Rebuild when HEAD moves: HEAD itself (a checkout), the branch it points at (a
    // commit), packed-refs, and HEAD's reflog, which every move appends to (it covers a
    // branch that was packed and becomes a loose file again), wherever git keeps them
    // (worktrees keep HEAD apart from the refs). Only files that exist: cargo reruns
    // the script on every build for a missing one.
    let branch = git(&dir, &["symbolic-ref", "-q", "HEAD"]);
    let watched = ["HEAD", "logs/HEAD", "packed-refs"];
    for name in watched.into_iter().chain(branch.as_deref()) {
        if let Some(path) = git(&dir, &["rev-parse", "--git-path", name]) {
            let path = dir.join(path);
            if path.exists() {
                println!("cargo:rerun-if-changed={}", path.display());
            }
        }
    }
    git(&dir, &["rev-parse", "--short=12", "HEAD"])
}

fn git(dir: &Path, args: &[&str]) -> Option<String> {
    let out = Command::new("git")
        .args(args)
        .current_dir(dir)
        .output()
        .ok()?;
    let text = String::from_utf8(out.stdout).ok()?;
    (out.status.success() && !text.trim().is_empty()).then(|| text.trim().to_string())
}
