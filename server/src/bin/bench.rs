//! Benchmarks, run by hand: `cargo run --release --bin bench -- segments --profiles 1000000`.
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
}

/// The rule timed: three predicates over a text, a consent and a date field.
const RULE: &str = r#"loyalty.tier in ["gold", "platinum"] and consents.marketing.email.val = "y" and person.birthDate < now - 30y"#;

#[tokio::main]
async fn main() {
    let cli = Cli::parse();
    let Command::Segments { profiles } = cli.command;
    if let Err(error) = segments(profiles).await {
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
