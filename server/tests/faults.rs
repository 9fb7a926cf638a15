//! Faults during exports, against the real server binary: killed with SIGKILL in the middle of
//! a run (held mid-delivery) and restarted, the run is taken over when its lease expires and the
//! landing zone ends with exactly one complete file for the slot and no temporary file.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use domain::activation::{Activation, ExportMode, MappingRow, SegmentSchedule, SourceKind};
use domain::catalog::spec::{Hashing, Schedule};
use domain::connections::accounts::{self, AccountInput};
use domain::connections::dataflows::{self, ConnectionInput};

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// Starts `server serve` on the data folder with `env` on top (no `DATABASE_URL` unless given:
/// the SQLite file in the data folder).
fn start(data: &Path, env: &[(&str, &str)]) -> Child {
    Command::new(env!("CARGO_BIN_EXE_server"))
        .arg("serve")
        .env_remove("DATABASE_URL")
        .env("FERRY_DATA_DIR", data)
        .env("LEPTOS_SITE_ADDR", format!("127.0.0.1:{}", free_port()))
        .env("RUST_LOG", "warn")
        .envs(env.iter().copied())
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap()
}

/// A Local folder account and a dataflow writing into `folder`, with `segment_name` activated
/// daily under `file_name` (first slot a month away, so only queued runs run), mapping `fields`
/// as (source, target). Returns the dataflow's public id and the segment.
async fn local_dataflow(
    db: &domain::db::DatabaseConnection,
    c: &domain::connections::Connectors,
    folder: &str,
    segment_name: &str,
    file_name: &str,
    fields: &[(&str, &str)],
) -> (String, domain::entities::segment::Model) {
    let account = accounts::create(
        db,
        c,
        &AccountInput {
            destination_id: "local_folder".into(),
            name: format!("Landing for {folder}"),
            values: Default::default(),
            clear: BTreeSet::new(),
        },
        None,
    )
    .await
    .unwrap();
    let flow = dataflows::create(
        db,
        c,
        &ConnectionInput {
            destination_id: "local_folder".into(),
            account_id: account.public_id,
            name: format!("Export to {folder}"),
            description: String::new(),
            params: [("folder".to_owned(), folder.to_owned())].into(),
            marketing_actions: vec![],
        },
        None,
    )
    .await
    .unwrap();
    let listed = domain::segments::service::list(db)
        .await
        .unwrap()
        .into_iter()
        .find(|s| s.name == segment_name)
        .unwrap();
    domain::activation::save(
        db,
        c,
        &flow.public_id,
        &Activation {
            segments: vec![SegmentSchedule {
                segment_id: listed.public_id.clone(),
                schedule: Schedule::Daily,
                mode: ExportMode::Full,
                time: Some("23:59".into()),
                after_evaluation: false,
                start_date: chrono::Utc::now().date_naive() + chrono::Duration::days(30),
                end_date: None,
                file_name: file_name.into(),
            }],
            mapping: fields
                .iter()
                .map(|(source, target)| MappingRow {
                    kind: SourceKind::Field,
                    source: (*source).into(),
                    target: (*target).into(),
                    mandatory: false,
                    dedup_key: false,
                    transformation: Hashing::None,
                })
                .collect(),
        },
        true,
    )
    .await
    .unwrap();
    let segment = domain::segments::service::find(db, &listed.public_id)
        .await
        .unwrap();
    (flow.public_id, segment)
}

fn files_under(root: &Path) -> Vec<PathBuf> {
    let mut found = Vec::new();
    if let Ok(entries) = std::fs::read_dir(root) {
        for entry in entries.flatten() {
            let path = entry.path();
            if path.is_dir() {
                found.extend(files_under(&path));
            } else {
                found.push(path);
            }
        }
    }
    found
}

