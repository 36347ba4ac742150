#!/usr/bin/env bash
# The kernels' efficiency at the default model's shapes (make bench-kernels): builds
# Tests/kernels-c/bench_kernels.c with the kernels' own flags and runs it on every table this CPU
# runs: per GEMM (float and int8, Linear and attention shapes) GMAC/s, achieved MAC/cycle and %
# of the table's measured peak (benchmarks/peak/peak_measure.h) -> stdout and
# out/bench/kernels.json. Arguments are passed on to bench_kernels (e.g. --isa avx512_vnni).
#
# On an x86-64 CPU with AVX-512 VNNI but no AVX-VNNI (Zen 4, Ice Lake / Sapphire Rapids server
# parts without it), the avx_vnni table cannot run as built; a second build compiles its kernels
# with the EVEX encoding of the same instruction (-DVQ_TEST_AVX_VNNI_AS_EVEX, as
# scripts/test-kernels-aarch64.sh does for the tests) and times that table alone ->
# out/bench/kernels-avx_vnni-evex.json.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
src="$root/Sources/CVentriqKernels"
cc="${CC:-cc}"
command -v "$cc" > /dev/null || { echo "kernels.sh: C compiler '$cc' not found (set CC)" >&2; exit 2; }
mkdir -p "$root/.build" "$root/out/bench"
cflags=(-O3 -std=c11 -fno-fast-math -ffp-contract=off -Wall -Wextra -Werror -I"$src/include" -I"$src")

"$cc" "${cflags[@]}" "$src"/*.c "$root/Tests/kernels-c/bench_kernels.c" -lm -o "$root/.build/bench_kernels"
"$root/.build/bench_kernels" --json "$root/out/bench/kernels.json" "$@"

if [ "$(uname -m)" = x86_64 ] && [ -r /proc/cpuinfo ] && [ $# = 0 ]; then
    flags=" $(grep -m1 '^flags' /proc/cpuinfo | cut -d: -f2) "
    if [[ "$flags" == *" avx512_vnni "* && "$flags" == *" avx512vl "* && "$flags" != *" avx_vnni "* ]]; then
        echo
        echo "== no AVX-VNNI on this CPU: the avx_vnni table's kernels with the EVEX encoding of vpdpbusd ymm"
        "$cc" "${cflags[@]}" -DVQ_TEST_AVX_VNNI_AS_EVEX "$src"/*.c "$root/Tests/kernels-c/bench_kernels.c" -lm \
            -o "$root/.build/bench_kernels-avxvnni-evex"
        "$root/.build/bench_kernels-avxvnni-evex" --isa avx_vnni --json "$root/out/bench/kernels-avx_vnni-evex.json"
    fi
fi
echo "== wrote $root/out/bench/kernels.json"
