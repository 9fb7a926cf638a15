//! Connections: a destination joined to an account with its parameters and marketing actions.
//! Each is a dataflow, created disabled until segments are activated to it.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, DatabaseConnection, EntityTrait, PaginatorTrait, QueryFilter,
    QueryOrder, Set, TransactionTrait,
};
use serde::{Deserialize, Serialize};

use super::accounts::{self, check_value};
use super::{Connectors, Values};
use crate::catalog::spec::{Compression, FileFormat, MARKETING_ACTIONS};
use crate::catalog::{ConnectionType, Spec};
use crate::entities::{account, dataflow, dataflow_mapping, dataflow_segment};
use crate::{Error, Result};

/// The connect form: which account, what to call the connection, its parameters.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ConnectionInput {
    pub destination_id: String,
    pub account_id: String,
    pub name: String,
    #[serde(default)]
    pub description: String,
    /// The spec's parameters plus, for files, `format`, `compression` and the `csv_*` options.
    #[serde(default)]
    pub params: Values,
    #[serde(default)]
    pub marketing_actions: Vec<String>,
}

/// A dataflow as lists show it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DataflowView {
    pub public_id: String,
    pub name: String,
    pub description: String,
    pub destination_id: String,
    pub destination_name: String,
    pub connection: ConnectionType,
    pub account_id: String,
    pub account_name: String,
    pub account_user: Option<String>,
    pub params: Values,
    pub marketing_actions: Vec<String>,
    pub enabled: bool,
    /// How many segments are activated to it.
    pub segments: u64,
    /// The status and start (or creation) time of its latest run.
    pub last_run: Option<(String, DateTime<Utc>)>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

/// The file options every file destination takes, with their allowed values.
pub const CSV_OPTIONS: [&str; 6] = [
    "csv_delimiter",
    "csv_quote",
    "csv_escape",
    "csv_header",
    "csv_null",
    "csv_empty",
];

