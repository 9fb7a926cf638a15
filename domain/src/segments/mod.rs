//! Segments: the rule language, its checking against the schema, compilation to SQL, an
//! in-memory reference evaluator, and evaluation into memberships.

pub mod check;
pub mod reference;
pub mod rule;
pub mod service;
pub mod sql;
