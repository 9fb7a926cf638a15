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
    domain::profiles::schema::ensure_catalog(&db)
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

/// Completes on Ctrl-C or SIGTERM. The handlers are installed by this call, not when the
/// future is first polled, so a signal sent right after start-up is never missed.
pub fn shutdown_signal() -> impl Future<Output = ()> + Send + 'static {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        let interrupt = signal(SignalKind::interrupt());
        let terminate = signal(SignalKind::terminate());
        async move {
            match (interrupt, terminate) {
                (Ok(mut interrupt), Ok(mut terminate)) => {
                    tokio::select! {
                        _ = interrupt.recv() => {},
                        _ = terminate.recv() => {},
                    }
                }
                _ => std::future::pending::<()>().await,
            }
            tracing::info!("shutting down: finishing requests in flight");
        }
    }
    #[cfg(not(unix))]
    async {
        tokio::signal::ctrl_c().await.ok();
        tracing::info!("shutting down: finishing requests in flight");
    }
}

/// Driver errors can span lines; a start-up error must stay on one.
fn single_line(message: &str) -> String {
    message.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// Deletes expired session rows every ten minutes, for as long as the server runs.
/// Evaluates the segments whose hourly or daily schedule is due, checking once a minute.
pub fn spawn_segment_scheduler(db: DatabaseConnection) {
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(std::time::Duration::from_secs(60));
        loop {
            tick.tick().await;
            match domain::segments::service::evaluate_due(&db, chrono::Utc::now()).await {
                Ok(results) => {
                    for (segment, result) in results {
                        match result {
                            Ok(e) => tracing::info!(
                                segment,
                                size = e.size,
                                entered = e.entered,
                                exited = e.exited,
                                ms = e.millis,
                                "segment evaluated"
                            ),
                            Err(error) => {
                                tracing::warn!(segment, %error, "segment evaluation failed")
                            }
                        }
                    }
                }
                Err(error) => tracing::warn!(%error, "could not look for due segments"),
            }
        }
    });
}

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

/// Starts the export scheduler (due slots become runs every 30 s) and `workers` workers that
/// claim runs and export them. Several server processes on one database share the queue.
/// `lease_seconds` is how long a worker holds a run before another may take it over; it is
/// renewed while working.
pub fn spawn_exports(
    db: DatabaseConnection,
    connectors: domain::connections::Connectors,
    workers: usize,
    lease_seconds: i64,
) {
    let scheduler = db.clone();
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(std::time::Duration::from_secs(30));
        loop {
            tick.tick().await;
            match domain::export::runs::enqueue_due(&scheduler, chrono::Utc::now()).await {
                Ok(0) => {}
                Ok(n) => tracing::info!(runs = n, "export slots due"),
                Err(error) => tracing::warn!(%error, "could not look for due export slots"),
            }
            if let Err(error) =
                domain::export::alerts::check_delays(&scheduler, chrono::Utc::now()).await
            {
                tracing::warn!(%error, "could not look for late runs");
            }
        }
    });
    let process = format!("{}-{}", std::process::id(), uuid::Uuid::new_v4().simple());
    for worker in 0..workers {
        let (db, connectors) = (db.clone(), connectors.clone());
        let owner = format!("{process}-{worker}");
        tokio::spawn(async move {
            let lease = chrono::Duration::seconds(lease_seconds);
            loop {
                match domain::export::runs::claim(&db, &owner, lease, chrono::Utc::now()).await {
                    Ok(Some(run)) => {
                        tracing::info!(run = %run.public_id, attempt = run.attempt, "export run started");
                        if let Err(error) = domain::export::runner::run_claimed(
                            &db,
                            &connectors,
                            run,
                            &owner,
                            lease,
                        )
                        .await
                        {
                            tracing::warn!(%error, "could not record an export run");
                        }
                    }
                    Ok(None) => tokio::time::sleep(std::time::Duration::from_secs(1)).await,
                    Err(error) => {
                        tracing::warn!(%error, "could not claim an export run");
                        tokio::time::sleep(std::time::Duration::from_secs(5)).await;
                    }
                }
            }
        });
    }
}
