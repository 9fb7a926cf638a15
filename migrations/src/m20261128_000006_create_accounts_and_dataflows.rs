//! Accounts (credentials for a destination platform, secrets sealed) and dataflows (a
//! connection of an account to a destination with its parameters).

use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

fn id_column<T: IntoIden>(name: T) -> ColumnDef {
    ColumnDef::new(name)
        .integer()
        .not_null()
        .auto_increment()
        .primary_key()
        .to_owned()
}

fn timestamp<T: IntoIden>(name: T) -> ColumnDef {
    ColumnDef::new(name)
        .timestamp_with_time_zone()
        .not_null()
        .to_owned()
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(Accounts::Table)
                    .col(id_column(Accounts::Id))
                    .col(
                        ColumnDef::new(Accounts::PublicId)
                            .string_len(36)
                            .not_null()
                            .unique_key(),
                    )
                    .col(
                        ColumnDef::new(Accounts::DestinationId)
                            .string_len(64)
                            .not_null(),
                    )
                    .col(ColumnDef::new(Accounts::Name).string_len(200).not_null())
                    // Non-secret credential fields, as a JSON object of strings.
                    .col(ColumnDef::new(Accounts::Fields).text().not_null())
                    // Secret fields: one JSON object sealed with the server's key.
                    .col(ColumnDef::new(Accounts::SealedSecrets).text().not_null())
                    // The SSH host key seen at the first successful test (SFTP), pinned.
                    .col(ColumnDef::new(Accounts::HostKey).text().null())
                    .col(ColumnDef::new(Accounts::CreatedBy).integer().null())
                    .col(timestamp(Accounts::CreatedAt))
                    .col(timestamp(Accounts::UpdatedAt))
                    .col(
                        ColumnDef::new(Accounts::AuthorizedAt)
                            .timestamp_with_time_zone()
                            .null(),
                    )
                    .col(
                        ColumnDef::new(Accounts::LastTestedAt)
                            .timestamp_with_time_zone()
                            .null(),
                    )
                    .col(ColumnDef::new(Accounts::LastTestOutcome).text().null())
                    .foreign_key(
                        ForeignKey::create()
                            .from(Accounts::Table, Accounts::CreatedBy)
                            .to(Users::Table, Users::Id)
                            .on_delete(ForeignKeyAction::SetNull),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("accounts_destination_name")
                    .table(Accounts::Table)
                    .col(Accounts::DestinationId)
                    .col(Accounts::Name)
                    .unique()
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(Dataflows::Table)
                    .col(id_column(Dataflows::Id))
                    .col(
                        ColumnDef::new(Dataflows::PublicId)
                            .string_len(36)
                            .not_null()
                            .unique_key(),
                    )
                    .col(
                        ColumnDef::new(Dataflows::DestinationId)
                            .string_len(64)
                            .not_null(),
                    )
                    // An account in use cannot be deleted: delete or move its dataflows first.
                    .col(ColumnDef::new(Dataflows::AccountId).integer().not_null())
                    .col(
                        ColumnDef::new(Dataflows::Name)
                            .string_len(200)
                            .not_null()
                            .unique_key(),
                    )
                    .col(
                        ColumnDef::new(Dataflows::Description)
                            .text()
                            .not_null()
                            .default(""),
                    )
                    // Connection parameters (folder, format, CSV options, compression) as JSON.
                    .col(ColumnDef::new(Dataflows::Params).text().not_null())
                    // Marketing action codes as a JSON array.
                    .col(
                        ColumnDef::new(Dataflows::MarketingActions)
                            .text()
                            .not_null(),
                    )
                    // "disabled" until something is activated, then "enabled" or "disabled".
                    .col(
                        ColumnDef::new(Dataflows::Status)
                            .string_len(20)
                            .not_null()
                            .default("disabled"),
                    )
                    .col(ColumnDef::new(Dataflows::CreatedBy).integer().null())
                    .col(timestamp(Dataflows::CreatedAt))
                    .col(timestamp(Dataflows::UpdatedAt))
                    .foreign_key(
                        ForeignKey::create()
                            .from(Dataflows::Table, Dataflows::AccountId)
                            .to(Accounts::Table, Accounts::Id)
                            .on_delete(ForeignKeyAction::Restrict),
                    )
                    .foreign_key(
                        ForeignKey::create()
                            .from(Dataflows::Table, Dataflows::CreatedBy)
                            .to(Users::Table, Users::Id)
                            .on_delete(ForeignKeyAction::SetNull),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("dataflows_account")
                    .table(Dataflows::Table)
                    .col(Dataflows::AccountId)
                    .to_owned(),
            )
            .await?;
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(Dataflows::Table).to_owned())
            .await?;
        manager
            .drop_table(Table::drop().table(Accounts::Table).to_owned())
            .await
    }
}

#[derive(DeriveIden)]
enum Accounts {
    Table,
    Id,
    PublicId,
    DestinationId,
    Name,
    Fields,
    SealedSecrets,
    HostKey,
    CreatedBy,
    CreatedAt,
    UpdatedAt,
    AuthorizedAt,
    LastTestedAt,
    LastTestOutcome,
}

#[derive(DeriveIden)]
enum Dataflows {
    Table,
    Id,
    PublicId,
    DestinationId,
    AccountId,
    Name,
    Description,
    Params,
    MarketingActions,
    Status,
    CreatedBy,
    CreatedAt,
    UpdatedAt,
}

#[derive(DeriveIden)]
enum Users {
    Table,
    Id,
}
