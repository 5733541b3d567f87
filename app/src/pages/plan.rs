//! `/plan`: The slice planner.

use leptos::prelude::*;
use leptos_meta::Title;

use super::{EmptyState, PageHeader};

/// The slice planner.
#[component]
pub fn PlanPage() -> impl IntoView {
    view! {
        <Title text="Plan" />
        <PageHeader title="Plan" subtitle="Lay out MIG instances on a node's GPUs with NVIDIA's placement rules enforced as you go." />
        <EmptyState title="The planner is not in this build yet">
            <p>"Once it is, you will drag profiles such as 3g.40gb onto GPUs, size models to slices and export the plan as a blueprint or mig-parted YAML."</p>
        </EmptyState>
    }
}
