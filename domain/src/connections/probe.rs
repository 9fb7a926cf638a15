//! "Test connection": really reaches the platform with an account's credentials and sorts any
//! failure into a class the user can act on.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use object_store::{ObjectStore, ObjectStoreExt as _, PutPayload};
use serde::{Deserialize, Serialize};

use crate::catalog::{Spec, Transport};

/// What kind of problem stopped the test, so the user knows where to look.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FailureClass {
    /// The platform refused the credentials.
    Authentication,
    /// The credentials work but may not do what Ferry needs (write, list).
    Permission,
    /// The bucket, container, folder or endpoint does not exist.
    NotFound,
    /// The host could not be reached (name, address, port, TLS).
    Network,
    /// The platform did not answer in time.
    Timeout,
    /// The SFTP server's host key differs from the one pinned at the first test.
    HostKey,
    /// The account's settings cannot work (a malformed key or URL).
    Configuration,
    /// Anything else; the message says what the platform answered.
    Other,
}

impl FailureClass {
    pub fn title(self) -> &'static str {
        match self {
            FailureClass::Authentication => "Authentication failed",
            FailureClass::Permission => "Permission denied",
            FailureClass::NotFound => "Not found",
            FailureClass::Network => "Network error",
            FailureClass::Timeout => "Timed out",
            FailureClass::HostKey => "Host key mismatch",
            FailureClass::Configuration => "Invalid settings",
            FailureClass::Other => "Failed",
        }
    }
}

/// The result of a test, stored on the account and shown to the user.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProbeOutcome {
    /// `None` when the test succeeded.
    pub failure: Option<FailureClass>,
    pub message: String,
    /// The SSH host key fingerprint the server presented (SFTP), to pin on success.
    pub host_key: Option<String>,
}

impl ProbeOutcome {
    fn ok(message: impl Into<String>) -> ProbeOutcome {
        ProbeOutcome {
            failure: None,
            message: message.into(),
            host_key: None,
        }
    }

    fn failed(class: FailureClass, message: impl Into<String>) -> ProbeOutcome {
        ProbeOutcome {
            failure: Some(class),
            message: message.into(),
            host_key: None,
        }
    }

    pub fn succeeded(&self) -> bool {
        self.failure.is_none()
    }
}

/// What probes need besides the account: where local files go, how long to wait.
#[derive(Debug, Clone)]
pub struct ProbeSettings {
    /// The landing-zone folder that local-folder destinations write under.
    pub landing_root: PathBuf,
    pub timeout: Duration,
    /// The first wait before a streaming request is retried (doubled each attempt, jittered).
    pub retry_base: Duration,
}

/// Tests an account: credentials are all its fields, secrets opened.
pub async fn probe(
    spec: &Spec,
    credentials: &BTreeMap<String, String>,
    pinned_host_key: Option<&str>,
    settings: &ProbeSettings,
) -> ProbeOutcome {
    let work = async {
        match spec.transport {
            Transport::Local => probe_local(&settings.landing_root).await,
            Transport::Sftp => probe_sftp(credentials, pinned_host_key, settings.timeout).await,
            Transport::S3 | Transport::AzureBlob | Transport::Gcs => {
                probe_object_store(spec.transport, credentials, settings.timeout).await
            }
            Transport::Http => probe_http(spec, credentials, settings.timeout).await,
        }
    };
    // Every probe has its own timeouts; this bounds the whole test as a last resort.
    match tokio::time::timeout(settings.timeout * 3, work).await {
        Ok(outcome) => outcome,
        Err(_) => ProbeOutcome::failed(
            FailureClass::Timeout,
            format!(
                "no answer within {} seconds",
                (settings.timeout * 3).as_secs()
            ),
        ),
    }
}

fn field<'a>(credentials: &'a BTreeMap<String, String>, key: &str) -> &'a str {
    credentials.get(key).map_or("", |v| v.trim())
}

fn probe_name() -> String {
    format!(".ferry-probe-{}", uuid::Uuid::new_v4())
}

