#!/bin/bash
# Extra pool/norm/resize/control/rnn cases (tests/data/nn, made by
# tests/data/nn/gen.py from ONNX Runtime or the ONNX reference): every case
# must PASS, and the run must exit cleanly.
set -u
: "${QLINEAR:?}" "${QL_TEST_DATA:?}"
out=$("$QLINEAR" test "$QL_TEST_DATA"/nn/*/ 2>&1)
rc=$?
printf '%s\n' "$out" | grep -v '^PASS'
if [ $rc -ne 0 ] || printf '%s\n' "$out" | grep -qE '^(FAIL|SKIP)'; then
  exit 1
fi
exit 0
