//! Alerts about runs: per dataflow, subscriptions to failure, success and delay (a run still
//! not finished a set time after its slot); each becomes an in-app notification and, when a
//! webhook URL is set, a JSON POST to it.

use chrono::{DateTime, Duration, Utc};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, DatabaseConnection, EntityTrait, QueryFilter, QueryOrder,
    QuerySelect, Set,
};
use serde::{Deserialize, Serialize};

use crate::entities::{dataflow, dataflow_alert, dataflow_run, notification};
use crate::{Error, Result};

/// A dataflow's alert settings.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Settings {
    pub on_failure: bool,
    pub on_success: bool,
    pub on_delay: bool,
    /// A run not finished this many minutes after its slot is late.
    pub delay_minutes: i32,
    pub webhook_url: Option<String>,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            on_failure: false,
            on_success: false,
            on_delay: false,
            delay_minutes: 60,
            webhook_url: None,
        }
    }
}

/// The settings of a dataflow (defaults when never set).
///
/// # Errors
/// [`Error::NotFound`].
pub async fn get(db: &DatabaseConnection, dataflow_id: &str) -> Result<Settings> {
    let flow = crate::activation::find_dataflow(db, dataflow_id).await?;
    Ok(dataflow_alert::Entity::find_by_id(flow.id)
        .one(db)
        .await?
        .map(|a| Settings {
            on_failure: a.on_failure,
            on_success: a.on_success,
            on_delay: a.on_delay,
            delay_minutes: a.delay_minutes,
            webhook_url: a.webhook_url,
        })
        .unwrap_or_default())
}

/// Saves a dataflow's settings.
///
/// # Errors
/// [`Error::NotFound`]; [`Error::Invalid`] for a delay outside 1–10080 minutes or a webhook that
/// is not an http(s) URL.
pub async fn set(
    db: &DatabaseConnection,
    dataflow_id: &str,
    settings: &Settings,
) -> Result<Settings> {
    let flow = crate::activation::find_dataflow(db, dataflow_id).await?;
    if !(1..=10_080).contains(&settings.delay_minutes) {
        return Err(Error::Invalid(
            "The delay is from 1 minute to 7 days (10080 minutes).".into(),
        ));
    }
    let webhook = settings
        .webhook_url
        .as_deref()
        .map(str::trim)
        .filter(|u| !u.is_empty());
    if let Some(url) = webhook
        && (!(url.starts_with("https://") || url.starts_with("http://"))
            || url.len() > 2000
            || url.chars().any(|c| c.is_whitespace() || c.is_control()))
    {
        return Err(Error::Invalid(
            "The webhook must be an http:// or https:// URL.".into(),
        ));
    }
    let row = dataflow_alert::ActiveModel {
        dataflow_id: Set(flow.id),
        on_failure: Set(settings.on_failure),
        on_success: Set(settings.on_success),
        on_delay: Set(settings.on_delay),
        delay_minutes: Set(settings.delay_minutes),
        webhook_url: Set(webhook.map(str::to_owned)),
    };
    if dataflow_alert::Entity::find_by_id(flow.id)
        .one(db)
        .await?
        .is_some()
    {
        row.update(db).await?;
    } else {
        row.insert(db).await?;
    }
    get(db, dataflow_id).await
}

async fn settings_of(
    db: &DatabaseConnection,
    flow_id: i32,
) -> Result<Option<dataflow_alert::Model>> {
    Ok(dataflow_alert::Entity::find_by_id(flow_id).one(db).await?)
}

