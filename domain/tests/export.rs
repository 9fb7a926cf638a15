//! The export engine end to end: runs claimed exactly once, files written to a landing zone, a
//! real sshd, a real S3-compatible server and Azurite (Azure Blob), read back and checked against
//! the mapping; gzip read back by an independent reader; incremental files; deduplication;
//! splitting.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use chrono::{Duration, Utc};
use domain::activation::{self, Activation, ExportMode, MappingRow, SegmentSchedule, SourceKind};
use domain::catalog::spec::{Hashing, Schedule};
use domain::connections::Connectors;
use domain::connections::accounts;
use domain::export::{runner, runs};
use domain::testing;

#[path = "support/azure_sdk.rs"]
mod azure_sdk;
#[path = "support/gcs_xml_api.rs"]
mod gcs_xml_api;

struct Flow {
    db: testing::TestDb,
    c: Connectors,
    landing: tempfile::TempDir,
    flow: String,
    segment: String,
}

async fn connect(
    db: testing::TestDb,
    c: Connectors,
    landing: tempfile::TempDir,
    destination: &str,
    account: &[(&str, &str)],
    params: &[(&str, &str)],
) -> Flow {
    let flow = testing::create_dataflow(
        &db.db,
        &c,
        destination,
        account,
        params,
        &["email_targeting"],
    )
    .await;
    let segment = domain::segments::service::list(&db.db)
        .await
        .unwrap()
        .into_iter()
        .find(|s| s.name == "Gold and platinum members")
        .unwrap()
        .public_id;
    Flow {
        db,
        c,
        landing,
        flow: flow.public_id,
        segment,
    }
}

async fn demo(profiles: u64) -> (testing::TestDb, Connectors, tempfile::TempDir) {
    let db = testing::sqlite().await;
    domain::profiles::demo::load(&db.db, profiles, domain::profiles::demo::DEFAULT_SEED)
        .await
        .unwrap();
    let landing = tempfile::tempdir().unwrap();
    let c = testing::connectors(landing.path());
    (db, c, landing)
}

fn mapping() -> Vec<MappingRow> {
    vec![
        MappingRow {
            kind: SourceKind::Identity,
            source: "Email".into(),
            target: "email".into(),
            mandatory: true,
            dedup_key: true,
            transformation: Hashing::None,
        },
        MappingRow {
            kind: SourceKind::Field,
            source: "person.name.firstName".into(),
            target: "first_name".into(),
            mandatory: false,
            dedup_key: false,
            transformation: Hashing::None,
        },
        MappingRow {
            kind: SourceKind::Field,
            source: "loyalty.tier".into(),
            target: "tier".into(),
            mandatory: false,
            dedup_key: false,
            transformation: Hashing::None,
        },
    ]
}

async fn activate(f: &Flow, mode: ExportMode, schedule: Schedule, mapping: Vec<MappingRow>) {
    let input = Activation {
        segments: vec![SegmentSchedule {
            segment_id: f.segment.clone(),
            schedule,
            mode,
            time: Some("09:00".into()),
            after_evaluation: false,
            start_date: Utc::now().date_naive(),
            end_date: None,
            file_name: "gold_{segment_id}_{datetime}".into(),
        }],
        mapping,
    };
    activation::save(&f.db.db, &f.c, &f.flow, &input, true)
        .await
        .unwrap();
}

/// Runs every queued run with one worker; returns the finished runs, oldest first.
async fn run_all(f: &Flow) -> Vec<domain::entities::dataflow_run::Model> {
    while let Some(run) = runs::claim(&f.db.db, "test-worker", Duration::seconds(60), Utc::now())
        .await
        .unwrap()
    {
        runner::run_claimed(&f.db.db, &f.c, run, "test-worker", Duration::seconds(60))
            .await
            .unwrap();
    }
    let flow = activation::find_dataflow(&f.db.db, &f.flow).await.unwrap();
    let mut all = runs::list(&f.db.db, flow.id, 100).await.unwrap();
    all.reverse();
    all
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
    found.sort();
    found
}

async fn expected_members(f: &Flow) -> usize {
    // Members with an email and email consent: what the export should contain.
    let members = domain::segments::service::sample_members(&f.db.db, &f.segment, 100_000)
        .await
        .unwrap();
    members
        .iter()
        .filter(|p| {
            p.identities.iter().any(|(ns, _)| ns == "Email")
                && p.attributes
                    .pointer("/consents/marketing/email/val")
                    .and_then(|v| v.as_str())
                    == Some("y")
        })
        .count()
}

#[tokio::test]
async fn a_run_writes_one_complete_csv_per_slot_with_a_manifest() {
    let (db, c, landing) = demo(400).await;
    let f = connect(
        db,
        c,
        landing,
        "local_folder",
        &[],
        &[("folder", "exports/{destination}"), ("csv_delimiter", ";")],
    )
    .await;
    activate(&f, ExportMode::Full, Schedule::Daily, mapping()).await;
    let queued = runs::enqueue_manual(&f.db.db, &f.flow, None).await.unwrap();
    assert_eq!(queued.len(), 1);
    let done = run_all(&f).await;
    assert_eq!(done.len(), 1);
    let run = &done[0];
    assert_eq!(run.status, "success", "{:?}", run.error);
    assert_eq!(run.attempt, 1);

    let files = files_under(f.landing.path());
    let names: Vec<String> = files
        .iter()
        .map(|p| {
            p.strip_prefix(f.landing.path())
                .unwrap()
                .display()
                .to_string()
        })
        .collect();
    assert_eq!(names.len(), 2, "{names:?}");
    assert!(
        names
            .iter()
            .all(|n| n.starts_with("exports/Local_folder__landing_zone_/gold_")),
        "{names:?}"
    );
    assert!(!names.iter().any(|n| n.contains(".part")), "{names:?}");
    let csv_path = files
        .iter()
        .find(|p| p.extension().is_some_and(|e| e == "csv"))
        .unwrap();
    let text = std::fs::read_to_string(csv_path).unwrap();
    let mut lines = text.lines();
    assert_eq!(lines.next(), Some("email;first_name;tier"));
    let rows: Vec<&str> = lines.collect();
    assert_eq!(rows.len(), expected_members(&f).await);
    assert_eq!(rows.len() as i64, run.activated);
    for row in &rows {
        let cells: Vec<&str> = row.split(';').collect();
        assert!(cells[0].contains('@'), "{row}");
        assert!(cells[2] == "gold" || cells[2] == "platinum", "{row}");
    }
    let excluded: BTreeMap<String, i64> = serde_json::from_str(&run.excluded).unwrap();
    assert_eq!(run.received, run.activated + excluded.values().sum::<i64>());
    assert!(
        excluded.get(runner::NO_CONSENT).copied().unwrap_or(0) > 0,
        "{excluded:?}"
    );

    // The manifest names the file with its rows, size and checksum.
    let manifest_path = files
        .iter()
        .find(|p| p.to_string_lossy().ends_with(".manifest.json"))
        .unwrap();
    let manifest: serde_json::Value =
        serde_json::from_slice(&std::fs::read(manifest_path).unwrap()).unwrap();
    let bytes = std::fs::read(csv_path).unwrap();
    use sha2::Digest;
    assert_eq!(
        manifest["files"][0]["sha256"],
        format!("{:x}", sha2::Sha256::digest(&bytes))
    );
    assert_eq!(manifest["files"][0]["bytes"], bytes.len());
    assert_eq!(manifest["files"][0]["rows"], rows.len());

    // "Why was this profile not exported?"
    let members = domain::segments::service::sample_members(&f.db.db, &f.segment, 100_000)
        .await
        .unwrap();
    let refused = members
        .iter()
        .find(|p| {
            p.attributes
                .pointer("/consents/marketing/email/val")
                .and_then(|v| v.as_str())
                != Some("y")
                && p.identities.iter().any(|(ns, _)| ns == "CRMID")
        })
        .unwrap();
    let crm = refused
        .identities
        .iter()
        .find(|(ns, _)| ns == "CRMID")
        .unwrap()
        .1
        .clone();
    let answer = runs::why_excluded(&f.db.db, run, "CRMID", &crm)
        .await
        .unwrap();
    assert_eq!(
        answer,
        runs::Explanation::Excluded(runner::NO_CONSENT.into())
    );
}

