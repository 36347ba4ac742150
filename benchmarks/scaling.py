"""Latency vs window length and vs model size, Ventriq vs ONNX Runtime, in one run (`make bench-scaling`).

    .venv/bin/python benchmarks/scaling.py [--quick] [--models compact@5,compact@10,compact@20,tiny,paper]
        [--rounds 5] [--static] [--rebuild] [--ventriq PATH] [--quantize PATH]

Models (`--models`, `SIZE` or `SIZE@SECONDS`; default all five): the compact encoder at 5, 10 and
20 s windows (300, 600, 1200 tokens), tiny (5 s) and paper (its own 10 s), each with deterministic
random weights (`--seed`, default 0): latency does not depend on trained weights. Everything a
model needs is built once and cached under out/bench/scaling/models/ (a step reruns when its
output is missing or older than its input; `--rebuild` starts again from the export, e.g. after a
change to the exporter or the quantizer):
  1. the float safetensors (with the config the runtime reads) and ONNX, through the trainer's
     exporter: `python -m ventriq_training.export --random SIZE --window-samples N`; then
     `ventriq inspect` must read the model;
  2. calibration windows and a labelled held-out set of the model's window:
     `python -m ventriq_training.export --sets-from MODEL` (`--n-calibration`, `--n-heldout`;
     8 each by default, the quantizer's minimum);
  3. Ventriq int8: `ventriq-quantize` with the accuracy gate off (the weights are random), every
     layer in int8 (Linears and attention cores; `--max-float-layers 0`, which also skips the
     sensitivity pass) and no signature (the runtime is run with --allow-unsigned);
  4. ONNX Runtime int8 dynamic (quantize_dynamic, s8 per-channel weights: the fastest ORT int8
     variant in benchmarks/side_by_side.py); with `--static` also the static QDQ s8/s8 and u8/s8.

Timing (the functions of benchmarks/side_by_side.py): batch 1, one thread on both sides (`--threads N`
for both), the model on one preprocessed window, preprocessing excluded. ONNX Runtime runs on
the first calibration window; Ventriq (`ventriq bench --json --raw`, engine path) on its synthetic
beats, because the bundled 10 s recordings are shorter than a 20 s window; the engine's cost does
not depend on the values. Runs per row scale with the model's cost: about `--gmac-runs` / GMAC per
window, clamped to [`--min-runs`, `--max-runs`] (200 for compact 5 s, 20 for paper by default),
spread over up to `--rounds` interleaved rounds (at least 10 runs a round, the bench's minimum); each
round runs every row of every model once, so the machine's noise falls on all of them. Medians and
p99 are over all pooled runs. `--quick`: 10 runs per row in one round, one warm-up (a smoke run;
the first run still builds and quantizes every model). After the timing, `ventriq bench --ops` gives
Ventriq int8's time per kind of op (attention vs int8 GEMMs; `--no-ops` skips it).

Writes the table to stdout and out/bench/scaling.{json,md,png} (the chart: median latency vs
tokens for the compact windows, and vs GMAC per window for the sizes, log-log; skipped with a
message when matplotlib is missing).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import math
import os
import platform
import re
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import onnxruntime as ort
from safetensors import safe_open
from safetensors.numpy import load_file

sys.path.insert(0, str(Path(__file__).resolve().parent))

from side_by_side import ORT_INT8, ROOT, latency_summary, ort_int8, ort_session, ort_time, ventriq_time  # noqa: E402

from ventriq_training.atomic import atomic_output, write_text_atomic  # noqa: E402  (side_by_side put training/ on the path)
from ventriq_training.models.ecg_vit import NAMED_CONFIGS  # noqa: E402

OUT = ROOT / "out" / "bench"
WORK = OUT / "scaling"
DEFAULT_MODELS = "compact@5,compact@10,compact@20,tiny,paper"
ORT_FP32 = "onnxruntime fp32"
# `ventriq bench --ops` kinds: attention runs in int8 when the model has int8 attention cores.
ATTENTION, INT8_GEMM = ("attention (int8)", "attention (float)"), "int8 GEMM (Linear)"
OP_LINE = re.compile(r"^(?P<op>\S.*?)\s+(?P<ms>\d+\.\d+)\s+(?P<share>\d+\.\d+) %$")
VQ_FLOAT, VQ_INT8 = "ventriq float32", "ventriq int8"
# The accuracy gate off: random weights have no accuracy to keep.
GATE_OFF = ["--max-r2-drop", "1", "--max-auroc-drop", "1", "--min-cosine=-1", "--max-float-layers", "0"]


class BenchError(Exception):
    """A step failed; the message says which and how to fix it."""


@dataclass
class Spec:
    """One model of the sweep: a named size at a window length."""

    size: str
    window_samples: int
    seed: int

    @property
    def fs_hz(self) -> float:
        return NAMED_CONFIGS[self.size].fs_hz

    @property
    def seconds(self) -> float:
        return self.window_samples / self.fs_hz

    @property
    def name(self) -> str:
        return f"random-{self.size}-{self.window_samples}-seed{self.seed}"

    @property
    def label(self) -> str:
        return f"{self.size} {self.seconds:g} s"


@dataclass
class Prepared:
    spec: Spec
    float_model: Path
    onnx: Path
    int8_model: Path
    ort_int8: dict[str, Path]  # row name -> ONNX file
    x: np.ndarray  # (1, leads, window) preprocessed, for ONNX Runtime
    config: dict[str, Any]
    params: int
    runs: int = 0
    rounds: int = 0
    warmup: int = 0
    sessions: dict[str, ort.InferenceSession] = field(default_factory=dict)
    samples: dict[str, list[float]] = field(default_factory=dict)
    reports: dict[str, dict[str, Any]] = field(default_factory=dict)
    ops: list[dict[str, Any]] = field(default_factory=list)  # Ventriq int8 by op kind

    @property
    def macs(self) -> int:
        return int(self.config["architecture"]["macs_per_window"])

    @property
    def tokens(self) -> int:
        return int(self.config["architecture"]["n_tokens"])

    @property
    def attention_macs(self) -> int:
        """QK^T and AV of every block: depth x 2 n^2 d (the part that grows with the square of the tokens)."""
        arch = self.config["architecture"]
        return int(arch["depth"]) * 2 * self.tokens**2 * int(arch["embed_dim"])


def parse_models(text: str, seed: int) -> list[Spec]:
    specs = []
    for item in filter(None, (t.strip() for t in text.split(","))):
        size, _, seconds = item.partition("@")
        if size not in NAMED_CONFIGS:
            raise BenchError(f"--models {item!r}: unknown size {size!r}; known: {', '.join(NAMED_CONFIGS)}")
        base = NAMED_CONFIGS[size]
        try:
            window = round(float(seconds) * base.fs_hz) if seconds else base.window_samples
        except ValueError:
            raise BenchError(f"--models {item!r}: SECONDS must be a number") from None
        if window < base.patch_size or window % base.patch_size:
            raise BenchError(f"--models {item!r}: {window} samples is not a positive multiple of the patch ({base.patch_size})")
        specs.append(Spec(size, window, seed))
    if not specs:
        raise BenchError("--models names no model")
    return specs


def run_step(args: list[str], what: str, cwd: Path = ROOT) -> str:
    """Run a command; on failure raise BenchError with its exit status and the end of its output."""
    env = os.environ | {"PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT / "training"), os.environ.get("PYTHONPATH")]))}
    done = subprocess.run(args, capture_output=True, text=True, cwd=cwd, env=env)
    if done.returncode != 0:
        tail = "\n".join((done.stderr.strip() or done.stdout.strip()).splitlines()[-15:])
        raise BenchError(f"{what} failed (exit {done.returncode}): {' '.join(args)}\n{tail}")
    return done.stdout


def stale(target: Path, *sources: Path, rebuild: bool = False) -> bool:
    """Whether ``target`` must be (re)built: missing, older than a source, or --rebuild."""
    if rebuild or not target.exists():
        return True
    return any(target.stat().st_mtime < s.stat().st_mtime for s in sources)


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def prepare(spec: Spec, a: argparse.Namespace) -> Prepared:
    d = WORK / "models"
    d.mkdir(parents=True, exist_ok=True)
    float_model, onnx = d / f"{spec.name}.safetensors", d / f"{spec.name}.onnx"
    sets = d / f"{spec.name}-sets"
    calibration, heldout = sets / "calibration.safetensors", sets / "heldout.safetensors"
    int8_model = d / f"{spec.name}-int8.safetensors"

    if stale(float_model, rebuild=a.rebuild) or stale(onnx, float_model):
        log(f"{spec.label}: exporting random float model and ONNX")
        run_step([sys.executable, "-m", "ventriq_training.export", "--random", spec.size, "--window-samples", str(spec.window_samples),
                  "--seed", str(spec.seed), "--out", str(d), "--name", spec.name], "the exporter (--random)")
        run_step([str(a.ventriq), "inspect", str(float_model)], f"`ventriq inspect {float_model}`")
    if stale(calibration, float_model) or stale(heldout, float_model):
        log(f"{spec.label}: writing calibration and held-out sets")
        run_step([sys.executable, "-m", "ventriq_training.export", "--sets-from", str(float_model), "--sets-dir", str(sets),
                  "--n-calibration", str(a.n_calibration), "--n-heldout", str(a.n_heldout)], "the set writer (--sets-from)")
    if stale(int8_model, float_model, calibration, heldout):
        log(f"{spec.label}: quantizing with ventriq-quantize (gate off, unsigned)")
        t0 = time.perf_counter()
        run_step([str(a.quantize), str(float_model), "--calibration", str(calibration), "--heldout", str(heldout),
                  *GATE_OFF, "--output", str(int8_model)], "ventriq-quantize")
        log(f"{spec.label}: quantized in {time.perf_counter() - t0:.0f} s")
    windows = load_file(str(calibration))["windows"].astype(np.float32)
    variants = ["dynamic"] + (["static-s8s8", "static-u8s8"] if a.static else [])
    ort_paths: dict[str, Path] = {}
    for variant in variants:
        path = d / f"{spec.name}-int8-{variant}.onnx"
        if stale(path, onnx):
            log(f"{spec.label}: ONNX Runtime int8 {variant}")
            with atomic_output(path) as tmp:
                ort_int8(onnx, tmp, variant, windows)
        ort_paths[ORT_INT8[variant][0]] = path
    with safe_open(str(float_model), "np") as f:
        config = json.loads((f.metadata() or {})["config"])
        params = sum(math.prod(f.get_slice(k).get_shape()) for k in f.keys() if not k.startswith("head."))
    return Prepared(spec, float_model, onnx, int8_model, ort_paths, windows[:1], config, params)


def plan(p: Prepared, a: argparse.Namespace) -> None:
    """Runs, rounds and warm-up runs for one model, scaled to its cost."""
    gmac = p.macs / 1e9
    if a.quick:
        p.runs, p.rounds, p.warmup = 10, 1, 1
        return
    p.runs = max(a.min_runs, min(a.max_runs, round(a.gmac_runs / gmac)))
    p.rounds = max(1, min(a.rounds, p.runs // 10))
    p.warmup = max(1, min(a.warmup, round(2.0 / gmac)))


def measure(models: list[Prepared], a: argparse.Namespace) -> None:
    for p in models:
        p.sessions = {ORT_FP32: ort_session(p.onnx, a.threads)} | {n: ort_session(path, a.threads) for n, path in p.ort_int8.items()}
        p.samples = {name: [] for name in [*p.sessions, VQ_FLOAT, VQ_INT8]}
    for r in range(max(p.rounds for p in models)):
        t0 = time.perf_counter()
        for p in models:
            if r >= p.rounds:
                continue
            per_round = p.runs // p.rounds
            for name, session in p.sessions.items():
                p.samples[name] += ort_time(session, p.x, per_round, p.warmup)
            for name, model in ((VQ_FLOAT, p.float_model), (VQ_INT8, p.int8_model)):
                try:
                    times, report = ventriq_time(model, per_round, p.warmup, ventriq=a.ventriq, signed=False, cwd=WORK,
                                                 threads=a.threads)
                except subprocess.CalledProcessError as e:
                    raise BenchError(f"`ventriq bench` on {model} failed (exit {e.returncode}):\n{(e.stderr or '').strip()}") from None
                p.samples[name] += times
                p.reports[name] = report
        log(f"round {r + 1} done in {time.perf_counter() - t0:.0f} s")


def op_breakdown(p: Prepared, a: argparse.Namespace) -> None:
    """Ventriq int8's median time per kind of op (`ventriq bench --ops`, after the timing; the
    observer's own overhead makes the sum slightly larger than a plain invoke)."""
    out = run_step([str(a.ventriq), "bench", "--model", str(p.int8_model), "--allow-unsigned", "--ops",
                    "--iterations", "10", "--warmup", "1"], f"`ventriq bench --ops` on {p.int8_model}", cwd=WORK)
    lines = out.splitlines()
    start = next((i for i, line in enumerate(lines) if line.startswith("op kind")), None)
    if start is None:
        log(f"{p.spec.label}: no op table in `ventriq bench --ops` output; skipping the breakdown")
        return
    for line in lines[start + 1:]:
        m = OP_LINE.match(line.strip())
        if m is None:
            break
        p.ops.append({"op": m["op"].strip(), "median_ms": float(m["ms"]), "share": float(m["share"]) / 100})


