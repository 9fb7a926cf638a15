//! Segments, the schema catalog and profile imports over HTTP: what each role can do, what the
//! pages show, and how bad input is answered.

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

async fn upload(
    app: &TestServer,
    browser: &reqwest::Client,
    name: &str,
    body: Vec<u8>,
) -> (StatusCode, serde_json::Value) {
    let form = reqwest::multipart::Form::new().text("key", "CRMID").part(
        "file",
        reqwest::multipart::Part::bytes(body).file_name(name.to_owned()),
    );
    let response = browser
        .post(app.url("/api/profiles/import"))
        .multipart(form)
        .send()
        .await
        .unwrap();
    let status = response.status();
    let text = response.text().await.unwrap();
    (
        status,
        serde_json::from_str(&text).unwrap_or(serde_json::Value::String(text)),
    )
}

const PEOPLE: &str = "identity.CRMID,identity.Email,person.name.firstName,loyalty.tier,loyalty.points\n\
P1,ada@example.com,Ada,gold,900\n\
P2,bob@example.com,Bob,silver,100\n\
P3,cy@example.com,Cy,platinum,5000\n\
P4,dee@example.com,Dee,gold,oops\n";

#[tokio::test]
async fn an_uploaded_file_is_imported_with_a_report_and_bad_uploads_are_refused() {
    let db = testing::sqlite().await;
    let app = support::spawn(db, false).await;
    let admin = app.admin_client().await;

    let (status, report) = upload(&app, &admin, "people.csv", PEOPLE.as_bytes().to_vec()).await;
    assert_eq!(status, StatusCode::OK, "{report}");
    assert_eq!(report["rows"], 4);
    assert_eq!(report["inserted"], 3);
    assert_eq!(report["rejected"], 1);
    assert_eq!(
        report["rejections"][0],
        serde_json::json!([5, "loyalty.points: expected a whole number"])
    );
    let (_, again) = upload(&app, &admin, "people.csv", PEOPLE.as_bytes().to_vec()).await;
    assert_eq!(
        (again["inserted"].as_u64(), again["unchanged"].as_u64()),
        (Some(0), Some(3)),
        "idempotent"
    );

    let (status, body) = upload(&app, &admin, "people.xlsx", b"x".to_vec()).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(
        body["Invalid"],
        "\"people.xlsx\" is neither a .csv nor a .jsonl file."
    );
    // The test server allows 64 KB.
    let (status, body) = upload(&app, &admin, "big.csv", vec![b'a'; 70 * 1024]).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(
        body["Invalid"].as_str().unwrap().contains("larger than"),
        "{body}"
    );
    let (status, body) = upload(
        &app,
        &admin,
        "cols.csv",
        b"identity.CRMID,shoe.size\nA,1\n".to_vec(),
    )
    .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(
        body["Invalid"]
            .as_str()
            .unwrap()
            .starts_with("Unknown columns: shoe.size"),
        "{body}"
    );

    // Not a multipart form at all: a clear 400 rather than a crash.
    let raw = admin
        .post(app.url("/api/profiles/import"))
        .header("content-type", "text/csv")
        .body(PEOPLE)
        .send()
        .await
        .unwrap();
    assert_eq!(raw.status(), StatusCode::BAD_REQUEST);
    assert!(raw.text().await.unwrap().contains("multipart form"));

    let filter = audit::Filter {
        action: Some("profiles.import".into()),
        ..Default::default()
    };
    let events = audit::list(&app.db.db, &filter).await.unwrap();
    assert_eq!(events.len(), 5);
    assert!(
        events
            .iter()
            .any(|e| e.outcome == "allowed" && e.details.contains("\"inserted\":3"))
    );
}

