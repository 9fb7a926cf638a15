//! The run queue: runs created for due slots and on request, claimed by workers with a
//! conditional update and a lease (so several processes on one database never run the same
//! run twice, and a crashed worker's run is retried), renewed while working, and finished.

use std::collections::BTreeMap;

use chrono::{DateTime, Duration, NaiveTime, Timelike, Utc};
use sea_orm::sea_query::{Expr, ExprTrait};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, DatabaseConnection, DbErr, EntityTrait,
    PaginatorTrait, QueryFilter, QueryOrder, QuerySelect, Set, SqlErr, Statement, TransactionTrait,
};
use serde::{Deserialize, Serialize};

use super::schedule::Plan;
use crate::entities::{dataflow, dataflow_run, dataflow_segment, run_exclusion, segment};
use crate::{Error, Result};

/// A file a run wrote.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FileRecord {
    pub name: String,
    pub rows: u64,
    pub bytes: u64,
    pub sha256: String,
}

/// What a finished run reports.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Outcome {
    pub received: i64,
    pub activated: i64,
    pub excluded: BTreeMap<String, i64>,
    pub failed: BTreeMap<String, i64>,
    pub files: Vec<FileRecord>,
    /// Why the run was stopped before delivering anything, its members counted as excluded
    /// (a data-usage policy the activation no longer passes).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub blocked: Option<String>,
}

/// Whether an insert hit a unique index (the row already exists).
pub(crate) fn is_unique_violation(error: &DbErr) -> bool {
    matches!(error.sql_err(), Some(SqlErr::UniqueConstraintViolation(_)))
}

async fn insert_run(
    db: &impl ConnectionTrait,
    dataflow_id: i32,
    segment_id: i32,
    slot: DateTime<Utc>,
    trigger: &str,
    replay_of: Option<i64>,
) -> Result<Option<dataflow_run::Model>> {
    let created = dataflow_run::ActiveModel {
        replay_of: Set(replay_of),
        public_id: Set(uuid::Uuid::new_v4().to_string()),
        dataflow_id: Set(dataflow_id),
        segment_id: Set(segment_id),
        slot: Set(slot),
        trigger: Set(trigger.into()),
        status: Set("queued".into()),
        attempt: Set(0),
        lease_owner: Set(None),
        lease_expires_at: Set(None),
        started_at: Set(None),
        finished_at: Set(None),
        received: Set(0),
        activated: Set(0),
        excluded: Set("{}".into()),
        failed: Set("{}".into()),
        files: Set("[]".into()),
        error: Set(None),
        created_at: Set(Utc::now()),
        ..Default::default()
    }
    .insert(db)
    .await;
    match created {
        Ok(run) => Ok(Some(run)),
        Err(e) if is_unique_violation(&e) => Ok(None),
        Err(e) => Err(e.into()),
    }
}

/// "Run now" / "export file now": a run for each activated segment (or the one named), with
/// the current second as its slot.
///
/// # Errors
/// [`Error::NotFound`] for an unknown dataflow or a segment it does not activate;
/// [`Error::Invalid`] when nothing is activated.
pub async fn enqueue_manual(
    db: &DatabaseConnection,
    dataflow_id: &str,
    segment_id: Option<&str>,
) -> Result<Vec<dataflow_run::Model>> {
    let flow = crate::activation::find_dataflow(db, dataflow_id).await?;
    let mut rows = dataflow_segment::Entity::find()
        .filter(dataflow_segment::Column::DataflowId.eq(flow.id))
        .all(db)
        .await?;
    if let Some(public_id) = segment_id {
        let segment = crate::segments::service::find(db, public_id).await?;
        rows.retain(|r| r.segment_id == segment.id);
        if rows.is_empty() {
            return Err(Error::NotFound("That segment in this dataflow".into()));
        }
    }
    if rows.is_empty() {
        return Err(Error::Invalid(
            "Activate a segment before running this dataflow.".into(),
        ));
    }
    let slot = Utc::now().with_nanosecond(0).unwrap_or_else(Utc::now);
    let mut runs = Vec::new();
    for row in rows {
        // A streaming segment delivers its changes in one run at a time: "run now" while one
        // waits is that run.
        if row.schedule == "streaming"
            && let Some(waiting) = dataflow_run::Entity::find()
                .filter(dataflow_run::Column::DataflowId.eq(flow.id))
                .filter(dataflow_run::Column::SegmentId.eq(row.segment_id))
                .filter(dataflow_run::Column::Trigger.ne("replay"))
                .filter(dataflow_run::Column::Status.is_in(["queued", "running"]))
                .one(db)
                .await?
        {
            runs.push(waiting);
            continue;
        }
        if let Some(run) = insert_run(db, flow.id, row.segment_id, slot, "manual", None).await? {
            runs.push(run);
        }
    }
    Ok(runs)
}

