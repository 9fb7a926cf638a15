//! Server-side session records: stored, loaded, expired and ended per user. The session
//! middleware (in the server) keeps the cookie; this module keeps the rows.

use chrono::{DateTime, Utc};
use sea_orm::{
    ActiveValue::Set, ColumnTrait, DatabaseConnection, EntityTrait, QueryFilter,
    sea_query::OnConflict,
};

use crate::Result;
use crate::entities::session;

/// Creates or replaces a session record.
///
/// # Errors
/// [`crate::Error::Database`] on failure.
pub async fn save(
    db: &DatabaseConnection,
    id: &str,
    user_id: Option<i32>,
    data: String,
    expires_at: DateTime<Utc>,
) -> Result<()> {
    session::Entity::insert(session::ActiveModel {
        id: Set(id.to_owned()),
        user_id: Set(user_id),
        data: Set(data),
        expires_at: Set(expires_at),
    })
    .on_conflict(
        OnConflict::column(session::Column::Id)
            .update_columns([
                session::Column::UserId,
                session::Column::Data,
                session::Column::ExpiresAt,
            ])
            .to_owned(),
    )
    .exec(db)
    .await?;
    Ok(())
}

/// Inserts a session record only if the id is new; returns whether it was inserted.
///
/// # Errors
/// [`crate::Error::Database`] on failure.
pub async fn insert_new(
    db: &DatabaseConnection,
    id: &str,
    user_id: Option<i32>,
    data: String,
    expires_at: DateTime<Utc>,
) -> Result<bool> {
    let result = session::Entity::insert(session::ActiveModel {
        id: Set(id.to_owned()),
        user_id: Set(user_id),
        data: Set(data),
        expires_at: Set(expires_at),
    })
    .on_conflict_do_nothing()
    .exec(db)
    .await?;
    Ok(!matches!(result, sea_orm::TryInsertResult::Conflicted))
}

/// The data of an unexpired session.
///
/// # Errors
/// [`crate::Error::Database`] on failure.
pub async fn load(db: &DatabaseConnection, id: &str, now: DateTime<Utc>) -> Result<Option<String>> {
    Ok(session::Entity::find_by_id(id.to_owned())
        .filter(session::Column::ExpiresAt.gt(now))
        .one(db)
        .await?
        .map(|s| s.data))
}

/// Deletes a session.
///
/// # Errors
/// [`crate::Error::Database`] on failure.
pub async fn delete(db: &DatabaseConnection, id: &str) -> Result<()> {
    session::Entity::delete_by_id(id.to_owned())
        .exec(db)
        .await?;
    Ok(())
}

/// Deletes sessions that have expired; returns how many.
///
/// # Errors
/// [`crate::Error::Database`] on failure.
pub async fn delete_expired(db: &DatabaseConnection, now: DateTime<Utc>) -> Result<u64> {
    let result = session::Entity::delete_many()
        .filter(session::Column::ExpiresAt.lte(now))
        .exec(db)
        .await?;
    Ok(result.rows_affected)
}

/// How many live sessions a user has.
///
/// # Errors
/// [`crate::Error::Database`] on failure.
pub async fn count_for_user(
    db: &DatabaseConnection,
    user_id: i32,
    now: DateTime<Utc>,
) -> Result<u64> {
    use sea_orm::PaginatorTrait;
    Ok(session::Entity::find()
        .filter(session::Column::UserId.eq(user_id))
        .filter(session::Column::ExpiresAt.gt(now))
        .count(db)
        .await?)
}
