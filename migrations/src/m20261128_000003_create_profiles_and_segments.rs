//! Profiles with their identities, the schema field and identity namespace catalogs, segments
//! and segment memberships.

use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

fn created_updated(table: &mut TableCreateStatement) -> &mut TableCreateStatement {
    table
        .col(
            ColumnDef::new(Alias::new("created_at"))
                .timestamp_with_time_zone()
                .not_null(),
        )
        .col(
            ColumnDef::new(Alias::new("updated_at"))
                .timestamp_with_time_zone()
                .not_null(),
        )
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                created_updated(
                    Table::create().table(Profiles::Table).col(
                        ColumnDef::new(Profiles::Id)
                            .big_integer()
                            .not_null()
                            .auto_increment()
                            .primary_key(),
                    ),
                )
                // XDM-shaped attributes; JSONB on PostgreSQL, JSON text on SQLite.
                .col(
                    ColumnDef::new(Profiles::Attributes)
                        .json_binary()
                        .not_null(),
                )
                .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(ProfileIdentities::Table)
                    .col(
                        ColumnDef::new(ProfileIdentities::Namespace)
                            .string_len(64)
                            .not_null(),
                    )
                    .col(
                        ColumnDef::new(ProfileIdentities::Value)
                            .string_len(512)
                            .not_null(),
                    )
                    .col(
                        ColumnDef::new(ProfileIdentities::ProfileId)
                            .big_integer()
                            .not_null(),
                    )
                    // One identity value belongs to one profile.
                    .primary_key(
                        Index::create()
                            .col(ProfileIdentities::Namespace)
                            .col(ProfileIdentities::Value),
                    )
                    .foreign_key(
                        ForeignKey::create()
                            .from(ProfileIdentities::Table, ProfileIdentities::ProfileId)
                            .to(Profiles::Table, Profiles::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("idx_profile_identities_profile")
                    .table(ProfileIdentities::Table)
                    .col(ProfileIdentities::ProfileId)
                    .col(ProfileIdentities::Namespace)
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(SchemaFields::Table)
                    .col(
                        ColumnDef::new(SchemaFields::Path)
                            .string_len(200)
                            .not_null()
                            .primary_key(),
                    )
                    .col(
                        ColumnDef::new(SchemaFields::FieldType)
                            .string_len(20)
                            .not_null(),
                    )
                    .col(
                        ColumnDef::new(SchemaFields::Title)
                            .string_len(200)
                            .not_null(),
                    )
                    .col(
                        ColumnDef::new(SchemaFields::Description)
                            .text()
                            .not_null()
                            .default(""),
                    )
                    // Data-usage labels, space-separated: "C2 C5 I1".
                    .col(
                        ColumnDef::new(SchemaFields::Labels)
                            .string_len(200)
                            .not_null()
                            .default(""),
                    )
                    .col(ColumnDef::new(SchemaFields::Position).integer().not_null())
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(IdentityNamespaces::Table)
                    .col(
                        ColumnDef::new(IdentityNamespaces::Code)
                            .string_len(64)
                            .not_null()
                            .primary_key(),
                    )
                    .col(
                        ColumnDef::new(IdentityNamespaces::Title)
                            .string_len(200)
                            .not_null(),
                    )
                    .col(
                        ColumnDef::new(IdentityNamespaces::Kind)
                            .string_len(30)
                            .not_null(),
                    )
                    .col(
                        ColumnDef::new(IdentityNamespaces::Description)
                            .text()
                            .not_null()
                            .default(""),
                    )
                    .col(
                        ColumnDef::new(IdentityNamespaces::Position)
                            .integer()
                            .not_null(),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                created_updated(
                    Table::create().table(Segments::Table).col(
                        ColumnDef::new(Segments::Id)
                            .integer()
                            .not_null()
                            .auto_increment()
                            .primary_key(),
                    ),
                )
                .col(
                    ColumnDef::new(Segments::PublicId)
                        .string_len(36)
                        .not_null()
                        .unique_key(),
                )
                .col(
                    ColumnDef::new(Segments::Name)
                        .string_len(200)
                        .not_null()
                        .unique_key(),
                )
                .col(
                    ColumnDef::new(Segments::Description)
                        .text()
                        .not_null()
                        .default(""),
                )
                .col(ColumnDef::new(Segments::Rule).text().not_null())
                // "manual", "hourly" or "daily".
                .col(
                    ColumnDef::new(Segments::EvaluationSchedule)
                        .string_len(20)
                        .not_null()
                        .default("daily"),
                )
                .col(ColumnDef::new(Segments::Size).big_integer().null())
                .col(
                    ColumnDef::new(Segments::LastEvaluatedAt)
                        .timestamp_with_time_zone()
                        .null(),
                )
                .col(
                    ColumnDef::new(Segments::LastEvaluationMs)
                        .big_integer()
                        .null(),
                )
                .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(SegmentMemberships::Table)
                    .col(
                        ColumnDef::new(SegmentMemberships::SegmentId)
                            .integer()
                            .not_null(),
                    )
                    .col(
                        ColumnDef::new(SegmentMemberships::ProfileId)
                            .big_integer()
                            .not_null(),
                    )
                    // "realized" or "exited".
                    .col(
                        ColumnDef::new(SegmentMemberships::Status)
                            .string_len(10)
                            .not_null(),
                    )
                    .col(
                        ColumnDef::new(SegmentMemberships::QualifiedAt)
                            .timestamp_with_time_zone()
                            .not_null(),
                    )
                    .col(
                        ColumnDef::new(SegmentMemberships::ExitedAt)
                            .timestamp_with_time_zone()
                            .null(),
                    )
                    // When the status last changed: incremental exports select on it.
                    .col(
                        ColumnDef::new(SegmentMemberships::UpdatedAt)
                            .timestamp_with_time_zone()
                            .not_null(),
                    )
                    .primary_key(
                        Index::create()
                            .col(SegmentMemberships::SegmentId)
                            .col(SegmentMemberships::ProfileId),
                    )
                    .foreign_key(
                        ForeignKey::create()
                            .from(SegmentMemberships::Table, SegmentMemberships::SegmentId)
                            .to(Segments::Table, Segments::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .foreign_key(
                        ForeignKey::create()
                            .from(SegmentMemberships::Table, SegmentMemberships::ProfileId)
                            .to(Profiles::Table, Profiles::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("idx_segment_memberships_changes")
                    .table(SegmentMemberships::Table)
                    .col(SegmentMemberships::SegmentId)
                    .col(SegmentMemberships::UpdatedAt)
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("idx_segment_memberships_profile")
                    .table(SegmentMemberships::Table)
                    .col(SegmentMemberships::ProfileId)
                    .to_owned(),
            )
            .await?;
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for table in [
            SegmentMemberships::Table.into_iden(),
            Segments::Table.into_iden(),
            IdentityNamespaces::Table.into_iden(),
            SchemaFields::Table.into_iden(),
            ProfileIdentities::Table.into_iden(),
            Profiles::Table.into_iden(),
        ] {
            manager
                .drop_table(Table::drop().table(table).to_owned())
                .await?;
        }
        Ok(())
    }
}

#[derive(DeriveIden)]
enum Profiles {
    Table,
    Id,
    Attributes,
}

#[derive(DeriveIden)]
enum ProfileIdentities {
    Table,
    Namespace,
    Value,
    ProfileId,
}

#[derive(DeriveIden)]
enum SchemaFields {
    Table,
    Path,
    FieldType,
    Title,
    Description,
    Labels,
    Position,
}

#[derive(DeriveIden)]
enum IdentityNamespaces {
    Table,
    Code,
    Title,
    Kind,
    Description,
    Position,
}

#[derive(DeriveIden)]
enum Segments {
    Table,
    Id,
    PublicId,
    Name,
    Description,
    Rule,
    EvaluationSchedule,
    Size,
    LastEvaluatedAt,
    LastEvaluationMs,
}

#[derive(DeriveIden)]
enum SegmentMemberships {
    Table,
    SegmentId,
    ProfileId,
    Status,
    QualifiedAt,
    ExitedAt,
    UpdatedAt,
}
