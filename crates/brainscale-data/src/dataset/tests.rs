//! Each bad input of layout v1 gives its own error, naming the file (and line).

use std::path::Path;

use faer::Mat;
use flate2::Compression;

use super::*;
use crate::nifti_io::Affine;

const AFFINE: Affine = [[4.0, 0.0, 0.0, -10.0], [0.0, 4.0, 0.0, -8.0], [0.0, 0.0, 4.0, -6.0], [0.0, 0.0, 0.0, 1.0]];
const N_SCANS: usize = 30;

fn small_mask() -> Mask {
    Mask::from_fn([6, 5, 4], AFFINE, |[i, j, k]| (1..5).contains(&i) && j > 0 && k < 3).unwrap()
}

fn bold(mask: &Mask, n_scans: usize, seed: usize) -> Mat<f32> {
    Mat::from_fn(n_scans, mask.n_voxels(), |t, v| (((t * 7 + v * 13 + seed * 31) % 17) as f32).sin())
}

fn words_tsv(n: usize) -> String {
    let mut s = String::from("word\tonset\toffset\n");
    for w in 0..n {
        s.push_str(&format!("w{w}\t{}\t{}\n", 1.0 + w as f64 * 0.7, 1.3 + w as f64 * 0.7));
    }
    s
}

/// A valid dataset of `n_runs` runs in `dir`.
fn write_valid(dir: &Path, n_runs: usize) -> Mask {
    let mask = small_mask();
    std::fs::write(
        dir.join("dataset.toml"),
        "name = \"tiny\"\ntr = 2.0\nlanguage = \"en\"\n[provenance]\nby = \"test\"\n",
    )
    .unwrap();
    mask.write_map(&dir.join("mask.nii.gz"), &vec![1.0; mask.n_voxels()]).unwrap();
    for sub in ["bold", "words", "text", "rois"] {
        std::fs::create_dir_all(dir.join(sub)).unwrap();
    }
    for r in 1..=n_runs {
        mask.write_series(
            &dir.join(format!("bold/run-{r:02}.nii.gz")),
            bold(&mask, N_SCANS, r).as_ref(),
            2.0,
            Compression::fast(),
        )
        .unwrap();
        std::fs::write(dir.join(format!("words/run-{r:02}.tsv")), words_tsv(20)).unwrap();
    }
    std::fs::write(dir.join("text/run-01.txt"), "W0, w1 ...").unwrap();
    let rel: Vec<f32> = (0..mask.n_voxels()).map(|v| v as f32 / 100.0).collect();
    mask.write_map(&dir.join("reliability.nii.gz"), &rel).unwrap();
    let roi: Vec<f32> = (0..mask.n_voxels()).map(|v| if v % 5 == 0 { 1.0 } else { 0.0 }).collect();
    mask.write_map(&dir.join("rois/pSTS.nii.gz"), &roi).unwrap();
    mask
}

fn open_err(dir: &Path) -> DataError {
    match Dataset::open(dir) {
        Ok(_) => panic!("expected an error for {}", dir.display()),
        Err(e) => e,
    }
}

#[test]
fn valid_dataset_opens_and_loads() {
    let dir = tempfile::tempdir().unwrap();
    let mask = write_valid(dir.path(), 3);
    let ds = Dataset::open(dir.path()).unwrap();
    assert_eq!(ds.name(), "tiny");
    assert_eq!(ds.tr(), 2.0);
    assert_eq!(ds.trim(), Trim { start: 10, end: 10 });
    assert_eq!(ds.config().language.as_deref(), Some("en"));
    assert!(ds.config().extra.contains_key("provenance"));
    assert_eq!(ds.n_runs(), 3);
    let r = &ds.runs()[1];
    assert_eq!((r.index, r.label.as_str(), r.n_scans, r.words.len()), (2, "run-02", N_SCANS, 20));
    let b = ds.load_bold(1).unwrap();
    assert_eq!(b.data, bold(&mask, N_SCANS, 2));
    assert_eq!(b.n_constant_voxels, 0);
    assert_eq!(ds.text(0).unwrap(), "W0, w1 ...");
    assert!(ds.text(1).unwrap().starts_with("w0 w1 w2"));
    assert_eq!(ds.reliability().unwrap().unwrap()[7], 0.07);
    let rois = ds.rois().unwrap();
    assert_eq!(rois.len(), 1);
    assert_eq!(rois[0].name, "pSTS");
    assert_eq!(rois[0].voxels, (0..mask.n_voxels()).filter(|v| v % 5 == 0).collect::<Vec<_>>());
    let mirror = mask.mirror_index();
    let right = rois[0].mirrored(&mirror);
    let expected: Vec<usize> = {
        let mut v: Vec<usize> = rois[0].voxels.iter().filter_map(|&v| mirror[v]).collect();
        v.sort_unstable();
        v
    };
    assert_eq!(right.voxels, expected);
    assert!(right.voxels.iter().all(|&v| mask.ijk()[v][0] == 5 - mask.ijk()[mirror[v].unwrap()][0]));
    assert!(matches!(ds.load_bold(3), Err(DataError::RunIndex { index: 3, n_runs: 3 })));
}

