//! Redis state, for several replicas: `SET NX PX` for one-time use, and an
//! `INCR` that sets the window's expiry on its first hit and reads what is
//! left of it, in one script.
//!
//! Where Redis is ([`Location`]):
//! - one server, `redis://`, `rediss://` (TLS, [`Tls`]) or a Unix socket:
//!   the client's `ConnectionManager` reconnects to it by itself;
//! - `redis+sentinel://[[user]:password@]host:port[,host:port…]/master[/db]`:
//!   the master is asked of the sentinels, and asked again after any
//!   connection error (or a `READONLY` answer from a demoted master), so a
//!   promoted replica is found without a restart.
//!
//! An operation that fails while the master changes is an error to its
//! caller: one-time checks fail closed, the rate limit fails open (the
//! callers decide; see `docs/operations.md`, "Redis failover").
//!
//! Why this file is over 600 lines: the one-time check only holds if
//! Redis still has its records, so the script that checks them, the
//! `records_since` mark that tells a Redis which lost them (restart without
//! AOF, FLUSHALL, eviction) from one that did not, the start-up warnings
//! about persistence and eviction, and the sentinel discovery of the
//! master (a promoted replica that never received the mark is a Redis that
//! lost its records) are kept together here, beside the connection they run
//! on.

use std::sync::{Arc, LazyLock};
use std::time::Duration;

use redis::aio::{ConnectionLike, ConnectionManager, MultiplexedConnection};
use redis::sentinel::{SentinelClient, SentinelNodeConnectionInfo, SentinelServerType};
use redis::{Cmd, Pipeline, RedisError, RedisFuture, Value};

use super::{FirstUse, Hit, StateError};

/// How long connecting, or one answer, may take.
const TIMEOUT: Duration = Duration::from_secs(2);

/// The default port of a sentinel.
const SENTINEL_PORT: u16 = 26379;

/// Counts a hit; starts the window on the first; answers `{count, ms
/// left}`. A counter found without an expiry (which a failover could in
/// principle leave) gets one, so no address is held back forever.
const HIT_LUA: &str = r"local n = redis.call('INCR', KEYS[1])
if n == 1 then redis.call('PEXPIRE', KEYS[1], ARGV[1]) end
local t = redis.call('PTTL', KEYS[1])
if t < 0 then
  redis.call('PEXPIRE', KEYS[1], ARGV[1])
  t = tonumber(ARGV[1])
end
return {n, t}";

/// The key (after the prefix) holding when the records begin, in Unix
/// seconds: written at connect unless there, never expiring. Its absence
/// later means Redis lost its records.
const RECORDS_SINCE: &str = "records_since";

/// Records a one-time use: `KEYS[1]` the record, `KEYS[2]` the
/// records-since mark; `ARGV` the TTL in ms, when the item was issued and
/// now (Unix seconds). Answers `{found, lost}`: found 1 (first use), 0
/// (used before) or -1 (issued before the records begin); lost 1 when the
/// mark was missing, so the records begin again now.
const FIRST_USE_LUA: &str = r"local since = redis.call('GET', KEYS[2])
local lost = 0
if not since then
  redis.call('SET', KEYS[2], ARGV[3])
  since = ARGV[3]
  lost = 1
end
if tonumber(ARGV[2]) < tonumber(since) then return {-1, lost} end
if redis.call('SET', KEYS[1], '1', 'NX', 'PX', ARGV[1]) then return {1, lost} end
return {0, lost}";

/// The scripts, hashed once (`EVALSHA` needs the SHA-1 of the text; a
/// `Script` computes it when built, so they are not built per call).
static HIT: LazyLock<redis::Script> = LazyLock::new(|| redis::Script::new(HIT_LUA));
static FIRST_USE: LazyLock<redis::Script> = LazyLock::new(|| redis::Script::new(FIRST_USE_LUA));