async fn probe_local(root: &Path) -> ProbeOutcome {
    let class_of = |e: &std::io::Error| match e.kind() {
        std::io::ErrorKind::PermissionDenied | std::io::ErrorKind::ReadOnlyFilesystem => {
            FailureClass::Permission
        }
        std::io::ErrorKind::NotFound => FailureClass::NotFound,
        _ => FailureClass::Other,
    };
    if let Err(e) = tokio::fs::create_dir_all(root).await {
        return ProbeOutcome::failed(
            class_of(&e),
            format!("cannot create the landing zone {}: {e}", root.display()),
        );
    }
    let probe = root.join(probe_name());
    if let Err(e) = tokio::fs::write(&probe, b"ferry probe").await {
        return ProbeOutcome::failed(
            class_of(&e),
            format!("cannot write in the landing zone {}: {e}", root.display()),
        );
    }
    if let Err(e) = tokio::fs::remove_file(&probe).await {
        return ProbeOutcome::failed(class_of(&e), format!("cannot delete the probe file: {e}"));
    }
    ProbeOutcome::ok(format!(
        "Wrote and deleted a probe file in the landing zone {}.",
        root.display()
    ))
}

/// Accepts the server's key when it matches the pinned one (or none is pinned yet) and
/// remembers what it saw.
pub struct HostKeyCheck {
    pinned: Option<String>,
    seen: Arc<Mutex<Option<String>>>,
}

impl russh::client::Handler for HostKeyCheck {
    type Error = russh::Error;

    async fn check_server_key(
        &mut self,
        key: &russh::keys::PublicKeyOrCertificate,
    ) -> Result<bool, Self::Error> {
        let public = match key {
            russh::keys::PublicKeyOrCertificate::PublicKey { key, .. } => key.clone(),
            russh::keys::PublicKeyOrCertificate::Certificate(cert) => {
                russh::keys::PublicKey::from(cert.public_key().clone())
            }
        };
        let fingerprint = public.fingerprint(russh::keys::HashAlg::Sha256).to_string();
        let accepted = self.pinned.as_ref().is_none_or(|p| *p == fingerprint);
        *self.seen.lock().expect("host key lock") = Some(fingerprint);
        Ok(accepted)
    }
}

/// An open SFTP session with the SSH connection that carries it.
pub struct SftpConnection {
    pub session: russh::client::Handle<HostKeyCheck>,
    pub sftp: russh_sftp::client::SftpSession,
    /// The fingerprint of the server's host key.
    pub host_key: Option<String>,
}

impl SftpConnection {
    /// Closes the SFTP session and the SSH connection.
    pub async fn close(self) {
        let _ = self.sftp.close().await;
        let _ = self
            .session
            .disconnect(russh::Disconnect::ByApplication, "", "en")
            .await;
    }
}

