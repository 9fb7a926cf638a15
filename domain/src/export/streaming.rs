//! Streaming delivery: a run's membership changes become add and remove requests rendered from
//! the destination's templates, in batches, rate-limited, retried with backoff and jitter
//! (honouring `Retry-After`); refused records are kept with request and response samples for
//! replay, and a checkpoint lets a retried run resume after what the platform acknowledged.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, LazyLock, Mutex};
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use futures::StreamExt;
use governor::{DefaultDirectRateLimiter, Quota, RateLimiter};
use rand::Rng;
use sea_orm::sea_query::Expr;
use sea_orm::{
    ColumnTrait, DatabaseConnection, EntityTrait, QueryFilter, QueryOrder, Set, TransactionTrait,
};
use serde::{Deserialize, Serialize};

use super::members::{Member, MemberQuery, Wanted, Window};
use super::runner::{MISSING_KEY, NO_CONSENT, pump};
use super::runs::Outcome;
use crate::activation::identity::{self, Refusal};
use crate::activation::review::COUNTRY_FIELD;
use crate::activation::{MappingRow, SourceKind};
use crate::catalog::spec::{
    Batching, DestinationType, Hashing, Normalization, RateLimit, RecordErrors, RequestSpec,
};
use crate::catalog::{Spec, spec::HttpSpec};
use crate::connections::Values;
use crate::entities::{dataflow, dataflow_run, run_failed_record, segment};

/// A profile with none of the mapped identities a platform matches on.
pub const NO_IDENTITY: &str = "no_identity";
/// Removals above this share of the audience pause the dataflow, unless its connection says.
pub const DEFAULT_REMOVAL_CAP_PERCENT: f64 = 50.0;
/// The attribute that carries a profile's membership status in a profile export.
pub const STATUS_KEY: &str = "segment_membership_status";
/// How a run stopped by the removal cap begins its error.
pub const PAUSED: &str = "Paused:";
/// How much of a request or an answer is kept with a failed record.
const SAMPLE_CHARS: usize = 2_000;

/// Whether a record joins or leaves the audience.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Action {
    Add,
    Remove,
}

impl Action {
    pub fn as_str(self) -> &'static str {
        match self {
            Action::Add => "add",
            Action::Remove => "remove",
        }
    }
}

/// One profile as the request templates see it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Record {
    pub profile_id: i64,
    /// Platform key → prepared (normalised, hashed) identity value.
    pub identities: BTreeMap<String, String>,
    /// Every mapped column in the order of `schema`, empty where the profile has none.
    pub values: Vec<String>,
    /// The attributes the platform also matches on (names, country, postal code), prepared.
    pub fields: BTreeMap<String, String>,
    /// Every mapped column: platform key → value (profile exports).
    pub attributes: BTreeMap<String, Option<String>>,
}

impl Record {
    fn identity_count(&self) -> i64 {
        i64::try_from(self.identities.len()).unwrap_or(i64::MAX)
    }
}

/// Why a record could not be delivered, with what was sent and answered (secrets redacted).
#[derive(Debug, Clone)]
pub struct Failure {
    pub reason: String,
    pub status: Option<u16>,
    pub request: String,
    pub response: String,
}

/// How each mapped column becomes part of a record.
struct Column {
    target: String,
    /// (normalisation, hashing, namespace) for an identity, or for an attribute the platform
    /// matches on (no namespace); `None` for an attribute sent as stored.
    prepare: Option<(Normalization, Hashing, String)>,
    identity: bool,
    mandatory: bool,
}

/// Turns members into records: identities normalised and hashed as the platform requires.
pub struct RecordPlan {
    columns: Vec<Column>,
    /// A profile export carries each profile's membership status, as incremental files do.
    with_status: bool,
    /// (column, namespace already hashed the platform's way): read when the raw value is
    /// missing, and passed through unchanged.
    hashed: Vec<(usize, String)>,
    consents: usize,
    min_identities: usize,
    schema: Vec<String>,
}

impl RecordPlan {
    pub fn new(spec: &Spec, mapping: &[MappingRow], consents: usize) -> Self {
        let columns: Vec<Column> = mapping
            .iter()
            .map(|m| Column {
                target: m.target.clone(),
                prepare: crate::activation::review::preparation(spec, m),
                identity: m.kind == SourceKind::Identity,
                mandatory: m.mandatory,
            })
            .collect();
        let hashed = mapping
            .iter()
            .enumerate()
            .filter(|(_, m)| m.kind == SourceKind::Identity)
            .filter_map(|(i, m)| {
                spec.identities
                    .iter()
                    .find(|id| id.namespace == m.source)
                    .and_then(|id| id.hashed_namespace.clone())
                    .map(|ns| (i, ns))
            })
            .collect();
        let schema = columns.iter().map(|c| c.target.clone()).collect();
        let min_identities = if spec.kind == DestinationType::SegmentExport {
            usize::try_from(spec.min_identities.max(1)).unwrap_or(1)
        } else {
            0
        };
        Self {
            columns,
            with_status: spec.kind == DestinationType::ProfileExport,
            hashed,
            consents,
            min_identities,
            schema,
        }
    }

    /// The platform keys of the mapped columns, in mapping order (Meta's `schema`).
    pub fn schema(&self) -> &[String] {
        &self.schema
    }

