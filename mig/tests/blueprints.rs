//! Blueprints: the reference samples, one invalid blueprint per rule (snapshot), and robustness.

mod fixtures;

use expect_test::expect;
use mig::blueprint::templates::TEMPLATES;
use mig::blueprint::{Action, Context, GpuRequest, Target, check};
use serde_json::{Value, json};

fn render(text: &str, ctx: Context<'_>) -> String {
    let checked = check(text, ctx);
    checked
        .issues
        .iter()
        .filter(|i| !mig::blueprint::members::is_notice(i))
        .map(|i| {
            format!(
                "{:?} {} {} @{}:{} — {} | {}",
                i.severity,
                i.code,
                if i.path.is_empty() { "\"\"" } else { &i.path },
                i.line.unwrap_or(0),
                i.column.unwrap_or(0),
                i.message,
                i.hint
            )
        })
        .collect::<Vec<_>>()
        .join("\n")
}

#[test]
fn embedded_templates_are_the_reference_files_verbatim() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../shared/reference/oci-blueprints");
    let Ok(entries) = std::fs::read_dir(&dir) else {
        eprintln!(
            "{} not present: comparing against the embedded copies only",
            dir.display()
        );
        return;
    };
    let mut seen = 0;
    for entry in entries {
        let path = entry.expect("dir entry").path();
        let name = path
            .file_name()
            .and_then(|n| n.to_str())
            .expect("utf-8 name")
            .to_owned();
        if name == "blueprint_json_schema.json" {
            // The member table's test (members.rs) reads the vendored copy.
            assert_eq!(
                include_str!("../data/oci-blueprint-schema.json"),
                std::fs::read_to_string(&path).expect("readable"),
                "the vendored schema differs from the reference"
            );
            continue;
        }
        let text = std::fs::read_to_string(&path).expect("readable");
        let t = mig::blueprint::templates::template(&name)
            .unwrap_or_else(|| panic!("{name} is not a template"));
        assert_eq!(t.json, text, "{name} differs from the reference");
        seen += 1;
    }
    assert_eq!(seen, TEMPLATES.len());
}

#[test]
fn every_reference_blueprint_parses_and_passes_the_pure_rules() {
    let cat = fixtures::catalogue();
    for t in &TEMPLATES {
        let checked = check(
            t.json,
            Context {
                catalogue: Some(&cat),
                fleet: None,
                platform: None,
            },
        );
        assert!(checked.is_valid(), "{}: {:#?}", t.file, checked.issues);
        assert!(
            checked.issues.iter().all(mig::blueprint::members::is_notice),
            "{}: {:#?}",
            t.file,
            checked.issues
        );
        assert!(checked.blueprint.is_some(), "{}", t.file);
        // And without any context (the browser before the catalogue arrives).
        assert!(check(t.json, Context::default()).is_valid(), "{}", t.file);
    }
}

#[test]
fn the_six_mig_samples_validate_against_a_fleet_that_has_their_configs() {
    let cat = fixtures::catalogue();
    let fleet = fixtures::fleet(&cat);
    let ctx = Context {
        catalogue: Some(&cat),
        fleet: Some(&fleet),
        platform: None,
    };
    let mig: Vec<_> = TEMPLATES.iter().filter(|t| t.mig).collect();
    assert_eq!(mig.len(), 6);
    for t in &mig {
        let checked = check(t.json, ctx);
        assert!(
            checked.issues.iter().all(mig::blueprint::members::is_notice),
            "{}: {:#?}",
            t.file,
            checked.issues
        );
        let bp = checked.blueprint.expect("valid");
        match (t.file, &bp.action) {
            ("mig_inference_multiple_replicas.json", Action::Workload(w)) => {
                assert_eq!(
                    (w.replicas, &w.gpu),
                    (5, &GpuRequest::Mig("1g.10gb".into()))
                );
            }
            ("mig_update_node_with_node_name.json", Action::Update(u)) => {
                assert_eq!(u.target, Target::Node("10.0.10.138".into()));
                assert_eq!(u.mig_config.as_deref(), Some("all-1g.10gb"));
            }
            ("mig_update_shared_pool_with_node_pool_name.json", Action::Update(u)) => {
                assert_eq!(u.target, Target::Pool("h100migpool".into()));
            }
            ("mig_enabled_shared_node_pool.json", Action::SharedNodePool(p)) => {
                assert_eq!(
                    (p.size, p.max_pods_per_node, p.mig_config.as_deref()),
                    (1, 90, Some("all-1g.20gb"))
                );
            }
            (_, Action::Workload(w)) => assert!(matches!(w.gpu, GpuRequest::Mig(_))),
            (file, other) => panic!("{file}: unexpected {other:?}"),
        }
    }
}

