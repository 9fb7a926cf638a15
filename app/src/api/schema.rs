//! The schema field catalog and identity namespaces (segments.view), and data-usage labels
//! (segments.manage).

use leptos::prelude::*;
use serde::{Deserialize, Serialize};

use crate::error::AppError;

/// A field of the catalog.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FieldRow {
    pub path: String,
    pub field_type: String,
    pub title: String,
    pub description: String,
    pub labels: Vec<String>,
}

/// An identity namespace.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NamespaceRow {
    pub code: String,
    pub title: String,
    pub kind: String,
    pub description: String,
}

/// The catalog page's data: fields, namespaces and the labels that may be applied.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SchemaCatalog {
    pub fields: Vec<FieldRow>,
    pub namespaces: Vec<NamespaceRow>,
    /// (code, meaning).
    pub labels: Vec<(String, String)>,
    /// Whether the caller may change labels (the server checks again).
    pub can_edit_labels: bool,
}

/// The whole catalog.
#[server(prefix = "/api", endpoint = "schema/catalog")]
pub async fn get_schema_catalog() -> Result<SchemaCatalog, AppError> {
    use domain::access::Permission;
    use domain::profiles::schema;
    let principal = crate::auth::ssr::require(Permission::SegmentsView).await?;
    let state = crate::state::app_state()?;
    let catalog = schema::load(&state.db)
        .await
        .map_err(|e| AppError::from(e).respond())?;
    Ok(SchemaCatalog {
        fields: catalog
            .fields
            .into_iter()
            .map(|f| FieldRow {
                path: f.path,
                field_type: f.field_type.as_str().to_owned(),
                title: f.title,
                description: f.description,
                labels: f.labels,
            })
            .collect(),
        namespaces: catalog
            .namespaces
            .into_iter()
            .map(|n| NamespaceRow {
                code: n.code,
                title: n.title,
                kind: n.kind,
                description: n.description,
            })
            .collect(),
        labels: schema::LABELS
            .iter()
            .map(|(code, meaning)| ((*code).to_owned(), (*meaning).to_owned()))
            .collect(),
        can_edit_labels: principal.can(Permission::SegmentsManage),
    })
}

/// Replaces the data-usage labels of a field; returns them as stored.
#[server(prefix = "/api", endpoint = "schema/set-labels")]
pub async fn set_field_labels(
    path: String,
    #[server(default)] labels: Vec<String>,
) -> Result<Vec<String>, AppError> {
    use domain::access::Permission;
    use domain::profiles::schema;
    let principal = crate::auth::ssr::require(Permission::SegmentsManage).await?;
    let state = crate::state::app_state()?;
    let before = schema::load(&state.db)
        .await
        .ok()
        .and_then(|c| c.field(&path).map(|f| f.labels.clone()));
    let result = schema::set_labels(&state.db, &path, &labels).await;
    let details = serde_json::json!({ "before": before, "after": result.as_ref().ok() });
    crate::api::audited(&principal, "schema.labels", "field", &path, details, result).await
}
