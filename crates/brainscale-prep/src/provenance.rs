//! The `[provenance]` table of a prepared dataset's `dataset.toml`: where the data come from,
//! every step with its settings, the subjects, the software and the date.
//!
//! ```toml
//! [provenance]
//! software = "brainscale 0.1.0"
//! date = "2026-11-27T06:00:00Z"
//! command = "brainscale prepare lpp-en"
//! seconds = 5400.2
//! [provenance.source]        # entry, registry, origin ("OpenNeuro ds003643"), version, license, citation
//! [provenance.subjects]      # n, labels, first_run_numbers (the run numbers in the file names)
//! [[provenance.steps]]       # name = "words" | "resample" | "mask" | "clean" | "average" | "reliability", settings
//! ```

use toml::{Table, Value};

use crate::bids::Subject;
use crate::prepare::{MaskStats, Options, Source};
use crate::reliability::Reliability;
use crate::resample::Interpolation;
use crate::smooth::Smoothing;
use crate::spec::{PrepareSpec, SubjectMask};
use crate::words_step::RunTexts;

/// Everything provenance records.
pub(crate) struct Provenance<'a> {
    pub spec: &'a PrepareSpec,
    pub source: &'a Source,
    pub options: &'a Options,
    pub interpolation: Interpolation,
    pub subjects: &'a [Subject],
    pub n_scans: &'a [usize],
    pub mask: &'a MaskStats,
    pub texts: &'a RunTexts,
    pub reliability: Option<&'a Reliability>,
    pub n_splits_used: usize,
    pub seconds: f64,
}

/// What a single-subject dataset records beyond the common part.
pub(crate) struct Single<'a> {
    pub label: &'a str,
    pub mask: SubjectMask,
    /// How its dataset's mask was made (the group's statistics for the group mask).
    pub stats: &'a MaskStats,
    pub group_voxels: usize,
    pub smoothing: Option<&'a Smoothing>,
}

/// The `words` step: the table, its corrections and the alignment with the texts.
pub(crate) fn words_step(texts: &RunTexts) -> Value {
    let count = |kind: crate::align::MismatchKind| texts.mismatches.iter().filter(|m| m.kind == kind).count();
    let corrections = texts.corrections.as_ref();
    tbl(vec![
        ("name", "words".into()),
        ("annotation", texts.table.display().to_string().into()),
        ("rows", Value::Integer(texts.n_rows as i64)),
        ("empty_words_skipped", Value::Integer(texts.empty_rows.len() as i64)),
        ("words", Value::Integer(texts.words.iter().map(|w| w.len()).sum::<usize>() as i64)),
        ("words_per_run", ints(texts.words.iter().map(|w| w.len()))),
        ("corrections", corrections.map(|c| c.source.display().to_string()).unwrap_or_default().into()),
        ("dropped_rows", ints(corrections.map(|c| c.drop_rows.clone()).unwrap_or_default())),
        ("word_replacements", Value::Integer(corrections.map_or(0, |c| c.words.len()) as i64)),
        ("text_replacements", Value::Integer(corrections.map_or(0, |c| c.texts.len()) as i64)),
        ("text", texts.text_pattern.clone().unwrap_or_else(|| "absent: the words joined by spaces".into()).into()),
        ("text_only_mismatches", Value::Integer(count(crate::align::MismatchKind::TextOnly) as i64)),
        ("report", "provenance/alignment.tsv".into()),
    ])
}

pub(crate) fn tbl(pairs: Vec<(&str, Value)>) -> Value {
    Value::Table(pairs.into_iter().map(|(k, v)| (k.to_string(), v)).collect())
}

fn strings<S: AsRef<str>>(items: &[S]) -> Value {
    Value::Array(items.iter().map(|s| Value::String(s.as_ref().to_string())).collect())
}

fn ints(items: impl IntoIterator<Item = usize>) -> Value {
    Value::Array(items.into_iter().map(|v| Value::Integer(v as i64)).collect())
}

