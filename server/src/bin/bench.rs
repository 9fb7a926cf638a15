//! Benchmarks, run by hand: `cargo run --release --bin bench -- segments --profiles 1000000`,
//! `cargo run --release --bin bench -- export --rows 1000000` and
//! `cargo run --release --bin bench -- streaming --identities 1000000`.
//!
//! `streaming` loads N demo profiles into one segment (or reuses `--db`), then delivers it as a
//! segment export through the real run queue and streaming engine, emails normalised and
//! SHA-256 hashed, in batches of 10,000 to a local receiver (an HTTP server in this process
//! that counts what it gets). The bench destination's rate limit is set high so that the
//! engine, not a platform quota, is measured. The last line reads
//! `streaming: identities=<n> seconds=<s> per_second=<r>`.
//!
//! `export` loads N demo profiles into a fresh SQLite file, puts them all in one segment, and
//! exports it with 10 mapped columns to a landing zone as CSV, CSV+gzip and Parquet through the
//! real run queue and runner, then times the bare CSV writer on the same rows held in memory.
//! The last line reads
//! `export: rows=<n> csv_s=<s> gzip_s=<s> parquet_s=<s> bare_csv_s=<s> peak_rss_mb=<m>`, the
//! peak measured before the in-memory comparison loads every row.
//!
//! `segments` writes N generated profiles to a CSV file, imports it, and evaluates a
//! three-predicate segment twice (the first run realizes every member, the second finds no
//! change), on a fresh SQLite file or on the PostgreSQL database `DATABASE_URL` names (whose
//! profile tables must be empty). The last line reads
//! `segments: profiles=<n> import_s=<s> eval_s=<s> backend=<sqlite|postgres>`.

use std::time::Instant;

use clap::{Parser, Subcommand};
use domain::profiles::{demo, import, schema, store};
use domain::segments::service::{self, SegmentInput};

#[derive(Parser)]
#[command(name = "bench")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Import and segment evaluation at scale.
    Segments {
        #[arg(long, default_value_t = 1_000_000)]
        profiles: u64,
    },
    /// File exports of one large segment.
    Export {
        #[arg(long, default_value_t = 1_000_000)]
        rows: u64,
        /// A SQLite file to keep the loaded profiles in and reuse on the next run.
        #[arg(long)]
        db: Option<std::path::PathBuf>,
    },
    /// Streaming delivery of one large segment to a local receiver.
    Streaming {
        #[arg(long, default_value_t = 1_000_000)]
        identities: u64,
        /// A SQLite file to keep the loaded profiles in and reuse on the next run.
        #[arg(long)]
        db: Option<std::path::PathBuf>,
    },
    /// The measured part of `export`, run in a process of its own so that the peak memory it
    /// reports is the exports' alone, not what loading the profiles left behind.
    #[command(hide = true)]
    ExportMeasure {
        #[arg(long)]
        db: std::path::PathBuf,
        #[arg(long)]
        segment: String,
    },
}

/// The bench's segment-export destination: Meta's email rules, batches of 10,000, a rate limit
/// high enough not to be what is measured.
const STREAMING_SPEC: &str = r#"
id = "bench_audience"
name = "Bench audience"
description = "A segment export to the bench's local receiver."
category = "advertising"
type = "segment_export"
connection = "streaming"
transport = "http"
schedules = ["streaming"]
marketing_actions = ["export_to_third_party"]
min_identities = 1

[[identities]]
namespace = "Email"
target = "EMAIL"
normalize = "trim_lowercase"
hash = "sha256_hex"

[[credentials]]
key = "token"
label = "Token"
secret = true

[batching]
max_records = 10000
max_age_seconds = 60

[rate_limit]
requests_per_second = 1000
concurrency = 2
max_attempts = 3
retry_window_seconds = 60

[http]
base_url = "http://127.0.0.1"

[http.auth]
header = "Authorization"
value = "Bearer {{ account.token }}"

