//! Identity links: one person, one Zendesk user across sources.
//!
//! Zendesk finds a user by `external_id`, then by email, and refuses an
//! `external_id` another user holds. When the same person arrives through
//! two sources (a legacy portal, then a new OIDC tenant), each source maps
//! its own `external_id`, and the person's second sign-in either splits
//! their history or fails. A target with `[target.link]` keeps, per
//! person, the `external_id` zenbridge first sent, and sends it again
//! whatever the source.
//!
//! "Same person" is the link key: by default the **verified** email (the
//! trust model vouched for it; an unverified address never links), or a
//! CEL expression over the verified claims (`[target.link] key`).
//!
//! The rule, in one statement ([`LinkStore::resolve`]): a key has at most
//! one `external_id` and an `external_id` at most one key, per target. The
//! first sign-in of a key records the id the mapping gave; later sign-ins
//! of that key get the recorded id, whatever their source maps. A sign-in
//! whose mapped id is already linked to **another** key is refused
//! (`link_conflict`): two people, or one person whose key changed —
//! never resolved silently. The insert is one statement
//! (`ON CONFLICT DO NOTHING`) whose loser reads the winner's row, so two
//! replicas signing the same person in at once make one link.
//!
//! Storage: SQLite (a file, for one instance) or PostgreSQL (for several
//! replicas), through `sqlx`; the schema is migrated at start-up and by
//! `zenbridge links migrate`. A store that cannot be reached refuses the
//! sign-in (`upstream_unavailable`): with links on, an unlinked id is never
//! minted.

pub mod import;

use std::borrow::Cow;
use std::str::FromStr;
use std::time::Duration;

use sqlx::migrate::{Migration, MigrationType, Migrator};
use sqlx::postgres::{PgConnectOptions, PgPool, PgPoolOptions};
use sqlx::sqlite::{SqliteConnectOptions, SqlitePool, SqlitePoolOptions};
use sqlx::{Row as _, postgres::PgRow, sqlite::SqliteRow};

/// The schema, one migration per version; never edit one that shipped.
const SCHEMA_V1: &str = "CREATE TABLE IF NOT EXISTS zenbridge_links (
    target TEXT NOT NULL,
    link_key TEXT NOT NULL,
    external_id TEXT NOT NULL,
    source TEXT NOT NULL,
    last_source TEXT NOT NULL,
    first_used BIGINT NOT NULL,
    last_used BIGINT NOT NULL,
    PRIMARY KEY (target, link_key),
    UNIQUE (target, external_id)
)";

fn migrator() -> Migrator {
    Migrator {
        migrations: Cow::Owned(vec![Migration::new(
            1,
            Cow::Borrowed("identity links"),
            MigrationType::Simple,
            Cow::Borrowed(SCHEMA_V1),
            false,
        )]),
        ..Migrator::DEFAULT
    }
}

/// How long a query may take before the store counts as unavailable.
const QUERY_TIMEOUT: Duration = Duration::from_secs(5);

/// One link: a person's key and the `external_id` Zendesk knows them by.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Link {
    pub target: String,
    pub key: String,
    pub external_id: String,
    /// The source of the sign-in that made the link (or `import`, `set`).
    pub source: String,
    pub last_source: String,
    pub first_used: i64,
    pub last_used: i64,
}

/// What [`LinkStore::resolve`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Resolved {
    /// The key had no link: this sign-in's id is now linked to it.
    Created,
    /// The key was linked to the id this sign-in's mapping gave.
    Same,
    /// The key was linked to another id, which replaces the mapped one.
    Reused { mapped: Option<String> },
}

#[derive(Debug, thiserror::Error, Clone, PartialEq, Eq)]
pub enum LinkError {
    /// Two different linked ids claim one key.
    #[error(
        "this person's external_id {mapped:?} is already linked to another person of target {target:?}; an operator must decide (zenbridge links show/set/delete)"
    )]
    Conflict { target: String, mapped: String },
    /// `detail` is for the log: the database's own words.
    #[error("the identity link store cannot be reached right now; try again later")]
    Unavailable { detail: String },
    #[error("{0}")]
    Invalid(String),
}

impl LinkError {
    /// What the log gets besides the message.
    pub fn detail(&self) -> &str {
        match self {
            LinkError::Unavailable { detail } => detail,
            _ => "",
        }
    }

    fn db(e: &sqlx::Error) -> Self {
        LinkError::Unavailable {
            detail: e.to_string(),
        }
    }
}

enum Options {
    Sqlite(SqliteConnectOptions),
    Postgres(PgConnectOptions),
}