fn floats(items: impl IntoIterator<Item = f64>) -> Value {
    Value::Array(items.into_iter().map(Value::Float).collect())
}

/// The provenance table; `single`: the single subject of a kept dataset, if it is one.
pub(crate) fn table(p: &Provenance<'_>, single: Option<&Single<'_>>) -> Table {
    let spec = p.spec;
    let g = &spec.grid;
    let mut t = Table::new();
    t.insert("software".into(), format!("brainscale {} (brainscale-prep)", env!("CARGO_PKG_VERSION")).into());
    t.insert("date".into(), humantime::format_rfc3339_seconds(std::time::SystemTime::now()).to_string().into());
    if let Some(c) = &p.options.command {
        t.insert("command".into(), c.clone().into());
    }
    t.insert("seconds".into(), ((p.seconds * 10.0).round() / 10.0).into());
    t.insert(
        "source".into(),
        tbl(vec![
            ("entry", p.source.entry.clone().into()),
            ("registry", p.source.registry.display().to_string().into()),
            ("origin", p.source.origin.clone().into()),
            ("version", p.source.version.clone().into()),
            ("license", p.source.license.clone().into()),
            ("citation", p.source.citation.clone().into()),
            ("derivatives", spec.derivatives.display().to_string().into()),
            ("bold", spec.bold.pattern.clone().into()),
        ]),
    );
    let labels: Vec<&str> = p.subjects.iter().map(|s| s.label.as_str()).collect();
    let mut subjects = vec![
        ("n", Value::Integer(p.subjects.len() as i64)),
        ("labels", strings(&labels)),
        (
            "run_numbers",
            Value::Table(
                p.subjects.iter().map(|s| (s.label.clone(), ints(s.runs.iter().map(|r| r.label as usize)))).collect(),
            ),
        ),
    ];
    if let Some(one) = single {
        subjects.push(("this_dataset", one.label.to_string().into()));
    }
    t.insert("subjects".into(), tbl(subjects));
    let mut steps = vec![
        words_step(p.texts),
        tbl(vec![
            ("name", "resample".into()),
            ("interpolation", p.interpolation.name().into()),
            ("shape", ints(g.dims)),
            ("affine", Value::Array(g.affine.iter().take(3).map(|row| floats(row.iter().copied())).collect())),
            ("clip", "each run to [min(data, 0), max(data, 0)] of its source values (nilearn resample_img)".into()),
            ("reference", "nilearn.image.resample_img(target_affine, target_shape), nilearn 0.10.4".into()),
        ]),
        mask_step(p, single),
        clean_step(p, single),
    ];
    match single {
        None => {
            steps.push(tbl(vec![
                ("name", "average".into()),
                ("subjects", Value::Integer(p.subjects.len() as i64)),
                ("zscore", true.into()),
                ("scans_per_run", ints(p.n_scans.iter().copied())),
            ]));
            let mut rel = vec![
                ("name", Value::from("reliability")),
                ("splits", Value::Integer(p.n_splits_used as i64)),
                ("seed", Value::Integer(spec.reliability.seed as i64)),
                ("halving", "numpy legacy np.random.seed(seed); shuffle(arange(n)) per split; half A = first n // 2 (regressors), half B = the rest".into()),
                ("alphas", floats([spec.reliability.alphas_spec.0, spec.reliability.alphas_spec.1, spec.reliability.alphas_spec.2 as f64])),
                ("cv", "paper".into()),
                ("form", "dual".into()),
                ("trim", ints([spec.trim.0, spec.trim.1])),
                ("halves_zscored", false.into()),
            ];
            if let Some(r) = p.reliability {
                let mean = r.mean.iter().map(|&v| v as f64).sum::<f64>() / r.mean.len().max(1) as f64;
                rel.push(("mean", ((mean * 1e5).round() / 1e5).into()));
                rel.push(("alphas_chosen", Value::Array(r.alphas.iter().map(|a| floats(a.iter().copied())).collect())));
                rel.push(("per_split", "provenance/reliability-splits.nii.gz".into()));
            }
            steps.push(tbl(rel));
        }
        Some(one) => {
            let fwhm = one.smoothing.map_or(0.0, |s| s.fwhm());
            let mask = match one.mask {
                SubjectMask::Own => "its own mask",
                SubjectMask::Group => "the group mask",
            };
            let smoothed = match one.smoothing {
                Some(s) => format!("smoothed with a {} mm FWHM Gaussian", s.fwhm()),
                None => "not smoothed".to_string(),
            };
            steps.push(tbl(vec![
                ("name", "single-subject".into()),
                ("mask", one.mask.name().into()),
                ("mask_voxels", Value::Integer(one.stats.n_voxels as i64)),
                ("group_mask_voxels", Value::Integer(one.group_voxels as i64)),
                ("smoothing_fwhm", fwhm.into()),
                (
                    "note",
                    format!("the subject's cleaned runs ({mask}, {smoothed}; no averaging, no second z-scoring)")
                        .into(),
                ),
            ]));
        }
    }
    t.insert("steps".into(), Value::Array(steps));
    t
}

