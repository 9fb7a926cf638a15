//! The activation wizard (activators): select segments → schedule → mapping → review → finish.
//! The state is kept in the browser as a draft (it survives a reload) and every step is checked
//! on the server before moving on; Finish saves, re-checked again.

use leptos::prelude::*;
use leptos_meta::Title;
use leptos_router::hooks::{use_navigate, use_params_map};

use crate::api::activation::{
    ActivationInput, FieldProblem, MappingInput, SaveActivation, ScheduleInput, WizardData,
    check_activation, get_activation, preview_file_name, review_activation,
};
use crate::components::feedback::{ErrorAlert, Loading};
use crate::components::forms::{Outcome, use_hydrated};

const STEPS: [&str; 4] = ["Segments", "Scheduling", "Mapping", "Review"];

/// `/destinations/dataflows/{id}/activate`.
#[component]
pub fn ActivatePage() -> impl IntoView {
    let params = use_params_map();
    let id = move || params.with(|p| p.get("id").unwrap_or_default());
    let data = Resource::new(id, get_activation);
    view! {
        <Title text="Activate segments" />
        <Transition fallback=Loading>
            {move || data.get().map(|result| match result {
                Err(error) => view! { <ErrorAlert error /> }.into_any(),
                Ok(data) => view! { <Wizard data /> }.into_any(),
            })}
        </Transition>
    }
}

fn draft_key(dataflow_id: &str) -> String {
    format!("ferry.activation.{dataflow_id}")
}

fn storage() -> Option<web_sys::Storage> {
    web_sys::window().and_then(|w| w.local_storage().ok().flatten())
}

/// The message for `field`, if the server found one.
fn problem_at(problems: &[FieldProblem], field: &str) -> Option<String> {
    problems
        .iter()
        .find(|p| p.field == field)
        .map(|p| p.message.clone())
}

#[component]
fn FieldError(problems: RwSignal<Vec<FieldProblem>>, field: String) -> impl IntoView {
    move || {
        problems.with(|p| problem_at(p, &field)).map(|message| {
            view! {
                <p class="field-error" role="alert">{message}</p>
            }
        })
    }
}

fn new_schedule(data: &WizardData, segment_id: &str) -> ScheduleInput {
    if data.streaming {
        ScheduleInput {
            segment_id: segment_id.to_owned(),
            schedule: "streaming".into(),
            mode: "streaming".into(),
            start_date: data.today.clone(),
            ..Default::default()
        }
    } else {
        ScheduleInput {
            segment_id: segment_id.to_owned(),
            schedule: "daily".into(),
            mode: "full".into(),
            time: "09:00".into(),
            after_evaluation: false,
            start_date: data.today.clone(),
            end_date: String::new(),
            file_name: data.default_file_name.clone(),
        }
    }
}

