//! Users, API tokens and browser sessions. Passwords arrive here already hashed (argon2id, in
//! `crate::auth`); tokens and session ids are kept only as SHA-256 hashes, so a copy of the
//! database opens no account.

use mig::wire::{Role, TokenInfo, UserInfo};
use sqlx::Row;
use sqlx::any::AnyRow;

use super::{Store, StoreError, now_ms, token_hash};

fn user_from(r: &AnyRow) -> Result<UserInfo, StoreError> {
    let role: String = r.try_get("role")?;
    Ok(UserInfo {
        id: r.try_get("id")?,
        username: r.try_get("username")?,
        role: Role::parse(&role).ok_or_else(|| StoreError::Corrupt(format!("role `{role}`")))?,
        disabled: r.try_get::<i64, _>("disabled")? != 0,
        created_ms: r.try_get("created_ms")?,
        last_login_ms: r.try_get("last_login_ms")?,
        must_change_password: r.try_get::<i64, _>("must_change_password")? != 0,
    })
}

fn token_from(r: &AnyRow) -> Result<TokenInfo, StoreError> {
    Ok(TokenInfo {
        id: r.try_get("id")?,
        name: r.try_get("name")?,
        username: r.try_get("username")?,
        created_ms: r.try_get("created_ms")?,
        expires_ms: r.try_get("expires_ms")?,
        last_used_ms: r.try_get("last_used_ms")?,
        revoked_ms: r.try_get("revoked_ms")?,
    })
}

const USER_COLUMNS: &str =
    "id, username, role, disabled, created_ms, last_login_ms, must_change_password";
const TOKEN_SELECT: &str = "SELECT t.id, t.name, u.username, t.created_ms, t.expires_ms, t.last_used_ms, t.revoked_ms \
     FROM api_tokens t JOIN users u ON u.id = t.user_id";

/// A change to a user; `None` leaves that part as it is.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct UserChange {
    /// New role.
    pub role: Option<Role>,
    /// Disable (or enable) the account.
    pub disabled: Option<bool>,
    /// New password hash (argon2id PHC string).
    pub password_hash: Option<String>,
    /// Whether the password must be changed at the next sign-in. `None` leaves it, except that a
    /// new password clears it.
    pub must_change_password: Option<bool>,
}

impl Store {
    /// How many users exist (the first start creates `admin` when none do).
    ///
    /// # Errors
    /// [`StoreError::Db`] on database failure.
    pub async fn user_count(&self) -> Result<i64, StoreError> {
        Ok(sqlx::query("SELECT COUNT(*) FROM users")
            .fetch_one(&self.pool)
            .await?
            .try_get(0)?)
    }

    /// Creates a user.
    ///
    /// # Errors
    /// [`StoreError::UsernameTaken`] when the name exists.
    pub async fn create_user(
        &self,
        username: &str,
        password_hash: &str,
        role: Role,
    ) -> Result<UserInfo, StoreError> {
        let row = sqlx::query(&format!(
            "INSERT INTO users (username, password_hash, role, disabled, created_ms) VALUES ($1, $2, $3, 0, $4) \
             RETURNING {USER_COLUMNS}"
        ))
        .bind(username)
        .bind(password_hash)
        .bind(role.as_str())
        .bind(now_ms())
        .fetch_one(&self.pool)
        .await
        .map_err(|e| match e {
            sqlx::Error::Database(d) if d.is_unique_violation() => {
                StoreError::UsernameTaken(username.to_owned())
            }
            e => e.into(),
        })?;
        user_from(&row)
    }

    /// A user and their password hash, by login name.
    ///
    /// # Errors
    /// [`StoreError::Db`] on database failure.
    pub async fn user_credentials(
        &self,
        username: &str,
    ) -> Result<Option<(UserInfo, String)>, StoreError> {
        let row = sqlx::query(&format!(
            "SELECT {USER_COLUMNS}, password_hash FROM users WHERE username = $1"
        ))
        .bind(username)
        .fetch_optional(&self.pool)
        .await?;
        row.map(|r| Ok((user_from(&r)?, r.try_get("password_hash")?)))
            .transpose()
    }

