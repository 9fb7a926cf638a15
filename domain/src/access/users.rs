//! Users: creation, sign-in checks, roles, disabling and password resets, with the rule that
//! the last active Administrator can never be removed or disabled.

use std::collections::BTreeSet;

use chrono::{DateTime, Utc};
use sea_orm::{
    ActiveModelTrait, ActiveValue::Set, ColumnTrait, ConnectionTrait, DatabaseConnection,
    EntityTrait, QueryFilter, QueryOrder, TransactionTrait,
};

use super::passwords;
use super::permissions::{ADMINISTRATOR, Permission};
use super::roles;
use crate::entities::{role, role_permission, session, user, user_role};
use crate::{Error, Result};

/// Everything needed to create a user.
#[derive(Clone)]
pub struct NewUser {
    pub email: String,
    pub display_name: String,
    pub password: String,
    /// Public ids of the roles to grant.
    pub role_ids: Vec<String>,
}

/// A user as the admin pages list them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UserSummary {
    pub public_id: String,
    pub email: String,
    pub display_name: String,
    pub disabled: bool,
    pub roles: Vec<(String, String)>,
    pub created_at: DateTime<Utc>,
    pub last_login_at: Option<DateTime<Utc>>,
}

/// A signed-in user with the permissions of all their roles.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Principal {
    pub id: i32,
    pub public_id: String,
    pub email: String,
    pub display_name: String,
    pub session_epoch: i32,
    pub permissions: BTreeSet<Permission>,
}

impl Principal {
    pub fn can(&self, permission: Permission) -> bool {
        self.permissions.contains(&permission)
    }
}

/// Lower-cases and checks an email address well enough to catch typing mistakes.
///
/// # Errors
/// [`Error::Invalid`] when it cannot be an address.
pub fn normalize_email(email: &str) -> Result<String> {
    let email = email.trim().to_lowercase();
    let valid = email.len() <= 254
        && !email.chars().any(|c| c.is_whitespace() || c.is_control())
        && matches!(email.split_once('@'), Some((local, domain))
            if !local.is_empty() && domain.contains('.') && !domain.starts_with('.')
                && !domain.ends_with('.') && !domain.contains('@'));
    if valid {
        Ok(email)
    } else {
        Err(Error::Invalid("Enter a valid email address.".into()))
    }
}

fn clean_display_name(name: &str, email: &str) -> Result<String> {
    let name = name.trim();
    if name.chars().count() > 200 {
        return Err(Error::Invalid("A name has at most 200 characters.".into()));
    }
    Ok(if name.is_empty() {
        email.split('@').next().unwrap_or(email).to_owned()
    } else {
        name.to_owned()
    })
}

/// Creates a user with the given roles.
///
/// # Errors
/// [`Error::Invalid`] for a bad email, name, password or role; [`Error::Conflict`] when the
/// email is taken.
pub async fn create(db: &DatabaseConnection, new: NewUser) -> Result<user::Model> {
    let email = normalize_email(&new.email)?;
    let display_name = clean_display_name(&new.display_name, &email)?;
    passwords::validate(&new.password, &email)?;
    let password_hash = passwords::hash(new.password).await?;
    let txn = db.begin().await?;
    if find_by_email(&txn, &email).await?.is_some() {
        return Err(Error::Conflict(
            "A user with this email address already exists.".into(),
        ));
    }
    let now = Utc::now();
    let created = user::ActiveModel {
        public_id: Set(uuid::Uuid::new_v4().to_string()),
        email: Set(email),
        display_name: Set(display_name),
        password_hash: Set(password_hash),
        disabled: Set(false),
        session_epoch: Set(0),
        created_at: Set(now),
        updated_at: Set(now),
        last_login_at: Set(None),
        ..Default::default()
    }
    .insert(&txn)
    .await?;
    grant(&txn, created.id, &new.role_ids).await?;
    txn.commit().await?;
    Ok(created)
}

async fn grant(db: &impl ConnectionTrait, user_id: i32, role_public_ids: &[String]) -> Result<()> {
    let unique: BTreeSet<&String> = role_public_ids.iter().collect();
    for public_id in unique {
        let found = roles::find(db, public_id)
            .await
            .map_err(|_| Error::Invalid("One of the chosen roles does not exist.".into()))?;
        user_role::ActiveModel {
            user_id: Set(user_id),
            role_id: Set(found.id),
        }
        .insert(db)
        .await?;
    }
    Ok(())
}

