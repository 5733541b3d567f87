//! Whether this replica drives deployments. One replica leads among several (elected by the
//! Kubernetes backend's Lease, `cluster::kubernetes::lease`); a lone replica always leads. The
//! orchestrator's worker and monitor only read this.

use tokio::sync::watch;

/// Whether this replica leads: a watch that workers wait on.
#[derive(Debug, Clone)]
pub struct Leadership {
    leads: watch::Receiver<bool>,
    solo: bool,
}

impl Leadership {
    /// Always the leader (one replica: the embedded fleet, or no election).
    #[must_use]
    pub fn always() -> Self {
        let (tx, rx) = watch::channel(true);
        // The sender is dropped; the last value stays readable.
        drop(tx);
        Self {
            leads: rx,
            solo: true,
        }
    }

    /// Leadership as an elector reports it: leading while `leads` says so.
    #[must_use]
    pub fn elected(leads: watch::Receiver<bool>) -> Self {
        Self { leads, solo: false }
    }

    /// Whether this is the only replica (no election): then every submission reaches it directly,
    /// while an elected leader must also look for work other replicas took in.
    pub fn is_solo(&self) -> bool {
        self.solo
    }

    /// Leads now.
    pub fn is_leader(&self) -> bool {
        *self.leads.borrow()
    }

    /// Waits until this replica leads.
    pub async fn acquired(&mut self) {
        // An error means the elector stopped; its last value stands.
        if self.leads.wait_for(|l| *l).await.is_err() {
            std::future::pending::<()>().await;
        }
    }

    /// Waits until this replica, having led, stops leading.
    pub async fn lost(&mut self) {
        if self.leads.wait_for(|l| !*l).await.is_err() {
            std::future::pending::<()>().await;
        }
    }
}
