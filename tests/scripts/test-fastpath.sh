#!/bin/bash
# Every conformance case (tests/conformance/*.list over the ONNX node tests)
# and every com.microsoft fixture (tests/data/msq) must pass on each fast
# configuration: each ISA this CPU supports, two threads, and the reference
# ops alone. Outputs are checked against the expected files of each case
# (ONNX / ONNX Runtime), so the fast ops are held to the same values.
set -u
: "${QLINEAR:?QLINEAR must point at the qlinear binary}"
: "${QL_SHARED_DIR:?QL_SHARED_DIR must point at the shared data}"
: "${QL_SOURCE_DIR:?QL_SOURCE_DIR must point at the source tree}"
: "${QL_TEST_DATA:?QL_TEST_DATA must point at tests/data}"
node="$QL_SHARED_DIR/onnx-node-tests/node"
dirs=()
while read -r name; do
  [ -n "$name" ] && [ -d "$node/$name" ] && dirs+=("$node/$name")
done < <(cat "$QL_SOURCE_DIR"/tests/conformance/*.list | sort -u)
dirs+=("$QL_TEST_DATA"/msq/*/)
n=${#dirs[@]}
rc=0
# an unsupported ISA fails session creation with "cannot run": probe once
probe="${dirs[0]}"
for cfg in "--isa scalar" "--isa avx2" "--isa avxvnni" "--isa avx512vnni" "--isa amx" "--threads 2" "--ref"; do
  # shellcheck disable=SC2086
  if "$QLINEAR" test $cfg "$probe" 2>&1 | grep -q "cannot run"; then
    echo "skip $cfg: not supported on this CPU"
    continue
  fi
  # shellcheck disable=SC2086
  out=$("$QLINEAR" test $cfg "${dirs[@]}" 2>&1)
  summary=$(echo "$out" | tail -n 1)
  echo "$cfg: $summary"
  if [ "$summary" != "$n passed, 0 failed, 0 skipped" ]; then
    echo "$out" | grep -E '^(FAIL|SKIP) ' | head -20
    rc=1
  fi
done
exit $rc
