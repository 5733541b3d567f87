//! The exact solver: fewest GPUs whose layouts cover a demand per profile, by branch and bound over
//! layout counts with the linear relaxation ([`super::lp`]) as the bound; first-fit-decreasing as the
//! baseline and the starting incumbent; and the current-fleet variant (fewest GPUs, then most GPUs kept).

use std::collections::HashSet;

use super::lp;
use crate::layout::Layout;
use crate::model::{GpuModel, KINDS};
use crate::place::combinations;

/// Profiles per model, in [`KINDS`] order.
pub(crate) const K: usize = KINDS.len();
/// A count per profile kind.
pub(crate) type Counts = [u32; K];

/// One layout the solver may give GPUs.
#[derive(Debug, Clone)]
pub(crate) struct Column {
    /// Instances per profile kind.
    pub counts: Counts,
    /// One valid placement of them.
    pub layout: Layout,
}

/// Instances per profile kind of a layout.
pub(crate) fn kind_counts(layout: &Layout) -> Counts {
    let mut c = [0; K];
    for i in layout.instances() {
        c[i.profile.kind as usize] += 1;
    }
    c
}

/// The layouts worth giving a GPU when only `demanded` kinds count: every combination of those kinds
/// one GPU holds to which no further demanded instance can be added. A covering never needs any other
/// (each is dominated by one of these), which keeps the integer program small.
pub(crate) fn columns(model: GpuModel, demanded: &[bool; K]) -> Vec<Column> {
    let all: Vec<Column> = combinations(model)
        .into_iter()
        .map(|c| Column {
            counts: kind_counts(&c.layout),
            layout: c.layout,
        })
        .filter(|c| (0..K).all(|k| demanded[k] || c.counts[k] == 0))
        .collect();
    let feasible: HashSet<Counts> = all.iter().map(|c| c.counts).collect();
    all.into_iter()
        .filter(|c| {
            (0..K).filter(|&k| demanded[k]).all(|k| {
                let mut more = c.counts;
                more[k] += 1;
                !feasible.contains(&more)
            })
        })
        .collect()
}

/// Demand left after `v` GPUs of layout `a`.
fn minus(r: &Counts, a: &Counts, v: u32) -> Counts {
    let mut out = *r;
    for k in 0..K {
        out[k] = out[k].saturating_sub(a[k].saturating_mul(v));
    }
    out
}

/// A whole-fleet answer: GPUs per column.
#[derive(Debug, Clone)]
pub(crate) struct Solution {
    /// GPUs cut as each column, in the columns' order.
    pub x: Vec<u32>,
    /// A proven lower bound on the optimum.
    pub lower_bound: u32,
    /// `gpus == optimum`, proven (by the bound or by an exhausted search).
    pub optimal: bool,
    /// Branch-and-bound nodes explored.
    pub explored: u64,
}

struct Search<'a> {
    cols: Vec<&'a Counts>,
    best: u32,
    best_x: Option<Vec<u32>>,
    target: u32,
    x: Vec<u32>,
    explored: u64,
    stop: &'a mut dyn FnMut() -> bool,
    stopped: bool,
}

