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
mod login;
mod middleware;
mod password;
mod policy;
mod sessions;

use std::sync::Arc;
use std::time::Duration;

pub use accounts::{AccountError, Accounts, DEFAULT_TOKEN_DAYS, MAX_TOKEN_DAYS};
pub use login::{LoginForm, login_form, logout, safe_next};
pub use middleware::{ClientIp, ConnectInfoOpt, authenticate, server_fn_status};
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
pub const MIN_PASSWORD: usize = 10;
/// Sign-in attempts a client may make at once, then one more every [`LOGIN_REFILL`].
pub const LOGIN_BURST: u32 = 5;
/// How often a client earns one more sign-in attempt.
pub const LOGIN_REFILL: Duration = Duration::from_secs(12);

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
