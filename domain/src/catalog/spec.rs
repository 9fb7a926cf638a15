//! The shape of a destination spec (one TOML file per destination) and its validation.

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};

use crate::profiles::schema::Catalog as SchemaCatalog;

/// Where a destination sits in the catalog.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Category {
    Advertising,
    Social,
    CloudStorage,
    EmailMarketing,
    Streaming,
}

impl Category {
    pub const ALL: [Category; 5] = [
        Category::Advertising,
        Category::Social,
        Category::CloudStorage,
        Category::EmailMarketing,
        Category::Streaming,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Category::Advertising => "advertising",
            Category::Social => "social",
            Category::CloudStorage => "cloud_storage",
            Category::EmailMarketing => "email_marketing",
            Category::Streaming => "streaming",
        }
    }

    pub fn title(self) -> &'static str {
        match self {
            Category::Advertising => "Advertising",
            Category::Social => "Social",
            Category::CloudStorage => "Cloud storage",
            Category::EmailMarketing => "Email marketing",
            Category::Streaming => "Streaming",
        }
    }
}

/// What one exported row or record describes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DestinationType {
    /// One row or record per profile with its attributes and identities.
    ProfileExport,
    /// The profiles entering or leaving segments, keyed by (usually hashed) identities.
    SegmentExport,
}

impl DestinationType {
    pub fn as_str(self) -> &'static str {
        match self {
            DestinationType::ProfileExport => "profile_export",
            DestinationType::SegmentExport => "segment_export",
        }
    }

    pub fn title(self) -> &'static str {
        match self {
            DestinationType::ProfileExport => "Profile export",
            DestinationType::SegmentExport => "Segment export",
        }
    }
}

/// Whether data leaves as files on a schedule or as a stream of requests.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ConnectionType {
    File,
    Streaming,
}

impl ConnectionType {
    pub fn as_str(self) -> &'static str {
        match self {
            ConnectionType::File => "file",
            ConnectionType::Streaming => "streaming",
        }
    }

    pub fn title(self) -> &'static str {
        match self {
            ConnectionType::File => "File",
            ConnectionType::Streaming => "Streaming",
        }
    }
}

/// The code that moves the bytes; each is implemented once and shared by many specs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Transport {
    Local,
    Sftp,
    S3,
    AzureBlob,
    Gcs,
    Http,
}

impl Transport {
    pub fn as_str(self) -> &'static str {
        match self {
            Transport::Local => "local",
            Transport::Sftp => "sftp",
            Transport::S3 => "s3",
            Transport::AzureBlob => "azure_blob",
            Transport::Gcs => "gcs",
            Transport::Http => "http",
        }
    }

    fn connection(self) -> ConnectionType {
        match self {
            Transport::Http => ConnectionType::Streaming,
            _ => ConnectionType::File,
        }
    }

    /// The credential fields this transport's code reads; a spec must declare each of them.
    pub fn credential_keys(self) -> &'static [&'static str] {
        match self {
            Transport::Local => &[],
            Transport::Sftp => &["host", "port", "username", "password", "private_key"],
            Transport::S3 => &["access_key_id", "secret_access_key", "region", "bucket"],
            Transport::AzureBlob => &["connection_string", "container"],
            Transport::Gcs => &["service_account_json", "bucket"],
            Transport::Http => &[],
        }
    }
}

/// How a form shows a credential or parameter field.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FieldKind {
    Text,
    /// Several lines (private keys, service-account JSON).
    Multiline,
    Number,
    /// One of `options`.
    Select,
    /// A folder path relative to a root; validated against `..` and absolute escapes.
    Path,
    Boolean,
}

