//! REST API tests: the router driven with `oneshot`, no socket. Every client error is a 4xx with a JSON body.

use axum::body::Body;
use axum::http::{Request, StatusCode, header};
use leptos::config::LeptosOptions;
use serde_json::{Value, json};

mod common;

/// Calls a fresh server as a signed-in operator (the API's authorization has its own tests in
/// `auth.rs`).
async fn call(mut request: Request<Body>) -> (StatusCode, Value) {
    let options = LeptosOptions::builder()
        .output_name("migboard")
        .site_root("target/site")
        .build();
    let state = server::AppState::new(options).await;
    let bearer = common::bearer(&state, "operator", mig::wire::Role::Operator).await;
    request
        .headers_mut()
        .insert(header::AUTHORIZATION, bearer.parse().expect("header value"));
    let reply = common::send(server::router(state), request).await;
    let (status, content_type) = (reply.status, reply.content_type());
    assert!(
        content_type.starts_with("application/json"),
        "{status}: content type {content_type:?}: {}",
        reply.text()
    );
    (
        status,
        serde_json::from_slice(&reply.body).expect("JSON body"),
    )
}

async fn get(path: &str) -> (StatusCode, Value) {
    call(Request::get(path).body(Body::empty()).expect("request")).await
}

async fn post(path: &str, body: &str) -> (StatusCode, Value) {
    call(
        Request::post(path)
            .header(header::CONTENT_TYPE, "application/json")
            .body(Body::from(body.to_owned()))
            .expect("request"),
    )
    .await
}

#[tokio::test]
async fn lists_models_with_both_nvml_id_spaces() {
    let (status, body) = get("/api/v1/gpu-models").await;
    assert_eq!(status, StatusCode::OK);
    let models = body.as_array().expect("array");
    assert_eq!(models.len(), 6);
    let h100 = &models[0];
    assert_eq!(h100["id"], "h100-80gb");
    let p = h100["profiles"]
        .as_array()
        .expect("profiles")
        .iter()
        .find(|p| p["name"] == "1g.20gb")
        .expect("1g.20gb");
    assert_eq!(
        (p["nvml_index"].as_u64(), p["nvml_id"].as_u64()),
        (Some(9), Some(15))
    );
    assert_eq!(p["starts"], json!([0, 2, 4, 6]));
    assert_eq!(p["resource"], "nvidia.com/mig-1g.20gb");
    assert_eq!(
        models[4]["placements"], "unverified",
        "H200 placements are not verified on hardware"
    );
}

#[tokio::test]
async fn one_model_and_unknown_models() {
    let (status, body) = get("/api/v1/gpu-models/a100-40gb").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body["profiles"][0]["name"], "1g.5gb");
    let (status, body) = get("/api/v1/gpu-models/v100").await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(body["error"]["code"], "not_found");
    assert!(
        body["error"]["message"]
            .as_str()
            .expect("message")
            .contains("h100-80gb")
    );
}

#[tokio::test]
async fn combinations_have_profiles_placements_and_maximal() {
    let (status, body) = get("/api/v1/gpu-models/h100-80gb/combinations").await;
    assert_eq!(status, StatusCode::OK);
    let all = body.as_array().expect("array");
    let balanced = all
        .iter()
        .find(|c| c["profiles"] == json!({"1g.10gb": 2, "2g.20gb": 1, "3g.40gb": 1}))
        .expect("all-balanced is a combination");
    assert_eq!(balanced["maximal"], true);
    assert_eq!(
        balanced["placements"].as_array().expect("placements").len(),
        4
    );
    assert!(all.iter().any(|c| c["maximal"] == false));
}

#[tokio::test]
async fn validate_layout_accepts_and_explains() {
    let (status, body) = post(
        "/api/v1/layouts/validate",
        r#"{"model":"h100-80gb","instances":[{"profile":"3g.40gb","start":4}]}"#,
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body, json!({"valid": true, "issues": []}));

    let (status, body) = post(
        "/api/v1/layouts/validate",
        r#"{"model":"h100-80gb","instances":[{"profile":"3g.40gb","start":4},{"profile":"4g.40gb","start":4}]}"#,
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body["valid"], false);
    assert_eq!(body["issues"][0]["path"], "/instances/1/start");
    assert_eq!(body["issues"][0]["rule"], "start_not_allowed");
    assert_eq!(
        body["issues"][0]["message"],
        "instance 1: 4g.40gb cannot start at memory slice 4; it may start at 0"
    );
}

