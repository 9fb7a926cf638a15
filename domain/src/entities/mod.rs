//! sea-orm entities, one module per table; they never leave the server.

pub mod audit_event;
pub mod login_throttle;
pub mod role;
pub mod role_permission;
pub mod session;
pub mod setting;
pub mod user;
pub mod user_role;
