#!/usr/bin/env bash
# Runs on a GPU machine (NVIDIA driver, CUDA 13 libraries, PyTorch + transformers; no Rust), from
# the repository root, with gpu-kit/gpu-kit.tar.xz made by scripts/gpu-kit.sh:
#   1. parity: every tiny HF fixture model through the CUDA plugins, float32 (bound 5e-5, as on
#      the CPU) and bfloat16 (bound 5e-2), against transformers' hidden states;
#   2. speed: the GPT-2-small-shaped extraction benchmark (scripts/bench_extract.py: 2,001
#      tokens, all 13 hidden states, SPEC 3 windows), transformers on the GPU vs brainscale on
#      the GPU, float32 without TF32 on both sides.
# With GPU_CHECK_LARGE=1, also the GPT-2-XL shape (1.5B parameters, 6 GB of float32 weights).
# Results go to $OUT (or gpu-out/).
set -uo pipefail
cd "$(dirname "$0")/.."
out=${OUT:-$PWD/gpu-out}
mkdir -p "$out"
kit=$(mktemp -d)
tar -C "$kit" -xJf gpu-kit/gpu-kit.tar.xz || exit 1
# The plugins link libcuda (driver), cuBLAS, cuRAND, NVRTC (CUDA 13): find them.
libdirs=$(for lib in libcuda.so.1 libcublas.so.13 libcurand.so.10 libnvrtc.so.13; do
    find /usr/local/nvidia /usr/local/cuda* /usr/lib/x86_64-linux-gnu /opt -name "$lib" 2>/dev/null | head -1 | xargs -r dirname
done | sort -u | paste -sd:)
export LD_LIBRARY_PATH=$libdirs${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}
echo "LD_LIBRARY_PATH=$LD_LIBRARY_PATH"
nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv | tee "$out/gpu.txt"
for p in "$kit"/plugins/*.so; do ldd "$p" | grep -E "not found" && echo "missing libraries for $p"; done
status=0
echo "== parity, float32"
"$kit/plugin_parity" --plugin-dir "$kit/plugins" --device cuda --dtype f32 --bound 5e-5 | tee "$out/parity-f32.txt" || status=1
echo "== parity, bfloat16"
"$kit/plugin_parity" --plugin-dir "$kit/plugins" --device cuda --dtype bf16 --bound 5e-2 | tee "$out/parity-bf16.txt" || status=1
echo "== speed, GPT-2-small shape, float32"
bench=$(mktemp -d)
PYTHONUNBUFFERED=1 python3 scripts/bench_extract.py --make "$bench" > /dev/null &&
    PYTHONUNBUFFERED=1 python3 scripts/bench_extract.py --torch "$bench" --device cuda --threads 16 \
        --rust-cmd "$kit/bench_gpt2 {model} {text} {words} --device cuda" | tee "$out/bench.txt" || status=1
if [ -n "${GPU_CHECK_LARGE:-}" ]; then
    echo "== speed, GPT-2-XL shape (48 layers, 1600 hidden, 1.5B parameters), float32"
    large=$(mktemp -d)
    PYTHONUNBUFFERED=1 python3 scripts/bench_extract.py --make "$large" --n-layer 48 --n-embd 1600 --n-head 25 > /dev/null &&
        PYTHONUNBUFFERED=1 python3 scripts/bench_extract.py --torch "$large" --device cuda --threads 16 \
            --rust-cmd "$kit/bench_gpt2 {model} {text} {words} --device cuda" | tee "$out/bench-xl.txt" || status=1
fi
exit $status