#[tokio::test]
async fn bad_input_is_4xx_with_a_json_error() {
    let (status, body) = post("/api/v1/layouts/validate", "{not json").await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(
        body["error"]["message"]
            .as_str()
            .expect("message")
            .contains("line 1"),
        "{body}"
    );
    let (status, body) = post(
        "/api/v1/layouts/validate",
        r#"{"model":"h100-80gb","instances":[{"profile":"3g.40gb","start":-1}]}"#,
    )
    .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(
        body["error"]["message"]
            .as_str()
            .expect("message")
            .contains("start"),
        "{body}"
    );
    let (status, body) = post(
        "/api/v1/layouts/validate",
        r#"{"model":"tpu","instances":[]}"#,
    )
    .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(
        body["error"]["message"]
            .as_str()
            .expect("message")
            .starts_with("/model"),
        "{body}"
    );
    let (status, _) = post(
        "/api/v1/layouts/validate",
        r#"{"model":"h100-80gb","instances":[],"extra":1}"#,
    )
    .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    let many = format!(
        r#"{{"model":"h100-80gb","instances":[{}]}}"#,
        vec![r#"{"profile":"1g.10gb","start":0}"#; 65].join(",")
    );
    let (status, _) = post("/api/v1/layouts/validate", &many).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    let (status, body) = call(
        Request::post("/api/v1/sizing")
            .body(Body::from("{}"))
            .expect("request"),
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    let (status, body) = get("/api/v1/nope").await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(body["error"]["message"], "no API route at /api/v1/nope");
}

#[tokio::test]
async fn sizing_a_catalogue_model_and_raw_parameters() {
    let (status, body) = post(
        "/api/v1/sizing",
        r#"{"catalogue_model":"Llama-3.1-8B","precision":"bf16","context_tokens":4096}"#,
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["smallest_profile"], "1g.20gb");
    assert_eq!(
        body["capacity"],
        json!({"per_gpu": 4, "per_node": 32, "per_pool": 32})
    );
    assert!(
        body["estimate"]["assumptions"]
            .as_array()
            .expect("assumptions")
            .len()
            >= 3
    );

    let (status, body) = post(
        "/api/v1/sizing",
        r#"{"params_billion":3,"precision":"fp16","nodes":2}"#,
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["smallest_profile"], "1g.10gb");
    assert_eq!(body["capacity"]["per_pool"], 112);

    let (status, body) = post("/api/v1/sizing", r#"{"catalogue_model":"Lama-3.1-8B"}"#).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(
        body["error"]["message"]
            .as_str()
            .expect("message")
            .contains("Did you mean `Llama-3.1-8B`?"),
        "{body}"
    );
    let (status, _) = post("/api/v1/sizing", r#"{"params_billion":-1}"#).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    let (status, _) = post("/api/v1/sizing", r#"{"params_billion":1e400}"#).await;
    assert!(status == StatusCode::UNPROCESSABLE_ENTITY || status == StatusCode::BAD_REQUEST);
}

fn reference(file: &str) -> &'static str {
    mig::blueprint::templates::template(file)
        .expect("template")
        .json
}

#[tokio::test]
async fn blueprint_schema_covers_every_member_of_ocis_recipe_payload() {
    let (status, schema) = get("/api/v1/blueprints/schema").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        schema["$schema"],
        "https://json-schema.org/draft/2020-12/schema"
    );
    let ours = schema["properties"].as_object().expect("properties");
    // OCI's schema, as shipped in mig/data: every member with the same JSON type.
    let oci: Value = serde_json::from_str(include_str!("../../mig/data/oci-blueprint-schema.json"))
        .expect("json");
    let theirs = oci["$defs"]["recipe_payload"]["properties"]
        .as_object()
        .expect("recipe_payload");
    assert_eq!(theirs.len(), 68);
    let mut ours_keys: Vec<_> = ours.keys().collect();
    let mut their_keys: Vec<_> = theirs.keys().collect();
    ours_keys.sort();
    their_keys.sort();
    assert_eq!(ours_keys, their_keys);
    let resolve = |v: &Value| -> Value {
        match v.get("$ref").and_then(Value::as_str) {
            Some(r) => schema["$defs"][r.trim_start_matches("#/$defs/")].clone(),
            None => v.clone(),
        }
    };
    for (key, their) in theirs {
        let our = resolve(&ours[key]);
        match (their.get("type"), our.get("type")) {
            (Some(t), Some(o)) if t.is_string() => assert_eq!(t, o, "{key}"),
            (Some(t), _) => assert!(t.is_array(), "{key}: {t}"),
            (None, _) => {
                // recipe_mode: an enum of strings.
                let e = their["enum"].as_array().expect("enum");
                let consts: Vec<&Value> = our["oneOf"]
                    .as_array()
                    .expect("oneOf of consts")
                    .iter()
                    .map(|c| &c["const"])
                    .collect();
                assert_eq!(consts, e.iter().collect::<Vec<_>>(), "{key}: {our}");
            }
        }
    }
    assert_eq!(
        schema["required"],
        json!(["recipe_mode", "deployment_name"])
    );
    assert!(
        schema["allOf"].as_array().is_some_and(|a| a.len() == 5),
        "per-mode requirements: {}",
        schema["allOf"]
    );
}

#[tokio::test]
async fn validate_answers_every_issue_with_pointer_line_and_hint() {
    let (status, body) = post(
        "/api/v1/blueprints/validate",
        reference("mig_inference_single_replica_10gb"),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!((&body["valid"], &body["fleet_nodes"]), (&json!(true), &json!(3)), "{body}");
    // Valid, and it says what the embedded fleet does not do with it (#20): all warnings.
    let said: Vec<(&str, &str, &str)> = body["issues"]
        .as_array()
        .expect("issues")
        .iter()
        .map(|i| {
            (
                i["code"].as_str().unwrap_or(""),
                i["path"].as_str().unwrap_or(""),
                i["severity"].as_str().unwrap_or(""),
            )
        })
        .collect();
    assert_eq!(
        said,
        [
            ("simulated", "/recipe_image_uri", "warning"),
            ("not_carried", "/recipe_prometheus_enabled", "warning"),
            ("not_carried", "/recipe_node_boot_volume_size_in_gbs", "warning"),
            ("autoscaling_needs_metrics", "/recipe_pod_autoscaling_params", "warning"),
        ],
        "{body}"
    );

    // The embedded fleet has no 1g.20gb slice: the guide's reason, and where to fix it.
    let (status, body) = post(
        "/api/v1/blueprints/validate",
        reference("mig_inference_single_replica"),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body["valid"], false);
    let errors: Vec<&Value> = body["issues"]
        .as_array()
        .expect("issues")
        .iter()
        .filter(|i| i["severity"] == "error")
        .collect();
    assert_eq!(errors.len(), 1, "{body}");
    assert_eq!(errors[0]["code"], "mig_profile_unconfigured");
    assert_eq!(errors[0]["path"], "/mig_resource_request");
    assert_eq!(errors[0]["line"], 22);
    assert!(
        errors[0]["hint"]
            .as_str()
            .is_some_and(|h| h.contains("h100migpool")),
        "{body}"
    );

    let broken = reference("mig_update_node_with_node_name")
        .replace("\"recipe_node_name\"", "\"recipe_nod_name\"")
        .replace("all-1g.10gb", "all-1g.10g");
    let (status, body) = post("/api/v1/blueprints/validate", &broken).await;
    assert_eq!(status, StatusCode::OK);
    let issues: Vec<(&str, &str)> = body["issues"]
        .as_array()
        .expect("issues")
        .iter()
        .map(|i| {
            (
                i["path"].as_str().unwrap_or(""),
                i["code"].as_str().unwrap_or(""),
            )
        })
        .collect();
    assert_eq!(
        issues,
        [
            ("", "update_target"),
            ("/recipe_nod_name", "unknown_key"),
            ("/shared_node_pool_mig_config", "mig_config_unknown")
        ],
        "{body}"
    );

    // JSON, but not an object: 200 with the issue.
    let (status, body) = post("/api/v1/blueprints/validate", "[]").await;
    assert_eq!(
        (status, body["issues"][0]["code"].as_str()),
        (StatusCode::OK, Some("not_object"))
    );
}

#[tokio::test]
async fn validate_refuses_non_json_bodies_with_400_and_large_ones_with_413() {
    let (status, body) = post(
        "/api/v1/blueprints/validate",
        "{\n  \"recipe_mode\": \"update\"\n  \"deployment_name\": \"x\"\n}",
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(body["valid"], false);
    assert_eq!(
        (
            body["issues"][0]["line"].as_u64(),
            body["issues"][0]["column"].as_u64()
        ),
        (Some(3), Some(3))
    );
    assert!(
        body["issues"][0]["hint"]
            .as_str()
            .is_some_and(|h| h.contains("comma")),
        "{body}"
    );

    let (status, body) = post("/api/v1/blueprints/validate", &"[".repeat(5000)).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(body["issues"][0]["code"], "too_deep");

    let big = format!(
        "{{\"deployment_name\": \"{}\"}}",
        "x".repeat(mig::blueprint::MAX_BYTES)
    );
    let (status, body) = post("/api/v1/blueprints/validate", &big).await;
    assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE);
    assert_eq!(body["error"]["code"], "too_large");

    let request = Request::post("/api/v1/blueprints/validate")
        .body(Body::from(vec![0xff, 0xfe, b'{']))
        .expect("request");
    let (status, body) = call(request).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(
        body["error"]["message"]
            .as_str()
            .is_some_and(|m| m.contains("UTF-8")),
        "{body}"
    );
}

#[tokio::test]
async fn fleet_plans_answer_with_a_bound_baselines_and_pointers_to_bad_input() {
    let (status, body) = post(
        "/api/v1/fleet-plans",
        r#"{"model":"h100-80gb","demand":{"1g.10gb":59,"2g.20gb":10,"3g.40gb":21},"gpus_per_node":8}"#,
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body:#}");
    let gpus = body["gpus"].as_u64().expect("gpus");
    assert_eq!(body["lower_bound"].as_u64(), Some(gpus));
    assert_eq!(body["optimal"], true);
    assert_eq!(body["nodes"].as_u64(), Some(gpus.div_ceil(8)));
    assert!(body["solve_ms"].as_f64().expect("solve_ms") >= 0.0);
    assert!(
        body["baselines"]["uniform_named"]["gpus"]
            .as_u64()
            .expect("uniform")
            > gpus
    );
    assert!(
        body["baselines"]["first_fit_decreasing"]["gpus"]
            .as_u64()
            .expect("ffd")
            >= gpus
    );
    let sum: u64 = body["layouts"]
        .as_array()
        .expect("layouts")
        .iter()
        .map(|l| l["count"].as_u64().expect("count"))
        .sum();
    assert_eq!(sum, gpus);

    let (status, body) = post(
        "/api/v1/fleet-plans",
        r#"{"model":"h100-80gb","demand":{"1g.10gb":-2,"5g.50gb":1},"workloads":[{"name":"huge","model":"Llama-3.1-70B"}]}"#,
    )
    .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body:#}");
    assert_eq!(body["error"]["code"], "invalid_fleet_plan");
    let paths: Vec<&str> = body["issues"]
        .as_array()
        .expect("issues")
        .iter()
        .map(|i| i["path"].as_str().expect("path"))
        .collect();
    assert_eq!(
        paths,
        ["/demand/1g.10gb", "/demand/5g.50gb", "/workloads/0"]
    );
    let (status, body) = post(
        "/api/v1/fleet-plans",
        r#"{"model":"h100-80gb","demand":{"1g.10gb":1.5}}"#,
    )
    .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body:#}");
}

#[tokio::test]
async fn fleet_plans_over_node_shapes_answer_the_cheapest_mix_and_each_shape_alone() {
    // 18 × 3g.40gb = 9 GPUs: one A100 node (8 GPUs) and a two-GPU box for the ninth beats any one shape.
    let (status, body) = post(
        "/api/v1/fleet-plans",
        r#"{"shapes":[{"name":"BM.GPU.H100.8","cost":10},{"name":"BM.GPU.A100-v2.8","cost":7},
            {"name":"h100-2x","model":"h100-80gb","gpus_per_node":2,"cost":3}],
            "demand":{"3g.40gb":18}}"#,
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body:#}");
    assert_eq!(body["cost"].as_f64(), Some(10.0), "{body:#}");
    assert_eq!(body["lower_bound"].as_f64(), Some(10.0));
    assert_eq!(body["optimal"], true);
    let nodes: Vec<u64> = body["shapes"]
        .as_array()
        .expect("shapes")
        .iter()
        .map(|s| s["nodes"].as_u64().expect("nodes"))
        .collect();
    assert_eq!(nodes, [0, 1, 1]);
    let alone: Vec<f64> = body["single_shape"]
        .as_array()
        .expect("single_shape")
        .iter()
        .map(|s| s["cost"].as_f64().expect("cost"))
        .collect();
    assert_eq!(alone, [20.0, 14.0, 15.0]);
    assert_eq!(body["split"][0]["per_shape"], serde_json::json!([0, 16, 2]));

    let (status, body) = post(
        "/api/v1/fleet-plans",
        r#"{"model":"h100-80gb","shapes":[{"name":"BM.GPU4.8","cost":0},{"name":"mine","cost":1}],"demand":{"1g.20gb":3}}"#,
    )
    .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body:#}");
    let paths: Vec<&str> = body["issues"]
        .as_array()
        .expect("issues")
        .iter()
        .map(|i| i["path"].as_str().expect("path"))
        .collect();
    assert_eq!(paths, ["/model", "/shapes/0/cost", "/shapes/1/name"]);
}

/// The fleet page's two reads: the fleet in counts, and a page of the nodes a filter picks (the
/// filters and paging themselves are tested at 500 nodes in `mig::wire::browse`).
#[tokio::test]
async fn the_fleet_in_counts_and_a_filtered_page_of_nodes() {
    let (status, summary) = get("/api/v1/fleet/summary").await;
    assert_eq!(status, StatusCode::OK, "{summary}");
    assert_eq!((summary["nodes"].as_u64(), summary["gpus"].as_u64()), (Some(3), Some(24)), "{summary}");
    let pools: Vec<&str> = summary["pools"].as_array().expect("pools").iter().filter_map(|p| p["name"].as_str()).collect();
    assert_eq!(pools, ["h100migpool", "a100-pool"], "{summary}");
    assert!(summary.get("nodes_list").is_none() && !summary.to_string().contains("\"uuid\""), "no node in the summary");

    let names = |page: &Value| -> Vec<String> {
        page["nodes"].as_array().expect("nodes").iter().filter_map(|n| n["name"].as_str().map(str::to_owned)).collect()
    };
    let (status, all) = get("/api/v1/fleet/nodes").await;
    assert_eq!(status, StatusCode::OK, "{all}");
    assert_eq!(names(&all), ["10.0.10.11", "10.0.10.12", "10.0.20.11"]);
    assert_eq!((all["matching"].as_u64(), all["pages"].as_u64(), all["total"].as_u64()), (Some(3), Some(1), Some(3)));
    let (_, a100) = get("/api/v1/fleet/nodes?pool=a100-pool").await;
    assert_eq!(names(&a100), ["10.0.20.11"]);
    assert_eq!(a100["per_pool"], json!({"a100-pool": 1}));
    let (_, balanced) = get("/api/v1/fleet/nodes?config=all-balanced&q=10.0.10.1").await;
    assert_eq!(names(&balanced), ["10.0.10.11", "10.0.10.12"]);
    let (_, model) = get("/api/v1/fleet/nodes?model=a100-40gb&page=9").await;
    assert_eq!(names(&model), ["10.0.20.11"]);
    assert_eq!(model["page"], 1, "a page past the end is the last");
    let (_, none) = get("/api/v1/fleet/nodes?drifted=1").await;
    assert_eq!((none["matching"].as_u64(), names(&none).len()), (Some(0), 0));
}
