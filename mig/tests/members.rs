//! The member table (`mig::blueprint::members`): one row per member of OCI's `recipe_payload`
//! schema, and every member a blueprint has is either carried out (the row names the tests that
//! show it, which must exist) or named by the validator's warning on that platform.

use mig::blueprint::members::{Does, MEMBERS, Platform};
use mig::blueprint::{Context, RawRecipe, RecipeMode, check};
use serde_json::{Value, json};

mod fixtures;

const SCHEMA: &str = include_str!("../data/oci-blueprint-schema.json");

/// `recipe_payload`'s properties, in the schema's order.
fn schema_members() -> serde_json::Map<String, Value> {
    let schema: Value = serde_json::from_str(SCHEMA).expect("schema");
    schema["$defs"]["recipe_payload"]["properties"]
        .as_object()
        .expect("properties")
        .clone()
}

#[test]
fn the_table_has_every_schema_member_once_in_the_wire_models_order() {
    let schema: Vec<String> = schema_members().keys().cloned().collect();
    let table: Vec<&str> = MEMBERS.iter().map(|m| m.name).collect();
    let mut sorted = table.clone();
    sorted.sort_unstable();
    sorted.dedup();
    assert_eq!(sorted.len(), table.len(), "a member twice: {table:?}");
    assert_eq!(sorted, schema, "the member table and the schema (sorted)");
    assert_eq!(RawRecipe::KEYS, table.as_slice(), "the wire model and the table, in order");
}

/// A well-typed value for a member, from its schema type.
fn sample(name: &str, def: &Value) -> Value {
    match name {
        "recipe_mode" => json!("service"),
        "recipe_node_shape" | "shared_node_pool_shape" => json!("BM.GPU.H100.8"),
        "recipe_container_port" | "recipe_host_port" => json!("8000"),
        "shared_node_pool_mig_config" => json!("all-1g.10gb"),
        "mig_resource_request" => json!("1g.10gb"),
        "recipe_node_name" => json!("10.0.10.138"),
        "recipe_node_pool_name" => json!("h100migpool"),
        "recipe_use_shared_node_pool" => json!(true),
        _ => match def["type"].as_str() {
            Some("string") => json!("x"),
            Some("integer") => json!(1),
            Some("boolean") => json!(true),
            Some("array") => json!([]),
            Some("object") => json!({}),
            other => panic!("{name}: no sample for type {other:?}"),
        },
    }
}

/// The smallest blueprint of `mode` (with what the mode requires).
fn base(mode: RecipeMode) -> Value {
    match mode {
        RecipeMode::Service | RecipeMode::Job => json!({
            "recipe_mode": mode.to_string(), "deployment_name": "d",
            "recipe_image_uri": "i", "recipe_node_shape": "BM.GPU.H100.8",
        }),
        RecipeMode::Update => json!({
            "recipe_mode": "update", "deployment_name": "d", "recipe_node_name": "10.0.10.138",
            "shared_node_pool_mig_config": "all-1g.10gb",
        }),
        RecipeMode::SharedNodePool => json!({
            "recipe_mode": "shared_node_pool", "deployment_name": "d",
            "shared_node_pool_shape": "BM.GPU.H100.8", "shared_node_pool_size": 1,
            "shared_node_pool_boot_volume_size_in_gbs": 100,
        }),
        RecipeMode::Team => json!({
            "recipe_mode": "team", "deployment_name": "d", "team": {"team_name": "t"},
        }),
    }
}

/// The source of the workspace file `path`.
fn source(path: &str) -> String {
    let full = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("..").join(path);
    std::fs::read_to_string(&full).unwrap_or_else(|e| panic!("{}: {e}", full.display()))
}

