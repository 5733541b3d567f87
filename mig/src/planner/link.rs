//! The plan in a link: `/plan?shape=…&layout=…&nodes=…`, written by [`NodePlan::to_query`] and read
//! back, with every mistake named, by [`NodePlan::from_query`].

use serde::{Deserialize, Serialize};

use super::NodePlan;
use crate::layout::{Layout, list};
use crate::model::{GpuModel, MEMORY_SLICES};
use crate::shape::{MAX_GPUS_PER_NODE, MAX_POOL_NODES, SHAPES, shape};

/// A link whose plan cannot be read: which parameter, and why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, thiserror::Error)]
#[error("link parameter `{param}`: {message}")]
pub struct PlanLinkError {
    /// The query parameter.
    pub param: String,
    /// What is wrong with it and how to write it.
    pub message: String,
}

pub(super) fn link_error(param: &str, message: impl Into<String>) -> PlanLinkError {
    PlanLinkError {
        param: param.to_owned(),
        message: message.into(),
    }
}

impl NodePlan {
    /// The plan as URL query parameters (already percent-encoded), e.g.
    /// `shape=BM.GPU.H100.8&layout=1g.10gb@0,1g.10gb@1,2g.20gb@2,3g.40gb@4*8&nodes=2`.
    ///
    /// `layout` lists the GPUs separated by `;`; a GPU is `off` (MIG off), `-` (MIG on, no instances)
    /// or `profile@start` items separated by `,`; `*N` repeats a GPU N times.
    pub fn to_query(&self) -> String {
        let mut params: Vec<(&str, String)> = Vec::new();
        match self.shape {
            Some(s) => params.push(("shape", s.name.to_owned())),
            None => {
                params.push(("model", self.model.id().to_owned()));
                params.push(("count", self.gpus.len().to_string()));
            }
        }
        if self
            .gpus
            .iter()
            .any(|g| g.as_ref().is_none_or(|l| !l.instances().is_empty()))
        {
            let mut groups: Vec<(String, usize)> = Vec::new();
            for gpu in &self.gpus {
                let text = match gpu {
                    None => "off".to_owned(),
                    Some(l) if l.instances().is_empty() => "-".to_owned(),
                    Some(l) => l
                        .instances()
                        .iter()
                        .map(|p| format!("{}@{}", p.profile.name, p.start))
                        .collect::<Vec<_>>()
                        .join(","),
                };
                match groups.last_mut() {
                    Some((last, n)) if *last == text => *n += 1,
                    _ => groups.push((text, 1)),
                }
            }
            let layout = groups
                .into_iter()
                .map(|(t, n)| if n == 1 { t } else { format!("{t}*{n}") })
                .collect::<Vec<_>>()
                .join(";");
            params.push(("layout", layout));
        }
        if self.nodes != 1 {
            params.push(("nodes", self.nodes.to_string()));
        }
        params
            .into_iter()
            .map(|(k, v)| format!("{k}={}", encode_component(&v)))
            .collect::<Vec<_>>()
            .join("&")
    }

    /// Reads a plan from decoded query parameters, as written by [`to_query`](Self::to_query).
    /// Unknown parameters are ignored; no parameters at all give [`NodePlan::default`].
    ///
    /// # Errors
    /// [`PlanLinkError`] naming the parameter and the problem.
    pub fn from_query<'a>(
        params: impl IntoIterator<Item = (&'a str, &'a str)>,
    ) -> Result<Self, PlanLinkError> {
        let (mut shape_p, mut model_p, mut count_p, mut layout_p, mut nodes_p) =
            (None, None, None, None, None);
        for (k, v) in params {
            match k {
                "shape" => shape_p = Some(v),
                "model" => model_p = Some(v),
                "count" => count_p = Some(v),
                "layout" => layout_p = Some(v),
                "nodes" => nodes_p = Some(v),
                _ => {}
            }
        }
        let plan = match (shape_p, model_p) {
            (Some(name), model) => {
                let s = shape(name).ok_or_else(|| {
                    link_error(
                        "shape",
                        format!(
                            "no shape `{name}`; known shapes are {}",
                            list(SHAPES.iter().map(|s| s.name))
                        ),
                    )
                })?;
                if let Some(m) = model
                    && m.parse::<GpuModel>().ok() != Some(s.model)
                {
                    return Err(link_error(
                        "model",
                        format!(
                            "{} carries {}, not `{m}`; leave `model` out or fix it",
                            s.name,
                            s.model.id()
                        ),
                    ));
                }
                Self::for_shape(s)
            }
            (None, model) => {
                let model = match model {
                    Some(m) => m
                        .parse::<GpuModel>()
                        .map_err(|e| link_error("model", e.to_string()))?,
                    None => SHAPES[0].model,
                };
                let count = match count_p {
                    Some(c) => c.trim().parse::<u32>().map_err(|_| {
                        link_error("count", format!("`{c}` is not a GPU count; write a whole number from 1 to {MAX_GPUS_PER_NODE}"))
                    })?,
                    None => match crate::shape::shapes_for(model).next() {
                        Some(s) => return Self::for_shape(s).with_link_rest(layout_p, nodes_p),
                        None => 8,
                    },
                };
                Self::custom(model, count)?
            }
        };
        plan.with_link_rest(layout_p, nodes_p)
    }

    fn with_link_rest(
        mut self,
        layout: Option<&str>,
        nodes: Option<&str>,
    ) -> Result<Self, PlanLinkError> {
        if let Some(text) = layout {
            self.gpus = parse_layouts(self.model, text, self.gpus.len())?;
        }
        if let Some(n) = nodes {
            self.nodes = parse_nodes(n)?;
        }
        Ok(self)
    }
}