#[tokio::test]
async fn a_policy_label_added_after_activation_blocks_the_run_and_counts_its_members() {
    let (db, c, landing) = demo(200).await;
    let f = connect(db, c, landing, "local_folder", &[], &[]).await;
    activate(&f, ExportMode::Full, Schedule::Daily, mapping()).await;
    // The mapped loyalty.tier is labelled C2 (no email targeting) after the activation.
    domain::profiles::schema::set_labels(&f.db.db, "loyalty.tier", &["C2".into()])
        .await
        .unwrap();
    runs::enqueue_manual(&f.db.db, &f.flow, None).await.unwrap();
    let run = run_all(&f).await.pop().unwrap();
    assert_eq!(run.status, "failed");
    let error = run.error.clone().unwrap();
    assert!(error.contains("labelled C2"), "{error}");
    let members = domain::segments::service::sample_members(&f.db.db, &f.segment, 100_000)
        .await
        .unwrap();
    assert!(!members.is_empty());
    let excluded: std::collections::BTreeMap<String, i64> =
        serde_json::from_str(&run.excluded).unwrap();
    assert_eq!(excluded.get(runner::POLICY), Some(&(members.len() as i64)));
    assert_eq!(run.received, members.len() as i64);
    assert_eq!(run.activated, 0);
    assert!(
        files_under(f.landing.path()).is_empty(),
        "nothing is delivered"
    );
    let (namespace, value) = members[0].identities[0].clone();
    let answer = runs::why_excluded(&f.db.db, &run, &namespace, &value)
        .await
        .unwrap();
    assert_eq!(answer, runs::Explanation::Excluded(runner::POLICY.into()));
}

#[tokio::test]
async fn the_scheduler_creates_each_slot_once_and_a_lost_lease_is_retried() {
    let (db, c, landing) = demo(100).await;
    let f = connect(db, c, landing, "local_folder", &[], &[]).await;
    activate(&f, ExportMode::Full, Schedule::Daily, mapping()).await;
    // Today's 09:00 slot is due only after 09:00 and after activation: ask for tomorrow noon.
    let later = Utc::now() + Duration::days(1);
    let noon = later.date_naive().and_hms_opt(12, 0, 0).unwrap().and_utc();
    assert_eq!(runs::enqueue_due(&f.db.db, noon).await.unwrap(), 1);
    assert_eq!(
        runs::enqueue_due(&f.db.db, noon).await.unwrap(),
        0,
        "the same slot twice"
    );
    // Two workers race: one claim each at most.
    let (a, b) = tokio::join!(
        runs::claim(&f.db.db, "worker-a", Duration::seconds(30), Utc::now()),
        runs::claim(&f.db.db, "worker-b", Duration::seconds(30), Utc::now()),
    );
    let claimed: Vec<_> = [a.unwrap(), b.unwrap()].into_iter().flatten().collect();
    assert_eq!(claimed.len(), 1);
    // The worker dies; once its lease expires another takes the run over.
    assert!(
        runs::claim(&f.db.db, "worker-c", Duration::seconds(30), Utc::now())
            .await
            .unwrap()
            .is_none()
    );
    let retaken = runs::claim(
        &f.db.db,
        "worker-c",
        Duration::seconds(30),
        Utc::now() + Duration::seconds(31),
    )
    .await
    .unwrap()
    .unwrap();
    assert_eq!(retaken.id, claimed[0].id);
    assert_eq!(retaken.attempt, 2);
    runner::run_claimed(&f.db.db, &f.c, retaken, "worker-c", Duration::seconds(30))
        .await
        .unwrap();
    let run = runs::find(&f.db.db, &claimed[0].public_id).await.unwrap();
    assert_eq!(run.status, "success");
    // The dead worker cannot finish it any more.
    assert!(
        !runs::renew(
            &f.db.db,
            run.id,
            &claimed[0].lease_owner.clone().unwrap(),
            Utc::now()
        )
        .await
        .unwrap()
    );
}

#[tokio::test]
async fn gzip_json_lines_read_back_with_an_independent_reader() {
    let (db, c, landing) = demo(200).await;
    let f = connect(
        db,
        c,
        landing,
        "local_folder",
        &[],
        &[("format", "jsonl"), ("compression", "gzip")],
    )
    .await;
    activate(&f, ExportMode::Full, Schedule::Daily, mapping()).await;
    runs::enqueue_manual(&f.db.db, &f.flow, None).await.unwrap();
    let run = run_all(&f).await.pop().unwrap();
    assert_eq!(run.status, "success", "{:?}", run.error);
    let file = files_under(f.landing.path())
        .into_iter()
        .find(|p| p.to_string_lossy().ends_with(".jsonl.gz"))
        .unwrap();
    // Python's gzip module, not the crate that wrote it.
    let output = std::process::Command::new("python3")
        .args([
            "-c",
            "import gzip,sys; sys.stdout.write(gzip.open(sys.argv[1], 'rt').read())",
        ])
        .arg(&file)
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let text = String::from_utf8(output.stdout).unwrap();
    let records: Vec<serde_json::Value> = text
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(records.len() as i64, run.activated);
    assert!(
        records
            .iter()
            .all(|r| r["email"].as_str().is_some_and(|e| e.contains('@')))
    );
}

