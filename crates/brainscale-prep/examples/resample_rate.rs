//! How fast the numerics of `brainscale prepare` run at the corpus' sizes: resampling volumes
//! onto the paper's 4 mm grid (37 x 46 x 38, origin (-72, -106, -64)), cleaning a run, and
//! one subject's EPI mask. Single-threaded; run on an idle machine:
//!
//! ```sh
//! cargo run --release -p brainscale-prep --example resample_rate
//! ```

use std::hint::black_box;
use std::time::Instant;

use brainscale_data::Grid;
use brainscale_prep::clean::{CleanParams, Cleaner};
use brainscale_prep::mask::{EpiMaskParams, MultiEpiMask};
use brainscale_prep::resample::{Interpolation, Resampler};
use faer::Mat;

fn diag(s: f64, o: [f64; 3]) -> [[f64; 4]; 4] {
    [[s, 0.0, 0.0, o[0]], [0.0, s, 0.0, o[1]], [0.0, 0.0, s, o[2]], [0.0, 0.0, 0.0, 1.0]]
}

/// A brain-like volume: a bright ellipsoid with texture on a dark background.
fn volume(grid: &Grid, t: usize) -> Vec<f32> {
    let [nx, ny, nz] = grid.dims;
    let mut v = Vec::with_capacity(grid.n_cells());
    for k in 0..nz {
        for j in 0..ny {
            for i in 0..nx {
                let [x, y, z] = grid.world([i, j, k]);
                let r = (x / 70.0).powi(2) + ((y + 18.0) / 90.0).powi(2) + ((z - 10.0) / 70.0).powi(2);
                let texture = ((x * 0.3).sin() * (y * 0.2).cos() + (z * 0.25 + t as f64 * 0.1).sin()) * 40.0;
                v.push(if r < 1.0 { (900.0 + texture) as f32 } else { (20.0 + texture.abs() * 0.2) as f32 });
            }
        }
    }
    v
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let target = Grid { dims: [37, 46, 38], affine: diag(4.0, [-72.0, -106.0, -64.0]) };
    let sources = [
        ("2.5 mm, 73 x 90 x 74 (the corpus)", Grid { dims: [73, 90, 74], affine: diag(2.5, [-90.0, -126.0, -72.0]) }),
        ("2 mm, 97 x 115 x 97 (MNI 2 mm)", Grid { dims: [97, 115, 97], affine: diag(2.0, [-96.0, -132.0, -78.0]) }),
        ("3 mm oblique, 64 x 76 x 60", {
            let (c, s) = (0.05f64.cos(), 0.05f64.sin());
            Grid {
                dims: [64, 76, 60],
                affine: [
                    [3.0 * c, -3.0 * s, 0.0, -92.0],
                    [3.0 * s, 3.0 * c, 0.0, -128.0],
                    [0.0, 0.0, 3.0, -74.0],
                    [0.0, 0.0, 0.0, 1.0],
                ],
            }
        }),
    ];
    println!("resampling onto 37 x 46 x 38 (4 mm), one thread, release build");
    for (label, source) in &sources {
        let volumes: Vec<Vec<f32>> = (0..4).map(|t| volume(source, t)).collect();
        for interp in [Interpolation::Continuous, Interpolation::Linear] {
            let start = Instant::now();
            let mut r = Resampler::new(source, &target, interp)?;
            let plan_s = start.elapsed().as_secs_f64();
            let mut out = vec![0f32; target.n_cells()];
            let n = if interp == Interpolation::Continuous { 40 } else { 100 };
            let start = Instant::now();
            for t in 0..n {
                black_box(r.resample(&volumes[t % volumes.len()], &mut out)?);
            }
            let per = start.elapsed().as_secs_f64() / n as f64;
            println!(
                "  {label:<36} {:<10} plan {:>6.1} ms, {:>6.2} ms/volume = {:>6.0} volumes/s ({} of {} target voxels inside)",
                interp.name(),
                plan_s * 1e3,
                per * 1e3,
                1.0 / per,
                r.n_inside(),
                target.n_cells()
            );
        }
    }

    let (n_scans, n_voxels) = (300, 25_870);
    let mut signals =
        Mat::<f32>::from_fn(n_scans, n_voxels, |t, v| 800.0 + ((t * (v % 97 + 1)) as f32 * 0.013).sin() * 10.0);
    let cleaner = Cleaner::new(&CleanParams::paper(2.0), n_scans)?;
    let start = Instant::now();
    cleaner.clean(signals.as_mut())?;
    let s = start.elapsed().as_secs_f64();
    println!("cleaning a run of {n_scans} scans x {n_voxels} voxels (detrend, high-pass 1/128 Hz, z-score): {s:.3} s");

    let mut multi = MultiEpiMask::new(&target, EpiMaskParams::default(), 0.5)?;
    let mean = volume(&target, 0);
    let start = Instant::now();
    let info = multi.add(&mean)?;
    let s = start.elapsed().as_secs_f64();
    println!("one subject's EPI mask on the 4 mm grid: {:.1} ms ({} voxels)", s * 1e3, info.n_voxels);
    Ok(())
}