/// Connects to an SFTP account: SSH handshake (refusing a host key other than `pinned`),
/// authentication by key or password, the SFTP subsystem.
///
/// # Errors
/// A failed [`ProbeOutcome`] with the class of the problem.
pub async fn connect_sftp(
    credentials: &BTreeMap<String, String>,
    pinned: Option<&str>,
    timeout: Duration,
) -> Result<SftpConnection, ProbeOutcome> {
    let host = field(credentials, "host");
    let port: u16 = match field(credentials, "port") {
        "" => 22,
        text => match text.parse() {
            Ok(port) => port,
            Err(_) => {
                return Err(ProbeOutcome::failed(
                    FailureClass::Configuration,
                    format!("port {text:?} is not a number from 1 to 65535"),
                ));
            }
        },
    };
    let user = field(credentials, "username");
    let seen = Arc::new(Mutex::new(None));
    let handler = HostKeyCheck {
        pinned: pinned.map(str::to_owned),
        seen: seen.clone(),
    };
    let config = Arc::new(russh::client::Config {
        inactivity_timeout: Some(timeout),
        ..Default::default()
    });
    let connect = russh::client::connect(config, (host, port), handler);
    let connected = tokio::time::timeout(timeout, connect).await;
    let seen_key = || seen.lock().expect("host key lock").clone();
    let mut session = match connected {
        Err(_) => {
            return Err(ProbeOutcome::failed(
                FailureClass::Timeout,
                format!(
                    "{host}:{port} did not complete the SSH handshake within {} s",
                    timeout.as_secs()
                ),
            ));
        }
        Ok(Err(russh::Error::UnknownKey)) => {
            return Err(ProbeOutcome::failed(
                FailureClass::HostKey,
                format!(
                    "the server presented host key {} but this account pinned {}; if the server's key really changed, delete and re-create the account",
                    seen_key().unwrap_or_default(),
                    pinned.unwrap_or_default()
                ),
            ));
        }
        Ok(Err(russh::Error::IO(e))) => {
            return Err(ProbeOutcome::failed(
                FailureClass::Network,
                format!("cannot reach {host}:{port}: {e}"),
            ));
        }
        Ok(Err(e)) => {
            return Err(ProbeOutcome::failed(
                FailureClass::Network,
                format!("SSH handshake with {host}:{port} failed: {e}"),
            ));
        }
        Ok(Ok(session)) => session,
    };
    let host_key = seen_key();
    let password = field(credentials, "password");
    let private_key = credentials.get("private_key").map_or("", |k| k.trim());
    let mut authenticated = false;
    if !private_key.is_empty() {
        let key = match russh::keys::decode_secret_key(private_key, None) {
            Ok(key) => key,
            Err(e) => {
                return Err(ProbeOutcome::failed(
                    FailureClass::Configuration,
                    format!("the private key cannot be read: {e}"),
                ));
            }
        };
        let hash = session
            .best_supported_rsa_hash()
            .await
            .ok()
            .flatten()
            .flatten();
        let key = russh::keys::PrivateKeyWithHashAlg::new(Arc::new(key), hash);
        match session.authenticate_publickey(user, key).await {
            Ok(result) => authenticated = result.success(),
            Err(e) => {
                return Err(ProbeOutcome::failed(
                    FailureClass::Network,
                    format!("SSH error: {e}"),
                ));
            }
        }
    }
    if !authenticated && !password.is_empty() {
        match session.authenticate_password(user, password).await {
            Ok(result) => authenticated = result.success(),
            Err(e) => {
                return Err(ProbeOutcome::failed(
                    FailureClass::Network,
                    format!("SSH error: {e}"),
                ));
            }
        }
    }
    if !authenticated {
        return Err(ProbeOutcome::failed(
            FailureClass::Authentication,
            format!("{host} refused the credentials for user {user:?}"),
        ));
    }
    let sftp = async {
        let channel = session
            .channel_open_session()
            .await
            .map_err(|e| e.to_string())?;
        channel
            .request_subsystem(true, "sftp")
            .await
            .map_err(|e| e.to_string())?;
        russh_sftp::client::SftpSession::new(channel.into_stream())
            .await
            .map_err(|e| e.to_string())
    };
    let sftp = match tokio::time::timeout(timeout, sftp).await {
        Err(_) => {
            return Err(ProbeOutcome::failed(
                FailureClass::Timeout,
                "the SFTP subsystem did not start in time",
            ));
        }
        Ok(Err(e)) => {
            return Err(ProbeOutcome::failed(
                FailureClass::Permission,
                format!("the server does not offer SFTP to this user: {e}"),
            ));
        }
        Ok(Ok(sftp)) => sftp,
    };
    Ok(SftpConnection {
        session,
        sftp,
        host_key,
    })
}