/// How long a streaming segment waits after a failed run before the next one.
pub const STREAMING_RETRY_AFTER: Duration = Duration::minutes(5);

/// Whether a streaming segment needs a run: within its dates, none waiting, and its membership
/// changed since the last delivered run (or it never delivered).
async fn streaming_due(
    db: &DatabaseConnection,
    row: &dataflow_segment::Model,
    now: DateTime<Utc>,
) -> Result<bool> {
    use crate::entities::segment_membership as m;
    let today = now.date_naive();
    if today < row.start_date || row.end_date.is_some_and(|end| today >= end) {
        return Ok(false);
    }
    let runs_of = || {
        dataflow_run::Entity::find()
            .filter(dataflow_run::Column::DataflowId.eq(row.dataflow_id))
            .filter(dataflow_run::Column::SegmentId.eq(row.segment_id))
            .filter(dataflow_run::Column::Trigger.ne("replay"))
            .order_by_desc(dataflow_run::Column::Id)
    };
    match runs_of().one(db).await? {
        Some(last) if last.status == "queued" || last.status == "running" => return Ok(false),
        Some(last)
            if last.status == "failed"
                && last
                    .finished_at
                    .is_some_and(|t| now - t < STREAMING_RETRY_AFTER) =>
        {
            return Ok(false);
        }
        _ => {}
    }
    let delivered = runs_of()
        .filter(dataflow_run::Column::Status.is_in(["success", "partial"]))
        .one(db)
        .await?;
    let Some(since) = delivered.and_then(|r| r.window_end.or(r.started_at)) else {
        return Ok(true);
    };
    let changed = m::Entity::find()
        .filter(m::Column::SegmentId.eq(row.segment_id))
        .filter(
            (m::Column::Status
                .eq("realized")
                .and(m::Column::QualifiedAt.gt(since)))
            .or(m::Column::Status
                .eq("exited")
                .and(m::Column::ExitedAt.gt(since))),
        )
        .limit(1)
        .count(db)
        .await?;
    Ok(changed > 0)
}

/// Queues a run that re-sends the records `run_id` failed to deliver (those not replayed yet).
///
/// # Errors
/// [`Error::NotFound`] for an unknown run, [`Error::Invalid`] when it has nothing to replay or
/// a replay of it is already waiting.
pub async fn enqueue_replay(db: &DatabaseConnection, run_id: &str) -> Result<dataflow_run::Model> {
    use crate::entities::run_failed_record;
    let source = find(db, run_id).await?;
    let pending = run_failed_record::Entity::find()
        .filter(run_failed_record::Column::RunId.eq(source.id))
        .filter(run_failed_record::Column::ReplayedAt.is_null())
        .count(db)
        .await?;
    if pending == 0 {
        return Err(Error::Invalid(
            "This run has no failed records left to replay.".into(),
        ));
    }
    let waiting = dataflow_run::Entity::find()
        .filter(dataflow_run::Column::ReplayOf.eq(source.id))
        .filter(dataflow_run::Column::Status.is_in(["queued", "running"]))
        .count(db)
        .await?;
    let slot = Utc::now().with_nanosecond(0).unwrap_or_else(Utc::now);
    let created = if waiting == 0 {
        insert_run(
            db,
            source.dataflow_id,
            source.segment_id,
            slot,
            "replay",
            Some(source.id),
        )
        .await?
    } else {
        None
    };
    let Some(created) = created else {
        return Err(Error::Invalid(
            "A replay of this run is already waiting; it starts in a moment.".into(),
        ));
    };
    Ok(created)
}

/// The records a run failed to deliver, oldest first (at most `limit`).
///
/// # Errors
/// Database failures.
pub async fn failed_records(
    db: &impl ConnectionTrait,
    run: &dataflow_run::Model,
    limit: u64,
) -> Result<Vec<crate::entities::run_failed_record::Model>> {
    use crate::entities::run_failed_record;
    Ok(run_failed_record::Entity::find()
        .filter(run_failed_record::Column::RunId.eq(run.id))
        .order_by_asc(run_failed_record::Column::Id)
        .limit(limit)
        .all(db)
        .await?)
}

