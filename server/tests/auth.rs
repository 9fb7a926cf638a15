//! Sign-in, sessions and permission enforcement over HTTP, against the real router.

mod support;

use std::collections::BTreeMap;
use std::time::Duration;

use domain::access::users;
use domain::testing;
use http::{StatusCode, header};
use server::config::SessionSettings;
use support::{PASSWORD, client, create_user};

fn session_cookie(response: &reqwest::Response) -> Option<String> {
    response
        .headers()
        .get_all(header::SET_COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find(|c| c.starts_with("ferry_session="))
        .map(str::to_owned)
}

fn cookie_value(set_cookie: &str) -> String {
    set_cookie
        .split(';')
        .next()
        .unwrap()
        .trim_start_matches("ferry_session=")
        .to_owned()
}

#[tokio::test]
async fn signing_in_sets_a_protected_cookie_and_rotates_the_session_id() {
    for db in testing::all().await {
        let label = db.label;
        create_user(&db.db, "ada@example.com", Some("Viewer")).await;
        let app = support::spawn(db, false).await;
        let browser = client();

        let first = app.login(&browser, "ADA@example.com", PASSWORD).await;
        assert_eq!(first.status(), StatusCode::OK, "{label}");
        let cookie = session_cookie(&first).expect("a session cookie");
        assert!(
            cookie.contains("HttpOnly") && cookie.contains("SameSite=Lax"),
            "{label}: {cookie}"
        );
        assert!(
            !cookie.contains("Secure"),
            "Secure only when configured for HTTPS"
        );
        assert_eq!(
            app.whoami(&browser).await.as_deref(),
            Some("ada@example.com"),
            "{label}"
        );

        let second = app.login(&browser, "ada@example.com", PASSWORD).await;
        let rotated = session_cookie(&second).expect("a new cookie at sign-in");
        assert_ne!(
            cookie_value(&cookie),
            cookie_value(&rotated),
            "{label}: the id must change at sign-in"
        );
        // The old id no longer signs anybody in.
        let replay = app
            .client
            .post(app.url("/api/auth/me"))
            .header(
                header::COOKIE,
                format!("ferry_session={}", cookie_value(&cookie)),
            )
            .send()
            .await
            .unwrap();
        assert_eq!(replay.text().await.unwrap(), "null", "{label}");
    }
}

#[tokio::test]
async fn a_wrong_password_and_an_unknown_user_get_the_same_answer() {
    let db = testing::sqlite().await;
    create_user(&db.db, "ada@example.com", Some("Viewer")).await;
    let app = support::spawn(db, false).await;
    let wrong = app
        .login(&client(), "ada@example.com", "not the password")
        .await;
    let unknown = app.login(&client(), "nobody@example.com", PASSWORD).await;
    assert_eq!(wrong.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(unknown.status(), StatusCode::UNAUTHORIZED);
    let (wrong, unknown) = (wrong.text().await.unwrap(), unknown.text().await.unwrap());
    assert_eq!(wrong, unknown);
    assert_eq!(wrong, r#""InvalidCredentials""#);

    let log = domain::access::audit::list(&app.db.db, &Default::default())
        .await
        .unwrap();
    let failures: Vec<_> = log
        .iter()
        .filter(|e| e.action == "auth.login" && e.outcome == "failed")
        .collect();
    assert_eq!(failures.len(), 2, "both failed sign-ins are audited");
    assert_eq!(failures[0].client_addr, "127.0.0.1");
}

#[tokio::test]
async fn repeated_failures_slow_down_sign_in_even_with_the_right_password() {
    let db = testing::sqlite().await;
    create_user(&db.db, "ada@example.com", Some("Viewer")).await;
    let app = support::spawn(db, false).await;
    for _ in 0..domain::access::throttle::FREE_FAILURES + 1 {
        app.login(&client(), "ada@example.com", "guess guess guess")
            .await;
    }
    let blocked = app.login(&client(), "ada@example.com", PASSWORD).await;
    assert_eq!(blocked.status(), StatusCode::TOO_MANY_REQUESTS);
    assert!(blocked.text().await.unwrap().contains("TooManyAttempts"));
    // The delay is short at first and never permanent.
    tokio::time::sleep(Duration::from_millis(2100)).await;
    assert_eq!(
        app.login(&client(), "ada@example.com", PASSWORD)
            .await
            .status(),
        StatusCode::OK
    );
}

#[tokio::test]
async fn logging_out_ends_the_session_on_the_server() {
    let db = testing::sqlite().await;
    create_user(&db.db, "ada@example.com", Some("Viewer")).await;
    let app = support::spawn(db, false).await;
    let browser = client();
    let signed_in = app.login(&browser, "ada@example.com", PASSWORD).await;
    let cookie = cookie_value(&session_cookie(&signed_in).unwrap());
    let out = browser
        .post(app.url("/api/auth/logout"))
        .send()
        .await
        .unwrap();
    assert_eq!(out.status(), StatusCode::OK);
    assert_eq!(app.whoami(&browser).await, None);
    let replay = app
        .client
        .post(app.url("/api/auth/me"))
        .header(header::COOKIE, format!("ferry_session={cookie}"))
        .send()
        .await
        .unwrap();
    assert_eq!(
        replay.text().await.unwrap(),
        "null",
        "a copied cookie must not outlive logout"
    );
}

#[tokio::test]
async fn disabling_a_user_or_resetting_the_password_stops_their_session() {
    let db = testing::sqlite().await;
    create_user(&db.db, "admin@example.com", Some("Administrator")).await;
    let ada = create_user(&db.db, "ada@example.com", Some("Viewer")).await;
    let app = support::spawn(db, false).await;

    let browser = client();
    app.login(&browser, "ada@example.com", PASSWORD).await;
    users::set_password(&app.db.db, &ada, "a fresh long passphrase".into())
        .await
        .unwrap();
    assert_eq!(
        app.whoami(&browser).await,
        None,
        "a password change signs the user out"
    );

    app.login(&browser, "ada@example.com", "a fresh long passphrase")
        .await;
    assert!(app.whoami(&browser).await.is_some());
    users::set_disabled(&app.db.db, &ada, true).await.unwrap();
    assert_eq!(
        app.whoami(&browser).await,
        None,
        "a disabled user is signed out"
    );
    let again = app
        .login(&browser, "ada@example.com", "a fresh long passphrase")
        .await;
    assert_eq!(
        again.status(),
        StatusCode::UNAUTHORIZED,
        "and cannot sign in"
    );
}

#[tokio::test]
async fn sessions_expire_when_idle_and_after_the_absolute_limit() {
    let idle = SessionSettings {
        idle: chrono::Duration::seconds(1),
        ..Default::default()
    };
    let db = testing::sqlite().await;
    create_user(&db.db, "ada@example.com", Some("Viewer")).await;
    let app = support::spawn_with(db, false, idle).await;
    let browser = client();
    app.login(&browser, "ada@example.com", PASSWORD).await;
    assert!(app.whoami(&browser).await.is_some());
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert_eq!(app.whoami(&browser).await, None, "idle expiry");

    let absolute = SessionSettings {
        absolute: chrono::Duration::seconds(1),
        ..Default::default()
    };
    let db = testing::sqlite().await;
    create_user(&db.db, "ada@example.com", Some("Viewer")).await;
    let app = support::spawn_with(db, false, absolute).await;
    app.login(&browser, "ada@example.com", PASSWORD).await;
    assert!(app.whoami(&browser).await.is_some());
    // Activity does not extend it: keep asking until past the limit.
    for _ in 0..5 {
        tokio::time::sleep(Duration::from_millis(500)).await;
        app.whoami(&browser).await;
    }
    assert_eq!(app.whoami(&browser).await, None, "absolute expiry");
}

/// What a server function requires (None = public), a form body to call it with, and the
/// status a caller holding the permission gets for that body (404 where the body names an
/// unknown object: the permission check passed, and the object was looked for).
type Requirement = (
    Option<&'static str>,
    &'static [(&'static str, &'static str)],
    StatusCode,
);

/// The one server function that takes a multipart form rather than URL-encoded fields.
const IMPORT: &str = "/api/profiles/import";

/// Marks a server function open to every signed-in user, whatever their roles.
const SIGNED_IN: Option<&str> = Some("");

/// What each server function requires; a new one missing here fails the matrix test.
fn requirements() -> BTreeMap<&'static str, Requirement> {
    const OK: StatusCode = StatusCode::OK;
    const MISSING: StatusCode = StatusCode::NOT_FOUND;
    const ADMIN: Option<&str> = Some("users.manage");
    const SEGMENTS_VIEW: Option<&str> = Some("segments.view");
    const SEGMENTS_MANAGE: Option<&str> = Some("segments.manage");
    const DESTINATIONS_VIEW: Option<&str> = Some("destinations.view");
    const DESTINATIONS_MANAGE: Option<&str> = Some("destinations.manage");
    const ACTIVATORS: Option<&str> =
        Some("destinations.activate|destinations.activate_without_mapping");
    BTreeMap::from([
        (
            "/api/activation/get",
            (ACTIVATORS, &[("dataflow_id", "none")][..], MISSING),
        ),
        (
            "/api/activation/check",
            (ACTIVATORS, &[("dataflow_id", "none")][..], MISSING),
        ),
        (
            "/api/activation/review",
            (ACTIVATORS, &[("dataflow_id", "none")][..], MISSING),
        ),
        (
            "/api/activation/save",
            (ACTIVATORS, &[("dataflow_id", "none")][..], MISSING),
        ),
        (
            "/api/activation/file-name",
            (
                ACTIVATORS,
                &[
                    ("dataflow_id", "none"),
                    ("segment_id", "none"),
                    ("template", "x"),
                ][..],
                MISSING,
            ),
        ),
        (
            "/api/dataflows/run-now",
            (
                Some(
                    "destinations.manage|destinations.activate|destinations.activate_without_mapping",
                ),
                &[("dataflow_id", "none")][..],
                MISSING,
            ),
        ),
        (
            "/api/alerts/get",
            (DESTINATIONS_VIEW, &[("dataflow_id", "none")][..], MISSING),
        ),
        (
            "/api/alerts/set",
            (
                Some("destinations.manage|destinations.activate"),
                &[("dataflow_id", "none"), ("delay_minutes", "30")][..],
                MISSING,
            ),
        ),
        ("/api/notifications/list", (DESTINATIONS_VIEW, &[][..], OK)),
        (
            "/api/runs/list",
            (DESTINATIONS_VIEW, &[("dataflow_id", "none")][..], MISSING),
        ),
        (
            "/api/runs/get",
            (DESTINATIONS_VIEW, &[("run_id", "none")][..], MISSING),
        ),
        (
            "/api/runs/hourly",
            (DESTINATIONS_VIEW, &[("dataflow_id", "none")][..], MISSING),
        ),
        (
            "/api/runs/replay",
            (
                Some(
                    "destinations.manage|destinations.activate|destinations.activate_without_mapping",
                ),
                &[("run_id", "none")][..],
                MISSING,
            ),
        ),
        (
            "/api/runs/why",
            (
                Some("profiles.view"),
                &[("run_id", "none"), ("namespace", "Email"), ("value", "x")][..],
                MISSING,
            ),
        ),
        (
            "/api/dataflows/get",
            (DESTINATIONS_VIEW, &[("dataflow_id", "none")][..], MISSING),
        ),
        (
            "/api/dataflows/set-enabled",
            (
                Some("destinations.manage|destinations.activate"),
                &[("dataflow_id", "none"), ("enabled", "true")][..],
                MISSING,
            ),
        ),
        (
            "/api/dataflows/delete",
            (DESTINATIONS_MANAGE, &[("dataflow_id", "none")][..], MISSING),
        ),
        (
            "/api/dataflows/remove-segment",
            (
                ACTIVATORS,
                &[("dataflow_id", "none"), ("segment_id", "none")][..],
                MISSING,
            ),
        ),
        (
            "/api/destinations/catalog",
            (DESTINATIONS_VIEW, &[][..], OK),
        ),
        (
            "/api/destinations/get",
            (
                DESTINATIONS_VIEW,
                &[("destination_id", "none")][..],
                MISSING,
            ),
        ),
        ("/api/accounts/list", (DESTINATIONS_VIEW, &[][..], OK)),
        (
            "/api/accounts/get",
            (DESTINATIONS_VIEW, &[("account_id", "none")][..], MISSING),
        ),
        (
            "/api/accounts/create",
            (
                DESTINATIONS_MANAGE,
                &[("destination_id", "none"), ("name", "x")][..],
                MISSING,
            ),
        ),
        (
            "/api/accounts/update",
            (
                DESTINATIONS_MANAGE,
                &[("account_id", "none"), ("name", "x")][..],
                MISSING,
            ),
        ),
        (
            "/api/accounts/delete",
            (DESTINATIONS_MANAGE, &[("account_id", "none")][..], MISSING),
        ),
        (
            "/api/accounts/test",
            (DESTINATIONS_MANAGE, &[("account_id", "none")][..], MISSING),
        ),
        ("/api/dataflows/list", (DESTINATIONS_VIEW, &[][..], OK)),
        (
            "/api/connections/create",
            (
                DESTINATIONS_MANAGE,
                &[
                    ("destination_id", "local_folder"),
                    ("account_id", "none"),
                    ("name", "x"),
                ][..],
                MISSING,
            ),
        ),
        ("/api/system/status", (SIGNED_IN, &[][..], OK)),
        ("/api/auth/me", (None, &[][..], OK)),
        ("/api/auth/logout", (None, &[][..], OK)),
        (
            "/api/auth/login",
            (
                None,
                &[("email", "x@example.com"), ("password", "wrong password!")][..],
                StatusCode::UNAUTHORIZED,
            ),
        ),
        ("/api/admin/users/list", (ADMIN, &[][..], OK)),
        (
            "/api/admin/users/get",
            (ADMIN, &[("user_id", "nobody")][..], MISSING),
        ),
        (
            "/api/admin/users/create",
            (
                ADMIN,
                &[
                    ("email", "matrix@example.com"),
                    ("display_name", ""),
                    ("password", "harbour lantern ferry"),
                ][..],
                OK,
            ),
        ),
        (
            "/api/admin/users/set-disabled",
            (
                ADMIN,
                &[("user_id", "nobody"), ("disabled", "true")][..],
                MISSING,
            ),
        ),
        (
            "/api/admin/users/reset-password",
            (
                ADMIN,
                &[("user_id", "nobody"), ("password", "harbour lantern ferry")][..],
                MISSING,
            ),
        ),
        (
            "/api/admin/users/set-roles",
            (ADMIN, &[("user_id", "nobody")][..], MISSING),
        ),
        ("/api/admin/roles/list", (ADMIN, &[][..], OK)),
        (
            "/api/admin/roles/get",
            (ADMIN, &[("role_id", "nothing")][..], MISSING),
        ),
        (
            "/api/admin/roles/create",
            (
                ADMIN,
                &[
                    ("name", "Matrix role"),
                    ("description", ""),
                    ("permissions[0]", "audit.view"),
                ][..],
                OK,
            ),
        ),
        (
            "/api/admin/roles/update",
            (
                ADMIN,
                &[
                    ("role_id", "nothing"),
                    ("name", "Renamed"),
                    ("description", ""),
                ][..],
                MISSING,
            ),
        ),
        ("/api/admin/permissions/list", (ADMIN, &[][..], OK)),
        (IMPORT, (Some("profiles.import"), &[][..], OK)),
        ("/api/segments/list", (SEGMENTS_VIEW, &[][..], OK)),
        (
            "/api/segments/get",
            (SEGMENTS_VIEW, &[("segment_id", "none")][..], MISSING),
        ),
        (
            "/api/segments/check",
            (SEGMENTS_MANAGE, &[("rule", "loyalty.points > 1")][..], OK),
        ),
        (
            "/api/segments/create",
            (
                SEGMENTS_MANAGE,
                &[
                    ("name", "Matrix segment"),
                    ("description", ""),
                    ("rule", "loyalty.points > 1"),
                    ("schedule", "manual"),
                ][..],
                OK,
            ),
        ),
        (
            "/api/segments/update",
            (
                SEGMENTS_MANAGE,
                &[
                    ("segment_id", "none"),
                    ("name", "x"),
                    ("description", ""),
                    ("rule", "loyalty.points > 1"),
                    ("schedule", "manual"),
                ][..],
                MISSING,
            ),
        ),
        (
            "/api/segments/delete",
            (SEGMENTS_MANAGE, &[("segment_id", "none")][..], MISSING),
        ),
        (
            "/api/segments/evaluate",
            (SEGMENTS_MANAGE, &[("segment_id", "none")][..], MISSING),
        ),
        (
            "/api/segments/members",
            (
                Some("profiles.view"),
                &[("segment_id", "none")][..],
                MISSING,
            ),
        ),
        ("/api/schema/catalog", (SEGMENTS_VIEW, &[][..], OK)),
        (
            "/api/schema/set-labels",
            (
                SEGMENTS_MANAGE,
                &[("path", "loyalty.points"), ("labels[0]", "C2")][..],
                OK,
            ),
        ),
        (
            "/api/admin/audit/list",
            (
                Some("audit.view"),
                &[("actor", ""), ("action", ""), ("from", ""), ("until", "")][..],
                OK,
            ),
        ),
    ])
}

#[tokio::test]
async fn permission_matrix_covers_every_server_function_and_role() {
    let registered: Vec<String> = leptos::server_fn::axum::server_fn_paths()
        .map(|(path, _)| path.to_owned())
        .collect();
    let table = requirements();
    for path in &registered {
        assert!(
            table.contains_key(path.as_str()),
            "server function {path} is missing from the permission matrix"
        );
    }

    let db = testing::sqlite().await;
    let roles = [
        "Administrator",
        "Destination manager",
        "Activator",
        "Viewer",
    ];
    for role in roles {
        create_user(
            &db.db,
            &format!("{}@example.com", role.replace(' ', ".").to_lowercase()),
            Some(role),
        )
        .await;
    }
    let app = support::spawn(db, false).await;
    let mut callers: Vec<(String, reqwest::Client, Vec<String>)> =
        vec![("anonymous".into(), client(), vec![])];
    for role in roles {
        let browser = client();
        let email = format!("{}@example.com", role.replace(' ', ".").to_lowercase());
        assert_eq!(
            app.login(&browser, &email, PASSWORD).await.status(),
            StatusCode::OK
        );
        let holder = domain::access::users::find_by_email(&app.db.db, &email)
            .await
            .unwrap()
            .unwrap();
        let principal = users::principal(&app.db.db, holder.id)
            .await
            .unwrap()
            .unwrap();
        let permissions = principal
            .permissions
            .iter()
            .map(|p| p.as_str().to_owned())
            .collect();
        callers.push((role.to_owned(), browser, permissions));
    }

    // Signing out last: it ends the callers' sessions.
    let mut order: Vec<_> = table.iter().collect();
    order.sort_by_key(|(path, _)| **path == "/api/auth/logout");
    for (path, (required, form, permitted)) in order {
        if *path == IMPORT {
            continue;
        }
        assert!(
            registered.iter().any(|p| p == path),
            "{path} is in the matrix but not registered"
        );
        for (who, browser, permissions) in &callers {
            let status = browser
                .post(app.url(path))
                .form(form)
                .send()
                .await
                .unwrap()
                .status();
            let expected = match required {
                None => *permitted,
                Some(_) if who == "anonymous" => StatusCode::UNAUTHORIZED,
                Some("") => *permitted,
                // "a|b": either permission will do.
                Some(any)
                    if any
                        .split('|')
                        .any(|needed| permissions.iter().any(|p| p == needed)) =>
                {
                    *permitted
                }
                Some(_) => StatusCode::FORBIDDEN,
            };
            assert_eq!(status, expected, "{who} calling {path}");
        }
    }
    // The import takes a multipart form; every caller sends the same small file. (Run after
    // logout above, so sign everyone in again.)
    for (who, browser, permissions) in &callers {
        if who != "anonymous" {
            let email = format!("{}@example.com", who.replace(' ', ".").to_lowercase());
            app.login(browser, &email, PASSWORD).await;
        }
        let file =
            reqwest::multipart::Part::bytes(b"identity.CRMID,loyalty.points\nM1,5\n".to_vec())
                .file_name("matrix.csv");
        let form = reqwest::multipart::Form::new()
            .text("key", "CRMID")
            .part("file", file);
        let status = browser
            .post(app.url(IMPORT))
            .multipart(form)
            .send()
            .await
            .unwrap()
            .status();
        let expected = if who == "anonymous" {
            StatusCode::UNAUTHORIZED
        } else if permissions.iter().any(|p| p == "profiles.import") {
            StatusCode::OK
        } else {
            StatusCode::FORBIDDEN
        };
        assert_eq!(status, expected, "{who} calling {IMPORT}");
    }
}

#[tokio::test]
async fn a_denied_call_is_audited() {
    let db = testing::sqlite().await;
    create_user(&db.db, "vera@example.com", Some("Viewer")).await;
    let app = support::spawn(db, false).await;
    let browser = client();
    app.login(&browser, "vera@example.com", PASSWORD).await;
    let denied = browser
        .post(app.url("/api/admin/users/list"))
        .send()
        .await
        .unwrap();
    assert_eq!(denied.status(), StatusCode::FORBIDDEN);
    let log = domain::access::audit::list(&app.db.db, &Default::default())
        .await
        .unwrap();
    let event = log
        .iter()
        .find(|e| e.action == "access.denied")
        .expect("a denied event");
    assert_eq!(event.actor_email, "vera@example.com");
    assert_eq!(event.object_id, "users.manage");
    assert_eq!(event.outcome, "denied");
}

#[tokio::test]
async fn the_audit_page_lists_filters_and_refuses_without_permission() {
    let db = testing::sqlite().await;
    create_user(&db.db, "vera@example.com", Some("Viewer")).await;
    let app = support::spawn(db, false).await;
    let admin = app.admin_client().await;
    app.login(&client(), "vera@example.com", "a wrong password")
        .await;

    let html = app
        .page_html(&admin, "/admin/audit?action=auth.login")
        .await;
    assert!(html.contains("<h1>Audit log</h1>"), "{html}");
    assert!(
        html.contains("<td>root@example.com</td>") && html.contains("<td>vera@example.com</td>"),
        "{html}"
    );
    assert!(
        html.contains("badge-allowed") && html.contains("badge-failed"),
        "{html}"
    );

    let html = app.page_html(&admin, "/admin/audit?actor=vera").await;
    assert!(
        html.contains("<td>vera@example.com</td>") && !html.contains("<td>root@example.com</td>"),
        "the actor filter narrows the list"
    );
    let html = app.page_html(&admin, "/admin/audit?from=2999-01-01").await;
    assert!(html.contains("No events match these filters."), "{html}");
    let html = app.page_html(&admin, "/admin/audit?from=yesterday").await;
    assert!(
        html.contains("From must be a date like 2026-11-28."),
        "{html}"
    );

    let viewer = client();
    app.login(&viewer, "vera@example.com", PASSWORD).await;
    let html = app.page_html(&viewer, "/admin/audit").await;
    assert!(
        html.contains("You do not have permission to do that."),
        "{html}"
    );
    assert!(
        !html.contains("<td>root@example.com</td>"),
        "no events leak to a viewer"
    );
}

#[tokio::test]
async fn the_admin_page_lists_users_and_roles_for_user_managers_only() {
    let db = testing::sqlite().await;
    create_user(&db.db, "vera@example.com", Some("Viewer")).await;
    let app = support::spawn(db, false).await;
    let admin = app.admin_client().await;
    let html = app.page_html(&admin, "/admin").await;
    assert!(html.contains("<h1>Administration</h1>"), "{html}");
    assert!(
        html.contains(">vera@example.com</a></td>") && html.contains("<td>Viewer</td>"),
        "{html}"
    );
    assert!(
        html.contains("<strong>Destination manager</strong></a>"),
        "{html}"
    );
    assert!(
        html.contains("destinations.activate_without_mapping"),
        "the Administrator lists every permission"
    );

    let viewer = client();
    app.login(&viewer, "vera@example.com", PASSWORD).await;
    let html = app.page_html(&viewer, "/admin").await;
    assert!(
        html.contains("You do not have permission to do that."),
        "{html}"
    );
    assert!(
        !html.contains("root@example.com"),
        "no users leak to a viewer"
    );
}
