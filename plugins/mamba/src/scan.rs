//! The selective scan of Mamba v1 on contiguous f32 buffers (HF `MambaMixer.slow_forward`'s
//! sequential loop, one state per channel, parallel over channels).
//!
//! For every channel i and time t, with Δ = softplus(dt) already applied:
//!
//! ```text
//! h[i, :] = exp(Δ[t, i] · A[i, :]) ⊙ h[i, :] + Δ[t, i] · u[t, i] · B[t, :]
//! y[t, i] = ⟨h[i, :], C[t, :]⟩ + D[i] · u[t, i]
//! ```

use rayon::prelude::*;

/// Inputs of one scan, row-major: `u`, `delta` `[L, I]`, `b`, `c` `[L, N]`, `a` `[I, N]`
/// (already `-exp(A_log)`), `d` `[I]`.
pub struct ScanInputs<'a> {
    /// Sequence length L.
    pub len: usize,
    /// Channels I.
    pub channels: usize,
    /// State size N.
    pub state: usize,
    /// The convolved, activated input.
    pub u: &'a [f32],
    /// Δ, after softplus.
    pub delta: &'a [f32],
    /// The input-dependent B.
    pub b: &'a [f32],
    /// The input-dependent C.
    pub c: &'a [f32],
    /// The state matrix A (negative).
    pub a: &'a [f32],
    /// The skip D.
    pub d: &'a [f32],
}

/// Channels per parallel task.
const BLOCK: usize = 64;

/// `y` `[L, I]` row-major (before the gate).
pub fn selective_scan(x: &ScanInputs<'_>) -> Vec<f32> {
    let (len, ch, n) = (x.len, x.channels, x.state);
    let blocks: Vec<(usize, Vec<f32>)> = (0..ch.div_ceil(BLOCK))
        .into_par_iter()
        .map(|blk| {
            let lo = blk * BLOCK;
            let hi = (lo + BLOCK).min(ch);
            let width = hi - lo;
            let mut h = vec![0f32; width * n];
            let mut y = vec![0f32; len * width];
            for t in 0..len {
                let bt = &x.b[t * n..(t + 1) * n];
                let ct = &x.c[t * n..(t + 1) * n];
                for (j, i) in (lo..hi).enumerate() {
                    let dt = x.delta[t * ch + i];
                    let u = x.u[t * ch + i];
                    let du = dt * u;
                    let ai = &x.a[i * n..(i + 1) * n];
                    let hi_ = &mut h[j * n..(j + 1) * n];
                    let mut acc = 0f32;
                    for k in 0..n {
                        let s = (dt * ai[k]).exp() * hi_[k] + du * bt[k];
                        hi_[k] = s;
                        acc += s * ct[k];
                    }
                    y[t * width + j] = acc + x.d[i] * u;
                }
            }
            (lo, y)
        })
        .collect();
    let mut out = vec![0f32; len * ch];
    for (lo, y) in blocks {
        let width = y.len() / len.max(1);
        for t in 0..len {
            out[t * ch + lo..t * ch + lo + width].copy_from_slice(&y[t * width..(t + 1) * width]);
        }
    }
    out
}

/// PyTorch's `softplus` (beta 1, threshold 20: x above 20 is returned as is).
pub fn softplus(x: f32) -> f32 {
    if x > 20.0 { x } else { x.exp().ln_1p() }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scan_matches_a_direct_recurrence() {
        let (len, ch, n) = (5, 70, 3);
        let f = |k: usize, s: f32| (k as f32 * 0.37 + s).sin() * 0.5;
        let u: Vec<f32> = (0..len * ch).map(|k| f(k, 0.1)).collect();
        let delta: Vec<f32> = (0..len * ch).map(|k| softplus(f(k, 0.2))).collect();
        let b: Vec<f32> = (0..len * n).map(|k| f(k, 0.3)).collect();
        let c: Vec<f32> = (0..len * n).map(|k| f(k, 0.4)).collect();
        let a: Vec<f32> = (0..ch * n).map(|k| -((k % n) as f32 + 1.0)).collect();
        let d: Vec<f32> = (0..ch).map(|k| f(k, 0.5)).collect();
        let y = selective_scan(&ScanInputs {
            len,
            channels: ch,
            state: n,
            u: &u,
            delta: &delta,
            b: &b,
            c: &c,
            a: &a,
            d: &d,
        });
        for i in [0, 63, 64, 69] {
            let mut h = vec![0f64; n];
            for t in 0..len {
                let mut acc = 0f64;
                for k in 0..n {
                    let dt = f64::from(delta[t * ch + i]);
                    h[k] = (dt * f64::from(a[i * n + k])).exp() * h[k]
                        + dt * f64::from(u[t * ch + i]) * f64::from(b[t * n + k]);
                    acc += h[k] * f64::from(c[t * n + k]);
                }
                let want = acc + f64::from(d[i]) * f64::from(u[t * ch + i]);
                assert!((f64::from(y[t * ch + i]) - want).abs() < 1e-5, "t {t} i {i}");
            }
        }
        assert_eq!(softplus(30.0), 30.0);
        assert!((softplus(0.0) - 2f32.ln()).abs() < 1e-7);
    }
}
