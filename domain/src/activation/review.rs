//! The wizard's review: policy violations, consent exclusions and identity pre-flight counts
//! per segment, and a dry run rendering the first rows exactly as they would be exported.

use chrono::Utc;
use sea_orm::{ColumnTrait, DatabaseConnection, EntityTrait, QueryFilter, QueryOrder, QuerySelect};
use serde::{Deserialize, Serialize};

use super::identity;
use super::policy::{self, Labelled, Violation};
use super::{Activation, MappingRow, SourceKind, render_file_name};
use crate::Result;
use crate::catalog::spec::{FileFormat, Hashing, Normalization};
use crate::catalog::{ConnectionType, Spec};
use crate::connections::{Connectors, Values};
use crate::entities::{dataflow, segment, segment_membership};
use crate::profiles::store::{self, StoredProfile};

/// How many members the malformed-identity check reads per segment.
pub const PREFLIGHT_SAMPLE: u64 = 2000;
/// How many rows the dry run shows.
pub const DRY_RUN_ROWS: usize = 5;

/// Counts for one activated segment.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SegmentReview {
    pub segment_id: String,
    pub name: String,
    pub members: i64,
    /// Members left out because a consent the marketing actions need is not "y".
    pub consent_excluded: i64,
    /// (source, members lacking it) for every mandatory mapping.
    pub missing: Vec<(String, i64)>,
    /// (namespace, malformed values, values checked) within the first members.
    pub malformed: Vec<(String, u64, u64)>,
}

/// The first rows or records exactly as they would be exported.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DryRun {
    pub segment_name: String,
    /// The file name (file destinations) or the request's target (streaming).
    pub name: String,
    /// csv, jsonl or json (streaming records).
    pub format: String,
    pub content: String,
    pub rows: usize,
}

/// Everything the review step shows.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Review {
    pub violations: Vec<Violation>,
    pub segments: Vec<SegmentReview>,
    pub dry_run: Option<DryRun>,
}

fn actions_of(flow: &dataflow::Model) -> Vec<String> {
    serde_json::from_str(&flow.marketing_actions).unwrap_or_default()
}

/// The policy violations of an activation: labels of mapped fields and of the fields each
/// segment's rule reads, against the connection's marketing actions.
///
/// # Errors
/// Database failures.
pub async fn violations(
    db: &DatabaseConnection,
    _connectors: &Connectors,
    flow: &dataflow::Model,
    activation: &Activation,
) -> Result<Vec<Violation>> {
    let schema = crate::profiles::schema::load(db).await?;
    let segments = chosen_segments(db, activation).await?;
    let mut labelled = Vec::new();
    for row in activation
        .mapping
        .iter()
        .filter(|r| r.kind == SourceKind::Field)
    {
        if let Some(field) = schema.field(&row.source) {
            labelled.push(Labelled {
                source: format!("The mapping of {}", row.source),
                path: &row.source,
                labels: &field.labels,
            });
        }
    }
    let parsed: Vec<(String, Vec<String>)> = segments
        .iter()
        .map(|s| {
            let refs = crate::segments::rule::parse(&s.rule)
                .map(|e| e.field_refs().into_iter().map(str::to_owned).collect())
                .unwrap_or_default();
            (s.name.clone(), refs)
        })
        .collect();
    for (name, refs) in &parsed {
        for path in refs {
            if let Some(field) = schema.field(path) {
                labelled.push(Labelled {
                    source: format!("Segment {name:?} (its rule)"),
                    path,
                    labels: &field.labels,
                });
            }
        }
    }
    Ok(policy::violations(&actions_of(flow), &labelled))
}

async fn chosen_segments(
    db: &DatabaseConnection,
    activation: &Activation,
) -> Result<Vec<segment::Model>> {
    let ids: Vec<String> = activation
        .segments
        .iter()
        .map(|s| s.segment_id.clone())
        .collect();
    let found = segment::Entity::find()
        .filter(segment::Column::PublicId.is_in(ids.clone()))
        .all(db)
        .await?;
    Ok(ids
        .iter()
        .filter_map(|id| found.iter().find(|s| &s.public_id == id).cloned())
        .collect())
}

/// A rule-language string literal.
fn quoted(text: &str) -> String {
    format!("\"{}\"", text.replace('\\', "\\\\").replace('"', "\\\""))
}

fn source_path(row: &MappingRow) -> String {
    match row.kind {
        SourceKind::Field => row.source.clone(),
        SourceKind::Identity => format!("identity.{}", row.source),
    }
}