    /// A user by id.
    ///
    /// # Errors
    /// [`StoreError::Db`] on database failure.
    pub async fn user(&self, id: i64) -> Result<Option<UserInfo>, StoreError> {
        sqlx::query(&format!("SELECT {USER_COLUMNS} FROM users WHERE id = $1"))
            .bind(id)
            .fetch_optional(&self.pool)
            .await?
            .as_ref()
            .map(user_from)
            .transpose()
    }

    /// Every user, by name.
    ///
    /// # Errors
    /// [`StoreError::Db`] on database failure.
    pub async fn users(&self) -> Result<Vec<UserInfo>, StoreError> {
        sqlx::query(&format!(
            "SELECT {USER_COLUMNS} FROM users ORDER BY username"
        ))
        .fetch_all(&self.pool)
        .await?
        .iter()
        .map(user_from)
        .collect()
    }

    /// Changes a user, refusing a change that would leave no enabled admin (in one transaction).
    ///
    /// # Errors
    /// [`StoreError::UserNotFound`]; [`StoreError::LastAdmin`] when the change would remove the last
    /// enabled admin.
    pub async fn update_user(&self, id: i64, change: &UserChange) -> Result<UserInfo, StoreError> {
        let mut tx = self.pool.begin().await?;
        // Write first, so concurrent changes serialise on the row (see `record_step`).
        let updated = Self::apply_user_change(&mut tx, id, change).await?;
        if updated == 0 {
            return Err(StoreError::UserNotFound(id));
        }
        let admins: i64 =
            sqlx::query("SELECT COUNT(*) FROM users WHERE role = 'admin' AND disabled = 0")
                .fetch_one(&mut *tx)
                .await?
                .try_get(0)?;
        if admins == 0 {
            tx.rollback().await?;
            // Refused only if this change is what removes the last admin (a database without one,
            // which the first start prevents, does not block unrelated changes).
            let before = self.user(id).await?.ok_or(StoreError::UserNotFound(id))?;
            if before.role == Role::Admin && !before.disabled {
                return Err(StoreError::LastAdmin);
            }
            let mut tx = self.pool.begin().await?;
            Self::apply_user_change(&mut tx, id, change).await?;
            tx.commit().await?;
        } else {
            tx.commit().await?;
        }
        self.user(id).await?.ok_or(StoreError::UserNotFound(id))
    }

    async fn apply_user_change(
        tx: &mut sqlx::Transaction<'_, sqlx::Any>,
        id: i64,
        change: &UserChange,
    ) -> Result<u64, StoreError> {
        let updated = sqlx::query(
            "UPDATE users SET role = COALESCE($1, role), disabled = COALESCE($2, disabled), \
             password_hash = COALESCE($3, password_hash), credentials_ms = COALESCE($4, credentials_ms), \
             must_change_password = COALESCE($5, must_change_password) \
             WHERE id = $6",
        )
        .bind(change.role.map(Role::as_str))
        .bind(change.disabled.map(i64::from))
        .bind(change.password_hash.as_deref())
        .bind(change.password_hash.as_ref().map(|_| now_ms()))
        // A new password is the user's own unless the change says otherwise.
        .bind(
            change
                .must_change_password
                .or(change.password_hash.as_ref().map(|_| false))
                .map(i64::from),
        )
        .bind(id)
        .execute(&mut **tx)
        .await?
        .rows_affected();
        // A new password ends every way in the old one opened: sessions signed in before
        // `credentials_ms` are refused (`session_user`), and the user's API tokens are revoked.
        if updated > 0 && change.password_hash.is_some() {
            sqlx::query(
                "UPDATE api_tokens SET revoked_ms = $1 WHERE user_id = $2 AND revoked_ms IS NULL",
            )
            .bind(now_ms())
            .bind(id)
            .execute(&mut **tx)
            .await?;
        }
        Ok(updated)
    }

    /// A user by id with the time its password last changed (sessions that signed in before it
    /// are no longer valid).
    ///
    /// # Errors
    /// [`StoreError::Db`] on database failure.
    pub async fn session_user(&self, id: i64) -> Result<Option<(UserInfo, i64)>, StoreError> {
        let row = sqlx::query(&format!(
            "SELECT {USER_COLUMNS}, credentials_ms FROM users WHERE id = $1"
        ))
        .bind(id)
        .fetch_optional(&self.pool)
        .await?;
        row.map(|r| Ok((user_from(&r)?, r.try_get("credentials_ms")?)))
            .transpose()
    }

