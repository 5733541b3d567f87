//! Accounts: `/login` (a plain form the server answers, so it works before the app loads),
//! `/settings` (who you are, your API tokens), `/settings/users` and `/settings/audit` (admins).
//! All lazy routes: none of this code is in the bundle every page loads.

use leptos::prelude::*;
use leptos_meta::Title;
use leptos_router::hooks::use_query_map;
use leptos_router::{LazyRoute, lazy_route};
use mig::wire::{Role, TokenInfo, UserInfo};

use super::{EmptyState, PageHeader};
use crate::api::accounts::{
    audit_log, change_password, create_token, create_user, list_users, my_tokens, revoke_token,
    update_user, whoami,
};
use crate::api::embeds::{create_embed, list_embeds, revoke_embed};
use crate::error::AppError;

fn when(ms: i64) -> String {
    mig::time::Utc::from_unix_ms(ms).minutes()
}

fn when_opt(ms: Option<i64>, none: &'static str) -> String {
    ms.map_or_else(|| none.to_owned(), when)
}

/// The sign-in page.
#[derive(Debug, Clone, Copy)]
pub struct LoginRoute;

#[lazy_route]
impl LazyRoute for LoginRoute {
    fn data() -> Self {
        Self
    }

    fn view(this: Self) -> AnyView {
        let LoginRoute = this;
        view! { <LoginPage /> }.into_any()
    }
}

#[component]
fn LoginPage() -> impl IntoView {
    let q = use_query_map();
    let (error, next, signed_out, username) = q.with_untracked(|q| {
        (
            q.get("error"),
            q.get("next").unwrap_or_else(|| "/".to_owned()),
            q.get("signed_out").is_some(),
            q.get("username").unwrap_or_default(),
        )
    });
    // After a failed attempt the username is kept: the password is what to type again.
    let retyping = !username.is_empty();
    let message = error.map(|e| match e.as_str() {
        "rate" => "Too many sign-in attempts from this address. Wait a minute, then try again.",
        _ => "Wrong username or password.",
    });
    view! {
        <Title text="Sign in" />
        <section class="card login" aria-labelledby="login-title">
            <h1 id="login-title">"Sign in to migboard"</h1>
            {message.map(|m| view! { <p class="banner banner-error" role="alert" id="login-error">{m}</p> })}
            {signed_out.then(|| view! { <p class="note" id="signed-out">"You are signed out."</p> })}
            <form method="post" action="/login" class="login-form">
                <input type="hidden" name="next" value=next />
                <label class="field">"Username"
                    <input name="username" id="username" autocomplete="username" required=true autofocus=!retyping value=username />
                </label>
                <label class="field">"Password"
                    <input name="password" id="password" type="password" autocomplete="current-password" required=true autofocus=retyping />
                </label>
                <button class="btn btn-primary" type="submit" id="sign-in">"Sign in"</button>
            </form>
            <p class="muted small">
                "First start: the user " <code>"admin"</code> " has the password in "
                <code>"MIGBOARD_ADMIN_PASSWORD"</code> ", or the one printed once in the server's log."
            </p>
        </section>
    }
}

/// `/settings`: the signed-in user and their API tokens.
#[derive(Debug, Clone, Copy)]
pub struct SettingsRoute;

#[lazy_route]
impl LazyRoute for SettingsRoute {
    fn data() -> Self {
        Self
    }

    fn view(this: Self) -> AnyView {
        let SettingsRoute = this;
        view! { <SettingsPage /> }.into_any()
    }
}