impl Search<'_> {
    fn relax(&self, level: usize, r: &Counts) -> Option<lp::Relaxed> {
        let rows: Vec<&[u32]> = self.cols[level..].iter().map(|c| &c[..]).collect();
        lp::solve(&rows, r)
    }

    /// Depth-first over columns in order; at `level`, `relaxed` is the relaxation of `r` over the
    /// columns from `level` on.
    fn dfs(&mut self, level: usize, r: Counts, used: u32, relaxed: &lp::Relaxed) {
        if r.iter().all(|&v| v == 0) {
            if used < self.best {
                self.best = used;
                self.best_x = Some(self.x.clone());
            }
            return;
        }
        if level == self.cols.len() || self.stopped || self.best <= self.target {
            return;
        }
        self.explored += 1;
        if self.explored % 64 == 0 && (self.stop)() {
            self.stopped = true;
            return;
        }
        let a = *self.cols[level];
        let vmax = (0..K)
            .filter(|&k| a[k] > 0 && r[k] > 0)
            .map(|k| r[k].div_ceil(a[k]))
            .max()
            .unwrap_or(0)
            .min(self.best.saturating_sub(used + 1));
        // The relaxation's value with this column fixed at v is convex in v and least at the relaxed
        // optimum x*, so the values worth trying form one interval around x*: walk up from ⌈x*⌉ and down
        // from ⌊x*⌋ (or x* − 1), each until the bound says no better answer lies further.
        let xs = relaxed.x.first().copied().unwrap_or(0.0).max(0.0);
        let up_from = (xs - 1e-7).ceil().max(0.0) as u32;
        let down_from = (xs + 1e-7).floor() as u32;
        let down_from = if down_from == up_from {
            down_from.checked_sub(1)
        } else {
            Some(down_from.min(vmax))
        };
        let mut v = up_from;
        while v <= vmax {
            let next = minus(&r, &a, v);
            if let Some(child) = self.relax(level + 1, &next) {
                if used + v + child.bound() >= self.best {
                    break;
                }
                self.x[level] = v;
                self.dfs(level + 1, next, used + v, &child);
                self.x[level] = 0;
                if self.stopped || self.best <= self.target {
                    return;
                }
            }
            // No relaxation: this many leave a profile the later columns lack; more may cover it.
            v += 1;
        }
        let Some(mut v) = down_from else { return };
        loop {
            let next = minus(&r, &a, v);
            let Some(child) = self.relax(level + 1, &next) else {
                break; // fewer of this column only leaves more uncovered
            };
            if used + v + child.bound() >= self.best {
                break;
            }
            self.x[level] = v;
            self.dfs(level + 1, next, used + v, &child);
            self.x[level] = 0;
            if self.stopped || self.best <= self.target || v == 0 {
                return;
            }
            v -= 1;
        }
    }
}

/// The fewest GPUs cut as `cols` that cover `d`, searching only for answers below `upper` (an answer
/// known to exist, such as first-fit-decreasing's). `None` when `stop` ended the search before any
/// answer below `upper` was found, or when no answer below `upper` exists (then `upper` is optimal).
/// Returns the search's proven lower bound either way through [`Solution::lower_bound`] when found.
pub(crate) fn min_gpus(
    cols: &[Column],
    d: &Counts,
    upper: u32,
    stop: &mut dyn FnMut() -> bool,
) -> (Option<Solution>, Bound) {
    let order = {
        let all: Vec<&[u32]> = cols.iter().map(|c| &c.counts[..]).collect();
        let Some(root) = lp::solve(&all, d) else {
            return (None, Bound::Infeasible);
        };
        // Columns the relaxation uses first: the first dive follows it.
        let mut order: Vec<usize> = (0..cols.len()).collect();
        order.sort_by(|&a, &b| root.x[b].total_cmp(&root.x[a]).then(a.cmp(&b)));
        order
    };
    let ordered: Vec<&Counts> = order.iter().map(|&i| &cols[i].counts).collect();
    let mut search = Search {
        x: vec![0; ordered.len()],
        cols: ordered,
        best: upper,
        best_x: None,
        target: 0,
        explored: 0,
        stop,
        stopped: false,
    };
    let Some(root) = search.relax(0, d) else {
        return (None, Bound::Infeasible);
    };
    search.target = root.bound();
    search.dfs(0, *d, 0, &root);
    // Exhausted without being stopped: nothing below `best` exists, so `best` is the optimum.
    let exhausted = !search.stopped;
    let lower = if exhausted { search.best } else { root.bound() };
    let explored = search.explored;
    let bound = Bound::Proven {
        lower,
        exhausted,
        explored,
    };
    let Some(xo) = search.best_x else {
        return (None, bound);
    };
    let mut x = vec![0; cols.len()];
    for (pos, &i) in order.iter().enumerate() {
        x[i] = xo[pos];
    }
    let gpus: u32 = x.iter().sum();
    (
        Some(Solution {
            x,
            lower_bound: lower,
            optimal: exhausted || gpus == root.bound(),
            explored,
        }),
        bound,
    )
}

