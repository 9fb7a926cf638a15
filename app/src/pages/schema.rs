//! The schema field catalog and identity namespaces (segments.view), with data-usage labels
//! editable by segment managers.

use leptos::prelude::*;
use leptos_meta::Title;

use crate::api::schema::{FieldRow, SetFieldLabels, get_schema_catalog};
use crate::components::feedback::{ErrorAlert, Loading};
use crate::components::forms::use_hydrated;

/// Every field a rule or an export can use, and every identity namespace.
#[component]
pub fn SchemaPage() -> impl IntoView {
    let data = Resource::new(|| (), |_| get_schema_catalog());
    view! {
        <Title text="Schema" />
        <header class="page-header">
            <h1>"Schema"</h1>
            <p class="lead">"The profile fields segments and exports use, with their data-usage labels, and the identity namespaces."</p>
        </header>
        <Transition fallback=Loading>
            {move || data.get().map(|result| match result {
                Err(error) => view! { <ErrorAlert error /> }.into_any(),
                Ok(catalog) => {
                    let labels = catalog.labels.clone();
                    let editable = catalog.can_edit_labels;
                    view! {
                        <h2 class="section-title">"Fields"</h2>
                        <div class="card table-card">
                            <table class="table" aria-label="Fields">
                                <thead>
                                    <tr>
                                        <th scope="col">"Path"</th>
                                        <th scope="col">"Title"</th>
                                        <th scope="col">"Type"</th>
                                        <th scope="col">"Labels"</th>
                                    </tr>
                                </thead>
                                <tbody>
                                    {catalog.fields.into_iter().map(|field| view! { <FieldLine field editable /> }).collect_view()}
                                </tbody>
                            </table>
                        </div>
                        <h2 class="section-title">"Identity namespaces"</h2>
                        <div class="card table-card">
                            <table class="table" aria-label="Identity namespaces">
                                <thead>
                                    <tr>
                                        <th scope="col">"Code"</th>
                                        <th scope="col">"Name"</th>
                                        <th scope="col">"Kind"</th>
                                        <th scope="col">"Description"</th>
                                    </tr>
                                </thead>
                                <tbody>
                                    {catalog.namespaces.into_iter().map(|n| view! {
                                        <tr>
                                            <td><code>{n.code}</code></td>
                                            <td>{n.title}</td>
                                            <td>{n.kind}</td>
                                            <td>{n.description}</td>
                                        </tr>
                                    }).collect_view()}
                                </tbody>
                            </table>
                        </div>
                        <h2 class="section-title">"Data-usage labels"</h2>
                        <dl class="card facts">
                            {labels.into_iter().map(|(code, meaning)| view! { <div><dt>{code}</dt><dd>{meaning}</dd></div> }).collect_view()}
                        </dl>
                    }.into_any()
                }
            })}
        </Transition>
    }
}

#[component]
fn FieldLine(field: FieldRow, editable: bool) -> impl IntoView {
    let hydrated = use_hydrated();
    let labels = RwSignal::new(field.labels.join(" "));
    let save = ServerAction::<SetFieldLabels>::new();
    Effect::new(move |_| {
        if let Some(Ok(stored)) = save.value().get() {
            labels.set(stored.join(" "));
        }
    });
    let path = field.path.clone();
    let submit = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        let chosen = labels
            .get_untracked()
            .split(|c: char| c.is_whitespace() || c == ',')
            .filter(|l| !l.is_empty())
            .map(str::to_owned)
            .collect();
        save.dispatch(SetFieldLabels {
            path: path.clone(),
            labels: chosen,
        });
    };
    let input_id = format!("labels-{}", field.path.replace('.', "-"));
    view! {
        <tr>
            <td><code>{field.path.clone()}</code></td>
            <td>{field.title}<br /><span class="muted">{field.description}</span></td>
            <td>{field.field_type}</td>
            <td>
                {if editable {
                    view! {
                        <form class="inline-form" on:submit=submit>
                            <label class="visually-hidden" for=input_id.clone()>{format!("Labels of {}", field.path)}</label>
                            <input id=input_id type="text" size="10" placeholder="none" bind:value=labels />
                            <button type="submit" class="button secondary small" disabled=move || !hydrated.get() || save.pending().get()>"Save"</button>
                            {move || match save.value().get() {
                                Some(Err(error)) => view! { <ErrorAlert error /> }.into_any(),
                                Some(Ok(_)) => view! { <span class="saved" role="status">"Saved"</span> }.into_any(),
                                None => ().into_any(),
                            }}
                        </form>
                    }.into_any()
                } else {
                    view! { <span>{move || labels.get()}</span> }.into_any()
                }}
            </td>
        </tr>
    }
}