#[tokio::test]
async fn incremental_files_carry_exactly_who_entered_and_who_left() {
    let (db, c, landing) = demo(300).await;
    let f = connect(db, c, landing, "local_folder", &[], &[]).await;
    activate(&f, ExportMode::Incremental, Schedule::Daily, mapping()).await;
    runs::enqueue_manual(&f.db.db, &f.flow, None).await.unwrap();
    let first = run_all(&f).await.pop().unwrap();
    assert_eq!(first.status, "success", "{:?}", first.error);
    assert_eq!(
        first.activated as usize,
        expected_members(&f).await,
        "the first incremental is a backfill"
    );

    // Two members leave the segment, one joins; re-evaluate.
    tokio::time::sleep(std::time::Duration::from_millis(1100)).await;
    let members = domain::segments::service::sample_members(&f.db.db, &f.segment, 100_000)
        .await
        .unwrap();
    let consenting = |p: &domain::profiles::store::StoredProfile| {
        p.attributes
            .pointer("/consents/marketing/email/val")
            .and_then(|v| v.as_str())
            == Some("y")
            && p.identities.iter().any(|(ns, _)| ns == "Email")
    };
    let leaving: Vec<i64> = members
        .iter()
        .filter(|p| consenting(p))
        .take(2)
        .map(|p| p.id)
        .collect();
    let backend = f.db.db.get_database_backend();
    use sea_orm::ConnectionTrait;
    for id in &leaving {
        f.db.db.execute_raw(sea_orm::Statement::from_sql_and_values(backend,
            r#"UPDATE profiles SET attributes = json_set(attributes, '$.loyalty.tier', 'bronze') WHERE id = ?"#, [(*id).into()])).await.unwrap();
        f.db.db
            .execute_raw(sea_orm::Statement::from_sql_and_values(
                backend,
                r#"UPDATE profiles SET attributes_jsonb = jsonb(attributes) WHERE id = ?"#,
                [(*id).into()],
            ))
            .await
            .ok();
    }
    domain::segments::service::evaluate(&f.db.db, &f.segment, Utc::now())
        .await
        .unwrap();
    runs::enqueue_manual(&f.db.db, &f.flow, None).await.unwrap();
    let second = run_all(&f).await.pop().unwrap();
    assert_eq!(second.status, "success", "{:?}", second.error);
    let file = files_under(f.landing.path())
        .into_iter()
        .filter(|p| p.extension().is_some_and(|e| e == "csv"))
        .max_by_key(|p| std::fs::metadata(p).unwrap().modified().unwrap())
        .unwrap();
    let text = std::fs::read_to_string(&file).unwrap();
    let mut lines = text.lines();
    assert_eq!(
        lines.next(),
        Some("email,first_name,tier,segment_membership_status")
    );
    let rows: Vec<&str> = lines.collect();
    assert_eq!(rows.len(), 2, "{text}");
    assert!(rows.iter().all(|r| r.ends_with(",exited")), "{text}");
}

#[tokio::test]
async fn deduplication_keeps_the_latest_record_per_key() {
    let (db, c, landing) = demo(300).await;
    let f = connect(db, c, landing, "local_folder", &[], &[]).await;
    let by_tier = vec![
        MappingRow {
            kind: SourceKind::Field,
            source: "loyalty.tier".into(),
            target: "tier".into(),
            mandatory: true,
            dedup_key: true,
            transformation: Hashing::None,
        },
        MappingRow {
            kind: SourceKind::Field,
            source: "person.name.firstName".into(),
            target: "first_name".into(),
            mandatory: false,
            dedup_key: false,
            transformation: Hashing::None,
        },
    ];
    activate(&f, ExportMode::Full, Schedule::Daily, by_tier).await;
    runs::enqueue_manual(&f.db.db, &f.flow, None).await.unwrap();
    let run = run_all(&f).await.pop().unwrap();
    assert_eq!(run.status, "success", "{:?}", run.error);
    assert_eq!(run.activated, 2, "one row for gold, one for platinum");
    let excluded: BTreeMap<String, i64> = serde_json::from_str(&run.excluded).unwrap();
    assert!(excluded[runner::DUPLICATE] > 0);
}

#[tokio::test]
async fn exports_land_on_a_real_sshd() {
    let Some(server) = testing::service(&[
        "FERRY_TEST_SFTP_HOST",
        "FERRY_TEST_SFTP_PORT",
        "FERRY_TEST_SFTP_USER",
        "FERRY_TEST_SFTP_KEY",
        "FERRY_TEST_SFTP_FOLDER",
    ]) else {
        return;
    };
    let [host, port, user, key_file, folder] = &server[..] else {
        unreachable!()
    };
    let key = std::fs::read_to_string(key_file).unwrap();
    let (db, c, landing) = demo(200).await;
    let unique = format!("run-{}", uuid::Uuid::new_v4().simple());
    let f = connect(
        db,
        c,
        landing,
        "sftp",
        &[
            ("host", host),
            ("port", port),
            ("username", user),
            ("private_key", &key),
            ("base_folder", folder),
        ],
        &[("folder", &format!("{unique}/{{destination}}"))],
    )
    .await;
    activate(&f, ExportMode::Full, Schedule::Daily, mapping()).await;
    runs::enqueue_manual(&f.db.db, &f.flow, None).await.unwrap();
    let run = run_all(&f).await.pop().unwrap();
    assert_eq!(run.status, "success", "{:?}", run.error);
    let files = files_under(&Path::new(folder).join(&unique));
    assert_eq!(files.len(), 2, "{files:?}");
    let csv = files
        .iter()
        .find(|p| p.extension().is_some_and(|e| e == "csv"))
        .unwrap();
    let text = std::fs::read_to_string(csv).unwrap();
    assert_eq!(text.lines().next(), Some("email,first_name,tier"));
    assert_eq!(text.lines().count() as i64 - 1, run.activated);
}

#[tokio::test]
async fn exports_land_on_a_real_s3_server() {
    let Some(server) = testing::service(&[
        "FERRY_TEST_S3_ENDPOINT",
        "FERRY_TEST_S3_ACCESS_KEY",
        "FERRY_TEST_S3_SECRET_KEY",
        "FERRY_TEST_S3_BUCKET",
        "FERRY_TEST_S3_ROOT",
    ]) else {
        return;
    };
    let [endpoint, access, secret, bucket, root] = &server[..] else {
        unreachable!()
    };
    let (db, c, landing) = demo(200).await;
    let unique = format!("run-{}", uuid::Uuid::new_v4().simple());
    let f = connect(
        db,
        c,
        landing,
        "amazon_s3",
        &[
            ("access_key_id", access),
            ("secret_access_key", secret),
            ("bucket", bucket),
            ("endpoint", endpoint),
        ],
        &[("folder", &unique), ("compression", "gzip")],
    )
    .await;
    activate(&f, ExportMode::Full, Schedule::Daily, mapping()).await;
    runs::enqueue_manual(&f.db.db, &f.flow, None).await.unwrap();
    let run = run_all(&f).await.pop().unwrap();
    assert_eq!(run.status, "success", "{:?}", run.error);
    let files = files_under(&Path::new(root).join(bucket).join(&unique));
    let gz = files
        .iter()
        .find(|p| p.to_string_lossy().ends_with(".csv.gz"))
        .expect("the export object");
    let output = std::process::Command::new("python3")
        .args([
            "-c",
            "import gzip,sys; sys.stdout.write(gzip.open(sys.argv[1], 'rt').read())",
        ])
        .arg(gz)
        .output()
        .unwrap();
    let text = String::from_utf8(output.stdout).unwrap();
    assert_eq!(text.lines().count() as i64 - 1, run.activated);
}

/// Checks what one full run left in an object store, as read back by an independent client
/// (`objects`: name → content under the run's folder): the CSV with the mapping's header and a
/// row per activated member, and a manifest that names it with its size and checksum.
async fn assert_one_csv_and_manifest(
    f: &Flow,
    run: &domain::entities::dataflow_run::Model,
    objects: &BTreeMap<String, Vec<u8>>,
) {
    use sha2::Digest;
    let names: Vec<&String> = objects.keys().collect();
    assert_eq!(names.len(), 2, "a file and its manifest: {names:?}");
    let (csv_name, csv) = objects
        .iter()
        .find(|(name, _)| name.ends_with(".csv"))
        .unwrap_or_else(|| panic!("no CSV among {names:?}"));
    let text = std::str::from_utf8(csv).unwrap();
    let mut lines = text.lines();
    assert_eq!(lines.next(), Some("email,first_name,tier"));
    let rows = lines.count();
    assert_eq!(rows, expected_members(f).await);
    assert_eq!(rows as i64, run.activated);
    let manifest = objects
        .iter()
        .find(|(name, _)| name.ends_with(".manifest.json"))
        .unwrap_or_else(|| panic!("no manifest among {names:?}"))
        .1;
    let manifest: serde_json::Value = serde_json::from_slice(manifest).unwrap();
    let file = &manifest["files"][0];
    assert!(
        csv_name.ends_with(file["name"].as_str().unwrap()),
        "{csv_name} vs {file}"
    );
    assert_eq!(file["bytes"], csv.len());
    assert_eq!(file["rows"], rows);
    assert_eq!(file["sha256"], format!("{:x}", sha2::Sha256::digest(csv)));
}

#[tokio::test]
async fn exports_land_on_a_real_azure_blob_server() {
    let Some(server) = testing::service(&[
        "FERRY_TEST_AZURE_CONNECTION_STRING",
        "FERRY_TEST_AZURE_CONTAINER",
        "FERRY_TEST_PYTHON",
    ]) else {
        return;
    };
    let [connection, container, python] = &server[..] else {
        unreachable!()
    };
    let (db, c, landing) = demo(200).await;
    let unique = format!("run-{}", uuid::Uuid::new_v4().simple());
    let f = connect(
        db,
        c,
        landing,
        "azure_blob",
        &[("connection_string", connection), ("container", container)],
        &[("folder", &unique)],
    )
    .await;
    activate(&f, ExportMode::Full, Schedule::Daily, mapping()).await;
    runs::enqueue_manual(&f.db.db, &f.flow, None).await.unwrap();
    let run = run_all(&f).await.pop().unwrap();
    assert_eq!(run.status, "success", "{:?}", run.error);
    let blobs = azure_sdk::blobs(python, connection, container, &format!("{unique}/"));
    assert_one_csv_and_manifest(&f, &run, &blobs).await;
}

/// Account fields as the transport takes them.
fn credentials(fields: &[(&str, &str)]) -> BTreeMap<String, String> {
    fields
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect()
}

/// A 25 MiB file of seeded random bytes in `folder` — above object_store's 10 MiB buffer, so it
/// goes up in parts — and its content.
fn large_file(folder: &Path, seed: u64) -> (PathBuf, Vec<u8>) {
    use rand::{RngCore, SeedableRng};
    let path = folder.join("big.csv");
    let mut content = vec![0u8; 25 * 1024 * 1024];
    rand_chacha::ChaCha8Rng::seed_from_u64(seed).fill_bytes(&mut content);
    std::fs::write(&path, &content).unwrap();
    (path, content)
}

/// Delivers `local` as `remote` through the export transport of `destination`.
async fn deliver(
    c: &Connectors,
    destination: &str,
    credentials: &BTreeMap<String, String>,
    local: &Path,
    remote: &str,
) {
    let spec = c.catalog.get(destination).unwrap();
    let mut target = domain::export::transport::open(spec, credentials, None, &c.probe)
        .await
        .unwrap();
    target
        .put(local, remote)
        .await
        .unwrap_or_else(|e| panic!("{destination}: {e}"));
    target.close().await;
}

/// A Google service-account key that points object_store at `url` without OAuth, as a key for a
/// test endpoint can.
fn gcs_test_key(url: &str) -> String {
    serde_json::json!({
        "gcs_base_url": url,
        "disable_oauth": true,
        "client_email": "",
        "private_key": "",
        "private_key_id": "",
    })
    .to_string()
}

/// Against a stand-in for GCS's XML API (a mock: see `support/gcs_xml_api.rs` for why).
#[tokio::test]
async fn exports_land_on_google_cloud_storage_through_its_xml_api() {
    let gcs = gcs_xml_api::start(&["ferry-test-bucket"]);
    let (db, c, landing) = demo(200).await;
    let f = connect(
        db,
        c,
        landing,
        "google_cloud_storage",
        &[
            ("service_account_json", &gcs_test_key(&gcs.url)),
            ("bucket", "ferry-test-bucket"),
        ],
        &[("folder", "exports/{destination}")],
    )
    .await;
    activate(&f, ExportMode::Full, Schedule::Daily, mapping()).await;
    runs::enqueue_manual(&f.db.db, &f.flow, None).await.unwrap();
    let run = run_all(&f).await.pop().unwrap();
    assert_eq!(run.status, "success", "{:?}", run.error);
    let objects = gcs.objects_under("ferry-test-bucket", "exports/");
    assert!(
        objects
            .keys()
            .all(|name| name.starts_with("exports/Google_Cloud_Storage/gold_")),
        "{:?}",
        objects.keys()
    );
    assert_one_csv_and_manifest(&f, &run, &objects).await;

    // A bucket the account does not reach: the run fails and says so.
    let (db, c, landing) = demo(50).await;
    let f = connect(
        db,
        c,
        landing,
        "google_cloud_storage",
        &[
            ("service_account_json", &gcs_test_key(&gcs.url)),
            ("bucket", "no-such-bucket"),
        ],
        &[],
    )
    .await;
    activate(&f, ExportMode::Full, Schedule::Daily, mapping()).await;
    runs::enqueue_manual(&f.db.db, &f.flow, None).await.unwrap();
    let run = run_all(&f).await.pop().unwrap();
    assert_eq!(run.status, "failed");
    let error = run.error.unwrap_or_default();
    assert!(error.contains("NoSuchBucket"), "{error}");
}

/// A 25 MiB file goes to GCS as an XML multipart upload: initiated, sent in parts, completed,
/// and whole at the end (against the stand-in for GCS's XML API).
#[tokio::test]
async fn large_files_reach_google_cloud_storage_through_a_multipart_upload() {
    use sha2::Digest;
    let gcs = gcs_xml_api::start(&["ferry-test-bucket"]);
    let work = tempfile::tempdir().unwrap();
    let (local, content) = large_file(work.path(), 26);
    let c = testing::connectors(work.path());
    let key = gcs_test_key(&gcs.url);
    let account = credentials(&[
        ("service_account_json", &key),
        ("bucket", "ferry-test-bucket"),
    ]);
    deliver(
        &c,
        "google_cloud_storage",
        &account,
        &local,
        "large/big.csv",
    )
    .await;

    let landed = gcs
        .objects_under("ferry-test-bucket", "large/big.csv")
        .remove("large/big.csv")
        .expect("the object");
    assert_eq!(landed.len(), content.len());
    assert_eq!(
        sha2::Sha256::digest(&landed),
        sha2::Sha256::digest(&content)
    );
    let requests = gcs.state.lock().unwrap().requests.clone();
    let parts = requests
        .iter()
        .filter(|r| r.starts_with("PUT ") && r.contains("partNumber="))
        .count();
    assert!(
        requests
            .iter()
            .any(|r| r.starts_with("POST ") && r.ends_with("?uploads=")),
        "{requests:?}"
    );
    assert!(parts >= 3, "{requests:?}");
}

/// Files above object_store's 10 MiB buffer go up as multipart uploads (S3 parts, Azure blocks)
/// committed at the end; a 25 MiB file must arrive byte for byte on both stores.
#[tokio::test]
async fn large_files_reach_the_object_stores_whole_through_multipart_uploads() {
    use sha2::Digest;
    let Some(server) = testing::service(&[
        "FERRY_TEST_S3_ENDPOINT",
        "FERRY_TEST_S3_ACCESS_KEY",
        "FERRY_TEST_S3_SECRET_KEY",
        "FERRY_TEST_S3_BUCKET",
        "FERRY_TEST_S3_ROOT",
        "FERRY_TEST_AZURE_CONNECTION_STRING",
        "FERRY_TEST_AZURE_CONTAINER",
        "FERRY_TEST_PYTHON",
    ]) else {
        return;
    };
    let [
        s3_endpoint,
        s3_access,
        s3_secret,
        s3_bucket,
        s3_root,
        azure_connection,
        container,
        python,
    ] = &server[..]
    else {
        unreachable!()
    };
    let work = tempfile::tempdir().unwrap();
    let (local, content) = large_file(work.path(), 25);
    let expected = format!("{:x}", sha2::Sha256::digest(&content));
    let c = testing::connectors(work.path());
    let remote = format!("large-{}/big.csv", uuid::Uuid::new_v4().simple());
    let s3_account = credentials(&[
        ("access_key_id", s3_access),
        ("secret_access_key", s3_secret),
        ("bucket", s3_bucket),
        ("endpoint", s3_endpoint),
    ]);
    deliver(&c, "amazon_s3", &s3_account, &local, &remote).await;
    let azure_account = credentials(&[
        ("connection_string", azure_connection),
        ("container", container),
    ]);
    deliver(&c, "azure_blob", &azure_account, &local, &remote).await;

    let s3 = std::fs::read(Path::new(s3_root).join(s3_bucket).join(&remote)).unwrap();
    let azure = azure_sdk::blobs(python, azure_connection, container, &remote).remove(&remote);
    // Azure keeps the blocks a blob was committed from: more than one means it went in parts.
    let blocks = azure_sdk::committed_blocks(python, azure_connection, container, &remote);
    assert!(
        blocks > 1,
        "the Azure blob was not uploaded in blocks ({blocks})"
    );
    for (store, landed) in [("S3", Some(s3)), ("Azure Blob", azure)] {
        let landed = landed.unwrap_or_else(|| panic!("{store}: nothing at {remote}"));
        assert_eq!(landed.len(), content.len(), "{store}");
        assert_eq!(
            format!("{:x}", sha2::Sha256::digest(&landed)),
            expected,
            "{store}"
        );
    }
}

#[tokio::test]
async fn parquet_files_read_back_with_pyarrow() {
    let Some(python) = testing::service(&["FERRY_TEST_PYTHON"]) else {
        return;
    };
    let (db, c, landing) = demo(300).await;
    let f = connect(
        db,
        c,
        landing,
        "local_folder",
        &[],
        &[("format", "parquet")],
    )
    .await;
    activate(&f, ExportMode::Full, Schedule::Daily, mapping()).await;
    runs::enqueue_manual(&f.db.db, &f.flow, None).await.unwrap();
    let run = run_all(&f).await.pop().unwrap();
    assert_eq!(run.status, "success", "{:?}", run.error);
    let file = files_under(f.landing.path())
        .into_iter()
        .find(|p| p.extension().is_some_and(|e| e == "parquet"))
        .unwrap();
    // pyarrow, an independent reader: the columns of the mapping, one row per activated member.
    let script = "import pyarrow.parquet as pq, json, sys; t = pq.read_table(sys.argv[1]); \
                  print(json.dumps({'rows': t.num_rows, 'columns': t.column_names, 'emails': t.column('email').to_pylist()}))";
    let output = std::process::Command::new(&python[0])
        .args(["-c", script])
        .arg(&file)
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let read: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(read["rows"], run.activated);
    assert_eq!(
        read["columns"],
        serde_json::json!(["email", "first_name", "tier"])
    );
    assert!(
        read["emails"]
            .as_array()
            .unwrap()
            .iter()
            .all(|e| e.as_str().is_some_and(|e| e.contains('@')))
    );
}

/// Many due runs, two worker pools on separate connections (as two server processes would
/// have) racing for them: each run is exported exactly once.
#[tokio::test]
async fn two_worker_pools_export_every_run_exactly_once() {
    for t in testing::all().await {
        domain::profiles::demo::load(&t.db, 60, domain::profiles::demo::DEFAULT_SEED)
            .await
            .unwrap();
        let landing = tempfile::tempdir().unwrap();
        let c = testing::connectors(landing.path());
        let second = domain::db::connect(&t.url).await.unwrap();
        let label = t.label;
        let f = connect(
            t,
            c.clone(),
            landing,
            "local_folder",
            &[],
            &[("folder", "{dataflow_id}")],
        )
        .await;
        activate(&f, ExportMode::Full, Schedule::Daily, mapping()).await;
        // Twelve runs for twelve different slots.
        let flow = activation::find_dataflow(&f.db.db, &f.flow).await.unwrap();
        let segment = domain::segments::service::find(&f.db.db, &f.segment)
            .await
            .unwrap();
        for hour in 0..12 {
            testing::queue_scheduled_run(
                &f.db.db,
                flow.id,
                segment.id,
                Utc::now() - Duration::hours(hour),
            )
            .await;
        }
        let work = |db: domain::db::DatabaseConnection, c: Connectors, owner: &'static str| async move {
            let mut done = 0;
            while let Some(run) = runs::claim(&db, owner, Duration::seconds(60), Utc::now())
                .await
                .unwrap()
            {
                runner::run_claimed(&db, &c, run, owner, Duration::seconds(60))
                    .await
                    .unwrap();
                done += 1;
            }
            done
        };
        let (a, b) = tokio::join!(
            work(f.db.db.clone(), f.c.clone(), "process-a"),
            work(second, f.c.clone(), "process-b")
        );
        assert_eq!(a + b, 12, "{label}: {a} + {b}");
        let all = runs::list(&f.db.db, flow.id, 100).await.unwrap();
        assert!(
            all.iter().all(|r| r.status == "success" && r.attempt == 1),
            "{label}: {:?}",
            all.iter()
                .map(|r| (&r.status, r.attempt))
                .collect::<Vec<_>>()
        );
        // Twelve slots, twelve CSV files (names derive from the slot's time).
        let csvs = files_under(f.landing.path())
            .into_iter()
            .filter(|p| p.extension().is_some_and(|e| e == "csv"))
            .count();
        assert_eq!(csvs, 12, "{label}");
    }
}

/// Starts a private sshd accepting the test key, for a test that stops it.
fn own_sshd(key_file: &str) -> Option<(std::process::Child, u16, tempfile::TempDir)> {
    let dir = tempfile::tempdir().unwrap();
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let host_key = dir.path().join("host_key");
    let status = std::process::Command::new("ssh-keygen")
        .args(["-q", "-t", "ed25519", "-N", "", "-f"])
        .arg(&host_key)
        .status()
        .ok()?;
    assert!(status.success());
    std::fs::copy(
        format!("{key_file}.pub"),
        dir.path().join("authorized_keys"),
    )
    .unwrap();
    let config = dir.path().join("sshd_config");
    std::fs::write(&config, format!(
        "Port {port}\nListenAddress 127.0.0.1\nHostKey {}\nPidFile {}\nAuthorizedKeysFile {}\nStrictModes no\nUsePAM no\nPermitRootLogin yes\nSubsystem sftp internal-sftp\nLogLevel ERROR\n",
        host_key.display(), dir.path().join("pid").display(), dir.path().join("authorized_keys").display()
    )).unwrap();
    let child = std::process::Command::new("/usr/sbin/sshd")
        .args(["-D", "-f"])
        .arg(&config)
        .spawn()
        .ok()?;
    for _ in 0..50 {
        if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
            return Some((child, port, dir));
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    None
}

/// `profiles` demo profiles and an SFTP dataflow to the sshd at `port` (or a relay to it) as
/// `user`, its account tested so the host key is pinned.
async fn sftp_flow(profiles: u64, port: u16, user: &str, key_file: &str, base: &str) -> Flow {
    let key = std::fs::read_to_string(key_file).unwrap();
    let (db, c, landing) = demo(profiles).await;
    let f = connect(
        db,
        c,
        landing,
        "sftp",
        &[
            ("host", "127.0.0.1"),
            ("port", &port.to_string()),
            ("username", user),
            ("private_key", &key),
            ("base_folder", base),
        ],
        &[],
    )
    .await;
    let flow = activation::find_dataflow(&f.db.db, &f.flow).await.unwrap();
    use sea_orm::EntityTrait;
    let account = domain::entities::account::Entity::find_by_id(flow.account_id)
        .one(&f.db.db)
        .await
        .unwrap()
        .unwrap();
    let tested = accounts::test(&f.db.db, &f.c, &account.public_id)
        .await
        .unwrap();
    assert!(tested.succeeded(), "{tested:?}");
    f
}

#[tokio::test]
async fn a_stopped_sshd_fails_the_run_with_a_clear_reason_after_retries() {
    let Some(server) = testing::service(&[
        "FERRY_TEST_SFTP_USER",
        "FERRY_TEST_SFTP_KEY",
        "FERRY_TEST_SFTP_FOLDER",
    ]) else {
        return;
    };
    let [user, key_file, folder] = &server[..] else {
        unreachable!()
    };
    let (mut sshd, port, _dir) = own_sshd(key_file).expect("a private sshd");
    let f = sftp_flow(100, port, user, key_file, folder).await;
    activate(&f, ExportMode::Full, Schedule::Daily, mapping()).await;
    sshd.kill().unwrap();
    sshd.wait().unwrap();
    runs::enqueue_manual(&f.db.db, &f.flow, None).await.unwrap();
    let run = run_all(&f).await.pop().unwrap();
    assert_eq!(run.status, "failed");
    let error = run.error.unwrap();
    assert!(
        error.starts_with("cannot reach the destination after 3 attempts: Network error"),
        "{error}"
    );
}

/// A TCP relay to `target` that passes the client's bytes at `bytes_per_second`, so an upload
/// takes seconds. The SSH session runs end to end through it; it only paces the bytes.
async fn slow_relay(target: u16, bytes_per_second: f64) -> u16 {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    tokio::spawn(async move {
        while let Ok((client, _)) = listener.accept().await {
            tokio::spawn(async move {
                let Ok(server) = tokio::net::TcpStream::connect(("127.0.0.1", target)).await else {
                    return;
                };
                let (mut client_in, mut client_out) = client.into_split();
                let (mut server_in, mut server_out) = server.into_split();
                let up = async {
                    let mut buffer = [0u8; 1024];
                    while let Ok(n) = client_in.read(&mut buffer).await {
                        if n == 0 || server_out.write_all(&buffer[..n]).await.is_err() {
                            break;
                        }
                        tokio::time::sleep(std::time::Duration::from_secs_f64(
                            n as f64 / bytes_per_second,
                        ))
                        .await;
                    }
                    let _ = server_out.shutdown().await;
                };
                let down = async {
                    let _ = tokio::io::copy(&mut server_in, &mut client_out).await;
                    let _ = client_out.shutdown().await;
                };
                tokio::join!(up, down);
            });
        }
    });
    port
}

/// Kills a process and every process below it (sshd's per-connection sessions included).
fn kill_tree(root: u32) {
    let parent_of = |pid: u32| -> Option<u32> {
        let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
        // The command name is in parentheses and may hold spaces; the parent follows the state.
        let after = stat.rsplit_once(')')?.1;
        after.split_whitespace().nth(1)?.parse().ok()
    };
    let mut tree = vec![root];
    let mut grew = true;
    while grew {
        grew = false;
        for entry in std::fs::read_dir("/proc").unwrap().flatten() {
            let Some(pid) = entry
                .file_name()
                .to_str()
                .and_then(|n| n.parse::<u32>().ok())
            else {
                continue;
            };
            if !tree.contains(&pid) && parent_of(pid).is_some_and(|p| tree.contains(&p)) {
                tree.push(pid);
                grew = true;
            }
        }
    }
    for pid in tree {
        let _ = std::process::Command::new("kill")
            .args(["-9", &pid.to_string()])
            .status();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sshd_stopped_in_the_middle_of_an_upload_fails_the_run_after_retries_and_leaves_no_file() {
    let Some(server) = testing::service(&[
        "FERRY_TEST_SFTP_USER",
        "FERRY_TEST_SFTP_KEY",
        "FERRY_TEST_SFTP_FOLDER",
    ]) else {
        return;
    };
    let [user, key_file, folder] = &server[..] else {
        unreachable!()
    };
    let (mut sshd, sshd_port, _dir) = own_sshd(key_file).expect("a private sshd");
    // 8 KB/s: the file of a few tens of kilobytes takes seconds to upload.
    let port = slow_relay(sshd_port, 8_000.0).await;
    let base = format!("{folder}/mid-upload-{}", uuid::Uuid::new_v4());
    std::fs::create_dir_all(&base).unwrap();
    let f = sftp_flow(2_000, port, user, key_file, &base).await;
    activate(&f, ExportMode::Full, Schedule::Daily, mapping()).await;
    runs::enqueue_manual(&f.db.db, &f.flow, None).await.unwrap();
    let run = tokio::spawn(async move {
        let run = run_all(&f).await.pop().unwrap();
        (run, f)
    });
    // The upload has begun once its temporary file exists on the server: stop sshd then.
    let started = std::time::Instant::now();
    let temporary = loop {
        let found = files_under(Path::new(&base)).into_iter().find(|p| {
            p.file_name()
                .is_some_and(|n| n.to_string_lossy().ends_with(".csv.part"))
        });
        if let Some(found) = found {
            break found;
        }
        assert!(
            started.elapsed() < std::time::Duration::from_secs(60),
            "the upload never started"
        );
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    };
    kill_tree(sshd.id());
    let _ = sshd.wait();
    let uploaded = std::fs::metadata(&temporary).map_or(0, |m| m.len());
    let (run, f) = run.await.unwrap();
    assert_eq!(run.status, "failed");
    let error = run.error.unwrap();
    assert!(
        error.starts_with("cannot deliver ") && error.contains("after 3 attempts"),
        "{error}"
    );
    // The file was cut mid-way and never appears under its own name.
    let delivered: Vec<PathBuf> = files_under(Path::new(&base))
        .into_iter()
        .filter(|p| !p.to_string_lossy().ends_with(".part"))
        .collect();
    assert!(delivered.is_empty(), "{delivered:?}");
    let size = expected_members(&f).await * 20;
    assert!(
        (uploaded as usize) < size,
        "the upload was cut short: {uploaded} of at least {size} bytes"
    );
}

/// A loopback HTTP server that answers 200 and records request bodies.
fn webhook() -> (String, std::sync::Arc<std::sync::Mutex<Vec<String>>>) {
    use std::io::{Read, Write};
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}/hook", listener.local_addr().unwrap());
    let seen = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let record = seen.clone();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let mut stream = stream.unwrap();
            let mut data = Vec::new();
            let mut buffer = [0u8; 4096];
            // Read headers and the announced body.
            loop {
                let n = stream.read(&mut buffer).unwrap_or(0);
                data.extend_from_slice(&buffer[..n]);
                let text = String::from_utf8_lossy(&data).to_string();
                if let Some((head, body)) = text.split_once("\r\n\r\n") {
                    let length = head
                        .lines()
                        .find_map(|l| {
                            l.to_lowercase()
                                .strip_prefix("content-length:")
                                .map(|v| v.trim().parse::<usize>().unwrap_or(0))
                        })
                        .unwrap_or(0);
                    if body.len() >= length {
                        record.lock().unwrap().push(body.to_owned());
                        break;
                    }
                }
                if n == 0 {
                    break;
                }
            }
            let _ = write!(
                stream,
                "HTTP/1.1 200 OK\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
            );
        }
    });
    (url, seen)
}

