//! Column names of every table the toolkit writes, defined once.

/// Layer index (0 = embedding output).
pub const LAYER: &str = "layer";
/// Voxel index in mask order (SPEC 1).
pub const VOXEL: &str = "voxel";
/// Voxel grid index along x.
pub const I: &str = "i";
/// Voxel grid index along y.
pub const J: &str = "j";
/// Voxel grid index along z.
pub const K: &str = "k";
/// World x (mm).
pub const X: &str = "x";
/// World y (mm).
pub const Y: &str = "y";
/// World z (mm).
pub const Z: &str = "z";
/// Hemisphere by the paper's rule (first / second half of the mask order): `L` or `R`.
pub const HEMI_PAPER: &str = "hemi_paper";
/// Hemisphere by world x: `L` (x < 0), `R` (x > 0) or `M` (x = 0).
pub const HEMI_WORLD: &str = "hemi_world";
/// The dataset's reliability value (e.g. inter-subject correlation).
pub const RELIABILITY: &str = "reliability";
/// Whether the voxel is among the 25% most reliable.
pub const RELIABLE: &str = "reliable";
/// Cross-validated Pearson r (mean over test runs).
pub const R: &str = "r";

/// Number of voxels.
pub const N_VOXELS: &str = "n_voxels";
/// Mean r over all voxels.
pub const MEAN_R: &str = "mean_r";
/// Mean r over the 25% most reliable voxels.
pub const MEAN_R_RELIABLE: &str = "mean_r_reliable";
/// Number of reliable voxels.
pub const N_RELIABLE: &str = "n_reliable";
/// Mean r, left hemisphere, paper rule.
pub const MEAN_R_LEFT_PAPER: &str = "mean_r_left_paper";
/// Mean r, right hemisphere, paper rule.
pub const MEAN_R_RIGHT_PAPER: &str = "mean_r_right_paper";
/// Left minus right, paper rule.
pub const LR_PAPER: &str = "lr_diff_paper";
/// Mean r, left hemisphere, world rule.
pub const MEAN_R_LEFT_WORLD: &str = "mean_r_left_world";
/// Mean r, right hemisphere, world rule.
pub const MEAN_R_RIGHT_WORLD: &str = "mean_r_right_world";
/// Left minus right, world rule.
pub const LR_WORLD: &str = "lr_diff_world";
/// Left minus right over reliable voxels, paper rule.
pub const LR_RELIABLE_PAPER: &str = "lr_diff_reliable_paper";
/// Chosen alpha per fold (paper mode) or the median per-voxel alpha per fold (voxelwise), `;`-separated.
pub const ALPHAS: &str = "alphas";
/// Number of folds whose alpha sits on the edge of the grid.
pub const N_EDGE_ALPHAS: &str = "n_edge_alphas";

// The study tables (`brainscale analyze`, `brainscale::study`).

/// Model name (hub id or folder name).
pub const MODEL: &str = "model";
/// Model family.
pub const FAMILY: &str = "family";
/// Parameter count (null for baselines).
pub const N_PARAMS: &str = "n_params";
/// log10 of the parameter count.
pub const LOG10_PARAMS: &str = "log10_params";
/// Layer count (hidden states, embeddings included).
pub const N_LAYERS: &str = "n_layers";
/// Largest hidden dimension.
pub const HIDDEN: &str = "hidden";
/// The layer with the highest mean r over reliable voxels.
pub const BEST_LAYER: &str = "best_layer";
/// Relative depth of a layer: layer / (n_layers − 1).
pub const REL_DEPTH: &str = "rel_depth";
/// The paper's brain score: mean over reliable voxels of each voxel's best-layer r.
pub const BRAIN_SCORE: &str = "brain_score";
/// Mean over all voxels of each voxel's best-layer r.
pub const BRAIN_SCORE_ALL: &str = "brain_score_all";
/// Left mean over reliable voxels (paper rule).
pub const LEFT_RELIABLE: &str = "left_reliable";
/// Right mean over reliable voxels (paper rule).
pub const RIGHT_RELIABLE: &str = "right_reliable";
/// Left − right over reliable voxels (paper rule).
pub const LR_RELIABLE: &str = "lr_reliable";
/// Left mean over all voxels (paper rule).
pub const LEFT_PAPER: &str = "left_paper";
/// Right mean over all voxels (paper rule).
pub const RIGHT_PAPER: &str = "right_paper";
/// Left − right over all voxels (paper rule).
pub const LR_PAPER_ALL: &str = "lr_paper";
/// Left mean over all voxels (world rule, x < 0).
pub const LEFT_WORLD: &str = "left_world";
/// Right mean over all voxels (world rule, x > 0).
pub const RIGHT_WORLD: &str = "right_world";
/// Left − right over all voxels (world rule).
pub const LR_WORLD_ALL: &str = "lr_world";
/// Mean of r / ISC over reliable voxels.
pub const ISC_NORMALISED: &str = "isc_normalised";
/// 90th percentile of r.
pub const P90: &str = "p90";
/// 90th percentile of r, left hemisphere (paper rule).
pub const P90_LEFT: &str = "p90_left";
/// 90th percentile of r, right hemisphere (paper rule).
pub const P90_RIGHT: &str = "p90_right";
/// Best-layer r of a voxel.
pub const BEST_R: &str = "best_r";
/// Best-layer r minus the baseline's best-layer r.
pub const R_MINUS_BASELINE: &str = "r_minus_baseline";
/// ROI name.
pub const ROI: &str = "roi";
/// Hemisphere (`L`, `R`).
pub const HEMISPHERE: &str = "hemisphere";
/// Number of voxels in the ROI.
pub const N_ROI_VOXELS: &str = "n_roi_voxels";
/// Wikitext-2 perplexity (from models.toml; null when unknown).
pub const PERPLEXITY: &str = "wikitext2_perplexity";
/// HellaSwag accuracy (from models.toml; null when unknown).
pub const HELLASWAG: &str = "hellaswag";
