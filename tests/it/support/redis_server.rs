//! Throwaway Redis processes on free loopback ports: a server
//! ([`start_redis`]), a replica of one ([`start_replica`]), a
//! `redis-sentinel` watching a master ([`start_sentinel`]), a server
//! that speaks only TLS ([`start_redis_tls`]) and one that keeps an
//! append-only file and can be restarted on it ([`start_redis_persistent`],
//! [`Redis::restart`]).

use std::fmt::Write as _;
use std::path::Path;
use std::process::Stdio;
use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::process::{Child, Command};

use super::free_port;

/// A running redis-server (no persistence). Dropping it stops the server.
pub struct Redis {
    pub port: u16,
    /// `redis://127.0.0.1:<port>`
    pub url: String,
    child: Option<Child>,
    /// What was run, to run it again ([`Redis::restart`]).
    program: String,
    probe: Probe,
    args: Vec<String>,
    _dir: tempfile::TempDir,
}

// redis-server runs under a small shell watchdog whose only job is to kill it
// when our end of the watchdog's stdin closes: on drop, and also when this
// test process dies without dropping (SIGKILL by a test runner timeout), so
// no orphan redis-server outlives a run. The shell exits when redis-server
// does, which lets `start_redis` notice a server that could not start (its
// port taken in the meantime) and retry on another port.
const WATCHDOG: &str = r#"exec 3<&0
prog="$1"; shift
"$prog" "$@" </dev/null &
pid=$!
( cat <&3 >/dev/null; kill "$pid" 2>/dev/null ) &
wait "$pid"
"#;

const START_TIMEOUT: Duration = Duration::from_secs(10);

/// Starts `redis-server --port P --save '' --appendonly no --bind 127.0.0.1`
/// and waits until it answers `PING`. Panics if `redis-server` is missing
/// (run `scripts/test`, which installs it) or does not start.
pub async fn start_redis() -> Redis {
    start("redis-server", Probe::Ping, |port, _| server_args(port)).await
}

/// [`start_redis`] keeping an append-only file fsynced at every write
/// (`--appendonly yes --appendfsync always`) in its own directory, so that
/// [`Redis::restart`] brings back every record.
pub async fn start_redis_persistent() -> Redis {
    start("redis-server", Probe::Ping, |port, _| {
        let mut a = server_args(port);
        let at = a
            .iter()
            .position(|x| x == "--appendonly")
            .unwrap_or(a.len());
        a.truncate(at);
        a.extend(["--appendonly", "yes", "--appendfsync", "always"].map(str::to_owned));
        a
    })
    .await
}