/// Fills defaults and checks every parameter against the spec.
fn clean_params(spec: &Spec, typed: &Values) -> Result<Values> {
    let mut params = Values::new();
    for (key, _) in typed.iter() {
        let known = spec.parameters.iter().any(|p| &p.key == key)
            || (spec.files.is_some()
                && (key == "format"
                    || key == "compression"
                    || CSV_OPTIONS.contains(&key.as_str())));
        if !known {
            return Err(Error::Invalid(format!(
                "{} connections have no parameter {key:?}.",
                spec.name
            )));
        }
    }
    for field in &spec.parameters {
        let value = typed.get(&field.key).map_or("", |v| v.trim());
        let value = if value.is_empty() {
            field.default.as_deref().unwrap_or("")
        } else {
            value
        };
        if value.is_empty() {
            if field.required {
                return Err(Error::Invalid(format!("{} is required.", field.label)));
            }
            continue;
        }
        check_value(field, value)?;
        params.insert(field.key.clone(), value.to_owned());
    }
    if let Some(files) = &spec.files {
        let format = typed.get("format").map_or("", |v| v.trim());
        let format = if format.is_empty() {
            files.formats[0].as_str()
        } else {
            format
        };
        if !files.formats.iter().any(|f| f.as_str() == format) {
            return Err(Error::Invalid(format!(
                "{} takes the formats {}, not {format:?}.",
                spec.name,
                files
                    .formats
                    .iter()
                    .map(|f| f.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            )));
        }
        params.insert("format".into(), format.to_owned());
        let compression = typed.get("compression").map_or("", |v| v.trim());
        let compression = if compression.is_empty() {
            files.compression[0].as_str()
        } else {
            compression
        };
        if !files.compression.iter().any(|c| c.as_str() == compression) {
            return Err(Error::Invalid(format!(
                "{} takes the compression {}, not {compression:?}.",
                spec.name,
                files
                    .compression
                    .iter()
                    .map(|c| c.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            )));
        }
        params.insert("compression".into(), compression.to_owned());
        if format == FileFormat::Csv.as_str() {
            let defaults = [
                ("csv_delimiter", files.csv.delimiter.clone()),
                ("csv_quote", files.csv.quote.clone()),
                ("csv_escape", files.csv.escape.clone()),
                ("csv_header", files.csv.header.to_string()),
                ("csv_null", files.csv.null_value.clone()),
                ("csv_empty", files.csv.empty_value.clone()),
            ];
            for (key, default) in defaults {
                // Null and empty outputs may be empty on purpose; the others fall back.
                let value = match typed.get(key) {
                    Some(v) if !v.is_empty() || key == "csv_null" || key == "csv_empty" => {
                        v.clone()
                    }
                    _ => default,
                };
                match key {
                    "csv_delimiter" | "csv_quote" | "csv_escape" => {
                        let ok = value == "\\t" || (value.chars().count() == 1 && value.is_ascii());
                        if !ok || value == "\n" || value == "\r" {
                            return Err(Error::Invalid(format!(
                                "The CSV {} must be one character (\\t for a tab), not {value:?}.",
                                &key[4..]
                            )));
                        }
                    }
                    "csv_header" if value != "true" && value != "false" => {
                        return Err(Error::Invalid(
                            "The CSV header option is true or false.".into(),
                        ));
                    }
                    _ if value.chars().count() > 32 || value.chars().any(char::is_control) => {
                        return Err(Error::Invalid(format!(
                            "The CSV {} output must be at most 32 printable characters.",
                            &key[4..]
                        )));
                    }
                    _ => {}
                }
                params.insert(key.into(), value);
            }
        } else if typed.keys().any(|k| CSV_OPTIONS.contains(&k.as_str())) {
            return Err(Error::Invalid(format!(
                "CSV options apply to CSV files, not {format}."
            )));
        }
        if compression == Compression::Gzip.as_str() && format == FileFormat::Parquet.as_str() {
            return Err(Error::Invalid(
                "Parquet files compress their own columns; choose no file compression.".into(),
            ));
        }
    }
    Ok(params)
}

fn clean_actions(spec: &Spec, typed: &[String]) -> Result<Vec<String>> {
    let mut actions = Vec::new();
    for action in typed {
        if !spec.marketing_actions.contains(action) {
            let known = MARKETING_ACTIONS.iter().any(|(code, _)| code == action);
            return Err(Error::Invalid(if known {
                format!(
                    "{} does not offer the marketing action {action:?}.",
                    spec.name
                )
            } else {
                format!("Unknown marketing action {action:?}.")
            }));
        }
        if !actions.contains(action) {
            actions.push(action.clone());
        }
    }
    Ok(actions)
}

/// Connects a destination: checks the account belongs to it and every parameter, then
/// creates a disabled dataflow.
///
/// # Errors
/// [`Error::NotFound`] for an unknown destination or account, [`Error::Invalid`] for a bad
/// parameter or an account of another destination, [`Error::Conflict`] for a taken name.
pub async fn create(
    db: &DatabaseConnection,
    connectors: &Connectors,
    input: &ConnectionInput,
    created_by: Option<i32>,
) -> Result<DataflowView> {
    let spec = connectors.spec(&input.destination_id)?;
    let found = accounts::find(db, &input.account_id).await?;
    if found.destination_id != spec.id {
        return Err(Error::Invalid(format!(
            "That account is for another destination; choose or create a {} account.",
            spec.name
        )));
    }
    let name = input.name.trim();
    if name.is_empty() || name.chars().count() > 200 || name.chars().any(char::is_control) {
        return Err(Error::Invalid(
            "Give the connection a name of 1 to 200 printable characters.".into(),
        ));
    }
    let description = input.description.trim();
    if description.len() > 4000 {
        return Err(Error::Invalid(
            "The description is longer than 4,000 characters.".into(),
        ));
    }
    let params = clean_params(spec, &input.params)?;
    let actions = clean_actions(spec, &input.marketing_actions)?;
    let taken = dataflow::Entity::find()
        .filter(dataflow::Column::Name.eq(name))
        .count(db)
        .await?;
    if taken > 0 {
        return Err(Error::Conflict(format!(
            "A dataflow named {name:?} already exists."
        )));
    }
    let now = Utc::now();
    let created = dataflow::ActiveModel {
        public_id: Set(uuid::Uuid::new_v4().to_string()),
        destination_id: Set(spec.id.clone()),
        account_id: Set(found.id),
        name: Set(name.to_owned()),
        description: Set(description.to_owned()),
        params: Set(serde_json::to_string(&params).expect("strings serialise")),
        marketing_actions: Set(serde_json::to_string(&actions).expect("strings serialise")),
        status: Set("disabled".into()),
        created_by: Set(created_by),
        created_at: Set(now),
        updated_at: Set(now),
        ..Default::default()
    }
    .insert(db)
    .await?;
    let mut views = to_views(connectors, vec![created], &[found], &BTreeMap::new());
    Ok(views.remove(0))
}

fn to_views(
    connectors: &Connectors,
    flows: Vec<dataflow::Model>,
    accounts: &[account::Model],
    segment_counts: &BTreeMap<i32, u64>,
) -> Vec<DataflowView> {
    let by_id: BTreeMap<i32, &account::Model> = accounts.iter().map(|a| (a.id, a)).collect();
    flows
        .into_iter()
        .map(|flow| {
            let spec = connectors.catalog.get(&flow.destination_id);
            let account = by_id.get(&flow.account_id);
            let account_fields: Values = account
                .and_then(|a| serde_json::from_str(&a.fields).ok())
                .unwrap_or_default();
            let account_user = spec.and_then(|s| {
                s.credentials
                    .iter()
                    .find(|f| f.user_name)
                    .and_then(|f| account_fields.get(&f.key).cloned())
            });
            DataflowView {
                destination_name: spec
                    .map_or_else(|| flow.destination_id.clone(), |s| s.name.clone()),
                connection: spec.map_or(ConnectionType::File, |s| s.connection),
                account_id: account.map(|a| a.public_id.clone()).unwrap_or_default(),
                account_name: account.map(|a| a.name.clone()).unwrap_or_default(),
                account_user,
                params: serde_json::from_str(&flow.params).unwrap_or_default(),
                marketing_actions: serde_json::from_str(&flow.marketing_actions)
                    .unwrap_or_default(),
                enabled: flow.status == "enabled",
                segments: segment_counts.get(&flow.id).copied().unwrap_or(0),
                last_run: None,
                updated_at: flow.updated_at,
                public_id: flow.public_id,
                name: flow.name,
                description: flow.description,
                destination_id: flow.destination_id,
                created_at: flow.created_at,
            }
        })
        .collect()
}

/// Every dataflow, optionally of one destination, newest first.
///
/// # Errors
/// Database failures.
pub async fn list(
    db: &DatabaseConnection,
    connectors: &Connectors,
    destination_id: Option<&str>,
) -> Result<Vec<DataflowView>> {
    let mut query = dataflow::Entity::find().order_by_desc(dataflow::Column::CreatedAt);
    if let Some(id) = destination_id {
        query = query.filter(dataflow::Column::DestinationId.eq(id));
    }
    let flows = query.all(db).await?;
    let accounts = account::Entity::find().all(db).await?;
    Ok(to_views(
        connectors,
        flows,
        &accounts,
        &segment_counts(db).await?,
    ))
}

async fn segment_counts(db: &impl sea_orm::ConnectionTrait) -> Result<BTreeMap<i32, u64>> {
    Ok(dataflow_segment::Entity::find()
        .all(db)
        .await?
        .into_iter()
        .fold(BTreeMap::new(), |mut counts, s| {
            *counts.entry(s.dataflow_id).or_default() += 1;
            counts
        }))
}

/// One dataflow as lists show it.
///
/// # Errors
/// [`Error::NotFound`].
pub async fn get(
    db: &DatabaseConnection,
    connectors: &Connectors,
    public_id: &str,
) -> Result<DataflowView> {
    let flow = crate::activation::find_dataflow(db, public_id).await?;
    let accounts = account::Entity::find()
        .filter(account::Column::Id.eq(flow.account_id))
        .all(db)
        .await?;
    let counts = segment_counts(db).await?;
    let latest = crate::export::runs::latest_by_dataflow(db).await?;
    let last_run = latest
        .get(&flow.id)
        .map(|r| (r.status.clone(), r.started_at.unwrap_or(r.created_at)));
    let mut view = to_views(connectors, vec![flow], &accounts, &counts).remove(0);
    view.last_run = last_run;
    Ok(view)
}

/// Enables or disables a dataflow. Enabling needs at least one activated segment.
///
/// # Errors
/// [`Error::NotFound`], [`Error::Invalid`].
pub async fn set_enabled(
    db: &DatabaseConnection,
    connectors: &Connectors,
    public_id: &str,
    enabled: bool,
) -> Result<DataflowView> {
    let flow = crate::activation::find_dataflow(db, public_id).await?;
    if enabled {
        let segments = dataflow_segment::Entity::find()
            .filter(dataflow_segment::Column::DataflowId.eq(flow.id))
            .count(db)
            .await?;
        if segments == 0 {
            return Err(Error::Invalid(
                "Activate at least one segment before enabling this dataflow.".into(),
            ));
        }
    }
    let mut active: dataflow::ActiveModel = flow.into();
    active.status = Set(if enabled { "enabled" } else { "disabled" }.into());
    active.updated_at = Set(Utc::now());
    active.update(db).await?;
    get(db, connectors, public_id).await
}

/// Deletes a dataflow with its segments and mapping; its schedules stop.
///
/// # Errors
/// [`Error::NotFound`].
pub async fn delete(db: &DatabaseConnection, public_id: &str) -> Result<dataflow::Model> {
    let flow = crate::activation::find_dataflow(db, public_id).await?;
    let txn = db.begin().await?;
    dataflow_segment::Entity::delete_many()
        .filter(dataflow_segment::Column::DataflowId.eq(flow.id))
        .exec(&txn)
        .await?;
    dataflow_mapping::Entity::delete_many()
        .filter(dataflow_mapping::Column::DataflowId.eq(flow.id))
        .exec(&txn)
        .await?;
    dataflow::Entity::delete_by_id(flow.id).exec(&txn).await?;
    txn.commit().await?;
    Ok(flow)
}

/// Stops activating one segment to a dataflow; the last one leaves the dataflow disabled.
///
/// # Errors
/// [`Error::NotFound`] for an unknown dataflow or a segment it does not activate.
pub async fn remove_segment(
    db: &DatabaseConnection,
    dataflow_id: &str,
    segment_id: &str,
) -> Result<()> {
    let flow = crate::activation::find_dataflow(db, dataflow_id).await?;
    let segment = crate::segments::service::find(db, segment_id).await?;
    let txn = db.begin().await?;
    let removed = dataflow_segment::Entity::delete_many()
        .filter(dataflow_segment::Column::DataflowId.eq(flow.id))
        .filter(dataflow_segment::Column::SegmentId.eq(segment.id))
        .exec(&txn)
        .await?;
    if removed.rows_affected == 0 {
        return Err(Error::NotFound("That segment in this dataflow".into()));
    }
    let left = dataflow_segment::Entity::find()
        .filter(dataflow_segment::Column::DataflowId.eq(flow.id))
        .count(&txn)
        .await?;
    if left == 0 {
        let mut active: dataflow::ActiveModel = flow.into();
        active.status = Set("disabled".into());
        active.updated_at = Set(Utc::now());
        active.update(&txn).await?;
    }
    txn.commit().await?;
    Ok(())
}

/// The destination ids that have at least one dataflow ("connected" in the catalog).
///
/// # Errors
/// Database failures.
pub async fn connected_destinations(db: &DatabaseConnection) -> Result<Vec<String>> {
    let mut ids: Vec<String> = dataflow::Entity::find()
        .all(db)
        .await?
        .into_iter()
        .map(|d| d.destination_id)
        .collect();
    ids.sort();
    ids.dedup();
    Ok(ids)
}
