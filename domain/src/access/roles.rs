//! Roles: the built-in ones (restored from the code at start-up) and custom ones that
//! administrators define from the permission list.

use std::collections::{BTreeMap, BTreeSet};

use chrono::Utc;
use sea_orm::{
    ActiveModelTrait, ActiveValue::Set, ColumnTrait, ConnectionTrait, DatabaseConnection,
    EntityTrait, PaginatorTrait, QueryFilter, QueryOrder, TransactionTrait,
};

use super::permissions::{BUILT_IN_ROLES, Permission};
use crate::entities::{role, role_permission, user_role};
use crate::{Error, Result};

/// A role as the admin pages show it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RoleSummary {
    pub public_id: String,
    pub name: String,
    pub description: String,
    pub built_in: bool,
    pub permissions: BTreeSet<Permission>,
    pub user_count: u64,
}

/// Creates the built-in roles if missing and resets their permissions to the code's list.
///
/// # Errors
/// [`Error::Database`] on failure; nothing is half-written.
pub async fn ensure_built_ins(db: &DatabaseConnection) -> Result<()> {
    let txn = db.begin().await?;
    for built_in in &BUILT_IN_ROLES {
        let now = Utc::now();
        let existing = role::Entity::find()
            .filter(role::Column::Name.eq(built_in.name))
            .one(&txn)
            .await?;
        let role_id = match existing {
            Some(found) => {
                let mut active: role::ActiveModel = found.clone().into();
                active.built_in = Set(true);
                active.description = Set(built_in.description.to_owned());
                active.update(&txn).await?;
                found.id
            }
            None => {
                role::ActiveModel {
                    public_id: Set(uuid::Uuid::new_v4().to_string()),
                    name: Set(built_in.name.to_owned()),
                    description: Set(built_in.description.to_owned()),
                    built_in: Set(true),
                    created_at: Set(now),
                    updated_at: Set(now),
                    ..Default::default()
                }
                .insert(&txn)
                .await?
                .id
            }
        };
        replace_permissions(
            &txn,
            role_id,
            built_in.permissions.iter().copied().collect(),
        )
        .await?;
    }
    txn.commit().await?;
    Ok(())
}

async fn replace_permissions(
    db: &impl ConnectionTrait,
    role_id: i32,
    permissions: BTreeSet<Permission>,
) -> Result<()> {
    role_permission::Entity::delete_many()
        .filter(role_permission::Column::RoleId.eq(role_id))
        .exec(db)
        .await?;
    if permissions.is_empty() {
        return Ok(());
    }
    role_permission::Entity::insert_many(permissions.into_iter().map(|p| {
        role_permission::ActiveModel {
            role_id: Set(role_id),
            permission: Set(p.as_str().to_owned()),
        }
    }))
    .exec(db)
    .await?;
    Ok(())
}

/// Every role, built-ins first, each with its permissions and how many users hold it.
///
/// # Errors
/// [`Error::Database`] on failure.
pub async fn list(db: &DatabaseConnection) -> Result<Vec<RoleSummary>> {
    let roles = role::Entity::find()
        .order_by_desc(role::Column::BuiltIn)
        .order_by_asc(role::Column::Id)
        .all(db)
        .await?;
    let mut permissions: BTreeMap<i32, BTreeSet<Permission>> = BTreeMap::new();
    for row in role_permission::Entity::find().all(db).await? {
        // A permission name this version does not know (from a newer release) is ignored.
        if let Ok(permission) = row.permission.parse() {
            permissions
                .entry(row.role_id)
                .or_default()
                .insert(permission);
        }
    }
    let mut summaries = Vec::with_capacity(roles.len());
    for found in roles {
        let user_count = user_role::Entity::find()
            .filter(user_role::Column::RoleId.eq(found.id))
            .count(db)
            .await?;
        summaries.push(RoleSummary {
            permissions: permissions.remove(&found.id).unwrap_or_default(),
            public_id: found.public_id,
            name: found.name,
            description: found.description,
            built_in: found.built_in,
            user_count,
        });
    }
    Ok(summaries)
}

