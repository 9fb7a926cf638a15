//! Imports profiles from CSV or JSON Lines: read on a blocking thread and streamed to the
//! database in batches (never the whole file in memory), every row checked against the schema,
//! upserted by a chosen identity namespace, each batch committed whole or not at all.

use std::io::{BufRead, BufReader, Read};

use serde_json::Value;
use tokio::sync::mpsc;

use super::schema::Catalog;
use super::store::{self, ProfileRecord, normalize_identity};
use super::values::{normalize_json, normalize_text, set_path};
use crate::db::DatabaseConnection;
use crate::{Error, Result};

/// The file formats an import reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Csv,
    JsonLines,
}

impl Format {
    /// The format named by a file name's extension (`.csv`, `.jsonl`, `.ndjson`), if any.
    pub fn from_file_name(name: &str) -> Option<Format> {
        let lower = name.to_ascii_lowercase();
        if lower.ends_with(".csv") {
            Some(Format::Csv)
        } else if lower.ends_with(".jsonl") || lower.ends_with(".ndjson") {
            Some(Format::JsonLines)
        } else {
            None
        }
    }
}

/// How to import.
#[derive(Debug, Clone)]
pub struct Options {
    pub format: Format,
    /// The identity namespace that says which rows are the same profile, such as CRMID.
    pub key_namespace: String,
    /// Rows per transaction.
    pub batch_size: usize,
}

/// Rejected rows listed in a report at most; the rest are only counted.
pub const MAX_LISTED_REJECTIONS: usize = 1000;
/// The longest JSON line accepted, in bytes.
pub const MAX_LINE_BYTES: usize = 1 << 20;

/// What an import did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Report {
    /// Data rows read (not counting a CSV header or empty lines).
    pub rows: u64,
    pub inserted: u64,
    pub updated: u64,
    pub unchanged: u64,
    pub rejected: u64,
    /// (line, reason) for the first [`MAX_LISTED_REJECTIONS`] rejected rows.
    pub rejections: Vec<(u64, String)>,
}

impl Report {
    fn reject(&mut self, line: u64, reason: String) {
        self.rejected += 1;
        if self.rejections.len() < MAX_LISTED_REJECTIONS {
            self.rejections.push((line, reason));
        }
    }
}

/// What the reading thread sends: a batch of good rows and the rows it refused.
struct Batch {
    records: Vec<(u64, ProfileRecord)>,
    refused: Vec<(u64, String)>,
    rows: u64,
}

/// Imports from `input`. A file-level problem (an unknown CSV column, no column for the key
/// namespace) fails before anything is written; a bad row is refused and reported with its
/// line; batches already committed stay when a later one fails.
///
/// # Errors
/// [`Error::Invalid`] for a file-level problem, [`Error::Database`] for a failed batch.
pub async fn import<R: Read + Send + 'static>(
    db: &DatabaseConnection,
    catalog: Catalog,
    input: R,
    options: Options,
) -> Result<Report> {
    if catalog.namespace(&options.key_namespace).is_none() {
        return Err(Error::Invalid(format!(
            "{:?} is not an identity namespace.",
            options.key_namespace
        )));
    }
    let batch_size = options.batch_size.max(1);
    // Two batches in flight at most: the reader stays just ahead of the database.
    let (sender, mut receiver) = mpsc::channel::<Result<Batch>>(2);
    let key = options.key_namespace.clone();
    let reader = tokio::task::spawn_blocking(move || {
        let sender_for_errors = sender.clone();
        let result = match options.format {
            Format::Csv => read_csv(input, &catalog, &options.key_namespace, batch_size, &sender),
            Format::JsonLines => {
                read_json_lines(input, &catalog, &options.key_namespace, batch_size, &sender)
            }
        };
        if let Err(error) = result {
            let _ = sender_for_errors.blocking_send(Err(error));
        }
    });
    let mut report = Report::default();
    let mut failure = None;
    while let Some(batch) = receiver.recv().await {
        let batch = match batch {
            Ok(batch) => batch,
            Err(error) => {
                failure = Some(error);
                break;
            }
        };
        report.rows += batch.rows;
        let mut refused = batch.refused;
        if !batch.records.is_empty() {
            match store::upsert_batch(db, &key, batch.records).await {
                Ok(outcome) => {
                    report.inserted += outcome.inserted;
                    report.updated += outcome.updated;
                    report.unchanged += outcome.unchanged;
                    refused.extend(outcome.rejected);
                }
                Err(error) => {
                    failure = Some(error);
                    break;
                }
            }
        }
        refused.sort_by_key(|(line, _)| *line);
        for (line, reason) in refused {
            report.reject(line, reason);
        }
    }
    // Dropping the receiver stops the reader at its next send.
    drop(receiver);
    reader
        .await
        .map_err(|e| Error::Corrupt(format!("the import reader failed: {e}")))?;
    if let Some(error) = failure {
        return Err(error);
    }
    if report.inserted + report.updated >= LARGE_IMPORT_ROWS {
        refresh_statistics(db).await;
    }
    Ok(report)
}

