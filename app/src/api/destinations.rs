//! The destination catalog (destinations.view), accounts (view; create, edit, delete and test
//! with destinations.manage) and connections (destinations.manage). Secrets never leave the
//! server: forms learn only which secrets are set.

use std::collections::BTreeMap;

use leptos::prelude::*;
use serde::{Deserialize, Serialize};

use crate::error::AppError;

/// A credential or parameter field as a form draws it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FieldInfo {
    pub key: String,
    pub label: String,
    /// text, multiline, number, select, path or boolean.
    pub kind: String,
    pub secret: bool,
    pub required: bool,
    pub one_of: Option<String>,
    pub default: Option<String>,
    pub placeholder: Option<String>,
    pub help: Option<String>,
    pub options: Vec<String>,
}

/// An identity the destination accepts, with how Ferry prepares it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct IdentityInfo {
    pub namespace: String,
    pub target: String,
    pub normalization: String,
    pub hashing: String,
    pub required: bool,
}

/// One catalog card and its details panel.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DestinationInfo {
    pub id: String,
    pub name: String,
    pub description: String,
    pub initials: String,
    pub category: String,
    pub category_title: String,
    /// profile_export or segment_export.
    pub kind: String,
    pub kind_title: String,
    /// file or streaming.
    pub connection: String,
    pub connection_title: String,
    pub transport: String,
    pub docs_url: Option<String>,
    pub formats: Vec<String>,
    pub compression: Vec<String>,
    pub schedules: Vec<String>,
    pub identities: Vec<IdentityInfo>,
    /// (field path, how it is sent) of the attributes a segment export may also map.
    pub attributes: Vec<(String, String)>,
    pub min_identities: u32,
    pub batch_size: Option<u32>,
    pub requests_per_second: Option<f64>,
    /// (code, title) of the marketing actions a connection may declare.
    pub marketing_actions: Vec<(String, String)>,
    pub credentials: Vec<FieldInfo>,
    pub parameters: Vec<FieldInfo>,
    /// CSV defaults: delimiter, quote, escape, header, null, empty.
    pub csv_defaults: Vec<(String, String)>,
    pub accounts: usize,
    pub dataflows: usize,
}

/// The catalog with what the caller may do.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CatalogPage {
    pub destinations: Vec<DestinationInfo>,
    /// (code, title) of every category, in catalog order.
    pub categories: Vec<(String, String)>,
    pub can_manage: bool,
    pub can_activate: bool,
}

/// Whether "Test connection" worked, and if not, which kind of problem it was.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TestOutcome {
    pub ok: bool,
    /// authentication, permission, not_found, network, timeout, host_key, configuration, other.
    pub class: Option<String>,
    pub title: String,
    pub message: String,
    pub host_key: Option<String>,
}

/// An account as lists and forms show it: never a secret value.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AccountRow {
    pub id: String,
    pub destination_id: String,
    pub destination_name: String,
    pub connection: String,
    pub name: String,
    pub user_name: Option<String>,
    pub fields: BTreeMap<String, String>,
    pub secrets_set: Vec<String>,
    pub host_key: Option<String>,
    pub dataflows: u64,
    pub created_at: String,
    pub authorized_at: Option<String>,
    pub last_test: Option<TestOutcome>,
}

/// The accounts tab.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AccountList {
    pub accounts: Vec<AccountRow>,
    pub can_manage: bool,
}

/// A dataflow (connection) as lists show it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DataflowRow {
    pub id: String,
    pub name: String,
    pub description: String,
    pub destination_id: String,
    pub destination_name: String,
    pub connection: String,
    pub account_name: String,
    pub account_user: Option<String>,
    pub params: BTreeMap<String, String>,
    pub marketing_actions: Vec<String>,
    pub enabled: bool,
    /// How many segments are activated.
    pub segments: u64,
    /// The latest run's status and time.
    pub last_run: Option<(String, String)>,
    pub created_at: String,
    pub updated_at: String,
}

/// A catalog entry for other server functions.
#[cfg(feature = "ssr")]
pub fn destination_info(spec: &domain::catalog::Spec) -> DestinationInfo {
    convert::destination(spec, 0, 0)
}

