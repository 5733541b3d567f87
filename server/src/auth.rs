//! Who is asking, and may they: local users with argon2id passwords, browser sessions in the
//! database (tower-sessions), API tokens, one authorization policy for every route, a login rate
//! limit, and the account actions (users, tokens) with their audit records.
//!
//! The policy is one function, [`policy`], applied by one middleware, [`authenticate`], to every
//! request before any handler, page or server function runs: a route added later is denied to
//! everyone but admins until the policy names it. Handlers only read the [`Caller`] the middleware
//! attached, for the audit log.
//!
//! Not here: single sign-on (OIDC), per-pool permissions, password reset by mail.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use argon2::Argon2;
use argon2::password_hash::rand_core::OsRng;
use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use axum::extract::{ConnectInfo, Request, State};
use axum::http::{HeaderValue, Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Redirect, Response};
use mig::wire::{AuditRecord, Caller, CreatedToken, Role, TokenInfo, UserInfo};
use tower_sessions::cookie::SameSite;
use tower_sessions::session::{Id, Record};
use tower_sessions::session_store::{self, SessionStore};
use tower_sessions::{Expiry, Session, SessionManagerLayer};

use crate::api::ApiError;
use crate::orchestrator::{Actor, random_token};
use crate::store::{Store, StoreError, UserChange};

/// The session cookie's name.
pub const COOKIE: &str = "migboard_session";
/// A session ends after this long without a request.
pub const IDLE: Duration = Duration::from_secs(12 * 3600);
/// A session ends this long after sign-in, however active.
pub const ABSOLUTE: Duration = Duration::from_secs(7 * 24 * 3600);
/// Shortest password migboard accepts.
pub const MIN_PASSWORD: usize = 10;
/// Sign-in attempts a client may make at once, then one more every [`LOGIN_REFILL`].
pub const LOGIN_BURST: u32 = 5;
/// How often a client earns one more sign-in attempt.
pub const LOGIN_REFILL: Duration = Duration::from_secs(12);

const SESSION_UID: &str = "uid";
const SESSION_LOGIN_MS: &str = "login_ms";
const SESSION_SEEN_MS: &str = "seen_ms";
/// A session's idle clock restarts at most this often (each restart is one database write).
const TOUCH_EVERY_MS: i64 = 5 * 60 * 1000;

/// What a route needs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Need {
    /// Anyone, signed in or not.
    Public,
    /// A signed-in user with at least this role.
    Role(Role),
}

/// Server functions (`/api/{endpoint}`) by what they need. A server function missing here needs
/// an admin (the authorization matrix test fails for it).
const SERVER_FNS: &[(&str, Need)] = &[
    ("shared", Need::Public),
    ("whoami", Need::Public),
    ("status", Need::Role(Role::Viewer)),
    ("fleet", Need::Role(Role::Viewer)),
    ("deployments", Need::Role(Role::Viewer)),
    ("deployment", Need::Role(Role::Viewer)),
    ("node", Need::Role(Role::Viewer)),
    ("list_shares", Need::Role(Role::Viewer)),
    ("blueprint_catalogue", Need::Role(Role::Viewer)),
    ("named_configs", Need::Role(Role::Viewer)),
    ("my_tokens", Need::Role(Role::Viewer)),
    ("create_token", Need::Role(Role::Viewer)),
    ("revoke_token", Need::Role(Role::Viewer)),
    ("validate_blueprint", Need::Role(Role::Operator)),
    ("deploy", Need::Role(Role::Operator)),
    ("undeploy", Need::Role(Role::Operator)),
    ("create_share", Need::Role(Role::Operator)),
    ("revoke_share", Need::Role(Role::Operator)),
    ("users", Need::Role(Role::Admin)),
    ("create_user", Need::Role(Role::Admin)),
    ("update_user", Need::Role(Role::Admin)),
    ("audit_log", Need::Role(Role::Admin)),
];

