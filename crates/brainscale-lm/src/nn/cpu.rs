//! Float32 CPU fast paths on contiguous slices, for the two steps that hold nearly all of a
//! decoder's arithmetic:
//!
//! * [`linear`]: `act(x W + b) + residual` with the bias, activation and residual fused into
//!   the matmul's row blocks;
//! * [`CausalAttention`]: softmax attention over the keys at or before each query, one rayon
//!   task per (query block, head).
//!
//! Both split the work into rayon tasks that each run a single-threaded matmul (the `gemm`
//! crate's kernels, those of candle's own CPU matmul): one fork-join per step instead of one per
//! matmul and per element-wise op, and each block's epilogue runs while its rows are in cache.
//! Callers take these paths only for `f32` tensors on the CPU ([`super::kernels::is_cpu_f32`])
//! and use candle ops otherwise.

use candle_core::{CpuStorage, Result, Storage, StorageRef, Tensor, bail};
use rayon::prelude::*;

use super::kernels::{Activation, simd_fn, softmax};

/// At most this many rows of `x` per task of [`linear`]...
const LINEAR_ROWS: usize = 512;

/// ...and at least this many (a multiple of the matmul kernels' row tile).
const LINEAR_MIN_ROWS: usize = 16;

/// Rows of `x` per task of [`linear`]: one task per thread where rows allow, so that each
/// thread packs the weight matrix once per call (packing the 768 x 2304 QKV weight for every
/// 128-row block cost GPT-2 small ~5% of its time), capped to keep a block's epilogue in cache.
fn linear_rows(rows: usize) -> usize {
    let per_thread = rows.div_ceil(rayon::current_num_threads().max(1));
    per_thread.next_multiple_of(LINEAR_MIN_ROWS).clamp(LINEAR_MIN_ROWS, LINEAR_ROWS)
}

/// Queries per task of [`CausalAttention`].
const QUERY_BLOCK: usize = 64;

/// The contiguous `f32` data of a CPU tensor, borrowed for as long as this lives.
pub(crate) struct HostSlice<'a> {
    storage: StorageRef<'a>,
    range: std::ops::Range<usize>,
}

impl<'a> HostSlice<'a> {
    /// Borrows `t`'s data; fails unless `t` is a contiguous `f32` CPU tensor.
    pub fn new(t: &'a Tensor) -> Result<Self> {
        let (storage, layout) = t.storage_and_layout();
        if !matches!(&*storage, Storage::Cpu(CpuStorage::F32(_))) {
            bail!("brainscale fast path: expected an f32 CPU tensor")
        }
        let Some((start, end)) = layout.contiguous_offsets() else {
            bail!("brainscale fast path: expected a contiguous tensor")
        };
        Ok(Self { storage, range: start..end })
    }

    /// The elements in row-major order.
    pub fn get(&self) -> &[f32] {
        match &*self.storage {
            Storage::Cpu(CpuStorage::F32(data)) => &data[self.range.clone()],
            // `new` admits f32 CPU storage only
            _ => &[],
        }
    }
}

/// A strided matrix view: element `(i, j)` is `data[i * rs + j * cs]`.
#[derive(Clone, Copy)]
struct View<'a> {
    data: &'a [f32],
    rows: usize,
    cols: usize,
    rs: usize,
    cs: usize,
}

impl<'a> View<'a> {
    /// Checks that every element lies inside `data`.
    fn new(data: &'a [f32], rows: usize, cols: usize, rs: usize, cs: usize) -> Result<Self> {
        if rows > 0 && cols > 0 && (rows - 1) * rs + (cols - 1) * cs >= data.len() {
            bail!("brainscale fast path: a {rows}x{cols} view with strides ({rs}, {cs}) overruns {}", data.len())
        }
        Ok(Self { data, rows, cols, rs, cs })
    }

    /// The row-major `rows x cols` matrix at the start of `data`.
    fn dense(data: &'a [f32], rows: usize, cols: usize) -> Result<Self> {
        Self::new(data, rows, cols, cols, 1)
    }
}

