//! The command line: `serve` (the default), `migrate`, `users create`, `demo-data` and
//! `import`.

use std::io::Write;

use clap::{Parser, Subcommand};

use crate::config::Config;
use crate::startup::{self, StartupError};

/// Prints a line for the operator. Unlike `println!` it never panics: a closed stdout (a
/// supervisor that stopped reading) must not bring the server down.
macro_rules! say {
    ($($arg:tt)*) => {{
        let _ = writeln!(std::io::stdout(), $($arg)*);
    }};
}

/// Ferry sends customer profiles and segment memberships to marketing platforms.
///
/// Configuration comes from the environment and an optional .env file: FERRY_DATA_DIR (default
/// ./data), DATABASE_URL (default an SQLite file in the data folder), LEPTOS_SITE_ADDR (default
/// 127.0.0.1:3000), RUST_LOG and FERRY_LOG_FORMAT=json for logs.
#[derive(Debug, Parser)]
#[command(name = "server", version)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Option<Command>,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Apply pending migrations, then serve the web application (the default).
    Serve,
    /// Apply pending database migrations and exit.
    Migrate,
    /// Manage users from the command line (for the first administrator).
    #[command(subcommand)]
    Users(UsersCommand),
    /// Add generated, realistic demo profiles and the demo segments, then evaluate segments.
    /// The same count and seed always give the same profiles.
    DemoData {
        /// How many profiles to add.
        #[arg(long, default_value_t = 2000)]
        profiles: u64,
        /// Seed of the generator.
        #[arg(long, default_value_t = domain::profiles::demo::DEFAULT_SEED)]
        seed: u64,
        /// Do nothing when the database already holds profiles.
        #[arg(long)]
        if_empty: bool,
    },
    /// Import profiles from a CSV or JSON Lines file, matching existing profiles by an
    /// identity. Prints a report; rejected rows are listed with their line.
    Import {
        /// The file: .csv, or .jsonl / .ndjson.
        file: std::path::PathBuf,
        /// The identity namespace that says which rows are the same profile.
        #[arg(long, default_value = "CRMID")]
        key: String,
        /// csv or jsonl; by default taken from the file name.
        #[arg(long)]
        format: Option<String>,
        /// Rows per transaction.
        #[arg(long, default_value_t = 1000)]
        batch_size: usize,
    },
}

#[derive(Debug, Subcommand)]
pub enum UsersCommand {
    /// Create a user. The password comes from FERRY_PASSWORD, else it is asked for; it is
    /// never taken from the command line, where other users of the machine could see it.
    Create {
        /// The user's email address; it is also the sign-in name.
        #[arg(long)]
        email: String,
        /// A built-in or custom role, such as Administrator; repeat for several.
        #[arg(long = "role", required = true)]
        roles: Vec<String>,
        /// The name shown in the interface (default: the part of the email before the @).
        #[arg(long, default_value = "")]
        name: String,
    },
}

impl Cli {
    /// Runs the chosen subcommand to completion.
    ///
    /// # Errors
    /// A [`StartupError`] whose message is meant to be printed as it is.
    pub async fn run(self) -> Result<(), StartupError> {
        let config = Config::from_env()?;
        match self.command.unwrap_or(Command::Serve) {
            Command::Serve => serve(config).await,
            Command::Migrate => migrate(config).await,
            Command::Users(UsersCommand::Create { email, roles, name }) => {
                create_user(config, email, roles, name).await
            }
            Command::DemoData {
                profiles,
                seed,
                if_empty,
            } => demo_data(config, profiles, seed, if_empty).await,
            Command::Import {
                file,
                key,
                format,
                batch_size,
            } => import(config, file, key, format, batch_size).await,
        }
    }
}

