//! The file runner: streams a segment's members from the database in keyset pages (values
//! extracted by the database), applies the mapping, mandatory keys, deduplication (latest record
//! wins, lowest profile id breaks ties), consent and hashing on a blocking thread while the next
//! page is read, writes CSV, JSON Lines or Parquet (optionally gzip) split at the row limit, and
//! delivers each file whole, then a manifest. Memory stays flat: two pages in flight, the
//! excluded profiles spooled to a file, plus a Bloom filter of deduplication keys.

use std::collections::HashMap;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use chrono::{DateTime, Utc};
use sea_orm::{ColumnTrait, DatabaseConnection, EntityTrait, QueryFilter, QueryOrder};
use sha2::{Digest, Sha256};

use super::members::{Member, MemberQuery, Page, Wanted, Window};
use super::runs::{self, FileRecord, Outcome};
use super::{streaming, transport};
use crate::activation::review::{COUNTRY_FIELD, RowPlan, one_byte};
use crate::activation::{
    self, ExportMode, MappingRow, SourceKind, file_safe, policy, render_file_name,
};
use crate::catalog::ConnectionType;
use crate::connections::{Connectors, Values, accounts};
use crate::entities::{account, dataflow, dataflow_run, segment};

/// Members read from the database at a time.
pub const PAGE: u64 = 10_000;

/// The reasons a file run leaves a profile out, by their code in an [`ExclusionSpool`].
const SPOOLED_REASONS: [&str; 4] = [MISSING_KEY, NO_CONSENT, DUPLICATE, POLICY];

/// The profiles a run leaves out, written to a file in the run's working folder as they come
/// (a profile id and a reason code each), so that a run's memory does not grow with its segment.
struct ExclusionSpool {
    file: BufWriter<std::fs::File>,
    path: PathBuf,
}

impl ExclusionSpool {
    fn create(folder: &Path) -> std::io::Result<Self> {
        let path = folder.join("excluded.bin");
        let file = BufWriter::with_capacity(64 * 1024, std::fs::File::create(&path)?);
        Ok(ExclusionSpool { file, path })
    }

    fn push(&mut self, profile_id: i64, reason: &'static str) -> std::io::Result<()> {
        let code = SPOOLED_REASONS
            .iter()
            .position(|r| *r == reason)
            .ok_or_else(|| std::io::Error::other(format!("unknown reason {reason}")))?;
        self.file.write_all(&profile_id.to_le_bytes())?;
        self.file.write_all(&[u8::try_from(code).unwrap_or(0)])
    }

    fn finish(self) -> std::io::Result<SpooledExclusions> {
        self.file.into_inner().map_err(|e| e.into_error())?;
        Ok(SpooledExclusions { path: self.path })
    }
}

/// A finished [`ExclusionSpool`], read back in chunks.
struct SpooledExclusions {
    path: PathBuf,
}

impl SpooledExclusions {
    /// The entries in order, `size` at a time.
    fn chunks(
        &self,
        size: usize,
    ) -> impl Iterator<Item = std::io::Result<Vec<(i64, &'static str)>>> + Send + use<> {
        use std::io::Read;
        const ENTRY: usize = 9;
        let mut reader = std::fs::File::open(&self.path).map(std::io::BufReader::new);
        let mut buffer = vec![0u8; size * ENTRY];
        std::iter::from_fn(move || {
            let reader = match &mut reader {
                Ok(reader) => reader,
                Err(e) => return Some(Err(std::io::Error::new(e.kind(), e.to_string()))),
            };
            let mut filled = 0;
            while filled < buffer.len() {
                match reader.read(&mut buffer[filled..]) {
                    Ok(0) => break,
                    Ok(n) => filled += n,
                    Err(e) => return Some(Err(e)),
                }
            }
            if filled == 0 {
                return None;
            }
            let chunk = buffer[..filled]
                .chunks_exact(ENTRY)
                .map(|entry| {
                    let mut id = [0u8; 8];
                    id.copy_from_slice(&entry[..8]);
                    let reason = SPOOLED_REASONS
                        .get(usize::from(entry[8]))
                        .copied()
                        .unwrap_or(MISSING_KEY);
                    (i64::from_le_bytes(id), reason)
                })
                .collect();
            Some(Ok(chunk))
        })
    }
}

