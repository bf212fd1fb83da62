#!/usr/bin/env bash
# The whole test suite (README "Quick start"; .ci/run calls exactly this), then the eval gate. The
# browser test needs headless Chromium and its WebDriver: the Debian packages chromium and
# chromium-driver are installed here when missing. Models are fetched by the tests themselves on first use.
# The remote-generation test's llama-server is built from source (below); it needs cc and c++.
set -euo pipefail
cd "$(dirname "$0")/.."
if ! command -v chromium >/dev/null 2>&1 || ! command -v chromedriver >/dev/null 2>&1; then
    echo "installing chromium and chromium-driver (Debian packages) for the browser test" >&2
    if [ "$(id -u)" -eq 0 ]; then sudo=""; elif command -v sudo >/dev/null 2>&1; then sudo="sudo"; else
        echo "error: run as root or install chromium and chromium-driver yourself" >&2
        exit 2
    fi
    $sudo apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends \
        chromium chromium-driver fonts-dejavu-core >/dev/null
fi
# The notification tests run a webhook receiver (scripts/webhook_receiver.py, Python's standard
# library) and an SMTP server (scripts/smtp_receiver.py, aiosmtpd from PyPI) on loopback.
if [ "$(id -u)" -eq 0 ]; then sudo=""; else sudo="sudo"; fi
if ! command -v python3 >/dev/null 2>&1 || ! python3 -m pip --version >/dev/null 2>&1; then
    echo "installing python3 and pip (Debian packages) for the notification tests" >&2
    $sudo apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends python3 python3-pip >/dev/null
fi
if ! python3 -c "import aiosmtpd" >/dev/null 2>&1; then
    echo "installing aiosmtpd 1.4.6 (PyPI) for the SMTP test server" >&2
    python3 -m pip install --quiet --disable-pip-version-check "aiosmtpd==1.4.6" 2>/dev/null ||
        python3 -m pip install --quiet --disable-pip-version-check --break-system-packages "aiosmtpd==1.4.6"
fi
# The store tests run on SQLite and on PostgreSQL: a throwaway cluster on loopback
# (scripts/postgres.sh: the Debian package postgresql when missing, initdb + pg_ctl in a temporary
# directory), stopped when this script ends, however it ends.
pg_dir="$(mktemp -d /tmp/concord-pg.XXXXXX)"
trap 'scripts/postgres.sh stop "$pg_dir"' EXIT
CONCORD_TEST_POSTGRES="$(scripts/postgres.sh start "$pg_dir")"
export CONCORD_TEST_POSTGRES
# The remote-generation test (tests/it/remote.rs) runs llama.cpp's llama-server, built from the
# llama-cpp-python sdist on PyPI by scripts/llama_server.sh (cached in ~/.cache/concord-tools): the
# build starts now, beside the Rust build, and the test waits for it.
mkdir -p target
nice -n 5 scripts/llama_server.sh > target/llama-server-build.log 2>&1 &
llama_build=$!
cargo test --locked "$@"
wait "$llama_build" || echo "llama-server build failed: target/llama-server-build.log" >&2
# The evaluation gates (eval/README.md), with the binary `cargo test` just built (a `cargo run`
# would rebuild it without the dev dependencies' features, about 10 minutes on 2 cores):
# - the whole demo suite (205 questions) in the retrieval-and-policy mode, held to its [ratchet]
#   (today's figures; they only tighten);
# - 30 questions stratified by kind of message and language, drafted end to end, held to the
#   upper bounds of its [ratchet] (counts: contradictions, wrong answers, streamed then
#   withdrawn, canary leaks).
if [ "$#" -eq 0 ]; then
    concord="${CARGO_TARGET_DIR:-target}/debug/concord"
    CONCORD__LOG__FILTER=warn "$concord" eval run eval/demo --fast --ratchet --out target/eval/demo-fast
    CONCORD__LOG__FILTER=warn "$concord" eval run eval/demo --limit 30 --ratchet --out target/eval/demo
fi
