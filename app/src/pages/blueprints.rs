//! `/blueprints`: write an OCI AI Blueprints recipe, see every problem marked at its line as you
//! type (the browser runs `mig`'s rules), check it against the fleet on the server, edit the MIG
//! members in a form that rewrites only those members of the JSON.
//!
//! Deep links: `/blueprints?template=<file>` opens one of the twelve reference templates,
//! `/blueprints?json=<url-encoded JSON>` opens that blueprint (the planner links here). The draft
//! is kept in the browser's local storage, so a reload never loses work.

use leptos::prelude::*;
use leptos_meta::Title;
use leptos_router::hooks::use_query_map;
use leptos_router::{LazyRoute, lazy_route};
use mig::blueprint::templates::{TEMPLATES, template};
use mig::blueprint::members::is_notice;
use mig::blueprint::{Catalogue, Checked, Context, Issue, Severity, check, text};
use serde_json::Value;

use super::PageHeader;
use crate::api::blueprints::{blueprint_catalogue, validate_blueprint};
use crate::api::deployments::{Deployed, deploy_blueprint};
use crate::error::AppError;
use mig::wire::Validation;

const DRAFT_KEY: &str = "migboard.blueprint.draft";
const DEFAULT_TEMPLATE: &str = "mig_inference_single_replica_10gb.json";

/// The lazily loaded route: the validation rules and editor code download only on this page.
#[derive(Debug, Clone, Copy)]
pub struct BlueprintsRoute;

#[lazy_route]
impl LazyRoute for BlueprintsRoute {
    fn data() -> Self {
        Self
    }

    fn view(this: Self) -> AnyView {
        let BlueprintsRoute = this;
        view! { <BlueprintsPage /> }.into_any()
    }
}

/// What the server said about a given text.
#[derive(Debug, Clone, PartialEq)]
struct ServerResult {
    text: String,
    result: Result<Validation, AppError>,
}

/// The editor's state, shared by its parts.
#[derive(Debug, Clone, Copy)]
struct Editor {
    text: RwSignal<String>,
    local: Memo<Checked>,
    server: RwSignal<Option<ServerResult>>,
    checking: RwSignal<bool>,
    notice: RwSignal<Option<String>>,
    textarea: NodeRef<leptos::html::Textarea>,
    scroller: NodeRef<leptos::html::Div>,
}

impl Editor {
    /// The issues to show: the server's when it checked exactly this text, else the browser's.
    fn issues(self) -> Vec<Issue> {
        self.server_current()
            .map_or_else(|| self.local.get().issues, |r| r.issues)
    }

    fn server_current(self) -> Option<Validation> {
        let text = self.text.get();
        match self.server.get() {
            Some(ServerResult {
                text: checked,
                result: Ok(r),
            }) if checked == text => Some(r),
            _ => None,
        }
    }

    fn set_text(self, t: String) {
        self.text.set(t);
        self.notice.set(None);
    }

    fn validate_on_server(self) {
        let t = self.text.get_untracked();
        self.checking.set(true);
        leptos::task::spawn_local(async move {
            let result = validate_blueprint(t.clone()).await;
            self.server.set(Some(ServerResult { text: t, result }));
            self.checking.set(false);
        });
    }

    /// Puts the caret on `line` and scrolls it into view.
    fn jump_to(self, line: u32) {
        let Some(area) = self.textarea.get_untracked() else {
            return;
        };
        let text = self.text.get_untracked();
        let mut start = 0usize;
        for (i, l) in text.split('\n').enumerate() {
            if i + 1 == line as usize {
                let end = start + l.len();
                // The textarea counts UTF-16 code units.
                let u = |b: usize| text[..b].encode_utf16().count() as u32;
                let _ = area.focus();
                let _ = area.set_selection_range(u(start), u(end));
                break;
            }
            start += l.len() + 1;
        }
        // Bring the line's gutter number to the middle of the editor and of the page: the gutter knows
        // where each line is, so no line height is repeated here.
        if let Some(scroller) = self.scroller.get_untracked()
            && let Ok(Some(number)) = scroller.query_selector(&format!(".ln[data-line=\"{line}\"]"))
        {
            let options = web_sys::ScrollIntoViewOptions::new();
            options.set_block(web_sys::ScrollLogicalPosition::Center);
            number.scroll_into_view_with_scroll_into_view_options(&options);
        }
    }
}

