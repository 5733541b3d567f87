//! Custom MIG configs and their versions, and the version each deployment applies.
//!
//! Every change inserts a new version; nothing is updated in place, so a deployment that recorded
//! `(name, version)` can always read what it applied, even after the config changed or was deleted.

use mig::custom::{RawCustomConfig, RawDevice};
use sqlx::Row;
use sqlx::any::AnyRow;

use super::{Store, StoreError, now_ms};

/// One version of a custom config, as stored.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct StoredConfig {
    /// The config (name, model, description, device entries).
    #[serde(flatten)]
    pub config: RawCustomConfig,
    /// Its version, from 1.
    pub version: u32,
    /// When this version was made, Unix ms.
    pub created_ms: i64,
    /// Who made it.
    pub created_by: String,
    /// When the config was deleted, Unix ms (`None`: not deleted).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub deleted_ms: Option<i64>,
}

const COLUMNS: &str =
    "name, version, model, description, devices, created_ms, created_by, deleted_ms";

fn config_from(r: &AnyRow) -> Result<StoredConfig, StoreError> {
    let name: String = r.try_get("name")?;
    let devices: String = r.try_get("devices")?;
    let devices: Vec<RawDevice> = serde_json::from_str(&devices)
        .map_err(|e| StoreError::Corrupt(format!("devices of MIG config `{name}`: {e}")))?;
    let version: i64 = r.try_get("version")?;
    Ok(StoredConfig {
        config: RawCustomConfig {
            name,
            model: r.try_get("model")?,
            description: r.try_get("description")?,
            devices,
        },
        version: u32::try_from(version)
            .map_err(|_| StoreError::Corrupt(format!("MIG config version {version}")))?,
        created_ms: r.try_get("created_ms")?,
        created_by: r.try_get("created_by")?,
        deleted_ms: r.try_get("deleted_ms")?,
    })
}

impl Store {
    /// Stores a new version of `config`: version 1 of a new name (`create`), or the next version of
    /// a current one (`!create`). Versions continue across a delete.
    ///
    /// # Errors
    /// [`StoreError::ConfigExists`] creating a name that is current;
    /// [`StoreError::ConfigNotFound`] changing one that is not.
    pub async fn save_mig_config(
        &self,
        config: &RawCustomConfig,
        create: bool,
        by: &str,
    ) -> Result<StoredConfig, StoreError> {
        let devices = serde_json::to_string(&config.devices)
            .map_err(|e| StoreError::Corrupt(format!("devices: {e}")))?;
        let now = now_ms();
        // One statement: a read-then-write transaction would make SQLite refuse the upgrade to a
        // writer ("database is locked") while the orchestrator writes.
        let live = if create { "NOT EXISTS" } else { "EXISTS" };
        let row = sqlx::query(&format!(
            "INSERT INTO mig_configs (name, version, model, description, devices, created_ms, created_by) \
             SELECT $1, COALESCE((SELECT MAX(version) FROM mig_configs WHERE name = $1), 0) + 1, $2, $3, $4, $5, $6 \
             WHERE {live} (SELECT 1 FROM mig_configs WHERE name = $1 AND deleted_ms IS NULL) \
             RETURNING version"
        ))
        .bind(&config.name)
        .bind(&config.model)
        .bind(&config.description)
        .bind(&devices)
        .bind(now)
        .bind(by)
        .fetch_optional(&self.pool)
        .await
        .map_err(|e| match &e {
            // Two creators at once: the second finds the version taken.
            sqlx::Error::Database(d) if d.is_unique_violation() => {
                StoreError::ConfigExists(config.name.clone())
            }
            _ => StoreError::Db(e),
        })?;
        let Some(row) = row else {
            return Err(if create {
                StoreError::ConfigExists(config.name.clone())
            } else {
                StoreError::ConfigNotFound(config.name.clone())
            });
        };
        let version: i64 = row.try_get(0)?;
        Ok(StoredConfig {
            config: config.clone(),
            version: u32::try_from(version).unwrap_or(u32::MAX),
            created_ms: now,
            created_by: by.to_owned(),
            deleted_ms: None,
        })
    }