#[test]
fn constant_voxels_are_counted_and_non_finite_values_rejected() {
    let dir = tempfile::tempdir().unwrap();
    let mask = write_valid(dir.path(), 3);
    let mut data = bold(&mask, N_SCANS, 1);
    for t in 0..N_SCANS {
        data[(t, 2)] = 5.0;
        data[(t, 4)] = 0.0;
    }
    let path = dir.path().join("bold/run-01.nii.gz");
    mask.write_series(&path, data.as_ref(), 2.0, Compression::fast()).unwrap();
    let ds = Dataset::open(dir.path()).unwrap();
    assert_eq!(ds.load_bold(0).unwrap().n_constant_voxels, 2);
    data[(17, 9)] = f32::INFINITY;
    mask.write_series(&path, data.as_ref(), 2.0, Compression::fast()).unwrap();
    let e = ds.load_bold(0).unwrap_err();
    assert!(matches!(e, DataError::NonFinite { scan: 17, voxel, .. } if voxel == mask.ijk()[9]), "{e}");
    assert!(e.to_string().contains("run-01.nii.gz"), "{e}");
}

#[test]
fn missing_required_files() {
    for (file, what) in [("dataset.toml", "dataset description"), ("mask.nii.gz", "brain mask")] {
        let dir = tempfile::tempdir().unwrap();
        write_valid(dir.path(), 3);
        std::fs::remove_file(dir.path().join(file)).unwrap();
        let e = open_err(dir.path());
        assert!(matches!(e, DataError::MissingFile { .. }), "{e}");
        assert!(e.to_string().contains(file) && e.to_string().contains(what), "{e}");
    }
    let dir = tempfile::tempdir().unwrap();
    write_valid(dir.path(), 3);
    std::fs::remove_dir_all(dir.path().join("words")).unwrap();
    assert!(matches!(open_err(dir.path()), DataError::MissingFile { .. }));
    assert!(matches!(open_err(&dir.path().join("nope")), DataError::MissingFile { .. }));
}

#[test]
fn toml_errors_name_file_and_line() {
    let dir = tempfile::tempdir().unwrap();
    write_valid(dir.path(), 3);
    std::fs::write(dir.path().join("dataset.toml"), "name = \"x\"\ntr = 2.0\ntrim_end = \"ten\"\n").unwrap();
    let e = open_err(dir.path());
    assert!(matches!(e, DataError::Toml { line: Some(3), .. }), "{e}");
    assert!(e.to_string().contains("dataset.toml, line 3"), "{e}");
}

