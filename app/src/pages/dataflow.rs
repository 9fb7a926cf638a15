//! One dataflow (destinations.view): status toggle and properties, the Activation data tab
//! (segments with schedule, mode, dates and file name; remove a segment), and the Runs tab.

use leptos::prelude::*;
use leptos_meta::Title;
use leptos_router::hooks::{use_params_map, use_query_map};

use crate::api::activation::{
    DataflowDetail, RemoveDataflowSegment, SetDataflowEnabled, get_dataflow,
};
use crate::api::runs::RunNow;
use crate::components::feedback::{ErrorAlert, Loading};
use crate::components::forms::use_hydrated;
use crate::pages::runs::{AlertsForm, RunsTable};

/// `/destinations/dataflows/{id}[?tab=runs]`.
#[component]
pub fn DataflowPage() -> impl IntoView {
    let params = use_params_map();
    let id = move || params.with(|p| p.get("id").unwrap_or_default());
    let toggle = ServerAction::<SetDataflowEnabled>::new();
    let remove = ServerAction::<RemoveDataflowSegment>::new();
    let data = Resource::new(
        move || (id(), toggle.version().get(), remove.version().get()),
        |(id, _, _)| get_dataflow(id),
    );
    view! {
        <Title text="Dataflow" />
        <p><a href="/destinations/browse">"← Dataflows"</a></p>
        <Transition fallback=Loading>
            {move || data.get().map(|result| match result {
                Err(error) => view! { <ErrorAlert error /> }.into_any(),
                Ok(detail) => view! { <DataflowView detail toggle remove /> }.into_any(),
            })}
        </Transition>
    }
}