/// A credential or parameter field of a spec.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FieldSpec {
    pub key: String,
    pub label: String,
    #[serde(default = "FieldSpec::default_kind")]
    pub kind: FieldKind,
    /// Encrypted at rest and never sent to a browser.
    #[serde(default)]
    pub secret: bool,
    #[serde(default = "yes")]
    pub required: bool,
    /// Fields sharing a group name: at least one of them must be given.
    #[serde(default)]
    pub one_of: Option<String>,
    #[serde(default)]
    pub default: Option<String>,
    #[serde(default)]
    pub placeholder: Option<String>,
    #[serde(default)]
    pub help: Option<String>,
    #[serde(default)]
    pub options: Vec<String>,
    /// Shown as the account's "user name" in lists (a login, key id or ad account).
    #[serde(default)]
    pub user_name: bool,
}

impl FieldSpec {
    fn default_kind() -> FieldKind {
        FieldKind::Text
    }
}

fn yes() -> bool {
    true
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FileFormat {
    Csv,
    Jsonl,
    Parquet,
}

impl FileFormat {
    pub fn as_str(self) -> &'static str {
        match self {
            FileFormat::Csv => "csv",
            FileFormat::Jsonl => "jsonl",
            FileFormat::Parquet => "parquet",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Compression {
    None,
    Gzip,
}

impl Compression {
    pub fn as_str(self) -> &'static str {
        match self {
            Compression::None => "none",
            Compression::Gzip => "gzip",
        }
    }
}

/// The CSV options a connection starts with; users may change each.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CsvDefaults {
    #[serde(default = "CsvDefaults::comma")]
    pub delimiter: String,
    #[serde(default = "CsvDefaults::double_quote")]
    pub quote: String,
    #[serde(default = "CsvDefaults::double_quote")]
    pub escape: String,
    #[serde(default = "yes")]
    pub header: bool,
    #[serde(default)]
    pub null_value: String,
    #[serde(default)]
    pub empty_value: String,
}

impl CsvDefaults {
    fn comma() -> String {
        ",".into()
    }
    fn double_quote() -> String {
        "\"".into()
    }
}

impl Default for CsvDefaults {
    fn default() -> Self {
        CsvDefaults {
            delimiter: Self::comma(),
            quote: Self::double_quote(),
            escape: Self::double_quote(),
            header: true,
            null_value: String::new(),
            empty_value: String::new(),
        }
    }
}

/// What a file destination accepts.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileOptions {
    pub formats: Vec<FileFormat>,
    #[serde(default = "FileOptions::default_compression")]
    pub compression: Vec<Compression>,
    #[serde(default)]
    pub csv: CsvDefaults,
    #[serde(default = "FileOptions::default_max_rows")]
    pub max_rows_per_file: u64,
    /// The folder a connection writes to, with macros such as `{destination}`.
    #[serde(default)]
    pub default_folder: Option<String>,
}

impl FileOptions {
    fn default_compression() -> Vec<Compression> {
        vec![Compression::None, Compression::Gzip]
    }
    fn default_max_rows() -> u64 {
        5_000_000
    }
}

/// The cadences a dataflow may use.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Schedule {
    Once,
    Daily,
    Weekly,
    Monthly,
    #[serde(rename = "every_3_hours")]
    Every3Hours,
    #[serde(rename = "every_6_hours")]
    Every6Hours,
    #[serde(rename = "every_8_hours")]
    Every8Hours,
    #[serde(rename = "every_12_hours")]
    Every12Hours,
    /// Membership changes flow continuously (streaming destinations).
    Streaming,
}

impl Schedule {
    pub fn title(self) -> &'static str {
        match self {
            Schedule::Once => "Once",
            Schedule::Daily => "Daily",
            Schedule::Weekly => "Weekly",
            Schedule::Monthly => "Monthly",
            Schedule::Every3Hours => "Every 3 hours",
            Schedule::Every6Hours => "Every 6 hours",
            Schedule::Every8Hours => "Every 8 hours",
            Schedule::Every12Hours => "Every 12 hours",
            Schedule::Streaming => "Streaming",
        }
    }
}

