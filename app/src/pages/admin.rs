//! The administration page (users.manage): the users with their roles and status, and the
//! roles with their permissions, each linking to its editor.

use leptos::prelude::*;
use leptos_meta::Title;

use crate::api::admin::{RoleRow, UserRow, list_roles, list_users};
use crate::components::feedback::{ErrorAlert, Loading};
use crate::error::AppError;

/// Users and roles at a glance; one load, so a refusal shows one message.
#[component]
pub fn AdminPage() -> impl IntoView {
    let data = Resource::new(
        || (),
        |_| async move {
            let users = list_users().await?;
            let roles = list_roles().await?;
            Ok::<_, AppError>((users, roles))
        },
    );
    view! {
        <Title text="Administration" />
        <header class="page-header">
            <h1>"Administration"</h1>
            <p class="lead">"Who can sign in to Ferry, and what each role allows."</p>
        </header>
        <Transition fallback=Loading>
            {move || data.get().map(|result| match result {
                Err(error) => view! { <ErrorAlert error /> }.into_any(),
                Ok((users, roles)) => view! {
                    <div class="section-header">
                        <h2 class="section-title">"Users"</h2>
                        <a class="button" href="/admin/users/new">"New user"</a>
                    </div>
                    <UsersTable rows=users />
                    <div class="section-header">
                        <h2 class="section-title">"Roles"</h2>
                        <a class="button" href="/admin/roles/new">"New role"</a>
                    </div>
                    <RolesTable rows=roles />
                }.into_any(),
            })}
        </Transition>
    }
}

#[component]
fn UsersTable(rows: Vec<UserRow>) -> impl IntoView {
    view! {
        <div class="card table-card">
            <table class="table" aria-label="Users">
                <thead>
                    <tr>
                        <th scope="col">"Email"</th>
                        <th scope="col">"Name"</th>
                        <th scope="col">"Roles"</th>
                        <th scope="col">"Status"</th>
                        <th scope="col">"Last sign-in"</th>
                    </tr>
                </thead>
                <tbody>
                    {rows.into_iter().map(|user| view! {
                        <tr>
                            <td><a href=format!("/admin/users/{}", user.id)>{user.email}</a></td>
                            <td>{user.display_name}</td>
                            <td>{user.roles.join(", ")}</td>
                            <td>{if user.disabled { "Disabled" } else { "Active" }}</td>
                            <td class="nowrap">{user.last_login_at.unwrap_or_else(|| "never".to_owned())}</td>
                        </tr>
                    }).collect_view()}
                </tbody>
            </table>
        </div>
    }
}

#[component]
fn RolesTable(rows: Vec<RoleRow>) -> impl IntoView {
    view! {
        <div class="card table-card">
            <table class="table" aria-label="Roles">
                <thead>
                    <tr>
                        <th scope="col">"Role"</th>
                        <th scope="col">"Permissions"</th>
                        <th scope="col">"Users"</th>
                    </tr>
                </thead>
                <tbody>
                    {rows.into_iter().map(|role| view! {
                        <tr>
                            <td>
                                <a href=format!("/admin/roles/{}", role.id)><strong>{role.name}</strong></a>
                                {role.built_in.then(|| view! { " " <span class="badge">"built-in"</span> })}
                                <br />
                                <span class="muted">{role.description}</span>
                            </td>
                            <td><code>{role.permissions.join(" ")}</code></td>
                            <td>{role.user_count}</td>
                        </tr>
                    }).collect_view()}
                </tbody>
            </table>
        </div>
    }
}
