//! The twelve blueprints of OCI AI Blueprints' samples that migboard offers as templates, verbatim
//! (copied from `shared/reference/oci-blueprints/`; a test checks they still match when that
//! directory is present).

/// A template: its file name, a title for menus, and the JSON text.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Template {
    /// File name in OCI's samples.
    pub file: &'static str,
    /// What it does, for menus.
    pub title: &'static str,
    /// Whether it is one of the guide's MIG samples.
    pub mig: bool,
    /// The JSON, byte for byte as OCI publishes it.
    pub json: &'static str,
}

macro_rules! template {
    ($file:literal, $title:literal, $mig:literal) => {
        Template {
            file: $file,
            title: $title,
            mig: $mig,
            json: include_str!(concat!("../../data/oci-blueprints/", $file)),
        }
    };
}

/// Every template, the MIG quickstart's order first.
pub static TEMPLATES: [Template; 12] = [
    template!(
        "mig_enabled_shared_node_pool.json",
        "MIG shared node pool (H100, all-1g.20gb)",
        true
    ),
    template!(
        "mig_inference_single_replica.json",
        "MIG inference on a 1g.20gb slice",
        true
    ),
    template!(
        "mig_update_node_with_node_name.json",
        "Update one node to all-1g.10gb",
        true
    ),
    template!(
        "mig_inference_single_replica_10gb.json",
        "MIG inference on a 1g.10gb slice",
        true
    ),
    template!(
        "mig_inference_multiple_replicas.json",
        "MIG inference, 5 replicas on 1g.10gb",
        true
    ),
    template!(
        "mig_update_shared_pool_with_node_pool_name.json",
        "Update a pool to all-2g.20gb",
        true
    ),
    template!(
        "shared_node_pool_A10_BM.json",
        "Shared node pool of BM.GPU.A10.4",
        false
    ),
    template!(
        "add_node_to_control_plane.json",
        "Label a node (update)",
        false
    ),
    template!(
        "vllm-open-hf-model.json",
        "vLLM with an open Hugging Face model",
        false
    ),
    template!(
        "vllm_inference_sample_shared_pool_blueprint.json",
        "vLLM on a shared pool",
        false
    ),
    template!("autoscaling_blueprint.json", "vLLM with autoscaling", false),
    template!(
        "healthcheck_fp16_h100.json",
        "GPU health check (FP16, H100)",
        false
    ),
];

/// The template from file `name` (with or without `.json`).
pub fn template(name: &str) -> Option<&'static Template> {
    let name = name.trim_end_matches(".json");
    TEMPLATES
        .iter()
        .find(|t| t.file.trim_end_matches(".json") == name)
}
