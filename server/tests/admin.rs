//! Administration over HTTP: creating users, roles, disabling, password resets and role
//! changes, each checked for its effect on sign-in and permissions and for its audit entry.

mod support;

use domain::access::{audit, roles};
use domain::testing;
use http::StatusCode;
use support::{PASSWORD, TestServer, client, create_user};

/// Posts a form to a server function; returns the status and the body.
async fn call(
    app: &TestServer,
    browser: &reqwest::Client,
    path: &str,
    form: &[(&str, &str)],
) -> (StatusCode, String) {
    let response = browser.post(app.url(path)).form(form).send().await.unwrap();
    (response.status(), response.text().await.unwrap())
}

async fn role_id(app: &TestServer, name: &str) -> String {
    roles::find_by_name(&app.db.db, name)
        .await
        .unwrap()
        .public_id
}

async fn events(app: &TestServer, action: &str) -> Vec<domain::entities::audit_event::Model> {
    let filter = audit::Filter {
        action: Some(action.to_owned()),
        ..Default::default()
    };
    audit::list(&app.db.db, &filter).await.unwrap()
}

#[tokio::test]
async fn an_administrator_creates_a_user_who_can_then_sign_in_with_those_roles() {
    for db in testing::all().await {
        let label = db.label;
        let app = support::spawn(db, false).await;
        let admin = app.admin_client().await;
        let viewer_role = role_id(&app, "Viewer").await;
        let (status, body) = call(
            &app,
            &admin,
            "/api/admin/users/create",
            &[
                ("email", " Vera@Example.com "),
                ("display_name", "Vera Viewer"),
                ("password", PASSWORD),
                ("roles[0]", &viewer_role),
            ],
        )
        .await;
        assert_eq!(status, StatusCode::OK, "{label}: {body}");

        let vera = client();
        assert_eq!(
            app.login(&vera, "vera@example.com", PASSWORD)
                .await
                .status(),
            StatusCode::OK,
            "{label}"
        );
        let (status, _) = call(&app, &vera, "/api/admin/users/list", &[]).await;
        assert_eq!(
            status,
            StatusCode::FORBIDDEN,
            "{label}: a Viewer manages nobody"
        );
        let html = app.page_html(&admin, "/admin").await;
        assert!(html.contains(">vera@example.com</a></td>"), "{label}");

        let created = events(&app, "users.create").await;
        assert_eq!(created.len(), 1, "{label}");
        assert_eq!(created[0].outcome, "allowed");
        assert_eq!(created[0].actor_email, "root@example.com");
        assert!(
            created[0].details.contains("Viewer"),
            "{}",
            created[0].details
        );
    }
}

#[tokio::test]
async fn bad_user_forms_get_a_clear_error_and_change_nothing() {
    let db = testing::sqlite().await;
    create_user(&db.db, "taken@example.com", Some("Viewer")).await;
    let app = support::spawn(db, false).await;
    let admin = app.admin_client().await;
    let cases = [
        ("taken@example.com", PASSWORD, "already exists"),
        ("not-an-email", PASSWORD, "valid email"),
        ("short@example.com", "short", "at least 12"),
        ("common@example.com", "password1234", "common"),
    ];
    for (email, password, message) in cases {
        let (status, body) = call(
            &app,
            &admin,
            "/api/admin/users/create",
            &[
                ("email", email),
                ("display_name", ""),
                ("password", password),
            ],
        )
        .await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{email}: {body}");
        assert!(body.contains(message), "{email}: {body}");
    }
    let (status, body) = call(
        &app,
        &admin,
        "/api/admin/users/create",
        &[
            ("email", "ghost@example.com"),
            ("display_name", ""),
            ("password", PASSWORD),
            ("roles[0]", "no-such-role"),
        ],
    )
    .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    assert!(
        domain::access::users::find_by_email(&app.db.db, "ghost@example.com")
            .await
            .unwrap()
            .is_none(),
        "a refused user is not half-created"
    );
    let failed = events(&app, "users.create").await;
    assert_eq!(failed.len(), 5);
    assert!(failed.iter().all(|e| e.outcome == "failed"));
}