#[component]
fn Wizard(data: WizardData) -> impl IntoView {
    let hydrated = use_hydrated();
    let dataflow_id = data.dataflow.id.clone();
    let state = RwSignal::new(data.current.clone());
    let step = RwSignal::new(0usize);
    let problems = RwSignal::new(Vec::<FieldProblem>::new());
    let restored = RwSignal::new(false);
    // A draft from an earlier visit wins over the stored activation, until discarded.
    let key = draft_key(&dataflow_id);
    Effect::new(move |first: Option<()>| {
        if first.is_none()
            && let Some(text) = storage().and_then(|s| s.get_item(&key).ok().flatten())
            && let Ok(draft) = serde_json::from_str::<(usize, ActivationInput)>(&text)
            && draft.1 != state.get_untracked()
        {
            state.set(draft.1);
            step.set(draft.0.min(STEPS.len() - 1));
            restored.set(true);
        }
    });
    let key = draft_key(&dataflow_id);
    Effect::new(move |_| {
        let snapshot = (step.get(), state.get());
        if hydrated.get()
            && let (Some(storage), Ok(text)) = (storage(), serde_json::to_string(&snapshot))
        {
            let _ = storage.set_item(&key, &text);
        }
    });
    let original = data.current.clone();
    let key = draft_key(&dataflow_id);
    let discard = move |_| {
        if let Some(storage) = storage() {
            let _ = storage.remove_item(&key);
        }
        state.set(original.clone());
        step.set(0);
        restored.set(false);
        problems.set(vec![]);
    };
    // Next: the server checks everything; the mistakes of this step keep the user here.
    let check = Action::new(move |(id, input): &(String, ActivationInput)| {
        let (id, input) = (id.clone(), input.clone());
        async move { check_activation(id, input).await }
    });
    Effect::new(move |_| {
        if let Some(Ok(found)) = check.value().get() {
            let prefix = match step.get_untracked() {
                0 => "segments",
                1 => "segments[",
                _ => "mapping",
            };
            let here: Vec<FieldProblem> = found
                .into_iter()
                .filter(|p| {
                    p.field.starts_with(prefix)
                        && (step.get_untracked() != 0
                            || p.field == "segments"
                            || p.field.ends_with("segment_id"))
                })
                .collect();
            if here.is_empty() {
                step.update(|s| *s += 1);
            }
            problems.set(here);
        }
    });
    let id = dataflow_id.clone();
    let next = move |_| {
        check.dispatch((id.clone(), state.get_untracked()));
    };
    let back = move |_| {
        problems.set(vec![]);
        step.update(|s| *s = s.saturating_sub(1));
    };
    let data = StoredValue::new(data);
    let title = data.with_value(|d| format!("Activate segments to {}", d.dataflow.name));
    view! {
        <p><a href=format!("/destinations/dataflows/{dataflow_id}")>"← Dataflow"</a></p>
        <header class="page-header">
            <h1>{title}</h1>
            <p class="lead">{data.with_value(|d| format!("{} · {}", d.destination.name, d.dataflow.connection))}</p>
        </header>
        <ol class="steps" aria-label="Steps">
            {STEPS.iter().enumerate().map(|(i, name)| view! {
                <li aria-current=move || (step.get() == i).then_some("step") class=move || { if step.get() > i { "done" } else { "" } }>
                    {format!("{}. {name}", i + 1)}
                </li>
            }).collect_view()}
        </ol>
        <Show when=move || restored.get()>
            <p class="notice" role="status">"Your unfinished activation was restored. "
                <button type="button" class="button small secondary" on:click=discard.clone()>"Discard draft"</button>
            </p>
        </Show>
        <div class="card form wizard">
            {move || match step.get() {
                0 => view! { <SelectSegments data state problems /> }.into_any(),
                1 => view! { <Scheduling data state problems /> }.into_any(),
                2 => view! { <Mapping data state problems /> }.into_any(),
                _ => view! { <Review data state /> }.into_any(),
            }}
            {move || check.value().get().and_then(Result::err).map(|error| view! { <ErrorAlert error /> })}
            <div class="form-actions">
                <Show when=move || { step.get() > 0 }>
                    <button type="button" class="button secondary" on:click=back>"Back"</button>
                </Show>
                <Show when=move || { step.get() + 1 < STEPS.len() }>
                    <button type="button" class="button" disabled=move || !hydrated.get() || check.pending().get() on:click=next.clone()>"Next"</button>
                </Show>
            </div>
        </div>
    }
}