#[test]
fn the_six_mig_samples_fail_with_the_guides_reason_where_configs_are_missing() {
    // Default catalogue, but no node has MIG on: requests fail as the guide documents.
    let cat = fixtures::catalogue();
    let bare = fixtures::fleet_without_mig();
    let ctx = Context {
        catalogue: Some(&cat),
        fleet: Some(&bare),
        platform: None,
    };
    for file in [
        "mig_inference_single_replica.json",
        "mig_inference_single_replica_10gb.json",
        "mig_inference_multiple_replicas.json",
    ] {
        let t = mig::blueprint::templates::template(file).expect("template");
        let checked = check(t.json, ctx);
        let codes = codes(&checked);
        let issue = checked.issues.iter().find(|i| !mig::blueprint::members::is_notice(i)).expect("an issue");
        assert_eq!(
            codes,
            [("mig_profile_unconfigured", "/mig_resource_request")],
            "{file}"
        );
        assert!(
            issue
                .message
                .contains("not configured on any node"),
            "{}",
            issue.message
        );
        assert!(
            issue.hint.contains("h100migpool"),
            "says where: {}",
            issue.hint
        );
    }
    let t = mig::blueprint::templates::template("mig_inference_single_replica").expect("template");
    let checked = check(t.json, ctx);
    let hint = &checked.issues.iter().find(|i| !mig::blueprint::members::is_notice(i)).expect("an issue").hint;
    assert!(
        hint.contains("`all-1g.20gb`") && !hint.contains("all-balanced"),
        "1g.20gb only comes from all-1g.20gb: {hint}"
    );

    // A catalogue without the configs: pool creation and updates fail on the config name.
    let poor = fixtures::poor_catalogue();
    let ctx = Context {
        catalogue: Some(&poor),
        fleet: Some(&bare),
        platform: None,
    };
    for (file, config) in [
        ("mig_enabled_shared_node_pool.json", "all-1g.20gb"),
        ("mig_update_node_with_node_name.json", "all-1g.10gb"),
        (
            "mig_update_shared_pool_with_node_pool_name.json",
            "all-2g.20gb",
        ),
    ] {
        let t = mig::blueprint::templates::template(file).expect("template");
        let checked = check(t.json, ctx);
        let codes = codes(&checked);
        assert_eq!(
            codes,
            [("mig_config_unknown", "/shared_node_pool_mig_config")],
            "{file}"
        );
        let issue = checked
            .issues
            .iter()
            .find(|i| i.code == "mig_config_unknown")
            .expect("the unknown config");
        assert!(issue.message.contains(config));
        assert!(
            issue.hint.contains("all-7g.80gb"),
            "lists what exists: {}",
            issue.hint
        );
    }
}

/// (rule, pointer) of each issue, but the notices about what a platform does not carry out
/// (`mig/tests/members.rs` checks those).
fn codes(checked: &mig::blueprint::Checked) -> Vec<(&str, &str)> {
    checked
        .issues
        .iter()
        .filter(|i| !mig::blueprint::members::is_notice(i))
        .map(|i| (i.code.as_str(), i.path.as_str()))
        .collect()
}

/// Applies `patch` (members to set; `null` removes) to template `file`.
fn patched(file: &str, patch: Value) -> String {
    let t = mig::blueprint::templates::template(file).expect("template");
    let mut v: Value = serde_json::from_str(t.json).expect("json");
    for (k, val) in patch.as_object().expect("object patch") {
        let obj = v.as_object_mut().expect("object");
        if val.is_null() {
            obj.remove(k);
        } else {
            obj.insert(k.clone(), val.clone());
        }
    }
    serde_json::to_string_pretty(&v).expect("serializes")
}