#[tokio::test]
async fn disabling_ends_the_session_and_enabling_restores_sign_in() {
    let db = testing::sqlite().await;
    let vera_id = create_user(&db.db, "vera@example.com", Some("Viewer")).await;
    let app = support::spawn(db, false).await;
    let admin = app.admin_client().await;
    let vera = client();
    app.login(&vera, "vera@example.com", PASSWORD).await;
    assert!(app.whoami(&vera).await.is_some());

    let (status, _) = call(
        &app,
        &admin,
        "/api/admin/users/set-disabled",
        &[("user_id", &vera_id), ("disabled", "true")],
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(app.whoami(&vera).await, None, "signed out at once");
    assert_eq!(
        app.login(&vera, "vera@example.com", PASSWORD)
            .await
            .status(),
        StatusCode::UNAUTHORIZED
    );
    let html = app
        .page_html(&admin, &format!("/admin/users/{vera_id}"))
        .await;
    assert!(html.contains("<h1>vera@example.com</h1>"), "{html}");
    assert!(html.contains("Enable user"), "{html}");

    let (status, _) = call(
        &app,
        &admin,
        "/api/admin/users/set-disabled",
        &[("user_id", &vera_id), ("disabled", "false")],
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        app.login(&vera, "vera@example.com", PASSWORD)
            .await
            .status(),
        StatusCode::OK
    );
    assert_eq!(events(&app, "users.disable").await.len(), 1);
    assert_eq!(events(&app, "users.enable").await.len(), 1);
}

#[tokio::test]
async fn the_last_administrator_cannot_be_disabled_demoted_or_disable_themselves() {
    for db in testing::all().await {
        let label = db.label;
        let app = support::spawn(db, false).await;
        let admin = app.admin_client().await;
        let root = domain::access::users::find_by_email(&app.db.db, "root@example.com")
            .await
            .unwrap()
            .unwrap();
        let (status, body) = call(
            &app,
            &admin,
            "/api/admin/users/set-disabled",
            &[("user_id", &root.public_id), ("disabled", "true")],
        )
        .await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{label}");
        assert!(body.contains("your own account"), "{label}: {body}");

        let viewer_role = role_id(&app, "Viewer").await;
        let (status, body) = call(
            &app,
            &admin,
            "/api/admin/users/set-roles",
            &[("user_id", &root.public_id), ("roles[0]", &viewer_role)],
        )
        .await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{label}: {body}");
        assert!(
            body.contains("last active Administrator"),
            "{label}: {body}"
        );
        // Nothing changed: the administrator still manages users.
        let (status, _) = call(&app, &admin, "/api/admin/users/list", &[]).await;
        assert_eq!(status, StatusCode::OK, "{label}");
        let refused = events(&app, "users.set_roles").await;
        assert_eq!(refused.len(), 1, "{label}");
        assert_eq!(refused[0].outcome, "failed");
        assert!(refused[0].details.contains("last active"), "{label}");
    }
}

#[tokio::test]
async fn a_password_reset_signs_the_user_out_and_the_new_password_works() {
    let db = testing::sqlite().await;
    let vera_id = create_user(&db.db, "vera@example.com", Some("Viewer")).await;
    let app = support::spawn(db, false).await;
    let admin = app.admin_client().await;
    let vera = client();
    app.login(&vera, "vera@example.com", PASSWORD).await;

    let (status, body) = call(
        &app,
        &admin,
        "/api/admin/users/reset-password",
        &[("user_id", &vera_id), ("password", "tiny")],
    )
    .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    assert!(
        app.whoami(&vera).await.is_some(),
        "a refused reset changes nothing"
    );

    let (status, _) = call(
        &app,
        &admin,
        "/api/admin/users/reset-password",
        &[
            ("user_id", &vera_id),
            ("password", "seven quiet harbour bells"),
        ],
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(app.whoami(&vera).await, None);
    assert_eq!(
        app.login(&vera, "vera@example.com", PASSWORD)
            .await
            .status(),
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        app.login(&vera, "vera@example.com", "seven quiet harbour bells")
            .await
            .status(),
        StatusCode::OK
    );
    let resets = events(&app, "users.reset_password").await;
    assert_eq!(resets.len(), 2);
    assert!(
        resets.iter().all(|e| !e.details.contains("harbour")),
        "passwords never reach the audit log"
    );
}

#[tokio::test]
async fn custom_roles_grant_exactly_their_permissions_and_edits_apply_at_once() {
    for db in testing::all().await {
        let label = db.label;
        let auditor_id = create_user(&db.db, "aud@example.com", None).await;
        let app = support::spawn(db, false).await;
        let admin = app.admin_client().await;

        let (status, body) = call(
            &app,
            &admin,
            "/api/admin/roles/create",
            &[
                ("name", "Auditor"),
                ("description", "Reads the log"),
                ("permissions[0]", "audit.view"),
                ("permissions[1]", "users.fly"),
            ],
        )
        .await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{label}: {body}");
        assert!(body.contains("users.fly"), "{label}: {body}");

        let (status, body) = call(
            &app,
            &admin,
            "/api/admin/roles/create",
            &[
                ("name", "Auditor"),
                ("description", "Reads the log"),
                ("permissions[0]", "audit.view"),
            ],
        )
        .await;
        assert_eq!(status, StatusCode::OK, "{label}: {body}");
        let auditor_role: String = serde_json::from_str(&body).unwrap();

        call(
            &app,
            &admin,
            "/api/admin/users/set-roles",
            &[("user_id", &auditor_id), ("roles[0]", &auditor_role)],
        )
        .await;
        let auditor = client();
        app.login(&auditor, "aud@example.com", PASSWORD).await;
        let audit_form = [("actor", ""), ("action", ""), ("from", ""), ("until", "")];
        let (status, _) = call(&app, &auditor, "/api/admin/audit/list", &audit_form).await;
        assert_eq!(status, StatusCode::OK, "{label}");

        // Taking audit.view away applies to the next request of a signed-in user.
        let (status, _) = call(
            &app,
            &admin,
            "/api/admin/roles/update",
            &[
                ("role_id", &auditor_role),
                ("name", "Auditor"),
                ("description", "Nothing any more"),
            ],
        )
        .await;
        assert_eq!(status, StatusCode::OK, "{label}");
        let (status, _) = call(&app, &auditor, "/api/admin/audit/list", &audit_form).await;
        assert_eq!(status, StatusCode::FORBIDDEN, "{label}");

        let viewer_role = role_id(&app, "Viewer").await;
        let (status, body) = call(
            &app,
            &admin,
            "/api/admin/roles/update",
            &[
                ("role_id", &viewer_role),
                ("name", "Viewer"),
                ("description", ""),
                ("permissions[0]", "users.manage"),
            ],
        )
        .await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{label}");
        assert!(body.contains("built-in"), "{label}: {body}");

        let updates = events(&app, "roles.update").await;
        assert_eq!(updates.len(), 2, "{label}");
        assert!(
            updates
                .iter()
                .any(|e| e.outcome == "allowed" && e.details.contains("audit.view"))
        );
        assert_eq!(events(&app, "users.set_roles").await.len(), 1, "{label}");
    }
}

#[tokio::test]
async fn editor_pages_show_current_values_and_unknown_ids_read_not_found() {
    let db = testing::sqlite().await;
    let vera_id = create_user(&db.db, "vera@example.com", Some("Viewer")).await;
    let app = support::spawn(db, false).await;
    let admin = app.admin_client().await;

    let html = app
        .page_html(&admin, &format!("/admin/users/{vera_id}"))
        .await;
    assert!(html.contains("<h1>vera@example.com</h1>"), "{html}");
    assert!(
        html.contains("Disable user") && html.contains("Save roles"),
        "{html}"
    );

    let viewer_role = role_id(&app, "Viewer").await;
    let html = app
        .page_html(&admin, &format!("/admin/roles/{viewer_role}"))
        .await;
    assert!(html.contains("<h1>Viewer</h1>"), "{html}");
    assert!(html.contains("A built-in role"), "{html}");
    assert!(!html.contains("Save role"), "built-ins have no save button");

    let html = app.page_html(&admin, "/admin/roles/new").await;
    assert!(
        html.contains("<h1>New role</h1>") && html.contains("audit.view"),
        "{html}"
    );
    let html = app.page_html(&admin, "/admin/users/new").await;
    assert!(html.contains("<h1>New user</h1>"), "{html}");

    let html = app.page_html(&admin, "/admin/users/no-such-user").await;
    assert!(html.contains("The user was not found."), "{html}");
}