/// Reads a top-level string or number member for the form.
fn member(v: &Option<Value>, key: &str) -> String {
    match v.as_ref().and_then(|v| v.get(key)) {
        Some(Value::String(s)) => s.clone(),
        Some(Value::Null) | None => String::new(),
        Some(other) => other.to_string(),
    }
}

/// The blueprint editor page.
#[component]
pub fn BlueprintsPage() -> impl IntoView {
    let query = use_query_map();
    let asked = query.with_untracked(|q| q.get("template"));
    let carried = query.with_untracked(|q| q.get("json"));
    let (initial, link_error) = match asked.as_deref() {
        // A blueprint carried in the link (the planner's "Open in the blueprint editor").
        None if carried.is_some() => (None, None),
        None => (template(DEFAULT_TEMPLATE).map(|t| t.json), None),
        Some(name) => match template(name) {
            Some(t) => (Some(t.json), None),
            None => (
                template(DEFAULT_TEMPLATE).map(|t| t.json),
                Some(format!(
                    "There is no template \"{name}\". Templates: {}.",
                    TEMPLATES
                        .iter()
                        .map(|t| t.file.trim_end_matches(".json"))
                        .collect::<Vec<_>>()
                        .join(", ")
                )),
            ),
        },
    };
    let text = RwSignal::new(match (&carried, asked.is_none()) {
        (Some(json), true) => json.clone(),
        _ => initial.unwrap_or("{}").to_owned(),
    });
    let catalogue: Resource<Result<Catalogue, AppError>> =
        Resource::new(|| (), |()| blueprint_catalogue());
    let local = Memo::new(move |_| {
        let cat = catalogue.get().and_then(Result::ok);
        let ctx = Context {
            catalogue: cat.as_ref(),
            fleet: None,
            platform: None,
        };
        text.with(|t| check(t, ctx))
    });
    let ed = Editor {
        text,
        local,
        server: RwSignal::new(None),
        checking: RwSignal::new(false),
        notice: RwSignal::new(None),
        textarea: NodeRef::new(),
        scroller: NodeRef::new(),
    };

    // Browser only: restore the draft (unless the link asked for a template), then keep it saved.
    let from_link = asked.is_some() || carried.is_some();
    Effect::new(move |first: Option<()>| {
        let storage = window().local_storage().ok().flatten();
        if first.is_none()
            && !from_link
            && let Some(draft) = storage
                .as_ref()
                .and_then(|s| s.get_item(DRAFT_KEY).ok().flatten())
            && !draft.trim().is_empty()
            && draft != text.get_untracked()
        {
            text.set(draft);
            ed.notice
                .set(Some("Restored your draft from this browser.".into()));
        }
        let t = text.get();
        if let Some(s) = storage {
            let _ = s.set_item(DRAFT_KEY, &t);
        }
    });

    view! {
        <Title text="Blueprints" />
        <PageHeader
            title="Blueprints"
            subtitle="Write OCI AI Blueprints JSON for shared node pools, MIG updates and inference deployments, and check it before it touches a GPU."
        />
        {link_error.map(|e| view! { <p class="banner banner-error" role="alert" id="link-error">{e}</p> })}
        <Toolbar ed />
        <div class="bp-layout">
            <div class="bp-main">
                <Status ed />
                <JsonEditor ed />
                <IssueList ed />
            </div>
            <aside class="bp-side">
                <MigForm ed catalogue />
            </aside>
        </div>
    }
}

