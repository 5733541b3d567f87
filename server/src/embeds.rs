//! Signed embed links (#23): one view of the fleet, a pool, a node or a deployment for portals on
//! other sites, where a session cookie cannot follow (a cross-site iframe gets its own cookie jar,
//! or none).
//!
//! An operator (or a portal's backend with an API token) makes a link for one view, the portals
//! that may frame it and a lifetime. The token is random (256 bits) and shown once; the database
//! keeps its SHA-256. The page `/embed/link/<token>` shows that view, live and read-only, with no
//! navigation and no blueprint; its `frame-ancestors` are the link's own origins, so a link made for
//! one portal cannot be framed by another. Revocation and expiry end an open view's event stream:
//! at once on the replica that revoked it, within the stream re-check period on the others.

use std::sync::{Arc, RwLock};

use mig::wire::{
    CreatedEmbed, EmbedContent, EmbedInfo, EmbedView, MAX_EMBED_DAYS, MAX_EMBED_ORIGINS, NewEmbed,
    origin_within, parse_origin,
};
use tokio::sync::broadcast;

use crate::audit::{Actor, random_token};
use crate::orchestrator::Orchestrator;
use crate::store::{LinkAccess, Store, StoreError};

/// How long a link lasts when the request does not say.
pub const DEFAULT_EMBED_DAYS: u32 = 30;

/// Where embed link pages live; the token follows.
pub const EMBED_LINK_PREFIX: &str = "/embed/link/";

/// Why an embed link request failed.
#[derive(Debug, thiserror::Error)]
pub enum EmbedError {
    /// A value in the request is wrong; the message says which and what is allowed.
    #[error("{0}")]
    BadRequest(String),
    /// The token, the link id or the view's subject does not exist.
    #[error("{0}")]
    NotFound(String),
    /// The link expired or was revoked, or what it showed is gone.
    #[error("{0}")]
    Gone(String),
    /// The database failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The system's random source failed (no token can be made).
    #[error("no random token: {0}")]
    NoEntropy(String),
}

/// Embed links. Cheap to clone.
#[derive(Clone, Debug)]
pub struct Embeds {
    orchestrator: Orchestrator,
    /// Link ids just revoked here: their open event streams end at once.
    revocations: broadcast::Sender<i64>,
    /// The portals the server admits (`MIGBOARD_FRAME_ANCESTORS`); a link's origins must be
    /// among them when there are any.
    portals: Arc<RwLock<Vec<String>>>,
}

impl Embeds {
    /// Embed links over what `orchestrator` knows.
    #[must_use]
    pub fn new(orchestrator: Orchestrator) -> Self {
        let (revocations, _) = broadcast::channel(64);
        Self {
            orchestrator,
            revocations,
            portals: Arc::default(),
        }
    }

    fn store(&self) -> &Store {
        self.orchestrator.store()
    }

    /// Limits new links' origins to `portals` (the server's allow-list; empty: any origin). Set
    /// once when the router is built, from the same list the framing headers use.
    pub fn limit_portals(&self, portals: &[String]) {
        *self
            .portals
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = portals.to_vec();
    }

    /// Embed-link revocations as they happen here (link ids).
    pub fn revocations(&self) -> broadcast::Receiver<i64> {
        self.revocations.subscribe()
    }

    /// Checks `request` and makes its link; `base` (`scheme://host`, as the request reached
    /// migboard) prefixes the URL.
    ///
    /// # Errors
    /// [`EmbedError::BadRequest`] for days out of range, no origin, too many, one that is not an
    /// origin or not among the server's portals; [`EmbedError::NotFound`] for a view of a pool,
    /// node or deployment that does not exist.
    pub async fn create(
        &self,
        request: NewEmbed,
        base: &str,
        actor: &Actor,
    ) -> Result<CreatedEmbed, EmbedError> {
        let days = request.days.unwrap_or(DEFAULT_EMBED_DAYS);
        if !(1..=MAX_EMBED_DAYS).contains(&days) {
            return Err(EmbedError::BadRequest(format!(
                "an embed link lasts 1 to {MAX_EMBED_DAYS} days, not {days}: set \"days\""
            )));
        }
        let origins = self.check_origins(&request.origins)?;
        self.check_view(&request.view).await?;
        let token = random_token().map_err(|e| EmbedError::NoEntropy(e.to_string()))?;
        let link = self
            .store()
            .create_embed(
                &token,
                &request.view,
                &origins,
                i64::from(days) * 86_400_000,
                &actor.name,
            )
            .await?;
        self.store()
            .audit(&actor.audit(
                "embed.create",
                request.view.to_string(),
                format!(
                    "link {} for {days} day(s), framed by {}",
                    link.id,
                    origins.join(" ")
                ),
            ))
            .await?;
        let path = format!("{EMBED_LINK_PREFIX}{token}");
        Ok(CreatedEmbed {
            id: link.id,
            url: format!("{}{path}", base.trim_end_matches('/')).into(),
            path: path.into(),
            link,
        })
    }