[http.auth_check]
method = "GET"
path = "/check"

[http.add]
method = "POST"
path = "/audiences/{{ segment.audience_id }}/users"
headers = { "Content-Type" = "application/json" }
body = """
{"payload": {"schema": {{ schema | tojson }}, "data": {{ records | map(attribute="values") | list | tojson }}}}
"""

[http.remove]
method = "DELETE"
path = "/audiences/{{ segment.audience_id }}/users"
headers = { "Content-Type" = "application/json" }
body = """
{"payload": {"schema": {{ schema | tojson }}, "data": {{ records | map(attribute="values") | list | tojson }}}}
"""
"#;

/// Streams a segment of `count` demo profiles to a receiver in this process.
async fn streaming(
    count: u64,
    keep: Option<std::path::PathBuf>,
) -> Result<(), Box<dyn std::error::Error>> {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicU64, Ordering};

    use domain::activation::{Activation, ExportMode, MappingRow, SegmentSchedule, SourceKind};
    use domain::catalog::spec::{Hashing, Schedule};
    use domain::connections::accounts::{self, AccountInput};
    use domain::connections::dataflows::{self, ConnectionInput};
    use domain::export::{runner, runs};

    let scratch = tempfile::tempdir()?;
    let (path, everyone) = everyone(count, keep, scratch.path()).await?;

    // The receiver: answers 200 and counts the records it is sent.
    let received = Arc::new(AtomicU64::new(0));
    let counter = received.clone();
    let app = axum::Router::new().fallback(move |body: axum::body::Bytes| {
        let counter = counter.clone();
        async move {
            let records = serde_json::from_slice::<serde_json::Value>(&body)
                .ok()
                .and_then(|v| {
                    v.pointer("/payload/data")
                        .and_then(|d| d.as_array())
                        .map(Vec::len)
                })
                .unwrap_or(0);
            counter.fetch_add(records as u64, Ordering::Relaxed);
            "{}"
        }
    });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let url = format!("http://{}", listener.local_addr()?);
    tokio::spawn(async move { axum::serve(listener, app).await });

    std::fs::write(scratch.path().join("bench_audience.toml"), STREAMING_SPEC)?;
    let catalog = domain::catalog::Catalog::load(
        Some(scratch.path()),
        &[("bench_audience".to_owned(), url)].into(),
    )
    .map_err(|errors| format!("{errors:?}"))?;
    let db = domain::db::connect(&domain::db::sqlite_file_url(&path)).await?;
    let connectors = domain::connections::Connectors {
        catalog: Arc::new(catalog),
        key: domain::secrets::SecretKey::generate(),
        probe: domain::connections::probe::ProbeSettings {
            landing_root: scratch.path().join("landing"),
            timeout: std::time::Duration::from_secs(60),
            retry_base: std::time::Duration::from_secs(1),
        },
    };
    let stamp = chrono::Utc::now().format("%Y%m%d%H%M%S");
    let account = accounts::create(
        &db,
        &connectors,
        &AccountInput {
            destination_id: "bench_audience".into(),
            name: format!("Bench {stamp}"),
            values: [("token".to_owned(), "bench-token".to_owned())].into(),
            clear: Default::default(),
        },
        None,
    )
    .await?;
    let flow = dataflows::create(
        &db,
        &connectors,
        &ConnectionInput {
            destination_id: "bench_audience".into(),
            account_id: account.public_id.clone(),
            name: format!("Bench streaming {stamp}"),
            description: String::new(),
            params: Default::default(),
            marketing_actions: vec!["export_to_third_party".into()],
        },
        None,
    )
    .await?;
    domain::activation::save(
        &db,
        &connectors,
        &flow.public_id,
        &Activation {
            segments: vec![SegmentSchedule {
                segment_id: everyone,
                schedule: Schedule::Streaming,
                mode: ExportMode::Streaming,
                time: None,
                after_evaluation: false,
                start_date: chrono::Utc::now().date_naive(),
                end_date: None,
                file_name: String::new(),
            }],
            mapping: vec![MappingRow {
                kind: SourceKind::Identity,
                source: "Email".into(),
                target: "EMAIL".into(),
                mandatory: false,
                dedup_key: false,
                transformation: Hashing::Sha256Hex,
            }],
        },
        true,
    )
    .await?;
    runs::enqueue_manual(&db, &flow.public_id, None).await?;
    let lease = chrono::Duration::seconds(600);
    let run = runs::claim(&db, "bench", lease, chrono::Utc::now())
        .await?
        .ok_or("no run to claim")?;
    let id = run.public_id.clone();
    let started = Instant::now();
    runner::run_claimed(&db, &connectors, run, "bench", lease).await?;
    let seconds = started.elapsed().as_secs_f64();
    let done = runs::find(&db, &id).await?;
    if done.status != "success" {
        return Err(format!("the run ended {}: {:?}", done.status, done.error).into());
    }
    let identities = done.activated;
    let got = received.load(Ordering::Relaxed);
    if u64::try_from(identities)? != got {
        return Err(format!("the run counts {identities} identities, the receiver {got}").into());
    }
    println!(
        "{} profiles received, {} identities sent, excluded {}",
        done.received, identities, done.excluded
    );
    println!(
        "streaming: identities={identities} seconds={seconds:.2} per_second={:.0}",
        identities as f64 / seconds
    );
    db.close().await?;
    Ok(())
}