/// How an identity value is cleaned before hashing, per the platform's documentation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Normalization {
    /// Sent as stored.
    None,
    /// Leading and trailing whitespace removed, lowercased.
    TrimLowercase,
    /// Lowercased, all whitespace removed; for gmail.com and googlemail.com also dots and a
    /// `+suffix` removed from the local part (Google Customer Match).
    EmailGoogle,
    /// Trimmed and lowercased; for gmail.com only, dots and `+suffix` removed (UID2).
    EmailGmailCanonical,
    /// E.164 with a leading `+`.
    PhoneE164,
    /// E.164 digits without `+` (Meta).
    PhoneDigits,
    /// Leading and trailing whitespace removed, uppercased (region codes).
    TrimUppercase,
}

impl Normalization {
    pub fn title(self) -> &'static str {
        match self {
            Normalization::None => "as stored",
            Normalization::TrimLowercase => "trimmed, lowercased",
            Normalization::EmailGoogle => "lowercased, no whitespace; Gmail dots and +tags removed",
            Normalization::EmailGmailCanonical => {
                "trimmed, lowercased; gmail.com dots and +tags removed"
            }
            Normalization::PhoneE164 => "E.164 with +",
            Normalization::PhoneDigits => "E.164 digits, no +",
            Normalization::TrimUppercase => "trimmed, uppercased",
        }
    }
}

/// How a normalised identity is hashed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Hashing {
    None,
    /// SHA-256, lowercase hexadecimal.
    Sha256Hex,
    /// SHA-256, Base64 of the raw digest.
    Sha256Base64,
}

impl Hashing {
    pub fn title(self) -> &'static str {
        match self {
            Hashing::None => "not hashed",
            Hashing::Sha256Hex => "SHA-256 (hex)",
            Hashing::Sha256Base64 => "SHA-256 (Base64)",
        }
    }
}

/// One identity a destination accepts.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct IdentitySpec {
    /// Ferry's namespace code (Email, Phone, GAID…).
    pub namespace: String,
    /// The platform's name for it (a column or a JSON key).
    pub target: String,
    #[serde(default = "IdentitySpec::no_normalization")]
    pub normalize: Normalization,
    #[serde(default = "IdentitySpec::no_hashing")]
    pub hash: Hashing,
    /// A namespace whose values are already hashed this way and pass through unchanged.
    #[serde(default)]
    pub hashed_namespace: Option<String>,
    #[serde(default)]
    pub required: bool,
}

impl IdentitySpec {
    fn no_normalization() -> Normalization {
        Normalization::None
    }
    fn no_hashing() -> Hashing {
        Hashing::None
    }
}

/// A profile attribute an audience platform also matches on (a name, a country, a postal code),
/// prepared its way.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AttributeSpec {
    /// The schema field it is read from, such as `homeAddress.countryCode`.
    pub field: String,
    /// The platform's name for it.
    pub target: String,
    #[serde(default = "IdentitySpec::no_normalization")]
    pub normalize: Normalization,
    #[serde(default = "IdentitySpec::no_hashing")]
    pub hash: Hashing,
}

/// How many records go into one request or file, and how long a partial batch may wait.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Batching {
    pub max_records: u32,
    #[serde(default = "Batching::default_age")]
    pub max_age_seconds: u32,
}

impl Batching {
    fn default_age() -> u32 {
        60
    }
}

/// How hard a destination may be called.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RateLimit {
    pub requests_per_second: f64,
    #[serde(default = "RateLimit::default_concurrency")]
    pub concurrency: u32,
    #[serde(default = "RateLimit::default_attempts")]
    pub max_attempts: u32,
    #[serde(default = "RateLimit::default_retry_window")]
    pub retry_window_seconds: u32,
}

