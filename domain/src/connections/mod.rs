//! Accounts (credentials for a platform) and connections (dataflows) to catalog destinations.

pub mod accounts;
pub mod dataflows;
pub mod probe;

use std::collections::BTreeMap;
use std::sync::Arc;

use crate::catalog::{Catalog, Spec};
use crate::secrets::SecretKey;
use crate::{Error, Result};

/// What the account and connection services share: the catalog, the sealing key and the
/// settings of "Test connection".
#[derive(Debug, Clone)]
pub struct Connectors {
    pub catalog: Arc<Catalog>,
    pub key: SecretKey,
    pub probe: probe::ProbeSettings,
}

impl Connectors {
    /// The spec of a destination, or a not-found error naming it.
    ///
    /// # Errors
    /// [`Error::NotFound`] for an id not in the catalog.
    pub fn spec(&self, destination_id: &str) -> Result<&Arc<Spec>> {
        self.catalog
            .get(destination_id)
            .ok_or_else(|| Error::NotFound(format!("Destination {destination_id:?}")))
    }
}

/// Field values as stored: key → text.
pub type Values = BTreeMap<String, String>;

/// The longest value a credential or parameter field may hold (a long private key fits).
pub const MAX_FIELD_BYTES: usize = 64 * 1024;
