"""Generate the synthetic paired ECG-CMR cohort to disk.

    python -m ventriq_training.cohort --n 10000 --out data/cohort
    python -m ventriq_training.cohort --n 2000 --out data/small --cmr --enrich 5
    python -m ventriq_training.cohort --n 200 --out /tmp/c --wfdb 5     # also 5 WFDB records
    python -m ventriq_training.cohort --check --n 10000                # calibration report only

Writes the layout described in ``dataset.write_cohort`` and prints the measured generation rate.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

from tqdm import tqdm

from ventriq_training.cohort.calibration import ecg_ceiling, information_ladder
from ventriq_training.cohort.cmr import CMRConfig
from ventriq_training.cohort.dataset import CohortConfig, SyntheticCohort, write_cohort
from ventriq_training.cohort.ecg import ECGConfig
from ventriq_training.cohort.wfdb_export import export_subjects


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m ventriq_training.cohort", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument("--n", type=int, default=10000, help="number of subjects (default 10000)")
    p.add_argument("--out", type=Path, help="output folder (created; existing files are replaced)")
    p.add_argument("--seed", type=int, default=CohortConfig().seed, help="cohort seed")
    p.add_argument("--enrich", type=float, default=1.0, help="multiply every disease's odds by this (default 1: UK-Biobank-like)")
    p.add_argument("--workers", type=int, default=2, help="worker processes (default 2)")
    p.add_argument("--shard-size", type=int, default=500, help="subjects per .npy shard (default 500)")
    p.add_argument("--ecg-dtype", choices=("float32", "float16"), default="float32")
    p.add_argument("--mains-hz", type=float, default=50.0, choices=(50.0, 60.0), help="mains interference frequency")
    p.add_argument("--snr-db", type=float, default=None, help="fixed ECG SNR in dB (default: per subject, N(22, 4))")
    p.add_argument("--cmr", action="store_true", help="also store the four CMR views per subject (large)")
    p.add_argument("--cmr-frames", type=int, default=CMRConfig().n_frames)
    p.add_argument("--cmr-size", type=int, default=CMRConfig().size_px)
    p.add_argument("--wfdb", type=int, default=0, metavar="K", help="also write the first K subjects as WFDB records")
    p.add_argument("--check", action="store_true", help="print the calibration report (ECG ceiling, CMR ladder) and exit")
    p.add_argument("--ladder-n", type=int, default=1500, help="subjects rendered for the ladder check (default 1500)")
    return p


def main(argv: list[str] | None = None) -> int:
    p = _parser()
    a = p.parse_args(argv)
    if a.n < 1:
        p.error("--n must be >= 1")
    if a.enrich <= 0:
        p.error("--enrich must be > 0")
    ecg = ECGConfig(mains_hz=a.mains_hz, snr_db=a.snr_db)
    cmr = CMRConfig(n_frames=a.cmr_frames, size_px=a.cmr_size)
    cfg = CohortConfig(seed=a.seed, n_subjects=a.n, enrich=a.enrich, ecg=ecg, cmr=cmr)

    if a.check:
        t0 = time.perf_counter()
        ceiling = ecg_ceiling(a.seed, a.n, enrich=a.enrich)
        ladder = information_ladder(a.seed, min(a.ladder_n, a.n), cmr, a.enrich)
        report = {"ecg_ceiling_r2": ceiling, "cmr_ladder": json.loads(ladder.to_json()), "seconds": round(time.perf_counter() - t0, 1)}
        print(json.dumps(report, indent=2))
        if a.out:
            a.out.mkdir(parents=True, exist_ok=True)
            (a.out / "calibration.json").write_text(json.dumps(report, indent=2))
        return 0

    if a.out is None:
        p.error("--out is required (or use --check)")
    with tqdm(total=a.n, unit="subj", desc="cohort", file=sys.stderr) as bar:
        manifest = write_cohort(
            cfg, a.out, shard_size=a.shard_size, workers=a.workers, with_cmr=a.cmr, ecg_dtype=a.ecg_dtype, progress=bar.update
        )
    print(
        f"wrote {manifest['n_subjects']} subjects to {a.out} in {manifest['generation_seconds']} s "
        f"({manifest['subjects_per_second']} subjects/s; splits {manifest['split_sizes']})"
    )
    print(
        f"CPU time: ECG synthesis {manifest['ecg_cpu_seconds']} s, CMR masks/views {manifest['cmr_cpu_seconds']} s "
        f"(summed over {manifest['workers']} workers)"
    )
    print("prevalence: " + ", ".join(f"{k} {100 * v:.2f} %" for k, v in manifest["prevalence"].items()))
    if a.wfdb:
        cohort = SyntheticCohort(cfg)
        heads = export_subjects(cohort, list(range(min(a.wfdb, a.n))), a.out / "wfdb")
        print(f"wrote {len(heads)} WFDB records to {a.out / 'wfdb'}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