/// A replica of the server on `master_port` (`--replicaof`), once it has
/// synchronised with it.
pub async fn start_replica(master_port: u16) -> Redis {
    let replica = start("redis-server", Probe::Ping, |port, _| {
        let mut a = server_args(port);
        a.extend([
            "--replicaof".into(),
            "127.0.0.1".into(),
            master_port.to_string(),
        ]);
        a
    })
    .await;
    let deadline = Instant::now() + START_TIMEOUT;
    while !replica
        .command(&["INFO", "replication"])
        .await
        .contains("master_link_status:up")
    {
        assert!(
            Instant::now() < deadline,
            "the replica did not synchronise with 127.0.0.1:{master_port}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    replica
}

/// A `redis-sentinel` watching the master on `master_port` as `name`
/// (quorum 2), which it calls down after a second without an answer and
/// fails over within 5 s. Panics if `redis-sentinel` is missing (run
/// `scripts/test`, which installs it).
pub async fn start_sentinel(master_port: u16, name: &str) -> Redis {
    sentinel(master_port, name, None).await
}

/// [`start_sentinel`] that asks its own clients for `password`
/// (`requirepass`).
pub async fn start_sentinel_with_password(master_port: u16, name: &str, password: &str) -> Redis {
    sentinel(master_port, name, Some(password)).await
}

async fn sentinel(master_port: u16, name: &str, password: Option<&str>) -> Redis {
    // Without the password even PING is refused: wait for the port.
    let probe = if password.is_some() {
        Probe::Connect
    } else {
        Probe::Ping
    };
    start("redis-sentinel", probe, |port, dir| {
        // Sentinel rewrites its config file: one per sentinel.
        let conf = dir.join("sentinel.conf");
        let mut text = format!(
            "port {port}\nbind 127.0.0.1\nprotected-mode no\ndaemonize no\nloglevel warning\ndir {dir}\n\
             sentinel monitor {name} 127.0.0.1 {master_port} 2\n\
             sentinel down-after-milliseconds {name} 1000\n\
             sentinel failover-timeout {name} 5000\n\
             sentinel parallel-syncs {name} 1\n",
            dir = dir.display()
        );
        if let Some(p) = password {
            let _ = writeln!(text, "requirepass {p}");
        }
        std::fs::write(&conf, text).expect("write sentinel.conf");
        vec![conf.display().to_string()]
    })
    .await
}

/// A server that speaks only TLS (`--port 0 --tls-port P`), with this
/// certificate and key (PEM files); clients are not asked for one. Its
/// `url` is `rediss://127.0.0.1:P`.
pub async fn start_redis_tls(cert: &Path, key: &Path, ca: &Path) -> Redis {
    let mut r = start("redis-server", Probe::Connect, |port, dir| {
        let mut a = server_args(0);
        a.extend([
            "--tls-port".into(),
            port.to_string(),
            "--tls-cert-file".into(),
            cert.display().to_string(),
            "--tls-key-file".into(),
            key.display().to_string(),
            "--tls-ca-cert-file".into(),
            ca.display().to_string(),
            "--tls-auth-clients".into(),
            "no".into(),
            "--dir".into(),
            dir.display().to_string(),
        ]);
        a
    })
    .await;
    r.url = format!("rediss://127.0.0.1:{}", r.port);
    r
}

fn server_args(port: u16) -> Vec<String> {
    [
        "--port",
        &port.to_string(),
        "--bind",
        "127.0.0.1",
        "--save",
        "",
        "--appendonly",
        "no",
        "--protected-mode",
        "no",
        "--loglevel",
        "warning",
        "--daemonize",
        "no",
    ]
    .map(str::to_owned)
    .to_vec()
}

/// How to tell that a process serves.
#[derive(Clone, Copy)]
enum Probe {
    /// It answers `PING` in clear.
    Ping,
    /// It accepts a connection (a TLS port).
    Connect,
}

async fn start(program: &str, probe: Probe, args: impl Fn(u16, &Path) -> Vec<String>) -> Redis {
    let mut last_error = String::new();
    for _ in 0..3 {
        match try_start(program, probe, &args).await {
            Ok(redis) => return redis,
            Err(e) => last_error = e,
        }
    }
    panic!("could not start {program}: {last_error}");
}

async fn try_start(
    program: &str,
    probe: Probe,
    args: &impl Fn(u16, &Path) -> Vec<String>,
) -> Result<Redis, String> {
    let dir = tempfile::tempdir().map_err(|e| format!("tempdir: {e}"))?;
    let port = free_port();
    let mut args = args(port, dir.path());
    if program == "redis-server" && !args.iter().any(|a| a == "--dir") {
        args.extend(["--dir".into(), dir.path().display().to_string()]);
    }
    let child = spawn(program, probe, port, &args).await?;
    Ok(Redis {
        port,
        url: format!("redis://127.0.0.1:{port}"),
        child: Some(child),
        program: program.to_owned(),
        probe,
        args,
        _dir: dir,
    })
}

/// Runs `program` under the watchdog and waits until it serves on `port`.
async fn spawn(program: &str, probe: Probe, port: u16, args: &[String]) -> Result<Child, String> {
    let mut child = Command::new("sh")
        .arg("-c")
        .arg(WATCHDOG)
        .arg("redis-watchdog")
        .arg(program)
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .map_err(|e| format!("cannot run sh: {e}"))?;

    let deadline = Instant::now() + START_TIMEOUT;
    loop {
        let up = match probe {
            Probe::Ping => ping(port).await,
            Probe::Connect => TcpStream::connect(("127.0.0.1", port)).await.is_ok(),
        };
        if up {
            return Ok(child);
        }
        if let Ok(Some(status)) = child.try_wait() {
            let mut err = String::new();
            if let Some(mut stderr) = child.stderr.take() {
                let _ = stderr.read_to_string(&mut err).await;
            }
            assert!(
                !err.contains("not found"),
                "{program} is not installed. Run `scripts/test` (it installs it), \
                 or `apt-get install redis-server redis-sentinel`.\n{err}"
            );
            return Err(format!("{program} on port {port} exited ({status}): {err}"));
        }
        if Instant::now() > deadline {
            return Err(format!(
                "{program} on port {port} did not answer within {START_TIMEOUT:?}"
            ));
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Sends a RESP `PING`, true on `+PONG`.
async fn ping(port: u16) -> bool {
    let exchange = async {
        let mut stream = TcpStream::connect(("127.0.0.1", port)).await.ok()?;
        stream.write_all(b"*1\r\n$4\r\nPING\r\n").await.ok()?;
        let mut buf = [0u8; 64];
        let n = stream.read(&mut buf).await.ok()?;
        Some(buf[..n].starts_with(b"+PONG"))
    };
    tokio::time::timeout(Duration::from_secs(1), exchange)
        .await
        .ok()
        .flatten()
        .unwrap_or(false)
}

impl Redis {
    /// True while the server answers `PING`.
    pub async fn ping(&self) -> bool {
        ping(self.port).await
    }

    /// Sends one command in clear and returns the raw RESP answer (what
    /// one read brings, up to 16 KiB; enough for `INFO replication` or a
    /// sentinel's answers). Empty when the server does not answer.
    pub async fn command(&self, args: &[&str]) -> String {
        let mut req = format!("*{}\r\n", args.len());
        for a in args {
            let _ = write!(req, "${}\r\n{a}\r\n", a.len());
        }
        let exchange = async {
            let mut stream = TcpStream::connect(("127.0.0.1", self.port)).await.ok()?;
            stream.write_all(req.as_bytes()).await.ok()?;
            let mut buf = vec![0u8; 16 * 1024];
            let n = stream.read(&mut buf).await.ok()?;
            Some(String::from_utf8_lossy(&buf[..n]).into_owned())
        };
        tokio::time::timeout(Duration::from_secs(2), exchange)
            .await
            .ok()
            .flatten()
            .unwrap_or_default()
    }

    /// Kills the server with `SIGKILL`, as a lost node: no shutdown, no
    /// last word to its replicas.
    pub async fn kill(&mut self) {
        let info = self.command(&["INFO", "server"]).await;
        let pid = info
            .lines()
            .find_map(|l| l.strip_prefix("process_id:"))
            .map(|p| p.trim().to_owned())
            .expect("INFO server names the process id");
        let status = std::process::Command::new("kill")
            .args(["-KILL", &pid])
            .status()
            .expect("run kill");
        assert!(status.success(), "kill -KILL {pid}");
        self.stop().await;
    }

    /// Starts the stopped (or killed) server again, on the same port and
    /// in the same directory; with [`start_redis_persistent`] it reads its
    /// append-only file back.
    pub async fn restart(&mut self) {
        assert!(self.child.is_none(), "restart: the server still runs");
        let child = spawn(&self.program, self.probe, self.port, &self.args)
            .await
            .unwrap_or_else(|e| panic!("restart: {e}"));
        self.child = Some(child);
    }

    /// Stops the server now and waits until it no longer answers (to test
    /// how the gateway behaves without Redis).
    pub async fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            drop(child.stdin.take()); // the watchdog kills redis-server
            let _ = tokio::time::timeout(Duration::from_secs(5), child.wait()).await;
        }
    }
}

impl Drop for Redis {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            // Closing stdin makes the watchdog kill redis-server; kill_on_drop
            // then takes care of the shell itself.
            drop(child.stdin.take());
        }
    }
}