/// What `method path` needs: the whole authorization policy.
///
/// Reading needs a viewer; planning, validating, deploying, undeploying and sharing an operator;
/// users and the audit log an admin. Public: sign-in, health, static files, share links and the
/// API description. Everyone manages their own API tokens (they could mint one with their password
/// anyway); admins see and revoke everyone's.
#[must_use]
pub fn policy(method: &Method, path: &str) -> Need {
    const VIEWER: Need = Need::Role(Role::Viewer);
    const OPERATOR: Need = Need::Role(Role::Operator);
    const ADMIN: Need = Need::Role(Role::Admin);
    let read = matches!(*method, Method::GET | Method::HEAD);
    if let Some(rest) = path.strip_prefix("/api/v1/") {
        let seg: Vec<&str> = rest.split('/').collect();
        return match (read, seg.as_slice()) {
            (true, ["share", _] | ["share", _, "events"] | ["openapi.json"]) => Need::Public,
            (false, ["login"]) => Need::Public,
            (true, ["users"] | ["audit"]) => ADMIN,
            (true, _) => VIEWER,
            (
                false,
                ["layouts", "validate"]
                | ["sizing"]
                | ["blueprints", "validate"]
                | ["deployments"]
                | ["deployments", _, "undeploy" | "shares"]
                | ["shares", _, "revoke"],
            ) => OPERATOR,
            (false, ["tokens"] | ["tokens", _, "revoke"]) => VIEWER,
            (false, _) => ADMIN,
        };
    }
    if let Some(name) = path.strip_prefix("/api/") {
        return SERVER_FNS
            .iter()
            .find(|(n, _)| *n == name)
            .map_or(ADMIN, |(_, need)| *need);
    }
    let public_page = path == "/login"
        || path == "/logout"
        || path == "/healthz"
        || path == "/readyz"
        || path == "/favicon.ico"
        || path == "/favicon.svg"
        || path.starts_with("/pkg/")
        || path.starts_with("/share/");
    if public_page {
        Need::Public
    } else if path.starts_with("/settings/users") || path.starts_with("/settings/audit") {
        ADMIN
    } else if read {
        VIEWER
    } else {
        ADMIN
    }
}

/// The server functions the policy names, for the authorization matrix test.
#[must_use]
pub fn server_fn_policy() -> &'static [(&'static str, Need)] {
    SERVER_FNS
}

/// Hashes a password with argon2id (a fresh salt, the crate's default cost: 19 MiB, 2 passes).
///
/// # Errors
/// When the hasher fails (it does not for passwords of sane length).
pub fn hash_password(password: &str) -> Result<String, AccountError> {
    Argon2::default()
        .hash_password(password.as_bytes(), &SaltString::generate(&mut OsRng))
        .map(|h| h.to_string())
        .map_err(|e| AccountError::Internal(format!("hashing a password: {e}")))
}

/// Whether `password` matches the stored PHC string.
#[must_use]
pub fn verify_password(password: &str, stored: &str) -> bool {
    PasswordHash::new(stored).is_ok_and(|h| {
        Argon2::default()
            .verify_password(password.as_bytes(), &h)
            .is_ok()
    })
}

/// A hash no password matches, verified against when the user does not exist so that an unknown
/// name takes as long to refuse as a wrong password.
fn decoy_hash() -> &'static str {
    static DECOY: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    DECOY.get_or_init(|| hash_password(&random_token().unwrap_or_default()).unwrap_or_default())
}

/// Why an account action failed.
#[derive(Debug, thiserror::Error)]
pub enum AccountError {
    /// The input is wrong: what, and how to fix it.
    #[error("{0}")]
    Invalid(String),
    /// Wrong name or password (which of the two is not said).
    #[error("wrong username or password")]
    BadCredentials,
    /// Not found.
    #[error("{0}")]
    NotFound(String),
    /// In the way of the current state.
    #[error("{0}")]
    Conflict(String),
    /// Not allowed for this caller.
    #[error("{0}")]
    Forbidden(String),
    /// Something broke on our side.
    #[error("{0}")]
    Internal(String),
}

