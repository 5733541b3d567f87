//! The fleet page at hundreds of nodes: a summary per pool (counts, not nodes) and one page of the
//! nodes a filter picks. The page never ships the whole fleet: a 500-node fleet is 1.5 MB of JSON,
//! its summary a few KiB and a page of nodes some tens.
//!
//! Pure: the server answers from the fleet it keeps, the browser encodes the same [`NodeQuery`]
//! in the page's address (`/?pool=…&config=…&drifted=1&q=…&page=2`), so every view is a link.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::fleet::{Fleet, FleetNodeInfo};

/// Nodes per page of the node list.
pub const NODES_PER_PAGE: usize = 20;

/// The `config` filter value that picks nodes no named config matches ("custom layout").
pub const CUSTOM_LAYOUT: &str = "-";

/// Which nodes to list. Every field narrows; the default lists them all.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct NodeQuery {
    /// Only this pool.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pool: Option<String>,
    /// Only GPUs of this model (its id, `h100-80gb`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub model: Option<String>,
    /// Only nodes on this named config ([`CUSTOM_LAYOUT`]: on none).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub config: Option<String>,
    /// Only nodes changed outside migboard.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub drifted: bool,
    /// Only nodes with a slice in use.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub busy: bool,
    /// Only nodes whose name holds this text (any case).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub search: Option<String>,
    /// The page, from 1 (0 reads as 1; past the last, the last).
    #[serde(skip_serializing_if = "is_first")]
    pub page: u32,
}

#[allow(clippy::trivially_copy_pass_by_ref, reason = "serde's skip_serializing_if passes a reference")]
fn is_first(page: &u32) -> bool {
    *page <= 1
}

/// The model of a node's GPUs: what its agent reports, else its shape's.
#[must_use]
pub fn node_model(node: &FleetNodeInfo) -> Option<crate::GpuModel> {
    node.gpus
        .iter()
        .find_map(|g| g.model)
        .or_else(|| crate::shape::shape(&node.shape).map(|s| s.model))
}

/// Whether a slice of the node is in use.
#[must_use]
pub fn node_busy(node: &FleetNodeInfo) -> bool {
    node.gpus.iter().any(|g| !g.busy.is_empty())
}

impl NodeQuery {
    /// Whether `node` passes every filter (the page aside).
    #[must_use]
    pub fn matches(&self, node: &FleetNodeInfo) -> bool {
        fn text(v: &Option<String>) -> Option<&str> {
            v.as_deref().map(str::trim).filter(|s| !s.is_empty())
        }
        if text(&self.pool).is_some_and(|p| p != node.pool) {
            return false;
        }
        if text(&self.model).is_some_and(|m| node_model(node).is_none_or(|n| n.id() != m)) {
            return false;
        }
        if let Some(c) = text(&self.config) {
            let on = node.mig_config.as_deref().unwrap_or(CUSTOM_LAYOUT);
            if on != c {
                return false;
            }
        }
        if self.drifted && node.drift.is_none() {
            return false;
        }
        if self.busy && !node_busy(node) {
            return false;
        }
        if let Some(s) = text(&self.search) {
            if !node.name.to_lowercase().contains(&s.to_lowercase()) {
                return false;
            }
        }
        true
    }

    /// Whether any filter is set (the page aside).
    #[must_use]
    pub fn filters(&self) -> bool {
        !self.matches_everything()
    }

    fn matches_everything(&self) -> bool {
        let blank = |v: &Option<String>| v.as_deref().is_none_or(|s| s.trim().is_empty());
        blank(&self.pool)
            && blank(&self.model)
            && blank(&self.config)
            && !self.drifted
            && !self.busy
            && blank(&self.search)
    }

    /// The query as `key=value&…` for the page's address, filters only where set (no `?`).
    #[must_use]
    pub fn to_query(&self) -> String {
        let enc = crate::planner::encode_component;
        let mut parts = Vec::new();
        for (key, value) in [
            ("pool", &self.pool),
            ("model", &self.model),
            ("config", &self.config),
            ("q", &self.search),
        ] {
            if let Some(v) = value.as_deref().map(str::trim).filter(|s| !s.is_empty()) {
                parts.push(format!("{key}={}", enc(v)));
            }
        }
        if self.drifted {
            parts.push("drifted=1".to_owned());
        }
        if self.busy {
            parts.push("busy=1".to_owned());
        }
        if self.page > 1 {
            parts.push(format!("page={}", self.page));
        }
        parts.join("&")
    }

