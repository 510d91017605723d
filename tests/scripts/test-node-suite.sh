#!/usr/bin/env bash
# The whole ONNX node-test directory: no case may FAIL (unsupported ones SKIP),
# and the pass count may only go up (floor in tests/conformance/node-suite-floor.txt).
set -u
dir="$QL_SHARED_DIR/onnx-node-tests/node"
floor=$(cat "$QL_SOURCE_DIR/tests/conformance/node-suite-floor.txt")
out=$("$QLINEAR" test "$dir"/*)
rc=$?
echo "$out" | grep '^FAIL' || true
last=$(echo "$out" | tail -n 1)
echo "$last"
passed=${last%% passed*}
if [ "$rc" -ne 0 ]; then echo "some node tests FAIL"; exit 1; fi
if [ "$passed" -lt "$floor" ]; then echo "passed $passed < floor $floor"; exit 1; fi
echo "node suite: $passed passed (floor $floor)"
