//! Account actions (users, API tokens, sign-in checks, the audit log), each checked and audited.
//! Shared by the REST API and the server functions.

use mig::wire::{AuditRecord, Caller, CreatedToken, Role, TokenInfo, UserInfo, Via};

use super::password::{check_password, decoy_hash, hash_password, verify_password};
use crate::audit::{Actor, random_token};
use crate::store::{Store, StoreError, UserChange};

/// An API token's lifetime when none is asked for, in days.
pub const DEFAULT_TOKEN_DAYS: u32 = 30;
/// The longest an API token lives, in days.
pub const MAX_TOKEN_DAYS: u32 = 365;

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
    /// Too many sign-in attempts for this username: wait this many seconds.
    #[error("too many sign-in attempts for this user: wait {0} s")]
    TooMany(u64),
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

/// Account actions, each checked and audited. Shared by the REST API and the server functions.
#[derive(Clone)]
pub struct Accounts {
    pub(super) store: Store,
    /// Sign-in attempts per username (lowercased, from any address).
    per_user: std::sync::Arc<super::Limiter<String>>,
}

impl std::fmt::Debug for Accounts {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Accounts").field("store", &self.store).finish_non_exhaustive()
    }
}

impl Accounts {
    /// Account actions over `store`.
    #[must_use]
    pub fn new(store: Store) -> Self {
        Self {
            store,
            per_user: super::limiter(super::USER_LOGIN_BURST, super::USER_LOGIN_REFILL),
        }
    }

    /// The per-username sign-in limit (for pruning).
    pub(super) fn user_limiter(&self) -> std::sync::Arc<super::Limiter<String>> {
        std::sync::Arc::clone(&self.per_user)
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
                random_token().map_err(|e| AccountError::Internal(e.to_string()))?[..24].to_owned(),
                true,
            ),
        };
        let mut user = self
            .store
            .create_user("admin", &hash_password(&password)?, Role::Admin)
            .await?;
        if generated {
            // Printed in a log: whoever reads it first must not keep using it.
            user = self
                .store
                .update_user(
                    user.id,
                    &UserChange {
                        must_change_password: Some(true),
                        ..UserChange::default()
                    },
                )
                .await?;
        }
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
        // One budget per name, whoever asks: checked before the password, so a flood of guesses
        // against one user costs them no hashing and leaves every other user's budget alone.
        let key: String = username.chars().take(64).collect::<String>().to_lowercase();
        if let Err(not_until) = self.per_user.check_key(&key) {
            let wait = super::wait_secs(&not_until);
            tracing::warn!(username = %key, source, "sign-in limit for this username");
            return Err(AccountError::TooMany(wait));
        }
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

    /// The user a Bearer token signs in, as a [`Caller`], and whether they must change their
    /// password before anything else.
    ///
    /// # Errors
    /// [`AccountError::Internal`] on database failure.
    pub async fn token_caller(
        &self,
        token: &str,
        source: &str,
    ) -> Result<Option<(Caller, bool)>, AccountError> {
        Ok(self.store.token_user(token).await?.map(|(t, u)| {
            (
                Caller {
                    user_id: u.id,
                    username: u.username,
                    role: u.role,
                    via: Via::Token(t.name.clone()),
                    source: source.into(),
                },
                u.must_change_password,
            )
        }))
    }

    /// Creates an API token for the caller, valid `days` days: 1 to [`MAX_TOKEN_DAYS`], `None` for
    /// [`DEFAULT_TOKEN_DAYS`]. Every token expires: a leaked one must stop working by itself.
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
        let days = days.unwrap_or(DEFAULT_TOKEN_DAYS);
        if !(1..=MAX_TOKEN_DAYS).contains(&days) {
            return Err(AccountError::Invalid(format!(
                "a token lives 1 to {MAX_TOKEN_DAYS} days, not {days}; leave `days` out for {DEFAULT_TOKEN_DAYS}"
            )));
        }
        let token = format!(
            "mgb_{}",
            random_token().map_err(|e| AccountError::Internal(e.to_string()))?
        );
        let expires = Some(crate::store::now_ms() + i64::from(days) * 86_400_000);
        let info = self
            .store
            .create_token(caller.user_id, name, &token, expires)
            .await?;
        self.store
            .audit(&Actor::of(caller).audit(
                "token.create",
                format!("token {} ({})", info.id, info.name),
                format!("{days} days"),
            ))
            .await?;
        Ok(CreatedToken {
            info,
            token: token.into(),
        })
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

    /// The caller changes their own password, proving they know the current one. Ends every session
    /// and API token of theirs (the caller's own session is started again by the caller's handler).
    ///
    /// # Errors
    /// [`AccountError::Invalid`] when the current password is wrong, the new one is too short or the
    /// same as the current one; [`AccountError::Internal`] on database failure.
    pub async fn change_own_password(
        &self,
        caller: &Caller,
        current: &str,
        new: &str,
    ) -> Result<UserInfo, AccountError> {
        let Some((user, hash)) = self.store.user_credentials(&caller.username).await? else {
            return Err(AccountError::NotFound(format!(
                "no user {}",
                caller.username
            )));
        };
        if !verify_password(current, &hash) {
            self.store
                .audit(&Actor::of(caller).audit(
                    "user.password.failed",
                    format!("user {} ({})", user.id, user.username),
                    "wrong current password".into(),
                ))
                .await?;
            return Err(AccountError::Invalid(
                "the current password is wrong: type the one you signed in with".into(),
            ));
        }
        if current == new {
            return Err(AccountError::Invalid(
                "the new password is the current one: choose a different one".into(),
            ));
        }
        check_password(new)?;
        let user = self
            .store
            .update_user(
                user.id,
                &UserChange {
                    password_hash: Some(hash_password(new)?),
                    ..UserChange::default()
                },
            )
            .await?;
        self.store
            .audit(&Actor::of(caller).audit(
                "user.password",
                format!("user {} ({})", user.id, user.username),
                "own password changed: sessions and API tokens ended".into(),
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
                    must_change_password: None,
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
            what.push("password set: sessions and API tokens ended".to_owned());
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