#[test]
fn every_member_present_is_carried_out_or_warned() {
    let members = schema_members();
    let modes = [
        RecipeMode::Service,
        RecipeMode::Job,
        RecipeMode::Update,
        RecipeMode::SharedNodePool,
        RecipeMode::Team,
    ];
    let mut checked_any = 0;
    for m in MEMBERS {
        let value = sample(m.name, &members[m.name]);
        for mode in modes {
            let mut bp = base(mode);
            if m.name != "recipe_mode" && m.name != "deployment_name" {
                bp[m.name] = value.clone();
            }
            let text = bp.to_string();
            // Where the mode rules say the member has no effect, that warning is its answer.
            let ignored = check(&text, Context::default())
                .issues
                .iter()
                .any(|i| i.code == "ignored" && i.path == format!("/{}", m.name));
            if ignored {
                continue;
            }
            for platform in [None, Some(Platform::Embedded), Some(Platform::Kubernetes)] {
                let ctx = Context {
                    platform,
                    ..Context::default()
                };
                let issues = check(&text, ctx).issues;
                let at = format!("/{}", m.name);
                let named = issues
                    .iter()
                    .any(|i| i.code == "not_carried" && i.path == at && i.message.contains(m.name));
                let simulated = issues
                    .iter()
                    .any(|i| i.code == "simulated" && i.message.contains(&format!("`{}`", m.name)));
                let does = match platform {
                    Some(p) => m.on(p),
                    None => match (m.embedded, m.kubernetes) {
                        (Does::Not(why), Does::Not(_)) => Does::Not(why),
                        _ => Does::Carried("somewhere"),
                    },
                };
                let what = format!("{} in {mode} on {platform:?}: {issues:#?}", m.name);
                match does {
                    Does::Not(why) => {
                        assert!(named, "not carried out, so warned: {what}");
                        assert!(
                            issues.iter().any(|i| i.message.contains(why)),
                            "the warning says why: {what}"
                        );
                    }
                    Does::Simulated => assert!(simulated, "simulated, so warned: {what}"),
                    Does::Carried(_) => {
                        assert!(!named && !simulated, "carried out, so not warned: {what}");
                    }
                }
                checked_any += 1;
            }
        }
    }
    assert!(checked_any > 3 * MEMBERS.len(), "{checked_any}");
}

#[test]
fn every_member_carried_out_somewhere_names_tests_that_exist() {
    for m in MEMBERS {
        let carried = [m.embedded, m.kubernetes]
            .iter()
            .any(|d| !matches!(d, Does::Not(_)));
        assert_eq!(
            carried,
            !m.tests.is_empty(),
            "{}: a member carried out names its tests; one carried out nowhere names none",
            m.name
        );
        for test in m.tests {
            let (path, name) = test.split_once("::").expect("path::name");
            let text = source(path);
            assert!(
                text.contains(&format!("fn {name}(")),
                "{}: {path} has no test {name}",
                m.name
            );
        }
    }
}

/// README's table is the member table: the same rows, the same words.
#[test]
fn readme_lists_what_migboard_does_with_each_member() {
    let readme = source("README.md");
    let table = mig::blueprint::members::markdown();
    assert!(
        readme.contains(&table),
        "README.md's member table differs from mig::blueprint::members::markdown(); paste this under \"What migboard does with each blueprint member\":\n\n{table}"
    );
}

#[test]
fn the_guides_quickstart_samples_say_what_the_embedded_fleet_does_not_do() {
    let t = mig::blueprint::templates::template("mig_inference_single_replica.json").expect("template");
    let ctx = Context {
        platform: Some(Platform::Embedded),
        ..Context::default()
    };
    let checked = check(t.json, ctx);
    let codes: Vec<(&str, &str)> = checked
        .issues
        .iter()
        .map(|i| (i.code.as_str(), i.path.as_str()))
        .collect();
    assert_eq!(
        codes,
        [
            ("simulated", "/recipe_image_uri"),
            ("not_carried", "/recipe_prometheus_enabled"),
            ("not_carried", "/recipe_node_boot_volume_size_in_gbs"),
            ("autoscaling_needs_metrics", "/recipe_pod_autoscaling_params"),
        ],
        "{:#?}",
        checked.issues
    );
    // The autoscaler's floor: min_replicas 1.
    let Some(mig::blueprint::Action::Workload(w)) = checked.blueprint.map(|b| b.action) else {
        panic!("a workload")
    };
    assert_eq!(w.replicas, 1);
    // On Kubernetes the container runs and the autoscaler scales: only the two OCI-only members.
    let k8s = check(
        t.json,
        Context {
            platform: Some(Platform::Kubernetes),
            ..Context::default()
        },
    );
    let codes: Vec<&str> = k8s.issues.iter().map(|i| i.code.as_str()).collect();
    assert_eq!(codes, ["not_carried", "not_carried"], "{:#?}", k8s.issues);
}