fn clean_name(name: &str) -> Result<String> {
    let name = name.trim();
    if name.is_empty() {
        return Err(Error::Invalid("A role needs a name.".into()));
    }
    if name.chars().count() > 100 {
        return Err(Error::Invalid(
            "A role name has at most 100 characters.".into(),
        ));
    }
    Ok(name.to_owned())
}

fn clean_description(description: &str) -> Result<String> {
    let description = description.trim();
    if description.chars().count() > 500 {
        return Err(Error::Invalid(
            "A role description has at most 500 characters.".into(),
        ));
    }
    Ok(description.to_owned())
}

async fn ensure_name_free(
    db: &impl ConnectionTrait,
    name: &str,
    except_id: Option<i32>,
) -> Result<()> {
    let clash = role::Entity::find()
        .filter(role::Column::Name.eq(name))
        .one(db)
        .await?
        .filter(|r| Some(r.id) != except_id);
    match clash {
        Some(_) => Err(Error::Conflict(format!(
            "A role named {name:?} already exists."
        ))),
        None => Ok(()),
    }
}

/// Creates a custom role.
///
/// # Errors
/// [`Error::Invalid`] for a missing name, [`Error::Conflict`] for a taken one.
pub async fn create(
    db: &DatabaseConnection,
    name: &str,
    description: &str,
    permissions: BTreeSet<Permission>,
) -> Result<role::Model> {
    let name = clean_name(name)?;
    let description = clean_description(description)?;
    let txn = db.begin().await?;
    ensure_name_free(&txn, &name, None).await?;
    let now = Utc::now();
    let created = role::ActiveModel {
        public_id: Set(uuid::Uuid::new_v4().to_string()),
        name: Set(name),
        description: Set(description),
        built_in: Set(false),
        created_at: Set(now),
        updated_at: Set(now),
        ..Default::default()
    }
    .insert(&txn)
    .await?;
    replace_permissions(&txn, created.id, permissions).await?;
    txn.commit().await?;
    Ok(created)
}

/// Renames a custom role and replaces its permissions; built-in roles cannot be edited.
///
/// # Errors
/// [`Error::NotFound`], [`Error::Invalid`] for a built-in role or a bad name,
/// [`Error::Conflict`] for a taken name.
pub async fn update(
    db: &DatabaseConnection,
    public_id: &str,
    name: &str,
    description: &str,
    permissions: BTreeSet<Permission>,
) -> Result<role::Model> {
    let name = clean_name(name)?;
    let description = clean_description(description)?;
    let txn = db.begin().await?;
    let found = find(&txn, public_id).await?;
    if found.built_in {
        return Err(Error::Invalid(format!(
            "{} is a built-in role and cannot be changed.",
            found.name
        )));
    }
    ensure_name_free(&txn, &name, Some(found.id)).await?;
    let mut active: role::ActiveModel = found.into();
    active.name = Set(name);
    active.description = Set(description);
    active.updated_at = Set(Utc::now());
    let updated = active.update(&txn).await?;
    replace_permissions(&txn, updated.id, permissions).await?;
    txn.commit().await?;
    Ok(updated)
}

/// Finds a role by its public id.
///
/// # Errors
/// [`Error::NotFound`] when there is none.
pub async fn find(db: &impl ConnectionTrait, public_id: &str) -> Result<role::Model> {
    role::Entity::find()
        .filter(role::Column::PublicId.eq(public_id))
        .one(db)
        .await?
        .ok_or_else(|| Error::NotFound("The role".into()))
}

/// Finds a role by name.
///
/// # Errors
/// [`Error::NotFound`] when there is none.
pub async fn find_by_name(db: &impl ConnectionTrait, name: &str) -> Result<role::Model> {
    role::Entity::find()
        .filter(role::Column::Name.eq(name))
        .one(db)
        .await?
        .ok_or_else(|| Error::NotFound(format!("The role {name:?}")))
}