/// The rule timed: three predicates over a text, a consent and a date field.
const RULE: &str = r#"loyalty.tier in ["gold", "platinum"] and consents.marketing.email.val = "y" and person.birthDate < now - 30y"#;

#[tokio::main]
async fn main() {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Segments { profiles } => segments(profiles).await,
        Command::Export { rows, db } => export(rows, db).await,
        Command::Streaming { identities, db } => streaming(identities, db).await,
        Command::ExportMeasure { db, segment } => export_measure(&db, &segment).await,
    };
    if let Err(error) = result {
        eprintln!("error: {error}");
        std::process::exit(1);
    }
}

async fn segments(count: u64) -> Result<(), Box<dyn std::error::Error>> {
    let scratch = tempfile::tempdir()?;
    let (url, backend) = match std::env::var("DATABASE_URL") {
        Ok(url) if url.starts_with("postgres") => (url, "postgres"),
        _ => (
            domain::db::sqlite_file_url(&scratch.path().join("bench.db")),
            "sqlite",
        ),
    };
    let db = domain::db::connect(&url).await?;
    domain::db::migrate(&db).await?;
    schema::ensure_catalog(&db).await?;
    if store::count(&db).await? > 0 {
        return Err(
            "the database already holds profiles; point DATABASE_URL at an empty one".into(),
        );
    }

    let csv_path = scratch.path().join("profiles.csv");
    let started = Instant::now();
    demo::write_csv(
        std::io::BufWriter::new(std::fs::File::create(&csv_path)?),
        demo::DEFAULT_SEED,
        count,
    )?;
    let size_mb = std::fs::metadata(&csv_path)?.len() as f64 / 1e6;
    println!(
        "generated {count} profiles as CSV ({size_mb:.0} MB) in {:.1} s",
        started.elapsed().as_secs_f64()
    );

    let catalog = schema::load(&db).await?;
    let options = import::Options {
        format: import::Format::Csv,
        key_namespace: "CRMID".into(),
        batch_size: 5000,
    };
    let started = Instant::now();
    let report = import::import(&db, catalog, std::fs::File::open(&csv_path)?, options).await?;
    let import_s = started.elapsed().as_secs_f64();
    println!(
        "imported {} rows: {} new, {} rejected, in {import_s:.2} s ({:.0} rows/s)",
        report.rows,
        report.inserted,
        report.rejected,
        report.rows as f64 / import_s
    );

    let segment = service::create(
        &db,
        &SegmentInput {
            name: "Bench: gold+ with email consent, over 30".into(),
            description: String::new(),
            rule: RULE.into(),
            schedule: "manual".into(),
        },
    )
    .await?;
    let started = Instant::now();
    let first = service::evaluate(&db, &segment.public_id, chrono::Utc::now()).await?;
    let eval_s = started.elapsed().as_secs_f64();
    println!(
        "evaluated {RULE:?}: {} members ({} entered) in {eval_s:.2} s",
        first.size, first.entered
    );
    let started = Instant::now();
    let second = service::evaluate(&db, &segment.public_id, chrono::Utc::now()).await?;
    println!(
        "re-evaluated with nothing changed: {} entered, {} exited in {:.2} s",
        second.entered,
        second.exited,
        started.elapsed().as_secs_f64()
    );
    println!(
        "segments: profiles={count} import_s={import_s:.2} eval_s={eval_s:.2} backend={backend}"
    );
    db.close().await?;
    Ok(())
}

