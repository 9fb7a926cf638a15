//! Activation of segments to a dataflow: schedules, the mapping of fields and identities to
//! target columns, their validation against the destination spec, and saving them.

pub mod identity;
pub mod policy;
pub mod review;

use std::collections::{BTreeMap, BTreeSet};

use chrono::{NaiveDate, Utc};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, DatabaseConnection, EntityTrait, QueryFilter, QueryOrder, Set,
    TransactionTrait,
};
use serde::{Deserialize, Serialize};

use crate::catalog::spec::{Hashing, Schedule};
use crate::catalog::{ConnectionType, DestinationType, Spec};
use crate::connections::Connectors;
use crate::entities::{dataflow, dataflow_mapping, dataflow_segment, segment};
use crate::profiles::schema::Catalog as SchemaCatalog;
use crate::{Error, Result};

/// Full files carry every member; incremental files who entered and who left since the last
/// export; streaming follows membership changes as they happen.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ExportMode {
    Full,
    Incremental,
    Streaming,
}

impl ExportMode {
    pub fn as_str(self) -> &'static str {
        match self {
            ExportMode::Full => "full",
            ExportMode::Incremental => "incremental",
            ExportMode::Streaming => "streaming",
        }
    }

    fn parse(text: &str) -> ExportMode {
        match text {
            "incremental" => ExportMode::Incremental,
            "streaming" => ExportMode::Streaming,
            _ => ExportMode::Full,
        }
    }
}

/// One activated segment and when it is exported.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SegmentSchedule {
    /// The segment's public id.
    pub segment_id: String,
    pub schedule: Schedule,
    pub mode: ExportMode,
    /// "HH:MM" in UTC; none when the file follows segment evaluation, or for streaming.
    #[serde(default)]
    pub time: Option<String>,
    #[serde(default)]
    pub after_evaluation: bool,
    pub start_date: NaiveDate,
    /// Exclusive: nothing is exported on or after this date.
    #[serde(default)]
    pub end_date: Option<NaiveDate>,
    /// File-name template with macros; empty for streaming.
    #[serde(default)]
    pub file_name: String,
}

/// Where a mapped value comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SourceKind {
    /// A schema field path.
    Field,
    /// An identity namespace.
    Identity,
}

/// One source → target column.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MappingRow {
    pub kind: SourceKind,
    pub source: String,
    pub target: String,
    #[serde(default)]
    pub mandatory: bool,
    #[serde(default)]
    pub dedup_key: bool,
    #[serde(default = "no_hashing")]
    pub transformation: Hashing,
}

fn no_hashing() -> Hashing {
    Hashing::None
}

/// Everything the wizard sets.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Activation {
    pub segments: Vec<SegmentSchedule>,
    pub mapping: Vec<MappingRow>,
}

/// A mistake at one field of the wizard: `segments[1].end_date`, `mapping[0].target`, or a
/// step name (`segments`, `mapping`) for a mistake of the whole step.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FieldError {
    pub field: String,
    pub message: String,
}

fn error(field: impl Into<String>, message: impl Into<String>) -> FieldError {
    FieldError {
        field: field.into(),
        message: message.into(),
    }
}

/// File-name macros and what each becomes.
pub const FILE_NAME_MACROS: [(&str, &str); 7] = [
    ("destination", "the destination's name"),
    ("segment_id", "the segment's id"),
    ("segment_name", "the segment's name"),
    (
        "datetime",
        "the export's date and time, YYYYMMDD_HHMMSS (UTC)",
    ),
    ("date", "the export's date, YYYYMMDD"),
    ("timestamp", "the export's time in seconds since 1970"),
    ("dataflow_id", "the dataflow's id"),
];

/// The file-name template a new segment starts with.
pub const DEFAULT_FILE_NAME: &str = "{destination}_{segment_id}_{datetime}";

/// Checks a file-name template: printable, no folders, known macros only.
pub fn check_file_name(template: &str) -> std::result::Result<(), String> {
    if template.trim().is_empty() {
        return Err("Give a file name.".into());
    }
    if template.chars().count() > 200 {
        return Err("The file name is longer than 200 characters.".into());
    }
    if template
        .chars()
        .any(|c| c.is_control() || c == '/' || c == '\\' || c == ':')
    {
        return Err("A file name cannot contain /, \\, : or control characters.".into());
    }
    if template.contains("..") {
        return Err("A file name cannot contain \"..\".".into());
    }
    let mut rest = template;
    while let Some(open) = rest.find('{') {
        let Some(close) = rest[open..].find('}') else {
            return Err("A { has no closing }.".into());
        };
        let name = &rest[open + 1..open + close];
        if !FILE_NAME_MACROS.iter().any(|(m, _)| *m == name) {
            return Err(format!(
                "Unknown macro {{{name}}}; use {}.",
                FILE_NAME_MACROS
                    .iter()
                    .map(|(m, _)| format!("{{{m}}}"))
                    .collect::<Vec<_>>()
                    .join(", ")
            ));
        }
        rest = &rest[open + close + 1..];
    }
    if rest.contains('}') {
        return Err("A } has no opening {.".into());
    }
    Ok(())
}