def summarise(p: Prepared) -> dict[str, Any]:
    med = {name: latency_summary(ms)[0] for name, ms in p.samples.items()}
    int8_rows = [n for n in p.sessions if "int8" in n]
    fastest = min(int8_rows, key=lambda n: med[n])
    rows = []
    for name, ms in p.samples.items():
        m, p99 = latency_summary(ms)
        rows.append({"row": name, "runs": len(ms), "median_ms": m, "p99_ms": p99, "p99_over_median": p99 / m,
                     "gmac_per_s": p.macs / (m * 1e-3) / 1e9, "ratio_to_ort_fp32": m / med[ORT_FP32],
                     "ratio_to_fastest_ort_int8": m / med[fastest]})
    return {
        "model": p.spec.label, "size": p.spec.size, "name": p.spec.name, "seed": p.spec.seed,
        "window_samples": p.spec.window_samples, "window_s": p.spec.seconds, "tokens": p.tokens,
        "embed_dim": p.config["architecture"]["embed_dim"], "depth": p.config["architecture"]["depth"],
        "num_heads": p.config["architecture"]["num_heads"], "encoder_params": p.params, "macs_per_window": p.macs,
        "attention_macs_share": p.attention_macs / p.macs,
        "runs_per_row": p.runs, "rounds": p.rounds, "warmup_per_round": p.warmup, "fastest_ort_int8": fastest,
        "ventriq_int8_over_fastest_ort_int8": med[VQ_INT8] / med[fastest],
        "ventriq_int8_over_ort_fp32": med[VQ_INT8] / med[ORT_FP32],
        "ventriq_float32_over_ort_fp32": med[VQ_FLOAT] / med[ORT_FP32],
        "rows": rows,
        "ventriq": {k: {f: r[f] for f in ("kernels", "input", "macsPerWindow", "arenaBytes", "activationBytes", "weightBytes",
                                           "modelFileBytes", "peakRSSBytes", "allocationsPerWindow")} for k, r in p.reports.items()},
        "ventriq_int8_ops": p.ops,
    }


