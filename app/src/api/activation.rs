//! Activation (destinations.activate, or destinations.activate_without_mapping with the mapping
//! read-only) and dataflow management: the wizard's data, checks, review and save; a dataflow's
//! details; enable, disable and delete (destinations.manage); removing a segment.

use leptos::prelude::*;
use serde::{Deserialize, Serialize};

use crate::api::destinations::{DataflowRow, DestinationInfo};
use crate::error::AppError;

/// One segment's schedule as the wizard edits it (dates as YYYY-MM-DD).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ScheduleInput {
    pub segment_id: String,
    /// once, daily, weekly, monthly, every_3_hours … or streaming.
    pub schedule: String,
    /// full, incremental or streaming.
    pub mode: String,
    #[serde(default)]
    pub time: String,
    #[serde(default)]
    pub after_evaluation: bool,
    pub start_date: String,
    #[serde(default)]
    pub end_date: String,
    #[serde(default)]
    pub file_name: String,
}

/// One mapping row as the wizard edits it.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct MappingInput {
    /// field or identity.
    pub kind: String,
    pub source: String,
    pub target: String,
    #[serde(default)]
    pub mandatory: bool,
    #[serde(default)]
    pub dedup_key: bool,
    /// none, sha256_hex or sha256_base64.
    #[serde(default)]
    pub transformation: String,
}

/// The whole wizard state.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ActivationInput {
    #[serde(default)]
    pub segments: Vec<ScheduleInput>,
    #[serde(default)]
    pub mapping: Vec<MappingInput>,
}

/// A mistake at a field (`segments[0].time`, `mapping[1].target`, `segments`, `review`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FieldProblem {
    pub field: String,
    pub message: String,
}

/// A segment the wizard can select.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SegmentChoice {
    pub id: String,
    pub name: String,
    pub description: String,
    pub size: Option<i64>,
    pub activated: bool,
}

/// A schema field the mapping can use.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SourceField {
    pub path: String,
    pub title: String,
    pub field_type: String,
    pub labels: Vec<String>,
}

/// Everything the wizard needs for one dataflow.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct WizardData {
    pub dataflow: DataflowRow,
    pub destination: DestinationInfo,
    pub streaming: bool,
    /// (code, title) of the schedules the destination offers.
    pub schedules: Vec<(String, String)>,
    pub segments: Vec<SegmentChoice>,
    pub fields: Vec<SourceField>,
    /// (code, title) of the identity namespaces.
    pub namespaces: Vec<(String, String)>,
    pub current: ActivationInput,
    pub can_change_mapping: bool,
    /// (macro, meaning) for file names.
    pub macros: Vec<(String, String)>,
    pub default_file_name: String,
    pub today: String,
}

/// Counts of one segment in the review.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SegmentCounts {
    pub name: String,
    pub members: i64,
    pub consent_excluded: i64,
    pub missing: Vec<(String, i64)>,
    pub malformed: Vec<(String, u64, u64)>,
}

/// The review step.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReviewData {
    pub problems: Vec<FieldProblem>,
    pub violations: Vec<String>,
    pub segments: Vec<SegmentCounts>,
    pub dry_run_name: String,
    pub dry_run_format: String,
    pub dry_run: String,
    pub dry_run_rows: usize,
}

/// An activated segment as the dataflow page lists it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ActivatedSegment {
    pub segment_id: String,
    pub name: String,
    pub schedule: String,
    pub mode: String,
    pub time: String,
    pub start_date: String,
    pub end_date: String,
    pub file_name: String,
}

/// A dataflow's page.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DataflowDetail {
    pub dataflow: DataflowRow,
    pub segments: Vec<ActivatedSegment>,
    pub mapping: Vec<MappingInput>,
    pub can_manage: bool,
    pub can_activate: bool,
    /// Managers and activators (not activate-without-mapping) may enable and disable.
    pub can_toggle: bool,
}

#[cfg(feature = "ssr")]
mod convert {
    use super::*;
    use domain::activation::{Activation, ExportMode, MappingRow, SegmentSchedule, SourceKind};
    use domain::catalog::spec::{Hashing, Schedule};

    fn code<T: Serialize>(value: T) -> String {
        serde_json::to_value(value)
            .ok()
            .and_then(|v| v.as_str().map(str::to_owned))
            .unwrap_or_default()
    }