/// Makes text safe inside a file name: letters, digits, `-` and `_`; others become `_`.
pub(crate) fn file_safe(text: &str) -> String {
    text.chars()
        .map(|c| {
            if c.is_alphanumeric() || c == '-' || c == '_' {
                c
            } else {
                '_'
            }
        })
        .collect()
}

/// The file name a template gives for one export, with the format's extension.
pub fn render_file_name(
    template: &str,
    destination: &str,
    segment_id: &str,
    segment_name: &str,
    dataflow_id: &str,
    at: chrono::DateTime<Utc>,
    extension: &str,
) -> String {
    let name = template
        .replace("{destination}", &file_safe(destination))
        .replace("{segment_id}", segment_id)
        .replace("{segment_name}", &file_safe(segment_name))
        .replace("{datetime}", &at.format("%Y%m%d_%H%M%S").to_string())
        .replace("{date}", &at.format("%Y%m%d").to_string())
        .replace("{timestamp}", &at.timestamp().to_string())
        .replace("{dataflow_id}", dataflow_id);
    format!("{name}.{extension}")
}

fn schedules_for(mode: ExportMode) -> &'static [Schedule] {
    match mode {
        ExportMode::Full => &[
            Schedule::Once,
            Schedule::Daily,
            Schedule::Weekly,
            Schedule::Monthly,
        ],
        ExportMode::Incremental => &[
            Schedule::Daily,
            Schedule::Every3Hours,
            Schedule::Every6Hours,
            Schedule::Every8Hours,
            Schedule::Every12Hours,
        ],
        ExportMode::Streaming => &[Schedule::Streaming],
    }
}

fn valid_time(text: &str) -> bool {
    chrono::NaiveTime::parse_from_str(text, "%H:%M").is_ok() && text.len() == 5
}

/// Checks the schedules of the segments against the spec. `known` maps segment public ids to
/// names.
pub fn check_segments(
    spec: &Spec,
    segments: &[SegmentSchedule],
    known: &BTreeMap<String, String>,
) -> Vec<FieldError> {
    let mut errors = Vec::new();
    if segments.is_empty() {
        errors.push(error("segments", "Select at least one segment."));
    }
    let mut seen = BTreeSet::new();
    for (i, s) in segments.iter().enumerate() {
        let at = |name: &str| format!("segments[{i}].{name}");
        if !known.contains_key(&s.segment_id) {
            errors.push(error(
                at("segment_id"),
                "This segment does not exist (any more).",
            ));
        }
        if !seen.insert(s.segment_id.as_str()) {
            errors.push(error(at("segment_id"), "This segment is selected twice."));
        }
        if let Some(end) = s.end_date
            && end <= s.start_date
        {
            errors.push(error(
                at("end_date"),
                "The end date must be after the start date (it is exclusive).",
            ));
        }
        if spec.connection == ConnectionType::Streaming {
            if s.mode != ExportMode::Streaming || s.schedule != Schedule::Streaming {
                errors.push(error(
                    at("schedule"),
                    "Streaming destinations follow membership changes as they happen.",
                ));
            }
            if s.time.is_some() || s.after_evaluation || !s.file_name.is_empty() {
                errors.push(error(
                    at("schedule"),
                    "Streaming destinations take only start and end dates.",
                ));
            }
            continue;
        }
        if s.mode == ExportMode::Streaming {
            errors.push(error(at("mode"), "Choose full or incremental files."));
            continue;
        }
        if !schedules_for(s.mode).contains(&s.schedule) {
            errors.push(error(
                at("schedule"),
                match s.mode {
                    ExportMode::Full => "Full files are exported once, daily, weekly or monthly.",
                    _ => "Incremental files are exported daily or every 3, 6, 8 or 12 hours.",
                },
            ));
        } else if !spec.schedules.contains(&s.schedule) {
            errors.push(error(
                at("schedule"),
                format!(
                    "{} does not offer {}.",
                    spec.name,
                    s.schedule.title().to_lowercase()
                ),
            ));
        }
        if s.schedule == Schedule::Once && s.end_date.is_some() {
            errors.push(error(at("end_date"), "A one-time export has no end date."));
        }
        if s.after_evaluation {
            if s.schedule != Schedule::Daily {
                errors.push(error(
                    at("time"),
                    "\"After segment evaluation\" is for daily exports.",
                ));
            }
            if s.time.is_some() {
                errors.push(error(
                    at("time"),
                    "Choose a time or \"after segment evaluation\", not both.",
                ));
            }
        } else {
            match s.time.as_deref() {
                None | Some("") => errors.push(error(
                    at("time"),
                    "Choose a time (UTC) or \"after segment evaluation\".",
                )),
                Some(t) if !valid_time(t) => errors.push(error(
                    at("time"),
                    format!("{t:?} is not a time like 09:30."),
                )),
                _ => {}
            }
        }
        if let Err(message) = check_file_name(&s.file_name) {
            errors.push(error(at("file_name"), message));
        }
    }
    errors
}

