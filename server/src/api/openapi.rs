//! `GET /api/v1/openapi.json`: the REST API described as OpenAPI 3.1, written next to the routes it
//! describes. The blueprint request body is the generated JSON Schema of `mig`'s recipe types; a
//! handler test walks every path listed here against the router.

use std::sync::LazyLock;

use axum::Json;
use serde_json::{Value, json};

/// Every path of the API with its methods, as the router serves them (relative to `/api/v1`).
pub const PATHS: &[(&str, &[&str])] = &[
    ("/gpu-models", &["get"]),
    ("/gpu-models/{model}", &["get"]),
    ("/gpu-models/{model}/combinations", &["get"]),
    ("/layouts/validate", &["post"]),
    ("/sizing", &["post"]),
    ("/fleet", &["get"]),
    ("/fleet/summary", &["get"]),
    ("/fleet/nodes", &["get"]),
    ("/fleet-plans", &["post"]),
    ("/fleet-plans/apply", &["post"]),
    ("/mig-configs", &["get", "post"]),
    ("/mig-configs/import", &["post"]),
    ("/mig-configs/{name}", &["get", "put", "delete"]),
    ("/mig-configs/{name}/versions", &["get"]),
    ("/mig-configs/{name}/mig-parted", &["get"]),
    ("/blueprints/schema", &["get"]),
    ("/blueprints/validate", &["post"]),
    ("/deployments", &["get", "post"]),
    ("/deployments/{id}", &["get"]),
    ("/deployments/{id}/undeploy", &["post"]),
    ("/deployments/{id}/resume", &["post"]),
    ("/deployments/{id}/previous", &["get"]),
    ("/deployments/{id}/revert", &["post"]),
    ("/deployments/{id}/logs", &["get"]),
    ("/deployments/{id}/events", &["get"]),
    ("/deployments/{id}/shares", &["get", "post"]),
    ("/shares/{share}/revoke", &["post"]),
    ("/share/{token}", &["get"]),
    ("/share/{token}/events", &["get"]),
    ("/embeds", &["get", "post"]),
    ("/embeds/{id}/revoke", &["post"]),
    ("/embed/{token}", &["get"]),
    ("/embed/{token}/events", &["get"]),
    ("/events", &["get"]),
    ("/nodes/{node}", &["get"]),
    ("/nodes/{node}/charts/{chart}", &["get"]),
    ("/openapi.json", &["get"]),
    ("/login", &["post"]),
    ("/me", &["get"]),
    ("/me/password", &["post"]),
    ("/tokens", &["get", "post"]),
    ("/tokens/{id}/revoke", &["post"]),
    ("/users", &["get", "post"]),
    ("/users/{id}", &["patch"]),
    ("/audit", &["get"]),
];

/// `?range=1h|24h|7d` of the node routes.
fn range_param() -> Value {
    json!({ "name": "range", "in": "query", "required": false, "description": "the charts' time span (default 24h)", "schema": { "type": "string", "enum": ["1h", "24h", "7d"] } })
}

fn op(summary: &str, description: &str, ok: (&str, Value), extra: &[(&str, &str)]) -> Value {
    let mut responses = json!({
        ok.0: { "description": "success", "content": ok.1 },
        "default": { "description": "an error", "content": { "application/json": { "schema": { "$ref": "#/components/schemas/Error" } } } }
    });
    for (code, what) in extra {
        responses[*code] = json!({ "description": what, "content": { "application/json": { "schema": { "$ref": "#/components/schemas/Error" } } } });
    }
    json!({ "summary": summary, "description": description, "responses": responses })
}

fn json_of(schema: Value) -> Value {
    json!({ "application/json": { "schema": schema } })
}

fn r(name: &str) -> Value {
    json!({ "$ref": format!("#/components/schemas/{name}") })
}

fn id_param(name: &str, what: &str, integer: bool) -> Value {
    json!([{ "name": name, "in": "path", "required": true, "description": what, "schema": { "type": if integer { "integer" } else { "string" } } }])
}

