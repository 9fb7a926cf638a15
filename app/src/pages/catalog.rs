//! The destination catalog (destinations.view): cards with filters by category, type, text and
//! "connected only", a details panel, and the actions the caller's permissions allow.

use leptos::prelude::*;
use leptos_meta::Title;
use leptos_router::hooks::use_query_map;

use crate::api::destinations::{CatalogPage as Catalog, DestinationInfo, destination_catalog};
use crate::components::feedback::{ErrorAlert, Loading};

/// `/destinations/catalog`: filters start from the URL (`category`, `type`, `q`, `connected`,
/// so the plain form works without JavaScript) and then follow typing instantly.
#[component]
pub fn CatalogPage() -> impl IntoView {
    let data = Resource::new(|| (), |_| destination_catalog());
    view! {
        <Title text="Destination catalog" />
        <header class="page-header">
            <h1>"Destination catalog"</h1>
            <p class="lead">
                "Every platform Ferry can send profiles and segments to: advertising and social networks, "
                "email-marketing tools, cloud storage and HTTP APIs."
            </p>
        </header>
        <Transition fallback=Loading>
            {move || data.get().map(|result| match result {
                Err(error) => view! { <ErrorAlert error /> }.into_any(),
                Ok(catalog) => view! { <CatalogView catalog /> }.into_any(),
            })}
        </Transition>
    }
}

