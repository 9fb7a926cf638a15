//! `AppError`: what a server function tells the browser when it fails, without internals.

use leptos::server_fn::codec::JsonEncoding;
use leptos::server_fn::error::{FromServerFnError, ServerFnErrorErr};
use serde::{Deserialize, Serialize};

/// The error every server function returns; its message is written for the person using Ferry.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, thiserror::Error)]
pub enum AppError {
    #[error("Please sign in to continue.")]
    Unauthenticated,
    #[error("Invalid email or password.")]
    InvalidCredentials,
    #[error("Too many failed attempts. Try again in {0} seconds.")]
    TooManyAttempts(i64),
    #[error("You do not have permission to do that.")]
    Forbidden,
    #[error("{0} was not found.")]
    NotFound(String),
    #[error("{0}")]
    Invalid(String),
    #[error("Something went wrong on the server. The details were logged; please try again.")]
    Internal,
    #[error("The server could not be reached or answered unexpectedly ({0}).")]
    Transport(String),
}

impl AppError {
    /// The HTTP status a page showing this error should be served with.
    pub fn status_code(&self) -> u16 {
        match self {
            Self::Unauthenticated | Self::InvalidCredentials => 401,
            Self::TooManyAttempts(_) => 429,
            Self::Forbidden => 403,
            Self::NotFound(_) => 404,
            Self::Invalid(_) => 422,
            Self::Internal | Self::Transport(_) => 500,
        }
    }

    /// A short title for an error page.
    pub fn title(&self) -> &'static str {
        match self {
            Self::Unauthenticated | Self::InvalidCredentials => "Sign in required",
            Self::TooManyAttempts(_) => "Too many attempts",
            Self::Forbidden => "Not allowed",
            Self::NotFound(_) => "Page not found",
            Self::Invalid(_) => "Invalid request",
            Self::Internal | Self::Transport(_) => "Something went wrong",
        }
    }
}

impl FromServerFnError for AppError {
    type Encoder = JsonEncoding;

    fn from_server_fn_error(value: ServerFnErrorErr) -> Self {
        Self::Transport(value.to_string())
    }
}

#[cfg(feature = "ssr")]
impl From<domain::Error> for AppError {
    /// Rule violations reach the person as they are; other causes are logged on the server
    /// and the browser gets a message without internals.
    fn from(error: domain::Error) -> Self {
        match error {
            domain::Error::Invalid(message) | domain::Error::Conflict(message) => {
                Self::Invalid(message)
            }
            domain::Error::NotFound(what) => Self::NotFound(what),
            domain::Error::Forbidden(_) => Self::Forbidden,
            other => {
                tracing::error!(error = %other, "server function failed");
                Self::Internal
            }
        }
    }
}

#[cfg(feature = "ssr")]
impl AppError {
    /// Sets this error's HTTP status on the current response and returns it, so a server
    /// function's caller sees 401, 403, 404 … rather than a generic 500.
    pub fn respond(self) -> Self {
        if let Some(response) = leptos::prelude::use_context::<leptos_axum::ResponseOptions>()
            && let Ok(status) = http::StatusCode::from_u16(self.status_code())
        {
            response.set_status(status);
        }
        self
    }
}
