//! The `audit_events` table: who did what to which object, when, from where, and the outcome.

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "audit_events")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    pub occurred_at: DateTimeUtc,
    pub actor_user_id: Option<i32>,
    pub actor_email: String,
    pub action: String,
    pub object_type: String,
    pub object_id: String,
    pub outcome: String,
    pub client_addr: String,
    pub details: String,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
