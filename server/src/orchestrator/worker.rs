//! The worker: takes unfinished deployments from the database, oldest first, and runs each to a
//! final status. Transient failures leave the status and retry; permanent ones fail the deployment.

use std::collections::BTreeSet;
use std::time::Duration;

use mig::blueprint::{Action, Blueprint, Context};
use mig::wire::{DeploymentStatus, PlacementState, StepState};

use super::{Failure, Orchestrator, Outcome};
use crate::cluster::Scheduling;
use crate::store::Deployment;

impl Orchestrator {
    pub(super) async fn work_loop(&self) {
        loop {
            let mut retry = false;
            match self.inner.store.unfinished().await {
                Ok(pending) => {
                    for d in pending {
                        let _one = self.inner.work.lock().await;
                        retry |= !self.drive(&d).await;
                    }
                }
                Err(e) => {
                    tracing::warn!(error = %e, "cannot read unfinished deployments; retrying");
                    retry = true;
                }
            }
            // Alone, every submission wakes this worker; an elected leader also polls, for
            // deployments submitted through other replicas.
            let wait = if retry || !self.inner.options.leadership.is_solo() {
                self.inner.options.retry_after
            } else {
                Duration::from_secs(3600)
            };
            tokio::select! {
                () = self.inner.wake.notified() => {}
                () = tokio::time::sleep(wait) => {}
            }
        }
    }

    /// Runs one deployment to a final status; false when it must be retried later.
    pub(super) async fn drive(&self, d: &Deployment) -> bool {
        let outcome = match d.status {
            DeploymentStatus::Undeploying => self.undeploy_now(d).await,
            _ => {
                // A queued deployment stays scheduled until its replicas are all placed.
                let queued =
                    d.status == DeploymentStatus::Scheduled && d.message.starts_with(super::QUEUED);
                if d.status == DeploymentStatus::Scheduled
                    && !queued
                    && let Err(e) = self
                        .set_status(d.id, DeploymentStatus::Deploying, "started")
                        .await
                {
                    tracing::warn!(id = d.id, error = %e, "cannot mark the deployment active");
                    return false;
                }
                self.execute(d).await
            }
        };
        let (status, message) = match outcome {
            Ok(done) => done,
            Err(Failure::Permanent(m)) => (DeploymentStatus::Failed, m),
            // Its pending steps stay pending: resuming runs them.
            Err(Failure::Paused(m)) => (DeploymentStatus::Paused, m),
            Err(Failure::Waiting(m)) => {
                tracing::info!(id = d.id, waiting = %m, "deployment waits");
                let _ = self
                    .inner
                    .store
                    .set_status(d.id, d.status.max_active(), &m)
                    .await;
                let _ = self.announce(d.id).await;
                return false;
            }
            Err(Failure::Queued(m)) => {
                if d.status != DeploymentStatus::Scheduled || d.message != m {
                    tracing::info!(id = d.id, queued = %m, "deployment queued");
                    let _ = self
                        .inner
                        .store
                        .set_status(d.id, DeploymentStatus::Scheduled, &m)
                        .await;
                    let _ = self.announce(d.id).await;
                }
                return false;
            }
            Err(Failure::Transient(m)) => {
                tracing::warn!(id = d.id, error = %m, "deployment step failed; will retry");
                let _ = self
                    .inner
                    .store
                    .set_status(d.id, d.status.max_active(), &format!("retrying: {m}"))
                    .await;
                let _ = self.announce(d.id).await;
                return false;
            }
        };
        // A failed deployment leaves no step waiting: what it did not reach reads "not run".
        if status == DeploymentStatus::Failed
            && let Ok(steps) = self.inner.store.steps(d.id).await
        {
            for s in steps.iter().filter(|s| s.state == StepState::Pending) {
                let _ = self
                    .step(d.id, &s.key, StepState::NotRun, &format!("the deployment failed before it ({})", s.message))
                    .await;
            }
        }
        if let Err(e) = self.set_status(d.id, status, &message).await {
            tracing::warn!(id = d.id, error = %e, "cannot record the deployment's status; will retry");
            return false;
        }
        self.refresh().await;
        true
    }

