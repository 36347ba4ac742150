"""The preprocessing chain: scipy equivalence, zero phase, attenuation, z-score, config, errors.

``test_documented_*`` re-implement the algorithms exactly as the module docstring describes them
(pure Python loops), which is what a Swift reimplementation will follow.
"""

from __future__ import annotations

import json
from typing import Any

import numpy as np
import pytest
from scipy import signal as sps

from ventriq_training.cohort.ecg import synthesize_ecgs
from ventriq_training.cohort.physiology import sample_latents
from ventriq_training.preprocess import (
    DEFAULT_CONFIG,
    PreprocessConfig,
    coefficients,
    filter_chain,
    highpass_padlen,
    highpass_zi,
    min_length,
    notch_ba,
    notch_padlen,
    notch_zi,
    preprocess,
    preprocess_float64,
    preprocess_record,
    savgol_coeffs,
    savgol_edge_matrices,
    sos_highpass,
)
from ventriq_training.records import DataError, ECGRecord

SEED = 2025
FS = 500.0


@pytest.fixture(scope="module")
def ecgs() -> np.ndarray:
    return synthesize_ecgs(sample_latents(SEED, np.arange(4)), SEED)


def literal_chain(x: np.ndarray, cfg: PreprocessConfig) -> np.ndarray:
    """The chain written out as plain scipy/numpy calls."""
    x = np.asarray(x, dtype=np.float64)
    sos = sps.butter(cfg.highpass_order, cfg.highpass_hz, btype="highpass", fs=cfg.fs_hz, output="sos")
    y = sps.sosfiltfilt(sos, x)
    if cfg.mains_hz is not None:
        b, a = sps.iirnotch(w0=cfg.mains_hz, Q=cfg.notch_q, fs=cfg.fs_hz)
        y = sps.filtfilt(b, a, y)
    y = sps.savgol_filter(y, window_length=cfg.savgol_window, polyorder=cfg.savgol_order)
    if cfg.zscore == "per_lead":
        return (y - y.mean(axis=-1, keepdims=True)) / (y.std(axis=-1, keepdims=True) + cfg.zscore_eps)
    flat = y.reshape(*y.shape[:-2], -1)
    z = (flat - flat.mean(axis=-1, keepdims=True)) / (flat.std(axis=-1, keepdims=True) + cfg.zscore_eps)
    return z.reshape(y.shape)


# ---- equivalence with scipy ----


@pytest.mark.parametrize(
    "cfg",
    [
        DEFAULT_CONFIG,
        PreprocessConfig(mains_hz=60.0),
        PreprocessConfig(mains_hz=None),
        PreprocessConfig(zscore="per_recording"),
        PreprocessConfig(highpass_order=3, savgol_window=21, savgol_order=2),
    ],
)
def test_equals_literal_scipy_composition(ecgs: np.ndarray, cfg: PreprocessConfig) -> None:
    x = ecgs[0]
    ref = literal_chain(x, cfg)
    np.testing.assert_array_equal(preprocess_float64(x, cfg), ref)
    out = preprocess(x, cfg)
    assert out.dtype == np.float32 and out.shape == x.shape
    np.testing.assert_array_equal(out, ref.astype(np.float32))


@pytest.mark.parametrize("zmode", ["per_lead", "per_recording"])
def test_batch_equals_per_record(ecgs: np.ndarray, zmode: str) -> None:
    cfg = PreprocessConfig(zscore=zmode)
    batch = preprocess_float64(ecgs, cfg)
    single = np.stack([preprocess_float64(x, cfg) for x in ecgs])
    # Bit-identical on this build; the tolerance is there because the Savitzky-Golay edge fit
    # solves one least-squares problem with all rows as right-hand sides, and another LAPACK
    # may round that differently from one recording at a time.
    np.testing.assert_allclose(batch, single, rtol=0, atol=1e-12)
    nested = preprocess(ecgs.reshape(2, 2, 12, -1), cfg)
    np.testing.assert_allclose(nested.reshape(ecgs.shape), preprocess(ecgs, cfg), rtol=0, atol=1e-6)


