"""The synthetic cohort as data: subjects, splits, on-the-fly generation and an on-disk shard cache.

``SyntheticCohort`` generates any subject on demand, deterministically from (seed, subject id).
``write_cohort`` materialises ECGs and labels (and optionally the CMR views) into ``.npy`` shards
with a manifest; ``ShardedCohort`` reads them back memory-mapped. ``CohortDataset`` wraps either
in the ``__len__``/``__getitem__`` protocol a PyTorch ``DataLoader`` accepts (numpy arrays out, no
torch import here).

Splits follow the study's counts, 47,527 / 10,185 / 10,185 (train / validation / test), as
proportions for any N (70 / 15 / 15 %), assigned by a seeded permutation of subject ids. Note
that these counts sum to 67,897, not to the study's 63,448 subjects; we keep the counts'
proportions, so N = 67,897 reproduces them exactly.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from ventriq_training.atomic import atomic_output, write_text_atomic
from ventriq_training.cohort.cmr import CMRConfig, render_cine, views, voxel_phenotypes
from ventriq_training.cohort.ecg import ECGConfig, synthesize_subject
from ventriq_training.cohort.geometry import Heart, build_heart, phenotypes_from_heart
from ventriq_training.cohort.physiology import Latents, sample_latents
from ventriq_training.cohort.randomness import Stream
from ventriq_training.records import (
    DISEASES,
    PHENOTYPES,
    CineCMR,
    DiseaseFlags,
    ECGRecord,
    Phenotypes,
    SubjectLabels,
    SubjectSource,
)

STUDY_SPLIT = {"train": 47527, "val": 10185, "test": 10185}
SPLITS: tuple[str, ...] = ("train", "val", "test")
VIEW_KEYS: tuple[str, ...] = ("mid_ed", "mid_cine", "ed_stack", "ed_es")
FORMAT_VERSION = 1


@dataclass(frozen=True)
class CohortConfig:
    """Everything that defines a cohort. Same config -> bit-identical subjects."""

    seed: int = 2025
    n_subjects: int = 10000
    enrich: float = 1.0
    ecg: ECGConfig = field(default_factory=ECGConfig)
    cmr: CMRConfig = field(default_factory=CMRConfig)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @staticmethod
    def from_dict(d: dict[str, Any]) -> CohortConfig:
        return CohortConfig(
            seed=int(d["seed"]), n_subjects=int(d["n_subjects"]), enrich=float(d["enrich"]),
            ecg=ECGConfig(**d["ecg"]), cmr=CMRConfig(**d["cmr"]),
        )


def split_sizes(n: int) -> dict[str, int]:
    """The study's split proportions applied to n subjects (its exact counts for n = 67,897)."""
    total = sum(STUDY_SPLIT.values())
    val = int(round(n * STUDY_SPLIT["val"] / total))
    test = int(round(n * STUDY_SPLIT["test"] / total))
    return {"train": n - val - test, "val": val, "test": test}


def assign_splits(seed: int, n: int) -> npt.NDArray[np.int8]:
    """Split index (0 train, 1 val, 2 test) of subject ids 0..n-1, by a seeded permutation."""
    order = np.random.default_rng([int(seed), int(Stream.SPLIT), n]).permutation(n)
    sizes = split_sizes(n)
    out = np.zeros(n, dtype=np.int8)
    out[order[sizes["train"] : sizes["train"] + sizes["val"]]] = 1
    out[order[sizes["train"] + sizes["val"] :]] = 2
    return out


