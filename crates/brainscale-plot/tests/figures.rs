//! Every figure on small synthetic data: a valid SVG (parses as XML, right size) and a valid PNG
//! (decodes, twice the size). Set `BRAINSCALE_PLOT_OUT=folder` to keep the files and look at them.

mod synthetic;

use brainscale_plot::*;
use synthetic::*;

/// Checks both renderings and writes them to `$BRAINSCALE_PLOT_OUT` when set.
fn check(fig: &Figure, name: &str) {
    let doc = roxmltree::Document::parse(&fig.svg).unwrap_or_else(|e| panic!("{name}: SVG is not XML: {e}"));
    let root = doc.root_element();
    assert_eq!(root.tag_name().name(), "svg", "{name}");
    assert_eq!(root.attribute("width"), Some(fig.width.to_string().as_str()), "{name}");
    assert!(doc.descendants().any(|n| n.tag_name().name() == "text"), "{name}: no text in the SVG");
    let decoder = png::Decoder::new(std::io::Cursor::new(&fig.png));
    let mut reader = decoder.read_info().unwrap_or_else(|e| panic!("{name}: PNG header: {e}"));
    let mut buf = vec![0; reader.output_buffer_size()];
    let info = reader.next_frame(&mut buf).unwrap_or_else(|e| panic!("{name}: PNG data: {e}"));
    assert_eq!(info.width, (fig.width as f64 * PNG_SCALE) as u32, "{name}");
    assert_eq!(info.height, (fig.height as f64 * PNG_SCALE) as u32, "{name}");
    // Not blank: some dark pixels (text, axes) and some coloured ones.
    let dark = buf.chunks(3).filter(|p| p.iter().all(|&c| c < 100)).count();
    assert!(dark > 100, "{name}: almost no dark pixels");
    if let Some(dir) = std::env::var_os("BRAINSCALE_PLOT_OUT") {
        std::fs::create_dir_all(&dir).unwrap();
        fig.save(std::path::Path::new(&dir).join(name)).unwrap();
    }
}

#[test]
fn reliability_histogram_is_valid() {
    let isc = reliability_values(5000);
    let mut sorted = isc.clone();
    sorted.sort_by(f32::total_cmp);
    let thr = sorted[(0.75 * (sorted.len() - 1) as f64) as usize] as f64;
    let fig = reliability_histogram(&ReliabilityHistogram::new(&isc, thr)).unwrap();
    assert!(fig.svg.contains("1,250 of 5,000 voxels"), "the count of voxels above is in the subtitle");
    check(&fig, "01_reliability_histogram");
}

#[test]
fn score_distributions_are_valid() {
    let groups = voxel_scores(3000);
    let groups: Vec<ScoreGroup<'_>> = groups
        .iter()
        .map(|(label, family, v)| ScoreGroup { label: label.clone(), family: *family, values: v })
        .collect();
    let fig = score_distributions(&ScoreDistributions::new(groups)).unwrap();
    check(&fig, "02_score_distributions");
}

#[test]
fn empty_inputs_are_errors_not_panics() {
    let err = reliability_histogram(&ReliabilityHistogram::new(&[], 0.5)).unwrap_err();
    assert!(err.to_string().contains("values"), "{err}");
    assert!(score_distributions(&ScoreDistributions::new(vec![])).is_err());
}

fn scaling_input() -> Scaling {
    let scores = model_scores();
    let points: Vec<ModelPoint> = scores
        .iter()
        .map(|p| ModelPoint {
            label: p.label.clone(),
            family: p.family,
            n_params: p.n_params,
            value: (p.left + p.right) / 2.0,
        })
        .collect();
    let x: Vec<f64> = points.iter().map(|p| p.n_params).collect();
    let y: Vec<f64> = points.iter().map(|p| p.value).collect();
    let mut family_fits = Vec::new();
    for family in Family::ALL {
        let idx: Vec<usize> = (0..points.len()).filter(|&i| points[i].family == family).collect();
        if idx.len() >= 3 {
            let fx: Vec<f64> = idx.iter().map(|&i| x[i]).collect();
            let fy: Vec<f64> = idx.iter().map(|&i| y[i]).collect();
            family_fits.push((family, synthetic::fit(&fx, &fy)));
        }
    }
    Scaling {
        fit: Some(synthetic::fit(&x, &y)),
        family_fits,
        references: vec![
            Reference { label: "random embeddings 1024d".into(), value: 0.085 },
            Reference { label: "GloVe 300d".into(), value: 0.11 },
        ],
        ..Scaling::new(points)
    }
}

