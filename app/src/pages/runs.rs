//! Runs: a dataflow's runs table (refreshing while one is queued or running), its streaming runs
//! added up per hour, and one run's page with its counts, files, error, refused records with a
//! replay, and the "why was this profile not exported?" lookup.

use leptos::prelude::*;
use leptos_meta::Title;
use leptos_router::hooks::use_params_map;

use crate::api::runs::{
    FailedRecordRow, ReplayFailed, RunRow, WhyNotExported, get_run, hourly_runs, list_runs,
};
use crate::components::feedback::{ErrorAlert, Loading};
use crate::components::forms::use_hydrated;

fn reasons(map: &std::collections::BTreeMap<String, i64>) -> String {
    if map.is_empty() {
        return "none".into();
    }
    map.iter()
        .map(|(reason, n)| format!("{}: {n}", reason.replace('_', " ")))
        .collect::<Vec<_>>()
        .join(", ")
}

fn active(status: &str) -> bool {
    status == "queued" || status == "running"
}

/// Re-reads `tick` every two seconds while `busy` says a run is still going.
fn refresh_while(busy: impl Fn() -> bool + 'static, tick: RwSignal<u32>) {
    Effect::new(move |_| {
        if busy() {
            set_timeout(
                move || tick.update(|t| *t += 1),
                std::time::Duration::from_secs(2),
            );
        }
    });
}

/// The Runs tab of a dataflow.
#[component]
pub fn RunsTable(dataflow_id: String, #[prop(into)] refresh: Signal<usize>) -> impl IntoView {
    let tick = RwSignal::new(0u32);
    let id = dataflow_id.clone();
    // One resource for both tables: the runs and the streaming hours come and refresh together.
    // The tab is drawn in the browser only (see the dataflow page), so is its data.
    let runs = LocalResource::new(move || {
        tick.track();
        refresh.track();
        let id = id.clone();
        async move {
            let rows = list_runs(id.clone()).await?;
            let hours = hourly_runs(id).await?;
            Ok::<_, crate::error::AppError>((rows, hours))
        }
    });
    refresh_while(
        move || {
            runs.get()
                .and_then(Result::ok)
                .is_some_and(|(r, _)| r.iter().any(|run| active(&run.status)))
        },
        tick,
    );
    view! {
        <Transition fallback=Loading>
            {move || runs.get().map(|result| match result {
                Ok((_, hours)) if !hours.is_empty() => view! {
                    <h3 class="section-title">"Streaming, per hour"</h3>
                    <div class="card table-card">
                        <table class="table" aria-label="Streaming runs per hour">
                            <thead><tr>
                                <th scope="col">"Hour"</th><th scope="col">"Runs"</th><th scope="col">"Received"</th>
                                <th scope="col">"Activated"</th><th scope="col">"Excluded"</th><th scope="col">"Failed"</th>
                            </tr></thead>
                            <tbody>
                                {hours.into_iter().map(|h| view! {
                                    <tr data-testid="hour-row">
                                        <td class="nowrap">{h.hour.clone()}</td>
                                        <td>{if h.failed_runs > 0 { format!("{} ({} failed)", h.runs, h.failed_runs) } else { h.runs.to_string() }}</td>
                                        <td>{h.received}</td>
                                        <td data-testid="hour-activated">{h.activated}</td>
                                        <td>{reasons(&h.excluded)}</td>
                                        <td>{reasons(&h.failed)}</td>
                                    </tr>
                                }).collect_view()}
                            </tbody>
                        </table>
                    </div>
                    <h3 class="section-title">"Latest runs"</h3>
                }.into_any(),
                Ok(_) => ().into_any(),
                Err(error) => view! { <ErrorAlert error /> }.into_any(),
            })}
            {move || runs.get().map(|result| match result {
                Err(_) => ().into_any(),
                Ok((rows, _)) if rows.is_empty() => view! {
                    <div class="card empty-state"><p>"No runs yet. Runs appear here when a schedule is due or after “Run now”."</p></div>
                }.into_any(),
                Ok((rows, _)) => view! {
                    <div class="card table-card">
                        <table class="table" aria-label="Runs">
                            <thead><tr>
                                <th scope="col">"Started"</th><th scope="col">"Segment"</th><th scope="col">"Trigger"</th>
                                <th scope="col">"Status"</th><th scope="col">"Received"</th><th scope="col">"Activated"</th>
                                <th scope="col">"Excluded"</th><th scope="col">"Files"</th>
                            </tr></thead>
                            <tbody>
                                {rows.into_iter().map(|r| view! { <RunLine r /> }).collect_view()}
                            </tbody>
                        </table>
                    </div>
                }.into_any(),
            })}
        </Transition>
    }
}