def test_coefficient_helpers_match_scipy_designs() -> None:
    sos = sos_highpass()
    np.testing.assert_array_equal(sos, sps.butter(4, 0.5, btype="highpass", fs=FS, output="sos"))
    assert sos.dtype == np.float64 and sos.shape == (2, 6)
    ba = notch_ba()
    assert ba is not None
    b_ref, a_ref = sps.iirnotch(w0=50.0, Q=40.0, fs=FS)
    np.testing.assert_array_equal(ba[0], b_ref)
    np.testing.assert_array_equal(ba[1], a_ref)
    assert notch_ba(PreprocessConfig(mains_hz=None)) is None
    assert notch_zi(PreprocessConfig(mains_hz=None)) is None
    # The exact numbers the runtime is told about (see the report / module docstring).
    assert highpass_padlen() == 15
    assert notch_padlen() == 9
    assert min_length() == 16
    assert highpass_padlen(PreprocessConfig(highpass_order=3)) == 12  # odd order: one zero b2/a2
    blob = json.loads(json.dumps(coefficients()))
    np.testing.assert_array_equal(np.array(blob["highpass_sos"]), sos)  # JSON carries exact floats
    np.testing.assert_array_equal(np.array(blob["notch_zi"]), sps.lfilter_zi(b_ref, a_ref))
    assert PreprocessConfig.from_dict(blob["config"]) == DEFAULT_CONFIG


# ---- the documented algorithms, re-implemented as a Swift port would ----


def _odd_ext(x: list[float], pad: int) -> list[float]:
    n = len(x)
    left = [2 * x[0] - x[pad - k] for k in range(pad)]
    right = [2 * x[n - 1] - x[n - 2 - k] for k in range(pad)]
    return left + x + right


def _sosfilt_loop(sos: list[list[float]], x: list[float], zi: list[list[float]]) -> list[float]:
    z = [list(row) for row in zi]
    out: list[float] = []
    for v in x:
        for s, (b0, b1, b2, _a0, a1, a2) in enumerate(sos):
            o = b0 * v + z[s][0]
            z[s][0] = (b1 * v - a1 * o) + z[s][1]
            z[s][1] = b2 * v - a2 * o
            v = o
        out.append(v)
    return out


def _lfilter_loop(b: list[float], a: list[float], x: list[float], zi: list[float]) -> list[float]:
    z0, z1 = zi
    out: list[float] = []
    for v in x:
        o = z0 + b[0] * v
        z0 = z1 + v * b[1] - o * a[1]
        z1 = v * b[2] - o * a[2]
        out.append(o)
    return out


def documented_sosfiltfilt(sos: np.ndarray, x: np.ndarray) -> np.ndarray:
    n_sec = sos.shape[0]
    zeros_b2 = sum(1 for r in sos if r[2] == 0)
    zeros_a2 = sum(1 for r in sos if r[5] == 0)
    pad = 3 * (2 * n_sec + 1 - min(zeros_b2, zeros_a2))
    ext = _odd_ext([float(v) for v in x], pad)
    zi = sps.sosfilt_zi(sos)
    rows = sos.tolist()
    fwd = _sosfilt_loop(rows, ext, (zi * ext[0]).tolist())
    bwd = _sosfilt_loop(rows, fwd[::-1], (zi * fwd[-1]).tolist())[::-1]
    return np.array(bwd[pad : pad + len(x)])


def documented_filtfilt(b: np.ndarray, a: np.ndarray, x: np.ndarray) -> np.ndarray:
    pad = 3 * max(len(a), len(b))
    ext = _odd_ext([float(v) for v in x], pad)
    zi = sps.lfilter_zi(b, a)
    bl, al = b.tolist(), a.tolist()
    fwd = _lfilter_loop(bl, al, ext, (zi * ext[0]).tolist())
    bwd = _lfilter_loop(bl, al, fwd[::-1], (zi * fwd[-1]).tolist())[::-1]
    return np.array(bwd[pad : pad + len(x)])


def documented_savgol(x: np.ndarray, cfg: PreprocessConfig) -> np.ndarray:
    c = savgol_coeffs(cfg).tolist()
    left, right = savgol_edge_matrices(cfg)
    w, h, n = cfg.savgol_window, cfg.savgol_window // 2, len(x)
    xs = x.tolist()
    y = np.empty(n)
    for i in range(h, n - h):
        acc = xs[i] * c[h]
        for j in range(h, 0, -1):
            acc += (xs[i - j] + xs[i + j]) * c[h + j]
        y[i] = acc
    y[:h] = left @ x[:w]
    y[n - h :] = right @ x[n - w :]
    return y


