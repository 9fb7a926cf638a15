//! Segment definitions (create, update, delete, list) and evaluation: the rule runs inside the
//! database and memberships move between `realized` and `exited` in one transaction.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Instant;

use chrono::{DateTime, Utc};
use sea_orm::{
    ActiveModelTrait, ActiveValue::Set, ColumnTrait, ConnectionTrait, DatabaseConnection,
    DbBackend, EntityTrait, PaginatorTrait, QueryFilter, QueryOrder, QuerySelect, Statement,
    TransactionTrait,
};

use super::check::{self, Cond};
use super::rule::{self, RuleError};
use crate::entities::{segment, segment_membership};
use crate::profiles::schema::{self, Catalog};
use crate::{Error, Result};

/// How often a segment is evaluated on its own.
pub const SCHEDULES: [&str; 3] = ["manual", "hourly", "daily"];

/// A segment's definition as a form sends it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SegmentInput {
    pub name: String,
    pub description: String,
    pub rule: String,
    pub schedule: String,
}

/// What a rule check found: the rule is fine, or a mistake at a position.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RuleCheck {
    Valid,
    Invalid(RuleError),
}

/// The result of one evaluation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Evaluation {
    pub size: i64,
    pub entered: u64,
    pub exited: u64,
    pub millis: i64,
}

/// Names and ids of every segment, for resolving `in_segment(...)`.
async fn names(db: &impl ConnectionTrait) -> Result<BTreeMap<String, i32>> {
    Ok(segment::Entity::find()
        .all(db)
        .await?
        .into_iter()
        .map(|s| (s.name, s.id))
        .collect())
}

/// Checks a rule against the schema and the existing segments.
///
/// # Errors
/// [`Error::Database`].
pub async fn check_rule(
    db: &DatabaseConnection,
    rule: &str,
) -> Result<std::result::Result<Cond, RuleError>> {
    let catalog = schema::load(db).await?;
    let segments = names(db).await?;
    Ok(check::compile(rule, &catalog, &segments))
}

fn clean(input: &SegmentInput) -> Result<SegmentInput> {
    let name = input.name.trim();
    if name.is_empty() {
        return Err(Error::Invalid("A segment needs a name.".into()));
    }
    if name.chars().count() > 200 {
        return Err(Error::Invalid(
            "A segment name has at most 200 characters.".into(),
        ));
    }
    if input.description.chars().count() > 2000 {
        return Err(Error::Invalid(
            "A description has at most 2000 characters.".into(),
        ));
    }
    if !SCHEDULES.contains(&input.schedule.as_str()) {
        return Err(Error::Invalid(
            "Evaluate the segment manually, hourly or daily.".into(),
        ));
    }
    Ok(SegmentInput {
        name: name.to_owned(),
        description: input.description.trim().to_owned(),
        rule: input.rule.trim().to_owned(),
        schedule: input.schedule.clone(),
    })
}

fn invalid_rule(error: &RuleError) -> Error {
    Error::Invalid(format!("Rule, {error}"))
}

/// Creates a segment after checking its rule. It is not evaluated yet.
///
/// # Errors
/// [`Error::Invalid`] for a bad name, schedule or rule; [`Error::Conflict`] for a taken name.
pub async fn create(db: &DatabaseConnection, input: &SegmentInput) -> Result<segment::Model> {
    let input = clean(input)?;
    let txn = db.begin().await?;
    let catalog = schema::load(&txn).await?;
    let segments = names(&txn).await?;
    if segments.contains_key(&input.name) {
        return Err(Error::Conflict(format!(
            "A segment named {:?} already exists.",
            input.name
        )));
    }
    check::compile(&input.rule, &catalog, &segments).map_err(|e| invalid_rule(&e))?;
    let now = Utc::now();
    let created = segment::ActiveModel {
        public_id: Set(uuid::Uuid::new_v4().to_string()),
        name: Set(input.name),
        description: Set(input.description),
        rule: Set(input.rule),
        evaluation_schedule: Set(input.schedule),
        size: Set(None),
        last_evaluated_at: Set(None),
        last_evaluation_ms: Set(None),
        created_at: Set(now),
        updated_at: Set(now),
        ..Default::default()
    }
    .insert(&txn)
    .await?;
    txn.commit().await?;
    Ok(created)
}