/// The plan of an activated segment, or `None` for streaming.
pub fn plan_of(row: &dataflow_segment::Model) -> Option<Plan> {
    let schedule = serde_json::from_value(serde_json::Value::String(row.schedule.clone())).ok()?;
    if schedule == crate::catalog::spec::Schedule::Streaming {
        return None;
    }
    let time = row
        .time_of_day
        .as_deref()
        .and_then(|t| NaiveTime::parse_from_str(t, "%H:%M").ok())
        .unwrap_or(NaiveTime::MIN);
    Some(Plan {
        schedule,
        time,
        start: row.start_date,
        end: row.end_date,
    })
}

/// Creates a run for the latest due slot of every enabled dataflow's segments, unless one
/// exists. "After segment evaluation" slots are the segment's last evaluation. Returns how
/// many runs were created; safe to call from several processes at once.
///
/// # Errors
/// Database failures.
pub async fn enqueue_due(db: &DatabaseConnection, now: DateTime<Utc>) -> Result<usize> {
    let enabled: BTreeMap<i32, dataflow::Model> = dataflow::Entity::find()
        .filter(dataflow::Column::Status.eq("enabled"))
        .all(db)
        .await?
        .into_iter()
        .map(|d| (d.id, d))
        .collect();
    if enabled.is_empty() {
        return Ok(0);
    }
    let segments: BTreeMap<i32, segment::Model> = segment::Entity::find()
        .all(db)
        .await?
        .into_iter()
        .map(|s| (s.id, s))
        .collect();
    let mut created = 0;
    for row in dataflow_segment::Entity::find()
        .filter(
            dataflow_segment::Column::DataflowId.is_in(enabled.keys().copied().collect::<Vec<_>>()),
        )
        .all(db)
        .await?
    {
        let Some(plan) = plan_of(&row) else {
            // Streaming: a run per membership change, at most one waiting at a time; the slot
            // is the minute, so processes that tick together create it once.
            if row.schedule == "streaming" && streaming_due(db, &row, now).await? {
                let minute = now.with_second(0).and_then(|t| t.with_nanosecond(0));
                let slot = minute.unwrap_or(now);
                if insert_run(db, row.dataflow_id, row.segment_id, slot, "streaming", None)
                    .await?
                    .is_some()
                {
                    created += 1;
                }
            }
            continue;
        };
        let slot = if row.after_evaluation {
            segments
                .get(&row.segment_id)
                .and_then(|s| s.last_evaluated_at)
                .filter(|t| {
                    *t <= now
                        && t.date_naive() >= row.start_date
                        && row.end_date.is_none_or(|end| t.date_naive() < end)
                })
                .map(|t| t.with_nanosecond(0).unwrap_or(t))
        } else {
            plan.latest_due(now)
        };
        // Only slots since the segment was activated: activating today does not export
        // yesterday's slot.
        let Some(slot) = slot.filter(|s| {
            *s >= row.created_at.with_nanosecond(0).unwrap_or(row.created_at) - Duration::seconds(1)
        }) else {
            continue;
        };
        if insert_run(db, row.dataflow_id, row.segment_id, slot, "scheduled", None)
            .await?
            .is_some()
        {
            created += 1;
        }
    }
    Ok(created)
}