    /// What every member is read with: the mapped values, the already-hashed namespaces, the
    /// consents, then the country.
    pub fn wanted(&self, mapping: &[MappingRow], consent: &[&str]) -> Vec<Wanted> {
        mapping
            .iter()
            .map(|m| match m.kind {
                SourceKind::Field => Wanted::Attribute(m.source.clone()),
                SourceKind::Identity => Wanted::Identity(m.source.clone()),
            })
            .chain(
                self.hashed
                    .iter()
                    .map(|(_, ns)| Wanted::Identity(ns.clone())),
            )
            .chain(consent.iter().map(|c| Wanted::Attribute((*c).to_owned())))
            .chain(std::iter::once(Wanted::Attribute(COUNTRY_FIELD.to_owned())))
            .collect()
    }

    /// A member's record, or why it is left out; every identity refused and every profile left
    /// out is counted in `excluded` by reason. Removing needs no consent.
    ///
    /// # Errors
    /// The reason the profile is left out.
    pub fn prepare(
        &self,
        member: Member,
        action: Action,
        excluded: &mut BTreeMap<String, i64>,
    ) -> Result<Record, &'static str> {
        let mut values = member.values;
        let country = values.pop().flatten();
        let consents = values.split_off(self.columns.len() + self.hashed.len());
        debug_assert_eq!(consents.len(), self.consents);
        let hashed = values.split_off(self.columns.len());
        // A profile known only by an already-hashed value sends that value as it is.
        let mut passed = vec![None; self.columns.len()];
        for ((column, _), value) in self.hashed.iter().zip(hashed) {
            if values[*column].is_none() {
                passed[*column] = value.map(|v| v.trim().to_owned());
            }
        }
        if action == Action::Add && consents.iter().any(|c| c.as_deref() != Some("y")) {
            *excluded.entry(NO_CONSENT.into()).or_default() += 1;
            return Err(NO_CONSENT);
        }
        let mut record = Record {
            profile_id: member.profile_id,
            identities: BTreeMap::new(),
            values: Vec::with_capacity(self.schema.len()),
            fields: BTreeMap::new(),
            attributes: BTreeMap::new(),
        };
        let mut refused = Vec::new();
        for ((column, raw), passed) in self.columns.iter().zip(values).zip(passed) {
            let value = match (&column.prepare, raw) {
                (Some(_), None) if passed.is_some() => passed,
                (Some((normalization, hashing, namespace)), Some(raw)) => {
                    match identity::prepare(
                        *normalization,
                        *hashing,
                        namespace,
                        &raw,
                        country.as_deref(),
                    ) {
                        Ok(prepared) => Some(prepared),
                        // An attribute that cannot be prepared is left out of the record,
                        // not counted: only identities are.
                        Err(refusal) => {
                            if column.identity {
                                refused.push(refusal);
                            }
                            None
                        }
                    }
                }
                (_, raw) => raw,
            };
            if column.mandatory && value.as_deref().is_none_or(str::is_empty) {
                *excluded.entry(MISSING_KEY.into()).or_default() += 1;
                return Err(MISSING_KEY);
            }
            record.values.push(value.clone().unwrap_or_default());
            if let Some(v) = &value {
                if column.identity {
                    record.identities.insert(column.target.clone(), v.clone());
                } else if column.prepare.is_some() {
                    record.fields.insert(column.target.clone(), v.clone());
                }
            }
            record.attributes.insert(column.target.clone(), value);
        }
        // Each refused identity counts by its reason; a profile left with too few identities
        // counts as "no identity" only when no refusal already explains it.
        if self.with_status {
            let status = match action {
                Action::Add => "realized",
                Action::Remove => "exited",
            };
            record
                .attributes
                .insert(STATUS_KEY.into(), Some(status.into()));
        }
        let explanation = refused.first().map_or(NO_IDENTITY, refusal_code);
        let explained = !refused.is_empty();
        for refusal in refused {
            *excluded.entry(refusal_code(&refusal).into()).or_default() += 1;
        }
        if record.identities.len() < self.min_identities {
            if !explained {
                *excluded.entry(NO_IDENTITY.into()).or_default() += 1;
            }
            return Err(explanation);
        }
        Ok(record)
    }
}

/// The reason code of an identity value that cannot be prepared.
pub fn refusal_code(refusal: &Refusal) -> &'static str {
    match refusal {
        Refusal::Empty => "empty_identity",
        Refusal::MalformedEmail => "malformed_email",
        Refusal::MalformedPhone => "malformed_phone",
    }
}

/// The request templates of a destination, compiled once per run, and what fills them.
pub struct Requests {
    environment: minijinja::Environment<'static>,
    http: HttpSpec,
    /// account, params, segment, destination: the parts of the context every request shares.
    base: minijinja::Value,
    schema: Vec<String>,
    /// Secret values to redact from samples.
    secrets: Vec<String>,
}

/// A rendered request.
pub struct Rendered {
    pub method: reqwest::Method,
    pub url: String,
    pub headers: Vec<(String, String)>,
    pub body: Option<String>,
}

