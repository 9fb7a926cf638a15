//! The profile store: upserting profiles by an identity (imports), bulk inserting new ones
//! (demo data), and reading counts and samples.

use std::collections::{BTreeMap, HashMap};

use chrono::Utc;
use sea_orm::sea_query::Expr;
use sea_orm::{
    ActiveValue::Set, ColumnTrait, ConnectionTrait, DatabaseConnection, EntityTrait,
    PaginatorTrait, QueryFilter, QueryOrder, QuerySelect, TransactionTrait,
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
/// batch is written. Rows of one batch with the same key update one profile, in file order.
///
/// The batch costs a handful of statements whatever its size: one lookup of every identity,
/// one load of the profiles they point to, multi-row inserts, and one update per changed
/// profile.
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

    let wanted: Vec<(String, String)> = records
        .iter()
        .flat_map(|(_, r)| r.identities.iter().cloned())
        .collect();
    // Who holds each identity: existing profiles first, then profiles made by this batch.
    let mut owners: HashMap<(String, String), i64> = owners_of(&txn, &wanted).await?;
    let existing_ids: Vec<i64> = {
        let mut ids: Vec<i64> = owners.values().copied().collect();
        ids.sort_unstable();
        ids.dedup();
        ids
    };
    let mut stored: HashMap<i64, profile::Model> = HashMap::new();
    for chunk in existing_ids.chunks(500) {
        for p in profile::Entity::find()
            .filter(profile::Column::Id.is_in(chunk.to_vec()))
            .all(&txn)
            .await?
        {
            stored.insert(p.id, p);
        }
    }

    // Work out every change in memory, in file order.
    let mut fresh: Vec<(i64, Value)> = Vec::new();
    let mut fresh_index: HashMap<i64, usize> = HashMap::new();
    let mut changed: BTreeMap<i64, Value> = BTreeMap::new();
    let mut touched: std::collections::BTreeSet<i64> = std::collections::BTreeSet::new();
    let mut new_identities: Vec<(String, String, i64)> = Vec::new();
    let mut seen_existing: std::collections::BTreeSet<i64> = std::collections::BTreeSet::new();
    let mut plans: Vec<(u64, ProfileRecord, Option<i64>)> = Vec::new();
    for (line, record) in records {
        let Some(key) = record
            .identities
            .iter()
            .find(|(ns, _)| ns == key_namespace)
            .cloned()
        else {
            outcome.rejected.push((
                line,
                format!("no {key_namespace} identity to match profiles by"),
            ));
            continue;
        };
        plans.push((line, record, owners.get(&key).copied()));
    }
    // Ids for the new profiles, reserved up front so rows can point at them.
    let needed = plans.iter().filter(|(_, _, o)| o.is_none()).count();
    let mut reserved = reserve_ids(&txn, needed).await?.into_iter();
    for (line, record, _) in plans {
        let key = record
            .identities
            .iter()
            .find(|(ns, _)| ns == key_namespace)
            .cloned()
            .expect("checked above");
        let target = owners.get(&key).copied();
        if let Some((ns, value)) = record
            .identities
            .iter()
            .find(|identity| owners.get(*identity).is_some_and(|o| Some(*o) != target))
        {
            outcome.rejected.push((
                line,
                format!("the {ns} identity {value:?} already belongs to another profile"),
            ));
            continue;
        }
        let id = match target {
            Some(id) => id,
            None => {
                let id = reserved
                    .next()
                    .ok_or_else(|| Error::Corrupt("ran out of reserved profile ids".into()))?;
                fresh_index.insert(id, fresh.len());
                fresh.push((id, json_object()));
                outcome.inserted += 1;
                id
            }
        };
        let first_row_of_new_profile = target.is_none();
        // A new profile's first row is taken as it is; later rows merge into it.
        if first_row_of_new_profile {
            for identity in &record.identities {
                if !owners.contains_key(identity) {
                    owners.insert(identity.clone(), id);
                    new_identities.push((identity.0.clone(), identity.1.clone(), id));
                }
            }
            let i = fresh_index[&id];
            fresh[i].1 = record.attributes;
            continue;
        }
        // Merge the given attributes into the profile's current ones.
        let current: Value = if let Some(&i) = fresh_index.get(&id) {
            fresh[i].1.clone()
        } else if let Some(v) = changed.get(&id) {
            v.clone()
        } else {
            stored
                .get(&id)
                .map(|p| p.attributes.clone())
                .ok_or_else(|| Error::Corrupt(format!("identity points to missing profile {id}")))?
        };
        let mut merged = current.clone();
        for (path, value) in leaves(&record.attributes) {
            if !value.is_null() && get_path(&merged, &path) != Some(value) {
                set_path(&mut merged, &path, value.clone());
            }
        }
        let mut added = false;
        for identity in &record.identities {
            if !owners.contains_key(identity) {
                owners.insert(identity.clone(), id);
                new_identities.push((identity.0.clone(), identity.1.clone(), id));
                added = true;
            }
        }
        if let Some(&i) = fresh_index.get(&id) {
            fresh[i].1 = merged;
        } else {
            seen_existing.insert(id);
            if merged != current {
                changed.insert(id, merged);
                touched.insert(id);
            } else if added {
                touched.insert(id);
            }
        }
    }
    outcome.updated = touched.len() as u64;
    outcome.unchanged = seen_existing.difference(&touched).count() as u64;

    // Write it all.
    let new_profiles: Vec<profile::ActiveModel> = fresh
        .into_iter()
        .map(|(id, attributes)| profile::ActiveModel {
            id: Set(id),
            attributes: Set(prune_nulls(attributes)),
            created_at: Set(now),
            updated_at: Set(now),
        })
        .collect();
    for chunk in new_profiles.chunks(2000) {
        profile::Entity::insert_many(chunk.to_vec())
            .exec(&txn)
            .await?;
    }
    for id in &touched {
        let mut update = profile::Entity::update_many()
            .col_expr(profile::Column::UpdatedAt, Expr::value(now))
            .filter(profile::Column::Id.eq(*id));
        if let Some(attributes) = changed.remove(id) {
            update = update.col_expr(
                profile::Column::Attributes,
                Expr::value(prune_nulls(attributes)),
            );
        }
        update.exec(&txn).await?;
    }
    let identities: Vec<profile_identity::ActiveModel> = new_identities
        .into_iter()
        .map(
            |(namespace, value, profile_id)| profile_identity::ActiveModel {
                namespace: Set(namespace),
                value: Set(value),
                profile_id: Set(profile_id),
            },
        )
        .collect();
    for chunk in identities.chunks(5000) {
        profile_identity::Entity::insert_many(chunk.to_vec())
            .exec(&txn)
            .await?;
    }
    txn.commit().await?;
    outcome.rejected.sort_by_key(|(line, _)| *line);
    Ok(outcome)
}

