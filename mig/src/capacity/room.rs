//! Make room: the cheapest change to the live fleet that gives a deployment the free slices it asks
//! for — fewest GPUs reconfigured, no busy instance touched, placements exact — and the per-node custom
//! configs that carry it out.

use serde::{Deserialize, Serialize};

use crate::blueprint::{FleetGpu, FleetNode, FleetView};
use crate::custom::{RawCustomConfig, RawDevice};
use crate::layout::{InstanceSpec, Layout, Placed};
use crate::model::{COMPUTE_SLICES, GpuModel, ProfileSpec};
use crate::parted::Devices;

/// One GPU the fix reconfigures.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RoomChange {
    /// Node.
    pub node: String,
    /// GPU index.
    pub gpu: u32,
    /// Its instances now.
    pub from: Vec<InstanceSpec>,
    /// Its instances after (every busy one kept at its start).
    pub to: Vec<InstanceSpec>,
    /// Free slices of the profile it gains.
    pub gains: u32,
}

/// The fix: which GPUs change and the custom config (one per node) that applies it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RoomFix {
    /// The profile made room for.
    pub profile: String,
    /// The GPUs that change, fewest possible.
    pub changes: Vec<RoomChange>,
    /// Per node: a custom config giving every GPU of the node its layout after the change (the others
    /// exactly as they are, so applying it changes only `changes`).
    pub configs: Vec<RawCustomConfig>,
    /// In words: "reconfigure GPU 3 of 10.0.10.12 (2 × 1g.10gb → 1g.20gb)".
    pub summary: String,
}

fn spec(model: GpuModel, s: &str) -> Option<&'static ProfileSpec> {
    model.profile(s)
}

fn placed_of(model: GpuModel, gpu: &FleetGpu) -> Option<(Vec<Placed>, Vec<Placed>)> {
    let mut busy = Vec::new();
    let mut idle = Vec::new();
    for s in &gpu.slices {
        let p = Placed {
            profile: spec(model, &s.profile)?,
            start: s.start,
        };
        if s.in_use { busy.push(p) } else { idle.push(p) }
    }
    Some((busy, idle))
}

/// The best new layout of one GPU for `want` more free instances of `p` (at most), keeping `busy`
/// exactly: `p` at the lowest free starts (interval scheduling: the most that fit), then as many of the
/// other idle instances back at their starts as still fit. Returns the layout and the gain.
fn recut(
    model: GpuModel,
    busy: &[Placed],
    idle: &[Placed],
    p: &'static ProfileSpec,
    want: u32,
) -> Option<(Layout, u32)> {
    let idle_now = idle.iter().filter(|i| i.profile.kind == p.kind).count() as u32;
    let mut mask = busy.iter().fold(0u8, |m, b| m | b.mask());
    let mut compute: u32 = busy
        .iter()
        .map(|b| u32::from(b.profile.compute_slices()))
        .sum();
    let mut count = busy.iter().filter(|b| b.profile.kind == p.kind).count() as u32;
    let mut out: Vec<Placed> = busy.to_vec();
    let target = idle_now + want;
    // Keep the idle instances of p first (no churn), then new ones at the lowest free starts.
    let mut starts: Vec<u8> = idle
        .iter()
        .filter(|i| i.profile.kind == p.kind)
        .map(|i| i.start)
        .collect();
    let fresh: Vec<u8> = p
        .starts()
        .iter()
        .copied()
        .filter(|s| !starts.contains(s))
        .collect();
    starts.extend(fresh);
    let mut added = 0;
    for s in starts {
        if added == target {
            break;
        }
        let m = p.mask_at(s);
        if mask & m == 0
            && compute + u32::from(p.compute_slices()) <= u32::from(COMPUTE_SLICES)
            && count < u32::from(p.max_count())
        {
            mask |= m;
            compute += u32::from(p.compute_slices());
            count += 1;
            added += 1;
            out.push(Placed {
                profile: p,
                start: s,
            });
        }
    }
    if added <= idle_now {
        return None;
    }
    for i in idle.iter().filter(|i| i.profile.kind != p.kind) {
        let m = i.mask();
        if mask & m == 0
            && compute + u32::from(i.profile.compute_slices()) <= u32::from(COMPUTE_SLICES)
        {
            let mut trial = out.clone();
            trial.push(*i);
            if Layout::from_placed(model, &trial).is_ok() {
                mask |= m;
                compute += u32::from(i.profile.compute_slices());
                out = trial;
            }
        }
    }
    let layout = Layout::from_placed(model, &out).ok()?;
    Some((layout, added - idle_now))
}

fn counts_text(items: &[InstanceSpec]) -> String {
    let mut c = crate::layout::ProfileCounts::default();
    for i in items {
        c.add(&i.profile, 1);
    }
    if c.is_empty() {
        "nothing".into()
    } else {
        c.to_string()
    }
}

