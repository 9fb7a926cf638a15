//! Browse (destinations.view): every dataflow with its destination, account and status; the
//! activation wizard and run history arrive with the activation and export-engine work.

use leptos::prelude::*;
use leptos_meta::Title;
use leptos_router::hooks::use_query_map;

use crate::api::destinations::list_dataflows;
use crate::components::feedback::{ErrorAlert, Loading};

/// `/destinations/browse[?destination=ID]`.
#[component]
pub fn BrowsePage() -> impl IntoView {
    let query = use_query_map();
    let destination = move || {
        query
            .with(|q| q.get("destination"))
            .filter(|d| !d.is_empty())
    };
    let created = move || query.with(|q| q.get("created"));
    let data = Resource::new(destination, list_dataflows);
    view! {
        <Title text="Dataflows" />
        <header class="page-header">
            <h1>"Dataflows"</h1>
            <p class="lead">"Your connected destinations: which account each uses and whether it is enabled."</p>
        </header>
        {move || destination().map(|_| view! { <p><a href="/destinations/browse">"Show all dataflows"</a></p> })}
        {move || created().map(|_| view! {
            <p class="notice" role="status">"Connected. The dataflow stays disabled until segments are activated to it."</p>
        })}
        <Transition fallback=Loading>
            {move || data.get().map(|result| match result {
                Err(error) => view! { <ErrorAlert error /> }.into_any(),
                Ok(rows) if rows.is_empty() => view! {
                    <div class="card empty-state"><p>"No dataflows yet. Set up a destination from the "<a href="/destinations/catalog">"catalog"</a>"."</p></div>
                }.into_any(),
                Ok(rows) => view! {
                    <div class="card table-card">
                        <table class="table" aria-label="Dataflows">
                            <thead>
                                <tr>
                                    <th scope="col">"Name"</th>
                                    <th scope="col">"Destination"</th>
                                    <th scope="col">"Connection type"</th>
                                    <th scope="col">"Account"</th>
                                    <th scope="col">"Status"</th>
                                    <th scope="col">"Created"</th>
                                </tr>
                            </thead>
                            <tbody>
                                {rows.into_iter().map(|d| view! {
                                    <tr data-dataflow=d.id.clone()>
                                        <td><strong>{d.name}</strong><br /><span class="muted">{d.description}</span></td>
                                        <td>{d.destination_name}</td>
                                        <td>{d.connection}</td>
                                        <td>{d.account_name}{d.account_user.map(|u| format!(" ({u})"))}</td>
                                        <td>{if d.enabled { "Enabled" } else { "Disabled" }}</td>
                                        <td class="nowrap">{d.created_at}</td>
                                    </tr>
                                }).collect_view()}
                            </tbody>
                        </table>
                    </div>
                }.into_any(),
            })}
        </Transition>
    }
}
