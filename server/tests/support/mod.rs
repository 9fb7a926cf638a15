//! Starts the real router on 127.0.0.1:0 against a fresh database, for HTTP-level tests.

#![allow(dead_code)]

use std::path::Path;

use app::state::AppState;
use domain::testing::TestDb;
use leptos::config::LeptosOptions;
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
    let site = tempfile::tempdir().unwrap();
    write_site(site.path());
    let options = LeptosOptions::builder()
        .output_name("ferry")
        .site_root(site.path().to_str().unwrap())
        .site_pkg_dir("pkg")
        .hash_files(hash_files)
        .build();
    domain::instance::ensure(&db.db).await.unwrap();
    let state = AppState {
        leptos_options: options,
        db: db.db.clone(),
    };
    let listener = server::startup::bind("127.0.0.1:0".parse().unwrap())
        .await
        .unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let (stop, stopped) = oneshot::channel::<()>();
    tokio::spawn(server::startup::serve(listener, state, async {
        stopped.await.ok();
    }));
    let client = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    TestServer {
        base,
        client,
        db,
        site,
        _stop: stop,
    }
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
