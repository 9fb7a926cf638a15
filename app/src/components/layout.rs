//! The frame around every page: top bar with the signed-in user, navigation for each area the
//! user may see, and the main column.

use leptos::prelude::*;
use leptos_router::components::A;

use crate::auth::{Auth, CurrentUser};

/// Wraps a page in the top bar and the navigation.
#[component]
pub fn Layout(children: Children) -> impl IntoView {
    let auth = expect_context::<Auth>();
    // Effects run only in the browser once the app has hydrated; the attribute lets scripts and
    // tests know the page is interactive.
    let hydrated = RwSignal::new(false);
    Effect::new(move |_| hydrated.set(true));
    view! {
        <a class="skip-link" href="#main">"Skip to content"</a>
        <div class="app" data-hydrated=move || hydrated.get().then_some("true")>
            // The user is read in this one boundary only: a resource read under two Suspense
            // boundaries can leave a server-rendered response hanging (leptos#4851, #4578), so
            // the top bar and the navigation share it, awaited rather than polled.
            <Transition fallback=|| view! { <TopBar user=None /> }>
                {move || Suspend::new(async move {
                    let user = auth.user.await.ok().flatten();
                    view! {
                        <TopBar user=user.clone() />
                        {user.map(|user| view! { <Navigation user /> })}
                    }
                })}
            </Transition>
            <main id="main" class="content" tabindex="-1">
                {children()}
            </main>
        </div>
    }
}

#[component]
fn TopBar(user: Option<CurrentUser>) -> impl IntoView {
    view! {
        <header class="topbar">
            <a class="brand" href="/">
                <span class="brand-mark" aria-hidden="true">"F"</span>
                <span class="brand-name">"Ferry"</span>
            </a>
            <span class="topbar-tagline">"Customer data activation"</span>
            {user.map(|user| view! { <UserMenu user /> })}
        </header>
    }
}

#[component]
fn UserMenu(user: CurrentUser) -> impl IntoView {
    view! {
        <div class="user-menu">
            <span class="user-name" title=user.email.clone()>{user.display_name.clone()}</span>
            <form method="post" action="/api/auth/logout">
                <button type="submit" class="button secondary small">"Sign out"</button>
            </form>
        </div>
    }
}

#[component]
fn Navigation(user: CurrentUser) -> impl IntoView {
    let admin = user.can("users.manage");
    let audit = user.can("audit.view");
    let import = user.can("profiles.import");
    view! {
        <nav class="sidebar" aria-label="Main">
            <ul class="nav-list">
                <li><A href="/" exact=true>"Home"</A></li>
            </ul>
            <p class="nav-heading" id="nav-destinations">"Destinations"</p>
            <ul class="nav-list" aria-labelledby="nav-destinations">
                <li><A href="/destinations/catalog">"Catalog"</A></li>
                <li><A href="/destinations/browse">"Browse"</A></li>
                <li><A href="/destinations/accounts">"Accounts"</A></li>
                <li><A href="/notifications">"Notifications"</A></li>
            </ul>
            <p class="nav-heading" id="nav-data">"Data"</p>
            <ul class="nav-list" aria-labelledby="nav-data">
                <li><A href="/segments">"Segments"</A></li>
                <li><A href="/schema">"Schema"</A></li>
                {import.then(|| view! { <li><A href="/profiles/import">"Import profiles"</A></li> })}
            </ul>
            {(admin || audit).then(|| view! {
                <p class="nav-heading" id="nav-settings">"Settings"</p>
                <ul class="nav-list" aria-labelledby="nav-settings">
                    {admin.then(|| view! { <li><A href="/admin" exact=true>"Admin"</A></li> })}
                    {audit.then(|| view! { <li><A href="/admin/audit">"Audit log"</A></li> })}
                </ul>
            })}
        </nav>
    }
}