impl Options {
    fn of(url: &str) -> Result<Self, String> {
        if url.starts_with("sqlite:") {
            let options = SqliteConnectOptions::from_str(url)
                .map_err(|e| format!("not a usable sqlite: URL ({e})"))?
                .create_if_missing(true)
                .busy_timeout(QUERY_TIMEOUT)
                .journal_mode(sqlx::sqlite::SqliteJournalMode::Wal);
            Ok(Options::Sqlite(options))
        } else if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            let options = PgConnectOptions::from_str(url)
                .map_err(|_| "not a usable postgres:// URL".to_owned())?
                .application_name("zenbridge");
            Ok(Options::Postgres(options))
        } else {
            Err("must be sqlite:PATH (one instance) or a postgres:// URL (several replicas)".into())
        }
    }
}

enum Pool {
    Sqlite(SqlitePool),
    Postgres(PgPool),
}

/// The link store of one config load: a lazily connected pool.
pub struct LinkStore {
    pool: Pool,
    /// Set once the schema is known to be current.
    migrated: tokio::sync::OnceCell<()>,
}

impl std::fmt::Debug for LinkStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LinkStore")
            .field("backend", &self.backend())
            .finish_non_exhaustive()
    }
}

/// Runs `$q` (a query builder over the pool `p`) on whichever pool.
macro_rules! on_pool {
    ($self:expr, |$p:ident| $q:expr) => {
        match &$self.pool {
            Pool::Sqlite($p) => $q,
            Pool::Postgres($p) => $q,
        }
    };
}

/// A row of either backend as a [`Link`] (the column names are the same).
macro_rules! link_of {
    ($r:expr) => {
        Ok(Link {
            target: $r.try_get("target")?,
            key: $r.try_get("link_key")?,
            external_id: $r.try_get("external_id")?,
            source: $r.try_get("source")?,
            last_source: $r.try_get("last_source")?,
            first_used: $r.try_get("first_used")?,
            last_used: $r.try_get("last_used")?,
        })
    };
}

const COLUMNS: &str = "target, link_key, external_id, source, last_source, first_used, last_used";

impl LinkStore {
    /// A store for `url` (`sqlite:PATH` — created if missing — or
    /// `postgres://…`), connected on first use. The error names what is
    /// wrong with the URL, never the URL (it may hold a password).
    pub fn connect_lazy(url: &str) -> Result<Self, String> {
        let pool = match Options::of(url)? {
            Options::Sqlite(options) => Pool::Sqlite(
                SqlitePoolOptions::new()
                    .max_connections(4)
                    .acquire_timeout(QUERY_TIMEOUT)
                    .connect_lazy_with(options),
            ),
            Options::Postgres(options) => Pool::Postgres(
                PgPoolOptions::new()
                    .max_connections(8)
                    .acquire_timeout(QUERY_TIMEOUT)
                    .connect_lazy_with(options),
            ),
        };
        Ok(Self {
            pool,
            migrated: tokio::sync::OnceCell::new(),
        })
    }

    /// What is wrong with `url`, if anything (the config's check).
    pub fn check_url(url: &str) -> Result<(), String> {
        Options::of(url).map(drop)
    }

