//! The database schema as an ordered list of sea-orm migrations, applied at start-up.

pub use sea_orm_migration::prelude::*;

mod m20261128_000001_create_settings;
mod m20261128_000002_create_access_control;
mod m20261128_000003_create_profiles_and_segments;
mod m20261128_000004_sqlite_jsonb_attributes;
mod m20261128_000005_postgres_memberships_without_foreign_keys;
mod m20261128_000006_create_accounts_and_dataflows;
mod m20261128_000007_create_activations;
mod m20261128_000008_create_runs;
mod m20261128_000009_create_alerts;
mod m20261129_000010_covering_identity_index;
mod m20261129_000011_streaming_delivery;

/// Every migration, oldest first. New files are appended, never edited once released.
pub struct Migrator;

#[async_trait::async_trait]
impl MigratorTrait for Migrator {
    fn migrations() -> Vec<Box<dyn MigrationTrait>> {
        vec![
            Box::new(m20261128_000001_create_settings::Migration),
            Box::new(m20261128_000002_create_access_control::Migration),
            Box::new(m20261128_000003_create_profiles_and_segments::Migration),
            Box::new(m20261128_000004_sqlite_jsonb_attributes::Migration),
            Box::new(m20261128_000005_postgres_memberships_without_foreign_keys::Migration),
            Box::new(m20261128_000006_create_accounts_and_dataflows::Migration),
            Box::new(m20261128_000007_create_activations::Migration),
            Box::new(m20261128_000008_create_runs::Migration),
            Box::new(m20261128_000009_create_alerts::Migration),
            Box::new(m20261129_000010_covering_identity_index::Migration),
            Box::new(m20261129_000011_streaming_delivery::Migration),
        ]
    }
}