impl From<StoreError> for AccountError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::UsernameTaken(name) => Self::Conflict(format!(
                "a user named \"{name}\" already exists: choose another name"
            )),
            StoreError::UserNotFound(id) => Self::NotFound(format!("no user {id}")),
            StoreError::TokenNotFound(id) => Self::NotFound(format!("no API token {id}")),
            StoreError::LastAdmin => Self::Conflict(
                "that would leave no enabled admin: make another user admin first".into(),
            ),
            e => {
                tracing::error!(error = %e, "database");
                Self::Internal(format!("the database failed: {e}"))
            }
        }
    }
}

fn check_username(name: &str) -> Result<(), AccountError> {
    let ok = (1..=64).contains(&name.len())
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-' | '@'));
    if ok {
        Ok(())
    } else {
        Err(AccountError::Invalid(format!(
            "username \"{name}\" is not allowed: use 1-64 letters, digits, '.', '_', '-' or '@'"
        )))
    }
}

fn check_password(password: &str) -> Result<(), AccountError> {
    if password.chars().count() < MIN_PASSWORD || password.len() > 1024 {
        return Err(AccountError::Invalid(format!(
            "the password must have {MIN_PASSWORD} to 1024 characters"
        )));
    }
    Ok(())
}

/// Account actions, each checked and audited. Shared by the REST API and the server functions.
#[derive(Debug, Clone)]
pub struct Accounts {
    store: Store,
}

impl Accounts {
    /// Account actions over `store`.
    #[must_use]
    pub const fn new(store: Store) -> Self {
        Self { store }
    }

    /// Creates `admin` on first start: with `password` when given, else a random one that is
    /// returned (for the caller to print once). `None` when users exist already.
    ///
    /// # Errors
    /// [`AccountError::Invalid`] for a given password that is too short.
    pub async fn ensure_admin(
        &self,
        password: Option<&str>,
    ) -> Result<Option<String>, AccountError> {
        if self.store.user_count().await? > 0 {
            return Ok(None);
        }
        let (password, generated) = match password {
            Some(p) => {
                check_password(p)
                    .map_err(|e| AccountError::Invalid(format!("MIGBOARD_ADMIN_PASSWORD: {e}")))?;
                (p.to_owned(), false)
            }
            None => (
                random_token().map_err(AccountError::Internal)?[..24].to_owned(),
                true,
            ),
        };
        let user = self
            .store
            .create_user("admin", &hash_password(&password)?, Role::Admin)
            .await?;
        self.store
            .audit(&Actor::new("system", "local").audit(
                "user.create",
                format!("user {} ({})", user.id, user.username),
                "first start: role admin".into(),
            ))
            .await?;
        Ok(generated.then_some(password))
    }

    /// Checks a name and password; audits failures and successes.
    ///
    /// # Errors
    /// [`AccountError::BadCredentials`] for an unknown name, a wrong password or a disabled user.
    pub async fn check_login(
        &self,
        username: &str,
        password: &str,
        source: &str,
        how: &str,
    ) -> Result<UserInfo, AccountError> {
        let found = self.store.user_credentials(username).await?;
        let (ok, user) = match &found {
            Some((user, hash)) => (
                verify_password(password, hash) && !user.disabled,
                Some(user),
            ),
            None => {
                let _ = verify_password(password, decoy_hash());
                (false, None)
            }
        };
        let Some(user) = user.filter(|_| ok) else {
            tracing::warn!(username, source, "sign-in refused");
            self.store
                .audit(
                    &Actor::new(username.chars().take(64).collect::<String>(), source).audit(
                        "login.failed",
                        format!("{how} sign-in"),
                        String::new(),
                    ),
                )
                .await?;
            return Err(AccountError::BadCredentials);
        };
        self.store.record_login(user.id).await?;
        self.store
            .audit(&Actor::new(user.username.clone(), source).audit(
                "login",
                format!("{how} sign-in"),
                String::new(),
            ))
            .await?;
        Ok(user.clone())
    }