#[component]
fn SettingsPage() -> impl IntoView {
    let me = Resource::new(|| (), |()| whoami());
    // Sent here by the server while the password is the generated one (nothing else is open yet).
    let q = use_query_map();
    let required = move || q.read().get("password").as_deref() == Some("required");
    view! {
        <Title text="Settings" />
        <PageHeader title="Settings" subtitle="Your account and API tokens; users and the audit log for admins." />
        <Transition fallback=|| view! { <p class="muted">"Reading your account…"</p> }>
            {move || Suspend::new(async move {
                match me.await {
                    Ok(Some(me)) => view! {
                        <section class="card" aria-labelledby="account-title">
                            <div class="card-head"><h2 id="account-title">"Account"</h2></div>
                            <p id="account">"Signed in as " <strong>{me.username.clone()}</strong> " (" {me.role.as_str()} ")."</p>
                            <p class="muted">{match me.role {
                                Role::Viewer => "Viewers read everything; ask an admin to become an operator to deploy.",
                                Role::Operator => "Operators plan, validate, deploy, undeploy, update MIG layouts and share links.",
                                Role::Admin => "Admins also manage users and read the audit log.",
                            }}</p>
                            {(me.role == Role::Admin).then(|| view! {
                                <p><a href="/settings/users" id="users-link">"Users"</a> " · " <a href="/settings/audit" id="audit-link">"Audit log"</a></p>
                            })}
                        </section>
                        {required().then(|| view! {
                            <p class="banner banner-error" role="alert" id="password-required">
                                "You signed in with the password generated at first start. Choose your own below: until you do, migboard opens nothing else."
                            </p>
                        })}
                        <ChangePassword />
                        {(!required()).then(|| view! { <Tokens admin=me.role == Role::Admin /> })}
                        {(!required() && me.role != Role::Viewer).then(|| view! { <EmbedLinks /> })}
                    }.into_any(),
                    Ok(None) => view! { <p class="banner banner-error" role="alert">"Not signed in. " <a href="/login?next=/settings">"Sign in"</a></p> }.into_any(),
                    Err(e) => view! { <p class="banner banner-error" role="alert">{format!("Could not read your account: {e}")}</p> }.into_any(),
                }
            })}
        </Transition>
    }
}

/// "Change my password": given the current one. Every other session and API token of the user
/// ends; this browser stays signed in.
#[component]
fn ChangePassword() -> impl IntoView {
    let current = RwSignal::new(String::new());
    let new = RwSignal::new(String::new());
    let again = RwSignal::new(String::new());
    let (result, set_result) = signal(None::<Result<String, String>>);
    let busy = RwSignal::new(false);
    let ready = super::hydrated();
    let submit = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        let (c, n, a) = (
            current.get_untracked(),
            new.get_untracked(),
            again.get_untracked(),
        );
        if n != a {
            set_result.set(Some(Err(
                "The two new passwords differ: type the same one twice.".into(),
            )));
            return;
        }
        busy.set(true);
        leptos::task::spawn_local(async move {
            match change_password(c, n).await {
                Ok(_) => {
                    set_result.set(Some(Ok(
                        "Password changed. Your other sessions and every API token of yours have ended; this browser stays signed in.".into(),
                    )));
                    current.set(String::new());
                    new.set(String::new());
                    again.set(String::new());
                }
                Err(e) => set_result.set(Some(Err(format!("Password not changed: {e}")))),
            }
            busy.set(false);
        });
    };
    view! {
        <section class="card" aria-labelledby="password-title">
            <div class="card-head"><h2 id="password-title">"Change my password"</h2>
                <span class="muted">"ends your other sessions and your API tokens"</span>
            </div>
            <form class="toolbar-row" on:submit=submit id="password-form">
                <label class="field">"Current password"<input id="my-current-password" disabled=move || !ready.get() type="password" autocomplete="current-password" required=true bind:value=current /></label>
                <label class="field">"New password (12+ characters)"<input id="my-new-password" disabled=move || !ready.get() type="password" autocomplete="new-password" required=true minlength="12" bind:value=new /></label>
                <label class="field">"New password again"<input id="my-new-password-again" disabled=move || !ready.get() type="password" autocomplete="new-password" required=true minlength="12" bind:value=again /></label>
                <button class="btn btn-primary" type="submit" id="change-password" disabled=move || busy.get() || !ready.get()>"Change password"</button>
            </form>
            {move || result.get().map(|r| match r {
                Ok(m) => view! { <p class="banner banner-ok" role="status" id="password-result" data-ok="true">{m}</p> }.into_any(),
                Err(m) => view! { <p class="banner banner-error" role="alert" id="password-result" data-ok="false">{m}</p> }.into_any(),
            })}
        </section>
    }
}

