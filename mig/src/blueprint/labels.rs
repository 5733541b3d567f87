//! Node labels an update may set or remove (`recipe_node_labels`, merge-patched onto every node it
//! targets): Kubernetes' label syntax, and never a label that Kubernetes, the cloud, NVIDIA's GPU
//! Operator or migboard itself acts on. `nvidia.com/gpu.deploy.driver=false` would remove a node's
//! driver; `oke.oraclecloud.com/pool.name` would move a node to another pool.
//!
//! The reserved prefixes are built in (the browser checks them too); a server may reserve more keys
//! (its configured pool label) and narrow what is allowed to a list ([`LabelPolicy`]).

use std::collections::BTreeMap;

use super::Issue;
use super::json::At;

/// Domains whose labels (the domain or any subdomain, before the `/`) belong to the platform, with
/// who relies on them.
pub const RESERVED_DOMAINS: &[(&str, &str)] = &[
    (
        "kubernetes.io",
        "Kubernetes (node roles, topology, the scheduler)",
    ),
    ("k8s.io", "Kubernetes"),
    (
        "nvidia.com",
        "NVIDIA's GPU Operator (driver, device plugin, MIG manager)",
    ),
    ("oraclecloud.com", "OKE (node pools)"),
    ("migboard.io", "migboard (pools, cordons, deployments)"),
];

/// Longest label name (the part after the `/`) and value, as Kubernetes allows.
const MAX_NAME: usize = 63;
/// Longest label prefix (a DNS subdomain).
const MAX_PREFIX: usize = 253;

/// What a server allows beyond the built-in reserved domains.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LabelPolicy {
    /// More keys no update may touch (e.g. the server's configured pool label).
    pub reserved_keys: Vec<String>,
    /// When set, only these keys, or keys under these prefixes (an entry ending in `/`), may be set.
    pub allowed: Option<Vec<String>>,
}

impl LabelPolicy {
    /// Whether `key` passes the allow-list (always, without one).
    pub fn allows(&self, key: &str) -> bool {
        self.allowed.as_ref().is_none_or(|list| {
            list.iter().any(|a| {
                if a.ends_with('/') {
                    key.starts_with(a.as_str())
                } else {
                    key == a
                }
            })
        })
    }
}

/// Who relies on `key`, when it is a reserved label (`None`: free to set).
pub fn reserved(key: &str) -> Option<&'static str> {
    let lower = key.to_ascii_lowercase();
    if lower.starts_with("node-role") {
        return Some("Kubernetes (node roles)");
    }
    let (prefix, _) = lower.split_once('/')?;
    RESERVED_DOMAINS.iter().find_map(|(domain, who)| {
        (prefix == *domain || prefix.ends_with(&format!(".{domain}"))).then_some(*who)
    })
}

/// Why `key` is not a valid Kubernetes label key (`None`: it is).
pub fn key_syntax(key: &str) -> Option<String> {
    let (prefix, name) = match key.split_once('/') {
        Some((p, n)) => (Some(p), n),
        None => (None, key),
    };
    if let Some(p) = prefix {
        let dns = !p.is_empty()
            && p.len() <= MAX_PREFIX
            && p.split('.').all(|part| {
                !part.is_empty()
                    && part.len() <= 63
                    && part
                        .chars()
                        .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
                    && !part.starts_with('-')
                    && !part.ends_with('-')
            });
        if !dns {
            return Some(format!(
                "the prefix `{p}` is not a DNS subdomain (lowercase letters, digits, `-` and `.`, at most {MAX_PREFIX} characters)"
            ));
        }
    }
    name_syntax(name).map(|why| format!("the name `{name}` {why}"))
}

/// Why `name` (a key's name part or a value) breaks Kubernetes' rule (`None`: it keeps it).
fn name_syntax(name: &str) -> Option<&'static str> {
    if name.is_empty() {
        return Some("is empty");
    }
    if name.len() > MAX_NAME {
        return Some("is longer than 63 characters");
    }
    if !name
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
    {
        return Some("may hold only letters, digits, `-`, `_` and `.`");
    }
    if !name.starts_with(|c: char| c.is_ascii_alphanumeric())
        || !name.ends_with(|c: char| c.is_ascii_alphanumeric())
    {
        return Some("must start and end with a letter or digit");
    }
    None
}

/// Every problem with `labels` (an update's `recipe_node_labels`) that needs no server setting, each
/// at `/recipe_node_labels/<key>`: Kubernetes' syntax and the reserved domains.
pub fn check(labels: &BTreeMap<String, String>) -> Vec<Issue> {
    let member = At::ROOT.key("recipe_node_labels");
    let mut out = Vec::new();
    for (key, value) in labels {
        let at = member.key(key);
        if let Some(why) = key_syntax(key) {
            out.push(Issue::error(
                "label_key_invalid",
                &at,
                format!("`{key}` is not a Kubernetes label key: {why}"),
                "write `name` or `prefix/name`, e.g. \"team\" or \"example.com/team\"".into(),
            ));
            continue;
        }
        if !value.is_empty()
            && let Some(why) = name_syntax(value)
        {
            out.push(Issue::error(
                "label_value_invalid",
                &at,
                format!("the value of label `{key}` {why}"),
                "use up to 63 letters, digits, `-`, `_` or `.`, e.g. \"llm-serving\"; an empty value removes the label".into(),
            ));
        }
        if let Some(who) = reserved(key) {
            out.push(reserved_issue(&at, key, who));
        }
    }
    out
}

/// The problems `policy` (a server's settings) adds to [`check`]'s, for keys [`check`] accepts.
pub fn check_policy(labels: &BTreeMap<String, String>, policy: &LabelPolicy) -> Vec<Issue> {
    let member = At::ROOT.key("recipe_node_labels");
    let mut out = Vec::new();
    for key in labels.keys() {
        if key_syntax(key).is_some() || reserved(key).is_some() {
            continue;
        }
        let at = member.key(key);
        if policy.reserved_keys.iter().any(|k| k == key) {
            out.push(reserved_issue(
                &at,
                key,
                "this server (its node pool label)",
            ));
        } else if !policy.allows(key) {
            let list = policy.allowed.as_deref().unwrap_or_default().join(", ");
            out.push(Issue::error(
                "label_not_allowed",
                &at,
                format!("`{key}` is not among the node labels this server lets updates set"),
                format!("use one of: {list} (the server's --node-labels-allowed)"),
            ));
        }
    }
    out
}

fn reserved_issue(at: &At<'_>, key: &str, who: &str) -> Issue {
    Issue::error(
        "label_reserved",
        at,
        format!("`{key}` is a reserved node label: {who} acts on it, so an update may not set or remove it"),
        "use a label of your own, e.g. \"team\" or \"example.com/team\"; MIG layouts change through `shared_node_pool_mig_config`".into(),
    )
}