    /// The user a Bearer token signs in, as a [`Caller`].
    ///
    /// # Errors
    /// [`AccountError::Internal`] on database failure.
    pub async fn token_caller(
        &self,
        token: &str,
        source: &str,
    ) -> Result<Option<Caller>, AccountError> {
        Ok(self.store.token_user(token).await?.map(|(t, u)| Caller {
            user_id: u.id,
            username: u.username,
            role: u.role,
            via: format!("token {}", t.name),
            source: source.into(),
        }))
    }

    /// Creates an API token for the caller (valid `days` days, 1-365; `None`: no expiry).
    ///
    /// # Errors
    /// [`AccountError::Invalid`] for a bad name or lifetime.
    pub async fn create_token(
        &self,
        caller: &Caller,
        name: &str,
        days: Option<u32>,
    ) -> Result<CreatedToken, AccountError> {
        let name = name.trim();
        if name.is_empty() || name.len() > 64 || name.chars().any(char::is_control) {
            return Err(AccountError::Invalid(
                "give the token a name of 1-64 characters that says what uses it, e.g. \"ci\""
                    .into(),
            ));
        }
        if days.is_some_and(|d| !(1..=365).contains(&d)) {
            return Err(AccountError::Invalid(
                "a token lives 1 to 365 days; leave the lifetime out for a token that does not expire".into(),
            ));
        }
        let token = format!("mgb_{}", random_token().map_err(AccountError::Internal)?);
        let expires = days.map(|d| crate::store::now_ms() + i64::from(d) * 86_400_000);
        let info = self
            .store
            .create_token(caller.user_id, name, &token, expires)
            .await?;
        self.store
            .audit(&Actor::of(caller).audit(
                "token.create",
                format!("token {} ({})", info.id, info.name),
                days.map_or_else(|| "no expiry".into(), |d| format!("{d} days")),
            ))
            .await?;
        Ok(CreatedToken { info, token })
    }

    /// The caller's tokens (an admin's list has everyone's).
    ///
    /// # Errors
    /// [`AccountError::Internal`] on database failure.
    pub async fn tokens(&self, caller: &Caller) -> Result<Vec<TokenInfo>, AccountError> {
        let whose = (caller.role != Role::Admin).then_some(caller.user_id);
        Ok(self.store.tokens(whose).await?)
    }

    /// Revokes a token of the caller's (an admin may revoke anyone's).
    ///
    /// # Errors
    /// [`AccountError::NotFound`] when there is no such token, or it is someone else's and the caller
    /// is not an admin (not [`AccountError::Forbidden`]: other users' token ids are not disclosed).
    pub async fn revoke_token(&self, caller: &Caller, id: i64) -> Result<TokenInfo, AccountError> {
        let owner = self.store.token_owner(id).await?;
        if owner != caller.user_id && caller.role != Role::Admin {
            return Err(AccountError::NotFound(format!("no API token {id}")));
        }
        let info = self.store.revoke_token(id).await?;
        self.store
            .audit(&Actor::of(caller).audit(
                "token.revoke",
                format!("token {} ({}) of {}", info.id, info.name, info.username),
                String::new(),
            ))
            .await?;
        Ok(info)
    }

    /// Every user.
    ///
    /// # Errors
    /// [`AccountError::Internal`] on database failure.
    pub async fn users(&self) -> Result<Vec<UserInfo>, AccountError> {
        Ok(self.store.users().await?)
    }

    /// Creates a user.
    ///
    /// # Errors
    /// [`AccountError::Invalid`] for a bad name or short password; [`AccountError::Conflict`] when
    /// the name is taken.
    pub async fn create_user(
        &self,
        caller: &Caller,
        username: &str,
        password: &str,
        role: Role,
    ) -> Result<UserInfo, AccountError> {
        check_username(username)?;
        check_password(password)?;
        let user = self
            .store
            .create_user(username, &hash_password(password)?, role)
            .await?;
        self.store
            .audit(&Actor::of(caller).audit(
                "user.create",
                format!("user {} ({})", user.id, user.username),
                format!("role {role}"),
            ))
            .await?;
        Ok(user)
    }

