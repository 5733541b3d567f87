//! Browser sessions: stored in migboard's database by a hash of their id (tower-sessions), the
//! cookie's policy, sign-in into a session, and the caller a session stands for.

use std::time::Duration;

use axum::extract::Request;
use axum::http::{HeaderValue, header};
use axum::middleware::Next;
use axum::response::Response;
use mig::wire::{Caller, UserInfo, Via};
use tower_sessions::cookie::SameSite;
use tower_sessions::session::{Id, Record};
use tower_sessions::session_store::{self, SessionStore};
use tower_sessions::{Expiry, Session, SessionManagerLayer};

use super::{ABSOLUTE, AccountError, COOKIE, IDLE};
use crate::store::{Store, StoreError};

pub(super) const SESSION_UID: &str = "uid";
const SESSION_LOGIN_MS: &str = "login_ms";
const SESSION_SEEN_MS: &str = "seen_ms";
/// A session's idle clock restarts at most this often (each restart is one database write).
const TOUCH_EVERY_MS: i64 = 5 * 60 * 1000;

/// Sessions in migboard's database (SQLite or PostgreSQL), keyed by a hash of their id.
#[derive(Debug, Clone)]
pub struct DbSessions(pub Store);

fn backend(e: &StoreError) -> session_store::Error {
    session_store::Error::Backend(e.to_string())
}

#[async_trait::async_trait]
impl SessionStore for DbSessions {
    async fn create(&self, record: &mut Record) -> session_store::Result<()> {
        while self
            .0
            .session_exists(&record.id.to_string())
            .await
            .map_err(|e| backend(&e))?
        {
            record.id = Id::default();
        }
        self.save(record).await
    }

    async fn save(&self, record: &Record) -> session_store::Result<()> {
        let data = serde_json::to_string(&record.data)
            .map_err(|e| session_store::Error::Encode(e.to_string()))?;
        let expiry_ms = i64::try_from(record.expiry_date.unix_timestamp_nanos() / 1_000_000)
            .unwrap_or(i64::MAX);
        self.0
            .save_session(&record.id.to_string(), &data, expiry_ms)
            .await
            .map_err(|e| backend(&e))
    }

    async fn load(&self, id: &Id) -> session_store::Result<Option<Record>> {
        let Some((data, expiry_ms)) = self
            .0
            .load_session(&id.to_string())
            .await
            .map_err(|e| backend(&e))?
        else {
            return Ok(None);
        };
        let data =
            serde_json::from_str(&data).map_err(|e| session_store::Error::Decode(e.to_string()))?;
        let expiry_date =
            time::OffsetDateTime::from_unix_timestamp_nanos(i128::from(expiry_ms) * 1_000_000)
                .map_err(|e| session_store::Error::Decode(e.to_string()))?;
        Ok(Some(Record {
            id: *id,
            data,
            expiry_date,
        }))
    }

    async fn delete(&self, id: &Id) -> session_store::Result<()> {
        self.0
            .delete_session(&id.to_string())
            .await
            .map_err(|e| backend(&e))
    }
}

/// Cookie settings.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CookiePolicy {
    /// Send the cookie over HTTPS only (`Secure`).
    pub secure: bool,
    /// Other origins may frame migboard: the cookie must reach those frames
    /// (`SameSite=None; Secure; Partitioned`).
    pub embedding: bool,
}

/// The session layer: HttpOnly cookie, `SameSite=Lax` (or `None; Secure; Partitioned` when
/// embedding), expiring after [`IDLE`] without requests.
#[must_use]
pub fn session_layer(store: Store, cookies: CookiePolicy) -> SessionManagerLayer<DbSessions> {
    let layer = SessionManagerLayer::new(DbSessions(store))
        .with_name(COOKIE)
        .with_http_only(true)
        .with_path("/")
        .with_expiry(Expiry::OnInactivity(
            time::Duration::try_from(IDLE).unwrap_or(time::Duration::HOUR),
        ));
    if cookies.embedding {
        layer.with_same_site(SameSite::None).with_secure(true)
    } else {
        layer
            .with_same_site(SameSite::Lax)
            .with_secure(cookies.secure)
    }
}

/// Adds `Partitioned` to the session cookie (CHIPS: a framed migboard gets its own cookie jar per
/// embedding site), which tower-sessions 0.14 cannot set itself.
pub async fn partition_cookie(req: Request, next: Next) -> Response {
    let mut res = next.run(req).await;
    let cookies: Vec<HeaderValue> = res
        .headers_mut()
        .get_all(header::SET_COOKIE)
        .iter()
        .map(|v| match v.to_str() {
            Ok(s) if s.starts_with(COOKIE) && !s.contains("Partitioned") => {
                HeaderValue::from_str(&format!("{s}; Partitioned")).unwrap_or_else(|_| v.clone())
            }
            _ => v.clone(),
        })
        .collect();
    res.headers_mut().remove(header::SET_COOKIE);
    for c in cookies {
        res.headers_mut().append(header::SET_COOKIE, c);
    }
    res
}

