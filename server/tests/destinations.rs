//! The catalog, accounts and connections over HTTP: secrets never reach a browser, every change
//! is audited, managers can connect, viewers cannot change anything.

mod support;

use domain::access::audit;
use domain::testing;
use http::StatusCode;
use support::{PASSWORD, TestServer, client, create_user};

async fn call(
    app: &TestServer,
    browser: &reqwest::Client,
    path: &str,
    form: &[(&str, &str)],
) -> (StatusCode, String) {
    let response = browser.post(app.url(path)).form(form).send().await.unwrap();
    (response.status(), response.text().await.unwrap())
}

async fn create_account(
    app: &TestServer,
    browser: &reqwest::Client,
    form: &[(&str, &str)],
) -> serde_json::Value {
    let (status, body) = call(app, browser, "/api/accounts/create", form).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    serde_json::from_str(&body).unwrap()
}

const SECRETS: [&str; 4] = [
    "sftp-password-4f1c",
    "-----BEGIN OPENSSH PRIVATE KEY-----secret-key-body-9a7e",
    "s3-secret-access-key-77d2",
    "meta-access-token-5b3a",
];

#[tokio::test]
async fn no_server_function_or_page_ever_returns_an_account_secret() {
    let db = testing::sqlite().await;
    let app = support::spawn(db, false).await;
    let admin = app.admin_client().await;
    let sftp = create_account(
        &app,
        &admin,
        &[
            ("destination_id", "sftp"),
            ("name", "Drop"),
            ("values[host]", "127.0.0.1"),
            ("values[username]", "ferry"),
            ("values[password]", SECRETS[0]),
            ("values[private_key]", SECRETS[1]),
        ],
    )
    .await;
    let s3 = create_account(
        &app,
        &admin,
        &[
            ("destination_id", "amazon_s3"),
            ("name", "Bucket"),
            ("values[access_key_id]", "AKIAFERRY"),
            ("values[secret_access_key]", SECRETS[2]),
            ("values[bucket]", "exports"),
        ],
    )
    .await;
    create_account(
        &app,
        &admin,
        &[
            ("destination_id", "meta_custom_audiences"),
            ("name", "Ads"),
            ("values[access_token]", SECRETS[3]),
            ("values[ad_account_id]", "act_1"),
        ],
    )
    .await;
    assert_eq!(
        sftp["secrets_set"],
        serde_json::json!(["password", "private_key"])
    );
    let sftp_id = sftp["id"].as_str().unwrap().to_owned();
    let s3_id = s3["id"].as_str().unwrap().to_owned();
    // Change an account, keeping its secrets (left empty), so the update answer is scanned too.
    let (status, _) = call(
        &app,
        &admin,
        "/api/accounts/update",
        &[
            ("account_id", &sftp_id),
            ("name", "Drop 2"),
            ("values[host]", "127.0.0.1"),
            ("values[username]", "ferry"),
        ],
    )
    .await;
    assert_eq!(status, StatusCode::OK);

    // Every registered server function except those that end the session or delete, called
    // with every argument an account page might send.
    let form = [
        ("account_id", sftp_id.as_str()),
        ("destination_id", "sftp"),
        ("segment_id", "none"),
        ("name", "Drop 2"),
        ("values[host]", "127.0.0.1"),
        ("values[username]", "ferry"),
        ("actor", ""),
        ("action", ""),
        ("from", ""),
        ("until", ""),
    ];
    let mut scanned = 0;
    for (path, _) in leptos::server_fn::axum::server_fn_paths() {
        if path.contains("logout") || path.contains("delete") || path.contains("login") {
            continue;
        }
        let (_, body) = call(&app, &admin, path, &form).await;
        for secret in SECRETS {
            assert!(!body.contains(secret), "{path} returned a secret: {body}");
        }
        scanned += 1;
    }
    assert!(scanned > 20, "only {scanned} server functions scanned");
    // And the pages that show accounts.
    for page in [
        "/destinations/accounts".to_owned(),
        format!("/destinations/accounts/{sftp_id}"),
        format!("/destinations/accounts/{s3_id}"),
        "/destinations/catalog".to_owned(),
        "/admin/audit".to_owned(),
    ] {
        let html = app.page_html(&admin, &page).await;
        assert!(html.contains("Ferry"), "{page} did not render");
        for secret in SECRETS {
            assert!(!html.contains(secret), "{page} shows a secret");
        }
    }
    let html = app
        .page_html(&admin, &format!("/destinations/accounts/{sftp_id}"))
        .await;
    assert!(
        html.contains("Set — leave empty to keep it"),
        "the form should say the secret is set"
    );
}

