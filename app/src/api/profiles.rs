//! Profile imports from an uploaded file (profiles.import).

use leptos::prelude::*;
use leptos::server_fn::codec::{MultipartData, MultipartFormData};
use serde::{Deserialize, Serialize};

use crate::error::AppError;

/// What an import did, for the report on the page.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ImportSummary {
    pub rows: u64,
    pub inserted: u64,
    pub updated: u64,
    pub unchanged: u64,
    pub rejected: u64,
    /// (line, reason) of the first rejected rows.
    pub rejections: Vec<(u64, String)>,
}

/// Imports an uploaded CSV or JSON Lines file as profiles. The multipart form carries `key`,
/// the identity namespace that matches rows to profiles (CRMID by default), and `file`, whose
/// name gives the format. The file is streamed to a temporary file (never held in memory
/// whole) up to the configured size, then imported.
#[server(input = MultipartFormData, prefix = "/api", endpoint = "profiles/import")]
pub async fn import_profiles(data: MultipartData) -> Result<ImportSummary, AppError> {
    use domain::access::Permission;
    use domain::profiles::import::{self, Options};

    let principal = crate::auth::ssr::require(Permission::ProfilesImport).await?;
    let state = crate::state::app_state()?;
    // Receiving the file: a refusal here (no file, wrong type, too large) is audited too.
    let received = receive(data, &state).await;
    let (temp, file_name, format, key, size) = match received {
        Ok(parts) => parts,
        Err(error) => {
            let actor = crate::auth::ssr::actor_of(&principal).await;
            let details = serde_json::json!({ "reason": error.to_string() });
            let failed = domain::access::audit::Outcome::Failed;
            crate::auth::ssr::record(&actor, "profiles.import", "profiles", "", failed, details)
                .await;
            return Err(error);
        }
    };
    let fail = |e: domain::Error| AppError::from(e).respond();
    let catalog = domain::profiles::schema::load(&state.db)
        .await
        .map_err(fail)?;
    let reader = temp.reopen().map_err(|error| {
        tracing::error!(%error, "could not reopen the uploaded file");
        AppError::Internal.respond()
    })?;
    let options = Options {
        format,
        key_namespace: key.clone(),
        batch_size: 1000,
    };
    let result = import::import(&state.db, catalog, reader, options).await;
    let details = match &result {
        Ok(r) => serde_json::json!({
            "file": file_name, "bytes": size, "key": key, "rows": r.rows,
            "inserted": r.inserted, "updated": r.updated, "rejected": r.rejected,
        }),
        Err(_) => serde_json::json!({ "file": file_name, "bytes": size, "key": key }),
    };
    let report = crate::api::audited(
        &principal,
        "profiles.import",
        "profiles",
        &file_name,
        details,
        result,
    )
    .await?;
    Ok(ImportSummary {
        rows: report.rows,
        inserted: report.inserted,
        updated: report.updated,
        unchanged: report.unchanged,
        rejected: report.rejected,
        rejections: report.rejections,
    })
}

/// Streams the multipart upload to a temporary file; returns it with its name, format, the key
/// namespace and its size.
#[cfg(feature = "ssr")]
async fn receive(
    data: MultipartData,
    state: &crate::state::AppState,
) -> Result<
    (
        tempfile::NamedTempFile,
        String,
        domain::profiles::import::Format,
        String,
        u64,
    ),
    AppError,
> {
    use domain::profiles::import::Format;
    use tokio::io::AsyncWriteExt;

    let invalid = |message: String| AppError::Invalid(message).respond();
    let internal = |error: std::io::Error| {
        tracing::error!(%error, "could not write the upload to a temporary file");
        AppError::Internal.respond()
    };
    let temp = tempfile::NamedTempFile::new().map_err(internal)?;
    let mut multipart = data
        .into_inner()
        .ok_or_else(|| invalid("The upload is not a form.".into()))?;
    let unreadable = |e: multer::Error| invalid(format!("The upload cannot be read: {e}"));
    let mut key = "CRMID".to_owned();
    let mut file_name = None;
    let mut size: u64 = 0;
    while let Some(mut field) = multipart.next_field().await.map_err(unreadable)? {
        match field.name() {
            Some("key") => key = field.text().await.map_err(unreadable)?.trim().to_owned(),
            Some("file") => {
                file_name = Some(field.file_name().unwrap_or_default().to_owned());
                let mut file = tokio::fs::File::from_std(temp.reopen().map_err(internal)?);
                while let Some(chunk) = field.chunk().await.map_err(unreadable)? {
                    size += chunk.len() as u64;
                    if size > state.import_max_bytes {
                        return Err(invalid(format!(
                            "The file is larger than the {} MB an upload may have.",
                            state.import_max_bytes.div_ceil(1024 * 1024)
                        )));
                    }
                    file.write_all(&chunk).await.map_err(internal)?;
                }
                file.flush().await.map_err(internal)?;
            }
            _ => {}
        }
    }
    let Some(file_name) = file_name else {
        return Err(invalid("Choose a file to import.".into()));
    };
    let format = Format::from_file_name(&file_name).ok_or_else(|| {
        invalid(format!(
            "{file_name:?} is neither a .csv nor a .jsonl file."
        ))
    })?;
    if size == 0 {
        return Err(invalid("The file is empty.".into()));
    }
    Ok((temp, file_name, format, key, size))
}