    /// The current version of every custom config, by name.
    ///
    /// # Errors
    /// [`StoreError::Db`] on database failure; [`StoreError::Corrupt`] for an unreadable row.
    pub async fn mig_configs(&self) -> Result<Vec<StoredConfig>, StoreError> {
        let rows = sqlx::query(&format!(
            "SELECT {COLUMNS} FROM mig_configs c WHERE deleted_ms IS NULL \
             AND version = (SELECT MAX(version) FROM mig_configs WHERE name = c.name) ORDER BY name"
        ))
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(config_from).collect()
    }

    /// The current version of config `name` (`None`: no such config, or deleted).
    ///
    /// # Errors
    /// As [`Store::mig_configs`].
    pub async fn mig_config(&self, name: &str) -> Result<Option<StoredConfig>, StoreError> {
        let row = sqlx::query(&format!(
            "SELECT {COLUMNS} FROM mig_configs WHERE name = $1 AND deleted_ms IS NULL ORDER BY version DESC LIMIT 1"
        ))
        .bind(name)
        .fetch_optional(&self.pool)
        .await?;
        row.as_ref().map(config_from).transpose()
    }

    /// Version `version` of config `name`, deleted or not.
    ///
    /// # Errors
    /// As [`Store::mig_configs`].
    pub async fn mig_config_version(
        &self,
        name: &str,
        version: u32,
    ) -> Result<Option<StoredConfig>, StoreError> {
        let row = sqlx::query(&format!(
            "SELECT {COLUMNS} FROM mig_configs WHERE name = $1 AND version = $2"
        ))
        .bind(name)
        .bind(i64::from(version))
        .fetch_optional(&self.pool)
        .await?;
        row.as_ref().map(config_from).transpose()
    }

    /// Every version of config `name`, newest first (deleted ones included).
    ///
    /// # Errors
    /// As [`Store::mig_configs`].
    pub async fn mig_config_versions(&self, name: &str) -> Result<Vec<StoredConfig>, StoreError> {
        let rows = sqlx::query(&format!(
            "SELECT {COLUMNS} FROM mig_configs WHERE name = $1 ORDER BY version DESC"
        ))
        .bind(name)
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(config_from).collect()
    }

    /// Deletes config `name` (every version is kept, marked deleted).
    ///
    /// # Errors
    /// [`StoreError::ConfigNotFound`] when it is not current.
    pub async fn delete_mig_config(&self, name: &str) -> Result<(), StoreError> {
        let done = sqlx::query(
            "UPDATE mig_configs SET deleted_ms = $1 WHERE name = $2 AND deleted_ms IS NULL",
        )
        .bind(now_ms())
        .bind(name)
        .execute(&self.pool)
        .await?;
        if done.rows_affected() == 0 {
            return Err(StoreError::ConfigNotFound(name.to_owned()));
        }
        Ok(())
    }

    /// The version of custom config `name` deployment `id` applies (`None`: it applies another
    /// config, or a built-in).
    ///
    /// # Errors
    /// [`StoreError::Db`] on database failure.
    pub async fn pinned_version(&self, id: i64, name: &str) -> Result<Option<u32>, StoreError> {
        Ok(self
            .deployment_config(id)
            .await?
            .filter(|(n, _)| n == name)
            .map(|(_, v)| v))
    }

    /// The custom config version deployment `id` applies, fixed when it was submitted.
    ///
    /// # Errors
    /// [`StoreError::Db`] on database failure.
    pub async fn deployment_config(&self, id: i64) -> Result<Option<(String, u32)>, StoreError> {
        let row =
            sqlx::query("SELECT name, version FROM deployment_configs WHERE deployment_id = $1")
                .bind(id)
                .fetch_optional(&self.pool)
                .await?;
        row.map(|r| {
            let version: i64 = r.try_get(1)?;
            Ok((
                r.try_get(0)?,
                u32::try_from(version)
                    .map_err(|_| StoreError::Corrupt(format!("config version {version}")))?,
            ))
        })
        .transpose()
    }
}