/// Changes a segment. A rule may not refer to the segment itself, directly or through others.
///
/// # Errors
/// [`Error::NotFound`], [`Error::Invalid`], [`Error::Conflict`].
pub async fn update(
    db: &DatabaseConnection,
    public_id: &str,
    input: &SegmentInput,
) -> Result<segment::Model> {
    let input = clean(input)?;
    let txn = db.begin().await?;
    let found = find(&txn, public_id).await?;
    let catalog = schema::load(&txn).await?;
    let segments = names(&txn).await?;
    if segments.get(&input.name).is_some_and(|&id| id != found.id) {
        return Err(Error::Conflict(format!(
            "A segment named {:?} already exists.",
            input.name
        )));
    }
    let expr = rule::parse(&input.rule).map_err(|e| invalid_rule(&e))?;
    check::check(&input.rule, &expr, &catalog, &segments).map_err(|e| invalid_rule(&e))?;
    let all = segment::Entity::find().all(&txn).await?;
    for (name, span) in expr.segment_refs() {
        if depends_on(&all, name, found.id, &mut BTreeSet::new()) {
            let error = rule::error_at(
                &input.rule,
                span,
                format!("{name:?} depends on this segment, so using it here would make a loop"),
            );
            return Err(invalid_rule(&error));
        }
    }
    let rule_changed = found.rule != input.rule;
    let mut active: segment::ActiveModel = found.into();
    active.name = Set(input.name);
    active.description = Set(input.description);
    active.rule = Set(input.rule);
    active.evaluation_schedule = Set(input.schedule);
    active.updated_at = Set(Utc::now());
    if rule_changed {
        // The stored size described the old rule.
        active.size = Set(None);
    }
    let updated = active.update(&txn).await?;
    txn.commit().await?;
    Ok(updated)
}

/// Whether the segment `name` (by its rule, transitively) refers to the segment `target`.
fn depends_on(
    all: &[segment::Model],
    name: &str,
    target: i32,
    seen: &mut BTreeSet<String>,
) -> bool {
    let Some(current) = all.iter().find(|s| s.name == name) else {
        return false;
    };
    if current.id == target {
        return true;
    }
    if !seen.insert(name.to_owned()) {
        return false;
    }
    let Ok(expr) = rule::parse(&current.rule) else {
        return false;
    };
    expr.segment_refs()
        .iter()
        .any(|(child, _)| depends_on(all, child, target, seen))
}

/// Deletes a segment and its memberships.
///
/// # Errors
/// [`Error::NotFound`]; [`Error::Conflict`] when another segment's rule uses it.
pub async fn delete(db: &DatabaseConnection, public_id: &str) -> Result<segment::Model> {
    let txn = db.begin().await?;
    let found = find(&txn, public_id).await?;
    for other in segment::Entity::find().all(&txn).await? {
        let uses = rule::parse(&other.rule)
            .map(|e| e.segment_refs().iter().any(|(n, _)| *n == found.name))
            .unwrap_or(false);
        if uses && other.id != found.id {
            return Err(Error::Conflict(format!(
                "The segment {:?} uses this one; change its rule first.",
                other.name
            )));
        }
    }
    segment_membership::Entity::delete_many()
        .filter(segment_membership::Column::SegmentId.eq(found.id))
        .exec(&txn)
        .await?;
    segment::Entity::delete_by_id(found.id).exec(&txn).await?;
    txn.commit().await?;
    Ok(found)
}

/// Finds a segment by public id.
///
/// # Errors
/// [`Error::NotFound`].
pub async fn find(db: &impl ConnectionTrait, public_id: &str) -> Result<segment::Model> {
    segment::Entity::find()
        .filter(segment::Column::PublicId.eq(public_id))
        .one(db)
        .await?
        .ok_or_else(|| Error::NotFound("The segment".into()))
}

/// Every segment by name.
///
/// # Errors
/// [`Error::Database`].
pub async fn list(db: &impl ConnectionTrait) -> Result<Vec<segment::Model>> {
    Ok(segment::Entity::find()
        .order_by_asc(segment::Column::Name)
        .all(db)
        .await?)
}

fn statement(backend: DbBackend, sql: String, values: Vec<sea_orm::Value>) -> Statement {
    Statement::from_sql_and_values(backend, sql, values)
}

/// Counts the profiles a rule matches now, without storing anything.
///
/// # Errors
/// [`Error::Invalid`] for a bad rule; [`Error::Database`].
pub async fn estimate(db: &DatabaseConnection, rule: &str, now: DateTime<Utc>) -> Result<i64> {
    let cond = check_rule(db, rule).await?.map_err(|e| invalid_rule(&e))?;
    let backend = db.get_database_backend();
    let condition = super::sql::condition(&cond, backend, 0, now);
    let sql = format!(
        "SELECT COUNT(*) AS n FROM profiles p WHERE {}",
        condition.sql
    );
    let row = db
        .query_one_raw(statement(backend, sql, condition.values))
        .await?
        .ok_or_else(|| Error::Corrupt("COUNT returned no row".into()))?;
    Ok(row.try_get::<i64>("", "n")?)
}