#[component]
fn Toolbar(ed: Editor) -> impl IntoView {
    let on_template = move |ev: leptos::ev::Event| {
        let name = event_target_value(&ev);
        if let Some(t) = template(&name) {
            ed.set_text(t.json.to_owned());
            ed.notice.set(Some(format!("Loaded template {}.", t.file)));
        }
    };
    let valid = move || ed.local.get().is_valid() && ed.server_current().is_none_or(|s| s.valid);
    let is_update = move || {
        ed.local.with(|c| {
            c.blueprint
                .as_ref()
                .is_some_and(|b| matches!(b.action, mig::blueprint::Action::Update(_)))
        })
    };
    // A pool update or a pool's layout rolls out over nodes: how many at a time.
    let rolls_out = move || {
        ed.local.with(|c| {
            c.blueprint.as_ref().is_some_and(|b| match &b.action {
                mig::blueprint::Action::Update(u) => {
                    matches!(u.target, mig::blueprint::Target::Pool(_))
                }
                mig::blueprint::Action::SharedNodePool(p) => p.mig_config.is_some(),
                _ => false,
            })
        })
    };
    let at_a_time = RwSignal::new(1u32);
    let drain = RwSignal::new(false);
    // The server found workloads on the node this update reconfigures: without drain it would
    // fail at its busy check, so Deploy waits for "Drain busy nodes" (or for them to go).
    let busy = move || {
        ed.issues()
            .into_iter()
            .find(|i| i.code == "node_busy")
            .map(|i| i.message)
    };
    let blocked = move || busy().is_some() && !drain.get();
    let deploying = RwSignal::new(false);
    let navigate = leptos_router::hooks::use_navigate();
    let download = move || {
        let t = ed.text.get();
        format!(
            "data:application/json;charset=utf-8,{}",
            mig::planner::encode_component(&t)
        )
    };
    let file_name = move || {
        let name = ed
            .local
            .with(|c| c.blueprint.as_ref().map(|b| b.name.clone()))
            .unwrap_or_else(|| "blueprint".into());
        let safe: String = name
            .chars()
            .map(|c| {
                if c.is_ascii_alphanumeric() || c == '-' || c == '_' {
                    c
                } else {
                    '-'
                }
            })
            .collect();
        format!("{safe}.json")
    };
    view! {
        <div class="card bp-toolbar">
            <label class="field">
                <span>"Template"</span>
                <select id="template" on:change=on_template>
                    <option value="" selected=true disabled=true>"Load a template…"</option>
                    <optgroup label="MIG (the guide's quickstart)">
                        {TEMPLATES.iter().filter(|t| t.mig).map(|t| view! { <option value=t.file>{t.title}</option> }).collect_view()}
                    </optgroup>
                    <optgroup label="Other OCI samples">
                        {TEMPLATES.iter().filter(|t| !t.mig).map(|t| view! { <option value=t.file>{t.title}</option> }).collect_view()}
                    </optgroup>
                </select>
            </label>
            <div class="toolbar-actions">
                <button
                    class="btn btn-ghost"
                    id="validate-server"
                    title="Check against the current fleet too (Ctrl+Enter)"
                    on:click=move |_| ed.validate_on_server()
                    disabled=move || ed.checking.get()
                >
                    {move || if ed.checking.get() { "Checking…" } else { "Validate on server" }}
                </button>
                <a class="btn btn-ghost" id="download" href=download download=file_name>"Download"</a>
                {move || is_update().then(|| view! {
                    <label class="check" title="If the node runs workloads on instances this update destroys, stop them, reconfigure, and start them again on free slices">
                        <input type="checkbox" id="drain" prop:checked=move || drain.get() on:change=move |e| drain.set(event_target_checked(&e)) />
                        " Drain busy nodes"
                    </label>
                })}
                {move || rolls_out().then(|| view! {
                    <label class="check" title="Nodes changed at a time; a batch with a node that fails pauses the rollout, the nodes after it untouched, until you resume it">
                        " Nodes at a time "
                        <input type="number" id="max-unavailable" min="1" max="100" class="narrow" prop:value=move || at_a_time.get().to_string()
                            on:input=move |e| { if let Ok(n) = event_target_value(&e).trim().parse::<u32>() { at_a_time.set(n.clamp(1, 100)) } } />
                    </label>
                })}
                <button
                    class="btn"
                    id="deploy"
                    disabled=move || !valid() || blocked() || deploying.get()
                    title=move || if !valid() { "Fix the errors first" } else if blocked() { "Workloads run on the node: check \"Drain busy nodes\" first" } else { "Deploy this blueprint onto the fleet" }
                    on:click=move |_| {
                        let text = ed.text.get_untracked();
                        let navigate = navigate.clone();
                        deploying.set(true);
                        leptos::task::spawn_local(async move {
                            match deploy_blueprint(text, drain.get_untracked(), at_a_time.get_untracked()).await {
                                Ok(Deployed::Created(d)) => navigate(&format!("/deployments/{}", d.id), Default::default()),
                                Ok(Deployed::Invalid(issues)) => {
                                    let errors = issues.iter().filter(|i| i.is_error()).count();
                                    ed.notice.set(Some(format!("Not deployed: the server found {errors} error(s) against the fleet as it is now; they are listed below.")));
                                    ed.validate_on_server();
                                }
                                Err(e) => ed.notice.set(Some(format!("Not deployed: {e}"))),
                            }
                            deploying.set(false);
                        });
                    }
                >
                    {move || if deploying.get() { "Deploying…" } else { "Deploy" }}
                </button>
            </div>
            {move || busy().filter(|_| !drain.get()).map(|m| view! {
                <p class="banner" id="busy-note" role="status">
                    {m} ". Check " <strong>"Drain busy nodes"</strong> " to move them to free slices while it reconfigures, or undeploy them first."
                </p>
            })}
        </div>
    }
}

