#!/bin/bash
# qlinear verify / annotate on the crafted corpus (tests/data/verify, made by
# gen.py), the ONNX quantization node tests and the real models.
#   bad/<rule>__<case>.onnx must report exactly <rule> (and no other rule);
#   good/*.onnx, the 45 node tests of QUANT_TESTS.txt and shared/models/*.onnx
#   must give no error (warnings allowed);
#   annotate output must verify clean with --strict.
set -u
Q=${QLINEAR:?QLINEAR not set}
SHARED=${QL_SHARED_DIR:?QL_SHARED_DIR not set}
DATA=${QL_TEST_DATA:?QL_TEST_DATA not set}/verify
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT
pass=0
fail=0
ok() { pass=$((pass + 1)); }
bad() { fail=$((fail + 1)); echo "FAIL: $*"; }

rules_of() { grep -o '"rule": "[^"]*"' "$1" | sed 's/"rule": "//; s/"$//' | sort -u | tr '\n' ' ' | sed 's/ $//'; }
errors_of() { grep -o '"errors": [0-9]*' "$1" | grep -o '[0-9]*$'; }

# ---- bad models: exactly the rule in the file name
n_bad=0
for f in "$DATA"/bad/*.onnx; do
  n_bad=$((n_bad + 1))
  want=$(basename "$f" .onnx)
  want=${want%%__*}
  "$Q" verify --json "$f" >"$TMP/out.json" 2>"$TMP/err"
  rc=$?
  got=$(rules_of "$TMP/out.json")
  if [ "$got" != "$want" ]; then
    bad "$(basename "$f"): reported rules '$got', expected exactly '$want'"
    continue
  fi
  # errors give exit 1 and ok false; a warning-only rule gives exit 0 and ok true
  nerr=$(errors_of "$TMP/out.json")
  if { [ "$nerr" -gt 0 ] && [ $rc -eq 1 ] && grep -q '"ok": false' "$TMP/out.json"; } ||
     { [ "$nerr" -eq 0 ] && [ $rc -eq 0 ] && grep -q '"ok": true' "$TMP/out.json"; }; then
    ok
  else
    bad "$(basename "$f"): exit $rc with $nerr errors"
  fi
done
[ $n_bad -ge 40 ] && ok || bad "only $n_bad bad models (run tests/data/verify/gen.py)"

# every rule has at least one bad model
for r in scale-invalid zero-point-invalid param-shape param-type tensor-params-conflict bias-scale-mismatch \
  annotation-mismatch accumulator-overflow dynamic-params; do
  ls "$DATA"/bad/"$r"__*.onnx >/dev/null 2>&1 && ok || bad "no bad model for rule $r"
done

# ---- models that must give no error
check_clean() { # file [extra args]
  local f=$1
  shift
  "$Q" verify --json "$@" "$f" >"$TMP/out.json" 2>"$TMP/err"
  local rc=$?
  if [ $rc -eq 0 ] && grep -q '"ok": true' "$TMP/out.json" && [ "$(errors_of "$TMP/out.json")" = 0 ]; then
    ok
  else
    bad "$f $*: exit $rc: $(grep -o '"message": "[^"]*"' "$TMP/out.json" | head -3) $(cat "$TMP/err")"
  fi
}
n_good=0
for f in "$DATA"/good/*.onnx; do
  n_good=$((n_good + 1))
  check_clean "$f"
done
[ $n_good -ge 10 ] && ok || bad "only $n_good good models"

n_node=0
for name in $(grep -E '^test_[A-Za-z0-9_]+[[:space:]]+[A-Za-z]+[[:space:]]+IR ' "$SHARED/onnx-node-tests/QUANT_TESTS.txt" | awk '{print $1}'); do
  [ -f "$SHARED/onnx-node-tests/node/$name/model.onnx" ] || continue
  n_node=$((n_node + 1))
  check_clean "$SHARED/onnx-node-tests/node/$name/model.onnx"
done
[ $n_node -eq 45 ] && ok || bad "found $n_node quantization node tests, expected 45"

n_real=0
for f in "$SHARED"/models/*.onnx; do
  n_real=$((n_real + 1))
  check_clean "$f"
done
[ $n_real -ge 8 ] && ok || bad "found $n_real real models"

# ---- annotate: every quantized tensor annotated, output verifies clean with --strict
for f in "$DATA"/good/*.onnx "$SHARED"/models/nanodet-plus-int8.onnx "$SHARED"/models/retinaface-qdq.onnx; do
  out="$TMP/annotated-$(basename "$f")"
  if ! "$Q" annotate "$f" "$out" >"$TMP/ann.txt" 2>"$TMP/err"; then
    bad "annotate $f: $(cat "$TMP/err")"
    continue
  fi
  check_clean "$out" --strict
done
# the annotated real models carry one annotation per quantized tensor
"$Q" annotate "$SHARED/models/nanodet-plus-int8.onnx" "$TMP/n.onnx" >/dev/null &&
  "$Q" verify --json "$TMP/n.onnx" >"$TMP/out.json" &&
  q=$(grep -o '"quantized_tensors": [0-9]*' "$TMP/out.json" | grep -o '[0-9]*$') &&
  a=$(grep -o '"annotations": [0-9]*' "$TMP/out.json" | grep -o '[0-9]*$') &&
  [ "$q" -gt 300 ] && [ "$q" = "$a" ] && ok || bad "nanodet annotate: quantized tensors ${q:-?} vs annotations ${a:-?}"

# --strict: an unannotated quantized model fails with annotation-mismatch only
"$Q" verify --json --strict "$DATA/good/qdq_conv_per_tensor.onnx" >"$TMP/out.json"
rc=$?
[ $rc -eq 1 ] && [ "$(rules_of "$TMP/out.json")" = "annotation-mismatch" ] && ok ||
  bad "--strict on unannotated model: exit $rc, rules $(rules_of "$TMP/out.json")"
# --strict: dynamic parameters become errors
for f in "$DATA"/bad/dynamic-params__*.onnx; do
  "$Q" verify --json --strict "$f" >"$TMP/out.json"
  rc=$?
  [ $rc -eq 1 ] && grep -q '"rule": "dynamic-params", "severity": "error"' "$TMP/out.json" && ok ||
    bad "--strict $f: exit $rc"
done

# ---- human output: one line per finding, then a summary
"$Q" verify "$DATA/bad/scale-invalid__zero.onnx" >"$TMP/out.txt"
rc=$?
grep -q "^scale-invalid node 'q' (QuantizeLinear) tensor 'xq': y_scale 'q_scale' is 0" "$TMP/out.txt" &&
  tail -1 "$TMP/out.txt" | grep -q "FAILED: 1 error, 0 warnings" && [ $rc -eq 1 ] && ok ||
  bad "human output: $(cat "$TMP/out.txt")"
"$Q" verify "$DATA/good/qdq_conv_per_tensor.onnx" >"$TMP/out.txt" && [ "$(wc -l <"$TMP/out.txt")" -eq 1 ] &&
  grep -q ": OK: 0 errors, 0 warnings" "$TMP/out.txt" && ok || bad "human output (clean): $(cat "$TMP/out.txt")"

# ---- exit 2: the model cannot be read
"$Q" verify "$TMP/does-not-exist.onnx" >/dev/null 2>&1
[ $? -eq 2 ] && ok || bad "missing file: exit not 2"
head -c 100 /dev/urandom >"$TMP/garbage.onnx"
printf '\x0a\xff\xff\xff\xff\x0f' >>"$TMP/garbage.onnx"
"$Q" verify "$TMP/garbage.onnx" >/dev/null 2>&1
[ $? -eq 2 ] && ok || bad "garbage file: exit not 2"
"$Q" verify >/dev/null 2>&1
[ $? -eq 2 ] && ok || bad "no argument: exit not 2"

# ---- annotate failures leave no partial OUT
"$Q" annotate "$TMP/does-not-exist.onnx" "$TMP/never.onnx" >/dev/null 2>&1
rc=$?
[ $rc -eq 2 ] && [ ! -e "$TMP/never.onnx" ] && ok || bad "annotate of a missing input: exit $rc"
"$Q" annotate "$DATA/good/qdq_conv_per_tensor.onnx" "$TMP/no-such-dir/out.onnx" >/dev/null 2>&1
rc=$?
[ $rc -ne 0 ] && [ ! -e "$TMP/no-such-dir" ] && ok || bad "annotate into a missing directory: exit $rc"

echo "$pass passed, $fail failed"
[ $fail -eq 0 ]