    /// Changes a user's role, enabled state or password.
    ///
    /// # Errors
    /// [`AccountError::Invalid`] for a short password or an empty change; [`AccountError::Conflict`]
    /// when no enabled admin would be left.
    pub async fn update_user(
        &self,
        caller: &Caller,
        id: i64,
        role: Option<Role>,
        disabled: Option<bool>,
        password: Option<&str>,
    ) -> Result<UserInfo, AccountError> {
        if role.is_none() && disabled.is_none() && password.is_none() {
            return Err(AccountError::Invalid(
                "nothing to change: give role, disabled or password".into(),
            ));
        }
        let password_hash = match password {
            Some(p) => {
                check_password(p)?;
                Some(hash_password(p)?)
            }
            None => None,
        };
        let user = self
            .store
            .update_user(
                id,
                &UserChange {
                    role,
                    disabled,
                    password_hash,
                },
            )
            .await?;
        let mut what = Vec::new();
        if let Some(r) = role {
            what.push(format!("role {r}"));
        }
        if let Some(d) = disabled {
            what.push(if d { "disabled" } else { "enabled" }.to_owned());
        }
        if password.is_some() {
            what.push("password set".to_owned());
        }
        self.store
            .audit(&Actor::of(caller).audit(
                "user.update",
                format!("user {} ({})", user.id, user.username),
                what.join(", "),
            ))
            .await?;
        Ok(user)
    }

    /// The newest audit records.
    ///
    /// # Errors
    /// [`AccountError::Internal`] on database failure.
    pub async fn audit_log(&self, limit: i64) -> Result<Vec<AuditRecord>, AccountError> {
        Ok(self.store.audit_log(limit.clamp(1, 1000)).await?)
    }
}

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

/// State of the authentication middleware.
#[derive(Clone)]
pub struct AuthState {
    /// Account actions.
    pub accounts: Accounts,
    limiter: Arc<
        tower_governor::governor::GovernorConfig<
            ClientIp,
            governor::middleware::NoOpMiddleware<governor::clock::QuantaInstant>,
        >,
    >,
}

impl std::fmt::Debug for AuthState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AuthState").finish_non_exhaustive()
    }
}

impl AuthState {
    /// Authentication over `store`, with the login rate limit.
    ///
    /// # Panics
    /// Never: the limiter's constants are valid.
    #[must_use]
    pub fn new(store: Store) -> Self {
        let limiter = tower_governor::governor::GovernorConfigBuilder::default()
            .period(LOGIN_REFILL)
            .burst_size(LOGIN_BURST)
            .key_extractor(ClientIp)
            .finish()
            .expect("nonzero period and burst");
        Self {
            accounts: Accounts::new(store),
            limiter: Arc::new(limiter),
        }
    }
}

/// The client's address as the rate-limit key: the TCP peer (migboard does not trust
/// `X-Forwarded-For`; behind a proxy every client shares the proxy's budget).
#[derive(Debug, Clone, Copy)]
pub struct ClientIp;

impl tower_governor::key_extractor::KeyExtractor for ClientIp {
    type Key = IpAddr;

    fn extract<T>(
        &self,
        req: &axum::http::Request<T>,
    ) -> Result<IpAddr, tower_governor::GovernorError> {
        Ok(client_ip(req))
    }
}

fn client_ip<T>(req: &axum::http::Request<T>) -> IpAddr {
    peer_ip(req.extensions())
}

/// The TCP peer's address; unspecified when the server has none (tests calling the router directly).
fn peer_ip(extensions: &axum::http::Extensions) -> IpAddr {
    extensions
        .get::<ConnectInfo<SocketAddr>>()
        .map_or(IpAddr::V4(Ipv4Addr::UNSPECIFIED), |c| c.0.ip())
}

/// Whether `path` is a server function's (`/api/{endpoint}`, not the REST API under `/api/v1/`).
fn is_server_fn(path: &str) -> bool {
    path.starts_with("/api/") && !path.starts_with("/api/v1/")
}

/// A server function's error, as its client decodes it.
fn server_fn_error(status: StatusCode, error: &app::error::AppError) -> Response {
    (
        status,
        [(header::CONTENT_TYPE, "application/json")],
        serde_json::to_string(error).unwrap_or_default(),
    )
        .into_response()
}

