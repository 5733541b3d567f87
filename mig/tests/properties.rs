//! Properties of the rules, checked on generated input.

use std::collections::HashSet;

use mig::{GpuModel, InstanceSpec, Layout, ProfileCounts, combinations};
use proptest::prelude::*;

/// Every layout the enumeration returns validates, for every model (exhaustive, no sampling needed).
#[test]
fn every_enumerated_combination_validates() {
    for model in GpuModel::all() {
        let all = combinations(model);
        assert!(!all.is_empty());
        for c in &all {
            let again =
                Layout::new(model, &c.layout.to_specs()).expect("enumerated layouts are valid");
            assert_eq!(again.counts(), c.counts);
        }
    }
}

fn any_model() -> impl Strategy<Value = GpuModel> {
    prop::sample::select(GpuModel::all().collect::<Vec<_>>())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 4000, ..ProptestConfig::default() })]

    /// No valid layout is missing from the enumeration: any random set of (profile, start) that
    /// validates has its profile counts among the enumerated combinations.
    #[test]
    fn no_valid_layout_is_missing(model in any_model(), picks in prop::collection::vec((0usize..7, 0u8..8), 1..8)) {
        let profiles = &model.spec().profiles;
        let specs: Vec<InstanceSpec> = picks
            .iter()
            .map(|&(k, start)| InstanceSpec { profile: profiles[k].name.to_owned(), start })
            .collect();
        if let Ok(layout) = Layout::new(model, &specs) {
            let known: HashSet<ProfileCounts> = combinations(model).into_iter().map(|c| c.counts).collect();
            prop_assert!(known.contains(&layout.counts()), "{} missing from the enumeration", layout);
        }
    }

    /// Validation never panics and always explains a rejection, whatever the input.
    #[test]
    fn validation_is_total(model in any_model(), picks in prop::collection::vec((".{0,12}", any::<u8>()), 0..12)) {
        let specs: Vec<InstanceSpec> = picks.into_iter().map(|(profile, start)| InstanceSpec { profile, start }).collect();
        if let Err(issues) = Layout::new(model, &specs) {
            prop_assert!(!issues.is_empty());
            prop_assert!(issues.iter().all(|i| !i.to_string().is_empty()));
        }
    }
}
