"""Latent physiology: prevalences, enrichment, determinism, and the visible/hidden split."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from ventriq_training.cohort.physiology import HIDDEN_COLUMNS, UNIFORM_COLUMNS, Latents, resample_hidden, sample_latents

# Documented target ranges (COHORT.md), checked on 10,000 subjects.
PREVALENCE_RANGES = {
    "cad": (0.04, 0.06),
    "af": (0.02, 0.03),
    "mi": (0.015, 0.025),
    "hf": (0.003, 0.006),
    "cardiomyopathy": (0.001, 0.003),
    "scd": (0.0, 0.002),
}


@pytest.fixture(scope="module")
def cohort10k() -> Latents:
    return sample_latents(2025, np.arange(10000))


@pytest.mark.parametrize("disease", sorted(PREVALENCE_RANGES))
def test_prevalence_in_documented_range(cohort10k: Latents, disease: str) -> None:
    lo, hi = PREVALENCE_RANGES[disease]
    p = float(getattr(cohort10k, disease).mean())
    assert lo <= p <= hi, f"{disease} prevalence {p:.4f} outside [{lo}, {hi}]"


def test_mi_implies_cad_and_disease_links(cohort10k: Latents) -> None:
    lat = cohort10k
    assert np.all(lat.cad[lat.mi])
    assert np.all(lat.dcm <= lat.cardiomyopathy)
    assert np.all(lat.hf_reduced <= lat.hf)
    assert np.all(lat.mi_size[~lat.mi] == 0) and np.all((lat.mi_size[lat.mi] >= 0.05) & (lat.mi_size[lat.mi] <= 0.35))
    # HF is far more common after MI than without (the link that makes HF learnable).
    assert lat.hf[lat.mi].mean() > 5 * lat.hf[~lat.mi].mean()


def test_enrichment_raises_every_prevalence() -> None:
    ids = np.arange(20000)
    base = sample_latents(7, ids, enrich=1.0)
    rich = sample_latents(7, ids, enrich=5.0)
    for d in PREVALENCE_RANGES:
        assert getattr(rich, d).mean() > 2.5 * getattr(base, d).mean(), d
    with pytest.raises(ValueError):
        sample_latents(7, ids[:3], enrich=0.0)


def test_demographics(cohort10k: Latents) -> None:
    lat = cohort10k
    assert 0.45 < lat.male.mean() < 0.51
    assert 62.5 < lat.age_years.mean() < 65.5 and lat.age_years.min() >= 45 and lat.age_years.max() <= 82
    assert 1.8 < lat.bsa_m2.mean() < 2.0
    assert 58 < lat.hr_bpm.mean() < 67


def test_deterministic_by_seed_and_subject_id() -> None:
    a = sample_latents(11, np.arange(50))
    b = sample_latents(11, np.array([49, 7, 3]))
    for f in dataclasses.fields(Latents):
        assert np.array_equal(getattr(a, f.name)[[49, 7, 3]], getattr(b, f.name)), f.name
    c = sample_latents(12, np.arange(50))
    assert not np.array_equal(a.age_years, c.age_years)


def test_resample_hidden_changes_only_hidden_fields() -> None:
    ids = np.arange(200)
    a = sample_latents(3, ids)
    b = resample_hidden(3, ids, 1.0, draw=0)
    for name in Latents.ECG_VISIBLE:
        assert np.array_equal(getattr(a, name), getattr(b, name)), name
    assert not np.array_equal(a.z_lvf_hid, b.z_lvf_hid)
    assert not np.array_equal(a.height_cm, b.height_cm)
    assert HIDDEN_COLUMNS < set(UNIFORM_COLUMNS)
