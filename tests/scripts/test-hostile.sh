#!/usr/bin/env bash
# Every file of the hostile corpus (tests/data/hostile, made by its gen.py)
# through `qlinear inspect`, `qlinear run` (small input) and `qlinear verify`:
#  - never a signal (exit >= 128) and never a hang (60 s each);
#  - files broken at load time: exit non-zero with exactly one line on stderr
#    starting "qlinear: ";
#  - sem-* files load; running them must not crash; verify must reject the
#    sem-scale-* ones (NaN/Inf/zero/negative/denormal/wrong-length scales);
#  - nothing outside the scratch copy is written, and the copy itself is
#    left unchanged apart from the run output directories.
# Env: QLINEAR (binary), QL_TEST_DATA (tests/data).
set -u
QLINEAR=${QLINEAR:?set QLINEAR to the qlinear binary}
QLINEAR=$(cd "$(dirname "$QLINEAR")" && pwd)/$(basename "$QLINEAR")
src=${QL_TEST_DATA:?set QL_TEST_DATA}/hostile
[ -d "$src" ] || { echo "no corpus at $src"; exit 1; }

tmp=$(mktemp -d /tmp/ql-hostile-XXXXXX)
trap 'rm -rf "$tmp"' EXIT
mkdir "$tmp/corpus" "$tmp/out"
cp -a "$src/." "$tmp/corpus/"
snapshot() { # a listing of every path with its type, size and content hash
  (cd "$1" && find . -printf '%y %s %p %l\n' | sort && find . -type f -exec md5sum {} + | sort -k2)
}
before_src=$(snapshot "$src")
before=$(snapshot "$tmp/corpus")

has_verify=0
"$QLINEAR" --help 2>/dev/null | grep -q "qlinear verify" && has_verify=1

fails=0 checks=0
fail() { echo "FAIL $*"; fails=$((fails + 1)); }

# check NAME KIND(error|nocrash|reject) CMD...: runs CMD in the corpus copy
check() {
  local name=$1 kind=$2
  shift 2
  checks=$((checks + 1))
  local err rc
  err=$(cd "$tmp/corpus" && timeout 60 "$@" 2>&1 >/dev/null)
  rc=$?
  if [ $rc -eq 124 ]; then fail "$name: '$*' hung (killed after 60 s)"; return; fi
  if [ $rc -ge 128 ]; then fail "$name: '$*' died from signal $((rc - 128)): $(echo "$err" | head -3)"; return; fi
  case $kind in
    error)
      if [ $rc -eq 0 ]; then fail "$name: '$*' succeeded on a broken model"; return; fi
      local lines
      lines=$(printf '%s\n' "$err" | grep -c '')
      if [ "$lines" -ne 1 ] || [[ "$err" != "qlinear: "* ]]; then
        fail "$name: '$*' (exit $rc) did not print exactly one 'qlinear: ' error line:"
        printf '%s\n' "$err" | head -5
      fi ;;
    reject)
      [ $rc -ne 0 ] || fail "$name: '$*' accepted it" ;;
    nocrash) ;;
  esac
}

models=$(cd "$tmp/corpus" && ls *.onnx ext-*/model.onnx)
n=0
for m in $models; do
  n=$((n + 1))
  name=${m%.onnx}
  out="$tmp/out/${name//\//_}"
  case $(basename "$name") in sem-*) load=nocrash ;; *) load=error ;; esac
  [[ $m == ext-* ]] && load=error
  check "$m" "$load" "$QLINEAR" inspect "$m"
  check "$m" "$load" "$QLINEAR" run "$m" -i x=input-x.pb -o "$out"
  if [ $has_verify = 1 ]; then
    case $m in
      sem-scale-*) check "$m" reject "$QLINEAR" verify "$m" ;;
      sem-*) check "$m" nocrash "$QLINEAR" verify "$m" ;;
      *) check "$m" error "$QLINEAR" verify "$m" ;;
    esac
  fi
done

[ "$(snapshot "$tmp/corpus")" = "$before" ] || fail "the corpus copy was modified"
[ "$(snapshot "$src")" = "$before_src" ] || fail "the source corpus was modified"
# run may create its -o directory, and only that
stray=$(find "$tmp" -mindepth 1 -maxdepth 1 ! -name corpus ! -name out)
[ -z "$stray" ] || fail "files written outside the output directory: $stray"

echo "hostile corpus: $n models, $checks checks (verify: $([ $has_verify = 1 ] && echo yes || echo 'not built')), $fails failures"
[ $fails -eq 0 ]
