//! A GPU's MIG layout: its GPU instances as (profile, start), and the rules a layout must keep.

use std::collections::BTreeMap;
use std::fmt;

use serde::{Deserialize, Serialize};

use crate::model::{COMPUTE_SLICES, GpuModel, MEMORY_SLICES, ProfileSpec};

/// One GPU instance as users and the wire write it: `{"profile": "3g.40gb", "start": 4}`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct InstanceSpec {
    /// Profile name on the GPU's model, such as `3g.40gb`.
    pub profile: String,
    /// First memory slice (0..=7).
    pub start: u8,
}

/// One GPU instance of a validated layout.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Placed {
    /// The profile, from the model's table.
    pub profile: &'static ProfileSpec,
    /// First memory slice.
    pub start: u8,
}

impl Placed {
    /// Memory-slice mask this instance occupies.
    pub fn mask(&self) -> u8 {
        self.profile.mask_at(self.start)
    }
    /// The wire form.
    pub fn to_spec(&self) -> InstanceSpec {
        InstanceSpec {
            profile: self.profile.name.to_owned(),
            start: self.start,
        }
    }
}

impl PartialOrd for Placed {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for Placed {
    /// By start, then profile kind: the order the slices appear left to right.
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        (self.start, self.profile.kind).cmp(&(other.start, other.profile.kind))
    }
}

/// A valid MIG layout of one GPU: it can be created on the hardware as it stands.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Layout {
    model: GpuModel,
    /// Sorted by start.
    instances: Vec<Placed>,
}

/// A rule a layout breaks, in plain words, with the index of the instance(s) concerned.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, thiserror::Error)]
#[serde(tag = "rule", rename_all = "snake_case")]
pub enum LayoutIssue {
    /// The model has no such profile.
    #[error("instance {index}: {model} has no profile `{profile}`; its profiles are {available}")]
    UnknownProfile {
        /// Position in the request.
        index: usize,
        /// The rejected name.
        profile: String,
        /// Model id.
        model: String,
        /// Comma-separated profile names of the model.
        available: String,
    },
    /// The profile may not start at that memory slice.
    #[error(
        "instance {index}: {profile} cannot start at memory slice {start}; it may start at {allowed}"
    )]
    StartNotAllowed {
        /// Position in the request.
        index: usize,
        /// Profile name.
        profile: String,
        /// Requested start.
        start: u8,
        /// Allowed starts, comma-separated.
        allowed: String,
    },
    /// Two instances claim the same memory slices.
    #[error(
        "instances {first} ({first_profile} at {first_start}) and {second} ({second_profile} at {second_start}) both use memory slice(s) {slices}"
    )]
    Overlap {
        /// Earlier instance's position.
        first: usize,
        /// Its profile.
        first_profile: String,
        /// Its start.
        first_start: u8,
        /// Later instance's position.
        second: usize,
        /// Its profile.
        second_profile: String,
        /// Its start.
        second_start: u8,
        /// The shared slices, comma-separated.
        slices: String,
    },
    /// More instances of a profile than one GPU can hold.
    #[error("{count} × {profile} requested, but one GPU holds at most {max}")]
    CountAboveMax {
        /// Profile name.
        profile: String,
        /// Requested count.
        count: usize,
        /// The limit.
        max: u8,
    },
    /// The instances need more compute slices than the GPU has.
    #[error("the instances need {used} compute slices, but the GPU has {available}")]
    ComputeExceeded {
        /// Compute slices requested.
        used: u32,
        /// Compute slices of the GPU.
        available: u8,
    },
}

/// `a, b, c`.
pub(crate) fn list(items: impl IntoIterator<Item = impl ToString>) -> String {
    items
        .into_iter()
        .map(|i| i.to_string())
        .collect::<Vec<_>>()
        .join(", ")
}

/// The memory slices of a mask, as `4, 5, 6, 7`.
pub(crate) fn slices_of(mask: u8) -> String {
    list((0..MEMORY_SLICES).filter(|s| mask & (1 << s) != 0))
}

impl Layout {
    /// An empty layout: MIG enabled, no instances.
    pub fn empty(model: GpuModel) -> Self {
        Self {
            model,
            instances: Vec::new(),
        }
    }