/// Why a profile was left out.
pub const NO_CONSENT: &str = "no_consent";
pub const MISSING_KEY: &str = "missing_mandatory_key";
pub const DUPLICATE: &str = "duplicate";
pub const POLICY: &str = "policy";

/// Counts bytes and hashes what reaches the file.
struct Counting<W: Write> {
    inner: W,
    stats: Arc<Mutex<(Sha256, u64)>>,
}

impl<W: Write> Write for Counting<W> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let n = self.inner.write(buf)?;
        let mut stats = self.stats.lock().expect("stats lock");
        stats.0.update(&buf[..n]);
        stats.1 += n as u64;
        Ok(n)
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.inner.flush()
    }
}

/// A file being written, finished explicitly so gzip trailers and flush errors are not lost.
trait Sink: Write + Send {
    fn finish(self: Box<Self>) -> std::io::Result<()>;
}

impl<W: Write + Send> Sink for Counting<W> {
    fn finish(mut self: Box<Self>) -> std::io::Result<()> {
        self.flush()
    }
}

impl<W: Write + Send> Sink for flate2::write::GzEncoder<Counting<W>> {
    fn finish(self: Box<Self>) -> std::io::Result<()> {
        let mut inner = (*self).finish()?;
        inner.flush()
    }
}

enum Part {
    Csv(Box<csv::Writer<Box<dyn Sink>>>),
    Lines(Box<dyn Sink>),
    Parquet(Box<ParquetPart>),
}

/// Rows gathered into Arrow columns (all nullable text) and written as row groups.
struct ParquetPart {
    writer: parquet::arrow::ArrowWriter<Counting<BufWriter<std::fs::File>>>,
    schema: Arc<arrow_schema::Schema>,
    columns: Vec<Vec<Option<String>>>,
}

/// Rows per Arrow batch handed to the Parquet writer.
const PARQUET_BATCH: usize = 8_192;

impl ParquetPart {
    fn flush_batch(&mut self) -> std::io::Result<()> {
        if self.columns.first().is_none_or(Vec::is_empty) {
            return Ok(());
        }
        let arrays: Vec<arrow_array::ArrayRef> = self
            .columns
            .iter_mut()
            .map(|column| {
                let values = std::mem::take(column);
                Arc::new(arrow_array::StringArray::from(values)) as arrow_array::ArrayRef
            })
            .collect();
        let batch = arrow_array::RecordBatch::try_new(self.schema.clone(), arrays)
            .map_err(std::io::Error::other)?;
        self.writer.write(&batch).map_err(std::io::Error::other)
    }
}

/// The part being written: writer, local path, file name, rows so far, size and checksum.
type OpenPart = (Part, PathBuf, String, u64, Arc<Mutex<(Sha256, u64)>>);

/// Writes rows into numbered part files (`name`, `name_2`, …) of at most `max_rows` rows.
struct Files {
    dir: PathBuf,
    base: String,
    extension: String,
    csv: Option<CsvOptions>,
    parquet: bool,
    gzip: bool,
    max_rows: u64,
    header: Vec<String>,
    done: Vec<(PathBuf, FileRecord)>,
    current: Option<OpenPart>,
}

#[derive(Clone)]
struct CsvOptions {
    delimiter: u8,
    quote: u8,
    escape: u8,
    header: bool,
    null: String,
    empty: String,
}

