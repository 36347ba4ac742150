"""One switch between data sources: the same Dataset items from synthetic, shards or UK Biobank files."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from ventriq_training.cohort.dataset import CohortConfig, CohortDataset, ShardedCohort, SyntheticCohort, write_cohort
from ventriq_training.records import DISEASES, PHENOTYPES
from ventriq_training.sources import UKBBSource, open_source
from ventriq_training.ukbb import write_cine_nifti, write_ecg_xml


def _ukbb_tree_from_synthetic(tmp_path: Path, n: int) -> tuple[Path, Path, SyntheticCohort]:
    """Write synthetic subjects in the UK Biobank layout, as a user's real data would be."""
    cohort = SyntheticCohort(CohortConfig(seed=5, n_subjects=n, enrich=10.0))
    root = tmp_path / "ukb"
    rows = ["eid," + ",".join(PHENOTYPES) + "," + ",".join(DISEASES) + ",age_years,sex"]
    for i in range(n):
        eid = str(1000000 + i)
        (root / eid).mkdir(parents=True)
        write_ecg_xml(root / eid / "ecg.xml", cohort.ecg(i).signal)
        write_cine_nifti(root / eid / "sa.nii.gz", cohort.cmr(i), label_path=root / eid / "label_sa.nii.gz")
        lab = cohort.labels(i)
        rows.append(
            ",".join([eid, *(f"{v:.4f}" for v in lab.phenotypes.as_array()), *(str(int(v)) for v in lab.diseases.as_array()), f"{lab.age_years:.1f}", lab.sex or ""])
        )
    csv = tmp_path / "labels.csv"
    csv.write_text("\n".join(rows) + "\n")
    return root, csv, cohort


def test_ukbb_source_serves_the_same_items_as_the_generator(tmp_path: Path) -> None:
    root, csv, cohort = _ukbb_tree_from_synthetic(tmp_path, 6)
    source = open_source(f"ukbb:{root}:{csv}")
    assert isinstance(source, UKBBSource) and len(source) == 6
    assert source.eids == [str(1000000 + i) for i in range(6)]
    i = 2
    ecg = source.ecg(i)
    # The XML stores integer codes of 5 uV: the loaded ECG is the original to within half a code.
    assert np.abs(ecg.signal - cohort.ecg(i).signal).max() <= 0.0025 + 1e-6
    cine = source.cmr(i)
    assert cine.es_frame == cohort.cmr(i).es_frame and cine.frame_interval_ms == pytest.approx(cohort.cmr(i).frame_interval_ms, rel=1e-5)
    np.testing.assert_allclose(source.labels(i).phenotypes.as_array(), cohort.labels(i).phenotypes.as_array(), atol=1e-3)
    items = CohortDataset(source, "train", cmr_views=("mid_cine",))
    assert len(items) == int((source.split == 0).sum())
    item = items[0]
    assert item["ecg"].shape == (12, 5000) and item["mid_cine"].ndim == 3 and item["phenotypes"].dtype == np.float32


def test_specs_open_each_kind(tmp_path: Path) -> None:
    syn = open_source("synthetic:30:9:2")
    assert isinstance(syn, SyntheticCohort) and len(syn) == 30 and syn.cfg.seed == 9 and syn.cfg.enrich == 2.0
    write_cohort(CohortConfig(seed=9, n_subjects=30, enrich=2.0), tmp_path / "c", workers=1)
    shards = open_source(f"shards:{tmp_path / 'c'}")
    assert isinstance(shards, ShardedCohort)
    a, b = CohortDataset(syn, "val")[1], CohortDataset(shards, "val")[1]
    np.testing.assert_array_equal(a["ecg"], b["ecg"])
    np.testing.assert_allclose(a["phenotypes"], b["phenotypes"], rtol=1e-6)
    np.testing.assert_array_equal(a["diseases"], b["diseases"])


@pytest.mark.parametrize(
    "spec, message",
    [
        ("synthetic", "expected synthetic:N"),
        ("synthetic:ten", "must be integers"),
        ("shards:", "expected shards:DIR"),
        ("ukbb:/only/root", "expected ukbb:ROOT:LABELS_CSV"),
        ("mimic:/data", "unknown kind"),
    ],
)
def test_bad_specs_say_what_was_expected(spec: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        open_source(spec)