impl Requests {
    /// Compiles the templates of `spec` with the shared context.
    ///
    /// # Errors
    /// A message when a template does not compile (specs are checked at start-up).
    pub fn new(
        spec: &Spec,
        credentials: &Values,
        params: &Values,
        segment: &segment::Model,
        flow: &dataflow::Model,
        schema: Vec<String>,
    ) -> Result<Self, String> {
        let http = spec
            .http
            .clone()
            .ok_or_else(|| format!("{} has no request templates", spec.name))?;
        let mut environment = minijinja::Environment::new();
        let mut add = |name: &str, source: &str| {
            environment
                .add_template_owned(name.to_owned(), source.to_owned())
                .map_err(|e| format!("the {name} template does not compile: {e}"))
        };
        add("auth.header", &http.auth.header)?;
        add("auth.value", &http.auth.value)?;
        for (name, request) in [("add", Some(&http.add)), ("remove", http.remove.as_ref())] {
            let Some(request) = request else { continue };
            add(&format!("{name}.path"), &request.path)?;
            if let Some(body) = &request.body {
                add(&format!("{name}.body"), body)?;
            }
            for (header, value) in &request.headers {
                add(&format!("{name}.header.{header}"), value)?;
            }
        }
        let secrets = spec
            .secret_keys()
            .filter_map(|key| credentials.get(key))
            .filter(|v| v.len() >= 4)
            .cloned()
            .collect();
        let base = minijinja::context! {
            account => credentials,
            params => params,
            segment => minijinja::context! {
                id => segment.public_id,
                name => segment.name,
                // The platform's audience is named after the segment; its id is the segment's.
                audience_id => segment.public_id,
            },
            destination => minijinja::context! {
                id => spec.id,
                name => spec.name,
                dataflow => flow.public_id,
                dataflow_name => flow.name,
            },
        };
        Ok(Self {
            environment,
            http,
            base,
            schema,
            secrets,
        })
    }

    fn render(&self, name: &str, context: &minijinja::Value) -> Result<String, String> {
        self.environment
            .get_template(name)
            .and_then(|t| t.render(context))
            .map_err(|e| format!("the {name} template failed: {e}"))
    }

    /// Renders the request that applies `action` to `records`.
    ///
    /// # Errors
    /// A message when a template fails or the destination cannot remove.
    pub fn render_batch(&self, action: Action, records: &[Record]) -> Result<Rendered, String> {
        let spec: &RequestSpec = match action {
            Action::Add => &self.http.add,
            Action::Remove => self
                .http
                .remove
                .as_ref()
                .ok_or("this destination cannot remove profiles")?,
        };
        let name = action.as_str();
        let context = minijinja::context! {
            records => records,
            schema => self.schema,
            action => name,
            ..self.base.clone()
        };
        let path = self.render(&format!("{name}.path"), &context)?;
        let url = if path.starts_with("http://") || path.starts_with("https://") {
            path
        } else {
            format!("{}{path}", self.http.base_url)
        };
        let mut headers = vec![(
            self.render("auth.header", &context)?,
            self.render("auth.value", &context)?,
        )];
        for header in spec.headers.keys() {
            headers.push((
                header.clone(),
                self.render(&format!("{name}.header.{header}"), &context)?,
            ));
        }
        let body = match spec.body {
            Some(_) => Some(self.render(&format!("{name}.body"), &context)?),
            None => None,
        };
        Ok(Rendered {
            method: reqwest::Method::from_bytes(spec.method.as_str().as_bytes())
                .map_err(|e| e.to_string())?,
            url,
            headers,
            body,
        })
    }

    /// A request as kept with a failed record: the credential header and secrets redacted.
    pub fn sample(&self, request: &Rendered) -> String {
        let mut text = format!("{} {}\n", request.method, request.url);
        for (i, (name, value)) in request.headers.iter().enumerate() {
            // The first header carries the account's credential.
            let shown = if i == 0 { "[redacted]" } else { value.as_str() };
            text.push_str(&format!("{name}: {shown}\n"));
        }
        if let Some(body) = &request.body {
            text.push('\n');
            text.extend(body.chars().take(SAMPLE_CHARS));
        }
        self.redact(&text)
    }

    fn redact(&self, text: &str) -> String {
        let mut text = text.to_owned();
        for secret in &self.secrets {
            text = text.replace(secret.as_str(), "[redacted]");
        }
        text
    }

    fn record_errors(&self) -> Option<&RecordErrors> {
        self.http.record_errors.as_ref()
    }
}

/// One rate limiter per destination in this process, shared by all its runs.
fn limiter_for(destination: &str, limit: &RateLimit) -> Arc<DefaultDirectRateLimiter> {
    static LIMITERS: LazyLock<Mutex<HashMap<String, Arc<DefaultDirectRateLimiter>>>> =
        LazyLock::new(|| Mutex::new(HashMap::new()));
    let per_second = if limit.requests_per_second > 0.0 {
        limit.requests_per_second
    } else {
        1.0
    };
    let key = format!("{destination}@{per_second}");
    LIMITERS
        .lock()
        .expect("limiter lock")
        .entry(key)
        .or_insert_with(|| {
            let period = Duration::from_secs_f64(1.0 / per_second);
            let quota = Quota::with_period(period)
                .unwrap_or_else(|| Quota::per_second(std::num::NonZeroU32::MIN))
                // One request at a time: no burst above the rate.
                .allow_burst(std::num::NonZeroU32::MIN);
            Arc::new(RateLimiter::direct(quota))
        })
        .clone()
}

/// What sending one batch came to.
#[derive(Debug, Default)]
pub struct BatchResult {
    /// Identities the platform accepted.
    pub activated: i64,
    /// Records it refused (or that could not be delivered), each with why.
    pub failed: Vec<(Record, Failure)>,
    /// Set when the run cannot go on (credentials refused, retries exhausted).
    pub fatal: Option<String>,
}

