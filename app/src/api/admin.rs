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

/// A permission as the role editor offers it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PermissionRow {
    pub name: String,
    pub description: String,
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

/// One user, by public id.
#[server(prefix = "/api", endpoint = "admin/users/get")]
pub async fn get_user(user_id: String) -> Result<UserRow, AppError> {
    list_users()
        .await?
        .into_iter()
        .find(|u| u.id == user_id)
        .ok_or_else(|| AppError::NotFound("The user".into()).respond())
}

/// One role, by public id.
#[server(prefix = "/api", endpoint = "admin/roles/get")]
pub async fn get_role(role_id: String) -> Result<RoleRow, AppError> {
    list_roles()
        .await?
        .into_iter()
        .find(|r| r.id == role_id)
        .ok_or_else(|| AppError::NotFound("The role".into()).respond())
}

/// Every permission with what it allows, in the order the role editor lists them.
#[server(prefix = "/api", endpoint = "admin/permissions/list")]
pub async fn list_permissions() -> Result<Vec<PermissionRow>, AppError> {
    use domain::access::Permission;
    crate::auth::ssr::require(Permission::UsersManage).await?;
    Ok(Permission::ALL
        .into_iter()
        .map(|p| PermissionRow {
            name: p.as_str().to_owned(),
            description: p.description().to_owned(),
        })
        .collect())
}

/// Creates a user with a first password and roles; returns the new user's id.
#[server(prefix = "/api", endpoint = "admin/users/create")]
pub async fn create_user(
    email: String,
    display_name: String,
    password: String,
    #[server(default)] roles: Vec<String>,
) -> Result<String, AppError> {
    use domain::access::{Permission, users};
    let principal = crate::auth::ssr::require(Permission::UsersManage).await?;
    let state = crate::state::app_state()?;
    let new = users::NewUser {
        email: email.clone(),
        display_name,
        password,
        role_ids: roles.clone(),
    };
    let result = users::create(&state.db, new).await;
    let object = result
        .as_ref()
        .map(|u| u.public_id.clone())
        .unwrap_or_default();
    let details = serde_json::json!({ "email": email.trim().to_lowercase(), "roles": ssr::role_names(&state.db, &roles).await });
    crate::api::audited(&principal, "users.create", "user", &object, details, result)
        .await
        .map(|u| u.public_id)
}

/// Disables a user (ending their sessions) or enables them again.
#[server(prefix = "/api", endpoint = "admin/users/set-disabled")]
pub async fn set_user_disabled(user_id: String, disabled: bool) -> Result<(), AppError> {
    use domain::access::{Permission, users};
    let principal = crate::auth::ssr::require(Permission::UsersManage).await?;
    let state = crate::state::app_state()?;
    let result = if disabled && principal.public_id == user_id {
        Err(domain::Error::Invalid(
            "You cannot disable your own account.".into(),
        ))
    } else {
        users::set_disabled(&state.db, &user_id, disabled).await
    };
    let action = if disabled {
        "users.disable"
    } else {
        "users.enable"
    };
    let details = serde_json::json!({});
    crate::api::audited(&principal, action, "user", &user_id, details, result)
        .await
        .map(drop)
}

/// Sets a new password for a user, which ends their sessions.
#[server(prefix = "/api", endpoint = "admin/users/reset-password")]
pub async fn reset_user_password(user_id: String, password: String) -> Result<(), AppError> {
    use domain::access::{Permission, users};
    let principal = crate::auth::ssr::require(Permission::UsersManage).await?;
    let state = crate::state::app_state()?;
    let result = users::set_password(&state.db, &user_id, password).await;
    let details = serde_json::json!({});
    crate::api::audited(
        &principal,
        "users.reset_password",
        "user",
        &user_id,
        details,
        result,
    )
    .await
    .map(drop)
}

