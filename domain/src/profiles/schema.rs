//! The schema field catalog (every exportable attribute with its type, title and data-usage
//! labels) and the identity namespace catalog, seeded with Ferry's built-in XDM-shaped fields.

use std::collections::BTreeMap;
use std::fmt;
use std::str::FromStr;

use sea_orm::{
    ActiveModelTrait, ActiveValue::Set, ConnectionTrait, DatabaseConnection, EntityTrait,
    QueryOrder,
};

use crate::entities::{identity_namespace, schema_field};
use crate::{Error, Result};

/// The type of an attribute, which decides how values are validated, compared and exported.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum FieldType {
    Text,
    Integer,
    Decimal,
    Boolean,
    /// `YYYY-MM-DD`.
    Date,
    /// RFC 3339, stored in UTC as `YYYY-MM-DDTHH:MM:SSZ`.
    DateTime,
    /// A consent value: `y` or `n`.
    Consent,
}

impl FieldType {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Text => "text",
            Self::Integer => "integer",
            Self::Decimal => "decimal",
            Self::Boolean => "boolean",
            Self::Date => "date",
            Self::DateTime => "datetime",
            Self::Consent => "consent",
        }
    }

    /// Whether `<`, `>` and friends mean something for this type.
    pub fn is_ordered(self) -> bool {
        matches!(
            self,
            Self::Integer | Self::Decimal | Self::Date | Self::DateTime
        )
    }

    pub fn is_numeric(self) -> bool {
        matches!(self, Self::Integer | Self::Decimal)
    }
}

impl fmt::Display for FieldType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for FieldType {
    type Err = Error;

    fn from_str(s: &str) -> Result<Self> {
        Ok(match s {
            "text" => Self::Text,
            "integer" => Self::Integer,
            "decimal" => Self::Decimal,
            "boolean" => Self::Boolean,
            "date" => Self::Date,
            "datetime" => Self::DateTime,
            "consent" => Self::Consent,
            other => return Err(Error::Corrupt(format!("unknown field type {other:?}"))),
        })
    }
}

/// Data-usage labels: contract (C1–C12), identity (I1, I2) and sensitive (S1, S2).
pub const LABELS: [(&str, &str); 16] = [
    ("C1", "No export to a third party"),
    (
        "C2",
        "No export to a third party, including email service providers",
    ),
    ("C3", "No combining with directly identifiable data"),
    ("C4", "No onsite or cross-site ad targeting"),
    ("C5", "No interest-based targeting or personalisation"),
    ("C6", "No onsite ad targeting"),
    ("C7", "No cross-site targeting"),
    ("C8", "No measurement of the organisation's sites or apps"),
    ("C9", "No data science workflows"),
    ("C10", "No stitched identity activation"),
    ("C11", "No segment match"),
    ("C12", "No export of any kind"),
    ("I1", "Directly identifies a person"),
    ("I2", "Indirectly identifies a person"),
    ("S1", "Sensitive: precise geolocation"),
    ("S2", "Sensitive: broadly defined geolocation"),
];

/// One field of the catalog.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Field {
    pub path: String,
    pub field_type: FieldType,
    pub title: String,
    pub description: String,
    pub labels: Vec<String>,
}

/// A kind of identity.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Namespace {
    pub code: String,
    pub title: String,
    /// `email`, `phone`, `cross_device`, `cookie`, `device` or `hashed`.
    pub kind: String,
    pub description: String,
}

struct BuiltInField {
    path: &'static str,
    field_type: FieldType,
    title: &'static str,
    labels: &'static str,
    description: &'static str,
}

const fn field(
    path: &'static str,
    field_type: FieldType,
    title: &'static str,
    labels: &'static str,
    description: &'static str,
) -> BuiltInField {
    BuiltInField {
        path,
        field_type,
        title,
        labels,
        description,
    }
}

