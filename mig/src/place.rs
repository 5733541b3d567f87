//! Placement search (given a multiset of profiles, find where each instance starts) and enumeration
//! of every profile combination one GPU can hold.

use serde::{Deserialize, Serialize};

use crate::layout::{Layout, Placed, ProfileCounts};
use crate::model::{COMPUTE_SLICES, GpuModel, KINDS, MEMORY_SLICES, ProfileSpec};

/// Why a multiset of profiles cannot be placed on one GPU.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, thiserror::Error)]
#[serde(tag = "reason", rename_all = "snake_case")]
pub enum PlacementError {
    /// The model has no such profile.
    #[error("{model} has no profile `{profile}`; its profiles are {available}")]
    UnknownProfile {
        /// The rejected name.
        profile: String,
        /// Model id.
        model: String,
        /// The model's profiles, comma-separated.
        available: String,
    },
    /// More of one profile than a GPU holds.
    #[error("{count} × {profile} requested, but one GPU holds at most {max}")]
    CountAboveMax {
        /// Profile name.
        profile: String,
        /// Requested count.
        count: u32,
        /// The limit.
        max: u8,
    },
    /// More compute slices than the GPU has.
    #[error("{counts} needs {used} compute slices, but the GPU has {available}")]
    ComputeExceeded {
        /// The request.
        counts: String,
        /// Compute slices needed.
        used: u32,
        /// Compute slices of the GPU.
        available: u8,
    },
    /// More memory slices than the GPU has.
    #[error("{counts} needs {used} memory slices, but the GPU has {available}")]
    MemoryExceeded {
        /// The request.
        counts: String,
        /// Memory slices needed.
        used: u32,
        /// Memory slices of the GPU.
        available: u8,
    },
    /// The totals fit, but NVIDIA's allowed start positions leave no arrangement.
    #[error("{counts} fits by totals, but no arrangement exists: {detail}")]
    NoArrangement {
        /// The request.
        counts: String,
        /// Which profile ran out of allowed starts.
        detail: String,
    },
}

/// Resolves profile names to the model's specs, checking counts and totals.
fn resolve(
    model: GpuModel,
    counts: &ProfileCounts,
) -> Result<Vec<&'static ProfileSpec>, PlacementError> {
    let mut wanted: Vec<&'static ProfileSpec> = Vec::new();
    let (mut compute, mut memory) = (0u32, 0u32);
    for (name, &count) in &counts.0 {
        let p = model
            .profile(name)
            .ok_or_else(|| PlacementError::UnknownProfile {
                profile: name.clone(),
                model: model.id().to_owned(),
                available: model.profile_names().join(", "),
            })?;
        if count > u32::from(p.max_count()) {
            return Err(PlacementError::CountAboveMax {
                profile: name.clone(),
                count,
                max: p.max_count(),
            });
        }
        compute += count * u32::from(p.compute_slices());
        memory += count * u32::from(p.memory_slices());
        wanted.extend(std::iter::repeat_n(p, count as usize));
    }
    if compute > u32::from(COMPUTE_SLICES) {
        return Err(PlacementError::ComputeExceeded {
            counts: counts.to_string(),
            used: compute,
            available: COMPUTE_SLICES,
        });
    }
    if memory > u32::from(MEMORY_SLICES) {
        return Err(PlacementError::MemoryExceeded {
            counts: counts.to_string(),
            used: memory,
            available: MEMORY_SLICES,
        });
    }
    // Biggest first: they have the fewest allowed starts, so the search fails fast.
    wanted.sort_by_key(|p| {
        (
            std::cmp::Reverse(p.memory_slices()),
            std::cmp::Reverse(p.compute_slices()),
            p.kind,
        )
    });
    Ok(wanted)
}

