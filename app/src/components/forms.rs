//! Building blocks of the interactive forms: readiness after hydration, checkbox lists and the
//! outcome line under a form.

use leptos::prelude::*;

use crate::components::feedback::ErrorAlert;
use crate::error::AppError;

/// False on the server and until the WASM app has hydrated; forms keep their buttons disabled
/// until then, because before hydration a click would submit nothing useful.
pub fn use_hydrated() -> ReadSignal<bool> {
    let (hydrated, set_hydrated) = signal(false);
    Effect::new(move |_| set_hydrated.set(true));
    hydrated
}

/// One choice in a [`Checklist`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Choice {
    pub value: String,
    pub label: String,
    pub hint: String,
}

/// Checkboxes whose checked values live in `chosen`, in the order of `choices`.
#[component]
pub fn Checklist(
    /// Accessible name of the group.
    legend: &'static str,
    choices: Vec<Choice>,
    chosen: RwSignal<Vec<String>>,
    #[prop(optional)] read_only: bool,
) -> impl IntoView {
    let order: Vec<String> = choices.iter().map(|c| c.value.clone()).collect();
    view! {
        <fieldset class="checklist" disabled=read_only>
            <legend>{legend}</legend>
            {choices.into_iter().map(|choice| {
                let value = choice.value.clone();
                // The attribute draws the server-rendered page; the property keeps the box in
                // step with `chosen` after the user has clicked it.
                let checked = {
                    let value = value.clone();
                    move || chosen.with(|c| c.contains(&value))
                };
                let order = order.clone();
                let toggle = move |ev: leptos::ev::Event| {
                    let on = event_target_checked(&ev);
                    chosen.update(|c| {
                        c.retain(|v| v != &value);
                        if on {
                            c.push(value.clone());
                        }
                        c.sort_by_key(|v| order.iter().position(|o| o == v));
                    });
                };
                view! {
                    <label class="check">
                        <input type="checkbox" value=choice.value.clone() checked=checked.clone() prop:checked=checked on:change=toggle />
                        <span>
                            <span class="check-label">{choice.label}</span>
                            {(!choice.hint.is_empty()).then(|| view! { <span class="muted check-hint">{choice.hint}</span> })}
                        </span>
                    </label>
                }
            }).collect_view()}
        </fieldset>
    }
}

/// The line under a form after it was sent: the error, or `success` when it worked.
#[component]
pub fn Outcome<T>(
    #[prop(into)] value: Signal<Option<Result<T, AppError>>>,
    success: &'static str,
) -> impl IntoView
where
    T: Send + Sync + Clone + 'static,
{
    move || match value.get() {
        None => ().into_any(),
        Some(Ok(_)) => view! { <p class="notice" role="status">{success}</p> }.into_any(),
        Some(Err(error)) => view! { <ErrorAlert error /> }.into_any(),
    }
}
