//! The linear relaxation of the layout-count covering problem, solved exactly enough for bounds.
//!
//! Primal: minimise Σ x_j subject to Σ_j a_jk x_j ≥ d_k for every profile k, x ≥ 0 (x_j: GPUs cut as
//! layout j). Its dual — maximise Σ d_k y_k subject to Σ_k a_jk y_k ≤ 1 for every layout j, y ≥ 0 — starts
//! feasible at y = 0 (every right-hand side is 1), so a one-phase tableau simplex with Bland's rule solves
//! it without an artificial basis and without cycling. The primal solution is read off the slack columns'
//! reduced costs. Sizes are tiny (at most 7 profiles and a few dozen layouts), so a dense tableau is the
//! fastest and simplest choice.

/// Numerical tolerance for pivots and reduced costs.
const EPS: f64 = 1e-9;

/// An optimal solution of the relaxation.
#[derive(Debug, Clone)]
pub(crate) struct Relaxed {
    /// The optimum: a lower bound on GPUs (round it up).
    pub value: f64,
    /// Primal value per layout row given, in the order given.
    pub x: Vec<f64>,
}

impl Relaxed {
    /// The smallest whole number of GPUs the relaxation allows.
    pub fn bound(&self) -> u32 {
        // A tolerance above EPS: the tableau accumulates rounding over pivots.
        let v = (self.value - 1e-6).ceil();
        if v <= 0.0 { 0 } else { v as u32 }
    }
}

/// Solves the relaxation for demand `d` (only its positive entries matter) over `layouts`, each a
/// count per profile in the same order as `d`. `None` when some demanded profile is in none of them.
pub(crate) fn solve(layouts: &[&[u32]], d: &[u32]) -> Option<Relaxed> {
    let n = layouts.len();
    // Dual variables only for demanded profiles.
    let ks: Vec<usize> = (0..d.len()).filter(|&k| d[k] > 0).collect();
    if ks.is_empty() {
        return Some(Relaxed {
            value: 0.0,
            x: vec![0.0; n],
        });
    }
    for &k in &ks {
        if layouts.iter().all(|a| a[k] == 0) {
            return None;
        }
    }
    let m = ks.len();
    let width = m + n + 1; // y columns, slack columns, right-hand side
    let mut t = vec![0.0f64; n * width];
    for (i, a) in layouts.iter().enumerate() {
        let row = &mut t[i * width..(i + 1) * width];
        for (c, &k) in ks.iter().enumerate() {
            row[c] = f64::from(a[k]);
        }
        row[m + i] = 1.0;
        row[width - 1] = 1.0;
    }
    // Objective row of the maximisation, as reduced costs: negative = improving.
    let mut z = vec![0.0f64; width];
    for (c, &k) in ks.iter().enumerate() {
        z[c] = -f64::from(d[k]);
    }
    let mut basis: Vec<usize> = (m..m + n).collect();
    // Bland's rule terminates; the cap only guards against floating-point surprises.
    for _ in 0..10_000 {
        let Some(enter) = (0..m + n).find(|&c| z[c] < -EPS) else {
            break;
        };
        let mut leave: Option<(usize, f64)> = None;
        for i in 0..n {
            let a = t[i * width + enter];
            if a > EPS {
                let ratio = t[i * width + width - 1] / a;
                let better = match leave {
                    None => true,
                    Some((l, r)) => {
                        ratio < r - EPS || ((ratio - r).abs() <= EPS && basis[i] < basis[l])
                    }
                };
                if better {
                    leave = Some((i, ratio));
                }
            }
        }
        // Bounded: every layout row has non-negative entries and the demanded columns appear in some row.
        let (r, _) = leave?;
        let piv = t[r * width + enter];
        for c in 0..width {
            t[r * width + c] /= piv;
        }
        for i in 0..n {
            if i != r {
                let f = t[i * width + enter];
                if f.abs() > 0.0 {
                    for c in 0..width {
                        t[i * width + c] -= f * t[r * width + c];
                    }
                }
            }
        }
        let f = z[enter];
        for c in 0..width {
            z[c] -= f * t[r * width + c];
        }
        basis[r] = enter;
    }
    Some(Relaxed {
        value: z[width - 1],
        x: (0..n).map(|i| z[m + i].max(0.0)).collect(),
    })
}

