#!/bin/bash
# Malformed pool/norm/resize/control/rnn nodes (tests/data/nn-bad, made by
# tests/data/nn-bad/gen.py): every case must be refused (FAIL or SKIP with a
# message), within a time limit, and the process must exit normally (no
# crash, no sanitizer report).
set -u
: "${QLINEAR:?}" "${QL_TEST_DATA:?}"
out=$(timeout 120 "$QLINEAR" test --verbose "$QL_TEST_DATA"/nn-bad/*/ 2>&1)
rc=$?
printf '%s\n' "$out"
status=0
if [ $rc -ne 1 ]; then
  echo "qlinear test exited with $rc (expected 1: some cases failed, none crashed)"
  status=1
fi
if printf '%s\n' "$out" | grep -qE '^PASS|Sanitizer|runtime error'; then
  echo "a malformed case was accepted, or a sanitizer reported an error"
  status=1
fi
exit $status
