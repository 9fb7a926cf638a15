//! Export runs: "run now" and "export file now" (activators and managers), the runs of a
//! dataflow and one run's details (destinations.view), and why a profile was not exported
//! (destinations.view with profiles.view).

use std::collections::BTreeMap;

use leptos::prelude::*;
use serde::{Deserialize, Serialize};

use crate::error::AppError;

/// A run as lists show it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RunRow {
    pub id: String,
    pub segment_name: String,
    pub slot: String,
    /// scheduled or manual.
    pub trigger: String,
    /// queued, running, success, partial or failed.
    pub status: String,
    pub attempt: i32,
    pub started_at: Option<String>,
    pub finished_at: Option<String>,
    pub received: i64,
    pub activated: i64,
    pub excluded: BTreeMap<String, i64>,
    pub failed: BTreeMap<String, i64>,
    /// (name, rows, bytes, sha256).
    pub files: Vec<(String, u64, u64, String)>,
    pub error: Option<String>,
}

/// A record a platform refused, as the run page shows it (hashed identities, redacted samples).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FailedRecordRow {
    /// add or remove.
    pub action: String,
    /// The prepared identities as sent (platform key → value).
    pub identities: String,
    pub reason: String,
    pub status_code: Option<i32>,
    pub request_sample: String,
    pub response_sample: String,
    pub replayed: bool,
}

/// One run's page.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RunDetail {
    pub run: RunRow,
    pub dataflow_id: String,
    pub dataflow_name: String,
    pub can_explain: bool,
    /// The first refused records of a streaming run.
    pub failed_records: Vec<FailedRecordRow>,
    /// Some records wait for a replay and the user may start one.
    pub can_replay: bool,
    /// For a replay run: the run whose records it re-sent.
    pub replay_of: Option<String>,
}

/// A dataflow's streaming runs added up per hour.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HourRow {
    pub hour: String,
    pub runs: i64,
    pub failed_runs: i64,
    pub received: i64,
    pub activated: i64,
    pub excluded: BTreeMap<String, i64>,
    pub failed: BTreeMap<String, i64>,
}

#[cfg(feature = "ssr")]
fn time(t: chrono::DateTime<chrono::Utc>) -> String {
    t.format("%Y-%m-%d %H:%M:%S UTC").to_string()
}

#[cfg(feature = "ssr")]
fn row(r: domain::entities::dataflow_run::Model, segments: &BTreeMap<i32, String>) -> RunRow {
    let files: Vec<domain::export::runs::FileRecord> =
        serde_json::from_str(&r.files).unwrap_or_default();
    RunRow {
        id: r.public_id,
        segment_name: segments
            .get(&r.segment_id)
            .cloned()
            .unwrap_or_else(|| "(deleted segment)".into()),
        slot: time(r.slot),
        trigger: r.trigger,
        status: r.status,
        attempt: r.attempt,
        started_at: r.started_at.map(time),
        finished_at: r.finished_at.map(time),
        received: r.received,
        activated: r.activated,
        excluded: serde_json::from_str(&r.excluded).unwrap_or_default(),
        failed: serde_json::from_str(&r.failed).unwrap_or_default(),
        files: files
            .into_iter()
            .map(|f| (f.name, f.rows, f.bytes, f.sha256))
            .collect(),
        error: r.error,
    }
}

#[cfg(feature = "ssr")]
async fn segment_names(
    db: &domain::db::DatabaseConnection,
) -> Result<BTreeMap<i32, String>, AppError> {
    Ok(domain::segments::service::list(db)
        .await
        .map_err(|e| AppError::from(e).respond())?
        .into_iter()
        .map(|s| (s.id, s.name))
        .collect())
}

/// Queues a run for every activated segment now, or for one (`segment_id`): "run now" and
/// "export file now".
#[server(prefix = "/api", endpoint = "dataflows/run-now")]
pub async fn run_now(
    dataflow_id: String,
    #[server(default)] segment_id: Option<String>,
) -> Result<usize, AppError> {
    use domain::access::Permission;
    let principal = crate::auth::ssr::require_any(&[
        Permission::DestinationsManage,
        Permission::DestinationsActivate,
        Permission::DestinationsActivateWithoutMapping,
    ])
    .await?;
    let state = crate::state::app_state()?;
    let result = domain::export::runs::enqueue_manual(
        &state.db,
        &dataflow_id,
        segment_id.as_deref().filter(|s| !s.is_empty()),
    )
    .await;
    let details = serde_json::json!({ "segment": segment_id });
    crate::api::audited(
        &principal,
        "dataflow.run_now",
        "dataflow",
        &dataflow_id,
        details,
        result,
    )
    .await
    .map(|runs| runs.len())
}

/// The latest runs of a dataflow, newest first.
#[server(prefix = "/api", endpoint = "runs/list")]
pub async fn list_runs(dataflow_id: String) -> Result<Vec<RunRow>, AppError> {
    use domain::access::Permission;
    crate::auth::ssr::require(Permission::DestinationsView).await?;
    let state = crate::state::app_state()?;
    let fail = |e: domain::Error| AppError::from(e).respond();
    let flow = domain::activation::find_dataflow(&state.db, &dataflow_id)
        .await
        .map_err(fail)?;
    let names = segment_names(&state.db).await?;
    let runs = domain::export::runs::list(&state.db, flow.id, 50)
        .await
        .map_err(fail)?;
    Ok(runs.into_iter().map(|r| row(r, &names)).collect())
}

