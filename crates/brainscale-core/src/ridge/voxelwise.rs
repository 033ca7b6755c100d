//! The `voxelwise` cross-validation: one alpha per voxel by inner leave-one-run-out over the
//! training runs of each outer fold (himalaya's `RidgeCV` with a run-wise splitter and
//! correlation scoring). One pass over the voxel batches per outer fold.
//!
//! The inner fold (t, u) trains on the runs but t and u, as the inner fold (u, t) does: the 9
//! outer and 72 inner fits of 9 runs need 9 + 36 = 45 spectra, not 81. Each is computed once
//! (several at once) and dropped after its last use.

use super::cv::{FoldAlpha, FoldResult, RidgeCvFit, Solver, Spectra, argmax_first};
use crate::backend::Backend;
use crate::error::{CoreError, Result};

impl<B: Backend> Solver<'_, '_, B> {
    pub(super) fn voxelwise(&self, progress: &mut dyn FnMut(usize, usize)) -> Result<RidgeCvFit> {
        let (n_runs, n_vox) = (self.n_runs(), self.data.n_voxels());
        let alphas = &self.params.alphas;
        let k = alphas.len();
        let mut r_folds = vec![vec![0.0f32; n_vox]; n_runs];
        let mut folds_out = Vec::with_capacity(n_runs);
        let mut n_edge = 0usize;
        let mut spectra = Spectra::new();
        let mut total_steps = 0;
        for (t, r_fold) in r_folds.iter_mut().enumerate() {
            let train: Vec<usize> = (0..n_runs).filter(|&r| r != t).collect();
            let rests: Vec<Vec<usize>> =
                train.iter().map(|&u| train.iter().copied().filter(|&r| r != u).collect()).collect();
            let mut sets = rests.clone();
            sets.push(train.clone());
            self.add_spectra(&mut spectra, &sets)?;
            let spectrum = |set: &Vec<usize>| {
                spectra.get(set).cloned().ok_or_else(|| CoreError::Backend {
                    backend: "solver".into(),
                    message: "internal error: spectrum missing".into(),
                })
            };
            let inner: Vec<(usize, B::Matrix)> = train
                .iter()
                .zip(&rests)
                .map(|(&u, rest)| Ok((u, self.predictor(rest, u, alphas, Some(spectrum(rest)?.as_ref()))?)))
                .collect::<Result<_>>()?;
            let test_pred = self.predictor(&train, t, alphas, Some(spectrum(&train)?.as_ref()))?;
            // The training set of the outer fold and those shared with earlier folds are done.
            spectra.retain(|set, _| {
                let missing: Vec<usize> = (0..n_runs).filter(|r| !set.contains(r)).collect();
                !(missing == [t] || (missing.len() == 2 && missing.iter().all(|&m| m <= t)))
            });
            let batches = self.batches(self.per_voxel_bytes(self.max_alpha_rows()))?;
            if t == 0 {
                total_steps = n_runs * batches.len();
            }
            let mut best_alpha = vec![0.0f64; n_vox];
            for (step, &(start, len)) in batches.iter().enumerate() {
                let batch = self.batch(start, len)?;
                let mut scores = vec![0.0f64; k * len];
                for (u, pred_u) in &inner {
                    let pred = self.predict(&batch, pred_u, &[t, *u])?;
                    let r = self.backend.column_pearson_blocks(&pred, &batch.y[*u])?;
                    for (s, v) in scores.iter_mut().zip(r) {
                        *s += v;
                    }
                }
                let pred = self.predict(&batch, &test_pred, &[t])?;
                let r_test = self.backend.column_pearson_blocks(&pred, &batch.y[t])?;
                for j in 0..len {
                    let col: Vec<f64> = (0..k).map(|a| scores[a * len + j] / inner.len() as f64).collect();
                    let a = argmax_first(&col);
                    if k > 1 && (a == 0 || a == k - 1) {
                        n_edge += 1;
                    }
                    best_alpha[start + j] = alphas[a];
                    r_fold[start + j] = r_test[a * len + j] as f32;
                }
                progress((t * batches.len() + step + 1).min(total_steps), total_steps);
            }
            folds_out.push(FoldResult {
                test_run: t,
                validation_run: None,
                alpha: FoldAlpha::PerVoxel(best_alpha),
                val_scores: None,
            });
        }
        let mut warnings = Vec::new();
        if n_edge > 0 {
            warnings.push(format!(
                "{:.1}% of the voxel-fold alphas are on the edge of the grid [{:.4e}, {:.4e}]; consider widening --alphas",
                100.0 * n_edge as f64 / (n_vox * n_runs) as f64,
                alphas[0],
                alphas[k - 1]
            ));
        }
        Ok(self.finish(r_folds, folds_out, warnings))
    }
}