impl Files {
    fn open_part(&mut self) -> std::io::Result<()> {
        let n = self.done.len() + 1;
        let name = if n == 1 {
            format!("{}.{}", self.base, self.extension)
        } else {
            format!("{}_{n}.{}", self.base, self.extension)
        };
        let path = self.dir.join(format!("part-{n}"));
        let stats = Arc::new(Mutex::new((Sha256::new(), 0)));
        let file = Counting {
            inner: BufWriter::with_capacity(256 * 1024, std::fs::File::create(&path)?),
            stats: stats.clone(),
        };
        if self.parquet {
            let schema = Arc::new(arrow_schema::Schema::new(
                self.header
                    .iter()
                    .map(|name| arrow_schema::Field::new(name, arrow_schema::DataType::Utf8, true))
                    .collect::<Vec<_>>(),
            ));
            let properties = parquet::file::properties::WriterProperties::builder()
                .set_compression(parquet::basic::Compression::SNAPPY)
                // A row group is held in memory until written: bound it by size, not rows.
                .set_max_row_group_bytes(Some(4 << 20))
                .build();
            let writer =
                parquet::arrow::ArrowWriter::try_new(file, schema.clone(), Some(properties))
                    .map_err(std::io::Error::other)?;
            let columns = vec![Vec::new(); self.header.len()];
            self.current = Some((
                Part::Parquet(Box::new(ParquetPart {
                    writer,
                    schema,
                    columns,
                })),
                path,
                name,
                0,
                stats,
            ));
            return Ok(());
        }
        let sink: Box<dyn Sink> = if self.gzip {
            Box::new(flate2::write::GzEncoder::new(
                file,
                flate2::Compression::default(),
            ))
        } else {
            Box::new(file)
        };
        let part = match &self.csv {
            Some(o) => {
                let mut writer = csv::WriterBuilder::new()
                    .delimiter(o.delimiter)
                    .quote(o.quote)
                    .escape(o.escape)
                    .double_quote(o.escape == o.quote)
                    .from_writer(sink);
                if o.header {
                    writer
                        .write_record(&self.header)
                        .map_err(std::io::Error::other)?;
                }
                Part::Csv(Box::new(writer))
            }
            None => Part::Lines(sink),
        };
        self.current = Some((part, path, name, 0, stats));
        Ok(())
    }

    fn write(&mut self, row: Vec<Option<String>>) -> std::io::Result<()> {
        if self.current.as_ref().is_some_and(|c| c.3 >= self.max_rows) {
            self.close_part()?;
        }
        if self.current.is_none() {
            self.open_part()?;
        }
        let (part, _, _, rows, _) = self.current.as_mut().expect("an open part");
        match part {
            Part::Csv(writer) => {
                let o = self.csv.as_ref().expect("CSV options");
                let cells = row.iter().map(|v| match v {
                    None => o.null.as_str(),
                    Some(v) if v.is_empty() => o.empty.as_str(),
                    Some(v) => v.as_str(),
                });
                writer.write_record(cells).map_err(std::io::Error::other)?;
            }
            Part::Parquet(part) => {
                for (column, value) in part.columns.iter_mut().zip(row) {
                    column.push(value);
                }
                if part.columns[0].len() >= PARQUET_BATCH {
                    part.flush_batch()?;
                }
            }
            Part::Lines(sink) => {
                serde_json::to_writer(
                    &mut *sink,
                    &JsonRecord {
                        names: &self.header,
                        values: &row,
                    },
                )?;
                sink.write_all(b"\n")?;
            }
        }
        *rows += 1;
        Ok(())
    }

    fn close_part(&mut self) -> std::io::Result<()> {
        let Some((part, path, name, rows, stats)) = self.current.take() else {
            return Ok(());
        };
        match part {
            Part::Csv(writer) => writer
                .into_inner()
                .map_err(|e| std::io::Error::other(e.to_string()))?
                .finish()?,
            Part::Lines(sink) => sink.finish()?,
            Part::Parquet(mut part) => {
                part.flush_batch()?;
                let mut file = part.writer.into_inner().map_err(std::io::Error::other)?;
                file.flush()?;
            }
        }
        let (hasher, bytes) = {
            let stats = stats.lock().expect("stats lock");
            (stats.0.clone(), stats.1)
        };
        self.done.push((
            path,
            FileRecord {
                name,
                rows,
                bytes,
                sha256: format!("{:x}", hasher.finalize()),
            },
        ));
        Ok(())
    }

