//! The profile store: upserting profiles by an identity (imports), bulk inserting new ones
//! (demo data), and reading counts and samples.

use std::collections::{BTreeMap, HashMap};

use chrono::Utc;
use sea_orm::sea_query::Expr;
use sea_orm::{
    ActiveModelTrait, ActiveValue::Set, ColumnTrait, ConnectionTrait, DatabaseConnection,
    EntityTrait, PaginatorTrait, QueryFilter, QueryOrder, QuerySelect, TransactionTrait,
};
use serde_json::Value;

use super::values::{get_path, leaves, set_path};
use crate::entities::{profile, profile_identity};
use crate::{Error, Result};

/// One profile to write: its identities and (partial) attributes.
#[derive(Debug, Clone, PartialEq)]
pub struct ProfileRecord {
    /// (namespace, value) pairs, already normalised.
    pub identities: Vec<(String, String)>,
    /// Nested XDM-shaped attributes; null leaves mean "no value given".
    pub attributes: Value,
}

/// What happened to one batch of an import.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct BatchOutcome {
    pub inserted: u64,
    pub updated: u64,
    pub unchanged: u64,
    /// (line, reason) of the records refused.
    pub rejected: Vec<(u64, String)>,
}

/// Normalises an identity value for storage: emails trimmed and lowercased, others trimmed.
pub fn normalize_identity(namespace: &str, value: &str) -> String {
    let value = value.trim();
    if namespace == "Email" {
        value.to_lowercase()
    } else if namespace.ends_with("SHA256") {
        value.to_ascii_lowercase()
    } else {
        value.to_owned()
    }
}

/// Writes a batch of records in one transaction, matching existing profiles by their identity
/// in `key_namespace`. Given attributes overwrite stored ones; values not given are kept. A
/// record whose identity belongs to another profile is refused with its line; the rest of the
/// batch is written.
///
/// # Errors
/// [`Error::Database`]: nothing of the batch is written then.
pub async fn upsert_batch(
    db: &DatabaseConnection,
    key_namespace: &str,
    records: Vec<(u64, ProfileRecord)>,
) -> Result<BatchOutcome> {
    let txn = db.begin().await?;
    let mut outcome = BatchOutcome::default();
    let now = Utc::now();
    for (line, record) in records {
        let Some(key) = record
            .identities
            .iter()
            .find(|(ns, _)| ns == key_namespace)
            .map(|(_, v)| v.clone())
        else {
            outcome.rejected.push((
                line,
                format!("no {key_namespace} identity to match profiles by"),
            ));
            continue;
        };
        let existing = owner(&txn, key_namespace, &key).await?;
        // Every other identity must be free or already this profile's.
        let mut conflict = None;
        for (ns, value) in &record.identities {
            if let Some(other) = owner(&txn, ns, value).await?
                && Some(other) != existing
            {
                conflict = Some(format!(
                    "the {ns} identity {value:?} already belongs to another profile"
                ));
                break;
            }
        }
        if let Some(reason) = conflict {
            outcome.rejected.push((line, reason));
            continue;
        }
        let (profile_id, changed) = match existing {
            Some(id) => {
                let found = profile::Entity::find_by_id(id)
                    .one(&txn)
                    .await?
                    .ok_or_else(|| {
                        Error::Corrupt(format!("identity points to missing profile {id}"))
                    })?;
                let mut merged = found.attributes.clone();
                for (path, value) in leaves(&record.attributes) {
                    if !value.is_null() && get_path(&merged, &path) != Some(value) {
                        set_path(&mut merged, &path, value.clone());
                    }
                }
                let changed = merged != found.attributes;
                if changed {
                    let mut active: profile::ActiveModel = found.into();
                    active.attributes = Set(merged);
                    active.updated_at = Set(now);
                    active.update(&txn).await?;
                }
                (id, changed)
            }
            None => {
                let created = profile::ActiveModel {
                    attributes: Set(prune_nulls(record.attributes.clone())),
                    created_at: Set(now),
                    updated_at: Set(now),
                    ..Default::default()
                }
                .insert(&txn)
                .await?;
                outcome.inserted += 1;
                (created.id, true)
            }
        };
        let mut added = false;
        for (ns, value) in &record.identities {
            if owner(&txn, ns, value).await?.is_none() {
                profile_identity::ActiveModel {
                    namespace: Set(ns.clone()),
                    value: Set(value.clone()),
                    profile_id: Set(profile_id),
                }
                .insert(&txn)
                .await?;
                added = true;
            }
        }
        if existing.is_some() {
            if changed || added {
                outcome.updated += 1;
                if added && !changed {
                    profile::Entity::update_many()
                        .col_expr(profile::Column::UpdatedAt, Expr::value(now))
                        .filter(profile::Column::Id.eq(profile_id))
                        .exec(&txn)
                        .await?;
                }
            } else {
                outcome.unchanged += 1;
            }
        }
    }
    txn.commit().await?;
    Ok(outcome)
}

