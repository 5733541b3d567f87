//! Placement search, nearest placement and enumeration.

use mig::place::*;
use mig::*;

fn counts(items: &[(&str, u32)]) -> ProfileCounts {
    let mut c = ProfileCounts::default();
    for (p, n) in items {
        c.add(p, *n);
    }
    c
}

#[test]
fn all_balanced_needs_backtracking_and_gets_it() {
    // 3g first at 0 leaves 2g at 4, 1g at 6, and no start for the second 1g (7 is not allowed).
    let layout = place(
        GpuModel::H100_80GB,
        &counts(&[("1g.10gb", 2), ("2g.20gb", 1), ("3g.40gb", 1)]),
    )
    .expect("places");
    assert_eq!(
        layout.to_string(),
        "2g.20gb@0 1g.10gb@2 1g.10gb@3 3g.40gb@4"
    );
}

#[test]
fn impossible_requests_say_why() {
    let h100 = GpuModel::H100_80GB;
    let err = place(h100, &counts(&[("1g.10gb", 7), ("1g.20gb", 1)])).expect_err("too much");
    assert_eq!(
        err.to_string(),
        "7 × 1g.10gb + 1 × 1g.20gb needs 8 compute slices, but the GPU has 7"
    );
    let err = place(
        h100,
        &counts(&[("4g.40gb", 1), ("3g.40gb", 1), ("1g.10gb", 1)]),
    )
    .expect_err("too much");
    assert!(
        matches!(err, PlacementError::ComputeExceeded { used: 8, .. }),
        "{err}"
    );
    let err = place(h100, &counts(&[("5g.50gb", 1)])).expect_err("unknown");
    assert!(
        err.to_string()
            .starts_with("h100-80gb has no profile `5g.50gb`"),
        "{err}"
    );
}

/// On the 8-memory-slice geometry the totals decide: every request within the per-profile maxima,
/// 7 compute and 8 memory slices has an arrangement (checked exhaustively here). The
/// `NoArrangement` error therefore guards future geometries; its explanation is tested directly.
#[test]
fn totals_decide_placement_on_every_modelled_gpu() {
    for model in GpuModel::all() {
        let all = combinations(model);
        let mut within_totals = 0;
        let p = &model.spec().profiles;
        for c in 0..=7u32 {
            for me in 0..=1 {
                for d in 0..=4 {
                    for two in 0..=3 {
                        for three in 0..=2 {
                            for four in 0..=1 {
                                for seven in 0..=1 {
                                    let n = [c, me, d, two, three, four, seven];
                                    let compute: u32 = n
                                        .iter()
                                        .zip(p.iter())
                                        .map(|(n, p)| n * u32::from(p.compute_slices()))
                                        .sum();
                                    let memory: u32 = n
                                        .iter()
                                        .zip(p.iter())
                                        .map(|(n, p)| n * u32::from(p.memory_slices()))
                                        .sum();
                                    if compute > 7 || memory > 8 || n.iter().all(|&x| x == 0) {
                                        continue;
                                    }
                                    within_totals += 1;
                                    let pc = counts(
                                        &p.iter()
                                            .zip(n)
                                            .map(|(p, n)| (p.name, n))
                                            .collect::<Vec<_>>(),
                                    );
                                    assert!(
                                        place(model, &pc).is_ok(),
                                        "{model}: {pc} is within the totals but does not place"
                                    );
                                }
                            }
                        }
                    }
                }
            }
        }
        assert_eq!(
            all.len(),
            within_totals,
            "{model}: enumeration must hold every placeable combination"
        );
    }
}

#[test]
fn place_near_keeps_what_it_can() {
    let h100 = GpuModel::H100_80GB;
    let one = h100.profile("1g.10gb").expect("1g");
    let existing = [
        Placed {
            profile: one,
            start: 5,
        },
        Placed {
            profile: one,
            start: 6,
        },
    ];
    let want = counts(&[("1g.10gb", 2)]);
    assert_eq!(
        place(h100, &want).expect("places").to_string(),
        "1g.10gb@0 1g.10gb@1"
    );
    // The nearest placement keeps the two running instances where they are.
    assert_eq!(
        place_near(h100, &want, &existing)
            .expect("places")
            .to_string(),
        "1g.10gb@5 1g.10gb@6"
    );
    // all-balanced must put its 3g.40gb at 4 (at 0 the second 1g.10gb would need slice 7), which covers
    // slices 5 and 6: nothing can be kept, and the usual placement is returned.
    let near = place_near(
        h100,
        &counts(&[("1g.10gb", 2), ("2g.20gb", 1), ("3g.40gb", 1)]),
        &existing,
    )
    .expect("places");
    assert_eq!(near.to_string(), "2g.20gb@0 1g.10gb@2 1g.10gb@3 3g.40gb@4");
}

#[test]
fn enumeration_is_complete_for_h100() {
    let all = combinations(GpuModel::H100_80GB);
    assert!(all.iter().all(|c| c.layout.counts() == c.counts));
    let find = |items: &[(&str, u32)]| all.iter().find(|c| c.counts == counts(items));
    assert!(find(&[("1g.10gb", 7)]).expect("7 × 1g").maximal);
    assert!(find(&[("7g.80gb", 1)]).expect("7g").maximal);
    assert!(
        find(&[("1g.10gb", 2), ("2g.20gb", 1), ("3g.40gb", 1)])
            .expect("balanced")
            .maximal
    );
    assert!(!find(&[("3g.40gb", 1)]).expect("one 3g").maximal);
    assert!(
        find(&[("2g.20gb", 3), ("1g.20gb", 1)])
            .expect("1g.20gb fits at 6")
            .maximal
    );
    assert!(
        find(&[("1g.10gb", 7), ("1g.20gb", 1)]).is_none(),
        "8 compute slices"
    );
    assert!(find(&[("3g.40gb", 3)]).is_none(), "above the maximum");
    // No duplicates.
    let mut keys: Vec<_> = all.iter().map(|c| c.counts.clone()).collect();
    keys.sort();
    keys.dedup();
    assert_eq!(keys.len(), all.len());
}
