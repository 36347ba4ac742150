"""Train and evaluate the study's five models on the synthetic cohort; write the results table.

    python -m ventriq_training.experiment                      # default scale (2 CPU cores, < 90 min)
    python -m ventriq_training.experiment --scale smoke        # a minute, for checking the pipeline
    python -m ventriq_training.experiment --scale full         # the seed's sizes, where hardware allows

Writes to ``--out`` (default ``results/``): ``experiment.json`` (config, timings, losses, metrics
with 95 % bootstrap CIs), ``table.md``, ``figure.png`` (like the study's Figure 2) and
``experiment.log``; model checkpoints (encoder weights and folded read-outs) go to
``--work/models/`` for ``python -m ventriq_training.export``.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import torch
from tqdm import tqdm

from ventriq_training.atomic import atomic_output, write_text_atomic
from ventriq_training.cohort.cmr import CMRConfig
from ventriq_training.cohort.dataset import CohortConfig, ShardedCohort, write_cohort
from ventriq_training.metrics import evaluate, format_table, plot_results
from ventriq_training.models.ecg_vit import NAMED_CONFIGS, ECGViT, ECGViTConfig
from ventriq_training.preprocess import PreprocessConfig
from ventriq_training.readout import choose_thresholds, conformal_quantiles, fit_logistic, fit_ridge
from ventriq_training.records import DISEASES, PHENOTYPES, TARGETS
from ventriq_training.train import (
    MODEL_NAMES,
    MODEL_VIEW,
    TrainConfig,
    clone_encoder,
    embed_recordings,
    pretrain_mae,
    stack_views,
    train_contrastive,
)


@dataclass(frozen=True)
class Scale:
    """How big a run is: cohort size, disease enrichment, encoder, epochs."""

    n_subjects: int
    enrich: float
    encoder: str
    train: TrainConfig
    n_boot: int
    cmr: CMRConfig


SCALES: dict[str, Scale] = {
    # For the test suite: seconds, exercises every stage; numbers are meaningless.
    "test": Scale(64, 10.0, "compact", TrainConfig(batch_size=16, mae_epochs=1, cl_epochs=1), 20, CMRConfig(n_slices=6, n_frames=4, size_px=32, pixel_mm=6.0, supersample=1)),
    "smoke": Scale(200, 5.0, "compact", TrainConfig(batch_size=32, mae_epochs=1, cl_epochs=1), 50, CMRConfig(n_frames=8)),
    # Contrastive losses stay near chance for several epochs at lr 3e-4 on this budget; 1e-3 for
    # both sides left chance after 2-3 epochs in a probe (COHORT.md / the issue note).
    "default": Scale(4000, 3.0, "compact", TrainConfig(mae_epochs=10, cl_epochs=7), 1000, CMRConfig()),
    "full": Scale(67897, 1.0, "paper", TrainConfig(mae_epochs=100, cl_epochs=30, batch_size=128), 1000, CMRConfig.ukbb()),
}


def _cohort(scale: Scale, seed: int, work: Path, log: Any) -> ShardedCohort:
    """Reuse the cohort in ``work/cohort`` when its config matches; otherwise generate it."""
    cfg = CohortConfig(seed=seed, n_subjects=scale.n_subjects, enrich=scale.enrich, cmr=scale.cmr)
    root = work / "cohort"
    manifest = root / "manifest.json"
    if manifest.is_file() and json.loads(manifest.read_text()).get("config") == cfg.to_dict():
        log(f"reusing cohort {root}")
        return ShardedCohort(root)
    log(f"generating cohort: {scale.n_subjects} subjects with CMR views into {root}")
    with tqdm(total=scale.n_subjects, unit="subj", desc="cohort", file=sys.stderr) as bar:
        m = write_cohort(cfg, root, with_cmr=True, progress=bar.update)
    log(f"cohort generated in {m['generation_seconds']} s")
    return ShardedCohort(root)


def run(scale_name: str, out: Path, work: Path, seed: int, models: list[int]) -> dict[str, Any]:
    scale = SCALES[scale_name]
    out.mkdir(parents=True, exist_ok=True)
    (work / "models").mkdir(parents=True, exist_ok=True)
    log_path = out / "experiment.log"
    log_file = open(log_path, "w")
    t_start = time.perf_counter()

    def log(msg: str) -> None:
        line = f"[{time.perf_counter() - t_start:7.1f} s] {msg}"
        print(line, file=sys.stderr, flush=True)
        log_file.write(line + "\n")
        log_file.flush()

    torch.manual_seed(seed)
    log(f"scale {scale_name}: {asdict(scale)}; torch threads {torch.get_num_threads()}")
    cohort = _cohort(scale, seed, work, log)
    n = len(cohort)
    raw = np.stack([cohort.ecg(i) for i in range(n)])
    labels = np.asarray(cohort.labels, dtype=np.float64)
    y_reg = labels[:, [PHENOTYPES.index(t) for t in TARGETS]]
    y_cls = np.asarray(cohort.diseases, dtype=bool)
    split = cohort.split
    idx = {name: np.flatnonzero(split == k) for k, name in enumerate(("train", "val", "test"))}
    log(f"splits: " + ", ".join(f"{k} {len(v)}" for k, v in idx.items()))
    pre = PreprocessConfig()
    enc_cfg: ECGViTConfig = NAMED_CONFIGS[scale.encoder]
    tcfg = replace(scale.train, seed=seed)

    timings: dict[str, float] = {}
    losses: dict[str, list[float]] = {}
    t0 = time.perf_counter()
    base = ECGViT(enc_cfg)
    losses["1"] = pretrain_mae(base, raw[idx["train"]], pre, tcfg, log)
    timings["mae_pretraining_s"] = time.perf_counter() - t0

    results: dict[str, dict[str, Any]] = {}
    for model in models:
        t0 = time.perf_counter()
        encoder = clone_encoder(base)
        if model > 1:
            view = MODEL_VIEW[model]
            views = stack_views(lambda i: cohort.view(i, view), idx["train"])
            losses[str(model)] = train_contrastive(model, encoder, raw[idx["train"]], views, pre, tcfg, log)
            del views
        emb = embed_recordings(encoder, raw, pre)
        ridge = fit_ridge(emb[idx["train"]], y_reg[idx["train"]], emb[idx["val"]], y_reg[idx["val"]])
        logistic = fit_logistic(emb[idx["train"]], y_cls[idx["train"]], emb[idx["val"]], y_cls[idx["val"]])
        pred_test = ridge.predict(emb[idx["test"]])
        prob_test = logistic.predict_proba(emb[idx["test"]])
        metrics = evaluate(pred_test, y_reg[idx["test"]], prob_test, y_cls[idx["test"]], n_boot=scale.n_boot, seed=seed)
        thresholds = choose_thresholds(logistic.predict_proba(emb[idx["val"]]), y_cls[idx["val"]])
        quantiles = conformal_quantiles(ridge.predict(emb[idx["val"]]), y_reg[idx["val"]])
        name = MODEL_NAMES[model]
        results[name] = metrics
        timings[f"model_{model}_s"] = time.perf_counter() - t0
        checkpoint = {
            "model": model,
            "name": name,
            "encoder_config": enc_cfg.to_dict(),
            "preprocess": pre.to_dict(),
            "encoder_state": encoder.state_dict(),
            "ridge": ridge.to_dict(),
            "logistic": logistic.to_dict(),
            "thresholds": thresholds.tolist(),
            "threshold_rule": "youden",
            "conformal": quantiles,
            "metrics": metrics,
            "cohort": cohort.manifest["config"],
            "scale": scale_name,
            "split_sizes": {k: len(v) for k, v in idx.items()},
        }
        with atomic_output(work / "models" / f"model{model}.pt") as tmp:
            torch.save(checkpoint, tmp)
        log(f"{name}: mean R2 {metrics['mean_r2']['value']:.3f}; " + ", ".join(f"{t} {metrics[t]['value']:.3f}" for t in TARGETS))

    timings["total_s"] = time.perf_counter() - t_start
    report = {
        "scale": scale_name,
        "seed": seed,
        "config": {"scale": asdict(scale), "encoder": enc_cfg.to_dict(), "preprocess": pre.to_dict()},
        "cmr_mode": tcfg.cmr_mode,
        "split_sizes": {k: len(v) for k, v in idx.items()},
        "timings_s": {k: round(v, 1) for k, v in timings.items()},
        "losses": losses,
        "results": results,
        "torch": torch.__version__,
        "device": str(torch.device("cuda" if torch.cuda.is_available() else "cpu")),
    }
    write_text_atomic(out / "experiment.json", json.dumps(report, indent=2, allow_nan=True))
    write_text_atomic(out / "table.md", format_table(results) + "\n")
    plot_results(results, out / "figure.png")
    log(f"done in {timings['total_s']:.0f} s; table:\n{format_table(results)}")
    log_file.close()
    return report


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m ventriq_training.experiment", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--scale", choices=sorted(SCALES), default="default")
    p.add_argument("--out", type=Path, default=Path("results"), help="results folder (default results/)")
    p.add_argument("--work", type=Path, default=Path("out/experiment"), help="cohort and checkpoints (default out/experiment)")
    p.add_argument("--seed", type=int, default=2025)
    p.add_argument("--models", default="1,2,3,4,5", help="comma-separated subset of 1-5")
    a = p.parse_args(argv)
    try:
        models = sorted({int(m) for m in a.models.split(",")})
    except ValueError:
        p.error(f"--models must be comma-separated integers, got {a.models!r}")
    if not models or any(m not in MODEL_NAMES for m in models):
        p.error(f"--models must name models among 1-5, got {a.models!r}")
    run(a.scale, a.out, a.work, a.seed, models)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