#[component]
fn Tokens(admin: bool) -> impl IntoView {
    let tokens = Resource::new(|| (), |()| my_tokens());
    let (created, set_created) = signal(None::<String>);
    let (error, set_error) = signal(None::<String>);
    let name = RwSignal::new(String::new());
    let days = RwSignal::new("30".to_owned());
    let ready = super::hydrated();
    let create = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        let d = days.get_untracked();
        let d = if d.trim().is_empty() {
            None
        } else if let Ok(d) = d.trim().parse::<u32>() {
            Some(d)
        } else {
            set_error.set(Some(format!(
                "No token made: \"{}\" is not a number of days; give 1 to 365, or leave it blank for 30",
                d.trim()
            )));
            return;
        };
        let n = name.get_untracked();
        leptos::task::spawn_local(async move {
            match create_token(n, d).await {
                Ok(c) => {
                    set_created.set(Some(c.token.expose().to_owned()));
                    set_error.set(None);
                    name.set(String::new());
                    tokens.refetch();
                }
                Err(e) => set_error.set(Some(format!("No token made: {e}"))),
            }
        });
    };
    let revoke = move |id: i64| {
        leptos::task::spawn_local(async move {
            if let Err(e) = revoke_token(id).await {
                set_error.set(Some(format!("Not revoked: {e}")));
            }
            tokens.refetch();
        });
    };
    view! {
        <section class="card" aria-labelledby="tokens-title">
            <div class="card-head"><h2 id="tokens-title">"API tokens"</h2>
                <span class="muted">{if admin { "everyone's (you are an admin)" } else { "yours; each acts with your role" }}</span>
            </div>
            <p class="muted">"Send a token as " <code>"Authorization: Bearer <token>"</code> " to the REST API (" <a href="/api/v1/openapi.json">"OpenAPI"</a> "). Scripts can also get one with " <code>"POST /api/v1/login"</code> "."</p>
            <form class="toolbar-row" on:submit=create id="token-form">
                <label class="field">"Name"<input id="token-name" disabled=move || !ready.get() placeholder="ci" bind:value=name required=true maxlength="64" /></label>
                <label class="field field-narrow">"Days (1-365)"<input id="token-days" disabled=move || !ready.get() inputmode="numeric" placeholder="30" bind:value=days title="Every token expires: at most 365 days, 30 when left blank" /></label>
                <button class="btn btn-primary" type="submit" id="token-create" disabled=move || !ready.get()>"Create token"</button>
            </form>
            {move || created.get().map(|t| view! {
                <p class="note">"Your new token (shown once; copy it now): "</p>
                <div class="copy-row"><input class="share-url" id="token-secret" readonly=true value=t.clone() aria-label="The new token" /><super::CopyButton text=t id="copy-token" /></div>
            })}
            {move || error.get().map(|e| view! { <p class="banner banner-error" role="alert">{e}</p> })}
            <Transition fallback=|| ()>
                {move || Suspend::new(async move {
                    match tokens.await {
                        Ok(list) if list.is_empty() => view! { <p class="muted" id="no-tokens">"No tokens yet."</p> }.into_any(),
                        Ok(list) => view! { <TokenTable list revoke /> }.into_any(),
                        Err(e) => view! { <p class="banner banner-error" role="alert">{e.to_string()}</p> }.into_any(),
                    }
                })}
            </Transition>
        </section>
    }
}