fn is_login(method: &Method, path: &str) -> bool {
    *method == Method::POST && matches!(path, "/login" | "/api/v1/login")
}

/// Finds out who is asking (API token or session), enforces [`policy`], rate-limits sign-in, and
/// attaches the [`Caller`] for handlers. Runs inside the session layer.
pub async fn authenticate(State(auth): State<AuthState>, mut req: Request, next: Next) -> Response {
    let method = req.method().clone();
    let path = req.uri().path().to_owned();
    let ip = client_ip(&req);
    let source = ip.to_string();
    if is_login(&method, &path)
        && let Err(not_until) = auth.limiter.limiter().check_key(&ip)
    {
        let wait = not_until
            .wait_time_from(governor::clock::Clock::now(
                &governor::clock::QuantaClock::default(),
            ))
            .as_secs()
            .max(1);
        tracing::warn!(source, "sign-in rate limit");
        if path == "/login" {
            return Redirect::to("/login?error=rate").into_response();
        }
        let mut res = ApiError::TooMany {
            message: "too many sign-in attempts from this address".into(),
            hint: format!("wait {wait} s and try again"),
        }
        .into_response();
        if let Ok(v) = HeaderValue::from_str(&wait.to_string()) {
            res.headers_mut().insert(header::RETRY_AFTER, v);
        }
        return res;
    }
    let bearer = req
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .map(|t| t.trim().to_owned());
    let need = policy(&method, &path);
    // Public routes do not look at the caller (static files, health checks, share links, sign-in),
    // so they cost no session or token lookup; public server functions (`whoami`) do.
    let caller = match bearer {
        _ if need == Need::Public && !is_server_fn(&path) => None,
        Some(token) => match auth.accounts.token_caller(&token, &source).await {
            Ok(Some(c)) => Some(c),
            // A public route (a share link, sign-in) serves anyone, even with a stale token.
            Ok(None) if need == Need::Public => None,
            Ok(None) => {
                return ApiError::Unauthorized {
                    message: "the API token is unknown, revoked or expired".into(),
                    hint: "create a token with POST /api/v1/login or in Settings, and send it as `Authorization: Bearer <token>`".into(),
                }
                .into_response();
            }
            Err(e) => return ApiError::from(e).into_response(),
        },
        None => match req.extensions().get::<Session>().cloned() {
            Some(session) => session_caller(&auth.accounts.store, &session, &source).await,
            None => None,
        },
    };
    if let Need::Role(role) = need {
        let server_fn = is_server_fn(&path);
        match &caller {
            None if path.starts_with("/api/") => {
                let msg = "sign in first";
                return if server_fn {
                    server_fn_error(
                        StatusCode::UNAUTHORIZED,
                        &app::error::AppError::Unauthorized(msg.into()),
                    )
                } else {
                    ApiError::Unauthorized {
                        message: msg.into(),
                        hint: "sign in at /login, or send `Authorization: Bearer <token>` (POST /api/v1/login gives one)".into(),
                    }
                    .into_response()
                };
            }
            None if matches!(method, Method::GET | Method::HEAD) => {
                let next = req
                    .uri()
                    .path_and_query()
                    .map_or("/", axum::http::uri::PathAndQuery::as_str)
                    .to_owned();
                return Redirect::to(&format!("/login?next={}", encode(&next))).into_response();
            }
            None => return StatusCode::UNAUTHORIZED.into_response(),
            Some(c) if c.role < role => {
                let msg = format!(
                    "{} is {}; this needs {}",
                    c.username,
                    with_article(c.role),
                    with_article(role)
                );
                return if server_fn {
                    server_fn_error(StatusCode::FORBIDDEN, &app::error::AppError::Forbidden(msg))
                } else if path.starts_with("/api/") {
                    ApiError::Forbidden {
                        message: msg,
                        hint: "ask an admin for the role".into(),
                    }
                    .into_response()
                } else {
                    (StatusCode::FORBIDDEN, msg).into_response()
                };
            }
            Some(_) => {}
        }
    }
    if let Some(c) = caller {
        req.extensions_mut().insert(c);
    }
    next.run(req).await
}

