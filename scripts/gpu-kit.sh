#!/usr/bin/env bash
# Builds, on a machine WITHOUT a GPU, what scripts/gpu-check.sh runs on a machine WITH one (which
# has no Rust toolchain and no network): the five language-model plugins, the encoding core's
# backend library (libbrainscale_backend_candle) and bench_gpt2 with candle's CUDA backend, and
# the CPU-only hosts (the brainscale binary, plugin_parity, backend_parity);
# packs them, stripped, into gpu-kit/gpu-kit.tar.xz (gpu-kit/ is ignored by git).
#
#   scripts/gpu-kit.sh CU13_DIR
#
# CU13_DIR: a CUDA 13 toolkit (scripts/cuda-toolkit.sh makes one from the PyPI wheels) (nvcc, headers, libcublas/libcurand/libnvrtc), e.g. the PyPI
# wheels' site-packages/nvidia/cu13 with the libX.so symlinks and the stub libcuda.so in
# lib/stubs that ../shared/notes/cuda.md describes. Its nvcc must not be newer than the GPU
# machine's driver: candle's kernels ship as PTX, and driver 580 (CUDA 13.0) refuses the PTX of
# nvcc 13.4 (CUDA_ERROR_UNSUPPORTED_PTX_VERSION), so use the 13.0 wheels
# (nvidia-cuda-nvcc==13.0.88, nvidia-cuda-crt, nvidia-nvvm, nvidia-cuda-runtime 13.0.*). CUDA builds go to target-cuda/ (another
# RUSTFLAGS, so as not to disturb target/). The cold build takes ~25 min on 2 cores.
set -euo pipefail
cd "$(dirname "$0")/.."
cu13=${1:?usage: scripts/gpu-kit.sh CU13_DIR}
[ -x "$cu13/bin/nvcc" ] || { echo "no nvcc in $cu13/bin" >&2; exit 1; }
[ -f "$cu13/lib/stubs/libcuda.so" ] || { echo "no stub $cu13/lib/stubs/libcuda.so (see ../shared/notes/cuda.md)" >&2; exit 1; }
plugins=(gpt2 opt llama gpt-neox mamba)
features=$(printf 'brainscale-%s/cuda,' "${plugins[@]}")
(
    export PATH=$cu13/bin:$PATH CUDA_ROOT=$cu13 CUDA_PATH=$cu13 CUDA_COMPUTE_CAP=90
    export LIBRARY_PATH=$cu13/lib:$cu13/lib/stubs RUSTFLAGS="-L $cu13/lib -L $cu13/lib/stubs"
    export CARGO_TARGET_DIR=${CARGO_TARGET_DIR_CUDA:-$PWD/target-cuda}
    cargo build --release --locked $(printf -- '-p brainscale-%s ' "${plugins[@]}") -p brainscale-backend-candle \
        --features "${features}brainscale-backend-candle/cuda"
    cargo build --release --locked -p brainscale-gpt2 --example bench_gpt2 --features brainscale-gpt2/cuda
)
cargo build --release --locked -p brainscale --bin brainscale --example plugin_parity --example backend_parity
cuda_target=${CARGO_TARGET_DIR_CUDA:-$PWD/target-cuda}/release
kit=$(mktemp -d)
mkdir -p "$kit/plugins"
for p in "${plugins[@]}"; do
    strip -o "$kit/plugins/libbrainscale_${p//-/_}.so" "$cuda_target/libbrainscale_${p//-/_}.so"
done
strip -o "$kit/plugins/libbrainscale_backend_candle.so" "$cuda_target/libbrainscale_backend_candle.so"
strip -o "$kit/bench_gpt2" "$cuda_target/examples/bench_gpt2"
for host in plugin_parity backend_parity; do
    strip -o "$kit/$host" "target/release/examples/$host"
done
strip -o "$kit/brainscale" target/release/brainscale
mkdir -p gpu-kit
tar -C "$kit" -cJf gpu-kit/gpu-kit.tar.xz .
rm -rf "$kit"
ls -la gpu-kit/gpu-kit.tar.xz
