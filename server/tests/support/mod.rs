//! Starts the real router on 127.0.0.1:0 against a fresh database, for HTTP-level tests.

#![allow(dead_code)]

use std::path::Path;

use app::state::AppState;
use domain::testing::TestDb;
use leptos::config::LeptosOptions;
use server::config::SessionSettings;
use tokio::sync::oneshot;

/// A running server; it stops when dropped.
pub struct TestServer {
    pub base: String,
    pub client: reqwest::Client,
    pub db: TestDb,
    pub site: tempfile::TempDir,
    _stop: oneshot::Sender<()>,
}

impl TestServer {
    pub fn url(&self, path: &str) -> String {
        format!("{}{}", self.base, path)
    }
}

/// Serves the app on a free port over `db`, with a site folder holding a fake WASM bundle.
pub async fn spawn(db: TestDb, hash_files: bool) -> TestServer {
    spawn_with(db, hash_files, SessionSettings::default()).await
}

/// As [`spawn`], with the given session limits.
pub async fn spawn_with(db: TestDb, hash_files: bool, sessions: SessionSettings) -> TestServer {
    let site = tempfile::tempdir().unwrap();
    write_site(site.path());
    let options = LeptosOptions::builder()
        .output_name("ferry")
        .site_root(site.path().to_str().unwrap())
        .site_pkg_dir("pkg")
        .hash_files(hash_files)
        .build();
    domain::instance::ensure(&db.db).await.unwrap();
    domain::access::roles::ensure_built_ins(&db.db)
        .await
        .unwrap();
    let state = AppState {
        leptos_options: options,
        db: db.db.clone(),
        session_max_age: sessions.absolute,
        import_max_bytes: 64 * 1024,
        connectors: connectors(&site.path().join("landing")),
    };
    let listener = server::startup::bind("127.0.0.1:0".parse().unwrap())
        .await
        .unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let (stop, stopped) = oneshot::channel::<()>();
    tokio::spawn(server::startup::serve(listener, state, sessions, async {
        stopped.await.ok();
    }));
    let client = client();
    TestServer {
        base,
        client,
        db,
        site,
        _stop: stop,
    }
}

/// The built-in catalog with a fresh key; local-folder files go to a folder of the site.
fn connectors(landing: &Path) -> domain::connections::Connectors {
    domain::testing::connectors(landing)
}

fn write_site(root: &Path) {
    let pkg = root.join("pkg");
    std::fs::create_dir_all(&pkg).unwrap();
    // Large and repetitive enough that the compression layer engages.
    std::fs::write(pkg.join("ferry.wasm"), b"\0asm".repeat(4096)).unwrap();
    std::fs::write(
        pkg.join("ferry.css"),
        b"body { color: black; }\n".repeat(64),
    )
    .unwrap();
}

/// A client with its own cookie jar, like one browser.
pub fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .cookie_store(true)
        // A stuck request fails its test with a message instead of hanging the suite.
        .timeout(std::time::Duration::from_secs(30))
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
}

/// A password that passes the rules, shared by the tests' users.
pub const PASSWORD: &str = "harbour lantern ferry";

/// Creates a user holding one role (by name) and returns their public id.
pub async fn create_user(
    db: &domain::db::DatabaseConnection,
    email: &str,
    role: Option<&str>,
) -> String {
    let mut role_ids = Vec::new();
    if let Some(role) = role {
        role_ids.push(
            domain::access::roles::find_by_name(db, role)
                .await
                .unwrap()
                .public_id,
        );
    }
    let new = domain::access::users::NewUser {
        email: email.into(),
        display_name: String::new(),
        password: PASSWORD.into(),
        role_ids,
    };
    domain::access::users::create(db, new)
        .await
        .unwrap()
        .public_id
}

impl TestServer {
    /// Signs in with `client`; returns the response status.
    pub async fn login(
        &self,
        client: &reqwest::Client,
        email: &str,
        password: &str,
    ) -> reqwest::Response {
        client
            .post(self.url("/api/auth/login"))
            .form(&[("email", email), ("password", password)])
            .send()
            .await
            .unwrap()
    }

    /// The HTML of a page as `client` sees it, with Leptos's `<!>` text-node markers removed so
    /// that adjacent text reads as one sentence.
    pub async fn page_html(&self, client: &reqwest::Client, path: &str) -> String {
        let response = client.get(self.url(path)).send().await.unwrap();
        response.text().await.unwrap().replace("<!>", "")
    }

    /// The signed-in user's email as the server sees it, or None.
    pub async fn whoami(&self, client: &reqwest::Client) -> Option<String> {
        let body = client
            .post(self.url("/api/auth/me"))
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        let value: serde_json::Value = serde_json::from_str(&body).unwrap();
        value
            .get("email")
            .and_then(|e| e.as_str())
            .map(str::to_owned)
    }
}

impl TestServer {
    /// A browser-like client signed in as a new Administrator.
    pub async fn admin_client(&self) -> reqwest::Client {
        create_user(&self.db.db, "root@example.com", Some("Administrator")).await;
        let browser = client();
        let response = self.login(&browser, "root@example.com", PASSWORD).await;
        assert!(response.status().is_success() || response.status().is_redirection());
        browser
    }
}