#[component]
fn DataflowView(
    detail: DataflowDetail,
    toggle: ServerAction<SetDataflowEnabled>,
    remove: ServerAction<RemoveDataflowSegment>,
) -> impl IntoView {
    let hydrated = use_hydrated();
    let query = use_query_map();
    let runs_tab = move || query.with(|q| q.get("tab")).is_some_and(|t| t == "runs");
    let DataflowDetail {
        dataflow: flow,
        segments,
        mapping,
        can_manage: _,
        can_activate,
        can_toggle,
    } = detail;
    let id = flow.id.clone();
    let enabled = flow.enabled;
    let base = format!("/destinations/dataflows/{}", flow.id);
    let params: Vec<(String, String)> = flow.params.clone().into_iter().collect();
    let run_now = ServerAction::<RunNow>::new();
    let segments_count = segments.len();
    view! {
        <header class="page-header with-actions">
            <div>
                <h1>{flow.name.clone()}</h1>
                <p class="lead">{format!("{} · {} · account {}", flow.destination_name, flow.connection, flow.account_name)}</p>
            </div>
            <div class="form-actions">
                {can_activate.then(|| view! { <a class="button" href=format!("{base}/activate")>{if segments.is_empty() { "Activate segments" } else { "Edit activation" }}</a> })}
                {(can_activate || can_toggle).then(|| {
                    let id = id.clone();
                    view! {
                        <button type="button" class="button secondary" disabled=move || !hydrated.get() || run_now.pending().get() || segments_count == 0
                            on:click=move |_| { run_now.dispatch(RunNow { dataflow_id: id.clone(), segment_id: None }); }>
                            "Run now"
                        </button>
                    }
                })}
                {can_toggle.then(|| {
                    let id = id.clone();
                    view! {
                        <button type="button" class="button secondary" disabled=move || !hydrated.get() || toggle.pending().get()
                            on:click=move |_| { toggle.dispatch(SetDataflowEnabled { dataflow_id: id.clone(), enabled: !enabled }); }>
                            {if enabled { "Disable" } else { "Enable" }}
                        </button>
                    }
                })}
            </div>
        </header>
        {move || toggle.value().get().and_then(Result::err).map(|error| view! { <ErrorAlert error /> })}
        {move || remove.value().get().and_then(Result::err).map(|error| view! { <ErrorAlert error /> })}
        <section class="card">
            <dl class="facts">
                <div><dt>"Status"</dt><dd data-testid="dataflow-status">{if enabled { "Enabled" } else { "Disabled" }}</dd></div>
                <div><dt>"Destination"</dt><dd>{flow.destination_name.clone()}</dd></div>
                <div><dt>"Account"</dt><dd>{flow.account_name.clone()}{flow.account_user.clone().map(|u| format!(" ({u})"))}</dd></div>
                <div><dt>"Created"</dt><dd>{flow.created_at.clone()}</dd></div>
                <div><dt>"Last run"</dt><dd>{flow.last_run.clone().map_or_else(|| "never".to_owned(), |(status, at)| format!("{status}, {at}"))}</dd></div>
                <div><dt>"Marketing actions"</dt><dd>{if flow.marketing_actions.is_empty() { "none".to_owned() } else { flow.marketing_actions.join(", ") }}</dd></div>
                {params.into_iter().map(|(k, v)| view! { <div><dt>{k}</dt><dd><code>{v}</code></dd></div> }).collect_view()}
            </dl>
        </section>
        <nav class="tabs" aria-label="Dataflow sections">
            <a href=base.clone() aria-current=move || (!runs_tab()).then_some("page")>"Activation data"</a>
            <a href=format!("{base}?tab=runs") aria-current=move || runs_tab().then_some("page")>"Runs"</a>
        </nav>
        {
            let runs_id = id.clone();
            let refresh = Signal::derive(move || run_now.version().get());
            view! {
                {move || run_now.value().get().map(|result| match result {
                    Ok(n) => view! { <p class="notice" role="status">{format!("{n} run{} queued. Follow {} in the Runs tab.", if n == 1 { "" } else { "s" }, if n == 1 { "it" } else { "them" })}</p> }.into_any(),
                    Err(error) => view! { <ErrorAlert error /> }.into_any(),
                })}
                // The tab is drawn by the browser once the page is live: rendered on the server
                // its tables did not hydrate when the page was loaded with ?tab=runs.
                <Show when=move || runs_tab() && hydrated.get()>
                    <RunsTable dataflow_id=runs_id.clone() refresh />
                    <AlertsForm dataflow_id=runs_id.clone() />
                </Show>
            }
        }
        <Show when=move || !runs_tab()>
            {
                let segments = segments.clone();
                let mapping = mapping.clone();
                let id = id.clone();
                view! {
                    {if segments.is_empty() {
                        view! { <div class="card empty-state"><p>"No segments are activated to this dataflow yet."</p></div> }.into_any()
                    } else {
                        let id = id.clone();
                        view! {
                            <div class="card table-card">
                                <table class="table" aria-label="Activated segments">
                                    <thead><tr>
                                        <th scope="col">"Segment"</th><th scope="col">"Schedule"</th><th scope="col">"Mode"</th>
                                        <th scope="col">"Time"</th><th scope="col">"Start"</th><th scope="col">"End (exclusive)"</th>
                                        <th scope="col">"File name"</th><th scope="col"><span class="visually-hidden">"Actions"</span></th>
                                    </tr></thead>
                                    <tbody>
                                        {segments.into_iter().map(|s| {
                                            let (dataflow_id, segment_id) = (id.clone(), s.segment_id.clone());
                                            view! {
                                                <tr>
                                                    <td>{s.name.clone()}</td>
                                                    <td>{s.schedule.clone()}</td>
                                                    <td>{s.mode.clone()}</td>
                                                    <td>{s.time.clone()}</td>
                                                    <td class="nowrap">{s.start_date.clone()}</td>
                                                    <td class="nowrap">{if s.end_date.is_empty() { "—".to_owned() } else { s.end_date.clone() }}</td>
                                                    <td><code>{s.file_name.clone()}</code></td>
                                                    <td class="row-actions">{can_activate.then(|| view! {
                                                        <button type="button" class="button small secondary" disabled=move || !hydrated.get()
                                                            aria-label=format!("Export {} now", s.name)
                                                            on:click={
                                                                let (dataflow_id, segment_id) = (dataflow_id.clone(), segment_id.clone());
                                                                move |_| { run_now.dispatch(RunNow { dataflow_id: dataflow_id.clone(), segment_id: Some(segment_id.clone()) }); }
                                                            }>
                                                            "Export file now"
                                                        </button>
                                                        <button type="button" class="button small secondary" disabled=move || !hydrated.get()
                                                            aria-label=format!("Remove {}", s.name)
                                                            on:click=move |_| { remove.dispatch(RemoveDataflowSegment { dataflow_id: dataflow_id.clone(), segment_id: segment_id.clone() }); }>
                                                            "Remove"
                                                        </button>
                                                    })}</td>
                                                </tr>
                                            }
                                        }).collect_view()}
                                    </tbody>
                                </table>
                            </div>
                        }.into_any()
                    }}
                    <h2 class="section-title">"Mapping"</h2>
                    {if mapping.is_empty() {
                        view! { <p class="muted">"No mapping yet."</p> }.into_any()
                    } else {
                        view! {
                            <div class="card table-card">
                                <table class="table" aria-label="Mapping">
                                    <thead><tr><th scope="col">"Source"</th><th scope="col">"Target"</th><th scope="col">"Mandatory"</th><th scope="col">"Dedup key"</th><th scope="col">"Transformation"</th></tr></thead>
                                    <tbody>
                                        {mapping.into_iter().map(|m| view! {
                                            <tr>
                                                <td>{if m.kind == "identity" { format!("identity {}", m.source) } else { m.source.clone() }}</td>
                                                <td><code>{m.target.clone()}</code></td>
                                                <td>{if m.mandatory { "yes" } else { "" }}</td>
                                                <td>{if m.dedup_key { "yes" } else { "" }}</td>
                                                <td>{m.transformation.clone()}</td>
                                            </tr>
                                        }).collect_view()}
                                    </tbody>
                                </table>
                            </div>
                        }.into_any()
                    }}
                }
            }
        </Show>
    }
}