#[component]
fn Status(ed: Editor) -> impl IntoView {
    let summary = move || {
        let issues = ed.issues();
        let errors = issues.iter().filter(|i| i.is_error()).count();
        let notes = issues.iter().filter(|i| is_notice(i)).count();
        let warnings = issues.len() - errors - notes;
        let plural = |n: usize, w: &str| format!("{n} {w}{}", if n == 1 { "" } else { "s" });
        let server = ed.server_current();
        let scope = match &server {
            Some(s) => format!(
                "checked on the server against the fleet ({} nodes)",
                s.fleet_nodes
            ),
            None => "checked in your browser; fleet rules run on the server".to_owned(),
        };
        let (kind, head) = if errors == 0 {
            let what = ed
                .local
                .with(|c| c.blueprint.as_ref().map(describe))
                .unwrap_or_default();
            (
                "valid",
                format!(
                    "Valid{}{what}",
                    match (warnings, notes) {
                        (0, 0) => String::new(),
                        (w, 0) => format!(" with {}", plural(w, "warning")),
                        (0, n) => format!(" with {}", plural(n, "note")),
                        (w, n) => format!(" with {} and {}", plural(w, "warning"), plural(n, "note")),
                    }
                ),
            )
        } else {
            (
                "invalid",
                format!(
                    "{}{}",
                    plural(errors, "error"),
                    if warnings > 0 {
                        format!(", {}", plural(warnings, "warning"))
                    } else {
                        String::new()
                    }
                ),
            )
        };
        (kind, head, scope)
    };
    view! {
        <div class="bp-status" id="bp-status" role="status" aria-live="polite" data-state=move || summary().0>
            <strong>{move || summary().1}</strong>
            <span class="muted">{move || format!(" — {}", summary().2)}</span>
            {move || ed.notice.get().map(|n| view! { <p class="note" id="bp-notice">{n}</p> })}
            {move || match ed.server.get() {
                Some(ServerResult { result: Err(e), .. }) => Some(view! { <p class="banner banner-error" id="server-error">{format!("The server could not check it: {e}")}</p> }),
                _ => None,
            }}
        </div>
    }
}

