"""Score ECG recordings with an exported model (the Python reference for the Swift runtime).

    python -m ventriq_training.score models/ventriq-compact.safetensors examples/recordings/*.hea

Reads WFDB records (or UK Biobank XML), cuts each into consecutive non-overlapping windows of the
model's length, preprocesses each window on its own, runs the model, and averages the windows'
outputs per recording (the model's ``recording_aggregation``). Prints one line per recording:
estimates with their 80 % conformal intervals, disease probabilities, and the flags raised by the
model's thresholds; ``--json`` prints JSON lines instead.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

import numpy as np
import torch
import wfdb

from ventriq_training.export import load_exported
from ventriq_training.preprocess import PreprocessConfig, preprocess
from ventriq_training.records import LEADS, DataError, ECGRecord
from ventriq_training.ukbb import load_ecg_xml


def read_recording(path: Path) -> ECGRecord:
    """A WFDB record (``.hea``, or its name without suffix) or a UK Biobank XML file."""
    if path.suffix.lower() == ".xml":
        return load_ecg_xml(path, expected_samples=None)
    stem = path.with_suffix("") if path.suffix in (".hea", ".dat") else path
    try:
        rec = wfdb.rdrecord(str(stem))
    except (OSError, ValueError) as e:
        raise DataError(str(path), f"cannot read WFDB record: {e}") from None
    names = {n.upper(): k for k, n in enumerate(rec.sig_name)}
    missing = [lead for lead in LEADS if lead.upper() not in names]
    if missing:
        raise DataError(str(path), f"missing leads {missing} (has {rec.sig_name})")
    signal = np.stack([rec.p_signal[:, names[lead.upper()]] for lead in LEADS]).astype(np.float32)
    if not np.isfinite(signal).all():
        lead, sample = np.argwhere(~np.isfinite(signal))[0]
        raise DataError(str(path), f"non-finite sample in lead {LEADS[lead]} at sample {sample}")
    return ECGRecord(signal=signal, fs_hz=float(rec.fs), subject_id=stem.name, source=str(path))


@torch.no_grad()
def score(model_path: Path, paths: list[Path]) -> list[dict[str, Any]]:
    model, config = load_exported(model_path)
    pre = PreprocessConfig.from_dict(config["preprocessing"]["config"])
    window = int(config["window"]["samples"])
    out = []
    for path in paths:
        rec = read_recording(path)
        if rec.fs_hz != pre.fs_hz:
            raise DataError(str(path), f"sampled at {rec.fs_hz} Hz; this model expects {pre.fs_hz} Hz")
        n = rec.signal.shape[1] // window
        if n < 1:
            raise DataError(str(path), f"{rec.signal.shape[1]} samples is shorter than one {window}-sample window")
        cut = np.stack([rec.signal[:, k * window : (k + 1) * window] for k in range(n)])
        _, reg, logits = model(torch.from_numpy(preprocess(cut, pre)))
        est = reg.double().mean(dim=0).numpy()
        prob = torch.sigmoid(logits.double()).mean(dim=0).numpy()
        row: dict[str, Any] = {"record": str(path), "windows": n, "estimates": {}, "probabilities": {}, "flags": []}
        for t in config["targets"]:
            q = config["conformal"][t["name"]]["0.8"]
            v = float(est[t["index"]])
            row["estimates"][t["name"]] = {"value": v, "unit": t["unit"], "interval_80": [v - q, v + q]}
        for k, d in enumerate(config["diseases"]):
            row["probabilities"][d] = float(prob[k])
            if prob[k] >= config["thresholds"][d]:
                row["flags"].append(d)
        out.append(row)
    return out


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m ventriq_training.score", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("model", type=Path)
    p.add_argument("recordings", type=Path, nargs="+")
    p.add_argument("--json", action="store_true", help="one JSON object per line")
    a = p.parse_args(argv)
    try:
        rows = score(a.model, a.recordings)
    except (DataError, ValueError, FileNotFoundError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    for row in rows:
        if a.json:
            print(json.dumps(row))
            continue
        est = "  ".join(
            f"{k.split('_')[0].upper()} {v['value']:.1f} [{v['interval_80'][0]:.1f}, {v['interval_80'][1]:.1f}] {v['unit']}"
            for k, v in row["estimates"].items()
        )
        print(f"{Path(row['record']).stem}: {est}; flags: {', '.join(row['flags']) or 'none'}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