#[component]
fn RunLine(r: RunRow) -> impl IntoView {
    view! {
        <tr data-run=r.id.clone()>
            <td class="nowrap"><a href=format!("/destinations/runs/{}", r.id)>{r.started_at.clone().unwrap_or_else(|| format!("slot {}", r.slot))}</a></td>
            <td>{r.segment_name.clone()}</td>
            <td>{r.trigger.clone()}</td>
            <td><span class=format!("badge run-{}", r.status) data-testid="run-status">{r.status.clone()}</span></td>
            <td>{r.received}</td>
            <td>{r.activated}</td>
            <td>{reasons(&r.excluded)}</td>
            <td>{r.files.iter().map(|f| f.0.clone()).collect::<Vec<_>>().join(", ")}</td>
        </tr>
    }
}

/// `/destinations/runs/{id}`.
#[component]
pub fn RunPage() -> impl IntoView {
    let params = use_params_map();
    let id = move || params.with(|p| p.get("id").unwrap_or_default());
    let tick = RwSignal::new(0u32);
    let data = Resource::new(move || (id(), tick.get()), |(id, _)| get_run(id));
    refresh_while(
        move || {
            data.get()
                .and_then(Result::ok)
                .is_some_and(|d| active(&d.run.status))
        },
        tick,
    );
    view! {
        <Title text="Run" />
        <Transition fallback=Loading>
            {move || data.get().map(|result| match result {
                Err(error) => view! { <ErrorAlert error /> }.into_any(),
                Ok(detail) => {
                    let r = detail.run.clone();
                    view! {
                        <p><a href=format!("/destinations/dataflows/{}?tab=runs", detail.dataflow_id)>{format!("← {}", detail.dataflow_name)}</a></p>
                        <header class="page-header">
                            <h1>{format!("Run of {}", r.segment_name)}</h1>
                            <p class="lead">{format!("Slot {} · {} · attempt {}", r.slot, r.trigger, r.attempt)}</p>
                            {detail.replay_of.clone().map(|source| view! {
                                <p>"Replays the refused records of "<a href=format!("/destinations/runs/{source}")>"this run"</a>"."</p>
                            })}
                        </header>
                        <section class="card">
                            <dl class="facts">
                                <div><dt>"Status"</dt><dd data-testid="run-status">{r.status.clone()}</dd></div>
                                <div><dt>"Started"</dt><dd>{r.started_at.clone().unwrap_or_else(|| "—".into())}</dd></div>
                                <div><dt>"Finished"</dt><dd>{r.finished_at.clone().unwrap_or_else(|| "—".into())}</dd></div>
                                <div><dt>"Profiles received"</dt><dd data-testid="run-received">{r.received}</dd></div>
                                <div><dt>"Identities activated"</dt><dd data-testid="run-activated">{r.activated}</dd></div>
                                <div><dt>"Excluded"</dt><dd>{reasons(&r.excluded)}</dd></div>
                                <div><dt>"Failed"</dt><dd>{reasons(&r.failed)}</dd></div>
                            </dl>
                            {r.error.clone().map(|e| view! { <p class="alert" role="alert">{e}</p> })}
                        </section>
                        {(!detail.failed_records.is_empty()).then(|| view! {
                            <FailedRecords run_id=r.id.clone() records=detail.failed_records.clone() can_replay=detail.can_replay />
                        })}
                        <h2 class="section-title">"Files"</h2>
                        {if r.files.is_empty() {
                            view! { <p class="muted">"No files yet."</p> }.into_any()
                        } else {
                            view! {
                                <div class="card table-card">
                                    <table class="table" aria-label="Files">
                                        <thead><tr><th scope="col">"Name"</th><th scope="col">"Rows"</th><th scope="col">"Bytes"</th><th scope="col">"SHA-256"</th></tr></thead>
                                        <tbody>
                                            {r.files.iter().map(|f| view! {
                                                <tr><td><code>{f.0.clone()}</code></td><td>{f.1}</td><td>{f.2}</td><td><code class="hash">{f.3.clone()}</code></td></tr>
                                            }).collect_view()}
                                        </tbody>
                                    </table>
                                </div>
                            }.into_any()
                        }}
                        {detail.can_explain.then(|| view! { <WhyLookup run_id=r.id.clone() /> })}
                    }.into_any()
                }
            })}
        </Transition>
    }
}