class SyntheticCohort:
    """Subjects generated on demand. Latents and geometry for all subjects are computed up front
    (cheap, vectorised); ECGs and CMR are generated per subject when asked for."""

    def __init__(self, cfg: CohortConfig) -> None:
        if cfg.n_subjects < 1:
            raise ValueError(f"n_subjects must be >= 1, got {cfg.n_subjects}")
        self.cfg = cfg
        self.ids = np.arange(cfg.n_subjects, dtype=np.int64)
        self.latents: Latents = sample_latents(cfg.seed, self.ids, cfg.enrich)
        self.heart: Heart = build_heart(self.latents)
        self.split = assign_splits(cfg.seed, cfg.n_subjects)

    def __len__(self) -> int:
        return self.cfg.n_subjects

    def split_ids(self, name: str) -> npt.NDArray[np.int64]:
        return self.ids[self.split == SPLITS.index(name)]

    def ecg(self, i: int) -> ECGRecord:
        signal, _ = synthesize_subject(self.latents, i, self.cfg.seed, self.cfg.ecg)
        return ECGRecord(signal=signal, fs_hz=self.cfg.ecg.fs_hz, subject_id=str(i), source=f"synthetic:{i}")

    def cine(self, i: int, with_images: bool = True) -> CineCMR:
        return render_cine(self.heart.take(i), i, self.cfg.seed, self.cfg.cmr, with_images=with_images)

    def cmr(self, i: int) -> CineCMR:
        """The rendered cine with images and masks (``SubjectSource`` protocol)."""
        return self.cine(i)

    def latent_phenotypes(self) -> dict[str, npt.NDArray[np.floating[Any]]]:
        """Phenotypes integrated from the latent geometry (before any measurement)."""
        return phenotypes_from_heart(self.heart)

    def labels(self, i: int) -> SubjectLabels:
        """Labels as a study would have them: phenotypes by voxel counting on the rendered masks."""
        ph = voxel_phenotypes(self.cine(i, with_images=False))
        lat = self.latents
        return SubjectLabels(
            subject_id=str(i),
            phenotypes=Phenotypes(**ph),
            diseases=DiseaseFlags(**{d: bool(getattr(lat, d)[i]) for d in DISEASES}),
            age_years=float(lat.age_years[i]),
            sex="male" if lat.male[i] else "female",
            extra={"split": SPLITS[int(self.split[i])], "latents": lat.row(i)},
        )


# ---------------------------------------------------------------------------------------------
# On-disk shards
# ---------------------------------------------------------------------------------------------

def _generate_chunk(cfg_dict: dict[str, Any], start: int, stop: int, with_cmr: bool) -> dict[str, npt.NDArray[Any]]:
    """Worker: ECGs, voxel-count labels and (optionally) CMR views of subjects [start, stop)."""
    cfg = CohortConfig.from_dict(cfg_dict)
    ids = np.arange(start, stop, dtype=np.int64)
    lat = sample_latents(cfg.seed, ids, cfg.enrich)
    heart = build_heart(lat)
    n = len(ids)
    ecg = np.empty((n, 12, cfg.ecg.n_samples), dtype=np.float32)
    labels = np.empty((n, len(PHENOTYPES)), dtype=np.float32)
    es = np.empty(n, dtype=np.int16)
    out_views: dict[str, list[npt.NDArray[np.float32]]] = {k: [] for k in VIEW_KEYS}
    ecg_s = cmr_s = 0.0
    for j in range(n):
        t0 = time.perf_counter()
        ecg[j], _ = synthesize_subject(lat, j, cfg.seed, cfg.ecg)
        t1 = time.perf_counter()
        cine = render_cine(heart.take(j), int(ids[j]), cfg.seed, cfg.cmr, with_images=with_cmr)
        cmr_s += time.perf_counter() - t1
        ecg_s += t1 - t0
        ph = voxel_phenotypes(cine)
        labels[j] = [ph[k] for k in PHENOTYPES]
        es[j] = cine.es_frame if cine.es_frame is not None else -1
        if with_cmr:
            v = views(cine)
            for k in VIEW_KEYS:
                out_views[k].append(np.asarray(getattr(v, k), dtype=np.float32))
    result: dict[str, npt.NDArray[Any]] = {
        "ecg": ecg,
        "labels": labels,
        "es_frame": es,
        "diseases": np.stack([getattr(lat, d) for d in DISEASES], axis=1),
        "cpu_seconds": np.array([ecg_s, cmr_s]),
    }
    for k, arrays in out_views.items():
        if arrays:
            result[k] = np.stack(arrays)
    return result


def _save_npy_atomic(path: Path, array: npt.NDArray[Any]) -> None:
    with atomic_output(path) as tmp, open(tmp, "wb") as f:
        np.save(f, array)