/// "Embed links" (operators): signed links that show one view in a portal on another site, with
/// no session; made, listed and revoked here (or over the API by the portal's backend).
#[component]
fn EmbedLinks() -> impl IntoView {
    let links = Resource::new(|| (), |()| list_embeds());
    let (created, set_created) = signal(None::<String>);
    let (error, set_error) = signal(None::<String>);
    let view_name = RwSignal::new("fleet".to_owned());
    let days = RwSignal::new("30".to_owned());
    let origins = RwSignal::new(String::new());
    let ready = super::hydrated();
    let create = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        let Ok(d) = days.get_untracked().trim().parse::<u32>() else {
            set_error.set(Some(format!(
                "No link made: \"{}\" is not a number of days; give 1 to 90",
                days.get_untracked().trim()
            )));
            return;
        };
        let (v, o) = (view_name.get_untracked(), origins.get_untracked());
        leptos::task::spawn_local(async move {
            match create_embed(v, d, o).await {
                Ok(c) => {
                    #[cfg(feature = "hydrate")]
                    let origin = window().location().origin().unwrap_or_default();
                    #[cfg(not(feature = "hydrate"))]
                    let origin = String::new();
                    set_created.set(Some(format!("{origin}{}", c.path.expose())));
                    set_error.set(None);
                    links.refetch();
                }
                Err(e) => set_error.set(Some(format!("No link made: {e}"))),
            }
        });
    };
    let revoke = move |id: i64| {
        leptos::task::spawn_local(async move {
            if let Err(e) = revoke_embed(id).await {
                set_error.set(Some(format!("Not revoked: {e}")));
            }
            links.refetch();
        });
    };
    view! {
        <section class="card" aria-labelledby="embeds-title">
            <div class="card-head"><h2 id="embeds-title">"Embed links"</h2>
                <span class="muted">"one live, read-only view for a portal on another site, no sign-in"</span>
            </div>
            <p class="muted">
                "The link opens only its view, and only inside the portals named here (" <code>"frame-ancestors"</code>
                "). A portal's backend can make its own with an API token: " <code>"POST /api/v1/embeds"</code> "."
            </p>
            <form class="toolbar-row" on:submit=create id="embed-form">
                <label class="field">"View"<input id="embed-view" disabled=move || !ready.get() bind:value=view_name required=true
                    title="fleet, pool/<name>, node/<name> or deployment/<id>" placeholder="fleet" /></label>
                <label class="field field-narrow">"Days (1-90)"<input id="embed-days" disabled=move || !ready.get() inputmode="numeric" bind:value=days required=true /></label>
                <label class="field">"Portal origins"<input id="embed-origins" disabled=move || !ready.get() bind:value=origins required=true
                    placeholder="https://portal.example.com" title="scheme://host[:port], comma-separated" /></label>
                <button class="btn btn-primary" type="submit" id="embed-create" disabled=move || !ready.get()>"Create link"</button>
            </form>
            {move || created.get().map(|url| {
                let snippet = format!("<iframe src=\"{url}\" style=\"width:100%;border:0\" title=\"GPU fleet\"></iframe>");
                view! {
                    <p class="note">"The link (shown once; copy it now): "</p>
                    <div class="copy-row"><input class="share-url" id="embed-url" readonly=true value=url.clone() aria-label="The embed link" /><super::CopyButton text=url id="copy-embed-url" /></div>
                    <p class="note">"In the portal's page: "</p>
                    <div class="copy-row"><input class="share-url" id="embed-snippet" readonly=true value=snippet.clone() aria-label="The iframe snippet" /><super::CopyButton text=snippet id="copy-embed-snippet" /></div>
                }
            })}
            {move || error.get().map(|e| view! { <p class="banner banner-error" role="alert" id="embed-error">{e}</p> })}
            <Transition fallback=|| ()>
                {move || Suspend::new(async move {
                    match links.await {
                        Ok(list) if list.is_empty() => view! { <p class="muted" id="no-embeds">"No embed links yet."</p> }.into_any(),
                        Ok(list) => view! {
                            <table class="deployments" id="embeds">
                                <thead><tr><th>"View"</th><th>"Portals"</th><th>"By"</th><th>"Expires"</th><th>"State"</th><th></th></tr></thead>
                                <tbody>
                                    {list.into_iter().map(|l| {
                                        let id = l.id;
                                        let live = l.revoked_ms.is_none() && u64::try_from(l.expires_ms).unwrap_or(0) > super::now_ms();
                                        let state = match (l.revoked_ms, live) {
                                            (Some(_), _) => "revoked",
                                            (None, true) => "active",
                                            (None, false) => "expired",
                                        };
                                        view! {
                                            <tr data-id=id data-state=state>
                                                <td><code>{l.view.to_string()}</code></td>
                                                <td>{l.origins.join(" ")}</td>
                                                <td>{l.created_by.clone()}</td>
                                                <td>{when(l.expires_ms)}</td>
                                                <td>{match l.revoked_ms { Some(at) => format!("revoked {}", when(at)), None => state.to_owned() }}</td>
                                                <td>{live.then(|| view! { <button class="btn btn-ghost btn-small revoke" on:click=move |_| revoke(id)>"Revoke"</button> })}</td>
                                            </tr>
                                        }
                                    }).collect_view()}
                                </tbody>
                            </table>
                        }.into_any(),
                        Err(e) => view! { <p class="banner banner-error" role="alert">{e.to_string()}</p> }.into_any(),
                    }
                })}
            </Transition>
        </section>
    }
}

