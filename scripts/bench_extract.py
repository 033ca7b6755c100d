#!/usr/bin/env python3
"""PyTorch half of the feature-extraction benchmark: transformers (float32, CPU) extracting every
hidden state of a GPT-2-small-sized model with the SPEC 3 windows (C = 1024, S = 64) and word
pooling, to compare with the Rust extractor on the same model folder and text.

Run it with the Hugging Face venv (created by tests/fixtures/hf/generate.sh):

  .venv-hf/bin/python scripts/bench_extract.py --make scratch/bench-extract     # once (~0.5 GB)
  .venv-hf/bin/python scripts/bench_extract.py --torch scratch/bench-extract
  .venv-hf/bin/python scripts/bench_extract.py --torch scratch/bench-extract \\
      --rust-cmd "target/release/SOMETHING --model {model} --text {text} --words {words}"

--make DIR writes DIR/model/ (config.json, model.safetensors: a GPT2Model with 12 layers, 768
hidden, 12 heads, n_positions 1024, vocab 50257, weights from transformers' own initialisation
under a fixed seed, base-model tensor names without the `transformer.` prefix; tokenizer.json +
tokenizer_config.json: a byte-level BPE of at most 2000 tokens trained on the text, whose ids
all lie below the model's 50257), DIR/text.txt (about 2,000 content tokens of English-like text,
one run) and DIR/words.json (its words, LPP style: punctuation stripped).

--torch DIR loads DIR/model with AutoTokenizer / AutoModel (float32, eval, no_grad, 2 torch
threads), then times one extraction = tokenization of the whole text, every window's forward
pass with output_hidden_states=True, assembling the content tokens from their first window, and
the mean-pooling of every word in every layer (tests/fixtures/hf/spec3.py, the same code as the
parity fixtures). One warm-up, then the best of 3. It prints one JSON line:
{"tokens": content tokens, "seconds": best time, "tokens_per_s": tokens / seconds,
 "peak_rss_mb": peak resident memory of the process (getrusage), ...}.

--device cuda runs the transformers side on the GPU (float32, TF32 off; `gpu_peak_mb` is
torch.cuda.max_memory_allocated); pair it with a CUDA build of bench_gpt2 and `--device cuda`
there (scripts/gpu-check.sh does both on a GPU machine).

--rust-cmd CMD runs CMD in a shell (after --torch); {dir}, {model}, {text} and {words} in CMD
are replaced by the paths. CMD must print a JSON object with the same keys on its last stdout
line. The script prints both results and rust_tokens_per_s / torch_tokens_per_s.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import re
import resource
import shlex
import subprocess
import sys
import time
from pathlib import Path

os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")

ROOT = Path(__file__).resolve().parent.parent
FIXTURES = ROOT / "tests" / "fixtures" / "hf"
sys.path.insert(0, str(FIXTURES))

import spec3  # noqa: E402

C = 1024
STEP = 64
SEED = 20240601


# ----------------------------------------------------------------------------------------------
# --make


def make_text(n_words: int, seed: int) -> str:
    """Seeded English-like paragraphs from the fixtures' vocabulary."""
    from texts import EXTRA_TRAINING_TEXT, RUN_TEXTS

    source = EXTRA_TRAINING_TEXT + " ".join(RUN_TEXTS.values())
    pool = [w for w in re.findall(r"[A-Za-z][A-Za-z'’-]*", source)]
    rng = random.Random(seed)
    out = []
    sentence: list[str] = []
    count = 0
    while count < n_words:
        w = rng.choice(pool)
        sentence.append(w.capitalize() if not sentence else w.lower())
        count += 1
        if len(sentence) >= rng.randint(6, 16):
            text = " ".join(sentence)
            if rng.random() < 0.3:
                k = rng.randint(1, len(sentence) - 1)
                text = " ".join(sentence[:k]) + ", " + " ".join(sentence[k:])
            out.append(text + rng.choice([".", ".", ".", "?", "!", ";"]))
            sentence = []
            if rng.random() < 0.1:
                out.append("\n\n")
    if sentence:
        out.append(" ".join(sentence) + ".")
    return " ".join(out).replace(" \n\n ", "\n\n").strip() + "\n"


