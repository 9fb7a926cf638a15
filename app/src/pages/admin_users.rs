//! Creating a user and changing one (users.manage): roles, a new password, disable and enable.

use leptos::prelude::*;
use leptos_meta::Title;
use leptos_router::hooks::{use_navigate, use_params_map};

use crate::api::admin::{
    CreateUser, ResetUserPassword, RoleRow, SetUserDisabled, SetUserRoles, UserRow, get_user,
    list_roles,
};
use crate::components::feedback::{ErrorAlert, Loading};
use crate::components::forms::{Checklist, Choice, Outcome, use_hydrated};
use crate::error::AppError;

fn role_choices(roles: &[RoleRow]) -> Vec<Choice> {
    roles
        .iter()
        .map(|r| Choice {
            value: r.id.clone(),
            label: r.name.clone(),
            hint: r.description.clone(),
        })
        .collect()
}

/// The form for a new user: email, name, first password and roles (Viewer preselected).
#[component]
pub fn NewUserPage() -> impl IntoView {
    let roles = Resource::new(|| (), |_| list_roles());
    view! {
        <Title text="New user" />
        <header class="page-header">
            <p><a href="/admin">"← Administration"</a></p>
            <h1>"New user"</h1>
            <p class="lead">"They sign in with this email and password; tell them the password in person or over a channel you trust."</p>
        </header>
        <Transition fallback=Loading>
            {move || roles.get().map(|result| match result {
                Err(error) => view! { <ErrorAlert error /> }.into_any(),
                Ok(roles) => view! { <NewUserForm roles /> }.into_any(),
            })}
        </Transition>
    }
}

#[component]
fn NewUserForm(roles: Vec<RoleRow>) -> impl IntoView {
    let hydrated = use_hydrated();
    let email = RwSignal::new(String::new());
    let display_name = RwSignal::new(String::new());
    let password = RwSignal::new(String::new());
    let viewer: Vec<String> = roles
        .iter()
        .filter(|r| r.name == "Viewer")
        .map(|r| r.id.clone())
        .collect();
    let chosen = RwSignal::new(viewer);
    let create = ServerAction::<CreateUser>::new();
    let navigate = use_navigate();
    Effect::new(move |_| {
        if let Some(Ok(_)) = create.value().get() {
            navigate("/admin", Default::default());
        }
    });
    let submit = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        create.dispatch(CreateUser {
            email: email.get_untracked(),
            display_name: display_name.get_untracked(),
            password: password.get_untracked(),
            roles: chosen.get_untracked(),
        });
    };
    view! {
        <form class="card form narrow" on:submit=submit>
            <label for="user-email">"Email"</label>
            <input id="user-email" type="email" required autocomplete="off" bind:value=email />
            <label for="user-name">"Name"</label>
            <input id="user-name" type="text" maxlength="200" placeholder="Shown in the top bar and the audit log" bind:value=display_name />
            <label for="user-password">"Password"</label>
            <input id="user-password" type="password" required minlength="12" maxlength="128" autocomplete="new-password" bind:value=password />
            <p class="muted hint">"At least 12 characters; common passwords are refused."</p>
            <Checklist legend="Roles" choices=role_choices(&roles) chosen />
            <Outcome value=create.value() success="User created." />
            <button type="submit" class="button" disabled=move || !hydrated.get() || create.pending().get()>"Create user"</button>
        </form>
    }
}

/// One user: their roles, a new password, and disabling or enabling them.
#[component]
pub fn UserPage() -> impl IntoView {
    let params = use_params_map();
    let user_id = move || params.with(|p| p.get("id").unwrap_or_default());
    let data = Resource::new(user_id, |id| async move {
        let user = get_user(id).await?;
        let roles = list_roles().await?;
        Ok::<_, AppError>((user, roles))
    });
    view! {
        <Title text="User" />
        <header class="page-header">
            <p><a href="/admin">"← Administration"</a></p>
        </header>
        <Transition fallback=Loading>
            {move || data.get().map(|result| match result {
                Err(error) => view! { <ErrorAlert error /> }.into_any(),
                Ok((user, roles)) => view! { <UserEditor user roles /> }.into_any(),
            })}
        </Transition>
    }
}

