//! Segments (segments.view to read; segments.manage to change and evaluate) and samples of
//! their members (profiles.view).

use leptos::prelude::*;
use serde::{Deserialize, Serialize};

use crate::error::AppError;

/// A segment as the list and the editor show it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SegmentRow {
    pub id: String,
    pub name: String,
    pub description: String,
    pub rule: String,
    /// manual, hourly or daily.
    pub schedule: String,
    pub size: Option<i64>,
    pub last_evaluated_at: Option<String>,
    pub last_evaluation_ms: Option<i64>,
}

/// The segments list with the number of profiles they are drawn from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SegmentList {
    pub segments: Vec<SegmentRow>,
    pub profiles: u64,
    /// Whether the caller may create and change segments (the server checks again).
    pub can_manage: bool,
}

/// One segment with what the caller may do with it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SegmentDetail {
    pub segment: SegmentRow,
    pub can_manage: bool,
    pub can_view_members: bool,
}

/// What the editor shows under the rule while it is typed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum RuleFeedback {
    /// The rule is fine and matches about this many profiles now.
    Valid { estimate: i64 },
    /// A mistake at line and column, with the text of that line for pointing at it.
    Invalid {
        message: String,
        line: usize,
        column: usize,
        /// How many characters the mistake spans (at least one).
        width: usize,
        line_text: String,
    },
}

/// The outcome of evaluating a segment now.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EvaluationSummary {
    pub size: i64,
    pub entered: u64,
    pub exited: u64,
    pub millis: i64,
}

/// A member profile in a sample: a few telling attributes and every identity.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MemberRow {
    pub name: String,
    pub email: String,
    pub country: String,
    pub loyalty_tier: String,
    pub identities: Vec<(String, String)>,
}

#[cfg(feature = "ssr")]
fn row(s: domain::entities::segment::Model) -> SegmentRow {
    SegmentRow {
        id: s.public_id,
        name: s.name,
        description: s.description,
        rule: s.rule,
        schedule: s.evaluation_schedule,
        size: s.size,
        last_evaluated_at: s
            .last_evaluated_at
            .map(|t| t.format("%Y-%m-%d %H:%M UTC").to_string()),
        last_evaluation_ms: s.last_evaluation_ms,
    }
}

/// Every segment, by name, and how many profiles there are.
#[server(prefix = "/api", endpoint = "segments/list")]
pub async fn list_segments() -> Result<SegmentList, AppError> {
    use domain::access::Permission;
    use domain::segments::service;
    let principal = crate::auth::ssr::require(Permission::SegmentsView).await?;
    let state = crate::state::app_state()?;
    let fail = |e: domain::Error| AppError::from(e).respond();
    let segments = service::list(&state.db).await.map_err(fail)?;
    let profiles = domain::profiles::store::count(&state.db)
        .await
        .map_err(fail)?;
    Ok(SegmentList {
        segments: segments.into_iter().map(row).collect(),
        profiles,
        can_manage: principal.can(Permission::SegmentsManage),
    })
}

/// One segment.
#[server(prefix = "/api", endpoint = "segments/get")]
pub async fn get_segment(segment_id: String) -> Result<SegmentDetail, AppError> {
    use domain::access::Permission;
    let principal = crate::auth::ssr::require(Permission::SegmentsView).await?;
    let state = crate::state::app_state()?;
    let segment = domain::segments::service::find(&state.db, &segment_id)
        .await
        .map(row)
        .map_err(|e| AppError::from(e).respond())?;
    Ok(SegmentDetail {
        segment,
        can_manage: principal.can(Permission::SegmentsManage),
        can_view_members: principal.can(Permission::ProfilesView),
    })
}

/// Checks a rule as it is typed: where the first mistake is, or how many profiles it matches.
#[server(prefix = "/api", endpoint = "segments/check")]
pub async fn check_segment_rule(rule: String) -> Result<RuleFeedback, AppError> {
    use domain::access::Permission;
    use domain::segments::service;
    crate::auth::ssr::require(Permission::SegmentsManage).await?;
    let state = crate::state::app_state()?;
    let fail = |e: domain::Error| AppError::from(e).respond();
    match service::check_rule(&state.db, &rule).await.map_err(fail)? {
        Ok(_) => {
            let estimate = service::estimate(&state.db, &rule, chrono::Utc::now())
                .await
                .map_err(fail)?;
            Ok(RuleFeedback::Valid { estimate })
        }
        Err(error) => {
            let line_text = rule
                .lines()
                .nth(error.line.saturating_sub(1))
                .unwrap_or_default()
                .to_owned();
            let width = rule
                .get(error.span.start..error.span.end)
                .map_or(1, |s| s.chars().count().max(1));
            Ok(RuleFeedback::Invalid {
                message: error.message,
                line: error.line,
                column: error.column,
                width,
                line_text,
            })
        }
    }
}

#[cfg(feature = "ssr")]
fn input(
    name: String,
    description: String,
    rule: String,
    schedule: String,
) -> domain::segments::service::SegmentInput {
    domain::segments::service::SegmentInput {
        name,
        description,
        rule,
        schedule,
    }
}