    fn check_origins(&self, origins: &[String]) -> Result<Vec<String>, EmbedError> {
        if origins.is_empty() {
            return Err(EmbedError::BadRequest(
                "an embed link needs the portals that may frame it: set \"origins\", e.g. [\"https://portal.example.com\"]"
                    .into(),
            ));
        }
        if origins.len() > MAX_EMBED_ORIGINS {
            return Err(EmbedError::BadRequest(format!(
                "an embed link names at most {MAX_EMBED_ORIGINS} origins, not {}: make one link per portal",
                origins.len()
            )));
        }
        let portals = self
            .portals
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone();
        let mut checked = Vec::with_capacity(origins.len());
        for (i, item) in origins.iter().enumerate() {
            let origin = parse_origin(item)
                .map_err(|e| EmbedError::BadRequest(format!("origins[{i}]: {e}")))?;
            if !portals.is_empty() && !portals.iter().any(|p| origin_within(&origin, p)) {
                return Err(EmbedError::BadRequest(format!(
                    "origins[{i}]: {origin} is not among the portals this server admits ({}): ask the operator to add it to MIGBOARD_FRAME_ANCESTORS",
                    portals.join(", ")
                )));
            }
            if !checked.contains(&origin) {
                checked.push(origin);
            }
        }
        Ok(checked)
    }

    async fn check_view(&self, view: &EmbedView) -> Result<(), EmbedError> {
        let fleet = self.orchestrator.fleet();
        let found = match view {
            EmbedView::Fleet => true,
            EmbedView::Pool(name) => fleet.pools.iter().any(|p| &p.name == name),
            EmbedView::Node(name) => fleet.nodes.iter().any(|n| &n.name == name),
            EmbedView::Deployment(id) => self.store().deployment(*id).await?.is_some(),
        };
        if found {
            Ok(())
        } else {
            Err(EmbedError::NotFound(format!(
                "there is no {} to show: {view} names nothing in the fleet now",
                match view {
                    EmbedView::Pool(_) => "pool",
                    EmbedView::Node(_) => "node",
                    _ => "deployment",
                }
            )))
        }
    }

    /// Every embed link, newest first (never their tokens).
    ///
    /// # Errors
    /// [`StoreError`] on database failure.
    pub async fn list(&self) -> Result<Vec<EmbedInfo>, StoreError> {
        self.store().embeds().await
    }

    /// Revokes embed link `id`; its open views end.
    ///
    /// # Errors
    /// [`EmbedError::NotFound`] for an unknown link; [`EmbedError::Store`].
    pub async fn revoke(&self, id: i64, actor: &Actor) -> Result<EmbedInfo, EmbedError> {
        let link = match self.store().revoke_embed(id).await {
            Ok(link) => link,
            Err(StoreError::EmbedNotFound(_)) => {
                return Err(EmbedError::NotFound(format!("no embed link {id}")));
            }
            Err(e) => return Err(e.into()),
        };
        self.store()
            .audit(&actor.audit("embed.revoke", link.view.to_string(), format!("link {id}")))
            .await?;
        let _ = self.revocations.send(id);
        Ok(link)
    }

    /// The link `token` opens, valid now.
    ///
    /// # Errors
    /// [`EmbedError::NotFound`] for an unknown token; [`EmbedError::Gone`] for an expired or
    /// revoked one.
    pub async fn link(&self, token: &str) -> Result<EmbedInfo, EmbedError> {
        crate::shares::open_link(self.store().embed(token).await?, |l: &EmbedInfo| {
            (l.expires_ms, l.revoked_ms)
        })
        .map_err(|gone| match gone {
            Some(message) => EmbedError::Gone(message),
            None => EmbedError::NotFound(
                "this embed link is not valid (mistyped, or never created)".into(),
            ),
        })
    }

    /// Who may frame the page of `token`: the link's origins (expired and revoked links too, so
    /// the portal shows why the view ended), or `None` for a token that names no link.
    ///
    /// # Errors
    /// [`StoreError`] on database failure.
    pub async fn frame_ancestors(&self, token: &str) -> Result<Option<Vec<String>>, StoreError> {
        Ok(match self.store().embed(token).await? {
            LinkAccess::Valid(l) | LinkAccess::Expired(l) | LinkAccess::Revoked(l) => {
                Some(l.origins)
            }
            LinkAccess::Unknown => None,
        })
    }

    /// What `token` shows now, with its link.
    ///
    /// # Errors
    /// As [`Embeds::link`]; [`EmbedError::Gone`] when the pool, node or deployment it showed is
    /// no longer there.
    pub async fn content(&self, token: &str) -> Result<(EmbedInfo, EmbedContent), EmbedError> {
        let link = self.link(token).await?;
        let content = self.content_of(&link.view).await?;
        Ok((link, content))
    }

    async fn content_of(&self, view: &EmbedView) -> Result<EmbedContent, EmbedError> {
        let mut fleet = self.orchestrator.fleet();
        Ok(match view {
            EmbedView::Fleet => EmbedContent::Fleet { pool: None, fleet },
            EmbedView::Pool(name) => {
                fleet.pools.retain(|p| &p.name == name);
                fleet.nodes.retain(|n| &n.pool == name);
                if fleet.pools.is_empty() {
                    return Err(EmbedError::Gone(format!(
                        "pool {name} is no longer in the fleet"
                    )));
                }
                EmbedContent::Fleet {
                    pool: Some(name.clone()),
                    fleet,
                }
            }
            EmbedView::Node(name) => {
                let node = fleet
                    .nodes
                    .into_iter()
                    .find(|n| &n.name == name)
                    .ok_or_else(|| {
                        EmbedError::Gone(format!("node {name} is no longer in the fleet"))
                    })?;
                EmbedContent::Node { node }
            }
            EmbedView::Deployment(id) => {
                let mut detail = self.orchestrator.detail(*id).await?.ok_or_else(|| {
                    EmbedError::Gone(format!("deployment {id} is no longer there"))
                })?;
                // Blueprints may hold secrets; the view shows status and progress only.
                detail.blueprint = String::new();
                EmbedContent::Deployment { detail }
            }
        })
    }
}
