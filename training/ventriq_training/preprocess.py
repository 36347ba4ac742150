"""ECG preprocessing: zero-phase high-pass, mains notch, Savitzky-Golay smoothing, z-score.

This is the chain of the follow-up study to Turgut et al., and it is Ventriq's default. Every
parameter lives in ``PreprocessConfig``, which is exported with model weights (``to_dict``) so
that the Swift runtime can reproduce the chain in float64. ``coefficients`` bundles the exact
filter coefficients, initial conditions, pad lengths and Savitzky-Golay kernels, so the runtime
does not need to redesign any filter. (Turgut et al. themselves removed baseline wander with
asymmetric least squares instead of a high-pass; that is mentioned here, not implemented.)

Steps, in this order, along the time axis of each lead, all in float64; the output is cast to
float32 once, at the end (round to nearest). The description below is of scipy 1.17.1 (read from
``scipy/signal/_signaltools.py``: ``sosfiltfilt``, ``filtfilt``, ``_validate_pad``,
``sosfilt_zi``, ``lfilter_zi``; ``scipy/signal/_arraytools.py``: ``odd_ext``;
``scipy/signal/_savitzky_golay.py``; ``_sosfilt.pyx`` and the C ``lfilter`` (``DOUBLE_filt``) for
the inner loops; ``scipy.ndimage``'s ``NI_Correlate1D`` for the convolution) and numpy 2.4.
``tests/test_preprocess.py`` re-implements it from this text and checks it against the installed
scipy/numpy (bit-identical on scipy 1.17.1 / numpy 2.4.6, except the Savitzky-Golay edges).

1. High-pass: ``sos = scipy.signal.butter(highpass_order, highpass_hz, btype="highpass",
   fs=fs_hz, output="sos")`` (default: 2 sections, each row ``[b0, b1, b2, 1, a1, a2]``),
   applied with ``scipy.signal.sosfiltfilt(sos, x)`` and its defaults (padtype "odd", padlen None),
   which does exactly this to a signal ``x[0..n-1]``:

   a. ``padlen = 3 * (2 * S + 1 - min(count(sos[:, 2] == 0), count(sos[:, 5] == 0)))`` with S the
      number of sections (the subtraction compensates for the zero coefficients of an odd-order
      design). Default config: S = 2, no zero b2/a2, so padlen = 3 * 5 = 15. It requires
      ``n > padlen`` (scipy raises otherwise).
   b. Odd extension by padlen samples at each end (``odd_ext``):
      ``ext = [2*x[0] - x[padlen], ..., 2*x[0] - x[1], x[0], ..., x[n-1],
      2*x[n-1] - x[n-2], ..., 2*x[n-1] - x[n-1-padlen]]``, i.e. ``ext[k] = 2*x[0] - x[padlen-k]``
      for k < padlen and ``ext[padlen+n+k] = 2*x[n-1] - x[n-2-k]`` for k < padlen.
   c. Initial conditions ``zi = sosfilt_zi(sos)`` (shape (S, 2)): section s gets the steady state
      of its own step response, ``lfilter_zi(b_s, a_s)``, times the product of the DC gains
      ``sum(b_r) / sum(a_r)`` of the sections r < s before it. ``lfilter_zi`` (for a0 = 1) solves
      ``(I - companion(a).T) zi = b[1:] - a[1:] * b[0]`` with ``numpy.linalg.solve``; for a
      biquad that is ``z0 = (b1 + b2 - (a1 + a2) * b0) / (1 + a1 + a2)``, ``z1 = b2 - a2*b0 - a2*z0``
      (the closed form can differ from LAPACK's solve in the last bit, so the runtime should read
      ``highpass_zi`` from ``coefficients``). For a high-pass every section's DC gain is 0, so
      all sections after the first start at zero.
   d. Forward pass: ``y = sosfilt(sos, ext, zi = zi * ext[0])``.
   e. Reverse y; backward pass ``y = sosfilt(sos, reversed(y), zi = zi * y_forward[-1])``, i.e.
      the initial conditions scaled by the last sample of the forward output (= the first sample
      of the reversed sequence); reverse again.
   f. Strip the padding: keep ``y[padlen : padlen + n]``.

   ``sosfilt`` runs the sections in cascade, per sample, in transposed direct form II (from
   ``_sosfilt.pyx``; evaluate exactly in this order, without fused multiply-adds, to get the same
   bits)::

       for each sample v:                      # v = current input
           for s in 0..S-1:
               out = b0[s] * v + z0[s]
               z0[s] = (b1[s] * v - a1[s] * out) + z1[s]
               z1[s] = b2[s] * v - a2[s] * out
               v = out
           emit v

   The default padlen (15 samples, 30 ms) is much shorter than the 0.5 Hz filter's settling time,
   so the first and last second or so carry start-up transients whenever the signal has a slope
   at the ends; the runtime reproduces them rather than "fixing" them.

2. Mains notch (skipped when ``mains_hz`` is None): ``b, a = scipy.signal.iirnotch(w0=mains_hz,
   Q=notch_q, fs=fs_hz)`` (3 taps each, a[0] = 1), applied with ``scipy.signal.filtfilt(b, a, x)``
   and its defaults (padtype "odd", padlen None, method "pad"): the same steps a-f with
   ``padlen = 3 * max(len(a), len(b)) = 9``, the odd extension above, ``zi = lfilter_zi(b, a)``
   scaled by ``ext[0]`` for the forward pass and by the last forward output for the backward
   pass, and ``lfilter`` (transposed direct form II; scipy divides every coefficient by a[0],
   which is 1 here) as the inner loop, whose operation order differs from sosfilt's::

       out = z0 + b0 * v
       z0 = z1 + v * b1 - out * a1
       z1 = v * b2 - out * a2

3. Savitzky-Golay: ``scipy.signal.savgol_filter(x, savgol_window, savgol_order)`` with its default
   ``mode="interp"``. With W = savgol_window, h = W // 2 and ``c = savgol_coeffs(W, order)``
   (``coefficients["savgol_coeffs"]``): for h <= i < n - h the output is the convolution, which
   ``scipy.ndimage.convolve1d`` evaluates (the kernel being symmetric to within DBL_EPSILON) as
   ``acc = x[i] * c[h]; for j = h, h-1, ..., 1: acc += (x[i-j] + x[i+j]) * c[h+j]``. For the first
   h samples, a polynomial of degree ``savgol_order`` is least-squares fitted to ``x[0..W-1]``
   (at abscissae 0..W-1) and evaluated at 0..h-1; for the last h samples, one is fitted to
   ``x[n-W..n-1]`` and evaluated at W-h..W-1. The fits are linear in the data, so the runtime can
   use ``coefficients["savgol_edge_left"]`` (h x W) @ ``x[:W]`` and ``savgol_edge_right`` @
   ``x[-W:]``; scipy's own least-squares (``polyfit`` -> LAPACK ``gelsd``) rounds differently,
   so these 2h edge samples agree to ~1e-14 of the signal's scale, not bit for bit. It
   requires ``n >= W``.

4. z-score: ``(x - mean) / (std + zscore_eps)``, with the mean and the population (ddof = 0)
   standard deviation of each lead (``zscore="per_lead"``) or of all leads and samples of the
   recording together (``"per_recording"``, leads flattened row-major: lead 0's samples, then
   lead 1's, ...). numpy computes ``mean = pairwise_sum(x) / m`` and ``std = sqrt(pairwise_sum(
   (x - mean) * (x - mean)) / m)``, then ``(x - mean) / (std + eps)``. ``pairwise_sum`` of m
   values is: m < 8: a plain left-to-right sum from 0.0; 8 <= m <= 128: eight running sums
   ``r[j] += x[8k + j]`` over the first m - m % 8 values, combined as
   ``((r0 + r1) + (r2 + r3)) + ((r4 + r5) + (r6 + r7))``, then the remaining m % 8 values
   added left to right; m > 128: split at ``m2 = m // 2 - (m // 2) % 8`` and return
   ``pairwise_sum(x[:m2]) + pairwise_sum(x[m2:])``.

The minimum signal length is ``max(padlen_highpass + 1, padlen_notch + 1, savgol_window)``
(16 samples for the default config).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, fields
from typing import Any, Mapping

import numpy as np
import numpy.typing as npt
import scipy
from scipy import signal as sps

from ventriq_training.records import LEADS, DataError, ECGRecord

F64 = npt.NDArray[np.float64]
F32 = npt.NDArray[np.float32]

ZSCORE_MODES: tuple[str, ...] = ("per_lead", "per_recording")
MAINS_CHOICES: tuple[float, ...] = (50.0, 60.0)

# Step names written into the exported config; from_dict checks them, so a metadata file that
# describes a different chain is refused rather than silently reinterpreted.
STEP_HIGHPASS = "butterworth_highpass_sosfiltfilt"
STEP_NOTCH = "iirnotch_filtfilt"
STEP_SAVGOL = "savgol_interp"
STEP_ZSCORE = "zscore"

_FLOAT_FIELDS = ("fs_hz", "highpass_hz", "notch_q", "zscore_eps")
_INT_FIELDS = ("highpass_order", "savgol_window", "savgol_order")


def _is_number(v: object) -> bool:
    return isinstance(v, (int, float, np.integer, np.floating)) and not isinstance(v, (bool, np.bool_))


def _is_int(v: object) -> bool:
    return isinstance(v, (int, np.integer)) and not isinstance(v, (bool, np.bool_))


@dataclass(frozen=True)
class PreprocessConfig:
    """Every setting of the preprocessing chain; exported with model weights (``to_dict``)."""

    fs_hz: float = 500.0
    highpass_hz: float = 0.5
    highpass_order: int = 4
    mains_hz: float | None = 50.0
    notch_q: float = 40.0
    savgol_window: int = 15
    savgol_order: int = 3
    zscore: str = "per_lead"
    zscore_eps: float = 1e-5

    def __post_init__(self) -> None:
        self.validate()

    @property
    def nyquist_hz(self) -> float:
        return self.fs_hz / 2.0

    def validate(self) -> None:
        """Raise ``ValueError`` naming the first bad setting."""
        for name in _FLOAT_FIELDS:
            v = getattr(self, name)
            if not _is_number(v):
                raise ValueError(f"{name} must be a number, got {v!r}")
        for name in _INT_FIELDS:
            v = getattr(self, name)
            if not _is_int(v):
                raise ValueError(f"{name} must be an integer, got {v!r}")
        if not (math.isfinite(self.fs_hz) and self.fs_hz > 0):
            raise ValueError(f"fs_hz must be positive and finite, got {self.fs_hz}")
        nyq = self.nyquist_hz
        if not (math.isfinite(self.highpass_hz) and 0 < self.highpass_hz < nyq):
            raise ValueError(
                f"highpass_hz must be in (0, {nyq}) Hz (0 < cutoff < Nyquist), got {self.highpass_hz}"
            )
        if self.highpass_order < 1:
            raise ValueError(f"highpass_order must be >= 1, got {self.highpass_order}")
        if self.mains_hz is not None:
            if not _is_number(self.mains_hz) or float(self.mains_hz) not in MAINS_CHOICES:
                raise ValueError(f"mains_hz must be 50, 60 or None (notch off), got {self.mains_hz!r}")
            if self.mains_hz >= nyq:
                raise ValueError(
                    f"mains_hz {self.mains_hz} must be below the Nyquist frequency {nyq} Hz"
                )
        if not (math.isfinite(self.notch_q) and self.notch_q > 0):
            raise ValueError(f"notch_q must be positive and finite, got {self.notch_q}")
        if self.savgol_window < 3:
            raise ValueError(f"savgol_window must be >= 3, got {self.savgol_window}")
        if self.savgol_window % 2 == 0:
            raise ValueError(f"savgol_window must be odd, got {self.savgol_window}")
        if self.savgol_order < 0:
            raise ValueError(f"savgol_order must be >= 0, got {self.savgol_order}")
        if self.savgol_order >= self.savgol_window:
            raise ValueError(
                f"savgol_order ({self.savgol_order}) must be less than savgol_window ({self.savgol_window})"
            )
        if self.zscore not in ZSCORE_MODES:
            raise ValueError(f"zscore must be one of {ZSCORE_MODES}, got {self.zscore!r}")
        if not (math.isfinite(self.zscore_eps) and self.zscore_eps > 0):
            raise ValueError(f"zscore_eps must be positive and finite, got {self.zscore_eps}")

    def chain(self) -> list[str]:
        """Names of the steps this config applies, in order."""
        steps = [STEP_HIGHPASS]
        if self.mains_hz is not None:
            steps.append(STEP_NOTCH)
        return steps + [STEP_SAVGOL, STEP_ZSCORE]

    def to_dict(self) -> dict[str, Any]:
        """JSON-able settings plus ``"chain"`` (the step names in order)."""
        d: dict[str, Any] = {
            "fs_hz": float(self.fs_hz),
            "highpass_hz": float(self.highpass_hz),
            "highpass_order": int(self.highpass_order),
            "mains_hz": None if self.mains_hz is None else float(self.mains_hz),
            "notch_q": float(self.notch_q),
            "savgol_window": int(self.savgol_window),
            "savgol_order": int(self.savgol_order),
            "zscore": str(self.zscore),
            "zscore_eps": float(self.zscore_eps),
        }
        d["chain"] = self.chain()
        return d

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> PreprocessConfig:
        """Inverse of ``to_dict``; refuses missing or unknown keys and a mismatching chain."""
        names = [f.name for f in fields(cls)]
        expected = set(names) | {"chain"}
        missing = sorted(expected - set(d))
        if missing:
            raise ValueError(f"preprocessing config is missing keys: {missing}")
        unknown = sorted(set(d) - expected)
        if unknown:
            raise ValueError(f"preprocessing config has unknown keys: {unknown}")
        kwargs: dict[str, Any] = {}
        for name in names:
            v = d[name]
            # JSON writes 500.0 as 500 in some encoders; the float fields take ints too.
            if (name in _FLOAT_FIELDS or name == "mains_hz") and _is_number(v):
                v = float(v)
            kwargs[name] = v
        cfg = cls(**kwargs)
        chain = d["chain"]
        if list(chain) != cfg.chain():
            raise ValueError(f"preprocessing config chain {chain!r} does not match this code's {cfg.chain()!r}")
        return cfg


DEFAULT_CONFIG = PreprocessConfig()


# ---- coefficients (exported so the runtime need not redesign the filters) ----


def sos_highpass(cfg: PreprocessConfig = DEFAULT_CONFIG) -> F64:
    """Butterworth high-pass second-order sections, shape (sections, 6), rows [b0 b1 b2 1 a1 a2]."""
    sos = sps.butter(cfg.highpass_order, cfg.highpass_hz, btype="highpass", fs=cfg.fs_hz, output="sos")
    return np.asarray(sos, dtype=np.float64)


def notch_ba(cfg: PreprocessConfig = DEFAULT_CONFIG) -> tuple[F64, F64] | None:
    """``(b, a)`` of the mains notch (3 taps each), or None when the notch is off."""
    if cfg.mains_hz is None:
        return None
    b, a = sps.iirnotch(w0=cfg.mains_hz, Q=cfg.notch_q, fs=cfg.fs_hz)
    return np.asarray(b, dtype=np.float64), np.asarray(a, dtype=np.float64)


def highpass_zi(cfg: PreprocessConfig = DEFAULT_CONFIG) -> F64:
    """``sosfilt_zi`` of the high-pass, shape (sections, 2): multiply by the first sample."""
    return np.asarray(sps.sosfilt_zi(sos_highpass(cfg)), dtype=np.float64)


def notch_zi(cfg: PreprocessConfig = DEFAULT_CONFIG) -> F64 | None:
    """``lfilter_zi`` of the notch, shape (2,), or None when the notch is off."""
    ba = notch_ba(cfg)
    if ba is None:
        return None
    return np.asarray(sps.lfilter_zi(*ba), dtype=np.float64)


def sos_padlen(sos: F64) -> int:
    """The padlen ``sosfiltfilt`` uses by default (formula copied from scipy 1.17.1)."""
    n_sections = int(sos.shape[0])
    ntaps = 2 * n_sections + 1 - min(int((sos[:, 2] == 0).sum()), int((sos[:, 5] == 0).sum()))
    return 3 * ntaps


def highpass_padlen(cfg: PreprocessConfig = DEFAULT_CONFIG) -> int:
    return sos_padlen(sos_highpass(cfg))


def notch_padlen(cfg: PreprocessConfig = DEFAULT_CONFIG) -> int | None:
    """``3 * max(len(a), len(b))``, filtfilt's default, or None when the notch is off."""
    ba = notch_ba(cfg)
    if ba is None:
        return None
    b, a = ba
    return 3 * max(len(a), len(b))


