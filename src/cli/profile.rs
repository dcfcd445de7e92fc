//! Op-level profile of a classifier: where tract spends the time of one face, per kind of
//! operator and per node, with the matrix-product kernels it picked (`fma_mmm_f32_*` is float,
//! `*_mmm_i32_*` integer). `moodkiosk bench --profile` prints it; the model card quotes it.

use std::collections::HashMap;
use std::fmt::Write as _;
use std::path::Path;
use std::sync::Arc;
use std::time::Instant;

use tract_onnx::prelude::*;
use tract_onnx::tract_core::plan::{eval, SimpleState};

use moodkiosk::classifier::Classifier;
use moodkiosk::error::{Error, Result};
use moodkiosk::preprocess::SIZE;

/// Mean time of one kind of operator over the profiled runs.
#[derive(Debug, Clone, PartialEq)]
pub struct OpKind {
    pub op: String,
    pub nodes: usize,
    pub ms: f64,
}

/// Mean time of one node, with tract's description of it (kernel, shapes).
#[derive(Debug, Clone, PartialEq)]
pub struct NodeTime {
    pub name: String,
    pub op: String,
    pub ms: f64,
    pub info: Vec<String>,
}

/// The profile of one classifier.
#[derive(Debug, Clone)]
pub struct Profile {
    pub runs: usize,
    /// Sum of the nodes' mean times.
    pub total_ms: f64,
    /// Operator kinds, slowest first.
    pub kinds: Vec<OpKind>,
    /// Nodes, slowest first.
    pub nodes: Vec<NodeTime>,
}

impl Profile {
    /// Distinct matrix-product kernel names the plan uses (from the nodes' descriptions).
    pub fn kernels(&self) -> Vec<String> {
        let mut k: Vec<String> = self
            .nodes
            .iter()
            .flat_map(|n| n.info.iter())
            .filter_map(|line| {
                let start = line.find("with [")? + 6;
                let end = line[start..].find(']')? + start;
                Some(line[start..end].to_string())
            })
            .collect();
        k.sort();
        k.dedup();
        k
    }

    /// The text report: kinds, then the `top` slowest nodes.
    pub fn report(&self, top: usize) -> String {
        let mut s = String::new();
        let _ = writeln!(
            s,
            "{:.3} ms per face (sum of node means over {} runs); kernels: {}",
            self.total_ms,
            self.runs,
            self.kernels().join(", ")
        );
        for k in &self.kinds {
            let share = if self.total_ms > 0.0 {
                100.0 * k.ms / self.total_ms
            } else {
                0.0
            };
            let _ = writeln!(
                s,
                "  {:>9.3} ms {:>5.1}% {:>4} x {}",
                k.ms, share, k.nodes, k.op
            );
        }
        for n in self.nodes.iter().take(top) {
            let _ = writeln!(
                s,
                "  {:>9.3} ms {} ({}) {}",
                n.ms,
                n.name,
                n.op,
                n.info.join("; ")
            );
        }
        s
    }
}

/// Run `input` (a preprocessed face) `warmup + runs` times through `classifier`, timing every
/// node of the optimised plan.
pub fn profile(
    classifier: &Classifier,
    input: &[f32],
    runs: usize,
    warmup: usize,
) -> Result<Profile> {
    let err = |e: TractError| Error::model(classifier.name(), format!("{e:#}"));
    let tensor = Tensor::from_shape(&[1, 1, SIZE, SIZE], input).map_err(err)?;
    profile_plan(classifier.plan(), classifier.name(), tensor, runs, warmup)
}

/// Run `tensor` `warmup + runs` times through any optimised plan (a detector's too), timing every
/// node.
pub fn profile_plan(
    plan: &Arc<TypedRunnableModel>,
    name: &Path,
    tensor: Tensor,
    runs: usize,
    warmup: usize,
) -> Result<Profile> {
    let err = |e: TractError| Error::model(name, format!("{e:#}"));
    let mut state = SimpleState::new(plan).map_err(err)?;
    let mut sums: HashMap<usize, f64> = HashMap::new();
    for run in 0..warmup + runs {
        let mut times: Vec<(usize, f64)> = Vec::new();
        state
            .run_plan_with_eval(
                tvec!(tensor.clone().into()),
                |session, op_state, node, inputs| {
                    let t = Instant::now();
                    let out = eval(session, op_state, node, inputs);
                    times.push((node.id, t.elapsed().as_secs_f64() * 1e3));
                    out
                },
            )
            .map_err(err)?;
        if run >= warmup {
            for (id, ms) in times {
                *sums.entry(id).or_default() += ms;
            }
        }
    }
    let model = plan.model();
    let runs_f = runs.max(1) as f64;
    let mut nodes: Vec<NodeTime> = sums
        .into_iter()
        .map(|(id, ms)| {
            let node = model.node(id);
            NodeTime {
                name: node.name.clone(),
                op: node.op().name().to_string(),
                ms: ms / runs_f,
                info: node.op().info().unwrap_or_default(),
            }
        })
        .collect();
    nodes.sort_by(|a, b| b.ms.total_cmp(&a.ms));
    let mut by_kind: HashMap<String, (usize, f64)> = HashMap::new();
    for n in &nodes {
        let e = by_kind.entry(n.op.clone()).or_default();
        e.0 += 1;
        e.1 += n.ms;
    }
    let mut kinds: Vec<OpKind> = by_kind
        .into_iter()
        .map(|(op, (nodes, ms))| OpKind { op, nodes, ms })
        .collect();
    kinds.sort_by(|a, b| b.ms.total_cmp(&a.ms));
    Ok(Profile {
        runs,
        total_ms: nodes.iter().map(|n| n.ms).sum(),
        kinds,
        nodes,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use moodkiosk::config::ModelRef;

    #[test]
    fn builtin_profile_names_the_convolutions_and_their_kernels() {
        let c = Classifier::load(&ModelRef::Builtin).expect("the builtin model is compiled in");
        let input = vec![0.5; SIZE * SIZE];
        let p = profile(&c, &input, 3, 1).unwrap();
        assert_eq!(p.runs, 3);
        let nodes = |op: &str| p.kinds.iter().find(|k| k.op == op).map_or(0, |k| k.nodes);
        // MobileNetV2's 1x1 convolutions (and the dense head) become matrix products.
        assert!(nodes("OptMatMul") >= 35, "{}", p.report(5));
        let kernels = p.kernels();
        assert!(kernels.iter().all(|k| k.contains("mmm")), "{kernels:?}");
        if moodkiosk::classifier::BUILTIN_MODEL.contains("int8") {
            // Integer products for the quantized convolutions, float ones for the stem and head.
            assert!(kernels.iter().any(|k| k.contains("mmm_i32")), "{kernels:?}");
            assert!(nodes("QuantizeLinearI8") > 0, "{}", p.report(5));
        } else {
            // fp32: 17 depthwise convolutions, every product in float.
            assert_eq!(nodes("DepthWiseConv"), 17, "{}", p.report(5));
            assert!(kernels.iter().all(|k| k.contains("f32")), "{kernels:?}");
        }
        let sum: f64 = p.kinds.iter().map(|k| k.ms).sum();
        assert!((sum - p.total_ms).abs() < 1e-6 && p.total_ms > 0.0);
        assert!(p.nodes.windows(2).all(|w| w[0].ms >= w[1].ms));
        assert!(p.report(4).lines().count() == 1 + p.kinds.len() + 4);
    }
}