def write_cohort(
    cfg: CohortConfig,
    out: Path,
    shard_size: int = 500,
    workers: int = 2,
    with_cmr: bool = False,
    ecg_dtype: str = "float32",
    progress: Callable[[int], None] | None = None,
) -> dict[str, Any]:
    """Generate the cohort into ``out``; returns the manifest (also written as manifest.json).

    Layout: ``manifest.json``; ``subjects.csv`` (one row per subject: split, covariates, labels);
    ``ecg/shard_NNNNN.npy`` (n, 12, samples); ``labels.npy`` (N, 9) voxel-count phenotypes;
    ``latent_phenotypes.npy`` (N, 9); ``diseases.npy`` (N, 6) bool; ``split.npy`` (N,) int8;
    with CMR, ``cmr/<view>_NNNNN.npy`` per shard. Every file is written to a temporary name and
    renamed, so an interrupted run never leaves a truncated file under a final name.
    """
    if shard_size < 1 or workers < 1:
        raise ValueError("shard_size and workers must be >= 1")
    if ecg_dtype not in ("float32", "float16"):
        raise ValueError(f"ecg_dtype must be float32 or float16, got {ecg_dtype}")
    out.mkdir(parents=True, exist_ok=True)
    (out / "ecg").mkdir(exist_ok=True)
    if with_cmr:
        (out / "cmr").mkdir(exist_ok=True)
    t0 = time.perf_counter()
    cohort = SyntheticCohort(cfg)
    n = cfg.n_subjects
    bounds = [(s, min(n, s + shard_size)) for s in range(0, n, shard_size)]
    labels = np.empty((n, len(PHENOTYPES)), dtype=np.float32)
    es = np.empty(n, dtype=np.int16)
    diseases = np.empty((n, len(DISEASES)), dtype=np.bool_)
    shards: list[dict[str, Any]] = []
    cpu = np.zeros(2)  # seconds spent in ECG synthesis and in CMR rendering, summed over workers
    cfg_dict = cfg.to_dict()

    def consume(k: int, part: dict[str, npt.NDArray[Any]]) -> None:
        start, stop = bounds[k]
        name = f"shard_{k:05d}.npy"
        _save_npy_atomic(out / "ecg" / name, part["ecg"].astype(ecg_dtype))
        for view in VIEW_KEYS:
            if view in part:
                _save_npy_atomic(out / "cmr" / f"{view}_{k:05d}.npy", part[view])
        labels[start:stop], es[start:stop], diseases[start:stop] = part["labels"], part["es_frame"], part["diseases"]
        shards.append({"file": f"ecg/{name}", "start": start, "stop": stop})
        cpu[:] += part["cpu_seconds"]
        if progress is not None:
            progress(stop - start)

    if workers == 1:
        for k, (a, b) in enumerate(bounds):
            consume(k, _generate_chunk(cfg_dict, a, b, with_cmr))
    else:
        with ProcessPoolExecutor(max_workers=workers) as pool:
            futures = [pool.submit(_generate_chunk, cfg_dict, a, b, with_cmr) for a, b in bounds]
            for k, fut in enumerate(futures):
                consume(k, fut.result())

    latent = cohort.latent_phenotypes()
    _save_npy_atomic(out / "labels.npy", labels)
    _save_npy_atomic(out / "latent_phenotypes.npy", np.stack([latent[k] for k in PHENOTYPES], 1).astype(np.float32))
    _save_npy_atomic(out / "diseases.npy", diseases)
    _save_npy_atomic(out / "split.npy", cohort.split)
    _save_npy_atomic(out / "es_frame.npy", es)
    write_text_atomic(out / "subjects.csv", _subjects_csv(cohort, labels))
    elapsed = time.perf_counter() - t0
    manifest = {
        "format_version": FORMAT_VERSION,
        "config": cfg_dict,
        "n_subjects": n,
        "split_sizes": {s: int((cohort.split == i).sum()) for i, s in enumerate(SPLITS)},
        "phenotypes": list(PHENOTYPES),
        "diseases": list(DISEASES),
        "prevalence": {d: float(diseases[:, j].mean()) for j, d in enumerate(DISEASES)},
        "ecg_dtype": ecg_dtype,
        "with_cmr": with_cmr,
        "shards": sorted(shards, key=lambda s: s["start"]),
        "generation_seconds": round(elapsed, 2),
        "subjects_per_second": round(n / elapsed, 1),
        "workers": workers,
        "ecg_cpu_seconds": round(float(cpu[0]), 2),
        "cmr_cpu_seconds": round(float(cpu[1]), 2),
    }
    write_text_atomic(out / "manifest.json", json.dumps(manifest, indent=2))
    return manifest


def _subjects_csv(cohort: SyntheticCohort, labels: npt.NDArray[np.float32]) -> str:
    lat = cohort.latents
    header = ["subject_id", "split", "age_years", "sex", *PHENOTYPES, *DISEASES]
    rows = [",".join(header)]
    for i in range(len(cohort)):
        cells = [str(i), SPLITS[int(cohort.split[i])], f"{lat.age_years[i]:.1f}", "male" if lat.male[i] else "female"]
        cells += [f"{v:.3f}" for v in labels[i]]
        cells += [str(int(getattr(lat, d)[i])) for d in DISEASES]
        rows.append(",".join(cells))
    return "\n".join(rows) + "\n"


