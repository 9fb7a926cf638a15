//! Accounts and connections: validation, sealed secrets, and "Test connection" against a real
//! OpenSSH sshd, a real S3-compatible server (s3s-fs), a local HTTP server and the landing zone.

use std::collections::{BTreeMap, BTreeSet};
use std::io::{Read, Write};

use domain::Error;
use domain::connections::accounts::{self, AccountInput};
use domain::connections::dataflows::{self, ConnectionInput};
use domain::connections::probe::{FailureClass, ProbeOutcome};
use domain::entities::account;
use domain::testing;
use sea_orm::{ActiveModelTrait, EntityTrait, Set};

#[path = "support/azure_sdk.rs"]
mod azure_sdk;

fn values(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
    pairs
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect()
}

fn input(destination: &str, name: &str, pairs: &[(&str, &str)]) -> AccountInput {
    AccountInput {
        destination_id: destination.into(),
        name: name.into(),
        values: values(pairs),
        clear: BTreeSet::new(),
    }
}

/// Creates an account and runs its "Test connection".
async fn create_and_test(
    db: &sea_orm::DatabaseConnection,
    c: &domain::connections::Connectors,
    account: &AccountInput,
) -> ProbeOutcome {
    let created = accounts::create(db, c, account, None).await.unwrap();
    accounts::test(db, c, &created.public_id).await.unwrap()
}

fn invalid(result: domain::Result<impl std::fmt::Debug>) -> String {
    match result {
        Err(Error::Invalid(m)) => m,
        other => panic!("expected a validation error, got {other:?}"),
    }
}

#[tokio::test]
async fn secrets_are_sealed_at_rest_and_never_in_views() {
    for t in testing::all().await {
        let landing = tempfile::tempdir().unwrap();
        let c = testing::connectors(landing.path());
        let created = accounts::create(
            &t.db,
            &c,
            &input(
                "amazon_s3",
                "Prod bucket",
                &[
                    ("access_key_id", "AKIAFERRYTEST"),
                    ("secret_access_key", "very-secret-value-42"),
                    ("bucket", "exports"),
                ],
            ),
            None,
        )
        .await
        .unwrap();
        assert_eq!(
            created.user_name.as_deref(),
            Some("AKIAFERRYTEST"),
            "{}",
            t.label
        );
        assert_eq!(
            created.fields.get("region").map(String::as_str),
            Some("us-east-1")
        );
        assert!(created.secrets_set.contains("secret_access_key"));
        let shown = serde_json::to_string(&created).unwrap();
        assert!(!shown.contains("very-secret-value-42"), "{shown}");
        let listed =
            serde_json::to_string(&accounts::list(&t.db, &c, None).await.unwrap()).unwrap();
        assert!(!listed.contains("very-secret-value-42"));

        let row = accounts::find(&t.db, &created.public_id).await.unwrap();
        assert!(
            !row.sealed_secrets.contains("very-secret"),
            "stored in the clear"
        );
        assert!(!row.fields.contains("very-secret"));
        let opened = accounts::credentials(&c, &row).unwrap();
        assert_eq!(opened["secret_access_key"], "very-secret-value-42");

        // Sealed secrets copied to another account do not open there.
        let other = accounts::create(
            &t.db,
            &c,
            &input(
                "amazon_s3",
                "Other",
                &[
                    ("access_key_id", "AKIA2"),
                    ("secret_access_key", "x"),
                    ("bucket", "b"),
                ],
            ),
            None,
        )
        .await
        .unwrap();
        let mut moved: account::ActiveModel = accounts::find(&t.db, &other.public_id)
            .await
            .unwrap()
            .into();
        moved.sealed_secrets = Set(row.sealed_secrets.clone());
        let moved = moved.update(&t.db).await.unwrap();
        assert!(matches!(
            accounts::credentials(&c, &moved),
            Err(Error::Corrupt(_))
        ));
    }
}