/// Imports that write at least this many profiles refresh the database's statistics after.
pub const LARGE_IMPORT_ROWS: u64 = 10_000;

/// After a bulk write: PostgreSQL vacuums and analyzes the profile tables (so the first segment
/// evaluation does not pay for marking every new row visible, and plans use fresh counts);
/// SQLite runs its own `PRAGMA optimize`. A failure here costs speed only, so it is logged.
async fn refresh_statistics(db: &DatabaseConnection) {
    use sea_orm::ConnectionTrait;
    let sql = if db.get_database_backend() == sea_orm::DbBackend::Postgres {
        "VACUUM (ANALYZE) profiles, profile_identities"
    } else {
        "PRAGMA optimize"
    };
    if let Err(error) = db.execute_unprepared(sql).await {
        tracing::warn!(%error, sql, "could not refresh statistics after the import");
    }
}

/// Byte offsets of the newlines read so far that the CSV reader may still ask about, each with
/// whether a carriage return came just before it.
#[derive(Clone, Default)]
struct NewlineLog(std::sync::Arc<std::sync::Mutex<std::collections::VecDeque<(u64, bool)>>>);

impl NewlineLog {
    /// The line of the first non-blank line at or after byte `start` (on line `line`).
    fn first_content_line(&self, mut start: u64, mut line: u64) -> u64 {
        let mut log = self
            .0
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        while log.front().is_some_and(|(offset, _)| *offset < start) {
            log.pop_front();
        }
        loop {
            let blank = match log.front() {
                Some(&(offset, _)) if offset == start => Some(1),
                Some(&(offset, true)) if offset == start + 1 => Some(2),
                _ => None,
            };
            match blank {
                Some(width) => {
                    log.pop_front();
                    start += width;
                    line += 1;
                }
                None => return line,
            }
        }
    }
}

/// Passes bytes through while logging where the newlines are.
struct NewlineLogger<R> {
    inner: R,
    log: NewlineLog,
    offset: u64,
    last: u8,
}

impl<R: Read> Read for NewlineLogger<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        let mut log = self
            .log
            .0
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        for &byte in &buf[..n] {
            if byte == b'\n' {
                log.push_back((self.offset, self.last == b'\r'));
            }
            self.last = byte;
            self.offset += 1;
        }
        Ok(n)
    }
}

/// A column of a CSV file: an attribute or an identity.
enum Column {
    Attribute {
        path: String,
        field_type: super::schema::FieldType,
    },
    Identity(String),
}