impl RateLimit {
    fn default_concurrency() -> u32 {
        1
    }
    fn default_attempts() -> u32 {
        5
    }
    fn default_retry_window() -> u32 {
        3600
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum HttpMethod {
    Get,
    Post,
    Put,
    Patch,
    Delete,
}

impl HttpMethod {
    pub fn as_str(self) -> &'static str {
        match self {
            HttpMethod::Get => "GET",
            HttpMethod::Post => "POST",
            HttpMethod::Put => "PUT",
            HttpMethod::Patch => "PATCH",
            HttpMethod::Delete => "DELETE",
        }
    }
}

/// One templated request: path, headers and body are minijinja templates over the connection's
/// parameters (`params`), the account's fields (`account`) and the batch (`records`, `segment`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RequestSpec {
    pub method: HttpMethod,
    pub path: String,
    #[serde(default)]
    pub headers: BTreeMap<String, String>,
    #[serde(default)]
    pub body: Option<String>,
}

/// How the account authenticates requests.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HttpAuth {
    /// The header that carries the credential, for example `Authorization`.
    pub header: String,
    /// A template for the header value, for example `Bearer {{ account.access_token }}`.
    pub value: String,
}

/// What "Test connection" calls, and which answer means the credentials work.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AuthCheck {
    pub method: HttpMethod,
    pub path: String,
    #[serde(default)]
    pub body: Option<String>,
}

/// The requests of an HTTP destination.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HttpSpec {
    /// The platform's API root; `FERRY_BASE_URL_<ID>` overrides it (tests use a local server).
    pub base_url: String,
    pub auth: HttpAuth,
    pub auth_check: AuthCheck,
    /// Adds profiles to an audience, or sends profile records.
    pub add: RequestSpec,
    /// Removes profiles from an audience (segment exports).
    #[serde(default)]
    pub remove: Option<RequestSpec>,
    #[serde(default = "HttpSpec::default_timeout")]
    pub timeout_seconds: u32,
    /// Where the platform's answer names the records it refused; without it a refused request
    /// fails its whole batch.
    #[serde(default)]
    pub record_errors: Option<RecordErrors>,
}

/// How an answer names refused records: an array at `path` (a JSON pointer) whose items carry
/// the record's position in the batch in `index`, or, without `index`, one item per record in
/// order whose `status` is 400 or more when refused. `message` names the item's explanation.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RecordErrors {
    pub path: String,
    #[serde(default)]
    pub index: Option<String>,
    #[serde(default)]
    pub status: Option<String>,
    #[serde(default)]
    pub message: Option<String>,
}

impl HttpSpec {
    fn default_timeout() -> u32 {
        30
    }
}

/// A declarative destination: everything the catalog, the forms and the exporters need to know.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Spec {
    pub id: String,
    pub name: String,
    pub description: String,
    pub category: Category,
    #[serde(rename = "type")]
    pub kind: DestinationType,
    pub connection: ConnectionType,
    pub transport: Transport,
    /// Two letters on the catalog card when there is no logo.
    #[serde(default)]
    pub initials: Option<String>,
    #[serde(default)]
    pub docs_url: Option<String>,
    #[serde(default)]
    pub credentials: Vec<FieldSpec>,
    #[serde(default)]
    pub parameters: Vec<FieldSpec>,
    #[serde(default)]
    pub files: Option<FileOptions>,
    pub schedules: Vec<Schedule>,
    #[serde(default)]
    pub identities: Vec<IdentitySpec>,
    /// Attributes a segment export may map besides identities.
    #[serde(default)]
    pub attributes: Vec<AttributeSpec>,
    /// At least this many of the identities must be mapped (platforms that match on any one).
    #[serde(default)]
    pub min_identities: u32,
    #[serde(default)]
    pub batching: Option<Batching>,
    #[serde(default)]
    pub rate_limit: Option<RateLimit>,
    /// Marketing actions a connection may declare (checked against data-usage labels).
    #[serde(default)]
    pub marketing_actions: Vec<String>,
    #[serde(default)]
    pub http: Option<HttpSpec>,
}