/// A dataflow row for other server functions.
#[cfg(feature = "ssr")]
pub fn dataflow_row(d: domain::connections::dataflows::DataflowView) -> DataflowRow {
    convert::dataflow(d)
}

#[cfg(feature = "ssr")]
mod convert {
    use super::*;
    use domain::catalog::Spec;
    use domain::catalog::spec::{FieldKind, FieldSpec, MARKETING_ACTIONS};

    fn kind(kind: FieldKind) -> &'static str {
        match kind {
            FieldKind::Text => "text",
            FieldKind::Multiline => "multiline",
            FieldKind::Number => "number",
            FieldKind::Select => "select",
            FieldKind::Path => "path",
            FieldKind::Boolean => "boolean",
        }
    }

    fn field(f: &FieldSpec) -> FieldInfo {
        FieldInfo {
            key: f.key.clone(),
            label: f.label.clone(),
            kind: kind(f.kind).into(),
            secret: f.secret,
            required: f.required,
            one_of: f.one_of.clone(),
            default: f.default.clone(),
            placeholder: f.placeholder.clone(),
            help: f.help.clone(),
            options: f.options.clone(),
        }
    }

    pub fn destination(spec: &Spec, accounts: usize, dataflows: usize) -> DestinationInfo {
        let initials = spec.initials.clone().unwrap_or_else(|| {
            spec.name
                .split_whitespace()
                .filter_map(|w| w.chars().next())
                .take(2)
                .collect::<String>()
                .to_uppercase()
        });
        let csv = spec.files.as_ref().map(|f| &f.csv);
        DestinationInfo {
            id: spec.id.clone(),
            name: spec.name.clone(),
            description: spec.description.clone(),
            initials,
            category: spec.category.as_str().into(),
            category_title: spec.category.title().into(),
            kind: spec.kind.as_str().into(),
            kind_title: spec.kind.title().into(),
            connection: spec.connection.as_str().into(),
            connection_title: spec.connection.title().into(),
            transport: spec.transport.as_str().into(),
            docs_url: spec.docs_url.clone(),
            formats: spec
                .files
                .iter()
                .flat_map(|f| f.formats.iter().map(|x| x.as_str().to_owned()))
                .collect(),
            compression: spec
                .files
                .iter()
                .flat_map(|f| f.compression.iter().map(|x| x.as_str().to_owned()))
                .collect(),
            schedules: spec
                .schedules
                .iter()
                .map(|s| s.title().to_owned())
                .collect(),
            identities: spec
                .identities
                .iter()
                .map(|i| IdentityInfo {
                    namespace: i.namespace.clone(),
                    target: i.target.clone(),
                    normalization: i.normalize.title().into(),
                    hashing: match &i.hashed_namespace {
                        Some(hashed) => format!("{}; {hashed} passes through", i.hash.title()),
                        None => i.hash.title().into(),
                    },
                    required: i.required,
                })
                .collect(),
            attributes: spec
                .attributes
                .iter()
                .map(|a| {
                    (
                        a.field.clone(),
                        format!(
                            "as {}, {}, {}",
                            a.target,
                            a.normalize.title(),
                            a.hash.title()
                        ),
                    )
                })
                .collect(),
            min_identities: spec.min_identities,
            batch_size: spec.batching.as_ref().map(|b| b.max_records),
            requests_per_second: spec.rate_limit.as_ref().map(|r| r.requests_per_second),
            marketing_actions: spec
                .marketing_actions
                .iter()
                .map(|code| {
                    let title = MARKETING_ACTIONS
                        .iter()
                        .find(|(c, _)| c == code)
                        .map_or(code.as_str(), |(_, t)| t);
                    (code.clone(), title.to_owned())
                })
                .collect(),
            credentials: spec.credentials.iter().map(field).collect(),
            parameters: spec.parameters.iter().map(field).collect(),
            csv_defaults: csv
                .map(|c| {
                    vec![
                        ("csv_delimiter".into(), c.delimiter.clone()),
                        ("csv_quote".into(), c.quote.clone()),
                        ("csv_escape".into(), c.escape.clone()),
                        ("csv_header".into(), c.header.to_string()),
                        ("csv_null".into(), c.null_value.clone()),
                        ("csv_empty".into(), c.empty_value.clone()),
                    ]
                })
                .unwrap_or_default(),
            accounts,
            dataflows,
        }
    }

    pub fn outcome(o: domain::connections::probe::ProbeOutcome) -> TestOutcome {
        let class = o.failure.map(|c| {
            serde_json::to_value(c)
                .ok()
                .and_then(|v| v.as_str().map(str::to_owned))
                .unwrap_or_default()
        });
        TestOutcome {
            ok: o.failure.is_none(),
            title: o
                .failure
                .map_or("Connection works", |c| c.title())
                .to_owned(),
            class,
            message: o.message,
            host_key: o.host_key,
        }
    }

    pub fn time(t: chrono::DateTime<chrono::Utc>) -> String {
        t.format("%Y-%m-%d %H:%M UTC").to_string()
    }

    pub fn account(a: domain::connections::accounts::AccountView) -> AccountRow {
        AccountRow {
            id: a.public_id,
            destination_id: a.destination_id,
            destination_name: a.destination_name,
            connection: a.connection.title().into(),
            name: a.name,
            user_name: a.user_name,
            fields: a.fields,
            secrets_set: a.secrets_set.into_iter().collect(),
            host_key: a.host_key,
            dataflows: a.dataflows,
            created_at: time(a.created_at),
            authorized_at: a.authorized_at.map(time),
            last_test: a.last_test.map(outcome),
        }
    }

    pub fn dataflow(d: domain::connections::dataflows::DataflowView) -> DataflowRow {
        DataflowRow {
            id: d.public_id,
            name: d.name,
            description: d.description,
            destination_id: d.destination_id,
            destination_name: d.destination_name,
            connection: d.connection.title().into(),
            account_name: d.account_name,
            account_user: d.account_user,
            params: d.params,
            marketing_actions: d.marketing_actions,
            enabled: d.enabled,
            segments: d.segments,
            last_run: d.last_run.map(|(status, at)| (status, time(at))),
            created_at: time(d.created_at),
            updated_at: time(d.updated_at),
        }
    }
}