/// `dst = lhs rhs`, or `dst += lhs rhs` with `accumulate`, on the calling thread; `dst` is
/// row-major with row stride `dst_rs`.
fn matmul(dst: &mut [f32], dst_rs: usize, lhs: View<'_>, rhs: View<'_>, accumulate: bool) -> Result<()> {
    let (m, k, n) = (lhs.rows, lhs.cols, rhs.cols);
    if rhs.rows != k {
        bail!("brainscale fast path: cannot multiply {m}x{k} by {}x{n}", rhs.rows)
    }
    if m == 0 || n == 0 {
        return Ok(());
    }
    if (m - 1) * dst_rs + n > dst.len() {
        bail!("brainscale fast path: a {m}x{n} product overruns its destination ({})", dst.len())
    }
    if k == 0 {
        if !accumulate {
            dst.chunks_mut(dst_rs).take(m).for_each(|row| row[..n].fill(0.0));
        }
        return Ok(());
    }
    // SAFETY: the views and the destination were bounds-checked above for these shapes and
    // strides, and `dst` is borrowed mutably, so it aliases neither operand.
    unsafe {
        gemm::gemm(
            m,
            n,
            k,
            dst.as_mut_ptr(),
            1,
            dst_rs as isize,
            accumulate,
            lhs.data.as_ptr(),
            lhs.cs as isize,
            lhs.rs as isize,
            rhs.data.as_ptr(),
            rhs.cs as isize,
            rhs.rs as isize,
            1.0,
            1.0,
            false,
            false,
            false,
            gemm::Parallelism::None,
        );
    }
    Ok(())
}

/// What [`linear`] does to `x W`'s rows besides the product.
#[derive(Clone, Copy, Default)]
pub(crate) struct Epilogue<'a> {
    /// `[d_out]`, added to every row.
    pub bias: Option<&'a [f32]>,
    /// Applied after the bias.
    pub act: Option<Activation>,
    /// `[rows, d_out]`, added last.
    pub residual: Option<&'a [f32]>,
}

/// `act(x W + b) + residual` for row-major `x [rows, d_in]` and `w [d_in, d_out]`: returns
/// `[rows, d_out]`, row-major.
pub(crate) fn linear(x: &[f32], w: &[f32], d_out: usize, e: Epilogue<'_>) -> Result<Vec<f32>> {
    let d_in = w.len().checked_div(d_out).unwrap_or(0);
    if d_in * d_out != w.len() || (d_in == 0 && !x.is_empty()) || (d_in > 0 && x.len() % d_in != 0) {
        bail!("brainscale linear: {} inputs for a {} -> {d_out} map", x.len(), w.len())
    }
    let rows = x.len().checked_div(d_in).unwrap_or(0);
    if e.bias.is_some_and(|b| b.len() != d_out) || e.residual.is_some_and(|r| r.len() != rows * d_out) {
        bail!("brainscale linear: bias or residual does not match [{rows}, {d_out}]")
    }
    let mut y = vec![0f32; rows * d_out];
    if d_out == 0 {
        return Ok(y);
    }
    let w = View::dense(w, d_in, d_out)?;
    let block = linear_rows(rows);
    y.par_chunks_mut(block * d_out).enumerate().try_for_each(|(i, y)| -> Result<()> {
        let r0 = i * block;
        let n_rows = y.len() / d_out;
        // with no activation, bias and residual go in first and the product accumulates onto them
        let preload = e.act.is_none() && (e.bias.is_some() || e.residual.is_some());
        if preload {
            if let Some(r) = e.residual {
                y.copy_from_slice(&r[r0 * d_out..(r0 + n_rows) * d_out]);
            }
            if e.bias.is_some() {
                epilogue(y, d_out, e.bias, None, None);
            }
        }
        matmul(y, d_out, View::dense(&x[r0 * d_in..(r0 + n_rows) * d_in], n_rows, d_in)?, w, preload)?;
        if !preload {
            let residual = e.residual.map(|r| &r[r0 * d_out..(r0 + n_rows) * d_out]);
            epilogue(y, d_out, e.bias, e.act, residual);
        }
        Ok(())
    })?;
    Ok(y)
}

simd_fn! {
    /// `act(y + b) + residual` in place, row by row (`y` and `residual` hold the same rows).
    fn epilogue(y: &mut [f32], d_out: usize, bias: Option<&[f32]>, act: Option<Activation>, residual: Option<&[f32]>) {
        for (j, row) in y.chunks_exact_mut(d_out).enumerate() {
            if let Some(b) = bias {
                row.iter_mut().zip(b).for_each(|(v, &b)| *v += b);
            }
            if let Some(act) = act {
                act.apply_in_place(row);
            }
            if let Some(r) = residual {
                row.iter_mut().zip(&r[j * d_out..(j + 1) * d_out]).for_each(|(v, &r)| *v += r);
            }
        }
    }
}

/// Heads of queries, keys or values in a slice: head `h` of token `t` is the `head_dim`
/// elements from `t * token_stride + h * head_stride` (`[tokens, heads, d]` and
/// `[heads, tokens, d]` layouts alike).
#[derive(Clone, Copy)]
pub(crate) struct Heads<'a> {
    /// The elements.
    pub data: &'a [f32],
    /// Distance between consecutive tokens.
    pub token_stride: usize,
    /// Distance between consecutive heads.
    pub head_stride: usize,
}

impl<'a> Heads<'a> {
    /// Contiguous `[heads, tokens, head_dim]` data.
    pub fn head_major(data: &'a [f32], tokens: usize, head_dim: usize) -> Self {
        Self { data, token_stride: head_dim, head_stride: tokens * head_dim }
    }