    /// Closes the last part; a run with no rows still writes one file (with the header).
    fn finish(mut self) -> std::io::Result<Vec<(PathBuf, FileRecord)>> {
        if self.current.is_none() && self.done.is_empty() {
            self.open_part()?;
        }
        self.close_part()?;
        Ok(self.done)
    }
}

/// One JSON Lines record: the header's names with the row's values (null when absent).
struct JsonRecord<'a> {
    names: &'a [String],
    values: &'a [Option<String>],
}

impl serde::Serialize for JsonRecord<'_> {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap;
        let mut map = serializer.serialize_map(Some(self.names.len()))?;
        for (name, value) in self.names.iter().zip(self.values) {
            map.serialize_entry(name, value)?;
        }
        map.end()
    }
}

/// Fills the folder macros of a connection's folder path.
fn folder_of(
    params: &Values,
    destination: &str,
    flow: &dataflow::Model,
    segment: &segment::Model,
    slot: DateTime<Utc>,
) -> String {
    params
        .get("folder")
        .cloned()
        .unwrap_or_default()
        .replace("{destination}", &file_safe(destination))
        .replace("{dataflow_id}", &flow.public_id)
        .replace("{segment_id}", &segment.public_id)
        .replace("{date}", &slot.format("%Y%m%d").to_string())
        .trim_matches('/')
        .to_owned()
}

/// What every member is read with: the mapped values, then the consents the marketing actions
/// need, then the country phone numbers are read in.
fn wanted_for(mapping: &[MappingRow], consent: &[&str]) -> Vec<Wanted> {
    mapping
        .iter()
        .map(|m| match m.kind {
            SourceKind::Field => Wanted::Attribute(m.source.clone()),
            SourceKind::Identity => Wanted::Identity(m.source.clone()),
        })
        .chain(consent.iter().map(|c| Wanted::Attribute((*c).to_owned())))
        .chain(std::iter::once(Wanted::Attribute(COUNTRY_FIELD.to_owned())))
        .collect()
}

/// A member's prepared row, or why it is left out (no consent, a mandatory value missing).
fn prepare_member(
    plan: &RowPlan,
    mapped: usize,
    mut values: Vec<Option<String>>,
) -> Result<Vec<Option<String>>, &'static str> {
    let country = values.pop().flatten();
    let consents = values.split_off(mapped);
    if consents.iter().any(|c| c.as_deref() != Some("y")) {
        return Err(NO_CONSENT);
    }
    plan.prepare(values, country.as_deref()).ok_or(MISSING_KEY)
}

/// Latest wins; on a tie the lowest profile id.
fn better(a: (i64, i64), b: (i64, i64)) -> (i64, i64) {
    if b.0 > a.0 || (b.0 == a.0 && b.1 < a.1) {
        b
    } else {
        a
    }
}

/// Deduplication keys that may occur more than once, with the best record seen for each.
///
/// The first pass puts every key in a Bloom filter; a key the filter may already hold becomes a
/// candidate, and the candidate keeps the best of the records seen since. Only the first record
/// of a key can be missing from that, and the second pass meets it first (same order), settles
/// the candidate with it, and from then on every record of the key knows whether it wins. Memory
/// is the filter (about 1.2 bytes per member) plus the candidates (real duplicates and about 1%
/// false positives), not one entry per member.
#[derive(Default)]
struct Duplicates {
    candidates: HashMap<u64, ((i64, i64), bool)>,
}

impl Duplicates {
    /// Whether this record loses to another record with the same key.
    fn loses(&mut self, key: u64, record: (i64, i64)) -> bool {
        let Some((best, settled)) = self.candidates.get_mut(&key) else {
            return false;
        };
        if !*settled {
            *best = better(*best, record);
            *settled = true;
        }
        best.1 != record.1
    }
}

