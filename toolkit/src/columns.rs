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