#[component]
fn SelectSegments(
    data: StoredValue<WizardData>,
    state: RwSignal<ActivationInput>,
    problems: RwSignal<Vec<FieldProblem>>,
) -> impl IntoView {
    let search = RwSignal::new(String::new());
    let choices = data.with_value(|d| d.segments.clone());
    view! {
        <h2 class="section-title">"Select segments"</h2>
        <label for="segment-search">"Search segments"</label>
        <input id="segment-search" type="search" placeholder="Name or description" bind:value=search />
        <FieldError problems field="segments".to_owned() />
        <table class="table" aria-label="Segments to activate">
            <thead><tr><th scope="col">"Activate"</th><th scope="col">"Segment"</th><th scope="col">"Size"</th><th scope="col">"Status"</th></tr></thead>
            <tbody>
                {choices.into_iter().map(|s| {
                    let (id, toggle_id) = (s.id.clone(), s.id.clone());
                    let text = format!("{} {}", s.name, s.description).to_lowercase();
                    let checked = move || state.with(|st| st.segments.iter().any(|x| x.segment_id == id));
                    let toggle = move |ev: leptos::ev::Event| {
                        let on = event_target_checked(&ev);
                        let fresh = data.with_value(|d| new_schedule(d, &toggle_id));
                        state.update(|st| {
                            st.segments.retain(|x| x.segment_id != toggle_id);
                            if on {
                                st.segments.push(fresh);
                            }
                        });
                    };
                    view! {
                        <tr style:display=move || (!text.contains(&search.get().trim().to_lowercase())).then_some("none")>
                            <td><input type="checkbox" aria-label=format!("Activate {}", s.name) prop:checked=checked on:change=toggle /></td>
                            <td><strong>{s.name.clone()}</strong><br /><span class="muted">{s.description.clone()}</span></td>
                            <td class="nowrap">{s.size.map_or_else(|| "not evaluated".to_owned(), |n| format!("{n} profiles"))}</td>
                            <td>{s.activated.then(|| view! { <span class="badge badge-allowed">"Activated"</span> })}</td>
                        </tr>
                    }
                }).collect_view()}
            </tbody>
        </table>
    }
}

#[component]
fn Scheduling(
    data: StoredValue<WizardData>,
    state: RwSignal<ActivationInput>,
    problems: RwSignal<Vec<FieldProblem>>,
) -> impl IntoView {
    let streaming = data.with_value(|d| d.streaming);
    let names: std::collections::BTreeMap<String, String> = data.with_value(|d| {
        d.segments
            .iter()
            .map(|s| (s.id.clone(), s.name.clone()))
            .collect()
    });
    let count = state.with_untracked(|s| s.segments.len());
    let apply_all = move |_| {
        state.update(|st| {
            if let Some(first) = st.segments.first().cloned() {
                for s in st.segments.iter_mut().skip(1) {
                    let id = s.segment_id.clone();
                    *s = ScheduleInput {
                        segment_id: id,
                        ..first.clone()
                    };
                }
            }
        });
    };
    view! {
        <h2 class="section-title">"Scheduling"</h2>
        {if streaming {
            view! { <p class="muted">"Streaming destinations receive membership changes as they happen; choose when each segment starts and stops."</p> }.into_any()
        } else {
            view! { <p class="muted">"Times are UTC. The end date is exclusive: nothing is exported on or after it."</p> }.into_any()
        }}
        {(count > 1).then(|| view! {
            <p><button type="button" class="button small secondary" on:click=apply_all>"Apply the first segment's schedule to all"</button></p>
        })}
        {(0..count).map(|i| {
            let name = state.with_untracked(|s| names.get(&s.segments[i].segment_id).cloned().unwrap_or_default());
            view! { <ScheduleRow i name data state problems /> }.into_any()
        }).collect_view()}
    }
}