/// An optimal solution of a general relaxation ([`solve_general`]).
#[derive(Debug, Clone)]
pub(crate) struct General {
    /// The optimum of `Σ c_j x_j`.
    pub value: f64,
    /// Primal value per variable, in the order given.
    pub x: Vec<f64>,
}

/// Solves `minimise Σ c_j x_j subject to Σ_j a_ij x_j ≥ b_i for every row i, x ≥ 0`, where `columns[j]`
/// holds variable j's coefficient in every row (any sign) and every cost `c_j` is non-negative.
/// [`Outcome::Infeasible`] when no `x` satisfies the rows.
///
/// As [`solve`], through the dual — maximise `Σ b_i u_i` subject to `Σ_i a_ij u_i ≤ c_j`, `u ≥ 0` — which
/// `u = 0` satisfies because the costs are non-negative, so one phase suffices; an unbounded dual is an
/// infeasible primal. The entering column is the most improving one, falling back to Bland's rule (which
/// cannot cycle) after a run of pivots that did not improve the objective: the fleet planner's rows are
/// highly degenerate (most costs are 0).
///
/// `stop` is asked every 32 pivots; when it says yes the answer is [`Outcome::Unsolved`].
pub(crate) fn solve_general(
    columns: &[Vec<f64>],
    cost: &[f64],
    b: &[f64],
    stop: &mut dyn FnMut() -> bool,
) -> Outcome {
    let n = columns.len();
    let m = b.len();
    debug_assert!(columns.iter().all(|c| c.len() == m));
    debug_assert!(cost.len() == n && cost.iter().all(|&c| c >= 0.0));
    let width = m + n + 1;
    let mut t = vec![0.0f64; n * width];
    for (j, col) in columns.iter().enumerate() {
        let row = &mut t[j * width..(j + 1) * width];
        row[..m].copy_from_slice(col);
        row[m + j] = 1.0;
        row[width - 1] = cost[j];
    }
    let mut z = vec![0.0f64; width];
    for (i, &bi) in b.iter().enumerate() {
        z[i] = -bi;
    }
    let mut basis: Vec<usize> = (m..m + n).collect();
    let mut stalled = 0u32;
    for pivot in 0..50_000u32 {
        if pivot % 32 == 31 && stop() {
            return Outcome::Unsolved;
        }
        let enter = if stalled < 50 {
            (0..m + n)
                .filter(|&c| z[c] < -EPS)
                .min_by(|&a, &b| z[a].total_cmp(&z[b]))
        } else {
            (0..m + n).find(|&c| z[c] < -EPS)
        };
        let Some(enter) = enter else {
            return Outcome::Solved(General {
                value: z[width - 1],
                x: (0..n).map(|j| z[m + j].max(0.0)).collect(),
            });
        };
        let mut leave: Option<(usize, f64)> = None;
        for j in 0..n {
            let a = t[j * width + enter];
            if a > EPS {
                let ratio = t[j * width + width - 1] / a;
                let better = match leave {
                    None => true,
                    Some((l, r)) => {
                        ratio < r - EPS || ((ratio - r).abs() <= EPS && basis[j] < basis[l])
                    }
                };
                if better {
                    leave = Some((j, ratio));
                }
            }
        }
        // Unbounded dual: the primal rows cannot all hold.
        let Some((r, ratio)) = leave else {
            return Outcome::Infeasible;
        };
        stalled = if ratio > EPS { 0 } else { stalled + 1 };
        let piv = t[r * width + enter];
        for c in 0..width {
            t[r * width + c] /= piv;
        }
        for j in 0..n {
            if j != r {
                let f = t[j * width + enter];
                if f != 0.0 {
                    for c in 0..width {
                        t[j * width + c] -= f * t[r * width + c];
                    }
                }
            }
        }
        let f = z[enter];
        for c in 0..width {
            z[c] -= f * t[r * width + c];
        }
        basis[r] = enter;
    }
    // Not reached on the planner's sizes; the caller must not take this for a bound or for infeasible.
    Outcome::Unsolved
}

