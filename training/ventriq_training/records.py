"""Record types shared by the synthetic cohort and the real-data (UK Biobank) loaders.

Every producer of data in this package (the generator in ``ventriq_training.cohort`` and the
loaders in ``ventriq_training.ukbb``) returns these types, so training code never needs to know
where a subject came from.

Conventions (the runtime relies on them too):
- ECG: ``signal`` is float32, shape ``(12, n_samples)``, millivolts, leads in ``LEADS`` order.
- CMR: ``frames`` is float32, shape ``(slices, frames, H, W)``; slice 0 is the most basal slice;
  frame 0 is end-diastole (ED). ``masks`` (optional) use the ukbb_cardiac label convention
  ``LABEL_*`` below.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any, Protocol

import numpy as np
import numpy.typing as npt

LEADS: tuple[str, ...] = ("I", "II", "III", "aVR", "aVL", "aVF", "V1", "V2", "V3", "V4", "V5", "V6")
"""The 12 standard leads, in the order every ECG array in Ventriq uses."""

DISEASES: tuple[str, ...] = ("cad", "af", "scd", "hf", "mi", "cardiomyopathy")
"""Prevalent-disease flags, in the order of every disease array."""

PHENOTYPES: tuple[str, ...] = (
    "lvedv_ml",
    "lvesv_ml",
    "lvsv_ml",
    "lvef_pct",
    "rvedv_ml",
    "rvesv_ml",
    "rvef_pct",
    "co_l_min",
    "lvm_g",
)
"""CMR phenotypes, in the order of every phenotype array (units in the names)."""

TARGETS: tuple[str, ...] = ("lvef_pct", "rvef_pct", "co_l_min")
"""The three regression targets of the study."""

# Segmentation labels (ukbb_cardiac convention).
LABEL_BACKGROUND = 0
LABEL_LV_BLOOD = 1
LABEL_LV_MYOCARDIUM = 2
LABEL_RV_BLOOD = 3

FloatArray = npt.NDArray[np.float32]
ArrayT = npt.NDArray[np.floating[Any]]


def limb_leads_from_i_ii(lead_i: ArrayT, lead_ii: ArrayT) -> tuple[ArrayT, ArrayT, ArrayT, ArrayT]:
    """III, aVR, aVL, aVF from I and II: Einthoven's law (III = II - I) and Goldberger's leads."""
    return lead_ii - lead_i, -(lead_i + lead_ii) / 2, lead_i - lead_ii / 2, lead_ii - lead_i / 2


class DataError(ValueError):
    """Bad input data: the message names the file (or subject) and what was wrong with it."""

    def __init__(self, source: str, problem: str) -> None:
        super().__init__(f"{source}: {problem}")
        self.source = source
        self.problem = problem


@dataclass(frozen=True)
class ECGRecord:
    """A 12-lead resting ECG in millivolts, leads in ``LEADS`` order."""

    signal: FloatArray
    fs_hz: float
    subject_id: str
    source: str = "synthetic"
    leads: tuple[str, ...] = LEADS

    def __post_init__(self) -> None:
        if self.signal.ndim != 2 or self.signal.shape[0] != len(self.leads):
            raise DataError(self.source, f"ECG signal must have shape (12, n), got {self.signal.shape}")
        if self.leads != LEADS:
            raise DataError(self.source, f"ECG leads must be {LEADS}, got {self.leads}")

    @property
    def duration_s(self) -> float:
        return self.signal.shape[1] / self.fs_hz


@dataclass(frozen=True)
class CineCMR:
    """Short-axis cine CMR, ``frames`` shaped (slices, frames, H, W); frame 0 is ED."""

    frames: FloatArray
    pixel_spacing_mm: tuple[float, float]
    slice_spacing_mm: float
    slice_thickness_mm: float
    source: str = "synthetic"
    masks: npt.NDArray[np.uint8] | None = None
    es_frame: int | None = None
    frame_interval_ms: float | None = None  # time between frames (NIfTI pixdim[4]); gives HR and CO

    def __post_init__(self) -> None:
        if self.frames.ndim != 4:
            raise DataError(self.source, f"cine must have shape (slices, frames, H, W), got {self.frames.shape}")
        if self.masks is not None and self.masks.shape != self.frames.shape:
            raise DataError(self.source, f"mask shape {self.masks.shape} != image shape {self.frames.shape}")

    @property
    def voxel_volume_ml(self) -> float:
        """Volume one voxel stands for in Simpson's summation (in-plane area x slice spacing)."""
        return self.pixel_spacing_mm[0] * self.pixel_spacing_mm[1] * self.slice_spacing_mm / 1000.0


@dataclass(frozen=True)
class Phenotypes:
    """CMR phenotypes: volumes in ml, fractions in %, cardiac output in l/min, LV mass in g."""

    lvedv_ml: float
    lvesv_ml: float
    lvsv_ml: float
    lvef_pct: float
    rvedv_ml: float
    rvesv_ml: float
    rvef_pct: float
    co_l_min: float
    lvm_g: float

    def as_array(self) -> FloatArray:
        return np.array([getattr(self, name) for name in PHENOTYPES], dtype=np.float32)

    def as_dict(self) -> dict[str, float]:
        return {k: float(v) for k, v in asdict(self).items()}


@dataclass(frozen=True)
class DiseaseFlags:
    """Prevalent disease at the imaging visit."""

    cad: bool
    af: bool
    scd: bool
    hf: bool
    mi: bool
    cardiomyopathy: bool

    def as_array(self) -> npt.NDArray[np.bool_]:
        return np.array([getattr(self, name) for name in DISEASES], dtype=np.bool_)

    def as_dict(self) -> dict[str, bool]:
        return {k: bool(v) for k, v in asdict(self).items()}


@dataclass(frozen=True)
class SubjectLabels:
    """Everything known about a subject besides the raw signals (phenotypes, diseases, covariates)."""

    subject_id: str
    phenotypes: Phenotypes
    diseases: DiseaseFlags
    age_years: float | None = None
    sex: str | None = None  # "male" | "female"
    extra: dict[str, Any] = field(default_factory=dict)


class SubjectSource(Protocol):
    """Subjects served by index 0..N-1, each in a split (0 train, 1 val, 2 test).

    Implemented by the synthetic cohort and by the UK Biobank loaders, so training code can take
    either (``ventriq_training.sources.open_source``).
    """

    split: npt.NDArray[np.int8]

    def __len__(self) -> int: ...

    def ecg(self, i: int) -> ECGRecord: ...

    def cmr(self, i: int) -> CineCMR: ...

    def labels(self, i: int) -> SubjectLabels: ...