#[tokio::test]
async fn alerts_notify_in_the_app_and_post_to_the_webhook() {
    use domain::export::alerts::{self, Settings};
    let (db, c, landing) = demo(100).await;
    let f = connect(db, c, landing, "local_folder", &[], &[]).await;
    activate(&f, ExportMode::Full, Schedule::Daily, mapping()).await;
    let (url, seen) = webhook();
    assert!(matches!(
        alerts::set(
            &f.db.db,
            &f.flow,
            &Settings {
                webhook_url: Some("ftp://x".into()),
                ..Default::default()
            }
        )
        .await,
        Err(domain::Error::Invalid(_))
    ));
    alerts::set(
        &f.db.db,
        &f.flow,
        &Settings {
            on_failure: true,
            on_success: true,
            on_delay: true,
            delay_minutes: 30,
            webhook_url: Some(url),
        },
    )
    .await
    .unwrap();

    runs::enqueue_manual(&f.db.db, &f.flow, None).await.unwrap();
    let run = run_all(&f).await.pop().unwrap();
    assert_eq!(run.status, "success");
    let notes = alerts::recent(&f.db.db, 10).await.unwrap();
    assert_eq!(notes.len(), 1);
    assert_eq!(notes[0].0.kind, "success");
    assert!(
        notes[0].0.message.contains("identities activated"),
        "{}",
        notes[0].0.message
    );
    let posted: serde_json::Value = serde_json::from_str(&seen.lock().unwrap()[0]).unwrap();
    assert_eq!(posted["kind"], "success");
    assert_eq!(posted["run"], run.public_id);

    // A run 45 minutes past its slot and still queued is late — reported once.
    let flow = activation::find_dataflow(&f.db.db, &f.flow).await.unwrap();
    let segment = domain::segments::service::find(&f.db.db, &f.segment)
        .await
        .unwrap();
    testing::queue_scheduled_run(
        &f.db.db,
        flow.id,
        segment.id,
        Utc::now() - Duration::minutes(45),
    )
    .await;
    assert_eq!(alerts::check_delays(&f.db.db, Utc::now()).await.unwrap(), 1);
    assert_eq!(alerts::check_delays(&f.db.db, Utc::now()).await.unwrap(), 0);
    let notes = alerts::recent(&f.db.db, 10).await.unwrap();
    assert_eq!(notes[0].0.kind, "delay");
    assert!(
        notes[0].0.message.contains("is late"),
        "{}",
        notes[0].0.message
    );

    // A failure: the account's landing zone cannot be written.
    let blocked = tempfile::NamedTempFile::new().unwrap();
    let mut broken = f.c.clone();
    broken.probe.landing_root = blocked.path().join("under-a-file");
    // Finish the late run by running it against the broken destination.
    let run = runs::claim(&f.db.db, "w", Duration::seconds(60), Utc::now())
        .await
        .unwrap()
        .unwrap();
    runner::run_claimed(&f.db.db, &broken, run, "w", Duration::seconds(60))
        .await
        .unwrap();
    let notes = alerts::recent(&f.db.db, 10).await.unwrap();
    assert_eq!(notes[0].0.kind, "failure", "{notes:?}");
    assert_eq!(seen.lock().unwrap().len(), 3);
}

