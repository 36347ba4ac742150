"""Export a trained model for the runtime: float32 safetensors with its full config, golden
vectors, calibration and held-out sets, and ONNX.

    python -m ventriq_training.export --checkpoint out/experiment/models/model5.pt --out models/

Writes into ``--out``:
- ``<name>.safetensors``: the ECG encoder (timm tensor names) and the folded linear heads
  ``head.regression.{weight,bias}`` (outputs in the targets' units) and
  ``head.classification.{weight,bias}`` (logits; probabilities = sigmoid). ``__metadata__``
  holds ``format`` (``ventriq-float``), ``format_version`` and ``config``: one JSON document with
  the architecture, the preprocessing (parameters *and* the exact filter coefficients, initial
  conditions, pad lengths and Savitzky-Golay kernels), the window and how windows are combined,
  target names and units, disease names, risk thresholds and their rule, conformal quantiles,
  the training data, test metrics and the model version. ``load_exported`` refuses a file whose
  config lacks any required field.
- ``<name>.golden.safetensors``: fixed raw windows (the bundled example recordings) with every
  intermediate (preprocessed input, patch embedding, each block, embedding, regression, logits,
  probabilities), computed from the exported file itself, for the Swift engine's parity tests.
- ``<name>.onnx`` (opset 17): the same encoder and heads on a preprocessed window.
With ``--sets-dir``: ``calibration.safetensors`` (preprocessed training windows) and
``heldout.safetensors`` (raw test windows, phenotypes, disease labels) for the quantizer. They are
regenerated bit for bit from the cohort config in the checkpoint, so they are not committed.

The sets alone, from an exported model (its config names the cohort; no checkpoint needed)::

    python -m ventriq_training.export --sets-from models/ventriq-compact.safetensors --sets-dir out/sets \
        [--n-calibration 256] [--n-heldout 500]

A model of any named size and window with deterministic random weights (for latency benchmarks,
``benchmarks/scaling.py``; its outputs mean nothing), written like a trained one: the float
safetensors with the full config (``metrics`` empty, ``random_weights`` naming the seed) and ONNX,
no golden vectors; its cohort records are at least one window long, so ``--sets-dir`` works::

    python -m ventriq_training.export --random compact --window-samples 5000 [--seed 0] --out out/models \
        [--name random-compact-5000-seed0] [--sets-dir DIR --n-calibration 16 --n-heldout 16]
"""

from __future__ import annotations

import argparse
import hashlib
import json
import sys
import warnings
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import torch
import wfdb
from safetensors import safe_open
from safetensors.torch import save_file
from torch import Tensor, nn

from ventriq_training.atomic import atomic_output, write_text_atomic
from ventriq_training.cohort.dataset import CohortConfig, SyntheticCohort, split_sizes
from ventriq_training.cohort.ecg import ECGConfig
from ventriq_training.models.ecg_vit import NAMED_CONFIGS, ECGViT, ECGViTConfig
from ventriq_training.preprocess import PreprocessConfig, coefficients, preprocess
from ventriq_training.records import DISEASES, LEADS, PHENOTYPES, TARGETS

FORMAT = "ventriq-float"
FORMAT_VERSION = 1
MODEL_VERSION = "0.1.0"
UNITS = {"lvef_pct": "%", "rvef_pct": "%", "co_l_min": "l/min"}
REQUIRED_CONFIG_FIELDS = (
    "format_version", "model_version", "name", "architecture", "preprocessing", "window", "targets",
    "diseases", "heads", "thresholds", "threshold_rule", "conformal", "training_data", "metrics",
)
EXAMPLES = Path(__file__).resolve().parents[2] / "examples" / "recordings"


