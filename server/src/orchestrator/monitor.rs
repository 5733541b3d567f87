//! The monitor: reads the fleet every pass, samples instance memory, and checks monitored
//! deployments (restarting replicas that stopped; reading cluster workloads' readiness).

use mig::wire::{DeploymentStatus, Event, PlacementState, StepState};

use super::{Failure, Orchestrator};
use crate::cluster::{Fleet, Scheduling};
use crate::leader::Leadership;
use crate::store::{Deployment, Placement, Sample, now_ms};

impl Orchestrator {
    pub(super) async fn monitor_loop(&self, leadership: Leadership) {
        let mut last_sample = 0i64;
        loop {
            tokio::time::sleep(self.inner.options.monitor_interval).await;
            // Deployments are checked only while none changes the fleet, against a fleet read
            // under that lock (a read from before a deployment's last change would see its
            // replicas as missing). Taken before the read, so one read serves the samples and the
            // check: at 500 nodes a read is 500 agent round trips.
            let idle = self.inner.work.try_lock().ok();
            let fleet = self.refresh().await;
            if !leadership.is_leader() {
                continue;
            }
            let now = now_ms();
            if now - last_sample
                >= i64::try_from(self.inner.options.sample_every.as_millis()).unwrap_or(i64::MAX)
            {
                last_sample = now;
                let samples: Vec<Sample> = fleet
                    .nodes
                    .iter()
                    .flat_map(|n| {
                        n.gpus.iter().flat_map(move |g| {
                            g.busy.iter().map(move |b| Sample {
                                node: n.name.clone(),
                                gpu: g.index,
                                start: b.start,
                                profile: b.profile.clone(),
                                at_ms: now,
                                used_mib: b.used_memory_mib,
                            })
                        })
                    })
                    .collect();
                // A week of samples for the node page's 7-day chart: every sample of the last day,
                // about one per 10 minutes before that.
                let every = i64::try_from(self.inner.options.sample_every.as_millis())
                    .unwrap_or(i64::MAX);
                let keep = crate::store::SampleRetention {
                    since_ms: now - mig::wire::ChartRange::Week.span_ms(),
                    full_since_ms: now - mig::wire::ChartRange::Day.span_ms(),
                    coarse_every_ms: 600_000,
                    // Two sampling periods, so each 10 minutes keeps at least one sample.
                    coarse_window_ms: every.saturating_mul(2),
                };
                if let Err(e) = self.inner.store.add_samples(&samples, keep).await
                {
                    tracing::warn!(error = %e, "cannot store memory samples");
                }
            }
            let Some(_one) = idle else {
                continue;
            };
            if let Err(e) = self.check_monitored(&fleet).await {
                tracing::warn!(error = ?e, "monitoring deployments failed; will retry");
            }
        }
    }

    pub(super) async fn check_monitored(&self, fleet: &Fleet) -> Result<(), Failure> {
        let monitored: Vec<Deployment> = self
            .inner
            .store
            .deployments()
            .await?
            .into_iter()
            .filter(|d| d.status == DeploymentStatus::Monitoring)
            .collect();
        if self.schedules() == Scheduling::Cluster {
            for d in monitored {
                self.check_cluster_workload(&d).await?;
            }
            return Ok(());
        }
        for d in monitored {
            let placements = self.inner.store.placements(d.id).await?;
            let running_on = |p: &Placement| {
                fleet.nodes.iter().any(|n| {
                    n.name == p.node
                        && n.gpus.iter().any(|g| {
                            g.index == p.gpu
                                && g.busy
                                    .iter()
                                    .any(|b| b.start == p.start && b.pids.contains(&p.pid))
                        })
                })
            };
            let total = u32::try_from(placements.len()).unwrap_or(u32::MAX);
            let missing: Vec<&Placement> = placements
                .iter()
                .filter(|p| p.state == PlacementState::Placed && !running_on(p))
                .collect();
            let running = total - u32::try_from(missing.len()).unwrap_or(0);
            self.publish(Event::Monitor {
                deployment_id: d.id,
                running,
                total,
                at_ms: now_ms(),
            });
            let message = if missing.is_empty() {
                format!("nominal: {running}/{total} replicas running")
            } else {
                // Restart what stopped (a crashed process, a node agent restarted); the caller holds
                // the work lock, so no update reconfigures the GPU meanwhile.
                for p in &missing {
                    self.start_replica(p).await?;
                }
                format!(
                    "restarted {} replica(s) that had stopped; {total}/{total} running",
                    missing.len()
                )
            };
            self.monitor_step(d.id, &message).await?;
        }
        Ok(())
    }

    /// Records `message` as deployment `id`'s `monitor` step, unless that is what it says already
    /// (a pass every 2 s must not grow the step log).
    pub(super) async fn monitor_step(&self, id: i64, message: &str) -> Result<(), Failure> {
        let steps = self.inner.store.steps(id).await?;
        if steps
            .iter()
            .find(|s| s.key == "monitor")
            .is_none_or(|s| s.message != message)
        {
            self.step(id, "monitor", StepState::Done, message).await?;
        }
        Ok(())
    }

    /// One monitoring pass over a cluster-scheduled workload: its readiness as an event and a step,
    /// and a job's end as the deployment's end.
    pub(super) async fn check_cluster_workload(&self, d: &Deployment) -> Result<(), Failure> {
        let status = match self.inner.cluster.workload_status(d.id).await {
            Ok(s) => s,
            Err(e) if !e.is_transient() => {
                self.set_status(d.id, DeploymentStatus::Failed, &e.to_string())
                    .await?;
                return Ok(());
            }
            Err(e) => return Err(e.into()),
        };
        self.publish(Event::Monitor {
            deployment_id: d.id,
            running: status.ready,
            total: status.wanted,
            at_ms: now_ms(),
        });
        let mut message = format!("{}/{} replica(s) ready", status.ready, status.wanted);
        if !status.detail.is_empty() {
            message.push_str(&format!("; {}", status.detail));
        }
        self.monitor_step(d.id, &message).await?;
        match status.finished {
            Some(true) => {
                self.set_status(
                    d.id,
                    DeploymentStatus::Completed,
                    &format!("job finished: {message}"),
                )
                .await?
            }
            Some(false) => {
                self.set_status(
                    d.id,
                    DeploymentStatus::Failed,
                    &format!("job failed: {message}"),
                )
                .await?
            }
            None => {}
        }
        Ok(())
    }
}