/// Reads every page of `query` after profile id `start_after` and hands each member to `each`
/// on a blocking thread, so the database reads the next page while this one is prepared and
/// written. With `progress`, the run's received count follows the pages read.
pub(super) async fn pump<S, F>(
    db: &DatabaseConnection,
    query: &MemberQuery,
    start_after: i64,
    state: S,
    mut each: F,
    progress: Option<i64>,
) -> Result<S, String>
where
    S: Send + 'static,
    F: FnMut(&mut S, Member) -> Result<(), String> + Send + 'static,
{
    let (pages, mut incoming) = tokio::sync::mpsc::channel::<Page>(1);
    let decoder = query.decoder();
    let worker = tokio::task::spawn_blocking(move || {
        let mut state = state;
        while let Some(page) = incoming.blocking_recv() {
            for member in decoder.decode(page).map_err(|e| e.to_string())? {
                each(&mut state, member)?;
            }
        }
        Ok::<S, String>(state)
    });
    let read = async {
        let mut received = 0;
        let mut after = start_after;
        let mut page = query
            .read(db, after, PAGE)
            .await
            .map_err(|e| e.to_string())?;
        while let Some(last) = page.last() {
            // This page's identities and the next page's members are read at once.
            let (next, filled) = tokio::join!(
                query.read(db, last, PAGE),
                query.read_identities(db, &mut page, after)
            );
            filled.map_err(|e| e.to_string())?;
            let next = next.map_err(|e| e.to_string())?;
            received += i64::try_from(page.len()).unwrap_or(i64::MAX);
            after = last;
            if pages
                .send(std::mem::replace(&mut page, next))
                .await
                .is_err()
            {
                // The worker stopped; its error says why.
                break;
            }
            if let Some(run) = progress {
                runs::progress(db, run, received)
                    .await
                    .map_err(|e| e.to_string())?;
            }
        }
        Ok::<(), String>(())
    }
    .await;
    drop(pages);
    let state = worker
        .await
        .map_err(|e| format!("the export worker stopped: {e}"))?;
    read?;
    state
}

