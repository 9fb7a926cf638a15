//! The tower-sessions store over Ferry's own database (SQLite or PostgreSQL), so sessions
//! survive restarts and several server processes share them.

use chrono::{DateTime, Utc};
use domain::db::DatabaseConnection;
use time::OffsetDateTime;
use tower_sessions::session::{Id, Record};
use tower_sessions::session_store::{self, SessionStore};

/// The session key holding the signed-in user's id. It is copied into its own column so that
/// disabling a user or changing their password can end all their sessions at once.
pub use app::auth::ssr::USER_ID_KEY;

/// Sessions stored in the `sessions` table.
#[derive(Clone, Debug)]
pub struct DbSessionStore {
    db: DatabaseConnection,
}

impl DbSessionStore {
    pub fn new(db: DatabaseConnection) -> Self {
        Self { db }
    }
}

fn to_chrono(at: OffsetDateTime) -> DateTime<Utc> {
    DateTime::from_timestamp(at.unix_timestamp(), at.nanosecond()).unwrap_or_default()
}

fn backend(error: domain::Error) -> session_store::Error {
    session_store::Error::Backend(error.to_string())
}

fn encode(record: &Record) -> session_store::Result<(Option<i32>, String)> {
    let user_id = record
        .data
        .get(USER_ID_KEY)
        .and_then(serde_json::Value::as_i64)
        .and_then(|id| i32::try_from(id).ok());
    let data =
        serde_json::to_string(record).map_err(|e| session_store::Error::Encode(e.to_string()))?;
    Ok((user_id, data))
}

#[async_trait::async_trait]
impl SessionStore for DbSessionStore {
    async fn create(&self, record: &mut Record) -> session_store::Result<()> {
        // Ids are 128 random bits; a collision is all but impossible, but never overwrite one.
        loop {
            let (user_id, data) = encode(record)?;
            let id = record.id.to_string();
            let expires = to_chrono(record.expiry_date);
            if domain::sessions::insert_new(&self.db, &id, user_id, data, expires)
                .await
                .map_err(backend)?
            {
                return Ok(());
            }
            record.id = Id::default();
        }
    }

    async fn save(&self, record: &Record) -> session_store::Result<()> {
        let (user_id, data) = encode(record)?;
        domain::sessions::save(
            &self.db,
            &record.id.to_string(),
            user_id,
            data,
            to_chrono(record.expiry_date),
        )
        .await
        .map_err(backend)
    }

    async fn load(&self, id: &Id) -> session_store::Result<Option<Record>> {
        let Some(data) = domain::sessions::load(&self.db, &id.to_string(), Utc::now())
            .await
            .map_err(backend)?
        else {
            return Ok(None);
        };
        serde_json::from_str(&data)
            .map(Some)
            .map_err(|e| session_store::Error::Decode(e.to_string()))
    }

    async fn delete(&self, id: &Id) -> session_store::Result<()> {
        domain::sessions::delete(&self.db, &id.to_string())
            .await
            .map_err(backend)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn record(expiry: OffsetDateTime, user_id: Option<i64>) -> Record {
        let mut data = HashMap::new();
        if let Some(id) = user_id {
            data.insert(USER_ID_KEY.to_owned(), serde_json::json!(id));
        }
        data.insert(
            "note".to_owned(),
            serde_json::json!("</script><b>hostile</b>"),
        );
        Record {
            id: Id::default(),
            data,
            expiry_date: expiry,
        }
    }

    #[tokio::test]
    async fn records_round_trip_update_expire_and_delete_on_every_backend() {
        for t in domain::testing::all().await {
            let store = DbSessionStore::new(t.db.clone());
            let later = OffsetDateTime::now_utc() + time::Duration::minutes(30);
            let mut created = record(later, None);
            store.create(&mut created).await.unwrap();
            let loaded = store.load(&created.id).await.unwrap().expect("stored");
            assert_eq!(loaded.data, created.data, "{}", t.label);

            // Signing in stores the user id, which also fills the column used to end sessions.
            let new = domain::access::users::NewUser {
                email: "s@example.com".into(),
                display_name: String::new(),
                password: "session store test".into(),
                role_ids: vec![],
            };
            let user = domain::access::users::create(&t.db, new).await.unwrap();
            created
                .data
                .insert(USER_ID_KEY.to_owned(), serde_json::json!(user.id));
            store.save(&created).await.unwrap();
            let loaded = store.load(&created.id).await.unwrap().unwrap();
            assert_eq!(loaded.data[USER_ID_KEY], user.id, "{}", t.label);
            let now = chrono::Utc::now();
            assert_eq!(
                domain::sessions::count_for_user(&t.db, user.id, now)
                    .await
                    .unwrap(),
                1,
                "{}",
                t.label
            );

            store.delete(&created.id).await.unwrap();
            assert!(
                store.load(&created.id).await.unwrap().is_none(),
                "{}",
                t.label
            );

            let mut expired = record(OffsetDateTime::now_utc() - time::Duration::seconds(1), None);
            store.create(&mut expired).await.unwrap();
            assert!(
                store.load(&expired.id).await.unwrap().is_none(),
                "{}: expired sessions never load",
                t.label
            );
        }
    }

    #[tokio::test]
    async fn an_id_collision_gets_a_new_id_instead_of_overwriting() {
        let t = domain::testing::sqlite().await;
        let store = DbSessionStore::new(t.db.clone());
        let later = OffsetDateTime::now_utc() + time::Duration::minutes(30);
        let mut first = record(later, None);
        store.create(&mut first).await.unwrap();
        let mut second = record(later, None);
        second.id = first.id;
        second
            .data
            .insert("owner".into(), serde_json::json!("second"));
        store.create(&mut second).await.unwrap();
        assert_ne!(second.id, first.id);
        assert!(
            !store
                .load(&first.id)
                .await
                .unwrap()
                .unwrap()
                .data
                .contains_key("owner")
        );
    }
}