def min_length(cfg: PreprocessConfig = DEFAULT_CONFIG) -> int:
    """Shortest signal the chain accepts: filtfilt needs n > padlen, savgol n >= window."""
    need = [highpass_padlen(cfg) + 1, cfg.savgol_window]
    npad = notch_padlen(cfg)
    if npad is not None:
        need.append(npad + 1)
    return max(need)


def savgol_coeffs(cfg: PreprocessConfig = DEFAULT_CONFIG) -> F64:
    """The interior Savitzky-Golay kernel ``c`` (length savgol_window) that scipy convolves with."""
    return np.asarray(sps.savgol_coeffs(cfg.savgol_window, cfg.savgol_order), dtype=np.float64)


def savgol_edge_matrices(cfg: PreprocessConfig = DEFAULT_CONFIG) -> tuple[F64, F64]:
    """(left, right), each (window // 2, window): the edge polynomial fits as linear maps.

    Built by running scipy's own ``mode="interp"`` edge fit on unit impulses: with n == window,
    every output sample except the centre one comes from an edge fit.
    """
    w, h = cfg.savgol_window, cfg.savgol_window // 2
    resp = np.asarray(sps.savgol_filter(np.eye(w), w, cfg.savgol_order, axis=0), dtype=np.float64)
    # resp[i, k] = output sample i for input e_k.
    return resp[:h].copy(), resp[w - h :].copy()