    fn parse<T: serde::de::DeserializeOwned>(text: &str) -> Option<T> {
        serde_json::from_value(serde_json::Value::String(text.to_owned())).ok()
    }

    /// The domain's activation, or the fields that cannot even be read.
    pub fn activation(input: &ActivationInput) -> Result<Activation, Vec<FieldProblem>> {
        let mut problems = Vec::new();
        let mut problem = |field: String, message: &str| {
            problems.push(FieldProblem {
                field,
                message: message.to_owned(),
            })
        };
        let mut segments = Vec::new();
        for (i, s) in input.segments.iter().enumerate() {
            let schedule: Option<Schedule> = parse(&s.schedule);
            let mode: Option<ExportMode> = parse(&s.mode);
            let start = chrono::NaiveDate::parse_from_str(&s.start_date, "%Y-%m-%d").ok();
            let end = if s.end_date.trim().is_empty() {
                Some(None)
            } else {
                chrono::NaiveDate::parse_from_str(&s.end_date, "%Y-%m-%d")
                    .ok()
                    .map(Some)
            };
            if schedule.is_none() {
                problem(format!("segments[{i}].schedule"), "Choose a schedule.");
            }
            if mode.is_none() {
                problem(
                    format!("segments[{i}].mode"),
                    "Choose full or incremental files.",
                );
            }
            if start.is_none() {
                problem(
                    format!("segments[{i}].start_date"),
                    "Give a start date (YYYY-MM-DD).",
                );
            }
            if end.is_none() {
                problem(
                    format!("segments[{i}].end_date"),
                    "Give the end date as YYYY-MM-DD, or leave it empty.",
                );
            }
            if let (Some(schedule), Some(mode), Some(start_date), Some(end_date)) =
                (schedule, mode, start, end)
            {
                segments.push(SegmentSchedule {
                    segment_id: s.segment_id.clone(),
                    schedule,
                    mode,
                    time: Some(s.time.trim().to_owned()).filter(|t| !t.is_empty()),
                    after_evaluation: s.after_evaluation,
                    start_date,
                    end_date,
                    file_name: s.file_name.clone(),
                });
            }
        }
        let mut mapping = Vec::new();
        for (i, m) in input.mapping.iter().enumerate() {
            let kind = match m.kind.as_str() {
                "field" => SourceKind::Field,
                "identity" => SourceKind::Identity,
                _ => {
                    problem(
                        format!("mapping[{i}].source"),
                        "Choose a field or an identity.",
                    );
                    continue;
                }
            };
            let transformation = if m.transformation.is_empty() {
                Hashing::None
            } else if let Some(t) = parse(&m.transformation) {
                t
            } else {
                problem(
                    format!("mapping[{i}].transformation"),
                    "Unknown transformation.",
                );
                continue;
            };
            mapping.push(MappingRow {
                kind,
                source: m.source.clone(),
                target: m.target.clone(),
                mandatory: m.mandatory,
                dedup_key: m.dedup_key,
                transformation,
            });
        }
        if problems.is_empty() {
            Ok(Activation { segments, mapping })
        } else {
            Err(problems)
        }
    }

    pub fn mapping_input(m: &MappingRow) -> MappingInput {
        MappingInput {
            kind: match m.kind {
                SourceKind::Field => "field".into(),
                SourceKind::Identity => "identity".into(),
            },
            source: m.source.clone(),
            target: m.target.clone(),
            mandatory: m.mandatory,
            dedup_key: m.dedup_key,
            transformation: code(m.transformation),
        }
    }

    pub fn input(a: &Activation) -> ActivationInput {
        ActivationInput {
            segments: a
                .segments
                .iter()
                .map(|s| ScheduleInput {
                    segment_id: s.segment_id.clone(),
                    schedule: code(s.schedule),
                    mode: s.mode.as_str().into(),
                    time: s.time.clone().unwrap_or_default(),
                    after_evaluation: s.after_evaluation,
                    start_date: s.start_date.format("%Y-%m-%d").to_string(),
                    end_date: s
                        .end_date
                        .map(|d| d.format("%Y-%m-%d").to_string())
                        .unwrap_or_default(),
                    file_name: s.file_name.clone(),
                })
                .collect(),
            mapping: a.mapping.iter().map(mapping_input).collect(),
        }
    }

    pub fn problems(errors: Vec<domain::activation::FieldError>) -> Vec<FieldProblem> {
        errors
            .into_iter()
            .map(|e| FieldProblem {
                field: e.field,
                message: e.message,
            })
            .collect()
    }

