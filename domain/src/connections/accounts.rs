//! Account storage: validated against the destination's credential fields, secrets sealed,
//! never returned in the clear except to the code that connects.

use std::collections::{BTreeMap, BTreeSet};

use chrono::{DateTime, Utc};
use sea_orm::sea_query::Expr;
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, DatabaseConnection, EntityTrait,
    PaginatorTrait, QueryFilter, QueryOrder, Set, TransactionTrait,
};
use serde::{Deserialize, Serialize};

use super::probe::{self, ProbeOutcome};
use super::{Connectors, MAX_FIELD_BYTES, Values};
use crate::catalog::spec::{FieldKind, FieldSpec};
use crate::catalog::{ConnectionType, Spec};
use crate::entities::{account, dataflow};
use crate::{Error, Result};

/// What a person typed into the account form. Secret fields left empty keep their stored
/// value; `clear` names secrets to remove (switching from a password to a key, say).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct AccountInput {
    pub destination_id: String,
    pub name: String,
    pub values: Values,
    #[serde(default)]
    pub clear: BTreeSet<String>,
}

/// An account as lists and forms show it: never a secret, only which secrets are set.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AccountView {
    pub public_id: String,
    pub destination_id: String,
    pub destination_name: String,
    pub connection: ConnectionType,
    pub name: String,
    /// The field the spec marks as the user name (login, key id, ad account).
    pub user_name: Option<String>,
    /// Non-secret fields.
    pub fields: Values,
    pub secrets_set: BTreeSet<String>,
    pub host_key: Option<String>,
    pub dataflows: u64,
    pub created_at: DateTime<Utc>,
    pub authorized_at: Option<DateTime<Utc>>,
    pub last_tested_at: Option<DateTime<Utc>>,
    pub last_test: Option<ProbeOutcome>,
}

fn clean_name(name: &str) -> Result<String> {
    let name = name.trim();
    if name.is_empty() {
        return Err(Error::Invalid("Give the account a name.".into()));
    }
    if name.chars().count() > 200 {
        return Err(Error::Invalid(
            "The name is longer than 200 characters.".into(),
        ));
    }
    if name.chars().any(char::is_control) {
        return Err(Error::Invalid(
            "The name contains control characters.".into(),
        ));
    }
    Ok(name.to_owned())
}

/// Checks one value against its field: type, options, length, paths and URLs.
pub fn check_value(field: &FieldSpec, value: &str) -> Result<()> {
    let label = &field.label;
    if value.len() > MAX_FIELD_BYTES {
        return Err(Error::Invalid(format!("{label} is longer than 64 KiB.")));
    }
    if field.kind != FieldKind::Multiline && value.chars().any(char::is_control) {
        return Err(Error::Invalid(format!(
            "{label} contains control characters."
        )));
    }
    match field.kind {
        FieldKind::Number if value.parse::<u64>().is_err() => Err(Error::Invalid(format!(
            "{label} must be a whole number, not {value:?}."
        ))),
        FieldKind::Select if !field.options.iter().any(|o| o == value) => {
            Err(Error::Invalid(format!(
                "{label} must be one of {}, not {value:?}.",
                field.options.join(", ")
            )))
        }
        FieldKind::Boolean if value != "true" && value != "false" => {
            Err(Error::Invalid(format!("{label} must be true or false.")))
        }
        FieldKind::Path => crate::catalog::spec::check_path(value)
            .map_err(|m| Error::Invalid(format!("{label}: {m}."))),
        _ if (field.key == "endpoint" || field.key.ends_with("_url"))
            && !(value.starts_with("https://") || value.starts_with("http://")) =>
        {
            Err(Error::Invalid(format!(
                "{label} must be a URL starting with https:// or http://."
            )))
        }
        _ if field.key == "port" => match value.parse::<u16>() {
            Ok(1..) => Ok(()),
            _ => Err(Error::Invalid(format!("{label} must be from 1 to 65535."))),
        },
        _ => Ok(()),
    }
}

