//! Accounts: the list (destinations.view) and the account form generated from the
//! destination's credential fields, with Test connection and delete (destinations.manage).
//! Secret values are never shown; the form says which are set and lets them be replaced.

use std::collections::BTreeMap;

use leptos::prelude::*;
use leptos_meta::Title;
use leptos_router::hooks::{use_navigate, use_params_map, use_query_map};

use crate::api::destinations::{
    AccountDetail, AccountRow, CreateAccount, DeleteAccount, DestinationInfo, FieldInfo,
    TestAccount, TestOutcome, UpdateAccount, destination_catalog, get_account, get_destination,
    list_accounts,
};
use crate::components::feedback::{ErrorAlert, Loading};
use crate::components::forms::{Outcome, use_hydrated};

/// `/destinations/accounts`: platform, connection type, user name, dataflows, authorised.
#[component]
pub fn AccountsPage() -> impl IntoView {
    let data = Resource::new(|| (), |_| list_accounts(None));
    view! {
        <Title text="Accounts" />
        <Transition fallback=Loading>
            {move || data.get().map(|result| match result {
                Err(error) => view! { <h1>"Accounts"</h1> <ErrorAlert error /> }.into_any(),
                Ok(list) => view! {
                    <header class="page-header with-actions">
                        <div>
                            <h1>"Accounts"</h1>
                            <p class="lead">"The credentials Ferry uses to reach each platform. Secrets are stored encrypted and never shown again."</p>
                        </div>
                        {list.can_manage.then(|| view! { <a class="button" href="/destinations/accounts/new">"Add account"</a> })}
                    </header>
                    {if list.accounts.is_empty() {
                        view! { <div class="card empty-state"><p>"No accounts yet. Set up a destination from the "<a href="/destinations/catalog">"catalog"</a>" to add one."</p></div> }.into_any()
                    } else {
                        view! { <AccountsTable rows=list.accounts /> }.into_any()
                    }}
                }.into_any(),
            })}
        </Transition>
    }
}

#[component]
fn AccountsTable(rows: Vec<AccountRow>) -> impl IntoView {
    view! {
        <div class="card table-card">
            <table class="table" aria-label="Accounts">
                <thead>
                    <tr>
                        <th scope="col">"Account"</th>
                        <th scope="col">"Platform"</th>
                        <th scope="col">"Connection type"</th>
                        <th scope="col">"User name"</th>
                        <th scope="col">"Dataflows"</th>
                        <th scope="col">"Authorised"</th>
                    </tr>
                </thead>
                <tbody>
                    {rows.into_iter().map(|a| view! {
                        <tr>
                            <td><a href=format!("/destinations/accounts/{}", a.id)><strong>{a.name}</strong></a></td>
                            <td>{a.destination_name}</td>
                            <td>{a.connection}</td>
                            <td>{a.user_name.unwrap_or_else(|| "—".into())}</td>
                            <td>{a.dataflows}</td>
                            <td class="nowrap">{a.authorized_at.unwrap_or_else(|| "not tested".into())}</td>
                        </tr>
                    }).collect_view()}
                </tbody>
            </table>
        </div>
    }
}

/// `/destinations/accounts/new?destination=ID`: the form for a new account, or a choice of
/// destination first.
#[component]
pub fn NewAccountPage() -> impl IntoView {
    let query = use_query_map();
    let destination = move || {
        query
            .with(|q| q.get("destination"))
            .filter(|d| !d.is_empty())
    };
    let then_connect = move || {
        query
            .with(|q| q.get("then"))
            .is_some_and(|t| t == "connect")
    };
    let data = Resource::new(destination, |id| async move {
        match id {
            Some(id) => get_destination(id).await.map(Some),
            None => Ok(None),
        }
    });
    view! {
        <Title text="New account" />
        <p><a href="/destinations/accounts">"← Accounts"</a></p>
        <h1>"New account"</h1>
        <Transition fallback=Loading>
            {move || data.get().map(|result| match result {
                Err(error) => view! { <ErrorAlert error /> }.into_any(),
                Ok(None) => view! { <ChooseDestination /> }.into_any(),
                Ok(Some(destination)) => view! {
                    <p class="lead">{format!("Credentials for {}.", destination.name)}</p>
                    <AccountForm destination existing=None can_manage=true then_connect=then_connect() />
                }.into_any(),
            })}
        </Transition>
    }
}

#[component]
fn ChooseDestination() -> impl IntoView {
    let catalog = Resource::new(|| (), |_| destination_catalog());
    view! {
        <Transition fallback=Loading>
            {move || catalog.get().map(|result| match result {
                Err(error) => view! { <ErrorAlert error /> }.into_any(),
                Ok(catalog) => view! {
                    <form class="card form" method="get" action="/destinations/accounts/new">
                        <label for="account-destination">"Destination"</label>
                        <select id="account-destination" name="destination" required>
                            {catalog.destinations.into_iter().map(|d| view! {
                                <option value=d.id>{format!("{} ({})", d.name, d.category_title)}</option>
                            }).collect_view()}
                        </select>
                        <div class="form-actions"><button type="submit" class="button">"Continue"</button></div>
                    </form>
                }.into_any(),
            })}
        </Transition>
    }
}

