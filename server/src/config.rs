//! Configuration from the environment (and an optional `.env` file), checked before start-up.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use leptos::config::LeptosOptions;

/// Where the data folder is when `FERRY_DATA_DIR` is not set.
pub const DEFAULT_DATA_DIR: &str = "./data";
/// The SQLite file inside the data folder used when `DATABASE_URL` is not set.
pub const DEFAULT_DATABASE_FILE: &str = "ferry.db";

/// Settings that cannot work, each with a message naming the variable to fix.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot use the data folder {path} (FERRY_DATA_DIR): {reason}")]
    DataDir { path: String, reason: String },
    #[error("LEPTOS_SITE_ADDR must be an address like 127.0.0.1:3000 (got {0:?})")]
    SiteAddr(String),
    #[error("{0}")]
    Database(String),
    #[error("invalid Leptos settings: {0}")]
    Leptos(String),
    #[error("cannot read the .env file: {0}")]
    DotEnv(String),
    #[error("the destination catalog is invalid:\n  {}", .0.join("\n  "))]
    Catalog(Vec<String>),
    #[error("cannot use the secret key: {0}")]
    SecretKey(String),
    #[error("{name} must be {expected} (got {value:?})")]
    Invalid {
        name: &'static str,
        expected: &'static str,
        value: String,
    },
}

/// Everything the server needs to start.
#[derive(Debug, Clone)]
pub struct Config {
    pub data_dir: PathBuf,
    pub database_url: String,
    pub leptos_options: LeptosOptions,
    pub sessions: SessionSettings,
    /// The largest profile file an upload may send, in bytes (FERRY_IMPORT_MAX_MB).
    pub import_max_bytes: u64,
    /// Extra destination specs (FERRY_DESTINATIONS_DIR).
    pub destinations_dir: Option<PathBuf>,
    /// API roots of HTTP destinations by spec id (FERRY_BASE_URL_<ID>).
    pub base_urls: std::collections::BTreeMap<String, String>,
    /// The key sealing account secrets, Base64 (FERRY_SECRET_KEY); else a key file.
    pub secret_key: Option<String>,
    /// Where local-folder destinations write (FERRY_LANDING_ZONE).
    pub landing_zone: PathBuf,
    /// How many export runs this process works on at once (FERRY_EXPORT_WORKERS).
    pub export_workers: usize,
    /// How long a worker holds a run before another may take it over (FERRY_RUN_LEASE_SECONDS).
    pub run_lease_seconds: i64,
}

/// Uploads are capped at this many megabytes unless FERRY_IMPORT_MAX_MB says otherwise.
pub const DEFAULT_IMPORT_MAX_MB: u64 = 1024;

/// How sign-in sessions behave.
#[derive(Debug, Clone, Copy)]
pub struct SessionSettings {
    /// Signed out after this long without a request.
    pub idle: chrono::Duration,
    /// Signed out after this long, however active.
    pub absolute: chrono::Duration,
    /// Send the cookie over HTTPS only; on when Ferry is served behind TLS.
    pub secure_cookie: bool,
}

impl Default for SessionSettings {
    fn default() -> Self {
        Self {
            idle: chrono::Duration::minutes(30),
            absolute: chrono::Duration::hours(8),
            secure_cookie: false,
        }
    }
}

