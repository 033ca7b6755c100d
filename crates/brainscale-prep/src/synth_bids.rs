//! A synthetic OpenNeuro-like BIDS dataset, laid out as ds003643 is, for tests and demos of
//! `brainscale prepare`.
//!
//! ```text
//! ROOT/
//!   dataset_description.json
//!   derivatives/sub-XX001/func/sub-XX001_task-lppXX_run-01_space-MNIColin27_desc-preproc_bold.nii.gz
//!   derivatives/sub-XX002/func/sub-XX002_task-lppXX_run-15_...   (run numbers need not start at 1)
//!   annotation/XX/lppXX_word_information.csv                    (,section,word,lemma,onset,offset)
//!   text/text_run1.txt ...                                      (the punctuated run texts)
//! ```
//!
//! Each subject's BOLD is an ellipsoidal "brain" (intensity ~780 with a voxelwise texture,
//! background ~0 as in skull-stripped derivatives, brain size
//! varying a little across subjects) on a source grid whose affine differs from the target grid
//! (3 mm voxels, x axis flipped, shifted origin), with a linear drift and a slow oscillation per
//! subject and voxel (what detrending and the high-pass remove), subject noise everywhere in the
//! brain, and a signal shared by all subjects (one smooth time series per run) in the voxels
//! in front of world y = `signal_y` (reliable), none behind it (unreliable).
//! [`spec_toml`] gives the matching `[NAME.prepare]` table.

use std::fmt::Write as _;
use std::path::Path;

use brainscale_data::nifti_io::{header_for_grid, write_f32};
use brainscale_data::{Affine, Grid};
use flate2::Compression;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rand_distr::{Distribution, Normal};

use crate::error::{PrepError, Result};

/// What to generate.
#[derive(Clone, Debug, PartialEq)]
pub struct SynthBids {
    /// Subject-label letters (`XX` gives `sub-XX001`, task `lppXX`).
    pub code: String,
    /// Number of subjects.
    pub n_subjects: usize,
    /// Runs per subject.
    pub n_runs: usize,
    /// Scans of run r (0-based) = `n_scans + 2 r` (runs differ in length, as in the corpus),
    /// unless `run_scans` gives them.
    pub n_scans: usize,
    /// Scans of each run, when given (e.g. the English corpus' 282, 298, ...): replaces the
    /// `n_scans + 2 r` rule.
    pub run_scans: Option<Vec<usize>>,
    /// Repetition time (seconds).
    pub tr: f64,
    /// The source grid (the BOLD files' own).
    pub source: Grid,
    /// The target grid the spec of [`spec_toml`] asks for (centred on x = 0).
    pub target: Grid,
    /// Radii (mm) of the ellipsoidal brain (x, y, z), centred at (0, -4, 0).
    pub brain_radii: [f64; 3],
    /// Signal voxels: world y above this (mm).
    pub signal_y: f64,
    /// Amplitude of the shared signal (BOLD units; the subject noise has sd `noise`).
    pub signal: f64,
    /// Standard deviation of the subject noise.
    pub noise: f64,
    /// Seed.
    pub seed: u64,
}

impl SynthBids {
    /// A small dataset for tests: `n_subjects` subjects, `n_runs` runs of about 40 scans on a
    /// 23 x 24 x 21 grid of 3 mm with a flipped x axis.
    pub fn small(n_subjects: usize, n_runs: usize, seed: u64) -> Self {
        let affine: Affine =
            [[-3.0, 0.0, 0.0, 33.0], [0.0, 3.0, 0.0, -39.0], [0.0, 0.0, 3.0, -30.0], [0.0, 0.0, 0.0, 1.0]];
        SynthBids {
            code: "XX".into(),
            n_subjects,
            n_runs,
            n_scans: 40,
            run_scans: None,
            tr: 2.0,
            source: Grid { dims: [23, 24, 21], affine },
            target: Self::target_grid(),
            brain_radii: [22.0, 26.0, 19.0],
            signal_y: 0.0,
            signal: 12.0,
            noise: 10.0,
            seed,
        }
    }

