//! Creating and editing custom roles with permission checkboxes (users.manage); built-in roles
//! are shown read-only.

use leptos::prelude::*;
use leptos_meta::Title;
use leptos_router::hooks::{use_navigate, use_params_map};

use crate::api::admin::{
    CreateRole, PermissionRow, RoleRow, UpdateRole, get_role, list_permissions,
};
use crate::components::feedback::{ErrorAlert, Loading};
use crate::components::forms::{Checklist, Choice, Outcome, use_hydrated};
use crate::error::AppError;

/// `/admin/roles/new` for a new role, `/admin/roles/{id}` for an existing one.
#[component]
pub fn RolePage() -> impl IntoView {
    let params = use_params_map();
    let role_id = move || params.with(|p| p.get("id"));
    let data = Resource::new(role_id, |id| async move {
        let permissions = list_permissions().await?;
        let role = match id {
            Some(id) => Some(get_role(id).await?),
            None => None,
        };
        Ok::<_, AppError>((permissions, role))
    });
    view! {
        <Title text="Role" />
        <header class="page-header">
            <p><a href="/admin">"← Administration"</a></p>
        </header>
        <Transition fallback=Loading>
            {move || data.get().map(|result| match result {
                Err(error) => view! { <ErrorAlert error /> }.into_any(),
                Ok((permissions, role)) => view! { <RoleForm permissions role /> }.into_any(),
            })}
        </Transition>
    }
}

#[component]
fn RoleForm(permissions: Vec<PermissionRow>, role: Option<RoleRow>) -> impl IntoView {
    let hydrated = use_hydrated();
    let choices: Vec<Choice> = permissions
        .into_iter()
        .map(|p| Choice {
            label: p.name.clone(),
            value: p.name,
            hint: p.description,
        })
        .collect();
    let read_only = role.as_ref().is_some_and(|r| r.built_in);
    let title = match &role {
        None => "New role".to_owned(),
        Some(r) => r.name.clone(),
    };
    let role_id = role.as_ref().map(|r| r.id.clone());
    let name = RwSignal::new(role.as_ref().map(|r| r.name.clone()).unwrap_or_default());
    let description = RwSignal::new(
        role.as_ref()
            .map(|r| r.description.clone())
            .unwrap_or_default(),
    );
    let chosen = RwSignal::new(
        role.as_ref()
            .map(|r| r.permissions.clone())
            .unwrap_or_default(),
    );
    let create = ServerAction::<CreateRole>::new();
    let update = ServerAction::<UpdateRole>::new();
    let navigate = use_navigate();
    Effect::new(move |_| {
        if let Some(Ok(_)) = create.value().get() {
            navigate("/admin", Default::default());
        }
    });
    let is_new = role_id.is_none();
    let submit = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        match &role_id {
            None => {
                create.dispatch(CreateRole {
                    name: name.get_untracked(),
                    description: description.get_untracked(),
                    permissions: chosen.get_untracked(),
                });
            }
            Some(id) => {
                update.dispatch(UpdateRole {
                    role_id: id.clone(),
                    name: name.get_untracked(),
                    description: description.get_untracked(),
                    permissions: chosen.get_untracked(),
                });
            }
        }
    };
    let pending = move || create.pending().get() || update.pending().get();
    view! {
        <h1>{title}</h1>
        {read_only.then(|| view! {
            <p class="lead">"A built-in role: its permissions are fixed. Create a custom role to grant a different set."</p>
        })}
        <form class="card form narrow" on:submit=submit>
            <label for="role-name">"Name"</label>
            <input id="role-name" type="text" required maxlength="100" disabled=read_only bind:value=name />
            <label for="role-description">"Description"</label>
            <input id="role-description" type="text" maxlength="500" disabled=read_only bind:value=description />
            <Checklist legend="Permissions" choices chosen read_only />
            <Outcome value=create.value() success="Role created." />
            <Outcome value=update.value() success="Role saved." />
            {(!read_only).then(|| view! {
                <button type="submit" class="button" disabled=move || !hydrated.get() || pending()>
                    {if is_new { "Create role" } else { "Save role" }}
                </button>
            })}
        </form>
    }
}