/// Sends batches to one destination: rate limit, retries, per-record errors.
pub struct Sender {
    client: reqwest::Client,
    requests: Requests,
    limiter: Arc<DefaultDirectRateLimiter>,
    max_attempts: u32,
    window: Duration,
    retry_base: Duration,
}

impl Sender {
    /// # Errors
    /// A message when the HTTP client cannot be built.
    pub fn new(spec: &Spec, requests: Requests, retry_base: Duration) -> Result<Self, String> {
        let limit = spec.rate_limit.clone().unwrap_or(RateLimit {
            requests_per_second: 10.0,
            concurrency: 1,
            max_attempts: 5,
            retry_window_seconds: 3600,
        });
        let timeout = Duration::from_secs(u64::from(requests.http.timeout_seconds.max(1)));
        let client = reqwest::Client::builder()
            .timeout(timeout)
            .build()
            .map_err(|e| e.to_string())?;
        Ok(Self {
            client,
            limiter: limiter_for(&spec.id, &limit),
            max_attempts: limit.max_attempts.max(1),
            window: Duration::from_secs(u64::from(limit.retry_window_seconds)),
            retry_base,
            requests,
        })
    }

    /// Sends one batch, retrying 429, 5xx, 408 and timeouts with exponential backoff and full
    /// jitter, or the wait `Retry-After` asks for, within the attempt limit and time window.
    pub async fn send(&self, action: Action, records: Vec<Record>) -> BatchResult {
        let rendered = match self.requests.render_batch(action, &records) {
            Ok(r) => r,
            Err(e) => {
                return BatchResult {
                    fatal: Some(e),
                    ..BatchResult::default()
                };
            }
        };
        let started = Instant::now();
        let mut attempt = 0;
        loop {
            attempt += 1;
            self.limiter.until_ready().await;
            let mut request = self.client.request(rendered.method.clone(), &rendered.url);
            for (name, value) in &rendered.headers {
                request = request.header(name.as_str(), value.as_str());
            }
            if let Some(body) = &rendered.body {
                request = request.body(body.clone());
            }
            let (retry, status, reason, response_text, wait) = match request.send().await {
                Err(e) => {
                    let reason = if e.is_timeout() {
                        "the platform did not answer in time".to_owned()
                    } else {
                        format!("cannot reach the platform: {}", error_chain(&e))
                    };
                    (true, None, reason, String::new(), None)
                }
                Ok(response) => {
                    let status = response.status();
                    let wait = retry_after(response.headers());
                    let text = response.text().await.unwrap_or_default();
                    if status.is_success() {
                        return self.settle(records, &rendered, status.as_u16(), &text);
                    }
                    let code = status.as_u16();
                    let retry = code == 429 || code == 408 || status.is_server_error();
                    if !retry {
                        if code == 401 || code == 403 {
                            return BatchResult {
                                fatal: Some(format!(
                                    "the platform refused the credentials ({status}): {}",
                                    excerpt(&self.requests.redact(&text), 300)
                                )),
                                ..BatchResult::default()
                            };
                        }
                        return self.settle(records, &rendered, code, &text);
                    }
                    (
                        true,
                        Some(code),
                        format!("the platform answered {status}"),
                        text,
                        wait,
                    )
                }
            };
            debug_assert!(retry);
            let backoff = {
                let ceiling = self
                    .retry_base
                    .saturating_mul(2u32.saturating_pow(attempt - 1))
                    .min(Duration::from_secs(300));
                let jittered = rand::rng().random_range(0.5..=1.0) * ceiling.as_secs_f64();
                Duration::from_secs_f64(jittered)
            };
            let wait = wait.unwrap_or(backoff);
            if attempt >= self.max_attempts || started.elapsed() + wait > self.window {
                tracing::warn!(attempt, %reason, "giving up on a batch");
                let failure = Failure {
                    reason: format!("{reason} after {attempt} attempts"),
                    status,
                    request: self.requests.sample(&rendered),
                    response: excerpt(&self.requests.redact(&response_text), SAMPLE_CHARS),
                };
                return BatchResult {
                    fatal: Some(failure.reason.clone()),
                    failed: records.into_iter().map(|r| (r, failure.clone())).collect(),
                    ..BatchResult::default()
                };
            }
            tracing::info!(attempt, %reason, wait_ms = wait.as_millis() as u64, "retrying a batch");
            tokio::time::sleep(wait).await;
        }
    }

    /// Splits an answer into accepted and refused records: those the answer names when the
    /// spec says where, else the whole batch by the status.
    fn settle(
        &self,
        records: Vec<Record>,
        rendered: &Rendered,
        status: u16,
        text: &str,
    ) -> BatchResult {
        let refused = self
            .requests
            .record_errors()
            .and_then(|how| refused_records(how, text, records.len()));
        let failure = |message: String| Failure {
            reason: message,
            status: Some(status),
            request: self.requests.sample(rendered),
            response: excerpt(&self.requests.redact(text), SAMPLE_CHARS),
        };
        let mut result = BatchResult::default();
        match refused {
            Some(refused) => {
                let mut refused: HashMap<usize, String> = refused.into_iter().collect();
                for (i, record) in records.into_iter().enumerate() {
                    match refused.remove(&i) {
                        Some(message) => result.failed.push((record, failure(message))),
                        None => result.activated += record.identity_count(),
                    }
                }
            }
            None if status < 300 => {
                result.activated = records.iter().map(Record::identity_count).sum();
            }
            None => {
                let reason = format!(
                    "the platform refused the request ({status}): {}",
                    excerpt(&self.requests.redact(text), 200)
                );
                result.failed = records
                    .into_iter()
                    .map(|r| (r, failure(reason.clone())))
                    .collect();
            }
        }
        result
    }
}