fn build() -> Value {
    let blueprint = mig::blueprint::schema::json_schema();
    let sse = json!({ "text/event-stream": { "schema": { "type": "string", "description": "SSE: `event:` is the Event's type, `data:` its JSON" } } });
    let mut deploy = op(
        "Deploy a blueprint",
        "Validates the blueprint (OCI AI Blueprints recipe JSON) against the fleet as it is and schedules it. `drain=true` lets an update move workloads off busy nodes instead of failing. `max_unavailable=N` rolls a pool update or a pool's layout out N nodes at a time (default 1); a batch with a failed node pauses the rollout (status `paused`, the nodes after it untouched) until `POST /deployments/{id}/resume`.",
        ("201", json_of(r("DeploymentInfo"))),
        &[
            ("400", "the body is not JSON"),
            ("413", "the body is over 1 MiB"),
            (
                "422",
                "the blueprint does not validate; `issues` lists every problem",
            ),
        ],
    );
    deploy["parameters"] = json!([
        { "name": "drain", "in": "query", "required": false, "schema": { "type": "boolean", "default": false } },
        { "name": "max_unavailable", "in": "query", "required": false, "schema": { "type": "integer", "minimum": 1, "maximum": 100, "default": 1 } }
    ]);
    deploy["requestBody"] = json!({ "required": true, "content": { "application/json": { "schema": { "$ref": "#/components/schemas/Blueprint" } } } });
    let mut paths = serde_json::Map::new();
    let mut add = |path: &str, method: &str, mut operation: Value, params: Option<Value>| {
        if let Some(p) = params {
            operation["parameters"] = p;
        }
        paths
            .entry(format!("/api/v1{path}"))
            .or_insert_with(|| json!({}))[method] = operation;
    };
    add(
        "/gpu-models",
        "get",
        op(
            "GPU models",
            "Every MIG-capable model with its profiles (NVML index and id, slices, placements).",
            ("200", json_of(json!({"type": "array"}))),
            &[],
        ),
        None,
    );
    add(
        "/gpu-models/{model}",
        "get",
        op(
            "One GPU model",
            "A model by id (`h100-80gb`).",
            ("200", json_of(json!({"type": "object"}))),
            &[("404", "no such model")],
        ),
        Some(id_param("model", "model id", false)),
    );
    add(
        "/gpu-models/{model}/combinations",
        "get",
        op(
            "Valid layouts",
            "Every maximal combination of instances the model allows.",
            ("200", json_of(json!({"type": "array"}))),
            &[("404", "no such model")],
        ),
        Some(id_param("model", "model id", false)),
    );
    add(
        "/layouts/validate",
        "post",
        op(
            "Validate a layout",
            "Checks instances (profile, start) against the model's placement rules.",
            ("200", json_of(json!({"type": "object"}))),
            &[("422", "not a layout")],
        ),
        None,
    );
    add(
        "/sizing",
        "post",
        op(
            "Size a model to slices",
            "Memory estimate of a model and the profiles it fits, with the assumptions stated.",
            ("200", json_of(json!({"type": "object"}))),
            &[("422", "bad input")],
        ),
        None,
    );
    add(
        "/fleet",
        "get",
        op(
            "The fleet",
            "Pools, nodes, every GPU's MIG layout and the slices in use, as last read (at most a couple of seconds old).",
            ("200", json_of(r("Fleet"))),
            &[],
        ),
        None,
    );
    add(
        "/fleet/summary",
        "get",
        op(
            "The fleet in counts",
            "Per pool: nodes, GPUs, instances per profile free and in use, stranded memory slices, whole GPUs, nodes per config, nodes drifted, busy and unavailable, and a planner link; the GPU models and configs present. Small at any fleet size: what a fleet page shows before any node.",
            ("200", json_of(json!({"type": "object", "required": ["pools", "nodes", "gpus"]}))),
            &[],
        ),
        None,
    );
    let mut fleet_nodes = op(
        "A page of nodes",
        "The nodes the filters pick, 20 per page, by pool in the fleet's order: `nodes` (each as in GET /fleet), `page`, `matching` (on every page), `pages`, `per_pool` (matching nodes per pool), `total`, and `query` (the page clamped to 1..pages).",
        ("200", json_of(json!({"type": "object", "required": ["nodes", "matching", "pages", "total"]}))),
        &[],
    );
    let q = |name: &str, what: &str, schema: Value| json!({ "name": name, "in": "query", "required": false, "description": what, "schema": schema });
    fleet_nodes["parameters"] = json!([
        q("pool", "only this pool", json!({"type": "string"})),
        q("model", "only GPUs of this model id (h100-80gb)", json!({"type": "string"})),
        q("config", "only nodes on this named config; `-` for nodes on none (a custom layout)", json!({"type": "string"})),
        q("drifted", "only nodes changed outside migboard", json!({"type": "string", "enum": ["1", "true"]})),
        q("busy", "only nodes with a slice in use", json!({"type": "string", "enum": ["1", "true"]})),
        q("q", "only nodes whose name holds this text, any case", json!({"type": "string"})),
        q("page", "the page, from 1 (past the last: the last)", json!({"type": "integer", "minimum": 1})),
    ]);
    add("/fleet/nodes", "get", fleet_nodes, None);
    let mut fleet_plan = op(
        "Plan a fleet",
        "The fewest GPUs, and their exact layouts, for instances per profile (`demand`) and/or `workloads` (a catalogue or custom model sized to a profile, replicas or a target tokens/s). Answers with a proven `lower_bound` and `optimal`, both baselines (one uniform named config per profile; first-fit-decreasing), throughput per workload with its assumptions, and with `\"fleet\": \"current\"` the fleet GPUs kept and reconfigured. With `shapes` instead of `model` (node shapes, each with a relative `cost` per node: OCI's by name, or your own with `model` and `gpus_per_node`) it answers the cheapest mix of nodes: `cost`, its proven `lower_bound`, `optimal`, per shape its nodes, GPUs and layouts, how each profile and workload is split between shapes, and each shape alone for comparison. Bad input is 422 with every issue at its JSON pointer. Any viewer may plan.",
        (
            "200",
            json_of(
                json!({"oneOf": [
                    {"type": "object", "required": ["gpus", "lower_bound", "optimal", "layouts", "baselines", "solve_ms"]},
                    {"type": "object", "description": "the answer to a request with shapes", "required": ["cost", "lower_bound", "optimal", "nodes", "gpus", "shapes", "single_shape", "split", "solve_ms"], "properties": {
                        "shapes": {"type": "array", "items": {"type": "object", "required": ["name", "model", "gpus_per_node", "cost_per_node", "nodes", "gpus", "cost", "layouts"]}},
                        "single_shape": {"type": "array", "items": {"type": "object", "required": ["name"], "properties": {"cost": {"type": "number"}, "nodes": {"type": "integer"}, "cannot": {"type": "string"}}}},
                        "split": {"type": "array", "items": {"type": "object", "required": ["name", "per_shape"]}}}}
                ]}),
            ),
        ),
        &[(
            "422",
            "an unknown model or profile, a negative count, a workload no slice holds",
        )],
    );
    fleet_plan["requestBody"] = json!({ "required": true, "content": { "application/json": { "schema": {"type": "object", "properties": {
            "model": {"type": "string", "examples": ["h100-80gb"], "description": "one GPU model; or give shapes"},
            "shapes": {"type": "array", "maxItems": 4, "description": "node shapes to choose from, instead of model", "items": {"type": "object", "required": ["name", "cost"], "properties": {
                "name": {"type": "string", "examples": ["BM.GPU.H100.8"]},
                "model": {"type": "string", "description": "for a shape of your own"},
                "gpus_per_node": {"type": "integer", "minimum": 1, "maximum": 16, "description": "for a shape of your own"},
                "cost": {"type": "number", "exclusiveMinimum": 0, "description": "relative cost of one node"}}}},
            "demand": {"type": "object", "additionalProperties": {"type": "integer", "minimum": 0}},
            "workloads": {"type": "array", "items": {"type": "object", "required": ["name"]}},
            "fleet": {"oneOf": [{"const": "current"}, {"type": "array"}]},
            "gpus_per_node": {"type": "integer", "minimum": 1},
            "efficiency": {"type": "number", "exclusiveMinimum": 0, "maximum": 1},
            "time_budget_ms": {"type": "integer", "minimum": 1, "maximum": 10000}
        }} } } });
    add("/fleet-plans", "post", fleet_plan, None);
    let mut apply_plan = op(
        "Apply a fleet plan",
        "Plans `request` against the live fleet and carries it out: per node with a GPU to recut, saves the custom config `<prefix>-<node>` (the recut GPUs at their planned placements, the model's other GPUs as they are) and submits an update deployment applying it. `expect` (the changes you reviewed, `[{\"node\", \"gpu\", \"to\"}]`) makes it refuse with 409 `plan_changed`, applying nothing, when the fleet now plans otherwise. A node whose change moves running replicas is refused unless `drain`. GPUs the plan needs beyond the fleet are reported (`added_gpus`), not created. Needs an operator.",
        (
            "202",
            json_of(
                json!({"type": "object", "required": ["outcome", "plan", "nodes", "complete", "added_gpus"], "properties": {
            "outcome": {"const": "applied"},
            "nodes": {"type": "array", "items": {"type": "object", "required": ["node", "gpus", "config", "status"], "properties": {
                "status": {"enum": ["submitted", "refused"]}, "deployment": {"type": "integer"}, "message": {"type": "string"}}}},
            "complete": {"type": "boolean"}, "added_gpus": {"type": "integer"}}}),
            ),
        ),
        &[
            (
                "409",
                "`plan_changed`: the fleet plans otherwise than `expect` (the new `plan` is in the body); `plan_partly_applied`: some nodes refused (each says why)",
            ),
            (
                "422",
                "a bad plan request or prefix, every issue at its JSON pointer",
            ),
        ],
    );
    apply_plan["requestBody"] = json!({ "required": true, "content": { "application/json": { "schema": {"type": "object", "required": ["request"], "properties": {
            "request": {"type": "object", "description": "as POST /fleet-plans takes; planned against the live fleet"},
            "prefix": {"type": "string", "maxLength": 40, "default": "plan"},
            "expect": {"type": "array", "items": {"type": "object", "required": ["node", "gpu", "to"]}},
            "drain": {"type": "boolean", "default": false}
        }} } } });
    add("/fleet-plans/apply", "post", apply_plan, None);
    add(
        "/blueprints/schema",
        "get",
        op(
            "Blueprint JSON Schema",
            "JSON Schema 2020-12 of a recipe.",
            ("200", json_of(json!({"type": "object"}))),
            &[],
        ),
        None,
    );
    add(
        "/blueprints/validate",
        "post",
        op(
            "Validate a blueprint",
            "Every issue with its JSON pointer, message and hint; nothing is deployed.",
            (
                "200",
                json_of(
                    json!({"type": "object", "properties": {"valid": {"type": "boolean"}, "issues": {"type": "array", "items": r("Issue")}, "fleet_nodes": {"type": "integer", "description": "nodes of the fleet it was checked against"}}}),
                ),
            ),
            &[("400", "not JSON"), ("413", "over 1 MiB")],
        ),
        None,
    );
    add(
        "/deployments",
        "get",
        op(
            "Deployments",
            "Every deployment, newest first.",
            (
                "200",
                json_of(json!({"type": "array", "items": r("DeploymentInfo")})),
            ),
            &[],
        ),
        None,
    );
    add("/deployments", "post", deploy, None);
    add(
        "/deployments/{id}",
        "get",
        op(
            "One deployment",
            "Its status, step log, replicas and per-node reconfiguration progress.",
            ("200", json_of(r("DeploymentDetail"))),
            &[("404", "no such deployment")],
        ),
        Some(id_param("id", "deployment id", true)),
    );
    add(
        "/deployments/{id}/undeploy",
        "post",
        op(
            "Undeploy",
            "Stops its replicas, removes a pool it created (refused while workloads run on it).",
            ("202", json_of(r("DeploymentInfo"))),
            &[
                ("404", "no such deployment"),
                ("409", "undeployed already, or a pool still in use"),
            ],
        ),
        Some(id_param("id", "deployment id", true)),
    );
    add(
        "/deployments/{id}/resume",
        "post",
        op(
            "Resume a paused rollout",
            "A pool update or pool layout rolls out `max_unavailable` nodes at a time; a batch with a node that failed pauses it (status `paused`), the nodes after it untouched. Resuming retries the failed node(s) and goes on; what is done stays done.",
            ("202", json_of(r("DeploymentInfo"))),
            &[("404", "no such deployment"), ("409", "not paused")],
        ),
        Some(id_param("id", "deployment id", true)),
    );
    add(
        "/deployments/{id}/logs",
        "get",
        op(
            "Step log as text",
            "One line per step: time, state, key, message.",
            ("200", json!({"text/plain": {"schema": {"type": "string"}}})),
            &[("404", "no such deployment")],
        ),
        Some(id_param("id", "deployment id", true)),
    );
    add(
        "/deployments/{id}/previous",
        "get",
        op(
            "The layouts an update replaced",
            "For an update: each node it reconfigured with the layout it had before (the newest completed deployment that gave it a MIG config), `layout: null` where migboard has none on record. `[]` for other deployments.",
            ("200", json_of(json!({"type": "array", "items": {"type": "object", "properties": {"node": {"type": "string"}, "layout": {"type": ["object", "null"]}}}}))),
            &[("404", "no such deployment")],
        ),
        Some(id_param("id", "deployment id", true)),
    );
    let revert = op(
        "Revert an update",
        "Puts every node a finished update reconfigured back on the layout it replaced: one update deployment per node (custom configs at the version they had). An update cannot be undeployed (its layout stays); this is how it is undone.",
        ("201", json_of(json!({"type": "array", "items": r("DeploymentInfo")}))),
        &[
            ("404", "no such deployment"),
            ("409", "not an update, still running, or a node whose earlier layout migboard has no record of"),
        ],
    );
    let mut params = id_param("id", "deployment id", true);
    if let Some(list) = params.as_array_mut() {
        list.push(json!({ "name": "drain", "in": "query", "required": false, "schema": { "type": "boolean", "default": false }, "description": "move replicas off busy GPUs first" }));
    }
    add("/deployments/{id}/revert", "post", revert, Some(params));
    add(
        "/deployments/{id}/events",
        "get",
        op(
            "Watch a deployment (SSE)",
            "First its current state, then every change: `deployment`, `step`, `monitor`; `resync` when the watcher fell behind.",
            ("200", sse.clone()),
            &[("404", "no such deployment")],
        ),
        Some(id_param("id", "deployment id", true)),
    );
    add(
        "/deployments/{id}/shares",
        "get",
        op(
            "Share links of a deployment",
            "Its read-only links (never their tokens), newest first.",
            (
                "200",
                json_of(json!({"type": "array", "items": r("ShareInfo")})),
            ),
            &[],
        ),
        Some(id_param("id", "deployment id", true)),
    );
    let mut create_share = op(
        "Create a share link",
        "A read-only link to this deployment for `days` (1 to 90, default 7). The token is in this answer only; the server keeps its SHA-256.",
        (
            "201",
            json_of(
                json!({"type": "object", "properties": {"link": r("ShareInfo"), "token": {"type": "string"}, "path": {"type": "string"}}}),
            ),
        ),
        &[("404", "no such deployment"), ("422", "days out of range")],
    );
    create_share["requestBody"] = json!({ "required": false, "content": { "application/json": { "schema": { "type": "object", "properties": { "days": { "type": "integer", "minimum": 1, "maximum": 90, "default": 7 } } } } } });
    add(
        "/deployments/{id}/shares",
        "post",
        create_share,
        Some(id_param("id", "deployment id", true)),
    );
    add(
        "/shares/{share}/revoke",
        "post",
        op(
            "Revoke a share link",
            "It opens nothing from now on.",
            ("200", json_of(r("ShareInfo"))),
            &[("409", "no such link")],
        ),
        Some(id_param("share", "share link id", true)),
    );
    add(
        "/share/{token}",
        "get",
        op(
            "A shared deployment",
            "What a share link shows: the deployment, steps, replicas and progress, without its blueprint.",
            ("200", json_of(r("DeploymentDetail"))),
            &[
                ("404", "no such link"),
                ("410", "the link expired or was revoked"),
            ],
        ),
        Some(id_param("token", "share token", false)),
    );
    add(
        "/share/{token}/events",
        "get",
        op(
            "Watch a shared deployment (SSE)",
            "As /deployments/{id}/events, for a share link.",
            (
                "200",
                json!({ "text/event-stream": { "schema": { "type": "string" } } }),
            ),
            &[
                ("404", "no such link"),
                ("410", "the link expired or was revoked"),
            ],
        ),
        Some(id_param("token", "share token", false)),
    );
    add(
        "/embeds",
        "get",
        op(
            "Embed links",
            "Every signed embed link (never its token), newest first.",
            (
                "200",
                json_of(json!({"type": "array", "items": r("EmbedInfo")})),
            ),
            &[],
        ),
        None,
    );
    let mut create_embed = op(
        "Create a signed embed link",
        "A link showing one view (`fleet`, `pool/<name>`, `node/<name>`, `deployment/<id>`), live and read-only, with no session, framed only by `origins` (which must be within MIGBOARD_FRAME_ANCESTORS when that is set), for `days` (1 to 90, default 30). The token is in `url` and `path` of this answer only; the server keeps its SHA-256.",
        (
            "201",
            json_of(
                json!({"type": "object", "properties": {"id": {"type": "integer"}, "url": {"type": "string"}, "path": {"type": "string"}, "link": r("EmbedInfo")}}),
            ),
        ),
        &[
            ("404", "the pool, node or deployment does not exist"),
            ("422", "a view, days or origin that is not usable"),
        ],
    );
    create_embed["requestBody"] = json!({ "required": true, "content": { "application/json": { "schema": { "type": "object", "required": ["view", "origins"], "properties": { "view": { "type": "string", "examples": ["fleet", "pool/gpu-pool", "node/10.0.10.11", "deployment/3"] }, "days": { "type": "integer", "minimum": 1, "maximum": 90, "default": 30 }, "origins": { "type": "array", "minItems": 1, "maxItems": 16, "items": { "type": "string", "examples": ["https://portal.example.com"] } } } } } } });
    add("/embeds", "post", create_embed, None);
    add(
        "/embeds/{id}/revoke",
        "post",
        op(
            "Revoke an embed link",
            "It opens nothing from now on; views open on it end within seconds.",
            ("200", json_of(r("EmbedInfo"))),
            &[("404", "no such link")],
        ),
        Some(id_param("id", "embed link id", true)),
    );
    add(
        "/embed/{token}",
        "get",
        op(
            "What an embed link shows",
            "`{\"kind\": \"fleet\", \"pool\", \"fleet\"}`, `{\"kind\": \"node\", \"node\"}` or `{\"kind\": \"deployment\", \"detail\"}` (no blueprint).",
            (
                "200",
                json_of(
                    json!({"type": "object", "properties": {"kind": {"type": "string", "enum": ["fleet", "node", "deployment"]}}}),
                ),
            ),
            &[
                ("404", "no such link"),
                (
                    "410",
                    "the link expired or was revoked, or what it showed is gone",
                ),
            ],
        ),
        Some(id_param("token", "embed token", false)),
    );
    add(
        "/embed/{token}/events",
        "get",
        op(
            "Watch what an embed link shows (SSE)",
            "`fleet` events for a fleet, pool or node link; `deployment` and `step` of its deployment for a deployment link; a last `resync` when the link is revoked or expires.",
            (
                "200",
                json!({ "text/event-stream": { "schema": { "type": "string" } } }),
            ),
            &[
                ("404", "no such link"),
                ("410", "the link expired or was revoked"),
            ],
        ),
        Some(id_param("token", "embed token", false)),
    );
    add(
        "/events",
        "get",
        op(
            "Watch everything (SSE)",
            "Every deployment, step and monitor event, and `fleet` when any node's layout or workloads change.",
            ("200", sse),
            &[],
        ),
        None,
    );
    add(
        "/nodes/{node}",
        "get",
        op(
            "One node",
            "Its GPUs, labels, memory and apply charts (SVG) over `range` and the deployments that touched it.",
            ("200", json_of(json!({"type": "object"}))),
            &[("400", "unknown range"), ("404", "no such node")],
        ),
        Some({
            let mut p = id_param("node", "node name", false);
            if let Some(a) = p.as_array_mut() {
                a.push(range_param());
            }
            p
        }),
    );
    let mut chart_params = id_param("node", "node name", false);
    if let Some(a) = chart_params.as_array_mut() {
        a.push(json!({ "name": "chart", "in": "path", "required": true, "schema": { "type": "string", "enum": ["memory.svg", "applies.svg"] } }));
        a.push(range_param());
    }
    add(
        "/nodes/{node}/charts/{chart}",
        "get",
        op(
            "A node chart",
            "Memory used per MIG instance or GPU reconfigurations over `range` (default 24h), as SVG drawn in currentColor.",
            (
                "200",
                json!({"image/svg+xml": {"schema": {"type": "string"}}}),
            ),
            &[("400", "unknown range"), ("404", "no such node or chart")],
        ),
        Some(chart_params),
    );
    add(
        "/openapi.json",
        "get",
        op(
            "This document",
            "OpenAPI 3.1.",
            ("200", json_of(json!({"type": "object"}))),
            &[],
        ),
        None,
    );
    let body = |schema: Value| json!({ "required": true, "content": { "application/json": { "schema": schema } } });
    let mut login = op(
        "Sign in for an API token",
        "Username and password for a new API token of that user (shown once), like OCI AI Blueprints' `/login/`. Send it as `Authorization: Bearer <token>`. Rate-limited: 5 attempts, then one every 12 s per client address.",
        ("201", json_of(r("CreatedToken"))),
        &[
            ("401", "wrong username or password"),
            ("429", "too many attempts; see Retry-After"),
        ],
    );
    login["requestBody"] = body(
        json!({ "type": "object", "required": ["username", "password"], "properties": { "username": {"type": "string"}, "password": {"type": "string"}, "name": {"type": "string", "default": "api"}, "days": {"type": "integer", "minimum": 1, "maximum": 365, "default": 30} } }),
    );
    add("/login", "post", login, None);
    add(
        "/me",
        "get",
        op(
            "Who is asking",
            "The signed-in user, role and how (session or token).",
            ("200", json_of(r("Caller"))),
            &[("401", "not signed in")],
        ),
        None,
    );
    add(
        "/tokens",
        "get",
        op(
            "API tokens",
            "The caller's tokens (an admin's: everyone's), never their secrets.",
            (
                "200",
                json_of(json!({"type": "array", "items": r("TokenInfo")})),
            ),
            &[],
        ),
        None,
    );
    let mut new_token = op(
        "Create an API token",
        "A token for the caller, with the caller's role. `days` 1-365; leave it out for 30. Every token expires.",
        ("201", json_of(r("CreatedToken"))),
        &[("422", "bad name or lifetime")],
    );
    new_token["requestBody"] = body(
        json!({ "type": "object", "required": ["name"], "properties": { "name": {"type": "string"}, "days": {"type": "integer", "minimum": 1, "maximum": 365, "default": 30} } }),
    );
    add("/tokens", "post", new_token, None);
    let mut password = op(
        "Change my password",
        "The caller's own password, given the current one. Ends every session and API token of the caller's, except the browser session that asked (it continues under a new id).",
        ("200", json_of(r("UserInfo"))),
        &[(
            "422",
            "wrong current password, or a new one that is too short or the same",
        )],
    );
    password["requestBody"] = body(
        json!({ "type": "object", "required": ["current_password", "new_password"], "properties": { "current_password": {"type": "string"}, "new_password": {"type": "string", "minLength": 12} } }),
    );
    add("/me/password", "post", password, None);
    add(
        "/tokens/{id}/revoke",
        "post",
        op(
            "Revoke an API token",
            "The caller's own (an admin: anyone's).",
            ("200", json_of(r("TokenInfo"))),
            &[("404", "no such token")],
        ),
        Some(id_param("id", "token id", true)),
    );
    add(
        "/users",
        "get",
        op(
            "Users (admin)",
            "Every user.",
            (
                "200",
                json_of(json!({"type": "array", "items": r("UserInfo")})),
            ),
            &[("403", "not an admin")],
        ),
        None,
    );
    let mut new_user = op(
        "Create a user (admin)",
        "Password of 12 to 1024 characters, not a common one; role viewer, operator or admin.",
        ("201", json_of(r("UserInfo"))),
        &[
            ("409", "the name is taken"),
            ("422", "bad name, password or role"),
        ],
    );
    new_user["requestBody"] = body(
        json!({ "type": "object", "required": ["username", "password", "role"], "properties": { "username": {"type": "string"}, "password": {"type": "string"}, "role": r("Role") } }),
    );
    add("/users", "post", new_user, None);
    let mut patch_user = op(
        "Change a user (admin)",
        "Role, enabled state or password. Refused when it would leave no enabled admin.",
        ("200", json_of(r("UserInfo"))),
        &[
            ("404", "no such user"),
            ("409", "would leave no enabled admin"),
        ],
    );
    patch_user["requestBody"] = body(
        json!({ "type": "object", "properties": { "role": r("Role"), "disabled": {"type": "boolean"}, "password": {"type": "string"} } }),
    );
    add(
        "/users/{id}",
        "patch",
        patch_user,
        Some(id_param("id", "user id", true)),
    );
    let config_schema = json!({
        "type": "object",
        "required": ["name", "model", "devices"],
        "additionalProperties": false,
        "properties": {
            "name": { "type": "string", "pattern": "^[A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?$", "description": "a Kubernetes label value; not a built-in config's name" },
            "model": { "type": "string", "description": "GPU model id, e.g. h100-80gb" },
            "description": { "type": "string" },
            "devices": { "type": "array", "description": "the first entry naming a GPU decides it; GPUs no entry names are left as they are", "items": {
                "type": "object", "required": ["gpus"], "additionalProperties": false,
                "properties": {
                    "gpus": { "oneOf": [ { "const": "all" }, { "type": "array", "items": { "type": "integer", "minimum": 0, "maximum": 15 } } ] },
                    "mig_enabled": { "type": "boolean", "default": true },
                    "instances": { "type": "array", "items": { "type": "object", "required": ["profile", "start"], "additionalProperties": false,
                        "properties": { "profile": { "type": "string" }, "start": { "type": "integer", "minimum": 0, "maximum": 7 } } } }
                } } }
        }
    });
    let config_info = json!({ "type": "object", "description": "a config with `source` (builtin | custom), `version` (custom), and `devices` with exact placements", "properties": { "name": {"type": "string"}, "model": {"type": "string"}, "source": { "enum": ["builtin", "custom"] }, "version": {"type": "integer"}, "description": {"type": "string"}, "devices": {"type": "array"}, "created_ms": {"type": "integer"}, "created_by": {"type": "string"} } });
    let model_query = json!([{ "name": "model", "in": "query", "required": false, "description": "GPU model id", "schema": { "type": "string" } }]);
    let name_param = |p: &str| json!([{ "name": "name", "in": "path", "required": true, "description": p, "schema": { "type": "string" } }]);
    let mut list_configs = op(
        "MIG configs",
        "NVIDIA's built-in configs (per model, placed as migboard places them) and the custom configs operators made, each with `source`.",
        (
            "200",
            json_of(json!({"type": "array", "items": config_info.clone()})),
        ),
        &[("422", "unknown model")],
    );
    list_configs["parameters"] = model_query.clone();
    add("/mig-configs", "get", list_configs, None);
    let mut create_config = op(
        "Create a custom MIG config",
        "Exact placements per GPU, validated by the planner's rules. Names may not shadow a built-in.",
        ("201", json_of(config_info.clone())),
        &[
            ("409", "a config of that name exists"),
            (
                "422",
                "invalid; `issues` lists every problem with its JSON pointer",
            ),
        ],
    );
    create_config["requestBody"] = body(config_schema.clone());
    add("/mig-configs", "post", create_config, None);
    let mut import = op(
        "Import a mig-parted file",
        "Every config of the file that fits the model, placed as migboard places counts: new names are created, existing custom ones get a new version, built-in names are skipped.",
        (
            "201",
            json_of(
                json!({"type": "object", "properties": { "created": {"type": "array", "items": config_info.clone()}, "skipped": {"type": "array"} }}),
            ),
        ),
        &[(
            "422",
            "not a mig-parted v1 file, an unknown model, or invalid configs",
        )],
    );
    import["requestBody"] = body(
        json!({ "type": "object", "required": ["model", "yaml"], "properties": { "model": {"type": "string"}, "yaml": {"type": "string"} } }),
    );
    add("/mig-configs/import", "post", import, None);
    let mut one_config = op(
        "One MIG config",
        "A custom config's current version, or a built-in's layout on `?model=` (required for built-ins).",
        ("200", json_of(config_info.clone())),
        &[("404", "no such config")],
    );
    one_config["parameters"] =
        json!([name_param("config name")[0].clone(), model_query[0].clone()]);
    add("/mig-configs/{name}", "get", one_config, None);
    let mut put_config = op(
        "Change a custom MIG config",
        "Stores a new version; deployments keep the version they applied.",
        ("200", json_of(config_info.clone())),
        &[
            ("404", "no such custom config"),
            ("409", "a built-in config"),
            ("422", "invalid"),
        ],
    );
    put_config["requestBody"] = body(config_schema);
    add(
        "/mig-configs/{name}",
        "put",
        put_config,
        Some(name_param("config name")),
    );
    add(
        "/mig-configs/{name}",
        "delete",
        op(
            "Delete a custom MIG config",
            "Refused while nodes run it or unfinished deployments apply it; its versions stay readable.",
            ("204", json!({})),
            &[
                ("404", "no such custom config"),
                (
                    "409",
                    "in use (the message names the nodes and deployments), or a built-in",
                ),
            ],
        ),
        Some(name_param("config name")),
    );
    add(
        "/mig-configs/{name}/versions",
        "get",
        op(
            "Versions of a custom MIG config",
            "Every version, newest first, with who made it and when.",
            (
                "200",
                json_of(json!({"type": "array", "items": config_info})),
            ),
            &[("404", "no such config")],
        ),
        Some(name_param("config name")),
    );
    add(
        "/mig-configs/{name}/mig-parted",
        "get",
        op(
            "A MIG config as a mig-parted file",
            "`version: v1` YAML with counts per profile (mig-parted has no placements; comments list migboard's).",
            (
                "200",
                json!({ "application/yaml": { "schema": { "type": "string" } } }),
            ),
            &[("404", "no such config")],
        ),
        Some(name_param("config name")),
    );
    let mut audit = op(
        "Audit log (admin)",
        "Every change and sign-in, newest first: who, what, when, from where.",
        (
            "200",
            json_of(json!({"type": "array", "items": r("AuditRecord")})),
        ),
        &[("403", "not an admin")],
    );
    audit["parameters"] = json!([{ "name": "limit", "in": "query", "required": false, "schema": { "type": "integer", "default": 200, "maximum": 1000 } }]);
    add("/audit", "get", audit, None);
    json!({
        "openapi": "3.1.0",
        "security": [{ "bearer": [] }, { "session": [] }],
        "info": {
            "title": "migboard API",
            "version": env!("CARGO_PKG_VERSION"),
            "description": "Plan, validate, deploy and watch NVIDIA MIG layouts. Errors are JSON: {\"error\": {\"code\", \"message\", \"hint\"}}."
        },
        "paths": paths,
        "components": {
          "securitySchemes": {
            "bearer": { "type": "http", "scheme": "bearer", "description": "an API token from POST /api/v1/login or Settings" },
            "session": { "type": "apiKey", "in": "cookie", "name": "migboard_session" }
          },
          "schemas": {
            "Role": { "type": "string", "enum": ["viewer", "operator", "admin"] },
            "Caller": { "type": "object", "properties": { "user_id": {"type": "integer"}, "username": {"type": "string"}, "role": r("Role"), "via": {"type": "string"}, "source": {"type": "string"} } },
            "UserInfo": { "type": "object", "properties": { "id": {"type": "integer"}, "username": {"type": "string"}, "role": r("Role"), "disabled": {"type": "boolean"}, "created_ms": {"type": "integer"}, "last_login_ms": {"type": ["integer", "null"]} } },
            "TokenInfo": { "type": "object", "properties": { "id": {"type": "integer"}, "name": {"type": "string"}, "username": {"type": "string"}, "created_ms": {"type": "integer"}, "expires_ms": {"type": ["integer", "null"]}, "last_used_ms": {"type": ["integer", "null"]}, "revoked_ms": {"type": ["integer", "null"]} } },
            "CreatedToken": { "type": "object", "properties": { "info": r("TokenInfo"), "token": {"type": "string"} } },
            "AuditRecord": { "type": "object", "properties": { "at_ms": {"type": "integer"}, "actor": {"type": "string"}, "action": {"type": "string"}, "target": {"type": "string"}, "detail": {"type": "string"}, "source": {"type": "string"} } },
            "Blueprint": blueprint,
            "Error": { "type": "object", "required": ["error"], "properties": { "error": { "type": "object", "required": ["code", "message", "hint"], "properties": { "code": {"type": "string"}, "message": {"type": "string"}, "hint": {"type": "string"} } }, "issues": { "type": "array", "items": r("Issue") } } },
            "Issue": { "type": "object", "properties": { "path": {"type": "string", "description": "JSON pointer"}, "message": {"type": "string"}, "hint": {"type": "string"}, "severity": {"type": "string", "enum": ["error", "warning"]}, "code": {"type": "string"}, "line": {"type": ["integer", "null"]}, "column": {"type": ["integer", "null"]} } },
            "DeploymentStatus": { "type": "string", "enum": ["scheduled", "deploying", "monitoring", "failed", "paused", "completed", "active", "undeploying", "undeployed"] },
            "DeploymentInfo": { "type": "object", "required": ["id", "name", "mode", "status", "message", "created_ms", "updated_ms", "progress"], "properties": { "id": {"type": "integer"}, "name": {"type": "string"}, "mode": {"type": "string"}, "status": r("DeploymentStatus"), "message": {"type": "string"}, "created_ms": {"type": "integer"}, "updated_ms": {"type": "integer"}, "progress": { "type": "object", "properties": { "done": {"type": "integer"}, "total": {"type": "integer"} } } } },
            "Step": { "type": "object", "properties": { "seq": {"type": "integer"}, "key": {"type": "string"}, "state": {"type": "string", "enum": ["pending", "running", "done", "skipped", "failed"]}, "message": {"type": "string"}, "at_ms": {"type": "integer"} } },
            "DeploymentDetail": { "type": "object", "properties": { "deployment": r("DeploymentInfo"), "blueprint": {"type": "string"}, "steps": {"type": "array", "items": r("Step")}, "placements": {"type": "array", "items": {"type": "object"}}, "nodes": {"type": "array", "items": {"type": "object", "properties": {"node": {"type": "string"}, "gpus": {"type": "array"}}}} } },
            "EmbedInfo": { "type": "object", "properties": { "id": {"type": "integer"}, "view": {"type": "string"}, "origins": {"type": "array", "items": {"type": "string"}}, "created_ms": {"type": "integer"}, "expires_ms": {"type": "integer"}, "revoked_ms": {"type": ["integer", "null"]}, "created_by": {"type": "string"} } },
            "ShareInfo": { "type": "object", "properties": { "id": {"type": "integer"}, "deployment_id": {"type": "integer"}, "created_ms": {"type": "integer"}, "expires_ms": {"type": "integer"}, "revoked_ms": {"type": ["integer", "null"]}, "created_by": {"type": "string"} } },
            "Fleet": { "type": "object", "properties": { "backend": {"type": "string"}, "pools": {"type": "array"}, "nodes": {"type": "array"} } }
        } }
    })
}

/// `GET /api/v1/openapi.json`.
pub async fn document() -> Json<Value> {
    static DOC: LazyLock<Value> = LazyLock::new(build);
    Json(DOC.clone())
}