#[tokio::test]
async fn account_fields_are_checked_against_the_spec() {
    let t = testing::sqlite().await;
    let landing = tempfile::tempdir().unwrap();
    let c = testing::connectors(landing.path());
    let sftp = |pairs: &[(&str, &str)]| input("sftp", "Drop", pairs);
    let e = invalid(
        accounts::create(&t.db, &c, &sftp(&[("host", "h"), ("username", "u")]), None).await,
    );
    assert_eq!(e, "Give Password or SSH private key.");
    let e = invalid(
        accounts::create(
            &t.db,
            &c,
            &sftp(&[("username", "u"), ("password", "p")]),
            None,
        )
        .await,
    );
    assert_eq!(e, "Host is required.");
    let e = invalid(
        accounts::create(
            &t.db,
            &c,
            &sftp(&[
                ("host", "h"),
                ("username", "u"),
                ("password", "p"),
                ("port", "70000"),
            ]),
            None,
        )
        .await,
    );
    assert_eq!(e, "Port must be from 1 to 65535.");
    let e = invalid(
        accounts::create(
            &t.db,
            &c,
            &sftp(&[
                ("host", "h"),
                ("username", "u"),
                ("password", "p"),
                ("colour", "red"),
            ]),
            None,
        )
        .await,
    );
    assert_eq!(e, "SFTP accounts have no field \"colour\".");
    let e = invalid(
        accounts::create(
            &t.db,
            &c,
            &sftp(&[("host", "h\nevil"), ("username", "u"), ("password", "p")]),
            None,
        )
        .await,
    );
    assert_eq!(e, "Host contains control characters.");
    let e = invalid(
        accounts::create(
            &t.db,
            &c,
            &input(
                "sftp",
                "  ",
                &[("host", "h"), ("username", "u"), ("password", "p")],
            ),
            None,
        )
        .await,
    );
    assert_eq!(e, "Give the account a name.");
    let e = invalid(
        accounts::create(
            &t.db,
            &c,
            &input(
                "amazon_s3",
                "S3",
                &[
                    ("access_key_id", "a"),
                    ("secret_access_key", "s"),
                    ("bucket", "b"),
                    ("endpoint", "ftp://x"),
                ],
            ),
            None,
        )
        .await,
    );
    assert_eq!(
        e,
        "Endpoint URL must be a URL starting with https:// or http://."
    );
    assert!(matches!(
        accounts::create(&t.db, &c, &input("nope", "X", &[]), None).await,
        Err(Error::NotFound(_))
    ));
    let ok = accounts::create(
        &t.db,
        &c,
        &sftp(&[("host", "h"), ("username", "u"), ("password", "p")]),
        None,
    )
    .await
    .unwrap();
    assert_eq!(ok.fields["port"], "22");
    assert!(matches!(
        accounts::create(
            &t.db,
            &c,
            &sftp(&[("host", "h2"), ("username", "u"), ("password", "p")]),
            None
        )
        .await,
        Err(Error::Conflict(_))
    ));
}

#[tokio::test]
async fn editing_keeps_secrets_left_empty_and_clears_those_asked() {
    let t = testing::sqlite().await;
    let landing = tempfile::tempdir().unwrap();
    let c = testing::connectors(landing.path());
    let created = accounts::create(
        &t.db,
        &c,
        &input(
            "sftp",
            "Drop",
            &[("host", "h"), ("username", "u"), ("password", "pw-1")],
        ),
        None,
    )
    .await
    .unwrap();
    let id = created.public_id.clone();
    // Renamed, password left empty: kept.
    accounts::update(
        &t.db,
        &c,
        &id,
        &input("sftp", "Drop 2", &[("host", "h"), ("username", "u")]),
    )
    .await
    .unwrap();
    let row = accounts::find(&t.db, &id).await.unwrap();
    assert_eq!(row.name, "Drop 2");
    assert_eq!(accounts::credentials(&c, &row).unwrap()["password"], "pw-1");
    // Switching to a key: the password is cleared.
    let mut switch = input(
        "sftp",
        "Drop 2",
        &[("host", "h"), ("username", "u"), ("private_key", "KEY")],
    );
    switch.clear.insert("password".into());
    let view = accounts::update(&t.db, &c, &id, &switch).await.unwrap();
    assert_eq!(view.secrets_set, BTreeSet::from(["private_key".to_owned()]));
    // Clearing the last means of authentication is refused and changes nothing.
    let mut none = input("sftp", "Drop 2", &[("host", "h"), ("username", "u")]);
    none.clear.insert("private_key".into());
    assert_eq!(
        invalid(accounts::update(&t.db, &c, &id, &none).await),
        "Give Password or SSH private key."
    );
    let row = accounts::find(&t.db, &id).await.unwrap();
    assert_eq!(
        accounts::credentials(&c, &row).unwrap()["private_key"],
        "KEY"
    );
}