/// The records an answer names as refused: (position in the batch, message). `None` when the
/// answer does not say (not JSON, or nothing at the path).
fn refused_records(how: &RecordErrors, text: &str, count: usize) -> Option<Vec<(usize, String)>> {
    let answer: serde_json::Value = serde_json::from_str(text).ok()?;
    let items = answer.pointer(&how.path)?.as_array()?;
    let message_of = |item: &serde_json::Value| {
        how.message
            .as_ref()
            .and_then(|m| item.get(m))
            .map(|m| m.as_str().map_or_else(|| m.to_string(), str::to_owned))
            .unwrap_or_else(|| "refused by the platform".to_owned())
    };
    let mut refused = Vec::new();
    match (&how.index, &how.status) {
        (Some(index), _) => {
            for item in items {
                let i = usize::try_from(item.get(index)?.as_u64()?).ok()?;
                if i < count {
                    refused.push((i, message_of(item)));
                }
            }
        }
        (None, Some(status)) => {
            for (i, item) in items.iter().enumerate().take(count) {
                if item.get(status).and_then(serde_json::Value::as_u64) >= Some(400) {
                    refused.push((i, message_of(item)));
                }
            }
        }
        (None, None) => return None,
    }
    Some(refused)
}

/// Seconds or an HTTP date, as `Retry-After` may say.
fn retry_after(headers: &reqwest::header::HeaderMap) -> Option<Duration> {
    let value = headers.get(reqwest::header::RETRY_AFTER)?.to_str().ok()?;
    if let Ok(seconds) = value.trim().parse::<u64>() {
        return Some(Duration::from_secs(seconds));
    }
    let when = httpdate::parse_http_date(value.trim()).ok()?;
    Some(
        when.duration_since(std::time::SystemTime::now())
            .unwrap_or_default(),
    )
}

fn excerpt(text: &str, chars: usize) -> String {
    text.chars().take(chars).collect()
}

fn error_chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(inner) = source {
        text.push_str(": ");
        text.push_str(&inner.to_string());
        source = inner.source();
    }
    text
}

/// Batches cut at one boundary: every member up to `boundary` is in these batches or excluded.
struct Group {
    boundary: i64,
    batches: Vec<(Action, Vec<Record>)>,
    received: i64,
    excluded: BTreeMap<String, i64>,
    /// (profile id, reason) of each profile left out, for "why was it not sent?".
    left_out: Vec<(i64, &'static str)>,
}

/// Collects records on the preparing thread and cuts groups when a batch is full or old.
struct Batcher {
    plan: RecordPlan,
    max_records: usize,
    max_age: Duration,
    add: Vec<Record>,
    remove: Vec<Record>,
    opened: Option<Instant>,
    received: i64,
    excluded: BTreeMap<String, i64>,
    left_out: Vec<(i64, &'static str)>,
    last: i64,
    /// Without a remove request, who left goes with the additions, marked "exited".
    can_remove: bool,
    out: tokio::sync::mpsc::Sender<Group>,
}

impl Batcher {
    fn take(&mut self, member: Member) -> Result<(), String> {
        self.received += 1;
        self.last = member.profile_id;
        let action = if member.status == "exited" {
            Action::Remove
        } else {
            Action::Add
        };
        let profile_id = member.profile_id;
        match self.plan.prepare(member, action, &mut self.excluded) {
            Ok(record) => {
                self.opened.get_or_insert_with(Instant::now);
                match action {
                    Action::Remove if self.can_remove => self.remove.push(record),
                    _ => self.add.push(record),
                }
            }
            Err(reason) => self.left_out.push((profile_id, reason)),
        }
        let full = self.add.len() >= self.max_records || self.remove.len() >= self.max_records;
        let old = self.opened.is_some_and(|t| t.elapsed() >= self.max_age);
        if full || old {
            self.cut()?;
        }
        Ok(())
    }

    /// Hands the open batches over (both actions, so groups never overlap in profile ids).
    fn cut(&mut self) -> Result<(), String> {
        let mut batches = Vec::new();
        if !self.add.is_empty() {
            batches.push((Action::Add, std::mem::take(&mut self.add)));
        }
        if !self.remove.is_empty() {
            batches.push((Action::Remove, std::mem::take(&mut self.remove)));
        }
        self.opened = None;
        let group = Group {
            boundary: self.last,
            batches,
            received: std::mem::take(&mut self.received),
            excluded: std::mem::take(&mut self.excluded),
            left_out: std::mem::take(&mut self.left_out),
        };
        self.out
            .blocking_send(group)
            .map_err(|_| "the delivery stopped".to_owned())
    }
}

/// What a run of a streaming dataflow needs besides its row.
pub struct StreamingRun<'a> {
    pub db: &'a DatabaseConnection,
    pub run: &'a dataflow_run::Model,
    pub flow: &'a dataflow::Model,
    pub spec: &'a Spec,
    pub segment: &'a segment::Model,
    pub mapping: &'a [MappingRow],
    pub consent: &'a [&'static str],
    pub credentials: &'a Values,
    pub params: &'a Values,
    pub retry_base: Duration,
}

