//! One module per page.

pub mod admin;
pub mod admin_roles;
pub mod admin_users;
pub mod audit;
pub mod home;
pub mod import;
pub mod login;
pub mod not_found;
pub mod placeholder;
pub mod schema;
pub mod segments;
