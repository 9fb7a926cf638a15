//! Streaming delivery: a run's fixed window end and checkpoint (so a retried run resumes after
//! the records the platform already acknowledged), replay runs, and the records a platform
//! refused, kept with request and response samples for inspection and replay.

use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        // Membership changes up to this time belong to the run; set at its first claim.
        manager
            .alter_table(
                Table::alter()
                    .table(Runs::Table)
                    .add_column(
                        ColumnDef::new(Runs::WindowEnd)
                            .timestamp_with_time_zone()
                            .null(),
                    )
                    .to_owned(),
            )
            .await?;
        // Every member with a profile id up to this one has been delivered.
        manager
            .alter_table(
                Table::alter()
                    .table(Runs::Table)
                    .add_column(ColumnDef::new(Runs::Checkpoint).big_integer().null())
                    .to_owned(),
            )
            .await?;
        // A replay run re-sends the failed records of this run.
        manager
            .alter_table(
                Table::alter()
                    .table(Runs::Table)
                    .add_column(ColumnDef::new(Runs::ReplayOf).big_integer().null())
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(FailedRecords::Table)
                    .col(
                        ColumnDef::new(FailedRecords::Id)
                            .big_integer()
                            .not_null()
                            .auto_increment()
                            .primary_key(),
                    )
                    .col(
                        ColumnDef::new(FailedRecords::RunId)
                            .big_integer()
                            .not_null(),
                    )
                    .col(
                        ColumnDef::new(FailedRecords::ProfileId)
                            .big_integer()
                            .not_null(),
                    )
                    // "add" or "remove".
                    .col(
                        ColumnDef::new(FailedRecords::Action)
                            .string_len(10)
                            .not_null(),
                    )
                    // The prepared record (normalised, hashed identities) as JSON.
                    .col(ColumnDef::new(FailedRecords::Record).text().not_null())
                    .col(ColumnDef::new(FailedRecords::Reason).text().not_null())
                    .col(ColumnDef::new(FailedRecords::StatusCode).integer().null())
                    // Secrets redacted.
                    .col(
                        ColumnDef::new(FailedRecords::RequestSample)
                            .text()
                            .not_null(),
                    )
                    .col(
                        ColumnDef::new(FailedRecords::ResponseSample)
                            .text()
                            .not_null(),
                    )
                    .col(
                        ColumnDef::new(FailedRecords::ReplayedAt)
                            .timestamp_with_time_zone()
                            .null(),
                    )
                    .foreign_key(
                        ForeignKey::create()
                            .from(FailedRecords::Table, FailedRecords::RunId)
                            .to(Runs::Table, Runs::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("idx_run_failed_records_run")
                    .table(FailedRecords::Table)
                    .col(FailedRecords::RunId)
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(FailedRecords::Table).to_owned())
            .await?;
        for column in [Runs::ReplayOf, Runs::Checkpoint, Runs::WindowEnd] {
            manager
                .alter_table(
                    Table::alter()
                        .table(Runs::Table)
                        .drop_column(column)
                        .to_owned(),
                )
                .await?;
        }
        Ok(())
    }
}

#[derive(DeriveIden, Clone, Copy)]
enum Runs {
    #[sea_orm(iden = "dataflow_runs")]
    Table,
    Id,
    WindowEnd,
    Checkpoint,
    ReplayOf,
}

#[derive(DeriveIden)]
enum FailedRecords {
    #[sea_orm(iden = "run_failed_records")]
    Table,
    Id,
    RunId,
    ProfileId,
    Action,
    Record,
    Reason,
    StatusCode,
    RequestSample,
    ResponseSample,
    ReplayedAt,
}