/// The marketing actions Ferry's data-usage policies know.
pub const MARKETING_ACTIONS: [(&str, &str); 7] = [
    ("email_targeting", "Email targeting"),
    ("onsite_advertising", "On-site advertising"),
    ("cross_site_targeting", "Cross-site targeting"),
    ("combine_with_pii", "Combine with PII"),
    ("export_to_third_party", "Export to third party"),
    ("data_science", "Data science"),
    ("sms_targeting", "SMS targeting"),
];

/// A spec that cannot be used: the file, the field and what is wrong with it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{file}: {field}: {message}")]
pub struct SpecError {
    pub file: String,
    pub field: String,
    pub message: String,
}

impl Spec {
    /// Parses and validates one spec file's text.
    ///
    /// # Errors
    /// A [`SpecError`] naming `file`, the offending field and the problem.
    pub fn parse(file: &str, text: &str) -> Result<Spec, SpecError> {
        let spec: Spec = toml::from_str(text).map_err(|e| parse_error(file, text, &e))?;
        spec.validate().map_err(|(field, message)| SpecError {
            file: file.to_owned(),
            field,
            message,
        })?;
        Ok(spec)
    }

    /// Every credential field that is stored encrypted.
    pub fn secret_keys(&self) -> impl Iterator<Item = &str> {
        self.credentials
            .iter()
            .filter(|f| f.secret)
            .map(|f| f.key.as_str())
    }

    pub fn credential(&self, key: &str) -> Option<&FieldSpec> {
        self.credentials.iter().find(|f| f.key == key)
    }

