#!/usr/bin/env bash
# Runs on a GPU machine (NVIDIA driver, CUDA 13 libraries, PyTorch + transformers; no Rust), from
# the repository root, with gpu-kit/gpu-kit.tar.xz made by scripts/gpu-kit.sh:
#   1. parity: every tiny HF fixture model through the CUDA plugins, float32 (bound 5e-5, as on
#      the CPU) and bfloat16 (bound 5e-2), against transformers' hidden states;
#   2. speed: the GPT-2-small-shaped extraction benchmark (scripts/bench_extract.py: 2,001
#      tokens, all 13 hidden states, SPEC 3 windows), transformers on the GPU vs brainscale on
#      the GPU, float32 without TF32 on both sides.
#   3. the encoding core: the CUDA backend library's conformance suite and study-shaped random
#      layers (9 x 290 scans, 25,870 voxels; 768 / 2,048 / 5,120 features) against faer on a
#      2,587-voxel subset, each layer timed stage by stage (transfers, products,
#      factorizations, scoring);
#   4. the whole pipeline, `brainscale run --device cuda --dtype bf16`, on a random-weight
#      Mistral-7B-shaped model and the study-shaped synthetic dataset: wall time, peak GPU
#      and host memory.
# It ends with one table. With GPU_CHECK_LARGE=1, also the GPT-2-XL shape (1.5B parameters, 6 GB of float32 weights).
# Results go to $OUT (or gpu-out/).
set -uo pipefail
cd "$(dirname "$0")/.."
out=${OUT:-$PWD/gpu-out}
mkdir -p "$out"
kit=$(mktemp -d)
tar -C "$kit" -xJf gpu-kit/gpu-kit.tar.xz || exit 1
# The plugins link libcuda (driver), cuBLAS, cuRAND, NVRTC (CUDA 13): find them.
libdirs=$(for lib in libcuda.so.1 libcudart.so.13 libcublas.so.13 libcublasLt.so.13 libcurand.so.10 libnvrtc.so.13; do
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
echo "== encoding core: the CUDA backend library against faer (suite, then study-shaped layers)"
"$kit/backend_parity" --plugin-dir "$kit/plugins" --device cuda:0 --features 768,2048,5120 \
    | tee "$out/backend.txt" || status=1
echo "== whole pipeline: a 7B-shaped model (Mistral-7B: 32 layers, 4096 hidden, 14336 MLP, 8 KV heads; random"
echo "   bf16 weights, the fixture's tokenizer) on the study-shaped synthetic dataset, run --device cuda"
work=$(mktemp -d)
"$kit/brainscale" --quiet synth --out "$work/ds" | tee "$out/dataset.txt" || status=1
PYTHONUNBUFFERED=1 python3 - "$work/model" <<'PY' || status=1
import json, shutil, sys, pathlib, time
import torch, transformers
src = pathlib.Path("tests/fixtures/hf/mistral/model")
cfg = json.loads((src / "config.json").read_text())
cfg.update(hidden_size=4096, intermediate_size=14336, num_hidden_layers=32, num_attention_heads=32,
           num_key_value_heads=8, head_dim=128, max_position_embeddings=32768, sliding_window=4096,
           torch_dtype="bfloat16")
cfg.pop("transformers_version", None)
out = pathlib.Path(sys.argv[1]); out.mkdir(parents=True)
t = time.time()
config = transformers.MistralConfig(**cfg)
with torch.device("cuda"):
    model = transformers.MistralForCausalLM(config).to(torch.bfloat16)
model.save_pretrained(out, safe_serialization=True)
for f in src.iterdir():
    if f.name.startswith("tokenizer") or f.name == "special_tokens_map.json":
        shutil.copy(f, out / f.name)
n = sum(p.numel() for p in model.parameters())
print(f"random Mistral-7B shape: {n/1e9:.2f}B parameters, written in {time.time()-t:.0f} s")
PY
nvidia-smi --query-gpu=memory.used --format=csv,noheader,nounits -lms 200 > "$work/gpu-mem.txt" &
smi=$!
start=$(date +%s.%N)
/usr/bin/time -v "$kit/brainscale" run --dataset "$work/ds" --models "$work/model" --device cuda --dtype bf16 \
    --plugin-dir "$kit/plugins" --out "$work/study" --permutations 100 > "$out/run-7b.txt" 2> "$out/run-7b.err" || status=1
end=$(date +%s.%N)
kill $smi 2>/dev/null
tail -20 "$out/run-7b.txt"
echo "run --device cuda, 7B shape: $(echo "$end - $start" | bc) s wall; peak GPU memory $(sort -n "$work/gpu-mem.txt" | tail -1) MiB;" \
    "peak host RSS $(grep 'Maximum resident' "$out/run-7b.err" | awk '{print $6/1e6}') GB" | tee "$out/run-7b-summary.txt"
echo
echo "== table"
cat "$out/backend.txt" | grep "^|"
cat "$out/run-7b-summary.txt"
exit $status