#[component]
fn UserEditor(user: UserRow, roles: Vec<RoleRow>) -> impl IntoView {
    let hydrated = use_hydrated();
    let user_id = user.id.clone();
    let held: Vec<String> = roles
        .iter()
        .filter(|r| user.roles.contains(&r.name))
        .map(|r| r.id.clone())
        .collect();
    let chosen = RwSignal::new(held);
    let save_roles = ServerAction::<SetUserRoles>::new();
    let password = RwSignal::new(String::new());
    let reset = ServerAction::<ResetUserPassword>::new();
    let disabled = RwSignal::new(user.disabled);
    let set_disabled = ServerAction::<SetUserDisabled>::new();
    Effect::new(move |_| {
        if let Some(Ok(())) = reset.value().get() {
            password.set(String::new());
        }
    });
    Effect::new(move |_| {
        if let Some(Ok(())) = set_disabled.value().get() {
            disabled.update(|d| *d = !*d);
        }
    });

    let id = user_id.clone();
    let submit_roles = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        save_roles.dispatch(SetUserRoles {
            user_id: id.clone(),
            roles: chosen.get_untracked(),
        });
    };
    let id = user_id.clone();
    let submit_password = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        reset.dispatch(ResetUserPassword {
            user_id: id.clone(),
            password: password.get_untracked(),
        });
    };
    let id = user_id;
    let toggle = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        set_disabled.dispatch(SetUserDisabled {
            user_id: id.clone(),
            disabled: !disabled.get_untracked(),
        });
    };
    let status_message = move || {
        if disabled.get() {
            "User disabled; their sessions have ended."
        } else {
            "User enabled."
        }
    };
    view! {
        <h1>{user.email.clone()}</h1>
        <p class="lead">
            {user.display_name.clone()} " · "
            {move || if disabled.get() {
                view! { <span class="badge badge-denied">"Disabled"</span> }.into_any()
            } else {
                view! { <span class="badge badge-allowed">"Active"</span> }.into_any()
            }}
            " · last sign-in " {user.last_login_at.clone().unwrap_or_else(|| "never".into())}
        </p>
        <div class="grid two">
            <form class="card form" on:submit=submit_roles aria-labelledby="roles-title">
                <h2 id="roles-title">"Roles"</h2>
                <Checklist legend="Roles held" choices=role_choices(&roles) chosen />
                <Outcome value=save_roles.value() success="Roles saved." />
                <button type="submit" class="button" disabled=move || !hydrated.get() || save_roles.pending().get()>"Save roles"</button>
            </form>
            <div class="stack">
                <form class="card form" on:submit=submit_password aria-labelledby="password-title">
                    <h2 id="password-title">"Reset password"</h2>
                    <p class="muted">"The user is signed out everywhere and signs in with the new password."</p>
                    <label for="new-password">"New password"</label>
                    <input id="new-password" type="password" required minlength="12" maxlength="128" autocomplete="new-password" bind:value=password />
                    <Outcome value=reset.value() success="Password changed; the user's sessions have ended." />
                    <button type="submit" class="button" disabled=move || !hydrated.get() || reset.pending().get()>"Set password"</button>
                </form>
                <form class="card form" on:submit=toggle aria-labelledby="status-title">
                    <h2 id="status-title">"Access"</h2>
                    <p class="muted">"A disabled user cannot sign in and is signed out at once. Their history stays in the audit log."</p>
                    {move || match set_disabled.value().get() {
                        Some(Ok(())) => view! { <p class="notice" role="status">{status_message()}</p> }.into_any(),
                        Some(Err(error)) => view! { <ErrorAlert error /> }.into_any(),
                        None => ().into_any(),
                    }}
                    <button
                        type="submit"
                        class=move || if disabled.get() { "button" } else { "button danger" }
                        disabled=move || !hydrated.get() || set_disabled.pending().get()
                    >
                        {move || if disabled.get() { "Enable user" } else { "Disable user" }}
                    </button>
                </form>
            </div>
        </div>
    }
}