async fn probe_sftp(
    credentials: &BTreeMap<String, String>,
    pinned: Option<&str>,
    timeout: Duration,
) -> ProbeOutcome {
    let host = field(credentials, "host");
    let port = field(credentials, "port");
    let user = field(credentials, "username");
    let folder = match field(credentials, "base_folder") {
        "" => ".",
        f => f,
    };
    let connection = match connect_sftp(credentials, pinned, timeout).await {
        Ok(connection) => connection,
        Err(outcome) => return outcome,
    };
    let sftp = &connection.sftp;
    let host_key = connection.host_key.clone();
    let outcome = match sftp.metadata(folder).await {
        Ok(meta) if meta.is_dir() => ProbeOutcome::ok(format!(
            "Connected to {host}:{port} as {user}; folder {folder:?} exists."
        )),
        Ok(_) => ProbeOutcome::failed(
            FailureClass::NotFound,
            format!("{folder:?} on {host} is a file, not a folder"),
        ),
        Err(russh_sftp::client::error::Error::Status(status)) => {
            use russh_sftp::protocol::StatusCode;
            let class = match status.status_code {
                StatusCode::NoSuchFile => FailureClass::NotFound,
                StatusCode::PermissionDenied => FailureClass::Permission,
                _ => FailureClass::Other,
            };
            ProbeOutcome::failed(
                class,
                format!("folder {folder:?} on {host}: {}", status.error_message),
            )
        }
        Err(e) => ProbeOutcome::failed(
            FailureClass::Other,
            format!("folder {folder:?} on {host}: {e}"),
        ),
    };
    connection.close().await;
    ProbeOutcome {
        host_key,
        ..outcome
    }
}

pub fn object_store_for(
    transport: Transport,
    credentials: &BTreeMap<String, String>,
    timeout: Duration,
) -> Result<(Arc<dyn ObjectStore>, String), String> {
    let client = object_store::ClientOptions::new()
        .with_timeout(timeout)
        .with_connect_timeout(timeout)
        .with_allow_http(true);
    // A test should answer quickly and honestly: no silent retries.
    let retry = object_store::RetryConfig {
        max_retries: 0,
        retry_timeout: timeout,
        ..Default::default()
    };
    match transport {
        Transport::S3 => {
            let bucket = field(credentials, "bucket");
            let mut builder = object_store::aws::AmazonS3Builder::new()
                .with_bucket_name(bucket)
                .with_region(match field(credentials, "region") {
                    "" => "us-east-1",
                    r => r,
                })
                .with_access_key_id(field(credentials, "access_key_id"))
                .with_secret_access_key(field(credentials, "secret_access_key"))
                .with_client_options(client)
                .with_retry(retry);
            let endpoint = field(credentials, "endpoint");
            if !endpoint.is_empty() {
                builder = builder
                    .with_endpoint(endpoint)
                    .with_virtual_hosted_style_request(false);
            }
            let store = builder.build().map_err(|e| e.to_string())?;
            Ok((Arc::new(store), format!("bucket {bucket:?}")))
        }
        Transport::AzureBlob => {
            let container = field(credentials, "container");
            let mut builder = object_store::azure::MicrosoftAzureBuilder::new()
                .with_container_name(container)
                .with_client_options(client)
                .with_retry(retry);
            let text = field(credentials, "connection_string");
            if let Some(query) = text
                .strip_prefix("https://")
                .and_then(|t| t.split_once('?'))
            {
                // A SAS URL: https://account.blob.core.windows.net/container?sv=…
                let account = query.0.split('.').next().unwrap_or_default();
                builder = builder
                    .with_account(account)
                    .with_config(object_store::azure::AzureConfigKey::SasKey, query.1);
            } else {
                for part in text.split(';').filter(|p| !p.is_empty()) {
                    let Some((key, value)) = part.split_once('=') else {
                        return Err(format!("{part:?} is not Key=Value"));
                    };
                    builder = match key.trim() {
                        "AccountName" => builder.with_account(value),
                        "AccountKey" => builder.with_access_key(value),
                        "BlobEndpoint" => builder.with_endpoint(value.to_owned()),
                        "SharedAccessSignature" => {
                            builder.with_config(object_store::azure::AzureConfigKey::SasKey, value)
                        }
                        _ => builder,
                    };
                }
            }
            let store = builder.build().map_err(|e| e.to_string())?;
            Ok((Arc::new(store), format!("container {container:?}")))
        }
        Transport::Gcs => {
            let bucket = field(credentials, "bucket");
            let store = object_store::gcp::GoogleCloudStorageBuilder::new()
                .with_bucket_name(bucket)
                .with_service_account_key(field(credentials, "service_account_json"))
                .with_client_options(client)
                .with_retry(retry)
                .build()
                .map_err(|e| e.to_string())?;
            Ok((Arc::new(store), format!("bucket {bucket:?}")))
        }
        _ => Err("not an object store".into()),
    }
}

