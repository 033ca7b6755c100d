//! Raw `f32` matmul throughput for the GPT-2-small shapes of one 1024-token window, with the
//! `gemm` crate (as candle 0.11 calls it, `x86-v4` kernels) and faer 0.24.
//!
//! ```text
//! cargo run --release -p brainscale-lm --example matmul_rates [-- THREADS]
//! ```
//!
//! Prints one line per (library, shape): GFLOP/s, the best of several repetitions. Compare
//! with MKL through PyTorch (`torch.set_num_threads(THREADS)`; `a @ b` on the same shapes).

use std::time::Instant;

use faer::linalg::matmul::matmul;
use faer::{Accum, MatMut, MatRef, Par};
use rayon::prelude::*;

/// `(m, k, n)` of `[m, k] x [k, n]`: GPT-2 small's qkv, attention output, MLP up and down.
const SHAPES: [(usize, usize, usize); 4] = [(1024, 768, 2304), (1024, 768, 768), (1024, 768, 3072), (1024, 3072, 768)];

/// Best GFLOP/s of `f` over repetitions lasting about a second in all.
fn rate(flop: f64, mut f: impl FnMut()) -> f64 {
    f(); // warm-up
    let (mut best, start) = (f64::INFINITY, Instant::now());
    while start.elapsed().as_secs_f64() < 1.0 {
        let t = Instant::now();
        f();
        best = best.min(t.elapsed().as_secs_f64());
    }
    flop / best / 1e9
}

fn main() {
    let threads: usize = std::env::args().nth(1).and_then(|s| s.parse().ok()).unwrap_or(2);
    let pool = rayon::ThreadPoolBuilder::new().num_threads(threads).build().expect("a rayon pool");
    pool.install(|| {
        for (m, k, n) in SHAPES {
            let a: Vec<f32> = (0..m * k).map(|i| ((i % 97) as f32 - 48.0) * 1e-2).collect();
            let b: Vec<f32> = (0..k * n).map(|i| ((i % 89) as f32 - 44.0) * 1e-2).collect();
            let mut c = vec![0f32; m * n];
            let flop = 2.0 * (m * k * n) as f64;
            let par = if threads > 1 { gemm::Parallelism::Rayon(threads) } else { gemm::Parallelism::None };
            let g = rate(flop, || unsafe {
                // row-major, exactly as candle's CPU matmul passes contiguous operands
                gemm::gemm(
                    m,
                    n,
                    k,
                    c.as_mut_ptr(),
                    1,
                    n as isize,
                    false,
                    a.as_ptr(),
                    1,
                    k as isize,
                    b.as_ptr(),
                    1,
                    n as isize,
                    0.0,
                    1.0,
                    false,
                    false,
                    false,
                    par,
                )
            });
            let fpar = if threads > 1 { Par::rayon(threads) } else { Par::Seq };
            let f = rate(flop, || {
                let lhs = MatRef::from_row_major_slice(&a, m, k);
                let rhs = MatRef::from_row_major_slice(&b, k, n);
                let dst = MatMut::from_row_major_slice_mut(&mut c, m, n);
                matmul(dst, Accum::Replace, lhs, rhs, 1.0, fpar);
            });
            // what brainscale's linear layers do: rayon over row blocks, one-thread gemm in each
            let mut split = |rows: usize| {
                rate(flop, || {
                    c.par_chunks_mut(rows * n).zip(a.par_chunks(rows * k)).for_each(|(c, a)| unsafe {
                        let r = a.len() / k;
                        gemm::gemm(
                            r,
                            n,
                            k,
                            c.as_mut_ptr(),
                            1,
                            n as isize,
                            false,
                            a.as_ptr(),
                            1,
                            k as isize,
                            b.as_ptr(),
                            1,
                            n as isize,
                            0.0,
                            1.0,
                            false,
                            false,
                            false,
                            gemm::Parallelism::None,
                        )
                    })
                })
            };
            let (s128, s256) = (split(128), split(256));
            println!(
                "[{m},{k}]x[{k},{n}] threads {threads}: gemm {g:.1}, faer {f:.1}, \
                 gemm over 128-row blocks {s128:.1}, over 256-row blocks {s256:.1} GFLOP/s"
            );
        }
    });
}
