//! The Ferry server: configuration, start-up, the HTTP router and the command line.

pub mod cli;
pub mod config;
pub mod router;
pub mod security;
pub mod session_store;
pub mod startup;