#[test]
fn the_embedded_fleet_runs_the_autoscalers_floor() {
    let t = mig::blueprint::templates::template("mig_inference_multiple_replicas.json").expect("template");
    let mut v: Value = serde_json::from_str(t.json).expect("json");
    v["recipe_pod_autoscaling_params"] = json!({"min_replicas": 2, "max_replicas": 10});
    let text = v.to_string();
    let replicas = |platform| {
        let checked = check(
            &text,
            Context {
                platform,
                ..Context::default()
            },
        );
        match checked.blueprint.map(|b| b.action) {
            Some(mig::blueprint::Action::Workload(w)) => w.replicas,
            other => panic!("{other:?}: {:#?}", checked.issues),
        }
    };
    assert_eq!(replicas(Some(Platform::Embedded)), 2);
    assert_eq!(replicas(Some(Platform::Kubernetes)), 5, "the HPA starts from recipe_replica_count");
    assert_eq!(replicas(None), 5);
}

#[test]
fn mig_outside_ocis_support_is_flagged_as_not_portable() {
    let cat = fixtures::catalogue();
    let ctx = Context {
        catalogue: Some(&cat),
        ..Context::default()
    };
    let pool = json!({
        "recipe_mode": "shared_node_pool", "deployment_name": "a100s",
        "shared_node_pool_shape": "BM.GPU4.8", "shared_node_pool_size": 1,
        "shared_node_pool_boot_volume_size_in_gbs": 100, "shared_node_pool_mig_config": "all-1g.5gb",
    })
    .to_string();
    let issues = check(&pool, ctx).issues;
    let portability: Vec<&str> = issues
        .iter()
        .filter(|i| i.code == "oci_portability")
        .map(|i| i.path.as_str())
        .collect();
    assert_eq!(
        portability,
        ["/shared_node_pool_mig_config", "/shared_node_pool_shape"],
        "{issues:#?}"
    );
    // The guide's own pool is portable.
    let t = mig::blueprint::templates::template("mig_enabled_shared_node_pool.json").expect("template");
    assert!(!check(t.json, ctx).issues.iter().any(|i| i.code == "oci_portability"));
    // A config no catalogue has is an error, not a portability notice.
    let unknown = pool.replace("all-1g.5gb", "all-1g.5g");
    let issues = check(&unknown, ctx).issues;
    assert!(issues.iter().any(|i| i.code == "mig_config_unknown"), "{issues:#?}");
    assert_eq!(
        issues.iter().filter(|i| i.code == "oci_portability").count(),
        1,
        "only the shape: {issues:#?}"
    );
}

