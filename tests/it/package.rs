//! The Debian package (`cargo deb`; its files are in `packaging/debian/`):
//! - fast, from the source tree: the packaged config passes `check` once
//!   its secrets are set, and the secrets file template names exactly
//!   those secrets;
//! - slow, on this machine: the `.deb` is built from this checkout,
//!   installed with `dpkg -i`, checked from its installed paths (the
//!   system user and permissions, `systemd-analyze verify` and `security`
//!   on the unit, `--version` with this checkout's commit, `check` as the
//!   service's user with and without the secrets), then removed and purged.
//!
//! The slow test needs a release build (minutes on two cores, nothing when
//! `target/release` is up to date), so it is one test, in its own nextest
//! group with a longer timeout (`.config/nextest.toml`). It needs root
//! (`dpkg -i`), `cargo-deb` and `systemd-analyze`; `scripts/test` installs
//! the last two, and a missing one fails the test saying what to install.
//! `systemd-analyze` reads unit files offline: no running systemd needed.

use std::collections::BTreeSet;
use std::os::unix::fs::MetadataExt as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use crate::docs::env_names;

const CONFIG: &str = "/etc/zenbridge/zenbridge.toml";
const ENV_FILE: &str = "/etc/zenbridge/env";
const BIN: &str = "/usr/bin/zenbridge";
/// The value every secret gets: long enough for the cookie key (32 bytes).
const SECRET: &str = "package-test-secret-0123456789abcdef0123";

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn packaging(file: &str) -> PathBuf {
    root().join("packaging/debian").join(file)
}