/// The records a platform refused, with what was sent and answered, and the replay button.
#[component]
fn FailedRecords(run_id: String, records: Vec<FailedRecordRow>, can_replay: bool) -> impl IntoView {
    let hydrated = use_hydrated();
    let replay = ServerAction::<ReplayFailed>::new();
    let id = run_id.clone();
    view! {
        <h2 class="section-title">"Refused records"</h2>
        <p class="muted">"Identities are shown as sent (normalised and hashed); credentials are redacted from the samples."</p>
        {can_replay.then(|| view! {
            <div class="form-actions">
                <button type="button" class="button" data-testid="replay"
                    disabled=move || !hydrated.get() || replay.pending().get()
                        || replay.value().with(|v| matches!(v, Some(Ok(_))))
                    on:click=move |_| { replay.dispatch(ReplayFailed { run_id: id.clone() }); }>
                    "Replay refused records"
                </button>
            </div>
        })}
        {move || replay.value().get().map(|result| match result {
            Ok(new_run) => view! {
                <p class="notice" role="status">"Replay queued: "<a href=format!("/destinations/runs/{new_run}")>"follow its run"</a>"."</p>
            }.into_any(),
            Err(error) => view! { <ErrorAlert error /> }.into_any(),
        })}
        <div class="card table-card">
            <table class="table" aria-label="Refused records">
                <thead><tr>
                    <th scope="col">"Action"</th><th scope="col">"Identities"</th><th scope="col">"Reason"</th>
                    <th scope="col">"Status"</th><th scope="col">"Request and response"</th>
                </tr></thead>
                <tbody>
                    {records.into_iter().map(|f| view! {
                        <tr data-testid="failed-record">
                            <td>{f.action.clone()}{f.replayed.then_some(" (replayed)")}</td>
                            <td><code class="hash">{f.identities.clone()}</code></td>
                            <td>{f.reason.clone()}</td>
                            <td>{f.status_code.map_or_else(|| "—".into(), |c| c.to_string())}</td>
                            <td>
                                <details>
                                    <summary>"Show"</summary>
                                    <pre class="sample">{f.request_sample.clone()}</pre>
                                    <pre class="sample">{f.response_sample.clone()}</pre>
                                </details>
                            </td>
                        </tr>
                    }).collect_view()}
                </tbody>
            </table>
        </div>
    }
}

#[component]
fn WhyLookup(run_id: String) -> impl IntoView {
    let hydrated = use_hydrated();
    let why = ServerAction::<WhyNotExported>::new();
    let namespace = RwSignal::new("Email".to_owned());
    let value = RwSignal::new(String::new());
    let submit = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        why.dispatch(WhyNotExported {
            run_id: run_id.clone(),
            namespace: namespace.get_untracked(),
            value: value.get_untracked(),
        });
    };
    view! {
        <h2 class="section-title">"Why was a profile not exported?"</h2>
        <form class="card filters" on:submit=submit>
            <label>"Identity"
                <select on:change=move |ev| namespace.set(event_target_value(&ev))>
                    {["Email", "Phone", "CRMID", "ECID", "GAID", "IDFA"].map(|n| view! { <option value=n>{n}</option> }).collect_view()}
                </select>
            </label>
            <label>"Value" <input type="text" bind:value=value required /></label>
            <button type="submit" class="button" disabled=move || !hydrated.get()>"Explain"</button>
        </form>
        {move || why.value().get().map(|result| match result {
            Ok(answer) => view! { <p class="notice" role="status" data-testid="why-answer">{answer}</p> }.into_any(),
            Err(error) => view! { <ErrorAlert error /> }.into_any(),
        })}
    }
}

