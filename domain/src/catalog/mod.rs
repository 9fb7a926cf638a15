//! The destination catalog: the specs shipped with Ferry plus those in a configured folder,
//! validated once at start-up.

pub mod spec;

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;

pub use spec::{Category, ConnectionType, DestinationType, Spec, SpecError, Transport};

/// The specs compiled into the binary, so a release runs from any folder.
pub const BUILT_IN: &[(&str, &str)] = &[
    (
        "amazon_s3.toml",
        include_str!("../../destinations/amazon_s3.toml"),
    ),
    (
        "azure_blob.toml",
        include_str!("../../destinations/azure_blob.toml"),
    ),
    (
        "email_marketing_s3.toml",
        include_str!("../../destinations/email_marketing_s3.toml"),
    ),
    (
        "google_cloud_storage.toml",
        include_str!("../../destinations/google_cloud_storage.toml"),
    ),
    (
        "google_customer_match.toml",
        include_str!("../../destinations/google_customer_match.toml"),
    ),
    (
        "http_api.toml",
        include_str!("../../destinations/http_api.toml"),
    ),
    (
        "linkedin_matched_audiences.toml",
        include_str!("../../destinations/linkedin_matched_audiences.toml"),
    ),
    (
        "local_folder.toml",
        include_str!("../../destinations/local_folder.toml"),
    ),
    (
        "meta_custom_audiences.toml",
        include_str!("../../destinations/meta_custom_audiences.toml"),
    ),
    (
        "oracle_eloqua.toml",
        include_str!("../../destinations/oracle_eloqua.toml"),
    ),
    (
        "salesforce_marketing_cloud.toml",
        include_str!("../../destinations/salesforce_marketing_cloud.toml"),
    ),
    ("sftp.toml", include_str!("../../destinations/sftp.toml")),
    (
        "the_trade_desk.toml",
        include_str!("../../destinations/the_trade_desk.toml"),
    ),
];

/// Every destination Ferry can activate to, in catalog order (category, then name).
#[derive(Debug, Clone, Default)]
pub struct Catalog {
    specs: Vec<Arc<Spec>>,
}

impl Catalog {
    /// Loads the built-in specs, then every `*.toml` in `extra_dir`, and applies base-URL
    /// overrides (spec id → URL) to HTTP specs.
    ///
    /// # Errors
    /// Every problem found, each naming its file and field, so one start-up shows them all.
    pub fn load(
        extra_dir: Option<&Path>,
        base_urls: &BTreeMap<String, String>,
    ) -> Result<Catalog, Vec<SpecError>> {
        let mut sources: Vec<(String, String)> = BUILT_IN
            .iter()
            .map(|(file, text)| (format!("built-in {file}"), (*text).to_owned()))
            .collect();
        let mut errors = Vec::new();
        if let Some(dir) = extra_dir {
            match read_folder(dir) {
                Ok(files) => sources.extend(files),
                Err(e) => errors.push(e),
            }
        }
        Self::from_sources(&sources, base_urls, errors)
    }

    /// Builds a catalog from (file name, text) pairs; used by [`Catalog::load`] and tests.
    ///
    /// # Errors
    /// As [`Catalog::load`].
    pub fn from_sources(
        sources: &[(String, String)],
        base_urls: &BTreeMap<String, String>,
        mut errors: Vec<SpecError>,
    ) -> Result<Catalog, Vec<SpecError>> {
        let mut specs: Vec<(String, Spec)> = Vec::new();
        for (file, text) in sources {
            match Spec::parse(file, text) {
                Ok(spec) => {
                    if let Some((first, _)) = specs.iter().find(|(_, s)| s.id == spec.id) {
                        errors.push(SpecError {
                            file: file.clone(),
                            field: "id".into(),
                            message: format!("{:?} is already defined by {first}", spec.id),
                        });
                    } else {
                        specs.push((file.clone(), spec));
                    }
                }
                Err(e) => errors.push(e),
            }
        }
        for (id, url) in base_urls {
            let Some((file, spec)) = specs.iter_mut().find(|(_, s)| &s.id == id) else {
                errors.push(SpecError {
                    file: format!("FERRY_BASE_URL_{}", id.to_uppercase()),
                    field: "id".into(),
                    message: format!("no destination has the id {id:?}"),
                });
                continue;
            };
            match &mut spec.http {
                Some(http) if url.starts_with("http://") || url.starts_with("https://") => {
                    http.base_url = url.trim_end_matches('/').to_owned();
                }
                Some(_) => errors.push(SpecError {
                    file: format!("FERRY_BASE_URL_{}", id.to_uppercase()),
                    field: "http.base_url".into(),
                    message: format!("{url:?} must start with https:// or http://"),
                }),
                None => errors.push(SpecError {
                    file: file.clone(),
                    field: "http.base_url".into(),
                    message: format!("{id:?} is not an HTTP destination, so it has no base URL"),
                }),
            }
        }
        if !errors.is_empty() {
            return Err(errors);
        }
        let mut specs: Vec<Arc<Spec>> = specs.into_iter().map(|(_, s)| Arc::new(s)).collect();
        specs.sort_by(|a, b| (a.category, &a.name).cmp(&(b.category, &b.name)));
        Ok(Catalog { specs })
    }

    /// Only the built-in specs; panics if one is broken, which the tests rule out.
    pub fn built_in() -> Catalog {
        Self::load(None, &BTreeMap::new()).expect("the built-in destination specs are valid")
    }

    pub fn all(&self) -> &[Arc<Spec>] {
        &self.specs
    }

    pub fn get(&self, id: &str) -> Option<&Arc<Spec>> {
        self.specs.iter().find(|s| s.id == id)
    }
}

fn read_folder(dir: &Path) -> Result<Vec<(String, String)>, SpecError> {
    let folder_error = |message: String| SpecError {
        file: dir.display().to_string(),
        field: "(folder)".into(),
        message,
    };
    let entries = std::fs::read_dir(dir).map_err(|e| folder_error(format!("cannot read: {e}")))?;
    let mut files = Vec::new();
    for entry in entries {
        let path = entry.map_err(|e| folder_error(e.to_string()))?.path();
        if path.extension().is_some_and(|e| e == "toml") {
            let text = std::fs::read_to_string(&path).map_err(|e| SpecError {
                file: path.display().to_string(),
                field: "(file)".into(),
                message: format!("cannot read: {e}"),
            })?;
            files.push((path.display().to_string(), text));
        }
    }
    files.sort();
    Ok(files)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_file_in_the_destinations_folder_is_built_in() {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("destinations");
        let mut on_disk: Vec<String> = std::fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        on_disk.sort();
        let built_in: Vec<String> = BUILT_IN.iter().map(|(f, _)| (*f).to_owned()).collect();
        assert_eq!(on_disk, built_in);
    }
}