/// Claims the oldest queued run, or a running one whose lease expired (its worker died), for
/// `owner` until `now + lease`. The conditional update makes the claim exclusive on SQLite and
/// PostgreSQL alike.
///
/// # Errors
/// Database failures.
pub async fn claim(
    db: &DatabaseConnection,
    owner: &str,
    lease: Duration,
    now: DateTime<Utc>,
) -> Result<Option<dataflow_run::Model>> {
    for _ in 0..5 {
        let candidate = dataflow_run::Entity::find()
            .filter(
                dataflow_run::Column::Status
                    .eq("queued")
                    .or(dataflow_run::Column::Status
                        .eq("running")
                        .and(dataflow_run::Column::LeaseExpiresAt.lt(now))),
            )
            .order_by_asc(dataflow_run::Column::Id)
            .limit(1)
            .one(db)
            .await?;
        let Some(candidate) = candidate else {
            return Ok(None);
        };
        let claimed = dataflow_run::Entity::update_many()
            .col_expr(dataflow_run::Column::Status, Expr::value("running"))
            .col_expr(dataflow_run::Column::LeaseOwner, Expr::value(owner))
            .col_expr(
                dataflow_run::Column::LeaseExpiresAt,
                Expr::value(now + lease),
            )
            .col_expr(
                dataflow_run::Column::Attempt,
                Expr::col(dataflow_run::Column::Attempt).add(1),
            )
            .col_expr(dataflow_run::Column::StartedAt, Expr::value(now))
            // The first claim fixes the window a streaming run delivers; a retry keeps it.
            .col_expr(
                dataflow_run::Column::WindowEnd,
                Expr::value(candidate.window_end.unwrap_or(now)),
            )
            .filter(dataflow_run::Column::Id.eq(candidate.id))
            .filter(
                dataflow_run::Column::Status
                    .eq("queued")
                    .or(dataflow_run::Column::Status
                        .eq("running")
                        .and(dataflow_run::Column::LeaseExpiresAt.lt(now))),
            )
            .exec(db)
            .await?;
        if claimed.rows_affected == 1 {
            return Ok(dataflow_run::Entity::find_by_id(candidate.id)
                .one(db)
                .await?);
        }
        // Another worker took it first: try the next one.
    }
    Ok(None)
}

/// Extends the lease of a run this owner holds; false when it was lost.
///
/// # Errors
/// Database failures.
pub async fn renew(
    db: &DatabaseConnection,
    run_id: i64,
    owner: &str,
    until: DateTime<Utc>,
) -> Result<bool> {
    let renewed = dataflow_run::Entity::update_many()
        .col_expr(dataflow_run::Column::LeaseExpiresAt, Expr::value(until))
        .filter(dataflow_run::Column::Id.eq(run_id))
        .filter(dataflow_run::Column::LeaseOwner.eq(owner))
        .filter(dataflow_run::Column::Status.eq("running"))
        .exec(db)
        .await?;
    Ok(renewed.rows_affected == 1)
}

/// Records progress (profiles read so far) while running.
///
/// # Errors
/// Database failures.
pub async fn progress(db: &DatabaseConnection, run_id: i64, received: i64) -> Result<()> {
    dataflow_run::Entity::update_many()
        .col_expr(dataflow_run::Column::Received, Expr::value(received))
        .filter(dataflow_run::Column::Id.eq(run_id))
        .exec(db)
        .await?;
    Ok(())
}

/// Finishes a run this owner holds: success (nothing failed), partial (some records failed) or
/// failed (with the error, or blocked with its members counted as excluded).
///
/// # Errors
/// Database failures.
pub async fn finish(
    db: &DatabaseConnection,
    run_id: i64,
    owner: &str,
    result: std::result::Result<&Outcome, &str>,
) -> Result<()> {
    let now = Utc::now();
    let mut update = dataflow_run::Entity::update_many()
        .col_expr(dataflow_run::Column::FinishedAt, Expr::value(now))
        .col_expr(
            dataflow_run::Column::LeaseExpiresAt,
            Expr::value(Option::<DateTime<Utc>>::None),
        )
        .filter(dataflow_run::Column::Id.eq(run_id))
        .filter(dataflow_run::Column::LeaseOwner.eq(owner));
    update = match result {
        Ok(outcome) => {
            let status = if outcome.blocked.is_some() {
                "failed"
            } else if outcome.failed.values().any(|n| *n > 0) {
                "partial"
            } else {
                "success"
            };
            update
                .col_expr(dataflow_run::Column::Status, Expr::value(status))
                .col_expr(
                    dataflow_run::Column::Received,
                    Expr::value(outcome.received),
                )
                .col_expr(
                    dataflow_run::Column::Activated,
                    Expr::value(outcome.activated),
                )
                .col_expr(
                    dataflow_run::Column::Excluded,
                    Expr::value(serde_json::to_string(&outcome.excluded).unwrap_or_default()),
                )
                .col_expr(
                    dataflow_run::Column::Failed,
                    Expr::value(serde_json::to_string(&outcome.failed).unwrap_or_default()),
                )
                .col_expr(
                    dataflow_run::Column::Files,
                    Expr::value(serde_json::to_string(&outcome.files).unwrap_or_default()),
                )
                .col_expr(
                    dataflow_run::Column::Error,
                    Expr::value(outcome.blocked.clone()),
                )
        }
        Err(message) => update
            .col_expr(dataflow_run::Column::Status, Expr::value("failed"))
            .col_expr(dataflow_run::Column::Error, Expr::value(message.to_owned())),
    };
    update.exec(db).await?;
    Ok(())
}

