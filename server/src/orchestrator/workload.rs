//! Workload deployments: a replica per free slice where migboard places them (each slice stored
//! before its workload starts), or workload objects where the cluster schedules.

use std::collections::BTreeSet;

use mig::blueprint::{Blueprint, GpuRequest};
use mig::wire::{DeploymentStatus, PlacementInfo, PlacementState, StepState};

use super::{Failure, Orchestrator, Outcome};
use crate::cluster::{ClusterWorkload, Fleet, Scheduling, WorkloadRequest};
use crate::store::{Deployment, Placement};

/// The simulated process id of replica `replica` of deployment `id`: stable, so a restarted
/// orchestrator starting it again finds the same process.
fn pid_of(id: i64, replica: u32) -> u32 {
    u32::try_from(100_000 + id.saturating_mul(1000) + i64::from(replica)).unwrap_or(u32::MAX)
}

impl Orchestrator {
    pub(super) async fn run_workload(
        &self,
        d: &Deployment,
        blueprint: &Blueprint,
        w: &mig::blueprint::Workload,
    ) -> Outcome {
        if self.schedules() == Scheduling::Cluster {
            let made = self
                .inner
                .cluster
                .deploy_workload(ClusterWorkload {
                    id: d.id,
                    blueprint,
                    workload: w,
                })
                .await?;
            self.step(d.id, "objects", StepState::Done, &format!("created {made}"))
                .await?;
            return Ok((
                DeploymentStatus::Monitoring,
                format!("{made}: waiting for {} replica(s)", w.replicas),
            ));
        }
        let profile = match &w.gpu {
            GpuRequest::Mig(p) => p.clone(),
            other => {
                let asked = match other {
                    GpuRequest::None => "no GPU".to_owned(),
                    GpuRequest::Gpus(n) => format!("{n} whole NVIDIA GPU(s)"),
                    GpuRequest::AmdGpus(n) => format!("{n} AMD GPU(s)"),
                    GpuRequest::Mig(_) => unreachable!("matched above"),
                };
                let message = format!(
                    "this deployment asks for {asked}; the embedded fleet runs MIG workloads only (set mig_resource_request), a Kubernetes fleet schedules the rest"
                );
                self.step(d.id, "place", StepState::Failed, &message)
                    .await?;
                return Err(Failure::Permanent(message));
            }
        };
        // Nodes of its own (recipe_use_shared_node_pool false): started first, placed only there.
        let own_pool = match &w.own_nodes {
            Some(own) => Some(self.own_pool(d, w, own).await?),
            None => None,
        };
        let placed = self.inner.store.placements(d.id).await?;
        for replica in 0..w.replicas {
            let key = format!("replica/{replica}");
            let p = match placed
                .iter()
                .find(|p| p.replica == replica && p.state == PlacementState::Placed)
            {
                Some(p) => p.clone(),
                None => {
                    let fleet = self.refresh().await;
                    let Some((node, gpu, start)) =
                        self.free_slot(&fleet, &profile, &w.shape, own_pool.as_deref()).await?
                    else {
                        let waiting = w.replicas - replica;
                        let view = fleet.view(Vec::new());
                        let (free, total, placeable) =
                            view.nodes.iter().fold((0, 0, 0), |(f, t, p), n| {
                                let (nt, nf) = n.slices_of(&profile);
                                (f + nf, t + nt, p + view.placeable(n, &profile))
                            });
                        let pods = if placeable < free {
                            format!(", but their nodes' pods per node (recipe_max_pods_per_node less {} system pods) leave room for {placeable}", mig::blueprint::SYSTEM_PODS_PER_NODE)
                        } else {
                            String::new()
                        };
                        if w.skip_capacity_validation {
                            // Queued, as skip_capacity_validation promises: placed as slices free up.
                            let message = format!(
                                "{}{waiting} free {profile} slice{} ({replica} of {} replicas running; {free} of {total} {profile} slices in the fleet are free{pods}): placed as slices free up, undeploy to cancel",
                                super::QUEUED,
                                if waiting == 1 { "" } else { "s" },
                                w.replicas
                            );
                            self.step(d.id, &key, StepState::Pending, &message).await?;
                            return Err(Failure::Queued(message));
                        }
                        let message = format!(
                            "no free {profile} slice for replica {replica} of {} ({free} of {total} {profile} slices in the fleet are free{pods}); apply a config with {profile} to more nodes, or lower recipe_replica_count",
                            w.replicas
                        );
                        self.step(d.id, &key, StepState::Failed, &message).await?;
                        return Err(Failure::Permanent(message));
                    };
                    let p = Placement {
                        deployment_id: d.id,
                        info: PlacementInfo {
                            replica,
                            node,
                            gpu,
                            start,
                            profile: profile.clone(),
                            pid: pid_of(d.id, replica),
                            state: PlacementState::Placed,
                        },
                    };
                    self.inner.store.place(&p).await?;
                    p
                }
            };
            self.start_replica(&p).await?;
            self.step(
                d.id,
                &key,
                StepState::Done,
                &format!(
                    "replica {replica} running on {} GPU {} ({profile} at slice {}, pid {})",
                    p.node, p.gpu, p.start, p.pid
                ),
            )
            .await?;
        }
        self.refresh().await;
        Ok((
            DeploymentStatus::Monitoring,
            format!("{} replica(s) running on {profile} slices", w.replicas),
        ))
    }

