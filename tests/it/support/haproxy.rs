//! A throwaway HAProxy (Debian's `haproxy`, installed by `scripts/test`) in
//! front of several zenbridge replicas: round-robin, health-checked on
//! `/readyz`, each answer naming the replica that served it
//! (`X-Served-By`), failed connections retried on another replica.

use std::process::Stdio;
use std::time::{Duration, Instant};

use tokio::net::TcpStream;
use tokio::process::{Child, Command};

pub struct Haproxy {
    /// `http://127.0.0.1:<port>`
    pub url: String,
    child: Child,
    _dir: tempfile::TempDir,
}

/// Starts HAProxy on `port` in front of `backends` (`127.0.0.1:port` each,
/// named `r1`, `r2`, …).
pub async fn start_haproxy(port: u16, backends: &[u16]) -> Haproxy {
    let dir = tempfile::tempdir().expect("tempdir");
    let servers: String = backends
        .iter()
        .enumerate()
        .map(|(i, p)| {
            format!(
                "    server r{} 127.0.0.1:{p} check inter 200ms fall 2 rise 2\n",
                i + 1
            )
        })
        .collect();
    let config = format!(
        "global
    maxconn 1024
defaults
    mode http
    timeout connect 1s
    timeout client 30s
    timeout server 30s
    option forwardfor
    # A replica that dies mid-request: try the request on another one.
    retries 3
    option redispatch 1
    retry-on conn-failure empty-response response-timeout
frontend gateway
    bind 127.0.0.1:{port}
    default_backend zenbridge
backend zenbridge
    balance roundrobin
    option httpchk GET /readyz
    http-check expect status 200
    http-response set-header X-Served-By %s
{servers}"
    );
    let path = dir.path().join("haproxy.cfg");
    std::fs::write(&path, config).expect("write haproxy.cfg");
    let check = std::process::Command::new("haproxy")
        .args(["-c", "-q", "-f"])
        .arg(&path)
        .output();
    match check {
        Err(e) => panic!(
            "haproxy is not installed ({e}): run `scripts/test` (it installs it), or `apt-get install haproxy`"
        ),
        Ok(o) => assert!(
            o.status.success(),
            "haproxy refused its config: {}",
            String::from_utf8_lossy(&o.stderr)
        ),
    }
    let mut child = Command::new("haproxy")
        .args(["-db", "-f"])
        .arg(&path)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .expect("start haproxy");
    let deadline = Instant::now() + Duration::from_secs(10);
    while TcpStream::connect(("127.0.0.1", port)).await.is_err() {
        if let Ok(Some(status)) = child.try_wait() {
            panic!("haproxy exited ({status})");
        }
        assert!(Instant::now() < deadline, "haproxy did not listen in 10 s");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    Haproxy {
        url: format!("http://127.0.0.1:{port}"),
        child,
        _dir: dir,
    }
}

impl Drop for Haproxy {
    fn drop(&mut self) {
        let _ = self.child.start_kill();
    }
}