    /// Validates instances for a model, reporting **every** broken rule.
    ///
    /// # Errors
    /// All [`LayoutIssue`]s found, in request order.
    pub fn new(model: GpuModel, instances: &[InstanceSpec]) -> Result<Self, Vec<LayoutIssue>> {
        let mut issues = Vec::new();
        let mut placed: Vec<(usize, Placed)> = Vec::with_capacity(instances.len());
        for (index, inst) in instances.iter().enumerate() {
            let Some(profile) = model.profile(&inst.profile) else {
                issues.push(LayoutIssue::UnknownProfile {
                    index,
                    profile: inst.profile.clone(),
                    model: model.id().to_owned(),
                    available: model.profile_names().join(", "),
                });
                continue;
            };
            if !profile.allows_start(inst.start) {
                issues.push(LayoutIssue::StartNotAllowed {
                    index,
                    profile: profile.name.to_owned(),
                    start: inst.start,
                    allowed: list(profile.starts()),
                });
                continue;
            }
            placed.push((
                index,
                Placed {
                    profile,
                    start: inst.start,
                },
            ));
        }
        for (i, (ia, a)) in placed.iter().enumerate() {
            for (ib, b) in &placed[i + 1..] {
                let shared = a.mask() & b.mask();
                if shared != 0 {
                    issues.push(LayoutIssue::Overlap {
                        first: *ia,
                        first_profile: a.profile.name.to_owned(),
                        first_start: a.start,
                        second: *ib,
                        second_profile: b.profile.name.to_owned(),
                        second_start: b.start,
                        slices: slices_of(shared),
                    });
                }
            }
        }
        // Counts and compute over every instance whose profile is known, placeable or not.
        let mut counts: BTreeMap<usize, (usize, &'static ProfileSpec)> = BTreeMap::new();
        for inst in instances {
            if let Some(p) = model.profile(&inst.profile) {
                counts.entry(p.kind as usize).or_insert((0, p)).0 += 1;
            }
        }
        for (count, p) in counts.values() {
            if *count > usize::from(p.max_count()) {
                issues.push(LayoutIssue::CountAboveMax {
                    profile: p.name.to_owned(),
                    count: *count,
                    max: p.max_count(),
                });
            }
        }
        let used: u32 = counts
            .values()
            .map(|(c, p)| *c as u32 * u32::from(p.compute_slices()))
            .sum();
        if used > u32::from(COMPUTE_SLICES) {
            issues.push(LayoutIssue::ComputeExceeded {
                used,
                available: COMPUTE_SLICES,
            });
        }
        if !issues.is_empty() {
            return Err(issues);
        }
        let mut instances: Vec<Placed> = placed.into_iter().map(|(_, p)| p).collect();
        instances.sort();
        Ok(Self { model, instances })
    }

    /// Builds a layout from already-placed instances, checking the same rules as [`Layout::new`].
    ///
    /// # Errors
    /// As [`Layout::new`].
    pub fn from_placed(model: GpuModel, placed: &[Placed]) -> Result<Self, Vec<LayoutIssue>> {
        let specs: Vec<InstanceSpec> = placed.iter().map(Placed::to_spec).collect();
        Self::new(model, &specs)
    }

    /// The GPU model.
    pub fn model(&self) -> GpuModel {
        self.model
    }

    /// Instances, left to right.
    pub fn instances(&self) -> &[Placed] {
        &self.instances
    }

    /// Memory slices in use, as a mask.
    pub fn used_mask(&self) -> u8 {
        self.instances.iter().fold(0, |m, i| m | i.mask())
    }

    /// Compute slices in use.
    pub fn compute_used(&self) -> u8 {
        self.instances
            .iter()
            .map(|i| i.profile.compute_slices())
            .sum()
    }

    /// Memory slices in use.
    pub fn memory_used(&self) -> u8 {
        self.used_mask().count_ones() as u8
    }

    /// How many instances of each profile, by name, in table order.
    pub fn counts(&self) -> ProfileCounts {
        let mut counts = ProfileCounts::default();
        for i in &self.instances {
            counts.add(i.profile.name, 1);
        }
        counts
    }

    /// The wire form.
    pub fn to_specs(&self) -> Vec<InstanceSpec> {
        self.instances.iter().map(Placed::to_spec).collect()
    }
}

impl fmt::Display for Layout {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.instances.is_empty() {
            return f.write_str("(no instances)");
        }
        let parts: Vec<String> = self
            .instances
            .iter()
            .map(|i| format!("{}@{}", i.profile.name, i.start))
            .collect();
        f.write_str(&parts.join(" "))
    }
}

/// A multiset of profiles: name → count, ordered by name for stable output.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct ProfileCounts(pub BTreeMap<String, u32>);

impl ProfileCounts {
    /// Adds `n` of `profile`.
    pub fn add(&mut self, profile: &str, n: u32) {
        if n > 0 {
            *self.0.entry(profile.to_owned()).or_insert(0) += n;
        }
    }
    /// Total instances.
    pub fn total(&self) -> u32 {
        self.0.values().sum()
    }
    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.total() == 0
    }
}

impl fmt::Display for ProfileCounts {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let parts: Vec<String> = self.0.iter().map(|(p, n)| format!("{n} × {p}")).collect();
        f.write_str(&parts.join(" + "))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn specs(items: &[(&str, u8)]) -> Vec<InstanceSpec> {
        items
            .iter()
            .map(|(p, s)| InstanceSpec {
                profile: (*p).to_owned(),
                start: *s,
            })
            .collect()
    }

