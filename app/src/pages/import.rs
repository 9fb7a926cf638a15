//! Importing profiles from a CSV or JSON Lines file (profiles.import), with the report of what
//! was added, updated and refused.

use leptos::prelude::*;
use leptos::wasm_bindgen::JsCast;
use leptos_meta::Title;
use web_sys::{FormData, HtmlFormElement};

use crate::api::profiles::{ImportSummary, import_profiles};
use crate::api::schema::get_schema_catalog;
use crate::components::feedback::{ErrorAlert, Loading};
use crate::components::forms::use_hydrated;

/// The upload form and the last import's report.
#[component]
pub fn ImportPage() -> impl IntoView {
    let hydrated = use_hydrated();
    let catalog = Resource::new(|| (), |_| get_schema_catalog());
    // FormData lives in the browser only, so the action runs locally.
    let upload = Action::new_local(|data: &FormData| {
        let data = data.clone();
        async move { import_profiles(data.into()).await }
    });
    let submit = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        let Some(form) = ev
            .target()
            .and_then(|t| t.dyn_into::<HtmlFormElement>().ok())
        else {
            return;
        };
        if let Ok(data) = FormData::new_with_form(&form) {
            upload.dispatch_local(data);
        }
    };
    view! {
        <Title text="Import profiles" />
        <header class="page-header">
            <h1>"Import profiles"</h1>
            <p class="lead">
                "A CSV file with a header row, or JSON Lines. CSV columns are schema field paths (such as "
                <code>"loyalty.points"</code> ") and identities (such as " <code>"identity.Email"</code>
                "). A JSON line holds " <code>"{\"identities\": {...}, \"attributes\": {...}}"</code>
                ". Rows with the same key identity update one profile; importing a file twice changes nothing."
            </p>
        </header>
        <form class="card form narrow" on:submit=submit>
            <label for="import-key">"Match profiles by"</label>
            <select id="import-key" name="key">
                <Transition fallback=|| view! { <option value="CRMID">"CRMID"</option> }>
                    {move || catalog.get().map(|result| match result {
                        Ok(c) => c.namespaces.into_iter().map(|n| {
                            let selected = n.code == "CRMID";
                            view! { <option value=n.code.clone() selected=selected>{format!("{} ({})", n.title, n.code)}</option> }
                        }).collect_view().into_any(),
                        Err(_) => view! { <option value="CRMID">"CRMID"</option> }.into_any(),
                    })}
                </Transition>
            </select>
            <label for="import-file">"File"</label>
            <input id="import-file" type="file" name="file" accept=".csv,.jsonl,.ndjson" required />
            <button type="submit" class="button" disabled=move || !hydrated.get() || upload.pending().get()>
                {move || if upload.pending().get() { "Importing…" } else { "Import" }}
            </button>
        </form>
        {move || match upload.value().get() {
            None if upload.pending().get() => view! { <Loading /> }.into_any(),
            None => ().into_any(),
            Some(Err(error)) => view! { <ErrorAlert error /> }.into_any(),
            Some(Ok(report)) => view! { <Report report /> }.into_any(),
        }}
    }
}

#[component]
fn Report(report: ImportSummary) -> impl IntoView {
    let more = report
        .rejected
        .saturating_sub(report.rejections.len() as u64);
    view! {
        <section class="card" aria-labelledby="report-title">
            <h2 id="report-title">"Import report"</h2>
            <dl class="facts" data-testid="import-report">
                <div><dt>"Rows read"</dt><dd>{report.rows}</dd></div>
                <div><dt>"New profiles"</dt><dd>{report.inserted}</dd></div>
                <div><dt>"Updated"</dt><dd>{report.updated}</dd></div>
                <div><dt>"Unchanged"</dt><dd>{report.unchanged}</dd></div>
                <div><dt>"Rejected"</dt><dd>{report.rejected}</dd></div>
            </dl>
            {(!report.rejections.is_empty()).then(|| view! {
                <table class="table" aria-label="Rejected rows">
                    <thead><tr><th scope="col">"Line"</th><th scope="col">"Reason"</th></tr></thead>
                    <tbody>
                        {report.rejections.into_iter().map(|(line, reason)| view! {
                            <tr><td>{line}</td><td>{reason}</td></tr>
                        }).collect_view()}
                    </tbody>
                </table>
            })}
            {(more > 0).then(|| view! { <p class="muted">{format!("… and {more} more rejected rows.")}</p> })}
        </section>
    }
}
