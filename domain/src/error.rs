//! The one error type of the domain layer; callers map it to what their users should see.

/// Everything a domain service can fail with.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The configuration given to a service cannot work (for example a malformed database URL).
    #[error("{0}")]
    Config(String),
    /// The database refused or failed an operation.
    #[error("database error: {0}")]
    Database(#[from] sea_orm::DbErr),
    /// Input that breaks a rule; the message is written for the person who gave it.
    #[error("{0}")]
    Invalid(String),
    /// The change would conflict with what exists (a duplicate name, the last administrator).
    #[error("{0}")]
    Conflict(String),
    /// The caller may not make this particular change (beyond what the permission check saw).
    #[error("{0}")]
    Forbidden(String),
    /// No object with that id exists; the text names what was looked for.
    #[error("{0} was not found")]
    NotFound(String),
    /// Stored data does not have the shape the code expects.
    #[error("corrupt data: {0}")]
    Corrupt(String),
}

/// Shorthand for results of domain services.
pub type Result<T, E = Error> = std::result::Result<T, E>;