    /// Reads the page's address parameters (`get` answers one by name, already decoded); what is
    /// not understood is left out rather than refused: an old link still opens the fleet.
    #[must_use]
    pub fn from_params(get: impl Fn(&str) -> Option<String>) -> Self {
        let text = |key: &str| get(key).map(|v| v.trim().to_owned()).filter(|v| !v.is_empty());
        let flag = |key: &str| get(key).is_some_and(|v| matches!(v.as_str(), "1" | "true" | "on" | "yes"));
        Self {
            pool: text("pool"),
            model: text("model"),
            config: text("config"),
            drifted: flag("drifted"),
            busy: flag("busy"),
            search: text("q"),
            page: text("page").and_then(|p| p.parse().ok()).unwrap_or(1),
        }
    }
}

/// Instances of one profile: free and in use.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProfileUse {
    /// Free instances.
    pub free: u32,
    /// Instances with a workload.
    pub used: u32,
}

/// What a set of nodes offers: instances per profile, stranded memory, whole GPUs.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SliceUse {
    /// Per profile name.
    pub profiles: BTreeMap<String, ProfileUse>,
    /// Memory slices of MIG-enabled GPUs outside every instance: no workload can get them until
    /// the layout changes.
    pub stranded: u32,
    /// GPUs with MIG off (whole GPUs).
    pub whole: u32,
}

impl SliceUse {
    /// Adds one node's GPUs.
    pub fn add(&mut self, node: &FleetNodeInfo) {
        for g in &node.gpus {
            if g.mig_mode == crate::MigMode::Disabled {
                self.whole += 1;
                continue;
            }
            for i in &g.instances {
                let e = self.profiles.entry(i.profile.clone()).or_default();
                if g.busy.iter().any(|b| b.start == i.start) {
                    e.used += 1;
                } else {
                    e.free += 1;
                }
            }
            self.stranded += u32::from(crate::model::MEMORY_SLICES) - g.used_mask().count_ones();
        }
    }

    /// The use of `nodes`.
    #[must_use]
    pub fn of<'a>(nodes: impl IntoIterator<Item = &'a FleetNodeInfo>) -> Self {
        let mut u = Self::default();
        nodes.into_iter().for_each(|n| u.add(n));
        u
    }
}

/// One pool in counts.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct PoolSummary {
    /// Pool name.
    pub name: String,
    /// Node shape.
    pub shape: String,
    /// Pods per node.
    pub max_pods_per_node: u32,
    /// Nodes.
    pub nodes: u32,
    /// GPUs.
    pub gpus: u32,
    /// Instances per profile, stranded memory, whole GPUs.
    pub slices: SliceUse,
    /// Nodes per named config ([`CUSTOM_LAYOUT`] for none).
    pub configs: BTreeMap<String, u32>,
    /// Nodes changed outside migboard.
    pub drifted: u32,
    /// Nodes with a slice in use.
    pub busy: u32,
    /// Nodes that cannot be read now.
    pub unavailable: u32,
    /// The planner on this pool's first node's layout, for every node of the pool, exported as an
    /// update of the pool.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub plan_link: Option<String>,
}

/// The fleet in counts: what the fleet page shows before any node, and the filters' choices.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct FleetSummary {
    /// Every pool, in the fleet's order.
    pub pools: Vec<PoolSummary>,
    /// Nodes.
    pub nodes: u32,
    /// GPUs.
    pub gpus: u32,
    /// The whole fleet's instances per profile.
    pub slices: SliceUse,
    /// GPU model ids present (the model filter's choices).
    pub models: Vec<String>,
    /// Config names present, [`CUSTOM_LAYOUT`] included when some node has none (the config
    /// filter's choices).
    pub configs: Vec<String>,
    /// Nodes changed outside migboard.
    pub drifted: u32,
    /// Nodes with a slice in use.
    pub busy: u32,
}

/// One page of the nodes a [`NodeQuery`] picks.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct NodePage {
    /// The query answered, its page clamped to the pages there are.
    pub query: NodeQuery,
    /// This page's nodes, by pool in the fleet's order, then as the fleet lists them.
    pub nodes: Vec<FleetNodeInfo>,
    /// Nodes matching, on every page.
    pub matching: u32,
    /// Pages (at least 1).
    pub pages: u32,
    /// This page, from 1 (the query's, clamped to `1..=pages`).
    pub page: u32,
    /// Matching nodes per pool (pools with none left out), for the pool headings.
    pub per_pool: BTreeMap<String, u32>,
    /// Nodes in the fleet.
    pub total: u32,
}