fn describe(b: &mig::blueprint::Blueprint) -> String {
    use mig::blueprint::{Action, GpuRequest, Target};
    match &b.action {
        Action::Workload(w) => {
            let gpu = match &w.gpu {
                GpuRequest::Mig(p) => format!(", {} × {p} slice", w.replicas),
                GpuRequest::Gpus(n) => format!(", {} × {n} GPU", w.replicas),
                GpuRequest::AmdGpus(n) => format!(", {} × {n} AMD GPU", w.replicas),
                GpuRequest::None => format!(", {} replica(s)", w.replicas),
            };
            format!(": \"{}\" runs on {}{gpu}", b.name, w.shape)
        }
        Action::Update(u) => {
            let target = match &u.target {
                Target::Node(n) => format!("node {n}"),
                Target::Pool(p) => format!("pool {p}"),
            };
            match &u.mig_config {
                Some(c) => format!(": sets {target} to {c}"),
                None => format!(": labels {target}"),
            }
        }
        Action::SharedNodePool(p) => format!(
            ": pool \"{}\" of {} × {}{}",
            p.name,
            p.size,
            p.shape,
            p.mig_config
                .as_ref()
                .map(|c| format!(" on {c}"))
                .unwrap_or_default()
        ),
        Action::Team { name } => format!(": team {name}"),
    }
}

#[component]
fn JsonEditor(ed: Editor) -> impl IntoView {
    // Per line: the worst severity and the messages, for the gutter and the line marks.
    let marks = Memo::new(move |_| {
        let mut by_line: std::collections::BTreeMap<u32, (Severity, Vec<String>)> =
            Default::default();
        // Notes (what the platform does not carry out) are in the list, not on the lines.
        for i in ed.issues().into_iter().filter(|i| !is_notice(i)) {
            let line = i.line.unwrap_or(1);
            let e = by_line.entry(line).or_insert((i.severity, Vec::new()));
            e.0 = e.0.min(i.severity);
            e.1.push(i.message.clone());
        }
        by_line
    });
    let line_count = move || ed.text.with(|t| t.split('\n').count());
    let on_key = move |ev: leptos::ev::KeyboardEvent| {
        if ev.key() == "Enter" && (ev.ctrl_key() || ev.meta_key()) {
            ev.prevent_default();
            ed.validate_on_server();
        }
    };
    view! {
        <div class="bp-editor" node_ref=ed.scroller>
            <div class="bp-gutter" aria-hidden="true">
                {move || {
                    let m = marks.get();
                    (1..=line_count() as u32)
                        .map(|n| {
                            let (class, title) = match m.get(&n) {
                                Some((Severity::Error, msgs)) => ("ln ln-error", msgs.join("\n")),
                                Some((Severity::Warning, msgs)) => ("ln ln-warning", msgs.join("\n")),
                                None => ("ln", String::new()),
                            };
                            view! { <div class=class title=title data-line=n>{n}</div> }
                        })
                        .collect_view()
                }}
            </div>
            <div class="bp-text">
                <div class="bp-marks" aria-hidden="true">
                    {move || {
                        marks
                            .get()
                            .into_iter()
                            .map(|(line, (sev, _))| {
                                let class = if sev == Severity::Error { "bp-mark bp-mark-error" } else { "bp-mark bp-mark-warning" };
                                view! { <div class=class data-line=line style=format!("top: calc({} * var(--lh) + var(--pad))", line - 1)></div> }
                            })
                            .collect_view()
                    }}
                </div>
                <textarea
                    id="blueprint-json"
                    node_ref=ed.textarea
                    aria-label="Blueprint JSON"
                    aria-describedby="bp-status"
                    spellcheck="false"
                    autocomplete="off"
                    wrap="off"
                    rows=move || line_count() + 1
                    prop:value=move || ed.text.get()
                    on:input=move |ev| ed.set_text(event_target_value(&ev))
                    on:keydown=on_key
                ></textarea>
            </div>
        </div>
    }
}

