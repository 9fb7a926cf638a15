//! Transports: deliver a finished local file to a landing-zone folder, an SFTP server or an
//! object store. Files appear whole or not at all: a temporary name then a rename (local,
//! SFTP), or a multipart upload that completes at the end (object stores). Transient failures
//! are retried with backoff.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use object_store::ObjectStore;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::catalog::{Spec, Transport};
use crate::connections::probe::{self, ProbeSettings};

/// Where files go, opened once per run.
pub enum Destination {
    Local {
        root: PathBuf,
    },
    Sftp {
        /// `None` after a failure: the next attempt opens a new session.
        connection: Option<Box<probe::SftpConnection>>,
        base: String,
        reopen: SftpAddress,
    },
    Store {
        store: Arc<dyn ObjectStore>,
    },
}

/// What a new SFTP session needs: the account's credentials, its pinned host key, the timeout.
pub struct SftpAddress {
    credentials: BTreeMap<String, String>,
    host_key: Option<String>,
    timeout: Duration,
}

impl SftpAddress {
    async fn connect(&self) -> Result<probe::SftpConnection, String> {
        probe::connect_sftp(&self.credentials, self.host_key.as_deref(), self.timeout)
            .await
            .map_err(|o| {
                format!(
                    "{}: {}",
                    o.failure.map_or("Failed", |c| c.title()),
                    o.message
                )
            })
    }
}

/// Opens the destination of an account.
///
/// # Errors
/// A message naming the class of the problem (authentication, network, …).
pub async fn open(
    spec: &Spec,
    credentials: &BTreeMap<String, String>,
    host_key: Option<&str>,
    settings: &ProbeSettings,
) -> Result<Destination, String> {
    match spec.transport {
        Transport::Local => Ok(Destination::Local {
            root: settings.landing_root.clone(),
        }),
        Transport::Sftp => {
            let reopen = SftpAddress {
                credentials: credentials.clone(),
                host_key: host_key.map(str::to_owned),
                timeout: settings.timeout,
            };
            let connection = reopen.connect().await?;
            let base = credentials
                .get("base_folder")
                .map(|b| b.trim().trim_end_matches('/').to_owned())
                .filter(|b| !b.is_empty() && b != ".")
                .unwrap_or_default();
            Ok(Destination::Sftp {
                connection: Some(Box::new(connection)),
                base,
                reopen,
            })
        }
        Transport::S3 | Transport::AzureBlob | Transport::Gcs => {
            let (store, _) =
                probe::object_store_for(spec.transport, credentials, settings.timeout * 4)?;
            Ok(Destination::Store { store })
        }
        Transport::Http => Err("HTTP destinations receive requests, not files".into()),
    }
}

impl Destination {
    /// Delivers `local` as `remote` (a relative path with `/`), retrying transient failures;
    /// an SFTP session that failed is replaced by a new one before the next attempt.
    ///
    /// # Errors
    /// The last failure after the retries.
    pub async fn put(&mut self, local: &Path, remote: &str) -> Result<(), String> {
        const ATTEMPTS: u32 = 3;
        let mut delay = Duration::from_millis(500);
        let mut last = String::new();
        for attempt in 1..=ATTEMPTS {
            match self.put_once(local, remote).await {
                Ok(()) => return Ok(()),
                Err(e) => {
                    tracing::warn!(attempt, error = %e, remote, "delivering a file failed");
                    // A broken session is dropped, not closed: closing could wait on a dead peer.
                    if let Destination::Sftp { connection, .. } = self {
                        *connection = None;
                    }
                    last = e;
                }
            }
            if attempt < ATTEMPTS {
                tokio::time::sleep(delay).await;
                delay *= 4;
            }
        }
        Err(format!(
            "cannot deliver {remote} after {ATTEMPTS} attempts: {last}"
        ))
    }