    /// Tokens `t0..t0 + n` of head `h` as an `[n, head_dim]` view.
    fn view(&self, h: usize, t0: usize, n: usize, head_dim: usize) -> Result<View<'a>> {
        let start = t0 * self.token_stride + h * self.head_stride;
        match self.data.get(start..) {
            Some(data) => View::new(data, n, head_dim, self.token_stride, 1),
            None => bail!("brainscale attention: head {h} of token {t0} is out of bounds"),
        }
    }
}

/// Runs `f` on this thread's scratch buffer of `n` elements (grown as needed, never shrunk,
/// contents left from the previous use): the attention probabilities of every (query block,
/// head) task reuse one buffer per thread instead of allocating and zeroing 256 KiB each.
fn with_scratch<R>(n: usize, f: impl FnOnce(&mut [f32]) -> R) -> R {
    thread_local! {
        static SCRATCH: std::cell::RefCell<Vec<f32>> = const { std::cell::RefCell::new(Vec::new()) };
    }
    SCRATCH.with(|cell| match cell.try_borrow_mut() {
        Ok(mut buf) => {
            if buf.len() < n {
                buf.resize(n, 0.0);
            }
            f(&mut buf[..n])
        }
        // re-entered on this thread (a rayon task waiting inside `f`): a fresh buffer
        Err(_) => f(&mut vec![0f32; n]),
    })
}

/// Causal (optionally sliding-window) softmax attention with scores already scaled (the scale
/// is folded into the query projection).
pub(crate) struct CausalAttention {
    /// Query heads.
    pub n_heads: usize,
    /// Key/value heads (query head `h` reads key head `h / (n_heads / n_kv_heads)`).
    pub n_kv_heads: usize,
    /// Features per head.
    pub head_dim: usize,
    /// A query at position `i` sees keys `j` with `i - j < window` only.
    pub window: Option<usize>,
}

impl CausalAttention {
    /// Attention of the queries at positions `first_query..first_query + n_queries` (rows
    /// `0..n_queries` of `q`) over the keys and values at positions `0..n_keys`: returns
    /// `[n_queries, n_heads * head_dim]`, row-major.
    pub fn forward(
        &self,
        q: Heads<'_>,
        k: Heads<'_>,
        v: Heads<'_>,
        first_query: usize,
        n_queries: usize,
        n_keys: usize,
    ) -> Result<Vec<f32>> {
        let (h, d) = (self.n_heads, self.head_dim);
        if self.n_kv_heads == 0 || h % self.n_kv_heads != 0 || first_query + n_queries > n_keys {
            bail!("brainscale attention: {h} heads over {} key heads, queries beyond the keys", self.n_kv_heads)
        }
        let group = h / self.n_kv_heads;
        // Kᵀ once per key head, `[kvh, d, n_keys]`: each (block, head) task then reads its
        // `d x nk` slice row-major, instead of the matmul packing a transposed, strided view
        // element by element for every query block (3% of GPT-2's time).
        let mut kt = vec![0f32; self.n_kv_heads * d * n_keys];
        kt.par_chunks_mut(d * n_keys).enumerate().try_for_each(|(kv, dst)| -> Result<()> {
            let src = k.view(kv, 0, n_keys, d)?;
            for t in 0..n_keys {
                let row = &src.data[t * src.rs..t * src.rs + d];
                for (j, &x) in row.iter().enumerate() {
                    dst[j * n_keys + t] = x;
                }
            }
            Ok(())
        })?;
        let n_blocks = n_queries.div_ceil(QUERY_BLOCK);
        // the costliest (latest) blocks first, for an even split across threads
        let tasks: Vec<(usize, usize)> = (0..n_blocks).rev().flat_map(|b| (0..h).map(move |head| (b, head))).collect();
        let outputs = tasks
            .par_iter()
            .map(|&(b, head)| -> Result<Vec<f32>> {
                let (r0, len) = (b * QUERY_BLOCK, QUERY_BLOCK.min(n_queries - b * QUERY_BLOCK));
                let qs = first_query + r0;
                let k0 = self.window.map_or(0, |w| (qs + 1).saturating_sub(w));
                let nk = qs + len - k0;
                let kv = head / group;
                let scores_rhs = View::new(&kt[kv * d * n_keys + k0..], d, nk, n_keys, 1)?;
                let mut o = vec![0f32; len * d];
                with_scratch(len * nk, |probs| {
                    // every element is written by the product, then by the softmax
                    matmul(probs, nk, q.view(head, r0, len, d)?, scores_rhs, false)?;
                    for (i, row) in probs.chunks_exact_mut(nk).enumerate() {
                        let pos = qs + i;
                        let lo = self.window.map_or(0, |w| (pos + 1).saturating_sub(w)).max(k0) - k0;
                        softmax(row, lo, pos + 1 - k0);
                    }
                    matmul(&mut o, d, View::dense(probs, len, nk)?, v.view(kv, k0, nk, d)?, false)
                })?;
                Ok(o)
            })
            .collect::<Result<Vec<_>>>()?;
        let mut y = vec![0f32; n_queries * h * d];
        for (&(b, head), o) in tasks.iter().zip(&outputs) {
            for (i, src) in o.chunks_exact(d).enumerate() {
                let start = (b * QUERY_BLOCK + i) * h * d + head * d;
                y[start..start + d].copy_from_slice(src);
            }
        }
        Ok(y)
    }
}