def words_of(text: str) -> list[str]:
    words = []
    for p in text.split():
        core = re.sub(r"^\W+|\W+$", "", p)
        if core:
            words.append(core)
    return words


def cmd_make(out: Path, n_layer: int, n_words: int, n_embd: int = 768, n_head: int = 12) -> None:
    import torch
    from tokenizers import Tokenizer, models, pre_tokenizers, trainers
    from transformers import GPT2Config, GPT2Model, GPT2Tokenizer

    torch.set_num_threads(2)
    model_dir = out / "model"
    model_dir.mkdir(parents=True, exist_ok=True)
    text = make_text(n_words, SEED)
    words = words_of(text)
    (out / "text.txt").write_text(text, encoding="utf-8")
    (out / "words.json").write_text(json.dumps(words, ensure_ascii=False) + "\n", encoding="utf-8")

    bpe = Tokenizer(models.BPE())
    bpe.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    trainer = trainers.BpeTrainer(
        vocab_size=1999, initial_alphabet=pre_tokenizers.ByteLevel.alphabet(), show_progress=False
    )
    bpe.train_from_iterator([text], trainer)
    m = json.loads(bpe.to_str())["model"]
    vocab = dict(sorted(m["vocab"].items(), key=lambda kv: kv[1]))
    vocab["<|endoftext|>"] = len(vocab)
    merges = [tuple(x) for x in m["merges"]]
    tok = GPT2Tokenizer(vocab=vocab, merges=merges)
    tok.save_pretrained(model_dir)

    config = GPT2Config(
        n_layer=n_layer, n_embd=n_embd, n_head=n_head, n_positions=C, n_ctx=C, vocab_size=50257,
        bos_token_id=50256, eos_token_id=50256,
    )
    torch.manual_seed(SEED)
    model = GPT2Model(config)
    model.save_pretrained(model_dir, safe_serialization=True)
    n_tokens = len(tok(text, add_special_tokens=False)["input_ids"])
    print(json.dumps({"dir": str(out), "words": len(words), "tokens": n_tokens, "vocab": len(tok)}))


# ----------------------------------------------------------------------------------------------
# --torch


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def extract(tok, model, text: str, words: list[str], max_positions: int, step: int):
    """One SPEC 3 extraction of every layer: [n_words, dim] arrays."""
    ids, offsets = spec3.content_encoding(tok, text)
    prefix, suffix = spec3.special_tokens_around(tok, text[:200])
    ws = spec3.forward_windows(model, ids, prefix, suffix, max_positions, step)
    spans = spec3.word_spans(spec3.first_tokens(spec3.locate_words(text, words), offsets), len(ids))
    return [spec3.pool_words(h, spans) for h in ws.layers], len(ids), len(ws.windows)


def cmd_torch(d: Path, repeats: int, threads: int, device: str = "cpu") -> dict:
    import torch
    from transformers import AutoModel, AutoTokenizer

    torch.set_num_threads(threads)
    if device == "cuda":
        torch.backends.cuda.matmul.allow_tf32 = False  # float32 as on the CPU (brainscale: no TF32 either)
    text = (d / "text.txt").read_text(encoding="utf-8")
    words = json.loads((d / "words.json").read_text(encoding="utf-8"))
    tok = AutoTokenizer.from_pretrained(d / "model")
    model = AutoModel.from_pretrained(d / "model", dtype=torch.float32).eval().to(device)
    max_positions = model.config.max_position_embeddings
    with torch.no_grad():
        feats, n_tokens, n_windows = extract(tok, model, text, words, max_positions, STEP)  # warm-up
        times = []
        for _ in range(repeats):
            t0 = time.perf_counter()
            feats, n_tokens, n_windows = extract(tok, model, text, words, max_positions, STEP)
            times.append(time.perf_counter() - t0)
    best = min(times)
    return {
        "impl": "torch",
        "tokens": n_tokens,
        "seconds": round(best, 4),
        "tokens_per_s": round(n_tokens / best, 2),
        "peak_rss_mb": round(peak_rss_mb(), 1),
        "windows": n_windows,
        "layers": len(feats),
        "words": len(words),
        "times": [round(t, 4) for t in times],
        "threads": threads,
        "device": device,
        "gpu_peak_mb": round(torch.cuda.max_memory_allocated() / 2**20, 1) if device == "cuda" else None,
        "attn_implementation": getattr(model.config, "_attn_implementation", None),
        "torch": torch.__version__,
        "transformers": __import__("transformers").__version__,
    }