def coefficients(cfg: PreprocessConfig = DEFAULT_CONFIG) -> dict[str, Any]:
    """Everything the runtime needs to run the chain without redesigning filters (JSON-able).

    Python's float repr round-trips exactly, so JSON written from this dict carries the exact
    float64 values.
    """
    ba = notch_ba(cfg)
    nzi = notch_zi(cfg)
    left, right = savgol_edge_matrices(cfg)
    return {
        "config": cfg.to_dict(),
        "scipy_version": scipy.__version__,
        "highpass_sos": sos_highpass(cfg).tolist(),
        "highpass_zi": highpass_zi(cfg).tolist(),
        "highpass_padlen": highpass_padlen(cfg),
        "notch_b": None if ba is None else ba[0].tolist(),
        "notch_a": None if ba is None else ba[1].tolist(),
        "notch_zi": None if nzi is None else nzi.tolist(),
        "notch_padlen": notch_padlen(cfg),
        "savgol_coeffs": savgol_coeffs(cfg).tolist(),
        "savgol_edge_left": left.tolist(),
        "savgol_edge_right": right.tolist(),
        "min_length": min_length(cfg),
    }


# ---- the chain ----


def _checked_float64(signal: npt.ArrayLike, cfg: PreprocessConfig) -> F64:
    x = np.asarray(signal)
    if x.dtype.kind not in "biuf":
        raise ValueError(f"ECG signal must be real-valued, got dtype {x.dtype}")
    if x.ndim < 2 or x.shape[-2] != len(LEADS):
        raise ValueError(f"ECG signal must have shape (..., {len(LEADS)}, n), got {x.shape}")
    n = x.shape[-1]
    need = min_length(cfg)
    if n < need:
        raise ValueError(
            f"ECG signal has {n} samples; the filters need at least {need} "
            f"(high-pass padlen {highpass_padlen(cfg)}, notch padlen {notch_padlen(cfg)}, "
            f"savgol window {cfg.savgol_window})"
        )
    x64 = np.asarray(x, dtype=np.float64)
    bad = ~np.isfinite(x64)
    if bad.any():
        idx = tuple(int(i) for i in np.argwhere(bad)[0])
        *batch, lead, sample = idx
        where = f"lead {lead} ({LEADS[lead]}), sample {sample}"
        if batch:
            where = f"record {tuple(batch)}, " + where
        raise ValueError(f"ECG signal has a non-finite value ({x64[idx]}) at {where}")
    return x64