#[test]
fn one_invalid_blueprint_per_rule() {
    let cat = fixtures::catalogue();
    let fleet = fixtures::fleet(&cat);
    let ctx = Context {
        catalogue: Some(&cat),
        fleet: Some(&fleet),
        platform: None,
    };
    let inference = "mig_inference_single_replica_10gb.json";
    let pool = "mig_enabled_shared_node_pool.json";
    let update = "mig_update_node_with_node_name.json";
    let cases: Vec<(&str, String)> = vec![
        (
            "syntax",
            "{\n  \"recipe_mode\": \"update\",\n  \"deployment_name\": \"x\",\n}".into(),
        ),
        ("not an object", "[1, 2]".into()),
        (
            "too deep",
            format!("{{\"a\": {}{}}}", "[".repeat(40), "]".repeat(40)),
        ),
        ("required members", "{}".into()),
        (
            "unknown key",
            patched(
                inference,
                json!({"mig_resource_reqest": "1g.10gb", "mig_resource_request": null}),
            ),
        ),
        (
            "wrong types",
            patched(
                inference,
                json!({"recipe_replica_count": "2", "recipe_container_port": 8000, "recipe_use_shared_node_pool": "true"}),
            ),
        ),
        (
            "unknown mode",
            patched(inference, json!({"recipe_mode": "servce"})),
        ),
        (
            "service needs image and shape",
            patched(
                inference,
                json!({"recipe_image_uri": null, "recipe_node_shape": null}),
            ),
        ),
        (
            "update needs exactly one target (both)",
            patched(update, json!({"recipe_node_pool_name": "h100migpool"})),
        ),
        (
            "update needs exactly one target (none)",
            patched(update, json!({"recipe_node_name": null})),
        ),
        (
            "update changes nothing",
            patched(update, json!({"shared_node_pool_mig_config": null})),
        ),
        (
            "config the model lacks",
            patched(pool, json!({"shared_node_pool_mig_config": "all-1g.15gb"})),
        ),
        (
            "config on a non-MIG shape",
            patched(pool, json!({"shared_node_pool_shape": "BM.GPU.A10.4"})),
        ),
        (
            "profile the model lacks",
            patched(inference, json!({"mig_resource_request": "1g.12gb"})),
        ),
        (
            "profile not configured on any node",
            patched(inference, json!({"mig_resource_request": "3g.40gb"})),
        ),
        (
            "MIG on a shape without MIG",
            patched(inference, json!({"recipe_node_shape": "VM.GPU.A10.2"})),
        ),
        (
            "several slices per replica",
            patched(inference, json!({"recipe_nvidia_gpu_count": 2})),
        ),
        (
            "max pods above 110",
            patched(pool, json!({"recipe_max_pods_per_node": 120})),
        ),
        (
            "max pods changed by an update",
            patched(update, json!({"recipe_max_pods_per_node": 100})),
        ),
        (
            "max pods of an existing pool",
            patched(
                pool,
                json!({"deployment_name": "h100migpool", "recipe_max_pods_per_node": 100}),
            ),
        ),
        (
            "replicas beyond free slices",
            patched(
                inference,
                json!({"recipe_replica_count": 60, "recipe_pod_autoscaling_params": {"min_replicas": 60, "max_replicas": 60}}),
            ),
        ),
        (
            "capacity check skipped",
            patched(
                inference,
                json!({"recipe_replica_count": 60, "skip_capacity_validation": true, "recipe_pod_autoscaling_params": {"min_replicas": 60, "max_replicas": 60}}),
            ),
        ),
        (
            "no GPUs",
            patched(
                "vllm-open-hf-model.json",
                json!({"recipe_nvidia_gpu_count": 0}),
            ),
        ),
        (
            "more GPUs than the shape",
            patched(
                "vllm-open-hf-model.json",
                json!({"recipe_nvidia_gpu_count": 4}),
            ),
        ),
        (
            "ephemeral storage beyond boot volume",
            patched(inference, json!({"recipe_ephemeral_storage_size": 400})),
        ),
        (
            "deployment name taken",
            patched(inference, json!({"deployment_name": "existing-service"})),
        ),
        (
            "probe ranges",
            patched(
                inference,
                json!({"recipe_liveness_probe_params": {"failure_threshold": 0, "endpoint_path": "health", "port": 70000, "scheme": "http", "period_seconds": 0, "success_threshold": 2, "timeout_seconds": 1}}),
            ),
        ),
        (
            "autoscaling min above max",
            patched(
                inference,
                json!({"recipe_pod_autoscaling_params": {"min_replicas": 5, "max_replicas": 2}}),
            ),
        ),
        (
            "node autoscaling min above max",
            patched(
                "autoscaling_blueprint.json",
                json!({"recipe_node_autoscaling_params": {"min_nodes": 3, "max_nodes": 2}}),
            ),
        ),
        (
            "storage needs one source",
            patched(
                "autoscaling_blueprint.json",
                json!({"input_object_storage": [{"mount_location": "models", "volume_size_in_gbs": 0}]}),
            ),
        ),
        (
            "update target not in the fleet",
            patched(update, json!({"recipe_node_name": "10.0.10.13"})),
        ),
        (
            "pool target not in the fleet",
            patched(
                "mig_update_shared_pool_with_node_pool_name.json",
                json!({"recipe_node_pool_name": "gpu-pool"}),
            ),
        ),
        (
            "member of another mode",
            patched(update, json!({"mig_resource_request": "1g.10gb"})),
        ),
        (
            "unknown shape",
            patched(
                "vllm-open-hf-model.json",
                json!({"recipe_node_shape": "VM.GPU.A10.3"}),
            ),
        ),
        (
            "ports",
            patched(
                inference,
                json!({"recipe_container_port": "80a", "recipe_host_port": "0"}),
            ),
        ),
        (
            "nested unknown key and missing member",
            patched(
                inference,
                json!({"recipe_container_env": [{"key": "A", "valu": "1"}, {"key": "A", "value": 2}]}),
            ),
        ),
        (
            "tensor parallel on a slice (env)",
            patched(
                inference,
                json!({"recipe_container_env": [{"key": "tensor_parallel_size", "value": "2"}]}),
            ),
        ),
        (
            "tensor parallel on a slice (args)",
            patched(
                inference,
                json!({"recipe_container_command_args": ["--model", "m", "--tensor-parallel-size", "4"]}),
            ),
        ),
        (
            "whole-GPU slice",
            patched(inference, json!({"mig_resource_request": "7g.80gb"})),
        ),
    ];
    let mut out = String::new();
    for (name, text) in &cases {
        let rendered = render(text, ctx);
        assert!(
            !rendered.is_empty() || *name == "capacity check skipped",
            "{name}: no issue"
        );
        out.push_str(&format!("## {name}\n{rendered}\n"));
    }
    expect![[r###"
        ## syntax
        Error syntax "" @4:1 — not valid JSON: trailing comma (line 4, column 1) | JSON allows no comma after the last member: remove it
        ## not an object
        Error not_object "" @1:1 — a blueprint is a JSON object, found an array | write the recipe as { "recipe_mode": ..., "deployment_name": ..., ... }
        ## too deep
        Error too_deep "" @1:38 — the JSON nests deeper than 32 levels at line 1 column 38 | blueprints nest at most four levels; look for unbalanced brackets
        ## required members
        Error required /recipe_mode @1:1 — a blueprint needs `recipe_mode` | add "recipe_mode"
        Error required /deployment_name @1:1 — a blueprint needs `deployment_name` | add "deployment_name"
        ## unknown key
        Error unknown_key /mig_resource_reqest @3:3 — unknown key `mig_resource_reqest` in a blueprint | did you mean `mig_resource_request`?
        ## wrong types
        Error type /recipe_container_port @26:3 — `recipe_container_port` must be a string, found an integer (8000) | put the value in quotes: "8000"
        Error type /recipe_replica_count @49:3 — `recipe_replica_count` must be an integer, found a string ("2") | remove the quotes: 2
        Error type /recipe_use_shared_node_pool @61:3 — `recipe_use_shared_node_pool` must be a boolean, found a string ("true") | remove the quotes: true
        ## unknown mode
        Error enum /recipe_mode @40:3 — `recipe_mode` must be one of service, job, update, shared_node_pool or team, found "servce" | did you mean "service"?
        ## service needs image and shape
        Error required /recipe_image_uri @1:1 — "service" mode needs `recipe_image_uri` | add "recipe_image_uri": "docker.io/vllm/vllm-openai:v0.9.1"
        Error required /recipe_node_shape @1:1 — "service" mode needs `recipe_node_shape` | add "recipe_node_shape": "BM.GPU.H100.8"
        ## update needs exactly one target (both)
        Error update_target /recipe_node_pool_name @5:3 — an update names both `recipe_node_name` and `recipe_node_pool_name` | keep exactly one: recipe_node_name for one node, recipe_node_pool_name for every node of a pool
        ## update needs exactly one target (none)
        Error update_target "" @1:1 — an update needs `recipe_node_name` or `recipe_node_pool_name` | add "recipe_node_name": "<node private IP>" for one node, or "recipe_node_pool_name": "<pool>" for a pool
        ## update changes nothing
        Error update_nothing "" @1:1 — this update changes nothing: it has neither `shared_node_pool_mig_config` nor `recipe_node_labels` | add "shared_node_pool_mig_config": "all-1g.10gb" (or another config) to change MIG
        ## config the model lacks
        Error mig_config_unknown /shared_node_pool_mig_config @5:3 — there is no MIG config named "all-1g.15gb" for BM.GPU.H100.8 (NVIDIA H100 80GB) | did you mean "all-1g.10gb"?
        ## config on a non-MIG shape
        Error mig_shape /shared_node_pool_mig_config @5:3 — BM.GPU.A10.4 GPUs (A10) do not support MIG | remove shared_node_pool_mig_config, or use a MIG-capable shape: BM.GPU.H100.8, BM.GPU.H200.8, BM.GPU.B200.8, BM.GPU.A100-v2.8, BM.GPU4.8
        ## profile the model lacks
        Error mig_profile_unknown /mig_resource_request @3:3 — "1g.12gb" is not a MIG profile of NVIDIA H100 80GB | did you mean "1g.10gb"?
        ## profile not configured on any node
        Error mig_profile_unconfigured /mig_resource_request @3:3 — MIG resource 3g.40gb is not configured on any node of the fleet; a blueprint may only request a MIG slice that a node already has | reconfigure GPU 0 of 10.0.10.139 (2 × 1g.20gb → 1 × 3g.40gb): the editor's "Apply and deploy" does that and then deploys; or apply `all-3g.40gb` or `all-balanced` first, for example with an update blueprint {"recipe_mode": "update", "recipe_node_pool_name": "h100migpool", "shared_node_pool_mig_config": "all-3g.40gb"} (1 node pool of NVIDIA H100 80GB could take it: h100migpool)
        ## MIG on a shape without MIG
        Error mig_shape /mig_resource_request @3:3 — VM.GPU.A10.2 GPUs (A10) do not support MIG | run MIG workloads on a MIG-capable shape: BM.GPU.H100.8, BM.GPU.H200.8, BM.GPU.B200.8, BM.GPU.A100-v2.8, BM.GPU4.8
        ## several slices per replica
        Error mig_multi_slice /recipe_nvidia_gpu_count @43:3 — with mig_resource_request each replica gets one MIG slice, but recipe_nvidia_gpu_count is 2 | set recipe_nvidia_gpu_count to 1 (or remove it) and raise recipe_replica_count, or ask for a larger slice: one workload cannot span slices (NCCL does not support it)
        ## max pods above 110
        Error max_pods_range /recipe_max_pods_per_node @3:3 — recipe_max_pods_per_node must be from 1 to 110, found 120 | remove it to use the default of 90, which fits every MIG layout of a BM.GPU.H100.8 (at most 56 slices) plus system pods
        ## max pods changed by an update
        Error max_pods_immutable /recipe_max_pods_per_node @3:3 — recipe_max_pods_per_node cannot be changed by an update: it is fixed when the pool is created | remove it; to change it, remove the node from the pool and add it again with the new value
        ## max pods of an existing pool
        Error max_pods_immutable /recipe_max_pods_per_node @3:3 — pool "h100migpool" exists with 90 pods per node; recipe_max_pods_per_node cannot change after the pool is created | set it to 90 (or remove it if that is the default), or remove the nodes and add them again with the new value
        ## replicas beyond free slices
        Error capacity /recipe_replica_count @49:3 — 60 replicas need 60 free 1g.10gb slices; the fleet has 56 free of 56 (10.0.10.138: 56) | reconfigure GPU 0 of 10.0.10.139 (2 × 1g.20gb → 4 × 1g.10gb) makes room without touching a busy slice: the editor's "Apply and deploy" does that and then deploys; or lower recipe_replica_count to 56
        ## capacity check skipped

        ## no GPUs
        Error gpu_count /recipe_nvidia_gpu_count @27:3 — recipe_nvidia_gpu_count must be at least 1, found 0 | remove it for a workload without GPUs
        ## more GPUs than the shape
        Error gpu_count /recipe_nvidia_gpu_count @27:3 — a replica asks for 4 GPUs but VM.GPU.A10.2 has 2 | ask for at most 2, or pick a larger shape
        ## ephemeral storage beyond boot volume
        Error ephemeral_storage /recipe_ephemeral_storage_size @27:3 — ephemeral storage of 400 GB does not fit the node's 300 GB boot volume | lower recipe_ephemeral_storage_size to at most 300, or raise recipe_node_boot_volume_size_in_gbs
        ## deployment name taken
        Error deployment_name_taken /deployment_name @2:3 — a deployment named "existing-service" already exists | choose another name, or undeploy the existing deployment first
        ## probe ranges
        Error probe /recipe_liveness_probe_params/endpoint_path @31:5 — probe endpoint_path must start with /, found "health" | write "/health"
        Error probe /recipe_liveness_probe_params/failure_threshold @32:5 — `failure_threshold` of recipe_liveness_probe_params must be at least 1, found 0 | Kubernetes needs at least 1 failure before giving up
        Error probe /recipe_liveness_probe_params/period_seconds @33:5 — `period_seconds` of recipe_liveness_probe_params must be at least 1, found 0 | probe at most once a second
        Error port /recipe_liveness_probe_params/port @34:5 — probe port must be from 1 to 65535, found 70000 | probe the port the container listens on, such as 8000
        Error probe /recipe_liveness_probe_params/scheme @35:5 — probe scheme must be "HTTP" or "HTTPS", found "http" | write "HTTP"
        Error probe /recipe_liveness_probe_params/success_threshold @36:5 — `success_threshold` of recipe_liveness_probe_params must be 1, found 2 | Kubernetes requires 1 for liveness and startup probes
        ## autoscaling min above max
        Error autoscaling /recipe_pod_autoscaling_params/max_replicas @45:5 — max_replicas (2) is below min_replicas (5) | raise max_replicas to at least 5, or lower min_replicas
        ## node autoscaling min above max
        Error autoscaling /recipe_node_autoscaling_params/max_nodes @50:5 — max_nodes (2) is below min_nodes (3) | raise max_nodes to at least 3, or lower min_nodes
        ## storage needs one source
        Error storage_source /input_object_storage/0 @4:5 — an input_object_storage item needs `par` or `bucket_name` | add "par": "https://objectstorage..." or "bucket_name": "my-bucket"
        Error path /input_object_storage/0/mount_location @5:7 — mount_location must be an absolute path, found "models" | write "/models"
        Error range /input_object_storage/0/volume_size_in_gbs @6:7 — volume_size_in_gbs must be at least 1, found 0 | size the volume to hold the data, in GB
        ## update target not in the fleet
        Error node_unknown /recipe_node_name @4:3 — no node named "10.0.10.13" in the fleet | did you mean "10.0.10.138"?
        ## pool target not in the fleet
        Error pool_unknown /recipe_node_pool_name @4:3 — no node pool named "gpu-pool" in the fleet | pools: h100migpool
        ## member of another mode
        Warning ignored /mig_resource_request @3:3 — `mig_resource_request` has no effect in "update" mode | remove it, or use recipe_mode "service" or "job"
        ## unknown shape
        Warning shape_unknown /recipe_node_shape @26:3 — unknown GPU shape "VM.GPU.A10.3" | did you mean "VM.GPU.A10.1"? (GPU counts and MIG are not checked for shapes migboard does not know)
        ## ports
        Error port /recipe_container_port @26:3 — `recipe_container_port` must be a port number from 1 to 65535, found "80a" | write the port as a string of digits, for example "8000"
        Error port /recipe_host_port @28:3 — `recipe_host_port` must be a port number from 1 to 65535, found "0" | write the port as a string of digits, for example "8000"
        ## nested unknown key and missing member
        Error required /recipe_container_env/0/value @17:5 — an environment variable needs `value` | add "value"
        Error unknown_key /recipe_container_env/0/valu @19:7 — unknown key `valu` in an environment variable | did you mean `value`?
        Warning env /recipe_container_env/1/key @22:7 — environment variable `A` is set twice; the last value wins | remove one of them
        ## tensor parallel on a slice (env)
        Error tensor_parallel /recipe_container_env/0/value @19:7 — a tensor-parallel size of 2 spreads one model over 2 GPUs, but a replica on a MIG slice has one slice, and NCCL does not work across MIG instances | set it to 1 and ask for a larger slice (mig_resource_request), or run on whole GPUs (recipe_nvidia_gpu_count) on a pool with MIG off (all-disabled)
        ## tensor parallel on a slice (args)
        Error tensor_parallel /recipe_container_command_args/3 @8:5 — a tensor-parallel size of 4 spreads one model over 4 GPUs, but a replica on a MIG slice has one slice, and NCCL does not work across MIG instances | set it to 1 and ask for a larger slice (mig_resource_request), or run on whole GPUs (recipe_nvidia_gpu_count) on a pool with MIG off (all-disabled)
        ## whole-GPU slice
        Error mig_profile_unconfigured /mig_resource_request @3:3 — MIG resource 7g.80gb is not configured on any node of the fleet; a blueprint may only request a MIG slice that a node already has | reconfigure GPU 0 of 10.0.10.139 (4 × 1g.20gb → 1 × 7g.80gb): the editor's "Apply and deploy" does that and then deploys; or apply `all-7g.80gb` first, for example with an update blueprint {"recipe_mode": "update", "recipe_node_pool_name": "h100migpool", "shared_node_pool_mig_config": "all-7g.80gb"} (1 node pool of NVIDIA H100 80GB could take it: h100migpool)
        Warning whole_gpu_slice /mig_resource_request @3:3 — a 7g.80gb slice takes a whole GPU as one MIG instance (on some models with fewer SMs or less memory than the GPU has); OCI's MIG guide recommends MIG off for full-GPU work | for full compute, update the pool to all-disabled and ask for recipe_nvidia_gpu_count 1 instead of a MIG slice
    "###]].assert_eq(&out);
}

/// xorshift: deterministic mutations without a dependency.
struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }
}

