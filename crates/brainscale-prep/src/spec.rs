//! What `brainscale prepare` does for a registry entry: its `[NAME.prepare]` table, typed.
//!
//! ```toml
//! [lpp-en.prepare]
//! language = "en"
//! tr = 2.0                                   # seconds (checked against the NIfTI headers)
//! runs = 9
//! derivatives = "derivatives"                # under the entry's download folder
//! subject_prefix = "sub-EN"                  # subject folders: derivatives/sub-EN*
//! bold = "{subject}/func/{subject}_task-lppEN_run-{run}_space-MNIColin27_desc-preproc_bold.nii.gz"
//! annotation = "annotation/EN/lppEN_word_information.csv"
//! text = "text/text_english_run{run}.txt"    # optional: the punctuated text of run {run} (1..9)
//! corrections = "builtin:lpp-en"             # or a TOML file, relative to the registry file
//! keep_subjects = ["sub-EN057"]              # also prepared as datasets NAME/sub-EN057
//! subject_mask = "own"                       # a kept subject's mask: "own" (its runs) or "group"
//! subject_smoothing_fwhm = 4.0               # mm, a kept subject's smoothing (0: none)
//! interpolation = "continuous"               # or "linear"
//! mask_threshold = 0.5
//! high_pass = 0.0078125                      # Hz (1/128)
//! trim = [10, 10]                            # dataset.toml trim_start, trim_end
//! [lpp-en.prepare.grid]                      # the target grid (default: the paper's)
//! shape = [37, 46, 38]
//! voxel_size = 4.0
//! origin = [-72.0, -106.0, -64.0]
//! [lpp-en.prepare.reliability]
//! splits = 10
//! seed = 1234
//! alphas = [2.0, 7.0, 16.0]                  # logspace(2, 7, 16)
//! ```
//!
//! Every field but `language`, `bold`, `subject_prefix` and `annotation` has the paper's value
//! as its default. Unknown fields are errors (a typo must not silently fall back to a default).

use std::path::{Path, PathBuf};

use brainscale_core::ridge::logspace;
use brainscale_data::{Affine, Grid};
use serde::Deserialize;

use crate::error::{PrepError, Result};

/// The paper's target grid: 37 x 46 x 38 voxels of 4 mm, origin (-72, -106, -64).
pub const LPP_SHAPE: [usize; 3] = [37, 46, 38];
/// Voxel size of the paper's target grid (mm).
pub const LPP_VOXEL_SIZE: f64 = 4.0;
/// Origin (world coordinates of voxel (0, 0, 0)) of the paper's target grid (mm).
pub const LPP_ORIGIN: [f64; 3] = [-72.0, -106.0, -64.0];

pub use crate::resample::Interpolation;

/// Which mask a subject kept as a dataset of its own gets.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum SubjectMask {
    /// Its own: `compute_multi_epi_mask` over the subject's runs, intersected with its mirror
    /// (the paper's `fit_individual_subject.py`).
    #[default]
    Own,
    /// The group mask of the average subject.
    Group,
}

impl SubjectMask {
    /// The name in `datasets.toml` and on the command line (`own`, `group`).
    pub fn name(self) -> &'static str {
        match self {
            SubjectMask::Own => "own",
            SubjectMask::Group => "group",
        }
    }

    /// Parses [`SubjectMask::name`].
    pub fn from_name(name: &str) -> Option<SubjectMask> {
        match name {
            "own" => Some(SubjectMask::Own),
            "group" => Some(SubjectMask::Group),
            _ => None,
        }
    }
}

/// The paper's smoothing of a single subject's runs (`NiftiMasker(smoothing_fwhm=4)`), mm.
pub const PAPER_SUBJECT_SMOOTHING_FWHM: f64 = 4.0;

/// The split-half reliability settings.
#[derive(Clone, Debug, PartialEq)]
pub struct ReliabilitySpec {
    /// Number of random halvings of the subjects (the paper's 10).
    pub splits: usize,
    /// Seed of the halvings (numpy's legacy `np.random.seed`, as the paper's 1234).
    pub seed: u32,
    /// The ridge alpha grid.
    pub alphas: Vec<f64>,
    /// The `(lo, hi, n)` of `logspace(lo, hi, n)` that made `alphas`.
    pub alphas_spec: (f64, f64, usize),
}

/// A BOLD file-name pattern with `{subject}` and `{run}` placeholders, relative to the
/// derivatives folder.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BoldPattern {
    /// The pattern as written.
    pub pattern: String,
}