#[component]
fn ScheduleRow(
    i: usize,
    name: String,
    data: StoredValue<WizardData>,
    state: RwSignal<ActivationInput>,
    problems: RwSignal<Vec<FieldProblem>>,
) -> impl IntoView {
    let streaming = data.with_value(|d| d.streaming);
    let get = move |f: fn(&ScheduleInput) -> String| {
        move || state.with(|s| s.segments.get(i).map(f).unwrap_or_default())
    };
    let set = move |f: fn(&mut ScheduleInput, String)| {
        move |ev: leptos::ev::Event| {
            let value = event_target_value(&ev);
            state.update(|s| {
                if let Some(row) = s.segments.get_mut(i) {
                    f(row, value);
                }
            });
        }
    };
    let at = move |field: &str| format!("segments[{i}].{field}");
    let offered = data.with_value(|d| d.schedules.clone());
    let dataflow_id = data.with_value(|d| d.dataflow.id.clone());
    let template = Memo::new(move |_| {
        state.with(|s| {
            s.segments
                .get(i)
                .map(|r| (r.segment_id.clone(), r.file_name.clone()))
        })
    });
    let preview = Resource::new(
        move || template.get(),
        move |t| {
            let dataflow_id = dataflow_id.clone();
            async move {
                match t {
                    Some((segment_id, template)) if !template.trim().is_empty() => {
                        preview_file_name(dataflow_id, segment_id, template)
                            .await
                            .map(Some)
                    }
                    _ => Ok(None),
                }
            }
        },
    );
    let after = move || state.with(|s| s.segments.get(i).is_some_and(|r| r.after_evaluation));
    let id = |field: &str| format!("schedule-{i}-{field}");
    let macros = data.with_value(|d| {
        d.macros
            .iter()
            .map(|(m, _)| format!("{{{m}}}"))
            .collect::<Vec<_>>()
            .join(" ")
    });
    view! {
        <fieldset class="schedule-row">
            <legend>{name}</legend>
            {(!streaming).then(|| view! {
                <label for=id("mode")>"Export"</label>
                <select id=id("mode") prop:value=get(|r| r.mode.clone()) on:change=set(|r, v| {
                    r.schedule = if v == "incremental" { "daily".into() } else { r.schedule.clone() };
                    r.mode = v;
                })>
                    <option value="full">"Full files"</option>
                    <option value="incremental">"Incremental files"</option>
                </select>
                <FieldError problems field=at("mode") />
                <label for=id("schedule")>"Frequency"</label>
                <select id=id("schedule") prop:value=get(|r| r.schedule.clone()) on:change=set(|r, v| r.schedule = v)>
                    {move || {
                        // Full files: once, daily, weekly, monthly; incremental: daily or every N hours.
                        let incremental = state.with(|s| s.segments.get(i).is_some_and(|r| r.mode == "incremental"));
                        let current = state.with(|s| s.segments.get(i).map(|r| r.schedule.clone()).unwrap_or_default());
                        offered
                            .iter()
                            .filter(|(code, _)| {
                                if incremental {
                                    code == "daily" || code.starts_with("every_")
                                } else {
                                    !code.starts_with("every_")
                                }
                            })
                            .map(|(code, title)| view! { <option value=code.clone() selected=*code == current>{title.clone()}</option> })
                            .collect_view()
                    }}
                </select>
                <FieldError problems field=at("schedule") />
                <label for=id("time")>"Time (UTC)"</label>
                <input id=id("time") type="time" prop:value=get(|r| r.time.clone()) disabled=after on:input=set(|r, v| r.time = v) />
                <label class="check">
                    <input type="checkbox" prop:checked=after on:change=move |ev| {
                        let on = event_target_checked(&ev);
                        state.update(|s| if let Some(r) = s.segments.get_mut(i) {
                            r.after_evaluation = on;
                            if on { r.time.clear(); } else if r.time.is_empty() { r.time = "09:00".into(); }
                        });
                    } />
                    <span>"After segment evaluation"</span>
                </label>
                <FieldError problems field=at("time") />
            })}
            <label for=id("start")>"Start date"</label>
            <input id=id("start") type="date" prop:value=get(|r| r.start_date.clone()) on:input=set(|r, v| r.start_date = v) />
            <FieldError problems field=at("start_date") />
            <label for=id("end")>"End date (exclusive, optional)"</label>
            <input id=id("end") type="date" prop:value=get(|r| r.end_date.clone()) on:input=set(|r, v| r.end_date = v) />
            <FieldError problems field=at("end_date") />
            {(!streaming).then(|| view! {
                <label for=id("file")>"File name"</label>
                <input id=id("file") type="text" maxlength="200" prop:value=get(|r| r.file_name.clone()) on:input=set(|r, v| r.file_name = v) />
                <p class="muted hint">"Macros: " {macros.clone()} ". Other text is kept as typed."</p>
                <FieldError problems field=at("file_name") />
                <Transition fallback=|| ()>
                    {move || preview.get().map(|result| match result {
                        Ok(Some(Ok(name))) => view! { <p class="hint" data-testid="file-name-preview">"Preview: " <code>{name}</code></p> }.into_any(),
                        Ok(Some(Err(problem))) => view! { <p class="field-error" data-testid="file-name-preview">{problem}</p> }.into_any(),
                        Ok(None) => ().into_any(),
                        Err(error) => view! { <p class="field-error">{error.to_string()}</p> }.into_any(),
                    })}
                </Transition>
            })}
        </fieldset>
    }
}