/// One run with its counts, files and error.
#[server(prefix = "/api", endpoint = "runs/get")]
pub async fn get_run(run_id: String) -> Result<RunDetail, AppError> {
    use domain::access::Permission;
    let principal = crate::auth::ssr::require(Permission::DestinationsView).await?;
    let state = crate::state::app_state()?;
    let fail = |e: domain::Error| AppError::from(e).respond();
    let run = domain::export::runs::find(&state.db, &run_id)
        .await
        .map_err(fail)?;
    let flow = domain::export::runs::dataflow_of(&state.db, &run)
        .await
        .map_err(fail)?;
    let names = segment_names(&state.db).await?;
    let failed = domain::export::runs::failed_records(&state.db, &run, 100)
        .await
        .map_err(fail)?;
    let may_replay = principal.can(Permission::DestinationsManage)
        || principal.can(Permission::DestinationsActivate)
        || principal.can(Permission::DestinationsActivateWithoutMapping);
    let replay_of = match run.replay_of {
        Some(id) => domain::export::runs::public_id_of(&state.db, id)
            .await
            .map_err(fail)?,
        None => None,
    };
    Ok(RunDetail {
        can_replay: may_replay && failed.iter().any(|f| f.replayed_at.is_none()),
        replay_of,
        failed_records: failed
            .into_iter()
            .map(|f| FailedRecordRow {
                identities: serde_json::from_str::<serde_json::Value>(&f.record)
                    .ok()
                    .and_then(|r| r.get("identities").map(ToString::to_string))
                    .unwrap_or_default(),
                action: f.action,
                reason: f.reason,
                status_code: f.status_code,
                request_sample: f.request_sample,
                response_sample: f.response_sample,
                replayed: f.replayed_at.is_some(),
            })
            .collect(),
        dataflow_id: flow
            .as_ref()
            .map(|f| f.public_id.clone())
            .unwrap_or_default(),
        dataflow_name: flow
            .map(|f| f.name)
            .unwrap_or_else(|| "(deleted dataflow)".into()),
        run: row(run, &names),
        can_explain: principal.can(Permission::ProfilesView),
    })
}

/// Why a run did not export the profile holding an identity, in plain words.
#[server(prefix = "/api", endpoint = "runs/why")]
pub async fn why_not_exported(
    run_id: String,
    namespace: String,
    value: String,
) -> Result<String, AppError> {
    use domain::access::Permission;
    use domain::export::runs::Explanation;
    let principal = crate::auth::ssr::require(Permission::DestinationsView).await?;
    if !principal.can(Permission::ProfilesView) {
        return Err(AppError::Forbidden.respond());
    }
    let state = crate::state::app_state()?;
    let fail = |e: domain::Error| AppError::from(e).respond();
    let run = domain::export::runs::find(&state.db, &run_id)
        .await
        .map_err(fail)?;
    let answer =
        domain::export::runs::why_excluded(&state.db, &run, namespace.trim(), value.trim())
            .await
            .map_err(fail)?;
    Ok(match answer {
        Explanation::Exported => "It was exported in this run.".into(),
        Explanation::Excluded(reason) => format!(
            "It was left out: {}.",
            match reason.as_str() {
                "no_consent" =>
                    "the profile has not consented to this use (a consent the marketing actions need is not \"y\")",
                "missing_mandatory_key" =>
                    "a mandatory field or identity is missing or cannot be prepared",
                "duplicate" => "another profile with the same deduplication key was more recent",
                "malformed_email" => "its email address cannot be read as one",
                "malformed_phone" => "its phone number cannot be read",
                "empty_identity" => "its identity value is empty",
                "no_identity" => "it has none of the identities the destination matches on",
                "policy" =>
                    "a data-usage policy blocked the whole run (a label on a mapped field forbids this dataflow's marketing actions)",
                other => other,
            }
        ),
        Explanation::NotInSegment => "It was not in the segment when this run read it.".into(),
        Explanation::RunNotFinished => "This run has not finished yet.".into(),
    })
}

/// Queues a run that re-sends the records this run failed to deliver; returns its id.
#[server(prefix = "/api", endpoint = "runs/replay")]
pub async fn replay_failed(run_id: String) -> Result<String, AppError> {
    use domain::access::Permission;
    let principal = crate::auth::ssr::require_any(&[
        Permission::DestinationsManage,
        Permission::DestinationsActivate,
        Permission::DestinationsActivateWithoutMapping,
    ])
    .await?;
    let state = crate::state::app_state()?;
    let result = domain::export::runs::enqueue_replay(&state.db, &run_id).await;
    crate::api::audited(
        &principal,
        "run.replay",
        "run",
        &run_id,
        serde_json::json!({}),
        result,
    )
    .await
    .map(|run| run.public_id)
}