#[tokio::test(flavor = "multi_thread")]
async fn a_run_killed_mid_export_is_retried_and_leaves_one_complete_file() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    std::fs::create_dir_all(&data).unwrap();
    // The database, as the server will open it, with enough members for a run of some seconds.
    let url = domain::db::sqlite_file_url(&data.join("ferry.db"));
    let db = domain::db::connect(&url).await.unwrap();
    domain::db::migrate(&db).await.unwrap();
    domain::profiles::demo::load(&db, 20_000, domain::profiles::demo::DEFAULT_SEED)
        .await
        .unwrap();
    let key = domain::secrets::SecretKey::load_or_create(&data.join("secret.key")).unwrap();
    let mut c = domain::testing::connectors(&data.join("landing"));
    c.key = key;
    let (flow, segment) = local_dataflow(
        &db,
        &c,
        "exports",
        "Lapsed repeat buyers",
        "lapsed_{datetime}",
        &[
            ("person.name.firstName", "first_name"),
            ("loyalty.points", "points"),
        ],
    )
    .await;
    let run = domain::export::runs::enqueue_manual(&db, &flow, None)
        .await
        .unwrap()
        .remove(0);

    // The export reads 20,000 profiles in a fraction of a second: to kill it mid-run for sure,
    // its temporary file in the landing zone is a named pipe, so delivery blocks on it until
    // the process dies.
    let spec = c.spec("local_folder").unwrap().clone();
    let base = domain::activation::render_file_name(
        "lapsed_{datetime}",
        &spec.name,
        &segment.public_id,
        &segment.name,
        &flow,
        run.slot,
        "x",
    );
    let exports = data.join("landing").join("exports");
    std::fs::create_dir_all(&exports).unwrap();
    let pipe = exports.join(format!(".{}.csv.part", base.trim_end_matches(".x")));
    let made = Command::new("mkfifo").arg(&pipe).status().unwrap();
    assert!(made.success(), "mkfifo {}", pipe.display());

    // Start, wait until the run has read its members and is delivering, kill it hard.
    let mut server = start(
        &data,
        &[
            ("FERRY_EXPORT_WORKERS", "1"),
            ("FERRY_RUN_LEASE_SECONDS", "2"),
        ],
    );
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let now = domain::export::runs::find(&db, &run.public_id)
            .await
            .unwrap();
        if now.status == "running" && now.received > 1000 {
            break;
        }
        assert!(
            now.status != "success" && now.status != "failed",
            "the run ended before it could be interrupted: {now:?}"
        );
        assert!(Instant::now() < deadline, "the run never started: {now:?}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    server.kill().unwrap();
    server.wait().unwrap();
    let interrupted = domain::export::runs::find(&db, &run.public_id)
        .await
        .unwrap();
    assert_eq!(
        interrupted.status, "running",
        "a killed worker cannot have finished it"
    );

    // Restart without the pipe: once the lease expires the run is taken over and completes.
    std::fs::remove_file(&pipe).unwrap();
    let mut server = start(
        &data,
        &[
            ("FERRY_EXPORT_WORKERS", "1"),
            ("FERRY_RUN_LEASE_SECONDS", "2"),
        ],
    );
    let deadline = Instant::now() + Duration::from_secs(90);
    let finished = loop {
        let now = domain::export::runs::find(&db, &run.public_id)
            .await
            .unwrap();
        if now.status == "success" || now.status == "failed" {
            break now;
        }
        assert!(
            Instant::now() < deadline,
            "the run was not retried: {now:?}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    server.kill().unwrap();
    server.wait().unwrap();
    assert_eq!(finished.status, "success", "{:?}", finished.error);
    assert!(finished.attempt >= 2, "attempt {}", finished.attempt);

    let files = files_under(&data.join("landing"));
    let names: Vec<String> = files
        .iter()
        .map(|p| p.file_name().unwrap().to_string_lossy().into_owned())
        .collect();
    assert_eq!(
        names.iter().filter(|n| n.ends_with(".csv")).count(),
        1,
        "{names:?}"
    );
    assert_eq!(
        names
            .iter()
            .filter(|n| n.ends_with(".manifest.json"))
            .count(),
        1,
        "{names:?}"
    );
    assert!(!names.iter().any(|n| n.contains(".part")), "{names:?}");
    let csv = files
        .iter()
        .find(|p| p.extension().is_some_and(|e| e == "csv"))
        .unwrap();
    let rows = std::fs::read_to_string(csv).unwrap().lines().count() - 1;
    assert_eq!(rows as i64, finished.activated);
    assert!(rows > 1000, "{rows}");
}

#[tokio::test(flavor = "multi_thread")]
async fn two_server_processes_on_one_postgres_run_every_slot_exactly_once() {
    let Some(t) = domain::testing::postgres().await else {
        eprintln!("skipped: no PostgreSQL for tests (FERRY_TEST_POSTGRES_URL)");
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let landing = dir.path().join("landing");
    let db = &t.db;
    domain::profiles::demo::load(db, 80, domain::profiles::demo::DEFAULT_SEED)
        .await
        .unwrap();
    let key = domain::secrets::SecretKey::generate();
    let mut c = domain::testing::connectors(&landing);
    c.key = domain::secrets::SecretKey::from_base64(&key.to_base64()).unwrap();
    let (flow, segment) = local_dataflow(
        db,
        &c,
        "shared",
        "Gold and platinum members",
        "gold_{datetime}",
        &[("person.name.firstName", "first_name")],
    )
    .await;
    // Twenty due slots, queued before either process starts.
    let flow_row = domain::activation::find_dataflow(db, &flow).await.unwrap();
    for hour in 0..20 {
        domain::testing::queue_scheduled_run(
            db,
            flow_row.id,
            segment.id,
            chrono::Utc::now() - chrono::Duration::hours(hour),
        )
        .await;
    }

    let (a, b) = (dir.path().join("a"), dir.path().join("b"));
    std::fs::create_dir_all(&a).unwrap();
    std::fs::create_dir_all(&b).unwrap();
    let key = key.to_base64();
    let shared = [
        ("DATABASE_URL", t.url.as_str()),
        ("FERRY_LANDING_ZONE", landing.to_str().unwrap()),
        ("FERRY_SECRET_KEY", key.as_str()),
        ("FERRY_EXPORT_WORKERS", "2"),
    ];
    let mut first = start(&a, &shared);
    let mut second = start(&b, &shared);
    let deadline = Instant::now() + Duration::from_secs(120);
    let runs = loop {
        let runs = domain::export::runs::list(db, flow_row.id, 100)
            .await
            .unwrap();
        if runs
            .iter()
            .all(|r| r.status == "success" || r.status == "failed")
        {
            break runs;
        }
        assert!(
            Instant::now() < deadline,
            "runs unfinished: {:?}",
            runs.iter().map(|r| &r.status).collect::<Vec<_>>()
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    // Both processes were serving throughout (neither gave up at start-up).
    assert!(
        first.try_wait().unwrap().is_none(),
        "the first server exited"
    );
    assert!(
        second.try_wait().unwrap().is_none(),
        "the second server exited"
    );
    first.kill().unwrap();
    second.kill().unwrap();
    first.wait().unwrap();
    second.wait().unwrap();
    assert_eq!(runs.len(), 20);
    assert!(
        runs.iter().all(|r| r.status == "success" && r.attempt == 1),
        "every slot ran once: {:?}",
        runs.iter()
            .map(|r| (&r.status, r.attempt, &r.error))
            .collect::<Vec<_>>()
    );
    let csvs = files_under(&landing)
        .into_iter()
        .filter(|p| p.extension().is_some_and(|e| e == "csv"))
        .count();
    assert_eq!(csvs, 20, "one file per slot");
}