#[component]
fn Mapping(
    data: StoredValue<WizardData>,
    state: RwSignal<ActivationInput>,
    problems: RwSignal<Vec<FieldProblem>>,
) -> impl IntoView {
    let read_only = !data.with_value(|d| d.can_change_mapping);
    let segment_export = data.with_value(|d| d.destination.kind == "segment_export");
    let identities = data.with_value(|d| d.destination.identities.clone());
    let attributes = data.with_value(|d| d.destination.attributes.clone());
    let fields_allowed = !segment_export || !attributes.is_empty();
    let add = move |kind: &'static str| {
        move |_| {
            state.update(|s| {
                s.mapping.push(MappingInput {
                    kind: kind.into(),
                    transformation: "none".into(),
                    ..Default::default()
                })
            });
        }
    };
    let rows = move || state.with(|s| s.mapping.len());
    view! {
        <h2 class="section-title">"Mapping"</h2>
        {read_only.then(|| view! {
            <p class="notice" role="status">"You may add segments and change schedules, but not the mapping: it is shown read-only."</p>
        })}
        {(!identities.is_empty()).then(|| view! {
            <p class="muted">{format!(
                "This destination accepts the identities {}; mapped identities are {}deduplication keys, and prepared as it requires.",
                identities.iter().map(|i| format!("{} ({})", i.namespace, i.hashing)).collect::<Vec<_>>().join(", "),
                // An audience platform matches on any one mapped identity.
                if segment_export { "" } else { "mandatory, " }
            )}</p>
        })}
        {(segment_export && !attributes.is_empty()).then(|| view! {
            <p class="muted">{format!(
                "It also matches on these fields: {}.",
                attributes.iter().map(|(field, how)| format!("{field} ({how})")).collect::<Vec<_>>().join("; ")
            )}</p>
        })}
        <FieldError problems field="mapping".to_owned() />
        <datalist id="source-fields">
            {data.with_value(|d| d.fields.iter().map(|f| view! { <option value=f.path.clone()>{format!("{} ({})", f.title, f.field_type)}</option> }).collect_view())}
        </datalist>
        <fieldset class="plain" disabled=read_only>
            <table class="table mapping-table" aria-label="Mapping">
                <thead><tr>
                    <th scope="col">"Source"</th><th scope="col">"Target column"</th><th scope="col">"Mandatory"</th>
                    <th scope="col">"Dedup key"</th><th scope="col">"Transformation"</th><th scope="col"><span class="visually-hidden">"Order"</span></th>
                </tr></thead>
                <tbody>
                    {move || (0..rows()).map(|i| view! { <MappingRowView i data state problems /> }.into_any()).collect_view()}
                </tbody>
            </table>
            <div class="form-actions">
                {fields_allowed.then(|| view! { <button type="button" class="button small secondary" on:click=add("field")>"Add field"</button> })}
                <button type="button" class="button small secondary" on:click=add("identity")>"Add identity"</button>
            </div>
        </fieldset>
    }
}

/// A change to one mapping row from an input's value.
type Edit = Box<dyn Fn(&mut MappingInput, String)>;