/// "Apply and deploy": saves the fix's per-node custom configs, applies each with an update deployment,
/// waits for it to complete, then deploys the blueprint. Every step says what it does; a failure stops
/// there and says why, with the update's page to look at.
#[component]
fn MakeRoom(ed: Editor, fix: mig::capacity::room::RoomFix) -> impl IntoView {
    use crate::api::configs::{Saved, save_config};
    use crate::api::deployments::get_deployment;
    use mig::wire::DeploymentStatus;
    let busy = RwSignal::new(false);
    let navigate = leptos_router::hooks::use_navigate();
    let summary = fix.summary.clone();
    let run = move |_| {
        let fix = fix.clone();
        let navigate = navigate.clone();
        let text = ed.text.get_untracked();
        busy.set(true);
        leptos::task::spawn_local(async move {
            let say = |m: String| ed.notice.set(Some(m));
            for config in &fix.configs {
                let node = fix
                    .changes
                    .iter()
                    .find(|c| {
                        config.name == mig::capacity::room::config_name(&c.node, &fix.profile)
                    })
                    .map(|c| c.node.clone())
                    .unwrap_or_default();
                say(format!(
                    "Saving {} (the node's layout with room for {})…",
                    config.name, fix.profile
                ));
                match save_config(serde_json::to_string(config).unwrap_or_default()).await {
                    Ok(Saved::Saved(_)) => {}
                    Ok(Saved::Invalid(issues)) => {
                        say(format!(
                            "Not done: the config {} is invalid: {}",
                            config.name,
                            issues
                                .first()
                                .map(|i| i.message.clone())
                                .unwrap_or_default()
                        ));
                        busy.set(false);
                        return;
                    }
                    Err(e) => {
                        say(format!("Not done: saving {} failed: {e}", config.name));
                        busy.set(false);
                        return;
                    }
                }
                let update = serde_json::json!({
                    "recipe_mode": "update",
                    "deployment_name": format!("{}-{}", config.name, crate::pages::now_ms() % 1_000_000),
                    "recipe_node_name": node,
                    "shared_node_pool_mig_config": config.name,
                })
                .to_string();
                let id = match deploy_blueprint(update, false, 1).await {
                    Ok(Deployed::Created(d)) => d.id,
                    Ok(Deployed::Invalid(issues)) => {
                        say(format!(
                            "Not done: the update of {node} was refused: {}",
                            issues
                                .iter()
                                .find(|i| i.is_error())
                                .map(|i| i.message.clone())
                                .unwrap_or_default()
                        ));
                        busy.set(false);
                        return;
                    }
                    Err(e) => {
                        say(format!("Not done: the update of {node} failed: {e}"));
                        busy.set(false);
                        return;
                    }
                };
                say(format!("Reconfiguring {node} (deployment {id})…"));
                // Updates of one node take seconds; give up waiting after two minutes (it goes on).
                let mut done = false;
                for _ in 0..240 {
                    super::pause(500).await;
                    match get_deployment(id).await.map(|d| d.deployment.status) {
                        Ok(DeploymentStatus::Completed) => {
                            done = true;
                            break;
                        }
                        Ok(DeploymentStatus::Failed | DeploymentStatus::Undeployed) => {
                            say(format!(
                                "Not deployed: the update of {node} failed; see /deployments/{id}"
                            ));
                            busy.set(false);
                            return;
                        }
                        _ => {}
                    }
                }
                if !done {
                    say(format!(
                        "Still reconfiguring {node} after two minutes; deploy again when /deployments/{id} completes"
                    ));
                    busy.set(false);
                    return;
                }
            }
            say("Room made; deploying…".to_owned());
            match deploy_blueprint(text, false, 1).await {
                Ok(Deployed::Created(d)) => {
                    navigate(&format!("/deployments/{}", d.id), Default::default())
                }
                Ok(Deployed::Invalid(_)) => {
                    say("Room was made, but the blueprint still does not validate against the fleet; see the issues".to_owned());
                    ed.validate_on_server();
                }
                Err(e) => say(format!("Room was made, but deploying failed: {e}")),
            }
            busy.set(false);
        });
    };
    view! {
        <div class="make-room">
            <button class="btn make-room-apply" disabled=move || busy.get() on:click=run title=summary>
                {move || if busy.get() { "Making room…" } else { "Apply and deploy" }}
            </button>
        </div>
    }
}