    pub fn schedule_code(s: Schedule) -> String {
        code(s)
    }
}

#[cfg(feature = "ssr")]
fn activators() -> [domain::access::Permission; 2] {
    use domain::access::Permission;
    [
        Permission::DestinationsActivate,
        Permission::DestinationsActivateWithoutMapping,
    ]
}

/// The wizard's data for a dataflow, with its current activation.
#[server(prefix = "/api", endpoint = "activation/get")]
pub async fn get_activation(dataflow_id: String) -> Result<WizardData, AppError> {
    use domain::access::Permission;
    let principal = crate::auth::ssr::require_any(&activators()).await?;
    let state = crate::state::app_state()?;
    let fail = |e: domain::Error| AppError::from(e).respond();
    let flow = domain::connections::dataflows::get(&state.db, &state.connectors, &dataflow_id)
        .await
        .map_err(fail)?;
    let spec = state.connectors.spec(&flow.destination_id).map_err(fail)?;
    let current = domain::activation::current(&state.db, &dataflow_id)
        .await
        .map_err(fail)?;
    let activated: Vec<String> = current
        .segments
        .iter()
        .map(|s| s.segment_id.clone())
        .collect();
    let segments = domain::segments::service::list(&state.db)
        .await
        .map_err(fail)?;
    let schema = domain::profiles::schema::load(&state.db)
        .await
        .map_err(fail)?;
    let destination = crate::api::destinations::destination_info(spec);
    Ok(WizardData {
        dataflow: crate::api::destinations::dataflow_row(flow),
        streaming: spec.connection == domain::catalog::ConnectionType::Streaming,
        schedules: spec
            .schedules
            .iter()
            .map(|s| (convert::schedule_code(*s), s.title().to_owned()))
            .collect(),
        segments: segments
            .into_iter()
            .map(|s| SegmentChoice {
                activated: activated.contains(&s.public_id),
                id: s.public_id,
                name: s.name,
                description: s.description,
                size: s.size,
            })
            .collect(),
        fields: schema
            .fields
            .iter()
            .map(|f| SourceField {
                path: f.path.clone(),
                title: f.title.clone(),
                field_type: f.field_type.as_str().to_owned(),
                labels: f.labels.clone(),
            })
            .collect(),
        namespaces: schema
            .namespaces
            .iter()
            .map(|n| (n.code.clone(), n.title.clone()))
            .collect(),
        current: convert::input(&current),
        can_change_mapping: principal.can(Permission::DestinationsActivate),
        macros: domain::activation::FILE_NAME_MACROS
            .iter()
            .map(|(m, d)| ((*m).to_owned(), (*d).to_owned()))
            .collect(),
        default_file_name: domain::activation::DEFAULT_FILE_NAME.to_owned(),
        today: chrono::Utc::now().format("%Y-%m-%d").to_string(),
        destination,
    })
}

/// Checks the wizard's state on the server: every mistake with its field.
#[server(prefix = "/api", endpoint = "activation/check")]
pub async fn check_activation(
    dataflow_id: String,
    #[server(default)] activation: ActivationInput,
) -> Result<Vec<FieldProblem>, AppError> {
    crate::auth::ssr::require_any(&activators()).await?;
    let state = crate::state::app_state()?;
    let parsed = match convert::activation(&activation) {
        Ok(parsed) => parsed,
        Err(problems) => return Ok(problems),
    };
    let (_, errors) =
        domain::activation::validate(&state.db, &state.connectors, &dataflow_id, &parsed)
            .await
            .map_err(|e| AppError::from(e).respond())?;
    Ok(convert::problems(errors))
}

