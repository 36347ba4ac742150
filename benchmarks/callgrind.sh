#!/usr/bin/env bash
# Instruction counts of the Ventriq kernels (make bench-callgrind): Ir per call of every kernel
# at the default model's shapes, per kernel table, from valgrind --tool=callgrind. Unlike times,
# these do not move with the noise of a shared machine, so they compare kernel versions: keep
# an out/bench/callgrind.json, change a kernel, run again with --baseline.
#
#   benchmarks/callgrind.sh [--baseline FILE] [--count N] [--isa LIST]
#     --baseline FILE  an earlier out/bench/callgrind.json: print the change of Ir per call
#     --count N        calls per kernel and shape (default 2; Ir per call does not depend on it)
#     --isa LIST       tables to count (default reference,avx2: the ones valgrind can execute)
#
# Builds Tests/kernels-c/bench_kernels.c with -DVQ_BENCH_CALLGRIND (its --count mode dumps the
# statistics once per table, kernel and shape through callgrind client requests; nothing outside
# the kernel calls is collected), runs it under callgrind, and reads each dump with
# callgrind_annotate (benchmarks/callgrind_report.py) -> out/bench/callgrind.{txt,json}, and the
# full annotation per kernel in out/bench/callgrind/.
#
# Valgrind executes no AVX-512 instruction (3.19 here; upstream support is still an open request,
# KDE bug 383010: its CPUID hides AVX-512 and EVEX code raises SIGILL) and no AVX-VNNI ({vex}
# vpdpbusd raises SIGILL): the avx512, avx512_vnni and avx_vnni tables cannot be counted; the
# driver skips any table that valgrind's CPUID hides.
#
# Needs: valgrind with its headers (Debian/Ubuntu: apt-get install valgrind), cc, python3.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
count=2
isa=reference,avx2
baseline=
while [ $# -gt 0 ]; do
    case "$1" in
        --baseline) baseline="$2"; shift 2 ;;
        --count) count="$2"; shift 2 ;;
        --isa) isa="$2"; shift 2 ;;
        *) echo "usage: $0 [--baseline FILE] [--count N] [--isa LIST]" >&2; exit 2 ;;
    esac
done
if [ -n "$baseline" ] && [ ! -f "$baseline" ]; then
    echo "callgrind.sh: baseline $baseline not found" >&2
    exit 2
fi

cc="${CC:-cc}"
for tool in valgrind callgrind_annotate "$cc" python3; do
    if ! command -v "$tool" > /dev/null; then
        case "$tool" in
            valgrind | callgrind_annotate) echo "callgrind.sh: $tool not found: install valgrind (Debian/Ubuntu: sudo apt-get install valgrind)" >&2 ;;
            *) echo "callgrind.sh: $tool not found" >&2 ;;
        esac
        exit 2
    fi
done
if ! echo '#include <valgrind/callgrind.h>' | "$cc" -E -x c - > /dev/null 2>&1; then
    echo "callgrind.sh: <valgrind/callgrind.h> not found: install valgrind's headers (Debian/Ubuntu: sudo apt-get install valgrind; elsewhere valgrind-devel)" >&2
    exit 2
fi

src="$root/Sources/CVentriqKernels"
exe="$root/.build/bench_kernels-callgrind"
out="$root/out/bench"
dumps="$out/callgrind"
mkdir -p "$root/.build" "$out"
rm -rf "$dumps"
mkdir -p "$dumps"

# The flags of the SwiftPM target (as scripts/test-kernels-aarch64.sh), -g for the annotations.
"$cc" -O3 -g -std=c11 -fno-fast-math -ffp-contract=off -Wall -Wextra -Werror -DVQ_BENCH_CALLGRIND \
    -I"$src/include" -I"$src" "$src"/*.c "$root/Tests/kernels-c/bench_kernels.c" -lm -o "$exe"

echo "== $(valgrind --version) on $(uname -m); counting tables: $isa"
echo "== valgrind executes neither AVX-512 nor AVX-VNNI: avx512, avx512_vnni and avx_vnni are not counted"
if ! valgrind --tool=callgrind --collect-atstart=no --callgrind-out-file="$dumps/cg.out" \
    "$exe" --count "$count" --isa "$isa" > "$dumps/driver.log" 2> "$dumps/valgrind.log"; then
    echo "callgrind.sh: the driver failed under valgrind (SIGILL: a table valgrind cannot execute?):" >&2
    tail -n 20 "$dumps/valgrind.log" >&2
    exit 1
fi
grep '^# skipped' "$dumps/driver.log" || true

meta=(--meta "valgrind=$(valgrind --version)" --meta "compiler=$("$cc" --version | head -n 1)"
      --meta "commit=$(git -C "$root" rev-parse --short HEAD 2> /dev/null || echo unknown)$(git -C "$root" diff --quiet HEAD -- Sources 2> /dev/null || echo -dirty)"
      --meta "tables=$isa")
python3 "$root/benchmarks/callgrind_report.py" "$dumps" --count "$count" --txt "$out/callgrind.txt" \
    --json "$out/callgrind.json" ${baseline:+--baseline "$baseline"} "${meta[@]}"
echo "== wrote $out/callgrind.txt, $out/callgrind.json (annotations per kernel: $dumps/)"