#[test]
fn a_deployment_of_its_own_gets_nodes_on_its_profiles_config_on_the_embedded_fleet() {
    let t = mig::blueprint::templates::template("mig_inference_single_replica.json").expect("template");
    // Without autoscaling (on the embedded fleet its floor would set the replicas).
    let mut v: Value = serde_json::from_str(t.json).expect("json");
    v["recipe_use_shared_node_pool"] = json!(false);
    v.as_object_mut().expect("object").remove("recipe_pod_autoscaling_params");
    let text = serde_json::to_string_pretty(&v).expect("json");
    let cat = fixtures::catalogue();
    let fleet = fixtures::fleet_without_mig();
    let on = |text: &str, platform| {
        check(text, Context { catalogue: Some(&cat), fleet: Some(&fleet), platform: Some(platform) })
    };
    // The fleet has no 1g.20gb slice, but its own node will: valid, one node on all-1g.20gb.
    let embedded = on(&text, Platform::Embedded);
    assert!(embedded.is_valid(), "{:#?}", embedded.issues);
    let Some(mig::blueprint::Action::Workload(w)) = embedded.blueprint.map(|b| b.action) else {
        panic!("a workload")
    };
    assert_eq!(w.pool_use, mig::blueprint::PoolUse::Dedicated);
    assert_eq!(
        w.own_nodes,
        Some(mig::blueprint::OwnNodes { size: 1, max: 1, per_node: 32, config: "all-1g.20gb".into() })
    );
    // 40 replicas need two nodes of 32 slices.
    let many = text.replace("\"recipe_replica_count\": 1", "\"recipe_replica_count\": 40");
    assert_ne!(many, text);
    let refused = on(&many, Platform::Embedded);
    let capacity = refused
        .issues
        .iter()
        .find(|i| i.code == "capacity")
        .unwrap_or_else(|| panic!("{:#?}", refused.issues));
    assert!(capacity.hint.contains("raise recipe_node_pool_size to 2"), "{capacity:#?}");
    let two = many.replace("\"recipe_replica_count\": 40", "\"recipe_replica_count\": 40, \"recipe_node_pool_size\": 2");
    assert!(on(&two, Platform::Embedded).is_valid());
    // Node autoscaling: it starts at min_nodes and may grow to max_nodes, which bounds the replicas.
    let mut grow: Value = serde_json::from_str(&many).expect("json");
    grow["recipe_replica_count"] = json!(70);
    grow["recipe_node_autoscaling_params"] = json!({"min_nodes": 1, "max_nodes": 3});
    let grows = on(&grow.to_string(), Platform::Embedded);
    assert!(grows.is_valid(), "{:#?}", grows.issues);
    let Some(mig::blueprint::Action::Workload(w)) = grows.blueprint.map(|b| b.action) else {
        panic!("a workload")
    };
    assert_eq!(w.own_nodes.map(|o| (o.size, o.max)), Some((1, 3)));
    grow["recipe_replica_count"] = json!(100);
    let too_many = on(&grow.to_string(), Platform::Embedded);
    assert!(
        too_many.issues.iter().any(|i| i.code == "capacity" && i.hint.contains("raise max_nodes")),
        "{:#?}",
        too_many.issues
    );
    // On Kubernetes it runs on nodes outside shared pools, which the fleet rules do not see: the
    // slice must exist in the fleet as for any request.
    let k8s = on(&text, Platform::Kubernetes);
    assert!(k8s.issues.iter().any(|i| i.code == "mig_profile_unconfigured"), "{:#?}", k8s.issues);
    // Without it, recipe_node_pool_size means nothing and says so.
    let shared = t.json.replace("\"recipe_replica_count\": 1,", "\"recipe_replica_count\": 1, \"recipe_node_pool_size\": 2,");
    assert_ne!(shared, t.json);
    let issues = on(&shared, Platform::Embedded).issues;
    assert!(
        issues.iter().any(|i| i.code == "ignored" && i.path == "/recipe_node_pool_size"),
        "{issues:#?}"
    );
}

#[test]
fn a_deployments_own_nodes_cannot_be_updated() {
    let cat = fixtures::catalogue();
    let mut fleet = fixtures::fleet(&cat);
    fleet.pools[0].dedicated_to = Some("solo".into());
    let ctx = Context { catalogue: Some(&cat), fleet: Some(&fleet), platform: Some(Platform::Embedded) };
    for (key, target) in [("recipe_node_name", "10.0.10.138"), ("recipe_node_pool_name", "h100migpool")] {
        let text = json!({
            "recipe_mode": "update", "deployment_name": "recut", key: target,
            "shared_node_pool_mig_config": "all-1g.10gb",
        })
        .to_string();
        let issues = check(&text, ctx).issues;
        let refused = issues
            .iter()
            .find(|i| i.code == "dedicated_pool")
            .unwrap_or_else(|| panic!("{key}: {issues:#?}"));
        assert!(refused.is_error() && refused.path == format!("/{key}"), "{refused:#?}");
        assert!(refused.message.contains("\"solo\""), "{refused:#?}");
    }
    // A shared pool may be updated as before.
    fleet.pools[0].dedicated_to = None;
    let ctx = Context { catalogue: Some(&cat), fleet: Some(&fleet), platform: Some(Platform::Embedded) };
    let text = json!({
        "recipe_mode": "update", "deployment_name": "recut", "recipe_node_pool_name": "h100migpool",
        "shared_node_pool_mig_config": "all-1g.10gb",
    })
    .to_string();
    assert!(check(&text, ctx).is_valid());
}
