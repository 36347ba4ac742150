"""One switch between synthetic and real data: ``open_source(spec)``.

Training and evaluation code take a data *spec* string and never look at where subjects come from:

    synthetic:N[:SEED[:ENRICH]]      the synthetic cohort, generated on the fly
    shards:DIR                       a cohort written by ``python -m ventriq_training.cohort``
    ukbb:ROOT:LABELS_CSV             UK Biobank files (``<ROOT>/<eid>/ecg.xml``, ``sa.nii.gz``, ...)

Every source serves subjects by index 0..N-1 with a train/val/test split (the study's
proportions; for UK Biobank assigned by a seeded permutation of the sorted eids) and returns the
record types of ``ventriq_training.records``.
"""

from __future__ import annotations

from pathlib import Path

from ventriq_training.cohort.dataset import CohortConfig, ShardedCohort, SyntheticCohort, assign_splits
from ventriq_training.records import CineCMR, ECGRecord, SubjectLabels, SubjectSource
from ventriq_training.ukbb.subject import UKBBSubjectSource

DEFAULT_UKBB_SPLIT_SEED = 2025


class UKBBSource:
    """``UKBBSubjectSource`` served by index, with a deterministic split of its sorted eids."""

    def __init__(self, root: Path, labels_csv: Path, split_seed: int = DEFAULT_UKBB_SPLIT_SEED) -> None:
        self.subjects = UKBBSubjectSource(root, labels_csv)
        self.eids = self.subjects.ids
        self.split = assign_splits(split_seed, len(self.eids))

    def __len__(self) -> int:
        return len(self.eids)

    def ecg(self, i: int) -> ECGRecord:
        return self.subjects.ecg(self.eids[i])

    def cmr(self, i: int) -> CineCMR:
        return self.subjects.cmr(self.eids[i])

    def labels(self, i: int) -> SubjectLabels:
        return self.subjects.labels(self.eids[i])


def open_source(spec: str) -> SubjectSource | ShardedCohort:
    """Open the data source a spec names (see the module docstring); errors say what was expected."""
    kind, _, rest = spec.partition(":")
    parts = rest.split(":") if rest else []
    if kind == "synthetic":
        if not 1 <= len(parts) <= 3:
            raise ValueError(f"data spec {spec!r}: expected synthetic:N[:SEED[:ENRICH]]")
        try:
            n = int(parts[0])
            seed = int(parts[1]) if len(parts) > 1 else CohortConfig().seed
            enrich = float(parts[2]) if len(parts) > 2 else 1.0
        except ValueError:
            raise ValueError(f"data spec {spec!r}: N and SEED must be integers, ENRICH a number") from None
        return SyntheticCohort(CohortConfig(seed=seed, n_subjects=n, enrich=enrich))
    if kind == "shards":
        if len(parts) != 1 or not parts[0]:
            raise ValueError(f"data spec {spec!r}: expected shards:DIR")
        return ShardedCohort(Path(parts[0]))
    if kind == "ukbb":
        if len(parts) != 2 or not all(parts):
            raise ValueError(f"data spec {spec!r}: expected ukbb:ROOT:LABELS_CSV")
        return UKBBSource(Path(parts[0]), Path(parts[1]))
    raise ValueError(f"data spec {spec!r}: unknown kind {kind!r}; expected synthetic:, shards: or ukbb:")