#[component]
fn TokenTable<F>(list: Vec<TokenInfo>, revoke: F) -> impl IntoView
where
    F: Fn(i64) + Copy + Send + Sync + 'static,
{
    view! {
        <table class="deployments" id="tokens">
            <thead><tr><th>"Name"</th><th>"User"</th><th>"Created"</th><th>"Expires"</th><th>"Last used"</th><th>"State"</th><th></th></tr></thead>
            <tbody>
                {list.into_iter().map(|t| {
                    let id = t.id;
                    let live = t.revoked_ms.is_none();
                    view! {
                        <tr data-id=id data-state=if live { "active" } else { "revoked" }>
                            <td>{t.name.clone()}</td>
                            <td>{t.username.clone()}</td>
                            <td>{when(t.created_ms)}</td>
                            <td>{when_opt(t.expires_ms, "never")}</td>
                            <td>{when_opt(t.last_used_ms, "never")}</td>
                            <td>{if live { "active".to_owned() } else { format!("revoked {}", when_opt(t.revoked_ms, "")) }}</td>
                            <td>{live.then(|| view! { <button class="btn btn-ghost btn-small revoke" on:click=move |_| revoke(id)>"Revoke"</button> })}</td>
                        </tr>
                    }
                }).collect_view()}
            </tbody>
        </table>
    }
}

/// `/settings/users` (admins).
#[derive(Debug, Clone, Copy)]
pub struct UsersRoute;

#[lazy_route]
impl LazyRoute for UsersRoute {
    fn data() -> Self {
        Self
    }

    fn view(this: Self) -> AnyView {
        let UsersRoute = this;
        view! { <UsersPage /> }.into_any()
    }
}