/// Exports one run's segment. Returns the outcome, or why the run failed.
///
/// # Errors
/// A message for the run's error field.
pub async fn execute(
    db: &DatabaseConnection,
    connectors: &Connectors,
    run: &dataflow_run::Model,
) -> Result<Outcome, String> {
    let fail = |e: crate::Error| e.to_string();
    let flow = dataflow::Entity::find_by_id(run.dataflow_id)
        .one(db)
        .await
        .map_err(|e| e.to_string())?
        .ok_or("the dataflow was deleted")?;
    let spec = connectors.spec(&flow.destination_id).map_err(fail)?.clone();
    let account = account::Entity::find_by_id(flow.account_id)
        .one(db)
        .await
        .map_err(|e| e.to_string())?
        .ok_or("the account was deleted")?;
    let credentials = accounts::credentials(connectors, &account).map_err(fail)?;
    let current = activation::current(db, &flow.public_id)
        .await
        .map_err(fail)?;
    // Policies and the spec are re-checked at every run: a label added since activation stops it.
    let (cleaned, problems) = activation::validate(db, connectors, &flow.public_id, &current)
        .await
        .map_err(fail)?;
    let segment = segment::Entity::find_by_id(run.segment_id)
        .one(db)
        .await
        .map_err(|e| e.to_string())?
        .ok_or("the segment was deleted")?;
    if !problems.is_empty() {
        let message = format!(
            "the activation no longer passes its checks: {}",
            problems
                .iter()
                .map(|p| p.message.clone())
                .collect::<Vec<_>>()
                .join(" ")
        );
        // A data-usage policy blocks the whole run; its members are counted as excluded by
        // policy so the run's account stays honest.
        if problems.iter().any(|p| p.field == "review") {
            let members = runs::member_count(db, segment.id)
                .await
                .map_err(|e| e.to_string())?;
            return Ok(Outcome {
                received: members,
                excluded: [(POLICY.to_owned(), members)].into(),
                blocked: Some(message),
                ..Outcome::default()
            });
        }
        return Err(message);
    }
    let schedule = cleaned
        .segments
        .iter()
        .find(|s| s.segment_id == segment.public_id)
        .ok_or("the segment is no longer activated to this dataflow")?
        .clone();
    let params: Values = serde_json::from_str(&flow.params).unwrap_or_default();
    let actions: Vec<String> = serde_json::from_str(&flow.marketing_actions).unwrap_or_default();
    let consent = policy::consent_fields(&actions);
    let mapping = cleaned.mapping.clone();
    if spec.connection == ConnectionType::Streaming {
        let context = streaming::StreamingRun {
            db,
            run,
            flow: &flow,
            spec: &spec,
            segment: &segment,
            mapping: &mapping,
            consent: &consent,
            credentials: &credentials,
            params: &params,
            retry_base: connectors.probe.retry_base,
        };
        return match run.replay_of {
            Some(source) => streaming::replay(context, source).await,
            None => streaming::deliver(context).await,
        };
    }

    // Incremental files carry the changes since the last successful export; the first is a
    // full backfill.
    let since = if schedule.mode == ExportMode::Incremental {
        dataflow_run::Entity::find()
            .filter(dataflow_run::Column::DataflowId.eq(run.dataflow_id))
            .filter(dataflow_run::Column::SegmentId.eq(run.segment_id))
            .filter(dataflow_run::Column::Status.is_in(["success", "partial"]))
            .filter(dataflow_run::Column::Id.ne(run.id))
            .order_by_desc(dataflow_run::Column::StartedAt)
            .one(db)
            .await
            .map_err(|e| e.to_string())?
            .and_then(|r| r.started_at)
    } else {
        None
    };

    let backend = db.get_database_backend();
    let incremental = since.is_some() || schedule.mode == ExportMode::Incremental;

    // Pass 1: which deduplication keys may repeat, reading only what decides a row's key.
    let mut duplicates = Duplicates::default();
    if mapping.iter().any(|m| m.dedup_key) && !RowPlan::new(&spec, &mapping).keys_are_unique() {
        let keyed: Vec<MappingRow> = mapping
            .iter()
            .filter(|m| m.dedup_key || m.mandatory)
            .cloned()
            .collect();
        let query = MemberQuery::new(
            backend,
            segment.id,
            Window { since, until: None },
            &wanted_for(&keyed, &consent),
            true,
        )
        .map_err(fail)?;
        let plan = RowPlan::new(&spec, &keyed);
        let expected = usize::try_from(segment.size.unwrap_or(0).max(1_000)).unwrap_or(1_000);
        let filter = fastbloom::BloomFilter::with_false_pos(0.01).expected_items(expected);
        let state = (filter, Duplicates::default());
        let (_, found) = pump(
            db,
            &query,
            0,
            state,
            move |(filter, found), member| {
                let record = (
                    member.updated_at.map_or(0, |t| t.timestamp_micros()),
                    member.profile_id,
                );
                if let Ok(row) = prepare_member(&plan, keyed.len(), member.values)
                    && let Some(key) = plan.dedup_key(&row)
                {
                    if filter.contains(&key) {
                        found
                            .candidates
                            .entry(key)
                            .and_modify(|(best, _)| *best = better(*best, record))
                            .or_insert((record, false));
                    } else {
                        filter.insert(&key);
                    }
                }
                Ok(())
            },
            None,
        )
        .await?;
        duplicates = found;
    }

    // Pass 2: write.
    let work = tempfile::tempdir().map_err(|e| format!("cannot create a working folder: {e}"))?;
    let format = params
        .get("format")
        .cloned()
        .unwrap_or_else(|| "csv".into());
    let gzip = params.get("compression").is_some_and(|c| c == "gzip");
    let extension = if gzip {
        format!("{format}.gz")
    } else {
        format.clone()
    };
    let mut header: Vec<String> = mapping.iter().map(|m| m.target.clone()).collect();
    if incremental {
        header.push("segment_membership_status".into());
    }
    let file_name = render_file_name(
        &schedule.file_name,
        &spec.name,
        &segment.public_id,
        &segment.name,
        &flow.public_id,
        run.slot,
        "x",
    );
    let base = file_name.trim_end_matches(".x").to_owned();
    let files = Files {
        dir: work.path().to_path_buf(),
        base,
        extension,
        csv: (format == "csv").then(|| CsvOptions {
            delimiter: one_byte(&params, "csv_delimiter", b','),
            quote: one_byte(&params, "csv_quote", b'"'),
            escape: one_byte(&params, "csv_escape", b'"'),
            header: params.get("csv_header").is_none_or(|h| h == "true"),
            null: params.get("csv_null").cloned().unwrap_or_default(),
            empty: params.get("csv_empty").cloned().unwrap_or_default(),
        }),
        parquet: format == "parquet",
        gzip: gzip && format != "parquet",
        max_rows: spec
            .files
            .as_ref()
            .map_or(5_000_000, |f| f.max_rows_per_file),
        header,
        done: Vec::new(),
        current: None,
    };
    let query = MemberQuery::new(
        backend,
        segment.id,
        Window { since, until: None },
        &wanted_for(&mapping, &consent),
        // Only a key that may repeat needs the records' ages.
        !duplicates.candidates.is_empty(),
    )
    .map_err(fail)?;
    let plan = RowPlan::new(&spec, &mapping);
    let mapped = mapping.len();
    let exclusions = ExclusionSpool::create(work.path())
        .map_err(|e| format!("cannot create the list of excluded profiles: {e}"))?;
    let state = (files, Outcome::default(), exclusions, duplicates);
    let (files, mut outcome, exclusions, _) = pump(
        db,
        &query,
        0,
        state,
        move |(files, outcome, exclusions, duplicates), member| {
            outcome.received += 1;
            let record = (
                member.updated_at.map_or(0, |t| t.timestamp_micros()),
                member.profile_id,
            );
            let reason = match prepare_member(&plan, mapped, member.values) {
                Err(reason) => Some(reason),
                Ok(row)
                    if plan
                        .dedup_key(&row)
                        .is_some_and(|key| duplicates.loses(key, record)) =>
                {
                    Some(DUPLICATE)
                }
                Ok(mut row) => {
                    if incremental {
                        row.push(Some(member.status));
                    }
                    files
                        .write(row)
                        .map_err(|e| format!("writing the file failed: {e}"))?;
                    outcome.activated += 1;
                    None
                }
            };
            if let Some(reason) = reason {
                *outcome.excluded.entry(reason.into()).or_default() += 1;
                exclusions
                    .push(member.profile_id, reason)
                    .map_err(|e| format!("listing the excluded profiles failed: {e}"))?;
            }
            Ok(())
        },
        Some(run.id),
    )
    .await?;
    let (written, exclusions) =
        tokio::task::spawn_blocking(move || (files.finish(), exclusions.finish()))
            .await
            .map_err(|e| format!("the export worker stopped: {e}"))?;
    let written = written.map_err(|e| format!("writing the file failed: {e}"))?;
    let exclusions =
        exclusions.map_err(|e| format!("listing the excluded profiles failed: {e}"))?;

    // Deliver: data files first, the manifest last, so a reader seeing the manifest sees all.
    let folder = folder_of(&params, &spec.name, &flow, &segment, run.slot);
    let remote = |name: &str| {
        if folder.is_empty() {
            name.to_owned()
        } else {
            format!("{folder}/{name}")
        }
    };
    // A destination that is down may come back: three attempts with backoff.
    let mut attempt = 0;
    let mut destination = loop {
        attempt += 1;
        match transport::open(
            &spec,
            &credentials,
            account.host_key.as_deref(),
            &connectors.probe,
        )
        .await
        {
            Ok(destination) => break destination,
            Err(e) if attempt >= 3 => {
                return Err(format!(
                    "cannot reach the destination after {attempt} attempts: {e}"
                ));
            }
            Err(e) => {
                tracing::warn!(attempt, error = %e, "opening the destination failed; retrying");
                tokio::time::sleep(std::time::Duration::from_millis(
                    500 * 4u64.pow(attempt - 1),
                ))
                .await;
            }
        }
    };
    let delivered = async {
        for (path, record) in &written {
            destination.put(path, &remote(&record.name)).await?;
        }
        let manifest = serde_json::json!({
            "run": run.public_id,
            "dataflow": flow.public_id,
            "segment": segment.public_id,
            "slot": run.slot.to_rfc3339(),
            "mode": schedule.mode.as_str(),
            "files": written.iter().map(|(_, r)| r).collect::<Vec<_>>(),
        });
        let manifest_path = work.path().join("manifest.json");
        std::fs::write(
            &manifest_path,
            serde_json::to_vec_pretty(&manifest).unwrap_or_default(),
        )
        .map_err(|e| e.to_string())?;
        let first = written
            .first()
            .map_or_else(|| "export".to_owned(), |(_, r)| r.name.clone());
        let stem = first.split('.').next().unwrap_or("export").to_owned();
        destination
            .put(&manifest_path, &remote(&format!("{stem}.manifest.json")))
            .await
    };
    // Who was left out is recorded while the files travel.
    let (delivered, recorded) = tokio::join!(
        delivered,
        runs::record_exclusions(db, run.id, exclusions.chunks(3_000))
    );
    destination.close().await;
    delivered?;
    recorded.map_err(fail)?;
    outcome.files = written.into_iter().map(|(_, r)| r).collect();
    Ok(outcome)
}