    /// A dataset of the corpus' size per run: 73 x 90 x 74 source voxels of 2.5 mm (as the
    /// ds003643 derivatives), the paper's 37 x 46 x 38 target grid, a brain-sized ellipsoid.
    pub fn lpp_size(n_subjects: usize, n_runs: usize, n_scans: usize, seed: u64) -> Self {
        let affine: Affine =
            [[2.5, 0.0, 0.0, -90.0], [0.0, 2.5, 0.0, -126.0], [0.0, 0.0, 2.5, -72.0], [0.0, 0.0, 0.0, 1.0]];
        SynthBids {
            n_scans,
            source: Grid { dims: [73, 90, 74], affine },
            target: crate::spec::lpp_grid(),
            brain_radii: [68.0, 88.0, 62.0],
            ..Self::small(n_subjects, n_runs, seed)
        }
    }

    /// The target grid of [`SynthBids::small`]: 15 x 16 x 13 voxels of 4 mm, origin
    /// (-28, -34, -24): centred on x = 0 (the mask is symmetrised) and inside the source field
    /// of view.
    pub fn target_grid() -> Grid {
        Grid { dims: [15, 16, 13], affine: crate::spec::grid_affine(4.0, [-28.0, -34.0, -24.0]) }
    }

    /// Subject labels, sorted (`sub-XX001`, ...).
    pub fn subjects(&self) -> Vec<String> {
        (1..=self.n_subjects).map(|s| format!("sub-{}{s:03}", self.code)).collect()
    }

    /// The run numbers in subject `s`'s file names: 1.. for most, 15.. for the second subject
    /// (as EN057's sections are runs 15-23 in ds003643).
    pub fn run_labels(&self, s: usize) -> Vec<u32> {
        let first = if s == 1 { 15 } else { 1 };
        (0..self.n_runs as u32).map(|r| first + r).collect()
    }

    /// Scans of run `r` (0-based).
    pub fn scans(&self, r: usize) -> usize {
        match &self.run_scans {
            Some(scans) => scans.get(r).copied().unwrap_or(self.n_scans),
            None => self.n_scans + 2 * r,
        }
    }

    /// The BOLD file of subject `s` (0-based), run `r` (0-based), relative to the root.
    pub fn bold_path(&self, s: usize, r: usize) -> String {
        let sub = &self.subjects()[s];
        format!(
            "derivatives/{sub}/func/{sub}_task-lpp{}_run-{:02}_space-MNIColin27_desc-preproc_bold.nii.gz",
            self.code,
            self.run_labels(s)[r]
        )
    }

    /// The word table, relative to the root.
    pub fn annotation_path(&self) -> String {
        format!("annotation/{0}/lpp{0}_word_information.csv", self.code)
    }
}

/// The `[NAME.prepare]` table matching [`SynthBids`], as TOML: with `table` (e.g.
/// `"synth.prepare"`) the table headers are written (`[synth.prepare]`,
/// `[synth.prepare.grid]`, ...), without it the body parses as the table itself.
pub fn spec_toml(p: &SynthBids, table: Option<&str>) -> String {
    let g = &p.target;
    let voxel_size = g.affine[0][0];
    let header = |sub: &str| match (table, sub) {
        (Some(t), "") => format!("[{t}]\n"),
        (Some(t), s) => format!("[{t}.{s}]\n"),
        (None, "") => String::new(),
        (None, s) => format!("[{s}]\n"),
    };
    format!(
        "{}language = \"xx\"\ntr = {}\nruns = {}\nsubject_prefix = \"sub-{code}\"\n\
         bold = \"{{subject}}/func/{{subject}}_task-lpp{code}_run-{{run}}_space-MNIColin27_desc-preproc_bold.nii.gz\"\n\
         annotation = \"{}\"\ntext = \"text/text_run{{run}}.txt\"\n\
         {}shape = [{}, {}, {}]\nvoxel_size = {voxel_size:.3}\norigin = [{:.3}, {:.3}, {:.3}]\n\
         {}splits = 4\nseed = 1234\nalphas = [-1.0, 4.0, 6.0]\n",
        header(""),
        p.tr,
        p.n_runs,
        p.annotation_path(),
        header("grid"),
        g.dims[0],
        g.dims[1],
        g.dims[2],
        g.affine[0][3],
        g.affine[1][3],
        g.affine[2][3],
        header("reliability"),
        code = p.code,
    )
}

