//! Redis state, for several replicas: `SET NX PX` for one-time use, and an
//! `INCR` that sets the window's expiry on its first hit, in one script.

use std::time::Duration;

use redis::aio::ConnectionManager;

use super::StateError;

#[derive(Clone)]
pub struct RedisStore {
    conn: ConnectionManager,
    prefix: String,
    /// `host:port` (or the socket path) of the server, for messages.
    addr: String,
}

const HIT: &str = r"local n = redis.call('INCR', KEYS[1])
if n == 1 then redis.call('PEXPIRE', KEYS[1], ARGV[1]) end
return n";

/// The error with the server's address and the client's own words for
/// the cause (a refused connection, a timeout, a Redis error reply).
fn err_at(addr: &str, e: &redis::RedisError) -> StateError {
    StateError(format!("redis at {addr}: {e}"))
}

/// Where a Redis URL points, without its credentials.
fn address(url: &str) -> String {
    match url::Url::parse(url) {
        Ok(u) if u.scheme() == "unix" || u.scheme() == "redis+unix" => u.path().to_owned(),
        Ok(u) => format!(
            "{}:{}",
            u.host_str().unwrap_or("?"),
            u.port().unwrap_or(6379)
        ),
        Err(_) => "(an unreadable URL)".to_owned(),
    }
}

impl RedisStore {
    pub async fn connect(url: &str, prefix: &str) -> Result<Self, StateError> {
        let addr = address(url);
        let err = |e: &redis::RedisError| err_at(&addr, e);
        let client = redis::Client::open(url).map_err(|e| err(&e))?;
        let config = redis::aio::ConnectionManagerConfig::new()
            .set_connection_timeout(Some(Duration::from_secs(2)))
            .set_response_timeout(Some(Duration::from_secs(2)))
            .set_number_of_retries(2);
        let conn = ConnectionManager::new_with_config(client, config)
            .await
            .map_err(|e| err(&e))?;
        Ok(Self {
            conn,
            prefix: prefix.to_owned(),
            addr,
        })
    }

    pub async fn first_use(&self, key: &str, ttl: Duration) -> Result<bool, StateError> {
        let mut c = self.conn.clone();
        let ms = u64::try_from(ttl.as_millis()).unwrap_or(u64::MAX).max(1);
        let set: Option<String> = redis::cmd("SET")
            .arg(format!("{}{key}", self.prefix))
            .arg(1)
            .arg("NX")
            .arg("PX")
            .arg(ms)
            .query_async(&mut c)
            .await
            .map_err(|e| err_at(&self.addr, &e))?;
        Ok(set.is_some())
    }

    pub async fn hit(&self, key: &str, window: Duration) -> Result<u64, StateError> {
        let mut c = self.conn.clone();
        let ms = u64::try_from(window.as_millis()).unwrap_or(u64::MAX).max(1);
        redis::Script::new(HIT)
            .key(format!("{}{key}", self.prefix))
            .arg(ms)
            .invoke_async(&mut c)
            .await
            .map_err(|e| err_at(&self.addr, &e))
    }

    pub async fn peek(&self, key: &str) -> Result<u64, StateError> {
        let mut c = self.conn.clone();
        let n: Option<u64> = redis::cmd("GET")
            .arg(format!("{}{key}", self.prefix))
            .query_async(&mut c)
            .await
            .map_err(|e| err_at(&self.addr, &e))?;
        Ok(n.unwrap_or(0))
    }

    pub async fn ping(&self) -> Result<(), StateError> {
        let mut c = self.conn.clone();
        redis::cmd("PING")
            .query_async::<String>(&mut c)
            .await
            .map(|_| ())
            .map_err(|e| err_at(&self.addr, &e))
    }
}
