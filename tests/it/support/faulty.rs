//! A key server the test breaks on purpose: it serves a JWKS over plain
//! HTTP/1.1 on a fixed loopback port, and on command refuses connections
//! (nothing listens), hangs (reads the request, never answers), answers
//! 500, or answers garbage — then serves again, on the same port.
//! Written on raw TCP so each fault is exactly what a provider's outage
//! looks like on the wire.

use std::sync::Arc;
use std::sync::atomic::{AtomicU8, AtomicUsize, Ordering};
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

/// What the key server does with the next connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub enum Fault {
    /// Serves the JWKS (`Cache-Control: max-age=3600`).
    None = 0,
    /// Nothing listens on the port: connections are refused.
    Refused = 1,
    /// Reads the request and never answers.
    Hang = 2,
    /// `500 Internal Server Error`.
    Error500 = 3,
    /// `200` with a body that is no JWKS (binary bytes, cut JSON).
    Garbage = 4,
}

impl Fault {
    pub const OUTAGES: [Fault; 4] = [Fault::Refused, Fault::Hang, Fault::Error500, Fault::Garbage];

    fn from_u8(v: u8) -> Self {
        match v {
            1 => Fault::Refused,
            2 => Fault::Hang,
            3 => Fault::Error500,
            4 => Fault::Garbage,
            _ => Fault::None,
        }
    }
}

#[derive(Clone)]
pub struct FaultyKeyServer {
    /// `http://127.0.0.1:PORT/jwks`.
    pub jwks_url: String,
    fault: Arc<AtomicU8>,
    requests: Arc<AtomicUsize>,
    jwks: Arc<std::sync::RwLock<String>>,
}

impl FaultyKeyServer {
    /// Serves `jwks` (a JWKS document) until the test ends.
    pub async fn start(jwks: String) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let addr = listener.local_addr().expect("addr");
        let server = FaultyKeyServer {
            jwks_url: format!("http://{addr}/jwks"),
            fault: Arc::default(),
            requests: Arc::default(),
            jwks: Arc::new(std::sync::RwLock::new(jwks)),
        };
        let s = server.clone();
        tokio::spawn(async move {
            let mut listener = Some(listener);
            loop {
                let fault = Fault::from_u8(s.fault.load(Ordering::SeqCst));
                match (fault, listener.take()) {
                    (Fault::Refused, l) => {
                        drop(l);
                        tokio::time::sleep(Duration::from_millis(10)).await;
                    }
                    (_, None) => {
                        // Listen again on the same port (SO_REUSEADDR is
                        // set by tokio on Unix).
                        match TcpListener::bind(addr).await {
                            Ok(l) => listener = Some(l),
                            Err(_) => tokio::time::sleep(Duration::from_millis(10)).await,
                        }
                    }
                    (_, Some(l)) => {
                        // Accept with a short timeout so a switch to
                        // `Refused` closes the port promptly.
                        if let Ok(Ok((conn, _))) =
                            tokio::time::timeout(Duration::from_millis(50), l.accept()).await
                        {
                            let s = s.clone();
                            tokio::spawn(async move { s.answer(conn).await });
                        }
                        listener = Some(l);
                    }
                }
            }
        });
        server
    }

    /// Switches to `fault`, once the port is in that state (a `Refused`
    /// port closes within the accept loop's 50 ms).
    pub async fn set(&self, fault: Fault) {
        self.fault.store(fault as u8, Ordering::SeqCst);
        tokio::time::sleep(Duration::from_millis(120)).await;
    }

    pub fn set_jwks(&self, jwks: String) {
        *self.jwks.write().expect("lock") = jwks;
    }

    /// Requests read so far (every fault but `Refused` reads one).
    pub fn requests(&self) -> usize {
        self.requests.load(Ordering::SeqCst)
    }

    async fn answer(&self, mut conn: tokio::net::TcpStream) {
        let mut buf = vec![0u8; 8192];
        let mut read = 0;
        // The request's head; a key fetch has no body.
        while !buf[..read].windows(4).any(|w| w == b"\r\n\r\n") && read < buf.len() {
            match tokio::time::timeout(Duration::from_secs(5), conn.read(&mut buf[read..])).await {
                Ok(Ok(n)) if n > 0 => read += n,
                _ => return,
            }
        }
        self.requests.fetch_add(1, Ordering::SeqCst);
        let response = match Fault::from_u8(self.fault.load(Ordering::SeqCst)) {
            Fault::Hang => {
                // Held open until the client gives up (or 60 s).
                let _ = tokio::time::timeout(Duration::from_secs(60), conn.read(&mut buf)).await;
                return;
            }
            // Accepted just before the port closed: closed unanswered.
            Fault::Refused => return,
            Fault::None => {
                let body = self.jwks.read().expect("lock").clone();
                format!(
                    "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nCache-Control: max-age=3600\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                    body.len()
                )
                .into_bytes()
            }
            Fault::Error500 => b"HTTP/1.1 500 Internal Server Error\r\nContent-Length: 4\r\nConnection: close\r\n\r\ndown".to_vec(),
            Fault::Garbage => {
                let body: &[u8] = b"\x00\xff{\"keys\": [{\"kty\": \"RS";
                let mut v = format!(
                    "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
                    body.len()
                )
                .into_bytes();
                v.extend_from_slice(body);
                v
            }
        };
        let _ = conn.write_all(&response).await;
        let _ = conn.shutdown().await;
    }
}
