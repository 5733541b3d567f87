//! `/blueprints`: Blueprint editor and validator.

use leptos::prelude::*;
use leptos_meta::Title;

use super::{EmptyState, PageHeader};

/// Blueprint editor and validator.
#[component]
pub fn BlueprintsPage() -> impl IntoView {
    view! {
        <Title text="Blueprints" />
        <PageHeader title="Blueprints" subtitle="Write OCI AI Blueprints JSON for shared node pools, MIG updates and inference deployments, and check it before it touches a GPU." />
        <EmptyState title="No blueprints yet">
            <p>"Blueprint templates, validation with every problem marked at its JSON path, and deployment from here are not in this build yet."</p>
        </EmptyState>
    }
}
