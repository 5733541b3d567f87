//! The authorization policy: what each route and server function needs, in one table and one
//! function. A route it does not name needs an admin.

use axum::http::Method;
use mig::wire::Role;

/// What a route needs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Need {
    /// Anyone, signed in or not.
    Public,
    /// A signed-in user with at least this role.
    Role(Role),
}

/// Server functions (`/api/{endpoint}`) by what they need. A server function missing here needs
/// an admin (the authorization matrix test fails for it).
const SERVER_FNS: &[(&str, Need)] = &[
    ("shared", Need::Public),
    ("embed_view", Need::Public),
    ("whoami", Need::Public),
    ("status", Need::Role(Role::Viewer)),
    ("fleet", Need::Role(Role::Viewer)),
    ("fleet_summary", Need::Role(Role::Viewer)),
    ("fleet_nodes", Need::Role(Role::Viewer)),
    ("deployments", Need::Role(Role::Viewer)),
    ("deployment", Need::Role(Role::Viewer)),
    ("node", Need::Role(Role::Viewer)),
    ("list_shares", Need::Role(Role::Viewer)),
    ("previous_layouts", Need::Role(Role::Viewer)),
    ("list_embeds", Need::Role(Role::Viewer)),
    ("blueprint_catalogue", Need::Role(Role::Viewer)),
    ("named_configs", Need::Role(Role::Viewer)),
    ("my_tokens", Need::Role(Role::Viewer)),
    ("create_token", Need::Role(Role::Viewer)),
    ("revoke_token", Need::Role(Role::Viewer)),
    ("change_password", Need::Role(Role::Viewer)),
    ("validate_blueprint", Need::Role(Role::Operator)),
    ("deploy", Need::Role(Role::Operator)),
    ("save_config", Need::Role(Role::Operator)),
    ("revert_node", Need::Role(Role::Operator)),
    ("apply_fleet_plan", Need::Role(Role::Operator)),
    ("undeploy", Need::Role(Role::Operator)),
    ("resume_deployment", Need::Role(Role::Operator)),
    ("revert_deployment", Need::Role(Role::Operator)),
    ("create_share", Need::Role(Role::Operator)),
    ("revoke_share", Need::Role(Role::Operator)),
    ("create_embed", Need::Role(Role::Operator)),
    ("revoke_embed", Need::Role(Role::Operator)),
    ("users", Need::Role(Role::Admin)),
    ("create_user", Need::Role(Role::Admin)),
    ("update_user", Need::Role(Role::Admin)),
    ("audit_log", Need::Role(Role::Admin)),
];

/// What `method path` needs: the whole authorization policy.
///
/// Reading needs a viewer; planning, validating, deploying, undeploying and sharing an operator;
/// users and the audit log an admin. Public: sign-in, health, static files, share and embed links and the
/// API description. Everyone manages their own API tokens (they could mint one with their password
/// anyway); admins see and revoke everyone's.
#[must_use]
pub fn policy(method: &Method, path: &str) -> Need {
    const VIEWER: Need = Need::Role(Role::Viewer);
    const OPERATOR: Need = Need::Role(Role::Operator);
    const ADMIN: Need = Need::Role(Role::Admin);
    let read = matches!(*method, Method::GET | Method::HEAD);
    if let Some(rest) = path.strip_prefix("/api/v1/") {
        let seg: Vec<&str> = rest.split('/').collect();
        return match (read, seg.as_slice()) {
            (
                true,
                ["share" | "embed", _] | ["share" | "embed", _, "events"] | ["openapi.json"],
            ) => Need::Public,
            (false, ["login"]) => Need::Public,
            (true, ["users"] | ["audit"]) => ADMIN,
            (true, _) => VIEWER,
            (
                false,
                ["layouts", "validate"]
                | ["sizing"]
                | ["blueprints", "validate"]
                | ["deployments"]
                | ["deployments", _, "undeploy" | "shares" | "revert" | "resume"]
                | ["shares", _, "revoke"]
                | ["embeds"]
                | ["embeds", _, "revoke"]
                | ["mig-configs"]
                | ["mig-configs", _]
                | ["fleet-plans", "apply"],
            ) => OPERATOR,
            // Planning changes nothing: any reader may ask.
            (
                false,
                ["tokens"] | ["tokens", _, "revoke"] | ["fleet-plans"] | ["me", "password"],
            ) => VIEWER,
            (false, _) => ADMIN,
        };
    }
    if let Some(name) = path.strip_prefix("/api/") {
        return SERVER_FNS
            .iter()
            .find(|(n, _)| *n == name)
            .map_or(ADMIN, |(_, need)| *need);
    }
    let public_page = path == "/login"
        || path == "/logout"
        || path == "/healthz"
        || path == "/readyz"
        // A scraper has no account: /metrics checks its own token or loopback (crate::metrics).
        || path == "/metrics"
        || path == "/favicon.ico"
        || path == "/favicon.svg"
        || path.starts_with("/pkg/")
        || path.starts_with("/share/")
        || path.starts_with(crate::embeds::EMBED_LINK_PREFIX);
    if public_page {
        Need::Public
    } else if path.starts_with("/settings/users") || path.starts_with("/settings/audit") {
        ADMIN
    } else if read {
        VIEWER
    } else {
        ADMIN
    }
}

/// The server functions the policy names, for the authorization matrix test.
#[must_use]
pub fn server_fn_policy() -> &'static [(&'static str, Need)] {
    SERVER_FNS
}