fn with_article(role: Role) -> &'static str {
    match role {
        Role::Viewer => "a viewer",
        Role::Operator => "an operator",
        Role::Admin => "an admin",
    }
}

/// Percent-encodes a path for a query value.
fn encode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' | b'/' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

async fn session_caller(store: &Store, session: &Session, source: &str) -> Option<Caller> {
    let uid: i64 = session.get(SESSION_UID).await.ok()??;
    let login_ms: i64 = session.get(SESSION_LOGIN_MS).await.ok()??;
    let age_ms = crate::store::now_ms().saturating_sub(login_ms);
    if age_ms > i64::try_from(ABSOLUTE.as_millis()).unwrap_or(i64::MAX) {
        let _ = session.flush().await;
        return None;
    }
    let user = store.user(uid).await.ok()??;
    if user.disabled {
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
    Some(Caller {
        user_id: user.id,
        username: user.username,
        role: user.role,
        via: "session".into(),
        source: source.into(),
    })
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

/// Where to go after signing in: a local path only (never another site).
#[must_use]
pub fn safe_next(next: Option<&str>) -> String {
    match next {
        Some(n)
            if n.starts_with('/')
                && !n.starts_with("//")
                && !n.contains('\\')
                && !n.starts_with("/login") =>
        {
            n.to_owned()
        }
        _ => "/".to_owned(),
    }
}

/// The sign-in form's fields.
#[derive(Debug, serde::Deserialize)]
pub struct LoginForm {
    /// Login name.
    pub username: String,
    /// Password.
    pub password: String,
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
            &form.password,
            &ip.to_string(),
            "browser",
        )
        .await
    {
        Ok(user) => match start_session(&session, &user).await {
            Ok(()) => Redirect::to(&next).into_response(),
            Err(e) => (StatusCode::SERVICE_UNAVAILABLE, e.to_string()).into_response(),
        },
        Err(AccountError::BadCredentials) => {
            Redirect::to(&format!("/login?error=credentials&next={}", encode(&next)))
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

/// The peer address when the server has it (tests calling the router directly do not).
#[derive(Debug, Clone, Copy)]
pub struct ConnectInfoOpt(pub IpAddr);

impl<S: Send + Sync> axum::extract::FromRequestParts<S> for ConnectInfoOpt {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(
        parts: &mut axum::http::request::Parts,
        _state: &S,
    ) -> Result<Self, Self::Rejection> {
        Ok(Self(peer_ip(&parts.extensions)))
    }
}

/// Gives a server function's error its HTTP status. Leptos answers every server-function error with
/// 500; the body is our [`app::error::AppError`], whose variant says what happened (a revoked share
/// link is a 410, not a server fault), so logs and monitoring see the truth.
pub async fn server_fn_status(req: Request, next: Next) -> Response {
    let server_fn = is_server_fn(req.uri().path());
    let res = next.run(req).await;
    if !server_fn || res.status() != StatusCode::INTERNAL_SERVER_ERROR {
        return res;
    }
    let (mut parts, body) = res.into_parts();
    let Ok(bytes) = axum::body::to_bytes(body, 1 << 20).await else {
        return (StatusCode::INTERNAL_SERVER_ERROR, "error body too large").into_response();
    };
    if let Ok(error) = serde_json::from_slice::<app::error::AppError>(&bytes) {
        use app::error::AppError as E;
        parts.status = match error {
            E::Unavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
            E::BadRequest(_) => StatusCode::BAD_REQUEST,
            E::NotFound(_) => StatusCode::NOT_FOUND,
            E::Gone(_) => StatusCode::GONE,
            E::Conflict(_) => StatusCode::CONFLICT,
            E::Unauthorized(_) => StatusCode::UNAUTHORIZED,
            E::Forbidden(_) => StatusCode::FORBIDDEN,
            E::Transport(_) => StatusCode::INTERNAL_SERVER_ERROR,
        };
    }
    Response::from_parts(parts, axum::body::Body::from(bytes))
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
