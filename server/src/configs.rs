//! Custom MIG configs as a service: create, change (a new version each time), delete (refused
//! while nodes run it or a deployment is applying it), import from mig-parted files. Every change
//! is validated by `mig`'s rules, stored, audited, and swapped into the [`SharedCatalogue`] that
//! validation, the planner and the orchestrator read.

use mig::blueprint::Issue;
use mig::custom::{MigConfigInfo, RawCustomConfig};
use mig::{GpuModel, MigPartedConfig};

use crate::audit::Actor;
use crate::catalogue::SharedCatalogue;
use crate::orchestrator::Orchestrator;
use crate::store::{Store, StoreError, StoredConfig};

/// Why a config request was refused.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The config breaks rules; every issue has its JSON pointer.
    #[error("the MIG config has {} error(s)", .0.len())]
    Invalid(Vec<Issue>),
    /// No such custom config (or built-in, for a read).
    #[error("no MIG config named \"{0}\"")]
    NotFound(String),
    /// A custom config of this name exists (create).
    #[error("a MIG config named \"{0}\" already exists")]
    Exists(String),
    /// NVIDIA's configs cannot be changed or deleted.
    #[error("\"{0}\" is one of NVIDIA's built-in configs, which cannot be changed or deleted")]
    Builtin(String),
    /// Nodes run it, or deployments apply it.
    #[error("MIG config \"{name}\" is in use: {}", .users.join(", "))]
    InUse {
        /// The config.
        name: String,
        /// `node gpu-3`, `deployment 12 (mix-rollout)`.
        users: Vec<String>,
    },
    /// A request value is wrong (a model id, a mismatched name, a mig-parted file that does not
    /// parse); the message says what and how to fix it.
    #[error("{0}")]
    BadRequest(String),
    /// The database failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Custom MIG configs. Cheap to clone.
#[derive(Clone, Debug)]
pub struct MigConfigs {
    orchestrator: Orchestrator,
}

fn info(stored: &StoredConfig) -> MigConfigInfo {
    MigConfigInfo {
        name: stored.config.name.clone(),
        model: stored.config.model.clone(),
        source: mig::custom::ConfigSource::Custom,
        version: Some(stored.version),
        description: stored.config.description.clone(),
        devices: stored.config.devices.clone(),
        created_ms: Some(stored.created_ms),
        created_by: Some(stored.created_by.clone()),
    }
}

impl MigConfigs {
    /// The configs the orchestrator's catalogue offers.
    #[must_use]
    pub fn new(orchestrator: Orchestrator) -> Self {
        Self { orchestrator }
    }

    fn store(&self) -> &Store {
        self.orchestrator.store()
    }

    fn catalogue(&self) -> &SharedCatalogue {
        self.orchestrator.catalogues()
    }

    /// Every config, built-in and custom, of `model` (all models when `None`).
    pub async fn list(&self, model: Option<GpuModel>) -> Result<Vec<MigConfigInfo>, ConfigError> {
        let stored = self.store().mig_configs().await?;
        let catalogue = self.catalogue().get();
        let mut out = Vec::new();
        for m in &catalogue.models {
            if model.is_some_and(|want| want != m.model) {
                continue;
            }
            for c in m.configs.iter().filter(|c| c.custom.is_none()) {
                out.extend(MigConfigInfo::of(m.model, c));
            }
        }
        out.extend(
            stored
                .iter()
                .filter(|s| model.is_none_or(|m| s.config.model == m.id()))
                .map(info),
        );
        Ok(out)
    }

    /// Config `name`: a custom one's current version, or a built-in's layout on `model`.
    ///
    /// # Errors
    /// [`ConfigError::NotFound`]; [`ConfigError::BadRequest`] for a built-in without a model.
    pub async fn get(
        &self,
        name: &str,
        model: Option<GpuModel>,
    ) -> Result<MigConfigInfo, ConfigError> {
        if let Some(stored) = self.store().mig_config(name).await? {
            return Ok(info(&stored));
        }
        let catalogue = self.catalogue().get();
        if !catalogue.is_builtin(name) {
            return Err(ConfigError::NotFound(name.to_owned()));
        }
        let Some(model) = model else {
            return Err(ConfigError::BadRequest(format!(
                "{name} is a built-in config, with a layout per GPU model: add ?model=h100-80gb (or another model id)"
            )));
        };
        catalogue
            .config(model, name)
            .and_then(|c| MigConfigInfo::of(model, c))
            .ok_or_else(|| ConfigError::NotFound(format!("{name} (on {model})")))
    }

