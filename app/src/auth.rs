//! Who is signed in: the session, sign-in and sign-out, and the one permission check that
//! every server function calls before doing anything.

use leptos::prelude::*;
use serde::{Deserialize, Serialize};

use crate::error::AppError;

/// The signed-in user as the browser sees them: no ids that matter, no secrets.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CurrentUser {
    pub email: String,
    pub display_name: String,
    /// Permission names such as `destinations.view`.
    pub permissions: Vec<String>,
}

impl CurrentUser {
    /// Whether the user holds a permission. Only for showing or hiding things: the server
    /// checks every call itself.
    pub fn can(&self, permission: &str) -> bool {
        self.permissions.iter().any(|p| p == permission)
    }
}

/// Signs in with email and password. Every failure says the same thing, whatever the cause.
///
/// The sign-in page posts a plain HTML form here: success redirects to the home page, failure
/// back to the sign-in page with the reason in the query (a form post gets no error body, so
/// nothing else would show it). Script clients get the user, or a 401 or 429 error.
#[server(prefix = "/api", endpoint = "auth/login")]
pub async fn login(email: String, password: String) -> Result<Option<CurrentUser>, AppError> {
    let form_post = ssr::accepts_html();
    match ssr::login(email, password).await {
        Ok(user) => {
            leptos_axum::redirect("/");
            Ok(Some(user))
        }
        Err(error) if form_post => {
            let back = match &error {
                AppError::TooManyAttempts(seconds) => {
                    format!("/login?error=throttled&wait={seconds}")
                }
                _ => "/login?error=invalid".to_owned(),
            };
            leptos_axum::redirect(&back);
            Ok(None)
        }
        Err(error) => Err(error.respond()),
    }
}

/// Signs out and ends the session on the server.
#[server(prefix = "/api", endpoint = "auth/logout")]
pub async fn logout() -> Result<(), AppError> {
    ssr::logout().await.map_err(AppError::respond)?;
    leptos_axum::redirect("/login");
    Ok(())
}

/// The signed-in user, or `None`.
#[server(prefix = "/api", endpoint = "auth/me")]
pub async fn get_current_user() -> Result<Option<CurrentUser>, AppError> {
    let principal = ssr::principal().await.map_err(AppError::respond)?;
    Ok(principal.map(ssr::to_current_user))
}

/// What the whole app knows about signing in: the current user, loaded with every page.
/// Signing in and out are plain form posts followed by a full page load.
#[derive(Clone, Copy)]
pub struct Auth {
    pub user: Resource<Result<Option<CurrentUser>, AppError>>,
}

impl Auth {
    pub fn new() -> Self {
        Self {
            user: Resource::new(|| (), |_| get_current_user()),
        }
    }
}

impl Default for Auth {
    fn default() -> Self {
        Self::new()
    }
}

#[cfg(feature = "ssr")]
pub mod ssr {
    //! Server-side half: sessions, the permission check and audit helpers.

    use std::net::SocketAddr;

    use axum::extract::ConnectInfo;
    use chrono::Utc;
    use domain::access::audit::{self, Actor, Event, Outcome};
    use domain::access::users::Principal;
    use domain::access::{Permission, throttle, users};
    use tower_sessions::Session;

    use super::CurrentUser;
    use crate::error::AppError;
    use crate::state::app_state;

    /// Session keys. The user id key is also read by the session store.
    pub const USER_ID_KEY: &str = "user_id";
    const EPOCH_KEY: &str = "session_epoch";
    const SIGNED_IN_AT_KEY: &str = "signed_in_at";

    pub fn to_current_user(principal: Principal) -> CurrentUser {
        CurrentUser {
            email: principal.email,
            display_name: principal.display_name,
            permissions: principal
                .permissions
                .iter()
                .map(|p| p.as_str().to_owned())
                .collect(),
        }
    }

    async fn session() -> Result<Session, AppError> {
        leptos_axum::extract::<Session>().await.map_err(|e| {
            tracing::error!(error = ?e, "no session layer on this request");
            AppError::Internal
        })
    }

    /// The client's address as the server saw it.
    pub async fn client_addr() -> String {
        leptos_axum::extract::<ConnectInfo<SocketAddr>>()
            .await
            .map(|ConnectInfo(addr)| addr.ip().to_string())
            .unwrap_or_else(|_| "unknown".to_owned())
    }

    /// Whether this request is a browser's form post (it accepts HTML) rather than a script.
    pub fn accepts_html() -> bool {
        leptos::prelude::use_context::<http::request::Parts>()
            .and_then(|parts| {
                parts
                    .headers
                    .get(http::header::ACCEPT)?
                    .to_str()
                    .ok()
                    .map(str::to_owned)
            })
            .is_some_and(|accept| accept.contains("text/html"))
    }

    fn session_error(error: tower_sessions::session::Error) -> AppError {
        tracing::error!(%error, "session store failed");
        AppError::Internal
    }

    /// The signed-in user of this request, if the session is valid: not expired, not older
    /// than the absolute limit, and not ended by a password change or a disable since.
    ///
    /// # Errors
    /// [`AppError::Internal`] when the session store or database fails.
    pub async fn principal() -> Result<Option<Principal>, AppError> {
        let state = app_state()?;
        let session = session().await?;
        let Some(user_id) = session
            .get::<i32>(USER_ID_KEY)
            .await
            .map_err(session_error)?
        else {
            return Ok(None);
        };
        let signed_in_at = session
            .get::<i64>(SIGNED_IN_AT_KEY)
            .await
            .map_err(session_error)?
            .unwrap_or(0);
        let epoch = session.get::<i32>(EPOCH_KEY).await.map_err(session_error)?;
        let too_old = Utc::now().timestamp() - signed_in_at > state.session_max_age.num_seconds();
        let principal = users::principal(&state.db, user_id).await?;
        match principal {
            Some(p) if !too_old && epoch == Some(p.session_epoch) => Ok(Some(p)),
            _ => {
                session.flush().await.map_err(session_error)?;
                Ok(None)
            }
        }
    }

