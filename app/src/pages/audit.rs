//! The audit log page (audit.view): who did what, when, from where, with filters.

use leptos::prelude::*;
use leptos_meta::Title;
use leptos_router::hooks::use_query_map;

use crate::api::admin::list_audit_events;
use crate::components::feedback::{ErrorAlert, Loading};

/// Newest events first; the filter form is a plain GET form, so filters live in the URL.
#[component]
pub fn AuditPage() -> impl IntoView {
    let query = use_query_map();
    let param = move |name: &str| query.with(|q| q.get(name).unwrap_or_default());
    let events = Resource::new(
        move || {
            (
                param("actor"),
                param("action"),
                param("from"),
                param("until"),
            )
        },
        |(actor, action, from, until)| list_audit_events(actor, action, from, until),
    );
    view! {
        <Title text="Audit log" />
        <header class="page-header">
            <h1>"Audit log"</h1>
            <p class="lead">"Who did what to which object, when, from which address, and whether it was allowed."</p>
        </header>
        <form class="card filters" method="get" action="/admin/audit">
            <label>"Actor" <input type="search" name="actor" value=move || param("actor") placeholder="email contains" /></label>
            <label>"Action" <input type="search" name="action" value=move || param("action") placeholder="auth.login or users." /></label>
            <label>"From" <input type="date" name="from" value=move || param("from") /></label>
            <label>"Until" <input type="date" name="until" value=move || param("until") /></label>
            <button type="submit" class="button">"Filter"</button>
        </form>
        <Transition fallback=Loading>
            {move || events.get().map(|result| match result {
                Err(error) => view! { <ErrorAlert error /> }.into_any(),
                Ok(rows) if rows.is_empty() => {
                    view! { <div class="card empty-state"><p>"No events match these filters."</p></div> }.into_any()
                }
                Ok(rows) => view! {
                    <div class="card table-card">
                        <table class="table">
                            <thead>
                                <tr>
                                    <th scope="col">"When"</th>
                                    <th scope="col">"Actor"</th>
                                    <th scope="col">"Action"</th>
                                    <th scope="col">"Object"</th>
                                    <th scope="col">"Outcome"</th>
                                    <th scope="col">"Address"</th>
                                </tr>
                            </thead>
                            <tbody>
                                {rows.into_iter().map(|row| view! {
                                    <tr>
                                        <td class="nowrap">{row.occurred_at}</td>
                                        <td>{row.actor}</td>
                                        <td><code>{row.action}</code></td>
                                        <td title=row.details>{row.object}</td>
                                        <td><span class=format!("badge badge-{}", row.outcome)>{row.outcome.clone()}</span></td>
                                        <td>{row.client_addr}</td>
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
