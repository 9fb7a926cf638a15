//! The connect flow (destinations.manage): choose or create an account, name the connection
//! and set its parameters (folder, file format and options, compression), declare marketing
//! actions; the dataflow is created disabled until segments are activated.

use std::collections::BTreeMap;

use leptos::prelude::*;
use leptos_meta::Title;
use leptos_router::hooks::{use_navigate, use_params_map, use_query_map};

use crate::api::destinations::{
    AccountRow, CreateConnection, DestinationInfo, FieldInfo, get_destination, list_accounts,
};
use crate::components::feedback::{ErrorAlert, Loading};
use crate::components::forms::{Checklist, Choice, Outcome, use_hydrated};

/// `/destinations/connect/{id}`.
#[component]
pub fn ConnectPage() -> impl IntoView {
    let params = use_params_map();
    let id = move || params.with(|p| p.get("id").unwrap_or_default());
    let data = Resource::new(id, |id| async move {
        let destination = get_destination(id.clone()).await?;
        let accounts = list_accounts(Some(id)).await?;
        Ok::<_, crate::error::AppError>((destination, accounts.accounts))
    });
    view! {
        <Title text="Connect a destination" />
        <p><a href="/destinations/catalog">"← Catalog"</a></p>
        <Transition fallback=Loading>
            {move || data.get().map(|result| match result {
                Err(error) => view! { <ErrorAlert error /> }.into_any(),
                Ok((destination, accounts)) => view! {
                    <header class="page-header">
                        <h1>{format!("Connect {}", destination.name)}</h1>
                        <p class="lead">{destination.description.clone()}</p>
                    </header>
                    <ConnectForm destination accounts />
                }.into_any(),
            })}
        </Transition>
    }
}

const CSV_LABELS: [(&str, &str); 6] = [
    ("csv_delimiter", "Delimiter (\\t for a tab)"),
    ("csv_quote", "Quote character"),
    ("csv_escape", "Escape character"),
    ("csv_header", "Header row"),
    ("csv_null", "Null value output"),
    ("csv_empty", "Empty value output"),
];