/// The review of an activation (call after it validated).
///
/// # Errors
/// Database failures; [`crate::Error::NotFound`] for an unknown dataflow.
pub async fn review(
    db: &DatabaseConnection,
    connectors: &Connectors,
    dataflow_id: &str,
    activation: &Activation,
) -> Result<Review> {
    let flow = super::find_dataflow(db, dataflow_id).await?;
    let spec = connectors.spec(&flow.destination_id)?;
    let violations = violations(db, connectors, &flow, activation).await?;
    let consent = policy::consent_fields(&actions_of(&flow));
    let now = Utc::now();
    let mut segments = Vec::new();
    let mut dry_run = None;
    for s in chosen_segments(db, activation).await? {
        let member = format!("in_segment({})", quoted(&s.name));
        let members = crate::segments::service::estimate(db, &member, now).await?;
        let consent_excluded = if consent.is_empty() {
            0
        } else {
            let all_yes = consent
                .iter()
                .map(|f| format!("{f} = \"y\""))
                .collect::<Vec<_>>()
                .join(" and ");
            crate::segments::service::estimate(db, &format!("{member} and not ({all_yes})"), now)
                .await?
        };
        let mut missing = Vec::new();
        for row in activation.mapping.iter().filter(|r| r.mandatory) {
            let rule = format!("{member} and not {} exists", source_path(row));
            missing.push((
                row.source.clone(),
                crate::segments::service::estimate(db, &rule, now).await?,
            ));
        }
        let sample = first_members(db, s.id, PREFLIGHT_SAMPLE).await?;
        let profiles = store::load_many(db, &sample).await?;
        let mut malformed = Vec::new();
        for row in activation
            .mapping
            .iter()
            .filter(|r| r.kind == SourceKind::Identity)
        {
            let normalization = normalization_for(spec, &row.source);
            let (mut bad, mut checked) = (0u64, 0u64);
            for p in &profiles {
                for (_, value) in p.identities.iter().filter(|(ns, _)| *ns == row.source) {
                    checked += 1;
                    if identity::normalize(normalization, &row.source, value, country(p).as_deref())
                        .is_err()
                    {
                        bad += 1;
                    }
                }
            }
            malformed.push((row.source.clone(), bad, checked));
        }
        if dry_run.is_none() {
            dry_run = Some(render(spec, &flow, &s, activation, &profiles, &consent)?);
        }
        segments.push(SegmentReview {
            segment_id: s.public_id.clone(),
            name: s.name.clone(),
            members,
            consent_excluded,
            missing,
            malformed,
        });
    }
    Ok(Review {
        violations,
        segments,
        dry_run,
    })
}

/// How the spec prepares a namespace; emails and phones are at least checked when it says
/// nothing, so pre-flight counts still catch unreadable values.
fn normalization_for(spec: &Spec, namespace: &str) -> Normalization {
    spec.identities
        .iter()
        .find(|i| i.namespace == namespace)
        .map(|i| i.normalize)
        .unwrap_or(match namespace {
            "Email" => Normalization::TrimLowercase,
            "Phone" => Normalization::PhoneE164,
            _ => Normalization::None,
        })
}

fn country(profile: &StoredProfile) -> Option<String> {
    profile
        .attributes
        .pointer(&format!("/{}", COUNTRY_FIELD.replace('.', "/")))
        .and_then(|v| v.as_str())
        .map(str::to_owned)
}

async fn first_members(db: &DatabaseConnection, segment_id: i32, limit: u64) -> Result<Vec<i64>> {
    Ok(segment_membership::Entity::find()
        .filter(segment_membership::Column::SegmentId.eq(segment_id))
        .filter(segment_membership::Column::Status.eq("realized"))
        .order_by_asc(segment_membership::Column::ProfileId)
        .limit(limit)
        .all(db)
        .await?
        .into_iter()
        .map(|m| m.profile_id)
        .collect())
}

/// The attribute a phone number's default region comes from.
pub const COUNTRY_FIELD: &str = "homeAddress.countryCode";

/// How each mapped column's value is prepared, worked out once per export from the spec and
/// applied to every row: identities normalised and hashed as the platform requires, mandatory
/// values checked.
pub struct RowPlan {
    columns: Vec<ColumnPlan>,
}

struct ColumnPlan {
    /// (normalisation, hashing, namespace) for an identity; `None` for an attribute.
    identity: Option<(Normalization, Hashing, String)>,
    mandatory: bool,
    dedup_key: bool,
}

