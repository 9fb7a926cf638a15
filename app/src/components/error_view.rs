//! The error page body, and the HTTP status it sets when rendered on the server.

use leptos::prelude::*;

use crate::error::AppError;

/// Shows an error as a page: a title, a plain explanation and a way back.
///
/// On the server it also sets the response status (404, 403, 500 …), so a crawler, a proxy or a
/// test sees the same thing as the person.
#[component]
pub fn ErrorView(error: AppError) -> impl IntoView {
    #[cfg(feature = "ssr")]
    if let Some(response) = use_context::<leptos_axum::ResponseOptions>()
        && let Ok(status) = http::StatusCode::from_u16(error.status_code())
    {
        response.set_status(status);
    }
    let code = error.status_code();
    view! {
        <section class="error-page" aria-labelledby="error-title">
            <p class="error-code">{code}</p>
            <h1 id="error-title">{error.title()}</h1>
            <p class="error-message">{error.to_string()}</p>
            <p><a class="button" href="/">"Go to the home page"</a></p>
        </section>
    }
}