/// Records a notification once per run and kind, and posts it to the webhook if one is set.
async fn notify(
    db: &DatabaseConnection,
    alert: &dataflow_alert::Model,
    run: &dataflow_run::Model,
    kind: &str,
    message: String,
) -> Result<bool> {
    let created = notification::ActiveModel {
        dataflow_id: Set(run.dataflow_id),
        run_id: Set(Some(run.id)),
        kind: Set(kind.into()),
        message: Set(message.clone()),
        created_at: Set(Utc::now()),
        ..Default::default()
    }
    .insert(db)
    .await;
    match created {
        Ok(_) => {}
        Err(e) if super::runs::is_unique_violation(&e) => {
            return Ok(false);
        }
        Err(e) => return Err(e.into()),
    }
    if let Some(url) = &alert.webhook_url {
        let body = serde_json::json!({
            "kind": kind,
            "run": run.public_id,
            "status": run.status,
            "slot": run.slot.to_rfc3339(),
            "message": message,
        });
        let client = reqwest::Client::builder()
            .timeout(std::time::Duration::from_secs(10))
            .build()
            .map_err(|e| Error::Config(e.to_string()))?;
        if let Err(e) = client
            .post(url)
            .json(&body)
            .send()
            .await
            .and_then(|r| r.error_for_status())
        {
            tracing::warn!(error = %e, "posting an alert to its webhook failed");
        }
    }
    Ok(true)
}

/// Notifies about a finished run per its dataflow's settings.
///
/// # Errors
/// Database failures.
pub async fn run_finished(db: &DatabaseConnection, run_id: i64) -> Result<()> {
    let Some(run) = dataflow_run::Entity::find_by_id(run_id).one(db).await? else {
        return Ok(());
    };
    let Some(alert) = settings_of(db, run.dataflow_id).await? else {
        return Ok(());
    };
    let name = dataflow::Entity::find_by_id(run.dataflow_id)
        .one(db)
        .await?
        .map_or_else(
            || "A dataflow".to_owned(),
            |f| format!("Dataflow {:?}", f.name),
        );
    match run.status.as_str() {
        "failed" if alert.on_failure => {
            let message = format!(
                "{name}: the run for {} failed: {}",
                run.slot.format("%Y-%m-%d %H:%M UTC"),
                run.error.clone().unwrap_or_default()
            );
            notify(db, &alert, &run, "failure", message).await?;
        }
        "success" | "partial" if alert.on_success => {
            let message = format!(
                "{name}: the run for {} finished ({}) with {} identities activated.",
                run.slot.format("%Y-%m-%d %H:%M UTC"),
                run.status,
                run.activated
            );
            notify(db, &alert, &run, "success", message).await?;
        }
        _ => {}
    }
    Ok(())
}

/// Notifies about runs still unfinished longer than their dataflow's delay after their slot.
/// Returns how many were reported now.
///
/// # Errors
/// Database failures.
pub async fn check_delays(db: &DatabaseConnection, now: DateTime<Utc>) -> Result<usize> {
    let subscribed = dataflow_alert::Entity::find()
        .filter(dataflow_alert::Column::OnDelay.eq(true))
        .all(db)
        .await?;
    let mut reported = 0;
    for alert in subscribed {
        let late = dataflow_run::Entity::find()
            .filter(dataflow_run::Column::DataflowId.eq(alert.dataflow_id))
            .filter(dataflow_run::Column::Status.is_in(["queued", "running"]))
            .filter(
                dataflow_run::Column::Slot
                    .lt(now - Duration::minutes(i64::from(alert.delay_minutes))),
            )
            .all(db)
            .await?;
        for run in late {
            let message = format!(
                "The run for {} is late: still {} {} minutes after its slot.",
                run.slot.format("%Y-%m-%d %H:%M UTC"),
                run.status,
                (now - run.slot).num_minutes()
            );
            if notify(db, &alert, &run, "delay", message).await? {
                reported += 1;
            }
        }
    }
    Ok(reported)
}

/// The latest notifications, newest first, with their dataflow's public id and name.
///
/// # Errors
/// Database failures.
pub async fn recent(
    db: &DatabaseConnection,
    limit: u64,
) -> Result<Vec<(notification::Model, Option<dataflow::Model>)>> {
    let found = notification::Entity::find()
        .order_by_desc(notification::Column::Id)
        .limit(limit)
        .all(db)
        .await?;
    let flows = dataflow::Entity::find().all(db).await?;
    Ok(found
        .into_iter()
        .map(|n| {
            let flow = flows.iter().find(|f| f.id == n.dataflow_id).cloned();
            (n, flow)
        })
        .collect())
}
