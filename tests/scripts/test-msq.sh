#!/bin/bash
# com.microsoft quantization ops against ONNX Runtime outputs (tests/data/msq,
# made by tests/data/msq/gen.py). Every case must pass: no failures, no skips.
set -u
: "${QLINEAR:?QLINEAR must point at the qlinear binary}"
: "${QL_TEST_DATA:?QL_TEST_DATA must point at tests/data}"
dirs=("$QL_TEST_DATA"/msq/*/)
n=${#dirs[@]}
out=$("$QLINEAR" test "${dirs[@]}")
rc=$?
echo "$out" | grep -E '^(FAIL|SKIP) '
summary=$(echo "$out" | tail -n 1)
echo "$summary"
if [ $rc -ne 0 ] || [ "$summary" != "$n passed, 0 failed, 0 skipped" ]; then
  echo "test-msq: expected all $n cases to pass" >&2
  exit 1
fi
