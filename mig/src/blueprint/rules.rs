//! The rules that turn a well-typed [`RawRecipe`] into a [`Blueprint`], each issue at its member.
//! Order: what the mode needs, then member by member, then rules that need the catalogue or fleet.

use super::json::At;
use super::raw::{Probe, RawRecipe, RecipeMode};
use super::{
    Action, Blueprint, Context, DEFAULT_MAX_PODS_PER_NODE, GpuRequest, Issue, MAX_PODS_PER_NODE,
    PoolSpec, Target, Update, Workload, WorkloadKind,
};
use crate::model::GpuModel;
use crate::shape::GpuShape;

/// Members each mode must have, beyond `recipe_mode` and `deployment_name`.
pub(crate) const MODE_REQUIRED: &[(RecipeMode, &[&str])] = &[
    (
        RecipeMode::Service,
        &["recipe_image_uri", "recipe_node_shape"],
    ),
    (RecipeMode::Job, &["recipe_image_uri", "recipe_node_shape"]),
    (RecipeMode::Update, &[]),
    (
        RecipeMode::SharedNodePool,
        &[
            "shared_node_pool_shape",
            "shared_node_pool_size",
            "shared_node_pool_boot_volume_size_in_gbs",
        ],
    ),
    (RecipeMode::Team, &["team"]),
];

/// Members that only mean something in some modes: (member, modes it belongs to).
const MODE_ONLY: &[(&str, &[RecipeMode])] = &[
    (
        "recipe_max_pods_per_node",
        &[RecipeMode::SharedNodePool, RecipeMode::Update],
    ),
    ("recipe_image_uri", WORKLOAD),
    ("mig_resource_request", WORKLOAD),
    ("recipe_replica_count", WORKLOAD),
    ("recipe_nvidia_gpu_count", WORKLOAD),
    ("recipe_container_port", WORKLOAD),
    ("recipe_pod_autoscaling_params", WORKLOAD),
    ("recipe_node_name", &[RecipeMode::Update]),
    ("recipe_node_pool_name", &[RecipeMode::Update]),
    ("recipe_node_labels", &[RecipeMode::Update]),
    ("shared_node_pool_shape", &[RecipeMode::SharedNodePool]),
    ("shared_node_pool_size", &[RecipeMode::SharedNodePool]),
    (
        "shared_node_pool_mig_config",
        &[RecipeMode::SharedNodePool, RecipeMode::Update],
    ),
    ("team", &[RecipeMode::Team]),
];
const WORKLOAD: &[RecipeMode] = &[RecipeMode::Service, RecipeMode::Job];

/// A mounted volume: its size in GB (if it has one) and where it is mounted.
type Mount<'a> = (Option<i64>, Option<&'a str>);

