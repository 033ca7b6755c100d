//! Reading one subject's run in pass 2 of [`super::prepare`]: every volume resampled onto the
//! target grid and clipped as nilearn does, the group mask's voxels kept and, for a subject kept
//! as a dataset of its own, its own voxels, smoothed first when asked (nilearn's `NiftiMasker`
//! smooths the whole image, then masks).

use std::path::Path;

use faer::Mat;

use brainscale_data::nifti_io::VolumeReader;

use crate::error::{PrepError, Result};
use crate::resample::{ClipRange, Resampler};
use crate::smooth::Smoothing;

/// The second output of [`load_run`]: a kept subject's voxels (`offsets` into the target
/// volume), from the volumes smoothed by `smoothing` when there is one; `out` is n_scans x
/// offsets.len().
pub(super) struct KeptRun<'a> {
    pub smoothing: Option<&'a Smoothing>,
    pub offsets: &'a [usize],
    pub out: &'a mut Mat<f32>,
}

/// Reads one run, resamples each volume, clips it to the run's `range` (nilearn's
/// `resample_img` clips the whole 4D image to its source range; pass 1 measured it), and keeps
/// the group mask's voxels (`offsets` into the target volume): `out` is n_scans x n_voxels.
/// With `kept`, also fills its output.
///
/// Reading (gzip decompression) runs on its own thread, one or two volumes ahead of the
/// resampling, so the two overlap on a two-core machine.
pub(super) fn load_run(
    path: &Path,
    mut resampler: Resampler,
    range: ClipRange,
    offsets: &[usize],
    out: &mut Mat<f32>,
    mut kept: Option<KeptRun<'_>>,
) -> Result<()> {
    let mut reader = VolumeReader::open(path)?;
    let n_cells = reader.info().grid.n_cells();
    let n_target = resampler.target().n_cells();
    let mut resampled = vec![0f32; n_target];
    let mut smoothed = match kept.as_ref().and_then(|k| k.smoothing) {
        Some(_) => vec![0f32; n_target],
        None => Vec::new(),
    };
    let (full_tx, full_rx) = std::sync::mpsc::sync_channel::<(usize, Vec<f32>)>(2);
    let (empty_tx, empty_rx) = std::sync::mpsc::channel::<Vec<f32>>();
    for _ in 0..3 {
        let _ = empty_tx.send(vec![0f32; n_cells]);
    }
    let fail = |reason: String, target: String| PrepError::Resample { path: path.to_path_buf(), target, reason };
    std::thread::scope(|scope| -> Result<()> {
        let read = scope.spawn(move || -> Result<()> {
            while let Ok(mut volume) = empty_rx.recv() {
                match reader.read_next(&mut volume)? {
                    Some(t) => {
                        if full_tx.send((t, volume)).is_err() {
                            break; // the consumer stopped on an error
                        }
                    }
                    None => break,
                }
            }
            Ok(())
        });
        let mut outcome = Ok(());
        for (t, volume) in full_rx.iter() {
            if let Err(e) = resampler.resample(&volume, &mut resampled) {
                outcome = Err(fail(e.to_string(), resampler.target().to_string()));
                break;
            }
            range.clip(&mut resampled);
            for (v, &o) in offsets.iter().enumerate() {
                out[(t, v)] = resampled[o];
            }
            if let Some(k) = kept.as_mut() {
                let source = match k.smoothing {
                    Some(smoothing) => {
                        smoothed.copy_from_slice(&resampled);
                        if let Err(e) = smoothing.smooth(&mut smoothed) {
                            outcome = Err(fail(e.to_string(), format!("smoothing ({} mm FWHM)", smoothing.fwhm())));
                            break;
                        }
                        &smoothed
                    }
                    None => &resampled,
                };
                for (v, &o) in k.offsets.iter().enumerate() {
                    k.out[(t, v)] = source[o];
                }
            }
            let _ = empty_tx.send(volume);
        }
        drop(full_rx);
        drop(empty_tx);
        let read_outcome = read.join().unwrap_or_else(|_| {
            Err(PrepError::Output { path: path.to_path_buf(), reason: "the reading thread panicked".into() })
        });
        outcome.and(read_outcome)
    })
}

#[cfg(test)]
mod tests {
    use brainscale_data::Grid;
    use brainscale_data::nifti_io::{header_for_grid, write_f32};
    use flate2::Compression;

    use super::*;
    use crate::resample::Interpolation;

    #[test]
    fn the_kept_output_is_clipped_then_smoothed_then_masked() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("run.nii.gz");
        let diag = |s: f64, o: f64| [[s, 0.0, 0.0, o], [0.0, s, 0.0, o], [0.0, 0.0, s, o], [0.0, 0.0, 0.0, 1.0]];
        let source = Grid { dims: [9, 9, 9], affine: diag(2.0, -8.0) };
        let target = Grid { dims: [5, 5, 5], affine: diag(3.0, -6.0) };
        // Steps with a NaN: the cubic spline overshoots (clipped), the NaN spreads (set to 0).
        let value = |t: usize, c: usize| match c {
            40 if t == 1 => f32::NAN,
            _ if c % 9 < 4 => 100.0 + t as f32,
            _ => 0.0,
        };
        write_f32(&path, &header_for_grid(&source, 4), &[9, 9, 9, 3], Some(2.0), Compression::fast(), |t, v| {
            v.iter_mut().enumerate().for_each(|(c, x)| *x = value(t, c));
            Ok(())
        })
        .unwrap();
        let resampler = Resampler::new(&source, &target, Interpolation::Continuous).unwrap();
        let range = ClipRange { min: 0.0, max: 102.0 };
        let smoothing = Smoothing::new(&target, 4.0).unwrap();
        let (group, own) = (vec![0, 7, 62, 124], vec![3, 62, 63]);
        let mut out = Mat::<f32>::zeros(3, group.len());
        let mut own_out = Mat::<f32>::zeros(3, own.len());
        let kept = KeptRun { smoothing: Some(&smoothing), offsets: &own, out: &mut own_out };
        load_run(&path, resampler.clone(), range, &group, &mut out, Some(kept)).unwrap();
        let mut r = resampler;
        for t in 0..3 {
            let volume: Vec<f32> = (0..729).map(|c| value(t, c)).collect();
            let mut full = vec![0f32; 125];
            r.resample(&volume, &mut full).unwrap();
            range.clip(&mut full);
            for (v, &o) in group.iter().enumerate() {
                assert_eq!(out[(t, v)].to_bits(), full[o].to_bits(), "group voxel {v}, scan {t}");
            }
            smoothing.smooth(&mut full).unwrap();
            for (v, &o) in own.iter().enumerate() {
                assert_eq!(own_out[(t, v)], full[o], "own voxel {v}, scan {t}");
                assert!(own_out[(t, v)].is_finite());
            }
        }
    }
}