/// Creates a segment; returns its id. It is evaluated on its schedule or on demand.
#[server(prefix = "/api", endpoint = "segments/create")]
pub async fn create_segment(
    name: String,
    description: String,
    rule: String,
    schedule: String,
) -> Result<String, AppError> {
    use domain::access::Permission;
    let principal = crate::auth::ssr::require(Permission::SegmentsManage).await?;
    let state = crate::state::app_state()?;
    let details =
        serde_json::json!({ "name": name.trim(), "rule": rule.trim(), "schedule": schedule });
    let result =
        domain::segments::service::create(&state.db, &input(name, description, rule, schedule))
            .await;
    let object = result
        .as_ref()
        .map(|s| s.public_id.clone())
        .unwrap_or_default();
    crate::api::audited(
        &principal,
        "segments.create",
        "segment",
        &object,
        details,
        result,
    )
    .await
    .map(|s| s.public_id)
}

/// Changes a segment's name, description, rule or schedule.
#[server(prefix = "/api", endpoint = "segments/update")]
pub async fn update_segment(
    segment_id: String,
    name: String,
    description: String,
    rule: String,
    schedule: String,
) -> Result<(), AppError> {
    use domain::access::Permission;
    use domain::segments::service;
    let principal = crate::auth::ssr::require(Permission::SegmentsManage).await?;
    let state = crate::state::app_state()?;
    let before = service::find(&state.db, &segment_id)
        .await
        .ok()
        .map(|s| serde_json::json!({ "name": s.name, "rule": s.rule, "schedule": s.evaluation_schedule }));
    let details = serde_json::json!({ "before": before, "after": { "name": name.trim(), "rule": rule.trim(), "schedule": schedule } });
    let result = service::update(
        &state.db,
        &segment_id,
        &input(name, description, rule, schedule),
    )
    .await;
    crate::api::audited(
        &principal,
        "segments.update",
        "segment",
        &segment_id,
        details,
        result,
    )
    .await
    .map(drop)
}

/// Deletes a segment and its memberships.
#[server(prefix = "/api", endpoint = "segments/delete")]
pub async fn delete_segment(segment_id: String) -> Result<(), AppError> {
    use domain::access::Permission;
    let principal = crate::auth::ssr::require(Permission::SegmentsManage).await?;
    let state = crate::state::app_state()?;
    let result = domain::segments::service::delete(&state.db, &segment_id).await;
    let details = result.as_ref().map_or(
        serde_json::json!({}),
        |s| serde_json::json!({ "name": s.name, "rule": s.rule }),
    );
    crate::api::audited(
        &principal,
        "segments.delete",
        "segment",
        &segment_id,
        details,
        result,
    )
    .await
    .map(drop)
}

/// Evaluates a segment now.
#[server(prefix = "/api", endpoint = "segments/evaluate")]
pub async fn evaluate_segment(segment_id: String) -> Result<EvaluationSummary, AppError> {
    use domain::access::Permission;
    let principal = crate::auth::ssr::require(Permission::SegmentsManage).await?;
    let state = crate::state::app_state()?;
    let result =
        domain::segments::service::evaluate(&state.db, &segment_id, chrono::Utc::now()).await;
    let details = result.as_ref().map_or(serde_json::json!({}), |e| {
        serde_json::json!({ "size": e.size, "entered": e.entered, "exited": e.exited, "ms": e.millis })
    });
    crate::api::audited(
        &principal,
        "segments.evaluate",
        "segment",
        &segment_id,
        details,
        result,
    )
    .await
    .map(|e| EvaluationSummary {
        size: e.size,
        entered: e.entered,
        exited: e.exited,
        millis: e.millis,
    })
}

/// Up to 20 current members of a segment, newest first.
#[server(prefix = "/api", endpoint = "segments/members")]
pub async fn sample_segment_members(segment_id: String) -> Result<Vec<MemberRow>, AppError> {
    use domain::access::Permission;
    use domain::profiles::values::get_path;
    crate::auth::ssr::require(Permission::ProfilesView).await?;
    let state = crate::state::app_state()?;
    let members = domain::segments::service::sample_members(&state.db, &segment_id, 20)
        .await
        .map_err(|e| AppError::from(e).respond())?;
    let text = |v: &serde_json::Value, path: &str| {
        get_path(v, path)
            .and_then(|x| x.as_str())
            .unwrap_or_default()
            .to_owned()
    };
    Ok(members
        .into_iter()
        .map(|p| MemberRow {
            name: format!(
                "{} {}",
                text(&p.attributes, "person.name.firstName"),
                text(&p.attributes, "person.name.lastName")
            )
            .trim()
            .to_owned(),
            // The address as given, else the Email identity.
            email: Some(text(&p.attributes, "personalEmail.address"))
                .filter(|e| !e.is_empty())
                .or_else(|| {
                    p.identities
                        .iter()
                        .find(|(ns, _)| ns == "Email")
                        .map(|(_, v)| v.clone())
                })
                .unwrap_or_default(),
            country: text(&p.attributes, "homeAddress.countryCode"),
            loyalty_tier: text(&p.attributes, "loyalty.tier"),
            identities: p.identities,
        })
        .collect())
}
