//! Split-half reliability (the paper's inter-subject correlation, "ISC").
//!
//! For each of `splits` random halvings of the subjects, half A's average runs are the
//! regressors that predict half B's average runs with the encoding core's ridge and the paper's
//! cross-validation over runs (SPEC 5: leave one run out, the first remaining run validates one
//! alpha for all voxels); a voxel's reliability is its test r averaged over the runs, then over
//! the splits. As in the paper (`compute_average_subject_fmri.py`): each subject's cleaned runs
//! are averaged over a half, the averages are trimmed (`[10:-10]`) and not z-scored again; half
//! A is the first `n // 2` subjects of a numpy-legacy `np.random.shuffle(np.arange(n))` after
//! `np.random.seed(seed)` (one fresh shuffle per split), half B the rest. With the subjects in
//! the paper's order (sorted folder names), the halvings are the paper's.
//!
//! The regressors have as many columns as there are voxels (25,870 for English), so the ridge
//! runs in its dual form (`Form::Dual`): one n x n kernel (n = trimmed scans of all runs,
//! about 2,500), never a voxels x voxels matrix.
//!
//! Streaming: while the runs are read subject by subject, [`HalfSums`] holds one run's sums
//! (all subjects, and half A of each split) and writes them, trimmed, to a scratch folder
//! ([`HalfStore`]); [`fit`] then reads one split at a time.

use std::io::{Read, Write};
use std::path::{Path, PathBuf};

use brainscale_core::Cpu;
use brainscale_core::ridge::{CvMode, Form, RidgeCv, RidgeCvParams, RunData};
use faer::{Mat, MatRef};
use rand_mt::Mt;

use crate::error::{PrepError, Result};

/// The paper's halvings: for each split, whether each subject is in half A (the regressors).
///
/// numpy's legacy generator (`np.random.seed(seed)`: MT19937 seeded by `init_genrand`), and
/// its `shuffle` of a fresh `arange(n)` per split (Fisher-Yates from the end, each index drawn
/// by masked rejection sampling of 32-bit outputs); half A = the first `n // 2`.
pub fn split_halves(n_subjects: usize, splits: usize, seed: u32) -> Vec<Vec<bool>> {
    let mut mt = Mt::new(seed);
    (0..splits)
        .map(|_| {
            let mut order: Vec<usize> = (0..n_subjects).collect();
            for i in (1..n_subjects).rev() {
                let j = random_interval(&mut mt, i as u32) as usize;
                order.swap(i, j);
            }
            let mut in_a = vec![false; n_subjects];
            for &s in &order[..n_subjects / 2] {
                in_a[s] = true;
            }
            in_a
        })
        .collect()
}

/// numpy's `random_interval(max)` for max < 2^32: a uniform integer in [0, max].
fn random_interval(mt: &mut Mt, max: u32) -> u32 {
    if max == 0 {
        return 0;
    }
    let mut mask = max;
    for shift in [1, 2, 4, 8, 16] {
        mask |= mask >> shift;
    }
    loop {
        let v = mt.next_u32() & mask;
        if v <= max {
            return v;
        }
    }
}

/// One run's sums while its subjects stream in: all subjects (f64, for the average subject)
/// and half A of each split (f32).
#[derive(Debug)]
pub struct HalfSums {
    /// Sum over every subject so far (n_scans x n_voxels).
    pub total: Mat<f64>,
    /// Sum over the subjects of half A, per split.
    pub halves: Vec<Mat<f32>>,
    /// Subjects added.
    pub n_added: usize,
}

impl HalfSums {
    /// Zero sums for a run of `n_scans` x `n_voxels` and `splits` halvings.
    pub fn new(n_scans: usize, n_voxels: usize, splits: usize) -> Self {
        Self {
            total: Mat::zeros(n_scans, n_voxels),
            halves: (0..splits).map(|_| Mat::zeros(n_scans, n_voxels)).collect(),
            n_added: 0,
        }
    }

