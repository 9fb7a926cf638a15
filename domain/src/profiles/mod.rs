//! Profiles: the schema catalog, value rules, the profile store, imports and demo data.

pub mod demo;
pub mod import;
pub mod schema;
pub mod store;
pub mod values;
