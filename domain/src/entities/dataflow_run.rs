//! The `dataflow_runs` table: one export of a dataflow's segment for a slot.

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "dataflow_runs")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    pub public_id: String,
    pub dataflow_id: i32,
    pub segment_id: i32,
    pub slot: DateTimeUtc,
    pub trigger: String,
    pub status: String,
    pub attempt: i32,
    pub lease_owner: Option<String>,
    pub lease_expires_at: Option<DateTimeUtc>,
    pub started_at: Option<DateTimeUtc>,
    pub finished_at: Option<DateTimeUtc>,
    pub received: i64,
    pub activated: i64,
    pub excluded: String,
    pub failed: String,
    pub files: String,
    pub error: Option<String>,
    pub created_at: DateTimeUtc,
    /// Streaming: membership changes up to this time belong to the run (fixed at first claim).
    pub window_end: Option<DateTimeUtc>,
    /// Streaming: every member up to this profile id has been delivered.
    pub checkpoint: Option<i64>,
    /// A replay run: the run whose failed records it re-sends.
    pub replay_of: Option<i64>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