/// The catalog: every destination with its counts of accounts and dataflows.
#[server(prefix = "/api", endpoint = "destinations/catalog")]
pub async fn destination_catalog() -> Result<CatalogPage, AppError> {
    use domain::access::Permission;
    use domain::catalog::Category;
    let principal = crate::auth::ssr::require(Permission::DestinationsView).await?;
    let state = crate::state::app_state()?;
    let fail = |e: domain::Error| AppError::from(e).respond();
    let c = &state.connectors;
    let accounts = domain::connections::accounts::list(&state.db, c, None)
        .await
        .map_err(fail)?;
    let flows = domain::connections::dataflows::list(&state.db, c, None)
        .await
        .map_err(fail)?;
    let destinations = c
        .catalog
        .all()
        .iter()
        .map(|spec| {
            let n_accounts = accounts
                .iter()
                .filter(|a| a.destination_id == spec.id)
                .count();
            let n_flows = flows.iter().filter(|d| d.destination_id == spec.id).count();
            convert::destination(spec, n_accounts, n_flows)
        })
        .collect();
    Ok(CatalogPage {
        destinations,
        categories: Category::ALL
            .iter()
            .map(|c| (c.as_str().to_owned(), c.title().to_owned()))
            .collect(),
        can_manage: principal.can(Permission::DestinationsManage),
        can_activate: principal.can(Permission::DestinationsActivate),
    })
}

/// One destination's details (for the account form and the connect flow).
#[server(prefix = "/api", endpoint = "destinations/get")]
pub async fn get_destination(destination_id: String) -> Result<DestinationInfo, AppError> {
    use domain::access::Permission;
    crate::auth::ssr::require(Permission::DestinationsView).await?;
    let state = crate::state::app_state()?;
    let spec = state
        .connectors
        .spec(&destination_id)
        .map_err(|e| AppError::from(e).respond())?;
    Ok(convert::destination(spec, 0, 0))
}