/// `/destinations/accounts/{id}`: the account's form, Test connection, delete.
#[component]
pub fn AccountPage() -> impl IntoView {
    let params = use_params_map();
    let id = move || params.with(|p| p.get("id").unwrap_or_default());
    let data = Resource::new(id, get_account);
    view! {
        <Title text="Account" />
        <p><a href="/destinations/accounts">"← Accounts"</a></p>
        <Transition fallback=Loading>
            {move || data.get().map(|result| match result {
                Err(error) => view! { <ErrorAlert error /> }.into_any(),
                Ok(AccountDetail { account, destination, can_manage }) => view! {
                    <header class="page-header">
                        <h1>{account.name.clone()}</h1>
                        <p class="lead">{format!("{} account · created {}", destination.name, account.created_at)}</p>
                    </header>
                    <AccountForm destination existing=Some(account) can_manage then_connect=false />
                }.into_any(),
            })}
        </Transition>
    }
}

fn input_type(field: &FieldInfo) -> &'static str {
    if field.secret {
        "password"
    } else if field.kind == "number" {
        "number"
    } else {
        "text"
    }
}

#[component]
fn AccountForm(
    destination: DestinationInfo,
    existing: Option<AccountRow>,
    can_manage: bool,
    then_connect: bool,
) -> impl IntoView {
    let hydrated = use_hydrated();
    let name = RwSignal::new(
        existing
            .as_ref()
            .map(|a| a.name.clone())
            .unwrap_or_else(|| destination.name.clone()),
    );
    let initial: BTreeMap<String, String> = destination
        .credentials
        .iter()
        .filter(|f| !f.secret)
        .map(|f| {
            let value = existing
                .as_ref()
                .and_then(|a| a.fields.get(&f.key).cloned())
                .or_else(|| f.default.clone())
                .unwrap_or_default();
            (f.key.clone(), value)
        })
        .collect();
    let values = RwSignal::new(initial);
    let clear = RwSignal::new(Vec::<String>::new());
    let secrets_set = existing
        .as_ref()
        .map(|a| a.secrets_set.clone())
        .unwrap_or_default();
    let create = ServerAction::<CreateAccount>::new();
    let update = ServerAction::<UpdateAccount>::new();
    let delete = ServerAction::<DeleteAccount>::new();
    let test = ServerAction::<TestAccount>::new();
    let confirming = RwSignal::new(false);
    let destination_id = destination.id.clone();
    let navigate = use_navigate();
    Effect::new(move |_| {
        if let Some(Ok(account)) = create.value().get() {
            let target = if then_connect {
                format!(
                    "/destinations/connect/{}?account={}",
                    destination_id, account.id
                )
            } else {
                format!("/destinations/accounts/{}", account.id)
            };
            navigate(&target, Default::default());
        }
    });
    let navigate = use_navigate();
    Effect::new(move |_| {
        if let Some(Ok(())) = delete.value().get() {
            navigate("/destinations/accounts", Default::default());
        }
    });
    let account_id = existing.as_ref().map(|a| a.id.clone());
    let is_new = account_id.is_none();
    let id = account_id.clone();
    let dest = destination.id.clone();
    let submit = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        let values = values.get_untracked();
        match &id {
            None => {
                create.dispatch(CreateAccount {
                    destination_id: dest.clone(),
                    name: name.get_untracked(),
                    values,
                });
            }
            Some(account_id) => {
                update.dispatch(UpdateAccount {
                    account_id: account_id.clone(),
                    name: name.get_untracked(),
                    values,
                    clear: clear.get_untracked(),
                });
            }
        }
    };
    let pending = move || create.pending().get() || update.pending().get();
    let last_test = RwSignal::new(existing.as_ref().and_then(|a| a.last_test.clone()));
    Effect::new(move |_| {
        if let Some(Ok(outcome)) = test.value().get() {
            last_test.set(Some(outcome));
        }
    });
    let fields = destination.credentials.clone();
    view! {
        <form class="card form" on:submit=submit autocomplete="off">
            <fieldset class="plain" disabled=!can_manage>
                <label for="account-name">"Account name"</label>
                <input id="account-name" type="text" required maxlength="200" bind:value=name />
                {fields.into_iter().map(|field| {
                    let is_set = secrets_set.contains(&field.key);
                    view! { <CredentialField field is_set values clear /> }.into_any()
                }).collect_view()}
            </fieldset>
            {(fields_note(&destination)).map(|note| view! { <p class="muted hint">{note}</p> })}
            <Outcome value=create.value() success="Account created." />
            <Outcome value=update.value() success="Account saved. Test it to confirm the new settings." />
            {can_manage.then(|| view! {
                <div class="form-actions">
                    <button type="submit" class="button" disabled=move || !hydrated.get() || pending()>
                        {if is_new { "Create account" } else { "Save account" }}
                    </button>
                    {account_id.clone().map(|id| {
                        let test_id = id.clone();
                        view! {
                            <button type="button" class="button secondary" disabled=move || !hydrated.get() || test.pending().get()
                                on:click=move |_| { test.dispatch(TestAccount { account_id: test_id.clone() }); }>
                                {move || if test.pending().get() { "Testing…" } else { "Test connection" }}
                            </button>
                            <button type="button" class="button secondary" on:click=move |_| confirming.set(true) disabled=move || !hydrated.get()>
                                "Delete account"
                            </button>
                            <Show when=move || confirming.get()>
                                {
                                    let id = id.clone();
                                    view! {
                                        <span class="confirm" role="group" aria-label="Confirm deletion">
                                            "Delete this account? "
                                            <button type="button" class="button danger small" on:click=move |_| { delete.dispatch(DeleteAccount { account_id: id.clone() }); }>"Delete"</button>
                                            " "
                                            <button type="button" class="button secondary small" on:click=move |_| confirming.set(false)>"Cancel"</button>
                                        </span>
                                    }
                                }
                            </Show>
                        }
                    })}
                </div>
            }.into_any())}
            <Outcome value=delete.value() success="Account deleted." />
            <TestFeedback test last_test />
            {existing.as_ref().and_then(|a| a.host_key.clone()).map(|key| view! {
                <p class="muted hint">"Pinned SSH host key: " <code>{key}</code></p>
            })}
        </form>
    }
}