#[test]
fn mutated_blueprints_never_panic_and_every_issue_is_placed() {
    let cat = fixtures::catalogue();
    let fleet = fixtures::fleet(&cat);
    let ctx = Context {
        catalogue: Some(&cat),
        fleet: Some(&fleet),
        platform: None,
    };
    let alphabet: &[&str] = &[
        "{",
        "}",
        "[",
        "]",
        ",",
        ":",
        "\"",
        "\\",
        "0",
        "-1",
        "1e999",
        "null",
        "true",
        " ",
        "\n",
        "é",
        "\u{1F600}",
        "\"recipe_mode\"",
        "\"update\"",
        "\"1g.10gb\"",
    ];
    let mut rng = Rng(0x9E37_79B9_7F4A_7C15);
    for round in 0..6000 {
        let base = TEMPLATES[round % TEMPLATES.len()].json;
        let mut text: Vec<char> = base.chars().collect();
        for _ in 0..=rng.below(4) {
            let at = rng.below(text.len() + 1);
            match rng.below(3) {
                0 if !text.is_empty() => {
                    let end = (at + rng.below(8)).min(text.len());
                    text.drain(at.min(text.len())..end);
                }
                1 => {
                    let piece = alphabet[rng.below(alphabet.len())];
                    for (k, c) in piece.chars().enumerate() {
                        text.insert((at + k).min(text.len()), c);
                    }
                }
                _ => {
                    if let Some(c) = text.get_mut(at) {
                        *c = alphabet[rng.below(alphabet.len())]
                            .chars()
                            .next()
                            .unwrap_or(' ');
                    }
                }
            }
        }
        let text: String = text.into_iter().collect();
        let checked = check(&text, ctx);
        let lines = u32::try_from(text.lines().count().max(1)).expect("small");
        for issue in &checked.issues {
            let line = issue.line.expect("every issue from text has a line");
            assert!(
                line >= 1 && line <= lines + 1,
                "line {line} of {lines}: {issue:?}\n{text}"
            );
            assert!(
                issue.path.is_empty() || issue.path.starts_with('/'),
                "{issue:?}"
            );
            assert!(
                !issue.message.is_empty() && !issue.hint.is_empty(),
                "{issue:?}"
            );
        }
        assert_eq!(
            checked.is_valid(),
            checked.blueprint.is_some(),
            "{:?}\n{text}",
            checked.issues
        );
    }
}