    pub fn backend(&self) -> &'static str {
        match self.pool {
            Pool::Sqlite(_) => "sqlite",
            Pool::Postgres(_) => "postgres",
        }
    }

    /// Brings the schema up to date (idempotent; migrations take the
    /// database's lock, so replicas starting together apply each once).
    pub async fn migrate(&self) -> Result<(), LinkError> {
        self.migrated
            .get_or_try_init(|| async {
                let m = migrator();
                let run = async { on_pool!(self, |p| m.run(p).await) };
                match tokio::time::timeout(QUERY_TIMEOUT * 2, run).await {
                    Ok(Ok(())) => Ok(()),
                    Ok(Err(e)) => Err(LinkError::Unavailable {
                        detail: format!("schema migration: {e}"),
                    }),
                    Err(_) => Err(LinkError::Unavailable {
                        detail: "schema migration timed out".into(),
                    }),
                }
            })
            .await?;
        Ok(())
    }

    /// The link of `key` in `target`, if any.
    pub async fn find(&self, target: &str, key: &str) -> Result<Option<Link>, LinkError> {
        self.migrate().await?;
        let q =
            format!("SELECT {COLUMNS} FROM zenbridge_links WHERE target = $1 AND link_key = $2");
        let found = on_pool!(self, |p| {
            sqlx::query(&q)
                .bind(target)
                .bind(key)
                .fetch_optional(p)
                .await
                .map_err(|e| LinkError::db(&e))?
                .map(|r| row_link(&r))
                .transpose()
        });
        found.map_err(|e| LinkError::db(&e))
    }

    /// The links of `target` (every target's when `None`), by key.
    pub async fn list(&self, target: Option<&str>) -> Result<Vec<Link>, LinkError> {
        self.migrate().await?;
        let q = format!(
            "SELECT {COLUMNS} FROM zenbridge_links WHERE ($1 = '' OR target = $1) ORDER BY target, link_key"
        );
        let rows = on_pool!(self, |p| {
            sqlx::query(&q)
                .bind(target.unwrap_or(""))
                .fetch_all(p)
                .await
                .map_err(|e| LinkError::db(&e))?
                .iter()
                .map(row_link)
                .collect::<Result<Vec<_>, _>>()
        });
        rows.map_err(|e| LinkError::db(&e))
    }

    /// The sign-in rule (see the module's documentation): the id to send
    /// for `key`, and what was done. `mapped` is the id this sign-in's
    /// mapping gave; with none and no link, nothing is recorded.
    pub async fn resolve(
        &self,
        target: &str,
        key: &str,
        mapped: Option<&str>,
        source: &str,
        now: i64,
    ) -> Result<Option<(String, Resolved)>, LinkError> {
        self.migrate().await?;
        let run = async {
            if let Some(id) = mapped {
                let inserted = self.insert(target, key, id, source, now).await?;
                if inserted {
                    return Ok(Some((id.to_owned(), Resolved::Created)));
                }
            }
            // The key is linked, or (with a mapped id) the id is another
            // key's: read which.
            let Some(link) = self.find(target, key).await? else {
                return match mapped {
                    Some(id) => Err(LinkError::Conflict {
                        target: target.to_owned(),
                        mapped: id.to_owned(),
                    }),
                    None => Ok(None),
                };
            };
            if let Some(id) = mapped
                && id != link.external_id
                && self.key_of(target, id).await?.is_some()
            {
                return Err(LinkError::Conflict {
                    target: target.to_owned(),
                    mapped: id.to_owned(),
                });
            }
            self.touch(target, key, source, now).await?;
            let resolved = if mapped == Some(link.external_id.as_str()) {
                Resolved::Same
            } else {
                Resolved::Reused {
                    mapped: mapped.map(str::to_owned),
                }
            };
            Ok(Some((link.external_id, resolved)))
        };
        match tokio::time::timeout(QUERY_TIMEOUT * 2, run).await {
            Ok(r) => r,
            Err(_) => Err(LinkError::Unavailable {
                detail: "the link store did not answer in time".into(),
            }),
        }
    }

    /// Inserts a link unless the key or the id is linked already; true
    /// when this call made it.
    async fn insert(
        &self,
        target: &str,
        key: &str,
        id: &str,
        source: &str,
        now: i64,
    ) -> Result<bool, LinkError> {
        let q = format!(
            "INSERT INTO zenbridge_links ({COLUMNS}) VALUES ($1, $2, $3, $4, $4, $5, $5) ON CONFLICT DO NOTHING"
        );
        Ok(self.write(&q, [target, key, id, source], now).await? == 1)
    }

    /// Runs a statement of the links table's five parameters (target, key,
    /// external_id, source, time); the rows it changed.
    async fn write(
        &self,
        q: &str,
        [target, key, id, source]: [&str; 4],
        now: i64,
    ) -> Result<u64, LinkError> {
        Ok(on_pool!(self, |p| sqlx::query(q)
            .bind(target)
            .bind(key)
            .bind(id)
            .bind(source)
            .bind(now)
            .execute(p)
            .await
            .map_err(|e| LinkError::db(&e))?
            .rows_affected()))
    }

    async fn key_of(&self, target: &str, id: &str) -> Result<Option<String>, LinkError> {
        let q = "SELECT link_key FROM zenbridge_links WHERE target = $1 AND external_id = $2";
        let key: Option<String> = on_pool!(self, |p| sqlx::query_scalar(q)
            .bind(target)
            .bind(id)
            .fetch_optional(p)
            .await
            .map_err(|e| LinkError::db(&e))?);
        Ok(key)
    }

    async fn touch(
        &self,
        target: &str,
        key: &str,
        source: &str,
        now: i64,
    ) -> Result<(), LinkError> {
        let q = "UPDATE zenbridge_links SET last_used = $3, last_source = $4 WHERE target = $1 AND link_key = $2";
        on_pool!(self, |p| sqlx::query(q)
            .bind(target)
            .bind(key)
            .bind(now)
            .bind(source)
            .execute(p)
            .await
            .map_err(|e| LinkError::db(&e))?
            .rows_affected());
        Ok(())
    }

    /// Links `key` to `id` (an operator's decision): replaces the key's
    /// link; refused when `id` is another key's.
    pub async fn set(
        &self,
        target: &str,
        key: &str,
        id: &str,
        source: &str,
        now: i64,
    ) -> Result<(), LinkError> {
        self.migrate().await?;
        if let Some(other) = self.key_of(target, id).await?
            && other != key
        {
            return Err(LinkError::Invalid(format!(
                "external_id {id:?} is linked to key {other:?}; delete that link first"
            )));
        }
        let q = format!(
            "INSERT INTO zenbridge_links ({COLUMNS}) VALUES ($1, $2, $3, $4, $4, $5, $5)
             ON CONFLICT (target, link_key) DO UPDATE SET external_id = $3, last_source = $4, last_used = $5"
        );
        self.write(&q, [target, key, id, source], now).await?;
        Ok(())
    }

    /// Deletes the link of `key`; true when there was one.
    pub async fn delete(&self, target: &str, key: &str) -> Result<bool, LinkError> {
        self.migrate().await?;
        let q = "DELETE FROM zenbridge_links WHERE target = $1 AND link_key = $2";
        let n = on_pool!(self, |p| sqlx::query(q)
            .bind(target)
            .bind(key)
            .execute(p)
            .await
            .map_err(|e| LinkError::db(&e))?
            .rows_affected());
        Ok(n > 0)
    }

    /// Adds every `(key, external_id)` of an import in one transaction:
    /// all or nothing. A row whose key or id is linked already (to
    /// something else) fails the whole import, naming its line.
    pub async fn import(
        &self,
        target: &str,
        rows: &[import::Row],
        now: i64,
    ) -> Result<usize, LinkError> {
        self.migrate().await?;
        let q = format!(
            "INSERT INTO zenbridge_links ({COLUMNS}) VALUES ($1, $2, $3, 'import', 'import', $4, $4) ON CONFLICT DO NOTHING"
        );
        let check = "SELECT external_id FROM zenbridge_links WHERE target = $1 AND link_key = $2";
        macro_rules! import_in {
            ($pool:expr) => {{
                let mut tx = $pool.begin().await.map_err(|e| LinkError::db(&e))?;
                let mut added = 0;
                for row in rows {
                    let n = sqlx::query(&q)
                        .bind(target)
                        .bind(&row.key)
                        .bind(&row.external_id)
                        .bind(now)
                        .execute(&mut *tx)
                        .await
                        .map_err(|e| LinkError::db(&e))?
                        .rows_affected();
                    if n == 1 {
                        added += 1;
                        continue;
                    }
                    let existing: Option<String> = sqlx::query_scalar(check)
                        .bind(target)
                        .bind(&row.key)
                        .fetch_optional(&mut *tx)
                        .await
                        .map_err(|e| LinkError::db(&e))?;
                    if existing.as_deref() != Some(row.external_id.as_str()) {
                        return Err(LinkError::Invalid(format!(
                            "line {}: {} is already linked to another {}; nothing was imported",
                            row.line,
                            if existing.is_some() {
                                "this key"
                            } else {
                                "this external_id"
                            },
                            if existing.is_some() {
                                "external_id"
                            } else {
                                "key"
                            },
                        )));
                    }
                }
                tx.commit().await.map_err(|e| LinkError::db(&e))?;
                Ok(added)
            }};
        }
        match &self.pool {
            Pool::Sqlite(p) => import_in!(p),
            Pool::Postgres(p) => import_in!(p),
        }
    }

    /// Answers when the store can be reached (readiness, `check --online`).
    pub async fn ping(&self) -> Result<(), LinkError> {
        self.migrate().await?;
        on_pool!(self, |p| sqlx::query("SELECT 1")
            .execute(p)
            .await
            .map_err(|e| LinkError::db(&e))?
            .rows_affected());
        Ok(())
    }
}

/// A row of either backend as a [`Link`].
trait RowLink {
    fn link(&self) -> Result<Link, sqlx::Error>;
}

impl RowLink for SqliteRow {
    fn link(&self) -> Result<Link, sqlx::Error> {
        link_of!(self)
    }
}

impl RowLink for PgRow {
    fn link(&self) -> Result<Link, sqlx::Error> {
        link_of!(self)
    }
}

fn row_link(r: &impl RowLink) -> Result<Link, sqlx::Error> {
    r.link()
}

/// The link key as stored: an email in lower case (Zendesk compares them
/// so), any other key as computed.
pub fn normalize_email(email: &str) -> String {
    email.trim().to_lowercase()
}
