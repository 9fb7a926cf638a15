//! Segments: the list (segments.view), the editor with live rule checking and an estimated
//! size (segments.manage), evaluation on demand, and a sample of members (profiles.view).

use leptos::prelude::*;
use leptos_meta::Title;
use leptos_router::hooks::{use_navigate, use_params_map};

use crate::api::segments::{
    CreateSegment, DeleteSegment, EvaluateSegment, RuleFeedback, SegmentDetail, SegmentRow,
    UpdateSegment, check_segment_rule, get_segment, list_segments, sample_segment_members,
};
use crate::components::feedback::{ErrorAlert, Loading};
use crate::components::forms::{Outcome, use_hydrated};

fn size_text(size: Option<i64>) -> String {
    size.map_or_else(|| "not evaluated".to_owned(), |n| format!("{n} profiles"))
}

/// Every segment with its size and when it was last evaluated.
#[component]
pub fn SegmentsPage() -> impl IntoView {
    let data = Resource::new(|| (), |_| list_segments());
    view! {
        <Title text="Segments" />
        <Transition fallback=Loading>
            {move || data.get().map(|result| match result {
                Err(error) => view! { <h1>"Segments"</h1> <ErrorAlert error /> }.into_any(),
                Ok(list) => view! {
                    <header class="page-header with-actions">
                        <div>
                            <h1>"Segments"</h1>
                            <p class="lead">
                                "The audiences you activate, defined by rules over "
                                {list.profiles} " profiles. See the "
                                <a href="/schema">"schema"</a> " for the fields a rule can use."
                            </p>
                        </div>
                        {list.can_manage.then(|| view! { <a class="button" href="/segments/new">"New segment"</a> })}
                    </header>
                    {if list.segments.is_empty() {
                        view! { <div class="card empty-state"><p>"No segments yet."</p></div> }.into_any()
                    } else {
                        view! { <SegmentsTable rows=list.segments /> }.into_any()
                    }}
                }.into_any(),
            })}
        </Transition>
    }
}

#[component]
fn SegmentsTable(rows: Vec<SegmentRow>) -> impl IntoView {
    view! {
        <div class="card table-card">
            <table class="table" aria-label="Segments">
                <thead>
                    <tr>
                        <th scope="col">"Name"</th>
                        <th scope="col">"Size"</th>
                        <th scope="col">"Last evaluated"</th>
                        <th scope="col">"Schedule"</th>
                    </tr>
                </thead>
                <tbody>
                    {rows.into_iter().map(|s| view! {
                        <tr>
                            <td>
                                <a href=format!("/segments/{}", s.id)><strong>{s.name}</strong></a>
                                <br />
                                <span class="muted">{s.description}</span>
                            </td>
                            <td class="nowrap">{size_text(s.size)}</td>
                            <td class="nowrap">{s.last_evaluated_at.unwrap_or_else(|| "never".to_owned())}</td>
                            <td>{s.schedule}</td>
                        </tr>
                    }).collect_view()}
                </tbody>
            </table>
        </div>
    }
}

/// `/segments/new` or `/segments/{id}`: the editor for managers, a read-only view otherwise.
#[component]
pub fn SegmentPage() -> impl IntoView {
    let params = use_params_map();
    let segment_id = move || params.with(|p| p.get("id"));
    let data = Resource::new(segment_id, |id| async move {
        match id {
            Some(id) => get_segment(id).await.map(Some),
            None => Ok(None),
        }
    });
    view! {
        <Title text="Segment" />
        <p><a href="/segments">"← Segments"</a></p>
        <Transition fallback=Loading>
            {move || data.get().map(|result| match result {
                Err(error) => view! { <ErrorAlert error /> }.into_any(),
                Ok(None) => view! {
                    <h1>"New segment"</h1>
                    <SegmentForm existing=None />
                }.into_any(),
                Ok(Some(detail)) => view! { <SegmentView detail /> }.into_any(),
            })}
        </Transition>
    }
}