/// What [`solve_general`] found.
#[derive(Debug, Clone)]
pub(crate) enum Outcome {
    /// The optimum.
    Solved(General),
    /// No `x` satisfies the rows.
    Infeasible,
    /// Stopped, or the iteration cap was reached first (floating-point trouble): neither a bound nor a
    /// proof.
    Unsolved,
}

impl Outcome {
    /// The optimum, if found.
    pub(crate) fn solved(self) -> Option<General> {
        match self {
            Self::Solved(g) => Some(g),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_single_profile_needs_demand_over_per_gpu() {
        let seven = [7u32, 0];
        let r = solve(&[&seven], &[20, 0]).expect("feasible");
        assert!((r.value - 20.0 / 7.0).abs() < 1e-9, "{}", r.value);
        assert_eq!(r.bound(), 3);
        assert!((r.x[0] - 20.0 / 7.0).abs() < 1e-9);
    }

    #[test]
    fn mixes_use_the_layouts_that_cover_both() {
        // Layouts: (4 a), (2 a + 1 b), (2 b). Demand 4 a + 2 b: one of each of the first two would
        // leave 2 b short by 1; the relaxation takes x = (0.5, 1, 0.5)?  The optimum is 2 (2 × layout 2
        // gives 4 a + 2 b).
        let l1 = [4u32, 0];
        let l2 = [2u32, 1];
        let l3 = [0u32, 2];
        let r = solve(&[&l1, &l2, &l3], &[4, 2]).expect("feasible");
        assert!((r.value - 2.0).abs() < 1e-9, "{}", r.value);
        let covered_a: f64 = r.x[0] * 4.0 + r.x[1] * 2.0;
        let covered_b: f64 = r.x[1] + r.x[2] * 2.0;
        assert!(covered_a >= 4.0 - 1e-9 && covered_b >= 2.0 - 1e-9);
    }

    #[test]
    fn an_uncovered_profile_is_infeasible() {
        let l1 = [4u32, 0];
        assert!(solve(&[&l1], &[1, 1]).is_none());
        assert_eq!(solve(&[&l1], &[0, 0]).expect("nothing").bound(), 0);
    }
    #[test]
    fn the_general_form_solves_a_transfer_with_costs() {
        // Two machines, cost 3 (holds 2 units) and cost 5 (holds 4 units); 6 units wanted.
        // Variables: n1, n2, y1, y2. Rows: y1 + y2 >= 6; 2 n1 - y1 >= 0; 4 n2 - y2 >= 0.
        let cols = vec![
            vec![0.0, 2.0, 0.0],
            vec![0.0, 0.0, 4.0],
            vec![1.0, -1.0, 0.0],
            vec![1.0, 0.0, -1.0],
        ];
        let r = solve_general(&cols, &[3.0, 5.0, 0.0, 0.0], &[6.0, 0.0, 0.0], &mut || false).solved().expect("feasible");
        // Per unit: 1.5 vs 1.25, so all on the second: 1.5 × 5 = 7.5.
        assert!((r.value - 7.5).abs() < 1e-9, "{}", r.value);
        assert!((r.x[1] - 1.5).abs() < 1e-9 && r.x[0].abs() < 1e-9, "{:?}", r.x);
        // An upper bound row (-n2 >= -1) moves the rest to the first machine: 5 + 2 × 3 / 2... = 5 + 3.
        let mut cols2 = cols.clone();
        for (c, extra) in cols2.iter_mut().zip([0.0, -1.0, 0.0, 0.0]) {
            c.push(extra);
        }
        let r = solve_general(&cols2, &[3.0, 5.0, 0.0, 0.0], &[6.0, 0.0, 0.0, -1.0], &mut || false)
            .solved()
            .expect("feasible");
        assert!((r.value - 8.0).abs() < 1e-9, "{}", r.value);
    }

    #[test]
    fn the_general_form_says_when_rows_cannot_hold() {
        // x >= 2 and -x >= -1.
        assert!(matches!(
            solve_general(&[vec![1.0, -1.0]], &[1.0], &[2.0, -1.0], &mut || false),
            Outcome::Infeasible
        ));
    }
}
