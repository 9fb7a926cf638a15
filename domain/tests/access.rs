//! Access-control services on real databases: users, roles, the last-Administrator rule,
//! throttling, sessions and the audit log.

use std::collections::BTreeSet;

use chrono::{Duration, SubsecRound, Utc};
use domain::access::audit::{self, Actor, Event, Filter, Outcome};
use domain::access::permissions::ADMINISTRATOR;
use domain::access::users::{self, NewUser};
use domain::access::{Permission, roles, throttle};
use domain::{Error, sessions, testing};

const PASSWORD: &str = "correct horse battery";

async fn role_id(db: &domain::db::DatabaseConnection, name: &str) -> String {
    roles::find_by_name(db, name).await.unwrap().public_id
}

async fn new_user(
    db: &domain::db::DatabaseConnection,
    email: &str,
    role: &str,
) -> domain::entities::user::Model {
    let role = role_id(db, role).await;
    users::create(
        db,
        NewUser {
            email: email.into(),
            display_name: String::new(),
            password: PASSWORD.into(),
            role_ids: vec![role],
        },
    )
    .await
    .unwrap()
}

#[tokio::test]
async fn built_in_roles_are_created_once_with_their_permissions() {
    for t in testing::all().await {
        roles::ensure_built_ins(&t.db).await.unwrap();
        roles::ensure_built_ins(&t.db).await.unwrap();
        let all = roles::list(&t.db).await.unwrap();
        let names: Vec<&str> = all.iter().map(|r| r.name.as_str()).collect();
        assert_eq!(
            names,
            [
                "Administrator",
                "Destination manager",
                "Activator",
                "Viewer"
            ],
            "{}",
            t.label
        );
        let admin = &all[0];
        assert!(admin.built_in);
        assert_eq!(
            admin.permissions,
            Permission::ALL.into_iter().collect(),
            "{}",
            t.label
        );
    }
}

#[tokio::test]
async fn users_sign_in_with_their_password_and_get_their_roles_permissions() {
    for t in testing::all().await {
        roles::ensure_built_ins(&t.db).await.unwrap();
        let viewer = new_user(&t.db, " Vera@Example.COM ", "Viewer").await;
        assert_eq!(
            viewer.email, "vera@example.com",
            "emails are stored trimmed and lowercased"
        );
        assert_eq!(viewer.display_name, "vera");

        let signed_in = users::authenticate(&t.db, "VERA@example.com", PASSWORD)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(signed_in.id, viewer.id);
        assert!(
            users::authenticate(&t.db, "vera@example.com", "wrong password!!")
                .await
                .unwrap()
                .is_none()
        );
        assert!(
            users::authenticate(&t.db, "nobody@example.com", PASSWORD)
                .await
                .unwrap()
                .is_none()
        );

        let principal = users::principal(&t.db, viewer.id).await.unwrap().unwrap();
        let expected: BTreeSet<Permission> =
            [Permission::DestinationsView, Permission::SegmentsView].into();
        assert_eq!(principal.permissions, expected, "{}", t.label);
        assert!(!principal.can(Permission::UsersManage));

        // Several roles add up.
        let activator = role_id(&t.db, "Activator").await;
        let viewer_role = role_id(&t.db, "Viewer").await;
        users::set_roles(&t.db, &viewer.public_id, &[viewer_role, activator])
            .await
            .unwrap();
        let principal = users::principal(&t.db, viewer.id).await.unwrap().unwrap();
        assert!(
            principal.can(Permission::DestinationsActivate)
                && principal.can(Permission::ProfilesView)
        );
    }
}

#[tokio::test]
async fn bad_input_is_refused_with_a_clear_message_and_nothing_is_written() {
    for t in testing::all().await {
        roles::ensure_built_ins(&t.db).await.unwrap();
        new_user(&t.db, "ada@example.com", "Viewer").await;
        let viewer = role_id(&t.db, "Viewer").await;
        let attempt = |email: &str, password: &str, roles: Vec<String>| NewUser {
            email: email.into(),
            display_name: "X".into(),
            password: password.into(),
            role_ids: roles,
        };
        let cases = [
            (
                attempt("ADA@example.com", PASSWORD, vec![]),
                "already exists",
            ),
            (attempt("not-an-email", PASSWORD, vec![]), "valid email"),
            (attempt("bob@example.com", "short", vec![]), "at least 12"),
            (
                attempt("bob@example.com", "password1234", vec![]),
                "too common",
            ),
            (
                attempt(
                    "bob@example.com",
                    PASSWORD,
                    vec![viewer.clone(), "no-such-role".into()],
                ),
                "roles does not exist",
            ),
        ];
        for (new, expected) in cases {
            let err = users::create(&t.db, new).await.unwrap_err();
            assert!(err.to_string().contains(expected), "{}: {err}", t.label);
        }
        let emails: Vec<String> = users::list(&t.db)
            .await
            .unwrap()
            .into_iter()
            .map(|u| u.email)
            .collect();
        assert_eq!(
            emails,
            ["ada@example.com"],
            "{}: a refused user must leave no trace",
            t.label
        );
    }
}