#[tokio::test]
async fn files_split_at_the_specs_row_limit() {
    let (db, mut c, landing) = demo(300).await;
    // The Local folder spec with a limit of 20 rows per file.
    let sources: Vec<(String, String)> = domain::catalog::BUILT_IN
        .iter()
        .map(|(file, text)| {
            let text = if *file == "local_folder.toml" {
                text.replace("[files]\n", "[files]\nmax_rows_per_file = 20\n")
            } else {
                (*text).to_owned()
            };
            ((*file).to_owned(), text)
        })
        .collect();
    c.catalog = std::sync::Arc::new(
        domain::catalog::Catalog::from_sources(&sources, &BTreeMap::new(), vec![]).unwrap(),
    );
    let f = connect(db, c, landing, "local_folder", &[], &[]).await;
    activate(&f, ExportMode::Full, Schedule::Daily, mapping()).await;
    runs::enqueue_manual(&f.db.db, &f.flow, None).await.unwrap();
    let run = run_all(&f).await.pop().unwrap();
    assert_eq!(run.status, "success", "{:?}", run.error);
    let recorded: Vec<runs::FileRecord> = serde_json::from_str(&run.files).unwrap();
    let expected_parts = (run.activated as usize).div_ceil(20);
    assert!(expected_parts >= 2, "{} rows", run.activated);
    assert_eq!(recorded.len(), expected_parts);
    let base = recorded[0].name.trim_end_matches(".csv").to_owned();
    for (i, file) in recorded.iter().enumerate() {
        let name = if i == 0 {
            format!("{base}.csv")
        } else {
            format!("{base}_{}.csv", i + 1)
        };
        assert_eq!(file.name, name);
        let path = files_under(f.landing.path())
            .into_iter()
            .find(|p| {
                p.file_name()
                    .is_some_and(|n| n.to_string_lossy() == file.name)
            })
            .unwrap();
        let text = std::fs::read_to_string(path).unwrap();
        // Every part has the header and at most 20 rows.
        assert_eq!(text.lines().next(), Some("email,first_name,tier"));
        assert_eq!(text.lines().count() as u64 - 1, file.rows);
        assert!(file.rows <= 20);
    }
    assert_eq!(
        recorded.iter().map(|f| f.rows as i64).sum::<i64>(),
        run.activated
    );
}

