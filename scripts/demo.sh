#!/usr/bin/env bash
# The main job on the bundled default: float MNIST model -> calibrated,
# verified int8 model -> float and int8 side by side on 10,000 real digits.
set -euo pipefail
QL=${1:-build/qlinear}
here=$(cd "$(dirname "$0")/.." && pwd)
shared=${QL_SHARED_DIR:-$here/../shared}
out=${QL_DEMO_OUT:-$here/out}
mkdir -p "$out"
model=$shared/models/mnist-float.onnx

echo "== quantize (200 bundled real digits for calibration, per-channel int8, QDQ)"
"$QL" quantize "$model" "$out/mnist-int8.onnx" --calib "$here/data/mnist-calib" --per-channel \
  --report "$out/mnist-report.html"
echo
echo "== verify --strict"
"$QL" verify --strict "$out/mnist-int8.onnx" | tail -n 1
echo
echo "== float vs int8 on the 10,000 digits of $shared/data/mnist"
for m in "$model" "$out/mnist-int8.onnx"; do
  "$QL" accuracy "$m" --raw-u8 "$shared/data/mnist/images-u8-28x28.bin" --labels "$shared/data/mnist/labels-u8.bin"
done
echo
echo "report: $out/mnist-report.html"
