//! The `dataflow_segments` table: a segment activated to a dataflow, with its schedule.

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "dataflow_segments")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i32,
    pub dataflow_id: i32,
    pub segment_id: i32,
    pub schedule: String,
    pub export_mode: String,
    pub time_of_day: Option<String>,
    pub after_evaluation: bool,
    pub start_date: Date,
    pub end_date: Option<Date>,
    pub file_name_template: String,
    pub created_at: DateTimeUtc,
    pub updated_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
