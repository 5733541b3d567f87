//! Read-only share links to one deployment: created by operators (the token is shown once; only its
//! SHA-256 is stored), checked on every read and at each event-stream connect, revoked at will
//! (open streams end).

use mig::wire::{CreatedShare, DeploymentDetail, ShareInfo};
use tokio::sync::broadcast;

use crate::audit::{Actor, random_token};
use crate::orchestrator::{Orchestrator, OrchestratorError};
use crate::store::{LinkAccess, Store, StoreError};

/// Share links. Cheap to clone.
#[derive(Clone, Debug)]
pub struct Shares {
    orchestrator: Orchestrator,
    /// Ids of share links just revoked: their open event streams end.
    revocations: broadcast::Sender<i64>,
}

impl Shares {
    /// Share links to the deployments `orchestrator` carries out.
    #[must_use]
    pub fn new(orchestrator: Orchestrator) -> Self {
        let (revocations, _) = broadcast::channel(64);
        Self {
            orchestrator,
            revocations,
        }
    }

    fn store(&self) -> &Store {
        self.orchestrator.store()
    }

    /// Share-link revocations as they happen (link ids).
    pub fn revocations(&self) -> broadcast::Receiver<i64> {
        self.revocations.subscribe()
    }

    /// Creates a read-only link to deployment `id`, valid `days` days (1 to 90).
    ///
    /// # Errors
    /// [`OrchestratorError::BadRequest`] for days out of range; [`OrchestratorError::NotFound`].
    pub async fn share(
        &self,
        id: i64,
        days: u32,
        actor: &Actor,
    ) -> Result<CreatedShare, OrchestratorError> {
        if !(1..=90).contains(&days) {
            return Err(OrchestratorError::BadRequest(format!(
                "a share link lasts 1 to 90 days, not {days}"
            )));
        }
        let token = random_token().map_err(|e| OrchestratorError::Internal(e.to_string()))?;
        let link = match self
            .store()
            .create_share(id, &token, i64::from(days) * 86_400_000, &actor.name)
            .await
        {
            Ok(l) => l,
            Err(StoreError::NotFound(id)) => return Err(OrchestratorError::NotFound(id)),
            Err(e) => return Err(e.into()),
        };
        self.store()
            .audit(&actor.audit(
                "share.create",
                format!("deployment {id}"),
                format!("link {} for {days} day(s)", link.id),
            ))
            .await?;
        Ok(CreatedShare {
            path: format!("/share/{token}").into(),
            link,
            token: token.into(),
        })
    }

    /// Deployment `id`'s share links, newest first.
    ///
    /// # Errors
    /// [`StoreError`] on database failure.
    pub async fn shares(&self, id: i64) -> Result<Vec<ShareInfo>, StoreError> {
        self.store().shares(id).await
    }

    /// Revokes share link `share_id`.
    ///
    /// # Errors
    /// [`OrchestratorError::Conflict`] for an unknown link; [`OrchestratorError::Store`].
    pub async fn revoke_share(
        &self,
        share_id: i64,
        actor: &Actor,
    ) -> Result<ShareInfo, OrchestratorError> {
        let link = match self.store().revoke_share(share_id).await {
            Ok(l) => l,
            Err(StoreError::ShareNotFound(_)) => {
                return Err(OrchestratorError::Conflict(format!(
                    "no share link {share_id}"
                )));
            }
            Err(e) => return Err(e.into()),
        };
        self.store()
            .audit(&actor.audit(
                "share.revoke",
                format!("deployment {}", link.deployment_id),
                format!("link {share_id}"),
            ))
            .await?;
        let _ = self.revocations.send(share_id);
        Ok(link)
    }

    /// What share token `token` shows: the deployment without its blueprint (which may hold
    /// secrets), or why nothing.
    ///
    /// # Errors
    /// [`OrchestratorError::Gone`] for an expired or revoked link; [`OrchestratorError::NotFound`]
    /// (id 0) for an unknown token.
    pub async fn shared(&self, token: &str) -> Result<DeploymentDetail, OrchestratorError> {
        Ok(self.shared_link(token).await?.1)
    }

    /// [`Shares::shared`], with the link itself (its id and expiry, for a live stream that
    /// must end when the link does).
    ///
    /// # Errors
    /// As [`Shares::shared`].
    pub async fn shared_link(
        &self,
        token: &str,
    ) -> Result<(ShareInfo, DeploymentDetail), OrchestratorError> {
        let link = open_link(self.store().share(token).await?, |l: &ShareInfo| {
            (l.expires_ms, l.revoked_ms)
        })
        .map_err(|gone| gone.map_or(OrchestratorError::NotFound(0), OrchestratorError::Gone))?;
        let mut detail = self
            .orchestrator
            .detail(link.deployment_id)
            .await?
            .ok_or(OrchestratorError::NotFound(link.deployment_id))?;
        detail.blueprint = String::new();
        Ok((link, detail))
    }
}

/// The link `access` found, if valid now; else `Some(why)` for an expired or revoked link
/// ("this link expired at …"), `None` for a token that names none. `times` reads a link's
/// expiry and revocation (Unix ms).
pub(crate) fn open_link<T>(
    access: LinkAccess<T>,
    times: impl Fn(&T) -> (i64, Option<i64>),
) -> Result<T, Option<String>> {
    // Read by people (the refused page says it): minutes and the zone, not RFC 3339.
    let at = |ms: i64| mig::time::Utc::from_unix_ms(ms).minutes();
    match access {
        LinkAccess::Valid(link) => Ok(link),
        LinkAccess::Expired(link) => {
            Err(Some(format!("this link expired at {}", at(times(&link).0))))
        }
        LinkAccess::Revoked(link) => Err(Some(format!(
            "this link was revoked at {}",
            at(times(&link).1.unwrap_or_default())
        ))),
        LinkAccess::Unknown => Err(None),
    }
}
