#!/bin/bash
# qlinear bench: the output contract scripts rely on (last line
# `median_ms=<float>`, one JSON object before it with --json), random inputs
# of the declared shapes, --inputs DIR, and argument errors (exit 2).
set -u
fail=0
check() { if ! eval "$2"; then echo "FAIL: $1"; fail=1; else echo "ok: $1"; fi; }

u8model="$QL_TEST_DATA/nn/maxpool_2d_uint8_pads_strides/model.onnx"
node="$QL_SHARED_DIR/onnx-node-tests/node/test_qlinearmatmul_2D_uint8_float32"

out=$("$QLINEAR" bench "$u8model" --runs 3 --warmup 1); rc=$?
check "random inputs run" '[ $rc -eq 0 ]'
check "last line is median_ms=<float>" '[[ "$(echo "$out" | tail -n1)" =~ ^median_ms=[0-9]+\.[0-9]+$ ]]'
check "create time reported" 'echo "$out" | grep -q "^create "'

out=$("$QLINEAR" bench "$u8model" --json --runs 4 --threads 2 --warmup 0); rc=$?
js=$(echo "$out" | tail -n2 | head -n1)
check "--json run" '[ $rc -eq 0 ] && [ "$(echo "$out" | wc -l)" -eq 2 ]'
check "--json last line" '[[ "$(echo "$out" | tail -n1)" =~ ^median_ms=[0-9]+\.[0-9]+$ ]]'
for key in '"median_ms":' '"p10_ms":' '"p90_ms":' '"min_ms":' '"runs":4' '"threads":2' '"create_ms":' '"peak_rss_kb":'; do
  check "json has $key" '[[ "$js" == "{"*"$key"*"}" ]]'
done
med=$(echo "$out" | tail -n1 | cut -d= -f2)
check "json median equals the last line" 'echo "$js" | grep -q "\"median_ms\":$med,"'

# --profile: every step of RetinaFace (its QDQ Convs fused into QLinearConv)
# has a time, and the op-type totals add up to the steps' sum
rf="$QL_SHARED_DIR/models/retinaface-qdq.onnx"
if [ -f "$rf" ]; then
  out=$("$QLINEAR" bench "$rf" --runs 3 --profile); rc=$?
  check "--profile run" '[ $rc -eq 0 ] && [[ "$(echo "$out" | tail -n1)" == median_ms=* ]]'
  check "--profile lists op types" 'echo "$out" | grep -q "^profile " && echo "$out" | grep -qE "^  QLinearConv "'
  out=$("$QLINEAR" bench "$rf" --runs 3 --profile --json); rc=$?
  js=$(echo "$out" | tail -n2 | head -n1)
  check "--profile --json: one object" '[ $rc -eq 0 ] && [ "$(echo "$out" | wc -l)" -eq 2 ]'
  check "--profile --json totals" 'echo "$js" | python3 -c "
import json, sys
p = json.load(sys.stdin)[\"profile\"]
assert p[\"steps\"] > 0 and len(p[\"slowest\"]) == min(10, p[\"steps\"])
assert sum(o[\"nodes\"] for o in p[\"ops\"]) == p[\"steps\"]
assert abs(sum(o[\"ms\"] for o in p[\"ops\"]) - p[\"sum_ms\"]) < 1e-3 * max(1, p[\"sum_ms\"])
" 2>/dev/null || ! command -v python3 >/dev/null'
fi

out=$("$QLINEAR" bench "$node/model.onnx" --inputs "$node/test_data_set_0" --runs 2); rc=$?
check "--inputs DIR" '[ $rc -eq 0 ] && [[ "$(echo "$out" | tail -n1)" == median_ms=* ]]'

"$QLINEAR" bench "$u8model" --runs 0 2>/dev/null; rc=$?
check "--runs 0 rejected" '[ $rc -eq 2 ]'
"$QLINEAR" bench "$u8model" --threads 2>/dev/null; rc=$?
check "--threads without value rejected" '[ $rc -eq 2 ]'
"$QLINEAR" bench 2>/dev/null; rc=$?
check "no model: usage" '[ $rc -eq 2 ]'
"$QLINEAR" bench /nonexistent.onnx 2>/dev/null; rc=$?
check "missing file fails" '[ $rc -eq 1 ]'
"$QLINEAR" bench "$node/model.onnx" --inputs /nonexistent --runs 1 2>/dev/null; rc=$?
check "missing inputs dir fails" '[ $rc -eq 1 ]'
exit $fail