async fn serve(config: Config) -> Result<(), StartupError> {
    let addr = config.leptos_options.site_addr;
    // Bind first: a taken port is reported before any database work is done.
    let listener = startup::bind(addr).await?;
    let shutdown = startup::shutdown_signal();
    let db = startup::open_database(&config).await?;
    let connectors = config.connectors()?;
    let first_admin = create_first_administrator(&db).await?;
    let local = listener.local_addr().unwrap_or(addr);
    tracing::info!(url = %format!("http://{local}"), database = %config.database_display(), "Ferry is ready");
    say!(
        "Ferry is running at http://{local} (database: {})",
        config.database_display()
    );
    if let Some((email, password)) = first_admin {
        say!(
            "First sign-in: {email} with password {password} (shown once; change it after signing in)"
        );
    }
    let state = app::state::AppState {
        leptos_options: config.leptos_options,
        db: db.clone(),
        session_max_age: config.sessions.absolute,
        import_max_bytes: config.import_max_bytes,
        connectors,
    };
    startup::spawn_session_sweeper(db.clone());
    startup::spawn_segment_scheduler(db.clone());
    startup::spawn_exports(
        db.clone(),
        state.connectors.clone(),
        config.export_workers,
        config.run_lease_seconds,
    );
    let result = startup::serve(listener, state, config.sessions, shutdown).await;
    db.close().await.ok();
    result
}

async fn migrate(config: Config) -> Result<(), StartupError> {
    let db = startup::open_database(&config).await?;
    let applied = domain::db::applied_migrations(&db)
        .await
        .unwrap_or_default();
    say!(
        "Database {} is up to date ({applied} migrations applied).",
        config.database_display()
    );
    db.close().await.ok();
    Ok(())
}

async fn demo_data(
    config: Config,
    profiles: u64,
    seed: u64,
    if_empty: bool,
) -> Result<(), StartupError> {
    use domain::profiles::{demo, store};
    let db = startup::open_database(&config).await?;
    let fail = |e: domain::Error| StartupError::Command(e.to_string());
    let existing = store::count(&db).await.map_err(fail)?;
    if if_empty && existing > 0 {
        say!("The database already holds {existing} profiles; no demo data added.");
        db.close().await.ok();
        return Ok(());
    }
    let started = std::time::Instant::now();
    let written = demo::load(&db, profiles, seed).await.map_err(fail)?;
    let segments = domain::segments::service::list(&db).await.map_err(fail)?;
    say!(
        "Added {written} demo profiles in {:.1} s; {} segments evaluated:",
        started.elapsed().as_secs_f64(),
        segments.len()
    );
    for segment in segments {
        say!(
            "  {}: {} profiles",
            segment.name,
            segment
                .size
                .map_or_else(|| "not evaluated".to_owned(), |n| n.to_string())
        );
    }
    db.close().await.ok();
    Ok(())
}

async fn import(
    config: Config,
    file: std::path::PathBuf,
    key: String,
    format: Option<String>,
    batch_size: usize,
) -> Result<(), StartupError> {
    use domain::profiles::import::{self, Format, Options};
    let format = match format.as_deref() {
        Some("csv") => Format::Csv,
        Some("jsonl" | "ndjson") => Format::JsonLines,
        Some(other) => {
            return Err(StartupError::Command(format!(
                "unknown format {other:?}: use csv or jsonl"
            )));
        }
        None => Format::from_file_name(&file.to_string_lossy()).ok_or_else(|| {
            StartupError::Command(format!(
                "cannot tell the format of {} from its name: add --format csv or --format jsonl",
                file.display()
            ))
        })?,
    };
    let input = std::fs::File::open(&file)
        .map_err(|e| StartupError::Command(format!("cannot open {}: {e}", file.display())))?;
    let db = startup::open_database(&config).await?;
    let fail = |e: domain::Error| StartupError::Command(e.to_string());
    let catalog = domain::profiles::schema::load(&db).await.map_err(fail)?;
    let options = Options {
        format,
        key_namespace: key,
        batch_size,
    };
    let started = std::time::Instant::now();
    let report = import::import(&db, catalog, input, options)
        .await
        .map_err(fail)?;
    say!(
        "Imported {}: {} rows read, {} new profiles, {} updated, {} unchanged, {} rejected ({:.1} s).",
        file.display(),
        report.rows,
        report.inserted,
        report.updated,
        report.unchanged,
        report.rejected,
        started.elapsed().as_secs_f64()
    );
    for (line, reason) in &report.rejections {
        say!("  line {line}: {reason}");
    }
    if report.rejected > report.rejections.len() as u64 {
        say!(
            "  … and {} more rejected rows",
            report.rejected - report.rejections.len() as u64
        );
    }
    db.close().await.ok();
    Ok(())
}

