//! Start-up and shutdown: open and migrate the database, bind the address, serve until
//! SIGTERM or Ctrl-C, then finish the requests in flight.

use std::net::SocketAddr;

use app::state::AppState;
use domain::db::DatabaseConnection;
use tokio::net::TcpListener;

use crate::config::{Config, ConfigError, SessionSettings};

/// Why the server could not start; each message fits on one line and says what to change.
#[derive(Debug, thiserror::Error)]
pub enum StartupError {
    #[error(transparent)]
    Config(#[from] ConfigError),
    #[error("cannot open the database {url}: {reason}")]
    Database { url: String, reason: String },
    #[error("cannot listen on {addr}: {reason} (set LEPTOS_SITE_ADDR to a free address)")]
    Bind { addr: SocketAddr, reason: String },
    #[error("{0}")]
    Command(String),
    #[error("the server stopped with an error: {0}")]
    Serve(String),
}

/// Prepares the data folder, connects to the database and applies pending migrations.
///
/// # Errors
/// [`StartupError::Config`] for an unusable data folder, [`StartupError::Database`] when the
/// database cannot be opened or migrated.
pub async fn open_database(config: &Config) -> Result<DatabaseConnection, StartupError> {
    config.prepare_data_dir()?;
    let fail = |e: domain::Error| StartupError::Database {
        url: config.database_display(),
        reason: single_line(&e.to_string()),
    };
    let db = domain::db::connect(&config.database_url)
        .await
        .map_err(fail)?;
    domain::db::migrate(&db).await.map_err(fail)?;
    domain::instance::ensure(&db).await.map_err(fail)?;
    domain::access::roles::ensure_built_ins(&db)
        .await
        .map_err(fail)?;
    Ok(db)
}

/// Binds the configured address.
///
/// # Errors
/// [`StartupError::Bind`] when the address is taken or not allowed.
pub async fn bind(addr: SocketAddr) -> Result<TcpListener, StartupError> {
    TcpListener::bind(addr)
        .await
        .map_err(|e| StartupError::Bind {
            addr,
            reason: e.to_string(),
        })
}

/// Serves the application on `listener` until `shutdown` completes, then drains requests.
///
/// # Errors
/// [`StartupError::Serve`] when the listener fails.
pub async fn serve(
    listener: TcpListener,
    state: AppState,
    sessions: SessionSettings,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), StartupError> {
    let router = crate::router::build(state, sessions);
    axum::serve(
        listener,
        router.into_make_service_with_connect_info::<SocketAddr>(),
    )
    .with_graceful_shutdown(shutdown)
    .await
    .map_err(|e| StartupError::Serve(e.to_string()))
}

/// Completes on Ctrl-C or SIGTERM.
pub async fn shutdown_signal() {
    let ctrl_c = async {
        if tokio::signal::ctrl_c().await.is_err() {
            std::future::pending::<()>().await;
        }
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {},
        () = terminate => {},
    }
    tracing::info!("shutting down: finishing requests in flight");
}

/// Driver errors can span lines; a start-up error must stay on one.
fn single_line(message: &str) -> String {
    message.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// Deletes expired session rows every ten minutes, for as long as the server runs.
pub fn spawn_session_sweeper(db: DatabaseConnection) {
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(std::time::Duration::from_secs(600));
        loop {
            tick.tick().await;
            match domain::sessions::delete_expired(&db, chrono::Utc::now()).await {
                Ok(0) => {}
                Ok(n) => tracing::debug!(deleted = n, "expired sessions removed"),
                Err(error) => tracing::warn!(%error, "could not remove expired sessions"),
            }
        }
    });
}
