//! The `run_failed_records` table: a record a platform refused, kept for inspection and replay.

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "run_failed_records")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    pub run_id: i64,
    pub profile_id: i64,
    pub action: String,
    pub record: String,
    pub reason: String,
    pub status_code: Option<i32>,
    pub request_sample: String,
    pub response_sample: String,
    pub replayed_at: Option<DateTimeUtc>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
