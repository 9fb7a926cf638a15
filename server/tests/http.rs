//! HTTP-level tests: the real router on a free port with a fresh SQLite database (and the
//! same checks on PostgreSQL when the test command started one).

mod support;

use domain::testing;
use http::{StatusCode, header};

#[tokio::test]
async fn the_home_page_is_server_rendered_and_loads_the_wasm_bundle() {
    let app = support::spawn(testing::sqlite().await, false).await;
    // A browser asks for HTML; the 302 is for it (script clients get a redirect header).
    let anonymous = app
        .client
        .get(app.url("/"))
        .header(header::ACCEPT, "text/html")
        .send()
        .await
        .unwrap();
    assert_eq!(
        anonymous.status(),
        StatusCode::FOUND,
        "anonymous visitors are sent to sign in"
    );
    assert_eq!(anonymous.headers()[header::LOCATION], "/login");

    let browser = app.admin_client().await;
    let response = browser.get(app.url("/")).send().await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let content_type = response.headers()[header::CONTENT_TYPE]
        .to_str()
        .unwrap()
        .to_owned();
    assert!(content_type.starts_with("text/html"), "{content_type}");
    let html = response.text().await.unwrap();
    assert!(html.contains("<h1>Welcome to Ferry</h1>"), "{html}");
    assert!(
        html.contains("/pkg/ferry.wasm"),
        "the page must load the WASM bundle"
    );
    assert!(
        html.contains(r#"href="/pkg/ferry.css""#),
        "the page must load the stylesheet"
    );
    // The status panel is rendered on the server, not left for the browser.
    assert!(
        html.contains(r#"data-testid="status-database">SQLite<"#),
        "{html}"
    );
}

#[tokio::test]
async fn an_unknown_path_is_a_404_page() {
    let app = support::spawn(testing::sqlite().await, false).await;
    let browser = app.admin_client().await;
    let response = browser
        .get(app.url("/destinations/nowhere"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::NOT_FOUND);
    let html = response.text().await.unwrap();
    assert!(html.contains("Page not found"), "{html}");
    assert!(
        html.contains("/pkg/ferry.wasm"),
        "the 404 page hydrates like any other"
    );
}

#[tokio::test]
async fn every_navigation_area_has_a_page() {
    let app = support::spawn(testing::sqlite().await, false).await;
    let browser = app.admin_client().await;
    for (path, heading) in [
        ("/destinations/catalog", "Destination catalog"),
        ("/destinations/browse", "Dataflows"),
        ("/destinations/accounts", "Accounts"),
        ("/segments", "Segments"),
        ("/admin", "Administration"),
    ] {
        let response = browser.get(app.url(path)).send().await.unwrap();
        assert_eq!(response.status(), StatusCode::OK, "{path}");
        let html = response.text().await.unwrap();
        assert!(
            html.contains(&format!("<h1>{heading}</h1>")),
            "{path}: {html}"
        );
    }
}

#[tokio::test]
async fn the_status_server_function_reads_each_database() {
    for db in testing::all().await {
        let label = db.label;
        let expected = if label == "postgres" {
            "PostgreSQL"
        } else {
            "SQLite"
        };
        let app = support::spawn(db, false).await;
        let anonymous = app
            .client
            .post(app.url("/api/system/status"))
            .send()
            .await
            .unwrap();
        assert_eq!(anonymous.status(), StatusCode::UNAUTHORIZED, "{label}");
        let response = app
            .admin_client()
            .await
            .post(app.url("/api/system/status"))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::OK, "{label}");
        let status: serde_json::Value = response.json_value().await;
        assert_eq!(status["database"], expected, "{label}: {status}");
        assert!(
            status["migrations_applied"].as_i64().unwrap() >= 1,
            "{label}: {status}"
        );
        assert!(
            status["instance_since"].as_str().unwrap().starts_with("20"),
            "{label}: {status}"
        );
    }
}

#[tokio::test]
async fn a_database_failure_is_answered_without_internals() {
    let app = support::spawn(testing::sqlite().await, false).await;
    let admin = app.admin_client().await;
    app.db.db.clone().close().await.unwrap();
    let response = admin
        .post(app.url("/api/system/status"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::INTERNAL_SERVER_ERROR);
    // The browser receives the error's name only; it renders the message it stands for.
    let body = response.text().await.unwrap();
    assert_eq!(body, r#""Internal""#, "internals leaked: {body}");
}

#[tokio::test]
async fn responses_are_compressed_when_the_client_accepts_it() {
    let app = support::spawn(testing::sqlite().await, false).await;
    for path in ["/login", "/pkg/ferry.wasm"] {
        let response = app
            .client
            .get(app.url(path))
            .header(header::ACCEPT_ENCODING, "gzip")
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::OK, "{path}");
        assert_eq!(
            response
                .headers()
                .get(header::CONTENT_ENCODING)
                .map(|v| v.to_str().unwrap()),
            Some("gzip"),
            "{path}"
        );
    }
}

#[tokio::test]
async fn wasm_assets_carry_caching_headers() {
    let plain = support::spawn(testing::sqlite().await, false).await;
    let response = plain
        .client
        .get(plain.url("/pkg/ferry.wasm"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(response.headers()[header::CACHE_CONTROL], "no-cache");
    assert!(
        response.headers().contains_key(header::LAST_MODIFIED),
        "revalidation needs a validator"
    );
    assert_eq!(response.headers()[header::CONTENT_TYPE], "application/wasm");

    let hashed = support::spawn(testing::sqlite().await, true).await;
    let response = hashed
        .client
        .get(hashed.url("/pkg/ferry.wasm"))
        .send()
        .await
        .unwrap();
    assert_eq!(
        response.headers()[header::CACHE_CONTROL],
        "public, max-age=31536000, immutable"
    );

    let missing = plain
        .client
        .get(plain.url("/pkg/nothing.wasm"))
        .send()
        .await
        .unwrap();
    assert_eq!(missing.status(), StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn cross_site_writes_are_refused() {
    let app = support::spawn(testing::sqlite().await, false).await;
    let refused = app
        .client
        .post(app.url("/api/system/status"))
        .header("sec-fetch-site", "cross-site")
        .header(header::ORIGIN, "https://evil.example")
        .send()
        .await
        .unwrap();
    assert_eq!(refused.status(), StatusCode::FORBIDDEN);

    let same_origin = app
        .admin_client()
        .await
        .post(app.url("/api/system/status"))
        .header("sec-fetch-site", "same-origin")
        .send()
        .await
        .unwrap();
    assert_eq!(same_origin.status(), StatusCode::OK);
}

/// JSON bodies without pulling reqwest's json feature into the build.
trait JsonValue {
    async fn json_value(self) -> serde_json::Value;
}

impl JsonValue for reqwest::Response {
    async fn json_value(self) -> serde_json::Value {
        serde_json::from_str(&self.text().await.unwrap()).unwrap()
    }
}
