//! The administration page (users.manage): the users with their roles and status, and the
//! roles with their permissions. Read-only for now; changes are made with `server users`.

use leptos::prelude::*;
use leptos_meta::Title;

use crate::api::admin::{list_roles, list_users};
use crate::components::feedback::{ErrorAlert, Loading};

/// Users and roles at a glance.
#[component]
pub fn AdminPage() -> impl IntoView {
    let users = Resource::new(|| (), |_| list_users());
    let roles = Resource::new(|| (), |_| list_roles());
    view! {
        <Title text="Administration" />
        <header class="page-header">
            <h1>"Administration"</h1>
            <p class="lead">"Who can sign in to Ferry, and what each role allows."</p>
        </header>
        <h2 class="section-title">"Users"</h2>
        <Transition fallback=Loading>
            {move || users.get().map(|result| match result {
                Err(error) => view! { <ErrorAlert error /> }.into_any(),
                Ok(rows) => view! {
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
                                        <td>{user.email}</td>
                                        <td>{user.display_name}</td>
                                        <td>{user.roles.join(", ")}</td>
                                        <td>{if user.disabled { "Disabled" } else { "Active" }}</td>
                                        <td class="nowrap">{user.last_login_at.unwrap_or_else(|| "never".to_owned())}</td>
                                    </tr>
                                }).collect_view()}
                            </tbody>
                        </table>
                    </div>
                }.into_any(),
            })}
        </Transition>
        <h2 class="section-title">"Roles"</h2>
        <Transition fallback=Loading>
            {move || roles.get().map(|result| match result {
                Err(error) => view! { <ErrorAlert error /> }.into_any(),
                Ok(rows) => view! {
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
                                            <strong>{role.name}</strong>
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
                }.into_any(),
            })}
        </Transition>
    }
}