    /// Checks the rules serde cannot: returns the field and the problem.
    fn validate(&self) -> Result<(), (String, String)> {
        let fail = |field: &str, message: String| Err((field.to_owned(), message));
        if self.id.is_empty()
            || !self
                .id
                .chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
        {
            return fail(
                "id",
                format!(
                    "{:?} must be lowercase letters, digits and underscores",
                    self.id
                ),
            );
        }
        for (field, value) in [("name", &self.name), ("description", &self.description)] {
            if value.trim().is_empty() {
                return fail(field, "must not be empty".into());
            }
        }
        if let Some(initials) = &self.initials
            && !(1..=3).contains(&initials.chars().count())
        {
            return fail("initials", "must be one to three characters".into());
        }
        if self.transport.connection() != self.connection {
            return fail(
                "connection",
                format!(
                    "transport {:?} sends {}, not {}",
                    self.transport.as_str(),
                    self.transport.connection().as_str(),
                    self.connection.as_str()
                ),
            );
        }
        if self.kind == DestinationType::SegmentExport
            && self.connection != ConnectionType::Streaming
        {
            return fail(
                "type",
                "segment exports are streaming: use connection = \"streaming\"".into(),
            );
        }
        validate_fields("credentials", &self.credentials)?;
        validate_fields("parameters", &self.parameters)?;
        let mut keys = BTreeSet::new();
        for field in self.credentials.iter().chain(&self.parameters) {
            if !keys.insert(field.key.as_str()) {
                return fail(
                    "parameters",
                    format!("key {:?} is both a credential and a parameter", field.key),
                );
            }
        }
        for key in self.transport.credential_keys() {
            if self.credential(key).is_none() {
                return fail(
                    "credentials",
                    format!(
                        "the {} transport needs a credential field {key:?}",
                        self.transport.as_str()
                    ),
                );
            }
        }
        match (self.connection, &self.files) {
            (ConnectionType::File, None) => {
                return fail("files", "file destinations need a [files] table".into());
            }
            (ConnectionType::Streaming, Some(_)) => {
                return fail("files", "streaming destinations write no files".into());
            }
            (_, Some(files)) => {
                if files.formats.is_empty() {
                    return fail("files.formats", "name at least one format".into());
                }
                if files.compression.is_empty() {
                    return fail("files.compression", "name at least one option".into());
                }
                if files.max_rows_per_file == 0 {
                    return fail("files.max_rows_per_file", "must be at least 1".into());
                }
                for (field, value) in [
                    ("files.csv.delimiter", &files.csv.delimiter),
                    ("files.csv.quote", &files.csv.quote),
                    ("files.csv.escape", &files.csv.escape),
                ] {
                    if value.chars().count() != 1 || !value.is_ascii() {
                        return fail(field, format!("{value:?} must be one ASCII character"));
                    }
                }
                if let Some(folder) = &files.default_folder {
                    check_path(folder).map_err(|m| ("files.default_folder".to_owned(), m))?;
                }
            }
            (ConnectionType::Streaming, None) => {}
        }
        if self.schedules.is_empty() {
            return fail("schedules", "name at least one schedule".into());
        }
        let streaming_only = self.schedules == [Schedule::Streaming];
        match self.connection {
            ConnectionType::Streaming if !streaming_only => {
                return fail(
                    "schedules",
                    "streaming destinations take schedules = [\"streaming\"]".into(),
                );
            }
            ConnectionType::File if self.schedules.contains(&Schedule::Streaming) => {
                return fail(
                    "schedules",
                    "file destinations cannot stream; use once, daily, weekly, monthly or every_N_hours"
                        .into(),
                );
            }
            _ => {}
        }
        let namespaces = SchemaCatalog::built_in();
        let mut targets = BTreeSet::new();
        for (i, identity) in self.identities.iter().enumerate() {
            let field = format!("identities[{i}]");
            if namespaces.namespace(&identity.namespace).is_none() {
                return fail(
                    &format!("{field}.namespace"),
                    format!("unknown identity namespace {:?}", identity.namespace),
                );
            }
            if let Some(hashed) = &identity.hashed_namespace
                && namespaces.namespace(hashed).is_none()
            {
                return fail(
                    &format!("{field}.hashed_namespace"),
                    format!("unknown identity namespace {hashed:?}"),
                );
            }
            if identity.target.trim().is_empty() {
                return fail(&format!("{field}.target"), "must not be empty".into());
            }
            if !targets.insert(identity.target.as_str()) {
                return fail(
                    &format!("{field}.target"),
                    format!("{:?} is used twice", identity.target),
                );
            }
        }
        if self.min_identities as usize > self.identities.len() {
            return fail(
                "min_identities",
                format!(
                    "asks for {} identities but the spec names {}",
                    self.min_identities,
                    self.identities.len()
                ),
            );
        }
        if self.kind == DestinationType::SegmentExport && self.identities.is_empty() {
            return fail(
                "identities",
                "segment exports are keyed by identities: name at least one".into(),
            );
        }
        if let Some(batching) = &self.batching
            && batching.max_records == 0
        {
            return fail("batching.max_records", "must be at least 1".into());
        }
        if let Some(limit) = &self.rate_limit {
            if !(limit.requests_per_second > 0.0 && limit.requests_per_second.is_finite()) {
                return fail(
                    "rate_limit.requests_per_second",
                    "must be a positive number".into(),
                );
            }
            if limit.concurrency == 0 {
                return fail("rate_limit.concurrency", "must be at least 1".into());
            }
            if limit.max_attempts == 0 {
                return fail("rate_limit.max_attempts", "must be at least 1".into());
            }
        }
        for (i, action) in self.marketing_actions.iter().enumerate() {
            if !MARKETING_ACTIONS.iter().any(|(code, _)| code == action) {
                return fail(
                    &format!("marketing_actions[{i}]"),
                    format!(
                        "unknown marketing action {action:?}; known: {}",
                        MARKETING_ACTIONS.map(|(c, _)| c).join(", ")
                    ),
                );
            }
        }
        match (self.transport, &self.http) {
            (Transport::Http, None) => {
                return fail("http", "HTTP destinations need an [http] table".into());
            }
            (Transport::Http, Some(http)) => validate_http(self, http)?,
            (_, Some(_)) => {
                return fail(
                    "http",
                    format!(
                        "only the http transport takes requests, not {}",
                        self.transport.as_str()
                    ),
                );
            }
            _ => {}
        }
        if self.transport == Transport::Http && self.batching.is_none() {
            return fail(
                "batching",
                "HTTP destinations need a [batching] table".into(),
            );
        }
        if self.transport == Transport::Http && self.rate_limit.is_none() {
            return fail(
                "rate_limit",
                "HTTP destinations need a [rate_limit] table".into(),
            );
        }
        Ok(())
    }
}

