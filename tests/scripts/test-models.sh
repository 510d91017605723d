#!/bin/bash
# Real-model regression: runs every fixture in $QL_TEST_DATA/models (made by
# tests/models/gen_fixtures.py from ONNX Runtime) with `qlinear test`, linking
# the model itself from $QL_SHARED_DIR/models. FAIL always fails the test;
# SKIP (an operator not implemented yet) is accepted only for the models
# listed in $QL_TEST_DATA/models/pending.txt.
set -u
shopt -s nullglob
: "${QLINEAR:?}" "${QL_SHARED_DIR:?}" "${QL_TEST_DATA:?}"
# absolute paths: the case directory is made of symlinks
fixtures=$(cd "$QL_TEST_DATA/models" && pwd) || exit 1
shared=$(cd "$QL_SHARED_DIR" && pwd) || exit 1
pending="$fixtures/pending.txt"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
status=0
for d in "$fixtures"/*/; do
  name=$(basename "$d")
  model="$shared/models/$name.onnx"
  if [ ! -f "$model" ]; then
    echo "FAIL $name: $model not found"
    status=1
    continue
  fi
  c="$tmp/$name"
  mkdir -p "$c"
  ln -s "$model" "$c/model.onnx"
  [ -f "$d/tolerance.txt" ] && ln -s "$d/tolerance.txt" "$c/tolerance.txt"
  for s in "$d"test_data_set_*/; do
    sd="$c/$(basename "$s")"
    mkdir -p "$sd"
    for f in "$s"*.pb.gz; do gzip -dc "$f" >"$sd/$(basename "$f" .gz)"; done
    for f in "$s"*.pb; do ln -s "$f" "$sd/"; done
  done
  full=$("$QLINEAR" test --verbose "$c" 2>&1)
  rc=$?
  out=$(printf '%s\n' "$full" | head -1)
  echo "$out"
  case "$out" in
  PASS*)
    # a clean exit too (sanitizer reports come after the PASS line)
    if [ $rc -ne 0 ]; then
      printf '%s\n' "$full"
      status=1
    fi
    ;;
  SKIP*)
    if [ -f "$pending" ] && grep -qx "$name" "$pending"; then
      echo "  (pending: $name is listed in pending.txt)"
    else
      status=1
    fi
    ;;
  *) status=1 ;;
  esac
done
exit $status
