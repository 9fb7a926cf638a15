//! Server functions, one module per area; each checks access, calls one domain service and
//! maps its error.

pub mod activation;
pub mod admin;
pub mod destinations;
pub mod profiles;
pub mod runs;
pub mod schema;
pub mod segments;
pub mod system;

#[cfg(feature = "ssr")]
use crate::error::AppError;

/// Records a change as allowed when it succeeded, or as failed with the
/// reason, and turns a domain error into the answer for the browser.
#[cfg(feature = "ssr")]
pub async fn audited<T>(
    principal: &domain::access::users::Principal,
    action: &str,
    object_type: &str,
    object_id: &str,
    mut details: serde_json::Value,
    result: domain::Result<T>,
) -> Result<T, AppError> {
    let actor = crate::auth::ssr::actor_of(principal).await;
    let outcome = match &result {
        Ok(_) => domain::access::audit::Outcome::Allowed,
        Err(error) => {
            details["reason"] = serde_json::Value::String(error.to_string());
            domain::access::audit::Outcome::Failed
        }
    };
    crate::auth::ssr::record(&actor, action, object_type, object_id, outcome, details).await;
    result.map_err(|e| AppError::from(e).respond())
}