#[tokio::test]
async fn the_last_active_administrator_cannot_be_disabled_or_demoted() {
    for t in testing::all().await {
        roles::ensure_built_ins(&t.db).await.unwrap();
        let admin = new_user(&t.db, "admin@example.com", ADMINISTRATOR).await;
        let viewer = role_id(&t.db, "Viewer").await;

        let err = users::set_disabled(&t.db, &admin.public_id, true)
            .await
            .unwrap_err();
        assert!(matches!(err, Error::Conflict(_)), "{}: {err}", t.label);
        let err = users::set_roles(&t.db, &admin.public_id, std::slice::from_ref(&viewer))
            .await
            .unwrap_err();
        assert!(matches!(err, Error::Conflict(_)), "{}: {err}", t.label);
        let principal = users::principal(&t.db, admin.id).await.unwrap().unwrap();
        assert!(
            principal.can(Permission::UsersManage),
            "{}: the refused change was rolled back",
            t.label
        );

        // With a second administrator, the first may go.
        let second = new_user(&t.db, "second@example.com", ADMINISTRATOR).await;
        users::set_disabled(&t.db, &admin.public_id, true)
            .await
            .unwrap();
        assert!(
            users::principal(&t.db, admin.id).await.unwrap().is_none(),
            "disabled users have no principal"
        );
        assert!(
            users::authenticate(&t.db, "admin@example.com", PASSWORD)
                .await
                .unwrap()
                .is_none()
        );
        let err = users::set_disabled(&t.db, &second.public_id, true)
            .await
            .unwrap_err();
        assert!(matches!(err, Error::Conflict(_)), "{}", t.label);
    }
}

#[tokio::test]
async fn disabling_a_user_or_changing_the_password_ends_their_sessions() {
    for t in testing::all().await {
        roles::ensure_built_ins(&t.db).await.unwrap();
        new_user(&t.db, "admin@example.com", ADMINISTRATOR).await;
        let user = new_user(&t.db, "user@example.com", "Viewer").await;
        let later = Utc::now() + Duration::hours(1);
        sessions::save(&t.db, "s1", Some(user.id), "{}".into(), later)
            .await
            .unwrap();
        assert_eq!(
            sessions::count_for_user(&t.db, user.id, Utc::now())
                .await
                .unwrap(),
            1
        );

        let updated = users::set_password(&t.db, &user.public_id, "a brand new passphrase".into())
            .await
            .unwrap();
        assert_eq!(updated.session_epoch, user.session_epoch + 1);
        assert_eq!(
            sessions::count_for_user(&t.db, user.id, Utc::now())
                .await
                .unwrap(),
            0,
            "{}",
            t.label
        );
        assert!(
            users::authenticate(&t.db, "user@example.com", "a brand new passphrase")
                .await
                .unwrap()
                .is_some()
        );

        sessions::save(&t.db, "s2", Some(user.id), "{}".into(), later)
            .await
            .unwrap();
        users::set_disabled(&t.db, &user.public_id, true)
            .await
            .unwrap();
        assert!(
            sessions::load(&t.db, "s2", Utc::now())
                .await
                .unwrap()
                .is_none(),
            "{}",
            t.label
        );
    }
}

