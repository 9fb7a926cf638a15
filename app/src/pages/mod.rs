//! One module per page.

pub mod accounts;
pub mod activate;
pub mod admin;
pub mod admin_roles;
pub mod admin_users;
pub mod audit;
pub mod browse;
pub mod catalog;
pub mod connect;
pub mod dataflow;
pub mod home;
pub mod import;
pub mod login;
pub mod not_found;
pub mod runs;
pub mod schema;
pub mod segments;