/// Sorts an object-store error: the typed variants first, then the words of its causes.
fn classify_object_store(error: &object_store::Error) -> FailureClass {
    // S3 and Azure answer 403 both for a bad key or signature and for a missing permission.
    // Azure's "failed to authenticate" message is the same whether the code says
    // AuthenticationFailed (Azure) or AuthorizationFailure (Azurite).
    let text = error_chain(error);
    if [
        "InvalidAccessKeyId",
        "SignatureDoesNotMatch",
        "InvalidToken",
        "ExpiredToken",
        "AuthenticationFailed",
        "Server failed to authenticate the request",
    ]
    .iter()
    .any(|code| text.contains(code))
    {
        return FailureClass::Authentication;
    }
    match error {
        object_store::Error::NotFound { .. } => return FailureClass::NotFound,
        object_store::Error::Unauthenticated { .. } => return FailureClass::Authentication,
        object_store::Error::PermissionDenied { .. } => return FailureClass::Permission,
        _ => {}
    }
    classify_text(&text)
}

fn error_chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

fn classify_text(text: &str) -> FailureClass {
    let lower = text.to_lowercase();
    // A status code counts only as a number of its own: port 40409 in a URL is not a 404.
    let has = |words: &[&str]| {
        words.iter().any(|w| {
            if !w.bytes().all(|b| b.is_ascii_digit()) {
                return lower.contains(w);
            }
            lower.match_indices(w).any(|(at, _)| {
                let before = lower[..at].chars().next_back();
                let after = lower[at + w.len()..].chars().next();
                !before.is_some_and(|c| c.is_ascii_digit())
                    && !after.is_some_and(|c| c.is_ascii_digit())
            })
        })
    };
    if has(&["timed out", "timeout", "deadline"]) {
        FailureClass::Timeout
    } else if has(&["nosuchbucket", "containernotfound", "not found", "404"]) {
        FailureClass::NotFound
    } else if has(&[
        "invalidaccesskeyid",
        "signaturedoesnotmatch",
        "authenticationfailed",
        "unauthenticated",
        "401",
        "invalid_grant",
    ]) {
        FailureClass::Authentication
    } else if has(&["accessdenied", "authorizationfailure", "forbidden", "403"]) {
        FailureClass::Permission
    } else if has(&[
        "connect",
        "dns",
        "resolve",
        "connection refused",
        "error sending request",
        "tls",
        "certificate",
    ]) {
        FailureClass::Network
    } else {
        FailureClass::Other
    }
}

async fn probe_object_store(
    transport: Transport,
    credentials: &BTreeMap<String, String>,
    timeout: Duration,
) -> ProbeOutcome {
    let (store, place) = match object_store_for(transport, credentials, timeout) {
        Ok(store) => store,
        Err(e) => return ProbeOutcome::failed(FailureClass::Configuration, e),
    };
    // Listing first tells a missing bucket apart from a write that is not allowed.
    if let Err(e) = store.list_with_delimiter(None).await {
        return ProbeOutcome::failed(
            classify_object_store(&e),
            format!("listing {place} failed: {e}"),
        );
    }
    let path = object_store::path::Path::from(probe_name());
    if let Err(e) = store
        .put(&path, PutPayload::from_static(b"ferry probe"))
        .await
    {
        return ProbeOutcome::failed(
            classify_object_store(&e),
            format!("writing a probe object to {place} failed: {e}"),
        );
    }
    if let Err(e) = store.delete(&path).await {
        return ProbeOutcome::failed(
            classify_object_store(&e),
            format!("the probe object was written to {place} but deleting it failed: {e}"),
        );
    }
    ProbeOutcome::ok(format!("Wrote and deleted a probe object in {place}."))
}

