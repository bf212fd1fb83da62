#!/usr/bin/env bash
# Prints the path of a llama.cpp `llama-server` binary, building it first when missing: the
# llama.cpp that the PyPI sdist of llama-cpp-python vendors, only the server target, with cmake
# and ninja from PyPI, into $CONCORD_TOOLS_CACHE (default ~/.cache/concord-tools). The remote
# generation test (tests/it/remote.rs) runs it, and scripts/test.sh starts it beside the Rust build;
# the first build takes about 6.5 minutes on 2 idle cores. -O1: half the compile time of -O3 (12.5
# against 25.5 CPU-minutes, measured 2026-12-07), fast enough to serve the 135M test model.
set -euo pipefail

LLAMA_VERSION="0.3.36"
CACHE="${CONCORD_TOOLS_CACHE:-$HOME/.cache/concord-tools}"
BUILD="$CACHE/llama.cpp-$LLAMA_VERSION/build-server"
# Copied here whole once built (a rename), so a caller never sees a binary being linked.
BIN="$CACHE/bin/llama-server-$LLAMA_VERSION-o1"
if [[ -x "$BIN" ]]; then
  echo "$BIN"
  exit 0
fi
mkdir -p "$CACHE"
# One build at a time (tests may ask at once).
exec 9>"$CACHE/llama-server.lock"
flock 9
if [[ ! -x "$BIN" ]]; then
  echo "building llama-server (llama-cpp-python $LLAMA_VERSION sdist) into $CACHE ..." >&2
  if ! command -v cc >/dev/null 2>&1 || ! command -v c++ >/dev/null 2>&1; then
    echo "error: a C and C++ compiler is needed (Debian: apt-get install build-essential)" >&2
    exit 2
  fi
  python3 -m venv "$CACHE/venv"
  # pip reads the sdist's metadata to download it, which needs its build backend installed.
  "$CACHE/venv/bin/pip" install --quiet --disable-pip-version-check cmake ninja scikit-build-core
  "$CACHE/venv/bin/pip" download --quiet --disable-pip-version-check --no-deps --no-binary :all: \
    --no-build-isolation "llama-cpp-python==$LLAMA_VERSION" -d "$CACHE"
  tar -xzf "$CACHE/llama_cpp_python-$LLAMA_VERSION.tar.gz" -C "$CACHE"
  SRC="$CACHE/llama_cpp_python-$LLAMA_VERSION/vendor/llama.cpp"
  # Only the instruction sets this CPU has, none of ggml's AMX kernels (they died with SIGILL on
  # an AVX-512 Xeon with AMX; see bench/llama_cpp.sh).
  ISA=(-DGGML_NATIVE=OFF)
  flags=" $(grep -m1 '^flags' /proc/cpuinfo) "
  for pair in avx:AVX avx2:AVX2 fma:FMA f16c:F16C bmi2:BMI2 avx512f:AVX512; do
    if [[ "$flags" == *" ${pair%%:*} "* ]]; then ISA+=("-DGGML_${pair##*:}=ON"); else ISA+=("-DGGML_${pair##*:}=OFF"); fi
  done
  "$CACHE/venv/bin/cmake" -S "$SRC" -B "$BUILD" -G Ninja \
    -DCMAKE_MAKE_PROGRAM="$CACHE/venv/bin/ninja" -DCMAKE_BUILD_TYPE=Release "${ISA[@]}" \
    -DCMAKE_C_FLAGS_RELEASE="-O1 -DNDEBUG" -DCMAKE_CXX_FLAGS_RELEASE="-O1 -DNDEBUG" \
    -DBUILD_SHARED_LIBS=OFF -DLLAMA_CURL=OFF -DLLAMA_BUILD_TESTS=OFF -DLLAMA_BUILD_EXAMPLES=OFF \
    -DLLAMA_BUILD_SERVER=ON >&2
  "$CACHE/venv/bin/ninja" -C "$BUILD" llama-server >&2
  mkdir -p "$CACHE/bin"
  install -m 0755 "$BUILD/bin/llama-server" "$BIN.tmp"
  mv "$BIN.tmp" "$BIN"
  echo "llama-server built in ${SECONDS} s" >&2
fi
echo "$BIN"