class ExportedModel(nn.Module):
    """Encoder + folded heads: preprocessed (B, leads, window) -> embedding, regression, logits."""

    def __init__(self, encoder: ECGViT, reg_w: Tensor, reg_b: Tensor, cls_w: Tensor, cls_b: Tensor) -> None:
        super().__init__()
        self.encoder = encoder
        self.regression = nn.Linear(reg_w.shape[1], reg_w.shape[0])
        self.classification = nn.Linear(cls_w.shape[1], cls_w.shape[0])
        with torch.no_grad():
            self.regression.weight.copy_(reg_w)
            self.regression.bias.copy_(reg_b)
            self.classification.weight.copy_(cls_w)
            self.classification.bias.copy_(cls_b)

    def forward(self, x: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        emb = self.encoder(x)
        return emb, self.regression(emb), self.classification(emb)


def _heads_from_checkpoint(ckpt: dict[str, Any]) -> dict[str, Tensor]:
    def t(v: Any) -> Tensor:
        return torch.tensor(np.asarray(v, dtype=np.float64), dtype=torch.float32)

    return {
        "head.regression.weight": t(ckpt["ridge"]["weight"]),
        "head.regression.bias": t(ckpt["ridge"]["bias"]),
        "head.classification.weight": t(ckpt["logistic"]["weight"]),
        "head.classification.bias": t(ckpt["logistic"]["bias"]),
    }


def build_config(ckpt: dict[str, Any], name: str) -> dict[str, Any]:
    enc = ECGViTConfig.from_dict(ckpt["encoder_config"])
    pre = PreprocessConfig.from_dict(ckpt["preprocess"])
    thresholds = dict(zip(DISEASES, (float(v) for v in ckpt["thresholds"])))
    conformal = {t: dict(zip(("0.8", "0.95"), (float(q) for q in qs))) for t, qs in ckpt["conformal"].items()}
    return {
        "format_version": FORMAT_VERSION,
        "model_version": MODEL_VERSION,
        "name": name,
        "study_model": ckpt["name"],
        "architecture": enc.to_dict() | {"n_tokens": enc.n_tokens, "macs_per_window": enc.macs_per_window()},
        "preprocessing": coefficients(pre),
        "window": {
            "samples": enc.window_samples,
            "fs_hz": enc.fs_hz,
            "seconds": enc.window_samples / enc.fs_hz,
            "leads": list(enc.leads),
            "units": "mV",
            "preprocess_per_window": True,
            "recording_aggregation": "mean of the outputs of consecutive non-overlapping windows",
        },
        "targets": [{"name": t, "unit": UNITS[t], "index": i} for i, t in enumerate(TARGETS)],
        "target_destandardization": "folded into head.regression: its outputs are in the targets' units",
        "diseases": list(DISEASES),
        "heads": {
            "regression": {"type": "linear", "input": "embedding", "tensors": ["head.regression.weight", "head.regression.bias"]},
            "classification": {
                "type": "linear", "input": "embedding", "activation": "sigmoid",
                "tensors": ["head.classification.weight", "head.classification.bias"],
            },
        },
        "thresholds": thresholds,
        "threshold_rule": "per disease, the probability maximising Youden's J (sensitivity + specificity - 1) on the validation split; 0.5 where validation has fewer than 5 positives (or negatives)",
        "conformal": conformal,
        "conformal_rule": "split-conformal quantiles of |residual| on the validation split, rank ceil((n+1) level); interval = estimate +- q",
        "readout": {"ridge_alphas": ckpt["ridge"].get("alphas"), "logistic_Cs": ckpt["logistic"].get("Cs"), "notes": ckpt["logistic"].get("notes", {})},
        "training_data": {
            "kind": "synthetic paired ECG-CMR cohort (ventriq_training.cohort); not patient data",
            "cohort": ckpt["cohort"],
            "split_sizes": ckpt["split_sizes"],
            "scale": ckpt["scale"],
        },
        "metrics": ckpt["metrics"],
    }


def export_model(ckpt_path: Path, out: Path, name: str) -> Path:
    """Write the float32 safetensors model; returns its path."""
    ckpt = torch.load(ckpt_path, map_location="cpu", weights_only=False)
    return _write_model(ckpt, build_config(ckpt, name), out, name)


def _write_model(ckpt: dict[str, Any], config: dict[str, Any], out: Path, name: str) -> Path:
    tensors = {k: v.detach().float().contiguous() for k, v in ckpt["encoder_state"].items()}
    tensors.update(_heads_from_checkpoint(ckpt))
    out.mkdir(parents=True, exist_ok=True)
    path = out / f"{name}.safetensors"
    with atomic_output(path) as tmp:
        save_file(tensors, str(tmp), metadata={"format": FORMAT, "format_version": str(FORMAT_VERSION), "config": json.dumps(config, allow_nan=True)})
    return path


def random_checkpoint(size: str, window_samples: int | None = None, seed: int = 0) -> dict[str, Any]:
    """A checkpoint shaped like the experiment's, with deterministic random weights: the named
    encoder config (``NAMED_CONFIGS``) at ``window_samples`` (default: the size's own window),
    initialised as ``ECGViT`` initialises itself under ``torch.manual_seed(seed)``, random linear
    heads, thresholds 0.5, unit conformal quantiles and no metrics. The cohort is the default
    model's (seed 2025, 4000 subjects, enrich 3) with records at least one window long, so that
    ``export_sets`` can write sets for any window. Same arguments -> identical tensors. For latency
    measurements only: the outputs mean nothing. Raises ValueError for an unknown size or a window
    the architecture cannot take."""
    if size not in NAMED_CONFIGS:
        raise ValueError(f"unknown model size {size!r}; known: {sorted(NAMED_CONFIGS)}")
    enc = NAMED_CONFIGS[size]
    if window_samples is not None:
        enc = replace(enc, window_samples=window_samples)  # validated by ECGViTConfig
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        encoder = ECGViT(enc)
    rng = np.random.default_rng([seed, enc.embed_dim, enc.window_samples])
    d = enc.embed_dim
    cohort = CohortConfig(seed=2025, n_subjects=4000, enrich=3.0,
                          ecg=ECGConfig(fs_hz=enc.fs_hz, duration_s=max(10.0, enc.window_samples / enc.fs_hz)))
    return {
        "name": f"random weights ({size}, seed {seed})",
        "encoder_config": enc.to_dict(),
        "preprocess": PreprocessConfig(fs_hz=enc.fs_hz).to_dict(),
        "encoder_state": encoder.state_dict(),
        "ridge": {"weight": rng.normal(0.0, d**-0.5, (len(TARGETS), d)).tolist(), "bias": [55.0, 50.0, 5.0][: len(TARGETS)], "alphas": None},
        "logistic": {"weight": rng.normal(0.0, d**-0.5, (len(DISEASES), d)).tolist(), "bias": [-2.0] * len(DISEASES), "Cs": None, "notes": {}},
        "thresholds": [0.5] * len(DISEASES),
        "conformal": {t: [1.0, 2.0] for t in TARGETS},
        "metrics": {},
        "cohort": cohort.to_dict(),
        "scale": "random weights",
        "split_sizes": split_sizes(cohort.n_subjects),
    }


def export_random(size: str, out: Path, name: str | None = None, window_samples: int | None = None, seed: int = 0) -> list[Path]:
    """Write a randomly initialised model (``random_checkpoint``) as the float safetensors and
    ONNX, through the same code as a trained checkpoint (no golden vectors: the bundled example
    recordings may be shorter than the window). Returns the two paths."""
    ckpt = random_checkpoint(size, window_samples, seed)
    window = ckpt["encoder_config"]["window_samples"]
    name = name or f"random-{size}-{window}-seed{seed}"
    config = build_config(ckpt, name) | {"random_weights": {"seed": seed, "note": "deterministic random weights for latency benchmarks; outputs mean nothing"}}
    path = _write_model(ckpt, config, out, name)
    return [path, export_onnx(path, out)]


def load_exported(path: Path) -> tuple[ExportedModel, dict[str, Any]]:
    """Read an exported model back; refuses files whose metadata lacks required fields."""
    with safe_open(str(path), framework="pt") as f:
        meta = f.metadata() or {}
        if meta.get("format") != FORMAT:
            raise ValueError(f"{path}: not a {FORMAT} file (format {meta.get('format')!r})")
        if "config" not in meta:
            raise ValueError(f"{path}: metadata has no 'config'")
        config = json.loads(meta["config"])
        missing = [k for k in REQUIRED_CONFIG_FIELDS if k not in config]
        if missing:
            raise ValueError(f"{path}: config is missing fields {missing}")
        tensors = {k: f.get_tensor(k) for k in f.keys()}
    arch = {k: v for k, v in config["architecture"].items() if k not in ("n_tokens", "macs_per_window")}
    encoder = ECGViT(ECGViTConfig.from_dict(arch))
    enc_state = {k: v for k, v in tensors.items() if not k.startswith("head.")}
    encoder.load_state_dict(enc_state, strict=True)
    model = ExportedModel(
        encoder, tensors["head.regression.weight"], tensors["head.regression.bias"],
        tensors["head.classification.weight"], tensors["head.classification.bias"],
    ).eval()
    return model, config


def golden_windows() -> tuple[list[str], npt.NDArray[np.float32]]:
    """The first 5 s of each bundled example recording (raw mV), the golden inputs."""
    index = json.loads((EXAMPLES / "index.json").read_text())
    names, arrays = [], []
    for row in index["records"]:
        rec = wfdb.rdrecord(str(EXAMPLES / row["record"]))
        if list(rec.sig_name) != list(LEADS):
            raise ValueError(f"{row['record']}: leads {rec.sig_name}, expected {list(LEADS)}")
        names.append(row["record"])
        arrays.append(rec.p_signal.T.astype(np.float32))
    return names, np.stack(arrays)


@torch.no_grad()
def export_golden(model_path: Path, out: Path) -> Path:
    model, config = load_exported(model_path)
    pre = PreprocessConfig.from_dict(config["preprocessing"]["config"])
    window = config["window"]["samples"]
    names, raw = golden_windows()
    raw = np.ascontiguousarray(raw[:, :, :window])
    x = torch.from_numpy(np.ascontiguousarray(preprocess(raw, pre), dtype=np.float32))
    stages = model.encoder.forward_intermediates(x)
    emb, reg, logits = model(x)
    tensors = {"input.raw_mv": torch.from_numpy(raw), "input.preprocessed": x}
    tensors.update({f"stage.{k}": v.contiguous() for k, v in stages.items()})
    tensors.update({"output.regression": reg, "output.logits": logits, "output.probabilities": torch.sigmoid(logits)})
    path = out / f"{model_path.stem}.golden.safetensors"
    meta = {
        "model": model_path.name,
        "model_sha256": hashlib.sha256(model_path.read_bytes()).hexdigest(),
        "records": json.dumps(names),
        "note": "input.raw_mv is the first window of each examples/recordings record; every other tensor is computed from it by the exported model in float32",
    }
    with atomic_output(path) as tmp:
        save_file(tensors, str(tmp), metadata=meta)
    return path


def export_onnx(model_path: Path, out: Path) -> Path:
    model, config = load_exported(model_path)
    leads, window = len(config["window"]["leads"]), config["window"]["samples"]
    path = out / f"{model_path.stem}.onnx"
    with atomic_output(path) as tmp, warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the legacy exporter's deprecation and tracer notes
        torch.onnx.export(
            model, (torch.zeros(1, leads, window),), str(tmp), opset_version=17, dynamo=False,
            input_names=["ecg_preprocessed"], output_names=["embedding", "regression", "logits"],
            dynamic_axes={"ecg_preprocessed": {0: "batch"}, "embedding": {0: "batch"}, "regression": {0: "batch"}, "logits": {0: "batch"}},
        )
    return path


def export_sets(model_path: Path, out: Path, n_calibration: int = 256, n_heldout: int = 500) -> list[Path]:
    """Calibration windows (train split, preprocessed) and a labelled held-out set (test split, raw):
    the first ``n_calibration`` train and ``n_heldout`` test subjects of the cohort in the model's
    config. Raises ValueError when a split has fewer subjects than asked for."""
    if n_calibration < 1 or n_heldout < 1:
        raise ValueError(f"n_calibration and n_heldout must be >= 1, got {n_calibration} and {n_heldout}")
    _, config = load_exported(model_path)
    cohort = SyntheticCohort(CohortConfig.from_dict(config["training_data"]["cohort"]))
    pre = PreprocessConfig.from_dict(config["preprocessing"]["config"])
    window = config["window"]["samples"]
    train_all, test_all = cohort.split_ids("train"), cohort.split_ids("test")
    for split, have, want in (("train", train_all.size, n_calibration), ("test", test_all.size, n_heldout)):
        if have < want:
            raise ValueError(f"{model_path}: the cohort's {split} split has {have} subjects; {want} requested")
    train, test = train_all[:n_calibration], test_all[:n_heldout]
    calib_raw = np.stack([cohort.ecg(int(i)).signal[:, :window] for i in train])
    held_raw = np.stack([cohort.ecg(int(i)).signal for i in test])
    labels = [cohort.labels(int(i)) for i in test]
    out.mkdir(parents=True, exist_ok=True)
    written = []
    for fname, tensors in (
        ("calibration.safetensors", {"windows": torch.from_numpy(preprocess(calib_raw, pre).astype(np.float32)), "subject_id": torch.from_numpy(train)}),
        ("heldout.safetensors", {
            "recordings_mv": torch.from_numpy(held_raw),
            "phenotypes": torch.tensor(np.stack([lab.phenotypes.as_array() for lab in labels])),
            "diseases": torch.tensor(np.stack([lab.diseases.as_array() for lab in labels]).astype(np.uint8)),
            "subject_id": torch.from_numpy(test),
        }),
    ):
        path = out / fname
        with atomic_output(path) as tmp:
            save_file(tensors, str(tmp), metadata={"model": model_path.name, "phenotypes": json.dumps(list(PHENOTYPES)), "diseases": json.dumps(list(DISEASES))})
        written.append(path)
    return written


def model_card(model_path: Path) -> str:
    """MODEL.md for an exported model, from the metadata in the file itself (never stale)."""
    model, c = load_exported(model_path)
    a, m, data = c["architecture"], c["metrics"], c["training_data"]
    params = sum(t.numel() for t in model.parameters())

    def cell(entry: dict[str, Any]) -> str:
        v, lo, hi = entry["value"], entry["ci_low"], entry["ci_high"]
        return "n/a" if v != v else f"{v:.3f} [{lo:.3f}, {hi:.3f}]"

    rows = [f"| {t['name']} ({t['unit']}) | R² | {cell(m[t['name']])} | ±{c['conformal'][t['name']]['0.8']:.2f} / ±{c['conformal'][t['name']]['0.95']:.2f} |" for t in c["targets"]]
    rows.append(f"| mean of the three | R² | {cell(m['mean_r2'])} | |")
    rows += [f"| {d} | AUROC | {cell(m[d])} (positives in test: {m[d].get('n_pos', 'n/a')}) | threshold {c['thresholds'][d]:.3f} |" for d in c["diseases"]]
    cohort = data["cohort"]
    return f"""# {c['name']} (model version {c['model_version']})

The default Ventriq model: the study's **{c['study_model']}** encoder with linear read-outs, exported by
`python -m ventriq_training.export` from the experiment's checkpoint. Everything below is read from
the file's own metadata.

**Not for clinical use.** Trained on a synthetic cohort (`training/COHORT.md`), not on patients.
Retrain on real paired ECG-CMR data (UK Biobank loaders: `ventriq_training.ukbb`) and validate
before any use on people.

## What it does
Input: a 12-lead resting ECG, {c['window']['seconds']:g} s windows at {c['window']['fs_hz']:g} Hz in mV, each preprocessed on
its own ({', '.join(c['preprocessing']['config']['chain'])}). Output per window: LVEF (%), RVEF (%), cardiac
output (l/min), and probabilities of CAD, AF, SCD, HF, MI and cardiomyopathy; a recording's
result is the mean over its consecutive windows. Intervals: split-conformal 80 % and 95 % from the
validation split. Flags: probability at or above the disease's threshold
({c['threshold_rule']}).

## Architecture
ViT over per-lead patches: {a['n_leads'] if 'n_leads' in a else len(a['leads'])} leads x {a['window_samples']} samples, patch {a['patch_size']}, {a['n_tokens']} tokens,
embed {a['embed_dim']}, depth {a['depth']}, {a['num_heads']} heads, MLP x{a['mlp_ratio']:g}; {params / 1e6:.2f} M parameters
({params * 4 / 2**20:.1f} MiB float32); {a['macs_per_window'] / 1e6:.0f} M multiply-accumulates per window. Heads: linear
(ridge and class-weighted logistic regression on the frozen embedding, folded into the file).

## Training data
Synthetic paired ECG-CMR cohort: {cohort['n_subjects']} subjects, seed {cohort['seed']}, disease odds enriched x{cohort['enrich']:g};
splits {data['split_sizes']}. Experiment scale `{data['scale']}` (`results/experiment.json` has the
full configuration, losses per epoch and timings).

## Test-set metrics (95 % bootstrap CIs)
| output | metric | value [95 % CI] | 80 % / 95 % interval half-width, or threshold |
| --- | --- | --- | --- |
{chr(10).join(rows)}

The oracle ceiling of any ECG model on this cohort (mean R² of the three targets) is 0.73
(`training/results/calibration.json`). Disease AUROCs rest on few positives: read the CIs.

## Limitations
- Synthetic training data with idealised anatomy and a single-dipole ECG: no ectopy, pacing,
  electrode misplacement, paediatric or non-resting recordings.
- Disease prevalences were enriched for training; probabilities are calibrated to that mix, not
  to a clinical population.
- 10 s resting recordings at {c['window']['fs_hz']:g} Hz only; other rates must be resampled first.
"""


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m ventriq_training.export", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    source = p.add_mutually_exclusive_group(required=True)
    source.add_argument("--checkpoint", type=Path, help="a model checkpoint written by the experiment: export everything")
    source.add_argument("--sets-from", type=Path, metavar="MODEL", help="an exported model (.safetensors): write only the calibration and held-out sets (needs --sets-dir)")
    source.add_argument("--random", choices=sorted(NAMED_CONFIGS), metavar="SIZE",
                        help=f"write a model of this size ({', '.join(NAMED_CONFIGS)}) with deterministic random weights, for latency benchmarks")
    p.add_argument("--out", type=Path, default=Path("models"))
    p.add_argument("--name", default=None, help="output name (default ventriq-compact; with --random, random-SIZE-WINDOW-seedSEED)")
    p.add_argument("--window-samples", type=int, default=None, help="with --random: window length in samples (default: the size's own)")
    p.add_argument("--seed", type=int, default=None, help="with --random: the weights' seed (default 0)")
    p.add_argument("--sets-dir", type=Path, default=None, help="write calibration and held-out sets here")
    p.add_argument("--n-calibration", type=int, default=256, help="calibration windows (train split; default 256)")
    p.add_argument("--n-heldout", type=int, default=500, help="held-out recordings (test split; default 500)")
    a = p.parse_args(argv)
    if a.n_calibration < 1 or a.n_heldout < 1:
        p.error("--n-calibration and --n-heldout must be >= 1")
    if a.random is None and (a.window_samples is not None or a.seed is not None):
        p.error("--window-samples and --seed go with --random")
    if a.sets_from is not None:
        if a.sets_dir is None:
            p.error("--sets-from needs --sets-dir")
        if not a.sets_from.is_file():
            p.error(f"model {a.sets_from} not found")
        try:
            paths = export_sets(a.sets_from, a.sets_dir, a.n_calibration, a.n_heldout)
        except ValueError as e:
            print(f"error: {e}", file=sys.stderr)
            return 1
        for path in paths:
            print(path)
        return 0
    if a.random is not None:
        try:
            paths = export_random(a.random, a.out, a.name, a.window_samples, a.seed or 0)
        except ValueError as e:
            print(f"error: {e}", file=sys.stderr)
            return 1
        if a.sets_dir is not None:
            paths += export_sets(paths[0], a.sets_dir, a.n_calibration, a.n_heldout)
        for path in paths:
            print(path)
        return 0
    if not a.checkpoint.is_file():
        p.error(f"checkpoint {a.checkpoint} not found")
    a.name = a.name or "ventriq-compact"
    model_path = export_model(a.checkpoint, a.out, a.name)
    print(model_path)
    print(export_golden(model_path, a.out))
    print(export_onnx(model_path, a.out))
    card = a.out / "MODEL.md"
    write_text_atomic(card, model_card(model_path))
    print(card)
    if a.sets_dir is not None:
        for path in export_sets(model_path, a.sets_dir, a.n_calibration, a.n_heldout):
            print(path)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
