#!/usr/bin/env bash
# Peak resident memory of a process that embeds Ventriq (make bench-rss), against the memory
# budget model file + arena + 8 MiB. Builds examples/embed (`ventriq-embed`, which links only the
# `Ventriq` library) three ways, each in its own scratch path so the normal .build is untouched:
#   dynamic            swift build -c release (Swift runtime and Foundation as shared libraries)
#   static-stdlib      + --static-swift-stdlib (.build-rss-static)
#   static-executable  + --static-swift-stdlib -Xswiftc -static-executable: glibc, libstdc++ and
#                      libm linked in too, no dynamic loader (.build-rss-static-executable)
# and runs each RSS_RUNS times (default 5) on the bundled model and sample: the WFDB record, and
# its .dat as raw int16 frames on standard input. Prints the median peak RSS (VmHWM) per build and
# input, then the `ventriq` command line's own figure (`ventriq bench`) for contrast
# -> stdout and out/bench/rss.json. RSS_VARIANTS picks builds (e.g. RSS_VARIANTS=static-stdlib).
# A benchmark, not a test: the figures include file pages the kernel maps around each page the
# process touches (fault-around), so they move by a few hundred KiB between runs and machines.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
model="${MODEL:-models/ventriq-compact-int8.safetensors}"
keys="${TRUSTED:-keys/trusted}"
record="${SAMPLE:-examples/recordings/anterior_mi_00190.hea}"
frames="${record%.hea}.dat"
runs="${RSS_RUNS:-5}"
variants="${RSS_VARIANTS:-dynamic static-stdlib static-executable}"
mkdir -p out/bench

# Build one variant; prints the binary's path.
build() {
    local flags=()
    case "$1" in
        dynamic) flags=() ;;
        static-stdlib) flags=(--static-swift-stdlib --scratch-path "$root/.build-rss-static") ;;
        static-executable) flags=(--static-swift-stdlib -Xswiftc -static-executable --scratch-path "$root/.build-rss-static-executable") ;;
        *) echo "rss.sh: unknown variant $1 (dynamic, static-stdlib, static-executable)" >&2; exit 2 ;;
    esac
    # A static glibc warns that getpwnam/getpwuid (CoreFoundation's home-directory lookups, which
    # Ventriq never calls) need the shared NSS libraries at run time: filtered out.
    local log status=0
    log="$(swift build -c release --product ventriq-embed "${flags[@]}" 2>&1)" || status=$?
    grep -v -e '^\[' -e "statically linked applications requires" -e "is dangerous, better use" <<< "$log" >&2 || true
    [ "$status" = 0 ] || { echo "rss.sh: the $1 build failed" >&2; exit 1; }
    echo "$(swift build -c release --product ventriq-embed "${flags[@]}" --show-bin-path)/ventriq-embed"
}

# Median of the peak RSS (bytes) over $runs runs of "$@" (the embed's report on stderr).
median_peak() {
    local peaks=() report
    for _ in $(seq "$runs"); do
        report="$("$@" 2>&1 > /dev/null | grep 'peak RSS')" || { echo "rss.sh: $* failed" >&2; exit 1; }
        peaks+=("$(sed -E 's/.*peak RSS [0-9.]+ MiB \(([0-9]+) bytes\).*/\1/' <<< "$report")")
    done
    printf '%s\n' "${peaks[@]}" | sort -n | awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }'
}

mib() { awk -v b="$1" 'BEGIN { printf "%.2f MiB", b / 1048576 }'; }

json="{\"runs\": $runs, \"variants\": {"
table=()
for variant in $variants; do
    exe="$(build "$variant")"
    # The budget the embed reports: model file + arena (the same for every build) + 8 MiB.
    budget="$("$exe" "$model" "$keys" "$record" 2>&1 > /dev/null | sed -nE 's/.*budget [0-9.]+ MiB \(([0-9]+) bytes\).*/\1/p')"
    file_peak="$(median_peak "$exe" "$model" "$keys" "$record")"
    stdin_peak="$(median_peak sh -c '"$1" "$2" "$3" - < "$4"' sh "$exe" "$model" "$keys" "$frames")"
    table+=("$(printf '%-19s %12s %20s %15s' "$variant" "$(mib "$file_peak")" "$(mib "$stdin_peak")" \
        "$(awk -v p="$file_peak" -v b="$budget" 'BEGIN { printf (p <= b ? "within" : "+%.2f MiB"), (p - b) / 1048576 }')")")
    json+="\"$variant\": {\"record_peak_rss_bytes\": $file_peak, \"stdin_peak_rss_bytes\": $stdin_peak, \"binary_bytes\": $(stat -c %s "$exe")}, "
done
json="${json%, }}, \"budget_bytes\": $budget"

echo
echo "== peak RSS of ventriq-embed (VmHWM, median of $runs runs): $model, $record"
echo "   budget $(mib "$budget") ($budget bytes) = model file + arena + 8 MiB"
printf '%-19s %12s %20s %15s\n' "build" "record" "raw frames (stdin)" "record - budget"
printf '%s\n' "${table[@]}"

# The command line for contrast: Swift runtime, Foundation and ArgumentParser, dynamically linked.
if [ -x .build/release/ventriq ]; then
    cli="$(.build/release/ventriq bench --model "$model" --trusted-keys "$keys" --iterations 10 --warmup 0 --json)"
    cli_peak="$(sed -nE 's/.*"peakRSSBytes" : ([0-9]+).*/\1/p' <<< "$cli")"
    cli_start="$(sed -nE 's/.*"rssAtStartBytes" : ([0-9]+).*/\1/p' <<< "$cli")"
    echo "ventriq bench (the command line, dynamic): peak RSS $(mib "$cli_peak"), $(mib "$cli_start") before the model"
    json+=", \"cli_peak_rss_bytes\": $cli_peak, \"cli_rss_before_model_bytes\": $cli_start"
fi
echo "$json}" > out/bench/rss.json
echo "== wrote $root/out/bench/rss.json"