#[component]
fn ConnectForm(destination: DestinationInfo, accounts: Vec<AccountRow>) -> impl IntoView {
    let hydrated = use_hydrated();
    let query = use_query_map();
    let chosen = query
        .with_untracked(|q| q.get("account"))
        .filter(|a| accounts.iter().any(|x| &x.id == a))
        .or_else(|| accounts.first().map(|a| a.id.clone()))
        .unwrap_or_default();
    let account = RwSignal::new(chosen);
    let name = RwSignal::new(format!("{} dataflow", destination.name));
    let description = RwSignal::new(String::new());
    let mut initial: BTreeMap<String, String> = destination
        .parameters
        .iter()
        .map(|f| (f.key.clone(), f.default.clone().unwrap_or_default()))
        .collect();
    if let Some(format) = destination.formats.first() {
        initial.insert("format".into(), format.clone());
    }
    if let Some(compression) = destination.compression.first() {
        initial.insert("compression".into(), compression.clone());
    }
    initial.extend(destination.csv_defaults.iter().cloned());
    let params = RwSignal::new(initial);
    let actions = RwSignal::new(Vec::<String>::new());
    let create = ServerAction::<CreateConnection>::new();
    let navigate = use_navigate();
    let dest = destination.id.clone();
    Effect::new(move |_| {
        if let Some(Ok(flow)) = create.value().get() {
            navigate(
                &format!(
                    "/destinations/browse?destination={}&created={}",
                    dest, flow.id
                ),
                Default::default(),
            );
        }
    });
    let is_csv = move || params.with(|p| p.get("format").is_some_and(|f| f == "csv"));
    let has_files = !destination.formats.is_empty();
    let dest = destination.id.clone();
    let submit = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        let mut values = params.get_untracked();
        // CSV options only travel with CSV files.
        if values.get("format").is_some_and(|f| f != "csv") {
            values.retain(|k, _| !k.starts_with("csv_"));
        }
        create.dispatch(CreateConnection {
            destination_id: dest.clone(),
            account_id: account.get_untracked(),
            name: name.get_untracked(),
            description: description.get_untracked(),
            params: values,
            marketing_actions: actions.get_untracked(),
        });
    };
    let new_account = format!(
        "/destinations/accounts/new?destination={}&then=connect",
        destination.id
    );
    let choices: Vec<Choice> = destination
        .marketing_actions
        .iter()
        .map(|(code, title)| Choice {
            value: code.clone(),
            label: title.clone(),
            hint: String::new(),
        })
        .collect();
    let no_accounts = accounts.is_empty();
    view! {
        <form class="card form" on:submit=submit>
            <h2 class="section-title">"1. Account"</h2>
            {if no_accounts {
                view! { <p>"No account for this destination yet. " <a href=new_account.clone()>"Create an account"</a> " first."</p> }.into_any()
            } else {
                view! {
                    <fieldset class="checklist">
                        <legend>"Use the account"</legend>
                        {accounts.into_iter().map(|a| {
                            let id = a.id.clone();
                            let checked = account.get_untracked() == a.id;
                            view! {
                                <label class="check">
                                    <input type="radio" name="account" value=a.id.clone() checked=checked on:change=move |_| account.set(id.clone()) />
                                    <span>
                                        <span class="check-label">{a.name.clone()}</span>
                                        <span class="muted check-hint">{format!("{} · {}", a.user_name.clone().unwrap_or_else(|| "no user name".into()), a.authorized_at.clone().map_or_else(|| "not tested".into(), |t| format!("authorised {t}")))}</span>
                                    </span>
                                </label>
                            }
                        }).collect_view()}
                    </fieldset>
                    <p><a href=new_account.clone()>"Create a new account"</a></p>
                }.into_any()
            }}
            <h2 class="section-title">"2. Destination details"</h2>
            <label for="connection-name">"Name"</label>
            <input id="connection-name" type="text" required maxlength="200" bind:value=name />
            <label for="connection-description">"Description (optional)"</label>
            <input id="connection-description" type="text" maxlength="4000" bind:value=description />
            {destination.parameters.iter().cloned().map(|field| view! { <ParameterField field params /> }).collect_view()}
            {has_files.then(|| {
                let formats = destination.formats.clone();
                let compression = destination.compression.clone();
                view! {
                    <label for="connection-format">"File format"</label>
                    <select id="connection-format" on:change=move |ev| params.update(|p| { p.insert("format".into(), event_target_value(&ev)); })>
                        {formats.into_iter().map(|f| view! { <option value=f.clone()>{f.to_uppercase()}</option> }).collect_view()}
                    </select>
                    <label for="connection-compression">"Compression"</label>
                    <select id="connection-compression" on:change=move |ev| params.update(|p| { p.insert("compression".into(), event_target_value(&ev)); })>
                        {compression.into_iter().map(|c| { let label = c.clone(); view! { <option value=c>{label}</option> } }).collect_view()}
                    </select>
                    <Show when=is_csv>
                        <fieldset class="csv-options">
                            <legend>"CSV options"</legend>
                            {CSV_LABELS.iter().map(|(key, label)| view! { <CsvOption key label params /> }).collect_view()}
                        </fieldset>
                    </Show>
                }
            })}
            <h2 class="section-title">"3. Marketing actions"</h2>
            <p class="muted hint">"What this data will be used for; data-usage policies check them against field labels when segments are activated."</p>
            <Checklist legend="Marketing actions" choices chosen=actions />
            <Outcome value=create.value() success="Connected." />
            <div class="form-actions">
                <button type="submit" class="button" disabled=move || !hydrated.get() || create.pending().get() || no_accounts>
                    "Connect"
                </button>
            </div>
        </form>
    }
}

#[component]
fn ParameterField(field: FieldInfo, params: RwSignal<BTreeMap<String, String>>) -> impl IntoView {
    let id = format!("param-{}", field.key);
    let key = field.key.clone();
    let value = {
        let key = key.clone();
        move || params.with(|p| p.get(&key).cloned().unwrap_or_default())
    };
    let label = if field.kind == "path" {
        format!(
            "{} (macros: {{destination}}, {{segment_id}}, {{date}})",
            field.label
        )
    } else {
        field.label.clone()
    };
    view! {
        <label for=id.clone()>{label}</label>
        <input id=id type=if field.kind == "number" { "number" } else { "text" } required=field.required
            prop:value=value.clone() value=value()
            on:input=move |ev| params.update(|p| { p.insert(key.clone(), event_target_value(&ev)); }) />
        {field.help.clone().map(|help| view! { <p class="muted hint">{help}</p> })}
    }
}

#[component]
fn CsvOption(
    key: &'static str,
    label: &'static str,
    params: RwSignal<BTreeMap<String, String>>,
) -> impl IntoView {
    let id = format!("param-{key}");
    let value = move || params.with(|p| p.get(key).cloned().unwrap_or_default());
    if key == "csv_header" {
        return view! {
            <label class="check">
                <input id=id type="checkbox" checked=value() == "true"
                    on:change=move |ev| params.update(|p| { p.insert(key.into(), event_target_checked(&ev).to_string()); }) />
                <span>"Write a header row"</span>
            </label>
        }.into_any();
    }
    view! {
        <label>
            {label}
            <input id=id type="text" maxlength="32" prop:value=value value=value()
                on:input=move |ev| params.update(|p| { p.insert(key.into(), event_target_value(&ev)); }) />
        </label>
    }.into_any()
}