/// The fewest GPU reconfigurations of `view` (nodes of `model`, or of every model when `None`) that add
/// `needed` free instances of `profile` without touching a busy instance. `None` when no such change
/// exists (every GPU is busy where it matters, or MIG is off: turning it on needs a reset, which an
/// update with MIG configs does, not this).
pub fn make_room(
    view: &FleetView,
    model: Option<GpuModel>,
    profile: &str,
    needed: u32,
) -> Option<RoomFix> {
    if needed == 0 {
        return None;
    }
    // Every candidate GPU with its best gain.
    let mut candidates: Vec<(
        &FleetNode,
        u32,
        GpuModel,
        Vec<Placed>,
        Vec<Placed>,
        Layout,
        u32,
        usize,
    )> = Vec::new();
    for node in view.nodes.iter().filter(|n| !view.is_dedicated(n)) {
        let Some(m) = node.model.filter(|m| model.is_none_or(|want| want == *m)) else {
            continue;
        };
        let Some(p) = m.profile(profile) else {
            continue;
        };
        for (i, gpu) in node.gpus.iter().enumerate() {
            if !gpu.mig {
                continue;
            }
            let Some((busy, idle)) = placed_of(m, gpu) else {
                continue;
            };
            if let Some((layout, gain)) = recut(m, &busy, &idle, p, u32::from(p.max_count())) {
                let destroyed = idle
                    .iter()
                    .filter(|x| !layout.instances().contains(x))
                    .count();
                candidates.push((node, i as u32, m, busy, idle, layout, gain, destroyed));
            }
        }
    }
    // Most gained first; among equals, the fewest idle instances destroyed, then fleet order.
    candidates.sort_by(|a, b| b.6.cmp(&a.6).then(a.7.cmp(&b.7)));
    let mut left = needed;
    let mut changes = Vec::new();
    for (node, gpu, m, busy, idle, layout, gain, _) in candidates {
        if left == 0 {
            break;
        }
        let p = m.profile(profile)?;
        // The last GPU takes only what is still needed, destroying as little as possible.
        let (layout, gain) = if gain > left {
            recut(m, &busy, &idle, p, left)?
        } else {
            (layout, gain)
        };
        left = left.saturating_sub(gain);
        changes.push((node, gpu, m, layout, gain));
    }
    if left > 0 {
        return None;
    }
    let mut out = Vec::new();
    let mut configs: Vec<RawCustomConfig> = Vec::new();
    for (node, gpu, m, layout, gain) in &changes {
        let from: Vec<InstanceSpec> = node.gpus[*gpu as usize]
            .slices
            .iter()
            .map(|s| InstanceSpec {
                profile: s.profile.clone(),
                start: s.start,
            })
            .collect();
        out.push(RoomChange {
            node: node.name.clone(),
            gpu: *gpu,
            from,
            to: layout.to_specs(),
            gains: *gain,
        });
        if !configs
            .iter()
            .any(|c| c.name == config_name(&node.name, profile))
        {
            configs.push(node_config(node, *m, profile, &changes));
        }
    }
    let summary = out
        .iter()
        .map(|c| {
            let kept: Vec<&InstanceSpec> = c.from.iter().filter(|f| c.to.contains(f)).collect();
            let gone: Vec<InstanceSpec> = c
                .from
                .iter()
                .filter(|f| !kept.contains(f))
                .cloned()
                .collect();
            let new: Vec<InstanceSpec> =
                c.to.iter()
                    .filter(|t| !c.from.contains(t))
                    .cloned()
                    .collect();
            format!(
                "GPU {} of {} ({} → {})",
                c.gpu,
                c.node,
                counts_text(&gone),
                counts_text(&new)
            )
        })
        .collect::<Vec<_>>()
        .join(", ");
    Some(RoomFix {
        profile: profile.to_owned(),
        summary: format!("reconfigure {summary}"),
        changes: out,
        configs,
    })
}

/// The custom config name a fix uses for `node`: a Kubernetes label value (63 characters at most).
pub fn config_name(node: &str, profile: &str) -> String {
    super::apply::label_value(&format!("room-{node}-{profile}"))
}

fn node_config(
    node: &FleetNode,
    model: GpuModel,
    profile: &str,
    changes: &[(&FleetNode, u32, GpuModel, Layout, u32)],
) -> RawCustomConfig {
    let devices = node
        .gpus
        .iter()
        .enumerate()
        .map(|(i, g)| {
            let changed = changes
                .iter()
                .find(|(n, gpu, ..)| n.name == node.name && *gpu as usize == i);
            RawDevice {
                gpus: Devices::List(vec![i as u32]),
                mig_enabled: g.mig,
                instances: match changed {
                    Some((.., layout, _)) => layout.to_specs(),
                    None => g
                        .slices
                        .iter()
                        .map(|s| InstanceSpec {
                            profile: s.profile.clone(),
                            start: s.start,
                        })
                        .collect(),
                },
            }
        })
        .collect();
    RawCustomConfig {
        name: config_name(&node.name, profile),
        model: model.id().to_owned(),
        description: format!("made room for {profile} on {}", node.name),
        devices,
    }
}