#[tokio::test]
async fn connections_validate_parameters_and_start_disabled() {
    let t = testing::sqlite().await;
    let landing = tempfile::tempdir().unwrap();
    let c = testing::connectors(landing.path());
    let account = accounts::create(&t.db, &c, &input("local_folder", "Landing", &[]), None)
        .await
        .unwrap();
    let connect = |params: &[(&str, &str)]| ConnectionInput {
        destination_id: "local_folder".into(),
        account_id: account.public_id.clone(),
        name: "Daily files".into(),
        description: String::new(),
        params: values(params),
        marketing_actions: vec!["email_targeting".into()],
    };
    for (params, message) in [
        (
            vec![("folder", "../../etc")],
            "Folder path: \"../../etc\" must not contain ..",
        ),
        (
            vec![("folder", "/etc")],
            "Folder path: \"/etc\" must be relative to the destination's root.",
        ),
        (
            vec![("format", "xlsx")],
            "Local folder (landing zone) takes the formats csv, jsonl, parquet, not \"xlsx\".",
        ),
        (
            vec![("csv_delimiter", ";;")],
            "The CSV delimiter must be one character (\\t for a tab), not \";;\".",
        ),
        (
            vec![("format", "parquet"), ("compression", "gzip")],
            "Parquet files compress their own columns; choose no file compression.",
        ),
        (
            vec![("token", "x")],
            "Local folder (landing zone) connections have no parameter \"token\".",
        ),
    ] {
        let e = invalid(dataflows::create(&t.db, &c, &connect(&params), None).await);
        assert!(e.starts_with(message), "{e}");
    }
    let mut bad_action = connect(&[]);
    bad_action.marketing_actions = vec!["onsite_advertising".into()];
    assert_eq!(
        invalid(dataflows::create(&t.db, &c, &bad_action, None).await),
        "Local folder (landing zone) does not offer the marketing action \"onsite_advertising\"."
    );
    let mut wrong_account = connect(&[]);
    wrong_account.destination_id = "sftp".into();
    assert!(
        invalid(dataflows::create(&t.db, &c, &wrong_account, None).await)
            .starts_with("That account is for another destination")
    );

    let flow = dataflows::create(&t.db, &c, &connect(&[("csv_delimiter", ";")]), None)
        .await
        .unwrap();
    assert!(!flow.enabled);
    assert_eq!(flow.params["folder"], "{destination}");
    assert_eq!(flow.params["format"], "csv");
    assert_eq!(flow.params["csv_delimiter"], ";");
    assert_eq!(flow.params["csv_header"], "true");
    assert_eq!(
        dataflows::connected_destinations(&t.db).await.unwrap(),
        ["local_folder"]
    );
    // The account is in use: it cannot be deleted.
    assert!(matches!(
        accounts::delete(&t.db, &account.public_id).await,
        Err(Error::Conflict(_))
    ));
    assert_eq!(
        accounts::get(&t.db, &c, &account.public_id)
            .await
            .unwrap()
            .dataflows,
        1
    );
}

