//! The `accounts` table: credentials for a destination platform, secrets sealed.

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "accounts")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i32,
    pub public_id: String,
    pub destination_id: String,
    pub name: String,
    pub fields: String,
    pub sealed_secrets: String,
    pub host_key: Option<String>,
    pub created_by: Option<i32>,
    pub created_at: DateTimeUtc,
    pub updated_at: DateTimeUtc,
    pub authorized_at: Option<DateTimeUtc>,
    pub last_tested_at: Option<DateTimeUtc>,
    pub last_test_outcome: Option<String>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
