//! The `segments` table: named audiences defined by a rule.

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "segments")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i32,
    pub public_id: String,
    pub name: String,
    pub description: String,
    pub rule: String,
    pub evaluation_schedule: String,
    pub size: Option<i64>,
    pub last_evaluated_at: Option<DateTimeUtc>,
    pub last_evaluation_ms: Option<i64>,
    pub created_at: DateTimeUtc,
    pub updated_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