/// Whether the session `id` still stands for someone: it exists (not signed out), has not expired
/// or outlived [`ABSOLUTE`], and its user is enabled and has not changed password since signing in.
/// Read from the database, so a sign-out or a disabled user on any replica counts. Long-lived
/// responses (event streams) ask this again and again; any error answers no.
pub(super) async fn session_still_valid(store: &Store, id: &Id) -> bool {
    let Ok(Some(record)) = DbSessions(store.clone()).load(id).await else {
        return false;
    };
    if record.expiry_date < time::OffsetDateTime::now_utc() {
        return false;
    }
    let number = |key: &str| record.data.get(key).and_then(serde_json::Value::as_i64);
    let (Some(uid), Some(login_ms)) = (number(SESSION_UID), number(SESSION_LOGIN_MS)) else {
        return false;
    };
    matches!(
        store.session_user(uid).await,
        Ok(Some((user, credentials_ms))) if sign_in_holds(login_ms, &user, credentials_ms)
    )
}

/// Whether a sign-in at `login_ms` still stands for `user`, whose password last changed at
/// `credentials_ms`: at most [`ABSOLUTE`] old, the user enabled, no password change since.
fn sign_in_holds(login_ms: i64, user: &UserInfo, credentials_ms: i64) -> bool {
    let age_ms = crate::store::now_ms().saturating_sub(login_ms);
    age_ms <= i64::try_from(ABSOLUTE.as_millis()).unwrap_or(i64::MAX)
        && !user.disabled
        && login_ms >= credentials_ms
}

pub(super) async fn session_caller(
    store: &Store,
    session: &Session,
    source: &str,
) -> Option<(Caller, bool)> {
    let uid: i64 = session.get(SESSION_UID).await.ok()??;
    let login_ms: i64 = session.get(SESSION_LOGIN_MS).await.ok()??;
    let (user, credentials_ms) = store.session_user(uid).await.ok()??;
    // Too old, disabled, or signed in with a password that has since changed.
    if !sign_in_holds(login_ms, &user, credentials_ms) {
        let _ = session.flush().await;
        return None;
    }
    // Activity keeps the session alive ([`IDLE`] counts from the last save): mark it seen now and
    // then, not on every request.
    let now = crate::store::now_ms();
    let seen: i64 = session
        .get(SESSION_SEEN_MS)
        .await
        .ok()
        .flatten()
        .unwrap_or(login_ms);
    if now.saturating_sub(seen) > TOUCH_EVERY_MS {
        let _ = session.insert(SESSION_SEEN_MS, now).await;
    }
    let must_change = user.must_change_password;
    Some((
        Caller {
            user_id: user.id,
            username: user.username,
            role: user.role,
            via: Via::Session,
            source: source.into(),
        },
        must_change,
    ))
}

/// Signs `user` into `session`: a new session id (so an id planted before sign-in is worthless),
/// then the user and the sign-in time.
///
/// # Errors
/// When the session store fails.
pub async fn start_session(session: &Session, user: &UserInfo) -> Result<(), AccountError> {
    let fail = |e: tower_sessions::session::Error| AccountError::Internal(format!("session: {e}"));
    session.cycle_id().await.map_err(fail)?;
    session.insert(SESSION_UID, user.id).await.map_err(fail)?;
    session
        .insert(SESSION_LOGIN_MS, crate::store::now_ms())
        .await
        .map_err(fail)?;
    Ok(())
}

/// After a password change of `user` by `caller`: when they are the same person in a browser, their
/// own session goes on (a new id and sign-in time, so it is newer than the change) while every other
/// session of theirs has ended.
///
/// # Errors
/// When the session store fails.
pub async fn renew_after_password_change(
    session: &Session,
    caller: &Caller,
    user: &UserInfo,
) -> Result<(), AccountError> {
    if caller.user_id == user.id && matches!(caller.via, Via::Session) {
        start_session(session, user).await?;
    }
    Ok(())
}

/// Removes expired sessions every hour.
pub fn spawn_session_cleanup(store: Store) {
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(Duration::from_secs(3600));
        loop {
            tick.tick().await;
            match store.delete_expired_sessions().await {
                Ok(n) if n > 0 => tracing::info!(removed = n, "expired sessions removed"),
                Ok(_) => {}
                Err(e) => tracing::warn!(error = %e, "removing expired sessions"),
            }
        }
    });
}
