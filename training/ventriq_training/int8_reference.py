"""Numpy reference of the int8 scheme in docs/QUANTIZATION.md (format ``ventriq-int8``, version 1).

Everything here is the *definition* the Swift quantizer (``VentriqQuant``) and the int8 kernels
(``vq_q*``) are tested against, so each function spells out its arithmetic:

- integer steps are exact: int64 intermediates wherever gemmlowp/TFLite use a 64-bit product,
  int32 results range-checked or saturated exactly as the C code does;
- float steps use the precision the scheme names: float64 for the quantizer's own arithmetic
  (weight and bias quantization, output scales, requantization multipliers, the GELU table),
  float32 for what the engine computes at run time (activation quantization, the float output
  ``float32(acc) * out_scale[n]``), one IEEE operation at a time, never a fused multiply-add.

Primitives: ``quantize_multiplier``, ``saturating_rounding_doubling_high_mul``,
``rounding_divide_by_pot``, ``requantize``, ``quantize_s8``, ``quantize_weights``,
``quantize_bias``, ``output_scale``, ``requant_params``, ``qgemm_acc``, ``qgemm_f32``, ``qgemm_s8``,
``gelu``, ``gelu_lut``, ``apply_lut``; the attention core: ``dynamic_scale``, ``quantize_rows``,
``softmax_split8``, ``attention_s8``.

Calibration (the clipping threshold T of an activation, s_x = T / 127): ``AbsHistogram``,
``threshold_minmax``, ``threshold_percentile``, ``threshold_entropy`` (with ``entropy_curve``),
``threshold_mse`` (with ``mse_curve``).

Command line (the Swift engine's int8 parity test writes IN from its own intermediates and
compares OUT bit for bit)::

    python -m ventriq_training.int8_reference layers IN.safetensors OUT.safetensors

IN holds, per int8 Linear ``L``: ``L.input_q`` (I8 [..., K]), ``L.weight`` (I8 [N, K]), optionally
``L.bias`` (I32 [N]), and either ``L.output_scale`` (F32 [N]; OUT gets ``L.output`` F32 [..., N])
or ``L.requant_multiplier`` and ``L.requant_shift`` (I32 [N]; OUT gets ``L.output`` I8 [..., N]).
Per GELU table ``G`` (e.g. ``blocks.0.mlp.act``): ``G.input_q`` (I8, any shape) and ``G.lut``
(I8 [256]); OUT gets ``G.output`` (I8, same shape). Per int8 attention core ``C`` (e.g.
``blocks.0.attn.core``): ``C.qkv`` (F32 [T, 3D]) and ``C.heads`` (I32 [1]); OUT gets ``C.output``
(F32 [T, D], ``attention_s8``). Other tensors in IN are ignored.

    python -m ventriq_training.int8_reference thresholds IN.safetensors OUT.json [--bins 2048] [--percentile 99.99]

writes the four calibration thresholds of each activation in IN (``run_thresholds``).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import math
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
from safetensors.numpy import load_file, save_file

from ventriq_training.atomic import atomic_output

INT32_MIN = -(2**31)
INT32_MAX = 2**31 - 1
QMAX = 127  # int8 activations and weights live in [-127, 127]; -128 is never produced
LUT_SIZE = 256
SQRT1_2 = math.sqrt(0.5)  # correctly rounded: the double M_SQRT1_2 (0x3FE6A09E667F3BCD)

I8 = npt.NDArray[np.int8]
I32 = npt.NDArray[np.int32]
I64 = npt.NDArray[np.int64]
F32 = npt.NDArray[np.float32]
F64 = npt.NDArray[np.float64]


# --------------------------------------------------------------------------------------------
# Fixed-point requantization (TFLite QuantizeMultiplier, gemmlowp double rounding)
# --------------------------------------------------------------------------------------------


def _round_half_away(x: float) -> int:
    """std::round (TfLiteRound) of a double: halves go away from zero. Exact for |x| < 2^52."""
    a = abs(x)
    f = math.floor(a)
    r = f + 1 if a - f >= 0.5 else f  # a - f is exact (Sterbenz)
    return int(-r if x < 0 else r)


def quantize_multiplier(real: float) -> tuple[int, int]:
    """TFLite's ``QuantizeMultiplier``: ``real = M * 2^(shift - 31)`` with M an int32.

    1. ``real == 0`` -> ``(0, 0)``.
    2. ``q, shift = frexp(real)`` (0.5 <= |q| < 1, exact).
    3. ``M = round_half_away_from_zero(q * 2^31)`` (the product is exact); |M| in [2^30, 2^31].
    4. ``M == 2^31`` (a mantissa that rounds up to 1.0): ``M = 2^30``, ``shift += 1``. A negative
       mantissa that rounds to -2^31 stays ``INT32_MIN`` (TFLite checks only ``== 2^31``).
    5. ``shift < -31`` (|real| below about 2^-32): flushed to ``(0, 0)``, as TFLite does, so that
       a right shift never exceeds 31.

    Positive multipliers thus give M in [2^30, 2^31). NaN and infinities raise ValueError.
    """
    r = float(real)
    if not math.isfinite(r):
        raise ValueError(f"quantize_multiplier: multiplier must be finite, got {real!r}")
    if r == 0.0:
        return 0, 0
    q, shift = math.frexp(r)
    m = _round_half_away(q * 2.0**31)
    if m == 2**31:
        m //= 2
        shift += 1
    if shift < -31:
        return 0, 0
    return m, shift


def saturating_rounding_doubling_high_mul(a: npt.ArrayLike, b: npt.ArrayLike) -> I32:
    """gemmlowp ``SaturatingRoundingDoublingHighMul`` on int32 values (broadcast):

    ``ab = int64(a) * int64(b)``; ``nudge = 2^30`` if ``ab >= 0`` else ``1 - 2^30``;
    result ``= (ab + nudge) / 2^31`` with C division (truncation toward zero), i.e. round(ab / 2^31)
    with halves going towards +infinity; ``a == b == INT32_MIN`` (the one overflow) gives
    ``INT32_MAX``.
    """
    a64 = _as_int32_range(a, "a")
    b64 = _as_int32_range(b, "b")
    ab = a64 * b64  # |ab| <= 2^62: exact in int64
    x = ab + np.where(ab >= 0, np.int64(1 << 30), np.int64(1 - (1 << 30)))
    high = np.where(x >= 0, x >> 31, -((-x) >> 31))  # truncating division by 2^31
    overflow = (a64 == INT32_MIN) & (b64 == INT32_MIN)
    return np.where(overflow, np.int64(INT32_MAX), high).astype(np.int32)


def rounding_divide_by_pot(x: npt.ArrayLike, exponent: npt.ArrayLike) -> I32:
    """gemmlowp ``RoundingDivideByPOT`` on int32 values, exponent in [0, 31] (broadcast):

    ``mask = 2^e - 1``; ``remainder = x & mask``; ``threshold = (mask >> 1) + (x < 0)``;
    result ``= (x >> e) + (remainder > threshold)`` (arithmetic shift): x / 2^e rounded to
    nearest, halves away from zero.
    """
    x64 = _as_int32_range(x, "x")
    e = np.asarray(exponent, dtype=np.int64)
    if np.any((e < 0) | (e > 31)):
        raise ValueError(f"rounding_divide_by_pot: exponent must be in [0, 31], got {np.unique(e[(e < 0) | (e > 31)]).tolist()}")
    mask = (np.int64(1) << e) - 1
    remainder = x64 & mask
    threshold = (mask >> 1) + (x64 < 0).astype(np.int64)
    return ((x64 >> e) + (remainder > threshold).astype(np.int64)).astype(np.int32)


def requantize(acc: npt.ArrayLike, multiplier: npt.ArrayLike, shift: npt.ArrayLike) -> I32:
    """TFLite ``MultiplyByQuantizedMultiplier`` (double rounding) with a saturating left shift:

    ``left = max(shift, 0)``, ``right = max(-shift, 0)``;
    ``y = RoundingDivideByPOT(SRDHM(saturate_int32(acc * 2^left), multiplier), right)``.

    ``acc`` is int32 [..., N]; ``multiplier`` and ``shift`` are int32 scalars or [N] (per output
    channel, broadcast over the last axis). ``shift`` must be >= -31 (what ``quantize_multiplier``
    produces); any positive shift is allowed (a nonzero acc saturates once acc * 2^left leaves
    int32). The result is int32, not clamped to int8 (``qgemm_s8`` clamps).
    """
    acc64 = _as_int32_range(acc, "acc")
    m64 = _as_int32_range(multiplier, "multiplier")
    s64 = np.asarray(shift, dtype=np.int64)
    if np.any(s64 < -31):
        raise ValueError(f"requantize: shift must be >= -31, got {int(s64.min())}")
    left = np.minimum(np.maximum(s64, 0), 32)  # 2^32 * |acc| >= 2^32 saturates anyway; fits int64
    right = np.maximum(-s64, 0)
    shifted = np.clip(acc64 << left, INT32_MIN, INT32_MAX)
    return rounding_divide_by_pot(saturating_rounding_doubling_high_mul(shifted, m64), right)


def _as_int32_range(x: npt.ArrayLike, name: str) -> I64:
    a = np.asarray(x)
    if a.dtype.kind not in "iu":
        raise TypeError(f"{name}: integer array expected, got dtype {a.dtype}")
    a64 = a.astype(np.int64)
    if a64.size and (a64.min() < INT32_MIN or a64.max() > INT32_MAX):
        raise ValueError(f"{name}: values outside int32")
    return a64


# --------------------------------------------------------------------------------------------
# Quantization of weights, biases, activations
# --------------------------------------------------------------------------------------------


def quantize_s8(x: npt.ArrayLike, scale: float) -> I8:
    """Activation quantization as the engine does it, in float32:

    ``inv = float32(1) / float32(scale)`` (the stored F32 ``input_scale``, one division);
    ``q = clamp(rint(float32(x) * inv), -127, 127)`` with the float32 product, ``rint`` rounding
    half to even; NaN -> 0, +-inf (and products that overflow) -> +-127.
    """
    s = np.float32(scale)
    if not (np.isfinite(s) and s > 0):
        raise ValueError(f"quantize_s8: scale must be finite and > 0 in float32, got {scale!r}")
    inv = np.float32(1.0) / s
    if not np.isfinite(inv):
        raise ValueError(f"quantize_s8: 1 / scale overflows float32 (scale {scale!r})")
    xf = np.asarray(x, dtype=np.float32)
    with np.errstate(over="ignore", invalid="ignore"):
        prod = np.multiply(xf, inv, dtype=np.float32)
        q = np.clip(np.rint(prod), -QMAX, QMAX)
    return np.where(np.isnan(q), np.float32(0), q).astype(np.int8)


def quantize_weights(w: npt.ArrayLike) -> tuple[I8, F64]:
    """Symmetric per-output-channel weights, in float64: for each row n of W [N, K],
    ``s_w[n] = max_k |W[n, k]| / 127`` (1.0 for an all-zero row) and
    ``Wq[n, k] = clamp(round_half_even(W[n, k] / s_w[n]), -127, 127)``.

    A weight of any other rank is flattened to [N, prod(rest)] (the patch embedding's
    [D, 1, 1, P] conv weight becomes [D, P]). Non-finite weights raise ValueError."""
    w64 = np.asarray(w, dtype=np.float64)
    if w64.ndim < 2:
        raise ValueError(f"quantize_weights: weight must be at least 2-D [N, K], got shape {w64.shape}")
    w64 = w64.reshape(w64.shape[0], -1)
    if not np.all(np.isfinite(w64)):
        raise ValueError("quantize_weights: weight has NaN or infinite values")
    amax = np.max(np.abs(w64), axis=1) if w64.shape[1] else np.zeros(w64.shape[0])
    scale = np.where(amax > 0, amax / QMAX, 1.0)
    wq = np.clip(np.rint(w64 / scale[:, None]), -QMAX, QMAX).astype(np.int8)
    return wq, scale.astype(np.float64)


def quantize_bias(b: npt.ArrayLike, s_x: float, s_w: npt.ArrayLike) -> I32:
    """``bq[n] = clamp(round_half_even(b[n] / (s_x * s_w[n])), INT32_MIN, INT32_MAX)``, all in
    float64 (the product first, then the division)."""
    b64 = np.asarray(b, dtype=np.float64)
    sw = np.asarray(s_w, dtype=np.float64)
    denom = np.float64(s_x) * sw
    if not (np.all(np.isfinite(b64)) and np.all(np.isfinite(denom)) and np.all(denom > 0)):
        raise ValueError("quantize_bias: bias must be finite and s_x * s_w > 0")
    return np.clip(np.rint(b64 / denom), INT32_MIN, INT32_MAX).astype(np.int32)


def output_scale(s_x: float, s_w: npt.ArrayLike) -> F32:
    """Float-output scale ``o[n] = float32(s_x * s_w[n])`` (the product in float64)."""
    return (np.float64(s_x) * np.asarray(s_w, dtype=np.float64)).astype(np.float32)


def requant_params(s_x: float, s_w: npt.ArrayLike, s_y: float) -> tuple[I32, I32]:
    """Int8-output requantization per channel: ``r[n] = s_x * s_w[n] / s_y`` in float64 (that
    order), then ``quantize_multiplier(r[n])``. Returns (multiplier, shift), both int32 [N]."""
    r = np.float64(s_x) * np.asarray(s_w, dtype=np.float64) / np.float64(s_y)
    pairs = [quantize_multiplier(float(v)) for v in r.reshape(-1)]
    return np.array([m for m, _ in pairs], dtype=np.int32), np.array([s for _, s in pairs], dtype=np.int32)


# --------------------------------------------------------------------------------------------
# GEMMs
# --------------------------------------------------------------------------------------------


def qgemm_acc(a_q: npt.ArrayLike, w_q: npt.ArrayLike, bias: npt.ArrayLike | None) -> I32:
    """``acc[m, n] = bias[n] + sum_k a_q[m, k] * w_q[n, k]`` as int32.

    a_q is int8 [..., K] (leading axes are batch), w_q int8 [N, K], bias int32 [N] or None.
    The sum is computed exactly (a float64 matmul of small integers is exact: every partial sum
    is an integer below K * 127^2 < 2^53) and the bias added in int64; the int32 accumulator
    then wraps modulo 2^32 like the kernels' integer adds (two's complement is associative, so
    every summation order gives this value). Only an extreme bias can reach that.
    """
    a = _int8_array(a_q, "a_q")
    w = _int8_array(w_q, "w_q")
    if w.ndim != 2 or a.ndim < 1 or a.shape[-1] != w.shape[1]:
        raise ValueError(f"qgemm: shapes a_q {a.shape} and w_q {w.shape} do not match ([..., K] x [N, K])")
    k = w.shape[1]
    if k * QMAX * QMAX >= 2**53:
        raise ValueError(f"qgemm: K = {k} too large for the exact float64 sum")
    acc = np.rint(a.astype(np.float64) @ w.astype(np.float64).T).astype(np.int64)
    if bias is not None:
        b = np.asarray(bias)
        if b.dtype != np.int32 or b.shape != (w.shape[0],):
            raise ValueError(f"qgemm: bias must be int32 [{w.shape[0]}], got {b.dtype} {b.shape}")
        acc = acc + b.astype(np.int64)
    return ((acc + 2**31) % 2**32 - 2**31).astype(np.int32)


def qgemm_f32(a_q: npt.ArrayLike, w_q: npt.ArrayLike, bias: npt.ArrayLike | None, out_scale: npt.ArrayLike) -> F32:
    """Float output: ``y[m, n] = float32(acc[m, n]) * out_scale[n]``: int32 -> float32 rounding to
    nearest even, then one float32 multiply. Returns float32 [..., N]."""
    acc = qgemm_acc(a_q, w_q, bias)
    o = np.asarray(out_scale)
    if o.dtype != np.float32 or o.shape != (acc.shape[-1],):
        raise ValueError(f"qgemm_f32: out_scale must be float32 [{acc.shape[-1]}], got {o.dtype} {o.shape}")
    return np.multiply(acc.astype(np.float32), o, dtype=np.float32)


def qgemm_s8(a_q: npt.ArrayLike, w_q: npt.ArrayLike, bias: npt.ArrayLike | None, multiplier: npt.ArrayLike, shift: npt.ArrayLike) -> I8:
    """Int8 output: ``clamp(requantize(acc, multiplier[n], shift[n]), -127, 127)``."""
    acc = qgemm_acc(a_q, w_q, bias)
    for name, v in (("multiplier", multiplier), ("shift", shift)):
        arr = np.asarray(v)
        if arr.shape not in ((), (acc.shape[-1],)):
            raise ValueError(f"qgemm_s8: {name} must be a scalar or [{acc.shape[-1]}], got shape {arr.shape}")
    return np.clip(requantize(acc, multiplier, shift), -QMAX, QMAX).astype(np.int8)


def _int8_array(x: npt.ArrayLike, name: str) -> I8:
    a = np.asarray(x)
    if a.dtype != np.int8:
        raise TypeError(f"{name}: int8 array expected, got dtype {a.dtype}")
    return a


# --------------------------------------------------------------------------------------------
# GELU table
# --------------------------------------------------------------------------------------------


def gelu(x: float) -> float:
    """Exact-erf GELU in float64, PyTorch's expression: ``x * 0.5 * (1 + erf(x * M_SQRT1_2))``
    (``math.erf`` is the C library's erf)."""
    return x * 0.5 * (1.0 + math.erf(x * SQRT1_2))


def gelu_lut(s_h: float, s_g: float) -> I8:
    """The 256-entry GELU table: for i = 0..255, ``x = (i - 128) * s_h`` and
    ``lut[i] = clamp(round_half_even(gelu(x) / s_g), -127, 127)``, all in float64
    (``s_h``, ``s_g`` as given: the F32 scales widened exactly)."""
    sh, sg = float(s_h), float(s_g)
    if not (math.isfinite(sh) and math.isfinite(sg) and sh > 0 and sg > 0):
        raise ValueError(f"gelu_lut: scales must be finite and > 0, got {s_h!r}, {s_g!r}")
    g = np.array([gelu((i - 128) * sh) / sg for i in range(LUT_SIZE)], dtype=np.float64)
    return np.clip(np.rint(g), -QMAX, QMAX).astype(np.int8)


def apply_lut(x_q: npt.ArrayLike, lut: npt.ArrayLike) -> I8:
    """``y = lut[x + 128]`` elementwise (x int8, lut int8 [256])."""
    x = _int8_array(x_q, "x_q")
    t = _int8_array(lut, "lut")
    if t.shape != (LUT_SIZE,):
        raise ValueError(f"apply_lut: table must be int8 [256], got shape {t.shape}")
    return t[x.astype(np.int16) + 128]


# --------------------------------------------------------------------------------------------
# Calibration: the clipping threshold T of an activation (s_x = T / 127)
# --------------------------------------------------------------------------------------------


def _finite_abs(values: npt.ArrayLike) -> F64:
    a = np.abs(np.asarray(values, dtype=np.float64)).reshape(-1)
    if a.size == 0:
        raise ValueError("calibration: no values")
    if not np.all(np.isfinite(a)):
        raise ValueError("calibration: values contain NaN or infinities")
    return a


@dataclass(frozen=True)
class AbsHistogram:
    """Histogram of |x|: ``counts[i]`` values with |x| in bin i = [i w, (i + 1) w), w = ``bin_width``;
    the last bin also takes |x| = B w (and, with an explicit ``max_abs``, everything above)."""

    counts: I64
    bin_width: float

    def __post_init__(self) -> None:
        c = np.asarray(self.counts)
        if c.ndim != 1 or c.size == 0 or c.dtype.kind not in "iu" or np.any(c < 0):
            raise ValueError("AbsHistogram: counts must be a non-empty 1-D array of non-negative integers")
        if not (math.isfinite(self.bin_width) and self.bin_width > 0):
            raise ValueError(f"AbsHistogram: bin_width must be finite and > 0, got {self.bin_width!r}")
        if int(c.sum()) == 0:
            raise ValueError("AbsHistogram: empty histogram")

    @property
    def bins(self) -> int:
        return int(self.counts.size)

    @staticmethod
    def from_values(values: npt.ArrayLike, bins: int = 2048, max_abs: float | None = None) -> AbsHistogram:
        """Bin |x| (float64) over [0, max_abs] (default max |x|): ``w = max_abs / bins``,
        ``i = min(floor(|x| / w), bins - 1)``. Raises for NaN/inf or when max_abs is 0."""
        a = _finite_abs(values)
        top = float(a.max()) if max_abs is None else float(max_abs)
        if not (math.isfinite(top) and top > 0):
            raise ValueError(f"AbsHistogram: the range max must be finite and > 0 (all values zero?), got {top!r}")
        if bins < 1:
            raise ValueError(f"AbsHistogram: bins must be >= 1, got {bins}")
        w = top / bins
        idx = np.minimum(np.floor(a / w), bins - 1).astype(np.int64)
        return AbsHistogram(np.bincount(idx, minlength=bins).astype(np.int64), w)


def threshold_minmax(data: npt.ArrayLike | AbsHistogram) -> float:
    """T = max |x| (samples), or the upper edge of the last non-empty bin (histogram)."""
    if isinstance(data, AbsHistogram):
        last = int(np.flatnonzero(data.counts)[-1])
        return (last + 1) * data.bin_width
    t = float(_finite_abs(data).max())
    if t == 0:
        raise ValueError("threshold_minmax: all values are zero")
    return t


def threshold_percentile(data: npt.ArrayLike | AbsHistogram, p: float) -> float:
    """The p-th percentile of |x|, 0 < p <= 100.

    Samples: numpy's default ('linear') rule. With a = sorted |x| (n values),
    ``h = (n - 1) * p / 100``, ``j = floor(h)``: ``T = a[j] + (h - j) * (a[j + 1] - a[j])``
    (``T = a[n - 1]`` when j = n - 1).
    Histogram: the upper edge ``(k + 1) w`` of the first bin k whose cumulative count reaches
    ``p / 100 * N``. Where the bins around it are non-empty the two differ by less than two bin
    widths (one for the histogram's own rounding up to a bin edge, one for the interpolation
    between neighbouring order statistics); across a gap of empty bins they can differ more.
    """
    if not (0 < p <= 100):
        raise ValueError(f"threshold_percentile: p must be in (0, 100], got {p}")
    if isinstance(data, AbsHistogram):
        cum = np.cumsum(data.counts)
        k = int(np.searchsorted(cum, p / 100.0 * float(cum[-1]), side="left"))
        return (min(k, data.bins - 1) + 1) * data.bin_width
    a = np.sort(_finite_abs(data))
    h = (a.size - 1) * (p / 100.0)
    j = int(math.floor(h))
    t = float(a[j]) if j >= a.size - 1 else float(a[j] + (h - j) * (a[j + 1] - a[j]))
    if t <= 0:
        raise ValueError(f"threshold_percentile: the {p}th percentile of |x| is 0")
    return t


def _smooth(c: F64, eps: float) -> F64 | None:
    """MXNet's ``_smooth_distribution`` on counts: zero entries get ``eps``, the nonzero ones give
    it back evenly (``- eps * zeros / nonzeros``). None when every entry is zero or a nonzero
    entry would drop to <= 0 (the candidate then gets KL = +inf)."""
    zero = c == 0
    nz = int(np.count_nonzero(~zero))
    if nz == 0:
        return None
    out = np.where(zero, eps, c - eps * float(c.size - nz) / nz)
    return None if np.any(out <= 0) else out


def entropy_curve(hist: AbsHistogram, start_bin: int = 128, levels: int = QMAX, eps: float = 1e-4) -> tuple[I64, F64]:
    """KL divergence of each candidate threshold (TensorRT's entropy calibration with MXNet's
    smoothing, 127 levels for the symmetric int8 range).

    Histogram h[0..B-1] of |x|, bin width w. For every candidate i = start_bin..B (threshold
    T_i = i w, the upper edge of bin i - 1), in float64:

    1. Reference P (counts): ``p[k] = h[k]`` for k < i, then ``p[i-1] += sum(h[i:])`` (values
       above T_i are clipped to it).
    2. Candidate Q (counts; the i bins quantized to ``levels`` levels): bin k belongs to level
       ``g(k) = floor(k * levels / i)`` (integer arithmetic; every level gets >= 1 bin since
       i >= levels). A level's mass is ``sum(h[k])`` over its bins (*without* the clipped
       outliers), spread evenly over its bins with p[k] > 0: ``q[k] = mass / count`` there;
       ``q[k] = 0`` where p[k] = 0.
    3. Smoothing of both count vectors (so that clipped outliers landing in an empty level cost a
       large but finite divergence): with Z zero entries and NZ nonzero ones, a zero entry
       becomes ``eps`` and a nonzero one ``c - eps * Z / NZ`` (eps = 1e-4 counts).
       A vector with no nonzero entry, or one that smoothing would drive to <= 0, gives KL = +inf.
    4. ``P = p / sum(p)``, ``Q = q / sum(q)`` (after smoothing);
       ``KL = sum over k of P[k] * ln(P[k] / Q[k])``.

    Returns (candidates i, KL per candidate). No special treatment of bin 0.
    """
    h = np.asarray(hist.counts, dtype=np.float64)
    n_bins = h.size
    if not (1 <= levels <= start_bin <= n_bins):
        raise ValueError(f"entropy_curve: need 1 <= levels ({levels}) <= start_bin ({start_bin}) <= bins ({n_bins})")
    tail = np.concatenate([np.cumsum(h[::-1])[::-1], [0.0]])  # tail[i] = sum(h[i:])
    cands = np.arange(start_bin, n_bins + 1, dtype=np.int64)
    kl = np.empty(cands.size, dtype=np.float64)
    for c, i in enumerate(cands.tolist()):
        p = h[:i].copy()
        p[i - 1] += tail[i]
        g = (np.arange(i, dtype=np.int64) * levels) // i
        nz = p > 0
        mass = np.bincount(g, weights=h[:i], minlength=levels)
        count = np.bincount(g, weights=nz.astype(np.float64), minlength=levels)
        q = np.where(nz, mass[g] / np.maximum(count[g], 1.0), 0.0)
        ps, qs = _smooth(p, eps), _smooth(q, eps)
        if ps is None or qs is None:
            kl[c] = math.inf
            continue
        pn, qn = ps / ps.sum(), qs / qs.sum()
        kl[c] = float(np.sum(pn * np.log(pn / qn)))
    return cands, kl


def threshold_entropy(data: npt.ArrayLike | AbsHistogram, *, bins: int = 2048, start_bin: int = 128, levels: int = QMAX, eps: float = 1e-4) -> float:
    """Entropy (KL) calibration: ``T = i* w`` with i* the candidate of smallest KL divergence in
    ``entropy_curve`` (the smallest i among equal minima). Samples are first binned into
    ``AbsHistogram.from_values(x, bins)`` (2048 bins over [0, max |x|])."""
    hist = data if isinstance(data, AbsHistogram) else AbsHistogram.from_values(data, bins)
    cands, kl = entropy_curve(hist, start_bin, levels, eps)
    if not np.any(np.isfinite(kl)):
        raise ValueError("threshold_entropy: every candidate has an infinite divergence")
    return int(cands[int(np.argmin(kl))]) * hist.bin_width


def mse_curve(hist: AbsHistogram, levels: int = QMAX) -> tuple[I64, F64]:
    """Expected squared error per value of quantizing with threshold T_i = i w, i = 1..B.

    Model (values uniform within their bin; rounding error uniform within a step): with step
    ``s_i = T_i / levels``, a value below T_i (bins k < i) costs ``s_i^2 / 12``; a value in a bin
    k >= i is clipped to T_i and costs ``E[(v - T_i)^2] = ((k + 0.5 - i) w)^2 + w^2 / 12``::

        MSE(i) = (s_i^2 / 12 * sum_{k<i} h[k] + sum_{k>=i} h[k] (((k + 0.5 - i) w)^2 + w^2 / 12)) / N

    The clipping sums are exact integers (``sum h[k] (2k + 1 - 2i)^2``, int64) before the
    float64 arithmetic, so the curve carries no cancellation error.
    Returns (candidates i, MSE per candidate) in float64.
    """
    h = np.asarray(hist.counts, dtype=np.int64)
    n_bins, w, n = h.size, hist.bin_width, float(h.sum())
    d = 2 * np.arange(n_bins, dtype=np.int64) + 1  # 2k + 1
    if int(h.sum()) * int(d[-1] + 1) ** 2 >= 2**62:
        raise ValueError("mse_curve: histogram too large for exact int64 sums")

    def tail(v: I64) -> I64:  # tail(v)[i] = sum(v[i:]), i = 0..B
        return np.concatenate([np.cumsum(v[::-1])[::-1], np.zeros(1, dtype=np.int64)])

    s0, s1, s2 = tail(h), tail(h * d), tail(h * d * d)
    cands = np.arange(1, n_bins + 1, dtype=np.int64)
    below = s0[0] - s0[cands]  # sum(h[:i])
    two_i = 2 * cands
    sq = s2[cands] - 2 * two_i * s1[cands] + two_i * two_i * s0[cands]  # sum_{k>=i} h (2k+1-2i)^2, exact
    i = cands.astype(np.float64)
    step = i * w / levels
    clip = w * w * (sq.astype(np.float64) / 4.0 + s0[cands].astype(np.float64) / 12.0)
    mse = (step * step / 12.0 * below.astype(np.float64) + clip) / n
    return cands, mse


def threshold_mse(data: npt.ArrayLike | AbsHistogram, *, bins: int = 2048, levels: int = QMAX) -> float:
    """MSE calibration: ``T = i* w`` with i* the candidate of smallest expected squared error in
    ``mse_curve`` (the smallest i among equal minima). Samples are first binned into
    ``AbsHistogram.from_values(x, bins)``."""
    hist = data if isinstance(data, AbsHistogram) else AbsHistogram.from_values(data, bins)
    cands, mse = mse_curve(hist, levels)
    return int(cands[int(np.argmin(mse))]) * hist.bin_width


def scale_from_threshold(t: float) -> float:
    """The activation scale ``s_x = T / 127`` (float64)."""
    if not (math.isfinite(t) and t > 0):
        raise ValueError(f"threshold must be finite and > 0, got {t!r}")
    return t / QMAX


# --------------------------------------------------------------------------------------------
# The attention core in int8 (vq_attention_s8): dynamic scales, nothing calibrated
# --------------------------------------------------------------------------------------------


def dynamic_scale(amax: float) -> tuple[np.float32, np.float32]:
    """``(scale, inv) = (amax / 127, 127 / amax)`` in float32; (0, 0) when amax is 0 or not finite."""
    a = np.float32(amax)
    if not (np.isfinite(a) and a > 0):
        return np.float32(0.0), np.float32(0.0)
    return np.float32(a / np.float32(QMAX)), np.float32(np.float32(QMAX) / a)


def _quantize_inv(x: npt.ArrayLike, inv: np.float32) -> I8:
    """``clamp(rint(float32(x) * inv), -127, 127)``, NaN -> 0 (quantize_s8 given the inverse)."""
    xf = np.asarray(x, dtype=np.float32)
    with np.errstate(over="ignore", invalid="ignore"):
        q = np.clip(np.rint(np.multiply(xf, inv, dtype=np.float32)), -QMAX, QMAX)
    return np.where(np.isnan(q), np.float32(0), q).astype(np.int8)


def quantize_rows(x: npt.ArrayLike) -> tuple[I8, F32]:
    """Per-row dynamic quantization (vq_quantize_rows_s8): each row's own scale max|x| / 127."""
    xf = np.asarray(x, dtype=np.float32)
    q = np.zeros(xf.shape, dtype=np.int8)
    scales = np.zeros(xf.shape[0], dtype=np.float32)
    for r in range(xf.shape[0]):
        finite = np.abs(xf[r][~np.isnan(xf[r])])
        scales[r], inv = dynamic_scale(float(finite.max()) if finite.size else 0.0)
        q[r] = _quantize_inv(xf[r], inv)
    return q, scales


def softmax_split8(x: npt.ArrayLike, row_scale: npt.ArrayLike) -> tuple[I32, I32, F32]:
    """Softmax numerators split into two int8 planes (vq_softmax_split8, the C reference's
    operations, float32): ``p = min(exp(max((x - max_row) * row_scale, -87)) * 255, 255)``,
    ``h = rint(p)`` in [0, 255], ``l = rint((p - h) * 254)`` in [-127, 127] (the kernel stores
    h - 128 and l as int8); the row sum ``float32(sum h) + float32(sum l) / 254``.
    Returns h, l (int32 arrays) and the row sums."""
    xf = np.asarray(x, dtype=np.float32)
    a = np.asarray(row_scale, dtype=np.float32)[:, None]
    t = np.maximum(np.multiply(xf - xf.max(axis=1, keepdims=True), a, dtype=np.float32), np.float32(-87.0))
    p = np.minimum(np.multiply(np.exp(t), np.float32(255), dtype=np.float32), np.float32(255))
    h = np.rint(p)
    lo = np.rint(np.multiply(p - h, np.float32(254), dtype=np.float32))
    hi_i, lo_i = h.astype(np.int32), lo.astype(np.int32)
    sums = hi_i.sum(axis=1).astype(np.float32) + lo_i.sum(axis=1).astype(np.float32) / np.float32(254)
    return hi_i, lo_i, sums.astype(np.float32)


def attention_s8(qkv: npt.ArrayLike, heads: int) -> F32:
    """The int8 attention core of one layer on ``qkv`` [T, 3D] (timm's Q | K | V column order),
    ``heads`` heads of D / heads: Q and K rows quantized per token, V per head; int8 Q.K^T
    scaled by the key scales; softmax numerators in two int8 planes h + l / 254 with row scale
    ``sq[i] * float32(1 / sqrt(hd))``; the exact integer sums h.V and l.V scaled by sv and
    sv / 254, added, then times ``1 / row_sum`` (float32, one operation at a time).
    Returns [T, D] float32."""
    x = np.asarray(qkv, dtype=np.float32)
    t, width = x.shape
    d = width // 3
    if width != 3 * d or heads < 1 or d % heads:
        raise ValueError(f"attention_s8: qkv shape {list(x.shape)} with {heads} heads: need [T, 3D], heads dividing D")
    hd = d // heads
    attn_scale = np.float32(1.0 / math.sqrt(hd))
    out = np.zeros((t, d), dtype=np.float32)
    for h in range(heads):
        q, sq = quantize_rows(x[:, h * hd:(h + 1) * hd])
        k, sk = quantize_rows(x[:, d + h * hd:d + (h + 1) * hd])
        v = x[:, 2 * d + h * hd:2 * d + (h + 1) * hd]
        sv, inv = dynamic_scale(float(np.abs(v).max()) if v.size else 0.0)
        vq = _quantize_inv(v, inv)
        scores = np.multiply(qgemm_acc(q, k, None).astype(np.float32), sk[None, :], dtype=np.float32)
        hi, lo, sums = softmax_split8(scores, np.multiply(sq, attn_scale, dtype=np.float32))
        v64 = vq.astype(np.int64)
        acc_hi = (hi.astype(np.int64) @ v64).astype(np.float32)  # exact integer sums (|sum| < 2^31)
        acc_lo = (lo.astype(np.int64) @ v64).astype(np.float32)
        r = (np.float32(1.0) / sums).astype(np.float32)
        both = np.multiply(acc_hi, sv, dtype=np.float32) + np.multiply(acc_lo, np.float32(sv / np.float32(254)), dtype=np.float32)
        out[:, h * hd:(h + 1) * hd] = np.multiply(both.astype(np.float32), r[:, None], dtype=np.float32)
    return out


# --------------------------------------------------------------------------------------------
# Command line: reference outputs of int8 layers from a tensor file
# --------------------------------------------------------------------------------------------


def _expect(tensors: dict[str, npt.NDArray[Any]], name: str, dtype: type, shape: tuple[int, ...] | None = None) -> npt.NDArray[Any]:
    if name not in tensors:
        raise ValueError(f"missing tensor {name!r}")
    t = tensors[name]
    if t.dtype != np.dtype(dtype):
        raise ValueError(f"tensor {name!r} has dtype {t.dtype}; expected {np.dtype(dtype)}")
    if shape is not None and t.shape != shape:
        raise ValueError(f"tensor {name!r} has shape {list(t.shape)}; expected {list(shape)}")
    return t


def run_layers(tensors: dict[str, npt.NDArray[Any]]) -> dict[str, npt.NDArray[Any]]:
    """Reference outputs for every ``<prefix>.input_q`` in ``tensors`` (see the module docstring)."""
    prefixes = sorted(k[: -len(".input_q")] for k in tensors if k.endswith(".input_q"))
    cores = sorted(k[: -len(".qkv")] for k in tensors if k.endswith(".qkv"))
    if not prefixes and not cores:
        raise ValueError("no '<layer>.input_q' or '<core>.qkv' tensors")
    out: dict[str, npt.NDArray[Any]] = {}
    for c in cores:
        qkv = _expect(tensors, f"{c}.qkv", np.float32)
        heads = _expect(tensors, f"{c}.heads", np.int32, (1,))
        if qkv.ndim != 2:
            raise ValueError(f"tensor {c + '.qkv'!r} has shape {list(qkv.shape)}; expected [T, 3D]")
        out[f"{c}.output"] = attention_s8(qkv, int(heads[0]))
    for p in prefixes:
        x = _expect(tensors, f"{p}.input_q", np.int8)
        if f"{p}.lut" in tensors:
            out[f"{p}.output"] = apply_lut(x, _expect(tensors, f"{p}.lut", np.int8, (LUT_SIZE,)))
            continue
        if f"{p}.weight" not in tensors:
            raise ValueError(f"{p}.input_q has neither {p}.lut nor {p}.weight")
        w = _expect(tensors, f"{p}.weight", np.int8)
        if w.ndim != 2:
            raise ValueError(f"tensor {p + '.weight'!r} has shape {list(w.shape)}; expected [N, K]")
        n, k = w.shape
        if x.ndim < 1 or x.shape[-1] != k:
            raise ValueError(f"tensor {p + '.input_q'!r} has shape {list(x.shape)}; expected [..., {k}]")
        bias = _expect(tensors, f"{p}.bias", np.int32, (n,)) if f"{p}.bias" in tensors else None
        has_f = f"{p}.output_scale" in tensors
        has_q = f"{p}.requant_multiplier" in tensors or f"{p}.requant_shift" in tensors
        if has_f == has_q:
            raise ValueError(f"{p}: need either {p}.output_scale or {p}.requant_multiplier and {p}.requant_shift (exactly one)")
        if has_f:
            out[f"{p}.output"] = qgemm_f32(x, w, bias, _expect(tensors, f"{p}.output_scale", np.float32, (n,)))
        else:
            mult = _expect(tensors, f"{p}.requant_multiplier", np.int32, (n,))
            shift = _expect(tensors, f"{p}.requant_shift", np.int32, (n,))
            out[f"{p}.output"] = qgemm_s8(x, w, bias, mult, shift)
    return {k: np.ascontiguousarray(v) for k, v in out.items()}


def run_thresholds(tensors: dict[str, npt.NDArray[Any]], bins: int = 2048, percentile: float = 99.99) -> dict[str, dict[str, float]]:
    """All four thresholds per activation. A float tensor ``name`` is a sample of values (binned
    with ``AbsHistogram.from_values(x, bins)``); an integer tensor ``name.abs_histogram`` with a
    float ``name.bin_width`` [1] is a histogram of |x| used as it is. The percentile is taken
    from the samples when there are samples."""
    out: dict[str, dict[str, float]] = {}
    for name, t in sorted(tensors.items()):
        if name.endswith(".bin_width"):
            continue
        if name.endswith(".abs_histogram"):
            base = name[: -len(".abs_histogram")]
            bw = tensors.get(f"{base}.bin_width")
            if bw is None or bw.size != 1 or bw.dtype.kind != "f":
                raise ValueError(f"{name} needs a float {base}.bin_width [1]")
            hist = AbsHistogram(t.astype(np.int64).reshape(-1), float(bw.reshape(-1)[0]))
            data: npt.NDArray[Any] | AbsHistogram = hist
        elif t.dtype.kind == "f":
            base, data = name, t
            hist = AbsHistogram.from_values(t, bins)
        else:
            raise ValueError(f"tensor {name!r} ({t.dtype}): expected float samples or an integer <name>.abs_histogram")
        out[base] = {
            "bins": hist.bins,
            "bin_width": hist.bin_width,
            "minmax": threshold_minmax(data),
            f"percentile_{percentile:g}": threshold_percentile(data, percentile),
            "entropy": threshold_entropy(hist),
            "mse": threshold_mse(hist),
        }
    if not out:
        raise ValueError("no activations")
    return out


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m ventriq_training.int8_reference", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest="command", required=True)
    lp = sub.add_parser("layers", help="reference outputs of int8 Linears and GELU tables")
    lp.add_argument("input", type=Path, help="safetensors with <layer>.input_q and the layer's int8 tensors")
    lp.add_argument("output", type=Path, help="safetensors to write <layer>.output into")
    tp = sub.add_parser("thresholds", help="calibration thresholds (minmax, percentile, entropy, MSE) of activations")
    tp.add_argument("input", type=Path, help="safetensors: float samples per activation, or <name>.abs_histogram + <name>.bin_width")
    tp.add_argument("output", type=Path, help="JSON file to write")
    tp.add_argument("--bins", type=int, default=2048)
    tp.add_argument("--percentile", type=float, default=99.99)
    a = p.parse_args(argv)
    if a.command == "thresholds":
        try:
            report = run_thresholds(load_file(str(a.input)), a.bins, a.percentile)
        except Exception as e:  # noqa: BLE001  (ValueError, OSError, SafetensorError)
            print(f"error: {a.input}: {e}", file=sys.stderr)
            return 1
        a.output.parent.mkdir(parents=True, exist_ok=True)
        with atomic_output(a.output) as tmp:
            tmp.write_text(json.dumps(report, indent=2) + "\n")
        for name, row in report.items():
            print(f"{name}: " + ", ".join(f"{k} {v:.6g}" for k, v in row.items() if k not in ("bins", "bin_width")))
        return 0
    try:
        tensors = load_file(str(a.input))
        out = run_layers(tensors)
    except (OSError, ValueError, TypeError) as e:  # safetensors raises its own errors as these
        print(f"error: {a.input}: {e}", file=sys.stderr)
        return 1
    except Exception as e:  # noqa: BLE001  (safetensors' SafetensorError for a malformed file)
        print(f"error: {a.input}: {type(e).__name__}: {e}", file=sys.stderr)
        return 1
    meta = {
        "tool": "ventriq_training.int8_reference",
        "scheme": "ventriq-int8 v1 (docs/QUANTIZATION.md)",
        "input_sha256": hashlib.sha256(a.input.read_bytes()).hexdigest(),
        "layers": json.dumps(sorted(k[: -len(".output")] for k in out)),
    }
    a.output.parent.mkdir(parents=True, exist_ok=True)
    with atomic_output(a.output) as tmp:
        save_file(out, str(tmp), metadata=meta)
    for k, v in sorted(out.items()):
        print(f"{k}: {v.dtype} {list(v.shape)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