#[component]
fn UsersPage() -> impl IntoView {
    let users = Resource::new(|| (), |()| list_users());
    let (error, set_error) = signal(None::<String>);
    let username = RwSignal::new(String::new());
    let password = RwSignal::new(String::new());
    let role = RwSignal::new("viewer".to_owned());
    let create = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        let r = Role::parse(&role.get_untracked()).unwrap_or(Role::Viewer);
        let (u, p) = (username.get_untracked(), password.get_untracked());
        leptos::task::spawn_local(async move {
            match create_user(u, p, r).await {
                Ok(_) => {
                    set_error.set(None);
                    username.set(String::new());
                    password.set(String::new());
                    users.refetch();
                }
                Err(e) => set_error.set(Some(format!("Not created: {e}"))),
            }
        });
    };
    let (saved, set_saved) = signal(None::<String>);
    let change = move |id: i64, change: UserEdit| {
        leptos::task::spawn_local(async move {
            let (role, disabled, password) = change.parts();
            match update_user(id, role, disabled, password).await {
                Ok(u) => {
                    set_error.set(None);
                    set_saved.set(Some(change.done(&u)));
                }
                Err(e) => {
                    set_saved.set(None);
                    set_error.set(Some(format!("Not changed: {e}")));
                }
            }
            users.refetch();
        });
    };
    view! {
        <Title text="Users" />
        <PageHeader title="Users" subtitle="Who may sign in, and with which role." />
        <p><a href="/settings">"← Settings"</a></p>
        <section class="card" aria-labelledby="new-user-title">
            <div class="card-head"><h2 id="new-user-title">"New user"</h2></div>
            <form class="toolbar-row" on:submit=create id="user-form">
                <label class="field">"Username"<input id="new-username" bind:value=username required=true maxlength="64" /></label>
                <label class="field">"Password (12+ characters, not a common one)"<input id="new-password" type="password" autocomplete="new-password" bind:value=password required=true minlength="12" /></label>
                <label class="field field-narrow">"Role"
                    <select id="new-role" on:change=move |ev| role.set(event_target_value(&ev))>
                        <option value="viewer" selected=true>"viewer"</option>
                        <option value="operator">"operator"</option>
                        <option value="admin">"admin"</option>
                    </select>
                </label>
                <button class="btn btn-primary" type="submit" id="user-create">"Create user"</button>
            </form>
        </section>
        {move || error.get().map(|e| view! { <p class="banner banner-error" role="alert" id="users-error">{e}</p> })}
        {move || saved.get().map(|m| view! { <p class="banner banner-ok" role="status" id="users-saved">{m}</p> })}
        <Transition fallback=|| view! { <p class="muted">"Reading users…"</p> }>
            {move || Suspend::new(async move {
                match users.await {
                    Ok(list) => view! { <UserTable list change /> }.into_any(),
                    Err(e) => view! { <p class="banner banner-error" role="alert">{format!("Could not read users: {e}")}</p> }.into_any(),
                }
            })}
        </Transition>
    }
}

#[component]
fn UserTable<F>(list: Vec<UserInfo>, change: F) -> impl IntoView
where
    F: Fn(i64, UserEdit) + Copy + Send + Sync + 'static,
{
    view! {
        <section class="card">
            <table class="deployments" id="users">
                <thead><tr><th>"User"</th><th>"Role"</th><th>"State"</th><th>"Created"</th><th>"Last sign-in"</th><th></th></tr></thead>
                <tbody>
                    {list.into_iter().map(|u| {
                        let id = u.id;
                        let disabled = u.disabled;
                        let role = u.role;
                        let name = u.username.clone();
                        let (n1, n2) = (name.clone(), name.clone());
                        let setting = RwSignal::new(false);
                        let password = RwSignal::new(String::new());
                        let set_password = move |ev: leptos::ev::SubmitEvent| {
                            ev.prevent_default();
                            change(id, UserEdit::Password(password.get_untracked()));
                            password.set(String::new());
                            setting.set(false);
                        };
                        view! {
                            <tr data-user=u.username.clone()>
                                <td>{u.username.clone()}</td>
                                <td>
                                    <select class="user-role" aria-label=format!("Role of {}", u.username) on:change=move |ev| {
                                        let Some(r) = Role::parse(&event_target_value(&ev)) else { return };
                                        let edit = UserEdit::Role(n1.clone(), r);
                                        if edit.confirmed() {
                                            change(id, edit);
                                        } else {
                                            // Declined: the select shows the stored role again.
                                            #[cfg(not(feature = "hydrate"))]
                                            let _ = role;
                                            #[cfg(feature = "hydrate")]
                                            if let Some(target) = ev.target() {
                                                let _ = web_sys::js_sys::Reflect::set(&target, &"value".into(), &role.as_str().into());
                                            }
                                        }
                                    }>
                                        {Role::ALL.into_iter().map(|r| view! { <option value=r.as_str() selected=r == u.role>{r.as_str()}</option> }).collect_view()}
                                    </select>
                                </td>
                                <td>{if disabled { "disabled" } else { "enabled" }}</td>
                                <td>{when(u.created_ms)}</td>
                                <td>{when_opt(u.last_login_ms, "never")}</td>
                                <td class="user-actions">
                                    <button class="btn btn-ghost btn-small" on:click=move |_| {
                                        let edit = UserEdit::Disabled(n2.clone(), !disabled);
                                        if edit.confirmed() {
                                            change(id, edit);
                                        }
                                    }>{if disabled { "Enable" } else { "Disable" }}</button>
                                    <button class="btn btn-ghost btn-small set-password" on:click=move |_| setting.update(|s| *s = !*s)>"Set password"</button>
                                    {move || setting.get().then(|| view! {
                                        <form class="toolbar-row set-password-form" on:submit=set_password.clone()>
                                            <input type="password" class="new-user-password" autocomplete="new-password" required=true minlength="12"
                                                aria-label=format!("New password of {name}") placeholder="12+ characters" bind:value=password />
                                            <button class="btn btn-primary btn-small" type="submit">"Save"</button>
                                        </form>
                                    })}
                                </td>
                            </tr>
                        }
                    }).collect_view()}
                </tbody>
            </table>
        </section>
    }
}