#[tokio::test]
async fn a_segment_is_checked_created_evaluated_and_sampled_by_permission() {
    let db = testing::sqlite().await;
    create_user(&db.db, "vera@example.com", Some("Viewer")).await;
    create_user(&db.db, "max@example.com", Some("Activator")).await;
    let app = support::spawn(db, false).await;
    let admin = app.admin_client().await;
    upload(&app, &admin, "people.csv", PEOPLE.as_bytes().to_vec()).await;

    let (_, feedback) = call(
        &app,
        &admin,
        "/api/segments/check",
        &[("rule", "loyalty.tier = gold")],
    )
    .await;
    let feedback: serde_json::Value = serde_json::from_str(&feedback).unwrap();
    assert_eq!(feedback["Invalid"]["column"], 16, "{feedback}");
    assert_eq!(feedback["Invalid"]["line_text"], "loyalty.tier = gold");
    let (_, feedback) = call(
        &app,
        &admin,
        "/api/segments/check",
        &[("rule", r#"loyalty.tier in ["gold", "platinum"]"#)],
    )
    .await;
    assert_eq!(feedback, r#"{"Valid":{"estimate":2}}"#);

    let form = |rule: &'static str| {
        vec![
            ("name", "Top tiers"),
            ("description", "Gold and above"),
            ("rule", rule),
            ("schedule", "daily"),
        ]
    };
    let (status, body) = call(
        &app,
        &admin,
        "/api/segments/create",
        &form("loyalty.tier >"),
    )
    .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(
        body.contains("line 1, column 15: expected a value"),
        "{body}"
    );
    let (status, body) = call(
        &app,
        &admin,
        "/api/segments/create",
        &form(r#"loyalty.tier in ["gold", "platinum"]"#),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let id: String = serde_json::from_str(&body).unwrap();
    let (status, body) = call(
        &app,
        &admin,
        "/api/segments/evaluate",
        &[("segment_id", &id)],
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert!(body.contains("\"size\":2"), "{body}");

    let html = app.page_html(&admin, "/segments").await;
    assert!(
        html.contains("<strong>Top tiers</strong>") && html.contains("2 profiles"),
        "{html}"
    );
    assert!(html.contains("New segment"), "managers may create");
    let html = app.page_html(&admin, &format!("/segments/{id}")).await;
    assert!(
        html.contains("Save segment") && html.contains("Evaluate now"),
        "{html}"
    );
    assert!(
        html.contains("<td>ada@example.com</td>") && html.contains("<td>cy@example.com</td>"),
        "the member sample: {html}"
    );
    assert!(!html.contains("<td>bob@example.com</td>"), "{html}");

    // A viewer sees the segment but cannot change it or see who is in it.
    let vera = client();
    app.login(&vera, "vera@example.com", PASSWORD).await;
    let html = app.page_html(&vera, &format!("/segments/{id}")).await;
    assert!(
        html.contains("<h1>Top tiers</h1>") && html.contains("loyalty.tier in"),
        "{html}"
    );
    assert!(
        !html.contains("Save segment")
            && !html.contains("Evaluate now")
            && !html.contains("ada@example.com"),
        "{html}"
    );
    let html = app.page_html(&vera, "/segments").await;
    assert!(!html.contains("New segment"), "{html}");
    let (status, _) = call(&app, &vera, "/api/segments/members", &[("segment_id", &id)]).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    // An activator (profiles.view) may look at members.
    let max = client();
    app.login(&max, "max@example.com", PASSWORD).await;
    let (status, body) = call(&app, &max, "/api/segments/members", &[("segment_id", &id)]).await;
    assert_eq!(status, StatusCode::OK);
    assert!(body.contains("cy@example.com"), "{body}");

    let filter = audit::Filter {
        action: Some("segments.".into()),
        ..Default::default()
    };
    let actions: Vec<String> = audit::list(&app.db.db, &filter)
        .await
        .unwrap()
        .into_iter()
        .map(|e| format!("{} {}", e.action, e.outcome))
        .collect();
    assert_eq!(
        actions,
        [
            "segments.evaluate allowed",
            "segments.create allowed",
            "segments.create failed"
        ]
    );
}

#[tokio::test]
async fn the_schema_page_lists_fields_and_managers_change_labels() {
    let db = testing::sqlite().await;
    create_user(&db.db, "vera@example.com", Some("Viewer")).await;
    let app = support::spawn(db, false).await;
    let admin = app.admin_client().await;
    let html = app.page_html(&admin, "/schema").await;
    assert!(
        html.contains("<code>consents.marketing.email.val</code>")
            && html.contains("<code>Email_LC_SHA256</code>"),
        "{html}"
    );

    let (status, body) = call(
        &app,
        &admin,
        "/api/schema/set-labels",
        &[
            ("path", "loyalty.points"),
            ("labels[0]", "c2"),
            ("labels[1]", "I2"),
        ],
    )
    .await;
    assert_eq!((status, body.as_str()), (StatusCode::OK, r#"["C2","I2"]"#));
    let (status, body) = call(
        &app,
        &admin,
        "/api/schema/set-labels",
        &[("path", "loyalty.points"), ("labels[0]", "X9")],
    )
    .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(body.contains("not a data-usage label"), "{body}");
    let (status, _) = call(
        &app,
        &admin,
        "/api/schema/set-labels",
        &[("path", "no.such.field")],
    )
    .await;
    assert_eq!(status, StatusCode::NOT_FOUND);

    let vera = client();
    app.login(&vera, "vera@example.com", PASSWORD).await;
    let html = app.page_html(&vera, "/schema").await;
    assert!(html.contains("C2 I2"), "viewers read the labels: {html}");
    assert!(
        !html.contains("Labels of loyalty.points"),
        "but get no form"
    );
}