/// Runs one claimed run to its end: renews the lease while working, then records the outcome.
///
/// # Errors
/// Database failures while recording.
pub async fn run_claimed(
    db: &DatabaseConnection,
    connectors: &Connectors,
    run: dataflow_run::Model,
    owner: &str,
    lease: chrono::Duration,
) -> crate::Result<()> {
    let renewer = {
        let db = db.clone();
        let owner = owner.to_owned();
        let id = run.id;
        tokio::spawn(async move {
            let every = (lease / 3)
                .to_std()
                .unwrap_or(std::time::Duration::from_secs(10));
            loop {
                tokio::time::sleep(every).await;
                if !matches!(
                    runs::renew(&db, id, &owner, Utc::now() + lease).await,
                    Ok(true)
                ) {
                    break;
                }
            }
        })
    };
    let result = execute(db, connectors, &run).await;
    renewer.abort();
    match &result {
        Ok(outcome) => runs::finish(db, run.id, owner, Ok(outcome)).await?,
        Err(message) => {
            tracing::warn!(run = %run.public_id, error = %message, "export run failed");
            runs::finish(db, run.id, owner, Err(message)).await?;
        }
    }
    super::alerts::run_finished(db, run.id).await
}

/// Where a run's files went (for tests and tools): the landing zone of a local destination.
pub fn landing_path(root: &Path, folder: &str, name: &str) -> PathBuf {
    root.join(folder).join(name)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The why-lookup answers from what the spool gives back: every entry, in order, with its
    /// reason, across chunk boundaries.
    #[test]
    fn excluded_profiles_come_back_from_the_spool_in_order_with_their_reasons() {
        let folder = tempfile::tempdir().unwrap();
        let mut spool = ExclusionSpool::create(folder.path()).unwrap();
        let entries: Vec<(i64, &'static str)> = (0..7_001)
            .map(|i| {
                (
                    i * 1_000_003,
                    SPOOLED_REASONS[usize::try_from(i).unwrap() % 4],
                )
            })
            .collect();
        for (id, reason) in &entries {
            spool.push(*id, reason).unwrap();
        }
        assert!(spool.push(1, "made up").is_err());
        let spooled = spool.finish().unwrap();
        let chunks: Vec<Vec<(i64, &str)>> = spooled.chunks(3_000).map(Result::unwrap).collect();
        assert_eq!(
            chunks.iter().map(Vec::len).collect::<Vec<_>>(),
            [3_000, 3_000, 1_001]
        );
        assert_eq!(chunks.concat(), entries);
    }
}