#[tokio::test]
async fn testing_a_local_folder_account_writes_in_the_landing_zone() {
    let t = testing::sqlite().await;
    let landing = tempfile::tempdir().unwrap();
    let c = testing::connectors(&landing.path().join("zone"));
    let account = accounts::create(&t.db, &c, &input("local_folder", "Landing", &[]), None)
        .await
        .unwrap();
    let outcome = accounts::test(&t.db, &c, &account.public_id).await.unwrap();
    assert!(outcome.succeeded(), "{outcome:?}");
    assert!(landing.path().join("zone").is_dir());
    assert_eq!(
        std::fs::read_dir(landing.path().join("zone"))
            .unwrap()
            .count(),
        0,
        "probe left behind"
    );
    let view = accounts::get(&t.db, &c, &account.public_id).await.unwrap();
    assert!(view.authorized_at.is_some());
}

fn sftp_server() -> Option<Vec<String>> {
    testing::service(&[
        "FERRY_TEST_SFTP_HOST",
        "FERRY_TEST_SFTP_PORT",
        "FERRY_TEST_SFTP_USER",
        "FERRY_TEST_SFTP_KEY",
        "FERRY_TEST_SFTP_FOLDER",
    ])
}

#[tokio::test]
async fn sftp_test_connection_against_a_real_sshd() {
    let Some(server) = sftp_server() else { return };
    let [host, port, user, key_file, folder] = &server[..] else {
        unreachable!()
    };
    let key = std::fs::read_to_string(key_file).unwrap();
    let t = testing::sqlite().await;
    let landing = tempfile::tempdir().unwrap();
    let c = testing::connectors(landing.path());
    let make = |name: &str, extra: &[(&str, &str)]| {
        let mut pairs = vec![
            ("host", host.as_str()),
            ("port", port.as_str()),
            ("username", user.as_str()),
        ];
        pairs.extend_from_slice(extra);
        input("sftp", name, &pairs)
    };

    let good = accounts::create(
        &t.db,
        &c,
        &make("Good", &[("private_key", &key), ("base_folder", folder)]),
        None,
    )
    .await
    .unwrap();
    let outcome = accounts::test(&t.db, &c, &good.public_id).await.unwrap();
    assert!(outcome.succeeded(), "{outcome:?}");
    let pinned = outcome.host_key.clone().expect("host key seen");
    assert!(pinned.starts_with("SHA256:"), "{pinned}");
    assert_eq!(
        accounts::get(&t.db, &c, &good.public_id)
            .await
            .unwrap()
            .host_key,
        Some(pinned.clone())
    );
    // Again: the pinned key matches.
    assert!(
        accounts::test(&t.db, &c, &good.public_id)
            .await
            .unwrap()
            .succeeded()
    );

    // A server whose key differs from the pinned one is refused.
    let row = accounts::find(&t.db, &good.public_id).await.unwrap();
    let mut tampered: account::ActiveModel = row.into();
    tampered.host_key = Set(Some("SHA256:not-the-servers-key".into()));
    tampered.update(&t.db).await.unwrap();
    let outcome = accounts::test(&t.db, &c, &good.public_id).await.unwrap();
    assert_eq!(outcome.failure, Some(FailureClass::HostKey), "{outcome:?}");
    assert!(outcome.message.contains(&pinned), "{}", outcome.message);

    let wrong_password = accounts::create(
        &t.db,
        &c,
        &make("Wrong password", &[("password", "not-the-password")]),
        None,
    )
    .await
    .unwrap();
    let outcome = accounts::test(&t.db, &c, &wrong_password.public_id)
        .await
        .unwrap();
    assert_eq!(
        outcome.failure,
        Some(FailureClass::Authentication),
        "{outcome:?}"
    );
    assert!(
        accounts::get(&t.db, &c, &wrong_password.public_id)
            .await
            .unwrap()
            .authorized_at
            .is_none()
    );

    let missing = format!("{folder}/no-such-folder");
    let outcome = create_and_test(
        &t.db,
        &c,
        &make(
            "No folder",
            &[("private_key", &key), ("base_folder", &missing)],
        ),
    )
    .await;
    assert_eq!(outcome.failure, Some(FailureClass::NotFound), "{outcome:?}");

    let outcome = create_and_test(
        &t.db,
        &c,
        &make(
            "Bad key",
            &[(
                "private_key",
                "-----BEGIN OPENSSH PRIVATE KEY-----\nnot a key\n-----END OPENSSH PRIVATE KEY-----",
            )],
        ),
    )
    .await;
    assert_eq!(
        outcome.failure,
        Some(FailureClass::Configuration),
        "{outcome:?}"
    );

    // Nothing listens on this port.
    let closed = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
        .to_string();
    let outcome = create_and_test(
        &t.db,
        &c,
        &input(
            "sftp",
            "Closed",
            &[
                ("host", host),
                ("port", &closed),
                ("username", user),
                ("password", "x"),
            ],
        ),
    )
    .await;
    assert_eq!(outcome.failure, Some(FailureClass::Network), "{outcome:?}");
}