    /// Adds one subject's cleaned run (n_scans x n_voxels); `in_a[k]`: whether the subject is
    /// in half A of split k.
    pub fn add(&mut self, run: MatRef<'_, f32>, in_a: &[bool]) {
        for j in 0..run.ncols() {
            let (src, dst) = (run.col(j), self.total.col_mut(j));
            for (d, s) in dst.iter_mut().zip(src.iter()) {
                *d += *s as f64;
            }
        }
        for (half, _) in self.halves.iter_mut().zip(in_a).filter(|(_, a)| **a) {
            *half += run;
        }
        self.n_added += 1;
    }
}

/// The average runs of one half (one matrix per run, trimmed scans x voxels).
pub type HalfRuns = Vec<Mat<f32>>;

/// Scratch files of the trimmed sums: `total-run-XX.f32` and `half-KK-run-XX.f32` (raw
/// little-endian f32, column-major), in a folder that the caller removes.
#[derive(Clone, Debug)]
pub struct HalfStore {
    dir: PathBuf,
    n_voxels: usize,
    /// Trimmed scans per run.
    rows: Vec<usize>,
}

impl HalfStore {
    /// A store in `dir` (created) for runs of `n_voxels` columns.
    pub fn new(dir: &Path, n_voxels: usize) -> Result<Self> {
        std::fs::create_dir_all(dir).map_err(|e| PrepError::write(dir, e))?;
        Ok(Self { dir: dir.to_path_buf(), n_voxels, rows: Vec::new() })
    }

    fn path(&self, what: &str, run: usize) -> PathBuf {
        self.dir.join(format!("{what}-run-{:02}.f32", run + 1))
    }

    /// Writes run `run` (0-based, in order) of `sums`, keeping scans `trim.0 .. n - trim.1`.
    pub fn write_run(&mut self, run: usize, sums: &HalfSums, trim: (usize, usize)) -> Result<()> {
        let n = sums.total.nrows();
        let keep = trim.0..n.saturating_sub(trim.1);
        let total = Mat::<f32>::from_fn(keep.len(), self.n_voxels, |i, j| sums.total[(keep.start + i, j)] as f32);
        write_mat(&self.path("total", run), total.as_ref())?;
        for (k, half) in sums.halves.iter().enumerate() {
            write_mat(&self.path(&format!("half-{:02}", k + 1), run), half.subrows(keep.start, keep.len()))?;
        }
        if self.rows.len() != run {
            return Err(PrepError::Output {
                path: self.dir.clone(),
                reason: format!("internal: run {} written out of order", run + 1),
            });
        }
        self.rows.push(keep.len());
        Ok(())
    }

    /// Half A's and half B's average runs of split `k` (0-based): `(x, y)`.
    pub fn split(&self, k: usize, n_a: usize, n_b: usize) -> Result<(HalfRuns, HalfRuns)> {
        let mut xs = Vec::with_capacity(self.rows.len());
        let mut ys = Vec::with_capacity(self.rows.len());
        for (run, &rows) in self.rows.iter().enumerate() {
            let total = read_mat(&self.path("total", run), rows, self.n_voxels)?;
            let mut a = read_mat(&self.path(&format!("half-{:02}", k + 1), run), rows, self.n_voxels)?;
            let mut b = total;
            for j in 0..self.n_voxels {
                for i in 0..rows {
                    let (sa, st) = (a[(i, j)], b[(i, j)]);
                    a[(i, j)] = sa / n_a as f32;
                    b[(i, j)] = (st - sa) / n_b as f32;
                }
            }
            xs.push(a);
            ys.push(b);
        }
        Ok((xs, ys))
    }
}