fn count(n: usize) -> u32 {
    u32::try_from(n).unwrap_or(u32::MAX)
}

impl Fleet {
    /// The fleet in counts.
    #[must_use]
    pub fn summary(&self) -> FleetSummary {
        let mut by_pool: BTreeMap<&str, Vec<&FleetNodeInfo>> = BTreeMap::new();
        for n in &self.nodes {
            by_pool.entry(n.pool.as_str()).or_default().push(n);
        }
        let mut models = std::collections::BTreeSet::new();
        let mut configs = std::collections::BTreeSet::new();
        let pools = self
            .pools
            .iter()
            .map(|p| {
                let nodes = by_pool.get(p.name.as_str()).map_or(&[][..], Vec::as_slice);
                let mut s = PoolSummary {
                    name: p.name.clone(),
                    shape: p.shape.clone(),
                    max_pods_per_node: p.max_pods_per_node,
                    nodes: count(nodes.len()),
                    plan_link: nodes.first().and_then(|first| {
                        plan_link(
                            first,
                            count(nodes.len()),
                            &crate::planner::UpdateTarget::Pool(p.name.clone()),
                        )
                    }),
                    ..PoolSummary::default()
                };
                for n in nodes {
                    s.gpus += count(n.gpus.len());
                    s.slices.add(n);
                    let config = n.mig_config.clone().unwrap_or_else(|| CUSTOM_LAYOUT.to_owned());
                    configs.insert(config.clone());
                    *s.configs.entry(config).or_default() += 1;
                    s.drifted += u32::from(n.drift.is_some());
                    s.busy += u32::from(node_busy(n));
                    s.unavailable += u32::from(n.error.is_some());
                    if let Some(m) = node_model(n) {
                        models.insert(m.id().to_owned());
                    }
                }
                s
            })
            .collect::<Vec<_>>();
        FleetSummary {
            nodes: count(self.nodes.len()),
            gpus: count(self.nodes.iter().map(|n| n.gpus.len()).sum()),
            slices: SliceUse::of(&self.nodes),
            models: models.into_iter().collect(),
            configs: configs.into_iter().collect(),
            drifted: pools.iter().map(|p| p.drifted).sum(),
            busy: pools.iter().map(|p| p.busy).sum(),
            pools,
        }
    }

    /// The page of nodes `query` asks for.
    #[must_use]
    pub fn page(&self, query: &NodeQuery) -> NodePage {
        let order: BTreeMap<&str, usize> =
            self.pools.iter().enumerate().map(|(i, p)| (p.name.as_str(), i)).collect();
        let mut matching: Vec<(usize, usize)> = self
            .nodes
            .iter()
            .enumerate()
            .filter(|(_, n)| query.matches(n))
            .map(|(i, n)| (order.get(n.pool.as_str()).copied().unwrap_or(usize::MAX), i))
            .collect();
        matching.sort_unstable();
        let mut per_pool = BTreeMap::new();
        for &(_, i) in &matching {
            *per_pool.entry(self.nodes[i].pool.clone()).or_default() += 1;
        }
        let pages = matching.len().div_ceil(NODES_PER_PAGE).max(1);
        let page = usize::try_from(query.page).unwrap_or(usize::MAX).clamp(1, pages);
        let nodes = matching
            .iter()
            .skip((page - 1) * NODES_PER_PAGE)
            .take(NODES_PER_PAGE)
            .map(|&(_, i)| self.nodes[i].clone())
            .collect();
        NodePage {
            query: NodeQuery {
                page: count(page),
                ..query.clone()
            },
            nodes,
            page: count(page),
            matching: count(matching.len()),
            pages: count(pages),
            per_pool,
            total: count(self.nodes.len()),
        }
    }
}

