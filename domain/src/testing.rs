//! Fresh, migrated databases (with the built-in roles, as at start-up) for tests: always an SQLite file, and a PostgreSQL database when
//! the test command has started a private cluster and exported `FERRY_TEST_POSTGRES_URL`.

use sea_orm::{ConnectionTrait, DatabaseConnection};

use crate::db;

/// Names the environment variable holding an admin URL of a PostgreSQL server for tests.
pub const POSTGRES_URL_VAR: &str = "FERRY_TEST_POSTGRES_URL";

/// A migrated database that lives as long as this value.
pub struct TestDb {
    pub db: DatabaseConnection,
    pub url: String,
    /// "sqlite" or "postgres", for assertion messages.
    pub label: &'static str,
    _dir: Option<tempfile::TempDir>,
}

/// A migrated SQLite database in a new temporary file.
///
/// # Panics
/// When the file cannot be created or migrated: the test cannot run.
pub async fn sqlite() -> TestDb {
    let dir = tempfile::tempdir().expect("temporary folder");
    let url = db::sqlite_file_url(&dir.path().join("ferry.db"));
    let conn = db::connect(&url).await.expect("open SQLite");
    db::migrate(&conn).await.expect("migrate SQLite");
    crate::access::roles::ensure_built_ins(&conn)
        .await
        .expect("built-in roles");
    crate::profiles::schema::ensure_catalog(&conn)
        .await
        .expect("schema catalog");
    TestDb {
        db: conn,
        url,
        label: "sqlite",
        _dir: Some(dir),
    }
}

/// A migrated, empty PostgreSQL database of its own, or `None` when no server was provided.
///
/// # Panics
/// When a server was provided but the database cannot be created or migrated.
pub async fn postgres() -> Option<TestDb> {
    let admin_url = std::env::var(POSTGRES_URL_VAR)
        .ok()
        .filter(|u| !u.is_empty())?;
    let name = format!("ferry_test_{}", uuid::Uuid::new_v4().simple());
    let admin = db::connect(&admin_url)
        .await
        .expect("reach the test PostgreSQL server");
    admin
        .execute_unprepared(&format!("CREATE DATABASE \"{name}\""))
        .await
        .expect("create a test database");
    admin.close().await.ok();
    let url = with_database(&admin_url, &name);
    let conn = db::connect(&url).await.expect("open the test database");
    db::migrate(&conn).await.expect("migrate PostgreSQL");
    crate::access::roles::ensure_built_ins(&conn)
        .await
        .expect("built-in roles");
    crate::profiles::schema::ensure_catalog(&conn)
        .await
        .expect("schema catalog");
    Some(TestDb {
        db: conn,
        url,
        label: "postgres",
        _dir: None,
    })
}

/// Every backend available to this test run: SQLite always, PostgreSQL when provided.
pub async fn all() -> Vec<TestDb> {
    let mut dbs = vec![sqlite().await];
    dbs.extend(postgres().await);
    dbs
}

/// Replaces the database name (the URL's path) of a PostgreSQL URL.
fn with_database(url: &str, name: &str) -> String {
    let (base, query) = url
        .split_once('?')
        .map_or((url, None), |(b, q)| (b, Some(q)));
    let authority_start = base.find("://").map_or(0, |i| i + 3);
    let base = match base[authority_start..].find('/') {
        Some(slash) => &base[..authority_start + slash],
        None => base,
    };
    match query {
        Some(q) => format!("{base}/{name}?{q}"),
        None => format!("{base}/{name}"),
    }
}

/// Set by the test command: the SFTP and S3 servers must be there, so a missing one fails
/// the run instead of skipping tests.
pub const REQUIRE_SERVICES_VAR: &str = "FERRY_REQUIRE_TEST_SERVICES";

/// The values of the named variables describing a test server, or `None` (after saying so)
/// when the server was not started; panics instead when the test command requires it.
///
/// # Panics
/// When a variable is missing and [`REQUIRE_SERVICES_VAR`] is set.
pub fn service(vars: &[&str]) -> Option<Vec<String>> {
    let values: Option<Vec<String>> = vars
        .iter()
        .map(|v| std::env::var(v).ok().filter(|s| !s.is_empty()))
        .collect();
    if values.is_none() {
        assert!(
            std::env::var(REQUIRE_SERVICES_VAR).is_err(),
            "{vars:?} are not set although {REQUIRE_SERVICES_VAR} is: start the test servers (.ci/test does)"
        );
        eprintln!("skipped: {vars:?} not set (run through .ci/test to start the test servers)");
    }
    values
}

/// Connector services over the built-in catalog with a fresh key; local files go to `landing`.
pub fn connectors(landing: &std::path::Path) -> crate::connections::Connectors {
    crate::connections::Connectors {
        catalog: std::sync::Arc::new(crate::catalog::Catalog::built_in()),
        key: crate::secrets::SecretKey::generate(),
        probe: crate::connections::probe::ProbeSettings {
            landing_root: landing.to_path_buf(),
            timeout: std::time::Duration::from_secs(5),
        },
    }
}

/// Queues a scheduled run of a dataflow's segment for `slot`, as the scheduler would, so a test
/// can line up many due slots at once.
///
/// # Panics
/// When the row cannot be inserted: the test cannot run.
pub async fn queue_scheduled_run(
    db: &DatabaseConnection,
    dataflow_id: i32,
    segment_id: i32,
    slot: chrono::DateTime<chrono::Utc>,
) {
    use sea_orm::{ActiveModelTrait, Set};
    crate::entities::dataflow_run::ActiveModel {
        public_id: Set(uuid::Uuid::new_v4().to_string()),
        dataflow_id: Set(dataflow_id),
        segment_id: Set(segment_id),
        slot: Set(slot),
        trigger: Set("scheduled".into()),
        status: Set("queued".into()),
        attempt: Set(0),
        excluded: Set("{}".into()),
        failed: Set("{}".into()),
        files: Set("[]".into()),
        created_at: Set(chrono::Utc::now()),
        ..Default::default()
    }
    .insert(db)
    .await
    .expect("queue a run");
}

#[cfg(test)]
mod tests {
    use super::with_database;

    #[test]
    fn with_database_swaps_only_the_path() {
        assert_eq!(
            with_database("postgres://p@127.0.0.1:5433/postgres", "t1"),
            "postgres://p@127.0.0.1:5433/t1"
        );
        assert_eq!(
            with_database("postgres://127.0.0.1:5433", "t1"),
            "postgres://127.0.0.1:5433/t1"
        );
        assert_eq!(
            with_database("postgres://h/db?sslmode=disable", "t1"),
            "postgres://h/t1?sslmode=disable"
        );
    }
}
