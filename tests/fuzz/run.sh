#!/usr/bin/env bash
# Build the libFuzzer targets (clang, -fsanitize=fuzzer,address,undefined) and
# run each for SECONDS seconds, one after the other (the machine is small).
#   tests/fuzz/run.sh SECONDS [TARGET...]     TARGET: load run tensor verify
# Env: QL_FUZZ_BUILD (build dir, default <repo>/build-fuzz), QL_SHARED_DIR
# (default <repo>/../shared), QL_FUZZ_JOBS (make -j, default 2).
# Seed corpora are copied at run time from the ONNX node tests and the shared
# models (nothing is committed); corpora and crash files stay in the build
# dir, so repeated runs continue where the last one stopped.
set -euo pipefail
secs=${1:?usage: run.sh SECONDS [TARGET...]}
shift || true
here=$(cd "$(dirname "$0")" && pwd)
src=$(cd "$here/../.." && pwd)
build=${QL_FUZZ_BUILD:-$src/build-fuzz}
shared=${QL_SHARED_DIR:-$src/../shared}
targets=("$@")
[ ${#targets[@]} -gt 0 ] || targets=(load run tensor verify)

CC=clang cmake -S "$src" -B "$build" -DQL_FUZZ=ON -DQL_SANITIZE=ON -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
make -C "$build" -j"${QL_FUZZ_JOBS:-2}" $(for t in "${targets[@]}"; do [ -f "$here/fuzz-$t.c" ] && echo "fuzz-$t"; done) >/dev/null

seed() { # target dir
  local t=$1 d=$2
  [ -n "$(ls -A "$d" 2>/dev/null)" ] && return 0
  mkdir -p "$d"
  local nodes=$shared/onnx-node-tests/node
  case $t in
    tensor)
      find "$nodes" -name '*.pb' -size -16k 2>/dev/null | head -3000 | while read -r f; do
        cp "$f" "$d/$(echo "$f" | md5sum | cut -c1-16)"; done ;;
    *)
      find "$nodes" -name model.onnx -size -32k 2>/dev/null | while read -r f; do
        cp "$f" "$d/$(echo "$f" | md5sum | cut -c1-16)"; done
      [ -f "$shared/models/mnist-float.onnx" ] && cp "$shared/models/mnist-float.onnx" "$d/mnist" || true
      [ -d "$src/tests/data/hostile" ] && find "$src/tests/data/hostile" -name '*.onnx' -size -32k \
        -exec cp {} "$d/" \; || true ;;
  esac
}

for t in "${targets[@]}"; do
  bin=$build/tests/fuzz/fuzz-$t
  if [ ! -x "$bin" ]; then echo "fuzz-$t: no such target (skipped)"; continue; fi
  corpus=$build/fuzz-corpus/$t
  art=$build/fuzz-artifacts/$t/
  mkdir -p "$corpus" "$art"
  seed "$t" "$corpus"
  echo "== fuzz-$t for ${secs}s (corpus $(ls "$corpus" | wc -l) files)"
  # detect_leaks stays on: every leak is a finding. ASan's default
  # allocation cap is the memory limit the limits above keep us under.
  ASAN_OPTIONS=detect_leaks=1:allocator_may_return_null=1 UBSAN_OPTIONS=print_stacktrace=1 \
    "$bin" "$corpus" -max_total_time="$secs" -timeout=10 -rss_limit_mb=2048 -malloc_limit_mb=1024 \
    -dict="$here/onnx.dict" -artifact_prefix="$art" -print_final_stats=1 2>"$build/fuzz-$t.log" || {
    echo "fuzz-$t: FINDING, see $build/fuzz-$t.log and $art"; tail -40 "$build/fuzz-$t.log"; exit 1; }
  grep -E '^#[0-9]+.*(DONE|pulse)|stat::number_of_executed_units|cov:' "$build/fuzz-$t.log" | tail -2
done
