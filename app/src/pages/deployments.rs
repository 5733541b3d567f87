//! `/deployments`: Deployments and their live status.

use leptos::prelude::*;
use leptos_meta::Title;

use super::{EmptyState, PageHeader};

/// Deployments and their live status.
#[component]
pub fn DeploymentsPage() -> impl IntoView {
    view! {
        <Title text="Deployments" />
        <PageHeader title="Deployments" subtitle="Blueprints deployed onto the fleet, with their step log and live status." />
        <EmptyState title="Nothing deployed">
            <p>"Deployments you start from a blueprint will be listed here with their status: scheduled, active, monitoring, failed or completed."</p>
        </EmptyState>
    }
}