    async fn put_once(&mut self, local: &Path, remote: &str) -> Result<(), String> {
        match self {
            Destination::Local { root } => {
                let target = root.join(remote);
                let folder = target
                    .parent()
                    .map(Path::to_path_buf)
                    .unwrap_or_else(|| root.clone());
                tokio::fs::create_dir_all(&folder)
                    .await
                    .map_err(|e| format!("cannot create {}: {e}", folder.display()))?;
                let name = target
                    .file_name()
                    .map(|n| n.to_string_lossy().into_owned())
                    .unwrap_or_default();
                let temporary = folder.join(format!(".{name}.part"));
                tokio::fs::copy(local, &temporary)
                    .await
                    .map_err(|e| format!("cannot write {}: {e}", temporary.display()))?;
                tokio::fs::rename(&temporary, &target)
                    .await
                    .map_err(|e| format!("cannot rename into {}: {e}", target.display()))
            }
            Destination::Sftp {
                connection,
                base,
                reopen,
            } => {
                if connection.is_none() {
                    *connection = Some(Box::new(reopen.connect().await?));
                }
                let Some(connection) = connection.as_deref() else {
                    unreachable!("connected above")
                };
                let full = if base.is_empty() {
                    remote.to_owned()
                } else {
                    format!("{base}/{remote}")
                };
                let (folder, name) = full.rsplit_once('/').unwrap_or(("", full.as_str()));
                let sftp = &connection.sftp;
                // Create each folder of the path; existing ones answer with an error we ignore.
                let mut path = String::new();
                for part in folder.split('/').filter(|p| !p.is_empty()) {
                    if !path.is_empty() || folder.starts_with('/') {
                        path.push('/');
                    }
                    path.push_str(part);
                    if !sftp.try_exists(path.clone()).await.unwrap_or(false) {
                        let _ = sftp.create_dir(path.clone()).await;
                    }
                }
                let prefix = if folder.is_empty() {
                    String::new()
                } else {
                    format!("{folder}/")
                };
                let temporary = format!("{prefix}.{name}.part");
                let mut source = tokio::fs::File::open(local)
                    .await
                    .map_err(|e| e.to_string())?;
                let mut file = sftp
                    .create(temporary.clone())
                    .await
                    .map_err(|e| format!("cannot create {temporary} on the SFTP server: {e}"))?;
                let mut buffer = vec![0u8; 256 * 1024];
                loop {
                    let n = source.read(&mut buffer).await.map_err(|e| e.to_string())?;
                    if n == 0 {
                        break;
                    }
                    file.write_all(&buffer[..n]).await.map_err(|e| {
                        format!("writing {temporary} on the SFTP server failed: {e}")
                    })?;
                }
                file.shutdown()
                    .await
                    .map_err(|e| format!("closing {temporary} failed: {e}"))?;
                if sftp.try_exists(full.clone()).await.unwrap_or(false) {
                    sftp.remove_file(full.clone())
                        .await
                        .map_err(|e| format!("cannot replace {full}: {e}"))?;
                }
                sftp.rename(temporary.clone(), full.clone())
                    .await
                    .map_err(|e| format!("cannot rename {temporary} to {full}: {e}"))
            }
            Destination::Store { store } => {
                let path = object_store::path::Path::from(remote);
                let mut writer = object_store::buffered::BufWriter::new(store.clone(), path);
                let mut source = tokio::fs::File::open(local)
                    .await
                    .map_err(|e| e.to_string())?;
                tokio::io::copy(&mut source, &mut writer)
                    .await
                    .map_err(|e| format!("uploading {remote} failed: {e}"))?;
                writer
                    .shutdown()
                    .await
                    .map_err(|e| format!("completing the upload of {remote} failed: {e}"))
            }
        }
    }

    /// Closes connections.
    pub async fn close(self) {
        if let Destination::Sftp {
            connection: Some(connection),
            ..
        } = self
        {
            connection.close().await;
        }
    }
}