/// The alert subscriptions of a dataflow, editable by managers and activators.
#[component]
pub fn AlertsForm(dataflow_id: String) -> impl IntoView {
    use crate::api::runs::{SetAlerts, get_alerts};
    use crate::components::forms::Outcome;
    let hydrated = use_hydrated();
    let id = dataflow_id.clone();
    // Browser-only, as the runs table beside it.
    let settings = LocalResource::new(move || get_alerts(id.clone()));
    let save = ServerAction::<SetAlerts>::new();
    view! {
        <h2 class="section-title">"Alerts"</h2>
        <Transition fallback=Loading>
            {move || settings.get().map(|result| match result {
                Err(error) => view! { <ErrorAlert error /> }.into_any(),
                Ok(s) => {
                    let failure = RwSignal::new(s.on_failure);
                    let success = RwSignal::new(s.on_success);
                    let delay = RwSignal::new(s.on_delay);
                    let minutes = RwSignal::new(s.delay_minutes.to_string());
                    let webhook = RwSignal::new(s.webhook_url.clone());
                    let id = dataflow_id.clone();
                    let submit = move |ev: leptos::ev::SubmitEvent| {
                        ev.prevent_default();
                        save.dispatch(SetAlerts {
                            dataflow_id: id.clone(),
                            on_failure: failure.get_untracked(),
                            on_success: success.get_untracked(),
                            on_delay: delay.get_untracked(),
                            delay_minutes: minutes.get_untracked().trim().parse().unwrap_or(0),
                            webhook_url: webhook.get_untracked(),
                        });
                    };
                    view! {
                        <form class="card form" on:submit=submit>
                            <fieldset class="plain" disabled=!s.can_edit>
                                <label class="check"><input type="checkbox" prop:checked=failure on:change=move |ev| failure.set(event_target_checked(&ev)) /><span>"When a run fails"</span></label>
                                <label class="check"><input type="checkbox" prop:checked=success on:change=move |ev| success.set(event_target_checked(&ev)) /><span>"When a run succeeds"</span></label>
                                <label class="check"><input type="checkbox" prop:checked=delay on:change=move |ev| delay.set(event_target_checked(&ev)) /><span>"When a run is late"</span></label>
                                <label for="alert-delay">"Late after (minutes past its slot)"</label>
                                <input id="alert-delay" type="number" min="1" max="10080" bind:value=minutes />
                                <label for="alert-webhook">"Webhook URL (optional)"</label>
                                <input id="alert-webhook" type="url" placeholder="https://hooks.example.com/ferry" bind:value=webhook />
                            </fieldset>
                            <Outcome value=save.value() success="Alerts saved." />
                            {s.can_edit.then(|| view! {
                                <div class="form-actions"><button type="submit" class="button" disabled=move || !hydrated.get() || save.pending().get()>"Save alerts"</button></div>
                            })}
                        </form>
                    }.into_any()
                }
            })}
        </Transition>
    }
}

/// `/notifications`: the latest alerts about runs.
#[component]
pub fn NotificationsPage() -> impl IntoView {
    use crate::api::runs::list_notifications;
    let data = Resource::new(|| (), |_| list_notifications());
    view! {
        <Title text="Notifications" />
        <header class="page-header">
            <h1>"Notifications"</h1>
            <p class="lead">"Alerts about runs of the dataflows that subscribe to them (set on each dataflow's page)."</p>
        </header>
        <Transition fallback=Loading>
            {move || data.get().map(|result| match result {
                Err(error) => view! { <ErrorAlert error /> }.into_any(),
                Ok(rows) if rows.is_empty() => view! { <div class="card empty-state"><p>"No notifications."</p></div> }.into_any(),
                Ok(rows) => view! {
                    <div class="card table-card">
                        <table class="table" aria-label="Notifications">
                            <thead><tr><th scope="col">"When"</th><th scope="col">"Kind"</th><th scope="col">"Dataflow"</th><th scope="col">"Message"</th></tr></thead>
                            <tbody>
                                {rows.into_iter().map(|n| view! {
                                    <tr>
                                        <td class="nowrap">{n.created_at.clone()}</td>
                                        <td><span class=format!("badge run-{}", if n.kind == "success" { "success" } else if n.kind == "failure" { "failed" } else { "partial" })>{n.kind.clone()}</span></td>
                                        <td>{match n.dataflow_id.clone() {
                                            Some(id) => view! { <a href=format!("/destinations/dataflows/{id}")>{n.dataflow_name.clone()}</a> }.into_any(),
                                            None => view! { <span>{n.dataflow_name.clone()}</span> }.into_any(),
                                        }}</td>
                                        <td>{n.message.clone()}</td>
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