const MIRROR: &str = "then intersected with its left-right mirror (intersect_masks([mask, swap_img_hemispheres(mask)], \
                      threshold=1): both sides, largest connected component)";

fn mask_step(p: &Provenance<'_>, single: Option<&Single<'_>>) -> Value {
    let (stats, method, which) = match single {
        Some(one) if one.mask == SubjectMask::Own => (
            one.stats,
            format!(
                "compute_multi_epi_mask over the subject's own runs' mean images (averaged in source space, then \
                 resampled), {MIRROR}, as fit_individual_subject.py"
            ),
            "own",
        ),
        _ => (
            p.mask,
            format!(
                "compute_multi_epi_mask over every run's mean image (averaged in source space, then resampled), \
                 {MIRROR}, as compute_mask.py"
            ),
            "group",
        ),
    };
    tbl(vec![
        ("name", "mask".into()),
        ("mask", which.into()),
        ("method", method.into()),
        ("threshold", p.spec.mask_threshold.into()),
        ("images", Value::Integer(stats.n_images as i64)),
        ("voxels_before_symmetry", Value::Integer(stats.n_before_symmetry as i64)),
        ("voxels", Value::Integer(stats.n_voxels as i64)),
    ])
}

fn clean_step(p: &Provenance<'_>, single: Option<&Single<'_>>) -> Value {
    let spec = p.spec;
    let smoothing = single.and_then(|one| one.smoothing);
    let mut step = vec![
        ("name", Value::from("clean")),
        ("smoothing_fwhm", smoothing.map_or(0.0, |s| s.fwhm()).into()),
        ("detrend", true.into()),
        ("high_pass", spec.high_pass.into()),
        ("standardize", "zscore".into()),
        ("t_r", spec.tr.into()),
    ];
    match smoothing {
        Some(s) => {
            step.push(("smoothing_sigma_voxels", floats(s.sigma_voxels())));
            step.push((
                "smoothing",
                "Gaussian on every resampled volume before masking (nilearn smooth_img: non-finite values to 0, \
                 scipy gaussian_filter1d per axis, truncate 4, mode reflect)"
                    .into(),
            ));
            step.push((
                "reference",
                format!(
                    "nilearn NiftiMasker(mask_img=mask, detrend=True, standardize=True, smoothing_fwhm={}, high_pass, \
                     t_r) -> smooth_img, apply_mask, signal.clean, nilearn 0.10.4",
                    s.fwhm()
                )
                .into(),
            ));
        }
        None => step.push((
            "reference",
            "nilearn NiftiMasker(detrend=True, standardize=True, high_pass, t_r) -> signal.clean, nilearn 0.10.4"
                .into(),
        )),
    }
    tbl(step)
}