const VOCABULARY: [&str; 24] = [
    "the",
    "little",
    "prince",
    "said",
    "drawing",
    "boa",
    "constrictor",
    "elephant",
    "sheep",
    "planet",
    "rose",
    "fox",
    "king",
    "lamplighter",
    "desert",
    "pilot",
    "star",
    "asteroid",
    "geographer",
    "businessman",
    "baobab",
    "volcano",
    "sunset",
    "well",
];

/// Writes the dataset under `root` (created).
pub fn write(root: &Path, p: &SynthBids) -> Result<()> {
    let mkdir = |d: &Path| std::fs::create_dir_all(d).map_err(|e| PrepError::write(d, e));
    mkdir(root)?;
    let put = |rel: &str, text: &str| -> Result<()> {
        let path = root.join(rel);
        if let Some(parent) = path.parent() {
            mkdir(parent)?;
        }
        brainscale_data::write_bytes_atomic(&path, text.as_bytes()).map_err(PrepError::from)
    };
    put(
        "dataset_description.json",
        "{\"Name\": \"brainscale synthetic LPP-like dataset\", \"BIDSVersion\": \"1.6.0\", \"DatasetType\": \"raw\"}\n",
    )?;
    let mut rng = ChaCha8Rng::seed_from_u64(p.seed);
    // One shared signal per run: a sum of slow sinusoids (periods 8-40 s), unit variance.
    let shared: Vec<Vec<f64>> = (0..p.n_runs)
        .map(|r| {
            let comps: Vec<(f64, f64)> =
                (0..6).map(|_| (rng.random_range(8.0..40.0), rng.random_range(0.0..std::f64::consts::TAU))).collect();
            let s: Vec<f64> = (0..p.scans(r))
                .map(|t| {
                    comps
                        .iter()
                        .map(|(period, phase)| (std::f64::consts::TAU * t as f64 * p.tr / period + phase).sin())
                        .sum()
                })
                .collect();
            let sd = (s.iter().map(|v| v * v).sum::<f64>() / s.len() as f64).sqrt().max(1e-9);
            s.into_iter().map(|v| v / sd).collect()
        })
        .collect();
    let [nx, ny, nz] = p.source.dims;
    let header = header_for_grid(&p.source, 4);
    let normal = Normal::new(0.0, 1.0).map_err(|e| PrepError::Output { path: root.into(), reason: e.to_string() })?;
    for s in 0..p.n_subjects {
        let [rx, ry, rz] = p.brain_radii;
        let radii =
            [rx + rng.random_range(-1.5..1.5), ry + rng.random_range(-1.5..1.5), rz + rng.random_range(-1.0..1.0)];
        // Per voxel: inside the brain, baseline, drift slope, slow-oscillation amplitude, signal weight.
        let mut cells = Vec::with_capacity(nx * ny * nz);
        for k in 0..nz {
            for j in 0..ny {
                for i in 0..nx {
                    let [x, y, z] = p.source.world([i, j, k]);
                    let d = (x / radii[0]).powi(2) + ((y + 4.0) / radii[1]).powi(2) + (z / radii[2]).powi(2);
                    let inside = d <= 1.0;
                    // Tissue texture (fixed per subject and voxel), as the EPI mask's histogram expects.
                    let base = if inside { 780.0 - 40.0 * d + rng.random_range(-60.0..60.0) } else { 0.0 };
                    let weight = if inside && y > p.signal_y { p.signal } else { 0.0 };
                    cells.push((inside, base, rng.random_range(-0.2..0.2), rng.random_range(0.0..8.0), weight));
                }
            }
        }
        for (r, shared_r) in shared.iter().enumerate() {
            let n_scans = p.scans(r);
            let phase = rng.random_range(0.0..std::f64::consts::TAU);
            let path = root.join(p.bold_path(s, r));
            if let Some(parent) = path.parent() {
                mkdir(parent)?;
            }
            let mut noise_rng = ChaCha8Rng::seed_from_u64(p.seed ^ ((s as u64) << 32) ^ ((r as u64) << 16) ^ 0x5eed);
            write_f32(&path, &header, &[nx, ny, nz, n_scans], Some(p.tr), Compression::fast(), |t, volume| {
                let slow = (std::f64::consts::TAU * t as f64 * p.tr / 300.0 + phase).sin();
                for (v, &(inside, base, slope, osc, weight)) in volume.iter_mut().zip(&cells) {
                    let e: f64 = normal.sample(&mut noise_rng);
                    *v = if inside {
                        (base + slope * t as f64 + osc * slow + weight * shared_r[t] + p.noise * e) as f32
                    } else {
                        (base + 2.0 * e) as f32
                    };
                }
                Ok(())
            })?;
        }
    }
    // Words: one every ~0.5 s from 1 s to 4 s before the end of the run.
    let mut csv = String::from(",section,word,lemma,onset,offset\n");
    let mut row = 0;
    for r in 0..p.n_runs {
        let end = p.scans(r) as f64 * p.tr - 4.0;
        let mut onset = 1.0;
        let mut text = String::new();
        let mut first_of_sentence = true;
        while onset < end {
            let word = VOCABULARY[rng.random_range(0..VOCABULARY.len())];
            let offset = onset + rng.random_range(0.2..0.4);
            writeln!(csv, "{row},{},{word},{word},{onset:.3},{offset:.3}", r + 1).map_err(fmt_err)?;
            row += 1;
            if first_of_sentence {
                let mut c = word.chars();
                text.extend(c.next().map(|f| f.to_ascii_uppercase()));
                text.push_str(c.as_str());
            } else {
                text.push_str(word);
            }
            first_of_sentence = rng.random_range(0..8) == 0;
            text.push_str(if first_of_sentence {
                ". "
            } else if rng.random_range(0..6) == 0 {
                ", "
            } else {
                " "
            });
            onset = offset + rng.random_range(0.05..0.3);
        }
        put(&format!("text/text_run{}.txt", r + 1), text.trim_end())?;
    }
    put(&p.annotation_path(), &csv)
}