impl BoldPattern {
    /// The folder of a subject's runs (the pattern's directory part with the subject filled in)
    /// and the file-name prefix and suffix around `{run}`.
    pub fn split(&self, subject: &str) -> (PathBuf, String, String) {
        let filled = self.pattern.replace("{subject}", subject);
        let (dir, file) = match filled.rfind('/') {
            Some(i) => (&filled[..i], &filled[i + 1..]),
            None => ("", filled.as_str()),
        };
        let (prefix, suffix) = file.split_once("{run}").unwrap_or((file, ""));
        (PathBuf::from(dir), prefix.to_string(), suffix.to_string())
    }
}

/// The typed `[NAME.prepare]` table of a registry entry.
#[derive(Clone, Debug, PartialEq)]
pub struct PrepareSpec {
    /// Stimulus language (`dataset.toml`'s `language`).
    pub language: String,
    /// Repetition time in seconds.
    pub tr: f64,
    /// Runs per subject.
    pub runs: usize,
    /// The derivatives folder, relative to the entry's download folder.
    pub derivatives: PathBuf,
    /// Subject folders start with this (e.g. `sub-EN`).
    pub subject_prefix: String,
    /// The BOLD file pattern.
    pub bold: BoldPattern,
    /// The word table (CSV with word, onset, offset, section), relative to the download folder.
    pub annotation: PathBuf,
    /// The punctuated run texts, relative to the download folder, `{run}` = 1, 2, ...
    pub text: Option<String>,
    /// The corrections file: `builtin:NAME` or a path (relative to the registry file's folder).
    pub corrections: Option<String>,
    /// Subjects also prepared as datasets of their own (`NAME/sub-XX`).
    pub keep_subjects: Vec<String>,
    /// The mask of a kept subject's dataset.
    pub subject_mask: SubjectMask,
    /// The Gaussian smoothing (FWHM, mm) of a kept subject's runs; 0: none.
    pub subject_smoothing_fwhm: f64,
    /// Resampling interpolation.
    pub interpolation: Interpolation,
    /// The multi-subject mask threshold (fraction of images).
    pub mask_threshold: f64,
    /// High-pass cutoff in Hz.
    pub high_pass: f64,
    /// `dataset.toml`'s `trim_start` and `trim_end` (also the reliability fit's trims).
    pub trim: (usize, usize),
    /// The target grid.
    pub grid: Grid,
    /// The split-half reliability.
    pub reliability: ReliabilitySpec,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawSpec {
    language: String,
    #[serde(default = "default_tr")]
    tr: f64,
    #[serde(default = "default_runs")]
    runs: usize,
    #[serde(default = "default_derivatives")]
    derivatives: String,
    subject_prefix: String,
    bold: String,
    annotation: String,
    text: Option<String>,
    corrections: Option<String>,
    #[serde(default)]
    keep_subjects: Vec<String>,
    #[serde(default = "default_subject_mask")]
    subject_mask: String,
    #[serde(default = "default_subject_smoothing_fwhm")]
    subject_smoothing_fwhm: f64,
    #[serde(default = "default_interpolation")]
    interpolation: String,
    #[serde(default = "default_threshold")]
    mask_threshold: f64,
    #[serde(default = "default_high_pass")]
    high_pass: f64,
    #[serde(default = "default_trim")]
    trim: [usize; 2],
    grid: Option<RawGrid>,
    reliability: Option<RawReliability>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawGrid {
    shape: [usize; 3],
    voxel_size: f64,
    origin: [f64; 3],
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawReliability {
    #[serde(default = "default_splits")]
    splits: usize,
    #[serde(default = "default_seed")]
    seed: u32,
    #[serde(default = "default_alphas")]
    alphas: [f64; 3],
}

fn default_tr() -> f64 {
    2.0
}
fn default_runs() -> usize {
    9
}
fn default_derivatives() -> String {
    "derivatives".into()
}
fn default_interpolation() -> String {
    "continuous".into()
}
fn default_subject_mask() -> String {
    SubjectMask::default().name().into()
}
fn default_subject_smoothing_fwhm() -> f64 {
    PAPER_SUBJECT_SMOOTHING_FWHM
}
fn default_threshold() -> f64 {
    0.5
}
fn default_high_pass() -> f64 {
    1.0 / 128.0
}
fn default_trim() -> [usize; 2] {
    [10, 10]
}
fn default_splits() -> usize {
    10
}
fn default_seed() -> u32 {
    1234
}
fn default_alphas() -> [f64; 3] {
    [2.0, 7.0, 16.0]
}

/// The affine of a grid of cubic voxels aligned with the world axes.
pub fn grid_affine(voxel_size: f64, origin: [f64; 3]) -> Affine {
    [
        [voxel_size, 0.0, 0.0, origin[0]],
        [0.0, voxel_size, 0.0, origin[1]],
        [0.0, 0.0, voxel_size, origin[2]],
        [0.0, 0.0, 0.0, 1.0],
    ]
}

/// The paper's target grid (37 x 46 x 38, 4 mm, origin (-72, -106, -64)).
pub fn lpp_grid() -> Grid {
    Grid { dims: LPP_SHAPE, affine: grid_affine(LPP_VOXEL_SIZE, LPP_ORIGIN) }
}

impl PrepareSpec {
    /// Parses the `prepare` table of registry entry `entry` read from `registry` (used in
    /// error messages only).
    pub fn from_table(table: &toml::Table, registry: &Path, entry: &str) -> Result<PrepareSpec> {
        let bad = |field: &str, reason: String| PrepError::Spec {
            registry: registry.to_path_buf(),
            entry: entry.to_string(),
            field: field.to_string(),
            reason,
        };
        let raw: RawSpec = toml::Value::Table(table.clone()).try_into().map_err(|e: toml::de::Error| {
            let message = e.message().trim().to_string();
            // serde names the unknown or missing field in the message; keep it whole.
            bad("(table)", message)
        })?;
        if raw.language.trim().is_empty() {
            return Err(bad("language", "expected a language code such as \"en\"".into()));
        }
        if !(raw.tr.is_finite() && raw.tr > 0.0) {
            return Err(bad("tr", format!("expected the repetition time in seconds (> 0), found {}", raw.tr)));
        }
        if raw.runs < brainscale_data::dataset::MIN_RUNS {
            return Err(bad(
                "runs",
                format!("expected at least {} runs (cross-validation over runs), found {}", 3, raw.runs),
            ));
        }
        if raw.subject_prefix.is_empty() || raw.subject_prefix.contains('/') {
            return Err(bad(
                "subject_prefix",
                format!("expected a folder-name prefix such as \"sub-EN\", found {:?}", raw.subject_prefix),
            ));
        }
        let placeholders = |s: &str, p: &str| s.matches(p).count();
        let file_part = raw.bold.rsplit('/').next().unwrap_or("");
        if placeholders(&raw.bold, "{run}") != 1 || placeholders(file_part, "{run}") != 1 {
            return Err(bad(
                "bold",
                format!("expected exactly one {{run}} placeholder, in the file name, found {:?}", raw.bold),
            ));
        }
        if !raw.bold.contains("{subject}") {
            return Err(bad("bold", format!("expected a {{subject}} placeholder, found {:?}", raw.bold)));
        }
        if let Some(text) = &raw.text
            && placeholders(text, "{run}") != 1
        {
            return Err(bad("text", format!("expected exactly one {{run}} placeholder, found {text:?}")));
        }
        let interpolation =
            Interpolation::from_name(&raw.interpolation).filter(|i| *i != Interpolation::Nearest).ok_or_else(|| {
                bad("interpolation", format!("expected \"continuous\" or \"linear\", found {:?}", raw.interpolation))
            })?;
        if !(raw.mask_threshold > 0.0 && raw.mask_threshold <= 1.0) {
            return Err(bad("mask_threshold", format!("expected a fraction in (0, 1], found {}", raw.mask_threshold)));
        }
        if !(raw.high_pass.is_finite() && raw.high_pass > 0.0 && raw.high_pass < 0.5 / raw.tr) {
            return Err(bad(
                "high_pass",
                format!(
                    "expected a cutoff in Hz between 0 and the Nyquist frequency {}, found {}",
                    0.5 / raw.tr,
                    raw.high_pass
                ),
            ));
        }
        let grid = match raw.grid {
            None => lpp_grid(),
            Some(g) => {
                if g.shape.iter().any(|&d| d == 0 || d > i16::MAX as usize) {
                    return Err(bad("grid.shape", format!("expected three sizes in 1..=32767, found {:?}", g.shape)));
                }
                if !(g.voxel_size.is_finite() && g.voxel_size > 0.0) {
                    return Err(bad("grid.voxel_size", format!("expected millimetres > 0, found {}", g.voxel_size)));
                }
                if g.origin.iter().any(|o| !o.is_finite()) {
                    return Err(bad("grid.origin", format!("expected finite millimetres, found {:?}", g.origin)));
                }
                Grid { dims: g.shape, affine: grid_affine(g.voxel_size, g.origin) }
            }
        };
        let rel = raw.reliability.unwrap_or(RawReliability {
            splits: default_splits(),
            seed: default_seed(),
            alphas: default_alphas(),
        });
        let [lo, hi, n] = rel.alphas;
        if !(lo.is_finite() && hi.is_finite() && hi >= lo && n >= 1.0 && n.fract() == 0.0 && n <= 1000.0) {
            return Err(bad(
                "reliability.alphas",
                format!(
                    "expected [LO, HI, N] for logspace(LO, HI, N) with HI >= LO and N a count >= 1, found {:?}",
                    rel.alphas
                ),
            ));
        }
        if rel.splits == 0 {
            return Err(bad("reliability.splits", "expected at least 1 split".into()));
        }
        for s in &raw.keep_subjects {
            if !s.starts_with(&raw.subject_prefix) {
                return Err(bad(
                    "keep_subjects",
                    format!("{s:?} does not start with the subject prefix {:?}", raw.subject_prefix),
                ));
            }
        }
        let subject_mask = SubjectMask::from_name(&raw.subject_mask).ok_or_else(|| {
            bad("subject_mask", format!("expected \"own\" or \"group\", found {:?}", raw.subject_mask))
        })?;
        if !(raw.subject_smoothing_fwhm.is_finite() && raw.subject_smoothing_fwhm >= 0.0) {
            return Err(bad(
                "subject_smoothing_fwhm",
                format!("expected millimetres >= 0 (0: no smoothing), found {}", raw.subject_smoothing_fwhm),
            ));
        }
        Ok(PrepareSpec {
            language: raw.language,
            tr: raw.tr,
            runs: raw.runs,
            derivatives: PathBuf::from(raw.derivatives),
            subject_prefix: raw.subject_prefix,
            bold: BoldPattern { pattern: raw.bold },
            annotation: PathBuf::from(raw.annotation),
            text: raw.text,
            corrections: raw.corrections,
            keep_subjects: raw.keep_subjects,
            subject_mask,
            subject_smoothing_fwhm: raw.subject_smoothing_fwhm,
            interpolation,
            mask_threshold: raw.mask_threshold,
            high_pass: raw.high_pass,
            trim: (raw.trim[0], raw.trim[1]),
            grid,
            reliability: ReliabilitySpec {
                splits: rel.splits,
                seed: rel.seed,
                alphas: logspace(lo, hi, n as usize),
                alphas_spec: (lo, hi, n as usize),
            },
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<PrepareSpec> {
        let table: toml::Table = toml::from_str(text).unwrap();
        PrepareSpec::from_table(&table, Path::new("datasets.toml"), "lpp-en")
    }

    const MINIMAL: &str = r#"
        language = "en"
        subject_prefix = "sub-EN"
        bold = "{subject}/func/{subject}_task-lppEN_run-{run}_bold.nii.gz"
        annotation = "annotation/EN/lppEN_word_information.csv"
    "#;

    #[test]
    fn defaults_are_the_papers() {
        let s = parse(MINIMAL).unwrap();
        assert_eq!(s.tr, 2.0);
        assert_eq!(s.runs, 9);
        assert_eq!(s.grid, lpp_grid());
        assert_eq!(s.grid.world([0, 0, 0]), [-72.0, -106.0, -64.0]);
        assert_eq!(s.interpolation, Interpolation::Continuous);
        assert_eq!(s.mask_threshold, 0.5);
        assert_eq!(s.high_pass, 1.0 / 128.0);
        assert_eq!(s.trim, (10, 10));
        assert_eq!((s.subject_mask, s.subject_smoothing_fwhm), (SubjectMask::Own, 4.0));
        assert_eq!(s.reliability.splits, 10);
        assert_eq!(s.reliability.seed, 1234);
        assert_eq!(s.reliability.alphas.len(), 16);
        assert!((s.reliability.alphas[0] - 100.0).abs() < 1e-9);
        let (dir, prefix, suffix) = s.bold.split("sub-EN057");
        assert_eq!(dir, PathBuf::from("sub-EN057/func"));
        assert_eq!(prefix, "sub-EN057_task-lppEN_run-");
        assert_eq!(suffix, "_bold.nii.gz");
    }

    #[test]
    fn errors_name_the_registry_entry_and_field() {
        let e = parse(&format!("{MINIMAL}\ninterpolation = \"cubic\"\n")).unwrap_err();
        let msg = e.to_string();
        assert!(msg.starts_with("datasets.toml [lpp-en.prepare] interpolation:"), "{msg}");
        let e = parse(&format!("{MINIMAL}\ntypo_field = 3\n")).unwrap_err();
        assert!(e.to_string().contains("typo_field"), "{e}");
        let e = parse("language = \"en\"\n").unwrap_err();
        assert!(e.to_string().contains("subject_prefix"), "{e}");
        let e = parse(&MINIMAL.replace("{run}", "X")).unwrap_err();
        assert!(e.to_string().contains("bold"), "{e}");
        let e = parse(&format!("{MINIMAL}\nhigh_pass = 0.3\n")).unwrap_err();
        assert!(e.to_string().contains("high_pass"), "{e}");
        let e = parse(&format!("{MINIMAL}\n[grid]\nshape = [0, 2, 2]\nvoxel_size = 4.0\norigin = [0.0, 0.0, 0.0]\n"))
            .unwrap_err();
        assert!(e.to_string().contains("grid.shape"), "{e}");
        let e = parse(&format!("{MINIMAL}\nkeep_subjects = [\"sub-FR001\"]\n")).unwrap_err();
        assert!(e.to_string().contains("keep_subjects"), "{e}");
        let e = parse(&format!("{MINIMAL}\nsubject_mask = \"mine\"\n")).unwrap_err();
        assert!(e.to_string().contains("subject_mask") && e.to_string().contains("\"group\""), "{e}");
        let e = parse(&format!("{MINIMAL}\nsubject_smoothing_fwhm = -4.0\n")).unwrap_err();
        assert!(e.to_string().contains("subject_smoothing_fwhm"), "{e}");
        let s = parse(&format!("{MINIMAL}\nsubject_mask = \"group\"\nsubject_smoothing_fwhm = 0.0\n")).unwrap();
        assert_eq!((s.subject_mask, s.subject_smoothing_fwhm), (SubjectMask::Group, 0.0));
    }
}

#[cfg(test)]
mod registry_tests {
    use super::*;

    /// The repository's registry: every `prepare` table parses, with the paper's settings.
    #[test]
    fn the_registry_prepare_tables_parse() {
        let registry: toml::Table = toml::from_str(include_str!("../../../datasets.toml")).unwrap();
        let (mut n, mut published) = (0, 0);
        for (name, entry) in &registry {
            let Some(prepare) = entry.get("prepare").and_then(|p| p.as_table()) else { continue };
            if prepare.get("kind").and_then(|k| k.as_str()) == Some("published") {
                let spec =
                    crate::published::PublishedSpec::from_table(prepare, Path::new("datasets.toml"), name).unwrap();
                assert_eq!((spec.words.runs, spec.tr, spec.trim), (9, 2.0, (10, 10)), "{name}");
                if let Some(c) = &spec.words.corrections {
                    crate::annotation::Corrections::load(c, None).unwrap();
                }
                published += 1;
                continue;
            }
            let spec = PrepareSpec::from_table(prepare, Path::new("datasets.toml"), name).unwrap();
            assert_eq!((spec.runs, spec.tr, spec.grid.clone()), (9, 2.0, lpp_grid()), "{name}");
            if let Some(c) = &spec.corrections {
                crate::annotation::Corrections::load(c, None).unwrap();
            }
            n += 1;
        }
        assert_eq!(n, 3, "lpp-en, lpp-fr and lpp-cn can be prepared");
        assert_eq!(published, 3, "lpp-en-paper, lpp-fr-paper and lpp-cn-paper are assembled");
        let en = registry["lpp-en"]["prepare"].as_table().unwrap();
        let en = PrepareSpec::from_table(en, Path::new("datasets.toml"), "lpp-en").unwrap();
        assert_eq!(en.keep_subjects, ["sub-EN057", "sub-EN058", "sub-EN059", "sub-EN061", "sub-EN062"]);
        let (dir, prefix, suffix) = en.bold.split("sub-EN057");
        assert_eq!(dir, PathBuf::from("sub-EN057/func"));
        assert_eq!(
            format!("{prefix}15{suffix}"),
            "sub-EN057_task-lppEN_run-15_space-MNIColin27_desc-preproc_bold.nii.gz"
        );
    }
}