/// The highest resident memory of this process so far, in MB (Linux).
fn peak_rss_mb() -> f64 {
    proc_status_mb("VmHWM:")
}

/// A memory figure of this process from /proc/self/status, in MB (Linux).
fn proc_status_mb(field: &str) -> f64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with(field))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|kb| kb.parse::<f64>().ok())
        })
        .map_or(0.0, |kb| kb / 1024.0)
}

const EXPORT_COLUMNS: [(&str, &str, &str); 10] = [
    ("identity", "CRMID", "crm_id"),
    ("identity", "Email", "email"),
    ("field", "person.name.firstName", "first_name"),
    ("field", "person.name.lastName", "last_name"),
    ("field", "homeAddress.city", "city"),
    ("field", "homeAddress.countryCode", "country"),
    ("field", "homeAddress.postalCode", "postal_code"),
    ("field", "loyalty.tier", "tier"),
    ("field", "loyalty.points", "points"),
    ("field", "commerce.orders", "orders"),
];

/// A SQLite file (kept at `keep`, else in `scratch`) holding `count` demo profiles, all in one
/// segment; returns the file and the segment's id.
async fn everyone(
    count: u64,
    keep: Option<std::path::PathBuf>,
    scratch: &std::path::Path,
) -> Result<(std::path::PathBuf, String), Box<dyn std::error::Error>> {
    use domain::entities::segment;
    use migrations::sea_orm::{ColumnTrait, EntityTrait, QueryFilter};

    let path = keep.unwrap_or_else(|| scratch.join("bench.db"));
    let db = domain::db::connect(&domain::db::sqlite_file_url(&path)).await?;
    domain::db::migrate(&db).await?;
    let present = store::count(&db).await?;
    if present == 0 {
        let started = Instant::now();
        demo::load(&db, count, demo::DEFAULT_SEED).await?;
        println!(
            "loaded {count} demo profiles in {:.1} s",
            started.elapsed().as_secs_f64()
        );
    } else if present != count {
        return Err(format!(
            "{} holds {present} profiles, not {count}: pass another --db",
            path.display()
        )
        .into());
    } else {
        println!("reusing the {present} profiles in {}", path.display());
    }
    const EVERYONE: &str = "Bench: everyone";
    let everyone = match segment::Entity::find()
        .filter(segment::Column::Name.eq(EVERYONE))
        .one(&db)
        .await?
    {
        Some(existing) => existing.public_id,
        None => {
            let created = service::create(
                &db,
                &SegmentInput {
                    name: EVERYONE.into(),
                    description: String::new(),
                    rule: "identity.CRMID exists".into(),
                    schedule: "manual".into(),
                },
            )
            .await?;
            let evaluated = service::evaluate(&db, &created.public_id, chrono::Utc::now()).await?;
            println!("segment of {} members", evaluated.size);
            created.public_id
        }
    };
    db.close().await?;
    Ok((path, everyone))
}