/// How many profiles are in a segment now.
///
/// # Errors
/// Database failures.
pub async fn member_count(db: &DatabaseConnection, segment_id: i32) -> Result<i64> {
    use crate::entities::segment_membership;
    let count = segment_membership::Entity::find()
        .filter(segment_membership::Column::SegmentId.eq(segment_id))
        .filter(segment_membership::Column::Status.eq("realized"))
        .count(db)
        .await?;
    Ok(i64::try_from(count).unwrap_or(i64::MAX))
}

/// Records the profiles a run left out (replacing those of an earlier attempt), given in chunks.
///
/// # Errors
/// Database failures, or a chunk that could not be read.
pub async fn record_exclusions(
    db: &DatabaseConnection,
    run_id: i64,
    chunks: impl Iterator<Item = std::io::Result<Vec<(i64, &'static str)>>>,
) -> Result<()> {
    // One transaction: a retried run's list replaces the earlier one whole.
    let txn = db.begin().await?;
    run_exclusion::Entity::delete_many()
        .filter(run_exclusion::Column::RunId.eq(run_id))
        .exec(&txn)
        .await?;
    for chunk in chunks {
        let chunk =
            chunk.map_err(|e| Error::Corrupt(format!("the list of excluded profiles: {e}")))?;
        insert_exclusions(&txn, run_id, &chunk).await?;
    }
    txn.commit().await?;
    Ok(())
}

/// Adds the profiles a run left out, in multi-row inserts.
///
/// # Errors
/// Database failures.
pub(crate) async fn insert_exclusions(
    db: &impl ConnectionTrait,
    run_id: i64,
    exclusions: &[(i64, &'static str)],
) -> Result<()> {
    for chunk in exclusions.chunks(3_000) {
        let rows = chunk
            .iter()
            .map(|(profile_id, reason)| run_exclusion::ActiveModel {
                run_id: Set(run_id),
                profile_id: Set(*profile_id),
                reason: Set((*reason).into()),
            });
        run_exclusion::Entity::insert_many(rows).exec(db).await?;
    }
    Ok(())
}

/// One hour of a streaming dataflow's runs, added up.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Hour {
    /// The hour's start.
    pub hour: DateTime<Utc>,
    pub runs: i64,
    pub failed_runs: i64,
    pub received: i64,
    pub activated: i64,
    pub excluded: BTreeMap<String, i64>,
    pub failed: BTreeMap<String, i64>,
}

/// A dataflow's runs of the last `hours` hours (a streaming dataflow's, whatever started them),
/// added up per hour, newest first.
///
/// # Errors
/// Database failures.
pub async fn hourly(
    db: &DatabaseConnection,
    dataflow_id: i32,
    hours: i64,
    now: DateTime<Utc>,
) -> Result<Vec<Hour>> {
    let found = dataflow_run::Entity::find()
        .filter(dataflow_run::Column::DataflowId.eq(dataflow_id))
        .filter(dataflow_run::Column::Slot.gte(now - Duration::hours(hours)))
        .order_by_desc(dataflow_run::Column::Slot)
        .all(db)
        .await?;
    let mut by_hour: BTreeMap<DateTime<Utc>, Hour> = BTreeMap::new();
    for run in found {
        let start = run
            .slot
            .with_minute(0)
            .and_then(|t| t.with_second(0))
            .and_then(|t| t.with_nanosecond(0))
            .unwrap_or(run.slot);
        let hour = by_hour.entry(start).or_insert_with(|| Hour {
            hour: start,
            ..Hour::default()
        });
        hour.runs += 1;
        hour.failed_runs += i64::from(run.status == "failed");
        hour.received += run.received;
        hour.activated += run.activated;
        for (field, target) in [
            (&run.excluded, &mut hour.excluded),
            (&run.failed, &mut hour.failed),
        ] {
            let counts: BTreeMap<String, i64> = serde_json::from_str(field).unwrap_or_default();
            for (reason, n) in counts {
                *target.entry(reason).or_default() += n;
            }
        }
    }
    Ok(by_hour.into_values().rev().collect())
}

/// Runs of a dataflow, newest first.
///
/// # Errors
/// Database failures.
pub async fn list(
    db: &DatabaseConnection,
    dataflow_id: i32,
    limit: u64,
) -> Result<Vec<dataflow_run::Model>> {
    Ok(dataflow_run::Entity::find()
        .filter(dataflow_run::Column::DataflowId.eq(dataflow_id))
        .order_by_desc(dataflow_run::Column::Id)
        .limit(limit)
        .all(db)
        .await?)
}

/// The latest run of each dataflow.
///
/// # Errors
/// Database failures.
pub async fn latest_by_dataflow(
    db: &DatabaseConnection,
) -> Result<BTreeMap<i32, dataflow_run::Model>> {
    let backend = db.get_database_backend();
    let ids: Vec<i64> = db
        .query_all_raw(Statement::from_string(
            backend,
            "SELECT MAX(id) AS id FROM dataflow_runs GROUP BY dataflow_id".to_owned(),
        ))
        .await?
        .iter()
        .filter_map(|row| row.try_get::<i64>("", "id").ok())
        .collect();
    Ok(dataflow_run::Entity::find()
        .filter(dataflow_run::Column::Id.is_in(ids))
        .all(db)
        .await?
        .into_iter()
        .map(|r| (r.dataflow_id, r))
        .collect())
}

/// A run by public id.
///
/// # Errors
/// [`Error::NotFound`].
pub async fn find(db: &impl ConnectionTrait, public_id: &str) -> Result<dataflow_run::Model> {
    dataflow_run::Entity::find()
        .filter(dataflow_run::Column::PublicId.eq(public_id))
        .one(db)
        .await?
        .ok_or_else(|| Error::NotFound("The run".into()))
}

/// Why a run did not export the profile holding an identity: `Ok(None)` means it was
/// exported (or was not in the segment, which the caller tells apart).
///
/// # Errors
/// [`Error::NotFound`] when no profile holds the identity.
pub async fn why_excluded(
    db: &DatabaseConnection,
    run: &dataflow_run::Model,
    namespace: &str,
    value: &str,
) -> Result<Explanation> {
    let Some(profile) = crate::profiles::store::find_by_identity(db, namespace, value).await?
    else {
        return Err(Error::NotFound(format!(
            "A profile with {namespace} {value:?}"
        )));
    };
    let profile_id = profile.id;
    let excluded = run_exclusion::Entity::find()
        .filter(run_exclusion::Column::RunId.eq(run.id))
        .filter(run_exclusion::Column::ProfileId.eq(profile_id))
        .one(db)
        .await?;
    if let Some(e) = excluded {
        return Ok(Explanation::Excluded(e.reason));
    }
    let member = crate::entities::segment_membership::Entity::find()
        .filter(crate::entities::segment_membership::Column::SegmentId.eq(run.segment_id))
        .filter(crate::entities::segment_membership::Column::ProfileId.eq(profile_id))
        .one(db)
        .await?;
    let blocked_by_policy = run.status == "failed"
        && serde_json::from_str::<BTreeMap<String, i64>>(&run.excluded)
            .is_ok_and(|e| e.get("policy").is_some_and(|n| *n > 0));
    Ok(match member {
        None => Explanation::NotInSegment,
        Some(_) if blocked_by_policy => Explanation::Excluded("policy".into()),
        Some(_) if run.status == "success" || run.status == "partial" => Explanation::Exported,
        Some(_) => Explanation::RunNotFinished,
    })
}

/// The answer to "why was this profile not exported?".
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Explanation {
    Exported,
    Excluded(String),
    NotInSegment,
    RunNotFinished,
}

/// The public id of a run, by its row id.
///
/// # Errors
/// Database failures.
pub async fn public_id_of(db: &impl ConnectionTrait, id: i64) -> Result<Option<String>> {
    Ok(dataflow_run::Entity::find_by_id(id)
        .one(db)
        .await?
        .map(|r| r.public_id))
}

/// The dataflow a run belongs to, unless it was deleted since.
///
/// # Errors
/// Database failures.
pub async fn dataflow_of(
    db: &DatabaseConnection,
    run: &dataflow_run::Model,
) -> Result<Option<dataflow::Model>> {
    Ok(dataflow::Entity::find_by_id(run.dataflow_id)
        .one(db)
        .await?)
}
