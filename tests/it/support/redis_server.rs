//! A throwaway `redis-server` on a free loopback port.

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
    _dir: tempfile::TempDir,
}

// redis-server runs under a small shell watchdog whose only job is to kill it
// when our end of the watchdog's stdin closes: on drop, and also when this
// test process dies without dropping (SIGKILL by a test runner timeout), so
// no orphan redis-server outlives a run. The shell exits when redis-server
// does, which lets `start_redis` notice a server that could not start (its
// port taken in the meantime) and retry on another port.
const WATCHDOG: &str = r#"exec 3<&0
redis-server "$@" </dev/null &
pid=$!
( cat <&3 >/dev/null; kill "$pid" 2>/dev/null ) &
wait "$pid"
"#;

const START_TIMEOUT: Duration = Duration::from_secs(10);

/// Starts `redis-server --port P --save '' --appendonly no --bind 127.0.0.1`
/// and waits until it answers `PING`. Panics if `redis-server` is missing
/// (run `scripts/test`, which installs it) or does not start.
pub async fn start_redis() -> Redis {
    let mut last_error = String::new();
    for _ in 0..3 {
        match try_start().await {
            Ok(redis) => return redis,
            Err(e) => last_error = e,
        }
    }
    panic!("could not start redis-server: {last_error}");
}

async fn try_start() -> Result<Redis, String> {
    let dir = tempfile::tempdir().map_err(|e| format!("tempdir: {e}"))?;
    let port = free_port();
    let mut child = Command::new("sh")
        .arg("-c")
        .arg(WATCHDOG)
        .arg("redis-watchdog")
        .args(["--port", &port.to_string()])
        .args(["--bind", "127.0.0.1"])
        .args(["--save", ""])
        .args(["--appendonly", "no"])
        .args(["--protected-mode", "no"])
        .args(["--loglevel", "warning"])
        .args(["--daemonize", "no"])
        .arg("--dir")
        .arg(dir.path())
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .map_err(|e| format!("cannot run sh: {e}"))?;

    let deadline = Instant::now() + START_TIMEOUT;
    loop {
        if ping(port).await {
            return Ok(Redis {
                port,
                url: format!("redis://127.0.0.1:{port}"),
                child: Some(child),
                _dir: dir,
            });
        }
        if let Ok(Some(status)) = child.try_wait() {
            let mut err = String::new();
            if let Some(mut stderr) = child.stderr.take() {
                let _ = stderr.read_to_string(&mut err).await;
            }
            assert!(
                !err.contains("not found"),
                "redis-server is not installed. Run `scripts/test` (it installs it), \
                 or `apt-get install redis-server`.\n{err}"
            );
            return Err(format!(
                "redis-server on port {port} exited ({status}): {err}"
            ));
        }
        if Instant::now() > deadline {
            return Err(format!(
                "redis-server on port {port} did not answer PING within {START_TIMEOUT:?}"
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