async fn export(
    count: u64,
    keep: Option<std::path::PathBuf>,
) -> Result<(), Box<dyn std::error::Error>> {
    let scratch = tempfile::tempdir()?;
    let (path, everyone) = everyone(count, keep, scratch.path()).await?;

    // The exports run in a child process: its peak memory is theirs alone.
    let child = std::process::Command::new(std::env::current_exe()?)
        .args(["export-measure", "--segment", &everyone, "--db"])
        .arg(&path)
        .stderr(std::process::Stdio::inherit())
        .output()?;
    let report = String::from_utf8_lossy(&child.stdout);
    print!("{report}");
    if !child.status.success() {
        return Err("the measured exports failed".into());
    }
    let measured = report
        .lines()
        .last()
        .and_then(|l| l.strip_prefix("measured: "))
        .ok_or("the measured exports printed no figures")?
        .to_owned();
    let figure = |name: &str| -> String {
        measured
            .split_whitespace()
            .find_map(|kv| kv.strip_prefix(&format!("{name}=")))
            .unwrap_or("?")
            .to_owned()
    };

    let db = domain::db::connect(&domain::db::sqlite_file_url(&path)).await?;
    // The same rows held in memory, through the bare CSV writer: what the runner costs above it.
    let ids: Vec<i64> = (1..=i64::try_from(count)?).collect();
    let mut rows: Vec<Vec<String>> = Vec::with_capacity(ids.len());
    for chunk in ids.chunks(5000) {
        for p in store::load_many(&db, chunk).await? {
            rows.push(
                EXPORT_COLUMNS
                    .iter()
                    .map(|(kind, source, _)| {
                        if *kind == "identity" {
                            p.identities
                                .iter()
                                .find(|(ns, _)| ns == source)
                                .map(|(_, v)| v.clone())
                                .unwrap_or_default()
                        } else {
                            p.attributes
                                .pointer(&format!("/{}", source.replace('.', "/")))
                                .map(|v| v.as_str().map_or_else(|| v.to_string(), str::to_owned))
                                .unwrap_or_default()
                        }
                    })
                    .collect(),
            );
        }
    }
    let started = Instant::now();
    let mut writer = csv::Writer::from_writer(std::io::BufWriter::new(std::fs::File::create(
        scratch.path().join("bare.csv"),
    )?));
    writer.write_record(EXPORT_COLUMNS.iter().map(|c| c.2))?;
    for row in &rows {
        writer.write_record(row)?;
    }
    writer.flush()?;
    let bare = started.elapsed().as_secs_f64();
    println!(
        "export: rows={count} csv_s={} gzip_s={} parquet_s={} bare_csv_s={bare:.2} peak_rss_mb={}",
        figure("csv_s"),
        figure("gzip_s"),
        figure("parquet_s"),
        figure("peak_rss_mb")
    );
    db.close().await?;
    Ok(())
}