fn parse_nodes(text: &str) -> Result<u32, PlanLinkError> {
    text.trim()
        .parse::<u32>()
        .ok()
        .filter(|n| (1..=MAX_POOL_NODES).contains(n))
        .ok_or_else(|| {
            link_error(
                "nodes",
                format!(
                    "`{text}` is not a pool size; write a whole number from 1 to {MAX_POOL_NODES}"
                ),
            )
        })
}

fn parse_layouts(
    model: GpuModel,
    text: &str,
    expected: usize,
) -> Result<Vec<Option<Layout>>, PlanLinkError> {
    let mut gpus: Vec<Option<Layout>> = Vec::new();
    for group in text.split(';') {
        let (body, repeat) = match group.rsplit_once('*') {
            Some((body, n)) => {
                let n = n.trim().parse::<usize>().ok().filter(|n| (1..=MAX_GPUS_PER_NODE as usize).contains(n)).ok_or_else(|| {
                    link_error("layout", format!("`*{n}` after GPU {} is not a repeat count; write *2 to *{MAX_GPUS_PER_NODE}", gpus.len()))
                })?;
                (body, n)
            }
            None => (group, 1),
        };
        let gpu = gpus.len();
        let layout = parse_gpu(model, body.trim(), gpu)?;
        if gpus.len() + repeat > expected {
            break;
        }
        gpus.extend(std::iter::repeat_n(layout, repeat));
    }
    // Saturating: a link may claim any repeat count (`*18446744073709551615`); found by fuzzing.
    let described: usize = text
        .split(';')
        .map(|g| {
            g.rsplit_once('*')
                .and_then(|(_, n)| n.trim().parse::<usize>().ok())
                .unwrap_or(1)
        })
        .fold(0, usize::saturating_add);
    if described != expected {
        return Err(link_error(
            "layout",
            format!("it describes {described} GPU(s), but the node has {expected}"),
        ));
    }
    Ok(gpus)
}

fn parse_gpu(model: GpuModel, text: &str, gpu: usize) -> Result<Option<Layout>, PlanLinkError> {
    match text {
        "off" => return Ok(None),
        "-" | "" => return Ok(Some(Layout::empty(model))),
        _ => {}
    }
    let mut specs = Vec::new();
    for item in text.split(',') {
        // A `+` that was not percent-encoded arrives as a space: `1g.10gb me` means `1g.10gb+me`.
        let item = item.trim().replace(' ', "+");
        let (profile, start) = item.split_once('@').ok_or_else(|| {
            link_error(
                "layout",
                format!(
                    "GPU {gpu}: `{item}` is not an instance; write profile@start such as 3g.40gb@4"
                ),
            )
        })?;
        let start = start
            .parse::<u8>()
            .ok()
            .filter(|s| *s < MEMORY_SLICES)
            .ok_or_else(|| {
                link_error(
                    "layout",
                    format!("GPU {gpu}: `{start}` in `{item}` is not a memory slice; write 0 to 7"),
                )
            })?;
        specs.push(crate::layout::InstanceSpec {
            profile: profile.to_owned(),
            start,
        });
    }
    Layout::new(model, &specs).map(Some).map_err(|issues| {
        link_error(
            "layout",
            format!(
                "GPU {gpu}: {}",
                issues
                    .iter()
                    .map(ToString::to_string)
                    .collect::<Vec<_>>()
                    .join("; ")
            ),
        )
    })
}

/// Percent-encodes a query value, keeping the characters the plan syntax uses readable.
pub fn encode_component(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for b in text.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~@,;*".contains(&b) {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}