/// Depth-first search over allowed starts. Calls `visit` with each complete placement; `visit`
/// returns `true` to stop. Identical profiles take non-decreasing starts, so no permutation repeats.
fn search(
    wanted: &[&'static ProfileSpec],
    used: u8,
    acc: &mut Vec<Placed>,
    visit: &mut dyn FnMut(&[Placed]) -> bool,
) -> bool {
    let Some((&p, rest)) = wanted.split_first() else {
        return visit(acc);
    };
    let min_start = acc
        .last()
        .filter(|prev| prev.profile.kind == p.kind)
        .map_or(0, |prev| prev.start + 1);
    for &start in p.starts().iter().filter(|&&s| s >= min_start) {
        let mask = p.mask_at(start);
        if used & mask != 0 {
            continue;
        }
        acc.push(Placed { profile: p, start });
        let stop = search(rest, used | mask, acc, visit);
        acc.pop();
        if stop {
            return true;
        }
    }
    false
}

fn no_arrangement(counts: &ProfileCounts, wanted: &[&'static ProfileSpec]) -> PlacementError {
    // Name the first profile (in search order) that cannot be added to any arrangement of those before it.
    let mut detail = "the allowed start positions collide".to_owned();
    for n in 1..=wanted.len() {
        let mut found = false;
        search(&wanted[..n], 0, &mut Vec::new(), &mut |_| {
            found = true;
            true
        });
        if !found {
            let p = wanted[n - 1];
            let starts: Vec<String> = p.starts().iter().map(ToString::to_string).collect();
            detail = format!(
                "{} may start only at memory slice {}, and every one of those is taken by the larger instances",
                p.name,
                starts.join(", ")
            );
            break;
        }
    }
    PlacementError::NoArrangement {
        counts: counts.to_string(),
        detail,
    }
}

/// Finds a placement for `counts` on one GPU of `model`: biggest profiles at the lowest free start.
///
/// # Errors
/// [`PlacementError`] saying why none exists.
pub fn place(model: GpuModel, counts: &ProfileCounts) -> Result<Layout, PlacementError> {
    place_near(model, counts, &[])
}

/// Like [`place`], but among all placements picks one keeping the most of `existing` (same profile at
/// the same start), so applying it destroys and recreates as little as possible. Ties go to the first
/// placement found, which is [`place`]'s.
///
/// # Errors
/// [`PlacementError`] saying why no placement exists.
pub fn place_near(
    model: GpuModel,
    counts: &ProfileCounts,
    existing: &[Placed],
) -> Result<Layout, PlacementError> {
    let wanted = resolve(model, counts)?;
    let mut best: Option<(usize, Vec<Placed>)> = None;
    let perfect = wanted.len().min(existing.len());
    search(
        &wanted,
        0,
        &mut Vec::with_capacity(wanted.len()),
        &mut |placed| {
            let kept = placed
                .iter()
                .filter(|p| {
                    existing
                        .iter()
                        .any(|e| e.profile.kind == p.profile.kind && e.start == p.start)
                })
                .count();
            if best.as_ref().is_none_or(|(k, _)| kept > *k) {
                best = Some((kept, placed.to_vec()));
            }
            kept >= perfect
        },
    );
    let (_, placed) = best.ok_or_else(|| no_arrangement(counts, &wanted))?;
    // The search only produces placements that keep every rule; re-checking guards the search itself.
    Layout::from_placed(model, &placed).map_err(|issues| PlacementError::NoArrangement {
        counts: counts.to_string(),
        detail: format!(
            "internal placement error: {}",
            issues
                .iter()
                .map(ToString::to_string)
                .collect::<Vec<_>>()
                .join("; ")
        ),
    })
}

/// One profile combination one GPU can hold.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Combination {
    /// How many of each profile.
    pub counts: ProfileCounts,
    /// One valid placement of them.
    pub layout: Layout,
    /// Nothing more can be added.
    pub maximal: bool,
}

/// Every distinct non-empty profile combination that fits one GPU of `model`, each with one placement,
/// marking the maximal ones. Ordered with the largest profiles first.
pub fn combinations(model: GpuModel) -> Vec<Combination> {
    let mut found: Vec<([u8; 7], Layout)> = Vec::new();
    let mut counts = [0u8; 7];
    // Candidate count vectors, pruned by totals; each is then placed for real.
    fn walk(
        i: usize,
        counts: &mut [u8; 7],
        compute: u8,
        memory: u8,
        model: GpuModel,
        found: &mut Vec<([u8; 7], Layout)>,
    ) {
        if i == KINDS.len() {
            if counts.iter().any(|&c| c > 0) {
                let mut pc = ProfileCounts::default();
                for (k, &c) in counts.iter().enumerate() {
                    pc.add(model.spec().profiles[k].name, u32::from(c));
                }
                if let Ok(layout) = place(model, &pc) {
                    found.push((*counts, layout));
                }
            }
            return;
        }
        let k = &KINDS[i];
        for c in 0..=k.max_count {
            let (cc, mm) = (compute + c * k.compute_slices, memory + c * k.memory_slices);
            if cc > COMPUTE_SLICES || mm > MEMORY_SLICES {
                break;
            }
            counts[i] = c;
            walk(i + 1, counts, cc, mm, model, found);
        }
        counts[i] = 0;
    }
    walk(0, &mut counts, 0, 0, model, &mut found);
    let feasible: std::collections::HashSet<[u8; 7]> = found.iter().map(|(c, _)| *c).collect();
    let mut out: Vec<Combination> = found
        .into_iter()
        .map(|(c, layout)| {
            let maximal = (0..7).all(|k| {
                let mut more = c;
                more[k] += 1;
                !feasible.contains(&more)
            });
            Combination {
                counts: layout.counts(),
                layout,
                maximal,
            }
        })
        .collect();
    out.sort_by_key(|c| {
        let v: Vec<std::cmp::Reverse<u32>> = model
            .spec()
            .profiles
            .iter()
            .rev()
            .map(|p| std::cmp::Reverse(c.counts.0.get(p.name).copied().unwrap_or(0)))
            .collect();
        v
    });
    out
}

#[cfg(test)]
mod tests {
    //! The private error builder; everything public is tested in `mig/tests/place.rs`.
    use super::*;

    #[test]
    fn no_arrangement_names_the_profile_that_ran_out_of_starts() {
        let three = GpuModel::H100_80GB.profile("3g.40gb").expect("3g");
        let mut counts = ProfileCounts::default();
        counts.add("3g.40gb", 3);
        let err = no_arrangement(&counts, &[three, three, three]);
        assert_eq!(
            err.to_string(),
            "3 × 3g.40gb fits by totals, but no arrangement exists: 3g.40gb may start only at memory slice 0, 4, and every one of those is taken by the larger instances"
        );
    }
}
