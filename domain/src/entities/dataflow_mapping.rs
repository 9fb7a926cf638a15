//! The `dataflow_mappings` table: one source field or identity → target column of a dataflow.

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "dataflow_mappings")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i32,
    pub dataflow_id: i32,
    pub position: i32,
    pub source_kind: String,
    pub source: String,
    pub target: String,
    pub mandatory: bool,
    pub dedup_key: bool,
    pub transformation: String,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
