#!/bin/bash
# qlinear quantize on MNIST (shared/models/mnist-float.onnx) calibrated with
# data/mnist-calib (200 real digits):
#   * QDQ per-channel and per-tensor, QOperator, dynamic and weight-only int4
#     outputs are written, which means they passed `verify --strict` (the CLI
#     refuses to write otherwise) -- checked again with `qlinear verify`;
#   * output SQNR against the float model >= 25 dB for the static int8 ones;
#   * top-1 accuracy on 2,000 of the 10,000 real digits within 0.3 points of
#     the float model's;
#   * MinMax scales and zero points equal ONNX Runtime's for every tensor both
#     quantize the same way (tests/data/quant/mnist-ort-*.json, written by
#     bench/quant_compare.py --fixture from onnxruntime 1.32's quantize_static
#     on the same model and samples): scale within 1e-5 relative (the two
#     float runtimes sum convolutions in different orders), zero point equal.
# Bounded to well under two minutes.
set -u
Q=${QLINEAR:?QLINEAR not set}
SHARED=${QL_SHARED_DIR:?QL_SHARED_DIR not set}
DATA=${QL_TEST_DATA:?QL_TEST_DATA not set}/quant
SRC=${QL_SOURCE_DIR:?QL_SOURCE_DIR not set}
MODEL=$SHARED/models/mnist-float.onnx
CALIB=$SRC/data/mnist-calib
IMAGES=$SHARED/data/mnist/images-u8-28x28.bin
LABELS=$SHARED/data/mnist/labels-u8.bin
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT
pass=0
fail=0
ok() { pass=$((pass + 1)); }
bad() { fail=$((fail + 1)); echo "FAIL: $*"; }

# the output SQNR of a --json report (the worst output)
out_sqnr() { sed 's/"tensors".*//' "$1" | grep -o '"sqnr_db": [-0-9.]*' | awk '{print $2}' | sort -g | head -1; }
accuracy() { "$Q" accuracy "$1" --raw-u8 "$IMAGES" --labels "$LABELS" --limit 2000 --json | grep -o '"accuracy": [0-9.]*' | awk '{print $2 * 100}'; }
ge() { awk -v a="$1" -v b="$2" 'BEGIN { exit !(a >= b) }'; }

# ---- the five formats
run() { # name, then quantize options
  local name=$1
  shift
  if "$Q" quantize "$MODEL" "$TMP/$name.onnx" --json "$@" >"$TMP/$name.json" 2>"$TMP/$name.err"; then
    ok
  else
    bad "quantize $name: $(tail -3 "$TMP/$name.err")"
    return 1
  fi
  if "$Q" verify --strict "$TMP/$name.onnx" >"$TMP/$name.verify" 2>&1; then ok; else bad "verify --strict $name: $(tail -3 "$TMP/$name.verify")"; fi
}
run qdq-pc --calib "$CALIB" --per-channel --params-json "$TMP/qdq-pc.params"
run qdq-pt --calib "$CALIB" --params-json "$TMP/qdq-pt.params"
run qop --calib "$CALIB" --per-channel --format qoperator
# qlinear's own MSE-optimal activation ranges, with bias correction, in QOperator
run mse --calib "$CALIB" --per-channel --method mse --format qoperator --bias-correction
run dyn --dynamic --eval "$CALIB"
run int4 --weight-only-int4 --eval "$CALIB"
# mixed precision: all-int8 MNIST is at 38.5 dB; 45 needs a few of its 12 tensors in float, not all
run target --calib "$CALIB" --per-channel --target-sqnr 45
# the same with the kept tensors in int16 (com.microsoft Q/DQ): integer-only, still verified
run target16 --calib "$CALIB" --per-channel --target-sqnr 45 --target-keep int16

for name in qdq-pc qdq-pt qop mse dyn; do
  [ -s "$TMP/$name.json" ] || continue
  s=$(out_sqnr "$TMP/$name.json")
  if ge "${s:-0}" 25; then ok; else bad "$name: output SQNR ${s:-?} dB < 25 dB"; fi
