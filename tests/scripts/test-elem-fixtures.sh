#!/bin/bash
# Elementwise / reduce / shape-op fixtures for schema versions the ONNX node
# tests do not reach (attribute forms, legacy broadcast, 2-D coerced Softmax,
# integer semantics). Expected outputs: onnxruntime, the onnx reference, or
# hand-derived numpy (see tests/data/elem/SOURCES.txt and gen.py).
set -u
dir="$QL_TEST_DATA/elem"
cases=()
for d in "$dir"/*/; do cases+=("${d%/}"); done
[ "${#cases[@]}" -gt 80 ] || { echo "fixtures missing in $dir"; exit 1; }
out=$("$QLINEAR" test "${cases[@]}")
rc=$?
echo "$out" | grep -v '^PASS' || true
if [ $rc -ne 0 ] || echo "$out" | grep -q '^SKIP'; then exit 1; fi
