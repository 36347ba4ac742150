"""ONNX Runtime fp32 latency on the exported ONNX model: the peer row next to `ventriq bench`.

    .venv/bin/python benchmarks/ort_fp32_latency.py [models/ventriq-compact.onnx] [--threads 1] [--runs 500]

Times one preprocessed window (batch 1) with the same warm-up and run count as `ventriq bench`
and prints median and p99 in milliseconds. The side-by-side script with int8 variants is issue 7.
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import onnxruntime as ort


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("model", nargs="?", default="models/ventriq-compact.onnx")
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--runs", type=int, default=500)
    p.add_argument("--warmup", type=int, default=20)
    a = p.parse_args()
    options = ort.SessionOptions()
    options.intra_op_num_threads = a.threads
    options.inter_op_num_threads = 1
    session = ort.InferenceSession(a.model, options, providers=["CPUExecutionProvider"])
    name = session.get_inputs()[0].name
    x = np.random.default_rng(0).standard_normal((1, 12, 2500)).astype(np.float32)
    for _ in range(a.warmup):
        session.run(None, {name: x})
    times = np.empty(a.runs)
    for i in range(a.runs):
        t0 = time.perf_counter()
        session.run(None, {name: x})
        times[i] = time.perf_counter() - t0
    ms = times * 1e3
    print(f"onnxruntime {ort.__version__} fp32, {a.threads} thread(s): median {np.median(ms):.3f} ms, "
          f"p99 {np.percentile(ms, 99):.3f} ms over {a.runs} runs")


if __name__ == "__main__":
    main()