/// Every account (optionally of one destination), never with a secret.
#[server(prefix = "/api", endpoint = "accounts/list")]
pub async fn list_accounts(
    #[server(default)] destination_id: Option<String>,
) -> Result<AccountList, AppError> {
    use domain::access::Permission;
    let principal = crate::auth::ssr::require(Permission::DestinationsView).await?;
    let state = crate::state::app_state()?;
    let accounts = domain::connections::accounts::list(
        &state.db,
        &state.connectors,
        destination_id.as_deref().filter(|d| !d.is_empty()),
    )
    .await
    .map_err(|e| AppError::from(e).respond())?;
    Ok(AccountList {
        accounts: accounts.into_iter().map(convert::account).collect(),
        can_manage: principal.can(Permission::DestinationsManage),
    })
}

/// An account with its destination's fields, for the account page.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AccountDetail {
    pub account: AccountRow,
    pub destination: DestinationInfo,
    pub can_manage: bool,
}

/// One account for its form: non-secret fields and which secrets are set.
#[server(prefix = "/api", endpoint = "accounts/get")]
pub async fn get_account(account_id: String) -> Result<AccountDetail, AppError> {
    use domain::access::Permission;
    let principal = crate::auth::ssr::require(Permission::DestinationsView).await?;
    let state = crate::state::app_state()?;
    let fail = |e: domain::Error| AppError::from(e).respond();
    let account = domain::connections::accounts::get(&state.db, &state.connectors, &account_id)
        .await
        .map_err(fail)?;
    let spec = state
        .connectors
        .spec(&account.destination_id)
        .map_err(fail)?;
    Ok(AccountDetail {
        destination: convert::destination(spec, 0, 0),
        account: convert::account(account),
        can_manage: principal.can(Permission::DestinationsManage),
    })
}

/// Names the fields that differ, never their values, for the audit log.
#[cfg(feature = "ssr")]
fn field_names(values: &BTreeMap<String, String>) -> Vec<&str> {
    values
        .iter()
        .filter(|(_, v)| !v.trim().is_empty())
        .map(|(k, _)| k.as_str())
        .collect()
}

/// Creates an account. `values` holds every credential field by key.
#[server(prefix = "/api", endpoint = "accounts/create")]
pub async fn create_account(
    destination_id: String,
    name: String,
    #[server(default)] values: BTreeMap<String, String>,
) -> Result<AccountRow, AppError> {
    use domain::access::Permission;
    use domain::connections::accounts::{self, AccountInput};
    let principal = crate::auth::ssr::require(Permission::DestinationsManage).await?;
    let state = crate::state::app_state()?;
    let input = AccountInput {
        destination_id: destination_id.clone(),
        name: name.clone(),
        values,
        clear: Default::default(),
    };
    let result = accounts::create(&state.db, &state.connectors, &input, Some(principal.id)).await;
    let object = result
        .as_ref()
        .map(|a| a.public_id.clone())
        .unwrap_or_default();
    let details = serde_json::json!({
        "destination": destination_id, "name": name, "fields": field_names(&input.values)
    });
    crate::api::audited(
        &principal,
        "account.create",
        "account",
        &object,
        details,
        result,
    )
    .await
    .map(convert::account)
}

/// Changes an account. Secret fields left empty keep their value; `clear` removes secrets.
#[server(prefix = "/api", endpoint = "accounts/update")]
pub async fn update_account(
    account_id: String,
    name: String,
    #[server(default)] values: BTreeMap<String, String>,
    #[server(default)] clear: Vec<String>,
) -> Result<AccountRow, AppError> {
    use domain::access::Permission;
    use domain::connections::accounts::{self, AccountInput};
    let principal = crate::auth::ssr::require(Permission::DestinationsManage).await?;
    let state = crate::state::app_state()?;
    let input = AccountInput {
        destination_id: String::new(),
        name: name.clone(),
        values,
        clear: clear.iter().cloned().collect(),
    };
    let result = accounts::update(&state.db, &state.connectors, &account_id, &input).await;
    let details = serde_json::json!({
        "name": name, "fields": field_names(&input.values), "cleared": clear
    });
    crate::api::audited(
        &principal,
        "account.update",
        "account",
        &account_id,
        details,
        result,
    )
    .await
    .map(convert::account)
}