/// Renders one of the spec's templates with the account's fields.
pub fn render(template: &str, credentials: &BTreeMap<String, String>) -> Result<String, String> {
    let environment = minijinja::Environment::new();
    environment
        .render_str(template, minijinja::context! { account => credentials })
        .map_err(|e| e.to_string())
}

async fn probe_http(
    spec: &Spec,
    credentials: &BTreeMap<String, String>,
    timeout: Duration,
) -> ProbeOutcome {
    let Some(http) = &spec.http else {
        return ProbeOutcome::failed(FailureClass::Configuration, "the spec has no requests");
    };
    let rendered = (|| {
        let path = render(&http.auth_check.path, credentials)?;
        let header = render(&http.auth.header, credentials)?;
        let value = render(&http.auth.value, credentials)?;
        let body = http
            .auth_check
            .body
            .as_ref()
            .map(|b| render(b, credentials))
            .transpose()?;
        Ok::<_, String>((path, header, value, body))
    })();
    let (path, header, value, body) = match rendered {
        Ok(parts) => parts,
        Err(e) => return ProbeOutcome::failed(FailureClass::Configuration, e),
    };
    let url = if path.starts_with("http://") || path.starts_with("https://") {
        path
    } else {
        format!("{}{path}", http.base_url)
    };
    let client = match reqwest::Client::builder().timeout(timeout).build() {
        Ok(client) => client,
        Err(e) => return ProbeOutcome::failed(FailureClass::Other, e.to_string()),
    };
    let method = reqwest::Method::from_bytes(http.auth_check.method.as_str().as_bytes())
        .expect("spec methods are valid HTTP methods");
    let mut request = client
        .request(method, &url)
        .header(header.as_str(), value.as_str());
    if let Some(body) = body {
        request = request
            .header("Content-Type", "application/json")
            .body(body);
    }
    match request.send().await {
        Err(e) if e.is_timeout() => ProbeOutcome::failed(
            FailureClass::Timeout,
            format!("{url} did not answer within {} s", timeout.as_secs()),
        ),
        Err(e) if e.is_builder() => ProbeOutcome::failed(
            FailureClass::Configuration,
            format!("{url}: {}", error_chain(&e)),
        ),
        Err(e) => ProbeOutcome::failed(
            FailureClass::Network,
            format!("cannot reach {url}: {}", error_chain(&e)),
        ),
        Ok(response) => {
            let status = response.status();
            let class = match status.as_u16() {
                200..=299 => None,
                401 => Some(FailureClass::Authentication),
                403 => Some(FailureClass::Permission),
                404 | 410 => Some(FailureClass::NotFound),
                408 | 504 => Some(FailureClass::Timeout),
                _ => Some(FailureClass::Other),
            };
            match class {
                None => ProbeOutcome::ok(format!(
                    "{} answered {status} to the authentication check.",
                    spec.name
                )),
                Some(class) => {
                    let text = response.text().await.unwrap_or_default();
                    let excerpt: String = text.chars().take(300).collect();
                    ProbeOutcome::failed(class, format!("{url} answered {status}: {excerpt}"))
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {

    #[test]
    fn a_port_number_is_not_a_status_code() {
        assert_eq!(
            classify_text("GET http://127.0.0.1:40409/bucket: error sending request"),
            FailureClass::Network
        );
        assert_eq!(
            classify_text("HTTP status 404 Not Found"),
            FailureClass::NotFound
        );
        assert_eq!(classify_text("server said 403"), FailureClass::Permission);
    }

    use super::*;

    #[test]
    fn error_words_map_to_classes() {
        assert_eq!(
            classify_text("SignatureDoesNotMatch"),
            FailureClass::Authentication
        );
        assert_eq!(
            classify_text("NoSuchBucket: the bucket does not exist"),
            FailureClass::NotFound
        );
        assert_eq!(
            classify_text("error sending request: connection refused"),
            FailureClass::Network
        );
        assert_eq!(classify_text("operation timed out"), FailureClass::Timeout);
        assert_eq!(classify_text("AccessDenied"), FailureClass::Permission);
    }
}