#[test]
fn scaling_is_valid() {
    check(&scaling(&scaling_input()).unwrap(), "03_scaling");
}

#[test]
fn scaling_by_family_is_valid() {
    check(&scaling_by_family(&scaling_input()).unwrap(), "03_scaling_by_family");
}

#[test]
fn hemispheres_are_valid() {
    let points = model_scores();
    let x: Vec<f64> = points.iter().map(|p| p.n_params).collect();
    let l: Vec<f64> = points.iter().map(|p| p.left).collect();
    let r: Vec<f64> = points.iter().map(|p| p.right).collect();
    let d: Vec<f64> = points.iter().map(|p| p.left - p.right).collect();
    let input = Hemispheres {
        fit_left: Some(synthetic::fit(&x, &l)),
        fit_right: Some(synthetic::fit(&x, &r)),
        fit_difference: Some(synthetic::fit(&x, &d)),
        ..Hemispheres::new(points)
    };
    check(&hemispheres(&input).unwrap(), "04_hemispheres");
}

#[test]
fn layer_curves_are_valid() {
    let mut rng = synthetic::Rng::new(9);
    let curves: Vec<LayerCurve> = models()
        .into_iter()
        .filter(|m| matches!(m.1, Family::Gpt2 | Family::Opt | Family::Qwen2 | Family::Mamba | Family::Mistral))
        .map(|(label, family, n)| {
            let n_layers = (12.0 + 8.0 * (n / 1e8).log10()).round() as usize;
            let peak = 0.1 + 0.02 * (n / 1e8).ln();
            let depth: Vec<f64> = (0..=n_layers).map(|k| k as f64 / n_layers as f64).collect();
            let score = depth.iter().map(|d| peak * (1.0 - 2.2 * (d - 0.55).powi(2)) + 0.003 * rng.normal()).collect();
            LayerCurve { label, family, n_params: n, depth, score }
        })
        .collect();
    check(&layer_curves(&LayerCurves::new(curves)).unwrap(), "05_layer_curves");
}

const ROIS: [&str; 7] = ["TP", "aSTS", "pSTS", "AG_TPJ", "BA44", "BA45", "BA47"];

#[test]
fn roi_slopes_are_valid() {
    let e = |v: f64, half: f64, p: f64| Estimate { value: v, ci_low: v - half, ci_high: v + half, p };
    let rois: Vec<RoiSlope> = ROIS
        .iter()
        .enumerate()
        .map(|(i, name)| {
            let l = 0.004 + 0.0015 * i as f64;
            let r = 0.003 + 0.0004 * i as f64 - if i == 3 { 0.006 } else { 0.0 };
            RoiSlope {
                name: name.to_string(),
                left: e(l, 0.003, [0.02, 0.004, 1e-4, 1e-5, 1e-6, 1e-6, 1e-7][i]),
                right: e(r, 0.003, [0.06, 0.04, 0.3, 0.5, 0.02, 0.01, 0.2][i]),
                difference_p: Some([0.6, 0.2, 0.03, 0.002, 0.0004, 0.01, 0.00001][i]),
            }
        })
        .collect();
    check(&roi_slopes(&RoiSlopes::new(rois)).unwrap(), "06_roi_slopes");
}