/// Reads a local-folder CSV export (comma, header) into rows of cells.
fn read_csv_rows(path: &Path) -> (Vec<String>, Vec<Vec<String>>) {
    let mut reader = csv::Reader::from_path(path).unwrap();
    let header = reader
        .headers()
        .unwrap()
        .iter()
        .map(str::to_owned)
        .collect();
    let rows = reader
        .records()
        .map(|r| r.unwrap().iter().map(str::to_owned).collect())
        .collect();
    (header, rows)
}

#[tokio::test]
async fn exported_values_are_exactly_what_the_dry_run_shows_on_every_backend() {
    use domain::entities::{profile, profile_identity};
    use sea_orm::{ActiveModelTrait, EntityTrait, IntoActiveModel, Set};
    for t in testing::all().await {
        let label = t.label;
        domain::profiles::demo::load(&t.db, 150, domain::profiles::demo::DEFAULT_SEED)
            .await
            .unwrap();
        let landing = tempfile::tempdir().unwrap();
        let c = testing::connectors(landing.path());
        let f = connect(t, c, landing, "local_folder", &[], &[("folder", "out")]).await;
        // A member with hostile text, a fractional number and a second, lower email.
        let member = domain::segments::service::sample_members(&f.db.db, &f.segment, 1_000)
            .await
            .unwrap()
            .into_iter()
            .find(|p| {
                p.identities.iter().any(|(ns, _)| ns == "Email")
                    && p.attributes.pointer("/consents/marketing/email/val")
                        == Some(&serde_json::json!("y"))
            })
            .expect("a consenting member with an email");
        let mut attributes = member.attributes.clone();
        attributes["person"]["name"]["firstName"] = serde_json::json!("Zoë \"Z\", ;\nnext");
        attributes["loyalty"]["points"] = serde_json::json!(12.5);
        let mut row = profile::Entity::find_by_id(member.id)
            .one(&f.db.db)
            .await
            .unwrap()
            .unwrap()
            .into_active_model();
        row.attributes = Set(attributes);
        row.update(&f.db.db).await.unwrap();
        profile_identity::ActiveModel {
            namespace: Set("Email".into()),
            value: Set("0000-first@example.com".into()),
            profile_id: Set(member.id),
        }
        .insert(&f.db.db)
        .await
        .unwrap();

        let mut mapping = mapping();
        mapping.push(MappingRow {
            kind: SourceKind::Field,
            source: "loyalty.points".into(),
            target: "points".into(),
            mandatory: false,
            dedup_key: false,
            transformation: Hashing::None,
        });
        mapping.push(MappingRow {
            kind: SourceKind::Identity,
            source: "CRMID".into(),
            target: "crm_id".into(),
            mandatory: true,
            dedup_key: true,
            transformation: Hashing::Sha256Hex,
        });
        activate(&f, ExportMode::Full, Schedule::Daily, mapping.clone()).await;
        runs::enqueue_manual(&f.db.db, &f.flow, None).await.unwrap();
        let run = run_all(&f).await.pop().unwrap();
        assert_eq!(run.status, "success", "{label}: {:?}", run.error);

        // What the dry run's row builder makes of every member, from whole loaded profiles.
        let spec = f.c.spec("local_folder").unwrap().clone();
        let saved = activation::current(&f.db.db, &f.flow)
            .await
            .unwrap()
            .mapping;
        let mut expected: Vec<Vec<String>> =
            domain::segments::service::sample_members(&f.db.db, &f.segment, 100_000)
                .await
                .unwrap()
                .iter()
                .filter(|p| {
                    p.attributes.pointer("/consents/marketing/email/val")
                        == Some(&serde_json::json!("y"))
                })
                .filter_map(|p| domain::activation::review::row_for(&spec, &saved, p))
                .map(|row| {
                    row.into_iter()
                        .map(|(_, v)| v.unwrap_or_default())
                        .collect()
                })
                .collect();
        expected.sort();
        let csv = files_under(f.landing.path())
            .into_iter()
            .find(|p| p.extension().is_some_and(|e| e == "csv"))
            .unwrap();
        let (header, mut rows) = read_csv_rows(&csv);
        rows.sort();
        assert_eq!(
            header,
            ["email", "first_name", "tier", "points", "crm_id"],
            "{label}"
        );
        assert_eq!(rows, expected, "{label}");
        assert_eq!(run.activated as usize, rows.len(), "{label}");
        let edited = rows
            .iter()
            .find(|r| r[0] == "0000-first@example.com")
            .unwrap_or_else(|| panic!("{label}: the lowest email is the one exported"));
        assert_eq!(edited[1], "Zoë \"Z\", ;\nnext", "{label}");
        assert_eq!(edited[3], "12.5", "{label}");
        assert_eq!(edited[4].len(), 64, "{label}: CRMID hashed as SHA-256 hex");
    }
}