def _pairwise_sum(v: list[float]) -> float:
    m = len(v)
    if m < 8:
        res = 0.0
        for t in v:
            res += t
        return res
    if m <= 128:
        r = list(v[:8])
        i = 8
        while i < m - m % 8:
            for j in range(8):
                r[j] += v[i + j]
            i += 8
        res = ((r[0] + r[1]) + (r[2] + r[3])) + ((r[4] + r[5]) + (r[6] + r[7]))
        for t in v[i:]:
            res += t
        return res
    m2 = m // 2
    m2 -= m2 % 8
    return _pairwise_sum(v[:m2]) + _pairwise_sum(v[m2:])


def test_documented_sosfiltfilt_matches_scipy() -> None:
    rng = np.random.default_rng(7)
    x = np.cumsum(rng.standard_normal(1200)) * 0.05 + rng.standard_normal(1200)  # drift + noise
    for cfg in (DEFAULT_CONFIG, PreprocessConfig(highpass_order=5, highpass_hz=0.7)):
        sos = sos_highpass(cfg)
        ref = sps.sosfiltfilt(sos, x)
        np.testing.assert_allclose(documented_sosfiltfilt(sos, x), ref, rtol=0, atol=1e-12)


def test_documented_filtfilt_matches_scipy() -> None:
    rng = np.random.default_rng(8)
    x = rng.standard_normal(1000) + np.sin(2 * np.pi * 50 * np.arange(1000) / FS)
    ba = notch_ba()
    assert ba is not None
    np.testing.assert_allclose(documented_filtfilt(*ba, x), sps.filtfilt(*ba, x), rtol=0, atol=1e-12)


def test_documented_zi_closed_form() -> None:
    ba = notch_ba()
    assert ba is not None
    (b0, b1, b2), (_, a1, a2) = ba[0].tolist(), ba[1].tolist()
    z0 = (b1 + b2 - (a1 + a2) * b0) / (1 + a1 + a2)
    z1 = b2 - a2 * b0 - a2 * z0
    nzi = notch_zi()
    assert nzi is not None
    np.testing.assert_allclose([z0, z1], nzi, rtol=1e-14, atol=1e-16)
    # sosfilt_zi: section s is scaled by the DC gain of the sections before it (0 for a high-pass).
    zi = highpass_zi()
    assert np.all(zi[1:] == 0)
    np.testing.assert_allclose(zi[0], sps.lfilter_zi(sos_highpass()[0, :3], sos_highpass()[0, 3:]), rtol=1e-14)


def test_documented_savgol_and_zscore_match_scipy_numpy() -> None:
    rng = np.random.default_rng(9)
    x = rng.standard_normal(600)
    cfg = DEFAULT_CONFIG
    h = cfg.savgol_window // 2
    ref = sps.savgol_filter(x, cfg.savgol_window, cfg.savgol_order)
    mine = documented_savgol(x, cfg)
    np.testing.assert_array_equal(mine[h:-h], ref[h:-h])  # interior: same operation order
    np.testing.assert_allclose(mine, ref, rtol=0, atol=1e-12)  # edges: least squares rounding
    for m in (5, 100, 5000, 60000):
        v = rng.standard_normal(m) * 3 + 1.7
        mean = _pairwise_sum(v.tolist()) / m
        assert mean == v.mean()
        d = v - mean
        assert np.sqrt(_pairwise_sum((d * d).tolist()) / m) == v.std()


# ---- frequency behaviour ----


def _tone(freq: float, seconds: float, phase: float = 0.3) -> np.ndarray:
    t = np.arange(int(seconds * FS)) / FS
    return np.tile(np.sin(2 * np.pi * freq * t + phase), (12, 1))


def _rms_middle(y: np.ndarray, skip_s: float) -> float:
    k = int(skip_s * FS)
    return float(np.sqrt(np.mean(y[0, k:-k] ** 2)))


def _amplitude_phase(y: np.ndarray, freq: float, skip_s: float) -> tuple[float, float]:
    """Amplitude and phase of lead 0's component at ``freq``, fitted away from the edges."""
    t = np.arange(y.shape[-1]) / FS
    k = int(skip_s * FS)
    basis = np.stack([np.sin(2 * np.pi * freq * t), np.cos(2 * np.pi * freq * t)], axis=1)[k:-k]
    (s, c), *_ = np.linalg.lstsq(basis, y[0, k:-k], rcond=None)
    return float(np.hypot(s, c)), float(np.arctan2(c, s))


