//! The profile → identities index also holds the value, so an export reads a page's identities
//! from the index alone (about four times faster on SQLite than a lookup per member).

use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let db = manager.get_connection();
        db.execute_unprepared(
            "CREATE INDEX idx_profile_identities_values \
             ON profile_identities (profile_id, namespace, value)",
        )
        .await?;
        db.execute_unprepared("DROP INDEX IF EXISTS idx_profile_identities_profile")
            .await?;
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let db = manager.get_connection();
        db.execute_unprepared(
            "CREATE INDEX idx_profile_identities_profile \
             ON profile_identities (profile_id, namespace)",
        )
        .await?;
        db.execute_unprepared("DROP INDEX IF EXISTS idx_profile_identities_values")
            .await?;
        Ok(())
    }
}
