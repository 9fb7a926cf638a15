//! The `dataflow_alerts` table: which run events of a dataflow notify, and where.

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "dataflow_alerts")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub dataflow_id: i32,
    pub on_failure: bool,
    pub on_success: bool,
    pub on_delay: bool,
    pub delay_minutes: i32,
    pub webhook_url: Option<String>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