#[component]
fn MappingRowView(
    i: usize,
    data: StoredValue<WizardData>,
    state: RwSignal<ActivationInput>,
    problems: RwSignal<Vec<FieldProblem>>,
) -> impl IntoView {
    let row = move || state.with(|s| s.mapping.get(i).cloned().unwrap_or_default());
    let update = move |f: Edit| {
        move |ev: leptos::ev::Event| {
            let value = event_target_value(&ev);
            state.update(|s| {
                if let Some(r) = s.mapping.get_mut(i) {
                    f(r, value);
                }
            });
        }
    };
    let identity = move || row().kind == "identity";
    let namespaces = data.with_value(|d| d.namespaces.clone());
    let spec_identities = data.with_value(|d| d.destination.identities.clone());
    let at = move |field: &str| format!("mapping[{i}].{field}");
    let move_by = move |delta: isize| {
        move |_| {
            state.update(|s| {
                let j = i as isize + delta;
                if j >= 0 && (j as usize) < s.mapping.len() {
                    s.mapping.swap(i, j as usize);
                }
            });
        }
    };
    let remove = move |_| {
        state.update(|s| {
            if i < s.mapping.len() {
                s.mapping.remove(i);
            }
        })
    };
    view! {
        <tr>
            <td>
                {move || if identity() {
                    let namespaces = namespaces.clone();
                    let spec_identities = spec_identities.clone();
                    view! {
                        <select aria-label=format!("Identity of row {}", i + 1) prop:value=move || row().source
                            on:change=update(Box::new(move |r, v| {
                                if r.target.is_empty() {
                                    // The platform's name when the spec has one, else the namespace.
                                    r.target = spec_identities
                                        .iter()
                                        .find(|s| s.namespace == v)
                                        .map_or_else(|| v.to_lowercase(), |spec| spec.target.clone());
                                }
                                r.source = v;
                                r.mandatory = true;
                                r.dedup_key = true;
                            }))>
                            <option value="">"Choose an identity"</option>
                            {namespaces.iter().map(|(code, title)| view! { <option value=code.clone()>{format!("{title} ({code})")}</option> }).collect_view()}
                        </select>
                    }.into_any()
                } else {
                    view! {
                        <input type="text" list="source-fields" placeholder="Search fields" aria-label=format!("Field of row {}", i + 1)
                            prop:value=move || row().source on:input=update(Box::new(|r, v| r.source = v)) />
                    }.into_any()
                }}
                <FieldError problems field=at("source") />
            </td>
            <td>
                <input type="text" maxlength="100" aria-label=format!("Target of row {}", i + 1) prop:value=move || row().target
                    on:input=update(Box::new(|r, v| r.target = v)) />
                <FieldError problems field=at("target") />
            </td>
            <td><input type="checkbox" aria-label=format!("Mandatory row {}", i + 1) prop:checked=move || row().mandatory || identity() disabled=identity
                on:change=move |ev| { let on = event_target_checked(&ev); state.update(|s| if let Some(r) = s.mapping.get_mut(i) { r.mandatory = on; }); } /></td>
            <td><input type="checkbox" aria-label=format!("Dedup key row {}", i + 1) prop:checked=move || row().dedup_key || identity() disabled=identity
                on:change=move |ev| { let on = event_target_checked(&ev); state.update(|s| if let Some(r) = s.mapping.get_mut(i) { r.dedup_key = on; }); } /></td>
            <td>
                <select aria-label=format!("Transformation of row {}", i + 1) prop:value=move || row().transformation disabled=move || !identity()
                    on:change=update(Box::new(|r, v| r.transformation = v))>
                    <option value="none">"None"</option>
                    <option value="sha256_hex">"SHA-256 (hex)"</option>
                    <option value="sha256_base64">"SHA-256 (Base64)"</option>
                </select>
                <FieldError problems field=at("transformation") />
            </td>
            <td class="nowrap">
                <button type="button" class="button small secondary" aria-label=format!("Move row {} up", i + 1) on:click=move_by(-1)>"↑"</button>
                <button type="button" class="button small secondary" aria-label=format!("Move row {} down", i + 1) on:click=move_by(1)>"↓"</button>
                <button type="button" class="button small secondary" aria-label=format!("Remove row {}", i + 1) on:click=remove>"✕"</button>
            </td>
        </tr>
    }
}