    /// Every version of custom config `name`, newest first.
    ///
    /// # Errors
    /// [`ConfigError::NotFound`] when it never existed.
    pub async fn versions(&self, name: &str) -> Result<Vec<MigConfigInfo>, ConfigError> {
        let all = self.store().mig_config_versions(name).await?;
        if all.is_empty() {
            return Err(ConfigError::NotFound(name.to_owned()));
        }
        Ok(all.iter().map(info).collect())
    }

    fn validate(&self, raw: RawCustomConfig) -> Result<RawCustomConfig, ConfigError> {
        let builtin = self.catalogue().builtin().clone();
        raw.validate(|n| builtin.is_builtin(n))
            .map(|c| c.raw().clone())
            .map_err(ConfigError::Invalid)
    }

    async fn reload(&self) -> Result<(), ConfigError> {
        let all = self.store().mig_configs().await?;
        self.catalogue().set_custom(&all);
        Ok(())
    }

    /// Creates custom config `raw` (version 1, or the next after a deleted one of that name).
    ///
    /// # Errors
    /// [`ConfigError::Invalid`] with every issue; [`ConfigError::Exists`].
    pub async fn create(
        &self,
        raw: RawCustomConfig,
        actor: &Actor,
    ) -> Result<MigConfigInfo, ConfigError> {
        let raw = self.validate(raw)?;
        let stored = match self.store().save_mig_config(&raw, true, &actor.name).await {
            Err(StoreError::ConfigExists(n)) => return Err(ConfigError::Exists(n)),
            other => other?,
        };
        self.after_change(&stored, "mig-config.create", actor)
            .await?;
        Ok(info(&stored))
    }

    /// Makes `raw` the next version of custom config `name`.
    ///
    /// # Errors
    /// [`ConfigError::Invalid`]; [`ConfigError::NotFound`]; [`ConfigError::Builtin`];
    /// [`ConfigError::BadRequest`] when the body names another config.
    pub async fn update(
        &self,
        name: &str,
        raw: RawCustomConfig,
        actor: &Actor,
    ) -> Result<MigConfigInfo, ConfigError> {
        if raw.name != name {
            return Err(ConfigError::BadRequest(format!(
                "the body's name \"{}\" is not \"{name}\" of the URL; renaming is not supported: create the new name, then delete this one",
                raw.name
            )));
        }
        if self.catalogue().builtin().is_builtin(name) {
            return Err(ConfigError::Builtin(name.to_owned()));
        }
        let raw = self.validate(raw)?;
        let stored = match self.store().save_mig_config(&raw, false, &actor.name).await {
            Err(StoreError::ConfigNotFound(n)) => return Err(ConfigError::NotFound(n)),
            other => other?,
        };
        self.after_change(&stored, "mig-config.update", actor)
            .await?;
        Ok(info(&stored))
    }

    /// Saves `raw`: a new version of the custom config of that name, or its first version.
    ///
    /// # Errors
    /// As [`MigConfigs::create`] and [`MigConfigs::update`].
    pub async fn save(
        &self,
        raw: RawCustomConfig,
        actor: &Actor,
    ) -> Result<MigConfigInfo, ConfigError> {
        if self.store().mig_config(&raw.name).await?.is_some() {
            let name = raw.name.clone();
            self.update(&name, raw, actor).await
        } else {
            self.create(raw, actor).await
        }
    }

    async fn after_change(
        &self,
        stored: &StoredConfig,
        action: &str,
        actor: &Actor,
    ) -> Result<(), ConfigError> {
        self.reload().await?;
        self.store()
            .audit(&actor.audit(
                action,
                format!("mig config {}", stored.config.name),
                format!("version {} for {}", stored.version, stored.config.model),
            ))
            .await?;
        tracing::info!(config = %stored.config.name, version = stored.version, actor = %actor.name, "{action}");
        Ok(())
    }

    /// Who uses config `name`: nodes whose last applied or labelled config it is, and unfinished
    /// deployments that apply it.
    async fn users(&self, name: &str) -> Result<Vec<String>, ConfigError> {
        let mut users: Vec<String> = self
            .store()
            .desired()
            .await?
            .into_iter()
            .filter(|(_, c)| c == name)
            .map(|(node, _)| format!("node {node}"))
            .collect();
        for node in self.orchestrator.fleet().nodes {
            let user = format!("node {}", node.name);
            if node.mig_config.as_deref() == Some(name) && !users.contains(&user) {
                users.push(user);
            }
        }
        for d in self.store().unfinished().await? {
            if self.store().pinned_version(d.id, name).await?.is_some() {
                users.push(format!("deployment {} ({})", d.id, d.name));
            }
        }
        Ok(users)
    }