    /// The first free slice of `profile` on a node of `shape` (any shape when empty): no process on
    /// it and no replica placed there.
    pub(super) async fn free_slot(
        &self,
        fleet: &Fleet,
        profile: &str,
        shape: &str,
        only_pool: Option<&str>,
    ) -> Result<Option<(String, u32, u8)>, Failure> {
        let taken: BTreeSet<(String, u32, u8)> = self
            .inner
            .store
            .placed()
            .await?
            .into_iter()
            .map(|p| (p.info.node, p.info.gpu, p.info.start))
            .collect();
        for node in &fleet.nodes {
            if node.error.is_some() || !(shape.is_empty() || node.shape.eq_ignore_ascii_case(shape))
            {
                continue;
            }
            // A deployment's own nodes serve it alone; one with nodes of its own runs only there.
            let pool = fleet.pools.iter().find(|p| p.name == node.pool);
            let dedicated = pool.is_some_and(|p| p.dedicated_to.is_some());
            match only_pool {
                Some(only) if node.pool != only => continue,
                None if dedicated => continue,
                _ => {}
            }
            // The pool's pods per node bound the replicas a node runs (recipe_max_pods_per_node,
            // less the system pods every GPU node runs).
            let max_pods =
                pool.map_or(mig::blueprint::DEFAULT_MAX_PODS_PER_NODE, |p| p.max_pods_per_node);
            let running = taken.iter().filter(|(n, _, _)| *n == node.name).count().max(
                node.gpus.iter().map(|g| g.busy.len()).sum::<usize>(),
            );
            if u32::try_from(running).unwrap_or(u32::MAX)
                >= max_pods.saturating_sub(mig::blueprint::SYSTEM_PODS_PER_NODE)
            {
                continue;
            }
            for gpu in &node.gpus {
                for inst in &gpu.instances {
                    if inst.profile == profile
                        && !gpu.busy.iter().any(|b| b.start == inst.start)
                        && !taken.contains(&(node.name.clone(), gpu.index, inst.start))
                    {
                        return Ok(Some((node.name.clone(), gpu.index, inst.start)));
                    }
                }
            }
        }
        Ok(None)
    }

    pub(super) async fn start_replica(&self, p: &Placement) -> Result<(), Failure> {
        let fleet = self.fleet();
        let memory = fleet
            .nodes
            .iter()
            .find(|n| n.name == p.node)
            .and_then(|n| n.gpus.iter().find(|g| g.index == p.gpu))
            .and_then(|g| g.model)
            .and_then(|m| m.profile(&p.profile))
            .map_or(0, |s| u64::from(s.memory_mib) * 9 / 10);
        self.inner
            .cluster
            .start_workload(
                &p.node,
                &WorkloadRequest {
                    gpu: p.gpu,
                    start: p.start,
                    pid: p.pid,
                    memory_mib: memory,
                },
            )
            .await?;
        Ok(())
    }
}