#[component]
fn Review(data: StoredValue<WizardData>, state: RwSignal<ActivationInput>) -> impl IntoView {
    let dataflow_id = data.with_value(|d| d.dataflow.id.clone());
    let id = dataflow_id.clone();
    let review = Resource::new(
        move || state.get(),
        move |input| review_activation(id.clone(), input),
    );
    let save = ServerAction::<SaveActivation>::new();
    let navigate = use_navigate();
    let done_id = dataflow_id.clone();
    Effect::new(move |_| {
        if let Some(Ok(())) = save.value().get() {
            if let Some(storage) = storage() {
                let _ = storage.remove_item(&draft_key(&done_id));
            }
            navigate(
                &format!("/destinations/dataflows/{done_id}"),
                Default::default(),
            );
        }
    });
    let finish_id = dataflow_id.clone();
    view! {
        <h2 class="section-title">"Review"</h2>
        <Transition fallback=Loading>
            {move || review.get().map(|result| match result {
                Err(error) => view! { <ErrorAlert error /> }.into_any(),
                Ok(r) => {
                    let blocked = !r.problems.is_empty();
                    let finish_id = finish_id.clone();
                    view! {
                        {(!r.violations.is_empty()).then(|| view! {
                            <div class="alert" role="alert" data-testid="policy-violations">
                                <strong>"Data-usage policy violations block Finish:"</strong>
                                <ul>{r.violations.iter().map(|v| view! { <li>{v.clone()}</li> }).collect_view()}</ul>
                            </div>
                        })}
                        {(blocked && r.violations.is_empty()).then(|| view! {
                            <div class="alert" role="alert">
                                <ul>{r.problems.iter().map(|p| view! { <li>{format!("{}: {}", p.field, p.message)}</li> }).collect_view()}</ul>
                            </div>
                        })}
                        <table class="table" aria-label="Segment counts">
                            <thead><tr><th scope="col">"Segment"</th><th scope="col">"Members"</th><th scope="col">"Excluded for consent"</th><th scope="col">"Missing identities"</th><th scope="col">"Malformed (first members)"</th></tr></thead>
                            <tbody>
                                {r.segments.iter().map(|s| view! {
                                    <tr>
                                        <td>{s.name.clone()}</td>
                                        <td>{s.members}</td>
                                        <td>{s.consent_excluded}</td>
                                        <td>{s.missing.iter().map(|(ns, n)| format!("{ns}: {n}")).collect::<Vec<_>>().join(", ")}</td>
                                        <td>{s.malformed.iter().map(|(ns, bad, checked)| format!("{ns}: {bad} of {checked}")).collect::<Vec<_>>().join(", ")}</td>
                                    </tr>
                                }).collect_view()}
                            </tbody>
                        </table>
                        {(!r.dry_run_name.is_empty()).then(|| view! {
                            <h3>"Dry run"</h3>
                            <p class="muted">{format!("The first {} rows exactly as they would be exported, as ", r.dry_run_rows)}<code data-testid="dry-run-name">{r.dry_run_name.clone()}</code></p>
                            <pre class="dry-run" data-testid="dry-run">{r.dry_run.clone()}</pre>
                        })}
                        <Outcome value=save.value() success="Activated." />
                        <div class="form-actions">
                            <button type="button" class="button" disabled=move || blocked || save.pending().get()
                                on:click=move |_| { save.dispatch(SaveActivation { dataflow_id: finish_id.clone(), activation: state.get_untracked() }); }>
                                "Finish"
                            </button>
                        </div>
                    }.into_any()
                }
            })}
        </Transition>
    }
}