class ShardedCohort:
    """A cohort written by ``write_cohort``, memory-mapped."""

    def __init__(self, root: Path) -> None:
        self.root = Path(root)
        manifest_path = self.root / "manifest.json"
        if not manifest_path.is_file():
            raise FileNotFoundError(f"{manifest_path}: no manifest; generate with python -m ventriq_training.cohort")
        self.manifest: dict[str, Any] = json.loads(manifest_path.read_text())
        if self.manifest.get("format_version") != FORMAT_VERSION:
            raise ValueError(f"{manifest_path}: format_version {self.manifest.get('format_version')}, expected {FORMAT_VERSION}")
        self.cfg = CohortConfig.from_dict(self.manifest["config"])
        self.labels = np.load(self.root / "labels.npy", mmap_mode="r")
        self.diseases = np.load(self.root / "diseases.npy", mmap_mode="r")
        self.split = np.load(self.root / "split.npy")
        self._shards = self.manifest["shards"]
        self._starts = np.array([s["start"] for s in self._shards])
        self._mapped: dict[str, npt.NDArray[Any]] = {}

    def __len__(self) -> int:
        return int(self.manifest["n_subjects"])

    def _shard_array(self, rel: str) -> npt.NDArray[Any]:
        if rel not in self._mapped:
            self._mapped[rel] = np.load(self.root / rel, mmap_mode="r")
        return self._mapped[rel]

    def _locate(self, i: int) -> tuple[int, int]:
        k = int(np.searchsorted(self._starts, i, side="right") - 1)
        return k, i - self._shards[k]["start"]

    def ecg(self, i: int) -> npt.NDArray[np.float32]:
        k, j = self._locate(i)
        return np.asarray(self._shard_array(self._shards[k]["file"])[j], dtype=np.float32)

    def view(self, i: int, name: str) -> npt.NDArray[np.float32]:
        if not self.manifest["with_cmr"]:
            raise ValueError(f"{self.root}: written without --cmr; CMR views are generated on the fly by SyntheticCohort")
        k, j = self._locate(i)
        return np.asarray(self._shard_array(f"cmr/{name}_{k:05d}.npy")[j])


class CohortDataset:
    """PyTorch-compatible dataset over one split: item -> dict of numpy arrays.

    Keys: ``ecg`` (12, samples) float32 mV; ``phenotypes`` (9,) float32; ``diseases`` (6,) float32;
    ``subject_id`` (index in the source); and each requested CMR view. Works on a ``ShardedCohort``
    (fast, memory-mapped) or any ``SubjectSource``: the ``SyntheticCohort`` (generated on the fly,
    labels by voxel counting) or UK Biobank files (``ventriq_training.sources.open_source``).
    """

    def __init__(self, source: ShardedCohort | SubjectSource, split: str = "train", cmr_views: Sequence[str] = ()) -> None:
        if split not in SPLITS:
            raise ValueError(f"split must be one of {SPLITS}, got {split!r}")
        unknown = set(cmr_views) - set(VIEW_KEYS)
        if unknown:
            raise ValueError(f"unknown CMR views {sorted(unknown)}; known: {VIEW_KEYS}")
        self.source = source
        self.split = split
        self.cmr_views = tuple(cmr_views)
        self.ids = np.flatnonzero(source.split == SPLITS.index(split))

    def __len__(self) -> int:
        return len(self.ids)

    def __getitem__(self, index: int) -> dict[str, Any]:
        i = int(self.ids[index])
        item: dict[str, Any] = {"subject_id": i}
        if isinstance(self.source, ShardedCohort):
            item["ecg"] = self.source.ecg(i)
            item["phenotypes"] = np.asarray(self.source.labels[i], dtype=np.float32)
            item["diseases"] = np.asarray(self.source.diseases[i], dtype=np.float32)
            for v in self.cmr_views:
                item[v] = self.source.view(i, v)
        else:
            labels = self.source.labels(i)
            item["ecg"] = self.source.ecg(i).signal
            item["phenotypes"] = labels.phenotypes.as_array()
            item["diseases"] = labels.diseases.as_array().astype(np.float32)
            if self.cmr_views:
                cut = views(self.source.cmr(i))
                for v in self.cmr_views:
                    item[v] = np.asarray(getattr(cut, v), dtype=np.float32)
        return item

    def __iter__(self) -> Iterator[dict[str, Any]]:
        for k in range(len(self)):
            yield self[k]
