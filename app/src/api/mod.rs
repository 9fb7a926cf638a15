//! Server functions, one module per area; each checks access, calls one domain service and
//! maps its error.

pub mod admin;
pub mod system;