/// One change an admin makes to a user, with the user's name for what is asked and said.
#[derive(Debug, Clone)]
enum UserEdit {
    Role(String, Role),
    Disabled(String, bool),
    Password(String),
}

impl UserEdit {
    /// What to ask before a change that matters (a role); `None` when the click says it all.
    fn question(&self) -> Option<String> {
        match self {
            Self::Role(name, role) => Some(format!(
                "Make {name} {article} {role}? {what}",
                article = if *role == Role::Viewer { "a" } else { "an" },
                what = match role {
                    Role::Viewer => "They will read everything and change nothing.",
                    Role::Operator => "They will plan, deploy, undeploy and share.",
                    Role::Admin => "They will also manage users and read the audit log.",
                }
            )),
            Self::Disabled(name, true) => Some(format!(
                "Disable {name}? Their sessions and API tokens stop working at once."
            )),
            Self::Disabled(_, false) | Self::Password(_) => None,
        }
    }

    /// Whether the admin wants it: asked in a dialog when [`UserEdit::question`] has something
    /// to ask (always yes on the server, where nothing is clicked).
    fn confirmed(&self) -> bool {
        let question = self.question();
        #[cfg(feature = "hydrate")]
        if let Some(q) = question {
            return window().confirm_with_message(&q).unwrap_or(false);
        }
        #[cfg(not(feature = "hydrate"))]
        let _ = question;
        true
    }

    fn parts(&self) -> (Option<Role>, Option<bool>, Option<String>) {
        match self {
            Self::Role(_, r) => (Some(*r), None, None),
            Self::Disabled(_, d) => (None, Some(*d), None),
            Self::Password(p) => (None, None, Some(p.clone())),
        }
    }

    /// What was saved, in words.
    fn done(&self, u: &UserInfo) -> String {
        match self {
            Self::Role(..) => format!("Saved: {} is now {}.", u.username, u.role.as_str()),
            Self::Disabled(..) if u.disabled => format!("Saved: {} is disabled.", u.username),
            Self::Disabled(..) => format!("Saved: {} is enabled.", u.username),
            Self::Password(_) => format!(
                "Saved: {} has a new password; their sessions and API tokens have ended.",
                u.username
            ),
        }
    }
}

/// `/settings/audit` (admins).
#[derive(Debug, Clone, Copy)]
pub struct AuditRoute;

