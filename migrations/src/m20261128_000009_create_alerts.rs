//! Alerts: per dataflow, which run events notify (failure, success, delay) and an optional
//! webhook; and the in-app notifications they produce.

use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(DataflowAlerts::Table)
                    .col(
                        ColumnDef::new(DataflowAlerts::DataflowId)
                            .integer()
                            .not_null()
                            .primary_key(),
                    )
                    .col(
                        ColumnDef::new(DataflowAlerts::OnFailure)
                            .boolean()
                            .not_null(),
                    )
                    .col(
                        ColumnDef::new(DataflowAlerts::OnSuccess)
                            .boolean()
                            .not_null(),
                    )
                    .col(ColumnDef::new(DataflowAlerts::OnDelay).boolean().not_null())
                    .col(
                        ColumnDef::new(DataflowAlerts::DelayMinutes)
                            .integer()
                            .not_null(),
                    )
                    .col(ColumnDef::new(DataflowAlerts::WebhookUrl).text().null())
                    .foreign_key(
                        ForeignKey::create()
                            .from(DataflowAlerts::Table, DataflowAlerts::DataflowId)
                            .to(Dataflows::Table, Dataflows::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(Notifications::Table)
                    .col(
                        ColumnDef::new(Notifications::Id)
                            .big_integer()
                            .not_null()
                            .auto_increment()
                            .primary_key(),
                    )
                    .col(
                        ColumnDef::new(Notifications::DataflowId)
                            .integer()
                            .not_null(),
                    )
                    .col(ColumnDef::new(Notifications::RunId).big_integer().null())
                    // failure, success or delay.
                    .col(
                        ColumnDef::new(Notifications::Kind)
                            .string_len(20)
                            .not_null(),
                    )
                    .col(ColumnDef::new(Notifications::Message).text().not_null())
                    .col(
                        ColumnDef::new(Notifications::CreatedAt)
                            .timestamp_with_time_zone()
                            .not_null(),
                    )
                    .to_owned(),
            )
            .await?;
        // One notification of a kind per run: a delay is reported once.
        manager
            .create_index(
                Index::create()
                    .name("notifications_run_kind")
                    .table(Notifications::Table)
                    .col(Notifications::RunId)
                    .col(Notifications::Kind)
                    .unique()
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(Notifications::Table).to_owned())
            .await?;
        manager
            .drop_table(Table::drop().table(DataflowAlerts::Table).to_owned())
            .await
    }
}

#[derive(DeriveIden)]
enum DataflowAlerts {
    Table,
    DataflowId,
    OnFailure,
    OnSuccess,
    OnDelay,
    DelayMinutes,
    WebhookUrl,
}

#[derive(DeriveIden)]
enum Notifications {
    Table,
    Id,
    DataflowId,
    RunId,
    Kind,
    Message,
    CreatedAt,
}

#[derive(DeriveIden)]
enum Dataflows {
    Table,
    Id,
}