/// The planner on `node`'s live layout, every GPU, for `nodes` such nodes, ready to export as an
/// update of `target`.
#[must_use]
pub fn plan_link(
    node: &FleetNodeInfo,
    nodes: u32,
    target: &crate::planner::UpdateTarget,
) -> Option<String> {
    let shape = crate::shape::shape(&node.shape)?;
    let mut plan = crate::NodePlan::from_inventory(shape, &node.gpus).ok()?;
    if nodes > 1 {
        plan.set_nodes(nodes);
    }
    let enc = crate::planner::encode_component;
    let name = match target {
        crate::planner::UpdateTarget::Pool(p) | crate::planner::UpdateTarget::Node(p) => {
            format!("update-{p}")
        }
    };
    Some(format!(
        "/plan?{}&update={}&name={}",
        plan.to_query(),
        enc(&target.to_param()),
        enc(&name)
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::agent_api::{BusySlice, Drift, InventoryGpu};
    use crate::wire::fleet::FleetPoolInfo;

    fn gpu(configs: &crate::MigPartedConfig, index: u32, config: &str, busy_at: Option<u8>) -> InventoryGpu {
        let model = crate::GpuModel::H100_80GB;
        let layout = configs
            .resolve_layout(config, model, index)
            .expect("resolves");
        let mut g = InventoryGpu::described(index, format!("GPU-{index}"), model, layout.as_ref());
        if let Some(start) = busy_at {
            g.busy.push(BusySlice {
                start,
                profile: "1g.10gb".into(),
                used_memory_mib: 1024,
                pids: vec![42],
                owners: vec![],
            });
        }
        g
    }

    /// `pools` pools of `per_pool` nodes; node k of pool p is `10.p.0.k`, on a config by k; every
    /// 7th node drifted, every 5th busy.
    fn fleet(pools: usize, per_pool: usize) -> Fleet {
        let configs = ["all-balanced", "all-1g.10gb", "all-3g.40gb"];
        let parted = crate::MigPartedConfig::default_configs().expect("built in");
        let mut f = Fleet::default();
        for p in 0..pools {
            f.pools.push(FleetPoolInfo {
                name: format!("pool-{p}"),
                shape: "BM.GPU.H100.8".into(),
                max_pods_per_node: 16,
                dedicated_to: None,
            });
            for k in 0..per_pool {
                let config = configs[k % configs.len()];
                let busy = (k % 5 == 0).then_some(0);
                f.nodes.push(FleetNodeInfo {
                    name: format!("10.{p}.0.{k}"),
                    pool: format!("pool-{p}"),
                    shape: "BM.GPU.H100.8".into(),
                    mig_config: (k % 11 != 10).then(|| config.to_owned()),
                    gpus: (0..8).map(|i| gpu(&parted, i, config, busy.filter(|_| i == 0))).collect(),
                    error: None,
                    mig_state: None,
                    drift: (k % 7 == 6).then(|| Drift {
                        config: config.into(),
                        gpus: vec![],
                    }),
                    labels: BTreeMap::new(),
                });
            }
        }
        f
    }

    #[test]
    fn every_filter_narrows_and_pages_cover_each_match_once() {
        let f = fleet(5, 100);
        let queries = [
            NodeQuery::default(),
            NodeQuery { pool: Some("pool-3".into()), ..NodeQuery::default() },
            NodeQuery { config: Some("all-1g.10gb".into()), ..NodeQuery::default() },
            NodeQuery { config: Some(CUSTOM_LAYOUT.into()), ..NodeQuery::default() },
            NodeQuery { drifted: true, ..NodeQuery::default() },
            NodeQuery { busy: true, drifted: true, ..NodeQuery::default() },
            NodeQuery { search: Some("10.2.0.4".into()), ..NodeQuery::default() },
            NodeQuery { model: Some("a100-40gb".into()), ..NodeQuery::default() },
            NodeQuery { model: Some("h100-80gb".into()), pool: Some("pool-1".into()), ..NodeQuery::default() },
        ];
        for q in queries {
            // What a plain scan over the fleet says matches, with each filter checked on its own.
            let expected: Vec<&str> = f
                .nodes
                .iter()
                .filter(|n| q.pool.as_ref().is_none_or(|p| &n.pool == p))
                .filter(|_| q.model.as_ref().is_none_or(|m| m == "h100-80gb"))
                .filter(|n| {
                    q.config
                        .as_ref()
                        .is_none_or(|c| n.mig_config.as_deref().unwrap_or("-") == c)
                })
                .filter(|n| !q.drifted || n.drift.is_some())
                .filter(|n| !q.busy || n.gpus.iter().any(|g| !g.busy.is_empty()))
                .filter(|n| q.search.as_ref().is_none_or(|s| n.name.contains(s.as_str())))
                .map(|n| n.name.as_str())
                .collect();
            let first = f.page(&q);
            assert_eq!(first.matching as usize, expected.len(), "{q:?}");
            assert_eq!(first.per_pool.values().sum::<u32>(), first.matching, "{q:?}");
            let mut seen = Vec::new();
            for page in 1..=first.pages {
                let p = f.page(&NodeQuery { page, ..q.clone() });
                assert!(p.nodes.len() <= NODES_PER_PAGE, "{q:?}");
                assert!(page == first.pages || p.nodes.len() == NODES_PER_PAGE, "{q:?}: a short page before the last");
                seen.extend(p.nodes.iter().map(|n| n.name.clone()));
            }
            assert_eq!(seen, expected, "{q:?}: the pages, in order, are the matches, once each");
        }
        // The search finds 10.2.0.4 and 10.2.0.40..49, nothing of other pools.
        let found = f.page(&NodeQuery { search: Some("10.2.0.4".into()), ..NodeQuery::default() });
        assert_eq!(found.matching, 11);
        assert_eq!(found.per_pool.keys().collect::<Vec<_>>(), ["pool-2"]);
    }

    #[test]
    fn a_page_past_the_end_is_the_last_and_zero_is_the_first() {
        let f = fleet(1, 45);
        let last = f.page(&NodeQuery { page: 99, ..NodeQuery::default() });
        assert_eq!((last.query.page, last.pages, last.nodes.len()), (3, 3, 5));
        let first = f.page(&NodeQuery { page: 0, ..NodeQuery::default() });
        assert_eq!(first.query.page, 1);
        assert_eq!(first.nodes[0].name, "10.0.0.0");
        let none = f.page(&NodeQuery { pool: Some("nope".into()), ..NodeQuery::default() });
        assert_eq!((none.matching, none.pages, none.nodes.len()), (0, 1, 0));
    }

    #[test]
    fn the_summary_counts_what_the_nodes_hold() {
        let f = fleet(2, 30);
        let s = f.summary();
        assert_eq!((s.nodes, s.gpus), (60, 480));
        assert_eq!(s.pools.len(), 2);
        let p = &s.pools[0];
        assert_eq!(p.nodes, 30);
        assert_eq!(p.drifted, u32::try_from((0..30).filter(|k| k % 7 == 6).count()).expect("small"));
        assert_eq!(p.busy, 6);
        assert_eq!(p.configs.values().sum::<u32>(), 30);
        assert_eq!(p.configs.get(CUSTOM_LAYOUT), Some(&2));
        // Every instance is counted once, free or used; the whole fleet is the sum of its pools.
        let instances: u32 = f.nodes.iter().flat_map(|n| &n.gpus).map(|g| count(g.instances.len())).sum();
        let counted: u32 = s.slices.profiles.values().map(|u| u.free + u.used).sum();
        assert_eq!(counted, instances);
        assert_eq!(s.slices.profiles.values().map(|u| u.used).sum::<u32>(), s.busy);
        assert_eq!(s.models, ["h100-80gb"]);
        assert!(s.configs.contains(&CUSTOM_LAYOUT.to_owned()));
        assert!(p.plan_link.as_deref().is_some_and(|l| l.starts_with("/plan?") && l.contains("update=pool")), "{:?}", p.plan_link);
        // The summary of 500 nodes is small: it is what the page ships instead of the fleet.
        let big = fleet(5, 100);
        let summary = serde_json::to_string(&big.summary()).expect("json").len();
        let whole = serde_json::to_string(&big).expect("json").len();
        assert!(summary * 50 < whole, "summary {summary} B against the fleet's {whole} B");
    }

    /// `%XX` → the byte (the browser's decoding of the address, for the test).
    fn percent_decode(v: &str) -> String {
        let bytes = v.as_bytes();
        let mut out = Vec::new();
        let mut i = 0;
        while i < bytes.len() {
            if bytes[i] == b'%' {
                out.push(u8::from_str_radix(&v[i + 1..i + 3], 16).expect("hex"));
                i += 3;
            } else {
                out.push(bytes[i]);
                i += 1;
            }
        }
        String::from_utf8(out).expect("utf-8")
    }

    #[test]
    fn the_query_round_trips_through_the_address() {
        let q = NodeQuery {
            pool: Some("h100 pool".into()),
            model: Some("h100-80gb".into()),
            config: Some("all-1g.10gb".into()),
            drifted: true,
            busy: false,
            search: Some("10.0&x".into()),
            page: 3,
        };
        let text = q.to_query();
        assert_eq!(text, "pool=h100%20pool&model=h100-80gb&config=all-1g.10gb&q=10.0%26x&drifted=1&page=3");
        let params: BTreeMap<String, String> = text
            .split('&')
            .filter_map(|kv| kv.split_once('='))
            .map(|(k, v)| (k.to_owned(), percent_decode(v)))
            .collect();
        assert_eq!(NodeQuery::from_params(|k| params.get(k).cloned()), q);
        assert!(q.filters());
        assert!(!NodeQuery { page: 4, ..NodeQuery::default() }.filters());
        assert_eq!(NodeQuery::default().to_query(), "");
    }
}