#[tokio::test]
async fn deduplication_keeps_the_latest_record_on_every_backend() {
    use domain::entities::profile;
    use sea_orm::{ActiveModelTrait, EntityTrait, IntoActiveModel, Set};
    for t in testing::all().await {
        let label = t.label;
        domain::profiles::demo::load(&t.db, 200, domain::profiles::demo::DEFAULT_SEED)
            .await
            .unwrap();
        let landing = tempfile::tempdir().unwrap();
        let c = testing::connectors(landing.path());
        let f = connect(t, c, landing, "local_folder", &[], &[("folder", "out")]).await;
        // Deduplicated by city: the most recently updated profile of each city wins.
        activate(
            &f,
            ExportMode::Full,
            Schedule::Daily,
            vec![by_city_field(), first_name_field()],
        )
        .await;
        let members = domain::segments::service::sample_members(&f.db.db, &f.segment, 100_000)
            .await
            .unwrap();
        let consenting: Vec<_> = members
            .iter()
            .filter(|p| {
                p.attributes.pointer("/consents/marketing/email/val")
                    == Some(&serde_json::json!("y"))
                    && p.attributes.pointer("/homeAddress/city").is_some()
            })
            .collect();
        // One member per city becomes the newest, with a name that says so.
        let mut cities: BTreeMap<String, i64> = BTreeMap::new();
        for p in &consenting {
            let city = p.attributes["homeAddress"]["city"]
                .as_str()
                .unwrap()
                .to_owned();
            cities.entry(city).or_insert(p.id);
        }
        for id in cities.values() {
            let row = profile::Entity::find_by_id(*id)
                .one(&f.db.db)
                .await
                .unwrap()
                .unwrap();
            let mut attributes = row.attributes.clone();
            attributes["person"]["name"]["firstName"] = serde_json::json!(format!("newest-{id}"));
            let mut active = row.into_active_model();
            active.attributes = Set(attributes);
            active.updated_at = Set(Utc::now() + Duration::seconds(60));
            active.update(&f.db.db).await.unwrap();
        }
        runs::enqueue_manual(&f.db.db, &f.flow, None).await.unwrap();
        let run = run_all(&f).await.pop().unwrap();
        assert_eq!(run.status, "success", "{label}: {:?}", run.error);
        let csv = files_under(f.landing.path())
            .into_iter()
            .find(|p| p.extension().is_some_and(|e| e == "csv"))
            .unwrap();
        let (_, rows) = read_csv_rows(&csv);
        assert_eq!(rows.len(), cities.len(), "{label}: one row per city");
        for row in &rows {
            assert_eq!(
                row[1],
                format!("newest-{}", cities[&row[0]]),
                "{label}: the latest record of {} wins",
                row[0]
            );
        }
        let excluded: BTreeMap<String, i64> = serde_json::from_str(&run.excluded).unwrap();
        assert_eq!(
            excluded.get(runner::DUPLICATE).copied().unwrap_or(0) as usize,
            consenting.len() - cities.len(),
            "{label}"
        );
    }
}

fn by_city_field() -> MappingRow {
    MappingRow {
        kind: SourceKind::Field,
        source: "homeAddress.city".into(),
        target: "city".into(),
        mandatory: true,
        dedup_key: true,
        transformation: Hashing::None,
    }
}

fn first_name_field() -> MappingRow {
    MappingRow {
        kind: SourceKind::Field,
        source: "person.name.firstName".into(),
        target: "first_name".into(),
        mandatory: false,
        dedup_key: false,
        transformation: Hashing::None,
    }
}