fn validate_fields(table: &str, fields: &[FieldSpec]) -> Result<(), (String, String)> {
    let mut seen = BTreeSet::new();
    for (i, field) in fields.iter().enumerate() {
        let at = |name: &str| format!("{table}[{i}].{name}");
        if field.key.is_empty()
            || !field
                .key
                .chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
        {
            return Err((
                at("key"),
                format!(
                    "{:?} must be lowercase letters, digits and underscores",
                    field.key
                ),
            ));
        }
        if !seen.insert(field.key.as_str()) {
            return Err((at("key"), format!("{:?} is declared twice", field.key)));
        }
        if field.label.trim().is_empty() {
            return Err((at("label"), "must not be empty".into()));
        }
        if field.kind == FieldKind::Select {
            if field.options.is_empty() {
                return Err((at("options"), "a select field needs options".into()));
            }
            if let Some(default) = &field.default
                && !field.options.contains(default)
            {
                return Err((
                    at("default"),
                    format!("{default:?} is not one of the options"),
                ));
            }
        } else if !field.options.is_empty() {
            return Err((at("options"), "only select fields take options".into()));
        }
        if field.user_name && field.secret {
            return Err((
                at("user_name"),
                "a secret cannot be shown as the user name".into(),
            ));
        }
        if field.secret && field.default.is_some() {
            return Err((at("default"), "a secret cannot have a default".into()));
        }
        if field.secret && table != "credentials" {
            return Err((at("secret"), "only credentials can be secret".into()));
        }
        if field.kind == FieldKind::Path
            && let Some(default) = &field.default
        {
            check_path(default).map_err(|m| (at("default"), m))?;
        }
        if field.one_of.is_some() && field.required {
            return Err((
                at("one_of"),
                "a field in a one_of group must have required = false".into(),
            ));
        }
    }
    Ok(())
}

fn validate_http(spec: &Spec, http: &HttpSpec) -> Result<(), (String, String)> {
    let base = http.base_url.as_str();
    if !(base.starts_with("https://") || base.starts_with("http://")) {
        return Err((
            "http.base_url".into(),
            format!("{base:?} must start with https:// or http://"),
        ));
    }
    if http.timeout_seconds == 0 {
        return Err(("http.timeout_seconds".into(), "must be at least 1".into()));
    }
    let mut templates = vec![
        ("http.auth.header".to_owned(), http.auth.header.as_str()),
        ("http.auth.value".to_owned(), http.auth.value.as_str()),
        (
            "http.auth_check.path".to_owned(),
            http.auth_check.path.as_str(),
        ),
    ];
    if let Some(body) = &http.auth_check.body {
        templates.push(("http.auth_check.body".to_owned(), body.as_str()));
    }
    let mut requests = vec![("add", &http.add)];
    if let Some(remove) = &http.remove {
        requests.push(("remove", remove));
    } else if spec.kind == DestinationType::SegmentExport {
        return Err((
            "http.remove".into(),
            "segment exports need a request that removes profiles".into(),
        ));
    }
    for (name, request) in &requests {
        templates.push((format!("http.{name}.path"), request.path.as_str()));
        for (header, value) in &request.headers {
            templates.push((format!("http.{name}.headers.{header}"), value.as_str()));
        }
        match &request.body {
            Some(body) => templates.push((format!("http.{name}.body"), body.as_str())),
            None if request.method != HttpMethod::Get && request.method != HttpMethod::Delete => {
                return Err((
                    format!("http.{name}.body"),
                    "this method needs a body template".into(),
                ));
            }
            None => {}
        }
    }
    let environment = minijinja::Environment::new();
    for (field, source) in templates {
        if let Err(e) = environment.template_from_str(source) {
            return Err((field, format!("template does not parse: {e}")));
        }
    }
    for key in referenced_account_fields(http) {
        if spec.credential(&key).is_none() {
            return Err((
                "http".into(),
                format!("a template uses account.{key}, which is not a credential field"),
            ));
        }
    }
    Ok(())
}