/// Splits the typed values into non-secret fields and secrets, checking each against the
/// spec. `stored_secrets` are the secrets already on the account (empty for a new one).
fn validate(
    spec: &Spec,
    input: &AccountInput,
    stored_secrets: &Values,
) -> Result<(Values, Values)> {
    for key in input.values.keys().chain(&input.clear) {
        if spec.credential(key).is_none() {
            return Err(Error::Invalid(format!(
                "{} accounts have no field {key:?}.",
                spec.name
            )));
        }
    }
    let mut fields = Values::new();
    let mut secrets = Values::new();
    let mut groups: BTreeMap<&str, (Vec<&str>, bool)> = BTreeMap::new();
    for field in &spec.credentials {
        let typed = input.values.get(&field.key).map_or("", |v| {
            if field.kind == FieldKind::Multiline {
                v.trim_matches(['\r', '\n', ' '])
            } else {
                v.trim()
            }
        });
        let value = if field.secret && typed.is_empty() && !input.clear.contains(&field.key) {
            stored_secrets.get(&field.key).map_or("", String::as_str)
        } else {
            typed
        };
        let value = if value.is_empty() {
            field.default.as_deref().unwrap_or("")
        } else {
            value
        };
        if let Some(group) = &field.one_of {
            let entry = groups.entry(group.as_str()).or_default();
            entry.0.push(field.label.as_str());
            entry.1 |= !value.is_empty();
        }
        if value.is_empty() {
            if field.required {
                return Err(Error::Invalid(format!("{} is required.", field.label)));
            }
            continue;
        }
        check_value(field, value)?;
        if field.secret {
            secrets.insert(field.key.clone(), value.to_owned());
        } else {
            fields.insert(field.key.clone(), value.to_owned());
        }
    }
    for (labels, given) in groups.values() {
        if !given {
            return Err(Error::Invalid(format!("Give {}.", labels.join(" or "))));
        }
    }
    Ok((fields, secrets))
}

fn seal(connectors: &Connectors, public_id: &str, secrets: &Values) -> String {
    let json = serde_json::to_vec(secrets).expect("a map of strings serialises");
    connectors.key.seal(&json, public_id)
}

fn open(connectors: &Connectors, found: &account::Model) -> Result<Values> {
    let json = connectors
        .key
        .open(&found.sealed_secrets, &found.public_id)?;
    serde_json::from_slice(&json).map_err(|e| Error::Corrupt(format!("account secrets: {e}")))
}

async fn name_taken<C: ConnectionTrait>(
    db: &C,
    destination_id: &str,
    name: &str,
    except: Option<i32>,
) -> Result<bool> {
    let mut query = account::Entity::find()
        .filter(account::Column::DestinationId.eq(destination_id))
        .filter(account::Column::Name.eq(name));
    if let Some(id) = except {
        query = query.filter(account::Column::Id.ne(id));
    }
    Ok(query.count(db).await? > 0)
}

/// Creates an account; its secrets are sealed before they reach the database.
///
/// # Errors
/// [`Error::NotFound`] for an unknown destination, [`Error::Invalid`] for a field that breaks
/// its rule, [`Error::Conflict`] when the destination has an account of that name.
pub async fn create(
    db: &DatabaseConnection,
    connectors: &Connectors,
    input: &AccountInput,
    created_by: Option<i32>,
) -> Result<AccountView> {
    let spec = connectors.spec(&input.destination_id)?;
    let name = clean_name(&input.name)?;
    let (fields, secrets) = validate(spec, input, &Values::new())?;
    if name_taken(db, &spec.id, &name, None).await? {
        return Err(Error::Conflict(format!(
            "A {} account named {name:?} already exists.",
            spec.name
        )));
    }
    let public_id = uuid::Uuid::new_v4().to_string();
    let now = Utc::now();
    let created = account::ActiveModel {
        public_id: Set(public_id.clone()),
        destination_id: Set(spec.id.clone()),
        name: Set(name),
        fields: Set(serde_json::to_string(&fields).expect("strings serialise")),
        sealed_secrets: Set(seal(connectors, &public_id, &secrets)),
        host_key: Set(None),
        created_by: Set(created_by),
        created_at: Set(now),
        updated_at: Set(now),
        authorized_at: Set(None),
        last_tested_at: Set(None),
        last_test_outcome: Set(None),
        ..Default::default()
    }
    .insert(db)
    .await?;
    view(db, connectors, created).await
}