/// TLS to Redis (`rediss://`): the CA that signed the server's certificate
/// (PEM; without it, the system's roots) and an optional client
/// certificate and key (PEM) for servers that ask for one.
#[derive(Default)]
pub struct Tls {
    pub ca_pem: Option<Vec<u8>>,
    pub client_cert_pem: Option<Vec<u8>>,
    pub client_key_pem: Option<Vec<u8>>,
}

impl std::fmt::Debug for Tls {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Tls")
            .field("ca_pem", &self.ca_pem.as_ref().map(|_| "[set]"))
            .field(
                "client_cert_pem",
                &self.client_cert_pem.as_ref().map(|_| "[set]"),
            )
            .field(
                "client_key_pem",
                &self.client_key_pem.as_ref().map(|_| "[redacted]"),
            )
            .finish()
    }
}

/// Where Redis is, read from `state.redis_url`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Location {
    /// One server: a URL the `redis` crate reads itself.
    Server { tls: bool },
    /// The master `master` as the sentinels at `sentinels` know it.
    Sentinel {
        sentinels: Vec<(String, u16)>,
        master: String,
        db: i64,
        username: Option<String>,
        password: Option<String>,
    },
}

pub const SENTINEL_SCHEME: &str = "redis+sentinel";

/// Reads a `state.redis_url`. The message of an error never holds the
/// URL (it may carry a password).
pub fn locate(url: &str) -> Result<Location, String> {
    if let Some(rest) = url.strip_prefix("redis+sentinel://") {
        return sentinel_location(rest);
    }
    let parsed = url::Url::parse(url).map_err(|e| format!("not a URL ({e})"))?;
    match parsed.scheme() {
        "redis" | "unix" | "redis+unix" | "valkey" => Ok(Location::Server { tls: false }),
        "rediss" | "valkeys" => Ok(Location::Server { tls: true }),
        "rediss+sentinel" => Err(
            "TLS to sentinels (rediss+sentinel://) is not supported: use redis+sentinel:// on a private network, or rediss:// to one server".into(),
        ),
        other => Err(format!(
            "must be a redis://, rediss://, unix://, redis+unix:// or redis+sentinel:// URL; found scheme {other:?}"
        )),
    }
}

fn decode(s: &str) -> Result<String, String> {
    percent_encoding::percent_decode_str(s)
        .decode_utf8()
        .map(std::borrow::Cow::into_owned)
        .map_err(|_| "the user name or password is not UTF-8 once percent-decoded".to_owned())
}

/// `[[user]:password@]host:port[,host:port…]/master[/db]`.
fn sentinel_location(rest: &str) -> Result<Location, String> {
    const FORM: &str = "redis+sentinel://[:password@]host:26379[,host:26379…]/master-name[/db]";
    if rest.contains(['?', '#']) {
        return Err(format!(
            "a redis+sentinel:// URL takes no query or fragment; the form is {FORM}"
        ));
    }
    let (authority, path) = rest.split_once('/').unwrap_or((rest, ""));
    let (userinfo, hosts) = match authority.rsplit_once('@') {
        Some((u, h)) => (Some(u), h),
        None => (None, authority),
    };
    let (username, password) = match userinfo {
        None => (None, None),
        Some(u) => {
            let (user, pass) = u.split_once(':').unwrap_or((u, ""));
            (
                Some(decode(user)?).filter(|s| !s.is_empty()),
                Some(decode(pass)?).filter(|s| !s.is_empty()),
            )
        }
    };
    let mut sentinels = Vec::new();
    for h in hosts.split(',') {
        let (host, port) = match h.rsplit_once(':') {
            Some((host, port)) if !host.ends_with(':') && !port.contains(']') => {
                let port = port.parse::<u16>().map_err(|_| {
                    format!(
                        "a sentinel's port must be a number; found {port:?} (the form is {FORM})"
                    )
                })?;
                (host, port)
            }
            _ => (h, SENTINEL_PORT),
        };
        let host = host.trim_start_matches('[').trim_end_matches(']');
        if host.is_empty() {
            return Err(format!("a sentinel address is empty; the form is {FORM}"));
        }
        sentinels.push((host.to_owned(), port));
    }
    let mut segments = path.split('/').filter(|s| !s.is_empty());
    let master = segments
        .next()
        .ok_or_else(|| format!("the master's name is missing; the form is {FORM}"))?
        .to_owned();
    let db = match segments.next() {
        None => 0,
        Some(d) => d.parse::<i64>().map_err(|_| {
            format!("the database after the master's name must be a number; found {d:?}")
        })?,
    };
    if segments.next().is_some() {
        return Err(format!("too many path segments; the form is {FORM}"));
    }
    Ok(Location::Sentinel {
        sentinels,
        master,
        db,
        username,
        password,
    })
}

