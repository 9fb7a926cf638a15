//! PostgreSQL only: segment memberships lose their foreign keys. PostgreSQL checks a foreign
//! key with a trigger per inserted row, which doubled the time of a first segment evaluation
//! (about 17 µs per new member). Integrity is kept by the code instead: deleting a segment
//! deletes its memberships in the same transaction, and evaluation marks members whose profile
//! is gone as exited. SQLite, where the check is a cheap index lookup, keeps its keys.

use sea_orm_migration::prelude::*;
use sea_orm_migration::sea_orm::DbBackend;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        if manager.get_database_backend() != DbBackend::Postgres {
            return Ok(());
        }
        manager
            .get_connection()
            .execute_unprepared(
                "DO $$ DECLARE c record; BEGIN \
                 FOR c IN SELECT conname FROM pg_constraint \
                 WHERE conrelid = 'segment_memberships'::regclass AND contype = 'f' LOOP \
                 EXECUTE 'ALTER TABLE segment_memberships DROP CONSTRAINT ' || quote_ident(c.conname); \
                 END LOOP; END $$",
            )
            .await?;
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        if manager.get_database_backend() != DbBackend::Postgres {
            return Ok(());
        }
        let db = manager.get_connection();
        db.execute_unprepared(
            "ALTER TABLE segment_memberships ADD CONSTRAINT segment_memberships_segment_fk \
             FOREIGN KEY (segment_id) REFERENCES segments (id) ON DELETE CASCADE",
        )
        .await?;
        db.execute_unprepared(
            "ALTER TABLE segment_memberships ADD CONSTRAINT segment_memberships_profile_fk \
             FOREIGN KEY (profile_id) REFERENCES profiles (id) ON DELETE CASCADE",
        )
        .await?;
        Ok(())
    }
}
