//! The frame around every page: brand, navigation, hydration indicator.

use leptos::prelude::*;
use leptos_router::components::A;

/// A navigation entry: where it goes, its label, and an SVG path for its icon (24×24 viewBox).
struct NavItem {
    href: &'static str,
    label: &'static str,
    icon: &'static str,
}

const NAV: &[NavItem] = &[
    NavItem {
        href: "/",
        label: "Fleet",
        icon: "M3 5h18v4H3zM3 10h18v4H3zM3 15h18v4H3z",
    },
    NavItem {
        href: "/plan",
        label: "Plan",
        icon: "M3 3h8v8H3zM13 3h8v5h-8zM13 10h8v11h-8zM3 13h8v8H3z",
    },
    NavItem {
        href: "/capacity",
        label: "Capacity",
        icon: "M4 20V10M10 20V4M16 20v-8M22 20H2",
    },
    NavItem {
        href: "/blueprints",
        label: "Blueprints",
        icon: "M6 2h9l5 5v15H6zM14 2v6h6M9 13h8M9 17h8",
    },
    NavItem {
        href: "/deployments",
        label: "Deployments",
        icon: "M12 2l9 5v10l-9 5-9-5V7zM12 12l9-5M12 12v10M12 12L3 7",
    },
    NavItem {
        href: "/settings",
        label: "Settings",
        icon: "M12 8a4 4 0 1 0 0 8 4 4 0 0 0 0-8zM4 12h2M18 12h2M12 4v2M12 18v2",
    },
];

/// Who is signed in, and a sign-out button (a plain form: it works before the app loads).
#[component]
fn Who() -> impl IntoView {
    let me = Resource::new(|| (), |()| crate::api::accounts::whoami());
    view! {
        <Suspense fallback=|| ()>
            {move || Suspend::new(async move {
                me.await.ok().flatten().map(|me| view! {
                    <div class="who" id="who" data-role=me.role.as_str()>
                        <a href="/settings" title="Your account and API tokens">{me.username}</a>
                        <span class="muted">{me.role.as_str()}</span>
                        <form method="post" action="/logout">
                            <button class="btn btn-ghost btn-small" type="submit" id="sign-out">"Sign out"</button>
                        </form>
                    </div>
                })
            })}
        </Suspense>
    }
}

/// Page frame: a sidebar with the navigation and a main column for the routed page.
#[component]
pub fn Shell(children: Children) -> impl IntoView {
    // Effects run only in the browser, so this flips to `true` exactly when the wasm has hydrated.
    let (hydrated, set_hydrated) = signal(false);
    Effect::new(move |_| set_hydrated.set(true));
    // Embedded views (`/embed/...`, shown in other portals' iframes) and shared links (`/share/...`,
    // for people without an account) get no navigation chrome.
    let path = leptos_router::hooks::use_location()
        .pathname
        .get_untracked();
    let embedded =
        path.starts_with("/embed/") || path.starts_with("/share/") || path.starts_with("/login");
    if embedded {
        return view! {
            <main id="main" class="embed" tabindex="-1" data-hydrated=move || hydrated.get().to_string()>
                <span id="live-status" hidden=true data-hydrated=move || hydrated.get().to_string()>
                    {move || if hydrated.get() { "live" } else { "loading" }}
                </span>
                {children()}
            </main>
        }
        .into_any();
    }

    view! {
        <a class="skip-link" href="#main">"Skip to content"</a>
        <div class="frame">
            <aside class="sidebar">
                <a class="brand" href="/" aria-label="migboard home">
                    <svg class="brand-mark" viewBox="0 0 32 32" aria-hidden="true">
                        <rect x="2" y="2" width="28" height="28" rx="6" class="brand-bg" />
                        <rect x="7" y="8" width="5" height="16" rx="1" class="brand-slice" />
                        <rect x="13.5" y="8" width="5" height="16" rx="1" class="brand-slice" />
                        <rect x="20" y="8" width="5" height="7" rx="1" class="brand-slice" />
                        <rect x="20" y="17" width="5" height="7" rx="1" class="brand-slice dim" />
                    </svg>
                    <span class="brand-name">"migboard"</span>
                </a>
                <nav aria-label="Main">
                    <ul class="nav">
                        {NAV
                            .iter()
                            .map(|item| {
                                view! {
                                    <li>
                                        <A href=item.href exact=true>
                                            <svg class="nav-icon" viewBox="0 0 24 24" aria-hidden="true">
                                                <path d=item.icon />
                                            </svg>
                                            <span>{item.label}</span>
                                        </A>
                                    </li>
                                }
                            })
                            .collect_view()}
                    </ul>
                </nav>
                <div class="sidebar-foot">
                    <span
                        id="live-status"
                        class="live-pill"
                        data-hydrated=move || hydrated.get().to_string()
                        title=move || {
                            if hydrated.get() {
                                "Interactive: the page is hydrated and refreshes itself"
                            } else {
                                "Server-rendered: waiting for the interactive app to load"
                            }
                        }
                    >
                        <span class="dot" aria-hidden="true"></span>
                        {move || if hydrated.get() { "live" } else { "loading" }}
                    </span>
                    <span class="version">{concat!("v", env!("CARGO_PKG_VERSION"))}</span>
                    <Who />
                </div>
            </aside>
            <main id="main" class="content" tabindex="-1">
                {children()}
            </main>
        </div>
    }
    .into_any()
}
