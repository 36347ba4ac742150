"""WFDB export of synthetic subjects, read back with wfdb-python (the reference reader)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import wfdb

from ventriq_training.cohort.dataset import CohortConfig, SyntheticCohort
from ventriq_training.cohort.wfdb_export import export_subjects, write_wfdb
from ventriq_training.records import LEADS, ECGRecord


def test_round_trip_through_wfdb(tmp_path: Path) -> None:
    cohort = SyntheticCohort(CohortConfig(seed=3, n_subjects=20, enrich=10.0))
    heads = export_subjects(cohort, [0, 7], tmp_path)
    assert [h.name for h in heads] == ["subject00000.hea", "subject00007.hea"]
    rec = wfdb.rdrecord(str(tmp_path / "subject00007"))
    assert rec.fs == 500 and rec.sig_name == list(LEADS) and rec.units == ["mV"] * 12
    assert rec.fmt == ["16"] * 12 and rec.adc_gain == [1000.0] * 12
    original = cohort.ecg(7).signal
    assert np.abs(rec.p_signal.T - original).max() <= 0.0005 + 1e-6  # half an ADC step (1 uV)
    sidecar = json.loads((tmp_path / "subject00007.json").read_text())
    labels = cohort.labels(7)
    assert sidecar["phenotypes"] == pytest.approx(labels.phenotypes.as_dict())
    assert sidecar["diseases"] == labels.diseases.as_dict()
    assert set(sidecar["latents"]) >= {"age_years", "z_lvf_vis", "mi_territory_name"}
    assert not list(tmp_path.glob(".wfdb-*")), "temporary folder left behind"


def test_out_of_range_signal_is_refused(tmp_path: Path) -> None:
    signal = np.zeros((12, 100), dtype=np.float32)
    signal[3, 50] = 40.0  # mV: beyond format 16 at 1000 adu/mV
    with pytest.raises(ValueError, match="exceeds"):
        write_wfdb(ECGRecord(signal=signal, fs_hz=500.0, subject_id="x"), tmp_path, "bad")
    assert not list(tmp_path.iterdir()) or not (tmp_path / "bad.hea").exists()
