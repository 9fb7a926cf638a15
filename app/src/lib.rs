//! Ferry's user interface: the HTML shell, routes, pages and the server functions they call.

pub mod api;
pub mod auth;
pub mod components;
pub mod error;
pub mod pages;
#[cfg(feature = "ssr")]
pub mod state;

use leptos::prelude::*;
use leptos_meta::{MetaTags, Title, provide_meta_context};
use leptos_router::components::{Route, Router, Routes};
use leptos_router::{SsrMode, path};

use crate::components::layout::Layout;
use crate::pages::{home::HomePage, not_found::NotFound, placeholder::AreaPage};

/// The HTML document the server renders around the app; never runs in the browser.
pub fn shell(options: LeptosOptions) -> impl IntoView {
    view! {
        <!DOCTYPE html>
        <html lang="en">
            <head>
                <meta charset="utf-8" />
                <meta name="viewport" content="width=device-width, initial-scale=1" />
                <meta name="color-scheme" content="light dark" />
                <link rel="icon" href="/favicon.svg" type="image/svg+xml" />
                <leptos_meta::HashedStylesheet options=options.clone() id="leptos" />
                <AutoReload options=options.clone() />
                <HydrationScripts options />
                <MetaTags />
            </head>
            <body>
                <App />
            </body>
        </html>
    }
}

/// The application: layout and routes. Hydrated in the browser by the `frontend` crate.
///
/// Pages render in `Async` mode: the server waits for their data and sends complete HTML, so
/// they read the same with JavaScript off and nothing is left to stream in afterwards.
#[component]
pub fn App() -> impl IntoView {
    provide_meta_context();
    view! {
        <Title formatter=|page: String| if page.is_empty() { "Ferry".to_owned() } else { format!("{page} · Ferry") } />
        <Router>
            <Layout>
                <Routes fallback=NotFound>
                    <Route path=path!("/") view=HomePage ssr=SsrMode::Async />
                    <Route path=path!("/destinations/catalog") view=|| view! { <AreaPage area=pages::placeholder::Area::Catalog /> } ssr=SsrMode::Async />
                    <Route path=path!("/destinations/browse") view=|| view! { <AreaPage area=pages::placeholder::Area::Browse /> } ssr=SsrMode::Async />
                    <Route path=path!("/destinations/accounts") view=|| view! { <AreaPage area=pages::placeholder::Area::Accounts /> } ssr=SsrMode::Async />
                    <Route path=path!("/segments") view=|| view! { <AreaPage area=pages::placeholder::Area::Segments /> } ssr=SsrMode::Async />
                    <Route path=path!("/admin") view=|| view! { <AreaPage area=pages::placeholder::Area::Admin /> } ssr=SsrMode::Async />
                </Routes>
            </Layout>
        </Router>
    }
}