/// The top-level member `key`.
fn root(key: &'static str) -> At<'static> {
    At::ROOT.key(key)
}

struct Rules<'a, 'o> {
    raw: &'a RawRecipe,
    ctx: Context<'a>,
    out: &'o mut Vec<Issue>,
}

impl Rules<'_, '_> {
    fn error(&mut self, code: &str, key: &'static str, message: String, hint: String) {
        self.out.push(Issue::error(code, &root(key), message, hint));
    }

    /// Attaches `fix` to the issue just reported.
    fn attach(&mut self, fix: Option<crate::capacity::room::RoomFix>) {
        if let (Some(fix), Some(last)) = (fix, self.out.last_mut()) {
            last.fix = Some(Box::new(fix));
        }
    }

    fn warning(&mut self, code: &str, key: &'static str, message: String, hint: String) {
        self.out
            .push(Issue::warning(code, &root(key), message, hint));
    }

    fn has(&self, key: &str) -> bool {
        self.raw.has(key)
    }
}

/// Applies every rule; returns the validated blueprint when the raw one had the members to build it
/// (the caller drops it if any issue is an error).
pub(crate) fn validate(
    raw: RawRecipe,
    ctx: Context<'_>,
    out: &mut Vec<Issue>,
) -> Option<Blueprint> {
    let mut r = Rules {
        raw: &raw,
        ctx,
        out,
    };
    let name = r.deployment_name();
    let mode = raw.recipe_mode?;
    r.mode_members(mode);
    r.common();
    let action = match mode {
        RecipeMode::Service | RecipeMode::Job => r.workload(mode).map(Action::Workload),
        RecipeMode::Update => r.update().map(Action::Update),
        RecipeMode::SharedNodePool => r
            .shared_node_pool(name.as_deref())
            .map(Action::SharedNodePool),
        RecipeMode::Team => raw
            .team
            .as_ref()
            .and_then(|t| t.team_name.clone())
            .map(|name| Action::Team { name }),
    };
    r.carried(mode);
    r.portability(mode);
    let name = name?;
    let action = action?;
    Some(Blueprint { name, action, raw })
}

/// Whether the mode rules already flag `key` as having no effect in `mode`.
fn ignored_in(key: &str, mode: RecipeMode) -> bool {
    MODE_ONLY
        .iter()
        .any(|(k, modes)| *k == key && !modes.contains(&mode))
}

/// The one shape OCI AI Blueprints supports MIG on.
pub const OCI_MIG_SHAPE: &str = "BM.GPU.H100.8";

fn mode_label(mode: RecipeMode) -> String {
    format!("\"{mode}\" mode")
}

impl Rules<'_, '_> {
    fn deployment_name(&mut self) -> Option<String> {
        let name = self.raw.deployment_name.as_ref()?;
        let trimmed = name.trim();
        if trimmed.is_empty() {
            self.error(
                "deployment_name",
                "deployment_name",
                "`deployment_name` is empty".into(),
                "name the deployment, for example \"llama-8b-mig\"".into(),
            );
            return None;
        }
        if name.chars().count() > 100 || name.chars().any(char::is_control) {
            self.error(
                "deployment_name",
                "deployment_name",
                "`deployment_name` must be at most 100 characters without control characters"
                    .into(),
                "use a short, printable name".into(),
            );
            return None;
        }
        if let Some(fleet) = self.ctx.fleet
            && fleet.deployments.iter().any(|d| d == name)
        {
            self.error(
                "deployment_name_taken",
                "deployment_name",
                format!("a deployment named \"{name}\" already exists"),
                "choose another name, or undeploy the existing deployment first".into(),
            );
        }
        Some(name.clone())
    }

    fn mode_members(&mut self, mode: RecipeMode) {
        for (m, keys) in MODE_REQUIRED {
            if *m != mode {
                continue;
            }
            for key in *keys {
                if !self.has(key) {
                    self.out.push(Issue::error(
                        "required",
                        &At::ROOT.key(key),
                        format!("{} needs `{key}`", mode_label(mode)),
                        format!("add \"{key}\"{}", example(key)),
                    ));
                }
            }
        }
        for (key, modes) in MODE_ONLY {
            if self.has(key) && !modes.contains(&mode) {
                let used = modes
                    .iter()
                    .map(|m| format!("\"{m}\""))
                    .collect::<Vec<_>>()
                    .join(" or ");
                self.out.push(Issue::warning(
                    "ignored",
                    &At::ROOT.key(key),
                    format!("`{key}` has no effect in {}", mode_label(mode)),
                    format!("remove it, or use recipe_mode {used}"),
                ));
            }
        }
    }

    /// Rules on members any mode may have.
    fn common(&mut self) {
        let raw = self.raw;
        for (key, value) in [
            (
                "recipe_node_boot_volume_size_in_gbs",
                raw.recipe_node_boot_volume_size_in_gbs,
            ),
            ("recipe_node_pool_size", raw.recipe_node_pool_size),
            (
                "recipe_ephemeral_storage_size",
                raw.recipe_ephemeral_storage_size,
            ),
            (
                "recipe_shared_memory_volume_size_limit_in_mb",
                raw.recipe_shared_memory_volume_size_limit_in_mb,
            ),
            (
                "recipe_container_memory_size",
                raw.recipe_container_memory_size,
            ),
            ("recipe_container_cpu_count", raw.recipe_container_cpu_count),
            (
                "recipe_flex_shape_ocpu_count",
                raw.recipe_flex_shape_ocpu_count,
            ),
            (
                "recipe_flex_shape_memory_size_in_gbs",
                raw.recipe_flex_shape_memory_size_in_gbs,
            ),
            (
                "shared_node_pool_flex_shape_ocpu_count",
                raw.shared_node_pool_flex_shape_ocpu_count,
            ),
            (
                "shared_node_pool_flex_shape_memory_size_in_gbs",
                raw.shared_node_pool_flex_shape_memory_size_in_gbs,
            ),
            (
                "multinode_num_nodes_to_use_from_shared_pool",
                raw.multinode_num_nodes_to_use_from_shared_pool,
            ),
        ] {
            if let Some(v) = value
                && v < 1
            {
                self.out.push(Issue::error(
                    "range",
                    &At::ROOT.key(key),
                    format!("`{key}` must be at least 1, found {v}"),
                    format!("give a positive number, or remove `{key}` to use the default"),
                ));
            }
        }
        if let (Some(eph), Some(boot)) = (
            raw.recipe_ephemeral_storage_size,
            raw.recipe_node_boot_volume_size_in_gbs,
        ) && eph > boot
            && boot >= 1
        {
            self.error(
                    "ephemeral_storage",
                    "recipe_ephemeral_storage_size",
                    format!("ephemeral storage of {eph} GB does not fit the node's {boot} GB boot volume"),
                    format!("lower recipe_ephemeral_storage_size to at most {boot}, or raise recipe_node_boot_volume_size_in_gbs"),
                );
        }
        for key in ["recipe_container_port", "recipe_host_port"] {
            let value = if key == "recipe_container_port" {
                raw.recipe_container_port.as_deref()
            } else {
                raw.recipe_host_port.as_deref()
            };
            if let Some(v) = value
                && !v.trim().parse::<u16>().is_ok_and(|p| p >= 1)
            {
                self.out.push(Issue::error(
                    "port",
                    &At::ROOT.key(key),
                    format!("`{key}` must be a port number from 1 to 65535, found \"{v}\""),
                    "write the port as a string of digits, for example \"8000\"".into(),
                ));
            }
        }
        let probes: [(&'static str, &Option<Probe>, bool); 3] = [
            (
                "recipe_liveness_probe_params",
                &raw.recipe_liveness_probe_params,
                true,
            ),
            (
                "recipe_startup_probe_params",
                &raw.recipe_startup_probe_params,
                true,
            ),
            (
                "recipe_readiness_probe_params",
                &raw.recipe_readiness_probe_params,
                false,
            ),
        ];
        for (key, probe, success_one) in probes {
            if let Some(p) = probe {
                self.probe(key, p, success_one);
            }
        }
        self.autoscaling();
        self.storage();
        self.env();
        if let Some(ports) = &raw.recipe_additional_ingress_ports {
            let at = At::ROOT.key("recipe_additional_ingress_ports");
            for (i, p) in ports.iter().enumerate() {
                let item = at.index(i);
                if let Some(port) = p.port
                    && !(1..=65535).contains(&port)
                {
                    self.out.push(Issue::error(
                        "port",
                        &item.key("port"),
                        format!("port must be from 1 to 65535, found {port}"),
                        "use a valid TCP port".into(),
                    ));
                }
                if let Some(path) = &p.path
                    && !path.starts_with('/')
                {
                    self.out.push(Issue::error(
                        "path",
                        &item.key("path"),
                        format!("ingress path must start with /, found \"{path}\""),
                        format!("write \"/{path}\""),
                    ));
                }
            }
        }
        if let Some(team) = &raw.team
            && let Some(p) = team.priority_threshold
            && p < 0
        {
            self.out.push(Issue::error(
                "range",
                &At::ROOT.key("team").key("priority_threshold"),
                format!("priority_threshold must be 0 or more, found {p}"),
                "use 0 for the lowest priority".into(),
            ));
        }
    }

    /// Members the platform does not carry out, each named (`not_carried`); the container
    /// settings the embedded fleet only simulates, in one warning (`simulated`). Without a platform
    /// (the browser) only members that no platform carries out are named.
    fn carried(&mut self, mode: RecipeMode) {
        use super::members::{Does, MEMBERS};
        let platform = self.ctx.platform;
        let mut simulated = Vec::new();
        for m in MEMBERS {
            if !self.has(m.name) || ignored_in(m.name, mode) {
                continue;
            }
            let does = match platform {
                Some(p) => m.on(p),
                None => match (m.embedded, m.kubernetes) {
                    (Does::Not(why), Does::Not(_)) => Does::Not(why),
                    _ => continue,
                },
            };
            match does {
                Does::Not(why) => self.warning(
                    "not_carried",
                    m.name,
                    format!(
                        "`{}` is not carried out{}: {why}",
                        m.name,
                        platform
                            .map(|p| format!(" on {}", p.words()))
                            .unwrap_or_default()
                    ),
                    "remove it, or keep it for OCI's own platform: migboard stores it with the blueprint and does nothing with it".into(),
                ),
                Does::Simulated => simulated.push(m.name),
                Does::Carried(_) => {}
            }
        }
        if let Some(first) = simulated.first() {
            self.warning(
                "simulated",
                first,
                format!(
                    "the embedded fleet simulates replicas: each holds its GPU or MIG slice but runs no container, so {} take effect on Kubernetes only",
                    simulated
                        .iter()
                        .map(|m| format!("`{m}`"))
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
                "nothing to change: deploy it to a Kubernetes cluster to run the container".into(),
            );
        }
    }

    /// What works in migboard but not on OCI's own platform, so users know before they copy a
    /// blueprint back (`oci_portability`).
    fn portability(&mut self, mode: RecipeMode) {
        let raw = self.raw;
        let hint = || "nothing to change for migboard; on OCI AI Blueprints use BM.GPU.H100.8 and a config from its MIG guide".to_owned();
        let mig_shape = match mode {
            RecipeMode::Service | RecipeMode::Job if raw.mig_resource_request.is_some() => {
                raw.recipe_node_shape.as_deref().map(|s| ("recipe_node_shape", s))
            }
            RecipeMode::SharedNodePool
                if raw
                    .shared_node_pool_mig_config
                    .as_deref()
                    .is_some_and(|c| c != "all-disabled") =>
            {
                raw.shared_node_pool_shape.as_deref().map(|s| ("shared_node_pool_shape", s))
            }
            _ => None,
        };
        if let Some((key, shape)) = mig_shape
            && shape != OCI_MIG_SHAPE
            && GpuShape::find(shape).is_some_and(|s| s.mig_model().is_some())
        {
            self.warning(
                "oci_portability",
                key,
                format!("MIG on {shape} works in migboard, but OCI AI Blueprints supports MIG only on {OCI_MIG_SHAPE}"),
                hint(),
            );
        }
        // Only a config that exists (an unknown one is an error already).
        if matches!(mode, RecipeMode::SharedNodePool | RecipeMode::Update)
            && let Some(config) = raw.shared_node_pool_mig_config.as_deref()
            && !crate::parted::GUIDE_CONFIGS.contains(&config)
            && self.ctx.catalogue.is_some_and(|c| c.any_has(config))
        {
            self.warning(
                "oci_portability",
                "shared_node_pool_mig_config",
                format!("\"{config}\" works in migboard, but OCI AI Blueprints' MIG guide lists only {}", crate::parted::GUIDE_CONFIGS.join(", ")),
                hint(),
            );
        }
    }

    /// A replica on a MIG slice cannot spread a model over several slices: NCCL does not work
    /// across MIG instances, so a tensor-parallel size above 1 is an error where it is written.
    fn tensor_parallel(&mut self) {
        let raw = self.raw;
        let env = raw.recipe_container_env.as_deref().unwrap_or_default();
        let env_at = At::ROOT.key("recipe_container_env");
        let value_of = |name: &str| {
            env.iter().enumerate().find_map(|(i, e)| {
                e.key
                    .as_deref()
                    .filter(|k| k.eq_ignore_ascii_case(name))
                    .and_then(|_| e.value.as_ref())
                    .map(|v| (i, v.to_string()))
            })
        };
        let too_many = |v: &str| v.trim().parse::<i64>().is_ok_and(|n| n > 1);
        let message = |n: &str| format!("a tensor-parallel size of {n} spreads one model over {n} GPUs, but a replica on a MIG slice has one slice, and NCCL does not work across MIG instances");
        let hint = "set it to 1 and ask for a larger slice (mig_resource_request), or run on whole GPUs (recipe_nvidia_gpu_count) on a pool with MIG off (all-disabled)".to_owned();
        if let Some((i, v)) = value_of("tensor_parallel_size")
            && too_many(&v)
        {
            self.out.push(Issue::error("tensor_parallel", &env_at.index(i).key("value"), message(&v), hint.clone()));
        }
        for (key, list) in [
            ("recipe_container_command_args", raw.recipe_container_command_args.as_deref()),
            ("recipe_container_command", raw.recipe_container_command.as_deref()),
        ] {
            let Some(list) = list else { continue };
            let at = root(key);
            for (i, arg) in list.iter().enumerate() {
                let (flag, inline) = match arg.split_once('=') {
                    Some((f, v)) => (f, Some(v)),
                    None => (arg.as_str(), None),
                };
                if !matches!(flag, "--tensor-parallel-size" | "-tp" | "--tp") {
                    continue;
                }
                let (at_i, value) = match inline {
                    Some(v) => (i, v.to_owned()),
                    None => match list.get(i + 1) {
                        Some(v) => (i + 1, v.clone()),
                        None => continue,
                    },
                };
                // `$(tensor_parallel_size)` names the env variable, checked above.
                if !value.starts_with("$(")
                    && too_many(&value)
                {
                    self.out.push(Issue::error("tensor_parallel", &at.index(at_i), message(&value), hint.clone()));
                }
            }
        }
    }

    fn probe(&mut self, key: &'static str, p: &Probe, success_one: bool) {
        let at = At::ROOT.key(key);
        let mut check = |field: &'static str, value: Option<f64>, min: f64, hint: &str| {
            if let Some(v) = value
                && v < min
            {
                self.out.push(Issue::error(
                    "probe",
                    &at.key(field),
                    format!("`{field}` of {key} must be at least {min}, found {v}"),
                    hint.to_owned(),
                ));
            }
        };
        check(
            "failure_threshold",
            p.failure_threshold,
            1.0,
            "Kubernetes needs at least 1 failure before giving up",
        );
        check(
            "period_seconds",
            p.period_seconds,
            1.0,
            "probe at most once a second",
        );
        check(
            "timeout_seconds",
            p.timeout_seconds,
            1.0,
            "give a probe at least 1 second",
        );
        check(
            "initial_delay_seconds",
            p.initial_delay_seconds,
            0.0,
            "use 0 to probe at once",
        );
        if let Some(s) = p.success_threshold
            && (s < 1 || (success_one && s != 1))
        {
            self.out.push(Issue::error(
                "probe",
                &at.key("success_threshold"),
                if success_one {
                    format!("`success_threshold` of {key} must be 1, found {s}")
                } else {
                    format!("`success_threshold` of {key} must be at least 1, found {s}")
                },
                if success_one {
                    "Kubernetes requires 1 for liveness and startup probes".into()
                } else {
                    "use 1 or more".into()
                },
            ));
        }
        if let Some(port) = p.port
            && !(1..=65535).contains(&port)
        {
            self.out.push(Issue::error(
                "port",
                &at.key("port"),
                format!("probe port must be from 1 to 65535, found {port}"),
                "probe the port the container listens on, such as 8000".into(),
            ));
        }
        if let Some(scheme) = &p.scheme
            && !matches!(scheme.as_str(), "HTTP" | "HTTPS")
        {
            self.out.push(Issue::error(
                "probe",
                &at.key("scheme"),
                format!("probe scheme must be \"HTTP\" or \"HTTPS\", found \"{scheme}\""),
                format!(
                    "write \"{}\"",
                    if scheme.eq_ignore_ascii_case("https") {
                        "HTTPS"
                    } else {
                        "HTTP"
                    }
                ),
            ));
        }
        if let Some(path) = &p.endpoint_path
            && !path.starts_with('/')
        {
            self.out.push(Issue::error(
                "probe",
                &at.key("endpoint_path"),
                format!("probe endpoint_path must start with /, found \"{path}\""),
                format!("write \"/{path}\""),
            ));
        }
    }

    /// An autoscaling range: min at least 1, and min ≤ max.
    fn range(
        &mut self,
        at: &At<'_>,
        (min_key, min): (&str, Option<i64>),
        (max_key, max): (&str, Option<i64>),
        why: &str,
    ) {
        if let Some(min) = min
            && min < 1
        {
            self.out.push(Issue::error(
                "autoscaling",
                &at.key(min_key),
                format!("{min_key} must be at least 1, found {min}"),
                why.to_owned(),
            ));
        }
        if let (Some(min), Some(max)) = (min, max)
            && min > max
        {
            self.out.push(Issue::error(
                "autoscaling",
                &at.key(max_key),
                format!("{max_key} ({max}) is below {min_key} ({min})"),
                format!("raise {max_key} to at least {min}, or lower {min_key}"),
            ));
        }
    }

    fn autoscaling(&mut self) {
        let raw = self.raw;
        if let Some(a) = &raw.recipe_pod_autoscaling_params {
            let at = At::ROOT.key("recipe_pod_autoscaling_params");
            self.range(
                &at,
                ("min_replicas", a.min_replicas),
                ("max_replicas", a.max_replicas),
                "keep at least one replica running",
            );
            if let Some(t) = a.scaling_threshold
                && t <= 0.0
            {
                self.out.push(Issue::error(
                    "autoscaling",
                    &at.key("scaling_threshold"),
                    format!("scaling_threshold must be above 0, found {t}"),
                    "the threshold is the metric value per replica that triggers scaling".into(),
                ));
            }
            for (field, v) in [
                ("scaling_cooldown", a.scaling_cooldown),
                ("polling_interval", a.polling_interval),
                ("stabilization_window_down", a.stabilization_window_down),
                ("scaling_period_down", a.scaling_period_down),
                ("stabilization_window_up", a.stabilization_window_up),
                ("scaling_period_up", a.scaling_period_up),
            ] {
                if let Some(v) = v
                    && v < 0
                {
                    self.out.push(Issue::error(
                        "autoscaling",
                        &at.key(field),
                        format!("{field} must be 0 or more seconds, found {v}"),
                        "durations cannot be negative".into(),
                    ));
                }
            }
            if let (Some(replicas), Some(min), Some(max)) =
                (raw.recipe_replica_count, a.min_replicas, a.max_replicas)
                && min <= max
                && !(min..=max).contains(&replicas)
            {
                self.warning("autoscaling", "recipe_replica_count", format!("recipe_replica_count ({replicas}) is outside the autoscaling range {min}..={max}"), "the autoscaler will move it into the range at once; start inside it".into());
            }
        }
        if let Some(a) = &raw.recipe_node_autoscaling_params {
            let at = At::ROOT.key("recipe_node_autoscaling_params");
            self.range(
                &at,
                ("min_nodes", a.min_nodes),
                ("max_nodes", a.max_nodes),
                "a pool keeps at least one node",
            );
        }
    }

    fn storage(&mut self) {
        let raw = self.raw;
        if let Some(items) = &raw.input_object_storage {
            let at = At::ROOT.key("input_object_storage");
            for (i, s) in items.iter().enumerate() {
                let item = at.index(i);
                match (&s.par, &s.bucket_name) {
                    (Some(_), Some(_)) => self.out.push(Issue::error("storage_source", &item, "an input_object_storage item has both `par` and `bucket_name`".into(), "keep one: a pre-authenticated request URL or a bucket name".into())),
                    (None, None) => self.out.push(Issue::error("storage_source", &item, "an input_object_storage item needs `par` or `bucket_name`".into(), "add \"par\": \"https://objectstorage...\" or \"bucket_name\": \"my-bucket\"".into())),
                    _ => {}
                }
                self.volume(&item, s.volume_size_in_gbs, s.mount_location.as_deref());
            }
        }
        // Every other mount: (size, mount location) per item.
        let mounts: [(&'static str, Vec<Mount<'_>>); 3] = [
            (
                "input_file_system",
                raw.input_file_system
                    .iter()
                    .flatten()
                    .map(|s| (s.volume_size_in_gbs, s.mount_location.as_deref()))
                    .collect(),
            ),
            (
                "output_object_storage",
                raw.output_object_storage
                    .iter()
                    .flatten()
                    .map(|s| (s.volume_size_in_gbs, s.mount_location.as_deref()))
                    .collect(),
            ),
            (
                "local_filesystem",
                raw.local_filesystem
                    .iter()
                    .flatten()
                    .map(|s| (None, s.mount_location.as_deref()))
                    .collect(),
            ),
        ];
        for (key, items) in mounts {
            let at = At::ROOT.key(key);
            for (i, (size, mount)) in items.into_iter().enumerate() {
                self.volume(&at.index(i), size, mount);
            }
        }
    }

    fn volume(&mut self, item: &At<'_>, size: Option<i64>, mount: Option<&str>) {
        if let Some(v) = size
            && v < 1
        {
            self.out.push(Issue::error(
                "range",
                &item.key("volume_size_in_gbs"),
                format!("volume_size_in_gbs must be at least 1, found {v}"),
                "size the volume to hold the data, in GB".into(),
            ));
        }
        if let Some(m) = mount
            && !m.starts_with('/')
        {
            self.out.push(Issue::error(
                "path",
                &item.key("mount_location"),
                format!("mount_location must be an absolute path, found \"{m}\""),
                format!("write \"/{m}\""),
            ));
        }
    }

    fn env(&mut self) {
        let Some(env) = &self.raw.recipe_container_env else {
            return;
        };
        let at = At::ROOT.key("recipe_container_env");
        let mut seen = std::collections::BTreeSet::new();
        for (i, var) in env.iter().enumerate() {
            if let Some(key) = &var.key {
                let item = at.index(i);
                if key.trim().is_empty() {
                    self.out.push(Issue::error(
                        "env",
                        &item.key("key"),
                        "an environment variable has an empty name".into(),
                        "name it, or remove the item".into(),
                    ));
                } else if !seen.insert(key.as_str()) {
                    self.out.push(Issue::warning(
                        "env",
                        &item.key("key"),
                        format!("environment variable `{key}` is set twice; the last value wins"),
                        "remove one of them".into(),
                    ));
                }
            }
        }
    }

    fn workload(&mut self, mode: RecipeMode) -> Option<Workload> {
        let raw = self.raw;
        let kind = if mode == RecipeMode::Job {
            WorkloadKind::Job
        } else {
            WorkloadKind::Service
        };
        let shape_name = raw.recipe_node_shape.as_deref();
        let shape = shape_name.and_then(|s| self.shape("recipe_node_shape", s));
        let replicas = match raw.recipe_replica_count {
            None => 1,
            Some(n) if n >= 1 => u32::try_from(n).unwrap_or(u32::MAX),
            Some(n) => {
                self.error(
                    "range",
                    "recipe_replica_count",
                    format!("recipe_replica_count must be at least 1, found {n}"),
                    "run at least one replica; undeploy to stop".into(),
                );
                0
            }
        };
        // Without metrics to scale on, the embedded fleet runs the autoscaler's floor.
        let replicas = match (self.ctx.platform, &raw.recipe_pod_autoscaling_params) {
            (Some(super::Platform::Embedded), Some(a)) if replicas >= 1 => {
                let min = a.min_replicas.unwrap_or(1).max(1);
                self.warning(
                    "autoscaling_needs_metrics",
                    "recipe_pod_autoscaling_params",
                    format!("the embedded fleet has no metrics to scale on: it runs min_replicas ({min}) and does not scale"),
                    "nothing to change: on Kubernetes migboard makes a HorizontalPodAutoscaler with this range".into(),
                );
                u32::try_from(min).unwrap_or(u32::MAX)
            }
            _ => replicas,
        };
        if let Some(profile) = &raw.mig_resource_request {
            self.tensor_parallel();
            if profile.starts_with("7g.") {
                self.warning(
                    "whole_gpu_slice",
                    "mig_resource_request",
                    format!("a {profile} slice takes a whole GPU as one MIG instance (on some models with fewer SMs or less memory than the GPU has); OCI's MIG guide recommends MIG off for full-GPU work"),
                    "for full compute, update the pool to all-disabled and ask for recipe_nvidia_gpu_count 1 instead of a MIG slice".into(),
                );
            }
        }
        let pool_use = match raw.recipe_use_shared_node_pool {
            Some(true) => super::PoolUse::Shared,
            Some(false) => super::PoolUse::Dedicated,
            None => super::PoolUse::Any,
        };
        // On the embedded fleet `false` means nodes of its own, started for it.
        let own_nodes = match (&raw.mig_resource_request, shape) {
            (Some(profile), Some(GpuShape::Mig(s)))
                if pool_use == super::PoolUse::Dedicated
                    && self.ctx.platform == Some(super::Platform::Embedded) =>
            {
                self.own_nodes(profile.trim(), s, replicas)
            }
            _ => None,
        };
        // The members about nodes of its own mean nothing on the embedded fleet's shared pools.
        if pool_use != super::PoolUse::Dedicated
            && self.ctx.platform == Some(super::Platform::Embedded)
        {
            if raw.recipe_node_autoscaling_params.is_some() {
                self.warning(
                    "ignored",
                    "recipe_node_autoscaling_params",
                    "`recipe_node_autoscaling_params` has no effect on shared pools: the embedded fleet grows only a deployment's nodes of its own".into(),
                    "remove it, or set \"recipe_use_shared_node_pool\": false to give the deployment nodes of its own that grow within this range".into(),
                );
            }
            if raw.recipe_node_pool_size.is_some() {
                self.warning(
                    "ignored",
                    "recipe_node_pool_size",
                    "`recipe_node_pool_size` has no effect unless recipe_use_shared_node_pool is false (a deployment with nodes of its own)".into(),
                    "remove it, or set \"recipe_use_shared_node_pool\": false to give the deployment that many nodes of its own".into(),
                );
            }
        }
        let gpu = if let Some(profile) = &raw.mig_resource_request {
            self.mig_request(
                profile,
                shape,
                replicas,
                raw.skip_capacity_validation.unwrap_or(false),
                own_nodes.is_none(),
            )
        } else {
            self.gpu_count(shape)
        };
        if self.ctx.platform == Some(super::Platform::Embedded)
            && let Some(GpuRequest::Gpus(_) | GpuRequest::AmdGpus(_)) = &gpu
        {
            let key = if raw.recipe_amd_gpu_count.is_some() {
                "recipe_amd_gpu_count"
            } else {
                "recipe_nvidia_gpu_count"
            };
            self.error(
                "embedded_mig_only",
                key,
                "the embedded fleet runs MIG workloads only: its replicas hold one MIG slice each, and whole GPUs are left to a Kubernetes fleet's scheduler".into(),
                "ask for a slice with mig_resource_request (and recipe_nvidia_gpu_count 1), or deploy to Kubernetes".into(),
            );
        }
        if raw.recipe_amd_gpu_count.is_some() && raw.recipe_nvidia_gpu_count.is_some() {
            self.error(
                "gpu_count",
                "recipe_amd_gpu_count",
                "a replica asks for NVIDIA and AMD GPUs at once".into(),
                "keep the count that matches the shape's GPUs".into(),
            );
        }
        Some(Workload {
            kind,
            shape: shape_name?.to_owned(),
            replicas,
            gpu: gpu?,
            pool_use,
            own_nodes,
            skip_capacity_validation: raw.skip_capacity_validation.unwrap_or(false),
        })
    }

    /// The nodes a deployment gets of its own on the embedded fleet: `recipe_node_pool_size` (1)
    /// nodes of its shape on the named config `all-<profile>`, enough for its replicas.
    fn own_nodes(
        &mut self,
        profile: &str,
        shape: &'static crate::shape::NodeShape,
        replicas: u32,
    ) -> Option<super::OwnNodes> {
        let spec = shape.model.profile(profile)?;
        let config = format!("all-{profile}");
        if let Some(c) = self.ctx.catalogue
            && c.config(shape.model, &config).is_none()
        {
            self.error(
                "dedicated_pool",
                "recipe_use_shared_node_pool",
                format!("a deployment's own nodes are laid out as `{config}`, which {} does not have", shape.model.spec().display_name),
                format!("set \"recipe_use_shared_node_pool\": true and run on a pool that has {profile} slices"),
            );
            return None;
        }
        let positive = |n: Option<i64>| n.and_then(|n| u32::try_from(n).ok()).filter(|n| *n >= 1);
        let range = self.raw.recipe_node_autoscaling_params.as_ref().map(|a| {
            let min = positive(a.min_nodes).unwrap_or(1);
            (min, positive(a.max_nodes).unwrap_or(min).max(min))
        });
        let size = positive(self.raw.recipe_node_pool_size)
            .or(range.map(|(min, _)| min))
            .unwrap_or(1);
        let (size, max) = match range {
            Some((min, max)) => (size.clamp(min, max), max),
            None => (size, size),
        };
        let per_node = (u32::from(spec.max_count()) * shape.gpus)
            .min(DEFAULT_MAX_PODS_PER_NODE - super::SYSTEM_PODS_PER_NODE);
        if replicas > max * per_node && !self.raw.skip_capacity_validation.unwrap_or(false) {
            let what = if range.is_some() {
                "max_nodes (recipe_node_autoscaling_params)"
            } else {
                "recipe_node_pool_size"
            };
            self.error(
                "capacity",
                "recipe_replica_count",
                format!("{replicas} replicas need {replicas} {profile} slices; {max} node(s) of its own ({} on {config}) have {}", shape.name, max * per_node),
                format!("raise {what} to {}, or lower recipe_replica_count", replicas.div_ceil(per_node)),
            );
        }
        Some(super::OwnNodes {
            size,
            max,
            per_node,
            config,
        })
    }

    fn shape(&mut self, key: &'static str, name: &str) -> Option<GpuShape> {
        let found = GpuShape::find(name);
        if found.is_none() {
            let hint = match crate::suggest::closest(name, GpuShape::names()) {
                Some(s) => format!(
                    "did you mean \"{s}\"? (GPU counts and MIG are not checked for shapes migboard does not know)"
                ),
                None => format!(
                    "GPU counts and MIG are not checked for it; known GPU shapes: {}",
                    GpuShape::names().collect::<Vec<_>>().join(", ")
                ),
            };
            self.warning(
                "shape_unknown",
                key,
                format!("unknown GPU shape \"{name}\""),
                hint,
            );
        }
        found
    }

    fn gpu_count(&mut self, shape: Option<GpuShape>) -> Option<GpuRequest> {
        let raw = self.raw;
        if let Some(n) = raw.recipe_nvidia_gpu_count {
            return self
                .whole_gpus("recipe_nvidia_gpu_count", n, shape, false)
                .map(GpuRequest::Gpus);
        }
        if let Some(n) = raw.recipe_amd_gpu_count {
            return self
                .whole_gpus("recipe_amd_gpu_count", n, shape, true)
                .map(GpuRequest::AmdGpus);
        }
        Some(GpuRequest::None)
    }

    /// `n` whole GPUs of one vendor per replica: at least 1, the shape's vendor, at most the shape's count.
    fn whole_gpus(
        &mut self,
        key: &'static str,
        n: i64,
        shape: Option<GpuShape>,
        amd: bool,
    ) -> Option<u32> {
        if n < 1 {
            self.error(
                "gpu_count",
                key,
                format!("{key} must be at least 1, found {n}"),
                "remove it for a workload without GPUs".into(),
            );
            return None;
        }
        let (this, other, other_key) = if amd {
            ("AMD", "NVIDIA", "recipe_nvidia_gpu_count")
        } else {
            ("NVIDIA", "AMD", "recipe_amd_gpu_count")
        };
        if let Some(s) = shape {
            if s.is_amd() != amd {
                self.error(
                    "gpu_count",
                    key,
                    format!("{} has {other} GPUs, not {this}", s.name()),
                    format!("use {other_key} on this shape"),
                );
            } else if n > i64::from(s.gpus()) {
                self.error(
                    "gpu_count",
                    key,
                    format!(
                        "a replica asks for {n} GPUs but {} has {}",
                        s.name(),
                        s.gpus()
                    ),
                    format!("ask for at most {}, or pick a larger shape", s.gpus()),
                );
            }
        }
        Some(u32::try_from(n).unwrap_or(u32::MAX))
    }

    fn mig_request(
        &mut self,
        profile: &str,
        shape: Option<GpuShape>,
        replicas: u32,
        skip_capacity: bool,
        fleet_rules: bool,
    ) -> Option<GpuRequest> {
        let raw = self.raw;
        if let Some(n) = raw.recipe_nvidia_gpu_count
            && n != 1
        {
            self.error("mig_multi_slice", "recipe_nvidia_gpu_count", format!("with mig_resource_request each replica gets one MIG slice, but recipe_nvidia_gpu_count is {n}"), "set recipe_nvidia_gpu_count to 1 (or remove it) and raise recipe_replica_count, or ask for a larger slice: one workload cannot span slices (NCCL does not support it)".into());
        }
        let profile = profile.trim();
        let model = match shape {
            Some(GpuShape::Other(s)) => {
                self.error(
                    "mig_shape",
                    "mig_resource_request",
                    format!("{} GPUs ({}) do not support MIG", s.name, s.gpu),
                    format!(
                        "run MIG workloads on a MIG-capable shape: {}",
                        crate::shape::SHAPES
                            .iter()
                            .map(|s| s.name)
                            .collect::<Vec<_>>()
                            .join(", ")
                    ),
                );
                return None;
            }
            Some(GpuShape::Mig(s)) => Some(s.model),
            None => None,
        };
        // Which models offer the profile: the shape's, or any when the shape is unknown.
        let models: Vec<GpuModel> = match model {
            Some(m) => vec![m],
            None => GpuModel::all().collect(),
        };
        if !models.iter().any(|m| m.profile(profile).is_some()) {
            let names = models[0].profile_names();
            let hint = match crate::suggest::closest(profile, names.iter().copied()) {
                Some(s) => format!("did you mean \"{s}\"?"),
                None => format!(
                    "{} offers: {}",
                    models[0].spec().display_name,
                    names.join(", ")
                ),
            };
            let on = model.map_or_else(
                || "any GPU migboard knows".to_owned(),
                |m| m.spec().display_name.to_owned(),
            );
            self.error(
                "mig_profile_unknown",
                "mig_resource_request",
                format!("\"{profile}\" is not a MIG profile of {on}"),
                hint,
            );
            return None;
        }
        if let Some(fleet) = self.ctx.fleet.filter(|_| fleet_rules) {
            // A deployment's own nodes serve it alone.
            let nodes: Vec<_> = fleet
                .nodes
                .iter()
                .filter(|n| (model.is_none() || n.model == model) && !fleet.is_dedicated(n))
                .collect();
            // Free slices, each node at most as many as its pool's pods per node leave room for.
            let (configured, free, unbounded) = nodes
                .iter()
                .map(|n| {
                    let (all, free) = n.slices_of(profile);
                    (all, fleet.placeable(n, profile), free)
                })
                .fold((0, 0, 0), |(a, f, u), (x, y, z)| (a + x, f + y, u + z));
            if configured == 0 {
                let m = model
                    .or_else(|| nodes.iter().find_map(|n| n.model))
                    .unwrap_or(GpuModel::H100_80GB);
                let supplying = self
                    .ctx
                    .catalogue
                    .map(|c| c.supplying(m, profile))
                    .unwrap_or_default();
                let mut pools: Vec<&str> = nodes
                    .iter()
                    .filter(|n| n.model == Some(m))
                    .filter_map(|n| n.pool.as_deref())
                    .collect();
                pools.dedup();
                let configs = if supplying.is_empty() {
                    format!("a MIG config with {profile} slices")
                } else {
                    supplying
                        .iter()
                        .map(|s| format!("`{s}`"))
                        .collect::<Vec<_>>()
                        .join(" or ")
                };
                let hint = match pools.first() {
                    Some(pool) => format!(
                        "apply {configs} first, for example with an update blueprint {{\"recipe_mode\": \"update\", \"recipe_node_pool_name\": \"{pool}\", \"shared_node_pool_mig_config\": \"{}\"}} ({} node pool{} of {} could take it: {})",
                        supplying.first().copied().unwrap_or("all-1g.10gb"),
                        pools.len(),
                        if pools.len() == 1 { "" } else { "s" },
                        m.spec().display_name,
                        pools.join(", ")
                    ),
                    None => format!(
                        "create a shared_node_pool of {} with {configs} first",
                        m.spec().display_name
                    ),
                };
                let fix = crate::capacity::room::make_room(fleet, Some(m), profile, replicas);
                let hint = match &fix {
                    Some(f) => format!(
                        "{}: the editor's \"Apply and deploy\" does that and then deploys; or {hint}",
                        f.summary
                    ),
                    None => hint,
                };
                self.error("mig_profile_unconfigured", "mig_resource_request", format!("MIG resource {profile} is not configured on any node of the fleet; a blueprint may only request a MIG slice that a node already has"), hint);
                self.attach(fix);
            } else if !skip_capacity && replicas > free {
                let per_node = nodes
                    .iter()
                    .map(|n| (n.name.as_str(), fleet.placeable(n, profile)))
                    .filter(|(_, f)| *f > 0)
                    .map(|(n, f)| format!("{n}: {f}"))
                    .collect::<Vec<_>>()
                    .join(", ");
                let fix = crate::capacity::room::make_room(fleet, model, profile, replicas - free);
                let hint = match &fix {
                    Some(f) => format!(
                        "{} makes room without touching a busy slice: the editor's \"Apply and deploy\" does that and then deploys; or lower recipe_replica_count to {free}",
                        f.summary
                    ),
                    None => format!(
                        "lower recipe_replica_count to {free}, free some slices, or set \"skip_capacity_validation\": true to queue until slices free up"
                    ),
                };
                self.error("capacity", "recipe_replica_count", format!("{replicas} replicas need {replicas} free {profile} slices; the fleet has {free} free of {configured}{}{}", if per_node.is_empty() { String::new() } else { format!(" ({per_node})") }, if unbounded > free { format!("; {unbounded} are free, but pods per node (recipe_max_pods_per_node less {} system pods) leave room for {free}", super::SYSTEM_PODS_PER_NODE) } else { String::new() }), hint);
                self.attach(fix);
            }
        }
        Some(GpuRequest::Mig(profile.to_owned()))
    }

    fn update(&mut self) -> Option<Update> {
        let raw = self.raw;
        let target = match (&raw.recipe_node_name, &raw.recipe_node_pool_name) {
            (Some(node), None) => Some(Target::Node(node.clone())),
            (None, Some(pool)) => Some(Target::Pool(pool.clone())),
            (Some(_), Some(_)) => {
                self.error("update_target", "recipe_node_pool_name", "an update names both `recipe_node_name` and `recipe_node_pool_name`".into(), "keep exactly one: recipe_node_name for one node, recipe_node_pool_name for every node of a pool".into());
                None
            }
            (None, None) => {
                self.out.push(Issue::error("update_target", &At::ROOT, "an update needs `recipe_node_name` or `recipe_node_pool_name`".into(), "add \"recipe_node_name\": \"<node private IP>\" for one node, or \"recipe_node_pool_name\": \"<pool>\" for a pool".into()));
                None
            }
        };
        if raw.shared_node_pool_mig_config.is_none() && raw.recipe_node_labels.is_none() {
            self.out.push(Issue::error("update_nothing", &At::ROOT, "this update changes nothing: it has neither `shared_node_pool_mig_config` nor `recipe_node_labels`".into(), "add \"shared_node_pool_mig_config\": \"all-1g.10gb\" (or another config) to change MIG".into()));
        }
        if let Some(labels) = &raw.recipe_node_labels {
            self.out.extend(super::labels::check(labels));
        }
        if raw.recipe_max_pods_per_node.is_some() {
            self.error("max_pods_immutable", "recipe_max_pods_per_node", "recipe_max_pods_per_node cannot be changed by an update: it is fixed when the pool is created".into(), "remove it; to change it, remove the node from the pool and add it again with the new value".into());
        }
        // The model the config must exist for: the target's, when the fleet knows it.
        let mut model = None;
        if let (Some(fleet), Some(t)) = (self.ctx.fleet, &target) {
            match t {
                Target::Node(name) => match fleet.node(name) {
                    Some(node) => {
                        model = node.model;
                        if raw.shared_node_pool_mig_config.is_some() && !node.workloads.is_empty() {
                            self.warning("node_busy", "recipe_node_name", format!("node {name} runs {} workload{} ({}); changing MIG fails on the GPUs they use", node.workloads.len(), if node.workloads.len() == 1 { "" } else { "s" }, node.workloads.join(", ")), "deploy with drain (the editor's \"Drain busy nodes\", or ?drain=true) to move them to free slices while the node reconfigures, or undeploy them first".into());
                        }
                    }
                    None => {
                        let hint = match crate::suggest::closest(
                            name,
                            fleet.nodes.iter().map(|n| n.name.as_str()),
                        ) {
                            Some(s) => format!("did you mean \"{s}\"?"),
                            None => format!(
                                "nodes: {}",
                                list(fleet.nodes.iter().map(|n| n.name.as_str()))
                            ),
                        };
                        self.error(
                            "node_unknown",
                            "recipe_node_name",
                            format!("no node named \"{name}\" in the fleet"),
                            hint,
                        );
                    }
                },
                Target::Pool(name) => {
                    if fleet.pool(name).is_none() {
                        let hint = match crate::suggest::closest(
                            name,
                            fleet.pools.iter().map(|p| p.name.as_str()),
                        ) {
                            Some(s) => format!("did you mean \"{s}\"?"),
                            None => format!(
                                "pools: {}",
                                list(fleet.pools.iter().map(|p| p.name.as_str()))
                            ),
                        };
                        self.error(
                            "pool_unknown",
                            "recipe_node_pool_name",
                            format!("no node pool named \"{name}\" in the fleet"),
                            hint,
                        );
                    } else {
                        model = fleet.pool_nodes(name).find_map(|n| n.model);
                        if model.is_none() {
                            model = fleet
                                .pool(name)
                                .and_then(|p| GpuShape::find(&p.shape))
                                .and_then(GpuShape::mig_model);
                        }
                    }
                }
            }
        }
        // A deployment's own nodes are laid out for it alone: an update would cut them under it.
        if let (Some(fleet), Some(t)) = (self.ctx.fleet, &target) {
            let (key, pool) = match t {
                Target::Node(name) => (
                    "recipe_node_name",
                    fleet.node(name).and_then(|n| n.pool.as_deref()),
                ),
                Target::Pool(name) => ("recipe_node_pool_name", Some(name.as_str())),
            };
            if let Some(owner) = pool
                .and_then(|p| fleet.pool(p))
                .and_then(|p| p.dedicated_to.as_deref())
            {
                self.error(
                    "dedicated_pool",
                    key,
                    format!("these are deployment \"{owner}\"'s own nodes (recipe_use_shared_node_pool false), laid out for it alone"),
                    format!("undeploy \"{owner}\" (its nodes go with it) and deploy it again with what it needs; update shared pools only"),
                );
            }
        }
        let mig_config = raw.shared_node_pool_mig_config.clone();
        if let Some(config) = &mig_config {
            self.config_name(config, model, None);
        }
        Some(Update {
            target: target?,
            mig_config,
            labels: raw.recipe_node_labels.clone().unwrap_or_default(),
        })
    }

    /// Checks a named config exists for `model` (or for any model when it is unknown).
    fn config_name(&mut self, config: &str, model: Option<GpuModel>, shape: Option<GpuShape>) {
        let Some(cat) = self.ctx.catalogue else {
            return;
        };
        let ok = match model {
            Some(m) => cat.config(m, config).is_some(),
            None => cat.any_has(config),
        };
        if ok {
            return;
        }
        let names: Vec<&str> = match model {
            Some(m) => cat.configs(m).iter().map(|c| c.name.as_str()).collect(),
            None => {
                let mut all: Vec<&str> = cat
                    .models
                    .iter()
                    .flat_map(|m| m.configs.iter().map(|c| c.name.as_str()))
                    .collect();
                all.sort_unstable();
                all.dedup();
                all
            }
        };
        let on = match (model, shape) {
            (Some(m), Some(s)) => format!(" for {} ({})", s.name(), m.spec().display_name),
            (Some(m), None) => format!(" for {}", m.spec().display_name),
            _ => String::new(),
        };
        let hint = match crate::suggest::closest(config, names.iter().copied()) {
            Some(s) => format!("did you mean \"{s}\"?"),
            None => format!("configs{on}: {}", list(names.iter().copied())),
        };
        self.error(
            "mig_config_unknown",
            "shared_node_pool_mig_config",
            format!("there is no MIG config named \"{config}\"{on}"),
            hint,
        );
    }

    fn shared_node_pool(&mut self, name: Option<&str>) -> Option<PoolSpec> {
        let raw = self.raw;
        let shape_name = raw.shared_node_pool_shape.as_deref();
        let shape = shape_name.and_then(|s| self.shape("shared_node_pool_shape", s));
        if let Some(config) = &raw.shared_node_pool_mig_config {
            match shape {
                Some(GpuShape::Other(s)) if config != "all-disabled" => {
                    self.error(
                        "mig_shape",
                        "shared_node_pool_mig_config",
                        format!("{} GPUs ({}) do not support MIG", s.name, s.gpu),
                        format!(
                            "remove shared_node_pool_mig_config, or use a MIG-capable shape: {}",
                            crate::shape::SHAPES
                                .iter()
                                .map(|s| s.name)
                                .collect::<Vec<_>>()
                                .join(", ")
                        ),
                    );
                }
                Some(GpuShape::Other(_)) => {}
                _ => self.config_name(config, shape.and_then(GpuShape::mig_model), shape),
            }
        }
        let max_pods = match raw.recipe_max_pods_per_node {
            None => DEFAULT_MAX_PODS_PER_NODE,
            Some(n) if (1..=i64::from(MAX_PODS_PER_NODE)).contains(&n) => {
                u32::try_from(n).unwrap_or(MAX_PODS_PER_NODE)
            }
            Some(n) => {
                self.error("max_pods_range", "recipe_max_pods_per_node", format!("recipe_max_pods_per_node must be from 1 to {MAX_PODS_PER_NODE}, found {n}"), format!("remove it to use the default of {DEFAULT_MAX_PODS_PER_NODE}, which fits every MIG layout of a BM.GPU.H100.8 (at most 56 slices) plus system pods"));
                DEFAULT_MAX_PODS_PER_NODE
            }
        };
        if let (Some(n), Some(s)) = (raw.recipe_max_pods_per_node, shape) {
            // The most MIG slices a node of this shape can expose, plus a little for system pods.
            let slices = s.mig_model().map_or(0, |m| {
                u32::from(m.spec().profiles[0].max_count()) * s.gpus()
            });
            if slices > 0 && n >= 1 && n < i64::from(slices + super::SYSTEM_PODS_PER_NODE) {
                self.warning("max_pods_low", "recipe_max_pods_per_node", format!("{n} pods per node cannot use all {slices} slices a {} can have with 1g profiles (and system pods need some)", s.name()), format!("leave it at the default {DEFAULT_MAX_PODS_PER_NODE}; it cannot be raised after the pool is created"));
            }
        }
        if let (Some(fleet), Some(name)) = (self.ctx.fleet, name)
            && let Some(pool) = fleet.pool(name)
        {
            if pool.max_pods_per_node != max_pods {
                // Too few for the slices the pool's MIG config may expose: OKE's default of 31 is
                // the case OCI's MIG guide warns about.
                let slices = shape.and_then(|s| {
                    s.mig_model()
                        .map(|m| u32::from(m.spec().profiles[0].max_count()) * s.gpus())
                });
                let hint = match slices {
                    Some(slices)
                        if raw.shared_node_pool_mig_config.as_deref().is_some_and(|c| c != "all-disabled")
                            && pool.max_pods_per_node < slices + super::SYSTEM_PODS_PER_NODE =>
                    {
                        format!("its nodes allow {} pods (OKE's default is 31), too few for the {slices} MIG slices a node can have plus {} system pods; pods per node are fixed when a node pool is created: recreate the node pool in OKE with {max_pods} pods per node (OCI's MIG guide uses {DEFAULT_MAX_PODS_PER_NODE}), then deploy this again to adopt it", pool.max_pods_per_node, super::SYSTEM_PODS_PER_NODE)
                    }
                    _ => format!("set it to {} (or remove it if that is the default), or remove the nodes and add them again with the new value", pool.max_pods_per_node),
                };
                self.error("max_pods_immutable", "recipe_max_pods_per_node", format!("pool \"{name}\" exists with {} pods per node; recipe_max_pods_per_node cannot change after the pool is created", pool.max_pods_per_node), hint);
            }
            if let Some(shape) = shape_name
                && !pool.shape.eq_ignore_ascii_case(shape)
            {
                self.error(
                    "pool_shape",
                    "shared_node_pool_shape",
                    format!(
                        "pool \"{name}\" exists with shape {}, not {shape}",
                        pool.shape
                    ),
                    format!("use {} or another deployment name", pool.shape),
                );
            }
        }
        let size = raw.shared_node_pool_size.and_then(|n| {
            if n < 1 {
                self.error(
                    "range",
                    "shared_node_pool_size",
                    format!("shared_node_pool_size must be at least 1, found {n}"),
                    "a pool has at least one node".into(),
                );
                None
            } else if n > i64::from(crate::shape::MAX_POOL_NODES) {
                self.error(
                    "range",
                    "shared_node_pool_size",
                    format!(
                        "shared_node_pool_size must be at most {}, found {n}",
                        crate::shape::MAX_POOL_NODES
                    ),
                    "split very large fleets into several pools".into(),
                );
                None
            } else {
                u32::try_from(n).ok()
            }
        });
        let boot = raw.shared_node_pool_boot_volume_size_in_gbs.and_then(|n| {
            if n < 50 {
                self.error("range", "shared_node_pool_boot_volume_size_in_gbs", format!("shared_node_pool_boot_volume_size_in_gbs must be at least 50 (OCI's minimum boot volume), found {n}"), "GPU images need room for drivers and container images; 500 or more is usual".into());
                None
            } else {
                u32::try_from(n).ok()
            }
        });
        Some(PoolSpec {
            name: name?.to_owned(),
            shape: shape_name?.to_owned(),
            size: size?,
            boot_volume_gbs: boot?,
            mig_config: raw.shared_node_pool_mig_config.clone(),
            max_pods_per_node: max_pods,
        })
    }
}

fn list<'a>(names: impl Iterator<Item = &'a str>) -> String {
    let names: Vec<&str> = names.collect();
    if names.is_empty() {
        "none".to_owned()
    } else if names.len() > 12 {
        format!("{}, ... ({} in all)", names[..12].join(", "), names.len())
    } else {
        names.join(", ")
    }
}

fn example(key: &str) -> &'static str {
    match key {
        "recipe_image_uri" => ": \"docker.io/vllm/vllm-openai:v0.9.1\"",
        "recipe_node_shape" | "shared_node_pool_shape" => ": \"BM.GPU.H100.8\"",
        "shared_node_pool_size" => ": 1",
        "shared_node_pool_boot_volume_size_in_gbs" => ": 500",
        "team" => ": {\"team_name\": ..., \"priority_threshold\": 0, \"quotas\": []}",
        _ => "",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_mode_tables_name_real_members() {
        let sample = |key: &str| -> serde_json::Value {
            match key {
                "recipe_replica_count"
                | "recipe_max_pods_per_node"
                | "recipe_nvidia_gpu_count"
                | "shared_node_pool_size"
                | "shared_node_pool_boot_volume_size_in_gbs" => 1.into(),
                "recipe_pod_autoscaling_params" | "recipe_node_labels" => serde_json::json!({}),
                "team" => {
                    serde_json::json!({"team_name": "t", "priority_threshold": 0, "quotas": []})
                }
                _ => "x".into(),
            }
        };
        let keys = MODE_REQUIRED
            .iter()
            .flat_map(|(_, keys)| keys.iter())
            .chain(MODE_ONLY.iter().map(|(k, _)| k));
        for key in keys {
            let mut issues = Vec::new();
            let v = serde_json::json!({ *key: sample(key) });
            let raw = <RawRecipe as crate::blueprint::json::FromJson>::from_json(
                &v,
                &At::ROOT,
                &mut issues,
            )
            .expect("object");
            // Only the two members every blueprint needs may be missing here.
            assert!(
                issues.iter().all(|i| i.code == "required"),
                "{key}: {issues:?}"
            );
            assert!(raw.has(key), "`has` does not find {key}");
            assert!(!RawRecipe::default().has(key), "{key}");
        }
    }
}