def growth(results: list[dict[str, Any]], base: str, members: list[str]) -> list[dict[str, Any]]:
    """Each member's cost relative to ``base``: MACs and every row's median latency."""
    by = {r["model"]: r for r in results}
    if base not in by:
        return []
    b = {row["row"]: row["median_ms"] for row in by[base]["rows"]}
    out = []
    for m in members:
        if m in by:
            out.append({"model": m, "vs": base, "tokens": by[m]["tokens"] / by[base]["tokens"],
                        "macs": by[m]["macs_per_window"] / by[base]["macs_per_window"],
                        "latency": {row["row"]: row["median_ms"] / b[row["row"]] for row in by[m]["rows"] if row["row"] in b}})
    return out


def short(row: str) -> str:
    return row.replace("onnxruntime", "ORT").replace("ventriq", "Ventriq").replace(" dynamic", " dyn")


def tables(results: list[dict[str, Any]], head: str) -> str:
    row_names = list(dict.fromkeys(row["row"] for r in results for row in r["rows"]))
    lines = [head, "", "Median / p99 ms per window:", "",
             "| model | window s | tokens | M params | GMAC/window | " + " | ".join(short(n) for n in row_names)
             + " | Ventriq int8 / fastest ORT int8 | Ventriq int8 / ORT fp32 | Ventriq fp32 / ORT fp32 |",
             "| --- " * (8 + len(row_names)) + "|"]
    for r in results:
        cells = {row["row"]: f"{row['median_ms']:.2f} / {row['p99_ms']:.2f}" for row in r["rows"]}
        lines.append(f"| {r['size']} | {r['window_s']:g} | {r['tokens']} | {r['encoder_params'] / 1e6:.2f} | {r['macs_per_window'] / 1e9:.3f} | "
                     + " | ".join(cells.get(n, "-") for n in row_names)
                     + f" | {r['ventriq_int8_over_fastest_ort_int8']:.2f} | {r['ventriq_int8_over_ort_fp32']:.2f} | {r['ventriq_float32_over_ort_fp32']:.2f} |")
    lines += ["", "Every row (runs pooled over the rounds; GMAC/s = MACs per window / median):", "",
              "| model | row | runs | median ms | p99 ms | p99/median | GMAC/s | vs ORT fp32 | vs fastest ORT int8 |",
              "| --- | --- | --- | --- | --- | --- | --- | --- | --- |"]
    for r in results:
        for row in r["rows"]:
            lines.append(f"| {r['model']} | {row['row']} | {row['runs']} | {row['median_ms']:.3f} | {row['p99_ms']:.3f} | "
                         f"{row['p99_over_median']:.2f} | {row['gmac_per_s']:.1f} | {row['ratio_to_ort_fp32']:.2f} | "
                         f"{row['ratio_to_fastest_ort_int8']:.2f} |")
    for title, g in (("Growth with the window (compact)", growth(results, "compact 5 s", ["compact 10 s", "compact 20 s"])),
                     ("Growth with the size (5 s compact as 1)", growth(results, "compact 5 s", ["tiny 5 s", "paper 10 s"]))):
        if not g:
            continue
        lines += ["", f"{title}: ratio of median latency to compact 5 s, next to the ratio of MACs:", "",
                  "| model | tokens x | MACs x | " + " | ".join(short(n) for n in row_names) + " |",
                  "| --- " * (3 + len(row_names)) + "|"]
        for e in g:
            lines.append(f"| {e['model']} | {e['tokens']:.1f} | {e['macs']:.1f} | "
                         + " | ".join(f"{e['latency'][n]:.1f}" if n in e["latency"] else "-" for n in row_names) + " |")
    if any(r["ventriq_int8_ops"] for r in results):
        lines += ["", "Ventriq int8 by kind of op (`ventriq bench --ops`, median ms per window and share of the sum); attention "
                  "(QK^T, softmax, AV; int8 or float as the model says) has a share of the MACs that grows with the tokens:", "",
                  "| model | attention share of MACs | attention | attention ms | int8 GEMM ms | everything else ms | attention share of time |",
                  "| --- | --- | --- | --- | --- | --- | --- |"]
        for r in results:
            ops = {o["op"]: o for o in r["ventriq_int8_ops"]}
            if not ops:
                continue
            kind = next((k for k in ATTENTION if k in ops), ATTENTION[0])
            att, gemm = ops.get(kind, {"median_ms": 0.0, "share": 0.0}), ops.get(INT8_GEMM, {"median_ms": 0.0})
            rest = sum(o["median_ms"] for o in r["ventriq_int8_ops"]) - att["median_ms"] - gemm["median_ms"]
            lines.append(f"| {r['model']} | {100 * r['attention_macs_share']:.0f} % | {kind.removeprefix('attention ').strip('()')} | "
                         f"{att['median_ms']:.2f} | {gemm['median_ms']:.2f} | {rest:.2f} | {100 * att['share']:.0f} % |")
    for r in results:
        v = r["ventriq"].get(VQ_INT8)
        if v:
            lines.append(f"\n{r['model']}, Ventriq int8: kernels {v['kernels']}, arena {v['arenaBytes']} B, weights {v['weightBytes']} B, "
                         f"peak RSS {v['peakRSSBytes']} B, allocations per window {v['allocationsPerWindow']:g}")
    return "\n".join(lines)


