#!/bin/sh
# bench/run.sh [BUILD_DIR] -- qlinear against ONNX Runtime, results into
# docs/performance.md.
#
# Builds qlinear and libqlinear.so in BUILD_DIR (default build-bench; an
# existing configuration is kept), compiles bench/probe.c by hand (a program and a library), installs
# onnxruntime (and onnx, numpy) with pip when missing, generates the models
# into BUILD_DIR/bench-models, runs bench/compare.py and replaces one section
# of docs/performance.md with its tables (raw results stay in
# BUILD_DIR/bench-results.{md,json}).
#
# Environment:
#   BENCH_LABEL    heading of the section ("reference path, before fast kernels")
#   BENCH_SECTION  which section of the doc to replace (default: current);
#                  a section not yet in the doc is appended
#   BENCH_ARGS     extra arguments for compare.py, e.g. "--rounds 5 --only qlmm"
#   BENCH_NO_DOC=1 leave docs/performance.md alone
#   QL_SHARED_DIR  the shared/ folder with models/ (default: ../shared)
set -eu

SRC=$(cd "$(dirname "$0")/.." && pwd)
BUILD=${1:-$SRC/build-bench}
SHARED=${QL_SHARED_DIR:-$SRC/../shared}
LABEL=${BENCH_LABEL:-current build}
SECTION=${BENCH_SECTION:-current}
PY=${PYTHON:-python3}

if [ ! -f "$BUILD/CMakeCache.txt" ]; then
  cmake -S "$SRC" -B "$BUILD" -DCMAKE_BUILD_TYPE=Release
fi
cmake --build "$BUILD" -j2 --target qlinear qlinear_shared
"${CC:-cc}" -O2 -Wall -o "$BUILD/bench-probe" "$SRC/bench/probe.c"
"${CC:-cc}" -O2 -Wall -shared -fPIC -o "$BUILD/bench-probe.so" "$SRC/bench/probe.c"

for mod in onnxruntime onnx numpy; do
  if ! "$PY" -c "import $mod" 2>/dev/null; then
    # Debian marks its Python as externally managed; the benchmark only needs
    # the packages importable, wherever pip puts them.
    "$PY" -m pip install --quiet "$mod" || "$PY" -m pip install --quiet --break-system-packages "$mod"
  fi
done

"$PY" "$SRC/bench/gen_models.py" --out "$BUILD/bench-models" --shared-models "$SHARED/models"
"$BUILD/bench-probe" --json >"$BUILD/bench-probe.json"
cat "$BUILD/bench-probe.json"
# shellcheck disable=SC2086  # BENCH_ARGS is a list of words on purpose
"$PY" "$SRC/bench/compare.py" --build "$BUILD" --models "$BUILD/bench-models" --probe "$BUILD/bench-probe.json" \
  --probe-lib "$BUILD/bench-probe.so" \
  --markdown "$BUILD/bench-results.md" --json "$BUILD/bench-results.json" ${BENCH_ARGS:-}

[ "${BENCH_NO_DOC:-0}" = 1 ] && exit 0
"$PY" - "$SRC/docs/performance.md" "$SECTION" "$LABEL" "$BUILD" "$SRC" <<'EOF'
import json, os, subprocess, sys, time
doc, section, label, build, src = sys.argv[1:]
res = json.load(open(os.path.join(build, "bench-results.json")))
probe = res.get("probe", {})
table = open(os.path.join(build, "bench-results.md")).read().rstrip()
commit = subprocess.run(["git", "-C", src, "rev-parse", "--short", "HEAD"], capture_output=True, text=True).stdout.strip()
dirty = subprocess.run(["git", "-C", src, "status", "--porcelain", "--untracked-files=no"], capture_output=True,
                       text=True).stdout.strip()
peaks = ", ".join(f"{k} {probe[k + '_gops']:.0f} GOPS per core-second ({probe[k + '_gops_wall']:.0f} per wall second)"
                  for k in ("amx_int8", "avx512vnni") if probe.get(k + "_gops")) or "no int8 dot-product unit found"
la0, la1 = res.get("loadavg_start", [0])[0], res.get("loadavg_end", [0])[0]
cases = [c for c in res["cases"] if "rounds_degraded" in c]
health = ""
if res.get("health"):
    deg = sum(c["rounds_degraded"] for c in cases)
    total = sum(c["rounds_degraded"] + c["rounds"] for c in cases)
    health = (f"; {deg} of the {total} case-rounds ran while the AMX tile-load check read below"
              f" {res['health']['degraded_below']:.0%} of the peak and were dropped for both runtimes and rerun")
body = f"""### {label}

{time.strftime('%Y-%m-%d %H:%M %Z')}, commit {commit}{' (work tree had uncommitted changes)' if dirty else ''};
{probe.get('cpu', 'unknown CPU')}, {os.cpu_count()} cores; onnxruntime {res['onnxruntime']};
threads {', '.join(map(str, res['threads']))}; {res['rounds']} rounds, each sweeping every case with a qlinear block and an
ORT block of ~{res['target_ms']:.0f} ms (at least one call each){health}; load average {la0:.1f} at the start, {la1:.1f} at
the end.
Peak of one core (bench/probe.c) at the start: {peaks}. "% of peak" is against the
in-case peak: the same probe read in every round of the case (the median of those readings is the
"peak GOPS in case" column).

{table}
"""
begin, end = f"<!-- bench:{section}:begin -->", f"<!-- bench:{section}:end -->"
text = open(doc).read() if os.path.exists(doc) else "# Performance\n"
if begin in text and end in text:
    a, b = text.index(begin) + len(begin), text.index(end)
    text = text[:a] + "\n" + body + text[b:]
else:
    text = text.rstrip("\n") + f"\n\n{begin}\n{body}{end}\n"
open(doc, "w").write(text)
print(f"updated {doc} (section {section})")
EOF
