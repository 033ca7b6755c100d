#!/usr/bin/env python3
"""Side-by-side benchmark of brainscale's `paper` cross-validation against the reference
implementations (scikit-learn, as in the paper; himalaya doing the same procedure), on the
SAME data file.

Run it with the nilearn 0.10 venv (created by tests/fixtures/generate.sh):

  cargo build --release -p brainscale-core --example paper_cv
  .venv-nilearn010/bin/python scripts/bench_reference.py                  # F=768, V=25870
  .venv-nilearn010/bin/python scripts/bench_reference.py --ref-voxels all # full reference run
  .venv-nilearn010/bin/python scripts/bench_reference.py --voxels 2000 --features 128 --skip-rust

Steps: (1) write a seeded synthetic layer (9 runs x 290 scans, X [290, F] and Y [290, V]
float32 per run, alphas = logspace(2, 7, 16)) to <workdir>/bench-F{F}.safetensors (reused when
it already holds the same parameters); (2) run `<rust-bin> --data FILE --out
<workdir>/rust-F{F}.safetensors --cv paper`, which prints a JSON line {"seconds": ...} and
writes r [V] f32 and best_alpha [9] f64; (3) run the scikit-learn paper procedure and himalaya
(RidgeCV, one predefined split, local_alpha=False) on the first --ref-voxels voxels and project
their time to V; (4) print a table and write <workdir>/bench-F{F}-summary.json.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def parse_args(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--features", type=int, default=768, help="n_features F (default 768)")
    ap.add_argument("--voxels", type=int, default=25870, help="n_voxels V (default 25870)")
    ap.add_argument("--runs", type=int, default=9, help="number of runs (default 9)")
    ap.add_argument("--scans", type=int, default=290, help="scans per run after trimming (290)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--workdir", default=str(ROOT / "scratch" / "bench"),
                    help="where the data and result files go (default scratch/bench, git-ignored)")
    ap.add_argument("--rust-bin", default=str(ROOT / "target" / "release" / "examples" / "paper_cv"),
                    help="brainscale paper_cv example binary")
    ap.add_argument("--skip-rust", action="store_true", help="do not run the Rust implementation")
    ap.add_argument("--skip-sklearn", action="store_true")
    ap.add_argument("--skip-himalaya", action="store_true")
    ap.add_argument("--ref-voxels", default="2587",
                    help="run the references on the first N voxels and project the time to V "
                         "(default 2587 = 10%% of 25870); 'all' for the full run")
    ap.add_argument("--ref-dtype", choices=["float64", "float32"], default="float64",
                    help="dtype of the reference computations (default float64, as the paper: "
                         "nilearn's float64 regressors make scikit-learn upcast everything)")
    ap.add_argument("--threads", type=int, default=os.cpu_count() or 1,
                    help="OMP/MKL/OPENBLAS (and RAYON, for Rust) threads (default: all cores)")
    ap.add_argument("--regen", action="store_true", help="rewrite the data file even if present")
    args = ap.parse_args(argv)
    if args.ref_voxels != "all":
        try:
            args.ref_voxels = int(args.ref_voxels)
        except ValueError:
            ap.error("--ref-voxels takes an integer or 'all'")
        if args.ref_voxels < 1:
            ap.error("--ref-voxels must be >= 1")
    if args.runs < 3:
        ap.error("--runs must be >= 3 (test, validation and at least one inner run)")
    return args


ARGS = parse_args() if __name__ == "__main__" else None
if ARGS is not None:  # thread counts must be set before numpy / BLAS load
    for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS",
                "BLIS_NUM_THREADS", "VECLIB_MAXIMUM_THREADS", "NUMEXPR_NUM_THREADS",
                "RAYON_NUM_THREADS"):
        os.environ[var] = str(ARGS.threads)

import warnings  # noqa: E402

import numpy as np  # noqa: E402


# --------------------------------------------------------------------------------------------
# data
# --------------------------------------------------------------------------------------------


def zscore_runs_inplace(a: np.ndarray) -> None:
    """Population z-score per column, in place; constant columns become 0."""
    a -= a.mean(axis=0, dtype=np.float64).astype(a.dtype)
    std = a.std(axis=0, dtype=np.float64)
    scale = np.where(std > 0, 1.0 / np.where(std > 0, std, 1.0), 0.0).astype(a.dtype)
    a *= scale


def hrf_like_kernel() -> np.ndarray:
    from scipy.stats import gamma

    t = np.arange(0, 32, 2.0)
    k = gamma.pdf(t, 6.0) - 0.35 * gamma.pdf(t, 12.0)
    return k / np.abs(k).sum()


def smooth(rng, n: int, cols: int) -> np.ndarray:
    from scipy.signal import lfilter

    k = hrf_like_kernel()
    z = rng.standard_normal((n + k.size, cols), dtype=np.float32)
    return lfilter(k, [1.0], z, axis=0)[k.size :].astype(np.float32)


def make_data(args, path: Path) -> None:
    from safetensors.numpy import save_file

    rng = np.random.default_rng(args.seed)
    R, T, F, V = args.runs, args.scans, args.features, args.voxels
    n = R * T
    n_latent = max(8, F // 12)
    t0 = time.perf_counter()
    lat = smooth(rng, n, n_latent)
    mix = rng.standard_normal((n_latent, F), dtype=np.float32)
    X = lat @ mix
    priv = smooth(rng, n, F)  # private (per-feature) smooth noise: keeps X'X well conditioned
    X += (0.5 * X.std() / priv.std()) * priv
    del priv
    for r in range(R):
        zscore_runs_inplace(X[r * T : (r + 1) * T])
    W = rng.standard_normal((F, V), dtype=np.float32)
    W *= rng.uniform(0.2, 1.0, V).astype(np.float32)
    Y = X @ W
    del W
    Y /= Y.std(axis=0, dtype=np.float64).astype(np.float32)
    snr = np.exp(rng.uniform(np.log(0.02), np.log(1.5), V)).astype(np.float32)
    snr[rng.random(V) < 0.05] = 0.0  # ~5% pure-noise voxels
    Y *= snr
    for start in range(0, V, 4096):  # noise in chunks: no second full-size temporary
        sl = slice(start, min(V, start + 4096))
        Y[:, sl] += rng.standard_normal((n, sl.stop - sl.start), dtype=np.float32)
    for r in range(R):
        zscore_runs_inplace(Y[r * T : (r + 1) * T])
    tensors = {}
    for r in range(R):
        tensors[f"X.run-{r + 1:02d}"] = np.ascontiguousarray(X[r * T : (r + 1) * T])
        tensors[f"Y.run-{r + 1:02d}"] = np.ascontiguousarray(Y[r * T : (r + 1) * T])
    tensors["alphas"] = np.logspace(2, 7, 16)
    meta = dict(generator="scripts/bench_reference.py", seed=str(args.seed), runs=str(R),
                scans=str(T), features=str(F), voxels=str(V), data_version="1")
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    save_file(tensors, str(tmp), metadata=meta)
    os.replace(tmp, path)
    print(f"wrote {path} ({path.stat().st_size / 2**20:.1f} MiB) in {time.perf_counter() - t0:.1f} s")


def data_matches(args, path: Path) -> bool:
    if not path.exists():
        return False
    from safetensors import safe_open

    try:
        with safe_open(str(path), "np") as f:
            md = f.metadata() or {}
    except Exception:
        return False
    want = dict(seed=str(args.seed), runs=str(args.runs), scans=str(args.scans),
                features=str(args.features), voxels=str(args.voxels), data_version="1")
    return all(md.get(k) == v for k, v in want.items())


def load_data(path: Path, n_runs: int, n_vox: int | None, dtype):
    from safetensors import safe_open

    xs, ys = [], []
    with safe_open(str(path), "np") as f:
        alphas = f.get_tensor("alphas").astype(np.float64)
        for r in range(n_runs):
            xs.append(f.get_tensor(f"X.run-{r + 1:02d}").astype(dtype))
            y = f.get_slice(f"Y.run-{r + 1:02d}")
            y = y[:, :n_vox] if n_vox is not None else y[:]
            ys.append(np.ascontiguousarray(y, dtype=dtype))
    return xs, ys, alphas


# --------------------------------------------------------------------------------------------
# reference procedures (SPEC 5 `paper`)
# --------------------------------------------------------------------------------------------


def pearson_cols(y: np.ndarray, p: np.ndarray) -> np.ndarray:
    y = y - y.mean(axis=0)
    p = p - p.mean(axis=0)
    num = (y * p).sum(axis=0)
    den = np.sqrt((y * y).sum(axis=0) * (p * p).sum(axis=0))
    return np.where(den > 0, num / np.where(den > 0, den, 1.0), 0.0)


def paper_sklearn(xs, ys, alphas, fixed_alphas=None):
    """scikit-learn Ridge(alpha, fit_intercept=False): for each test run t, fit on the inner
    runs (training runs but the lowest-numbered), validate on that run, keep the alpha with
    the best mean-over-voxels Pearson r (first on ties), refit on all training runs, score t.
    With fixed_alphas, skip the search and only refit with the given alpha per fold."""
    from sklearn.linear_model import Ridge

    n = len(xs)
    best = np.zeros(n)
    r_folds = np.zeros((n, ys[0].shape[1]))
    for t in range(n):
        train = [i for i in range(n) if i != t]
        v, inner = train[0], train[1:]
        if fixed_alphas is None:
            Xi, Yi = np.vstack([xs[i] for i in inner]), np.vstack([ys[i] for i in inner])
            scores = [pearson_cols(ys[v], Ridge(alpha=a, fit_intercept=False).fit(Xi, Yi)
                                   .predict(xs[v])).mean() for a in alphas]
            del Xi, Yi
            best[t] = alphas[int(np.argmax(scores))]
        else:
            best[t] = fixed_alphas[t]
        Xt, Yt = np.vstack([xs[i] for i in train]), np.vstack([ys[i] for i in train])
        m = Ridge(alpha=best[t], fit_intercept=False).fit(Xt, Yt)
        r_folds[t] = pearson_cols(ys[t], m.predict(xs[t]))
    return best, r_folds.mean(axis=0)


def paper_himalaya(xs, ys, alphas):
    """himalaya RidgeCV with one predefined split (fit on the inner runs, validate on the
    lowest-numbered training run), correlation scoring, local_alpha=False (one alpha for all
    voxels, chosen by the mean over voxels), refit on all training runs."""
    from himalaya.backend import set_backend
    from himalaya.ridge import RidgeCV
    from himalaya.scoring import correlation_score

    set_backend("numpy")
    n = len(xs)
    best = np.zeros(n)
    r_folds = np.zeros((n, ys[0].shape[1]))
    for t in range(n):
        train = [i for i in range(n) if i != t]
        X, Y = np.vstack([xs[i] for i in train]), np.vstack([ys[i] for i in train])
        len_v = xs[train[0]].shape[0]
        split = [(np.arange(len_v, X.shape[0]), np.arange(len_v))]
        m = RidgeCV(alphas=alphas, fit_intercept=False, cv=split,
                    solver_params=dict(score_func=correlation_score, local_alpha=False))
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)
            m.fit(X, Y)
        b = np.unique(np.asarray(m.best_alphas_, dtype=np.float64))
        assert b.size == 1, "local_alpha=False must give one alpha"
        # himalaya returns exp(-log(...)): a few ulps off the grid value; snap back
        best[t] = alphas[int(np.argmin(np.abs(np.log(b[0]) - np.log(alphas))))]
        r_folds[t] = pearson_cols(ys[t], np.asarray(m.predict(xs[t])))
        del X, Y, m
    return best, r_folds.mean(axis=0)


def timed(fn, *a, **k):
    t0 = time.perf_counter()
    out = fn(*a, **k)
    return time.perf_counter() - t0, out


# --------------------------------------------------------------------------------------------
# Rust
# --------------------------------------------------------------------------------------------


def run_rust(args, data: Path, out: Path):
    cmd = [args.rust_bin, "--data", str(data), "--out", str(out), "--cv", "paper"]
    print("$ " + " ".join(cmd), flush=True)
    t0 = time.perf_counter()
    proc = subprocess.run(cmd, capture_output=True, text=True, env=os.environ.copy())
    wall = time.perf_counter() - t0
    if proc.returncode != 0:
        sys.stderr.write(proc.stdout + proc.stderr)
        raise SystemExit(f"{args.rust_bin} failed with exit status {proc.returncode}")
    info = None
    for line in proc.stdout.splitlines():
        line = line.strip()
        if not line:
            continue
        try:
            obj = json.loads(line)
        except json.JSONDecodeError:
            continue
        if isinstance(obj, dict):
            info = obj
    if info is None or "seconds" not in info:
        raise SystemExit(f"no JSON line with 'seconds' in the output of {args.rust_bin}:\n"
                         + proc.stdout)
    if int(info.get("n_voxels", args.voxels)) != args.voxels or \
            int(info.get("n_features", args.features)) != args.features:
        raise SystemExit(f"Rust reports a different shape: {info}")
    from safetensors.numpy import load_file

    res = load_file(str(out))
    r = res["r"].astype(np.float64)
    best = res["best_alpha"].astype(np.float64)
    assert r.shape == (args.voxels,), r.shape
    assert best.shape == (args.runs,), best.shape
    return float(info["seconds"]), wall, best, r, info


# --------------------------------------------------------------------------------------------


def fmt_alphas(a) -> str:
    if a is None:
        return "-"
    return "[" + " ".join(f"{np.log10(x):.3g}" for x in a) + "]"


def main(args) -> None:
    from threadpoolctl import threadpool_info

    import himalaya
    import scipy
    import sklearn

    workdir = Path(args.workdir)
    workdir.mkdir(parents=True, exist_ok=True)
    F, V = args.features, args.voxels
    data = workdir / f"bench-F{F}.safetensors"
    rust_out = workdir / f"rust-F{F}.safetensors"
    n_ref = V if args.ref_voxels == "all" else min(int(args.ref_voxels), V)
    dtype = np.float64 if args.ref_dtype == "float64" else np.float32

    blas = [f"{i.get('internal_api')} {i.get('version')} ({i.get('num_threads')} threads, "
            f"{i.get('architecture', '?')})" for i in threadpool_info() if i.get("user_api") == "blas"]
    print(f"numpy {np.__version__}, scipy {scipy.__version__}, scikit-learn {sklearn.__version__}, "
          f"himalaya {himalaya.__version__}; BLAS: {', '.join(blas) or '?'}; threads {args.threads}")
    load = os.getloadavg()[0]
    if load > 0.5:
        print(f"warning: load average {load:.2f} before starting: other processes compete for "
              f"the cores, and OpenBLAS threads that must share a busy core can run several "
              f"times slower; the timings are only meaningful on an idle machine")
    for var in ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE"):
        if os.environ.get(var):
            print(f"note: {var}={os.environ[var]} is set; it may slow numpy's OpenBLAS")

    if args.regen or not data_matches(args, data):
        make_data(args, data)
    else:
        print(f"reusing {data}")

    rows = []
    summary = dict(features=F, voxels=V, runs=args.runs, scans=args.scans, seed=args.seed,
                   threads=args.threads, ref_voxels=n_ref, ref_dtype=args.ref_dtype,
                   data=str(data), implementations={})

    rust = None
    if not args.skip_rust:
        if not Path(args.rust_bin).exists():
            raise SystemExit(f"{args.rust_bin} not found: build it with `cargo build --release "
                             f"-p brainscale-core --example paper_cv`, or pass --skip-rust")
        secs, wall, best, r, info = run_rust(args, data, rust_out)
        rust = dict(seconds=secs, wall=wall, best=best, r=r)
        summary["implementations"]["rust"] = dict(seconds=secs, wall_seconds=wall,
                                                  best_alpha=best.tolist(), json=info)

    # references on the voxel subset (plus a tiny run to measure the voxel-independent cost)
    xs, ys, alphas = load_data(data, args.runs, n_ref, dtype)
    n_small = min(32, n_ref)
    refs = {}
    impls = []
    if not args.skip_sklearn:
        impls.append(("scikit-learn", paper_sklearn))
    if not args.skip_himalaya:
        impls.append(("himalaya", paper_himalaya))
    for name, fn in impls:
        print(f"running {name} on {n_ref} voxels ...", flush=True)
        secs, (best, r) = timed(fn, xs, ys, alphas)
        if n_ref < V:
            small_secs, _ = timed(fn, xs, [y[:, :n_small] for y in ys], alphas)
            fixed = min(small_secs, secs)
            projected = fixed + (secs - fixed) * (V - n_small) / max(n_ref - n_small, 1)
            linear = secs * V / n_ref
        else:
            small_secs = fixed = None
            projected = linear = secs
        refs[name] = dict(seconds=secs, projected=projected, linear=linear,
                          small_seconds=small_secs, best=best, r=r)
        small_txt = f", {small_secs:.2f} s on {n_small}" if small_secs is not None else ""
        print(f"  {name}: {secs:.2f} s on {n_ref} voxels{small_txt}; "
              f"best alphas (log10) {fmt_alphas(best)}")

    # comparisons
    def cmp_r(a_best, a_r, b_best, b_r):
        if a_best is None or b_best is None:
            return None, "-"
        if not np.array_equal(a_best, b_best):
            return None, "n/a (alphas differ)"
        d = float(np.max(np.abs(a_r[:n_ref] - b_r[:n_ref])))
        return d, f"{d:.2e}"

    header = (f"{'implementation':<26}{'voxels':>8}{'seconds':>11}{'proj. to V':>12}{'lin. to V':>11}"
              f"{'x Rust':>9}{'max|dr| vs Rust':>22}  alphas (log10, per test run)")
    lines = [header, "-" * len(header)]
    if rust is not None:
        lines.append(f"{'brainscale (Rust)':<26}{V:>8}{rust['seconds']:>11.2f}{rust['seconds']:>12.2f}"
                     f"{rust['seconds']:>11.2f}"
                     f"{1.0:>9.2f}{'-':>22}  {fmt_alphas(rust['best'])}")
    for name, ref in refs.items():
        ratio = f"{ref['projected'] / rust['seconds']:.2f}" if rust else "-"
        d, dtxt = cmp_r(ref["best"], ref["r"], rust["best"] if rust else None,
                        rust["r"] if rust else None)
        lines.append(f"{name:<26}{n_ref:>8}{ref['seconds']:>11.2f}{ref['projected']:>12.2f}"
                     f"{ref['linear']:>11.2f}"
                     f"{ratio:>9}{dtxt:>22}  {fmt_alphas(ref['best'])}")
        summary["implementations"][name] = dict(
            seconds=ref["seconds"], projected_seconds=ref["projected"],
            linear_projection_seconds=ref["linear"], small_run_seconds=ref["small_seconds"],
            best_alpha=ref["best"].tolist(), max_abs_dr_vs_rust=d)

    # when the subset changes the alpha choice, check the r values at Rust's alphas anyway
    if rust is not None and "scikit-learn" in refs and \
            not np.array_equal(refs["scikit-learn"]["best"], rust["best"]):
        print("scikit-learn refit with Rust's alphas (no search) on the voxel subset ...", flush=True)
        secs, (best, r) = timed(paper_sklearn, xs, ys, alphas, fixed_alphas=rust["best"])
        d = float(np.max(np.abs(r - rust["r"][:n_ref])))
        lines.append(f"{'scikit-learn @Rust alphas':<26}{n_ref:>8}{secs:>11.2f}{'-':>12}{'-':>11}{'-':>9}"
                     f"{d:>22.2e}  {fmt_alphas(best)}")
        summary["implementations"]["scikit-learn@rust_alphas"] = dict(seconds=secs,
                                                                      max_abs_dr_vs_rust=d)
    if "scikit-learn" in refs and "himalaya" in refs:
        d, dtxt = cmp_r(refs["scikit-learn"]["best"], refs["scikit-learn"]["r"],
                        refs["himalaya"]["best"], refs["himalaya"]["r"])
        summary["max_abs_dr_sklearn_vs_himalaya"] = d
        lines.append(f"scikit-learn vs himalaya: alphas equal: "
                     f"{np.array_equal(refs['scikit-learn']['best'], refs['himalaya']['best'])}, "
                     f"max |dr| {dtxt}")

    print()
    print(f"paper CV, {args.runs} runs x {args.scans} scans, F={F}, V={V}, threads={args.threads}, "
          f"references in {args.ref_dtype}")
    print("\n".join(lines))
    if n_ref < V and refs:
        print(f"\nReferences ran on the first {n_ref} of {V} voxels. Their cost is linear in the "
              f"number of voxels (X'Y, the solves and the predictions) plus a voxel-independent "
              f"part (X'X or the SVD of X, per fit). 'proj. to V' = t_small + (t - t_small) * "
              f"(V - {n_small}) / ({n_ref} - {n_small}), with t_small the time of the same run on "
              f"{n_small} voxels (measured above); 'lin. to V' = t * V / {n_ref}, which also scales the "
              f"voxel-independent part and so overestimates. 'x Rust' uses 'proj. to V'. With a voxel subset the chosen alpha (a mean over voxels) may differ "
              f"from the full-data choice: r is compared with Rust only where all alphas match.")
    if rust is not None:
        print(f"Rust seconds are those its JSON line reports (wall time of the whole process, "
              f"I/O included: {rust['wall']:.2f} s).")
    out = workdir / f"bench-F{F}-summary.json"
    out.write_text(json.dumps(summary, indent=2))
    print(f"summary: {out}")


if __name__ == "__main__":
    main(ARGS)