#[component]
fn SegmentView(detail: SegmentDetail) -> impl IntoView {
    let SegmentDetail {
        segment,
        can_manage,
        can_view_members,
    } = detail;
    let hydrated = use_hydrated();
    let size = RwSignal::new(segment.size);
    let evaluated = RwSignal::new(segment.last_evaluated_at.clone());
    let evaluate = ServerAction::<EvaluateSegment>::new();
    Effect::new(move |_| {
        if let Some(Ok(result)) = evaluate.value().get() {
            size.set(Some(result.size));
            evaluated.set(Some("just now".to_owned()));
        }
    });
    let id = segment.id.clone();
    let run = move |_| {
        evaluate.dispatch(EvaluateSegment {
            segment_id: id.clone(),
        });
    };
    let members_version = move || evaluate.version().get();
    let id = segment.id.clone();
    view! {
        <header class="page-header with-actions">
            <div>
                <h1>{segment.name.clone()}</h1>
                <p class="lead">{segment.description.clone()}</p>
            </div>
            {can_manage.then(|| view! {
                <button type="button" class="button" on:click=run disabled=move || !hydrated.get() || evaluate.pending().get()>
                    {move || if evaluate.pending().get() { "Evaluating…" } else { "Evaluate now" }}
                </button>
            })}
        </header>
        <dl class="card facts">
            <div><dt>"Size"</dt><dd data-testid="segment-size">{move || size_text(size.get())}</dd></div>
            <div><dt>"Last evaluated"</dt><dd>{move || evaluated.get().unwrap_or_else(|| "never".to_owned())}</dd></div>
            <div><dt>"Schedule"</dt><dd>{segment.schedule.clone()}</dd></div>
        </dl>
        {move || match evaluate.value().get() {
            Some(Ok(r)) => view! {
                <p class="notice" role="status">
                    {format!("Evaluated: {} profiles ({} entered, {} exited) in {} ms.", r.size, r.entered, r.exited, r.millis)}
                </p>
            }.into_any(),
            Some(Err(error)) => view! { <ErrorAlert error /> }.into_any(),
            None => ().into_any(),
        }}
        {if can_manage {
            view! { <h2 class="section-title">"Definition"</h2> <SegmentForm existing=Some(segment.clone()) /> }.into_any()
        } else {
            view! {
                <h2 class="section-title">"Rule"</h2>
                <pre class="card rule-text">{segment.rule.clone()}</pre>
            }.into_any()
        }}
        {can_view_members.then(|| view! { <Members segment_id=id.clone() version=Signal::derive(members_version) /> })}
    }
}