/// The `account.<key>` names the auth templates use, so a typo fails at start-up.
fn referenced_account_fields(http: &HttpSpec) -> BTreeSet<String> {
    let mut keys = BTreeSet::new();
    let check_body = http.auth_check.body.clone().unwrap_or_default();
    for text in [
        &http.auth.header,
        &http.auth.value,
        &http.auth_check.path,
        &check_body,
    ] {
        let mut rest = text.as_str();
        while let Some(at) = rest.find("account.") {
            rest = &rest[at + "account.".len()..];
            let key: String = rest
                .chars()
                .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
                .collect();
            keys.insert(key);
        }
    }
    keys
}

/// Rejects folder paths that could leave the destination's root: `..` segments, absolute
/// paths, backslashes and control characters. Macros such as `{segment_id}` are allowed.
///
/// # Errors
/// A message for the person who typed the path.
pub fn check_path(path: &str) -> Result<(), String> {
    if path.starts_with('/') || path.starts_with('\\') || path.contains(':') {
        return Err(format!(
            "{path:?} must be relative to the destination's root"
        ));
    }
    if path.contains('\\') {
        return Err(format!("{path:?}: use / to separate folders"));
    }
    if path.chars().any(char::is_control) {
        return Err(format!("{path:?} contains control characters"));
    }
    if path.split('/').any(|part| part == "..") {
        return Err(format!("{path:?} must not contain .."));
    }
    let mut rest = path;
    while let Some(open) = rest.find('{') {
        let Some(close) = rest[open..].find('}') else {
            return Err(format!("{path:?} has a {{ without a closing }}"));
        };
        let name = &rest[open + 1..open + close];
        if !PATH_MACROS.contains(&name) {
            return Err(format!(
                "{path:?} uses the unknown macro {{{name}}}; known: {}",
                PATH_MACROS.map(|m| format!("{{{m}}}")).join(", ")
            ));
        }
        rest = &rest[open + close + 1..];
    }
    if rest.contains('}') {
        return Err(format!("{path:?} has a }} without an opening {{"));
    }
    Ok(())
}

/// The macros a folder path may use; the exporter fills them in per run.
pub const PATH_MACROS: [&str; 4] = ["destination", "dataflow_id", "segment_id", "date"];

/// Turns a TOML or serde error into the file, the field (key on the failing line) and message.
fn parse_error(file: &str, text: &str, error: &toml::de::Error) -> SpecError {
    let (line, field) = match error.span() {
        Some(span) => {
            let line = text[..span.start.min(text.len())].matches('\n').count() + 1;
            let field = text
                .lines()
                .nth(line - 1)
                .and_then(|l| l.split('=').next())
                .map(|k| k.trim().trim_matches(['[', ']']).to_owned())
                .filter(|k| !k.is_empty())
                .unwrap_or_default();
            (Some(line), field)
        }
        None => (None, String::new()),
    };
    let message = error.message().trim().to_owned();
    SpecError {
        file: file.to_owned(),
        field: match (line, field.is_empty()) {
            (Some(line), false) => format!("line {line}, {field}"),
            (Some(line), true) => format!("line {line}"),
            (None, _) => "(file)".into(),
        },
        message,
    }
}