#[test]
fn roi_scaling_is_valid() {
    let base = model_scores();
    let panels: Vec<RoiPanel> = ROIS
        .iter()
        .enumerate()
        .map(|(i, name)| {
            let k = 0.6 + 0.15 * i as f64;
            let points: Vec<HemispherePoint> = base
                .iter()
                .map(|p| HemispherePoint {
                    left: p.left * k,
                    right: p.right * (1.6 - 0.1 * i as f64) * 0.8,
                    ..p.clone()
                })
                .collect();
            let x: Vec<f64> = points.iter().map(|p| p.n_params).collect();
            let l: Vec<f64> = points.iter().map(|p| p.left).collect();
            let r: Vec<f64> = points.iter().map(|p| p.right).collect();
            RoiPanel {
                name: name.to_string(),
                fit_left: Some(synthetic::fit(&x, &l)),
                fit_right: Some(synthetic::fit(&x, &r)),
                points,
            }
        })
        .collect();
    check(&roi_scaling(&RoiScaling::new(panels)).unwrap(), "07_roi_scaling");
}

/// The real English mask, when `../shared/data/lpp-en/` is present.
fn real_mask() -> Option<(brainscale_data::Mask, std::path::PathBuf)> {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/data/lpp-en");
    let path = dir.join("mask.nii.gz");
    if !path.exists() {
        eprintln!("skipping the real-mask glass brains: {} not found", path.display());
        return None;
    }
    Some((brainscale_data::Mask::load(&path).unwrap(), dir))
}

/// A brain-shaped synthetic mask: an ellipsoid on a 4 mm MNI-like grid, symmetric in x.
fn synthetic_mask() -> brainscale_data::Mask {
    let affine = [[4.0, 0.0, 0.0, -72.0], [0.0, 4.0, 0.0, -106.0], [0.0, 0.0, 4.0, -64.0], [0.0, 0.0, 0.0, 1.0]];
    brainscale_data::Mask::from_fn([37, 46, 38], affine, |[i, j, k]| {
        let (x, y, z) = (i as f64 * 4.0 - 72.0, j as f64 * 4.0 - 106.0 + 18.0, k as f64 * 4.0 - 64.0 - 10.0);
        (x / 68.0).powi(2) + (y / 86.0).powi(2) + (z / 58.0).powi(2) <= 1.0
    })
    .unwrap()
}

/// A left-lateralised "largest model minus baseline" map: blobs along the left temporal lobe
/// and inferior frontal gyrus, weaker on the right, noise elsewhere.
fn lateralised_map(mask: &brainscale_data::Mask) -> Vec<f32> {
    let mut rng = synthetic::Rng::new(11);
    let blobs = [(-52.0, -20.0, -4.0, 0.12), (-50.0, 20.0, 10.0, 0.09), (-48.0, -56.0, 20.0, 0.08)];
    mask.xyz()
        .iter()
        .map(|p| {
            let mut v = 0.01 * rng.normal();
            for &(x, y, z, a) in &blobs {
                for (side, gain) in [(1.0, 1.0), (-1.0, 0.45)] {
                    let d2 = (p[0] - side * x).powi(2) + (p[1] - y).powi(2) + (p[2] - z).powi(2);
                    v += gain * a * (-d2 / (2.0 * 14.0f64.powi(2))).exp();
                }
            }
            v as f32
        })
        .collect()
}

