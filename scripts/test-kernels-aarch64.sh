#!/usr/bin/env bash
# Checks the C kernels (Sources/CVentriqKernels) without Swift: builds them with the standalone
# harness Tests/kernels-c/test_kernels.c natively with cc and runs it (every table the CPU runs:
# on x86-64 reference, avx2, avx512, avx512_vnni, avx_vnni as available), then cross-compiles
# for aarch64 with aarch64-linux-gnu-gcc (baseline armv8-a, and armv8.2-a+dotprod) and runs the
# harness under qemu-aarch64:
#   -cpu max         reports the dot product extension: both the neon and the neon_dotprod
#                    tables must be available and checked (--require)
#   -cpu cortex-a72  (armv8-a build) has no dot product: neon_dotprod must be refused (--absent)
# A second native build checks the thread pool's condition-variable path (-DVQ_POOL_NO_FUTEX, what
# platforms without futex use).
# On an x86-64 CPU with AVX-512 VNNI but without AVX-VNNI, a second native build compiles the
# avx_vnni table's kernels with the EVEX encoding of the same instruction
# (-DVQ_TEST_AVX_VNNI_AS_EVEX) and checks them (--require avx_vnni).
#
#   scripts/test-kernels-aarch64.sh [--seed N] [--exhaustive-erf] [--bench] [--native-only]
#     --seed N          replay a run (each harness prints its seed)
#     --exhaustive-erf  also sweep every float in [-10, 10] through erf/GELU (native only: slow)
#     --bench           also build and run Tests/kernels-c/bench_kernels.c natively
#     --native-only     skip the aarch64 part
#
# Needs: cc; for aarch64: gcc-aarch64-linux-gnu and qemu-user (Debian/Ubuntu package names).
# Exits non-zero when a build fails, a tool is missing or any check fails.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
src="$root/Sources/CVentriqKernels"
harness="$root/Tests/kernels-c/test_kernels.c"
bench="$root/Tests/kernels-c/bench_kernels.c"
out="$(mktemp -d "${TMPDIR:-/tmp}/vq-kernels.XXXXXX")"
trap 'rm -rf "$out"' EXIT

seed_args=()
exhaustive=()
run_bench=0
native_only=0
while [ $# -gt 0 ]; do
    case "$1" in
        --seed) seed_args=(--seed "$2"); shift 2 ;;
        --exhaustive-erf) exhaustive=(--exhaustive-erf); shift ;;
        --bench) run_bench=1; shift ;;
        --native-only) native_only=1; shift ;;
        *) echo "usage: $0 [--seed N] [--exhaustive-erf] [--bench] [--native-only]" >&2; exit 2 ;;
    esac
done

# The flags of the SwiftPM target (Package.swift), plus warnings as errors.
cflags=(-O3 -std=c11 -fno-fast-math -ffp-contract=off -Wall -Wextra -Werror -I"$src/include" -I"$src")
sources=("$src"/*.c)
status=0

run() { # name, command...
    local name="$1"; shift
    echo "== $name: $*"
    if "$@"; then
        echo "== $name: passed"
    else
        echo "== $name: FAILED" >&2
        status=1
    fi
}

cc="${CC:-cc}"
echo "== native: $("$cc" --version | head -n 1) on $(uname -m)"
"$cc" "${cflags[@]}" "${sources[@]}" "$harness" -lm -pthread -o "$out/test_kernels-native"
run "native ($(uname -m))" "$out/test_kernels-native" "${seed_args[@]}" "${exhaustive[@]}"
# The thread pool's portable sleep (mutex and condition variable, used where there is no futex).
"$cc" "${cflags[@]}" -DVQ_POOL_NO_FUTEX "${sources[@]}" "$harness" -lm -pthread -o "$out/test_kernels-nofutex"
run "native, thread pool without futex" "$out/test_kernels-nofutex" --quick "${seed_args[@]}"

if [ "$(uname -m)" = x86_64 ] && [ -r /proc/cpuinfo ]; then
    flags=" $(grep -m1 '^flags' /proc/cpuinfo | cut -d: -f2) "
    if [[ "$flags" == *" avx512_vnni "* && "$flags" == *" avx512vl "* && "$flags" != *" avx_vnni "* ]]; then
        "$cc" "${cflags[@]}" -DVQ_TEST_AVX_VNNI_AS_EVEX "${sources[@]}" "$harness" -lm -pthread -o "$out/test_kernels-avxvnni-evex"
        run "native, avx_vnni kernels as EVEX (no AVX-VNNI on this CPU)" "$out/test_kernels-avxvnni-evex" --quick \
            --require avx_vnni "${seed_args[@]}"
    fi
fi

if [ "$run_bench" = 1 ]; then
    "$cc" "${cflags[@]}" "${sources[@]}" "$bench" -lm -pthread -o "$out/bench_kernels-native"
    "$out/bench_kernels-native"
fi

if [ "$native_only" = 0 ]; then
    xcc="${AARCH64_CC:-aarch64-linux-gnu-gcc}"
    qemu="${QEMU_AARCH64:-qemu-aarch64}"
    sysroot="${AARCH64_SYSROOT:-/usr/aarch64-linux-gnu}"
    for tool in "$xcc" "$qemu"; do
        if ! command -v "$tool" > /dev/null; then
            echo "== missing $tool: install gcc-aarch64-linux-gnu and qemu-user" >&2
            exit 2
        fi
    done
    echo "== aarch64: $("$xcc" --version | head -n 1); $("$qemu" --version | head -n 1)"
    for march in armv8-a armv8.2-a+dotprod; do
        exe="$out/test_kernels-aarch64-${march//+/-}"
        "$xcc" "${cflags[@]}" -march="$march" "${sources[@]}" "$harness" -lm -pthread -o "$exe"
        # --quick: fewer random GEMM shapes (emulation is slow); the real shapes always run.
        run "aarch64 -march=$march (qemu -cpu max)" "$qemu" -L "$sysroot" -cpu max "$exe" --quick \
            --require neon,neon_dotprod "${seed_args[@]}"
    done
    # Run-time detection: a CPU without the dot product extension gets plain NEON only.
    run "aarch64 -march=armv8-a (qemu -cpu cortex-a72, no dotprod)" "$qemu" -L "$sysroot" -cpu cortex-a72 \
        "$out/test_kernels-aarch64-armv8-a" --quick --require neon --absent neon_dotprod "${seed_args[@]}"
fi

if [ "$status" = 0 ]; then echo "== all kernel checks passed"; else echo "== kernel checks FAILED" >&2; fi
exit "$status"
