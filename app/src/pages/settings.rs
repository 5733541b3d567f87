//! `/settings`: Settings.

use leptos::prelude::*;
use leptos_meta::Title;

use super::{EmptyState, PageHeader};

/// Settings.
#[component]
pub fn SettingsPage() -> impl IntoView {
    view! {
        <Title text="Settings" />
        <PageHeader title="Settings" subtitle="Users, API tokens, share links and embedding." />
        <EmptyState title="Nothing to configure yet">
            <p>"This build runs without accounts. Users, roles and API tokens will be managed here."</p>
        </EmptyState>
    }
}
