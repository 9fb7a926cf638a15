//! Ferry's business logic, free of any web framework: database access, instance facts and,
//! as the product grows, segments, catalog specs, connectors and the export engine.

pub mod access;
pub mod activation;
pub mod catalog;
pub mod connections;
pub mod db;
pub mod entities;
pub mod error;
pub mod export;
pub mod instance;
pub mod profiles;
pub mod secrets;
pub mod segments;
pub mod sessions;

pub use error::{Error, Result};

#[cfg(any(test, feature = "testing"))]
pub mod testing;
