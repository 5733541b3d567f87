//! Any bytes → blueprint check: never a panic or a hang; every issue placed; valid ⇔ a blueprint;
//! the form view's in-place edit keeps a valid object valid JSON.
#![no_main]

use std::sync::LazyLock;

use libfuzzer_sys::fuzz_target;
use mig::blueprint::{Catalogue, Context, FleetNode, FleetPool, FleetView, check, text};
use mig::parted::MigPartedConfig;

static CATALOGUE: LazyLock<Catalogue> = LazyLock::new(|| {
    Catalogue::from_parted(&MigPartedConfig::default_configs().expect("default configs"))
});
static FLEET: LazyLock<FleetView> = LazyLock::new(|| {
    let h100 = mig::shape::shape("BM.GPU.H100.8").expect("shape");
    let cfg = CATALOGUE.config(h100.model, "all-balanced");
    FleetView {
        nodes: vec![FleetNode::configured("10.0.10.138", Some("h100migpool"), h100, cfg)],
        pools: vec![FleetPool { name: "h100migpool".into(), shape: h100.name.into(), max_pods_per_node: 90, dedicated_to: None }],
        deployments: vec!["taken".into()],
    }
});

fuzz_target!(|data: &[u8]| {
    let Ok(input) = std::str::from_utf8(data) else { return };
    let with = |platform| Context { catalogue: Some(&CATALOGUE), fleet: Some(&FLEET), platform };
    for ctx in [
        Context::default(),
        with(None),
        with(Some(mig::blueprint::Platform::Embedded)),
        with(Some(mig::blueprint::Platform::Kubernetes)),
    ] {
        let checked = check(input, ctx);
        assert_eq!(checked.is_valid(), checked.blueprint.is_some());
        for issue in &checked.issues {
            assert!(issue.line.is_some_and(|l| l >= 1), "{issue:?}");
            assert!(!issue.message.is_empty() && !issue.hint.is_empty(), "{issue:?}");
        }
    }
    if text::parse(input).is_ok() {
        let edited = text::set_member(input, "recipe_replica_count", Some(&serde_json::Value::from(3)))
            .expect("a parsed object can be edited");
        assert!(text::parse(&edited).is_ok(), "edit broke the JSON:\n{edited}");
        let removed = text::set_member(&edited, "recipe_replica_count", None).expect("edit");
        assert!(text::parse(&removed).is_ok(), "removal broke the JSON:\n{removed}");
    }
});
