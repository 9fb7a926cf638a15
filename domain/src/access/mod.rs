//! Access control: permissions and roles, users and their passwords, login throttling and the
//! audit log. Sessions live in the server; this module decides who may do what.

pub mod audit;
pub mod passwords;
pub mod permissions;
pub mod roles;
pub mod throttle;
pub mod users;

pub use permissions::Permission;