# ----------------------------------------------------------------------------------------------
# --rust-cmd


def run_rust(cmd: str, d: Path) -> dict:
    for key, path in (("dir", d), ("model", d / "model"), ("text", d / "text.txt"), ("words", d / "words.json")):
        cmd = cmd.replace("{" + key + "}", shlex.quote(str(path)))
    proc = subprocess.run(cmd, shell=True, capture_output=True, text=True)
    if proc.returncode != 0:
        sys.stderr.write(proc.stdout + proc.stderr)
        raise SystemExit(f"rust command failed with status {proc.returncode}: {cmd}")
    lines = [line for line in proc.stdout.splitlines() if line.strip()]
    if not lines:
        raise SystemExit(f"rust command printed nothing: {cmd}")
    res = json.loads(lines[-1])
    missing = [k for k in ("tokens", "seconds", "tokens_per_s", "peak_rss_mb") if k not in res]
    if missing:
        raise SystemExit(f"rust command's last line lacks {missing}: {lines[-1]}")
    return {"impl": "rust", "cmd": cmd, **res}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--make", metavar="DIR", type=Path, help="write the model folder, text and words")
    ap.add_argument("--torch", metavar="DIR", type=Path, help="time transformers on DIR")
    ap.add_argument("--rust-cmd", metavar="CMD", help="also run CMD (needs --torch DIR) and compare")
    ap.add_argument("--repeats", type=int, default=3, help="timed runs after the warm-up (best is kept)")
    ap.add_argument("--threads", type=int, default=2, help="torch threads (default 2)")
    ap.add_argument("--device", default="cpu", choices=["cpu", "cuda"], help="torch device (default cpu)")
    ap.add_argument("--n-layer", type=int, default=12, help=argparse.SUPPRESS)  # smaller for smoke tests
    ap.add_argument("--words", type=int, default=1640, help=argparse.SUPPRESS)  # ~2,000 tokens
    ap.add_argument("--n-embd", type=int, default=768, help=argparse.SUPPRESS)  # GPT-2 XL: 1600
    ap.add_argument("--n-head", type=int, default=12, help=argparse.SUPPRESS)  # GPT-2 XL: 25
    args = ap.parse_args(argv)
    if not (args.make or args.torch):
        ap.error("give --make DIR and/or --torch DIR")
    if args.rust_cmd and not args.torch:
        ap.error("--rust-cmd needs --torch DIR")
    if args.make:
        cmd_make(args.make, args.n_layer, args.words, args.n_embd, args.n_head)
    if args.torch:
        torch_res = cmd_torch(args.torch, args.repeats, args.threads, args.device)
        print(json.dumps(torch_res), flush=True)
        if args.rust_cmd:
            rust_res = run_rust(args.rust_cmd, args.torch)
            print(json.dumps(rust_res), flush=True)
            if rust_res.get("tokens") != torch_res["tokens"]:
                print(f"warning: token counts differ (rust {rust_res.get('tokens')}, torch {torch_res['tokens']})", file=sys.stderr)
            ratio = rust_res["tokens_per_s"] / torch_res["tokens_per_s"]
            print(json.dumps({"rust_tokens_per_s / torch_tokens_per_s": round(ratio, 3),
                              "rust_peak_rss_mb": rust_res["peak_rss_mb"], "torch_peak_rss_mb": torch_res["peak_rss_mb"]}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