    /// The check for server functions open to every signed-in user: a valid session, else 401.
    ///
    /// # Errors
    /// [`AppError::Unauthenticated`] or [`AppError::Internal`].
    pub async fn require_signed_in() -> Result<Principal, AppError> {
        principal()
            .await?
            .ok_or_else(|| AppError::Unauthenticated.respond())
    }

    /// The check every server function makes first: a valid session (else 401) holding
    /// `permission` (else 403). Denials are audited.
    ///
    /// # Errors
    /// [`AppError::Unauthenticated`], [`AppError::Forbidden`], or [`AppError::Internal`].
    pub async fn require(permission: Permission) -> Result<Principal, AppError> {
        require_any(&[permission]).await
    }

    /// As [`require`], satisfied by any one of `permissions` (activation, for example, is open
    /// to holders of activate and of activate-without-mapping).
    ///
    /// # Errors
    /// As [`require`].
    pub async fn require_any(permissions: &[Permission]) -> Result<Principal, AppError> {
        let Some(principal) = principal().await? else {
            return Err(AppError::Unauthenticated.respond());
        };
        if permissions.iter().any(|p| principal.can(*p)) {
            return Ok(principal);
        }
        let actor = actor_of(&principal).await;
        let names: Vec<&str> = permissions.iter().map(|p| p.as_str()).collect();
        let details = serde_json::json!({ "permission": names.join(" or ") });
        record(
            &actor,
            "access.denied",
            "permission",
            &names.join(" or "),
            Outcome::Denied,
            details,
        )
        .await;
        Err(AppError::Forbidden.respond())
    }

    /// The audit actor for a signed-in user on this request.
    pub async fn actor_of(principal: &Principal) -> Actor {
        Actor {
            user_id: Some(principal.id),
            email: principal.email.clone(),
            client_addr: client_addr().await,
        }
    }

    /// Appends to the audit log; a failure to record is logged, not shown.
    pub async fn record(
        actor: &Actor,
        action: &str,
        object_type: &str,
        object_id: &str,
        outcome: Outcome,
        details: serde_json::Value,
    ) {
        let Ok(state) = app_state() else { return };
        let event = Event {
            actor,
            action,
            object_type,
            object_id,
            outcome,
            details,
        };
        if let Err(error) = audit::record(&state.db, event).await {
            tracing::error!(%error, action, "could not write the audit log");
        }
    }

    pub(super) async fn login(email: String, password: String) -> Result<CurrentUser, AppError> {
        let state = app_state()?;
        let session = session().await?;
        let address = client_addr().await;
        let email = email.trim().to_lowercase();
        let actor = Actor {
            user_id: None,
            email: email.clone(),
            client_addr: address.clone(),
        };
        let account_key = throttle::account_key(&email);
        let keys = [account_key.clone(), throttle::address_key(&address)];
        let now = Utc::now();

        if let Some(wait) = throttle::wait_required(&state.db, &keys, now).await? {
            let seconds = wait.num_seconds().max(1);
            record(
                &actor,
                "auth.login",
                "user",
                &email,
                Outcome::Denied,
                serde_json::json!({ "reason": "throttled" }),
            )
            .await;
            return Err(AppError::TooManyAttempts(seconds));
        }
        let Some(user) = users::authenticate(&state.db, &email, &password).await? else {
            for key in &keys {
                throttle::record_failure(&state.db, key, now).await?;
            }
            record(
                &actor,
                "auth.login",
                "user",
                &email,
                Outcome::Failed,
                serde_json::json!({}),
            )
            .await;
            return Err(AppError::InvalidCredentials);
        };
        throttle::clear(&state.db, &account_key).await?;
        // A new id at sign-in: an id planted before sign-in (session fixation) becomes useless.
        session.cycle_id().await.map_err(session_error)?;
        session
            .insert(USER_ID_KEY, user.id)
            .await
            .map_err(session_error)?;
        session
            .insert(EPOCH_KEY, user.session_epoch)
            .await
            .map_err(session_error)?;
        session
            .insert(SIGNED_IN_AT_KEY, now.timestamp())
            .await
            .map_err(session_error)?;
        users::touch_login(&state.db, user.id).await?;
        let actor = Actor {
            user_id: Some(user.id),
            ..actor
        };
        record(
            &actor,
            "auth.login",
            "user",
            &user.public_id,
            Outcome::Allowed,
            serde_json::json!({}),
        )
        .await;
        let principal = users::principal(&state.db, user.id)
            .await?
            .ok_or(AppError::InvalidCredentials)?;
        Ok(to_current_user(principal))
    }

    pub(super) async fn logout() -> Result<(), AppError> {
        if let Some(principal) = principal().await? {
            let actor = actor_of(&principal).await;
            record(
                &actor,
                "auth.logout",
                "user",
                &principal.public_id,
                Outcome::Allowed,
                serde_json::json!({}),
            )
            .await;
        }
        session().await?.flush().await.map_err(session_error)
    }
}