impl StreamingRun<'_> {
    /// How members become records, and the sender of the requests rendered from them.
    fn plan_and_sender(&self) -> Result<(RecordPlan, Sender), String> {
        let plan = RecordPlan::new(self.spec, self.mapping, self.consent.len());
        let requests = Requests::new(
            self.spec,
            self.credentials,
            self.params,
            self.segment,
            self.flow,
            plan.schema().to_vec(),
        )?;
        let sender = Sender::new(self.spec, requests, self.retry_base)?;
        Ok((plan, sender))
    }
}

/// The window end of the last run of this dataflow's segment that delivered (success or
/// partial), where the next run starts.
async fn last_delivered(
    db: &DatabaseConnection,
    run: &dataflow_run::Model,
) -> Result<Option<DateTime<Utc>>, String> {
    Ok(dataflow_run::Entity::find()
        .filter(dataflow_run::Column::DataflowId.eq(run.dataflow_id))
        .filter(dataflow_run::Column::SegmentId.eq(run.segment_id))
        .filter(dataflow_run::Column::Status.is_in(["success", "partial"]))
        .filter(dataflow_run::Column::Trigger.ne("replay"))
        .filter(dataflow_run::Column::Id.ne(run.id))
        .order_by_desc(dataflow_run::Column::Id)
        .one(db)
        .await
        .map_err(|e| e.to_string())?
        .and_then(|r| r.window_end.or(r.started_at)))
}

/// The run's totals so far (kept with each checkpoint, so a resumed run goes on counting).
fn totals_of(run: &dataflow_run::Model) -> Outcome {
    if run.checkpoint.is_none() {
        return Outcome::default();
    }
    Outcome {
        received: run.received,
        activated: run.activated,
        excluded: serde_json::from_str(&run.excluded).unwrap_or_default(),
        failed: serde_json::from_str(&run.failed).unwrap_or_default(),
        ..Outcome::default()
    }
}