    /// Records a successful sign-in.
    ///
    /// # Errors
    /// [`StoreError::Db`] on database failure.
    pub async fn record_login(&self, id: i64) -> Result<(), StoreError> {
        sqlx::query("UPDATE users SET last_login_ms = $1 WHERE id = $2")
            .bind(now_ms())
            .bind(id)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    /// Stores a new API token of `user_id` (only its hash).
    ///
    /// # Errors
    /// [`StoreError::UserNotFound`] when the user does not exist.
    pub async fn create_token(
        &self,
        user_id: i64,
        name: &str,
        token: &str,
        expires_ms: Option<i64>,
    ) -> Result<TokenInfo, StoreError> {
        if self.user(user_id).await?.is_none() {
            return Err(StoreError::UserNotFound(user_id));
        }
        let row = sqlx::query(
            "INSERT INTO api_tokens (user_id, name, token_hash, created_ms, expires_ms) VALUES ($1, $2, $3, $4, $5) RETURNING id",
        )
        .bind(user_id)
        .bind(name)
        .bind(token_hash(token))
        .bind(now_ms())
        .bind(expires_ms)
        .fetch_one(&self.pool)
        .await?;
        let id: i64 = row.try_get(0)?;
        self.token(id).await?.ok_or(StoreError::TokenNotFound(id))
    }

    /// A token's record by id.
    ///
    /// # Errors
    /// [`StoreError::Db`] on database failure.
    pub async fn token(&self, id: i64) -> Result<Option<TokenInfo>, StoreError> {
        sqlx::query(&format!("{TOKEN_SELECT} WHERE t.id = $1"))
            .bind(id)
            .fetch_optional(&self.pool)
            .await?
            .as_ref()
            .map(token_from)
            .transpose()
    }

    /// Whether `token` is a live API token of an enabled user (not revoked, not expired). Only reads:
    /// event streams ask this every few seconds, and a token's last use is its connect.
    ///
    /// # Errors
    /// [`StoreError`] when the database fails.
    pub async fn token_active(&self, token: &str) -> Result<bool, StoreError> {
        let row = sqlx::query(
            "SELECT t.id FROM api_tokens t JOIN users u ON u.id = t.user_id \
             WHERE t.token_hash = $1 AND t.revoked_ms IS NULL AND (t.expires_ms IS NULL OR t.expires_ms > $2) \
             AND u.disabled = 0",
        )
        .bind(token_hash(token))
        .bind(now_ms())
        .fetch_optional(&self.pool)
        .await?;
        Ok(row.is_some())
    }

    /// The user a presented token signs in, with the token's id and name, when the token is known,
    /// unrevoked, unexpired and its user enabled; marks it used.
    ///
    /// # Errors
    /// [`StoreError::Db`] on database failure.
    pub async fn token_user(
        &self,
        token: &str,
    ) -> Result<Option<(TokenInfo, UserInfo)>, StoreError> {
        let now = now_ms();
        let row = sqlx::query(
            "SELECT t.id AS token_id FROM api_tokens t JOIN users u ON u.id = t.user_id \
             WHERE t.token_hash = $1 AND t.revoked_ms IS NULL AND (t.expires_ms IS NULL OR t.expires_ms > $2) \
             AND u.disabled = 0",
        )
        .bind(token_hash(token))
        .bind(now)
        .fetch_optional(&self.pool)
        .await?;
        let Some(row) = row else { return Ok(None) };
        let id: i64 = row.try_get("token_id")?;
        sqlx::query("UPDATE api_tokens SET last_used_ms = $1 WHERE id = $2")
            .bind(now)
            .bind(id)
            .execute(&self.pool)
            .await?;
        let Some(info) = self.token(id).await? else {
            return Ok(None);
        };
        let user = sqlx::query(&format!(
            "SELECT {USER_COLUMNS} FROM users WHERE id = (SELECT user_id FROM api_tokens WHERE id = $1)"
        ))
        .bind(id)
        .fetch_one(&self.pool)
        .await?;
        Ok(Some((info, user_from(&user)?)))
    }

    /// Tokens of one user (or of everyone), newest first.
    ///
    /// # Errors
    /// [`StoreError::Db`] on database failure.
    pub async fn tokens(&self, user_id: Option<i64>) -> Result<Vec<TokenInfo>, StoreError> {
        let rows = match user_id {
            Some(u) => {
                sqlx::query(&format!(
                    "{TOKEN_SELECT} WHERE t.user_id = $1 ORDER BY t.id DESC"
                ))
                .bind(u)
                .fetch_all(&self.pool)
                .await?
            }
            None => {
                sqlx::query(&format!("{TOKEN_SELECT} ORDER BY t.id DESC"))
                    .fetch_all(&self.pool)
                    .await?
            }
        };
        rows.iter().map(token_from).collect()
    }

    /// The id of the user owning a token.
    ///
    /// # Errors
    /// [`StoreError::TokenNotFound`].
    pub async fn token_owner(&self, id: i64) -> Result<i64, StoreError> {
        sqlx::query("SELECT user_id FROM api_tokens WHERE id = $1")
            .bind(id)
            .fetch_optional(&self.pool)
            .await?
            .ok_or(StoreError::TokenNotFound(id))?
            .try_get(0)
            .map_err(Into::into)
    }

    /// Revokes a token (revoking twice keeps the first time).
    ///
    /// # Errors
    /// [`StoreError::TokenNotFound`].
    pub async fn revoke_token(&self, id: i64) -> Result<TokenInfo, StoreError> {
        sqlx::query("UPDATE api_tokens SET revoked_ms = COALESCE(revoked_ms, $1) WHERE id = $2")
            .bind(now_ms())
            .bind(id)
            .execute(&self.pool)
            .await?;
        self.token(id).await?.ok_or(StoreError::TokenNotFound(id))
    }

    /// Saves a session record (keyed by the hash of its id: the database holds no usable cookie).
    ///
    /// # Errors
    /// [`StoreError::Db`] on database failure.
    pub async fn save_session(
        &self,
        id: &str,
        data: &str,
        expiry_ms: i64,
    ) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO sessions (id, data, expiry_ms) VALUES ($1, $2, $3) \
             ON CONFLICT (id) DO UPDATE SET data = excluded.data, expiry_ms = excluded.expiry_ms",
        )
        .bind(token_hash(id))
        .bind(data)
        .bind(expiry_ms)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// A session's data, unless it does not exist or has expired.
    ///
    /// # Errors
    /// [`StoreError::Db`] on database failure.
    pub async fn load_session(&self, id: &str) -> Result<Option<(String, i64)>, StoreError> {
        let row =
            sqlx::query("SELECT data, expiry_ms FROM sessions WHERE id = $1 AND expiry_ms > $2")
                .bind(token_hash(id))
                .bind(now_ms())
                .fetch_optional(&self.pool)
                .await?;
        row.map(|r| Ok((r.try_get(0)?, r.try_get(1)?))).transpose()
    }

    /// Whether a session with this id exists (expired or not).
    ///
    /// # Errors
    /// [`StoreError::Db`] on database failure.
    pub async fn session_exists(&self, id: &str) -> Result<bool, StoreError> {
        Ok(sqlx::query("SELECT 1 FROM sessions WHERE id = $1")
            .bind(token_hash(id))
            .fetch_optional(&self.pool)
            .await?
            .is_some())
    }

    /// Deletes a session.
    ///
    /// # Errors
    /// [`StoreError::Db`] on database failure.
    pub async fn delete_session(&self, id: &str) -> Result<(), StoreError> {
        sqlx::query("DELETE FROM sessions WHERE id = $1")
            .bind(token_hash(id))
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    /// Deletes expired sessions; returns how many.
    ///
    /// # Errors
    /// [`StoreError::Db`] on database failure.
    pub async fn delete_expired_sessions(&self) -> Result<u64, StoreError> {
        Ok(sqlx::query("DELETE FROM sessions WHERE expiry_ms <= $1")
            .bind(now_ms())
            .execute(&self.pool)
            .await?
            .rows_affected())
    }
}
