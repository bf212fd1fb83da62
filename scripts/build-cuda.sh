#!/usr/bin/env bash
# Builds the CUDA variant of concord (`cargo build --release --features cuda`) into target/cuda, using the
# PyPI-wheel toolkit from scripts/cuda-toolkit.sh (set up on first use); works without a GPU or driver.
#
# Usage: scripts/build-cuda.sh [extra cargo build args...]
# Environment: CUDA_TOOLKIT_ROOT (default <repo>/.cuda), CUDA_COMPUTE_CAP (default 90 = H100/H200, sm_90a),
#              CUDAFORGE_THREADS (default 2 parallel nvcc jobs), CARGO_TARGET_DIR (default target/cuda).
# Run the result with: LD_LIBRARY_PATH=<root>/lib/stubs:<root>/lib target/cuda/release/concord
# (on a real GPU machine drop lib/stubs so the driver's libcuda.so.1 is used).
set -euo pipefail

REPO_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
TOOLKIT_ROOT="${CUDA_TOOLKIT_ROOT:-$REPO_ROOT/.cuda}"
compute_cap="${CUDA_COMPUTE_CAP:-}"
threads="${CUDAFORGE_THREADS:-}"

# Idempotent: returns at once (only printing the exports) when the toolkit is already complete.
exports="$("$REPO_ROOT/scripts/cuda-toolkit.sh" "$TOOLKIT_ROOT")"
eval "$exports"
# Let the caller's choices win over the toolkit script's defaults.
[[ -n "$compute_cap" ]] && export CUDA_COMPUTE_CAP="$compute_cap"
[[ -n "$threads" ]] && export CUDAFORGE_THREADS="$threads"

cd "$REPO_ROOT"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$REPO_ROOT/target/cuda}"
printf 'build-cuda: CUDA_HOME=%s CUDA_COMPUTE_CAP=%s CUDAFORGE_THREADS=%s CARGO_TARGET_DIR=%s\n' \
  "$CUDA_HOME" "$CUDA_COMPUTE_CAP" "$CUDAFORGE_THREADS" "$CARGO_TARGET_DIR" >&2
cargo build --release --features cuda "$@"
printf 'build-cuda: done; binary at %s/release/concord\n' "$CARGO_TARGET_DIR" >&2
