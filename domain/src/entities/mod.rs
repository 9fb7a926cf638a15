//! sea-orm entities, one module per table; they never leave the server.

pub mod account;
pub mod audit_event;
pub mod dataflow;
pub mod dataflow_alert;
pub mod dataflow_mapping;
pub mod dataflow_run;
pub mod dataflow_segment;
pub mod identity_namespace;
pub mod login_throttle;
pub mod notification;
pub mod profile;
pub mod profile_identity;
pub mod role;
pub mod role_permission;
pub mod run_exclusion;
pub mod run_failed_record;
pub mod schema_field;
pub mod segment;
pub mod segment_membership;
pub mod session;
pub mod setting;
pub mod user;
pub mod user_role;