/// The fields every Ferry installation starts with, in catalog order.
const BUILT_IN_FIELDS: &[BuiltInField] = &[
    field(
        "person.name.firstName",
        FieldType::Text,
        "First name",
        "I1",
        "",
    ),
    field(
        "person.name.lastName",
        FieldType::Text,
        "Last name",
        "I1",
        "",
    ),
    field(
        "person.birthDate",
        FieldType::Date,
        "Birth date",
        "I2 C5",
        "",
    ),
    field(
        "person.gender",
        FieldType::Text,
        "Gender",
        "C5",
        "female, male, non_binary or not_specified",
    ),
    field(
        "personalEmail.address",
        FieldType::Text,
        "Personal email",
        "I1",
        "",
    ),
    field(
        "mobilePhone.number",
        FieldType::Text,
        "Mobile phone",
        "I1",
        "As the customer gave it",
    ),
    field("homeAddress.street1", FieldType::Text, "Street", "I1", ""),
    field("homeAddress.city", FieldType::Text, "City", "I2", ""),
    field(
        "homeAddress.postalCode",
        FieldType::Text,
        "Postal code",
        "I2",
        "",
    ),
    field(
        "homeAddress.countryCode",
        FieldType::Text,
        "Country",
        "",
        "ISO 3166-1 alpha-2, such as US or DE",
    ),
    field(
        "preferredLanguage",
        FieldType::Text,
        "Preferred language",
        "",
        "BCP 47, such as en-US",
    ),
    field(
        "loyalty.tier",
        FieldType::Text,
        "Loyalty tier",
        "",
        "bronze, silver, gold or platinum",
    ),
    field(
        "loyalty.points",
        FieldType::Integer,
        "Loyalty points",
        "",
        "",
    ),
    field(
        "loyalty.joinDate",
        FieldType::Date,
        "Loyalty member since",
        "",
        "",
    ),
    field(
        "commerce.orders",
        FieldType::Integer,
        "Orders",
        "",
        "Orders placed, all time",
    ),
    field(
        "commerce.lifetimeValue",
        FieldType::Decimal,
        "Lifetime value",
        "C9",
        "Total spent, in the account currency",
    ),
    field(
        "commerce.lastPurchaseAt",
        FieldType::DateTime,
        "Last purchase",
        "",
        "",
    ),
    field(
        "consents.marketing.email.val",
        FieldType::Consent,
        "Email marketing consent",
        "",
        "y or n",
    ),
    field(
        "consents.marketing.sms.val",
        FieldType::Consent,
        "SMS marketing consent",
        "",
        "y or n",
    ),
    field(
        "consents.marketing.ads.val",
        FieldType::Consent,
        "Advertising consent",
        "",
        "y or n",
    ),
    field(
        "emailSubscriber",
        FieldType::Boolean,
        "Newsletter subscriber",
        "",
        "",
    ),
];

/// The identity namespaces every installation starts with: (code, title, kind, description).
const BUILT_IN_NAMESPACES: &[(&str, &str, &str, &str)] = &[
    ("Email", "Email", "email", "An email address"),
    (
        "Phone",
        "Phone",
        "phone",
        "A phone number, in any national or international format",
    ),
    (
        "CRMID",
        "CRM ID",
        "cross_device",
        "The customer's id in the CRM",
    ),
    (
        "ECID",
        "Experience Cloud ID",
        "cookie",
        "A browser or app cookie id",
    ),
    (
        "GAID",
        "Google Advertising ID",
        "device",
        "Android's advertising id",
    ),
    (
        "IDFA",
        "Apple IDFA",
        "device",
        "iOS's identifier for advertisers",
    ),
    (
        "Email_LC_SHA256",
        "Email (SHA-256, lowercased)",
        "hashed",
        "SHA-256 of the trimmed, lowercased email, hex",
    ),
    (
        "Phone_SHA256",
        "Phone (SHA-256, E.164)",
        "hashed",
        "SHA-256 of the phone number in E.164, hex",
    ),
];

/// Adds any missing built-in fields and namespaces. Labels an administrator changed are kept.
///
/// # Errors
/// [`Error::Database`] on failure.
pub async fn ensure_catalog(db: &DatabaseConnection) -> Result<()> {
    let existing_fields: Vec<String> = schema_field::Entity::find()
        .all(db)
        .await?
        .into_iter()
        .map(|f| f.path)
        .collect();
    for (position, f) in BUILT_IN_FIELDS.iter().enumerate() {
        if existing_fields.iter().any(|p| p == f.path) {
            continue;
        }
        schema_field::ActiveModel {
            path: Set(f.path.to_owned()),
            field_type: Set(f.field_type.as_str().to_owned()),
            title: Set(f.title.to_owned()),
            description: Set(f.description.to_owned()),
            labels: Set(f.labels.to_owned()),
            position: Set(i32::try_from(position).unwrap_or(i32::MAX)),
        }
        .insert(db)
        .await?;
    }
    let existing_namespaces: Vec<String> = identity_namespace::Entity::find()
        .all(db)
        .await?
        .into_iter()
        .map(|n| n.code)
        .collect();
    for (position, (code, title, kind, description)) in BUILT_IN_NAMESPACES.iter().enumerate() {
        if existing_namespaces.iter().any(|c| c == code) {
            continue;
        }
        identity_namespace::ActiveModel {
            code: Set((*code).to_owned()),
            title: Set((*title).to_owned()),
            kind: Set((*kind).to_owned()),
            description: Set((*description).to_owned()),
            position: Set(i32::try_from(position).unwrap_or(i32::MAX)),
        }
        .insert(db)
        .await?;
    }
    Ok(())
}