#[lazy_route]
impl LazyRoute for AuditRoute {
    fn data() -> Self {
        Self
    }

    fn view(this: Self) -> AnyView {
        let AuditRoute = this;
        view! { <AuditPage /> }.into_any()
    }
}

#[component]
fn AuditPage() -> impl IntoView {
    let log = Resource::new(|| (), |()| audit_log(500));
    // `?q=` filters the rows (who, action, target, detail, address), so a filtered view is a link.
    let query = leptos_router::hooks::use_query_map();
    let filter = RwSignal::new(query.with_untracked(|q| q.get("q")).unwrap_or_default());
    Effect::watch(
        move || filter.get(),
        move |f, _, _| {
            if f.is_empty() {
                super::replace_url("/settings/audit");
            } else {
                super::replace_url(&format!("/settings/audit?q={}", mig::planner::encode_component(f)));
            }
        },
        false,
    );
    view! {
        <Title text="Audit log" />
        <PageHeader title="Audit log" subtitle="Every change and sign-in: who, what, when (UTC), from where. Newest first." />
        <p><a href="/settings">"← Settings"</a></p>
        <Transition fallback=|| view! { <p class="muted">"Reading the audit log…"</p> }>
            {move || Suspend::new(async move {
                match log.await {
                    Ok(list) if list.is_empty() => view! { <EmptyState title="Nothing yet"><p>"Changes and sign-ins will be listed here."</p></EmptyState> }.into_any(),
                    Ok(list) => {
                        let total = list.len();
                        let mut actions: Vec<String> = list.iter().map(|a| a.action.clone()).collect();
                        actions.sort();
                        actions.dedup();
                        // Filtered once per change of the filter; the count and the rows read it.
                        let shown = Memo::new(move |_| {
                            let f = filter.get().to_lowercase();
                            list.iter()
                                .filter(|a| f.is_empty() || [&a.actor, &a.action, &a.target, &a.detail, &a.source].iter().any(|x| x.to_lowercase().contains(&f)))
                                .cloned()
                                .collect::<Vec<_>>()
                        });
                        view! {
                            <section class="card">
                                <div class="audit-filter">
                                    <label class="field">
                                        <span>"Filter"</span>
                                        <input id="audit-filter" type="search" list="audit-actions" placeholder="user, action (user.create), target…" prop:value=move || filter.get() on:input=move |ev| filter.set(event_target_value(&ev)) />
                                    </label>
                                    <datalist id="audit-actions">{actions.into_iter().map(|a| view! { <option value=a></option> }).collect_view()}</datalist>
                                    <span class="muted" id="audit-count">{move || { let n = shown.with(Vec::len); if n == total { format!("{total} records") } else { format!("{n} of {total} records") } }}</span>
                                </div>
                                <table class="deployments" id="audit">
                                    <thead><tr><th>"When (UTC)"</th><th>"Who"</th><th>"Action"</th><th>"Target"</th><th>"Detail"</th><th>"From"</th></tr></thead>
                                    <tbody>
                                        {move || shown.get().into_iter().map(|a| { let action = a.action.clone(); view! {
                                            <tr data-action=action>
                                                <td class="nowrap">{mig::time::Utc::from_unix_ms(a.at_ms).seconds()}</td>
                                                <td>{a.actor}</td>
                                                <td><code>{a.action}</code></td>
                                                <td>{a.target}</td>
                                                <td class="muted">{a.detail}</td>
                                                <td>{a.source}</td>
                                            </tr>
                                        }}).collect_view()}
                                    </tbody>
                                </table>
                            </section>
                        }.into_any()
                    }
                    Err(AppError::Forbidden(m)) => view! { <p class="banner banner-error" role="alert">{m}</p> }.into_any(),
                    Err(e) => view! { <p class="banner banner-error" role="alert">{format!("Could not read the audit log: {e}")}</p> }.into_any(),
                }
            })}
        </Transition>
    }
}
