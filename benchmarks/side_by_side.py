"""Ventriq vs ONNX Runtime on the same model, inputs and machine, in one run (`make bench`).

    .venv/bin/python benchmarks/side_by_side.py [--rounds 5] [--runs 200] [--threads 1]

Rows: ONNX Runtime fp32, int8 dynamic (quantize_dynamic, s8 weights), int8 static QDQ s8/s8 and
u8/s8 per-channel (quantize_static, MinMax, calibrated on the same windows Ventriq's quantizer
used); Ventriq float32 and int8 (`ventriq bench --json --raw`). Timing: batch 1, the model on one
preprocessed 5 s window (preprocessing excluded on both sides), `--threads` threads on both sides
(ONNX Runtime's intra-op threads, `ventriq bench --threads`). The rows are measured in `--rounds`
interleaved rounds (each round runs every row once, `--runs / --rounds` timed runs after a
warm-up) so the machine's noise falls on all of them; medians and p99 are over all pooled runs.

Efficiency: "MAC/cycle" is the MACs per window over (median seconds x clock), "% peak" that over
the peak MAC/cycle of the relevant instruction times `--threads` (the probe measures one core),
both from benchmarks/peak/peak_probe (built with gcc/cc into .build/peak_probe when missing or
older than its source; its JSON goes into side_by_side.json under "peak"): Ventriq int8 against the int8 instruction of the table its
kernels use (`kernels` of `ventriq bench --json`), Ventriq float32 against that table's FMA,
ONNX Runtime int8 rows against the best int8 peak of the machine, ONNX Runtime fp32 against the
best FMA peak. Attention runs in float32 in both Ventriq models, so the int8 rows mix float and
int8 MACs.

Agreement: every row scores the 5 bundled recordings (consecutive 5 s windows, mean of outputs);
the table gives each row's largest |difference| from ONNX Runtime fp32 on the three estimates (in
their units: %, %, l/min) and on the six probabilities, so the int8 rows of both runtimes are
compared on the same scale.

Writes the table to stdout and `out/bench/side_by_side.{json,md,png}`. VENTRIQ_BIN overrides the
ventriq binary (default .build/release/ventriq).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import onnxruntime as ort
from onnxruntime.quantization import CalibrationDataReader, QuantFormat, QuantType, quantize_dynamic, quantize_static
from safetensors import safe_open
from safetensors.numpy import load_file

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "training"))

from ventriq_training.atomic import atomic_output, write_text_atomic  # noqa: E402
from ventriq_training.preprocess import PreprocessConfig, preprocess  # noqa: E402
from ventriq_training.score import read_recording  # noqa: E402

OUT = ROOT / "out" / "bench"
VENTRIQ = Path(os.environ.get("VENTRIQ_BIN", ROOT / ".build" / "release" / "ventriq"))
PROBE_SOURCE = ROOT / "benchmarks" / "peak" / "peak_probe.c"
PROBE = ROOT / ".build" / "peak_probe"
FLOAT = ROOT / "models" / "ventriq-compact.safetensors"
INT8 = ROOT / "models" / "ventriq-compact-int8.safetensors"
ONNX = ROOT / "models" / "ventriq-compact.onnx"
RECORDINGS = sorted((ROOT / "examples" / "recordings").glob("*.hea"))


class Windows(CalibrationDataReader):
    def __init__(self, windows: np.ndarray) -> None:
        self.items = iter([{"ecg_preprocessed": w[None]} for w in windows])

    def get_next(self) -> dict[str, np.ndarray] | None:
        return next(self.items, None)


# ONNX Runtime's int8 variants: file suffix -> (row name, activation type; None for dynamic).
ORT_INT8: dict[str, tuple[str, QuantType | None]] = {
    "dynamic": ("onnxruntime int8 dynamic", None),
    "static-s8s8": ("onnxruntime int8 static s8/s8", QuantType.QInt8),
    "static-u8s8": ("onnxruntime int8 static u8/s8", QuantType.QUInt8),
}


def ort_int8(src: Path, dst: Path, variant: str, calibration: np.ndarray | None = None) -> Path:
    """Quantize the fp32 ONNX model ``src`` to ``dst`` with ONNX Runtime: ``dynamic``
    (quantize_dynamic, s8 per-channel weights) or ``static-s8s8`` / ``static-u8s8`` (QDQ, MinMax,
    per-channel, calibrated on ``calibration``, preprocessed windows (N, leads, samples))."""
    activation = ORT_INT8[variant][1]
    if activation is None:
        quantize_dynamic(str(src), str(dst), weight_type=QuantType.QInt8, per_channel=True)
    else:
        if calibration is None:
            raise ValueError(f"ONNX Runtime int8 {variant} needs calibration windows")
        quantize_static(str(src), str(dst), Windows(calibration), quant_format=QuantFormat.QDQ, per_channel=True,
                        activation_type=activation, weight_type=QuantType.QInt8)
    return dst


def ort_models(calibration: np.ndarray) -> dict[str, Path]:
    OUT.mkdir(parents=True, exist_ok=True)
    paths = {"onnxruntime fp32": ONNX}
    for variant, (row, _) in ORT_INT8.items():
        paths[row] = ort_int8(ONNX, OUT / f"compact-int8-{variant}.onnx", variant, calibration)
    return paths


def ort_session(path: Path, threads: int) -> ort.InferenceSession:
    """A CPU session with ``threads`` intra-op threads and one inter-op thread."""
    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    return ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])


def ort_time(session: ort.InferenceSession, x: np.ndarray, runs: int, warmup: int) -> list[float]:
    for _ in range(warmup):
        session.run(None, {"ecg_preprocessed": x})
    out = []
    for _ in range(runs):
        t0 = time.perf_counter()
        session.run(None, {"ecg_preprocessed": x})
        out.append((time.perf_counter() - t0) * 1e3)
    return out


def trust_args(model: Path, signed: bool | None = None) -> list[str]:
    """How the runtime is told to accept ``model``: the repository's trusted keys when it is signed
    (by default: int8 models, which `make quantize` signs), else --allow-unsigned."""
    if signed is None:
        signed = "int8" in model.name
    return ["--trusted-keys", str(ROOT / "keys" / "trusted")] if signed else ["--allow-unsigned"]


def ventriq_time(model: Path, runs: int, warmup: int, *, ventriq: Path | None = None, signed: bool | None = None,
                 cwd: Path = ROOT, threads: int = 1) -> tuple[list[float], dict[str, Any]]:
    """``ventriq bench --json --raw`` on ``model`` with the ``ventriq`` binary (default VENTRIQ):
    the engine's timed runs (ms) and the whole report. The bench window is the first of
    examples/recordings/anterior_mi_00190.hea when ``cwd`` has it, else the runtime's synthetic
    beats. ``runs`` must be at least 10 (the bench's minimum); ``threads`` goes to --threads."""
    args = [str(ventriq or VENTRIQ), "bench", "--model", str(model), "--json", "--raw", "--iterations", str(runs), "--warmup", str(warmup),
            "--threads", str(threads)]
    args += trust_args(model, signed)
    report = json.loads(subprocess.run(args, check=True, capture_output=True, text=True, cwd=cwd).stdout)
    return report["engineSamplesMs"], report


def measured_peak() -> dict[str, Any]:
    """The peak probe's JSON (clock_hz; int8 / float: per kernel table, macs_per_cycle, ...)."""
    sources = [PROBE_SOURCE, PROBE_SOURCE.with_name("peak_measure.h")]
    if not PROBE.exists() or any(src.stat().st_mtime > PROBE.stat().st_mtime for src in sources):
        cc = next((c for c in (os.environ.get("CC"), "gcc", "cc") if c and shutil.which(c)), None)
        if cc is None:
            raise SystemExit(f"no C compiler (gcc or cc, or set CC) to build {PROBE} from {PROBE_SOURCE}")
        PROBE.parent.mkdir(parents=True, exist_ok=True)
        subprocess.run([cc, "-O2", "-Wall", "-Wextra", str(PROBE_SOURCE), "-o", str(PROBE)], check=True)
    peak = json.loads(subprocess.run([str(PROBE), "--json"], check=True, capture_output=True, text=True).stdout)
    if not peak.get("clock_hz") or not peak.get("int8") or not peak.get("float"):
        raise SystemExit(f"{PROBE} measured no peak on this machine: {peak}")
    return peak


def peak_basis(row: str, peak: dict[str, Any], reports: dict[str, dict[str, Any]]) -> tuple[str, float | None]:
    """Which peak a row is measured against, and its MAC/cycle (None where the probe has none,
    e.g. Ventriq on the scalar reference kernels)."""
    kind = "int8" if "int8" in row else "float"
    isa = reports[row]["kernels"] if row.startswith("ventriq") else peak[f"best_{kind}"]
    entry = peak[kind].get(isa)
    if entry is None:
        return f"{kind} {isa}: no peak", None
    instr = entry["int8_instr" if kind == "int8" else "float_instr"]
    return f"{kind} {isa} ({instr})", float(entry["macs_per_cycle"])


def latency_summary(ms: list[float]) -> tuple[float, float]:
    """Median and 99th percentile of pooled timed runs (ms)."""
    arr = np.array(ms)
    return float(np.median(arr)), float(np.percentile(arr, 99))


def ort_scores(session: ort.InferenceSession, pre: PreprocessConfig) -> np.ndarray:
    rows = []
    for path in RECORDINGS:
        rec = read_recording(path)
        n = rec.signal.shape[1] // 2500
        x = preprocess(np.stack([rec.signal[:, k * 2500:(k + 1) * 2500] for k in range(n)]), pre).astype(np.float32)
        outs = [session.run(None, {"ecg_preprocessed": w[None]}) for w in x]
        reg = np.mean([o[1][0] for o in outs], axis=0)
        prob = np.mean([1 / (1 + np.exp(-o[2][0].astype(np.float64))) for o in outs], axis=0)
        rows.append(np.concatenate([reg, prob]))
    return np.array(rows)


def ventriq_scores(model: Path) -> np.ndarray:
    args = [str(VENTRIQ), "score", *map(str, RECORDINGS), "--model", str(model), *trust_args(model)]
    lines = subprocess.run(args, check=True, capture_output=True, text=True, cwd=ROOT).stdout.splitlines()
    rows = []
    for line in lines:
        r = json.loads(line)
        rows.append([e["value"] for e in r["estimates"]] + [k["probability"] for k in r["risks"]])
    return np.array(rows)


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--rounds", type=int, default=5)
    p.add_argument("--runs", type=int, default=200, help="timed runs per row in all (at least 200 for the report)")
    p.add_argument("--warmup", type=int, default=10, help="untimed runs per row and round")
    p.add_argument("--threads", type=int, default=1, help="threads for ONNX Runtime (intra-op) and Ventriq (--threads)")
    p.add_argument("--calibration", type=Path, default=ROOT / "out" / "sets" / "calibration.safetensors")
    a = p.parse_args()
    if not 1 <= a.threads <= 64:
        p.error("--threads must be between 1 and 64")
    if not VENTRIQ.exists():
        p.error(f"{VENTRIQ} not found: run `make build` first")
    if not a.calibration.exists():
        p.error(f"{a.calibration} not found: run `make sets` first")
    peak = measured_peak()
    calibration = load_file(str(a.calibration))["windows"][:64].astype(np.float32)
    golden = load_file(str(ROOT / "models" / "ventriq-compact.golden.safetensors"))
    x = golden["input.preprocessed"][:1].astype(np.float32)

    sessions = {name: ort_session(path, a.threads) for name, path in ort_models(calibration).items()}
    per_round = max(1, a.runs // a.rounds)
    samples: dict[str, list[float]] = {name: [] for name in [*sessions, "ventriq float32", "ventriq int8"]}
    reports: dict[str, dict[str, Any]] = {}
    for r in range(a.rounds):
        for name, session in sessions.items():
            samples[name] += ort_time(session, x, per_round, a.warmup)
        for name, model in (("ventriq float32", FLOAT), ("ventriq int8", INT8)):
            times, report = ventriq_time(model, per_round, a.warmup, threads=a.threads)
            samples[name] += times
            reports[name] = report
        print(f"round {r + 1}/{a.rounds} done", file=sys.stderr)

    with safe_open(str(FLOAT), "np") as f:
        pre = PreprocessConfig.from_dict(json.loads(f.metadata()["config"])["preprocessing"]["config"])
    reference = ort_scores(sessions["onnxruntime fp32"], pre)
    def deviation(scores: np.ndarray) -> tuple[float, float]:
        d = np.abs(scores - reference)
        return float(d[:, :3].max()), float(d[:, 3:].max())  # estimates (in their units), probabilities

    agreement = {name: deviation(ort_scores(s, pre)) for name, s in sessions.items()}
    agreement["ventriq float32"] = deviation(ventriq_scores(FLOAT))
    agreement["ventriq int8"] = deviation(ventriq_scores(INT8))

    macs = reports["ventriq int8"]["macsPerWindow"]
    fastest_int8 = min((n for n in sessions if "int8" in n), key=lambda n: float(np.median(samples[n])))
    rows = []
    for name, ms in samples.items():
        med, p99 = latency_summary(ms)
        basis, peak_mpc = peak_basis(name, peak, reports)
        peak_mpc = peak_mpc * a.threads if peak_mpc else None  # the probe's peak is one core's
        mpc = macs / (med * 1e-3 * peak["clock_hz"])
        rows.append({
            "row": name, "runs": len(ms), "median_ms": med, "p99_ms": p99, "p99_over_median": p99 / med,
            "ratio_to_ort_fp32": med / float(np.median(samples["onnxruntime fp32"])),
            "ratio_to_fastest_ort_int8": med / float(np.median(samples[fastest_int8])),
            "gmac_per_s": macs / (med * 1e-3) / 1e9,
            "mac_per_cycle": mpc, "peak_basis": basis, "peak_mac_per_cycle": peak_mpc,
            "pct_peak": 100 * mpc / peak_mpc if peak_mpc else None,
            "max_abs_estimate_diff_vs_ort_fp32": agreement[name][0],
            "max_abs_probability_diff_vs_ort_fp32": agreement[name][1],
        })
    ventriq_memory = {k: {f: reports[k][f] for f in ("arenaBytes", "activationBytes", "activationLowerBoundBytes", "weightBytes",
                                                   "peakRSSBytes", "rssAtStartBytes", "modelFileBytes", "allocationsPerWindow", "kernels",
                                                   "threads")} for k in reports}
    result = {"machine": {"cpu": platform.processor() or platform.machine(), "cores": os.cpu_count(), "threads": a.threads,
                          "onnxruntime": ort.__version__},
              "macs_per_window": macs, "fastest_ort_int8": fastest_int8, "rows": rows, "ventriq": ventriq_memory,
              "preprocessing": "excluded on both sides", "peak": peak}
    lines = [f"model ventriq-compact, batch 1, {a.threads} thread(s) (ORT intra-op, Ventriq --threads), preprocessing excluded; "
             f"{macs / 1e6:.0f} M MACs per window; {a.rounds} interleaved rounds",
             "", "| row | runs | median ms | p99 ms | p99/median | vs ORT fp32 | vs fastest ORT int8 | GMAC/s | MAC/cycle | % peak | max abs d estimate | max abs d probability |",
             "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |"]
    for row in rows:
        pct = f"{row['pct_peak']:.1f}" if row["pct_peak"] is not None else "-"
        lines.append(f"| {row['row']} | {row['runs']} | {row['median_ms']:.3f} | {row['p99_ms']:.3f} | {row['p99_over_median']:.2f} | "
                     f"{row['ratio_to_ort_fp32']:.2f} | {row['ratio_to_fastest_ort_int8']:.2f} | {row['gmac_per_s']:.1f} | "
                     f"{row['mac_per_cycle']:.2f} | {pct} | "
                     f"{row['max_abs_estimate_diff_vs_ort_fp32']:.3f} | {row['max_abs_probability_diff_vs_ort_fp32']:.4f} |")
    bases: dict[tuple[str, float | None], list[str]] = {}
    for row in rows:
        bases.setdefault((row["peak_basis"], row["peak_mac_per_cycle"]), []).append(row["row"])
    lines.append(f"\nMAC/cycle = MACs per window / (median s x {peak['clock_hz'] / 1e9:.2f} GHz, the measured clock); "
                 f"% peak = MAC/cycle / ({a.threads} x the measured one-core peak (benchmarks/peak/peak_probe: instructions "
                 "per cycle x MACs per instruction)) of:")
    for (basis, mpc), names in bases.items():
        lines.append(f"- {basis}" + (f": {mpc:.1f} MAC/cycle" if mpc else "") + f" for {', '.join(names)}")
    lines.append("Every row's MACs include attention (Q.K^T and P.V): float32 in ONNX Runtime's int8 models (their "
                 "attention MatMuls stay float), int8 in Ventriq's when its model has int8 attention cores. The medians "
                 "are wall clock: on a virtual machine with stolen time, MAC/cycle is a lower bound.")
    mib = 1 << 20
    for k, m in ventriq_memory.items():
        budget = m["modelFileBytes"] + m["arenaBytes"] + 8 * mib  # the goal: model + arena + 8 MiB
        engine_rss = m["peakRSSBytes"] - m["rssAtStartBytes"]
        lines.append(f"\n{k}: kernels {m['kernels']}, {m['threads']} thread(s); allocations per window {m['allocationsPerWindow']}; "
                     f"arena {m['arenaBytes']} B = activations {m['activationBytes']} B "
                     f"({m['activationBytes'] / m['activationLowerBoundBytes']:.3f}x the live-set lower bound "
                     f"{m['activationLowerBoundBytes']} B) + weights {m['weightBytes']} B; "
                     f"peak RSS {m['peakRSSBytes'] / mib:.1f} MiB = {m['rssAtStartBytes'] / mib:.1f} MiB before the model (Swift "
                     f"runtime, Foundation) + {engine_rss / mib:.1f} MiB model, engine and bench, against model + arena + 8 MiB = "
                     f"{budget / mib:.1f} MiB ({'within' if m['peakRSSBytes'] <= budget else 'over'} in all; "
                     f"{'within' if engine_rss <= budget else 'over'} beyond the runtime)")
    table = "\n".join(lines)
    print(table)
    write_text_atomic(OUT / "side_by_side.json", json.dumps(result, indent=1))
    write_text_atomic(OUT / "side_by_side.md", table + "\n")
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
        fig, ax = plt.subplots(figsize=(8, 3.5))
        names = [r["row"] for r in rows]
        medians = [r["median_ms"] for r in rows]
        err = [[0] * len(rows), [r["p99_ms"] - r["median_ms"] for r in rows]]
        ax.barh(names, medians, xerr=err, color=["#999" if n.startswith("onnx") else "#c33" for n in names])
        ax.set_xlabel("ms per 5 s window (median, whisker to p99)")
        ax.invert_yaxis()
        fig.tight_layout()
        with atomic_output(OUT / "side_by_side.png") as tmp:
            fig.savefig(tmp, dpi=120, format="png")
    except ImportError:
        print("matplotlib missing: no chart", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