/// Records a delivered group: its refused records, the run's totals and the checkpoint, in
/// one transaction.
async fn commit(
    db: &DatabaseConnection,
    run_id: i64,
    boundary: i64,
    totals: &Outcome,
    failed: Vec<(Action, Record, Failure)>,
    left_out: &[(i64, &'static str)],
) -> Result<(), String> {
    let fail = |e: sea_orm::DbErr| e.to_string();
    let txn = db.begin().await.map_err(fail)?;
    super::runs::insert_exclusions(&txn, run_id, left_out)
        .await
        .map_err(|e| e.to_string())?;
    for chunk in failed.chunks(500) {
        let rows = chunk
            .iter()
            .map(|(action, record, failure)| run_failed_record::ActiveModel {
                run_id: Set(run_id),
                profile_id: Set(record.profile_id),
                action: Set(action.as_str().into()),
                record: Set(serde_json::to_string(record).unwrap_or_default()),
                reason: Set(failure.reason.clone()),
                status_code: Set(failure.status.map(i32::from)),
                request_sample: Set(failure.request.clone()),
                response_sample: Set(failure.response.clone()),
                replayed_at: Set(None),
                ..Default::default()
            });
        run_failed_record::Entity::insert_many(rows)
            .exec(&txn)
            .await
            .map_err(fail)?;
    }
    dataflow_run::Entity::update_many()
        .col_expr(dataflow_run::Column::Checkpoint, Expr::value(boundary))
        .col_expr(dataflow_run::Column::Received, Expr::value(totals.received))
        .col_expr(
            dataflow_run::Column::Activated,
            Expr::value(totals.activated),
        )
        .col_expr(
            dataflow_run::Column::Excluded,
            Expr::value(serde_json::to_string(&totals.excluded).unwrap_or_default()),
        )
        .col_expr(
            dataflow_run::Column::Failed,
            Expr::value(serde_json::to_string(&totals.failed).unwrap_or_default()),
        )
        .filter(dataflow_run::Column::Id.eq(run_id))
        .exec(&txn)
        .await
        .map_err(fail)?;
    txn.commit().await.map_err(fail)
}

/// Adds a batch's refusals to the run's failed counts, by reason, in identities.
fn count_failed(totals: &mut Outcome, failed: &[(Action, Record, Failure)]) {
    for (_, record, failure) in failed {
        let reason = failure
            .status
            .map_or_else(|| "not_delivered".to_owned(), |s| format!("http_{s}"));
        *totals.failed.entry(reason).or_default() += record.identity_count().max(1);
    }
}

/// Delivers a streaming run: the segment's membership changes since the last delivered run,
/// up to this run's window end, resuming after its checkpoint.
///
/// # Errors
/// Why the run failed (credentials refused, the platform unreachable after retries, the
/// removal cap).
pub async fn deliver(ctx: StreamingRun<'_>) -> Result<Outcome, String> {
    let StreamingRun {
        db,
        run,
        flow,
        spec,
        segment,
        mapping,
        consent,
        params,
        ..
    } = ctx;
    let since = last_delivered(db, run).await?;
    let until = run.window_end.unwrap_or_else(Utc::now);
    if let Some(since) = since {
        check_removal_cap(db, run, flow, segment, params, since, until).await?;
    }
    let (plan, sender) = ctx.plan_and_sender()?;
    let sender = Arc::new(sender);
    let Batching {
        max_records,
        max_age_seconds,
    } = spec.batching.clone().unwrap_or(Batching {
        max_records: 1_000,
        max_age_seconds: 60,
    });
    let concurrency = spec
        .rate_limit
        .as_ref()
        .map_or(1, |l| usize::try_from(l.concurrency.max(1)).unwrap_or(1));
    let query = MemberQuery::new(
        db.get_database_backend(),
        segment.id,
        Window {
            since,
            until: Some(until),
        },
        &plan.wanted(mapping, consent),
        false,
    )
    .map_err(|e| e.to_string())?;

    let (groups, incoming) = tokio::sync::mpsc::channel::<Group>(concurrency + 1);
    let batcher = Batcher {
        plan,
        max_records: usize::try_from(max_records.max(1)).unwrap_or(1_000),
        max_age: Duration::from_secs(u64::from(max_age_seconds)),
        add: Vec::new(),
        remove: Vec::new(),
        opened: None,
        received: 0,
        excluded: BTreeMap::new(),
        left_out: Vec::new(),
        last: run.checkpoint.unwrap_or(0),
        can_remove: spec.http.as_ref().is_some_and(|h| h.remove.is_some()),
        out: groups,
    };
    // Groups are sent up to `concurrency` at a time and committed in order, so the checkpoint
    // only ever covers delivered groups.
    let delivery = {
        let sender = sender.clone();
        let mut totals = totals_of(run);
        async move {
            let stream = futures::stream::unfold(incoming, |mut incoming| async move {
                incoming.recv().await.map(|group| (group, incoming))
            })
            .map(|group: Group| {
                let sender = sender.clone();
                async move {
                    let mut activated = 0;
                    let mut failed = Vec::new();
                    let mut fatal = None;
                    for (action, records) in group.batches {
                        let result = sender.send(action, records).await;
                        activated += result.activated;
                        failed.extend(result.failed.into_iter().map(|(r, f)| (action, r, f)));
                        if result.fatal.is_some() {
                            fatal = result.fatal;
                            break;
                        }
                    }
                    (
                        group.boundary,
                        group.received,
                        group.excluded,
                        group.left_out,
                        activated,
                        failed,
                        fatal,
                    )
                }
            })
            .buffered(concurrency);
            futures::pin_mut!(stream);
            while let Some((boundary, received, excluded, left_out, activated, failed, fatal)) =
                stream.next().await
            {
                if let Some(fatal) = fatal {
                    // Nothing of this group is committed: a later run sends it again.
                    return Err(fatal);
                }
                totals.received += received;
                totals.activated += activated;
                for (reason, n) in excluded {
                    *totals.excluded.entry(reason).or_default() += n;
                }
                count_failed(&mut totals, &failed);
                commit(db, run.id, boundary, &totals, failed, &left_out).await?;
            }
            Ok::<Outcome, String>(totals)
        }
    };
    let reading = async {
        let batcher = pump(
            db,
            &query,
            run.checkpoint.unwrap_or(0),
            batcher,
            |batcher, member| batcher.take(member),
            None,
        )
        .await?;
        // The last group, even when empty: it commits the counts and the checkpoint.
        tokio::task::spawn_blocking(move || {
            let mut batcher = batcher;
            batcher.cut()
        })
        .await
        .map_err(|e| e.to_string())?
    };
    let (read, delivered) = tokio::join!(reading, delivery);
    let outcome = delivered?;
    read?;
    Ok(outcome)
}

/// Refuses to remove more than the connection's share of the audience at once: the dataflow is
/// paused and the run fails with the counts, so a broken segment cannot empty an audience.
async fn check_removal_cap(
    db: &DatabaseConnection,
    run: &dataflow_run::Model,
    flow: &dataflow::Model,
    segment: &segment::Model,
    params: &Values,
    since: DateTime<Utc>,
    until: DateTime<Utc>,
) -> Result<(), String> {
    use crate::entities::segment_membership as m;
    use sea_orm::PaginatorTrait;
    let cap = params
        .get("removal_cap_percent")
        .and_then(|v| v.trim().parse::<f64>().ok())
        .unwrap_or(DEFAULT_REMOVAL_CAP_PERCENT);
    if cap >= 100.0 || run.checkpoint.is_some() {
        return Ok(());
    }
    // Enabling the dataflow again after a pause is the go-ahead for the removals it held.
    let acknowledged = dataflow_run::Entity::find()
        .filter(dataflow_run::Column::DataflowId.eq(flow.id))
        .filter(dataflow_run::Column::SegmentId.eq(segment.id))
        .filter(dataflow_run::Column::Id.ne(run.id))
        .order_by_desc(dataflow_run::Column::Id)
        .one(db)
        .await
        .map_err(|e| e.to_string())?
        .is_some_and(|last| {
            last.status == "failed"
                && last.error.as_deref().is_some_and(|e| e.starts_with(PAUSED))
                && last.finished_at.is_some_and(|t| t < flow.updated_at)
        });
    if acknowledged {
        return Ok(());
    }
    let removals = m::Entity::find()
        .filter(m::Column::SegmentId.eq(segment.id))
        .filter(m::Column::Status.eq("exited"))
        .filter(m::Column::ExitedAt.gt(since))
        .filter(m::Column::ExitedAt.lte(until))
        .count(db)
        .await
        .map_err(|e| e.to_string())?;
    if removals == 0 {
        return Ok(());
    }
    let staying = m::Entity::find()
        .filter(m::Column::SegmentId.eq(segment.id))
        .filter(m::Column::Status.eq("realized"))
        .filter(m::Column::QualifiedAt.lte(since))
        .count(db)
        .await
        .map_err(|e| e.to_string())?;
    let audience = staying + removals;
    #[allow(clippy::cast_precision_loss)]
    let share = removals as f64 * 100.0 / audience as f64;
    if share <= cap {
        return Ok(());
    }
    dataflow::Entity::update_many()
        .col_expr(dataflow::Column::Status, Expr::value("disabled"))
        .filter(dataflow::Column::Id.eq(flow.id))
        .exec(db)
        .await
        .map_err(|e| e.to_string())?;
    // The engine acted, not a person: the audit names the system as the actor.
    let system = crate::access::audit::Actor {
        user_id: None,
        email: "system".into(),
        client_addr: String::new(),
    };
    crate::access::audit::record(
        db,
        crate::access::audit::Event {
            actor: &system,
            action: "dataflows.pause",
            object_type: "dataflow",
            object_id: &flow.public_id,
            outcome: crate::access::audit::Outcome::Allowed,
            details: serde_json::json!({
                "reason": "removal cap",
                "removals": removals,
                "audience": audience,
                "cap_percent": cap,
            }),
        },
    )
    .await
    .map_err(|e| e.to_string())?;
    Err(format!(
        "{PAUSED} this run would remove {removals} of {audience} profiles ({share:.0}%), above \
         the removal cap of {cap}%. Check the segment, then enable the dataflow again to send \
         the removals (or raise the cap on the connection)."
    ))
}

/// Replays the failed records of `source` (those not replayed yet) within run `run`.
///
/// # Errors
/// Why the replay failed.
pub async fn replay(ctx: StreamingRun<'_>, source: i64) -> Result<Outcome, String> {
    let (_, sender) = ctx.plan_and_sender()?;
    let StreamingRun { db, run, spec, .. } = ctx;
    let pending = run_failed_record::Entity::find()
        .filter(run_failed_record::Column::RunId.eq(source))
        .filter(run_failed_record::Column::ReplayedAt.is_null())
        .order_by_asc(run_failed_record::Column::Id)
        .all(db)
        .await
        .map_err(|e| e.to_string())?;
    let mut totals = Outcome::default();
    let max = spec.batching.as_ref().map_or(1_000, |b| {
        usize::try_from(b.max_records.max(1)).unwrap_or(1_000)
    });
    for action in [Action::Add, Action::Remove] {
        let rows: Vec<&run_failed_record::Model> = pending
            .iter()
            .filter(|r| r.action == action.as_str())
            .collect();
        for chunk in rows.chunks(max) {
            let records: Vec<Record> = chunk
                .iter()
                .filter_map(|r| serde_json::from_str(&r.record).ok())
                .collect();
            totals.received += i64::try_from(records.len()).unwrap_or(0);
            let result = sender.send(action, records).await;
            if let Some(fatal) = result.fatal {
                return Err(fatal);
            }
            totals.activated += result.activated;
            let failed: Vec<(Action, Record, Failure)> = result
                .failed
                .into_iter()
                .map(|(r, f)| (action, r, f))
                .collect();
            count_failed(&mut totals, &failed);
            // The replayed rows are marked, the ones refused again are kept under this run.
            let ids: Vec<i64> = chunk.iter().map(|r| r.id).collect();
            run_failed_record::Entity::update_many()
                .col_expr(
                    run_failed_record::Column::ReplayedAt,
                    Expr::value(Utc::now()),
                )
                .filter(run_failed_record::Column::Id.is_in(ids))
                .exec(db)
                .await
                .map_err(|e| e.to_string())?;
            commit(db, run.id, 0, &totals, failed, &[]).await?;
        }
    }
    Ok(totals)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refused_records_by_index_or_by_status() {
        let by_index = RecordErrors {
            path: "/errors".into(),
            index: Some("index".into()),
            status: None,
            message: Some("message".into()),
        };
        assert_eq!(
            refused_records(
                &by_index,
                r#"{"errors": [{"index": 1, "message": "bad id"}, {"index": 9}]}"#,
                3
            ),
            Some(vec![(1, "bad id".into())])
        );
        assert_eq!(refused_records(&by_index, "not json", 3), None);
        let by_status = RecordErrors {
            path: "/elements".into(),
            index: None,
            status: Some("status".into()),
            message: None,
        };
        assert_eq!(
            refused_records(
                &by_status,
                r#"{"elements": [{"status": 201}, {"status": 400}, {"status": 201}]}"#,
                3
            ),
            Some(vec![(1, "refused by the platform".into())])
        );
    }

    #[test]
    fn retry_after_reads_seconds_and_dates() {
        let mut headers = reqwest::header::HeaderMap::new();
        headers.insert(reqwest::header::RETRY_AFTER, "3".parse().unwrap());
        assert_eq!(retry_after(&headers), Some(Duration::from_secs(3)));
        let later = std::time::SystemTime::now() + Duration::from_secs(120);
        headers.insert(
            reqwest::header::RETRY_AFTER,
            httpdate::fmt_http_date(later).parse().unwrap(),
        );
        let wait = retry_after(&headers).unwrap();
        assert!(wait > Duration::from_secs(100) && wait <= Duration::from_secs(120));
    }
}