impl Config {
    /// Reads `.env` if present, then the environment.
    ///
    /// # Errors
    /// A [`ConfigError`] naming the setting that is wrong.
    pub fn from_env() -> Result<Self, ConfigError> {
        match dotenvy::dotenv() {
            Ok(_) => {}
            Err(e) if e.not_found() => {}
            Err(e) => return Err(ConfigError::DotEnv(e.to_string())),
        }
        let var = |name: &str| std::env::var(name).ok().filter(|v| !v.trim().is_empty());
        let mut config = Self::from_values(
            var("FERRY_DATA_DIR").as_deref(),
            var("DATABASE_URL").as_deref(),
            var("LEPTOS_SITE_ADDR").as_deref(),
        )?;
        let minutes =
            |name: &'static str, value: Option<String>, default: chrono::Duration| match value {
                None => Ok(default),
                Some(v) => v
                    .trim()
                    .parse::<u32>()
                    .ok()
                    .filter(|m| *m > 0)
                    .map(|m| chrono::Duration::minutes(i64::from(m)))
                    .ok_or(ConfigError::Invalid {
                        name,
                        expected: "a whole number of minutes above 0",
                        value: v,
                    }),
            };
        let defaults = SessionSettings::default();
        config.sessions = SessionSettings {
            idle: minutes(
                "FERRY_SESSION_IDLE_MINUTES",
                var("FERRY_SESSION_IDLE_MINUTES"),
                defaults.idle,
            )?,
            absolute: minutes(
                "FERRY_SESSION_MAX_MINUTES",
                var("FERRY_SESSION_MAX_MINUTES"),
                defaults.absolute,
            )?,
            secure_cookie: match var("FERRY_SECURE_COOKIES")
                .as_deref()
                .map(str::to_lowercase)
                .as_deref()
            {
                None | Some("false" | "0" | "no") => false,
                Some("true" | "1" | "yes") => true,
                Some(other) => {
                    return Err(ConfigError::Invalid {
                        name: "FERRY_SECURE_COOKIES",
                        expected: "true or false",
                        value: other.to_owned(),
                    });
                }
            },
        };
        if let Some(value) = var("FERRY_IMPORT_MAX_MB") {
            config.import_max_bytes = value
                .trim()
                .parse::<u64>()
                .ok()
                .filter(|mb| (1..=1_048_576).contains(mb))
                .map(|mb| mb * 1024 * 1024)
                .ok_or(ConfigError::Invalid {
                    name: "FERRY_IMPORT_MAX_MB",
                    expected: "a whole number of megabytes from 1 to 1048576",
                    value,
                })?;
        }
        if let Some(value) = var("FERRY_EXPORT_WORKERS") {
            config.export_workers = value
                .trim()
                .parse::<usize>()
                .ok()
                .filter(|n| (1..=64).contains(n))
                .ok_or(ConfigError::Invalid {
                    name: "FERRY_EXPORT_WORKERS",
                    expected: "a whole number from 1 to 64",
                    value,
                })?;
        }
        if let Some(value) = var("FERRY_RUN_LEASE_SECONDS") {
            config.run_lease_seconds = value
                .trim()
                .parse::<i64>()
                .ok()
                .filter(|n| (2..=3600).contains(n))
                .ok_or(ConfigError::Invalid {
                    name: "FERRY_RUN_LEASE_SECONDS",
                    expected: "a whole number of seconds from 2 to 3600",
                    value,
                })?;
        }
        config.destinations_dir = var("FERRY_DESTINATIONS_DIR").map(PathBuf::from);
        config.secret_key = var("FERRY_SECRET_KEY");
        if let Some(dir) = var("FERRY_LANDING_ZONE") {
            config.landing_zone = PathBuf::from(dir);
        }
        for (name, value) in std::env::vars() {
            if let Some(id) = name.strip_prefix("FERRY_BASE_URL_")
                && !value.trim().is_empty()
            {
                config
                    .base_urls
                    .insert(id.to_lowercase(), value.trim().to_owned());
            }
        }
        Ok(config)
    }

    /// The destination catalog, the key for account secrets and the probe settings. The key
    /// comes from FERRY_SECRET_KEY, else from `secret.key` in the data folder, created on the
    /// first start with mode 0600.
    ///
    /// # Errors
    /// [`ConfigError::Catalog`] listing every broken spec, [`ConfigError::SecretKey`].
    pub fn connectors(&self) -> Result<domain::connections::Connectors, ConfigError> {
        let catalog =
            domain::catalog::Catalog::load(self.destinations_dir.as_deref(), &self.base_urls)
                .map_err(|errors| {
                    ConfigError::Catalog(errors.iter().map(ToString::to_string).collect())
                })?;
        let key = match &self.secret_key {
            Some(text) => domain::secrets::SecretKey::from_base64(text)
                .map_err(|e| ConfigError::SecretKey(format!("FERRY_SECRET_KEY: {e}")))?,
            None => domain::secrets::SecretKey::load_or_create(&self.data_dir.join("secret.key"))
                .map_err(|e| ConfigError::SecretKey(e.to_string()))?,
        };
        Ok(domain::connections::Connectors {
            catalog: std::sync::Arc::new(catalog),
            key,
            probe: domain::connections::probe::ProbeSettings {
                landing_root: self.landing_zone.clone(),
                timeout: std::time::Duration::from_secs(15),
                retry_base: std::time::Duration::from_secs(1),
            },
        })
    }

    /// Builds a configuration from explicit values (`None` = the default).
    ///
    /// # Errors
    /// As [`Config::from_env`].
    pub fn from_values(
        data_dir: Option<&str>,
        database_url: Option<&str>,
        site_addr: Option<&str>,
    ) -> Result<Self, ConfigError> {
        let data_dir = PathBuf::from(data_dir.unwrap_or(DEFAULT_DATA_DIR));
        let database_url = match database_url {
            Some(url) => url.to_owned(),
            None => domain::db::sqlite_file_url(&data_dir.join(DEFAULT_DATABASE_FILE)),
        };
        domain::db::Backend::from_url(&database_url)
            .map_err(|e| ConfigError::Database(e.to_string()))?;
        let site_addr = match site_addr {
            Some(addr) => Some(
                addr.trim()
                    .parse::<SocketAddr>()
                    .map_err(|_| ConfigError::SiteAddr(addr.to_owned()))?,
            ),
            None => None,
        };
        let mut leptos_options = leptos::config::get_configuration(None)
            .map_err(|e| ConfigError::Leptos(e.to_string()))?
            .leptos_options;
        if let Some(addr) = site_addr {
            leptos_options.site_addr = addr;
        }
        // A build by cargo-leptos with hash-files writes hash.txt beside the binary; use the
        // hashed asset names whenever it is there, unless LEPTOS_HASH_FILES says otherwise.
        if std::env::var_os("LEPTOS_HASH_FILES").is_none() {
            leptos_options.hash_files = hash_file_beside_binary(&leptos_options).is_file();
        }
        Ok(Self {
            database_url,
            leptos_options,
            sessions: SessionSettings::default(),
            import_max_bytes: DEFAULT_IMPORT_MAX_MB * 1024 * 1024,
            destinations_dir: None,
            base_urls: std::collections::BTreeMap::new(),
            secret_key: None,
            landing_zone: data_dir.join("landing"),
            export_workers: 2,
            run_lease_seconds: 60,
            data_dir,
        })
    }

    /// Creates the data folder if needed and proves it is writable.
    ///
    /// # Errors
    /// [`ConfigError::DataDir`] with the operating system's reason.
    pub fn prepare_data_dir(&self) -> Result<(), ConfigError> {
        let fail = |e: std::io::Error| ConfigError::DataDir {
            path: self.data_dir.display().to_string(),
            reason: e.to_string(),
        };
        std::fs::create_dir_all(&self.data_dir).map_err(fail)?;
        let probe = self.data_dir.join(".ferry-write-test");
        std::fs::write(&probe, b"ok").map_err(fail)?;
        std::fs::remove_file(&probe).map_err(fail)?;
        Ok(())
    }

    /// The database URL with any password hidden, for logs and messages.
    pub fn database_display(&self) -> String {
        domain::db::redact_url(&self.database_url)
    }
}