#[component]
fn IssueList(ed: Editor) -> impl IntoView {
    view! {
        <section class="card bp-issues" aria-labelledby="issues-title">
            <div class="card-head">
                <h2 id="issues-title">"Issues"</h2>
            </div>
            {move || {
                let issues = ed.issues();
                if issues.is_empty() {
                    return view! { <p class="muted" id="no-issues">"No issues. Press “Validate on server” to check it against the fleet too."</p> }.into_any();
                }
                view! {
                    <ol class="issues" id="issues">
                        {issues
                            .into_iter()
                            .map(|i| {
                                let line = i.line.unwrap_or(1);
                                // A note says what this platform does not carry out (or where
                                // OCI differs): worth knowing, not a mistake.
                                let sev = if i.is_error() {
                                    "error"
                                } else if is_notice(&i) {
                                    "note"
                                } else {
                                    "warning"
                                };
                                view! {
                                    <li class=format!("issue issue-{sev}") data-code=i.code.clone() data-line=line data-path=i.path.clone()>
                                        <button class="issue-jump" title="Go to the line" on:click=move |_| ed.jump_to(line)>
                                            {format!("line {line}")}
                                        </button>
                                        <div class="issue-body">
                                            <div>
                                                <span class=format!("sev sev-{sev}")>{sev}</span>
                                                " "
                                                <code class="issue-path">{if i.path.is_empty() { "(document)".to_owned() } else { i.path.clone() }}</code>
                                            </div>
                                            <div class="issue-message">{i.message.clone()}</div>
                                            <div class="issue-hint">{i.hint.clone()}</div>
                                            {i.fix.clone().map(|fix| view! { <MakeRoom ed fix=*fix /> })}
                                        </div>
                                    </li>
                                }
                            })
                            .collect_view()}
                    </ol>
                }
                .into_any()
            }}
        </section>
    }
}