#[tokio::test]
async fn s3_test_connection_against_a_real_s3_server() {
    let Some(server) = testing::service(&[
        "FERRY_TEST_S3_ENDPOINT",
        "FERRY_TEST_S3_ACCESS_KEY",
        "FERRY_TEST_S3_SECRET_KEY",
        "FERRY_TEST_S3_BUCKET",
        "FERRY_TEST_S3_ROOT",
    ]) else {
        return;
    };
    let [endpoint, access, secret, bucket, root] = &server[..] else {
        unreachable!()
    };
    let t = testing::sqlite().await;
    let landing = tempfile::tempdir().unwrap();
    let c = testing::connectors(landing.path());
    let make = |name: &str, secret: &str, bucket: &str, endpoint: &str| {
        input(
            "amazon_s3",
            name,
            &[
                ("access_key_id", access.as_str()),
                ("secret_access_key", secret),
                ("bucket", bucket),
                ("endpoint", endpoint),
            ],
        )
    };
    let outcome = create_and_test(&t.db, &c, &make("Good", secret, bucket, endpoint)).await;
    assert!(outcome.succeeded(), "{outcome:?}");
    let left: Vec<_> = std::fs::read_dir(std::path::Path::new(root).join(bucket))
        .unwrap()
        .collect();
    assert!(
        left.is_empty(),
        "the probe object was not deleted: {left:?}"
    );

    let outcome = create_and_test(
        &t.db,
        &c,
        &make("Wrong secret", "not-the-secret", bucket, endpoint),
    )
    .await;
    assert_eq!(
        outcome.failure,
        Some(FailureClass::Authentication),
        "{outcome:?}"
    );

    let outcome = create_and_test(
        &t.db,
        &c,
        &make("No bucket", secret, "no-such-bucket", endpoint),
    )
    .await;
    assert_eq!(outcome.failure, Some(FailureClass::NotFound), "{outcome:?}");

    let closed = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let outcome = create_and_test(
        &t.db,
        &c,
        &make(
            "Closed",
            secret,
            bucket,
            &format!("http://127.0.0.1:{closed}"),
        ),
    )
    .await;
    assert_eq!(outcome.failure, Some(FailureClass::Network), "{outcome:?}");
}