#[component]
fn Members(segment_id: String, #[prop(into)] version: Signal<usize>) -> impl IntoView {
    let members = Resource::new(
        move || (segment_id.clone(), version.get()),
        |(id, _)| sample_segment_members(id),
    );
    view! {
        <h2 class="section-title">"Sample of members"</h2>
        <Transition fallback=Loading>
            {move || members.get().map(|result| match result {
                Err(error) => view! { <ErrorAlert error /> }.into_any(),
                Ok(rows) if rows.is_empty() => view! {
                    <div class="card empty-state"><p>"No members. Evaluate the segment to find them."</p></div>
                }.into_any(),
                Ok(rows) => view! {
                    <div class="card table-card">
                        <table class="table" aria-label="Members">
                            <thead>
                                <tr>
                                    <th scope="col">"Name"</th>
                                    <th scope="col">"Email"</th>
                                    <th scope="col">"Country"</th>
                                    <th scope="col">"Tier"</th>
                                    <th scope="col">"Identities"</th>
                                </tr>
                            </thead>
                            <tbody>
                                {rows.into_iter().map(|m| view! {
                                    <tr>
                                        <td>{m.name}</td>
                                        <td>{m.email}</td>
                                        <td>{m.country}</td>
                                        <td>{m.loyalty_tier}</td>
                                        <td>
                                            {m.identities.into_iter().map(|(ns, v)| view! {
                                                <span class="identity"><span class="badge">{ns}</span> " " <code>{v}</code></span>
                                            }).collect_view()}
                                        </td>
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

/// Name, description, rule (checked as it is typed) and schedule; creates or saves.
#[component]
fn SegmentForm(existing: Option<SegmentRow>) -> impl IntoView {
    let hydrated = use_hydrated();
    let name = RwSignal::new(
        existing
            .as_ref()
            .map(|s| s.name.clone())
            .unwrap_or_default(),
    );
    let description = RwSignal::new(
        existing
            .as_ref()
            .map(|s| s.description.clone())
            .unwrap_or_default(),
    );
    let rule = RwSignal::new(
        existing
            .as_ref()
            .map(|s| s.rule.clone())
            .unwrap_or_default(),
    );
    let schedule = RwSignal::new(
        existing
            .as_ref()
            .map_or_else(|| "daily".to_owned(), |s| s.schedule.clone()),
    );
    // The rule as last checked: it follows `rule` once typing pauses, because every check
    // counts matching profiles in the database.
    let checked_rule = RwSignal::new(rule.get_untracked());
    let on_rule_input = move |ev: leptos::ev::Event| {
        let text = event_target_value(&ev);
        rule.set(text.clone());
        set_timeout(
            move || {
                if rule.get_untracked() == text {
                    checked_rule.set(text);
                }
            },
            std::time::Duration::from_millis(350),
        );
    };
    let feedback = Resource::new(
        move || checked_rule.get(),
        |text| async move {
            if text.trim().is_empty() {
                Ok(None)
            } else {
                check_segment_rule(text).await.map(Some)
            }
        },
    );
    let create = ServerAction::<CreateSegment>::new();
    let update = ServerAction::<UpdateSegment>::new();
    let delete = ServerAction::<DeleteSegment>::new();
    let confirming = RwSignal::new(false);
    let navigate = use_navigate();
    Effect::new(move |_| {
        if let Some(Ok(id)) = create.value().get() {
            navigate(&format!("/segments/{id}"), Default::default());
        }
    });
    let navigate = use_navigate();
    Effect::new(move |_| {
        if let Some(Ok(())) = delete.value().get() {
            navigate("/segments", Default::default());
        }
    });
    let segment_id = existing.as_ref().map(|s| s.id.clone());
    let is_new = segment_id.is_none();
    let id = segment_id.clone();
    let submit = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        let (name, description, rule, schedule) = (
            name.get_untracked(),
            description.get_untracked(),
            rule.get_untracked(),
            schedule.get_untracked(),
        );
        match &id {
            None => {
                create.dispatch(CreateSegment {
                    name,
                    description,
                    rule,
                    schedule,
                });
            }
            Some(segment_id) => {
                update.dispatch(UpdateSegment {
                    segment_id: segment_id.clone(),
                    name,
                    description,
                    rule,
                    schedule,
                });
            }
        }
    };
    let pending = move || create.pending().get() || update.pending().get();
    view! {
        <form class="card form" on:submit=submit>
            <label for="segment-name">"Name"</label>
            <input id="segment-name" type="text" required maxlength="200" bind:value=name />
            <label for="segment-description">"Description"</label>
            <input id="segment-description" type="text" maxlength="2000" bind:value=description />
            <label for="segment-rule">"Rule"</label>
            <textarea
                id="segment-rule"
                class="rule-input"
                rows="4"
                spellcheck="false"
                placeholder="loyalty.tier in [\"gold\", \"platinum\"] and consents.marketing.email.val = \"y\""
                prop:value=move || rule.get()
                on:input=on_rule_input
            >{rule.get_untracked()}</textarea>
            <Transition fallback=|| view! { <p class="muted hint">"Checking…"</p> }>
                {move || feedback.get().map(|result| match result {
                    Ok(None) => view! {
                        <p class="muted hint">
                            "Compare fields (=, !=, <, <=, >, >=), use in [...], exists, contains, starts_with, "
                            "now - 30d, in_segment(\"name\"), and, or, not."
                        </p>
                    }.into_any(),
                    Ok(Some(RuleFeedback::Valid { estimate })) => view! {
                        <p class="rule-ok" role="status" data-testid="rule-feedback">{format!("Valid rule: about {estimate} profiles match now.")}</p>
                    }.into_any(),
                    Ok(Some(RuleFeedback::Invalid { message, line, column, width, line_text })) => {
                        let pointer = format!("{}{}", " ".repeat(column.saturating_sub(1)), "^".repeat(width));
                        view! {
                            <div class="rule-error" role="alert" data-testid="rule-feedback">
                                <p>{format!("Line {line}, column {column}: {message}")}</p>
                                <pre>{line_text}"\n"{pointer}</pre>
                            </div>
                        }.into_any()
                    }
                    Err(error) => view! { <ErrorAlert error /> }.into_any(),
                })}
            </Transition>
            <label for="segment-schedule">"Evaluate"</label>
            <select id="segment-schedule" prop:value=move || schedule.get() on:change=move |ev| schedule.set(event_target_value(&ev))>
                <option value="daily" selected=schedule.get_untracked() == "daily">"Daily"</option>
                <option value="hourly" selected=schedule.get_untracked() == "hourly">"Hourly"</option>
                <option value="manual" selected=schedule.get_untracked() == "manual">"Only when asked"</option>
            </select>
            <Outcome value=create.value() success="Segment created." />
            <Outcome value=update.value() success="Segment saved. Evaluate it to update its members." />
            <div class="form-actions">
                <button type="submit" class="button" disabled=move || !hydrated.get() || pending()>
                    {if is_new { "Create segment" } else { "Save segment" }}
                </button>
                {segment_id.clone().map(|id| view! {
                    <button type="button" class="button secondary" on:click=move |_| confirming.set(true) disabled=move || !hydrated.get()>
                        "Delete segment"
                    </button>
                    <Show when=move || confirming.get()>
                        {
                            let id = id.clone();
                            view! {
                                <span class="confirm" role="group" aria-label="Confirm deletion">
                                    "Delete this segment and its memberships? "
                                    <button type="button" class="button danger small" on:click=move |_| { delete.dispatch(DeleteSegment { segment_id: id.clone() }); }>"Delete"</button>
                                    " "
                                    <button type="button" class="button secondary small" on:click=move |_| confirming.set(false)>"Cancel"</button>
                                </span>
                            }
                        }
                    </Show>
                })}
            </div>
            <Outcome value=delete.value() success="Segment deleted." />
        </form>
    }
}