#[tokio::test]
async fn custom_roles_are_editable_and_built_ins_are_not() {
    for t in testing::all().await {
        roles::ensure_built_ins(&t.db).await.unwrap();
        let auditor = roles::create(
            &t.db,
            " Auditor ",
            "Reads the log",
            [Permission::AuditView].into(),
        )
        .await
        .unwrap();
        assert_eq!(auditor.name, "Auditor");
        let err = roles::create(&t.db, "Auditor", "", BTreeSet::new())
            .await
            .unwrap_err();
        assert!(matches!(err, Error::Conflict(_)), "{}", t.label);

        roles::update(
            &t.db,
            &auditor.public_id,
            "Auditor",
            "",
            [Permission::AuditView, Permission::DestinationsView].into(),
        )
        .await
        .unwrap();
        let listed = roles::list(&t.db).await.unwrap();
        let edited = listed.iter().find(|r| r.name == "Auditor").unwrap();
        assert_eq!(edited.permissions.len(), 2);

        let viewer = role_id(&t.db, "Viewer").await;
        let err = roles::update(&t.db, &viewer, "Viewer", "", Permission::ALL.into())
            .await
            .unwrap_err();
        assert!(err.to_string().contains("built-in"), "{}: {err}", t.label);
    }
}

#[tokio::test]
async fn throttling_blocks_after_repeated_failures_and_a_success_clears_the_account() {
    for t in testing::all().await {
        let account = throttle::account_key("ada@example.com");
        let address = throttle::address_key("10.0.0.9");
        let keys = [account.clone(), address.clone()];
        // Whole seconds: PostgreSQL keeps microseconds, so nanoseconds would not round-trip.
        let now = Utc::now().trunc_subsecs(0);
        for _ in 0..throttle::FREE_FAILURES {
            throttle::record_failure(&t.db, &account, now)
                .await
                .unwrap();
        }
        assert_eq!(
            throttle::wait_required(&t.db, &keys, now).await.unwrap(),
            None,
            "{}",
            t.label
        );
        throttle::record_failure(&t.db, &account, now)
            .await
            .unwrap();
        assert_eq!(
            throttle::wait_required(&t.db, &keys, now).await.unwrap(),
            Some(Duration::seconds(1))
        );
        assert_eq!(
            throttle::wait_required(&t.db, &keys, now + Duration::seconds(2))
                .await
                .unwrap(),
            None
        );

        throttle::clear(&t.db, &account).await.unwrap();
        throttle::record_failure(&t.db, &account, now)
            .await
            .unwrap();
        assert_eq!(
            throttle::wait_required(&t.db, &keys, now).await.unwrap(),
            None,
            "{}: the count restarted",
            t.label
        );

        // Failures from long ago are forgotten.
        let old = now - throttle::FORGET_AFTER - Duration::minutes(1);
        for _ in 0..20 {
            throttle::record_failure(&t.db, &address, old)
                .await
                .unwrap();
        }
        throttle::record_failure(&t.db, &address, now)
            .await
            .unwrap();
        assert_eq!(
            throttle::wait_required(&t.db, &keys, now).await.unwrap(),
            None,
            "{}",
            t.label
        );
    }
}

#[tokio::test]
async fn audit_events_are_listed_newest_first_and_filtered() {
    for t in testing::all().await {
        let ada = Actor {
            user_id: None,
            email: "ada@example.com".into(),
            client_addr: "127.0.0.1".into(),
        };
        let bob = Actor {
            user_id: None,
            email: "bob@example.com".into(),
            client_addr: "127.0.0.2".into(),
        };
        for (actor, action, outcome) in [
            (&ada, "auth.login", Outcome::Allowed),
            (&bob, "auth.login", Outcome::Failed),
            (&ada, "users.create", Outcome::Allowed),
            (&bob, "users.disable", Outcome::Denied),
        ] {
            let event = Event {
                actor,
                action,
                object_type: "user",
                object_id: "x",
                outcome,
                details: serde_json::json!({ "note": "<script>alert(1)</script>" }),
            };
            audit::record(&t.db, event).await.unwrap();
        }
        let all = audit::list(&t.db, &Filter::default()).await.unwrap();
        assert_eq!(all.len(), 4);
        assert_eq!(all[0].action, "users.disable", "{}: newest first", t.label);
        assert_eq!(all[0].outcome, "denied");

        let by_actor = audit::list(
            &t.db,
            &Filter {
                actor: Some("BOB".into()),
                ..Default::default()
            },
        )
        .await
        .unwrap();
        assert_eq!(by_actor.len(), 2, "{}", t.label);
        let users_actions = audit::list(
            &t.db,
            &Filter {
                action: Some("users.".into()),
                ..Default::default()
            },
        )
        .await
        .unwrap();
        assert_eq!(users_actions.len(), 2, "{}", t.label);
        let future = audit::list(
            &t.db,
            &Filter {
                from: Some(Utc::now() + Duration::minutes(1)),
                ..Default::default()
            },
        )
        .await
        .unwrap();
        assert!(future.is_empty());
    }
}