/// Ids of the profiles a compiled rule matches, for tests and tools.
///
/// # Errors
/// [`Error::Database`].
pub async fn matching_ids(
    db: &impl ConnectionTrait,
    cond: &Cond,
    now: DateTime<Utc>,
) -> Result<Vec<i64>> {
    let backend = db.get_database_backend();
    let condition = super::sql::condition(cond, backend, 0, now);
    let sql = format!(
        "SELECT p.id AS id FROM profiles p WHERE {} ORDER BY p.id",
        condition.sql
    );
    let rows = db
        .query_all_raw(statement(backend, sql, condition.values))
        .await?;
    rows.iter()
        .map(|r| r.try_get::<i64>("", "id").map_err(Error::from))
        .collect()
}

/// Evaluates one segment: members who match now are `realized` (entering ones get a new
/// `qualified_at`), members who no longer match become `exited`. One transaction: readers
/// see the old memberships or the new ones, never a mix.
///
/// # Errors
/// [`Error::NotFound`]; [`Error::Invalid`] when the stored rule no longer checks (a field was
/// removed); [`Error::Database`].
pub async fn evaluate(
    db: &DatabaseConnection,
    public_id: &str,
    now: DateTime<Utc>,
) -> Result<Evaluation> {
    let started = Instant::now();
    let txn = db.begin().await?;
    let found = find(&txn, public_id).await?;
    let catalog: Catalog = schema::load(&txn).await?;
    let segments = names(&txn).await?;
    let cond = check::compile(&found.rule, &catalog, &segments).map_err(|e| invalid_rule(&e))?;
    let backend = txn.get_database_backend();

    let p = |n: usize| {
        if backend == DbBackend::Postgres {
            format!("${n}")
        } else {
            "?".to_owned()
        }
    };
    // Exiting first: realized members the rule no longer matches (or whose profile is gone).
    // Before entering, so members who enter now are not checked twice.
    let head = vec![
        sea_orm::Value::from(now),
        sea_orm::Value::from(now),
        sea_orm::Value::from(found.id),
    ];
    let condition = super::sql::condition(&cond, backend, head.len(), now);
    let exit = format!(
        "UPDATE segment_memberships SET status = 'exited', exited_at = {}, updated_at = {} \
         WHERE segment_id = {} AND status = 'realized' AND NOT EXISTS \
         (SELECT 1 FROM profiles p WHERE p.id = segment_memberships.profile_id AND {})",
        p(1),
        p(2),
        p(3),
        condition.sql
    );
    let mut values = head;
    values.extend(condition.values);
    let exited = txn
        .execute_raw(statement(backend, exit, values))
        .await?
        .rows_affected();

    // Entering: insert new members, or turn exited ones back into realized ones.
    let head = vec![
        sea_orm::Value::from(found.id),
        sea_orm::Value::from(now),
        sea_orm::Value::from(now),
    ];
    let condition = super::sql::condition(&cond, backend, head.len(), now);
    let enter = format!(
        "INSERT INTO segment_memberships (segment_id, profile_id, status, qualified_at, exited_at, updated_at) \
         SELECT {}, p.id, 'realized', {}, NULL, {} FROM profiles p WHERE {} \
         ON CONFLICT (segment_id, profile_id) DO UPDATE SET status = 'realized', \
         qualified_at = excluded.qualified_at, exited_at = NULL, updated_at = excluded.updated_at \
         WHERE segment_memberships.status = 'exited'",
        p(1),
        p(2),
        p(3),
        condition.sql
    );
    let mut values = head;
    values.extend(condition.values);
    let entered = txn
        .execute_raw(statement(backend, enter, values))
        .await?
        .rows_affected();

    let size = i64::try_from(
        segment_membership::Entity::find()
            .filter(segment_membership::Column::SegmentId.eq(found.id))
            .filter(segment_membership::Column::Status.eq("realized"))
            .count(&txn)
            .await?,
    )
    .unwrap_or(i64::MAX);
    let millis = i64::try_from(started.elapsed().as_millis()).unwrap_or(i64::MAX);
    let mut active: segment::ActiveModel = found.into();
    active.size = Set(Some(size));
    active.last_evaluated_at = Set(Some(now));
    active.last_evaluation_ms = Set(Some(millis));
    active.update(&txn).await?;
    txn.commit().await?;
    Ok(Evaluation {
        size,
        entered,
        exited,
        millis,
    })
}