/// How a mapped column's value is prepared: the destination's normalisation, the mapping's
/// hashing and the identity namespace (empty for an attribute), or `None` for a plain field.
/// An attribute an audience platform matches on is prepared like an identity (no namespace: no
/// email check).
pub(crate) fn preparation(spec: &Spec, m: &MappingRow) -> Option<(Normalization, Hashing, String)> {
    match m.kind {
        SourceKind::Identity => {
            let normalization = spec
                .identities
                .iter()
                .find(|i| i.namespace == m.source)
                .map_or(Normalization::None, |i| i.normalize);
            Some((normalization, m.transformation, m.source.clone()))
        }
        SourceKind::Field if spec.kind == crate::catalog::DestinationType::SegmentExport => spec
            .attributes
            .iter()
            .find(|a| a.field == m.source)
            .map(|a| (a.normalize, m.transformation, String::new())),
        SourceKind::Field => None,
    }
}

impl RowPlan {
    pub fn new(spec: &Spec, mapping: &[MappingRow]) -> Self {
        let columns = mapping
            .iter()
            .map(|m| ColumnPlan {
                identity: preparation(spec, m),
                mandatory: m.mandatory,
                dedup_key: m.dedup_key,
            })
            .collect();
        Self { columns }
    }

    /// Prepares one row from the raw value of each mapped column (attribute text, identity
    /// value), or `None` when the profile is left out (a mandatory value missing or unreadable).
    pub fn prepare(
        &self,
        mut values: Vec<Option<String>>,
        country: Option<&str>,
    ) -> Option<Vec<Option<String>>> {
        for (plan, value) in self.columns.iter().zip(values.iter_mut()) {
            if let (Some((normalization, hashing, namespace)), Some(raw)) =
                (&plan.identity, value.as_deref())
            {
                *value = identity::prepare(*normalization, *hashing, namespace, raw, country).ok();
            }
            if plan.mandatory && value.as_deref().is_none_or(str::is_empty) {
                return None;
            }
        }
        Some(values)
    }

    /// Whether no two profiles can share a row's deduplication keys: one of them is a
    /// mandatory identity taken as stored (no two profiles hold the same value of a namespace,
    /// and hashing keeps distinct values apart). Normalising could merge values, so it counts
    /// only without.
    pub fn keys_are_unique(&self) -> bool {
        self.columns.iter().any(|c| {
            c.dedup_key
                && c.mandatory
                && matches!(&c.identity, Some((Normalization::None, _, ns)) if !ns.is_empty())
        })
    }

    /// A hash of a prepared row's deduplication keys, or `None` when it has none.
    pub fn dedup_key(&self, row: &[Option<String>]) -> Option<u64> {
        use std::hash::{Hash, Hasher};
        let mut hasher = std::collections::hash_map::DefaultHasher::new();
        let mut any = false;
        for (plan, value) in self.columns.iter().zip(row) {
            if plan.dedup_key {
                any = true;
                value.hash(&mut hasher);
            }
        }
        any.then(|| hasher.finish())
    }
}

/// An attribute as export text: strings as they are, other JSON values as JSON, null as absent.
pub fn attribute_text(attributes: &serde_json::Value, path: &str) -> Option<String> {
    let pointer = format!("/{}", path.replace('.', "/"));
    attributes.pointer(&pointer).and_then(|v| match v {
        serde_json::Value::Null => None,
        serde_json::Value::String(s) => Some(s.clone()),
        other => Some(other.to_string()),
    })
}

/// One profile's row: the target column → prepared value, or `None` when the profile is left
/// out (a mandatory value missing or unreadable).
pub fn row_for(
    spec: &Spec,
    mapping: &[MappingRow],
    profile: &StoredProfile,
) -> Option<Vec<(String, Option<String>)>> {
    let raw = mapping
        .iter()
        .map(|m| match m.kind {
            SourceKind::Field => attribute_text(&profile.attributes, &m.source),
            // The lowest value when a namespace holds several, as the export reads it.
            SourceKind::Identity => profile
                .identities
                .iter()
                .filter(|(ns, _)| *ns == m.source)
                .map(|(_, v)| v)
                .min()
                .cloned(),
        })
        .collect();
    let prepared = RowPlan::new(spec, mapping).prepare(raw, country(profile).as_deref())?;
    Some(
        mapping
            .iter()
            .map(|m| m.target.clone())
            .zip(prepared)
            .collect(),
    )
}