/// The answer to Test connection: a transport error, or the outcome (kept across tests).
#[component]
fn TestFeedback(
    test: ServerAction<TestAccount>,
    last_test: RwSignal<Option<TestOutcome>>,
) -> impl IntoView {
    view! {
        {move || test.value().get().and_then(Result::err).map(|error| view! { <ErrorAlert error /> })}
        {move || last_test.get().map(|outcome| view! { <TestResult outcome /> })}
    }
}

fn fields_note(destination: &DestinationInfo) -> Option<&'static str> {
    destination
        .credentials
        .is_empty()
        .then_some("This destination needs no credentials: files go to the server's landing zone.")
}

#[component]
fn TestResult(outcome: TestOutcome) -> impl IntoView {
    let class = if outcome.ok { "notice" } else { "alert" };
    view! {
        <div class=class role="status" data-testid="test-result" data-class=outcome.class.clone().unwrap_or_else(|| "ok".into())>
            <strong>{outcome.title}</strong>": "{outcome.message}
            {outcome.host_key.map(|key| view! { <br /><span class="muted">"Host key: " <code>{key}</code></span> })}
        </div>
    }
}

#[component]
fn CredentialField(
    field: FieldInfo,
    is_set: bool,
    values: RwSignal<BTreeMap<String, String>>,
    clear: RwSignal<Vec<String>>,
) -> impl IntoView {
    let id = format!("account-{}", field.key);
    let key = field.key.clone();
    let value = {
        let key = key.clone();
        move || values.with(|v| v.get(&key).cloned().unwrap_or_default())
    };
    let set = {
        let key = key.clone();
        move |ev: leptos::ev::Event| {
            let text = event_target_value(&ev);
            values.update(|v| {
                v.insert(key.clone(), text);
            });
        }
    };
    let placeholder = if field.secret && is_set {
        "Set — leave empty to keep it".to_owned()
    } else {
        field.placeholder.clone().unwrap_or_default()
    };
    // A required secret that is already set may be left empty.
    let required = field.required && !(field.secret && is_set);
    let label = if field.required || field.one_of.is_some() {
        field.label.clone()
    } else {
        format!("{} (optional)", field.label)
    };
    let control = match field.kind.as_str() {
        "multiline" => view! {
            <textarea id=id.clone() rows="4" spellcheck="false" required=required placeholder=placeholder.clone()
                prop:value=value.clone() on:input=set.clone()>{value()}</textarea>
        }.into_any(),
        "select" => {
            let current = value();
            view! {
                <select id=id.clone() on:change=set.clone()>
                    {field.options.iter().map(|o| view! { <option value=o.clone() selected=*o == current>{o.clone()}</option> }).collect_view()}
                </select>
            }.into_any()
        }
        _ => view! {
            <input id=id.clone() type=input_type(&field) required=required placeholder=placeholder.clone()
                autocomplete=if field.secret { "new-password" } else { "off" }
                prop:value=value.clone() value=value() on:input=set.clone() />
        }.into_any(),
    };
    let removable = field.secret && is_set && !field.required;
    let clear_key = key.clone();
    view! {
        <label for=id.clone()>
            {label}
            {(field.secret && is_set).then(|| view! { " " <span class="badge badge-allowed">"set"</span> })}
        </label>
        {control}
        {field.help.clone().map(|help| view! { <p class="muted hint">{help}</p> })}
        {removable.then(|| view! {
            <label class="check">
                <input type="checkbox" on:change=move |ev| {
                    let on = event_target_checked(&ev);
                    clear.update(|c| {
                        c.retain(|k| k != &clear_key);
                        if on { c.push(clear_key.clone()); }
                    });
                } />
                <span>{format!("Remove the stored {}", field.label.to_lowercase())}</span>
            </label>
        })}
    }
}