/// Evaluates every segment, each after the segments its rule uses. Returns (name, result).
///
/// # Errors
/// [`Error::Database`]; a segment whose rule fails to check is reported in its result.
pub async fn evaluate_all(
    db: &DatabaseConnection,
    now: DateTime<Utc>,
) -> Result<Vec<(String, Result<Evaluation>)>> {
    evaluate_ordered(db, now, |_| true).await
}

/// Evaluates the segments `wanted` picks, each after the segments its rule uses.
async fn evaluate_ordered(
    db: &DatabaseConnection,
    now: DateTime<Utc>,
    wanted: impl Fn(&segment::Model) -> bool,
) -> Result<Vec<(String, Result<Evaluation>)>> {
    let all = list(db).await?;
    // Segments not wanted count as done: their memberships are used as they stand.
    let mut done: BTreeSet<String> = all
        .iter()
        .filter(|s| !wanted(s))
        .map(|s| s.name.clone())
        .collect();
    let all: Vec<segment::Model> = all.into_iter().filter(|s| wanted(s)).collect();
    let mut results = Vec::new();
    // Repeatedly take the segments whose dependencies are done; the rest (loops, unknown
    // names) are evaluated last and report their own error.
    let mut pending = all;
    while !pending.is_empty() {
        let (ready, waiting): (Vec<_>, Vec<_>) = pending.into_iter().partition(|s| {
            rule::parse(&s.rule)
                .map(|e| e.segment_refs().iter().all(|(n, _)| done.contains(*n)))
                .unwrap_or(true)
        });
        let (batch, rest) = if ready.is_empty() {
            (waiting, Vec::new())
        } else {
            (ready, waiting)
        };
        for s in batch {
            let result = evaluate(db, &s.public_id, now).await;
            done.insert(s.name.clone());
            results.push((s.name, result));
        }
        pending = rest;
    }
    Ok(results)
}

/// Segments whose schedule says they are due at `now`: hourly ones last evaluated an hour or
/// more ago, daily ones a day or more ago, and scheduled ones never evaluated.
///
/// # Errors
/// [`Error::Database`].
pub async fn due(db: &impl ConnectionTrait, now: DateTime<Utc>) -> Result<Vec<segment::Model>> {
    Ok(list(db)
        .await?
        .into_iter()
        .filter(|s| {
            let period = match s.evaluation_schedule.as_str() {
                "hourly" => chrono::Duration::hours(1),
                "daily" => chrono::Duration::days(1),
                _ => return false,
            };
            s.last_evaluated_at.is_none_or(|last| now - last >= period)
        })
        .collect())
}

/// Evaluates the segments that are due, the ones others depend on first.
///
/// # Errors
/// [`Error::Database`]; a segment that fails is reported in its result.
pub async fn evaluate_due(
    db: &DatabaseConnection,
    now: DateTime<Utc>,
) -> Result<Vec<(String, Result<Evaluation>)>> {
    let due: BTreeSet<String> = due(db, now).await?.into_iter().map(|s| s.name).collect();
    if due.is_empty() {
        return Ok(Vec::new());
    }
    let mut results = Vec::new();
    for (name, result) in evaluate_ordered(db, now, |s| due.contains(&s.name)).await? {
        results.push((name, result));
    }
    Ok(results)
}

/// Up to `limit` realized members of a segment, newest qualification first.
///
/// # Errors
/// [`Error::NotFound`], [`Error::Database`].
pub async fn sample_members(
    db: &DatabaseConnection,
    public_id: &str,
    limit: u64,
) -> Result<Vec<crate::profiles::store::StoredProfile>> {
    let found = find(db, public_id).await?;
    let ids: Vec<i64> = segment_membership::Entity::find()
        .select_only()
        .column(segment_membership::Column::ProfileId)
        .filter(segment_membership::Column::SegmentId.eq(found.id))
        .filter(segment_membership::Column::Status.eq("realized"))
        .order_by_desc(segment_membership::Column::QualifiedAt)
        .order_by_asc(segment_membership::Column::ProfileId)
        .limit(limit)
        .into_tuple::<i64>()
        .all(db)
        .await?;
    crate::profiles::store::load_many(db, &ids).await
}