fn render(
    spec: &Spec,
    flow: &dataflow::Model,
    s: &segment::Model,
    activation: &Activation,
    profiles: &[StoredProfile],
    consent: &[&str],
) -> Result<DryRun> {
    let rows: Vec<Vec<(String, Option<String>)>> = profiles
        .iter()
        .filter(|p| policy::consented(&p.attributes, consent))
        .filter_map(|p| row_for(spec, &activation.mapping, p))
        .take(DRY_RUN_ROWS)
        .collect();
    let params: Values = serde_json::from_str(&flow.params).unwrap_or_default();
    let schedule = activation
        .segments
        .iter()
        .find(|x| x.segment_id == s.public_id);
    if spec.connection == ConnectionType::Streaming {
        let records: Vec<serde_json::Value> = rows
            .iter()
            .map(|r| {
                let identities: serde_json::Map<String, serde_json::Value> = r
                    .iter()
                    .filter_map(|(k, v)| v.clone().map(|v| (k.clone(), serde_json::Value::String(v))))
                    .collect();
                serde_json::json!({ "action": "add", "segment": s.public_id, "identities": identities })
            })
            .collect();
        return Ok(DryRun {
            segment_name: s.name.clone(),
            name: format!(
                "{} {}",
                spec.name,
                spec.http.as_ref().map_or("", |h| h.base_url.as_str())
            ),
            format: "json".into(),
            content: serde_json::to_string_pretty(&records).unwrap_or_default(),
            rows: rows.len(),
        });
    }
    let format = params.get("format").map_or("csv", String::as_str);
    let gzip = params.get("compression").is_some_and(|c| c == "gzip");
    let extension = match (format, gzip) {
        (f, true) => format!("{f}.gz"),
        (f, false) => f.to_owned(),
    };
    let name = render_file_name(
        schedule.map_or(super::DEFAULT_FILE_NAME, |x| x.file_name.as_str()),
        &spec.name,
        &s.public_id,
        &s.name,
        &flow.public_id,
        Utc::now(),
        &extension,
    );
    let content = if format == FileFormat::Csv.as_str() {
        csv_text(&params, activation, &rows)
    } else {
        // JSON Lines; Parquet holds the same columns, shown here as JSON for reading.
        rows.iter()
            .map(|r| {
                let object: serde_json::Map<String, serde_json::Value> = r
                    .iter()
                    .map(|(k, v)| {
                        (
                            k.clone(),
                            v.clone()
                                .map_or(serde_json::Value::Null, serde_json::Value::String),
                        )
                    })
                    .collect();
                serde_json::Value::Object(object).to_string()
            })
            .collect::<Vec<_>>()
            .join("\n")
    };
    Ok(DryRun {
        segment_name: s.name.clone(),
        name,
        format: format.to_owned(),
        content,
        rows: rows.len(),
    })
}

/// A one-character CSV option (`\\t` for a tab), or `default`.
pub(crate) fn one_byte(params: &Values, key: &str, default: u8) -> u8 {
    match params.get(key).map(String::as_str) {
        Some("\\t") => b'\t',
        Some(v) if v.len() == 1 => v.as_bytes()[0],
        _ => default,
    }
}

/// CSV with the connection's delimiter, quote, escape, header, null and empty outputs.
pub fn csv_text(
    params: &Values,
    activation: &Activation,
    rows: &[Vec<(String, Option<String>)>],
) -> String {
    let quote = one_byte(params, "csv_quote", b'"');
    let escape = one_byte(params, "csv_escape", b'"');
    let mut writer = csv::WriterBuilder::new()
        .delimiter(one_byte(params, "csv_delimiter", b','))
        .quote(quote)
        .escape(escape)
        .double_quote(escape == quote)
        .from_writer(Vec::new());
    let null = params.get("csv_null").cloned().unwrap_or_default();
    let empty = params.get("csv_empty").cloned().unwrap_or_default();
    if params.get("csv_header").is_none_or(|h| h == "true") {
        let header: Vec<&str> = activation
            .mapping
            .iter()
            .map(|m| m.target.as_str())
            .collect();
        let _ = writer.write_record(&header);
    }
    for row in rows {
        let cells: Vec<String> = row
            .iter()
            .map(|(_, v)| match v {
                None => null.clone(),
                Some(v) if v.is_empty() => empty.clone(),
                Some(v) => v.clone(),
            })
            .collect();
        let _ = writer.write_record(&cells);
    }
    String::from_utf8(writer.into_inner().unwrap_or_default()).unwrap_or_default()
}