#[test]
fn glass_brains_are_valid() {
    let synth = synthetic_mask();
    let values = lateralised_map(&synth);
    let fig = glass_brain(&GlassBrain {
        colorbar_label: "Δ Pearson r (model − baseline)".into(),
        ..GlassBrain::new(&synth, &values, "Largest model minus baseline (synthetic mask)")
    })
    .unwrap();
    check(&fig, "08_glass_brain_synthetic_mask");

    let Some((mask, dir)) = real_mask() else { return };
    assert_eq!(mask.n_voxels(), 25_870);
    let diff = lateralised_map(&mask);
    let fig = glass_brain(&GlassBrain {
        colorbar_label: "Δ Pearson r (largest model − random embeddings 1024d)".into(),
        ..GlassBrain::new(&mask, &diff, "Largest model minus baseline")
    })
    .unwrap();
    check(&fig, "08_glass_brain_difference");
    let slopes: Vec<f32> = diff.iter().map(|v| v * 0.2).collect();
    let fig = glass_brain(&GlassBrain {
        colorbar_label: "slope (Pearson r per ln(parameters))".into(),
        threshold: Some(0.006),
        ..GlassBrain::new(&mask, &slopes, "Voxelwise slopes, |slope| > 0.006")
    })
    .unwrap();
    check(&fig, "08_glass_brain_slopes");
    let reliability = mask.load_map(&dir.join("reliability.nii.gz")).unwrap();
    let fig = glass_brain(&GlassBrain {
        colorbar_label: "inter-subject correlation (Pearson r)".into(),
        ..GlassBrain::new(&mask, &reliability, "Voxel reliability (lpp-en)")
    })
    .unwrap();
    check(&fig, "08_glass_brain_reliability");
}

#[test]
fn report_embeds_figures_tables_and_notes() {
    let synth = synthetic_mask();
    let map = lateralised_map(&synth);
    let brain = glass_brain(&GlassBrain {
        colorbar_label: "Δ Pearson r".into(),
        threshold: Some(0.03),
        ..GlassBrain::new(&synth, &map, "Largest model minus baseline, |Δr| > 0.03")
    })
    .unwrap();
    let scaling_fig = scaling(&scaling_input()).unwrap();
    let mut report = Report::new("brainscale study — synthetic demo");
    report
        .subtitle("dataset: synthetic (planted left-lateralised scaling); 28 models")
        .note("This report was made from simulated data: it checks the pipeline, not the brain.\nRun the real study with `brainscale run --dataset lpp-en --models paper`.")
        .heading("Scaling law")
        .figure(&scaling_fig, "Brain score (mean r over reliable voxels) vs number of parameters.")
        .heading("Maps")
        .embed(Embed::Svg)
        .figure(&brain, "Glass brain (inline SVG).")
        .heading("Regions of interest")
        .table(
            "Slopes per ROI (Pearson r per 10× params)",
            &["ROI", "left", "right", "L − R p"],
            vec![
                vec!["TP".into(), "0.0172".into(), "0.0140".into(), "0.6".into()],
                vec!["pSTS <x>".into(), "0.0258".into(), "−0.0012".into(), "3.1e-4".into()],
            ],
        )
        .headline("Scaling slope", "+0.0198 per 10× params (r = 0.92, p = 1.5e-11)")
        .headline("L − R slope", "+0.0177 [0.012, 0.023] per 10× params, p = 4e-6")
        .headline("Planted effect recovered", "yes");
    let html = report.to_html();
    assert!(html.starts_with("<!DOCTYPE html>"));
    assert_eq!(html.matches("data:image/png;base64,").count(), 1);
    assert_eq!(html.matches("<svg").count(), 1);
    assert!(html.contains("pSTS &lt;x&gt;"));
    assert!(html.find("Planted effect").unwrap() < html.find("Scaling law</h2>").unwrap(), "headline first");
    if let Some(dir) = std::env::var_os("BRAINSCALE_PLOT_OUT") {
        std::fs::create_dir_all(&dir).unwrap();
        report.save(std::path::Path::new(&dir).join("report.html")).unwrap();
    }
}

#[test]
fn figures_save_both_files_and_display_in_evcxr() {
    let isc = reliability_values(500);
    let fig = reliability_histogram(&ReliabilityHistogram::new(&isc, 0.5)).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let [svg, png] = fig.save(dir.path().join("reliability")).unwrap();
    assert_eq!(svg.file_name().unwrap(), "reliability.svg");
    assert_eq!(std::fs::read(&png).unwrap(), fig.png);
    assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 2, "no temporary files left behind");

    let content = fig.evcxr_content();
    let mut blocks = content.split("EVCXR_END_CONTENT\n");
    let png_block = blocks.next().unwrap();
    assert!(png_block.starts_with("EVCXR_BEGIN_CONTENT image/png\n"));
    assert_eq!(png_block.lines().nth(1).unwrap(), fig.png_base64());
    assert!(blocks.next().unwrap().starts_with("EVCXR_BEGIN_CONTENT image/svg+xml\n<svg"));
}

