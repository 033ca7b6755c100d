#!/usr/bin/env bash
# Executes the evcxr notebooks (notebooks/*.ipynb) headlessly with the evcxr Jupyter kernel and
# writes their outputs into the .ipynb files, so that a reader sees the tables and the figures.
#
#   scripts/run-notebooks.sh                     # every notebook, in order
#   scripts/run-notebooks.sh notebooks/02-*.ipynb
#
# It installs what it needs itself, under .tools/ (ignored by git; BRAINSCALE_TOOLS=DIR for
# another place), once:
#   .tools/bin/evcxr_jupyter   cargo install --locked evcxr_jupyter (about 8 min on 2 cores)
#   .tools/venv                a Python venv with nbconvert / nbclient from PyPI, and the evcxr
#                              kernel spec installed into it (nothing is written to ~/.local)
# and keeps one EVCXR_TMPDIR, shared by every notebook and every later run, outside the checkout
# (cargo would take a folder inside it for a member of the workspace): ~/.cache/brainscale/evcxr
# (BRAINSCALE_EVCXR_TMPDIR=DIR for another). The first notebook compiles brainscale and polars in
# it (about 20 min); the others and later runs reuse that build (about a minute).
# It builds the baselines plugin into target/release (the notebooks load it from there).
#
# The notebooks run from a fresh notebooks/demo-study/ (the demo's outputs, ignored by git). In
# the committed notebooks each figure keeps its PNG only (the kernel also sends an SVG copy),
# and no execution timestamps are kept, so that the files stay small and diff well.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
tools=${BRAINSCALE_TOOLS:-$root/.tools}
evcxr_version=0.22.0
timeout_s=${NOTEBOOK_TIMEOUT:-5400}

start_all=$(date +%s)
say() { echo "== $*"; }

if [ $# -gt 0 ]; then
    notebooks=("$@")
else
    notebooks=(notebooks/[0-9][0-9]-*.ipynb)
fi

# 1. The kernel.
if ! [ -x "$tools/bin/evcxr_jupyter" ]; then
    say "cargo install evcxr_jupyter $evcxr_version into $tools (once, about 8 min)"
    t=$(date +%s)
    cargo install --locked evcxr_jupyter --version "$evcxr_version" --root "$tools"
    say "evcxr_jupyter installed in $(( $(date +%s) - t )) s"
fi

# 2. Jupyter's notebook runner, and the kernel spec inside its venv.
export JUPYTER_PATH="$tools/venv/share/jupyter"
if ! [ -x "$tools/venv/bin/jupyter-nbconvert" ]; then
    say "Python venv with nbconvert in $tools/venv (once)"
    python3 -m venv "$tools/venv"
    "$tools/venv/bin/pip" install --quiet nbconvert==7.17.2 nbclient==0.11.0 jupyter_client==8.10.0 nbformat==5.11.1
fi
if ! [ -f "$JUPYTER_PATH/kernels/rust/kernel.json" ]; then
    "$tools/bin/evcxr_jupyter" --install
fi

# 3. The baselines plugin the notebooks load from ../target/release.
say "cargo build --release -p brainscale-baselines"
cargo build --release --locked -p brainscale-baselines

# 4. One EVCXR_TMPDIR for every notebook. The workspace's Cargo.lock pins the kernel's
# dependencies to the versions the workspace is tested with.
export EVCXR_TMPDIR="${BRAINSCALE_EVCXR_TMPDIR:-${XDG_CACHE_HOME:-$HOME/.cache}/brainscale/evcxr}"
mkdir -p "$EVCXR_TMPDIR"
[ -f "$EVCXR_TMPDIR/Cargo.lock" ] || cp Cargo.lock "$EVCXR_TMPDIR/Cargo.lock"

# evcxr builds every cell as a shared library linked to the toolchain's libstd-*.so, which its
# runtime finds only through the library path here (the libraries' relative RUNPATH points one
# folder too high once cargo copies them out of deps/).
sysroot=$(rustc --print sysroot)
host=$(rustc -vV | sed -n 's/^host: //p')
export LD_LIBRARY_PATH="$sysroot/lib/rustlib/$host/lib:$sysroot/lib${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"

rm -rf notebooks/demo-study
for nb in "${notebooks[@]}"; do
    say "run $nb"
    t=$(date +%s)
    "$tools/venv/bin/jupyter" nbconvert --to notebook --execute --inplace \
        --ExecutePreprocessor.kernel_name=rust \
        --ExecutePreprocessor.timeout="$timeout_s" \
        --ExecutePreprocessor.startup_timeout=300 \
        --ExecutePreprocessor.record_timing=False \
        "$nb"
    say "$nb ran in $(( $(date +%s) - t )) s"
done

# 5. Smaller files: the PNG of each figure, not also its SVG copy.
"$tools/venv/bin/python" - "${notebooks[@]}" <<'EOF'
import sys
import nbformat

for path in sys.argv[1:]:
    nb = nbformat.read(path, as_version=4)
    for cell in nb.cells:
        for out in cell.get("outputs", []):
            data = out.get("data", {})
            if "image/png" in data:
                data.pop("image/svg+xml", None)
    nbformat.write(nb, path)
EOF
say "notebooks done in $(( $(date +%s) - start_all )) s"