/// Changes an account's name and fields. Changing where it connects (host, port, endpoint)
/// forgets the pinned host key and the authorisation, so the next test pins afresh.
///
/// # Errors
/// As [`create`], and [`Error::NotFound`] for an unknown account.
pub async fn update(
    db: &DatabaseConnection,
    connectors: &Connectors,
    public_id: &str,
    input: &AccountInput,
) -> Result<AccountView> {
    let txn = db.begin().await?;
    let found = find(&txn, public_id).await?;
    let spec = connectors.spec(&found.destination_id)?;
    let name = clean_name(&input.name)?;
    let stored = open(connectors, &found)?;
    let input = AccountInput {
        destination_id: found.destination_id.clone(),
        ..input.clone()
    };
    let (fields, secrets) = validate(spec, &input, &stored)?;
    if name_taken(&txn, &spec.id, &name, Some(found.id)).await? {
        return Err(Error::Conflict(format!(
            "A {} account named {name:?} already exists.",
            spec.name
        )));
    }
    let old_fields: Values = serde_json::from_str(&found.fields).unwrap_or_default();
    let moved = ["host", "port", "endpoint", "bucket", "container"]
        .iter()
        .any(|k| old_fields.get(*k) != fields.get(*k));
    let credentials_changed = moved || old_fields != fields || stored != secrets;
    let mut active: account::ActiveModel = found.clone().into();
    active.name = Set(name);
    active.fields = Set(serde_json::to_string(&fields).expect("strings serialise"));
    active.sealed_secrets = Set(seal(connectors, &found.public_id, &secrets));
    active.updated_at = Set(Utc::now());
    if moved {
        active.host_key = Set(None);
    }
    if credentials_changed {
        active.authorized_at = Set(None);
    }
    let updated = active.update(&txn).await?;
    txn.commit().await?;
    view(db, connectors, updated).await
}

/// Deletes an account that no dataflow uses.
///
/// # Errors
/// [`Error::NotFound`], or [`Error::Conflict`] naming how many dataflows still use it.
pub async fn delete(db: &DatabaseConnection, public_id: &str) -> Result<account::Model> {
    let txn = db.begin().await?;
    let found = find(&txn, public_id).await?;
    let used = dataflow::Entity::find()
        .filter(dataflow::Column::AccountId.eq(found.id))
        .count(&txn)
        .await?;
    if used > 0 {
        return Err(Error::Conflict(format!(
            "{} dataflow{} still use{} this account; delete {} first.",
            used,
            if used == 1 { "" } else { "s" },
            if used == 1 { "s" } else { "" },
            if used == 1 { "it" } else { "them" },
        )));
    }
    account::Entity::delete_by_id(found.id).exec(&txn).await?;
    txn.commit().await?;
    Ok(found)
}

/// The stored row of an account.
///
/// # Errors
/// [`Error::NotFound`].
pub async fn find<C: ConnectionTrait>(db: &C, public_id: &str) -> Result<account::Model> {
    account::Entity::find()
        .filter(account::Column::PublicId.eq(public_id))
        .one(db)
        .await?
        .ok_or_else(|| Error::NotFound("Account".into()))
}

async fn view(
    db: &DatabaseConnection,
    connectors: &Connectors,
    found: account::Model,
) -> Result<AccountView> {
    let dataflows = dataflow::Entity::find()
        .filter(dataflow::Column::AccountId.eq(found.id))
        .count(db)
        .await?;
    Ok(to_view(connectors, found, dataflows))
}

