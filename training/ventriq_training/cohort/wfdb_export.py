"""Write synthetic subjects as WFDB records (.hea/.dat, format 16) with a JSON sidecar of the truth.

Gain is 1000 adu/mV (1 uV per unit, range +-32.767 mV), baseline 0, lead names as in ``LEADS``.
The sidecar carries the voxel-count phenotypes (the labels), the latent-geometry phenotypes, the
disease flags and every latent variable, so a recording can be checked against what made it.
Files are written into a temporary folder and renamed into place.
"""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path
from typing import Any

import numpy as np
import wfdb

from ventriq_training.cohort.dataset import SyntheticCohort
from ventriq_training.records import LEADS, PHENOTYPES, ECGRecord

GAIN_ADU_PER_MV = 1000.0


def write_wfdb(record: ECGRecord, out_dir: Path, name: str, sidecar: dict[str, Any] | None = None) -> list[Path]:
    """Write ``name.hea`` / ``name.dat`` (and ``name.json`` if given); returns the final paths."""
    out_dir.mkdir(parents=True, exist_ok=True)
    signal = np.asarray(record.signal, dtype=np.float64).T  # wfdb wants (samples, channels)
    limit = 32767 / GAIN_ADU_PER_MV
    if np.abs(signal).max() > limit:
        raise ValueError(f"{name}: |signal| exceeds {limit} mV, the range of format 16 at gain {GAIN_ADU_PER_MV}")
    with tempfile.TemporaryDirectory(dir=out_dir, prefix=".wfdb-") as tmp:
        d_signal = np.round(signal * GAIN_ADU_PER_MV).astype(np.int32)
        wfdb.wrsamp(
            name, fs=record.fs_hz, units=["mV"] * len(LEADS), sig_name=list(LEADS), d_signal=d_signal,
            fmt=["16"] * len(LEADS), adc_gain=[GAIN_ADU_PER_MV] * len(LEADS), baseline=[0] * len(LEADS),
            write_dir=tmp, comments=[f"Ventriq synthetic subject {record.subject_id}"],
        )
        written = [Path(tmp) / f"{name}.hea", Path(tmp) / f"{name}.dat"]
        if sidecar is not None:
            p = Path(tmp) / f"{name}.json"
            p.write_text(json.dumps(sidecar, indent=2, sort_keys=True))
            written.append(p)
        final = []
        for p in written:
            dest = out_dir / p.name
            os.replace(p, dest)
            final.append(dest)
    return final


def export_subjects(cohort: SyntheticCohort, ids: list[int], out_dir: Path, prefix: str = "subject") -> list[Path]:
    """Export each subject's ECG as WFDB with its truth sidecar; returns the .hea paths."""
    latent = cohort.latent_phenotypes()
    heads = []
    for i in ids:
        labels = cohort.labels(i)
        sidecar = {
            "subject_id": i,
            "fs_hz": cohort.cfg.ecg.fs_hz,
            "cohort": {"seed": cohort.cfg.seed, "n_subjects": cohort.cfg.n_subjects, "enrich": cohort.cfg.enrich},
            "split": labels.extra["split"],
            "age_years": labels.age_years,
            "sex": labels.sex,
            "phenotypes": labels.phenotypes.as_dict(),
            "latent_phenotypes": {k: float(latent[k][i]) for k in PHENOTYPES},
            "diseases": labels.diseases.as_dict(),
            "latents": labels.extra["latents"],
        }
        paths = write_wfdb(cohort.ecg(i), out_dir, f"{prefix}{i:05d}", sidecar)
        heads.append(paths[0])
    return heads