#[test]
fn grid_mismatches_name_the_file_and_both_grids() {
    let dir = tempfile::tempdir().unwrap();
    write_valid(dir.path(), 3);
    // Same dims, shifted affine.
    let mut shifted = AFFINE;
    shifted[1][3] += 2.0;
    let other = Mask::from_fn([6, 5, 4], shifted, |_| true).unwrap();
    other
        .write_series(
            &dir.path().join("bold/run-02.nii.gz"),
            Mat::zeros(N_SCANS, other.n_voxels()).as_ref(),
            2.0,
            Compression::fast(),
        )
        .unwrap();
    let e = open_err(dir.path());
    assert!(matches!(e, DataError::GridMismatch { ref path, .. } if path.ends_with("bold/run-02.nii.gz")), "{e}");
    assert!(e.to_string().contains("-8") && e.to_string().contains("-6]"), "{e}");
    // Other dims.
    let small = Mask::from_fn([6, 5, 3], AFFINE, |_| true).unwrap();
    small
        .write_series(
            &dir.path().join("bold/run-02.nii.gz"),
            Mat::zeros(N_SCANS, small.n_voxels()).as_ref(),
            2.0,
            Compression::fast(),
        )
        .unwrap();
    assert!(matches!(open_err(dir.path()), DataError::GridMismatch { .. }));
    // A 3D image where a 4D run is expected.
    small_mask().write_map(&dir.path().join("bold/run-02.nii.gz"), &vec![1.0; small_mask().n_voxels()]).unwrap();
    assert!(matches!(open_err(dir.path()), DataError::WrongDimensionality { expected: "4D", .. }));
    // Reliability and ROI maps are checked too.
    let dir = tempfile::tempdir().unwrap();
    write_valid(dir.path(), 3);
    small.write_map(&dir.path().join("rois/BA44.nii.gz"), &vec![1.0; small.n_voxels()]).unwrap();
    let e = open_err(dir.path());
    assert!(matches!(e, DataError::GridMismatch { ref path, .. } if path.ends_with("rois/BA44.nii.gz")), "{e}");
}

#[test]
fn run_files_must_pair_up_and_be_numbered_without_gaps() {
    let dir = tempfile::tempdir().unwrap();
    write_valid(dir.path(), 4);
    std::fs::remove_file(dir.path().join("words/run-03.tsv")).unwrap();
    let e = open_err(dir.path());
    assert!(matches!(e, DataError::RunFilesMismatch { ref problems, .. } if problems.len() == 1), "{e}");
    assert!(e.to_string().contains("run-03: bold/run-03.nii.gz has no words/run-03.tsv"), "{e}");
    std::fs::remove_file(dir.path().join("bold/run-03.nii.gz")).unwrap();
    let e = open_err(dir.path());
    assert!(matches!(e, DataError::RunNumbering { .. }), "{e}");
    assert!(e.to_string().contains("run-01, run-02, run-04"), "{e}");
    std::fs::write(dir.path().join("words/run-x.tsv"), "").unwrap();
    assert!(matches!(open_err(dir.path()), DataError::RunNumbering { .. }));
}

#[test]
fn too_few_runs_and_too_few_scans() {
    let dir = tempfile::tempdir().unwrap();
    write_valid(dir.path(), 2);
    assert!(matches!(open_err(dir.path()), DataError::TooFewRuns { found: 2, min: 3, .. }));
    let dir = tempfile::tempdir().unwrap();
    let mask = write_valid(dir.path(), 3);
    mask.write_series(&dir.path().join("bold/run-03.nii.gz"), bold(&mask, 22, 0).as_ref(), 2.0, Compression::fast())
        .unwrap();
    std::fs::write(dir.path().join("words/run-03.tsv"), words_tsv(3)).unwrap();
    let e = open_err(dir.path());
    assert!(matches!(e, DataError::TooFewScans { n_scans: 22, .. }), "{e}");
    assert!(e.to_string().contains("run-03.nii.gz"), "{e}");
}

#[test]
fn bad_words_name_file_line_and_word() {
    let dir = tempfile::tempdir().unwrap();
    write_valid(dir.path(), 3);
    let path = dir.path().join("words/run-02.tsv");
    std::fs::write(&path, "word\tonset\toffset\nfox\t1.0\t1.2\nlate\t60.0\t60.3\n").unwrap();
    let e = open_err(dir.path());
    assert!(matches!(e, DataError::WordOutsideRun { line: 3, .. }), "{e}");
    let msg = e.to_string();
    assert!(msg.contains("run-02.tsv, line 3") && msg.contains("\"late\"") && msg.contains("60 s"), "{msg}");
    std::fs::write(&path, "word\tonset\toffset\nfox\t1.0\t0.2\n").unwrap();
    assert!(matches!(open_err(dir.path()), DataError::WordTiming { line: 2, .. }));
    std::fs::write(&path, "word\tonset\toffset\nfox\t1.0\n").unwrap();
    assert!(matches!(open_err(dir.path()), DataError::WordFile { line: 2, .. }));
    std::fs::write(&path, "token\tstart\tend\n").unwrap();
    assert!(matches!(open_err(dir.path()), DataError::WordFile { line: 1, .. }));
}