/// Finds a user by email (any case).
///
/// # Errors
/// [`Error::Database`] on failure.
pub async fn find_by_email(db: &impl ConnectionTrait, email: &str) -> Result<Option<user::Model>> {
    Ok(user::Entity::find()
        .filter(user::Column::Email.eq(email.trim().to_lowercase()))
        .one(db)
        .await?)
}

/// Finds a user by public id.
///
/// # Errors
/// [`Error::NotFound`] when there is none.
pub async fn find(db: &impl ConnectionTrait, public_id: &str) -> Result<user::Model> {
    user::Entity::find()
        .filter(user::Column::PublicId.eq(public_id))
        .one(db)
        .await?
        .ok_or_else(|| Error::NotFound("The user".into()))
}

/// Checks an email and password. Unknown users, wrong passwords and disabled users all give
/// `None`, after the same amount of work.
///
/// # Errors
/// [`Error::Database`] on failure.
pub async fn authenticate(
    db: &DatabaseConnection,
    email: &str,
    password: &str,
) -> Result<Option<user::Model>> {
    let found = find_by_email(db, email).await?;
    let stored = found.as_ref().map(|u| u.password_hash.clone());
    let ok = passwords::verify(password.to_owned(), stored).await;
    Ok(found.filter(|u| ok && !u.disabled))
}

/// Records a successful sign-in.
///
/// # Errors
/// [`Error::Database`] on failure.
pub async fn touch_login(db: &DatabaseConnection, user_id: i32) -> Result<()> {
    user::Entity::update_many()
        .col_expr(
            user::Column::LastLoginAt,
            sea_orm::sea_query::Expr::value(Utc::now()),
        )
        .filter(user::Column::Id.eq(user_id))
        .exec(db)
        .await?;
    Ok(())
}

/// Loads an active user with their permissions, or `None` if missing or disabled.
///
/// # Errors
/// [`Error::Database`] on failure.
pub async fn principal(db: &DatabaseConnection, user_id: i32) -> Result<Option<Principal>> {
    let Some(found) = user::Entity::find_by_id(user_id).one(db).await? else {
        return Ok(None);
    };
    if found.disabled {
        return Ok(None);
    }
    let role_ids: Vec<i32> = user_role::Entity::find()
        .filter(user_role::Column::UserId.eq(user_id))
        .all(db)
        .await?
        .into_iter()
        .map(|ur| ur.role_id)
        .collect();
    let permissions = role_permission::Entity::find()
        .filter(role_permission::Column::RoleId.is_in(role_ids))
        .all(db)
        .await?
        .into_iter()
        .filter_map(|rp| rp.permission.parse().ok())
        .collect();
    Ok(Some(Principal {
        id: found.id,
        public_id: found.public_id,
        email: found.email,
        display_name: found.display_name,
        session_epoch: found.session_epoch,
        permissions,
    }))
}

/// Every user with their roles, by email.
///
/// # Errors
/// [`Error::Database`] on failure.
pub async fn list(db: &DatabaseConnection) -> Result<Vec<UserSummary>> {
    let users = user::Entity::find()
        .order_by_asc(user::Column::Email)
        .all(db)
        .await?;
    let roles_by_id: std::collections::HashMap<i32, role::Model> = role::Entity::find()
        .all(db)
        .await?
        .into_iter()
        .map(|r| (r.id, r))
        .collect();
    let links = user_role::Entity::find().all(db).await?;
    Ok(users
        .into_iter()
        .map(|u| {
            let mut held: Vec<(String, String)> = links
                .iter()
                .filter(|l| l.user_id == u.id)
                .filter_map(|l| roles_by_id.get(&l.role_id))
                .map(|r| (r.public_id.clone(), r.name.clone()))
                .collect();
            held.sort_by(|a, b| a.1.cmp(&b.1));
            UserSummary {
                public_id: u.public_id,
                email: u.email,
                display_name: u.display_name,
                disabled: u.disabled,
                roles: held,
                created_at: u.created_at,
                last_login_at: u.last_login_at,
            }
        })
        .collect())
}

