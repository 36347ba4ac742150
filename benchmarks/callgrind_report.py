"""Instructions per kernel call from the callgrind dumps of benchmarks/callgrind.sh.

    python3 benchmarks/callgrind_report.py DUMPS --count N --txt OUT.txt --json OUT.json [--baseline OLD.json]

DUMPS holds one callgrind dump per table, kernel and shape (cg.out.<n>, each named by the
driver's client request "isa/kernel/layer_shape"). Each dump is read with callgrind_annotate
(--inclusive=yes; the full output is kept next to the dump as <label>.txt); its PROGRAM TOTALS
divided by N (the calls the dump covers) gives Ir per call. The table has one row per kernel and
shape and one column per table; with --baseline (an earlier OUT.json) it adds the change per
kernel. Standard library only (no numpy).
"""

from __future__ import annotations

import argparse
import json
import re
import subprocess
import sys
from pathlib import Path

TOTALS = re.compile(r"^\s*([\d,]+)\s+\(100\.0%\)\s+PROGRAM TOTALS")
FUNCTION = re.compile(r"^\s*([\d,]+)\s+\(\s*[\d.]+%\)\s+(\S+):(\S+)")
GEMM_SHAPE = re.compile(r"_(\d+)x(\d+)x(\d+)$")


def trigger(path: Path) -> str | None:
    """The client request that produced the dump (None for the program-termination dump)."""
    prefix = "desc: Trigger: Client Request: "
    with path.open() as f:
        for line in f:
            if line.startswith(prefix):
                return line[len(prefix):].strip()
            if line.startswith("events:"):
                return None
    return None


def annotate(path: Path) -> tuple[int, list[tuple[str, int]], str]:
    """Total Ir of a dump and the inclusive Ir of its Ventriq kernel functions (callgrind_annotate)."""
    text = subprocess.run(["callgrind_annotate", "--inclusive=yes", "--auto=no", "--threshold=100", str(path)],
                          check=True, capture_output=True, text=True).stdout
    total = None
    functions = []
    for line in text.splitlines():
        m = TOTALS.match(line)
        if m:
            total = int(m.group(1).replace(",", ""))
            continue
        m = FUNCTION.match(line)
        if m and "CVentriqKernels" in m.group(2):
            functions.append((m.group(3), int(m.group(1).replace(",", ""))))
    if total is None:
        raise SystemExit(f"callgrind_annotate printed no PROGRAM TOTALS for {path}")
    return total, functions, text


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("dumps", type=Path)
    p.add_argument("--count", type=int, required=True, help="calls per dump (the driver's --count)")
    p.add_argument("--txt", type=Path, required=True)
    p.add_argument("--json", type=Path, required=True)
    p.add_argument("--baseline", type=Path, help="an earlier --json output: print the change per kernel")
    p.add_argument("--meta", action="append", default=[], help="KEY=VALUE stored in the JSON (commit, compiler, ...)")
    a = p.parse_args()

    results: dict[str, dict] = {}
    for path in sorted(a.dumps.glob("cg.out.*"), key=lambda q: int(q.suffix[1:]) if q.suffix[1:].isdigit() else -1):
        label = trigger(path)
        if label is None:
            continue
        total, functions, text = annotate(path)
        (a.dumps / (label.replace("/", "__") + ".txt")).write_text(text)
        isa, kernel, shape = label.split("/")
        r = {"isa": isa, "kernel": kernel, "shape": shape, "ir_per_call": total / a.count,
             "functions": {name: ir / a.count for name, ir in functions[:6]}}
        m = GEMM_SHAPE.search(shape)
        if m:
            macs = int(m.group(1)) * int(m.group(2)) * int(m.group(3))
            r["macs"] = macs
            r["ir_per_mac"] = total / a.count / macs
        results[label] = r
    if not results:
        raise SystemExit(f"no client-request dumps in {a.dumps}: did the driver run under callgrind?")

    baseline: dict[str, dict] | None = None
    if a.baseline:
        if not a.baseline.exists():
            raise SystemExit(f"baseline {a.baseline} not found")
        baseline = json.loads(a.baseline.read_text())["results"]

    isas = list(dict.fromkeys(r["isa"] for r in results.values()))
    rows = list(dict.fromkeys((r["kernel"], r["shape"]) for r in results.values()))
    head = f"{'kernel':<24} {'shape':<20}" + "".join(
        f" {isa + ' Ir/call':>20} {'Ir/MAC':>7}" + (f" {'vs base':>8}" if baseline else "")
        for isa in isas)
    lines = [f"Ir (instructions executed) per kernel call, {a.count} calls per kernel and shape, "
             f"valgrind --tool=callgrind; Ir/MAC for GEMMs",
             head, "-" * len(head)]
    for kernel, shape in rows:
        line = f"{kernel:<24} {shape:<20}"
        for isa in isas:
            label = f"{isa}/{kernel}/{shape}"
            res = results.get(label)
            if res is None:
                line += f" {'-':>20} {'':>7}" + (f" {'':>8}" if baseline else "")
                continue
            line += f" {res['ir_per_call']:>20,.0f} " + (f"{res['ir_per_mac']:>7.3f}" if "ir_per_mac" in res else f"{'':>7}")
            if baseline is not None:
                old = baseline.get(label)
                line += f" {(res['ir_per_call'] / old['ir_per_call'] - 1) * 100:>+7.2f}%" if old else f" {'new':>8}"
        lines.append(line)
    if baseline is not None:
        gone = sorted(set(baseline) - set(results))
        if gone:
            lines.append(f"in the baseline only: {', '.join(gone)}")
        lines.append(f"vs base: change of Ir per call against {a.baseline}")
    table = "\n".join(lines)
    print(table)
    a.txt.write_text(table + "\n")
    meta = dict(kv.split("=", 1) for kv in a.meta)
    a.json.write_text(json.dumps({**meta, "calls_per_dump": a.count, "results": results}, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