/// A streaming dataflow's runs of the last two days, added up per hour, newest first (nothing
/// for a file dataflow).
#[server(prefix = "/api", endpoint = "runs/hourly")]
pub async fn hourly_runs(dataflow_id: String) -> Result<Vec<HourRow>, AppError> {
    use domain::access::Permission;
    crate::auth::ssr::require(Permission::DestinationsView).await?;
    let state = crate::state::app_state()?;
    let fail = |e: domain::Error| AppError::from(e).respond();
    let flow = domain::activation::find_dataflow(&state.db, &dataflow_id)
        .await
        .map_err(fail)?;
    // Only streaming dataflows run often enough to be read by the hour.
    let streaming = state
        .connectors
        .spec(&flow.destination_id)
        .is_ok_and(|s| s.connection == domain::catalog::ConnectionType::Streaming);
    if !streaming {
        return Ok(Vec::new());
    }
    let hours = domain::export::runs::hourly(&state.db, flow.id, 48, chrono::Utc::now())
        .await
        .map_err(fail)?;
    Ok(hours
        .into_iter()
        .map(|h| HourRow {
            hour: h.hour.format("%Y-%m-%d %H:00 UTC").to_string(),
            runs: h.runs,
            failed_runs: h.failed_runs,
            received: h.received,
            activated: h.activated,
            excluded: h.excluded,
            failed: h.failed,
        })
        .collect())
}

/// A dataflow's alert subscriptions.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AlertSettings {
    pub on_failure: bool,
    pub on_success: bool,
    pub on_delay: bool,
    pub delay_minutes: i32,
    pub webhook_url: String,
    /// Managers and activators may change them.
    pub can_edit: bool,
}

/// An in-app notification.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NotificationRow {
    /// failure, success or delay.
    pub kind: String,
    pub message: String,
    pub created_at: String,
    pub dataflow_id: Option<String>,
    pub dataflow_name: String,
}

/// The alert subscriptions of a dataflow.
#[server(prefix = "/api", endpoint = "alerts/get")]
pub async fn get_alerts(dataflow_id: String) -> Result<AlertSettings, AppError> {
    use domain::access::Permission;
    let principal = crate::auth::ssr::require(Permission::DestinationsView).await?;
    let state = crate::state::app_state()?;
    let settings = domain::export::alerts::get(&state.db, &dataflow_id)
        .await
        .map_err(|e| AppError::from(e).respond())?;
    Ok(AlertSettings {
        on_failure: settings.on_failure,
        on_success: settings.on_success,
        on_delay: settings.on_delay,
        delay_minutes: settings.delay_minutes,
        webhook_url: settings.webhook_url.unwrap_or_default(),
        can_edit: principal.can(Permission::DestinationsManage)
            || principal.can(Permission::DestinationsActivate),
    })
}

/// Changes the alert subscriptions of a dataflow.
#[server(prefix = "/api", endpoint = "alerts/set")]
pub async fn set_alerts(
    dataflow_id: String,
    #[server(default)] on_failure: bool,
    #[server(default)] on_success: bool,
    #[server(default)] on_delay: bool,
    delay_minutes: i32,
    #[server(default)] webhook_url: String,
) -> Result<(), AppError> {
    use domain::access::Permission;
    let principal = crate::auth::ssr::require_any(&[
        Permission::DestinationsManage,
        Permission::DestinationsActivate,
    ])
    .await?;
    let state = crate::state::app_state()?;
    let settings = domain::export::alerts::Settings {
        on_failure,
        on_success,
        on_delay,
        delay_minutes,
        webhook_url: Some(webhook_url.clone()).filter(|u| !u.trim().is_empty()),
    };
    let result = domain::export::alerts::set(&state.db, &dataflow_id, &settings).await;
    // The webhook may carry a token in its query: the audit keeps only its host.
    let host = webhook_url.split('/').nth(2).unwrap_or_default().to_owned();
    let details = serde_json::json!({
        "on_failure": on_failure, "on_success": on_success, "on_delay": on_delay,
        "delay_minutes": delay_minutes, "webhook_host": host,
    });
    crate::api::audited(
        &principal,
        "dataflow.alerts",
        "dataflow",
        &dataflow_id,
        details,
        result,
    )
    .await
    .map(|_| ())
}

/// The latest notifications.
#[server(prefix = "/api", endpoint = "notifications/list")]
pub async fn list_notifications() -> Result<Vec<NotificationRow>, AppError> {
    use domain::access::Permission;
    crate::auth::ssr::require(Permission::DestinationsView).await?;
    let state = crate::state::app_state()?;
    let found = domain::export::alerts::recent(&state.db, 100)
        .await
        .map_err(|e| AppError::from(e).respond())?;
    Ok(found
        .into_iter()
        .map(|(n, flow)| NotificationRow {
            kind: n.kind,
            message: n.message,
            created_at: time(n.created_at),
            dataflow_id: flow.as_ref().map(|f| f.public_id.clone()),
            dataflow_name: flow.map_or_else(|| "(deleted dataflow)".into(), |f| f.name),
        })
        .collect())
}