async fn export_measure(
    path: &std::path::Path,
    everyone: &str,
) -> Result<(), Box<dyn std::error::Error>> {
    use domain::activation::{Activation, ExportMode, MappingRow, SegmentSchedule, SourceKind};
    use domain::catalog::spec::{Hashing, Schedule};
    use domain::connections::accounts::{self, AccountInput};
    use domain::connections::dataflows::{self, ConnectionInput};
    use domain::export::{runner, runs};

    let scratch = tempfile::tempdir()?;
    let db = domain::db::connect(&domain::db::sqlite_file_url(path)).await?;
    // A reused database may hold runs an interrupted bench left queued: they are not ours.
    use migrations::sea_orm::ConnectionTrait;
    db.execute_unprepared(
        "UPDATE dataflow_runs SET status = 'failed', error = 'left over by an earlier bench' \
         WHERE status IN ('queued', 'running')",
    )
    .await?;
    // Names are unique: a reused database already holds earlier runs' accounts and dataflows.
    let run = chrono::Utc::now().format("%Y%m%d%H%M%S");
    let landing = scratch.path().join("landing");
    let connectors = domain::connections::Connectors {
        catalog: std::sync::Arc::new(domain::catalog::Catalog::built_in()),
        key: domain::secrets::SecretKey::generate(),
        probe: domain::connections::probe::ProbeSettings {
            landing_root: landing.clone(),
            timeout: std::time::Duration::from_secs(30),
            retry_base: std::time::Duration::from_secs(1),
        },
    };
    let account = accounts::create(
        &db,
        &connectors,
        &AccountInput {
            destination_id: "local_folder".into(),
            name: format!("Bench {run}"),
            values: Default::default(),
            clear: Default::default(),
        },
        None,
    )
    .await?;
    let mapping: Vec<MappingRow> = EXPORT_COLUMNS
        .iter()
        .map(|(kind, source, target)| MappingRow {
            kind: if *kind == "identity" {
                SourceKind::Identity
            } else {
                SourceKind::Field
            },
            source: (*source).into(),
            target: (*target).into(),
            mandatory: false,
            dedup_key: false,
            transformation: Hashing::None,
        })
        .collect();
    let mut seconds = Vec::new();
    for (name, format, compression) in [
        ("csv", "csv", "none"),
        ("gzip", "csv", "gzip"),
        ("parquet", "parquet", "none"),
    ] {
        let flow = dataflows::create(
            &db,
            &connectors,
            &ConnectionInput {
                destination_id: "local_folder".into(),
                account_id: account.public_id.clone(),
                name: format!("Bench {run} {name}"),
                description: String::new(),
                params: [
                    ("folder".to_owned(), name.to_owned()),
                    ("format".to_owned(), format.to_owned()),
                    ("compression".to_owned(), compression.to_owned()),
                ]
                .into(),
                marketing_actions: vec![],
            },
            None,
        )
        .await?;
        domain::activation::save(
            &db,
            &connectors,
            &flow.public_id,
            &Activation {
                segments: vec![SegmentSchedule {
                    segment_id: everyone.to_owned(),
                    schedule: Schedule::Daily,
                    mode: ExportMode::Full,
                    time: Some("23:59".into()),
                    after_evaluation: false,
                    start_date: chrono::Utc::now().date_naive() + chrono::Duration::days(30),
                    end_date: None,
                    file_name: "bench_{datetime}".into(),
                }],
                mapping: mapping.clone(),
            },
            true,
        )
        .await?;
        runs::enqueue_manual(&db, &flow.public_id, None).await?;
        let lease = chrono::Duration::seconds(600);
        let run = runs::claim(&db, "bench", lease, chrono::Utc::now())
            .await?
            .ok_or("no run to claim")?;
        let id = run.public_id.clone();
        let started = Instant::now();
        runner::run_claimed(&db, &connectors, run, "bench", lease).await?;
        let elapsed = started.elapsed().as_secs_f64();
        let done = runs::find(&db, &id).await?;
        let files: Vec<runs::FileRecord> = serde_json::from_str(&done.files)?;
        let bytes: u64 = files.iter().map(|f| f.bytes).sum();
        // Resident memory now, split: the process's own (anonymous) and the database file's
        // pages SQLite has memory-mapped (the OS page cache, shared and reclaimable).
        println!(
            "{name}: {} rows, {:.1} MB, {} in {elapsed:.2} s (resident now: own {:.0} MB, mapped file {:.0} MB)",
            done.activated,
            bytes as f64 / 1e6,
            done.status,
            proc_status_mb("RssAnon:"),
            proc_status_mb("RssFile:")
        );
        seconds.push(elapsed);
    }
    println!(
        "measured: csv_s={:.2} gzip_s={:.2} parquet_s={:.2} peak_rss_mb={:.0}",
        seconds[0],
        seconds[1],
        seconds[2],
        peak_rss_mb()
    );
    db.close().await?;
    Ok(())
}
