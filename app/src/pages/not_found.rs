//! The 404 page, rendered for every path no route matches.

use leptos::prelude::*;
use leptos_meta::Title;

use crate::components::error_view::ErrorView;
use crate::error::AppError;

/// Tells the person that nothing lives at this address (HTTP 404).
#[component]
pub fn NotFound() -> impl IntoView {
    view! {
        <Title text="Page not found" />
        <ErrorView error=AppError::NotFound("The page you asked for".to_owned()) />
    }
}
