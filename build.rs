//! Build script: the version line `zenbridge --version` prints,
//! `0.1.0 (abc1234 2026-11-30)` — the package version, the short commit and
//! the commit's date (not the build's, so two builds of one commit agree).
//!
//! Read with `git` when the crate is its own git checkout (a worktree too);
//! `unknown` otherwise, e.g. built from a crate tarball or with no `git`.
//! The result is `ZENBRIDGE_VERSION` for `env!`. Cargo reruns this script
//! when HEAD moves (a checkout, a commit) and when the branch it names does.

use std::path::{Path, PathBuf};
use std::process::Command;

fn main() {
    println!("cargo:rerun-if-changed=build.rs");
    let manifest_dir = PathBuf::from(std::env::var_os("CARGO_MANIFEST_DIR").expect("set by cargo"));
    let version = std::env::var("CARGO_PKG_VERSION").expect("set by cargo");
    let commit = commit(&manifest_dir).unwrap_or_else(|| "unknown".to_owned());
    println!("cargo:rustc-env=ZENBRIDGE_VERSION={version} ({commit})");
}

/// `abc1234 2026-11-30`, and the rerun-if-changed lines for the files that
/// say which commit is checked out; `None` outside this crate's checkout.
fn commit(dir: &Path) -> Option<String> {
    // Only this crate's own repository: a tarball unpacked inside another
    // checkout must not borrow that checkout's commit.
    let top = git(dir, &["rev-parse", "--show-toplevel"])?;
    if std::fs::canonicalize(top).ok()? != std::fs::canonicalize(dir).ok()? {
        return None;
    }
    // HEAD names the branch (or a commit); the branch's commit is in its
    // ref file, or in packed-refs once git packs it. --git-path finds each
    // in a worktree too, where .git is a file pointing elsewhere. A path
    // that does not exist is not named: cargo would rerun every build.
    let mut watched = vec![git(dir, &["rev-parse", "--git-path", "HEAD"])?];
    if let Some(branch) = git(dir, &["symbolic-ref", "-q", "HEAD"]) {
        watched.push(git(dir, &["rev-parse", "--git-path", &branch])?);
    }
    watched.push(git(dir, &["rev-parse", "--git-path", "packed-refs"])?);
    for path in watched {
        let path = dir.join(path); // --git-path may answer relative to dir
        if path.exists() {
            println!("cargo:rerun-if-changed={}", path.display());
        }
    }
    let line = git(dir, &["log", "-1", "--format=%h %cs", "--abbrev=7"])?;
    Some(line)
}

/// The trimmed output of `git ARGS` run in `dir`, if it succeeded and said
/// something.
fn git(dir: &Path, args: &[&str]) -> Option<String> {
    let out = Command::new("git")
        .arg("-C")
        .arg(dir)
        .args(args)
        .output()
        .ok()?;
    let text = String::from_utf8(out.stdout).ok()?;
    let text = text.trim();
    (out.status.success() && !text.is_empty()).then(|| text.to_owned())
}
