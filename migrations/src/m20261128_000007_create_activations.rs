//! What a dataflow activates: its segments with their schedules and file names, and its
//! mapping of source fields and identities to target columns.

use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(DataflowSegments::Table)
                    .col(
                        ColumnDef::new(DataflowSegments::Id)
                            .integer()
                            .not_null()
                            .auto_increment()
                            .primary_key(),
                    )
                    .col(
                        ColumnDef::new(DataflowSegments::DataflowId)
                            .integer()
                            .not_null(),
                    )
                    .col(
                        ColumnDef::new(DataflowSegments::SegmentId)
                            .integer()
                            .not_null(),
                    )
                    // once, daily, weekly, monthly, every_N_hours or streaming.
                    .col(
                        ColumnDef::new(DataflowSegments::Schedule)
                            .string_len(20)
                            .not_null(),
                    )
                    // full or incremental (file destinations); streaming otherwise.
                    .col(
                        ColumnDef::new(DataflowSegments::ExportMode)
                            .string_len(20)
                            .not_null(),
                    )
                    // "HH:MM" in UTC, or null when the file follows segment evaluation.
                    .col(
                        ColumnDef::new(DataflowSegments::TimeOfDay)
                            .string_len(5)
                            .null(),
                    )
                    .col(
                        ColumnDef::new(DataflowSegments::AfterEvaluation)
                            .boolean()
                            .not_null()
                            .default(false),
                    )
                    .col(
                        ColumnDef::new(DataflowSegments::StartDate)
                            .date()
                            .not_null(),
                    )
                    // Exclusive: nothing is exported on or after this date.
                    .col(ColumnDef::new(DataflowSegments::EndDate).date().null())
                    .col(
                        ColumnDef::new(DataflowSegments::FileNameTemplate)
                            .string_len(255)
                            .not_null()
                            .default(""),
                    )
                    .col(
                        ColumnDef::new(DataflowSegments::CreatedAt)
                            .timestamp_with_time_zone()
                            .not_null(),
                    )
                    .col(
                        ColumnDef::new(DataflowSegments::UpdatedAt)
                            .timestamp_with_time_zone()
                            .not_null(),
                    )
                    .foreign_key(
                        ForeignKey::create()
                            .from(DataflowSegments::Table, DataflowSegments::DataflowId)
                            .to(Dataflows::Table, Dataflows::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .foreign_key(
                        ForeignKey::create()
                            .from(DataflowSegments::Table, DataflowSegments::SegmentId)
                            .to(Segments::Table, Segments::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("dataflow_segments_unique")
                    .table(DataflowSegments::Table)
                    .col(DataflowSegments::DataflowId)
                    .col(DataflowSegments::SegmentId)
                    .unique()
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(DataflowMappings::Table)
                    .col(
                        ColumnDef::new(DataflowMappings::Id)
                            .integer()
                            .not_null()
                            .auto_increment()
                            .primary_key(),
                    )
                    .col(
                        ColumnDef::new(DataflowMappings::DataflowId)
                            .integer()
                            .not_null(),
                    )
                    .col(
                        ColumnDef::new(DataflowMappings::Position)
                            .integer()
                            .not_null(),
                    )
                    // "field" (a schema path) or "identity" (a namespace).
                    .col(
                        ColumnDef::new(DataflowMappings::SourceKind)
                            .string_len(10)
                            .not_null(),
                    )
                    .col(
                        ColumnDef::new(DataflowMappings::Source)
                            .string_len(200)
                            .not_null(),
                    )
                    .col(
                        ColumnDef::new(DataflowMappings::Target)
                            .string_len(200)
                            .not_null(),
                    )
                    .col(
                        ColumnDef::new(DataflowMappings::Mandatory)
                            .boolean()
                            .not_null(),
                    )
                    .col(
                        ColumnDef::new(DataflowMappings::DedupKey)
                            .boolean()
                            .not_null(),
                    )
                    // none, sha256_hex or sha256_base64, after the spec's normalisation.
                    .col(
                        ColumnDef::new(DataflowMappings::Transformation)
                            .string_len(20)
                            .not_null()
                            .default("none"),
                    )
                    .foreign_key(
                        ForeignKey::create()
                            .from(DataflowMappings::Table, DataflowMappings::DataflowId)
                            .to(Dataflows::Table, Dataflows::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("dataflow_mappings_dataflow")
                    .table(DataflowMappings::Table)
                    .col(DataflowMappings::DataflowId)
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(DataflowMappings::Table).to_owned())
            .await?;
        manager
            .drop_table(Table::drop().table(DataflowSegments::Table).to_owned())
            .await
    }
}

#[derive(DeriveIden)]
enum DataflowSegments {
    Table,
    Id,
    DataflowId,
    SegmentId,
    Schedule,
    ExportMode,
    TimeOfDay,
    AfterEvaluation,
    StartDate,
    EndDate,
    FileNameTemplate,
    CreatedAt,
    UpdatedAt,
}

#[derive(DeriveIden)]
enum DataflowMappings {
    Table,
    Id,
    DataflowId,
    Position,
    SourceKind,
    Source,
    Target,
    Mandatory,
    DedupKey,
    Transformation,
}

#[derive(DeriveIden)]
enum Dataflows {
    Table,
    Id,
}

#[derive(DeriveIden)]
enum Segments {
    Table,
    Id,
}