fn read_csv<R: Read>(
    input: R,
    catalog: &Catalog,
    key: &str,
    batch_size: usize,
    sender: &mpsc::Sender<Result<Batch>>,
) -> Result<()> {
    let newlines = NewlineLog::default();
    let mut reader = csv::ReaderBuilder::new()
        .flexible(true)
        .from_reader(NewlineLogger {
            inner: input,
            log: newlines.clone(),
            offset: 0,
            last: 0,
        });
    let headers = reader
        .headers()
        .map_err(|e| Error::Invalid(format!("The CSV header cannot be read: {e}")))?
        .clone();
    let mut columns = Vec::with_capacity(headers.len());
    let mut unknown = Vec::new();
    for name in &headers {
        let name = name.trim();
        if let Some(ns) = name.strip_prefix("identity.") {
            match catalog.namespace(ns) {
                Some(n) => columns.push(Column::Identity(n.code.clone())),
                None => unknown.push(name.to_owned()),
            }
        } else if let Some(field) = catalog.field(name) {
            columns.push(Column::Attribute {
                path: field.path.clone(),
                field_type: field.field_type,
            });
        } else {
            unknown.push(name.to_owned());
        }
    }
    if !unknown.is_empty() {
        return Err(Error::Invalid(format!(
            "Unknown columns: {}. Name columns after schema fields (such as loyalty.points) or identities (such as identity.Email).",
            unknown.join(", ")
        )));
    }
    if !columns
        .iter()
        .any(|c| matches!(c, Column::Identity(ns) if ns == key))
    {
        return Err(Error::Invalid(format!(
            "There is no identity.{key} column to match profiles by."
        )));
    }
    let mut batch = Batch {
        records: Vec::new(),
        refused: Vec::new(),
        rows: 0,
    };
    let mut record = csv::StringRecord::new();
    loop {
        let line = reader.position().line();
        match reader.read_record(&mut record) {
            Ok(false) => break,
            Ok(true) => {
                // The reader says where it began reading the record, which may be a blank line
                // before it: report the line the record's text starts on.
                let line = record
                    .position()
                    .map_or(line, |p| newlines.first_content_line(p.byte(), p.line()));
                batch.rows += 1;
                if record.len() != columns.len() {
                    batch.refused.push((
                        line,
                        format!(
                            "has {} fields, the header has {}",
                            record.len(),
                            columns.len()
                        ),
                    ));
                } else {
                    match csv_row(&columns, &record, key) {
                        Ok(r) => batch.records.push((line, r)),
                        Err(reason) => batch.refused.push((line, reason)),
                    }
                }
            }
            Err(error) => {
                let line = error.position().map_or(line, |p| p.line());
                batch.rows += 1;
                batch
                    .refused
                    .push((line, format!("cannot be read: {error}")));
                if !matches!(error.kind(), csv::ErrorKind::Utf8 { .. }) {
                    break;
                }
            }
        }
        if batch.rows as usize >= batch_size {
            let full = std::mem::replace(
                &mut batch,
                Batch {
                    records: Vec::new(),
                    refused: Vec::new(),
                    rows: 0,
                },
            );
            if sender.blocking_send(Ok(full)).is_err() {
                return Ok(());
            }
        }
    }
    let _ = sender.blocking_send(Ok(batch));
    Ok(())
}

fn csv_row(
    columns: &[Column],
    record: &csv::StringRecord,
    key: &str,
) -> std::result::Result<ProfileRecord, String> {
    let mut attributes = Value::Object(serde_json::Map::new());
    let mut identities: Vec<(String, String)> = Vec::new();
    for (column, cell) in columns.iter().zip(record.iter()) {
        match column {
            Column::Attribute { path, field_type } => {
                let value =
                    normalize_text(*field_type, cell).map_err(|e| format!("{path}: {e}"))?;
                set_path(&mut attributes, path, value);
            }
            Column::Identity(ns) => {
                let value = normalize_identity(ns, cell);
                if !value.is_empty() {
                    identities.push((ns.clone(), value));
                }
            }
        }
    }
    finish(identities, attributes, key)
}

/// Puts the key identity first and checks it is there.
fn finish(
    mut identities: Vec<(String, String)>,
    attributes: Value,
    key: &str,
) -> std::result::Result<ProfileRecord, String> {
    let Some(position) = identities.iter().position(|(ns, _)| ns == key) else {
        return Err(format!("no {key} identity to match profiles by"));
    };
    let first = identities.remove(position);
    identities.insert(0, first);
    identities.dedup();
    if identities.iter().any(|(_, v)| v.chars().count() > 512) {
        return Err("an identity value is longer than 512 characters".into());
    }
    Ok(ProfileRecord {
        identities,
        attributes,
    })
}