/// 10000 → "10,000".
fn thousands(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

fn matches(d: &DestinationInfo, category: &str, kind: &str, text: &str, connected: bool) -> bool {
    let text = text.trim().to_lowercase();
    (category.is_empty() || d.category == category)
        && (kind.is_empty() || d.kind == kind)
        && (!connected || d.dataflows > 0)
        && (text.is_empty()
            || d.name.to_lowercase().contains(&text)
            || d.description.to_lowercase().contains(&text)
            || d.category_title.to_lowercase().contains(&text))
}

#[component]
fn CatalogView(catalog: Catalog) -> impl IntoView {
    let query = use_query_map();
    let initial = move |name: &str| query.with_untracked(|q| q.get(name).unwrap_or_default());
    let category = RwSignal::new(initial("category"));
    let kind = RwSignal::new(initial("type"));
    let text = RwSignal::new(initial("q"));
    let connected = RwSignal::new(!initial("connected").is_empty());
    let details = move || query.with(|q| q.get("details"));
    let Catalog {
        destinations,
        categories,
        can_manage,
        can_activate,
    } = catalog;
    let all = StoredValue::new(destinations);
    let shown = move || {
        all.with_value(|all| {
            all.iter()
                .filter(|d| {
                    matches(
                        d,
                        &category.get(),
                        &kind.get(),
                        &text.get(),
                        connected.get(),
                    )
                })
                .cloned()
                .collect::<Vec<_>>()
        })
    };
    let selected = move || {
        details().and_then(|id| all.with_value(|all| all.iter().find(|d| d.id == id).cloned()))
    };
    let category_options = categories.clone();
    view! {
        <form class="card filters" method="get" action="/destinations/catalog" role="search" on:submit=|ev| ev.prevent_default()>
            <label>"Search"
                <input type="search" name="q" placeholder="Name or description" prop:value=move || text.get() value=initial("q")
                    on:input=move |ev| text.set(event_target_value(&ev)) />
            </label>
            <label>"Category"
                <select name="category" on:change=move |ev| category.set(event_target_value(&ev))>
                    <option value="" selected=initial("category").is_empty()>"All categories"</option>
                    {category_options.into_iter().map(|(code, title)| {
                        let selected = initial("category") == code;
                        view! { <option value=code selected=selected>{title}</option> }
                    }).collect_view()}
                </select>
            </label>
            <label>"Type"
                <select name="type" on:change=move |ev| kind.set(event_target_value(&ev))>
                    <option value="" selected=initial("type").is_empty()>"All types"</option>
                    <option value="profile_export" selected=initial("type") == "profile_export">"Profile export"</option>
                    <option value="segment_export" selected=initial("type") == "segment_export">"Segment export"</option>
                </select>
            </label>
            <label class="check inline">
                <input type="checkbox" name="connected" value="1" checked=!initial("connected").is_empty()
                    on:change=move |ev| connected.set(event_target_checked(&ev)) />
                <span>"Connected only"</span>
            </label>
            <noscript><button type="submit" class="button">"Filter"</button></noscript>
        </form>
        <div class="catalog-layout">
            <div>
                <p class="muted" role="status" data-testid="catalog-count">
                    {move || {
                        let n = shown().len();
                        format!("{n} destination{}", if n == 1 { "" } else { "s" })
                    }}
                </p>
                <ul class="catalog-grid" aria-label="Available destinations">
                    {move || {
                        let cards = shown();
                        if cards.is_empty() {
                            return view! { <li class="card empty-state">"No destination matches these filters."</li> }.into_any();
                        }
                        cards.into_iter().map(|d| view! { <DestinationCard d can_manage can_activate /> }).collect_view().into_any()
                    }}
                </ul>
            </div>
            {move || selected().map(|d| view! { <DetailsPanel d can_manage can_activate /> })}
        </div>
    }
}

#[component]
fn DestinationCard(d: DestinationInfo, can_manage: bool, can_activate: bool) -> impl IntoView {
    let connected = d.dataflows > 0;
    let details = format!("/destinations/catalog?details={}", d.id);
    let setup = format!("/destinations/connect/{}", d.id);
    let flows = format!("/destinations/browse?destination={}", d.id);
    view! {
        <li class="card destination-card" data-destination=d.id.clone()>
            <div class="destination-head">
                <span class="destination-logo" aria-hidden="true">{d.initials.clone()}</span>
                <div>
                    <h2 class="destination-name">{d.name.clone()}</h2>
                    <p class="muted destination-meta">{format!("{} · {} · {}", d.category_title, d.kind_title, d.connection_title)}</p>
                </div>
            </div>
            <p class="destination-description">{d.description.clone()}</p>
            {connected.then(|| view! {
                <p class="badge badge-allowed">{format!("Connected · {} dataflow{}", d.dataflows, if d.dataflows == 1 { "" } else { "s" })}</p>
            })}
            <div class="form-actions">
                {can_manage.then(|| view! { <a class="button small" href=setup>"Set up"</a> })}
                {(can_activate && connected).then(|| view! { <a class="button small secondary" href=flows.clone()>"Activate"</a> })}
                {connected.then(|| view! { <a class="button small secondary" href=flows>"View dataflows"</a> })}
                <a class="button small secondary" href=details aria-label=format!("Details of {}", d.name)>"Details"</a>
            </div>
        </li>
    }
}

#[component]
fn DetailsPanel(d: DestinationInfo, can_manage: bool, can_activate: bool) -> impl IntoView {
    let setup = format!("/destinations/connect/{}", d.id);
    let flows = format!("/destinations/browse?destination={}", d.id);
    let connected = d.dataflows > 0;
    view! {
        <aside class="card details-panel" aria-label=format!("{} details", d.name)>
            <div class="card-header">
                <h2>{d.name.clone()}</h2>
                <a href="/destinations/catalog" aria-label="Close details">"✕"</a>
            </div>
            <p>{d.description.clone()}</p>
            <dl class="facts">
                <div><dt>"Category"</dt><dd>{d.category_title.clone()}</dd></div>
                <div><dt>"Type"</dt><dd>{d.kind_title.clone()}</dd></div>
                <div><dt>"Connection"</dt><dd>{format!("{} ({})", d.connection_title, d.transport)}</dd></div>
                <div><dt>"Schedules"</dt><dd>{d.schedules.join(", ")}</dd></div>
                {(!d.formats.is_empty()).then(|| view! {
                    <div><dt>"File formats"</dt><dd>{d.formats.join(", ")}</dd></div>
                    <div><dt>"Compression"</dt><dd>{d.compression.join(", ")}</dd></div>
                })}
                {d.batch_size.map(|n| view! { <div><dt>"Batch size"</dt><dd>{format!("up to {} records", thousands(u64::from(n)))}</dd></div> })}
                {d.requests_per_second.map(|n| view! { <div><dt>"Rate limit"</dt><dd>{format!("{n} requests per second")}</dd></div> })}
                <div><dt>"Accounts"</dt><dd>{d.accounts}</dd></div>
                <div><dt>"Dataflows"</dt><dd>{d.dataflows}</dd></div>
            </dl>
            <h3>"Identities"</h3>
            {if d.identities.is_empty() {
                view! { <p class="muted">"Any mapped attributes and identities; no hashing."</p> }.into_any()
            } else {
                view! {
                    <table class="table" aria-label="Identities">
                        <thead><tr><th scope="col">"Namespace"</th><th scope="col">"Sent as"</th><th scope="col">"Prepared"</th></tr></thead>
                        <tbody>
                            {d.identities.into_iter().map(|i| view! {
                                <tr>
                                    <td>{i.namespace}{i.required.then_some(" (required)")}</td>
                                    <td><code>{i.target}</code></td>
                                    <td>{format!("{}; {}", i.normalization, i.hashing)}</td>
                                </tr>
                            }).collect_view()}
                        </tbody>
                    </table>
                    {(d.min_identities > 0).then(|| view! {
                        <p class="muted">{format!("At least {} of these must be mapped.", d.min_identities)}</p>
                    })}
                }.into_any()
            }}
            {(!d.marketing_actions.is_empty()).then(|| view! {
                <h3>"Marketing actions"</h3>
                <p>{d.marketing_actions.iter().map(|(_, t)| t.clone()).collect::<Vec<_>>().join(", ")}</p>
            })}
            {d.docs_url.clone().map(|url| view! { <p><a href=url rel="noopener noreferrer" target="_blank">"Platform documentation ↗"</a></p> })}
            <div class="form-actions">
                {can_manage.then(|| view! { <a class="button" href=setup>"Set up"</a> })}
                {(can_activate && connected).then(|| view! { <a class="button secondary" href=flows.clone()>"Activate"</a> })}
                {connected.then(|| view! { <a class="button secondary" href=flows>"View dataflows"</a> })}
            </div>
        </aside>
    }
}