fn write_mat(path: &Path, m: MatRef<'_, f32>) -> Result<()> {
    let file = std::fs::File::create(path).map_err(|e| PrepError::write(path, e))?;
    let mut w = std::io::BufWriter::with_capacity(1 << 20, file);
    for j in 0..m.ncols() {
        for &v in m.col(j).iter() {
            w.write_all(&v.to_le_bytes()).map_err(|e| PrepError::write(path, e))?;
        }
    }
    w.flush().map_err(|e| PrepError::write(path, e))
}

fn read_mat(path: &Path, rows: usize, cols: usize) -> Result<Mat<f32>> {
    let file = std::fs::File::open(path).map_err(|e| PrepError::read(path, e))?;
    let mut r = std::io::BufReader::with_capacity(1 << 20, file);
    let mut m = Mat::<f32>::zeros(rows, cols);
    let mut buf = vec![0u8; rows * 4];
    for j in 0..cols {
        r.read_exact(&mut buf).map_err(|e| PrepError::read(path, e))?;
        for (i, b) in buf.chunks_exact(4).enumerate() {
            m[(i, j)] = f32::from_le_bytes([b[0], b[1], b[2], b[3]]);
        }
    }
    Ok(m)
}

/// What [`fit`] computed.
#[derive(Clone, Debug)]
pub struct Reliability {
    /// Per voxel, r averaged over the splits.
    pub mean: Vec<f32>,
    /// Per split, per voxel r.
    pub splits: Vec<Vec<f32>>,
    /// Per split, the alpha chosen in each fold.
    pub alphas: Vec<Vec<f64>>,
}

