//! Opening the database: SQLite (the embedded default) or PostgreSQL, chosen by URL.

use std::time::Duration;

use sea_orm::sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqliteSynchronous};
use sea_orm::{ConnectOptions, ConnectionTrait, Database, DatabaseBackend};

/// The pooled connection every service takes.
pub use sea_orm::DatabaseConnection;

use crate::{Error, Result};

/// How long start-up keeps trying to reach the database (it may still be starting).
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// How long a SQLite connection waits for a lock held by another writer before failing.
const SQLITE_BUSY_TIMEOUT: Duration = Duration::from_secs(10);

/// The kind of database a URL points at.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

impl Backend {
    /// Recognises the backend from a `DATABASE_URL`, or explains what is accepted.
    ///
    /// # Errors
    /// [`Error::Config`] when the scheme is neither SQLite nor PostgreSQL.
    pub fn from_url(url: &str) -> Result<Self> {
        let scheme = url.split_once(':').map(|(scheme, _)| scheme).unwrap_or("");
        match scheme {
            "sqlite" => Ok(Self::Sqlite),
            "postgres" | "postgresql" => Ok(Self::Postgres),
            _ => Err(Error::Config(format!(
                "DATABASE_URL must start with sqlite: or postgres:// (got {:?})",
                redact_url(url)
            ))),
        }
    }

    /// The name people know the database by.
    pub fn display_name(self) -> &'static str {
        match self {
            Self::Sqlite => "SQLite",
            Self::Postgres => "PostgreSQL",
        }
    }
}

/// The URL of an SQLite database file, created on first use.
pub fn sqlite_file_url(path: &std::path::Path) -> String {
    format!("sqlite://{}?mode=rwc", path.display())
}

/// Connects to the database named by `url`.
///
/// SQLite files are created when missing and opened with foreign keys enforced, write-ahead
/// logging and a busy timeout, so concurrent readers and a writer do not fail each other.
///
/// # Errors
/// [`Error::Config`] for a malformed URL, [`Error::Database`] when the database cannot be
/// reached or opened.
pub async fn connect(url: &str) -> Result<DatabaseConnection> {
    let backend = Backend::from_url(url)?;
    let mut options = ConnectOptions::new(url.to_owned());
    options
        .sqlx_logging(false)
        .connect_timeout(Duration::from_secs(10))
        .acquire_timeout(Duration::from_secs(30));
    match backend {
        Backend::Sqlite => {
            // Validate here so a typo gives a config error rather than a driver message.
            url.parse::<SqliteConnectOptions>().map_err(|e| {
                Error::Config(format!("DATABASE_URL is not a valid SQLite URL: {e}"))
            })?;
            // An in-memory database exists per connection: keep exactly one.
            let max = if url.contains(":memory:") || url.contains("mode=memory") {
                1
            } else {
                8
            };
            options
                .max_connections(max)
                .min_connections(1)
                .map_sqlx_sqlite_opts(|opts| {
                    opts.create_if_missing(true)
                        .foreign_keys(true)
                        .journal_mode(SqliteJournalMode::Wal)
                        .synchronous(SqliteSynchronous::Normal)
                        .busy_timeout(SQLITE_BUSY_TIMEOUT)
                        // Segment evaluation scans every profile: memory-mapped reads keep
                        // those scans off the read() path. The page cache is per connection
                        // (up to 8): at 64 MB, an export of 10,000,000 members grew to 290 MB
                        // as its connections filled theirs; 16 MB keeps it near 150 MB, at the
                        // price of imports about 10% slower.
                        .pragma("cache_size", "-16384")
                        .pragma("mmap_size", "1073741824")
                        .pragma("temp_store", "memory")
                });
        }
        Backend::Postgres => {
            options.max_connections(16);
        }
    }
    // The pool retries refused connections until its own, longer deadline: bound it here.
    match tokio::time::timeout(CONNECT_TIMEOUT, Database::connect(options)).await {
        Ok(connection) => Ok(connection?),
        Err(_) => Err(Error::Database(sea_orm::DbErr::Conn(
            sea_orm::RuntimeErr::Internal(format!(
                "no answer within {} s",
                CONNECT_TIMEOUT.as_secs()
            )),
        ))),
    }
}

/// The backend of an open connection.
pub fn backend_of(db: &DatabaseConnection) -> Backend {
    match db.get_database_backend() {
        DatabaseBackend::Postgres => Backend::Postgres,
        _ => Backend::Sqlite,
    }
}

/// Hides the password of a database URL so it can be logged or shown in an error.
pub fn redact_url(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(scheme_end), Some(at)) if at > scheme_end => {
            let credentials = &url[scheme_end + 3..at];
            match credentials.split_once(':') {
                Some((user, _password)) => {
                    format!("{}{user}:***{}", &url[..scheme_end + 3], &url[at..])
                }
                None => url.to_owned(),
            }
        }
        _ => url.to_owned(),
    }
}

/// Applies every pending schema migration.
///
/// # Errors
/// [`Error::Database`] when a migration fails; that migration's changes are rolled back where
/// the database supports transactional DDL.
pub async fn migrate(db: &DatabaseConnection) -> Result<()> {
    use migrations::MigratorTrait;
    migrations::Migrator::up(db, None).await?;
    Ok(())
}

/// Counts the schema migrations applied to this database.
///
/// # Errors
/// [`Error::Database`] when the migrations table cannot be read.
pub async fn applied_migrations(db: &DatabaseConnection) -> Result<i64> {
    let row = db
        .query_one_raw(sea_orm::Statement::from_string(
            db.get_database_backend(),
            "SELECT COUNT(*) AS n FROM seaql_migrations",
        ))
        .await?
        .ok_or_else(|| Error::Corrupt("COUNT(*) returned no row".into()))?;
    Ok(row.try_get::<i64>("", "n")?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backend_is_recognised_from_the_url_scheme() {
        assert_eq!(
            Backend::from_url("sqlite://data/ferry.db?mode=rwc").unwrap(),
            Backend::Sqlite
        );
        assert_eq!(
            Backend::from_url("sqlite::memory:").unwrap(),
            Backend::Sqlite
        );
        assert_eq!(
            Backend::from_url("postgres://u:p@localhost/db").unwrap(),
            Backend::Postgres
        );
        assert_eq!(
            Backend::from_url("postgresql://localhost/db").unwrap(),
            Backend::Postgres
        );
    }

    #[test]
    fn an_unknown_scheme_is_a_config_error_that_hides_the_password() {
        let err = Backend::from_url("mysql://root:hunter2@localhost/db").unwrap_err();
        let message = err.to_string();
        assert!(message.contains("sqlite: or postgres://"), "{message}");
        assert!(!message.contains("hunter2"), "password leaked: {message}");
    }

    #[test]
    fn redact_url_keeps_everything_but_the_password() {
        assert_eq!(
            redact_url("postgres://ferry:s3cret@db:5432/ferry"),
            "postgres://ferry:***@db:5432/ferry"
        );
        assert_eq!(redact_url("postgres://db/ferry"), "postgres://db/ferry");
        assert_eq!(
            redact_url("sqlite://data/ferry.db"),
            "sqlite://data/ferry.db"
        );
    }

    #[tokio::test]
    async fn a_malformed_sqlite_url_is_a_config_error() {
        let err = connect("sqlite://data/ferry.db?mode=banana")
            .await
            .unwrap_err();
        assert!(matches!(err, Error::Config(_)), "{err:?}");
    }
}