fn json_object() -> Value {
    Value::Object(serde_json::Map::new())
}

/// Who holds each of these identities now.
async fn owners_of(
    db: &impl ConnectionTrait,
    identities: &[(String, String)],
) -> Result<HashMap<(String, String), i64>> {
    // One query per namespace and chunk, so the (namespace, value) key does the finding.
    let mut by_namespace: BTreeMap<&str, Vec<&str>> = BTreeMap::new();
    for (namespace, value) in identities {
        by_namespace.entry(namespace).or_default().push(value);
    }
    let mut owners = HashMap::new();
    for (namespace, mut values) in by_namespace {
        values.sort_unstable();
        values.dedup();
        for chunk in values.chunks(500) {
            for found in profile_identity::Entity::find()
                .filter(profile_identity::Column::Namespace.eq(namespace))
                .filter(profile_identity::Column::Value.is_in(chunk.iter().copied()))
                .all(db)
                .await?
            {
                owners.insert((found.namespace, found.value), found.profile_id);
            }
        }
    }
    Ok(owners)
}

/// `n` unused profile ids. On PostgreSQL they come from the id sequence; on SQLite, which has
/// one writer at a time, from above the largest id once this transaction holds the write lock.
async fn reserve_ids(db: &impl ConnectionTrait, n: usize) -> Result<Vec<i64>> {
    if n == 0 {
        return Ok(Vec::new());
    }
    let backend = db.get_database_backend();
    if backend == sea_orm::DbBackend::Postgres {
        let rows = db
            .query_all_raw(sea_orm::Statement::from_sql_and_values(
                backend,
                "SELECT nextval(pg_get_serial_sequence('profiles', 'id')) AS id FROM generate_series(1, $1)",
                [sea_orm::Value::from(i64::try_from(n).unwrap_or(i64::MAX))],
            ))
            .await?;
        return rows
            .iter()
            .map(|r| r.try_get::<i64>("", "id").map_err(Error::from))
            .collect();
    }
    // A write takes SQLite's write lock, so no other writer can take the same ids.
    db.execute_unprepared("UPDATE profiles SET id = id WHERE 0")
        .await?;
    let max: Option<i64> = profile::Entity::find()
        .select_only()
        .column_as(profile::Column::Id.max(), "max_id")
        .into_tuple::<Option<i64>>()
        .one(db)
        .await?
        .flatten();
    let start = max.unwrap_or(0) + 1;
    Ok((start..start + i64::try_from(n).unwrap_or(i64::MAX)).collect())
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
