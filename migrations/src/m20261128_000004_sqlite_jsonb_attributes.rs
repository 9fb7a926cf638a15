//! SQLite only: a JSONB copy of each profile's attributes, kept current by triggers, so segment
//! rules read attributes without parsing JSON text (about four times faster per profile).
//! PostgreSQL already stores attributes as JSONB.

use sea_orm_migration::prelude::*;
use sea_orm_migration::sea_orm::DbBackend;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        if manager.get_database_backend() != DbBackend::Sqlite {
            return Ok(());
        }
        let db = manager.get_connection();
        db.execute_unprepared("ALTER TABLE profiles ADD COLUMN attributes_jsonb BLOB")
            .await?;
        db.execute_unprepared("UPDATE profiles SET attributes_jsonb = jsonb(attributes)")
            .await?;
        db.execute_unprepared(
            "CREATE TRIGGER profiles_jsonb_after_insert AFTER INSERT ON profiles BEGIN \
             UPDATE profiles SET attributes_jsonb = jsonb(NEW.attributes) WHERE id = NEW.id; END",
        )
        .await?;
        db.execute_unprepared(
            "CREATE TRIGGER profiles_jsonb_after_update AFTER UPDATE OF attributes ON profiles BEGIN \
             UPDATE profiles SET attributes_jsonb = jsonb(NEW.attributes) WHERE id = NEW.id; END",
        )
        .await?;
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        if manager.get_database_backend() != DbBackend::Sqlite {
            return Ok(());
        }
        let db = manager.get_connection();
        db.execute_unprepared("DROP TRIGGER IF EXISTS profiles_jsonb_after_insert")
            .await?;
        db.execute_unprepared("DROP TRIGGER IF EXISTS profiles_jsonb_after_update")
            .await?;
        db.execute_unprepared("ALTER TABLE profiles DROP COLUMN attributes_jsonb")
            .await?;
        Ok(())
    }
}