fn fmt_err(e: std::fmt::Error) -> PrepError {
    PrepError::Output { path: "word table".into(), reason: e.to_string() }
}

#[cfg(test)]
mod tests {
    use super::*;
    use brainscale_data::nifti_io::read_info;

    #[test]
    fn writes_an_openneuro_like_layout() {
        let dir = tempfile::tempdir().unwrap();
        let p = SynthBids { n_scans: 12, ..SynthBids::small(2, 3, 7) };
        write(dir.path(), &p).unwrap();
        let info = read_info(&dir.path().join(p.bold_path(1, 2))).unwrap();
        assert_eq!(info.dims, vec![23, 24, 21, 16]);
        assert_eq!(info.grid.affine[0][0], -3.0);
        assert!(p.bold_path(1, 0).contains("sub-XX002_task-lppXX_run-15_"));
        let csv = std::fs::read_to_string(dir.path().join(p.annotation_path())).unwrap();
        assert!(csv.starts_with(",section,word,lemma,onset,offset\n0,1,"), "{csv}");
        assert!(dir.path().join("text/text_run3.txt").is_file());
        let table: toml::Table = toml::from_str(&spec_toml(&p, None)).unwrap();
        let spec = crate::spec::PrepareSpec::from_table(&table, Path::new("t.toml"), "x").unwrap();
        assert_eq!(spec.grid, SynthBids::target_grid());
        let subjects = crate::bids::discover(dir.path(), &spec, "x").unwrap();
        assert_eq!(subjects.len(), 2);
        assert_eq!(subjects[1].runs[0].label, 15);
    }
}