/// An update may not set or remove a label Kubernetes, the cloud, the GPU Operator or migboard acts
/// on (`nvidia.com/gpu.deploy.driver=false` removes the driver), nor one that breaks Kubernetes'
/// syntax; each is refused at its own pointer, and labels of the team's own pass.
#[test]
fn updates_may_not_touch_reserved_or_malformed_node_labels() {
    let text = json!({
        "recipe_mode": "update",
        "deployment_name": "relabel",
        "recipe_node_name": "10.0.10.11",
        "recipe_node_labels": {
            "nvidia.com/gpu.deploy.driver": "false",
            "oke.oraclecloud.com/pool.name": "other-pool",
            "node-role.kubernetes.io/control-plane": "",
            "topology.k8s.io/zone": "a",
            "NVIDIA.COM/mig.config": "all-1g.10gb",
            "migboard.io/pool": "x",
            "Bad Key": "x",
            "team": "bad value!",
            "example.com/team": "llm-serving",
            "owner": ""
        }
    })
    .to_string();
    let checked = check(&text, Context::default());
    let at = |code: &str| {
        checked
            .issues
            .iter()
            .filter(|i| i.code == code)
            .map(|i| i.path.as_str())
            .collect::<std::collections::BTreeSet<_>>()
            .into_iter()
            .collect::<Vec<_>>()
    };
    assert_eq!(
        at("label_reserved"),
        [
            "/recipe_node_labels/migboard.io~1pool",
            "/recipe_node_labels/node-role.kubernetes.io~1control-plane",
            "/recipe_node_labels/nvidia.com~1gpu.deploy.driver",
            "/recipe_node_labels/oke.oraclecloud.com~1pool.name",
            "/recipe_node_labels/topology.k8s.io~1zone",
        ]
    );
    assert_eq!(
        at("label_key_invalid"),
        [
            "/recipe_node_labels/Bad Key",
            "/recipe_node_labels/NVIDIA.COM~1mig.config"
        ]
    );
    assert_eq!(at("label_value_invalid"), ["/recipe_node_labels/team"]);
    assert!(checked.blueprint.is_none());
    assert!(
        checked
            .issues
            .iter()
            .all(|i| i.line.is_some_and(|l| l > 0) && !i.hint.is_empty()),
        "{:?}",
        checked.issues
    );
    let reserved = checked
        .issues
        .iter()
        .find(|i| i.path == "/recipe_node_labels/nvidia.com~1gpu.deploy.driver")
        .expect("reserved");
    assert!(
        reserved.message.contains("GPU Operator"),
        "{}",
        reserved.message
    );
    // The team's own labels pass, removal (an empty value) included.
    let ok = json!({
        "recipe_mode": "update",
        "deployment_name": "relabel",
        "recipe_node_name": "10.0.10.11",
        "recipe_node_labels": {"example.com/team": "llm-serving", "owner": "", "team": "a.b_c-d"}
    })
    .to_string();
    let checked = check(&ok, Context::default());
    assert!(checked.is_valid(), "{:?}", checked.issues);
}

