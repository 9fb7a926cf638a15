//! Administration: users, roles and the audit log (users.manage, audit.view).

use leptos::prelude::*;
use serde::{Deserialize, Serialize};

use crate::error::AppError;

/// A user as the users page lists them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct UserRow {
    pub id: String,
    pub email: String,
    pub display_name: String,
    pub disabled: bool,
    pub roles: Vec<String>,
    pub last_login_at: Option<String>,
}

/// A role with its permissions.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RoleRow {
    pub id: String,
    pub name: String,
    pub description: String,
    pub built_in: bool,
    pub permissions: Vec<String>,
    pub user_count: i64,
}

/// One audit log entry.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuditRow {
    pub id: i64,
    pub occurred_at: String,
    pub actor: String,
    pub action: String,
    pub object: String,
    pub outcome: String,
    pub client_addr: String,
    pub details: String,
}

/// Every user with their roles.
#[server(prefix = "/api", endpoint = "admin/users/list")]
pub async fn list_users() -> Result<Vec<UserRow>, AppError> {
    use domain::access::{Permission, users};
    crate::auth::ssr::require(Permission::UsersManage).await?;
    let state = crate::state::app_state()?;
    let rows = users::list(&state.db)
        .await
        .map_err(|e| AppError::from(e).respond())?;
    Ok(rows
        .into_iter()
        .map(|u| UserRow {
            id: u.public_id,
            email: u.email,
            display_name: u.display_name,
            disabled: u.disabled,
            roles: u.roles.into_iter().map(|(_, name)| name).collect(),
            last_login_at: u
                .last_login_at
                .map(|t| t.format("%Y-%m-%d %H:%M UTC").to_string()),
        })
        .collect())
}

/// Every role, built-ins first.
#[server(prefix = "/api", endpoint = "admin/roles/list")]
pub async fn list_roles() -> Result<Vec<RoleRow>, AppError> {
    use domain::access::{Permission, roles};
    crate::auth::ssr::require(Permission::UsersManage).await?;
    let state = crate::state::app_state()?;
    let rows = roles::list(&state.db)
        .await
        .map_err(|e| AppError::from(e).respond())?;
    Ok(rows
        .into_iter()
        .map(|r| RoleRow {
            id: r.public_id,
            name: r.name,
            description: r.description,
            built_in: r.built_in,
            permissions: r
                .permissions
                .iter()
                .map(|p| p.as_str().to_owned())
                .collect(),
            user_count: i64::try_from(r.user_count).unwrap_or(i64::MAX),
        })
        .collect())
}

/// The newest audit events matching the filters: part of the actor's email, an action (or a
/// prefix ending in "."), and days `from` (inclusive) and `until` (inclusive) as YYYY-MM-DD.
/// Empty strings match everything.
#[server(prefix = "/api", endpoint = "admin/audit/list")]
pub async fn list_audit_events(
    actor: String,
    action: String,
    from: String,
    until: String,
) -> Result<Vec<AuditRow>, AppError> {
    use domain::access::{Permission, audit};
    crate::auth::ssr::require(Permission::AuditView).await?;
    let state = crate::state::app_state()?;
    let day =
        |text: &str, field: &str| -> Result<Option<chrono::DateTime<chrono::Utc>>, AppError> {
            let text = text.trim();
            if text.is_empty() {
                return Ok(None);
            }
            chrono::NaiveDate::parse_from_str(text, "%Y-%m-%d")
                .map(|d| Some(d.and_hms_opt(0, 0, 0).unwrap_or_default().and_utc()))
                .map_err(|_| {
                    AppError::Invalid(format!("{field} must be a date like 2026-11-28.")).respond()
                })
        };
    let from = day(&from, "From")?;
    // "Until" includes the whole day: events before the next midnight.
    let until = day(&until, "Until")?.map(|d| d + chrono::Duration::days(1));
    let filter = audit::Filter {
        actor: Some(actor),
        action: Some(action),
        from,
        until,
        limit: 200,
        ..Default::default()
    };
    let rows = audit::list(&state.db, &filter)
        .await
        .map_err(|e| AppError::from(e).respond())?;
    Ok(rows
        .into_iter()
        .map(|e| AuditRow {
            id: e.id,
            occurred_at: e.occurred_at.format("%Y-%m-%d %H:%M:%S UTC").to_string(),
            actor: e.actor_email,
            action: e.action,
            object: format!("{} {}", e.object_type, e.object_id),
            outcome: e.outcome,
            client_addr: e.client_addr,
            details: e.details,
        })
        .collect())
}