async fn create_user(
    config: Config,
    email: String,
    roles: Vec<String>,
    name: String,
) -> Result<(), StartupError> {
    use domain::access::audit::{self, Actor, Event, Outcome};
    use domain::access::{roles as role_service, users};

    let db = startup::open_database(&config).await?;
    let mut role_ids = Vec::with_capacity(roles.len());
    for role in &roles {
        let found = role_service::find_by_name(&db, role)
            .await
            .map_err(|_| StartupError::Command(format!("there is no role named {role:?}")))?;
        role_ids.push(found.public_id);
    }
    let password = match std::env::var("FERRY_PASSWORD") {
        Ok(password) if !password.is_empty() => password,
        _ => rpassword::prompt_password(format!("Password for {email}: ")).map_err(|e| {
            StartupError::Command(format!(
                "cannot read the password: {e} (set FERRY_PASSWORD)"
            ))
        })?,
    };
    let new = users::NewUser {
        email,
        display_name: name,
        password,
        role_ids,
    };
    let created = users::create(&db, new)
        .await
        .map_err(|e| StartupError::Command(e.to_string()))?;
    let actor = Actor {
        user_id: None,
        email: "command line".into(),
        client_addr: "local".into(),
    };
    let details = serde_json::json!({ "email": created.email, "roles": roles });
    let event = Event {
        actor: &actor,
        action: "users.create",
        object_type: "user",
        object_id: &created.public_id,
        outcome: Outcome::Allowed,
        details,
    };
    audit::record(&db, event)
        .await
        .map_err(|e| StartupError::Command(e.to_string()))?;
    say!(
        "Created {} with the roles {}.",
        created.email,
        roles.join(", ")
    );
    db.close().await.ok();
    Ok(())
}

/// The administrator created when a database has no users at all, so a new installation can
/// be signed in to; it gets a random password that is printed once and never stored in clear.
const FIRST_ADMIN_EMAIL: &str = "admin@ferry.local";

async fn create_first_administrator(
    db: &domain::db::DatabaseConnection,
) -> Result<Option<(String, String)>, StartupError> {
    use domain::access::{roles, users};
    let fail = |e: domain::Error| {
        StartupError::Command(format!("cannot create the first administrator: {e}"))
    };
    if !users::list(db).await.map_err(fail)?.is_empty() {
        return Ok(None);
    }
    let admin = roles::find_by_name(db, domain::access::permissions::ADMINISTRATOR)
        .await
        .map_err(fail)?;
    // 24 hexadecimal digits from a v4 UUID: 96 random bits.
    let password: String = uuid::Uuid::new_v4()
        .simple()
        .to_string()
        .chars()
        .take(24)
        .collect();
    let new = users::NewUser {
        email: FIRST_ADMIN_EMAIL.to_owned(),
        display_name: "Administrator".to_owned(),
        password: password.clone(),
        role_ids: vec![admin.public_id],
    };
    let created = match users::create(db, new).await {
        Ok(created) => created,
        // Another process starting on the same database created it first.
        Err(_) if !users::list(db).await.map_err(fail)?.is_empty() => return Ok(None),
        Err(e) => return Err(fail(e)),
    };
    let actor = domain::access::audit::Actor {
        user_id: None,
        email: "system".into(),
        client_addr: "local".into(),
    };
    let event = domain::access::audit::Event {
        actor: &actor,
        action: "users.create",
        object_type: "user",
        object_id: &created.public_id,
        outcome: domain::access::audit::Outcome::Allowed,
        details: serde_json::json!({ "email": created.email, "roles": ["Administrator"], "reason": "first start" }),
    };
    domain::access::audit::record(db, event)
        .await
        .map_err(fail)?;
    Ok(Some((created.email, password)))
}
