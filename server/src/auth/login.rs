//! The sign-in form (`POST /login`, no JavaScript needed) and sign-out.

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use tower_sessions::Session;

use super::middleware::{ConnectInfoOpt, encode};
use super::sessions::SESSION_UID;
use super::{AccountError, AuthState, start_session};

/// Where to go after signing in: a path on this site only, never another site.
///
/// Browsers forgive a lot in a `Location`: they drop tabs and newlines (`/\t/evil.example` becomes
/// `//evil.example`, another host), read `\` as `/`, and trim leading spaces. So anything but a
/// plain local path — one `/` then no `/` or `\`, no control characters, no whitespace — goes to `/`.
#[must_use]
pub fn safe_next(next: Option<&str>) -> String {
    match next {
        Some(n) if is_local_path(n) && !n.starts_with("/login") => n.to_owned(),
        _ => "/".to_owned(),
    }
}

/// Longest `next` kept (a longer one is not a page of ours).
const MAX_NEXT: usize = 2048;

/// Whether `n` is a path on this site that every browser reads the same way.
fn is_local_path(n: &str) -> bool {
    let mut chars = n.chars();
    chars.next() == Some('/')
        && !matches!(chars.next(), Some('/' | '\\'))
        && n.len() <= MAX_NEXT
        && !n
            .chars()
            .any(|c| c.is_control() || c.is_whitespace() || c == '\\')
}

/// The sign-in form's fields.
#[derive(Debug, serde::Deserialize)]
pub struct LoginForm {
    /// Login name.
    pub username: String,
    /// Password (never printed by `Debug`).
    pub password: mig::wire::Secret,
    /// Where to go afterwards (a local path).
    #[serde(default)]
    pub next: Option<String>,
}

/// `POST /login` (the sign-in page's form, no JavaScript needed): starts a session and redirects to
/// `next`, or back to the form with the reason.
pub async fn login_form(
    State(auth): State<AuthState>,
    ConnectInfoOpt(ip): ConnectInfoOpt,
    session: Session,
    axum::Form(form): axum::Form<LoginForm>,
) -> Response {
    let next = safe_next(form.next.as_deref());
    match auth
        .accounts
        .check_login(
            form.username.trim(),
            form.password.expose(),
            &ip.to_string(),
            "browser",
        )
        .await
    {
        Ok(user) => match start_session(&session, &user).await {
            Ok(()) => Redirect::to(&next).into_response(),
            Err(e) => (StatusCode::SERVICE_UNAVAILABLE, e.to_string()).into_response(),
        },
        Err(AccountError::TooMany(_)) => Redirect::to("/login?error=rate").into_response(),
        // Back to the form with the username kept (only the password is to be typed again);
        // a name too long to be one is not carried.
        Err(AccountError::BadCredentials) => {
            let username = form.username.trim();
            let keep = if username.len() <= 64 {
                format!("&username={}", encode(username))
            } else {
                String::new()
            };
            Redirect::to(&format!(
                "/login?error=credentials&next={}{keep}",
                encode(&next)
            ))
            .into_response()
        }
        Err(e) => (StatusCode::SERVICE_UNAVAILABLE, e.to_string()).into_response(),
    }
}

/// `POST /logout`: ends the session and goes to the sign-in page.
pub async fn logout(session: Session) -> Response {
    if let Ok(Some(uid)) = session.get::<i64>(SESSION_UID).await {
        tracing::info!(user = uid, "signed out");
    }
    let _ = session.delete().await;
    Redirect::to("/login?signed_out=1").into_response()
}