/// Deletes an account no dataflow uses.
#[server(prefix = "/api", endpoint = "accounts/delete")]
pub async fn delete_account(account_id: String) -> Result<(), AppError> {
    use domain::access::Permission;
    let principal = crate::auth::ssr::require(Permission::DestinationsManage).await?;
    let state = crate::state::app_state()?;
    let result = domain::connections::accounts::delete(&state.db, &account_id).await;
    let details = match &result {
        Ok(a) => serde_json::json!({ "name": a.name, "destination": a.destination_id }),
        Err(_) => serde_json::json!({}),
    };
    crate::api::audited(
        &principal,
        "account.delete",
        "account",
        &account_id,
        details,
        result,
    )
    .await
    .map(|_| ())
}

/// Tests an account against its platform now and records the outcome.
#[server(prefix = "/api", endpoint = "accounts/test")]
pub async fn test_account(account_id: String) -> Result<TestOutcome, AppError> {
    use domain::access::Permission;
    let principal = crate::auth::ssr::require(Permission::DestinationsManage).await?;
    let state = crate::state::app_state()?;
    let result =
        domain::connections::accounts::test(&state.db, &state.connectors, &account_id).await;
    let details = match &result {
        Ok(o) => {
            serde_json::json!({ "ok": o.succeeded(), "failure": o.failure, "message": o.message })
        }
        Err(_) => serde_json::json!({}),
    };
    crate::api::audited(
        &principal,
        "account.test",
        "account",
        &account_id,
        details,
        result,
    )
    .await
    .map(convert::outcome)
}

/// The dataflows with what the caller may do with them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DataflowList {
    pub dataflows: Vec<DataflowRow>,
    pub can_manage: bool,
    pub can_activate: bool,
    /// Managers and activators may enable and disable.
    pub can_toggle: bool,
}

/// Every dataflow (optionally of one destination).
#[server(prefix = "/api", endpoint = "dataflows/list")]
pub async fn list_dataflows(
    #[server(default)] destination_id: Option<String>,
) -> Result<DataflowList, AppError> {
    use domain::access::Permission;
    let principal = crate::auth::ssr::require(Permission::DestinationsView).await?;
    let state = crate::state::app_state()?;
    let flows = domain::connections::dataflows::list(
        &state.db,
        &state.connectors,
        destination_id.as_deref().filter(|d| !d.is_empty()),
    )
    .await
    .map_err(|e| AppError::from(e).respond())?;
    Ok(DataflowList {
        dataflows: flows.into_iter().map(convert::dataflow).collect(),
        can_manage: principal.can(Permission::DestinationsManage),
        can_activate: principal.can(Permission::DestinationsActivate)
            || principal.can(Permission::DestinationsActivateWithoutMapping),
        can_toggle: principal.can(Permission::DestinationsManage)
            || principal.can(Permission::DestinationsActivate),
    })
}

/// Connects a destination with an account: a dataflow, disabled until segments are activated.
#[server(prefix = "/api", endpoint = "connections/create")]
pub async fn create_connection(
    destination_id: String,
    account_id: String,
    name: String,
    #[server(default)] description: String,
    #[server(default)] params: BTreeMap<String, String>,
    #[server(default)] marketing_actions: Vec<String>,
) -> Result<DataflowRow, AppError> {
    use domain::access::Permission;
    use domain::connections::dataflows::{self, ConnectionInput};
    let principal = crate::auth::ssr::require(Permission::DestinationsManage).await?;
    let state = crate::state::app_state()?;
    let input = ConnectionInput {
        destination_id,
        account_id,
        name,
        description,
        params,
        marketing_actions,
    };
    let result = dataflows::create(&state.db, &state.connectors, &input, Some(principal.id)).await;
    let object = result
        .as_ref()
        .map(|d| d.public_id.clone())
        .unwrap_or_default();
    let details = serde_json::json!({
        "destination": input.destination_id,
        "account": input.account_id,
        "name": input.name,
        "params": input.params,
        "marketing_actions": input.marketing_actions,
    });
    crate::api::audited(
        &principal,
        "dataflow.create",
        "dataflow",
        &object,
        details,
        result,
    )
    .await
    .map(convert::dataflow)
}
