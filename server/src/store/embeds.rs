//! Signed embed links (#23): a token (only its SHA-256 kept), the one view it shows, the portals
//! that may frame it, its expiry and revocation.

use mig::wire::{EmbedInfo, EmbedView};
use sqlx::Row;
use sqlx::any::AnyRow;

use super::{LinkAccess, Store, StoreError, now_ms, token_hash};

const COLUMNS: &str = "id, view, origins, created_ms, expires_ms, revoked_ms, created_by";

impl Store {
    /// Records a link for `token` (random, made by the caller) showing `view` to frames of
    /// `origins`, valid `ttl_ms` from now.
    ///
    /// # Errors
    /// [`StoreError::Db`] on database failure.
    pub async fn create_embed(
        &self,
        token: &str,
        view: &EmbedView,
        origins: &[String],
        ttl_ms: i64,
        created_by: &str,
    ) -> Result<EmbedInfo, StoreError> {
        let now = now_ms();
        let expires_ms = now.saturating_add(ttl_ms);
        let origins_json = serde_json::to_string(origins)
            .map_err(|e| StoreError::Corrupt(format!("embed link origins: {e}")))?;
        let row = sqlx::query(
            "INSERT INTO embed_links (token_hash, view, origins, created_ms, expires_ms, created_by) \
             VALUES ($1, $2, $3, $4, $5, $6) RETURNING id",
        )
        .bind(token_hash(token))
        .bind(view.to_string())
        .bind(origins_json)
        .bind(now)
        .bind(expires_ms)
        .bind(created_by)
        .fetch_one(&self.pool)
        .await?;
        Ok(EmbedInfo {
            id: row.try_get(0)?,
            view: view.clone(),
            origins: origins.to_vec(),
            created_ms: now,
            expires_ms,
            revoked_ms: None,
            created_by: created_by.to_owned(),
        })
    }

    /// What embed token `token` opens now.
    ///
    /// # Errors
    /// [`StoreError::Db`] on database failure; [`StoreError::Corrupt`] for a row this version
    /// cannot read.
    pub async fn embed(&self, token: &str) -> Result<LinkAccess<EmbedInfo>, StoreError> {
        let row = sqlx::query(&format!(
            "SELECT {COLUMNS} FROM embed_links WHERE token_hash = $1"
        ))
        .bind(token_hash(token))
        .fetch_optional(&self.pool)
        .await?;
        Ok(match row {
            None => LinkAccess::Unknown,
            Some(r) => {
                let link = embed_from(&r)?;
                LinkAccess::of(link.revoked_ms, link.expires_ms, link)
            }
        })
    }

    /// Every embed link, newest first.
    ///
    /// # Errors
    /// As [`Store::embed`].
    pub async fn embeds(&self) -> Result<Vec<EmbedInfo>, StoreError> {
        let rows = sqlx::query(&format!(
            "SELECT {COLUMNS} FROM embed_links ORDER BY id DESC"
        ))
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(embed_from).collect()
    }

    /// Revokes embed link `id` (again: no change); returns it.
    ///
    /// # Errors
    /// [`StoreError::EmbedNotFound`] for an unknown link.
    pub async fn revoke_embed(&self, id: i64) -> Result<EmbedInfo, StoreError> {
        sqlx::query("UPDATE embed_links SET revoked_ms = COALESCE(revoked_ms, $1) WHERE id = $2")
            .bind(now_ms())
            .bind(id)
            .execute(&self.pool)
            .await?;
        let row = sqlx::query(&format!("SELECT {COLUMNS} FROM embed_links WHERE id = $1"))
            .bind(id)
            .fetch_optional(&self.pool)
            .await?
            .ok_or(StoreError::EmbedNotFound(id))?;
        embed_from(&row)
    }
}

fn embed_from(r: &AnyRow) -> Result<EmbedInfo, StoreError> {
    let view: String = r.try_get(1)?;
    let origins: String = r.try_get(2)?;
    Ok(EmbedInfo {
        id: r.try_get(0)?,
        view: EmbedView::parse(&view)
            .map_err(|e| StoreError::Corrupt(format!("embed link view: {e}")))?,
        origins: serde_json::from_str(&origins)
            .map_err(|e| StoreError::Corrupt(format!("embed link origins: {e}")))?,
        created_ms: r.try_get(3)?,
        expires_ms: r.try_get(4)?,
        revoked_ms: r.try_get(5)?,
        created_by: r.try_get(6)?,
    })
}