done
s=$(out_sqnr "$TMP/target.json")
kept=$(grep -o '"kept_float": \[[^]]*\]' "$TMP/target.json" | grep -o '", *"\|\["' | wc -l)
if ge "${s:-0}" 45 && [ "$kept" -ge 1 ] && [ "$kept" -le 8 ]; then ok; else bad "--target-sqnr 45: ${s:-?} dB with $kept tensors in float"; fi
s=$(out_sqnr "$TMP/target16.json")
if ge "${s:-0}" 45 && grep -q '"kept_type": "int16", "kept_float": \["' "$TMP/target16.json"; then ok; else bad "--target-keep int16: ${s:-?} dB"; fi
# per-tensor figures come from the runtime's fused integer Convs too (their DQ outputs do not exist there)
s=$(grep -o '"name": "Convolution28_Output_0", "node": "[^"]*", "op": "Conv", "sqnr_db": [0-9.]*' "$TMP/qdq-pc.json" | grep -o '[0-9.]*$')
if ge "${s:-999}" 20 && ! ge "${s:-999}" 100; then ok; else bad "first Conv output's tensor SQNR ${s:-?} dB (want 20-100)"; fi
# int4 weights: coarser, but still close to float
s=$(out_sqnr "$TMP/int4.json")
if ge "${s:-0}" 15; then ok; else bad "int4: output SQNR ${s:-?} dB < 15 dB"; fi

# ---- accuracy on real digits
fa=$(accuracy "$MODEL")
for name in qdq-pc qdq-pt qop mse; do
  [ -s "$TMP/$name.onnx" ] || continue
  qa=$(accuracy "$TMP/$name.onnx")
  if ge "${qa:-0}" "$(awk -v f="$fa" 'BEGIN { print f - 0.3 }')"; then ok; else bad "$name: accuracy ${qa:-?}% vs float $fa%"; fi
done

# ---- scales and zero points against ONNX Runtime's
# Both files: one {"tensor": ..., "kind": ..., "scale": [...], "zero_point": [...]} per line.
compare_params() { # ours, ORT's, minimum number of tensors compared
  awk -v min="$3" '
    function parse(line, a,   t, s, z) {
      t = line; sub(/.*"tensor": "/, "", t); sub(/".*/, "", t)
      s = line; sub(/.*"scale": \[/, "", s); sub(/\].*/, "", s)
      z = line; sub(/.*"zero_point": \[/, "", z); sub(/\].*/, "", z)
      a["t"] = t; a["s"] = s; a["z"] = z
    }
    FNR == NR { if ($0 ~ /"tensor"/) { parse($0, r); S[r["t"]] = r["s"]; Z[r["t"]] = r["z"] } next }
    $0 ~ /"tensor"/ {
      parse($0, r); t = r["t"]
      if (!(t in S)) next
      n1 = split(S[t], a, ", "); n2 = split(r["s"], b, ", ")
      if (n1 != n2) { skipped++; next }   # per channel here, per tensor there (a constant folded by qlinear)
      for (i = 1; i <= n1; i++) {
        d = a[i] - b[i]; if (d < 0) d = -d
        m = b[i] < 0 ? -b[i] : b[i]
        if (d > 1e-5 * m) { printf "scale of %s[%d]: qlinear %s, ORT %s\n", t, i - 1, a[i], b[i]; bad++ }
      }
      if (S[t] == "" || Z[t] != r["z"]) {
        gsub(/ /, "", Z[t]); zr = r["z"]; gsub(/ /, "", zr)
        if (Z[t] != zr) { printf "zero point of %s: qlinear [%s], ORT [%s]\n", t, Z[t], zr; bad++ }
      }
      compared++
    }
    END {
      printf "%d tensors compared with ONNX Runtime (%d quantized differently)\n", compared, skipped
      exit !(bad == 0 && compared >= min)
    }' "$1" "$2"
}
# ORT also quantizes the final MatMul output and the bias of the Add that
# writes the graph output (only float ops read them); qlinear does not
if compare_params "$TMP/qdq-pc.params" "$DATA/mnist-ort-minmax-qdq-perchannel.json" 11 >"$TMP/cmp-pc" 2>&1; then ok; else bad "per-channel parameters differ from ORT's: $(cat "$TMP/cmp-pc")"; fi
if compare_params "$TMP/qdq-pt.params" "$DATA/mnist-ort-minmax-qdq-pertensor.json" 12 >"$TMP/cmp-pt" 2>&1; then ok; else bad "per-tensor parameters differ from ORT's: $(cat "$TMP/cmp-pt")"; fi
cat "$TMP/cmp-pc" "$TMP/cmp-pt"

# ---- refusals
"$Q" quantize "$MODEL" "$TMP/x.onnx" --calib "$TMP/no-such-dir" >/dev/null 2>&1
rc=$?
[ $rc -ne 0 ] && [ ! -e "$TMP/x.onnx" ] && ok || bad "missing calibration directory: exit $rc"
"$Q" quantize "$MODEL" "$TMP/x.onnx" --calib "$CALIB" --method nonsense >/dev/null 2>&1
rc=$?
[ $rc -eq 2 ] && ok || bad "unknown --method: exit $rc (want 2)"

echo "$pass passed, $fail failed"
[ $fail -eq 0 ]
