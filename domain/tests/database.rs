//! Service tests on real databases: a fresh SQLite file, and PostgreSQL when provided.

use domain::{db, instance, testing};
use sea_orm::ConnectionTrait;

#[tokio::test]
async fn migrations_apply_and_are_counted_on_every_backend() {
    for t in testing::all().await {
        let applied = db::applied_migrations(&t.db).await.unwrap();
        assert!(applied >= 1, "{}: {applied} migrations", t.label);
        // Running them again is a no-op, as at every start-up.
        db::migrate(&t.db).await.unwrap();
        assert_eq!(
            db::applied_migrations(&t.db).await.unwrap(),
            applied,
            "{}",
            t.label
        );
    }
}

#[tokio::test]
async fn the_instance_is_created_once_and_survives_reconnecting() {
    for t in testing::all().await {
        assert_eq!(instance::load(&t.db).await.unwrap(), None, "{}", t.label);
        let first = instance::ensure(&t.db).await.unwrap();
        let again = instance::ensure(&t.db).await.unwrap();
        assert_eq!(
            first, again,
            "{}: second call must not replace the identity",
            t.label
        );

        t.db.clone().close().await.unwrap();
        let reopened = db::connect(&t.url).await.unwrap();
        assert_eq!(
            instance::load(&reopened).await.unwrap(),
            Some(first),
            "{}",
            t.label
        );
    }
}

#[tokio::test]
async fn sqlite_is_opened_with_foreign_keys_wal_and_a_busy_timeout() {
    let t = testing::sqlite().await;
    let pragma = async |name: &str| {
        let sql = format!("SELECT * FROM pragma_{name}");
        let statement = sea_orm::Statement::from_string(t.db.get_database_backend(), sql);
        t.db.query_one_raw(statement)
            .await
            .unwrap()
            .expect("a pragma row")
    };
    assert_eq!(
        pragma("foreign_keys")
            .await
            .try_get_by_index::<i64>(0)
            .unwrap(),
        1
    );
    assert_eq!(
        pragma("journal_mode")
            .await
            .try_get_by_index::<String>(0)
            .unwrap(),
        "wal"
    );
    assert_eq!(
        pragma("busy_timeout")
            .await
            .try_get_by_index::<i64>(0)
            .unwrap(),
        10_000
    );
}

#[tokio::test]
async fn an_unreachable_postgres_server_is_a_database_error_not_a_panic() {
    let err = db::connect("postgres://nobody@127.0.0.1:1/none")
        .await
        .unwrap_err();
    assert!(matches!(err, domain::Error::Database(_)), "{err:?}");
}
