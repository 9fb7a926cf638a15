//! Export runs (one per dataflow segment and slot, claimed by workers with a lease) and the
//! profiles each run left out with the reason.

use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let ts = |c: Runs| {
            ColumnDef::new(c)
                .timestamp_with_time_zone()
                .null()
                .to_owned()
        };
        manager
            .create_table(
                Table::create()
                    .table(Runs::Table)
                    .col(
                        ColumnDef::new(Runs::Id)
                            .big_integer()
                            .not_null()
                            .auto_increment()
                            .primary_key(),
                    )
                    .col(
                        ColumnDef::new(Runs::PublicId)
                            .string_len(36)
                            .not_null()
                            .unique_key(),
                    )
                    // Kept when the dataflow is deleted: run history stays.
                    .col(ColumnDef::new(Runs::DataflowId).integer().not_null())
                    .col(ColumnDef::new(Runs::SegmentId).integer().not_null())
                    // The scheduled time this run exports for; file names derive from it.
                    .col(
                        ColumnDef::new(Runs::Slot)
                            .timestamp_with_time_zone()
                            .not_null(),
                    )
                    // "scheduled" or "manual".
                    .col(ColumnDef::new(Runs::Trigger).string_len(20).not_null())
                    // queued, running, success, partial, failed.
                    .col(ColumnDef::new(Runs::Status).string_len(20).not_null())
                    .col(
                        ColumnDef::new(Runs::Attempt)
                            .integer()
                            .not_null()
                            .default(0),
                    )
                    .col(ColumnDef::new(Runs::LeaseOwner).string_len(64).null())
                    .col(ts(Runs::LeaseExpiresAt))
                    .col(ts(Runs::StartedAt))
                    .col(ts(Runs::FinishedAt))
                    .col(
                        ColumnDef::new(Runs::Received)
                            .big_integer()
                            .not_null()
                            .default(0),
                    )
                    .col(
                        ColumnDef::new(Runs::Activated)
                            .big_integer()
                            .not_null()
                            .default(0),
                    )
                    // {reason: count} as JSON.
                    .col(
                        ColumnDef::new(Runs::Excluded)
                            .text()
                            .not_null()
                            .default("{}"),
                    )
                    .col(ColumnDef::new(Runs::Failed).text().not_null().default("{}"))
                    // [{name, rows, bytes, sha256}] as JSON.
                    .col(ColumnDef::new(Runs::Files).text().not_null().default("[]"))
                    .col(ColumnDef::new(Runs::Error).text().null())
                    .col(
                        ColumnDef::new(Runs::CreatedAt)
                            .timestamp_with_time_zone()
                            .not_null(),
                    )
                    .to_owned(),
            )
            .await?;
        // One run per dataflow, segment and slot: a slot is never exported twice by the
        // scheduler, whichever process gets there first.
        manager
            .create_index(
                Index::create()
                    .name("runs_slot_unique")
                    .table(Runs::Table)
                    .col(Runs::DataflowId)
                    .col(Runs::SegmentId)
                    .col(Runs::Slot)
                    .col(Runs::Trigger)
                    .unique()
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("runs_status")
                    .table(Runs::Table)
                    .col(Runs::Status)
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(RunExclusions::Table)
                    .col(
                        ColumnDef::new(RunExclusions::RunId)
                            .big_integer()
                            .not_null(),
                    )
                    .col(
                        ColumnDef::new(RunExclusions::ProfileId)
                            .big_integer()
                            .not_null(),
                    )
                    .col(
                        ColumnDef::new(RunExclusions::Reason)
                            .string_len(40)
                            .not_null(),
                    )
                    .primary_key(
                        Index::create()
                            .col(RunExclusions::RunId)
                            .col(RunExclusions::ProfileId),
                    )
                    .foreign_key(
                        ForeignKey::create()
                            .from(RunExclusions::Table, RunExclusions::RunId)
                            .to(Runs::Table, Runs::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(RunExclusions::Table).to_owned())
            .await?;
        manager
            .drop_table(Table::drop().table(Runs::Table).to_owned())
            .await
    }
}

#[derive(DeriveIden, Clone, Copy)]
enum Runs {
    #[sea_orm(iden = "dataflow_runs")]
    Table,
    Id,
    PublicId,
    DataflowId,
    SegmentId,
    Slot,
    Trigger,
    Status,
    Attempt,
    LeaseOwner,
    LeaseExpiresAt,
    StartedAt,
    FinishedAt,
    Received,
    Activated,
    Excluded,
    Failed,
    Files,
    Error,
    CreatedAt,
}

#[derive(DeriveIden)]
enum RunExclusions {
    Table,
    RunId,
    ProfileId,
    Reason,
}
