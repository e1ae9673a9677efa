//! A throwaway PostgreSQL server (Debian's `postgresql` package, installed
//! by `scripts/test`) on a free loopback port, its data in a temporary
//! directory. PostgreSQL refuses to run as root, so as root the server
//! runs as the `postgres` user the package creates. Trust authentication
//! on loopback only: `postgres://postgres@127.0.0.1:<port>/postgres`.

use std::os::unix::fs::PermissionsExt as _;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

use tokio::net::TcpStream;
use tokio::process::{Child, Command};

use super::free_port;

/// A running PostgreSQL; dropping it stops the server.
pub struct Postgres {
    data: PathBuf,
    bin: PathBuf,
    /// `postgres://postgres@127.0.0.1:<port>/postgres`
    pub url: String,
    child: Option<Child>,
    _dir: tempfile::TempDir,
}

// As with Redis: the server runs under a shell that stops it when our end
// of its stdin closes (on drop, or when the test process dies).
const WATCHDOG: &str = r#"exec 3<&0
"$@" </dev/null &
pid=$!
( cat <&3 >/dev/null; kill -INT "$pid" 2>/dev/null ) &
wait "$pid"
"#;

fn bin_dir() -> PathBuf {
    let mut found: Vec<PathBuf> = std::fs::read_dir("/usr/lib/postgresql")
        .map(|d| {
            d.filter_map(Result::ok)
                .map(|e| e.path().join("bin"))
                .filter(|p| p.join("initdb").exists())
                .collect()
        })
        .unwrap_or_default();
    found.sort();
    found.pop().unwrap_or_else(|| {
        panic!(
            "PostgreSQL is not installed (no /usr/lib/postgresql/*/bin/initdb). \
             Run `scripts/test` (it installs it), or `apt-get install postgresql`."
        )
    })
}

fn is_root() -> bool {
    std::env::var("USER").is_ok_and(|u| u == "root")
        || std::fs::read_to_string("/proc/self/status").is_ok_and(|s| {
            s.lines()
                .find(|l| l.starts_with("Uid:"))
                .is_some_and(|l| l.split_whitespace().nth(1) == Some("0"))
        })
}

/// `program args…`, as the `postgres` user when we are root.
fn as_server_user(program: &Path) -> Command {
    if is_root() {
        // setpriv execs the program (runuser would fork and keep the
        // signal that stops the server from reaching it).
        let mut c = Command::new("setpriv");
        c.args([
            "--reuid=postgres",
            "--regid=postgres",
            "--init-groups",
            "--reset-env",
        ])
        .arg(program);
        c
    } else {
        Command::new(program)
    }
}

/// Starts a fresh server and waits until it accepts connections.
pub async fn start_postgres() -> Postgres {
    let bin = bin_dir();
    let dir = tempfile::tempdir().expect("tempdir");
    // The server user must own its data directory and reach it.
    std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o777))
        .expect("chmod the temporary directory");
    let data = dir.path().join("data");
    let out = as_server_user(&bin.join("initdb"))
        .arg("-D")
        .arg(&data)
        .args(["-A", "trust", "-U", "postgres", "--no-sync", "-E", "UTF8"])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .output()
        .await
        .expect("run initdb");
    assert!(
        out.status.success(),
        "initdb failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let mut last = String::new();
    for _ in 0..3 {
        let port = free_port();
        let server = as_server_user(&bin.join("postgres"));
        let std_cmd = server.as_std();
        let program = std_cmd.get_program().to_owned();
        let args: Vec<_> = std_cmd.get_args().map(ToOwned::to_owned).collect();
        let mut child = Command::new("sh")
            .arg("-c")
            .arg(WATCHDOG)
            .arg("postgres-watchdog")
            .arg(program)
            .args(args)
            .arg("-D")
            .arg(&data)
            .args(["-p", &port.to_string()])
            .args(["-c", "listen_addresses=127.0.0.1"])
            .arg("-c")
            .arg(format!("unix_socket_directories={}", dir.path().display()))
            .args(["-c", "fsync=off", "-c", "synchronous_commit=off"])
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .expect("start postgres");
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            if TcpStream::connect(("127.0.0.1", port)).await.is_ok() {
                // Accepting connections (it listens only once recovery is
                // done); a moment for the first one to be served.
                tokio::time::sleep(Duration::from_millis(200)).await;
                return Postgres {
                    data,
                    bin,
                    url: format!("postgres://postgres@127.0.0.1:{port}/postgres"),
                    child: Some(child),
                    _dir: dir,
                };
            }
            if let Ok(Some(status)) = child.try_wait() {
                last = format!("postgres on port {port} exited ({status})");
                break;
            }
            if Instant::now() > deadline {
                last = format!("postgres on port {port} did not listen within 20 s");
                break;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
    panic!("could not start PostgreSQL: {last}");
}

impl Postgres {
    /// Stops the server now (immediate shutdown: connections are cut, as
    /// when a database host goes away) and waits for it to exit.
    pub async fn stop(&mut self) {
        let _ = as_server_user(&self.bin.join("pg_ctl"))
            .arg("stop")
            .arg("-D")
            .arg(&self.data)
            .args(["-m", "immediate", "-w"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .await;
        if let Some(mut child) = self.child.take() {
            drop(child.stdin.take());
            let _ = tokio::time::timeout(Duration::from_secs(10), child.wait()).await;
        }
    }
}

impl Drop for Postgres {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            drop(child.stdin.take());
        }
    }
}
