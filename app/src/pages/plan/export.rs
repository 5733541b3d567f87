//! Export the plan: a blueprint, mig-parted YAML, or a link that restores it.

use leptos::prelude::*;
use mig::NamedConfig;
use mig::planner::UpdateTarget;

use super::{Notice, Planner};
use crate::error::AppError;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Tab {
    Blueprint,
    Yaml,
    Link,
}

fn copy(p: Planner, text: String, what: &str) {
    let _ = window().navigator().clipboard().write_text(&text);
    p.notice.set(Some(Notice::Done(format!(
        "Copied the {what} to the clipboard"
    ))));
}

/// The deployment name an export starts with (a link carries only another one).
const DEFAULT_NAME: &str = "mig-pool";

/// The export card.
#[component]
pub fn Export(
    planner: Planner,
    configs: Resource<Result<Vec<NamedConfig>, AppError>>,
) -> impl IntoView {
    let p = planner;
    let tab = RwSignal::new(Tab::Blueprint);
    // The deployment name travels with a plan link (`name=`), so the link restores the whole export.
    let query = leptos_router::hooks::use_query_map();
    let named = query
        .with_untracked(|q| q.get("name"))
        .filter(|n| !n.trim().is_empty());
    // Opened from a pool or node of the fleet (`update=pool:<name>`): the blueprint is an update of it
    // unless the user asks for a new pool.
    let target = query
        .with_untracked(|q| q.get("update"))
        .and_then(|t| UpdateTarget::parse(&t));
    let as_update = RwSignal::new(target.is_some());
    let target = StoredValue::new(target);
    let name = RwSignal::new(named.unwrap_or_else(|| DEFAULT_NAME.to_owned()));
    // The page's origin, known only in the browser; the server renders a relative link.
    let origin = RwSignal::new(String::new());
    Effect::new(move |_| {
        if let Ok(o) = window().location().origin() {
            origin.set(o);
        }
    });
    let link = move || {
        let named = name.with(|n| {
            (n != DEFAULT_NAME).then(|| format!("&name={}", mig::planner::encode_component(n)))
        });
        let update = target.with_value(|t| {
            t.as_ref()
                .filter(|_| as_update.get())
                .map(|t| format!("&update={}", mig::planner::encode_component(&t.to_param())))
        });
        format!(
            "{}/plan?{}{}{}",
            origin.get(),
            p.plan.with(|plan| plan.to_query()),
            named.unwrap_or_default(),
            update.unwrap_or_default()
        )
    };
    let yaml = move || p.plan.with(|plan| plan.to_mig_parted("migboard-plan"));
    let tab_button = move |t: Tab, id: &'static str, label: &'static str| {
        view! {
            <button
                role="tab"
                id=id
                class="tab"
                aria-selected=move || (tab.get() == t).to_string()
                on:click=move |_| tab.set(t)
            >
                {label}
            </button>
        }
    };
    view! {
        <section class="card export" aria-labelledby="export-title">
            <div class="card-head">
                <h2 id="export-title">"Export"</h2>
            </div>
            <div class="tabs" role="tablist" aria-label="Export format">
                {tab_button(Tab::Blueprint, "tab-blueprint", "Blueprint")}
                {tab_button(Tab::Yaml, "tab-yaml", "mig-parted YAML")}
                {tab_button(Tab::Link, "tab-link", "Link")}
            </div>
            <Show when=move || tab.get() == Tab::Blueprint>
                <label class="field">
                    <span>"deployment_name"</span>
                    <input id="export-name" type="text" prop:value=move || name.get() on:input=move |ev| name.set(event_target_value(&ev)) />
                </label>
                {target.get_value().map(|t| view! {
                    <fieldset class="export-kind" id="export-kind">
                        <legend>"Export as"</legend>
                        <label class="check">
                            <input type="radio" name="export-kind" id="export-as-update" prop:checked=move || as_update.get() on:change=move |_| as_update.set(true) />
                            {format!(" an update of {} (recipe_mode update)", t.describe())}
                        </label>
                        <label class="check">
                            <input type="radio" name="export-kind" id="export-as-pool" prop:checked=move || !as_update.get() on:change=move |_| as_update.set(false) />
                            " a new shared node pool"
                        </label>
                    </fieldset>
                })}
                <Transition fallback=|| view! { <p class="muted">"Loading named configs…"</p> }>
                    {move || Suspend::new(async move {
                        let configs = configs.await.unwrap_or_default();
                        let written = p.plan.with(|plan| match target.get_value().filter(|_| as_update.get()) {
                            Some(t) => plan.to_update_blueprint(&configs, &name.get(), &t),
                            None => plan.to_blueprint(&configs, &name.get()),
                        });
                        match written {
                            Ok(json) => {
                                let text = json.clone();
                                let json_for_link = json.clone();
                                view! {
                                    <pre class="code" id="export-blueprint">{json}</pre>
                                    <button class="btn btn-ghost" on:click=move |_| copy(p, text.clone(), "blueprint")>"Copy blueprint"</button>
                                    <a class="btn btn-ghost" id="open-in-editor" href=format!("/blueprints?json={}", mig::planner::encode_component(&json_for_link))>"Open in the blueprint editor"</a>
                                }
                                    .into_any()
                            }
                            Err(why) => view! { <p class="note" id="export-blueprint-note">{why}</p> }.into_any(),
                        }
                    })}
                </Transition>
            </Show>
            <Show when=move || tab.get() == Tab::Yaml>
                <p class="hint">"Apply with migboard-agent or nvidia-mig-parted: " <code>"-c migboard-plan"</code></p>
                <pre class="code" id="export-yaml">{yaml}</pre>
                <button class="btn btn-ghost" on:click=move |_| copy(p, yaml(), "mig-parted YAML")>"Copy YAML"</button>
            </Show>
            <Show when=move || tab.get() == Tab::Link>
                <p class="hint">"Opens this exact plan, rendered by the server, for anyone who can reach migboard."</p>
                <div class="link-row">
                    <input id="share-link" type="text" readonly=true prop:value=link aria-label="Link to this plan" />
                    <button class="btn btn-ghost" id="copy-link" on:click=move |_| copy(p, link(), "link")>"Copy link"</button>
                </div>
            </Show>
        </section>
    }
}