#[tokio::test]
async fn azure_blob_test_connection_against_azurite() {
    let Some(server) = testing::service(&[
        "FERRY_TEST_AZURE_CONNECTION_STRING",
        "FERRY_TEST_AZURE_CONTAINER",
        "FERRY_TEST_PYTHON",
    ]) else {
        return;
    };
    let [connection, container, python] = &server[..] else {
        unreachable!()
    };
    let t = testing::sqlite().await;
    let landing = tempfile::tempdir().unwrap();
    let c = testing::connectors(landing.path());
    let make = |name: &str, connection: &str, container: &str| {
        input(
            "azure_blob",
            name,
            &[("connection_string", connection), ("container", container)],
        )
    };
    let outcome = create_and_test(&t.db, &c, &make("Good", connection, container)).await;
    assert!(outcome.succeeded(), "{outcome:?}");
    // Microsoft's Python SDK lists what the probe left: nothing.
    let left = azure_sdk::blobs(python, connection, container, ".ferry-probe");
    assert!(left.is_empty(), "the probe blob was not deleted: {left:?}");

    // The same account name with another (well-formed) key: Azurite refuses the signature.
    let key_start = connection.find("AccountKey=").unwrap() + "AccountKey=".len();
    let key_end = key_start + connection[key_start..].find(';').unwrap();
    let other_key = connection.replace(
        &connection[key_start..key_end],
        "c29tZSBvdGhlciBrZXkgdGhhdCBpcyBub3QgdGhlIGFjY291bnQncw==",
    );
    let outcome = create_and_test(&t.db, &c, &make("Wrong key", &other_key, container)).await;
    assert_eq!(
        outcome.failure,
        Some(FailureClass::Authentication),
        "{outcome:?}"
    );

    let outcome = create_and_test(
        &t.db,
        &c,
        &make("No container", connection, "no-such-container"),
    )
    .await;
    assert_eq!(outcome.failure, Some(FailureClass::NotFound), "{outcome:?}");
}

/// A one-request-at-a-time HTTP server on loopback that answers 200 only for the right
/// bearer token and records the request lines it saw.
fn auth_server(token: &'static str) -> (String, std::sync::Arc<std::sync::Mutex<Vec<String>>>) {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let seen = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let record = seen.clone();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let mut stream = stream.unwrap();
            let mut buffer = [0u8; 8192];
            let n = stream.read(&mut buffer).unwrap_or(0);
            let request = String::from_utf8_lossy(&buffer[..n]).to_string();
            record
                .lock()
                .unwrap()
                .push(request.lines().next().unwrap_or_default().to_owned());
            let authorised = request
                .lines()
                .any(|l| l.eq_ignore_ascii_case(&format!("authorization: Bearer {token}")));
            let status = if authorised {
                "200 OK"
            } else {
                "401 Unauthorized"
            };
            let _ = write!(
                stream,
                "HTTP/1.1 {status}\r\nContent-Length: 2\r\nConnection: close\r\n\r\n{{}}"
            );
        }
    });
    (url, seen)
}

#[tokio::test]
async fn http_test_connection_calls_the_specs_auth_check() {
    let (url, seen) = auth_server("good-token");
    let t = testing::sqlite().await;
    let landing = tempfile::tempdir().unwrap();
    let mut c = testing::connectors(landing.path());
    c.catalog = std::sync::Arc::new(
        domain::catalog::Catalog::load(
            None,
            &BTreeMap::from([("meta_custom_audiences".to_owned(), url.clone())]),
        )
        .unwrap(),
    );
    let make = |name: &str, token: &str| {
        input(
            "meta_custom_audiences",
            name,
            &[("access_token", token), ("ad_account_id", "act_42")],
        )
    };
    let outcome = create_and_test(&t.db, &c, &make("Good", "good-token")).await;
    assert!(outcome.succeeded(), "{outcome:?}");
    assert_eq!(
        seen.lock().unwrap()[0],
        "GET /act_42?fields=id,name HTTP/1.1"
    );
    let outcome = create_and_test(&t.db, &c, &make("Bad", "wrong-token")).await;
    assert_eq!(
        outcome.failure,
        Some(FailureClass::Authentication),
        "{outcome:?}"
    );

    let outcome = create_and_test(
        &t.db,
        &c,
        &input(
            "http_api",
            "Gone",
            &[("endpoint", "http://127.0.0.1:9/x"), ("token", "t")],
        ),
    )
    .await;
    assert_eq!(outcome.failure, Some(FailureClass::Network), "{outcome:?}");
    let _ = account::Entity::find().all(&t.db).await.unwrap();
}