/// A server narrows labels further: its pool label is reserved, and an allow-list (keys or `prefix/`)
/// refuses the rest.
#[test]
fn a_server_label_policy_reserves_its_pool_label_and_allows_only_its_list() {
    use mig::blueprint::labels::{LabelPolicy, check_policy};
    let labels: std::collections::BTreeMap<String, String> = [
        ("pool", "a"),
        ("team", "llm"),
        ("example.com/owner", "me"),
        ("cost-center", "42"),
        ("nvidia.com/gpu.deploy.driver", "false"),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v.to_owned()))
    .collect();
    let policy = LabelPolicy {
        reserved_keys: vec!["pool".into()],
        allowed: Some(vec!["team".into(), "example.com/".into(), "pool".into()]),
    };
    let issues = check_policy(&labels, &policy);
    let got: Vec<(&str, &str)> = issues
        .iter()
        .map(|i| (i.code.as_str(), i.path.as_str()))
        .collect();
    // The built-in reserved key is [`check`]'s to report, not repeated here.
    assert_eq!(
        got,
        [
            ("label_not_allowed", "/recipe_node_labels/cost-center"),
            ("label_reserved", "/recipe_node_labels/pool"),
        ]
    );
    assert!(
        issues[0].hint.contains("team, example.com/, pool"),
        "{}",
        issues[0].hint
    );
    assert!(check_policy(&labels, &LabelPolicy::default()).is_empty());
}