/// The review: problems (violations included), counts per segment and the dry run.
#[server(prefix = "/api", endpoint = "activation/review")]
pub async fn review_activation(
    dataflow_id: String,
    #[server(default)] activation: ActivationInput,
) -> Result<ReviewData, AppError> {
    crate::auth::ssr::require_any(&activators()).await?;
    let state = crate::state::app_state()?;
    let fail = |e: domain::Error| AppError::from(e).respond();
    let empty = |problems| ReviewData {
        problems,
        violations: vec![],
        segments: vec![],
        dry_run_name: String::new(),
        dry_run_format: String::new(),
        dry_run: String::new(),
        dry_run_rows: 0,
    };
    let parsed = match convert::activation(&activation) {
        Ok(parsed) => parsed,
        Err(problems) => return Ok(empty(problems)),
    };
    let (cleaned, errors) =
        domain::activation::validate(&state.db, &state.connectors, &dataflow_id, &parsed)
            .await
            .map_err(fail)?;
    let blocking: Vec<_> = errors
        .iter()
        .filter(|e| e.field != "review")
        .cloned()
        .collect();
    if !blocking.is_empty() {
        return Ok(empty(convert::problems(blocking)));
    }
    let review =
        domain::activation::review::review(&state.db, &state.connectors, &dataflow_id, &cleaned)
            .await
            .map_err(fail)?;
    let dry = review
        .dry_run
        .unwrap_or(domain::activation::review::DryRun {
            segment_name: String::new(),
            name: String::new(),
            format: String::new(),
            content: String::new(),
            rows: 0,
        });
    Ok(ReviewData {
        problems: convert::problems(errors),
        violations: review.violations.into_iter().map(|v| v.message).collect(),
        segments: review
            .segments
            .into_iter()
            .map(|s| SegmentCounts {
                name: s.name,
                members: s.members,
                consent_excluded: s.consent_excluded,
                missing: s.missing,
                malformed: s.malformed,
            })
            .collect(),
        dry_run_name: dry.name,
        dry_run_format: dry.format,
        dry_run: dry.content,
        dry_run_rows: dry.rows,
    })
}

/// Saves the activation and enables the dataflow (re-checked on the server; audited).
#[server(prefix = "/api", endpoint = "activation/save")]
pub async fn save_activation(
    dataflow_id: String,
    #[server(default)] activation: ActivationInput,
) -> Result<(), AppError> {
    use domain::access::Permission;
    let principal = crate::auth::ssr::require_any(&activators()).await?;
    let state = crate::state::app_state()?;
    let parsed = match convert::activation(&activation) {
        Ok(parsed) => Ok(parsed),
        Err(problems) => Err(domain::Error::Invalid(
            problems
                .iter()
                .map(|p| format!("{}: {}", p.field, p.message))
                .collect::<Vec<_>>()
                .join("\n"),
        )),
    };
    let result = match parsed {
        Ok(parsed) => {
            domain::activation::save(
                &state.db,
                &state.connectors,
                &dataflow_id,
                &parsed,
                principal.can(Permission::DestinationsActivate),
            )
            .await
        }
        Err(e) => Err(e),
    };
    let details = serde_json::json!({
        "segments": activation.segments.iter().map(|s| &s.segment_id).collect::<Vec<_>>(),
        "mapping": activation.mapping.iter().map(|m| format!("{} {} → {}", m.kind, m.source, m.target)).collect::<Vec<_>>(),
    });
    crate::api::audited(
        &principal,
        "dataflow.activate",
        "dataflow",
        &dataflow_id,
        details,
        result,
    )
    .await
    .map(|_| ())
}

/// The file name a template gives for a segment now (`Ok`), or why the template cannot work
/// (`Err`): the live preview shows either while the name is typed.
#[server(prefix = "/api", endpoint = "activation/file-name")]
pub async fn preview_file_name(
    dataflow_id: String,
    segment_id: String,
    template: String,
) -> Result<Result<String, String>, AppError> {
    crate::auth::ssr::require_any(&activators()).await?;
    let state = crate::state::app_state()?;
    let fail = |e: domain::Error| AppError::from(e).respond();
    if let Err(problem) = domain::activation::check_file_name(&template) {
        return Ok(Err(problem));
    }
    let flow = domain::connections::dataflows::get(&state.db, &state.connectors, &dataflow_id)
        .await
        .map_err(fail)?;
    let segment = domain::segments::service::find(&state.db, &segment_id)
        .await
        .map_err(fail)?;
    let format = flow
        .params
        .get("format")
        .cloned()
        .unwrap_or_else(|| "csv".into());
    let extension = if flow.params.get("compression").is_some_and(|c| c == "gzip") {
        format!("{format}.gz")
    } else {
        format
    };
    Ok(Ok(domain::activation::render_file_name(
        &template,
        &flow.destination_name,
        &segment.public_id,
        &segment.name,
        &flow.public_id,
        chrono::Utc::now(),
        &extension,
    )))
}

