//! One orchestrator leader among server replicas, elected with a `coordination.k8s.io/v1` Lease, the
//! way kube-controller-manager does: the holder renews it every third of its duration; another
//! replica takes it over only after seeing the same record unchanged for a whole duration (its own
//! clock, never a comparison with the holder's), and every write carries the resourceVersion it read,
//! so two replicas cannot both win a takeover.
//!
//! A replica that loses the lease stops leading at once ([`crate::leader::Leadership`] turns false); `main` then
//! exits, so Kubernetes restarts it as a follower rather than letting two orchestrators overlap.

use std::sync::Mutex;
use std::time::{Duration, Instant};

use k8s_openapi::api::coordination::v1::{Lease, LeaseSpec};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{MicroTime, ObjectMeta};
use k8s_openapi::jiff::Timestamp;
use kube::api::{Api, PostParams};
use tokio::sync::watch;

use super::{api_error, status_code};

use crate::leader::Leadership;

/// A Lease-based elector.
#[derive(Debug)]
pub struct Elector {
    api: Api<Lease>,
    name: String,
    identity: String,
    duration: Duration,
    /// The record last seen held by someone else, and when it was first seen unchanged.
    observed: Mutex<Option<(String, Instant)>>,
    /// Set by [`Elector::release`]: the election loop stops.
    stopped: std::sync::atomic::AtomicBool,
}

fn now() -> MicroTime {
    MicroTime(Timestamp::now())
}

impl Elector {
    /// An elector for Lease `namespace/name`, as `identity` (the pod name), holding it for `duration`.
    pub fn new(
        client: kube::Client,
        namespace: &str,
        name: &str,
        identity: &str,
        duration: Duration,
    ) -> Self {
        Self {
            api: Api::namespaced(client, namespace),
            name: name.to_owned(),
            identity: identity.to_owned(),
            duration,
            observed: Mutex::new(None),
            stopped: std::sync::atomic::AtomicBool::new(false),
        }
    }

    /// One round: takes the lease when free or expired, renews it when held. Returns whether this
    /// replica holds it now.
    ///
    /// # Errors
    /// What the API server said, when it could not be asked (a conflict is not an error: it is a lost
    /// race, so `false`).
    pub async fn try_acquire(&self) -> Result<bool, String> {
        let seconds = i32::try_from(self.duration.as_secs())
            .unwrap_or(i32::MAX)
            .max(1);
        let current = self
            .api
            .get_opt(&self.name)
            .await
            .map_err(|e| api_error("reading the leader lease", &e))?;
        let Some(mut lease) = current else {
            let lease = Lease {
                metadata: ObjectMeta {
                    name: Some(self.name.clone()),
                    ..ObjectMeta::default()
                },
                spec: Some(LeaseSpec {
                    holder_identity: Some(self.identity.clone()),
                    lease_duration_seconds: Some(seconds),
                    acquire_time: Some(now()),
                    renew_time: Some(now()),
                    lease_transitions: Some(0),
                    ..LeaseSpec::default()
                }),
            };
            return match self.api.create(&PostParams::default(), &lease).await {
                Ok(_) => Ok(true),
                Err(e) if status_code(&e) == Some(409) => Ok(false),
                Err(e) => Err(api_error("creating the leader lease", &e)),
            };
        };
        let spec = lease.spec.clone().unwrap_or_default();
        let holder = spec.holder_identity.clone().unwrap_or_default();
        let version = lease.metadata.resource_version.clone().unwrap_or_default();
        let mine = holder == self.identity;
        if !mine && !holder.is_empty() {
            let held_for = Duration::from_secs(
                u64::try_from(spec.lease_duration_seconds.unwrap_or(seconds)).unwrap_or(1),
            );
            let mut observed = self
                .observed
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            let first_seen = match &*observed {
                Some((v, at)) if *v == version => *at,
                _ => {
                    *observed = Some((version.clone(), Instant::now()));
                    return Ok(false);
                }
            };
            if first_seen.elapsed() < held_for {
                return Ok(false);
            }
            tracing::info!(holder = %holder, "the leader lease expired; taking it over");
        }
        let mut spec = spec;
        if !mine {
            spec.acquire_time = Some(now());
            spec.lease_transitions = Some(spec.lease_transitions.unwrap_or(0) + 1);
        }
        spec.holder_identity = Some(self.identity.clone());
        spec.lease_duration_seconds = Some(seconds);
        spec.renew_time = Some(now());
        lease.spec = Some(spec);
        // `replace` sends the resourceVersion read above: a write by anyone since is a 409.
        match self
            .api
            .replace(&self.name, &PostParams::default(), &lease)
            .await
        {
            Ok(_) => Ok(true),
            Err(e) if status_code(&e) == Some(409) => Ok(false),
            Err(e) => Err(api_error("renewing the leader lease", &e)),
        }
    }

    /// Gives the lease up (on shutdown), so a follower need not wait for it to expire.
    pub async fn release(&self) {
        self.stopped
            .store(true, std::sync::atomic::Ordering::SeqCst);
        let Ok(Some(mut lease)) = self.api.get_opt(&self.name).await else {
            return;
        };
        let Some(spec) = lease.spec.as_mut() else {
            return;
        };
        if spec.holder_identity.as_deref() != Some(&self.identity) {
            return;
        }
        spec.holder_identity = None;
        spec.renew_time = Some(now());
        if let Err(e) = self
            .api
            .replace(&self.name, &PostParams::default(), &lease)
            .await
        {
            tracing::warn!(error = %e, "could not release the leader lease; it expires by itself");
        }
    }

    /// Runs the election: tries every third of the duration (renewing when leading). A leader that
    /// cannot renew within the duration stops leading.
    pub fn spawn(self: std::sync::Arc<Self>) -> (Leadership, tokio::task::JoinHandle<()>) {
        let (tx, rx) = watch::channel(false);
        let task = tokio::spawn(async move {
            let every = (self.duration / 3).max(Duration::from_millis(50));
            let mut renewed = Instant::now();
            while !self.stopped.load(std::sync::atomic::Ordering::SeqCst) {
                let leading = *tx.borrow();
                match self.try_acquire().await {
                    Ok(true) => {
                        renewed = Instant::now();
                        if !leading {
                            tracing::info!(identity = %self.identity, lease = %self.name, "leading");
                            tx.send_replace(true);
                        }
                    }
                    Ok(false) => {
                        if leading {
                            tracing::warn!(identity = %self.identity, "lost the leader lease");
                            tx.send_replace(false);
                        }
                    }
                    Err(e) => {
                        tracing::warn!(error = %e, "leader election round failed");
                        if leading && renewed.elapsed() >= self.duration {
                            tracing::warn!(identity = %self.identity, "could not renew the leader lease in time");
                            tx.send_replace(false);
                        }
                    }
                }
                tokio::time::sleep(every).await;
            }
        });
        (Leadership::elected(rx), task)
    }
}