def test_impulse_response_is_symmetric() -> None:
    n, c = 20001, 10000
    x = np.zeros((12, n))
    x[:, c] = 1.0
    y = filter_chain(x, DEFAULT_CONFIG)[0]
    k = int(4 * FS)
    left, right = y[c - k : c][::-1], y[c + 1 : c + 1 + k]
    assert np.abs(left - right).max() < 1e-9 * np.abs(y).max()


def test_5hz_passes_without_phase_shift() -> None:
    x = _tone(5.0, 20.0)
    y = filter_chain(x, DEFAULT_CONFIG)
    amp_in, ph_in = _amplitude_phase(x, 5.0, 3.0)
    amp_out, ph_out = _amplitude_phase(y, 5.0, 3.0)
    assert abs(amp_out / amp_in - 1) < 0.005
    assert abs(ph_out - ph_in) < 1e-4  # radians


def test_baseline_drift_is_removed() -> None:
    x = _tone(0.1, 60.0)
    y = filter_chain(x, DEFAULT_CONFIG)
    assert 20 * np.log10(_rms_middle(y, 15.0) / _rms_middle(x, 15.0)) < -20


@pytest.mark.parametrize("mains", [50.0, 60.0])
def test_mains_is_notched(mains: float) -> None:
    # Measured as the component at the mains frequency: the high-pass's slow edge transients
    # (short default padlen) are broadband and would dominate a plain RMS.
    x = _tone(mains, 10.0)
    amp_in, _ = _amplitude_phase(x, mains, 2.0)
    amp_out, _ = _amplitude_phase(filter_chain(x, PreprocessConfig(mains_hz=mains)), mains, 2.0)
    assert 20 * np.log10(amp_out / amp_in) < -30
    # The notch itself does the work: the Savitzky-Golay smoother alone gives only ~12 dB at
    # 50 Hz and ~26 dB at 60 Hz; the notch adds > 30 dB more (about 95 dB in total).
    amp_off, _ = _amplitude_phase(filter_chain(x, PreprocessConfig(mains_hz=None)), mains, 2.0)
    assert 20 * np.log10(amp_out / amp_off) < -30


# ---- z-score ----


def test_per_lead_zscore(ecgs: np.ndarray) -> None:
    y = preprocess(ecgs, DEFAULT_CONFIG).astype(np.float64)
    np.testing.assert_allclose(y.mean(axis=-1), 0.0, atol=1e-5)
    # std is s / (s + eps), not exactly 1: leads of ~0.05 mV RMS lose ~2e-4 to eps.
    s = filter_chain(ecgs, DEFAULT_CONFIG).std(axis=-1)
    np.testing.assert_allclose(y.std(axis=-1), s / (s + DEFAULT_CONFIG.zscore_eps), rtol=0, atol=1e-5)
    np.testing.assert_allclose(y.std(axis=-1), 1.0, atol=2e-3)


def test_per_recording_zscore(ecgs: np.ndarray) -> None:
    y = preprocess(ecgs, PreprocessConfig(zscore="per_recording")).astype(np.float64)
    np.testing.assert_allclose(y.mean(axis=(-2, -1)), 0.0, atol=1e-5)
    np.testing.assert_allclose(y.std(axis=(-2, -1)), 1.0, atol=2e-3)
    # Relative lead amplitudes survive (they would all be 1 per lead).
    assert np.ptp(y.std(axis=-1), axis=-1).min() > 0.1


def test_constant_lead_does_not_blow_up() -> None:
    x = np.zeros((12, 1000))
    x[3] = 2.0  # a flat (disconnected) lead: std 0, eps keeps it finite
    y = preprocess(x, DEFAULT_CONFIG)
    assert np.isfinite(y).all()


# ---- config ----


@pytest.mark.parametrize(
    "cfg",
    [DEFAULT_CONFIG, PreprocessConfig(mains_hz=None, zscore="per_recording"), PreprocessConfig(fs_hz=1000.0)],
)
def test_config_round_trip(cfg: PreprocessConfig) -> None:
    d = cfg.to_dict()
    assert "scipy_version" not in d
    assert d["chain"][-1] == "zscore" and ("iirnotch_filtfilt" in d["chain"]) == (cfg.mains_hz is not None)
    assert PreprocessConfig.from_dict(json.loads(json.dumps(d))) == cfg