/// What the search proved about the optimum.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Bound {
    /// No layouts cover the demand (a profile the model cannot hold).
    Infeasible,
    /// The optimum is at least `lower`; `exhausted` when the search finished.
    Proven {
        /// Lower bound.
        lower: u32,
        /// The search ran to the end (not stopped by the budget).
        exhausted: bool,
        /// Nodes explored.
        explored: u64,
    },
}

/// First-fit-decreasing: instances biggest first, each on the first GPU that can still hold it, a new GPU
/// when none can. Returns each GPU's counts. Used as the baseline and as the solver's first incumbent.
pub(crate) fn first_fit_decreasing(model: GpuModel, d: &Counts) -> Vec<Counts> {
    let feasible: HashSet<Counts> = combinations(model)
        .iter()
        .map(|c| kind_counts(&c.layout))
        .collect();
    let mut kinds: Vec<usize> = (0..K).collect();
    kinds.sort_by_key(|&k| {
        (
            std::cmp::Reverse(KINDS[k].memory_slices),
            std::cmp::Reverse(KINDS[k].compute_slices),
            k,
        )
    });
    let mut gpus: Vec<Counts> = Vec::new();
    for k in kinds {
        // GPUs before `first` cannot take kind k: they only gain instances while k is being placed.
        let mut first = 0;
        for _ in 0..d[k] {
            while first < gpus.len() {
                let mut more = gpus[first];
                more[k] += 1;
                if feasible.contains(&more) {
                    break;
                }
                first += 1;
            }
            if first == gpus.len() {
                gpus.push([0; K]);
            }
            gpus[first][k] += 1;
        }
    }
    gpus
}

#[cfg(test)]
mod tests {
    use super::*;

    fn demand(model: GpuModel, items: &[(&str, u32)]) -> Counts {
        let mut d = [0; K];
        for (name, n) in items {
            d[model.profile(name).expect("profile").kind as usize] += n;
        }
        d
    }

    #[test]
    fn columns_for_one_profile_are_its_uniform_layout() {
        let mut demanded = [false; K];
        demanded[model_kind("3g.40gb")] = true;
        let cols = columns(GpuModel::H100_80GB, &demanded);
        assert_eq!(cols.len(), 1);
        assert_eq!(cols[0].counts[model_kind("3g.40gb")], 2);
    }

    fn model_kind(name: &str) -> usize {
        GpuModel::H100_80GB.profile(name).expect("p").kind as usize
    }

    #[test]
    fn ffd_packs_the_balanced_mix_onto_one_gpu() {
        let d = demand(
            GpuModel::H100_80GB,
            &[("1g.10gb", 2), ("2g.20gb", 1), ("3g.40gb", 1)],
        );
        assert_eq!(first_fit_decreasing(GpuModel::H100_80GB, &d).len(), 1);
    }

    #[test]
    fn the_search_finds_the_relaxations_bound_when_it_exists() {
        let model = GpuModel::H100_80GB;
        let d = demand(model, &[("1g.10gb", 20), ("3g.40gb", 10), ("2g.20gb", 5)]);
        let mut demanded = [false; K];
        (0..K).for_each(|k| demanded[k] = d[k] > 0);
        let cols = columns(model, &demanded);
        let upper = first_fit_decreasing(model, &d).len() as u32 + 1;
        let (sol, _) = min_gpus(&cols, &d, upper, &mut || false);
        let sol = sol.expect("an answer");
        assert!(sol.optimal);
        assert_eq!(sol.x.iter().sum::<u32>(), sol.lower_bound);
        let mut covered = [0u32; K];
        for (c, &n) in cols.iter().zip(&sol.x) {
            (0..K).for_each(|k| covered[k] += c.counts[k] * n);
        }
        assert!((0..K).all(|k| covered[k] >= d[k]));
    }
}