/// The MIG members as a form. Each change rewrites only that member in the JSON text.
#[component]
fn MigForm(ed: Editor, catalogue: Resource<Result<Catalogue, AppError>>) -> impl IntoView {
    let parsed = Memo::new(move |_| ed.text.with(|t| text::parse(t).ok()));
    let get = move |key: &'static str| move || parsed.with(|v| member(v, key));
    let mode = get("recipe_mode");
    let set = move |key: &'static str, value: Option<Value>| {
        let current = ed.text.get_untracked();
        match text::set_member(&current, key, value.as_ref()) {
            Ok(t) => ed.set_text(t),
            Err(e) => ed.notice.set(Some(e.message)),
        }
    };
    let set_str = move |key: &'static str| {
        move |ev: leptos::ev::Event| {
            let v = event_target_value(&ev);
            set(key, (!v.trim().is_empty()).then_some(Value::String(v)));
        }
    };
    let set_int = move |key: &'static str| {
        move |ev: leptos::ev::Event| {
            let v = event_target_value(&ev);
            let value = match v.trim().parse::<i64>() {
                Ok(n) => Some(Value::from(n)),
                Err(_) if v.trim().is_empty() => None,
                Err(_) => Some(Value::String(v)),
            };
            set(key, value);
        }
    };
    let is = move |modes: &'static [&'static str]| move || modes.contains(&mode().as_str());
    let shape_key = move || {
        if mode() == "shared_node_pool" {
            "shared_node_pool_shape"
        } else {
            "recipe_node_shape"
        }
    };
    // The model the shape carries, for the lists of configs and profiles (H100 when unknown).
    let model = move || {
        let shape = parsed.with(|v| member(v, shape_key()));
        mig::shape::GpuShape::find(&shape)
            .and_then(mig::shape::GpuShape::mig_model)
            .unwrap_or(mig::GpuModel::H100_80GB)
    };
    let configs = move || {
        catalogue
            .get()
            .and_then(Result::ok)
            .map(|c| {
                c.configs(model())
                    .iter()
                    .map(|c| c.name.clone())
                    .collect::<Vec<_>>()
            })
            .unwrap_or_default()
    };
    let profiles = move || model().profile_names();
    view! {
        <section class="card bp-form" aria-labelledby="form-title">
            <div class="card-head">
                <h2 id="form-title">"MIG settings"</h2>
            </div>
            <p class="hint">"Edits here change only these members of the JSON; everything else stays as you wrote it."</p>
            <Show when=move || parsed.with(Option::is_none)>
                <p class="note" id="form-disabled">"Fix the JSON syntax to use the form."</p>
            </Show>
            <fieldset disabled=move || parsed.with(Option::is_none)>
                <label class="field">
                    <span>"recipe_mode"</span>
                    <select id="f-mode" prop:value=mode on:change=set_str("recipe_mode")>
                        {["service", "job", "update", "shared_node_pool", "team"].map(|m| view! { <option value=m>{m}</option> }).collect_view()}
                    </select>
                </label>
                <Show when=is(&["update"])>
                    <p class="hint">"Target exactly one: a node (its private IP) or a pool."</p>
                    <label class="field">
                        <span>"recipe_node_name"</span>
                        <input id="f-node" type="text" prop:value=get("recipe_node_name") on:change=set_str("recipe_node_name") />
                    </label>
                    <label class="field">
                        <span>"recipe_node_pool_name"</span>
                        <input id="f-pool" type="text" prop:value=get("recipe_node_pool_name") on:change=set_str("recipe_node_pool_name") />
                    </label>
                </Show>
                <Show when=is(&["service", "job", "shared_node_pool"])>
                    <label class="field">
                        <span>{shape_key}</span>
                        <input
                            id="f-shape"
                            type="text"
                            list="shape-list"
                            prop:value=move || parsed.with(|v| member(v, shape_key()))
                            on:change=move |ev| {
                                let v = event_target_value(&ev);
                                set(shape_key(), (!v.trim().is_empty()).then_some(Value::String(v)));
                            }
                        />
                        <datalist id="shape-list">
                            {mig::shape::GpuShape::names().map(|n| view! { <option value=n></option> }).collect_view()}
                        </datalist>
                    </label>
                </Show>
                <Show when=is(&["shared_node_pool", "update"])>
                    <label class="field">
                        <span>"shared_node_pool_mig_config"</span>
                        <input id="f-config" type="text" list="config-list" prop:value=get("shared_node_pool_mig_config") on:change=set_str("shared_node_pool_mig_config") />
                        <datalist id="config-list">
                            {move || configs().into_iter().map(|n| view! { <option value=n.clone()></option> }).collect_view()}
                        </datalist>
                    </label>
                </Show>
                <Show when=is(&["shared_node_pool"])>
                    <label class="field">
                        <span>"shared_node_pool_size"</span>
                        <input id="f-pool-size" type="number" min="1" prop:value=get("shared_node_pool_size") on:change=set_int("shared_node_pool_size") />
                    </label>
                </Show>
                <Show when=is(&["service", "job"])>
                    <label class="field">
                        <span>"mig_resource_request"</span>
                        <select id="f-request" prop:value=get("mig_resource_request") on:change=set_str("mig_resource_request")>
                            <option value="">"none (whole GPUs)"</option>
                            {move || {
                                let current = parsed.with(|v| member(v, "mig_resource_request"));
                                let mut names: Vec<String> = profiles().into_iter().map(str::to_owned).collect();
                                if !current.is_empty() && !names.contains(&current) {
                                    names.push(current);
                                }
                                names.into_iter().map(|p| view! { <option value=p.clone()>{p.clone()}</option> }).collect_view()
                            }}
                        </select>
                    </label>
                    <label class="field">
                        <span>"recipe_replica_count"</span>
                        <input id="f-replicas" type="number" min="1" prop:value=get("recipe_replica_count") on:change=set_int("recipe_replica_count") />
                    </label>
                </Show>
            </fieldset>
        </section>
    }
}