    pub(super) fn parse(&self, d: &Deployment) -> Result<Blueprint, Failure> {
        let catalogue = self.inner.catalogue.get();
        let checked = mig::blueprint::check(
            &d.blueprint,
            Context {
                catalogue: Some(&catalogue),
                fleet: None,
                platform: Some(self.platform()),
            },
        );
        checked.blueprint.ok_or_else(|| {
            Failure::Permanent(format!(
                "the stored blueprint no longer validates: {}",
                checked
                    .issues
                    .iter()
                    .filter(|i| i.is_error())
                    .map(|i| format!("{}: {}", i.path, i.message))
                    .collect::<Vec<_>>()
                    .join("; ")
            ))
        })
    }

    pub(super) async fn execute(&self, d: &Deployment) -> Outcome {
        let blueprint = self.parse(d)?;
        match &blueprint.action {
            Action::SharedNodePool(pool) => self.run_pool(d, pool).await,
            Action::Update(update) => self.run_update(d, update).await,
            Action::Workload(w) => self.run_workload(d, &blueprint, w).await,
            Action::Team { name } => {
                self.step(
                    d.id,
                    "team",
                    StepState::Done,
                    &format!("team \"{name}\" recorded; the embedded fleet enforces no quotas"),
                )
                .await?;
                Ok((
                    DeploymentStatus::Completed,
                    format!("team \"{name}\" recorded"),
                ))
            }
        }
    }

    pub(super) async fn done_steps(&self, id: i64) -> Result<BTreeSet<String>, Failure> {
        Ok(self
            .inner
            .store
            .steps(id)
            .await?
            .into_iter()
            .filter(|s| s.state.is_done())
            .map(|s| s.key)
            .collect())
    }

    pub(super) async fn undeploy_now(&self, d: &Deployment) -> Outcome {
        if self.schedules() == Scheduling::Cluster
            && self
                .parse(d)
                .is_ok_and(|b| matches!(b.action, Action::Workload(_)))
        {
            let gone = self.inner.cluster.delete_workload(d.id).await?;
            self.step(
                d.id,
                "undeploy/objects",
                StepState::Done,
                &format!("deleted {gone} object(s) labelled with this deployment"),
            )
            .await?;
        }
        for p in self.inner.store.placements(d.id).await? {
            let key = format!("undeploy/replica/{}", p.replica);
            if p.state == PlacementState::Placed {
                self.inner
                    .cluster
                    .stop_workloads(&p.node, p.gpu, p.start)
                    .await?;
            }
            // Recorded before the row goes, so an interruption in between repeats both (both are
            // safe to repeat) rather than losing the record.
            self.step(
                d.id,
                &key,
                StepState::Done,
                &format!("replica {} stopped on {} GPU {}", p.replica, p.node, p.gpu),
            )
            .await?;
            self.inner.store.remove_placement(d.id, p.replica).await?;
        }
        if let Some(pool) = self.inner.store.pool_of(d.id).await? {
            if let Some(busy) = self.pool_in_use(d).await? {
                return Err(Failure::Permanent(format!("undeploy refused: {busy}")));
            }
            for node in &pool.nodes {
                self.inner.cluster.remove_node(node).await?;
                self.step(
                    d.id,
                    &format!("undeploy/node/{node}"),
                    StepState::Done,
                    &format!("node {node} removed"),
                )
                .await?;
            }
            self.inner.store.delete_pool(&pool.name).await?;
        }
        self.step(d.id, "undeploy", StepState::Done, "undeployed")
            .await?;
        Ok((DeploymentStatus::Undeployed, "undeployed".into()))
    }
}

trait MaxActive {
    fn max_active(self) -> Self;
}

impl MaxActive for DeploymentStatus {
    /// The status to keep while retrying: a scheduled deployment has started.
    fn max_active(self) -> Self {
        match self {
            DeploymentStatus::Scheduled => DeploymentStatus::Deploying,
            other => other,
        }
    }
}