#[derive(Clone)]
pub struct RedisStore {
    conn: Conn,
    prefix: String,
    /// `host:port` (or the socket path) of the server, or the sentinels
    /// and the master's name, for messages.
    addr: String,
}

#[derive(Clone)]
enum Conn {
    Server(ConnectionManager),
    Sentinel(Arc<Sentinel>),
}

/// The sentinels and the connection to the master they named last.
struct Sentinel {
    inner: tokio::sync::Mutex<SentinelState>,
}

struct SentinelState {
    client: SentinelClient,
    /// The master's connection, and a number that changes with it, so a
    /// failure forgets only the connection it happened on.
    current: Option<(u64, MultiplexedConnection)>,
    generation: u64,
    /// When the last search for the master failed, and why: requests in
    /// the moment after it fail at once with that reason instead of each
    /// searching again in turn behind the lock.
    failed: Option<(std::time::Instant, String)>,
}

/// How long a failed search for the master answers for itself.
const RETRY_SEARCH_AFTER: Duration = Duration::from_millis(200);

/// One connection for one operation, of either kind.
enum Handle {
    Server(ConnectionManager),
    Master(MultiplexedConnection),
}

impl ConnectionLike for Handle {
    fn req_packed_command<'a>(&'a mut self, cmd: &'a Cmd) -> RedisFuture<'a, Value> {
        match self {
            Handle::Server(c) => c.req_packed_command(cmd),
            Handle::Master(c) => c.req_packed_command(cmd),
        }
    }

    fn req_packed_commands<'a>(
        &'a mut self,
        pipeline: &'a Pipeline,
        offset: usize,
        count: usize,
    ) -> RedisFuture<'a, Vec<Value>> {
        match self {
            Handle::Server(c) => c.req_packed_commands(pipeline, offset, count),
            Handle::Master(c) => c.req_packed_commands(pipeline, offset, count),
        }
    }

    fn get_db(&self) -> i64 {
        match self {
            Handle::Server(c) => c.get_db(),
            Handle::Master(c) => c.get_db(),
        }
    }
}