#[test]
fn signed_layer_curves_show_zero() {
    let curves: Vec<LayerCurve> = models()
        .into_iter()
        .filter(|m| m.1 == Family::Qwen2)
        .map(|(label, family, n)| {
            let depth: Vec<f64> = (0..=24).map(|k| k as f64 / 24.0).collect();
            let gain = 0.004 * (n / 1e8).ln();
            let score = depth.iter().map(|d| gain * (1.0 - 3.0 * (d - 0.6).powi(2)) - 0.004).collect();
            LayerCurve { label, family, n_params: n, depth, score }
        })
        .collect();
    let input = LayerCurves {
        title: "Left − right across layers".into(),
        y_label: "left − right (Pearson r)".into(),
        ..LayerCurves::new(curves)
    };
    check(&layer_curves(&input).unwrap(), "05_layer_curves_difference");
}

#[test]
fn small_multiples_with_one_panel_stay_compact() {
    let mut input = scaling_input();
    input.points.retain(|p| p.family == Family::Gpt2);
    input.family_fits.retain(|f| f.0 == Family::Gpt2);
    let fig = scaling_by_family(&input).unwrap();
    assert!(fig.width <= 480, "one family: one column, not a mostly empty grid");
    check(&fig, "03_scaling_by_family_one");
}

#[test]
fn scaling_against_other_model_columns() {
    let base = scaling_input();
    // Perplexity falls with size: a log axis with plain labels; HellaSwag: a linear axis.
    let ppl: Vec<ModelPoint> =
        base.points.iter().map(|p| ModelPoint { n_params: 2.0e3 / p.n_params.powf(0.3), ..p.clone() }).collect();
    let hs: Vec<ModelPoint> =
        base.points.iter().map(|p| ModelPoint { n_params: 0.1 * (p.n_params / 1e7).ln(), ..p.clone() }).collect();
    let fit_on = |pts: &[ModelPoint], log_base: LogBase| {
        let x: Vec<f64> =
            pts.iter().map(|p| if log_base == LogBase::Linear { p.n_params.exp() } else { p.n_params }).collect();
        let y: Vec<f64> = pts.iter().map(|p| p.value).collect();
        let mut f = synthetic::fit(&x, &y); // OLS on ln(x); for the linear case x = exp(value)
        f.log_base = log_base;
        if let Some(b) = f.band.as_mut() {
            if log_base == LogBase::Linear {
                b.n_params.iter_mut().for_each(|v| *v = v.ln());
            }
        }
        f
    };
    let input = Scaling {
        fit: Some(fit_on(&ppl, LogBase::E)),
        x_axis: XAxis::Log,
        x_label: "Wikitext-2 perplexity (log scale)".into(),
        title: "Brain score vs perplexity".into(),
        ..Scaling::new(ppl.clone())
    };
    check(&scaling(&input).unwrap(), "03_scaling_vs_perplexity");
    let input = Scaling {
        fit: Some(fit_on(&hs, LogBase::Linear)),
        x_axis: XAxis::Linear,
        x_label: "HellaSwag accuracy".into(),
        title: "Brain score vs HellaSwag".into(),
        ..Scaling::new(hs)
    };
    let fig = scaling(&input).unwrap();
    assert!(fig.svg.contains("per unit of x"));
    check(&fig, "03_scaling_vs_hellaswag");
    let bad = Scaling { x_axis: XAxis::Log, ..Scaling::new(vec![ModelPoint { n_params: -1.0, ..ppl[0].clone() }]) };
    assert!(scaling(&bad).unwrap_err().to_string().contains("positive"));
}
