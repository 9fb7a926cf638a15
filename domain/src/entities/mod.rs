//! sea-orm entities, one module per table; they never leave the server.

pub mod setting;