/// Checks the mapping against the schema and the spec and fills what the rules decide: a
/// mapped identity is a deduplication key, mandatory in files, and hashed as the spec says.
pub fn check_mapping(
    spec: &Spec,
    schema: &SchemaCatalog,
    mapping: &[MappingRow],
) -> (Vec<MappingRow>, Vec<FieldError>) {
    let mut errors = Vec::new();
    let mut rows = Vec::new();
    let segment_export = spec.kind == DestinationType::SegmentExport;
    if mapping.is_empty() {
        errors.push(error("mapping", "Map at least one field or identity."));
    }
    let mut targets = BTreeSet::new();
    for (i, row) in mapping.iter().enumerate() {
        let at = |name: &str| format!("mapping[{i}].{name}");
        let mut row = row.clone();
        row.target = row.target.trim().to_owned();
        let spec_identity = spec
            .identities
            .iter()
            .find(|id| row.kind == SourceKind::Identity && id.namespace == row.source);
        match row.kind {
            SourceKind::Field => {
                if schema.field(&row.source).is_none() {
                    errors.push(error(
                        at("source"),
                        format!("{:?} is not a field of the schema.", row.source),
                    ));
                }
                let spec_attribute = spec.attributes.iter().find(|a| a.field == row.source);
                match spec_attribute {
                    // An attribute the platform matches on: named and hashed its way.
                    Some(attribute) if segment_export => {
                        row.target = attribute.target.clone();
                        row.transformation = attribute.hash;
                    }
                    _ if segment_export => {
                        let message = if spec.attributes.is_empty() {
                            format!("{} takes identities only, not attributes.", spec.name)
                        } else {
                            format!(
                                "{} takes identities and only these attributes: {}.",
                                spec.name,
                                spec.attributes
                                    .iter()
                                    .map(|a| a.field.as_str())
                                    .collect::<Vec<_>>()
                                    .join(", ")
                            )
                        };
                        errors.push(error(at("source"), message));
                    }
                    _ if row.transformation != Hashing::None => {
                        errors.push(error(at("transformation"), "Only identities are hashed."));
                    }
                    _ => {}
                }
            }
            SourceKind::Identity => {
                if schema.namespace(&row.source).is_none() {
                    errors.push(error(
                        at("source"),
                        format!("{:?} is not an identity namespace.", row.source),
                    ));
                }
                // A file row needs its key; an audience platform matches on any one mapped
                // identity (at least `min_identities` of them), so none is mandatory there.
                row.mandatory = !segment_export;
                row.dedup_key = true;
                match spec_identity {
                    Some(id) => {
                        row.transformation = id.hash;
                        if segment_export {
                            row.target = id.target.clone();
                        }
                    }
                    None if segment_export => {
                        errors.push(error(
                            at("source"),
                            format!("{} does not accept {} identities.", spec.name, row.source),
                        ));
                    }
                    None => {}
                }
            }
        }
        if row.target.is_empty() {
            errors.push(error(at("target"), "Name the target column."));
        } else if row.target.chars().count() > 100 || row.target.chars().any(char::is_control) {
            errors.push(error(
                at("target"),
                "A target column is at most 100 printable characters.",
            ));
        } else if !targets.insert(row.target.to_lowercase()) {
            errors.push(error(
                at("target"),
                format!("The target {:?} is used twice.", row.target),
            ));
        }
        rows.push(row);
    }
    for required in spec.identities.iter().filter(|id| id.required) {
        if !rows
            .iter()
            .any(|r| r.kind == SourceKind::Identity && r.source == required.namespace)
        {
            errors.push(error(
                "mapping",
                format!(
                    "{} requires the {} identity; map it.",
                    spec.name, required.namespace
                ),
            ));
        }
    }
    let mapped_known = rows
        .iter()
        .filter(|r| {
            r.kind == SourceKind::Identity
                && spec.identities.iter().any(|id| id.namespace == r.source)
        })
        .count();
    if (mapped_known as u32) < spec.min_identities {
        errors.push(error(
            "mapping",
            format!(
                "Map at least {} of the identities {} accepts: {}.",
                spec.min_identities,
                spec.name,
                spec.identities
                    .iter()
                    .map(|i| i.namespace.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        ));
    }
    (rows, errors)
}

/// The dataflow row by public id.
///
/// # Errors
/// [`Error::NotFound`].
pub async fn find_dataflow(
    db: &impl sea_orm::ConnectionTrait,
    public_id: &str,
) -> Result<dataflow::Model> {
    dataflow::Entity::find()
        .filter(dataflow::Column::PublicId.eq(public_id))
        .one(db)
        .await?
        .ok_or_else(|| Error::NotFound("The dataflow".into()))
}

/// What a dataflow activates now (for the wizard's "edit" and the dataflow page).
///
/// # Errors
/// [`Error::NotFound`].
pub async fn current(db: &DatabaseConnection, dataflow_id: &str) -> Result<Activation> {
    let flow = find_dataflow(db, dataflow_id).await?;
    let segments: BTreeMap<i32, String> = segment::Entity::find()
        .all(db)
        .await?
        .into_iter()
        .map(|s| (s.id, s.public_id))
        .collect();
    let rows = dataflow_segment::Entity::find()
        .filter(dataflow_segment::Column::DataflowId.eq(flow.id))
        .order_by_asc(dataflow_segment::Column::Id)
        .all(db)
        .await?;
    let mapping = dataflow_mapping::Entity::find()
        .filter(dataflow_mapping::Column::DataflowId.eq(flow.id))
        .order_by_asc(dataflow_mapping::Column::Position)
        .all(db)
        .await?;
    Ok(Activation {
        segments: rows
            .into_iter()
            .filter_map(|r| {
                Some(SegmentSchedule {
                    segment_id: segments.get(&r.segment_id)?.clone(),
                    schedule: serde_json::from_value(serde_json::Value::String(r.schedule)).ok()?,
                    mode: ExportMode::parse(&r.export_mode),
                    time: r.time_of_day,
                    after_evaluation: r.after_evaluation,
                    start_date: r.start_date,
                    end_date: r.end_date,
                    file_name: r.file_name_template,
                })
            })
            .collect(),
        mapping: mapping
            .into_iter()
            .map(|m| MappingRow {
                kind: if m.source_kind == "identity" {
                    SourceKind::Identity
                } else {
                    SourceKind::Field
                },
                source: m.source,
                target: m.target,
                mandatory: m.mandatory,
                dedup_key: m.dedup_key,
                transformation: serde_json::from_value(serde_json::Value::String(m.transformation))
                    .unwrap_or(Hashing::None),
            })
            .collect(),
    })
}

/// Validates a whole activation; the mapping comes back as it would be stored.
///
/// # Errors
/// [`Error::NotFound`] for an unknown dataflow; mistakes are returned, not raised.
pub async fn validate(
    db: &DatabaseConnection,
    connectors: &Connectors,
    dataflow_id: &str,
    input: &Activation,
) -> Result<(Activation, Vec<FieldError>)> {
    let flow = find_dataflow(db, dataflow_id).await?;
    let spec = connectors.spec(&flow.destination_id)?;
    let schema = crate::profiles::schema::load(db).await?;
    let known: BTreeMap<String, String> = segment::Entity::find()
        .all(db)
        .await?
        .into_iter()
        .map(|s| (s.public_id, s.name))
        .collect();
    let mut errors = check_segments(spec, &input.segments, &known);
    let (mapping, mapping_errors) = check_mapping(spec, &schema, &input.mapping);
    errors.extend(mapping_errors);
    let cleaned = Activation {
        segments: input
            .segments
            .iter()
            .cloned()
            .map(|mut s| {
                s.file_name = s.file_name.trim().to_owned();
                s
            })
            .collect(),
        mapping,
    };
    if errors.is_empty() {
        let review = review::violations(db, connectors, &flow, &cleaned).await?;
        for v in review {
            errors.push(error("review", v.message));
        }
    }
    Ok((cleaned, errors))
}

/// Saves an activation and enables the dataflow. Without `may_change_mapping` (the
/// activate-without-mapping permission) a mapping different from the stored one is refused.
///
/// # Errors
/// [`Error::NotFound`]; [`Error::Forbidden`] for a refused mapping change; [`Error::Invalid`]
/// listing every mistake, each as `field: message`.
pub async fn save(
    db: &DatabaseConnection,
    connectors: &Connectors,
    dataflow_id: &str,
    input: &Activation,
    may_change_mapping: bool,
) -> Result<Activation> {
    let (cleaned, errors) = validate(db, connectors, dataflow_id, input).await?;
    let stored = current(db, dataflow_id).await?;
    if !may_change_mapping && cleaned.mapping != stored.mapping {
        return Err(Error::Forbidden(
            "You may add and remove segments and change schedules, but not change the mapping."
                .into(),
        ));
    }
    if !errors.is_empty() {
        return Err(Error::Invalid(
            errors
                .iter()
                .map(|e| format!("{}: {}", e.field, e.message))
                .collect::<Vec<_>>()
                .join("\n"),
        ));
    }
    let txn = db.begin().await?;
    let flow = find_dataflow(&txn, dataflow_id).await?;
    let ids: BTreeMap<String, i32> = segment::Entity::find()
        .all(&txn)
        .await?
        .into_iter()
        .map(|s| (s.public_id, s.id))
        .collect();
    let now = Utc::now();
    let existing = dataflow_segment::Entity::find()
        .filter(dataflow_segment::Column::DataflowId.eq(flow.id))
        .all(&txn)
        .await?;
    let wanted: BTreeSet<i32> = cleaned
        .segments
        .iter()
        .filter_map(|s| ids.get(&s.segment_id).copied())
        .collect();
    for old in existing.iter().filter(|e| !wanted.contains(&e.segment_id)) {
        dataflow_segment::Entity::delete_by_id(old.id)
            .exec(&txn)
            .await?;
    }
    for s in &cleaned.segments {
        let segment_id = ids[&s.segment_id];
        let schedule = serde_json::to_value(s.schedule)
            .ok()
            .and_then(|v| v.as_str().map(str::to_owned))
            .unwrap_or_default();
        match existing.iter().find(|e| e.segment_id == segment_id) {
            Some(old) => {
                let mut active: dataflow_segment::ActiveModel = old.clone().into();
                active.schedule = Set(schedule);
                active.export_mode = Set(s.mode.as_str().into());
                active.time_of_day = Set(s.time.clone().filter(|t| !t.is_empty()));
                active.after_evaluation = Set(s.after_evaluation);
                active.start_date = Set(s.start_date);
                active.end_date = Set(s.end_date);
                active.file_name_template = Set(s.file_name.clone());
                active.updated_at = Set(now);
                active.update(&txn).await?;
            }
            None => {
                dataflow_segment::ActiveModel {
                    dataflow_id: Set(flow.id),
                    segment_id: Set(segment_id),
                    schedule: Set(schedule),
                    export_mode: Set(s.mode.as_str().into()),
                    time_of_day: Set(s.time.clone().filter(|t| !t.is_empty())),
                    after_evaluation: Set(s.after_evaluation),
                    start_date: Set(s.start_date),
                    end_date: Set(s.end_date),
                    file_name_template: Set(s.file_name.clone()),
                    created_at: Set(now),
                    updated_at: Set(now),
                    ..Default::default()
                }
                .insert(&txn)
                .await?;
            }
        }
    }
    if cleaned.mapping != stored.mapping {
        dataflow_mapping::Entity::delete_many()
            .filter(dataflow_mapping::Column::DataflowId.eq(flow.id))
            .exec(&txn)
            .await?;
        for (position, row) in cleaned.mapping.iter().enumerate() {
            dataflow_mapping::ActiveModel {
                dataflow_id: Set(flow.id),
                position: Set(i32::try_from(position).unwrap_or(i32::MAX)),
                source_kind: Set(match row.kind {
                    SourceKind::Field => "field".into(),
                    SourceKind::Identity => "identity".into(),
                }),
                source: Set(row.source.clone()),
                target: Set(row.target.clone()),
                mandatory: Set(row.mandatory),
                dedup_key: Set(row.dedup_key),
                transformation: Set(serde_json::to_value(row.transformation)
                    .ok()
                    .and_then(|v| v.as_str().map(str::to_owned))
                    .unwrap_or_else(|| "none".into())),
                ..Default::default()
            }
            .insert(&txn)
            .await?;
        }
    }
    let mut active: dataflow::ActiveModel = flow.into();
    active.status = Set("enabled".into());
    active.updated_at = Set(now);
    active.update(&txn).await?;
    txn.commit().await?;
    Ok(cleaned)
}
