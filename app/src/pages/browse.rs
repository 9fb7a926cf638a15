//! Browse (destinations.view): every dataflow with its destination, account, segments and
//! status; sorting and search live in the URL, so the page works without JavaScript; enable,
//! disable and delete (destinations.manage) and edit activation (activators) by permission.

use leptos::form::ActionForm;
use leptos::prelude::*;
use leptos_meta::Title;
use leptos_router::hooks::use_query_map;

use crate::api::activation::{DeleteDataflow, SetDataflowEnabled};
use crate::api::destinations::{DataflowRow, list_dataflows};
use crate::api::runs::RunNow;
use crate::components::feedback::{ErrorAlert, Loading};

const COLUMNS: [(&str, &str); 7] = [
    ("name", "Name"),
    ("destination", "Destination"),
    ("connection", "Connection type"),
    ("account", "Account user"),
    ("segments", "Segments"),
    ("created", "Created"),
    ("status", "Status"),
];

fn sort_rows(rows: &mut [DataflowRow], key: &str, descending: bool) {
    rows.sort_by(|a, b| {
        let order = match key {
            "destination" => a.destination_name.cmp(&b.destination_name),
            "connection" => a.connection.cmp(&b.connection),
            "account" => a.account_user.cmp(&b.account_user),
            "segments" => a.segments.cmp(&b.segments),
            "created" => a.created_at.cmp(&b.created_at),
            "status" => a.enabled.cmp(&b.enabled),
            _ => a.name.to_lowercase().cmp(&b.name.to_lowercase()),
        };
        if descending { order.reverse() } else { order }
    });
}

/// `/destinations/browse[?destination=ID&q=TEXT&sort=KEY&dir=asc|desc]`.
#[component]
pub fn BrowsePage() -> impl IntoView {
    let query = use_query_map();
    let param = move |name: &str| query.with(|q| q.get(name).unwrap_or_default());
    let destination = move || Some(param("destination")).filter(|d| !d.is_empty());
    let toggle = ServerAction::<SetDataflowEnabled>::new();
    let delete = ServerAction::<DeleteDataflow>::new();
    let run_now = ServerAction::<RunNow>::new();
    let data = Resource::new(
        move || {
            (
                destination(),
                toggle.version().get(),
                delete.version().get(),
            )
        },
        |(destination, _, _)| list_dataflows(destination),
    );
    view! {
        <Title text="Dataflows" />
        <header class="page-header">
            <h1>"Dataflows"</h1>
            <p class="lead">"Your connected destinations: which segments each activates, with which account, and whether it is enabled."</p>
        </header>
        {move || destination().map(|_| view! { <p><a href="/destinations/browse">"Show all dataflows"</a></p> })}
        {move || query.with(|q| q.get("created")).map(|_| view! {
            <p class="notice" role="status">"Connected. The dataflow stays disabled until segments are activated to it."</p>
        })}
        <form class="card filters" method="get" action="/destinations/browse" role="search">
            <label>"Search" <input type="search" name="q" value=move || param("q") placeholder="Name, destination or account" /></label>
            {move || destination().map(|d| view! { <input type="hidden" name="destination" value=d /> })}
            <button type="submit" class="button">"Search"</button>
        </form>
        {move || toggle.value().get().and_then(Result::err).map(|error| view! { <ErrorAlert error /> })}
        {move || delete.value().get().and_then(Result::err).map(|error| view! { <ErrorAlert error /> })}
        {move || run_now.value().get().and_then(Result::err).map(|error| view! { <ErrorAlert error /> })}
        <Transition fallback=Loading>
            {move || data.get().map(|result| {
                match result {
                    Err(error) => view! { <ErrorAlert error /> }.into_any(),
                    Ok(list) => {
                        let (can_manage, can_activate, can_toggle) = (list.can_manage, list.can_activate, list.can_toggle);
                        let mut rows = list.dataflows;
                        let text = param("q").trim().to_lowercase();
                        if !text.is_empty() {
                            rows.retain(|r| {
                                [&r.name, &r.destination_name, &r.account_name, &r.description]
                                    .iter()
                                    .any(|f| f.to_lowercase().contains(&text))
                                    || r.account_user.as_ref().is_some_and(|u| u.to_lowercase().contains(&text))
                            });
                        }
                        let key = param("sort");
                        let descending = param("dir") == "desc";
                        sort_rows(&mut rows, &key, descending);
                        if rows.is_empty() {
                            return view! {
                                <div class="card empty-state"><p>"No dataflows match. Set up a destination from the "<a href="/destinations/catalog">"catalog"</a>"."</p></div>
                            }.into_any();
                        }
                        view! { <DataflowTable rows key descending can_manage can_activate can_toggle toggle delete run_now /> }.into_any()
                    }
                }
            })}
        </Transition>
    }
}