/// Active users holding the Administrator role.
async fn active_administrators(db: &impl ConnectionTrait) -> Result<Vec<i32>> {
    let admin = roles::find_by_name(db, ADMINISTRATOR).await?;
    let holders: Vec<i32> = user_role::Entity::find()
        .filter(user_role::Column::RoleId.eq(admin.id))
        .all(db)
        .await?
        .into_iter()
        .map(|ur| ur.user_id)
        .collect();
    Ok(user::Entity::find()
        .filter(user::Column::Id.is_in(holders))
        .filter(user::Column::Disabled.eq(false))
        .all(db)
        .await?
        .into_iter()
        .map(|u| u.id)
        .collect())
}

async fn refuse_if_last_administrator(
    db: &impl ConnectionTrait,
    user_id: i32,
    what: &str,
) -> Result<()> {
    let admins = active_administrators(db).await?;
    if admins == [user_id] {
        return Err(Error::Conflict(format!(
            "This is the last active Administrator: {what} would leave nobody able to manage users."
        )));
    }
    Ok(())
}

/// Ends every session of a user and invalidates the ones in flight.
async fn end_sessions(db: &impl ConnectionTrait, found: &user::Model) -> Result<()> {
    session::Entity::delete_many()
        .filter(session::Column::UserId.eq(found.id))
        .exec(db)
        .await?;
    Ok(())
}

/// Disables or re-enables a user; disabling ends their sessions.
///
/// # Errors
/// [`Error::NotFound`]; [`Error::Conflict`] for the last active Administrator.
pub async fn set_disabled(
    db: &DatabaseConnection,
    public_id: &str,
    disabled: bool,
) -> Result<user::Model> {
    let txn = db.begin().await?;
    let found = find(&txn, public_id).await?;
    if disabled && !found.disabled {
        refuse_if_last_administrator(&txn, found.id, "disabling them").await?;
    }
    let mut active: user::ActiveModel = found.clone().into();
    active.disabled = Set(disabled);
    active.updated_at = Set(Utc::now());
    if disabled {
        active.session_epoch = Set(found.session_epoch + 1);
        end_sessions(&txn, &found).await?;
    }
    let updated = active.update(&txn).await?;
    txn.commit().await?;
    Ok(updated)
}

/// Sets a new password (after the rules) and ends the user's sessions.
///
/// # Errors
/// [`Error::NotFound`]; [`Error::Invalid`] when the password breaks a rule.
pub async fn set_password(
    db: &DatabaseConnection,
    public_id: &str,
    password: String,
) -> Result<user::Model> {
    let found = find(db, public_id).await?;
    passwords::validate(&password, &found.email)?;
    let password_hash = passwords::hash(password).await?;
    let txn = db.begin().await?;
    let found = find(&txn, public_id).await?;
    let mut active: user::ActiveModel = found.clone().into();
    active.password_hash = Set(password_hash);
    active.session_epoch = Set(found.session_epoch + 1);
    active.updated_at = Set(Utc::now());
    end_sessions(&txn, &found).await?;
    let updated = active.update(&txn).await?;
    txn.commit().await?;
    Ok(updated)
}

/// Replaces the roles of a user.
///
/// # Errors
/// [`Error::NotFound`]; [`Error::Invalid`] for an unknown role; [`Error::Conflict`] when it
/// would take the Administrator role from the last active Administrator.
pub async fn set_roles(
    db: &DatabaseConnection,
    public_id: &str,
    role_public_ids: &[String],
) -> Result<()> {
    let txn = db.begin().await?;
    let found = find(&txn, public_id).await?;
    let was_administrator = active_administrators(&txn).await?.contains(&found.id);
    user_role::Entity::delete_many()
        .filter(user_role::Column::UserId.eq(found.id))
        .exec(&txn)
        .await?;
    grant(&txn, found.id, role_public_ids).await?;
    if was_administrator && active_administrators(&txn).await?.is_empty() {
        return Err(Error::Conflict(
            "This is the last active Administrator: removing the role would leave nobody able to manage users.".into(),
        ));
    }
    txn.commit().await?;
    Ok(())
}