fn read_json_lines<R: Read>(
    input: R,
    catalog: &Catalog,
    key: &str,
    batch_size: usize,
    sender: &mpsc::Sender<Result<Batch>>,
) -> Result<()> {
    let mut reader = BufReader::new(input);
    let mut batch = Batch {
        records: Vec::new(),
        refused: Vec::new(),
        rows: 0,
    };
    let mut buffer = Vec::new();
    let mut line = 0u64;
    loop {
        buffer.clear();
        let read = (&mut reader)
            .take(MAX_LINE_BYTES as u64 + 1)
            .read_until(b'\n', &mut buffer)
            .map_err(|e| Error::Invalid(format!("The file cannot be read: {e}")))?;
        if read == 0 {
            break;
        }
        line += 1;
        if buffer.len() > MAX_LINE_BYTES && !buffer.ends_with(b"\n") {
            batch.rows += 1;
            batch
                .refused
                .push((line, format!("longer than {MAX_LINE_BYTES} bytes")));
            // Skip the rest of the oversized line.
            let mut rest = Vec::new();
            reader
                .read_until(b'\n', &mut rest)
                .map_err(|e| Error::Invalid(format!("The file cannot be read: {e}")))?;
        } else {
            let mut text = buffer.as_slice();
            if line == 1 && text.starts_with(&[0xEF, 0xBB, 0xBF]) {
                text = &text[3..];
            }
            let text = String::from_utf8_lossy(text);
            let text = text.trim();
            if text.is_empty() {
                continue;
            }
            batch.rows += 1;
            match json_row(catalog, text, key) {
                Ok(r) => batch.records.push((line, r)),
                Err(reason) => batch.refused.push((line, reason)),
            }
        }
        if batch.rows as usize >= batch_size {
            let full = std::mem::replace(
                &mut batch,
                Batch {
                    records: Vec::new(),
                    refused: Vec::new(),
                    rows: 0,
                },
            );
            if sender.blocking_send(Ok(full)).is_err() {
                return Ok(());
            }
        }
    }
    let _ = sender.blocking_send(Ok(batch));
    Ok(())
}

fn json_row(
    catalog: &Catalog,
    text: &str,
    key: &str,
) -> std::result::Result<ProfileRecord, String> {
    let value: Value = serde_json::from_str(text).map_err(|e| format!("is not valid JSON: {e}"))?;
    let Value::Object(mut object) = value else {
        return Err("is not a JSON object".into());
    };
    let mut identities = Vec::new();
    match object.remove("identities") {
        Some(Value::Object(map)) => {
            for (ns, values) in map {
                let Some(namespace) = catalog.namespace(&ns) else {
                    return Err(format!("unknown identity namespace {ns:?}"));
                };
                let list = match values {
                    Value::String(s) => vec![s],
                    Value::Array(items) => items
                        .into_iter()
                        .map(|v| {
                            v.as_str()
                                .map(str::to_owned)
                                .ok_or_else(|| format!("identities.{ns} must hold text"))
                        })
                        .collect::<std::result::Result<_, _>>()?,
                    _ => return Err(format!("identities.{ns} must hold text")),
                };
                for v in list {
                    let v = normalize_identity(&namespace.code, &v);
                    if !v.is_empty() {
                        identities.push((namespace.code.clone(), v));
                    }
                }
            }
        }
        Some(_) => {
            return Err("\"identities\" must be an object such as {\"CRMID\": \"123\"}".into());
        }
        None => {}
    }
    let mut attributes = Value::Object(serde_json::Map::new());
    match object.remove("attributes") {
        Some(value @ Value::Object(_)) => {
            for (path, leaf) in super::values::leaves(&value) {
                let Some(field) = catalog.field(&path) else {
                    return Err(format!("unknown field {path:?}"));
                };
                let stored =
                    normalize_json(field.field_type, leaf).map_err(|e| format!("{path}: {e}"))?;
                set_path(&mut attributes, &path, stored);
            }
        }
        Some(_) => return Err("\"attributes\" must be an object".into()),
        None => {}
    }
    if let Some(other) = object.keys().next() {
        return Err(format!(
            "unknown key {other:?}; a line holds \"identities\" and \"attributes\""
        ));
    }
    finish(identities, attributes, key)
}
