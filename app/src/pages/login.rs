//! The sign-in page: a plain HTML form, so it works the same with or without the WASM app.

use leptos::prelude::*;
use leptos_meta::Title;
use leptos_router::hooks::use_query_map;

/// Email and password; one message for every failed attempt.
#[component]
pub fn LoginPage() -> impl IntoView {
    let query = use_query_map();
    let message = move || {
        let query = query.get();
        match query.get("error").as_deref() {
            Some("throttled") => {
                let wait = query
                    .get("wait")
                    .and_then(|w| w.parse::<u32>().ok())
                    .unwrap_or(1);
                Some(format!(
                    "Too many failed attempts. Try again in {wait} seconds."
                ))
            }
            Some(_) => Some("Invalid email or password.".to_owned()),
            None => None,
        }
    };
    view! {
        <Title text="Sign in" />
        <section class="card auth-card" aria-labelledby="login-title">
            <h1 id="login-title">"Sign in to Ferry"</h1>
            <form class="form" method="post" action="/api/auth/login">
                <label for="login-email">"Email"</label>
                <input id="login-email" type="email" name="email" autocomplete="username" required />
                <label for="login-password">"Password"</label>
                <input
                    id="login-password"
                    type="password"
                    name="password"
                    autocomplete="current-password"
                    required
                />
                {move || message().map(|m| view! { <p class="alert" role="alert">{m}</p> })}
                <button type="submit" class="button">"Sign in"</button>
            </form>
        </section>
    }
}
