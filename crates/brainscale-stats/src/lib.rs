//! # brainscale-stats: the study's statistics
//!
//! Pure numerics (no I/O, no DataFrames) for the analyses of Bonnasse-Gahot & Pallier
//! (NeurIPS 2024) and beyond: every function takes slices, one value per model (or per model
//! and voxel), and returns plain structs. Inputs are checked: fewer observations than a
//! statistic needs, a constant regressor, NaN or infinite values and mismatched lengths are a
//! [`StatsError`] naming the input, never a panic or a silent NaN.
//!
//! ## Quickstart
//!
//! ```
//! use brainscale_stats::{ols, pearson, lateralization_test, PermutationParams};
//! let log_params = [18.6, 19.7, 20.5, 21.2, 22.1, 23.3];           // ln(parameter count)
//! let left = [0.100, 0.109, 0.113, 0.120, 0.124, 0.133];           // brain score, left
//! let right = [0.099, 0.104, 0.107, 0.110, 0.113, 0.117];          // brain score, right
//! let fit = ols(&log_params, &left, 0.95)?;                          // slope, CI, t, p, r
//! let lr = lateralization_test(&log_params, &left, &right, &PermutationParams::default())?;
//! println!("slope {:.4} [{:.4}, {:.4}], L-R slope p = {:.4}", fit.slope.value, fit.slope.ci.lo, fit.slope.ci.hi, lr.p);
//! # Ok::<(), brainscale_stats::StatsError>(())
//! ```
//!
//! ## A short tour
//!
//! | function | what | checked against |
//! | --- | --- | --- |
//! | [`ols`] | regression line: slope, intercept, SEs, t, p, level CIs, r, r², [`Ols::line_ci`] | `scipy.stats.linregress`, statsmodels `OLS` |
//! | [`ols_multiple`] | OLS with intercept on named predictors: coefficients, SEs, t, p, CIs, R², adjusted R², F and its p (the paper's scores ~ log params + n_layers + n_hidden) | statsmodels `OLS` |
//! | [`pearson`] | r, two-sided p, Fisher-z CI | `scipy.stats.pearsonr` |
//! | [`ttest_one_sample`], [`ttest_paired`], [`ttest_two_sample`] | t, df, p, CI of the mean difference; pooled or Welch ([`Variance`]) | `scipy.stats.ttest_1samp`, `ttest_rel`, `ttest_ind` |
//! | [`slopes_voxelwise`] | slope, t, p of every voxel's scores on x across models (figure 6) | [`ols`] per voxel |
//! | [`fdr_bh`] | Benjamini-Hochberg adjusted p-values for voxel maps | statsmodels `multipletests` |
//! | [`bootstrap`], [`bootstrap_line`] | seeded percentile bootstrap over models; the band around a scaling-law line | properties |
//! | [`slope_difference`] | per-ROI L vs R: slopes of L and R on x and the paired test of their difference | [`ols`] |
//! | [`lateralization_test`], [`slope_permutation_test`] | permutation test of "L − R grows with log(parameters)" | properties |
//! | [`dist`] | two-sided t p-values, t quantiles, F upper tails | scipy |
//!
//! Confidence levels are explicit arguments (`0.95` for the paper's 95% intervals). Every
//! p-value is two-sided.
//!
//! ## Resampling: which units, and why
//!
//! In this study the **independent units are the models**. A model's score map has ~26,000
//! voxels, but voxels are not independent observations: fMRI is spatially smooth (the data
//! were smoothed and resampled to 4 mm), neighbouring voxels share noise, and every voxel of a
//! model's map comes from the same features and the same fitted alpha. Resampling voxels
//! would treat thousands of correlated values as independent and produce intervals and
//! p-values that are far too small. So [`bootstrap`], [`bootstrap_line`] and the permutation
//! tests resample **models** (rows of the per-model table), and voxel maps enter only through
//! per-model summaries (mean r over reliable voxels, over a hemisphere, over an ROI).
//!
//! [`lateralization_test`] tests "the L − R difference grows with log(parameters)". The
//! statistic is the OLS slope of d = L − R on x = ln(parameters) across models. Under H0
//! (d does not depend on x) the d values are **exchangeable** across models: any reassignment
//! of the observed d values to the models' sizes is as likely as the observed one. The test
//! permutes d among models, recomputes the slope, and reports
//! p = (1 + #{|slope*| ≥ |slope|}) / (1 + n_resamples), two-sided; the `+ 1` counts the observed
//! assignment, so p is never 0 and the test is valid (its type-I error is at most the nominal
//! level) for any number of resamples. Unlike the t-test of the slope it needs neither normal
//! nor equal-variance residuals.
//!
//! Exchangeability across *all* models is doubtful: models of one family share training data,
//! tokenizer and architecture, so their d values may be alike for reasons other than size,
//! and families differ in their size ranges (Mamba is small, Qwen and OPT go to 13-14B). A
//! family effect can then masquerade as a size effect. [`Exchangeability::WithinGroups`]
//! (e.g. `Exchangeability::within(&families)`) permutes d only among models of the same
//! family: differences between families are kept in every permutation, so they cannot drive
//! the result, and the test asks whether d grows with size *within* families. It assumes
//! exchangeability only within a family. A family with one model (Mistral-7B) contributes to
//! the statistic but is never permuted; with few models per family the number of distinct
//! permutations ([`PermutationTest::n_permutations`]) is limited, and so is the smallest
//! reachable p.
//!
//! Models are still not a random sample of all possible models; the tests speak about this
//! set of models. The bootstrap ([`bootstrap_line`]) resamples models with replacement, which
//! assumes models are independent draws; its percentile intervals are a description of the
//! uncertainty of the line, not a test.
//!
//! For one ROI and its mirror image, [`slope_difference`] gives the paired comparison of the
//! left and right slopes: the slope of (L − R) on x equals slope_L − slope_R exactly, and its
//! t-test (n − 2 df) accounts for the pairing (the same models on both sides).
//!
//! ## Dependencies
//!
//! [`statrs`] 0.18 (default features off: only `approx` and `num-traits` come
//! with it, no `nalgebra` or `rand`; 0.19 would need Rust 1.89) for the regularised incomplete beta function and the t
//! and normal quantiles; `rand` + `rand_chacha` (ChaCha8, stable across platforms and
//! versions) for the seeded resampling.

#![warn(missing_docs)]
#![cfg_attr(not(test), deny(clippy::unwrap_used, clippy::expect_used))]
// `!(x > 0.0)` is deliberate throughout: it is also true for NaN, which must be rejected.
#![allow(clippy::neg_cmp_op_on_partial_ord)]

mod corr;
pub mod dist;
mod error;
mod linear;
mod resample;
mod ttest;
mod voxelwise;

pub use corr::{Correlation, fdr_bh, pearson};
pub use error::{Result, StatsError};
pub use linear::{Estimate, Interval, MultipleOls, Ols, ols, ols_multiple};
pub use resample::{
    Bootstrap, BootstrapLine, BootstrapParams, Exchangeability, PermutationParams, PermutationTest, SlopeDifference,
    bootstrap, bootstrap_line, lateralization_test, slope_difference, slope_permutation_test,
};
pub use ttest::{TTest, Variance, ttest_one_sample, ttest_paired, ttest_two_sample};
pub use voxelwise::{VoxelSlopes, slopes_voxelwise};