/// A dataflow with its activated segments and mapping.
#[server(prefix = "/api", endpoint = "dataflows/get")]
pub async fn get_dataflow(dataflow_id: String) -> Result<DataflowDetail, AppError> {
    use domain::access::Permission;
    let principal = crate::auth::ssr::require(Permission::DestinationsView).await?;
    let state = crate::state::app_state()?;
    let fail = |e: domain::Error| AppError::from(e).respond();
    let flow = domain::connections::dataflows::get(&state.db, &state.connectors, &dataflow_id)
        .await
        .map_err(fail)?;
    let current = domain::activation::current(&state.db, &dataflow_id)
        .await
        .map_err(fail)?;
    let names: std::collections::BTreeMap<String, String> =
        domain::segments::service::list(&state.db)
            .await
            .map_err(fail)?
            .into_iter()
            .map(|s| (s.public_id, s.name))
            .collect();
    Ok(DataflowDetail {
        dataflow: crate::api::destinations::dataflow_row(flow),
        segments: current
            .segments
            .iter()
            .map(|s| ActivatedSegment {
                name: names.get(&s.segment_id).cloned().unwrap_or_default(),
                segment_id: s.segment_id.clone(),
                schedule: s.schedule.title().to_owned(),
                mode: s.mode.as_str().to_owned(),
                time: if s.after_evaluation {
                    "after segment evaluation".to_owned()
                } else {
                    s.time
                        .clone()
                        .map(|t| format!("{t} UTC"))
                        .unwrap_or_default()
                },
                start_date: s.start_date.format("%Y-%m-%d").to_string(),
                end_date: s
                    .end_date
                    .map(|d| d.format("%Y-%m-%d").to_string())
                    .unwrap_or_default(),
                file_name: s.file_name.clone(),
            })
            .collect(),
        mapping: current.mapping.iter().map(convert::mapping_input).collect(),
        can_manage: principal.can(Permission::DestinationsManage),
        can_activate: activators().iter().any(|p| principal.can(*p)),
        can_toggle: principal.can(Permission::DestinationsManage)
            || principal.can(Permission::DestinationsActivate),
    })
}

/// Enables or disables a dataflow (managers, and activators who run their activations).
#[server(prefix = "/api", endpoint = "dataflows/set-enabled")]
pub async fn set_dataflow_enabled(
    dataflow_id: String,
    enabled: bool,
) -> Result<DataflowRow, AppError> {
    use domain::access::Permission;
    let principal = crate::auth::ssr::require_any(&[
        Permission::DestinationsManage,
        Permission::DestinationsActivate,
    ])
    .await?;
    let state = crate::state::app_state()?;
    let result = domain::connections::dataflows::set_enabled(
        &state.db,
        &state.connectors,
        &dataflow_id,
        enabled,
    )
    .await;
    let action = if enabled {
        "dataflow.enable"
    } else {
        "dataflow.disable"
    };
    crate::api::audited(
        &principal,
        action,
        "dataflow",
        &dataflow_id,
        serde_json::json!({}),
        result,
    )
    .await
    .map(crate::api::destinations::dataflow_row)
}

/// Deletes a dataflow: its schedules stop.
#[server(prefix = "/api", endpoint = "dataflows/delete")]
pub async fn delete_dataflow(dataflow_id: String) -> Result<(), AppError> {
    use domain::access::Permission;
    let principal = crate::auth::ssr::require(Permission::DestinationsManage).await?;
    let state = crate::state::app_state()?;
    let result = domain::connections::dataflows::delete(&state.db, &dataflow_id).await;
    let details = match &result {
        Ok(flow) => serde_json::json!({ "name": flow.name, "destination": flow.destination_id }),
        Err(_) => serde_json::json!({}),
    };
    crate::api::audited(
        &principal,
        "dataflow.delete",
        "dataflow",
        &dataflow_id,
        details,
        result,
    )
    .await
    .map(|_| ())
}

/// Stops activating one segment to a dataflow.
#[server(prefix = "/api", endpoint = "dataflows/remove-segment")]
pub async fn remove_dataflow_segment(
    dataflow_id: String,
    segment_id: String,
) -> Result<(), AppError> {
    let principal = crate::auth::ssr::require_any(&activators()).await?;
    let state = crate::state::app_state()?;
    let result =
        domain::connections::dataflows::remove_segment(&state.db, &dataflow_id, &segment_id).await;
    crate::api::audited(
        &principal,
        "dataflow.remove_segment",
        "dataflow",
        &dataflow_id,
        serde_json::json!({ "segment": segment_id }),
        result,
    )
    .await
}
