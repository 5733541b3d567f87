//! `/`: the fleet overview, the home page.

use std::time::Duration;

use leptos::prelude::*;
use leptos_meta::Title;

use super::{EmptyState, PageHeader};
use crate::api::status::{ServerStatus, get_status};
use crate::error::AppError;

/// How often the status card refreshes itself once the page is interactive.
const STATUS_REFRESH: Duration = Duration::from_secs(10);

/// The home page: server status and the fleet.
#[component]
pub fn FleetPage() -> impl IntoView {
    // The server renders the status (the resource) during SSR. Once hydrated, the browser asks again
    // at once and then every STATUS_REFRESH, writing into `fresh`, which supersedes the rendered value.
    // A plain signal rather than `Resource::refetch`: right after hydration a refetch was measured to
    // be lost now and then, depending on whether the streamed resource data had arrived yet.
    let status = Resource::new(|| (), |()| get_status());
    let (fresh, set_fresh) = signal(None::<Result<ServerStatus, AppError>>);
    let refresh =
        move || leptos::task::spawn_local(async move { set_fresh.set(Some(get_status().await)) });
    Effect::new(move |_| {
        refresh();
        if let Ok(handle) = set_interval_with_handle(refresh, STATUS_REFRESH) {
            on_cleanup(move || handle.clear());
        }
    });

    view! {
        <Title text="Fleet" />
        <PageHeader
            title="Fleet"
            subtitle="Node pools, their GPUs and how each GPU is sliced into MIG instances."
        />
        <section class="card status-card" aria-labelledby="server-status-title">
            <div class="card-head">
                <h2 id="server-status-title">"Server"</h2>
                <button
                    class="btn btn-ghost"
                    on:click=move |_| refresh()
                    title="Ask the server again now"
                >
                    "Refresh"
                </button>
            </div>
            <Transition fallback=|| view! { <p class="muted">"Asking the server…"</p> }>
                {move || Suspend::new(async move {
                    let rendered = status.await;
                    move || match fresh.get().unwrap_or_else(|| rendered.clone()) {
                        Ok(s) => view! { <StatusFacts status=s /> }.into_any(),
                        Err(e) => {
                            view! {
                                <p class="error" role="alert" id="server-status-error">
                                    {format!("Could not read the server status: {e}")}
                                </p>
                            }
                                .into_any()
                        }
                    }
                })}
            </Transition>
        </section>
        <EmptyState title="No GPU nodes to show yet">
            <p>
                "This build has no fleet connected. Meanwhile, lay out MIG slices on the "
                <a href="/plan">"Plan"</a> " page or check a blueprint on the "
                <a href="/blueprints">"Blueprints"</a> " page."
            </p>
        </EmptyState>
    }
}

#[component]
fn StatusFacts(status: ServerStatus) -> impl IntoView {
    view! {
        <dl class="facts" id="server-status" data-sequence=status.sequence.to_string()>
            <div>
                <dt>"Version"</dt>
                <dd id="server-version">{status.version}</dd>
            </div>
            <div>
                <dt>"Backend"</dt>
                <dd id="server-backend">{status.backend}</dd>
            </div>
            <div>
                <dt>"Uptime"</dt>
                <dd>{format_duration(status.uptime_secs)}</dd>
            </div>
            <div>
                <dt>"Checked"</dt>
                <dd>
                    <time id="server-checked">{format_utc_time(status.now_unix_ms)} " UTC"</time>
                    <span class="muted">{format!(" · answer #{}", status.sequence)}</span>
                </dd>
            </div>
        </dl>
    }
}

/// `3725` → `1 h 2 min 5 s`; leading zero units are left out.
fn format_duration(secs: u64) -> String {
    let (d, h, m, s) = (secs / 86_400, secs / 3600 % 24, secs / 60 % 60, secs % 60);
    let mut parts = Vec::new();
    for (value, unit) in [(d, "d"), (h, "h"), (m, "min")] {
        if value > 0 || !parts.is_empty() {
            parts.push(format!("{value} {unit}"));
        }
    }
    parts.push(format!("{s} s"));
    parts.join(" ")
}

/// Milliseconds since the epoch → `HH:MM:SS` in UTC, without a date library.
fn format_utc_time(unix_ms: u64) -> String {
    let secs_of_day = unix_ms / 1000 % 86_400;
    format!(
        "{:02}:{:02}:{:02}",
        secs_of_day / 3600,
        secs_of_day / 60 % 60,
        secs_of_day % 60
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_read_naturally() {
        assert_eq!(format_duration(0), "0 s");
        assert_eq!(format_duration(59), "59 s");
        assert_eq!(format_duration(3725), "1 h 2 min 5 s");
        assert_eq!(format_duration(86_400 + 5), "1 d 0 h 0 min 5 s");
    }

    #[test]
    fn utc_time_of_day() {
        // 2026-11-25T13:04:05.999Z
        assert_eq!(format_utc_time(1_795_611_845_999), "13:04:05");
        assert_eq!(format_utc_time(0), "00:00:00");
    }
}
