//! The server's shared state, handed to every server function through the Leptos context.

use axum::extract::FromRef;
use domain::db::DatabaseConnection;
use leptos::config::LeptosOptions;
use leptos::prelude::use_context;

use crate::error::AppError;

/// Everything a request handler may need; cheap to clone.
#[derive(Clone, FromRef)]
pub struct AppState {
    pub leptos_options: LeptosOptions,
    pub db: DatabaseConnection,
    /// The longest a sign-in lasts, however active the session (the absolute expiry).
    pub session_max_age: chrono::Duration,
    /// The largest profile file an upload may send, in bytes.
    pub import_max_bytes: u64,
    /// The destination catalog, the key for account secrets, Test connection settings.
    pub connectors: domain::connections::Connectors,
}

/// The application state inside a server function or a server-side render.
///
/// # Errors
/// [`AppError::Internal`] if called outside a request (a programming error, logged).
pub fn app_state() -> Result<AppState, AppError> {
    use_context::<AppState>().ok_or_else(|| {
        tracing::error!("AppState missing from the Leptos context");
        AppError::Internal
    })
}