#[cfg(test)]
mod tests {
    use candle_core::{Device, Tensor};

    use super::*;

    fn rel_diff(a: &[f32], b: &[f32]) -> f32 {
        let scale = b.iter().fold(0f32, |m, v| m.max(v.abs()));
        a.iter().zip(b).fold(0f32, |m, (x, y)| m.max((x - y).abs())) / scale
    }

    #[test]
    fn linear_fuses_bias_activation_and_residual() -> Result<()> {
        let dev = Device::Cpu;
        let (rows, d_in, d_out) = (300, 24, 40);
        let x = Tensor::randn(0f32, 1.0, (rows, d_in), &dev)?;
        let w = Tensor::randn(0f32, 1.0, (d_in, d_out), &dev)?;
        let b = Tensor::randn(0f32, 1.0, d_out, &dev)?;
        let r = Tensor::randn(0f32, 1.0, (rows, d_out), &dev)?;
        let (xs, ws, bs, rs) =
            (x.flatten_all()?.to_vec1()?, w.flatten_all()?.to_vec1()?, b.to_vec1()?, r.flatten_all()?.to_vec1()?);
        let xw = x.matmul(&w)?.broadcast_add(&b)?;
        let cases = [
            (None, None, xw.clone()),
            (Some(Activation::GeluTanh), None, xw.gelu()?),
            (None, Some(&rs), (&xw + &r)?),
            (Some(Activation::Relu), Some(&rs), (xw.relu()? + &r)?),
        ];
        for (act, residual, want) in cases {
            let e = Epilogue { bias: Some(&bs), act, residual: residual.map(Vec::as_slice) };
            let got = linear(&xs, &ws, d_out, e)?;
            let diff = rel_diff(&got, &want.flatten_all()?.to_vec1()?);
            assert!(diff < 1e-5, "{act:?}, residual {}: {diff}", residual.is_some());
        }
        Ok(())
    }

    #[test]
    fn attention_matches_a_masked_softmax() -> Result<()> {
        let dev = Device::Cpu;
        let (h, kvh, d, n, from) = (4, 2, 8, 150, 20);
        for window in [None, Some(37)] {
            let op = CausalAttention { n_heads: h, n_kv_heads: kvh, head_dim: d, window };
            // q, k, v token-major in one [n, (h + 2 kvh) d] matrix, as a fused projection gives them
            let qkv = Tensor::randn(0f32, 1.0, (n, (h + 2 * kvh) * d), &dev)?;
            let data: Vec<f32> = qkv.flatten_all()?.to_vec1()?;
            let stride = (h + 2 * kvh) * d;
            let at = |offset: usize| Heads { data: &data[offset..], token_stride: stride, head_stride: d };
            let got = op.forward(at(from * stride), at(h * d), at((h + kvh) * d), from, n - from, n)?;
            let heads = |offset: usize, count: usize| -> Result<Tensor> {
                qkv.narrow(1, offset, count * d)?.reshape((n, count, d))?.transpose(0, 1)?.contiguous()
            };
            let (q, k, v) = (heads(0, h)?, heads(h * d, kvh)?, heads((h + kvh) * d, kvh)?);
            let mut want = Vec::new();
            for head in 0..h {
                let (q, k, v) = (q.get(head)?, k.get(head / (h / kvh))?, v.get(head / (h / kvh))?);
                let mut mask = vec![f32::NEG_INFINITY; n * n];
                for i in 0..n {
                    for j in 0..=i {
                        if window.is_none_or(|w| i - j < w) {
                            mask[i * n + j] = 0.0;
                        }
                    }
                }
                let scores = (q.matmul(&k.t()?)? + Tensor::from_vec(mask, (n, n), &dev)?)?;
                want.push(candle_nn::ops::softmax_last_dim(&scores)?.matmul(&v)?.narrow(0, from, n - from)?);
            }
            let want = Tensor::stack(&want, 1)?.flatten_all()?.to_vec1::<f32>()?;
            let diff = rel_diff(&got, &want);
            assert!(diff < 1e-5, "window {window:?}: {diff}");
        }
        Ok(())
    }
}