def test_from_dict_rejects_bad_keys() -> None:
    d: dict[str, Any] = DEFAULT_CONFIG.to_dict()
    with pytest.raises(ValueError, match=r"missing keys: \['notch_q'\]"):
        PreprocessConfig.from_dict({k: v for k, v in d.items() if k != "notch_q"})
    with pytest.raises(ValueError, match=r"unknown keys: \['lowpass_hz'\]"):
        PreprocessConfig.from_dict({**d, "lowpass_hz": 40.0})
    with pytest.raises(ValueError, match="chain"):
        PreprocessConfig.from_dict({**d, "chain": ["butterworth_highpass_sosfiltfilt", "zscore"]})
    assert PreprocessConfig.from_dict({**d, "fs_hz": 500}).fs_hz == 500.0  # JSON int accepted


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"fs_hz": 0.0}, "fs_hz must be positive"),
        ({"fs_hz": -500.0}, "fs_hz must be positive"),
        ({"fs_hz": float("nan")}, "fs_hz must be positive"),
        ({"highpass_hz": 0.0}, r"highpass_hz must be in \(0, 250.0\)"),
        ({"highpass_hz": 250.0}, r"highpass_hz must be in \(0, 250.0\)"),
        ({"highpass_order": 0}, "highpass_order must be >= 1"),
        ({"highpass_order": 4.0}, "highpass_order must be an integer"),
        ({"mains_hz": 55.0}, "mains_hz must be 50, 60 or None"),
        ({"mains_hz": 50.0, "fs_hz": 100.0}, "mains_hz 50.0 must be below the Nyquist"),
        ({"notch_q": 0.0}, "notch_q must be positive"),
        ({"savgol_window": 14}, "savgol_window must be odd"),
        ({"savgol_window": 1, "savgol_order": 0}, "savgol_window must be >= 3"),
        ({"savgol_window": 5, "savgol_order": 5}, r"savgol_order \(5\) must be less than savgol_window \(5\)"),
        ({"savgol_order": -1}, "savgol_order must be >= 0"),
        ({"zscore": "per_beat"}, "zscore must be one of"),
        ({"zscore_eps": 0.0}, "zscore_eps must be positive"),
        ({"zscore_eps": -1e-5}, "zscore_eps must be positive"),
        ({"fs_hz": "500"}, "fs_hz must be a number"),
    ],
)
def test_invalid_config(kwargs: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        PreprocessConfig(**kwargs)


# ---- input errors ----


def test_nan_input_names_the_index(ecgs: np.ndarray) -> None:
    x = ecgs[0].copy()
    x[4, 1234] = np.nan
    x[7, 10] = np.inf  # later in C order: the first bad one is lead 4
    with pytest.raises(ValueError, match=r"non-finite value \(nan\) at lead 4 \(aVL\), sample 1234"):
        preprocess(x, DEFAULT_CONFIG)
    b = ecgs.copy()
    b[2, 0, 5] = np.inf
    with pytest.raises(ValueError, match=r"record \(2,\), lead 0 \(I\), sample 5"):
        preprocess(b, DEFAULT_CONFIG)


def test_too_short_signal() -> None:
    need = min_length(DEFAULT_CONFIG)
    rng = np.random.default_rng(3)
    preprocess(rng.standard_normal((12, need)), DEFAULT_CONFIG)  # exactly the minimum works in scipy
    with pytest.raises(ValueError, match=f"at least {need}"):
        preprocess(rng.standard_normal((12, need - 1)), DEFAULT_CONFIG)
    wide = PreprocessConfig(savgol_window=31)
    assert min_length(wide) == 31
    with pytest.raises(ValueError, match="at least 31"):
        preprocess(rng.standard_normal((12, 30)), wide)


def test_bad_shape() -> None:
    with pytest.raises(ValueError, match=r"shape \(\.\.\., 12, n\)"):
        preprocess(np.zeros((8, 1000)), DEFAULT_CONFIG)


def test_preprocess_record(ecgs: np.ndarray) -> None:
    rec = ECGRecord(signal=ecgs[1], fs_hz=FS, subject_id="s1", source="ukbb/1234_20205_2_0.xml")
    np.testing.assert_array_equal(preprocess_record(rec, DEFAULT_CONFIG), preprocess(ecgs[1], DEFAULT_CONFIG))
    with pytest.raises(DataError, match=r"ukbb/1234_20205_2_0\.xml: ECG sampled at 500.0 Hz.*1000.0 Hz"):
        preprocess_record(rec, PreprocessConfig(fs_hz=1000.0))
