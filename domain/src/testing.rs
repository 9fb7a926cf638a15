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
            retry_base: std::time::Duration::from_millis(20),
        },
    }
}

/// An account for `destination` with the given fields and a dataflow (named "Flow") on it with
/// the given parameters and marketing actions, as a user sets them up.
///
/// # Panics
/// When either is refused: the test cannot run.
pub async fn create_dataflow(
    db: &DatabaseConnection,
    connectors: &crate::connections::Connectors,
    destination: &str,
    account: &[(&str, &str)],
    params: &[(&str, &str)],
    actions: &[&str],
) -> crate::entities::dataflow::Model {
    use crate::connections::{accounts, dataflows};
    let pairs = |list: &[(&str, &str)]| {
        list.iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    };
    let created = accounts::create(
        db,
        connectors,
        &accounts::AccountInput {
            destination_id: destination.into(),
            name: "Account".into(),
            values: pairs(account),
            clear: std::collections::BTreeSet::new(),
        },
        None,
    )
    .await
    .expect("create the account");
    let flow = dataflows::create(
        db,
        connectors,
        &dataflows::ConnectionInput {
            destination_id: destination.into(),
            account_id: created.public_id,
            name: "Flow".into(),
            description: String::new(),
            params: pairs(params),
            marketing_actions: actions.iter().map(|a| (*a).to_owned()).collect(),
        },
        None,
    )
    .await
    .expect("create the dataflow");
    crate::activation::find_dataflow(db, &flow.public_id)
        .await
        .expect("the new dataflow")
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

/// A local HTTP server that records every request and answers from a script, for tests of
/// streaming destinations: 429 with `Retry-After`, 500, slow answers, per-record errors.
pub mod receiver {
    use std::collections::VecDeque;
    use std::sync::{Arc, Mutex};
    use std::time::{Duration, Instant};

    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    /// One request as received.
    #[derive(Debug, Clone)]
    pub struct Received {
        pub method: String,
        pub path: String,
        pub headers: Vec<(String, String)>,
        pub body: String,
        pub at: Instant,
    }

    impl Received {
        pub fn header(&self, name: &str) -> Option<&str> {
            self.headers
                .iter()
                .find(|(n, _)| n.eq_ignore_ascii_case(name))
                .map(|(_, v)| v.as_str())
        }

        pub fn json(&self) -> serde_json::Value {
            serde_json::from_str(&self.body).expect("a JSON body")
        }
    }

    /// How to answer one request.
    #[derive(Debug, Clone)]
    pub enum Reply {
        /// A status, extra headers and a body.
        Status(u16, Vec<(String, String)>, String),
        /// Wait this long, then answer 200.
        Slow(Duration),
    }

    impl Reply {
        pub fn status(code: u16) -> Self {
            Reply::Status(code, Vec::new(), "{}".into())
        }
        pub fn too_many(retry_after_seconds: u64) -> Self {
            Reply::Status(
                429,
                vec![("Retry-After".into(), retry_after_seconds.to_string())],
                r#"{"error": "slow down"}"#.into(),
            )
        }
        pub fn json(code: u16, body: serde_json::Value) -> Self {
            Reply::Status(code, Vec::new(), body.to_string())
        }
    }

    /// The running receiver; it stops with the test's runtime.
    #[derive(Clone)]
    pub struct Receiver {
        pub url: String,
        received: Arc<Mutex<Vec<Received>>>,
        script: Arc<Mutex<VecDeque<Reply>>>,
    }

    impl Receiver {
        /// Starts on a free loopback port. Requests beyond the script are answered 200 `{}`.
        ///
        /// # Panics
        /// When no port can be bound.
        pub async fn start() -> Self {
            let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
                .await
                .expect("bind a port");
            let url = format!("http://{}", listener.local_addr().expect("address"));
            let receiver = Self {
                url,
                received: Arc::default(),
                script: Arc::default(),
            };
            let shared = receiver.clone();
            tokio::spawn(async move {
                while let Ok((stream, _)) = listener.accept().await {
                    let shared = shared.clone();
                    tokio::spawn(async move { shared.serve(stream).await });
                }
            });
            receiver
        }

        /// Queues answers for the next requests, in order.
        pub fn script(&self, replies: impl IntoIterator<Item = Reply>) {
            self.script.lock().expect("script").extend(replies);
        }

        pub fn requests(&self) -> Vec<Received> {
            self.received.lock().expect("requests").clone()
        }

        async fn serve(&self, mut stream: tokio::net::TcpStream) {
            // One request per connection, answered with `Connection: close`.
            let mut data = Vec::new();
            let mut buffer = vec![0u8; 64 * 1024];
            let (head, body_start) = loop {
                let Ok(n) = stream.read(&mut buffer).await else {
                    return;
                };
                if n == 0 {
                    return;
                }
                data.extend_from_slice(&buffer[..n]);
                if let Some(at) = data.windows(4).position(|w| w == b"\r\n\r\n") {
                    break (String::from_utf8_lossy(&data[..at]).to_string(), at + 4);
                }
            };
            let mut lines = head.lines();
            let mut first = lines.next().unwrap_or_default().split_whitespace();
            let method = first.next().unwrap_or_default().to_owned();
            let path = first.next().unwrap_or_default().to_owned();
            let headers: Vec<(String, String)> = lines
                .filter_map(|l| l.split_once(':'))
                .map(|(n, v)| (n.trim().to_owned(), v.trim().to_owned()))
                .collect();
            let length = headers
                .iter()
                .find(|(n, _)| n.eq_ignore_ascii_case("content-length"))
                .and_then(|(_, v)| v.parse::<usize>().ok())
                .unwrap_or(0);
            let mut body = data[body_start..].to_vec();
            while body.len() < length {
                match stream.read(&mut buffer).await {
                    Ok(0) | Err(_) => return,
                    Ok(n) => body.extend_from_slice(&buffer[..n]),
                }
            }
            self.received.lock().expect("requests").push(Received {
                method,
                path,
                headers,
                body: String::from_utf8_lossy(&body).to_string(),
                at: Instant::now(),
            });
            let reply = self.script.lock().expect("script").pop_front();
            let (code, extra, text) = match reply {
                None => (200, Vec::new(), "{}".to_owned()),
                Some(Reply::Status(code, extra, text)) => (code, extra, text),
                Some(Reply::Slow(wait)) => {
                    tokio::time::sleep(wait).await;
                    (200, Vec::new(), "{}".to_owned())
                }
            };
            let mut response = format!(
                "HTTP/1.1 {code} X\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n",
                text.len()
            );
            for (name, value) in extra {
                response.push_str(&format!("{name}: {value}\r\n"));
            }
            response.push_str("\r\n");
            response.push_str(&text);
            let _ = stream.write_all(response.as_bytes()).await;
            let _ = stream.shutdown().await;
        }
    }
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