/// Readers below operator see a stored blueprint without its secrets: env values, the gateway's API
/// key and object storage PARs are hidden, everything else is as submitted.
#[test]
fn redaction_hides_every_secret_value_and_nothing_else() {
    use mig::blueprint::redact::{REDACTED, redact};
    let text = json!({
        "recipe_mode": "service",
        "deployment_name": "chat",
        "recipe_image_uri": "iad.ocir.io/x/vllm:1",
        "recipe_container_env": [
            {"key": "HF_TOKEN", "value": "hf_secret_abc"},
            {"key": "PORT", "value": 8000}
        ],
        "recipe_inference_gateway": {"model_name": "llama", "api_key": "sk-gateway-secret"},
        "input_object_storage": [{"par": "https://objectstorage/p/secret-par/", "mount_location": "/models", "volume_size_in_gbs": 100}]
    })
    .to_string();
    let shown = redact(&text);
    for secret in ["hf_secret_abc", "8000", "sk-gateway-secret", "secret-par"] {
        assert!(!shown.contains(secret), "{secret} leaked: {shown}");
    }
    let v: Value = serde_json::from_str(&shown).expect("still JSON");
    assert_eq!(v["recipe_container_env"][0]["key"], "HF_TOKEN");
    assert_eq!(v["recipe_container_env"][0]["value"], REDACTED);
    assert_eq!(v["recipe_container_env"][1]["value"], REDACTED);
    assert_eq!(v["recipe_inference_gateway"]["model_name"], "llama");
    assert_eq!(v["input_object_storage"][0]["mount_location"], "/models");
    assert_eq!(v["recipe_image_uri"], "iad.ocir.io/x/vllm:1");
    assert!(!redact("not json hf_secret").contains("hf_secret"));
}
