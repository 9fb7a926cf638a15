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
use leptos_router::components::{Outlet, ProtectedParentRoute, Route, Router, Routes};
use leptos_router::{SsrMode, path};

use crate::components::layout::Layout;
use crate::pages::accounts::{AccountPage, AccountsPage, NewAccountPage};
use crate::pages::activate::ActivatePage;
use crate::pages::admin::AdminPage;
use crate::pages::admin_roles::RolePage;
use crate::pages::admin_users::{NewUserPage, UserPage};
use crate::pages::audit::AuditPage;
use crate::pages::browse::BrowsePage;
use crate::pages::catalog::CatalogPage;
use crate::pages::connect::ConnectPage;
use crate::pages::dataflow::DataflowPage;
use crate::pages::home::HomePage;
use crate::pages::import::ImportPage;
use crate::pages::login::LoginPage;
use crate::pages::not_found::NotFound;
use crate::pages::runs::{NotificationsPage, RunPage};
use crate::pages::schema::SchemaPage;
use crate::pages::segments::{SegmentPage, SegmentsPage};

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
    let auth = auth::Auth::new();
    provide_context(auth);
    // None while the user is loading; then whether someone is signed in.
    let signed_in = move || auth.user.get().map(|user| matches!(user, Ok(Some(_))));
    view! {
        <Title formatter=|page: String| if page.is_empty() { "Ferry".to_owned() } else { format!("{page} · Ferry") } />
        <Router>
            <Layout>
                <Routes fallback=NotFound>
                    <Route path=path!("/login") view=LoginPage ssr=SsrMode::Async />
                    // Everything else needs a signed-in user; anyone else is sent to sign in.
                    <ProtectedParentRoute
                        path=path!("")
                        view=Outlet
                        condition=signed_in
                        redirect_path=|| "/login"
                        ssr=SsrMode::Async
                    >
                        <Route path=path!("/") view=HomePage ssr=SsrMode::Async />
                        <Route path=path!("/destinations/catalog") view=CatalogPage ssr=SsrMode::Async />
                        <Route path=path!("/destinations/connect/:id") view=ConnectPage ssr=SsrMode::Async />
                        <Route path=path!("/destinations/browse") view=BrowsePage ssr=SsrMode::Async />
                        <Route path=path!("/destinations/dataflows/:id") view=DataflowPage ssr=SsrMode::Async />
                        <Route path=path!("/destinations/dataflows/:id/activate") view=ActivatePage ssr=SsrMode::Async />
                        <Route path=path!("/destinations/runs/:id") view=RunPage ssr=SsrMode::Async />
                        <Route path=path!("/notifications") view=NotificationsPage ssr=SsrMode::Async />
                        <Route path=path!("/destinations/accounts") view=AccountsPage ssr=SsrMode::Async />
                        <Route path=path!("/destinations/accounts/new") view=NewAccountPage ssr=SsrMode::Async />
                        <Route path=path!("/destinations/accounts/:id") view=AccountPage ssr=SsrMode::Async />
                        <Route path=path!("/segments") view=SegmentsPage ssr=SsrMode::Async />
                        <Route path=path!("/segments/new") view=SegmentPage ssr=SsrMode::Async />
                        <Route path=path!("/segments/:id") view=SegmentPage ssr=SsrMode::Async />
                        <Route path=path!("/schema") view=SchemaPage ssr=SsrMode::Async />
                        <Route path=path!("/profiles/import") view=ImportPage ssr=SsrMode::Async />
                        <Route path=path!("/admin") view=AdminPage ssr=SsrMode::Async />
                        <Route path=path!("/admin/audit") view=AuditPage ssr=SsrMode::Async />
                        <Route path=path!("/admin/users/new") view=NewUserPage ssr=SsrMode::Async />
                        <Route path=path!("/admin/users/:id") view=UserPage ssr=SsrMode::Async />
                        <Route path=path!("/admin/roles/new") view=RolePage ssr=SsrMode::Async />
                        <Route path=path!("/admin/roles/:id") view=RolePage ssr=SsrMode::Async />
                    </ProtectedParentRoute>
                </Routes>
            </Layout>
        </Router>
    }
}
