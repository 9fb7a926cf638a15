//! Small shared states of a page section: loading, and a failed request.

use leptos::prelude::*;

use crate::error::AppError;

/// Shown while a section's data is on its way.
#[component]
pub fn Loading() -> impl IntoView {
    view! { <p class="muted">"Loading…"</p> }
}

/// A failed request, in the words of [`AppError`]'s message.
#[component]
pub fn ErrorAlert(error: AppError) -> impl IntoView {
    view! { <p class="alert" role="alert">{error.to_string()}</p> }
}