/// Replaces the roles a user holds.
#[server(prefix = "/api", endpoint = "admin/users/set-roles")]
pub async fn set_user_roles(
    user_id: String,
    #[server(default)] roles: Vec<String>,
) -> Result<(), AppError> {
    use domain::access::{Permission, users};
    let principal = crate::auth::ssr::require(Permission::UsersManage).await?;
    let state = crate::state::app_state()?;
    let before = ssr::roles_of(&state.db, &user_id).await;
    let result = users::set_roles(&state.db, &user_id, &roles).await;
    let details =
        serde_json::json!({ "before": before, "after": ssr::role_names(&state.db, &roles).await });
    crate::api::audited(
        &principal,
        "users.set_roles",
        "user",
        &user_id,
        details,
        result,
    )
    .await
}

/// Creates a custom role with the chosen permissions; returns its id.
#[server(prefix = "/api", endpoint = "admin/roles/create")]
pub async fn create_role(
    name: String,
    description: String,
    #[server(default)] permissions: Vec<String>,
) -> Result<String, AppError> {
    use domain::access::{Permission, roles};
    let principal = crate::auth::ssr::require(Permission::UsersManage).await?;
    let state = crate::state::app_state()?;
    let chosen = ssr::parse_permissions(&permissions)?;
    let result = roles::create(&state.db, &name, &description, chosen).await;
    let object = result
        .as_ref()
        .map(|r| r.public_id.clone())
        .unwrap_or_default();
    let details = serde_json::json!({ "name": name.trim(), "permissions": permissions });
    crate::api::audited(&principal, "roles.create", "role", &object, details, result)
        .await
        .map(|r| r.public_id)
}

/// Renames a custom role and replaces its permissions.
#[server(prefix = "/api", endpoint = "admin/roles/update")]
pub async fn update_role(
    role_id: String,
    name: String,
    description: String,
    #[server(default)] permissions: Vec<String>,
) -> Result<(), AppError> {
    use domain::access::{Permission, roles};
    let principal = crate::auth::ssr::require(Permission::UsersManage).await?;
    let state = crate::state::app_state()?;
    let chosen = ssr::parse_permissions(&permissions)?;
    let before = roles::list(&state.db).await.ok().and_then(|all| {
        all.into_iter()
            .find(|r| r.public_id == role_id)
            .map(|r| r.permissions.iter().map(|p| p.as_str()).collect::<Vec<_>>())
    });
    let result = roles::update(&state.db, &role_id, &name, &description, chosen).await;
    let details =
        serde_json::json!({ "name": name.trim(), "before": before, "after": permissions });
    crate::api::audited(
        &principal,
        "roles.update",
        "role",
        &role_id,
        details,
        result,
    )
    .await
    .map(drop)
}

#[cfg(feature = "ssr")]
mod ssr {
    use std::collections::BTreeSet;

    use domain::access::{Permission, roles, users};
    use domain::db::DatabaseConnection;

    use crate::error::AppError;

    /// The permissions named by the role editor; an unknown name is refused.
    pub fn parse_permissions(names: &[String]) -> Result<BTreeSet<Permission>, AppError> {
        names
            .iter()
            .map(|n| n.parse::<Permission>())
            .collect::<domain::Result<_>>()
            .map_err(|e| AppError::from(e).respond())
    }

    /// Role names for the audit log (ids alone would be unreadable there).
    pub async fn role_names(db: &DatabaseConnection, ids: &[String]) -> Vec<String> {
        let mut names = Vec::new();
        for id in ids {
            names.push(match roles::find(db, id).await {
                Ok(role) => role.name,
                Err(_) => format!("unknown role {id}"),
            });
        }
        names
    }

    /// The role names a user holds now, for the audit log.
    pub async fn roles_of(db: &DatabaseConnection, user_id: &str) -> Vec<String> {
        users::list(db)
            .await
            .ok()
            .and_then(|all| all.into_iter().find(|u| u.public_id == user_id))
            .map(|u| u.roles.into_iter().map(|(_, name)| name).collect())
            .unwrap_or_default()
    }
}