fn read(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// Runs `cmd`, panicking with `what_to_install` when its program is missing.
fn run(cmd: &mut Command, what_to_install: &str) -> Output {
    cmd.output().unwrap_or_else(|e| {
        panic!(
            "cannot run {}: {e}\n{what_to_install}",
            cmd.get_program().display()
        )
    })
}

/// Runs `cmd` and returns its stdout; panics with its output unless it
/// succeeded.
fn succeed(cmd: &mut Command) -> String {
    let out = run(cmd, "");
    let text = |b: &[u8]| String::from_utf8_lossy(b).into_owned();
    assert!(
        out.status.success(),
        "{cmd:?} failed ({}):\n{}{}",
        out.status,
        text(&out.stdout),
        text(&out.stderr)
    );
    text(&out.stdout)
}

fn output_text(out: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

/// The variables named in the secrets file template, one `#NAME=` a line.
fn env_file_names(text: &str) -> BTreeSet<String> {
    text.lines()
        .filter_map(|l| l.strip_prefix('#')?.strip_suffix('='))
        .map(str::to_owned)
        .collect()
}

// ------------------------------------------------------------------ fast --

#[test]
fn packaged_config_passes_check_once_its_secrets_are_set() {
    let file = packaging("zenbridge.toml");
    let names = env_names(&read(&file));
    assert!(!names.is_empty(), "the packaged config names no secret");
    let out = succeed(
        Command::new(env!("CARGO_BIN_EXE_zenbridge"))
            .args(["check", "--config"])
            .arg(&file)
            .env_clear()
            .envs(names.iter().map(|n| (n, SECRET))),
    );
    assert!(out.contains(": ok ("), "{out}");
    assert!(
        !out.contains("warning:"),
        "the packaged config earns warnings:\n{out}"
    );
}

#[test]
fn secrets_file_template_names_exactly_the_packaged_configs_secrets() {
    assert_eq!(
        env_file_names(&read(&packaging("env"))),
        env_names(&read(&packaging("zenbridge.toml"))),
        "packaging/debian/env lists `#NAME=` for each {{ env = \"NAME\" }} of packaging/debian/zenbridge.toml"
    );
}

// ------------------------------------------------------------------ slow --

/// Is the package known to dpkg (installed, or removed with its config)?
fn dpkg_knows_package() -> Option<String> {
    let out = run(
        Command::new("dpkg-query").args(["-W", "-f=${Status}", "zenbridge"]),
        "dpkg-query is part of dpkg: this test needs a Debian system",
    );
    let status = String::from_utf8_lossy(&out.stdout).into_owned();
    (out.status.success() && !status.ends_with("not-installed")).then_some(status)
}

/// Purges the package when dropped, so a failed test leaves no install
/// behind (a passing one has purged it already).
struct Installed;

impl Drop for Installed {
    fn drop(&mut self) {
        if dpkg_knows_package().is_some() {
            let _ = Command::new("dpkg").args(["--purge", "zenbridge"]).output();
        }
    }
}

fn require_prerequisites() {
    let uid = succeed(Command::new("id").arg("-u"));
    assert_eq!(
        uid.trim(),
        "0",
        "the package test installs a .deb with dpkg -i: run the tests as root"
    );
    let out = run(&mut cargo(&["deb", "--version"]), "cargo is needed");
    assert!(
        out.status.success(),
        "cargo-deb is not installed: `cargo install cargo-deb --locked` (scripts/test does)\n{}",
        output_text(&out)
    );
    run(
        Command::new("systemd-analyze").arg("--version"),
        "systemd-analyze is not installed: `apt-get install systemd` (scripts/test does)",
    );
    run(
        Command::new("setpriv").arg("--version"),
        "setpriv is not installed: `apt-get install util-linux`",
    );
}

/// `cargo` in the crate root, without what cargo and nextest set for this
/// test process (`CARGO_PKG_*`, `CARGO_MANIFEST_DIR`, `OUT_DIR`, …): build
/// scripts such as ring's rerun when those change, so with them the
/// release build that `scripts/test` made before the tests would be
/// rebuilt here, minutes of the two cores.
fn cargo(args: &[&str]) -> Command {
    let program = std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_owned());
    let mut cmd = Command::new(program);
    cmd.current_dir(root()).args(args);
    for (name, _) in std::env::vars_os() {
        let name = name.to_string_lossy();
        let keep = matches!(&*name, "CARGO_HOME" | "CARGO_TARGET_DIR");
        if (name.starts_with("CARGO_") && !keep) || name == "OUT_DIR" {
            cmd.env_remove(&*name);
        }
    }
    cmd
}

/// Builds the release binary (nothing to do when it is up to date) and
/// packages it; returns the `.deb`'s path.
fn build_deb() -> PathBuf {
    succeed(&mut cargo(&[
        "build",
        "--release",
        "--locked",
        "--bin",
        "zenbridge",
    ]));
    let out = succeed(&mut cargo(&["deb", "--no-build"]));
    // cargo-deb prints the path of the package it wrote, last.
    let deb = PathBuf::from(out.lines().last().unwrap_or_default().trim());
    assert!(
        deb.extension().is_some_and(|x| x == "deb") && deb.is_file(),
        "cargo deb printed no .deb path:\n{out}"
    );
    deb
}

/// A user's `getent passwd` fields: name, password, uid, gid, gecos,
/// home, shell.
fn passwd(user: &str) -> Vec<String> {
    succeed(Command::new("getent").args(["passwd", user]))
        .trim()
        .split(':')
        .map(str::to_owned)
        .collect()
}

fn assert_owner_mode(path: &str, uid: u32, gid: u32, mode: u32) {
    let m = std::fs::metadata(path).unwrap_or_else(|e| panic!("{path}: {e}"));
    assert_eq!(
        (m.uid(), m.gid(), m.mode() & 0o7777),
        (uid, gid, mode),
        "{path}: (uid, gid, mode) is ({}, {}, {:o}); expected ({uid}, {gid}, {mode:o})",
        m.uid(),
        m.gid(),
        m.mode() & 0o7777
    );
}

/// `zenbridge check` of the installed config, run from the installed binary
/// as `user` with its own groups (setpriv: no login shell needed), with
/// exactly `env`.
fn check_as(user: &str, env: &[(&str, &str)]) -> Output {
    let fields = passwd(user);
    run(
        Command::new("setpriv")
            .args([
                &format!("--reuid={}", fields[2]),
                &format!("--regid={}", fields[3]),
                "--init-groups",
                BIN,
                "check",
                "--config",
                CONFIG,
            ])
            .env_clear()
            .env("PATH", "/usr/bin:/bin")
            .envs(env.iter().copied()),
        "",
    )
}

#[test]
fn deb_builds_installs_checks_out_and_purges_cleanly() {
    require_prerequisites();
    // Two checkouts' test runs on one machine take turns: dpkg has one
    // database.
    let lock = std::fs::File::create(std::env::temp_dir().join("zenbridge-package-test.lock"))
        .expect("create the lock file");
    lock.lock().expect("lock the package test's lock file");
    if let Some(status) = dpkg_knows_package() {
        eprintln!("zenbridge is already known to dpkg ({status}): purging it first");
        succeed(Command::new("dpkg").args(["--purge", "zenbridge"]));
    }

    let deb = build_deb();
    let guard = Installed;
    succeed(Command::new("dpkg").arg("-i").arg(&deb));

    // The system user, and who may read what in /etc/zenbridge.
    let user = passwd("zenbridge");
    let (uid, gid): (u32, u32) = (user[2].parse().unwrap(), user[3].parse().unwrap());
    assert!(uid < 1000, "zenbridge is a system user: uid {uid}");
    assert_eq!(user[6], "/usr/sbin/nologin", "zenbridge's shell");
    assert_owner_mode("/etc/zenbridge", 0, gid, 0o750);
    assert_owner_mode(CONFIG, 0, gid, 0o640);
    assert_owner_mode(ENV_FILE, 0, 0, 0o600);
    let conffiles =
        succeed(Command::new("dpkg-query").args(["-W", "-f=${Conffiles}", "zenbridge"]));
    for file in [CONFIG, ENV_FILE] {
        assert!(
            conffiles
                .lines()
                .any(|l| l.trim().starts_with(&format!("{file} "))),
            "{file} is not a conffile:\n{conffiles}"
        );
    }

    // The unit: valid for systemd (which reads it offline here), and
    // hardened. verify fails on a unit whose command does not exist, which
    // shows it checks the unit and not only its syntax.
    let files = succeed(Command::new("dpkg").args(["-L", "zenbridge"]));
    let unit = files
        .lines()
        .find(|l| l.ends_with("/systemd/system/zenbridge.service"))
        .unwrap_or_else(|| panic!("the package has no zenbridge.service:\n{files}"))
        .to_owned();
    let verify = run(Command::new("systemd-analyze").args(["verify", &unit]), "");
    assert!(
        verify.status.success() && verify.stderr.is_empty(),
        "systemd-analyze verify {unit}:\n{}",
        output_text(&verify)
    );
    let broken_dir = tempfile::tempdir().unwrap();
    let broken = broken_dir.path().join("zenbridge.service");
    std::fs::write(
        &broken,
        read(Path::new(&unit)).replace(
            "ExecStart=/usr/bin/zenbridge ",
            "ExecStart=/usr/bin/zenbridge-gone ",
        ),
    )
    .unwrap();
    let verify_broken = run(
        Command::new("systemd-analyze").arg("verify").arg(&broken),
        "",
    );
    assert!(
        !verify_broken.status.success() && output_text(&verify_broken).contains("zenbridge-gone"),
        "systemd-analyze verify passed a unit whose command does not exist:\n{}",
        output_text(&verify_broken)
    );
    // Exposure 0-100 (shown as 0.0-10.0): 20 is the top of systemd's "OK".
    let security = run(
        Command::new("systemd-analyze").args([
            "security",
            "--offline=true",
            "--threshold=20",
            &unit,
        ]),
        "",
    );
    assert!(
        security.status.success(),
        "the unit's exposure is over 2.0:\n{}",
        output_text(&security)
    );

    // --version names this checkout's commit and its date.
    let version = succeed(Command::new(BIN).arg("--version"));
    let head = succeed(
        Command::new("git")
            .current_dir(root())
            .args(["rev-parse", "HEAD"]),
    );
    let date = succeed(Command::new("git").current_dir(root()).args([
        "show",
        "-s",
        "--format=%cs",
        "HEAD",
    ]));
    let prefix = format!("zenbridge {} (", env!("CARGO_PKG_VERSION"));
    let inside = version
        .trim()
        .strip_prefix(&prefix)
        .and_then(|rest| rest.strip_suffix(')'))
        .unwrap_or_else(|| panic!("--version says {version:?}; expected {prefix}COMMIT DATE)"));
    let (commit, shown_date) = inside.split_once(' ').unwrap_or((inside, ""));
    assert!(
        commit.len() >= 7 && head.trim().starts_with(commit) && shown_date == date.trim(),
        "--version says {version:?}; HEAD is {} of {}",
        head.trim(),
        date.trim()
    );

    // check: as the service's user with the secrets set it passes; without
    // them it names each missing one; another user cannot read the config.
    let names = env_names(&read(Path::new(CONFIG)));
    assert_eq!(env_file_names(&read(Path::new(ENV_FILE))), names);
    let env: Vec<(&str, &str)> = names.iter().map(|n| (n.as_str(), SECRET)).collect();
    let ok = check_as("zenbridge", &env);
    assert!(
        ok.status.success() && output_text(&ok).contains(&format!("{CONFIG}: ok (")),
        "check as zenbridge with the secrets set:\n{}",
        output_text(&ok)
    );
    let missing = check_as("zenbridge", &[]);
    let said = output_text(&missing);
    assert_eq!(
        missing.status.code(),
        Some(1),
        "check without secrets:\n{said}"
    );
    for name in &names {
        assert!(
            said.contains(&format!("environment variable {name} is not set")),
            "check without secrets does not name {name}:\n{said}"
        );
    }
    let other = check_as("nobody", &env);
    assert!(
        !other.status.success() && output_text(&other).contains("ermission denied"),
        "a user outside the zenbridge group read the config:\n{}",
        output_text(&other)
    );

    // Remove: the program goes, the config stays; purge: the config goes
    // too, with what dpkg and editors leave beside it.
    succeed(Command::new("dpkg").args(["-r", "zenbridge"]));
    assert!(!Path::new(BIN).exists(), "{BIN} is left after dpkg -r");
    assert!(!Path::new(&unit).exists(), "{unit} is left after dpkg -r");
    assert!(Path::new(CONFIG).exists(), "dpkg -r removed the config");
    std::fs::write(format!("{CONFIG}.dpkg-old"), "left by an upgrade").unwrap();
    succeed(Command::new("dpkg").args(["--purge", "zenbridge"]));
    assert!(
        !Path::new("/etc/zenbridge").exists(),
        "/etc/zenbridge is left after dpkg --purge: {:?}",
        std::fs::read_dir("/etc/zenbridge")
            .map(|d| d.map(|e| e.map(|e| e.file_name())).collect::<Vec<_>>())
    );
    assert_eq!(
        dpkg_knows_package(),
        None,
        "dpkg still knows zenbridge after --purge"
    );
    drop(guard);
}