/// The error with the server's address and the client's own words for
/// the cause (a refused connection, a timeout, a Redis error reply).
fn err_at(addr: &str, e: &RedisError) -> StateError {
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

/// An error after which the connection is not to be used again: it broke,
/// timed out, or reached a server that is no longer the master.
fn connection_lost(e: &RedisError) -> bool {
    e.is_io_error()
        || e.is_connection_dropped()
        || e.is_connection_refusal()
        || e.is_timeout()
        || e.is_unrecoverable_error()
        || matches!(
            e.kind(),
            redis::ErrorKind::Server(redis::ServerErrorKind::ReadOnly)
        )
}

impl RedisStore {
    /// Connects to the Redis `url` names (see [`locate`]); with `tls` for
    /// a `rediss://` URL, `sentinel_password` for sentinels that ask for
    /// one. Fails when it cannot be reached, or its certificate is not
    /// signed by the CA.
    pub async fn connect(
        url: &str,
        prefix: &str,
        tls: &Tls,
        sentinel_password: Option<&str>,
    ) -> Result<Self, StateError> {
        let location = locate(url).map_err(StateError)?;
        let store = match location {
            Location::Server { tls: is_tls } => {
                let addr = address(url);
                let err = |e: &RedisError| err_at(&addr, e);
                let client = if is_tls {
                    let certs = redis::TlsCertificates {
                        client_tls: match (&tls.client_cert_pem, &tls.client_key_pem) {
                            (Some(cert), Some(key)) => Some(redis::ClientTlsConfig {
                                client_cert: cert.clone(),
                                client_key: key.clone(),
                            }),
                            _ => None,
                        },
                        root_cert: tls.ca_pem.clone(),
                    };
                    redis::Client::build_with_tls(url, certs)
                } else {
                    redis::Client::open(url)
                }
                .map_err(|e| err(&e))?;
                let config = redis::aio::ConnectionManagerConfig::new()
                    .set_connection_timeout(Some(TIMEOUT))
                    .set_response_timeout(Some(TIMEOUT))
                    .set_number_of_retries(2);
                let conn = ConnectionManager::new_with_config(client, config)
                    .await
                    .map_err(|e| err(&e))?;
                Self {
                    conn: Conn::Server(conn),
                    prefix: prefix.to_owned(),
                    addr,
                }
            }
            Location::Sentinel {
                sentinels,
                master,
                db,
                username,
                password,
            } => {
                let addr = format!(
                    "master {master:?} of sentinels {}",
                    sentinels
                        .iter()
                        .map(|(h, p)| format!("{h}:{p}"))
                        .collect::<Vec<_>>()
                        .join(",")
                );
                let auth = sentinel_password.map_or(String::new(), |p| {
                    format!(
                        ":{}@",
                        percent_encoding::utf8_percent_encode(
                            p,
                            percent_encoding::NON_ALPHANUMERIC
                        )
                    )
                });
                let nodes: Vec<String> = sentinels
                    .iter()
                    .map(|(h, p)| {
                        if h.contains(':') {
                            format!("redis://{auth}[{h}]:{p}")
                        } else {
                            format!("redis://{auth}{h}:{p}")
                        }
                    })
                    .collect();
                let mut info = redis::RedisConnectionInfo::default().set_db(db);
                if let Some(u) = username {
                    info = info.set_username(u);
                }
                if let Some(p) = password {
                    info = info.set_password(p);
                }
                let node = SentinelNodeConnectionInfo::default().set_redis_connection_info(info);
                let client =
                    SentinelClient::build(nodes, master, Some(node), SentinelServerType::Master)
                        .map_err(|e| err_at(&addr, &e))?;
                let store = Self {
                    conn: Conn::Sentinel(Arc::new(Sentinel {
                        inner: tokio::sync::Mutex::new(SentinelState {
                            client,
                            current: None,
                            generation: 0,
                            failed: None,
                        }),
                    })),
                    prefix: prefix.to_owned(),
                    addr,
                };
                // As with one server: not reachable at start, no start.
                store.ping().await?;
                store
            }
        };
        store.mark_records_since().await?;
        store.warn_without_append_only_file().await;
        Ok(store)
    }

    /// Warns when the server keeps no append-only file, or may evict
    /// keys: a restart then forgets the one-time records, an eviction
    /// drops some, and what was issued before is refused
    /// ([`FirstUse::Forgotten`]) or, evicted one by one, not noticed
    /// (operations.md, "Redis restarts"). A server that does not answer
    /// `INFO` (an ACL, a managed service) is not judged.
    async fn warn_without_append_only_file(&self) {
        let Ok((_, mut c)) = self.handle().await else {
            return;
        };
        // Plain INFO: its default sections hold both, on every version.
        let info: Result<String, _> = redis::cmd("INFO").query_async(&mut c).await;
        let text = match info {
            Ok(text) => text,
            Err(e) => {
                tracing::debug!(error = %e, at = %self.addr, "redis persistence not checked");
                return;
            }
        };
        let field = |name: &str| {
            text.lines()
                .find_map(|l| l.trim().strip_prefix(name)?.strip_prefix(':'))
                .map(str::to_owned)
        };
        if field("aof_enabled").as_deref() == Some("0") {
            tracing::warn!(
                at = %self.addr,
                "redis keeps no append-only file (appendonly no): when it restarts it forgets \
                 the one-time records, and every sign-in in progress must start again; set \
                 appendonly yes (docs/operations.md, Redis restarts)"
            );
        }
        if let Some(policy) = field("maxmemory_policy").filter(|p| p != "noeviction") {
            tracing::warn!(
                at = %self.addr,
                policy = %policy,
                "redis may evict keys (maxmemory-policy is not noeviction): an evicted one-time \
                 record lets its sign-in or token be used again; set maxmemory-policy noeviction \
                 (docs/operations.md, Redis restarts)"
            );
        }
    }

    /// A connection to the master, asking the sentinels for it when there
    /// is none.
    async fn handle(&self) -> Result<(u64, Handle), StateError> {
        match &self.conn {
            Conn::Server(c) => Ok((0, Handle::Server(c.clone()))),
            Conn::Sentinel(s) => {
                // One task at a time asks: the others wait for its answer.
                let mut st = s.inner.lock().await;
                if let Some((generation, c)) = &st.current {
                    return Ok((*generation, Handle::Master(c.clone())));
                }
                if let Some((at, why)) = &st.failed
                    && at.elapsed() < RETRY_SEARCH_AFTER
                {
                    return Err(StateError(why.clone()));
                }
                let config = redis::AsyncConnectionConfig::new()
                    .set_connection_timeout(Some(TIMEOUT))
                    .set_response_timeout(Some(TIMEOUT));
                let found = tokio::time::timeout(TIMEOUT * 2, async {
                    st.client
                        .async_get_client()
                        .await?
                        .get_multiplexed_async_connection_with_config(&config)
                        .await
                })
                .await;
                let found = match found {
                    Ok(Ok(c)) => c,
                    Ok(Err(e)) => {
                        let e = err_at(&self.addr, &e);
                        st.failed = Some((std::time::Instant::now(), e.0.clone()));
                        return Err(e);
                    }
                    Err(_) => {
                        let e = StateError(format!(
                            "redis at {}: no master found within {:?}",
                            self.addr,
                            TIMEOUT * 2
                        ));
                        st.failed = Some((std::time::Instant::now(), e.0.clone()));
                        return Err(e);
                    }
                };
                st.failed = None;
                st.generation += 1;
                let generation = st.generation;
                st.current = Some((generation, found.clone()));
                Ok((generation, Handle::Master(found)))
            }
        }
    }

    /// After `e` on the connection of `generation`: forget it when it is
    /// lost, so the next operation asks the sentinels again.
    async fn failed(&self, generation: u64, e: &RedisError) -> StateError {
        if let Conn::Sentinel(s) = &self.conn
            && connection_lost(e)
        {
            let mut st = s.inner.lock().await;
            if st.current.as_ref().is_some_and(|(g, _)| *g == generation) {
                st.current = None;
                tracing::warn!(error = %e, at = %self.addr, "redis master lost; asking the sentinels again");
            }
        }
        err_at(&self.addr, e)
    }

    fn key(&self, key: &str) -> String {
        format!("{}{key}", self.prefix)
    }

    pub async fn first_use(
        &self,
        key: &str,
        ttl: Duration,
        issued_at: i64,
    ) -> Result<FirstUse, StateError> {
        let (generation, mut c) = self.handle().await?;
        let ms = u64::try_from(ttl.as_millis()).unwrap_or(u64::MAX).max(1);
        let answer: Result<(i64, i64), _> = FIRST_USE
            .key(self.key(key))
            .key(self.key(RECORDS_SINCE))
            .arg(ms)
            .arg(issued_at)
            .arg(crate::source::now())
            .invoke_async(&mut c)
            .await;
        match answer {
            Ok((found, lost)) => {
                if lost == 1 {
                    tracing::error!(
                        at = %self.addr,
                        "redis lost its records (restarted without its append-only file, \
                         flushed, or evicting): sign-ins and tokens issued before now are \
                         refused, as whether they were used cannot be told"
                    );
                }
                Ok(match found {
                    1 => FirstUse::Yes,
                    0 => FirstUse::Again,
                    _ => FirstUse::Forgotten,
                })
            }
            Err(e) => Err(self.failed(generation, &e).await),
        }
    }

    /// Marks where the records begin, unless a mark is there already.
    async fn mark_records_since(&self) -> Result<(), StateError> {
        let (generation, mut c) = self.handle().await?;
        let set: Result<Option<String>, _> = redis::cmd("SET")
            .arg(self.key(RECORDS_SINCE))
            .arg(crate::source::now())
            .arg("NX")
            .query_async(&mut c)
            .await;
        match set {
            Ok(_) => Ok(()),
            Err(e) => Err(self.failed(generation, &e).await),
        }
    }

    pub async fn hit(&self, key: &str, window: Duration) -> Result<Hit, StateError> {
        let (generation, mut c) = self.handle().await?;
        let ms = u64::try_from(window.as_millis()).unwrap_or(u64::MAX).max(1);
        let answer: Result<(u64, i64), _> =
            HIT.key(self.key(key)).arg(ms).invoke_async(&mut c).await;
        match answer {
            Ok((count, left_ms)) => Ok(Hit {
                count,
                resets_in: Duration::from_millis(u64::try_from(left_ms).unwrap_or(0)),
            }),
            Err(e) => Err(self.failed(generation, &e).await),
        }
    }

    pub async fn peek(&self, key: &str) -> Result<u64, StateError> {
        let (generation, mut c) = self.handle().await?;
        let n: Result<Option<u64>, _> = redis::cmd("GET")
            .arg(self.key(key))
            .query_async(&mut c)
            .await;
        match n {
            Ok(n) => Ok(n.unwrap_or(0)),
            Err(e) => Err(self.failed(generation, &e).await),
        }
    }

    pub async fn ping(&self) -> Result<(), StateError> {
        let (generation, mut c) = self.handle().await?;
        match redis::cmd("PING").query_async::<String>(&mut c).await {
            Ok(_) => Ok(()),
            Err(e) => Err(self.failed(generation, &e).await),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::{Location, locate};

    #[test]
    fn sentinel_urls_name_every_sentinel_and_the_master() {
        assert_eq!(
            locate("redis+sentinel://:p%40ss@10.0.0.1:26379,[::1]:26380,s3/mymaster/2"),
            Ok(Location::Sentinel {
                sentinels: vec![
                    ("10.0.0.1".into(), 26379),
                    ("::1".into(), 26380),
                    ("s3".into(), 26379),
                ],
                master: "mymaster".into(),
                db: 2,
                username: None,
                password: Some("p@ss".into()),
            })
        );
        assert_eq!(
            locate("rediss://r:6380"),
            Ok(Location::Server { tls: true })
        );
        for bad in [
            "redis+sentinel://h:26379",
            "redis+sentinel://h:x/m",
            "redis+sentinel://h/m/zero",
            "redis+sentinel://h/m?x=1",
            "redis+sentinel://,h/m",
            "rediss+sentinel://h/m",
            "http://h",
        ] {
            assert!(locate(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn a_sentinel_url_error_never_shows_the_password() {
        let e = locate("redis+sentinel://:hunter2@h:bad/m").unwrap_err();
        assert!(!e.contains("hunter2"), "{e}");
    }
}