/// The whole catalog, loaded once for validating rules and imports.
#[derive(Debug, Clone, Default)]
pub struct Catalog {
    pub fields: Vec<Field>,
    pub namespaces: Vec<Namespace>,
    by_path: BTreeMap<String, usize>,
}

impl Catalog {
    /// Builds a catalog from fields and namespaces (in display order).
    pub fn new(fields: Vec<Field>, namespaces: Vec<Namespace>) -> Self {
        let by_path = fields
            .iter()
            .enumerate()
            .map(|(i, f)| (f.path.clone(), i))
            .collect();
        Self {
            fields,
            namespaces,
            by_path,
        }
    }

    /// The built-in catalog without a database, for tests and tools.
    pub fn built_in() -> Self {
        let fields = BUILT_IN_FIELDS
            .iter()
            .map(|f| Field {
                path: f.path.to_owned(),
                field_type: f.field_type,
                title: f.title.to_owned(),
                description: f.description.to_owned(),
                labels: split_labels(f.labels),
            })
            .collect();
        let namespaces = BUILT_IN_NAMESPACES
            .iter()
            .map(|(code, title, kind, description)| Namespace {
                code: (*code).to_owned(),
                title: (*title).to_owned(),
                kind: (*kind).to_owned(),
                description: (*description).to_owned(),
            })
            .collect();
        Self::new(fields, namespaces)
    }

    pub fn field(&self, path: &str) -> Option<&Field> {
        self.by_path.get(path).map(|&i| &self.fields[i])
    }

    pub fn namespace(&self, code: &str) -> Option<&Namespace> {
        self.namespaces.iter().find(|n| n.code == code)
    }
}

fn split_labels(labels: &str) -> Vec<String> {
    labels.split_whitespace().map(str::to_owned).collect()
}

/// Loads the catalog from the database.
///
/// # Errors
/// [`Error::Database`]; [`Error::Corrupt`] for an unknown stored type.
pub async fn load(db: &impl ConnectionTrait) -> Result<Catalog> {
    let fields = schema_field::Entity::find()
        .order_by_asc(schema_field::Column::Position)
        .all(db)
        .await?
        .into_iter()
        .map(|f| {
            Ok(Field {
                field_type: f.field_type.parse()?,
                labels: split_labels(&f.labels),
                path: f.path,
                title: f.title,
                description: f.description,
            })
        })
        .collect::<Result<Vec<_>>>()?;
    let namespaces = identity_namespace::Entity::find()
        .order_by_asc(identity_namespace::Column::Position)
        .all(db)
        .await?
        .into_iter()
        .map(|n| Namespace {
            code: n.code,
            title: n.title,
            kind: n.kind,
            description: n.description,
        })
        .collect();
    Ok(Catalog::new(fields, namespaces))
}

/// Replaces the data-usage labels of a field; returns the labels as stored.
///
/// # Errors
/// [`Error::NotFound`] for an unknown field, [`Error::Invalid`] for an unknown label.
pub async fn set_labels(
    db: &DatabaseConnection,
    path: &str,
    labels: &[String],
) -> Result<Vec<String>> {
    let mut clean: Vec<String> = Vec::new();
    for label in labels {
        let label = label.trim().to_uppercase();
        if !LABELS.iter().any(|(code, _)| *code == label) {
            return Err(Error::Invalid(format!(
                "{label:?} is not a data-usage label; use C1–C12, I1, I2, S1 or S2."
            )));
        }
        if !clean.contains(&label) {
            clean.push(label);
        }
    }
    clean.sort_by_key(|l| LABELS.iter().position(|(code, _)| code == l));
    let found = schema_field::Entity::find_by_id(path.to_owned())
        .one(db)
        .await?
        .ok_or_else(|| Error::NotFound(format!("The field {path}")))?;
    let mut active: schema_field::ActiveModel = found.into();
    active.labels = Set(clean.join(" "));
    active.update(db).await?;
    Ok(clean)
}