fn prune_nulls(mut value: Value) -> Value {
    if let Value::Object(map) = &mut value {
        map.retain(|_, v| !v.is_null());
        for v in map.values_mut() {
            *v = prune_nulls(std::mem::take(v));
        }
        map.retain(|_, v| !matches!(v, Value::Object(m) if m.is_empty()));
    }
    value
}

async fn owner(db: &impl ConnectionTrait, namespace: &str, value: &str) -> Result<Option<i64>> {
    Ok(
        profile_identity::Entity::find_by_id((namespace.to_owned(), value.to_owned()))
            .one(db)
            .await?
            .map(|i| i.profile_id),
    )
}

/// Inserts profiles known to be new (their identities unused), many rows per statement: the
/// fast path for generated data. Returns how many were written.
///
/// # Errors
/// [`Error::Database`], including a clash with an existing identity; nothing is written then.
pub async fn insert_new(db: &DatabaseConnection, records: Vec<ProfileRecord>) -> Result<u64> {
    if records.is_empty() {
        return Ok(0);
    }
    let txn = db.begin().await?;
    let next_id: i64 = profile::Entity::find()
        .select_only()
        .column_as(profile::Column::Id.max(), "max_id")
        .into_tuple::<Option<i64>>()
        .one(&txn)
        .await?
        .flatten()
        .unwrap_or(0)
        + 1;
    let now = Utc::now();
    let count = records.len() as u64;
    let mut profiles = Vec::with_capacity(records.len());
    let mut identities = Vec::new();
    for (offset, record) in records.into_iter().enumerate() {
        let id = next_id + offset as i64;
        for (namespace, value) in record.identities {
            identities.push(profile_identity::ActiveModel {
                namespace: Set(namespace),
                value: Set(value),
                profile_id: Set(id),
            });
        }
        profiles.push(profile::ActiveModel {
            id: Set(id),
            attributes: Set(prune_nulls(record.attributes)),
            created_at: Set(now),
            updated_at: Set(now),
        });
    }
    // Stay well under SQLite's limit of bound parameters per statement.
    for chunk in profiles.chunks(2000) {
        profile::Entity::insert_many(chunk.to_vec())
            .exec(&txn)
            .await?;
    }
    for chunk in identities.chunks(5000) {
        profile_identity::Entity::insert_many(chunk.to_vec())
            .on_conflict_do_nothing_on([
                profile_identity::Column::Namespace,
                profile_identity::Column::Value,
            ])
            .exec(&txn)
            .await?;
    }
    if txn.get_database_backend() == sea_orm::DbBackend::Postgres {
        // Explicit ids leave the sequence behind; move it past them.
        txn.execute_unprepared(
            "SELECT setval(pg_get_serial_sequence('profiles', 'id'), (SELECT MAX(id) FROM profiles))",
        )
        .await?;
    }
    txn.commit().await?;
    Ok(count)
}

/// How many profiles there are.
///
/// # Errors
/// [`Error::Database`].
pub async fn count(db: &impl ConnectionTrait) -> Result<u64> {
    Ok(profile::Entity::find().count(db).await?)
}

/// A profile with its identities.
#[derive(Debug, Clone, PartialEq)]
pub struct StoredProfile {
    pub id: i64,
    pub attributes: Value,
    pub identities: Vec<(String, String)>,
    pub updated_at: chrono::DateTime<Utc>,
}

/// Loads profiles by id, in the order given, with their identities.
///
/// # Errors
/// [`Error::Database`].
pub async fn load_many(db: &impl ConnectionTrait, ids: &[i64]) -> Result<Vec<StoredProfile>> {
    let rows = profile::Entity::find()
        .filter(profile::Column::Id.is_in(ids.to_vec()))
        .all(db)
        .await?;
    let mut identities: HashMap<i64, Vec<(String, String)>> = HashMap::new();
    for identity in profile_identity::Entity::find()
        .filter(profile_identity::Column::ProfileId.is_in(ids.to_vec()))
        .order_by_asc(profile_identity::Column::Namespace)
        .all(db)
        .await?
    {
        identities
            .entry(identity.profile_id)
            .or_default()
            .push((identity.namespace, identity.value));
    }
    let mut by_id: BTreeMap<i64, profile::Model> = rows.into_iter().map(|p| (p.id, p)).collect();
    Ok(ids
        .iter()
        .filter_map(|id| by_id.remove(id))
        .map(|p| StoredProfile {
            identities: identities.remove(&p.id).unwrap_or_default(),
            id: p.id,
            attributes: p.attributes,
            updated_at: p.updated_at,
        })
        .collect())
}

/// Finds the profile holding an identity.
///
/// # Errors
/// [`Error::Database`].
pub async fn find_by_identity(
    db: &impl ConnectionTrait,
    namespace: &str,
    value: &str,
) -> Result<Option<StoredProfile>> {
    let value = normalize_identity(namespace, value);
    match owner(db, namespace, &value).await? {
        Some(id) => Ok(load_many(db, &[id]).await?.pop()),
        None => Ok(None),
    }
}
