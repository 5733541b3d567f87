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

mod accounts;
pub mod client;
mod login;
mod middleware;
mod password;
mod policy;
mod sessions;

use std::sync::Arc;
use std::time::Duration;

pub use accounts::{AccountError, Accounts, DEFAULT_TOKEN_DAYS, MAX_TOKEN_DAYS};
pub use login::{LoginForm, login_form, logout, safe_next};
pub use middleware::{ConnectInfoOpt, authenticate, server_fn_status};
pub use password::{hash_password, verify_password};
pub use policy::{Need, policy, server_fn_policy};
pub use sessions::{
    CookiePolicy, DbSessions, partition_cookie, renew_after_password_change, session_layer,
    spawn_session_cleanup, start_session,
};

use crate::store::Store;

/// The session cookie's name.
pub const COOKIE: &str = "migboard_session";
/// A session ends after this long without a request.
pub const IDLE: Duration = Duration::from_secs(12 * 3600);
/// A session ends this long after sign-in, however active.
pub const ABSOLUTE: Duration = Duration::from_secs(7 * 24 * 3600);
/// Shortest password migboard accepts.
pub const MIN_PASSWORD: usize = 12;
/// Sign-in attempts a client may make at once, then one more every [`LOGIN_REFILL`].
pub const LOGIN_BURST: u32 = 5;
/// How often a client earns one more sign-in attempt.
pub const LOGIN_REFILL: Duration = Duration::from_secs(12);
/// Sign-in attempts for one username (from anywhere) at once, then one more every
/// [`USER_LOGIN_REFILL`]: a botnet guessing one name is slowed whatever its addresses.
pub const USER_LOGIN_BURST: u32 = 10;
/// How often a username earns one more sign-in attempt.
pub const USER_LOGIN_REFILL: Duration = Duration::from_secs(6);
/// How often the limits forget keys that are back to a full budget.
const PRUNE_EVERY: Duration = Duration::from_secs(60);

/// A keyed sign-in budget.
pub(crate) type Limiter<K> = governor::DefaultKeyedRateLimiter<K>;

/// Whole seconds (at least 1) until a refused sign-in may try again.
pub(crate) fn wait_secs(not_until: &governor::NotUntil<governor::clock::QuantaInstant>) -> u64 {
    not_until
        .wait_time_from(governor::clock::Clock::now(
            &governor::clock::QuantaClock::default(),
        ))
        .as_secs()
        .max(1)
}

/// A budget of `burst` attempts per key, one more every `refill`.
fn limiter<K: std::hash::Hash + Eq + Clone>(burst: u32, refill: Duration) -> Arc<Limiter<K>> {
    let burst = std::num::NonZeroU32::new(burst).unwrap_or(std::num::NonZeroU32::MIN);
    let quota = governor::Quota::with_period(refill)
        .unwrap_or_else(|| governor::Quota::per_second(std::num::NonZeroU32::MIN))
        .allow_burst(burst);
    Arc::new(governor::RateLimiter::keyed(quota))
}

/// What a request proved who it is with, kept (as a request extension) by [`authenticate`] so a
/// long-lived response can ask again whether it still holds ([`AuthState::still_valid`]).
#[derive(Debug, Clone)]
pub enum Credential {
    /// A browser session, by its id.
    Session(tower_sessions::session::Id),
    /// An API token.
    Token(mig::wire::Secret),
}

/// State of the authentication middleware.
#[derive(Clone)]
pub struct AuthState {
    /// Account actions.
    pub accounts: Accounts,
    /// Sign-in attempts per client address ([`client::limit_key`]).
    limiter: Arc<Limiter<std::net::IpAddr>>,
    /// Whose `X-Forwarded-For` is believed.
    trusted: client::TrustedProxies,
}

impl std::fmt::Debug for AuthState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AuthState").finish_non_exhaustive()
    }
}

impl AuthState {
    /// Authentication over `store`, with the sign-in limits (per client address and per username)
    /// and no trusted proxy.
    #[must_use]
    pub fn new(store: Store) -> Self {
        Self {
            accounts: Accounts::new(store),
            limiter: limiter(LOGIN_BURST, LOGIN_REFILL),
            trusted: client::TrustedProxies::default(),
        }
    }

    /// The same state, believing `X-Forwarded-For` from `trusted` (the ingress in front of us).
    #[must_use]
    pub fn with_trusted_proxies(mut self, trusted: client::TrustedProxies) -> Self {
        self.trusted = trusted;
        self
    }

    /// Whether `credential` still stands for an enabled user: the session exists (not signed out,
    /// not expired, no password change since), the token is neither revoked nor expired. Read from
    /// the database (nothing in this process's memory), so a change made through any replica counts.
    pub async fn still_valid(&self, credential: &Credential) -> bool {
        match credential {
            Credential::Session(id) => sessions::session_still_valid(&self.accounts.store, id).await,
            Credential::Token(token) => matches!(
                self.accounts.store.token_active(token.expose()).await,
                Ok(true)
            ),
        }
    }

    /// Forgets the keys of both sign-in limits that are back to a full budget, every minute, so a
    /// flood of addresses or names does not grow memory without bound.
    pub fn spawn_pruning(&self) {
        let by_address = Arc::clone(&self.limiter);
        let by_user = self.accounts.user_limiter();
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(PRUNE_EVERY);
            loop {
                tick.tick().await;
                by_address.retain_recent();
                by_address.shrink_to_fit();
                by_user.retain_recent();
                by_user.shrink_to_fit();
            }
        });
    }
}
