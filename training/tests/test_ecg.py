"""The dipole ECG: lead relations, determinism, SNR, rhythm and the visible-latent contract."""

from __future__ import annotations

import numpy as np
import pytest

from ventriq_training.cohort.ecg import DOWER, ECGConfig, derive_limb_leads, synthesize_ecgs, synthesize_subject
from ventriq_training.cohort.geometry import build_heart, phenotypes_from_heart
from ventriq_training.cohort.physiology import resample_hidden, sample_latents

SEED = 2025


@pytest.fixture(scope="module")
def batch() -> tuple[object, np.ndarray]:
    lat = sample_latents(SEED, np.arange(300), enrich=20.0)  # enriched: many disease patterns
    return lat, synthesize_ecgs(lat, SEED)


def test_shape_units_and_finite(batch: tuple[object, np.ndarray]) -> None:
    _, x = batch
    assert x.shape == (300, 12, 5000) and x.dtype == np.float32
    assert np.isfinite(x).all()
    p2p = np.median(x.max(axis=2) - x.min(axis=2), axis=0)
    assert 0.3 < p2p[1] < 4.0  # lead II peak-to-peak in mV
    assert np.abs(x).max() < 15.0


def test_einthoven_and_goldberger_exact(batch: tuple[object, np.ndarray]) -> None:
    _, x = batch
    lead_i, lead_ii, lead_iii, avr, avl, avf = (x[:, k].astype(np.float64) for k in range(6))
    scale = np.abs(x).max()
    eps = 4 * np.finfo(np.float32).eps * scale  # float32 rounding of the derived leads
    assert np.abs(lead_i + lead_iii - lead_ii).max() <= eps
    assert np.abs(avr + avl + avf).max() <= eps
    assert np.abs(avr + (lead_i + lead_ii) / 2).max() <= eps


def test_derive_limb_leads_formulas() -> None:
    eight = np.random.default_rng(0).standard_normal((8, 7))
    twelve = derive_limb_leads(eight)
    np.testing.assert_allclose(twelve[2], eight[1] - eight[0])
    np.testing.assert_allclose(twelve[4], eight[0] - eight[1] / 2)
    np.testing.assert_allclose(twelve[6:], eight[2:])
    assert DOWER.shape == (8, 3)


def test_deterministic_and_independent_of_batch() -> None:
    a = synthesize_ecgs(sample_latents(SEED, np.arange(12)), SEED)
    b_lat = sample_latents(SEED, np.array([11, 4]))
    b = synthesize_ecgs(b_lat, SEED)
    assert np.array_equal(a[[11, 4]], b)
    c = synthesize_ecgs(sample_latents(SEED + 1, np.arange(2)), SEED + 1)
    assert not np.array_equal(a[:2], c)


def test_ecg_reads_only_visible_latents() -> None:
    """The ceiling's premise: re-drawing hidden latents leaves every ECG bit-identical."""
    ids = np.arange(40)
    lat = sample_latents(SEED, ids, enrich=10.0)
    other = resample_hidden(SEED, ids, 10.0, draw=3)
    assert not np.array_equal(lat.weight_kg, other.weight_kg)
    assert np.array_equal(synthesize_ecgs(lat, SEED), synthesize_ecgs(other, SEED))


def test_configured_snr_is_met() -> None:
    lat = sample_latents(SEED, np.arange(20))
    for i in range(20):
        noisy, _ = synthesize_subject(lat, i, SEED, ECGConfig(snr_db=15.0))
        clean, _ = synthesize_subject(lat, i, SEED, ECGConfig(snr_db=200.0))
        idx = [0, 1, 6, 7, 8, 9, 10, 11]  # the eight independent leads
        noise = (noisy - clean)[idx].astype(np.float64)
        snr = 10 * np.log10(np.mean(np.var(clean[idx], axis=1)) / np.mean(np.var(noise, axis=1)))
        assert snr == pytest.approx(15.0, abs=0.3)


def test_rhythm_heart_rate_and_af_irregularity() -> None:
    lat = sample_latents(SEED, np.arange(400), enrich=8.0)
    cv_af, cv_sinus, rel_err = [], [], []
    for i in range(400):
        _, r = synthesize_subject(lat, i, SEED, ECGConfig())
        rr = np.diff(r)
        rel_err.append(60.0 / rr.mean() / lat.hr_bpm[i] - 1)
        (cv_af if lat.af[i] else cv_sinus).append(rr.std() / rr.mean())
    # A 10 s strip holds only ~10 beats: irregular AF beats make single estimates noisy.
    assert np.median(np.abs(rel_err)) < 0.04 and np.max(np.abs(rel_err)) < 0.3
    assert len(cv_af) >= 10
    assert np.median(cv_af) > 0.12 > np.median(cv_sinus)


def test_af_has_no_p_waves_and_lbbb_widens_qrs() -> None:
    lat = sample_latents(SEED, np.arange(3000), enrich=10.0)
    cfg = ECGConfig(snr_db=60.0)

    def mean_beat(i: int, lead: int) -> np.ndarray:
        x, r = synthesize_subject(lat, i, SEED, cfg)
        idx = (r * cfg.fs_hz).astype(int)
        idx = idx[(idx > 150) & (idx < 4900)]
        return np.mean([x[lead, k - 150 : k + 100] for k in idx], axis=0)

    af = np.flatnonzero(lat.af & ~lat.lbbb)[:8]
    sinus = np.flatnonzero(~lat.af & ~lat.lbbb & ~lat.rbbb & ~lat.mi)[:8]
    # P-wave window (200-80 ms before R) in lead II: energy present in sinus rhythm, absent in AF.
    p_energy = lambda i: float(np.ptp(mean_beat(i, 1)[150 - 100 : 150 - 40]))  # noqa: E731
    assert np.median([p_energy(i) for i in sinus]) > 2 * np.median([p_energy(i) for i in af])

    def qrs_width_ms(i: int) -> float:
        beat = np.abs(np.diff(mean_beat(i, 6)))  # slope in V1 marks depolarisation
        active = np.flatnonzero(beat > 0.15 * beat.max())
        return float((active.max() - active.min()) * 1000 / cfg.fs_hz)

    lbbb = np.flatnonzero(lat.lbbb & ~lat.rbbb)[:8]
    assert np.median([qrs_width_ms(i) for i in lbbb]) > np.median([qrs_width_ms(i) for i in sinus]) + 25


def test_voltage_tracks_lv_mass_weakly() -> None:
    """Sokolow-Lyon voltage vs LV mass: positive but weak (r ~ 0.2-0.4 in real data)."""
    lat = sample_latents(SEED, np.arange(1500))
    mass = phenotypes_from_heart(build_heart(lat))["lvm_g"]
    x = synthesize_ecgs(lat, SEED)
    sokolow = -x[:, 6].min(axis=1) + np.maximum(x[:, 10].max(axis=1), x[:, 11].max(axis=1))
    r = np.corrcoef(sokolow, mass)[0, 1]
    assert 0.15 < r < 0.5, r