/// The split-half reliability from the stored sums: for each split, half A predicts half B
/// (dual ridge, paper cross-validation). `progress(k)` is called after split k (1-based).
pub fn fit(
    store: &HalfStore,
    halves: &[Vec<bool>],
    alphas: &[f64],
    voxel_batch: usize,
    progress: &mut dyn FnMut(usize),
) -> Result<Reliability> {
    let n_voxels = store.n_voxels;
    let mut out = Reliability { mean: vec![0.0; n_voxels], splits: Vec::new(), alphas: Vec::new() };
    let ridge =
        RidgeCv::new(RidgeCvParams { alphas: alphas.to_vec(), mode: CvMode::Paper, form: Form::Dual, voxel_batch })
            .map_err(PrepError::core("reliability"))?;
    for (k, in_a) in halves.iter().enumerate() {
        let n_a = in_a.iter().filter(|a| **a).count();
        let n_b = in_a.len() - n_a;
        if n_a == 0 || n_b == 0 {
            return Err(PrepError::Subjects {
                reason: format!("split-half reliability needs at least 2 subjects, got {}", in_a.len()),
            });
        }
        let (xs, ys) = store.split(k, n_a, n_b)?;
        let data = RunData::new(xs.iter().map(|m| m.as_ref()).collect(), ys.iter().map(|m| m.as_ref()).collect())
            .map_err(PrepError::core(format!("reliability, split {}", k + 1)))?;
        let fit = ridge.fit(&Cpu, &data).map_err(PrepError::core(format!("reliability, split {}", k + 1)))?;
        for (m, r) in out.mean.iter_mut().zip(&fit.r) {
            *m += r / halves.len() as f32;
        }
        out.alphas.push(
            fit.folds
                .iter()
                .map(|f| match &f.alpha {
                    brainscale_core::ridge::FoldAlpha::Global(a) => *a,
                    brainscale_core::ridge::FoldAlpha::PerVoxel(_) => f64::NAN,
                })
                .collect(),
        );
        out.splits.push(fit.r);
        progress(k + 1);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// numpy 1.26.4, `np.random.seed(1234)`, then 3 times `idx = np.arange(7);
    /// np.random.shuffle(idx)`: see fixtures/numpy_splits.py (its output is
    /// fixtures/numpy_splits.json).
    #[test]
    fn halvings_are_numpys() {
        let fixture: serde_json::Value = serde_json::from_str(include_str!("../fixtures/numpy_splits.json")).unwrap();
        for case in fixture["cases"].as_array().unwrap() {
            let n = case["n"].as_u64().unwrap() as usize;
            let seed = case["seed"].as_u64().unwrap() as u32;
            let shuffles = case["shuffles"].as_array().unwrap();
            let halves = split_halves(n, shuffles.len(), seed);
            for (k, shuffle) in shuffles.iter().enumerate() {
                let order: Vec<usize> =
                    shuffle.as_array().unwrap().iter().map(|v| v.as_u64().unwrap() as usize).collect();
                let expected: Vec<bool> = (0..n).map(|s| order[..n / 2].contains(&s)).collect();
                assert_eq!(halves[k], expected, "n {n}, seed {seed}, split {k}");
            }
        }
    }

    #[test]
    fn sums_store_and_split_averages() {
        let dir = tempfile::tempdir().unwrap();
        let (n_scans, n_vox) = (8, 3);
        let halves = [vec![true, false, true], vec![false, true, false]];
        let subject =
            |s: usize, r: usize| Mat::<f32>::from_fn(n_scans, n_vox, |i, j| (s * 100 + r * 10 + i + j) as f32);
        let mut store = HalfStore::new(dir.path(), n_vox).unwrap();
        for r in 0..3 {
            let mut sums = HalfSums::new(n_scans, n_vox, 2);
            for s in 0..3 {
                let in_a: Vec<bool> = halves.iter().map(|h| h[s]).collect();
                sums.add(subject(s, r).as_ref(), &in_a);
            }
            store.write_run(r, &sums, (2, 1)).unwrap();
        }
        let (x, y) = store.split(0, 2, 1).unwrap();
        assert_eq!(x.len(), 3);
        assert_eq!(x[1].nrows(), 5);
        // split 0: A = subjects 0 and 2, B = subject 1; scan 0 of the stored rows is scan 2.
        assert_eq!(x[1][(0, 1)], ((10 + 2 + 1) + (200 + 10 + 2 + 1)) as f32 / 2.0);
        assert_eq!(y[1][(0, 1)], (100 + 10 + 2 + 1) as f32);
    }

    #[test]
    fn shared_signal_is_reliable_and_noise_is_not() {
        // 6 subjects, 4 runs of 40 scans, 20 voxels: the first 10 share a signal.
        let dir = tempfile::tempdir().unwrap();
        let (n_subjects, n_runs, n_scans, n_vox) = (6, 4, 40, 20);
        let halves = split_halves(n_subjects, 3, 1234);
        let mut store = HalfStore::new(dir.path(), n_vox).unwrap();
        use rand::SeedableRng;
        use rand_distr::Distribution;
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(3);
        let normal = rand_distr::Normal::new(0.0f64, 1.0).unwrap();
        for r in 0..n_runs {
            let mut sums = HalfSums::new(n_scans, n_vox, halves.len());
            for s in 0..n_subjects {
                let run = Mat::<f32>::from_fn(n_scans, n_vox, |i, j| {
                    let shared = ((i + 3 * r) as f64 * 0.4 + j as f64).sin();
                    let e = normal.sample(&mut rng);
                    (if j < 10 { shared + 0.5 * e } else { e }) as f32
                });
                let in_a: Vec<bool> = halves.iter().map(|h| h[s]).collect();
                sums.add(run.as_ref(), &in_a);
            }
            store.write_run(r, &sums, (2, 2)).unwrap();
        }
        let rel = fit(&store, &halves, &brainscale_core::ridge::logspace(-2.0, 3.0, 6), 7, &mut |_| {}).unwrap();
        let mean = |v: &[f32]| v.iter().sum::<f32>() / v.len() as f32;
        assert!(mean(&rel.mean[..10]) > 0.5, "{:?}", rel.mean);
        assert!(mean(&rel.mean[10..]).abs() < 0.3, "{:?}", rel.mean);
        assert_eq!(rel.splits.len(), 3);
        assert_eq!(rel.alphas[0].len(), n_runs);
    }
}
