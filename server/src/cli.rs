//! The command line: `serve` (the default) and `migrate`.

use clap::{Parser, Subcommand};

use crate::config::Config;
use crate::startup::{self, StartupError};

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
        }
    }
}

async fn serve(config: Config) -> Result<(), StartupError> {
    let addr = config.leptos_options.site_addr;
    // Bind first: a taken port is reported before any database work is done.
    let listener = startup::bind(addr).await?;
    let db = startup::open_database(&config).await?;
    let local = listener.local_addr().unwrap_or(addr);
    tracing::info!(url = %format!("http://{local}"), database = %config.database_display(), "Ferry is ready");
    println!(
        "Ferry is running at http://{local} (database: {})",
        config.database_display()
    );
    let state = app::state::AppState {
        leptos_options: config.leptos_options,
        db: db.clone(),
    };
    let result = startup::serve(listener, state, startup::shutdown_signal()).await;
    db.close().await.ok();
    result
}

async fn migrate(config: Config) -> Result<(), StartupError> {
    let db = startup::open_database(&config).await?;
    let applied = domain::db::applied_migrations(&db)
        .await
        .unwrap_or_default();
    println!(
        "Database {} is up to date ({applied} migrations applied).",
        config.database_display()
    );
    db.close().await.ok();
    Ok(())
}
