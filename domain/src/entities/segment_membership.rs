//! The `segment_memberships` table: who is (realized) or was (exited) in a segment, and when.

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "segment_memberships")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub segment_id: i32,
    #[sea_orm(primary_key, auto_increment = false)]
    pub profile_id: i64,
    pub status: String,
    pub qualified_at: DateTimeUtc,
    pub exited_at: Option<DateTimeUtc>,
    pub updated_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