    fn issues(model: GpuModel, items: &[(&str, u8)]) -> Vec<String> {
        Layout::new(model, &specs(items))
            .expect_err("must be invalid")
            .iter()
            .map(ToString::to_string)
            .collect()
    }

    /// Table-driven: every model, every profile, every start 0..8 — accepted exactly at the allowed starts.
    #[test]
    fn single_instances_are_accepted_exactly_at_allowed_starts() {
        for model in GpuModel::all() {
            for p in &model.spec().profiles {
                for start in 0..MEMORY_SLICES {
                    let result = Layout::new(model, &specs(&[(p.name, start)]));
                    assert_eq!(
                        result.is_ok(),
                        p.allows_start(start),
                        "{model} {} at {start}: {result:?}",
                        p.name
                    );
                    if let Ok(layout) = result {
                        assert_eq!(layout.memory_used(), p.memory_slices());
                        assert_eq!(layout.compute_used(), p.compute_slices());
                    }
                }
            }
        }
    }

    #[test]
    fn the_guides_layouts_validate_on_h100() {
        let h100 = GpuModel::H100_80GB;
        let ok = |items: &[(&str, u8)]| Layout::new(h100, &specs(items)).expect("valid");
        assert_eq!(ok(&[("3g.40gb", 4)]).to_string(), "3g.40gb@4");
        let balanced = ok(&[
            ("3g.40gb", 4),
            ("2g.20gb", 0),
            ("1g.10gb", 2),
            ("1g.10gb", 3),
        ]);
        assert_eq!(
            balanced.to_string(),
            "2g.20gb@0 1g.10gb@2 1g.10gb@3 3g.40gb@4"
        );
        assert_eq!(balanced.compute_used(), 7);
        assert_eq!(
            balanced.counts().to_string(),
            "2 × 1g.10gb + 1 × 2g.20gb + 1 × 3g.40gb"
        );
        ok(&[("4g.40gb", 0), ("3g.40gb", 4)]);
        ok(&[
            ("1g.20gb", 0),
            ("1g.20gb", 2),
            ("1g.20gb", 4),
            ("1g.20gb", 6),
        ]);
    }

    #[test]
    fn diagnostics_name_every_broken_rule() {
        let h100 = GpuModel::H100_80GB;
        assert_eq!(
            issues(h100, &[("3g.40gb", 4), ("4g.40gb", 4)]),
            ["instance 1: 4g.40gb cannot start at memory slice 4; it may start at 0"]
        );
        assert_eq!(
            issues(h100, &[("3g.40gb", 0), ("2g.20gb", 2)]),
            ["instances 0 (3g.40gb at 0) and 1 (2g.20gb at 2) both use memory slice(s) 2, 3"]
        );
        assert_eq!(
            issues(h100, &[("1g.5gb", 0), ("7g.80gb", 1)]),
            [
                "instance 0: h100-80gb has no profile `1g.5gb`; its profiles are 1g.10gb, 1g.10gb+me, 1g.20gb, 2g.20gb, 3g.40gb, 4g.40gb, 7g.80gb",
                "instance 1: 7g.80gb cannot start at memory slice 1; it may start at 0",
            ]
        );
        assert_eq!(
            issues(h100, &[("3g.40gb", 0), ("3g.40gb", 4), ("3g.40gb", 0)]),
            [
                "instances 0 (3g.40gb at 0) and 2 (3g.40gb at 0) both use memory slice(s) 0, 1, 2, 3",
                "3 × 3g.40gb requested, but one GPU holds at most 2",
                "the instances need 9 compute slices, but the GPU has 7",
            ]
        );
        assert_eq!(
            issues(h100, &[("1g.10gb+me", 0), ("1g.10gb+me", 1)]),
            ["2 × 1g.10gb+me requested, but one GPU holds at most 1"]
        );
    }

    #[test]
    fn wire_form_round_trips() {
        let json = r#"[{"profile":"3g.40gb","start":4},{"profile":"2g.20gb","start":0}]"#;
        let specs: Vec<InstanceSpec> = serde_json::from_str(json).expect("json");
        let layout = Layout::new(GpuModel::H100_80GB, &specs).expect("valid");
        let back = serde_json::to_string(&layout.to_specs()).expect("json");
        assert_eq!(
            back,
            r#"[{"profile":"2g.20gb","start":0},{"profile":"3g.40gb","start":4}]"#
        );
        assert!(
            serde_json::from_str::<Vec<InstanceSpec>>(r#"[{"profile":"3g.40gb","start":4,"x":1}]"#)
                .is_err()
        );
    }
}
