//! The system status shown on the home page: database, schema and instance facts.

use leptos::prelude::*;
use serde::{Deserialize, Serialize};

use crate::error::AppError;

/// What the home page shows about this installation.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SystemStatus {
    /// "SQLite" or "PostgreSQL".
    pub database: String,
    pub migrations_applied: i64,
    /// When this installation first started, RFC 3339 in UTC.
    pub instance_since: String,
    /// The same, for people: "28 Nov 2026, 15:40 UTC".
    pub instance_since_text: String,
    /// When the server answered, RFC 3339 in UTC with milliseconds.
    pub checked_at: String,
    /// The same, for people: "15:40:07 UTC".
    pub checked_at_text: String,
    pub version: String,
}

/// Reads the system status from the database; for signed-in users only, since the version
/// and database kind help an attacker more than a visitor (load balancers use `/healthz`).
#[server(prefix = "/api", endpoint = "system/status")]
pub async fn get_system_status() -> Result<SystemStatus, AppError> {
    use chrono::SecondsFormat;
    use domain::{db, instance};

    crate::auth::ssr::require_signed_in().await?;
    let state = crate::state::app_state()?;
    let migrations_applied = db::applied_migrations(&state.db).await?;
    let since = instance::load(&state.db).await?.map(|i| i.created_at);
    let now = chrono::Utc::now();
    Ok(SystemStatus {
        database: db::backend_of(&state.db).display_name().to_owned(),
        migrations_applied,
        instance_since: since
            .map(|t| t.to_rfc3339_opts(SecondsFormat::Secs, true))
            .unwrap_or_default(),
        instance_since_text: since
            .map(|t| t.format("%-d %b %Y, %H:%M UTC").to_string())
            .unwrap_or_else(|| "unknown".to_owned()),
        checked_at: now.to_rfc3339_opts(SecondsFormat::Millis, true),
        checked_at_text: now.format("%H:%M:%S UTC").to_string(),
        version: env!("CARGO_PKG_VERSION").to_owned(),
    })
}
