"""Phenotypes computed from the latent geometry: population ranges and internal consistency."""

from __future__ import annotations

import numpy as np
import pytest

from ventriq_training.cohort.geometry import build_heart, lv_volumes_ml, phenotypes_from_heart, systolic_phase
from ventriq_training.cohort.physiology import Latents, sample_latents

# Petersen et al. 2017 (UK Biobank, healthy reference): mean +/- SD, by sex.
REFERENCE = {
    "male": {"lvef_pct": (58, 5), "lvedv_ml": (166, 32), "lvsv_ml": (96, 20), "lvm_g": (103, 21), "rvedv_ml": (182, 36), "rvef_pct": (56, 6)},
    "female": {"lvef_pct": (61, 5), "lvedv_ml": (124, 21), "lvsv_ml": (75, 14), "lvm_g": (79, 16), "rvedv_ml": (130, 24), "rvef_pct": (60, 6)},
}
# Tolerances (COHORT.md): mean within 0.25 SD of the reference, SD within 0.6-1.3 x reference.
MEAN_TOL_SD, SD_RANGE = 0.25, (0.6, 1.3)


@pytest.fixture(scope="module")
def population() -> tuple[Latents, dict[str, np.ndarray]]:
    lat = sample_latents(2025, np.arange(10000))
    return lat, phenotypes_from_heart(build_heart(lat))


@pytest.mark.parametrize("sex", ["male", "female"])
def test_healthy_phenotypes_near_uk_biobank_reference(population: tuple[Latents, dict[str, np.ndarray]], sex: str) -> None:
    lat, ph = population
    healthy = ~(lat.cad | lat.af | lat.hf | lat.cardiomyopathy | lat.rv_dysfunction)
    sel = healthy & (lat.male if sex == "male" else ~lat.male)
    for name, (mean, sd) in REFERENCE[sex].items():
        m, s = float(ph[name][sel].mean()), float(ph[name][sel].std())
        assert abs(m - mean) <= MEAN_TOL_SD * sd, f"{sex} {name}: mean {m:.1f} vs {mean}"
        assert SD_RANGE[0] * sd <= s <= SD_RANGE[1] * sd, f"{sex} {name}: SD {s:.1f} vs {sd}"


def test_phenotype_identities(population: tuple[Latents, dict[str, np.ndarray]]) -> None:
    lat, ph = population
    heart = build_heart(lat)
    np.testing.assert_allclose(ph["lvsv_ml"], ph["lvedv_ml"] - ph["lvesv_ml"], rtol=1e-12)
    np.testing.assert_allclose(ph["lvef_pct"], 100 * ph["lvsv_ml"] / ph["lvedv_ml"], rtol=1e-12)
    np.testing.assert_allclose(ph["co_l_min"], ph["lvsv_ml"] * heart.hr_cmr_bpm / 1000, rtol=1e-12)
    assert np.all(ph["lvesv_ml"] > 0) and np.all(ph["lvef_pct"] > 5) and np.all(ph["lvef_pct"] < 85)
    assert np.all(ph["rvef_pct"] > 5) and np.all(ph["rvef_pct"] < 85)


def test_disease_effects_on_phenotypes(population: tuple[Latents, dict[str, np.ndarray]]) -> None:
    lat, ph = population
    ef = ph["lvef_pct"]
    healthy = ~(lat.cad | lat.af | lat.hf | lat.cardiomyopathy | lat.rv_dysfunction)
    assert ef[lat.mi].mean() < ef[healthy].mean() - 4  # akinetic infarct lowers EF
    assert ef[lat.hf_reduced].mean() < 42
    assert ph["lvedv_ml"][lat.dcm].mean() > 1.3 * ph["lvedv_ml"][healthy].mean()
    assert ph["co_l_min"][lat.af].mean() < ph["co_l_min"][healthy].mean()  # lower despite the faster HR
    assert ph["rvef_pct"][lat.rv_dysfunction].mean() < ph["rvef_pct"][healthy].mean() - 8
    # Larger infarcts lower EF more.
    big = lat.mi & (lat.mi_size > 0.15)
    small = lat.mi & (lat.mi_size <= 0.1)
    assert ef[big].mean() < ef[small].mean()


def test_myocardium_is_incompressible_over_the_cycle() -> None:
    heart = build_heart(sample_latents(5, np.arange(64)))
    _, myo_ed = lv_volumes_ml(heart, 0.0)
    _, myo_es = lv_volumes_ml(heart, 1.0)
    np.testing.assert_allclose(myo_es, myo_ed, rtol=0.03)


def test_systolic_phase_shape() -> None:
    tau = np.linspace(0, 0.999, 1000)
    g = systolic_phase(tau, 0.37)
    assert g[0] == pytest.approx(0.0, abs=1e-9)
    assert tau[np.argmax(g)] == pytest.approx(0.37, abs=0.002)
    assert g.max() == pytest.approx(1.0, abs=1e-4) and g.min() >= 0