#[component]
fn DataflowTable(
    rows: Vec<DataflowRow>,
    key: String,
    descending: bool,
    can_manage: bool,
    can_activate: bool,
    can_toggle: bool,
    toggle: ServerAction<SetDataflowEnabled>,
    delete: ServerAction<DeleteDataflow>,
    run_now: ServerAction<RunNow>,
) -> impl IntoView {
    let query = use_query_map();
    let current = if key.is_empty() {
        "name".to_owned()
    } else {
        key.clone()
    };
    let sorted_by = current.clone();
    let link = move |column: &str| {
        let (q, destination) = query.with_untracked(|q| {
            (
                q.get("q").unwrap_or_default(),
                q.get("destination").unwrap_or_default(),
            )
        });
        let dir = if column == sorted_by && !descending {
            "desc"
        } else {
            "asc"
        };
        let mut url = format!("/destinations/browse?sort={column}&dir={dir}");
        if !q.is_empty() {
            url.push_str(&format!("&q={}", urlencode(&q)));
        }
        if !destination.is_empty() {
            url.push_str(&format!("&destination={}", urlencode(&destination)));
        }
        url
    };
    view! {
        <div class="card table-card">
            <table class="table" aria-label="Dataflows">
                <thead>
                    <tr>
                        {COLUMNS.iter().map(|(column, title)| {
                            let sorted = current == *column;
                            let aria = if sorted { if descending { "descending" } else { "ascending" } } else { "none" };
                            view! {
                                <th scope="col" aria-sort=aria>
                                    <a href=link(column)>{*title}{sorted.then_some(if descending { " ▼" } else { " ▲" })}</a>
                                </th>
                            }
                        }).collect_view()}
                        <th scope="col">"Last run"</th>
                        <th scope="col"><span class="visually-hidden">"Actions"</span></th>
                    </tr>
                </thead>
                <tbody>
                    {rows.into_iter().map(|d| {
                        let (id, edit_id, delete_id, run_id) = (d.id.clone(), d.id.clone(), d.id.clone(), d.id.clone());
                        view! {
                            <tr data-dataflow=d.id.clone()>
                                <td><a href=format!("/destinations/dataflows/{}", d.id)><strong>{d.name.clone()}</strong></a><br /><span class="muted">{d.description.clone()}</span></td>
                                <td>{d.destination_name.clone()}</td>
                                <td>{d.connection.clone()}</td>
                                <td>{d.account_user.clone().unwrap_or_else(|| d.account_name.clone())}</td>
                                <td>{d.segments}</td>
                                <td class="nowrap">{d.created_at.clone()}</td>
                                <td>{if d.enabled { view! { <span class="badge badge-allowed">"Enabled"</span> } } else { view! { <span class="badge">"Disabled"</span> } }}</td>
                                <td class="nowrap">{d.last_run.clone().map_or_else(|| view! { <span class="muted">"never"</span> }.into_any(), |(status, at)| { let class = format!("badge run-{status}"); view! { <span class=class>{status}</span>" "<span class="muted">{at}</span> }.into_any() })}</td>
                                <td class="row-actions">
                                    {can_toggle.then(|| view! {
                                        <ActionForm action=toggle attr:class="inline-form">
                                            <input type="hidden" name="dataflow_id" value=id.clone() />
                                            <input type="hidden" name="enabled" value=(!d.enabled).to_string() />
                                            <button type="submit" class="button small secondary">{if d.enabled { "Disable" } else { "Enable" }}</button>
                                        </ActionForm>
                                    })}
                                    {(can_activate && d.segments > 0).then(|| view! {
                                        <ActionForm action=run_now attr:class="inline-form">
                                            <input type="hidden" name="dataflow_id" value=run_id.clone() />
                                            <button type="submit" class="button small secondary">"Run now"</button>
                                        </ActionForm>
                                    })}
                                    {can_activate.then(|| view! {
                                        <a class="button small secondary" href=format!("/destinations/dataflows/{}/activate", edit_id)>"Edit activation"</a>
                                    })}
                                    {can_manage.then(|| view! {
                                        <details class="confirm-delete">
                                            <summary class="button small secondary">"Delete"</summary>
                                            <ActionForm action=delete attr:class="inline-form">
                                                <input type="hidden" name="dataflow_id" value=delete_id.clone() />
                                                <span>"Delete this dataflow? Its schedules stop. "</span>
                                                <button type="submit" class="button small danger">"Delete dataflow"</button>
                                            </ActionForm>
                                        </details>
                                    })}
                                </td>
                            </tr>
                        }
                    }).collect_view()}
                </tbody>
            </table>
        </div>
    }
}

/// Percent-encodes a query value.
fn urlencode(text: &str) -> String {
    text.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}