fn to_view(connectors: &Connectors, found: account::Model, dataflows: u64) -> AccountView {
    let spec = connectors.catalog.get(&found.destination_id);
    let fields: Values = serde_json::from_str(&found.fields).unwrap_or_default();
    let secrets_set = open(connectors, &found)
        .map(|s| s.into_keys().collect())
        .unwrap_or_default();
    let user_name = spec.and_then(|spec| {
        spec.credentials
            .iter()
            .find(|f| f.user_name)
            .and_then(|f| fields.get(&f.key).cloned())
    });
    AccountView {
        destination_name: spec.map_or_else(|| found.destination_id.clone(), |s| s.name.clone()),
        connection: spec.map_or(ConnectionType::File, |s| s.connection),
        public_id: found.public_id,
        destination_id: found.destination_id,
        name: found.name,
        user_name,
        fields,
        secrets_set,
        host_key: found.host_key,
        dataflows,
        created_at: found.created_at,
        authorized_at: found.authorized_at,
        last_tested_at: found.last_tested_at,
        last_test: found
            .last_test_outcome
            .and_then(|t| serde_json::from_str(&t).ok()),
    }
}

/// One account as its form shows it.
///
/// # Errors
/// [`Error::NotFound`].
pub async fn get(
    db: &DatabaseConnection,
    connectors: &Connectors,
    public_id: &str,
) -> Result<AccountView> {
    let found = find(db, public_id).await?;
    view(db, connectors, found).await
}

/// Every account, optionally of one destination, newest first, with its dataflow count.
///
/// # Errors
/// Database failures.
pub async fn list(
    db: &DatabaseConnection,
    connectors: &Connectors,
    destination_id: Option<&str>,
) -> Result<Vec<AccountView>> {
    let mut query = account::Entity::find().order_by_desc(account::Column::CreatedAt);
    if let Some(id) = destination_id {
        query = query.filter(account::Column::DestinationId.eq(id));
    }
    let found = query.all(db).await?;
    let counts: BTreeMap<i32, u64> = dataflow::Entity::find().all(db).await?.into_iter().fold(
        BTreeMap::new(),
        |mut counts, d| {
            *counts.entry(d.account_id).or_default() += 1;
            counts
        },
    );
    Ok(found
        .into_iter()
        .map(|a| {
            let n = counts.get(&a.id).copied().unwrap_or(0);
            to_view(connectors, a, n)
        })
        .collect())
}

/// Every field of an account with secrets opened: only for code that connects.
///
/// # Errors
/// [`Error::Corrupt`] when the secrets cannot be opened with the current key.
pub fn credentials(connectors: &Connectors, found: &account::Model) -> Result<Values> {
    let mut values: Values = serde_json::from_str(&found.fields)
        .map_err(|e| Error::Corrupt(format!("account fields: {e}")))?;
    values.extend(open(connectors, found)?);
    Ok(values)
}

/// Tests an account against its platform and records the outcome. A first successful SFTP
/// test pins the server's host key; later tests refuse a different one.
///
/// # Errors
/// [`Error::NotFound`]; a failed test is an outcome, not an error.
pub async fn test(
    db: &DatabaseConnection,
    connectors: &Connectors,
    public_id: &str,
) -> Result<ProbeOutcome> {
    let found = find(db, public_id).await?;
    let spec = connectors.spec(&found.destination_id)?;
    let values = credentials(connectors, &found)?;
    let outcome = probe::probe(spec, &values, found.host_key.as_deref(), &connectors.probe).await;
    let now = Utc::now();
    let mut update = account::Entity::update_many()
        .col_expr(account::Column::LastTestedAt, Expr::value(now))
        .col_expr(
            account::Column::LastTestOutcome,
            Expr::value(serde_json::to_string(&outcome).expect("outcome serialises")),
        )
        .filter(account::Column::Id.eq(found.id));
    if outcome.succeeded() {
        update = update.col_expr(account::Column::AuthorizedAt, Expr::value(now));
        if found.host_key.is_none()
            && let Some(key) = &outcome.host_key
        {
            update = update.col_expr(account::Column::HostKey, Expr::value(key.clone()));
        }
    }
    update.exec(db).await?;
    Ok(outcome)
}
