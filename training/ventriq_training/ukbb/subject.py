"""UK Biobank subjects on disk, served as the same record types the synthetic cohort produces.

Directory convention (Ventriq's own; the CMR part follows ukbb_cardiac)::

    <root>/<eid>/ecg.xml            resting ECG, field 20205 (rename <eid>_20205_2_0.xml to this)
    <root>/<eid>/sa.nii.gz          short-axis cine, (X, Y, Z, T) as written by ukbb_cardiac
    <root>/<eid>/label_sa.nii.gz    optional 4-D labels (manual); else seg_sa.nii.gz if present
    <labels_csv>                    one row per eid, see ``ventriq_training.ukbb.labels``

A subject is any folder under ``root`` that contains ``ecg.xml``; files are read on demand, the
labels CSV once, at construction.
"""

from __future__ import annotations

from pathlib import Path

from ventriq_training.records import DataError, CineCMR, ECGRecord, SubjectLabels
from ventriq_training.ukbb.cmr_nifti import load_cine_nifti
from ventriq_training.ukbb.ecg_xml import load_ecg_xml
from ventriq_training.ukbb.labels import load_labels_csv

ECG_FILE = "ecg.xml"
CINE_FILE = "sa.nii.gz"
LABEL_FILES = ("label_sa.nii.gz", "seg_sa.nii.gz")  # manual labels win over network output
UKBB_SLICE_THICKNESS_MM = 8.0  # UK Biobank SAX protocol (Petersen et al. 2016), quoted from memory


class UKBBSubjectSource:
    """Subjects under ``root`` (``<root>/<eid>/ecg.xml``) with labels from ``labels_csv``."""

    def __init__(
        self,
        root: Path,
        labels_csv: Path,
        slice_thickness_mm: float | None = UKBB_SLICE_THICKNESS_MM,
    ) -> None:
        self.root = Path(root)
        if not self.root.is_dir():
            raise DataError(str(self.root), "subject root directory not found")
        self.slice_thickness_mm = slice_thickness_mm
        self._labels = load_labels_csv(labels_csv)
        self._labels_source = str(labels_csv)
        self._ids = sorted(
            (entry.name for entry in self.root.iterdir() if (entry / ECG_FILE).is_file()),
            key=_eid_sort_key,
        )

    def __len__(self) -> int:
        return len(self._ids)

    @property
    def ids(self) -> list[str]:
        return list(self._ids)

    def ecg(self, eid: str) -> ECGRecord:
        return load_ecg_xml(self._subject_dir(eid) / ECG_FILE, subject_id=eid)

    def cmr(self, eid: str) -> CineCMR:
        folder = self._subject_dir(eid)
        labels = next((folder / name for name in LABEL_FILES if (folder / name).is_file()), None)
        return load_cine_nifti(folder / CINE_FILE, label_path=labels, slice_thickness_mm=self.slice_thickness_mm)

    def labels(self, eid: str) -> SubjectLabels:
        try:
            return self._labels[eid]
        except KeyError:
            raise DataError(f"subject {eid}", f"no row for this eid in {self._labels_source}") from None

    def _subject_dir(self, eid: str) -> Path:
        if eid not in self._ids:
            raise DataError(f"subject {eid}", f"no folder with {ECG_FILE} under {self.root}")
        return self.root / eid


def _eid_sort_key(eid: str) -> tuple[int, int, str]:
    # Numeric eids in numeric order, anything else after them alphabetically.
    return (0, int(eid), "") if eid.isdigit() else (1, 0, eid)