    /// Deletes custom config `name` (its versions stay readable for the deployments that applied
    /// them).
    ///
    /// # Errors
    /// [`ConfigError::InUse`] naming the nodes and deployments; [`ConfigError::NotFound`];
    /// [`ConfigError::Builtin`].
    pub async fn delete(&self, name: &str, actor: &Actor) -> Result<(), ConfigError> {
        if self.catalogue().builtin().is_builtin(name) {
            return Err(ConfigError::Builtin(name.to_owned()));
        }
        if self.store().mig_config(name).await?.is_none() {
            return Err(ConfigError::NotFound(name.to_owned()));
        }
        let users = self.users(name).await?;
        if !users.is_empty() {
            return Err(ConfigError::InUse {
                name: name.to_owned(),
                users,
            });
        }
        match self.store().delete_mig_config(name).await {
            Err(StoreError::ConfigNotFound(n)) => return Err(ConfigError::NotFound(n)),
            other => other?,
        }
        self.reload().await?;
        self.store()
            .audit(&actor.audit(
                "mig-config.delete",
                format!("mig config {name}"),
                String::new(),
            ))
            .await?;
        Ok(())
    }

    /// Config `name` as a mig-parted `version: v1` file (counts; comments list the placements
    /// mig-parted cannot express). A built-in: its entries from NVIDIA's file.
    ///
    /// # Errors
    /// [`ConfigError::NotFound`].
    pub async fn mig_parted(&self, name: &str) -> Result<String, ConfigError> {
        if let Some(stored) = self.store().mig_config(name).await? {
            let version = stored.version;
            let config = stored
                .config
                .validate(|_| false)
                .map_err(ConfigError::Invalid)?;
            return Ok(config.to_mig_parted_yaml(Some(version)));
        }
        let file = MigPartedConfig::default_configs()
            .map_err(|e| ConfigError::BadRequest(e.to_string()))?;
        let entries = file
            .configs
            .get(name)
            .ok_or_else(|| ConfigError::NotFound(name.to_owned()))?;
        let one = MigPartedConfig {
            configs: [(name.to_owned(), entries.clone())].into(),
        };
        Ok(format!(
            "# NVIDIA mig-parted built-in config `{name}`, from its config-default.yaml\n{}",
            one.to_yaml()
        ))
    }

    /// Imports every config of mig-parted file `yaml` that fits `model`, placed as migboard places
    /// counts: new names are created, existing custom ones get a new version; built-in names and
    /// configs that do not fit are skipped with the reason. All or nothing: when one config is
    /// invalid, none is stored.
    ///
    /// # Errors
    /// [`ConfigError::BadRequest`] when the file does not parse; [`ConfigError::Invalid`] with
    /// every issue, each pointer prefixed with `/mig-configs/<name>`.
    pub async fn import(
        &self,
        yaml: &str,
        model: GpuModel,
        actor: &Actor,
    ) -> Result<(Vec<MigConfigInfo>, Vec<(String, String)>), ConfigError> {
        let imported = mig::custom::import_mig_parted(yaml, model)
            .map_err(|e| ConfigError::BadRequest(e.to_string()))?;
        let mut skipped = imported.skipped;
        let builtin = self.catalogue().builtin().clone();
        let mut valid = Vec::new();
        let mut issues = Vec::new();
        for raw in imported.configs {
            if builtin.is_builtin(&raw.name) {
                skipped.push((
                    raw.name.clone(),
                    "a built-in config has this name; rename it in the file to import it".into(),
                ));
                continue;
            }
            let name = raw.name.clone();
            match raw.validate(|_| false) {
                Ok(c) => valid.push(c.raw().clone()),
                Err(found) => issues.extend(found.into_iter().map(|mut i| {
                    i.path = format!("/mig-configs/{name}{}", i.path);
                    i
                })),
            }
        }
        if !issues.is_empty() {
            return Err(ConfigError::Invalid(issues));
        }
        let mut created = Vec::with_capacity(valid.len());
        for raw in valid {
            let exists = self.store().mig_config(&raw.name).await?.is_some();
            let stored = self
                .store()
                .save_mig_config(&raw, !exists, &actor.name)
                .await?;
            created.push(info(&stored));
        }
        self.reload().await?;
        let names: Vec<&str> = created.iter().map(|c| c.name.as_str()).collect();
        self.store()
            .audit(&actor.audit(
                "mig-config.import",
                format!("{} mig config(s)", created.len()),
                format!("for {}: {}", model.id(), names.join(", ")),
            ))
            .await?;
        Ok((created, skipped))
    }
}
