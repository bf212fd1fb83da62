#!/usr/bin/env bash
# Concord's generation speed side by side with llama.cpp on the same GGUF, prompt size, threads
# and machine, in one run; prints one JSON line per model with both figures and the ratios.
#
# Usage: bench/llama_cpp.sh [--threads N] [--runs N] [MODEL...]   (default: the three generators)
# CONCORD_BIN=path/to/concord uses that binary instead of building a release one.
# llama.cpp comes from the PyPI sdist of llama-cpp-python (which vendors it) and is built once
# into $CONCORD_BENCH_CACHE (default ~/.cache/concord-bench), about 10 minutes on 2 cores.
# Not part of the test suite: benchmarks must run alone on the machine.
set -euo pipefail

THREADS=2
RUNS=5
MODELS=()
while [[ $# -gt 0 ]]; do
  case "$1" in
    --threads) THREADS="$2"; shift 2 ;;
    --runs) RUNS="$2"; shift 2 ;;
    -h|--help) sed -n '2,8p' "$0"; exit 0 ;;
    *) MODELS+=("$1"); shift ;;
  esac
done
[[ ${#MODELS[@]} -eq 0 ]] && MODELS=(smollm2-135m-instruct gemma3-270m qwen2.5-coder-1.5b-instruct)

ROOT="$(cd "$(dirname "$0")/.." && pwd)"
CACHE="${CONCORD_BENCH_CACHE:-$HOME/.cache/concord-bench}"
LLAMA_VERSION="0.3.36"
BIN="$CACHE/llama.cpp-$LLAMA_VERSION/build-noamx/bin"
# ggml's AMX kernels died with SIGILL on an AVX-512 Xeon with AMX (2026-12-06), before any figure,
# and GGML_NATIVE turns them on where the CPU has AMX: name the instruction sets this CPU has
# instead, AMX left out (Concord's own kernels use no AMX either).
ISA=(-DGGML_NATIVE=OFF)
flags=" $(grep -m1 '^flags' /proc/cpuinfo) "
for pair in avx:AVX avx2:AVX2 fma:FMA f16c:F16C bmi2:BMI2 avx_vnni:AVX_VNNI avx512f:AVX512 \
    avx512vbmi:AVX512_VBMI avx512_vnni:AVX512_VNNI avx512_bf16:AVX512_BF16; do
  if [[ "$flags" == *" ${pair%%:*} "* ]]; then ISA+=("-DGGML_${pair##*:}=ON"); else ISA+=("-DGGML_${pair##*:}=OFF"); fi
done
mkdir -p "$CACHE"

if [[ ! -x "$BIN/llama-bench" ]]; then
  echo "building llama.cpp (llama-cpp-python $LLAMA_VERSION sdist) into $CACHE ..." >&2
  python3 -m venv "$CACHE/venv"
  # pip reads the sdist's metadata to download it, which needs its build backend installed.
  "$CACHE/venv/bin/pip" install --quiet cmake ninja scikit-build-core
  "$CACHE/venv/bin/pip" download --quiet --no-deps --no-binary :all: --no-build-isolation \
    "llama-cpp-python==$LLAMA_VERSION" -d "$CACHE"
  tar -xzf "$CACHE/llama_cpp_python-$LLAMA_VERSION.tar.gz" -C "$CACHE"
  SRC="$CACHE/llama_cpp_python-$LLAMA_VERSION/vendor/llama.cpp"
  mkdir -p "$CACHE/llama.cpp-$LLAMA_VERSION"
  "$CACHE/venv/bin/cmake" -S "$SRC" -B "$CACHE/llama.cpp-$LLAMA_VERSION/build-noamx" -G Ninja \
    -DCMAKE_MAKE_PROGRAM="$CACHE/venv/bin/ninja" -DCMAKE_BUILD_TYPE=Release "${ISA[@]}" \
    -DLLAMA_CURL=OFF -DLLAMA_BUILD_TESTS=OFF -DLLAMA_BUILD_EXAMPLES=OFF >&2
  "$CACHE/venv/bin/ninja" -C "$CACHE/llama.cpp-$LLAMA_VERSION/build-noamx" llama-bench >&2
fi

cd "$ROOT"
CONCORD="${CONCORD_BIN:-}"
if [[ -z "$CONCORD" ]]; then
  cargo build --release --quiet
  CONCORD=./target/release/concord
fi
for model in "${MODELS[@]}"; do
  ours="$("$CONCORD" bench generate --model "$model" --threads "$THREADS" --runs "$RUNS" --json 2>/dev/null)"
  tokens="$(python3 -c 'import json,sys; print(json.load(sys.stdin)["prompt_tokens"])' <<<"$ours")"
  gguf="$(ls models/"$model"/*.gguf | head -1)"
  theirs="$(LD_LIBRARY_PATH="$BIN" "$BIN/llama-bench" -m "$gguf" -t "$THREADS" -p "$tokens" -n 128 -r "$RUNS" -o json 2>/dev/null)"
  python3 - "$ours" "$theirs" <<'PY'
import json, sys
ours = json.loads(sys.argv[1])
runs = json.loads(sys.argv[2])
pp = next(r for r in runs if r["n_prompt"] > 0 and r["n_gen"] == 0)
tg = next(r for r in runs if r["n_gen"] > 0 and r["n_prompt"] == 0)
out = {
    "model": ours["model"],
    "threads": ours["threads"],
    "prompt_tokens": ours["prompt_tokens"],
    "concord": {k: ours[k] for k in ("prompt_tok_s", "gen_tok_s", "ttft_ms", "ttft_warm_ms", "peak_rss_mb")},
    "llama_cpp": {
        "prompt_tok_s": pp["avg_ts"],
        "gen_tok_s": tg["avg_ts"],
        # The whole prompt read from nothing, as llama.cpp reads every new prompt.
        "prompt_ms": round(ours["prompt_tokens"] / pp["avg_ts"] * 1e3, 1),
    },
    "ratio": {
        "prompt": round(ours["prompt_tok_s"] / pp["avg_ts"], 3),
        "gen": round(ours["gen_tok_s"] / tg["avg_ts"], 3),
        # Concord's first token with the prompt's pieces cached, over llama.cpp's prompt time.
        "ttft_warm_vs_llama_prompt": round(ours["ttft_warm_ms"] / (ours["prompt_tokens"] / pp["avg_ts"] * 1e3), 3),
    },
}
print(json.dumps(out))
PY
done