def filter_chain(signal: npt.ArrayLike, cfg: PreprocessConfig = DEFAULT_CONFIG) -> F64:
    """Steps 1-3 (high-pass, notch, Savitzky-Golay) in float64 along the last axis."""
    x = _checked_float64(signal, cfg)
    y = sps.sosfiltfilt(sos_highpass(cfg), x, axis=-1)
    ba = notch_ba(cfg)
    if ba is not None:
        y = sps.filtfilt(ba[0], ba[1], y, axis=-1)
    y = sps.savgol_filter(y, cfg.savgol_window, cfg.savgol_order, axis=-1)
    return np.asarray(y, dtype=np.float64)


def zscore(x: F64, cfg: PreprocessConfig = DEFAULT_CONFIG) -> F64:
    """Step 4: ``(x - mean) / (std + eps)`` per lead or per recording (population std)."""
    x = np.asarray(x, dtype=np.float64)
    if cfg.zscore == "per_lead":
        mean = x.mean(axis=-1, keepdims=True)
        std = x.std(axis=-1, keepdims=True)
        return np.asarray((x - mean) / (std + cfg.zscore_eps), dtype=np.float64)
    # Flatten leads x samples explicitly so the summation order is the documented one
    # (row-major, one pairwise sum) and not whatever numpy's iterator picks for two axes.
    flat = np.ascontiguousarray(x).reshape(*x.shape[:-2], -1)
    mean = flat.mean(axis=-1, keepdims=True)
    std = flat.std(axis=-1, keepdims=True)
    return np.asarray(((flat - mean) / (std + cfg.zscore_eps)).reshape(x.shape), dtype=np.float64)


def preprocess_float64(signal: npt.ArrayLike, cfg: PreprocessConfig = DEFAULT_CONFIG) -> F64:
    """The whole chain, kept in float64 (what the runtime must match before its float32 cast)."""
    return zscore(filter_chain(signal, cfg), cfg)


def preprocess(signal: npt.ArrayLike, cfg: PreprocessConfig = DEFAULT_CONFIG) -> F32:
    """Preprocess one recording ``(12, n)`` or a batch ``(..., 12, n)``; float32 out.

    Raises ``ValueError`` for a wrong shape, a signal shorter than ``min_length(cfg)``, or a
    non-finite sample (the message names the first one as lead and sample index).
    """
    return preprocess_float64(signal, cfg).astype(np.float32)


def preprocess_record(record: ECGRecord, cfg: PreprocessConfig = DEFAULT_CONFIG) -> F32:
    """``preprocess`` for an ``ECGRecord``, after checking its sampling rate matches the config."""
    if float(record.fs_hz) != float(cfg.fs_hz):
        raise DataError(
            record.source,
            f"ECG sampled at {record.fs_hz} Hz but the preprocessing config expects {cfg.fs_hz} Hz",
        )
    return preprocess(record.signal, cfg)