fn hash_file_beside_binary(options: &LeptosOptions) -> PathBuf {
    std::env::current_exe()
        .ok()
        .and_then(|exe| exe.parent().map(Path::to_path_buf))
        .unwrap_or_default()
        .join(options.hash_file.as_ref())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_put_an_sqlite_file_in_the_data_folder() {
        let config = Config::from_values(None, None, None).unwrap();
        assert_eq!(config.data_dir, PathBuf::from("./data"));
        assert_eq!(config.database_url, "sqlite://./data/ferry.db?mode=rwc");
    }

    #[test]
    fn the_data_folder_moves_the_default_database_with_it() {
        let config = Config::from_values(Some("/var/lib/ferry"), None, None).unwrap();
        assert_eq!(
            config.database_url,
            "sqlite:///var/lib/ferry/ferry.db?mode=rwc"
        );
    }

    #[test]
    fn a_malformed_database_url_names_the_variable() {
        let err = Config::from_values(None, Some("mysql://x"), None).unwrap_err();
        assert!(err.to_string().contains("DATABASE_URL"), "{err}");
    }

    #[test]
    fn a_malformed_site_address_names_the_variable() {
        let err = Config::from_values(None, None, Some("localhost:port")).unwrap_err();
        assert_eq!(
            err.to_string(),
            "LEPTOS_SITE_ADDR must be an address like 127.0.0.1:3000 (got \"localhost:port\")"
        );
        let ok = Config::from_values(None, None, Some("0.0.0.0:8080")).unwrap();
        assert_eq!(ok.leptos_options.site_addr.port(), 8080);
    }

    #[test]
    fn an_unwritable_data_folder_is_reported_with_its_path() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("not-a-folder");
        std::fs::write(&file, b"x").unwrap();
        let config = Config::from_values(Some(file.to_str().unwrap()), None, None).unwrap();
        let err = config.prepare_data_dir().unwrap_err().to_string();
        assert!(err.starts_with("cannot use the data folder"), "{err}");
        assert!(err.contains("not-a-folder"), "{err}");
    }
}