def chart(results: list[dict[str, Any]], path: Path) -> None:
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        log("matplotlib missing: no chart (pip install matplotlib)")
        return
    fig, axes = plt.subplots(1, 2, figsize=(11, 4.2))
    panels = (("compact", "tokens", "tokens per window (compact, 5 / 10 / 20 s)", [r for r in results if r["size"] == "compact"]),
              ("sizes", "macs_per_window", "GMAC per window (compact 5 s, tiny 5 s, paper 10 s)",
               [r for r in results if (r["size"], r["window_s"]) in {("compact", 5.0), ("tiny", 5.0), ("paper", 10.0)}]))
    styles = {ORT_FP32: ("#777", "o", "--"), VQ_FLOAT: ("#e88", "o", "--"), VQ_INT8: ("#c00", "s", "-")}
    for ax, (_, key, xlabel, rs) in zip(axes, panels):
        rs = sorted(rs, key=lambda r: float(r[key]))
        if not rs:
            ax.set_visible(False)
            continue
        xs = [r[key] / (1e9 if key == "macs_per_window" else 1) for r in rs]
        for name in dict.fromkeys(row["row"] for r in rs for row in r["rows"]):
            ys = [next(row["median_ms"] for row in r["rows"] if row["row"] == name) for r in rs]
            color, marker, ls = styles.get(name, ("#333", "^", ":") if "dynamic" in name else ("#aaa", "v", ":"))
            ax.plot(xs, ys, marker=marker, linestyle=ls, color=color, label=short(name))
        base = next(row["median_ms"] for row in rs[0]["rows"] if row["row"] == ORT_FP32)
        ax.plot(xs, [base * r["macs_per_window"] / rs[0]["macs_per_window"] for r in rs], color="#bbb", linewidth=3, alpha=0.5,
                zorder=0, label="proportional to MACs (from ORT fp32)")
        for x, r in zip(xs, rs):
            ax.annotate(r["model"], (x, next(row["median_ms"] for row in r["rows"] if row["row"] == VQ_INT8)),
                        textcoords="offset points", xytext=(4, -12), fontsize=7)
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_xlabel(xlabel)
        ax.set_ylabel("median ms per window (batch 1, 1 thread)")
        ax.grid(True, which="both", alpha=0.3)
        ax.legend(fontsize=7)
    fig.tight_layout()
    with atomic_output(path) as tmp:
        fig.savefig(tmp, dpi=120)
    plt.close(fig)


