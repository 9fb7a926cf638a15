//! The frame around every page: top bar, navigation for each area, and the main column.

use leptos::prelude::*;
use leptos_router::components::A;

/// Wraps a page in the top bar and the navigation.
#[component]
pub fn Layout(children: Children) -> impl IntoView {
    // Effects run only in the browser once the app has hydrated; the attribute lets scripts and
    // tests know the page is interactive.
    let hydrated = RwSignal::new(false);
    Effect::new(move |_| hydrated.set(true));
    view! {
        <a class="skip-link" href="#main">"Skip to content"</a>
        <div class="app" data-hydrated=move || hydrated.get().then_some("true")>
            <header class="topbar">
                <a class="brand" href="/">
                    <span class="brand-mark" aria-hidden="true">"F"</span>
                    <span class="brand-name">"Ferry"</span>
                </a>
                <span class="topbar-tagline">"Customer data activation"</span>
            </header>
            <nav class="sidebar" aria-label="Main">
                <ul class="nav-list">
                    <li><A href="/" exact=true>"Home"</A></li>
                </ul>
                <p class="nav-heading" id="nav-destinations">"Destinations"</p>
                <ul class="nav-list" aria-labelledby="nav-destinations">
                    <li><A href="/destinations/catalog">"Catalog"</A></li>
                    <li><A href="/destinations/browse">"Browse"</A></li>
                    <li><A href="/destinations/accounts">"Accounts"</A></li>
                </ul>
                <p class="nav-heading" id="nav-data">"Data"</p>
                <ul class="nav-list" aria-labelledby="nav-data">
                    <li><A href="/segments">"Segments"</A></li>
                </ul>
                <p class="nav-heading" id="nav-settings">"Settings"</p>
                <ul class="nav-list" aria-labelledby="nav-settings">
                    <li><A href="/admin">"Admin"</A></li>
                </ul>
            </nav>
            <main id="main" class="content" tabindex="-1">
                {children()}
            </main>
        </div>
    }
}