#[tokio::test]
async fn a_manager_connects_a_local_folder_and_every_change_is_audited() {
    let db = testing::sqlite().await;
    let app = support::spawn(db, false).await;
    create_user(
        &app.db.db,
        "manager@example.com",
        Some("Destination manager"),
    )
    .await;
    let manager = client();
    app.login(&manager, "manager@example.com", PASSWORD).await;

    let (status, body) = call(
        &app,
        &manager,
        "/api/accounts/create",
        &[("destination_id", "local_folder"), ("name", "Landing")],
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let account: serde_json::Value = serde_json::from_str(&body).unwrap();
    let account_id = account["id"].as_str().unwrap();
    let (status, body) = call(
        &app,
        &manager,
        "/api/accounts/test",
        &[("account_id", account_id)],
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let outcome: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(outcome["ok"], true, "{body}");

    let (status, body) = call(
        &app,
        &manager,
        "/api/connections/create",
        &[
            ("destination_id", "local_folder"),
            ("account_id", account_id),
            ("name", "Nightly files"),
            ("params[folder]", "exports/{destination}"),
            ("params[format]", "csv"),
            ("params[csv_delimiter]", ";"),
            ("marketing_actions[0]", "email_targeting"),
        ],
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let flow: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(flow["enabled"], false);
    assert_eq!(flow["params"]["csv_delimiter"], ";");

    // A path that climbs out of the landing zone is refused with the reason.
    let (status, body) = call(
        &app,
        &manager,
        "/api/connections/create",
        &[
            ("destination_id", "local_folder"),
            ("account_id", account_id),
            ("name", "Escape"),
            ("params[folder]", "../../etc"),
        ],
    )
    .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(body.contains("must not contain .."), "{body}");

    // The catalog marks it connected; the dataflow is listed; the account cannot be deleted.
    let (_, body) = call(&app, &manager, "/api/destinations/catalog", &[]).await;
    let catalog: serde_json::Value = serde_json::from_str(&body).unwrap();
    let local = catalog["destinations"]
        .as_array()
        .unwrap()
        .iter()
        .find(|d| d["id"] == "local_folder")
        .unwrap();
    assert_eq!(local["dataflows"], 1);
    assert_eq!(catalog["can_manage"], true);
    let (_, body) = call(
        &app,
        &manager,
        "/api/dataflows/list",
        &[("destination_id", "local_folder")],
    )
    .await;
    assert!(body.contains("Nightly files"));
    let (status, body) = call(
        &app,
        &manager,
        "/api/accounts/delete",
        &[("account_id", account_id)],
    )
    .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(body.contains("still uses this account"), "{body}");

    let html = app.page_html(&manager, "/destinations/browse").await;
    assert!(
        html.contains("Nightly files") && html.contains("Disabled"),
        "browse page"
    );

    let events = audit::list(
        &app.db.db,
        &audit::Filter {
            limit: 100,
            ..Default::default()
        },
    )
    .await
    .unwrap();
    let actions: Vec<(&str, &str)> = events
        .iter()
        .map(|e| (e.action.as_str(), e.outcome.as_str()))
        .collect();
    for expected in [
        ("account.create", "allowed"),
        ("account.test", "allowed"),
        ("dataflow.create", "allowed"),
        ("dataflow.create", "failed"),
        ("account.delete", "failed"),
    ] {
        assert!(
            actions.contains(&expected),
            "{expected:?} missing from {actions:?}"
        );
    }
}

#[tokio::test]
async fn a_viewer_sees_the_catalog_but_cannot_set_up_or_create_accounts() {
    let db = testing::sqlite().await;
    let app = support::spawn(db, false).await;
    create_user(&app.db.db, "viewer@example.com", Some("Viewer")).await;
    let viewer = client();
    app.login(&viewer, "viewer@example.com", PASSWORD).await;
    let html = app.page_html(&viewer, "/destinations/catalog").await;
    assert!(
        html.contains("Amazon S3") && html.contains("Meta Custom Audiences"),
        "catalog"
    );
    assert!(!html.contains(">Set up<"), "a viewer must not see Set up");
    let (status, _) = call(
        &app,
        &viewer,
        "/api/accounts/create",
        &[("destination_id", "sftp"), ("name", "x")],
    )
    .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let events = audit::list(
        &app.db.db,
        &audit::Filter {
            limit: 10,
            ..Default::default()
        },
    )
    .await
    .unwrap();
    assert!(
        events
            .iter()
            .any(|e| e.action == "access.denied" && e.details.contains("destinations.manage")),
        "denial audited: {events:?}"
    );
}