def binary_facts(path: Path) -> dict[str, Any]:
    return {"path": str(path), "sha256": hashlib.sha256(path.read_bytes()).hexdigest(),
            "mtime": time.strftime("%Y-%m-%dT%H:%M:%S", time.localtime(path.stat().st_mtime))}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--models", default=DEFAULT_MODELS, help=f"comma-separated SIZE or SIZE@SECONDS (default {DEFAULT_MODELS})")
    p.add_argument("--seed", type=int, default=0, help="the random weights' seed (default 0)")
    p.add_argument("--rounds", type=int, default=5, help="interleaved rounds at most (default 5)")
    p.add_argument("--gmac-runs", type=float, default=60.0, help="timed runs per row ~ this / GMAC per window (default 60)")
    p.add_argument("--min-runs", type=int, default=20, help="timed runs per row at least (default 20)")
    p.add_argument("--max-runs", type=int, default=200, help="timed runs per row at most (default 200)")
    p.add_argument("--warmup", type=int, default=10, help="untimed runs per row and round at most (fewer for big models; default 10)")
    p.add_argument("--threads", type=int, default=1, help="threads for both runtimes (ONNX Runtime intra-op, ventriq bench --threads; default 1)")
    p.add_argument("--quick", action="store_true", help="smoke run: 10 timed runs per row, one round, one warm-up")
    p.add_argument("--static", action="store_true", help="also ONNX Runtime int8 static QDQ s8/s8 and u8/s8")
    p.add_argument("--no-ops", action="store_true", help="skip Ventriq int8's time per kind of op (`ventriq bench --ops`)")
    p.add_argument("--rebuild", action="store_true", help="re-export, re-quantize and rebuild every cached model")
    p.add_argument("--n-calibration", type=int, default=8, help="calibration windows per model (quantizer minimum 8; default 8)")
    p.add_argument("--n-heldout", type=int, default=8, help="held-out recordings per model (default 8)")
    p.add_argument("--ventriq", type=Path, default=Path(os.environ.get("VENTRIQ_BIN", ROOT / ".build" / "release" / "ventriq")),
                   help="the ventriq binary (default $VENTRIQ_BIN, else .build/release/ventriq)")
    p.add_argument("--quantize", type=Path, default=Path(os.environ.get("VENTRIQ_QUANTIZE_BIN", ROOT / ".build" / "release" / "ventriq-quantize")),
                   help="the ventriq-quantize binary (default $VENTRIQ_QUANTIZE_BIN, else .build/release/ventriq-quantize)")
    a = p.parse_args(argv)
    for name, value in (("--rounds", a.rounds), ("--min-runs", a.min_runs), ("--threads", a.threads), ("--n-heldout", a.n_heldout)):
        if value < 1:
            p.error(f"{name} must be >= 1")
    if a.min_runs < 10 or a.max_runs < a.min_runs:
        p.error("need 10 <= --min-runs <= --max-runs (`ventriq bench` times at least 10 runs a call)")
    if a.n_calibration < 8:
        p.error("--n-calibration must be >= 8 (ventriq-quantize needs 8 windows for stable scales)")
    if a.warmup < 0 or a.gmac_runs <= 0:
        p.error("--warmup must be >= 0 and --gmac-runs > 0")
    a.ventriq, a.quantize = a.ventriq.resolve(), a.quantize.resolve()
    for flag, path in (("--ventriq", a.ventriq), ("--quantize", a.quantize)):
        if not path.is_file():
            p.error(f"{path} not found: run `make build` (swift build -c release), or pass {flag} PATH")

    t_start = time.perf_counter()
    try:
        specs = parse_models(a.models, a.seed)
        models = []
        for spec in specs:
            models.append(prepare(spec, a))
            plan(models[-1], a)
        prepared_s = time.perf_counter() - t_start
        log("timing " + ", ".join(f"{m.spec.label}: {m.runs} runs in {m.rounds} round(s)" for m in models))
        t0 = time.perf_counter()
        measure(models, a)
        timed_s = time.perf_counter() - t0
        if not a.no_ops:
            for m in models:
                op_breakdown(m, a)
    except BenchError as e:
        print(f"error: {e}", file=sys.stderr)
        return 1

    results = [summarise(m) for m in models]
    head = (f"Ventriq vs ONNX Runtime {ort.__version__}: batch 1, {a.threads} thread(s) on both sides, preprocessing "
            f"excluded, random weights (seed {a.seed}); {platform.processor() or platform.machine()}, {os.cpu_count()} cores; "
            f"{max(m.rounds for m in models)} interleaved round(s) at most{', quick' if a.quick else ''}")
    table = tables(results, head)
    print(table)
    report = {
        "machine": {"cpu": platform.processor() or platform.machine(), "cores": os.cpu_count(), "threads": a.threads,
                    "onnxruntime": ort.__version__, "python": platform.python_version()},
        "binaries": {"ventriq": binary_facts(a.ventriq), "ventriq-quantize": binary_facts(a.quantize)},
        "settings": {k: (str(v) if isinstance(v, Path) else v) for k, v in vars(a).items()},
        "preprocessing": "excluded on both sides",
        "inputs": {"onnxruntime": "the first calibration window of the model's set (preprocessed)",
                   "ventriq": "`ventriq bench` synthetic beats (engine path: invoke on the preprocessed window)"},
        "models": results,
        "growth": {"window": growth(results, "compact 5 s", ["compact 10 s", "compact 20 s"]),
                   "size": growth(results, "compact 5 s", ["tiny 5 s", "paper 10 s"])},
        "wall_s": {"prepare": round(prepared_s, 1), "timing": round(timed_s, 1), "total": round(time.perf_counter() - t_start, 1)},
    }
    OUT.mkdir(parents=True, exist_ok=True)
    write_text_atomic(OUT / "scaling.json", json.dumps(report, indent=1))
    write_text_atomic(OUT / "scaling.md", table + "\n")
    chart(results, OUT / "scaling.png")
    log(f"wrote {OUT / 'scaling.json'}, .md and .png in {time.perf_counter() - t_start:.0f} s "
        f"(preparation {prepared_s:.0f} s, timing {timed_s:.0f} s)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
