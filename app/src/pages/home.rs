//! The home page: what Ferry does, where to start, and the state of this installation.

use leptos::prelude::*;
use leptos_meta::Title;

use crate::api::system::{SystemStatus, get_system_status};

/// The first page after opening Ferry.
#[component]
pub fn HomePage() -> impl IntoView {
    view! {
        <Title text="" />
        <header class="page-header">
            <h1>"Welcome to Ferry"</h1>
            <p class="lead">
                "Ferry sends customer profiles and segment memberships to the platforms where \
                 marketing happens."
            </p>
        </header>
        <div class="grid">
            <a class="card card-link" href="/destinations/catalog">
                <h2>"Catalog"</h2>
                <p>"Find a destination and connect an account."</p>
            </a>
            <a class="card card-link" href="/destinations/browse">
                <h2>"Dataflows"</h2>
                <p>"See what is being activated, and how each run went."</p>
            </a>
            <a class="card card-link" href="/segments">
                <h2>"Segments"</h2>
                <p>"Define the audiences to activate."</p>
            </a>
        </div>
        <StatusPanel />
    }
}

/// Shows the system status, with a button to ask the server again.
#[component]
fn StatusPanel() -> impl IntoView {
    let checks = RwSignal::new(0_u32);
    let status = Resource::new(move || checks.get(), |_| get_system_status());
    // Effects run only in the browser, after hydration: until then the button cannot work,
    // so it is shown disabled rather than silently ignoring clicks.
    let hydrated = RwSignal::new(false);
    Effect::new(move |_| hydrated.set(true));

    view! {
        <section class="card status" aria-labelledby="status-title">
            <div class="card-header">
                <h2 id="status-title">"System status"</h2>
                <button
                    type="button"
                    class="button secondary"
                    disabled=move || !hydrated.get()
                    on:click=move |_| checks.update(|n| *n += 1)
                >
                    "Check again"
                </button>
            </div>
            <Transition fallback=|| view! { <p class="muted">"Checking…"</p> }>
                {move || {
                    status
                        .get()
                        .map(|result| match result {
                            Ok(status) => view! { <StatusFacts status /> }.into_any(),
                            Err(error) => {
                                view! {
                                    <p class="alert" role="alert">
                                        "Could not read the status: "
                                        {error.to_string()}
                                    </p>
                                }
                                    .into_any()
                            }
                        })
                }}
            </Transition>
        </section>
    }
}

#[component]
fn StatusFacts(status: SystemStatus) -> impl IntoView {
    view! {
        <dl class="facts">
            <div>
                <dt>"Database"</dt>
                <dd data-testid="status-database">{status.database}</dd>
            </div>
            <div>
                <dt>"Schema migrations"</dt>
                <dd>{status.migrations_applied}</dd>
            </div>
            <div>
                <dt>"Installed"</dt>
                <dd data-testid="status-since">
                    <time datetime=status.instance_since>{status.instance_since_text}</time>
                </dd>
            </div>
            <div>
                <dt>"Version"</dt>
                <dd>{status.version}</dd>
            </div>
            <div>
                <dt>"Checked"</dt>
                <dd data-testid="status-checked">
                    <time datetime=status.checked_at>{status.checked_at_text}</time>
                </dd>
            </div>
        </dl>
    }
}
