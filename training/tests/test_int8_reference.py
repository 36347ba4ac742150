"""The numpy int8 reference (docs/QUANTIZATION.md): golden values from TFLite/gemmlowp and by hand,
independent re-implementations with Python integers and fractions, and the int8 Linears of the
committed model against float64 within the quantization step."""

from __future__ import annotations

import math
from fractions import Fraction
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import pytest
import torch
from safetensors.numpy import load_file, save_file
from scipy.special import erf
from scipy.stats import norm

from ventriq_training.export import load_exported
from ventriq_training.int8_reference import (
    INT32_MAX,
    INT32_MIN,
    AbsHistogram,
    apply_lut,
    entropy_curve,
    gelu,
    gelu_lut,
    main,
    mse_curve,
    output_scale,
    qgemm_acc,
    qgemm_f32,
    qgemm_s8,
    quantize_bias,
    quantize_multiplier,
    quantize_s8,
    quantize_weights,
    requant_params,
    requantize,
    rounding_divide_by_pot,
    run_layers,
    saturating_rounding_doubling_high_mul,
    threshold_entropy,
    threshold_minmax,
    threshold_mse,
    threshold_percentile,
)

ROOT = Path(__file__).resolve().parents[2]
MODEL = ROOT / "models" / "ventriq-compact.safetensors"
GOLDEN = ROOT / "models" / "ventriq-compact.golden.safetensors"


# ---------------------------------------------------------------------------------------------
# QuantizeMultiplier
# ---------------------------------------------------------------------------------------------

@pytest.mark.parametrize(
    "real, expected",
    [
        # tensorflow/lite/kernels/internal/quantization_util_test.cc (QuantizeMultiplierArray)
        (-4.0, (-1073741824, 3)), (-2.0, (-1073741824, 2)), (-1.0, (-1073741824, 1)), (-0.5, (-1073741824, 0)),
        (-0.25, (-1073741824, -1)), (-0.125, (-1073741824, -2)), (0.0, (0, 0)), (0.125, (1073741824, -2)),
        (0.25, (1073741824, -1)), (0.5, (1073741824, 0)), (1.0, (1073741824, 1)), (2.0, (1073741824, 2)), (4.0, (1073741824, 3)),
        # ... (QuantizeMultiplierSmallerThanOneExp / GreaterThanOne: same arithmetic)
        (0.75, (1610612736, 0)), (1 - 1e-9, (2147483646, 0)), (0.50 - 5e-9, (2147483627, -1)),
        (1.25, (1342177280, 1)), (1.50, (1610612736, 1)), (1.75, (1879048192, 1)), (2 - 1e-9, (2147483647, 1)),
        # the mantissa rounds to 2^31: carry into the exponent
        (0.50 - 1e-10, (1073741824, 0)), (2 - 1e-11, (1073741824, 2)), (1 + 1e-11, (1073741824, 1)), (1 - 2.0**-33, (1073741824, 1)),
        # QuantizeMultiplierUnderflow: below 2^-32 flushes to (0, 0)
        (math.ldexp(1.0, -31), (1073741824, -30)), (math.ldexp(1.0, -32), (1073741824, -31)),
        (math.ldexp(float(np.float32(0.99)), -32), (0, 0)), (math.ldexp(1.0, -33), (0, 0)),
    ],
)
def test_quantize_multiplier_tflite_values(real: float, expected: tuple[int, int]) -> None:
    assert quantize_multiplier(real) == expected


def test_quantize_multiplier_rounds_half_away_from_zero() -> None:
    # q * 2^31 = 2^30 + 0.5 exactly: std::round goes up (half-to-even would stay at 2^30)
    assert quantize_multiplier((2**30 + 0.5) / 2**31) == (2**30 + 1, 0)
    assert quantize_multiplier(-(2**30 + 0.5) / 2**31) == (-(2**30 + 1), 0)
    assert quantize_multiplier((2**30 + 1.5) / 2**31) == (2**30 + 2, 0)
    # a negative mantissa rounding to -2^31 stays INT32_MIN (TFLite only carries at +2^31)
    assert quantize_multiplier(-(1 - 2.0**-33)) == (INT32_MIN, 0)


def test_quantize_multiplier_reconstructs_within_half_a_q31_step() -> None:
    rng = np.random.default_rng(1)
    for r in np.exp(rng.uniform(math.log(2.0**-31), math.log(2.0**20), 2000)):
        m, shift = quantize_multiplier(float(r))
        assert 2**30 <= m < 2**31
        err = Fraction(m) * Fraction(2) ** (shift - 31) - Fraction(float(r))
        assert abs(err) <= Fraction(2) ** (shift - 32)
    for bad in (math.nan, math.inf, -math.inf):
        with pytest.raises(ValueError):
            quantize_multiplier(bad)


# ---------------------------------------------------------------------------------------------
# gemmlowp SaturatingRoundingDoublingHighMul and RoundingDivideByPOT
# ---------------------------------------------------------------------------------------------

@pytest.mark.parametrize(
    "a, b, expected",
    [
        (INT32_MIN, INT32_MIN, INT32_MAX),  # the one overflow
        (INT32_MIN, INT32_MAX, -2147483647),  # -2^31 + 0.5 + 2^-31: truncation toward zero after the nudge
        (INT32_MAX, INT32_MAX, 2147483646),
        (1, 2**30, 1), (-1, 2**30, 0),  # +-0.5: halves go up
        (3, 2**30, 2), (-3, 2**30, -1),  # +-1.5
        (-5, 2**30, -2),  # -2.5
        (2**30, 2**30, 2**29), (0, INT32_MIN, 0), (INT32_MIN, 2**30, -(2**30)),
    ],
)
def test_srdhm_golden(a: int, b: int, expected: int) -> None:
    assert int(saturating_rounding_doubling_high_mul(np.int32(a), np.int32(b))) == expected


def test_srdhm_matches_python_integers() -> None:
    rng = np.random.default_rng(2)
    a = rng.integers(INT32_MIN, INT32_MAX, 20000, endpoint=True, dtype=np.int64)
    b = rng.integers(INT32_MIN, INT32_MAX, 20000, endpoint=True, dtype=np.int64)
    a[:4], b[:4] = [INT32_MIN, INT32_MIN, INT32_MAX, -1], [INT32_MIN, INT32_MAX, INT32_MAX, 1]
    got = saturating_rounding_doubling_high_mul(a.astype(np.int32), b.astype(np.int32))
    assert got.dtype == np.int32
    for x, y, g in zip(a.tolist(), b.tolist(), got.tolist()):
        want = INT32_MAX if x == y == INT32_MIN else (x * y + 2**30) >> 31  # floor(ab / 2^31 + 1/2)
        assert g == want


@pytest.mark.parametrize(
    "x, e, expected",
    [
        (5, 1, 3), (-5, 1, -3), (1, 1, 1), (-1, 1, -1), (-3, 1, -2), (4, 1, 2), (-4, 1, -2),
        (6, 2, 2), (-6, 2, -2), (7, 2, 2), (-7, 2, -2), (-2, 2, -1), (2, 2, 1), (-4, 2, -1), (-9, 2, -2), (-10, 2, -3),
        (12345, 0, 12345), (-12345, 0, -12345), (0, 31, 0), (INT32_MAX, 31, 1), (INT32_MIN, 31, -1),
        (2**30, 31, 1), (-(2**30), 31, -1), (2**30 - 1, 31, 0), (-(2**30) + 1, 31, 0),
    ],
)
def test_rounding_divide_by_pot_golden(x: int, e: int, expected: int) -> None:
    assert int(rounding_divide_by_pot(np.int32(x), e)) == expected


def test_rounding_divide_by_pot_rounds_half_away_from_zero() -> None:
    rng = np.random.default_rng(3)
    x = rng.integers(INT32_MIN, INT32_MAX, 5000, endpoint=True, dtype=np.int64).astype(np.int32)
    e = rng.integers(0, 31, 5000, endpoint=True)
    got = rounding_divide_by_pot(x, e)
    for xi, ei, g in zip(x.tolist(), e.tolist(), got.tolist()):
        q = Fraction(xi, 2**ei)
        want = math.floor(abs(q) + Fraction(1, 2)) * (1 if q >= 0 else -1)
        assert g == want
    with pytest.raises(ValueError):
        rounding_divide_by_pot(np.int32(1), 32)
    with pytest.raises(ValueError):
        rounding_divide_by_pot(np.int32(1), -1)


def _tflite_multiply(x: int, m: int, shift: int) -> int:
    """MultiplyByQuantizedMultiplier with Python integers (saturating left shift)."""
    left, right = max(shift, 0), max(-shift, 0)
    v = max(INT32_MIN, min(INT32_MAX, x * 2**left))
    high = INT32_MAX if v == m == INT32_MIN else (v * m + 2**30) >> 31
    q = Fraction(high, 2**right)
    return math.floor(abs(q) + Fraction(1, 2)) * (1 if q >= 0 else -1)


def test_requantize_tflite_values() -> None:
    # quantization_util_test.cc, MultiplyByQuantizedMultiplierInt32 (double rounding)
    def qm(x: int, real: float) -> int:
        m, s = quantize_multiplier(real)
        return int(requantize(np.int32(x), np.int32(m), np.int32(s)))

    assert qm(0, 0.1) == 0 and qm(1, 0.0) == 0
    assert qm(10000, 0.00097656) == 10 and qm(-10000, 0.00097656) == -10
    assert qm(INT32_MIN, 0.00001) == -21475 and qm(INT32_MAX, 0.00001) == 21475
    assert qm(10000, -0.00097656) == -10 and qm(-10000, -0.00097656) == 10
    assert qm(INT32_MIN, -0.00001) == 21475 and qm(INT32_MAX, -0.00001) == -21475
    expected = _round_half_away(Fraction(INT32_MAX * INT32_MAX, 2**34))
    assert int(requantize(np.int32(INT32_MAX), np.int32(INT32_MAX), np.int32(-3))) == expected
    assert int(requantize(np.int32(-INT32_MAX), np.int32(INT32_MAX), np.int32(-3))) == -expected


def _round_half_away(q: Fraction) -> int:
    return math.floor(abs(q) + Fraction(1, 2)) * (1 if q >= 0 else -1)


def test_requantize_saturates_the_left_shift_and_the_int32_min_square() -> None:
    one = np.int32(1)
    # acc * 2^2 = 2^32 saturates to INT32_MAX; SRDHM(INT32_MAX, 2^30) = round(2^30 - 0.5) = 2^30
    assert int(requantize(np.int32(2**30), np.int32(2**30), np.int32(2))) == 2**30
    assert int(requantize(np.int32(-(2**30) - 1), np.int32(2**30), np.int32(2))) == -(2**30)
    # INT32_MIN * INT32_MIN: reached directly and after a (non-saturating) left shift
    assert int(requantize(np.int32(INT32_MIN), np.int32(INT32_MIN), np.int32(0))) == INT32_MAX
    assert int(requantize(np.int32(-(2**30)), np.int32(INT32_MIN), one)) == INT32_MAX
    assert int(requantize(np.int32(INT32_MIN), np.int32(INT32_MIN), np.int32(-1))) == 2**30  # 2^30 - 0.5 -> away
    # shifts far above 31 saturate any nonzero accumulator
    assert int(requantize(np.int32(-1), np.int32(2**30), np.int32(100))) == -(2**30)
    assert int(requantize(np.int32(0), np.int32(2**30), np.int32(100))) == 0
    with pytest.raises(ValueError):
        requantize(np.int32(1), np.int32(2**30), np.int32(-32))
    with pytest.raises(ValueError):
        requantize(np.int64(2**31), np.int32(2**30), np.int32(0))


def test_requantize_per_channel_matches_python_integers() -> None:
    rng = np.random.default_rng(4)
    acc = rng.integers(-(2**24), 2**24, (7, 33)).astype(np.int32)
    acc[0, :4] = [INT32_MIN, INT32_MAX, -(2**30), 2**30]
    mult = rng.integers(INT32_MIN, INT32_MAX, 33, endpoint=True).astype(np.int32)
    mult[:2] = INT32_MIN
    shift = rng.integers(-31, 8, 33).astype(np.int32)
    shift[:4] = [0, 5, 1, -31]
    got = requantize(acc, mult, shift)
    for i in range(acc.shape[0]):
        for n in range(acc.shape[1]):
            assert got[i, n] == _tflite_multiply(int(acc[i, n]), int(mult[n]), int(shift[n])), (i, n)


def test_requantize_approximates_the_real_multiplier() -> None:
    rng = np.random.default_rng(5)
    acc = rng.integers(-(2**20), 2**20, 4000).astype(np.int32)
    for r in (1e-6, 3.7e-4, 0.01, 0.3, 0.999, 1.0, 7.3):
        m, s = quantize_multiplier(r)
        got = requantize(acc, np.int32(m), np.int32(s)).astype(np.int64)
        exact = acc.astype(np.float64) * r
        # double rounding (SRDHM, then RoundingDivideByPOT): within one of acc * r, plus the Q31 error
        assert np.all(np.abs(got - exact) <= 1.0 + np.abs(exact) * 2.0**-30)
        # unbiased rounding: mean |error| near 1/4 (double rounding adds a little), mean error near 0
        assert np.mean(np.abs(got - exact)) < 0.35 and abs(np.mean(got - exact)) < 0.05
    # r = 7.5 (M = 15 * 2^27, shift 3): all rounding is SRDHM's, whose halves go towards +inf
    m, s = quantize_multiplier(7.5)
    assert (m, s) == (2013265920, 3)
    assert requantize(np.array([1, -1, 3, -3, 2], np.int32), np.int32(m), np.int32(s)).tolist() == [8, -7, 23, -22, 15]


# ---------------------------------------------------------------------------------------------
# Quantizing activations, weights, biases
# ---------------------------------------------------------------------------------------------

def test_quantize_s8_golden() -> None:
    x = np.array([0.5, 1.5, 2.5, -0.5, -1.5, -2.5, 126.5, 127.5, -127.6, 1e30, -1e30, np.nan, np.inf, -np.inf, -0.0, 3.49], dtype=np.float32)
    want = [0, 2, 2, 0, -2, -2, 126, 127, -127, 127, -127, 0, 127, -127, 0, 3]
    assert quantize_s8(x, 1.0).tolist() == want
    assert quantize_s8(np.array([1.0, -1.0, 0.25], np.float32), 0.5).tolist() == [2, -2, 0]  # 0.5 -> 0 (even)
    assert quantize_s8(np.array([0.75], np.float32), 0.5).tolist() == [2]  # 1.5 -> 2 (even)
    with pytest.raises(ValueError):
        quantize_s8(x, 0.0)
    with pytest.raises(ValueError):
        quantize_s8(x, 1e-46)  # 0 in float32


def test_quantize_s8_multiplies_by_the_float32_inverse() -> None:
    """q uses float32(1/float32(s)) and the float32 product; the float64 ratio x / s would differ."""
    rng = np.random.default_rng(6)
    x = rng.uniform(-2.9, 2.9, 400000).astype(np.float32)  # within the range: no clipping
    s = 0.0234567
    got = quantize_s8(x, s)
    inv = np.float32(1.0) / np.float32(s)
    # a product of two float32 values is exact in float64; one rounding to float32 is the IEEE product
    prod = (x.astype(np.float64) * np.float64(inv)).astype(np.float32)
    want = np.clip(np.rint(prod), -127, 127).astype(np.int8)
    np.testing.assert_array_equal(got, want)
    # near-ties (k + 0.5) * s, a few float32 steps either side: there the float64 ratio x / s
    # rounds differently from the float32 product, so the test tells the two routes apart
    ties = ((np.arange(-127, 127) + 0.5) * s).astype(np.float32)
    near = np.concatenate([ties + d * np.spacing(ties) for d in range(-3, 4)]).astype(np.float32)
    got_near = quantize_s8(near, s)
    prod = (near.astype(np.float64) * np.float64(inv)).astype(np.float32)
    np.testing.assert_array_equal(got_near, np.clip(np.rint(prod), -127, 127).astype(np.int8))
    float64_route = np.clip(np.rint(near.astype(np.float64) / s), -127, 127).astype(np.int8)
    assert np.count_nonzero(float64_route != got_near) > 10
    assert np.all(np.abs(got.astype(np.float64) * np.float32(s) - x) <= np.float32(s) * 0.5001)


def test_quantize_weights_golden_and_bounds() -> None:
    w = np.array([[254.0, 1.0, 3.0, -5.0, 5.0, 7.0, -7.0], [0, 0, 0, 0, 0, 0, 0], [127.0, -127.0, 0.5, 1.5, -2.5, 63.5, 0.0]], dtype=np.float32)
    wq, s = quantize_weights(w)
    assert wq.dtype == np.int8 and s.dtype == np.float64
    assert s.tolist() == [2.0, 1.0, 1.0]
    assert wq.tolist() == [[127, 0, 2, -2, 2, 4, -4], [0] * 7, [127, -127, 0, 2, -2, 64, 0]]
    rng = np.random.default_rng(7)
    w = rng.standard_normal((64, 1, 1, 50)).astype(np.float32) * rng.uniform(0.01, 3, (64, 1, 1, 1)).astype(np.float32)
    wq, s = quantize_weights(w)
    assert wq.shape == (64, 50)
    assert np.all(np.max(np.abs(wq.astype(np.int64)), axis=1) == 127)
    assert np.all(np.abs(wq * s[:, None] - w.reshape(64, 50).astype(np.float64)) <= s[:, None] / 2 * (1 + 1e-12))
    np.testing.assert_array_equal(s, np.max(np.abs(w.reshape(64, 50).astype(np.float64)), axis=1) / 127)
    with pytest.raises(ValueError):
        quantize_weights(np.array([[np.nan, 1.0]]))


def test_quantize_bias_golden() -> None:
    b = np.array([1.5, 2.5, -2.5, -3.5, 1e12, -1e12, 0.0], dtype=np.float32)
    assert quantize_bias(b, 1.0, np.ones(7)).tolist() == [2, 2, -2, -4, INT32_MAX, INT32_MIN, 0]
    # b / (0.5 * 0.25): 1.5 / 0.125 = 12; 0.0625 / 0.125 = 0.5 -> 0; 0.1875 / 0.125 = 1.5 -> 2
    assert quantize_bias(np.array([1.5, 0.0625, 0.1875]), 0.5, np.full(3, 0.25)).tolist() == [12, 0, 2]
    assert quantize_bias(np.array([1.0, 1.0]), 0.1, np.array([0.1, 0.2])).tolist() == [100, 50]
    assert quantize_bias(np.array([1.0]), 0.1, np.array([0.1])).dtype == np.int32


def test_output_scale_and_requant_params() -> None:
    s_w = np.array([0.01, 0.02, 0.0])
    o = output_scale(0.5, s_w)
    assert o.dtype == np.float32 and o.tolist() == [np.float32(0.005), np.float32(0.01), 0.0]
    m, s = requant_params(0.5, np.array([0.01, 0.02, 1e-12]), 0.0025)
    assert m.dtype == np.int32 and s.dtype == np.int32
    assert (int(m[0]), int(s[0])) == quantize_multiplier(0.5 * 0.01 / 0.0025)
    assert (int(m[1]), int(s[1])) == quantize_multiplier(0.5 * 0.02 / 0.0025) == (2**30, 3)
    assert (int(m[2]), int(s[2])) == (0, 0)  # r = 2e-10 < 2^-32: flushed
    assert quantize_multiplier(0.5 * 1e-12 / 0.0025) == (0, 0)


# ---------------------------------------------------------------------------------------------
# GEMMs
# ---------------------------------------------------------------------------------------------

def test_qgemm_acc_matches_python_integers_and_wraps() -> None:
    rng = np.random.default_rng(8)
    a = rng.integers(-127, 128, (2, 5, 37)).astype(np.int8)
    w = rng.integers(-127, 128, (11, 37)).astype(np.int8)
    b = rng.integers(-(2**20), 2**20, 11).astype(np.int32)
    acc = qgemm_acc(a, w, b)
    assert acc.dtype == np.int32 and acc.shape == (2, 5, 11)
    for i in range(2):
        for m in range(5):
            for n in range(11):
                assert acc[i, m, n] == int(b[n]) + sum(int(x) * int(y) for x, y in zip(a[i, m], w[n]))
    np.testing.assert_array_equal(qgemm_acc(a, w, None), acc - b)
    # int32 wrap-around (only an extreme bias reaches it)
    big = qgemm_acc(np.full((1, 2), 127, np.int8), np.full((1, 2), 127, np.int8), np.array([INT32_MAX], np.int32))
    assert int(big[0, 0]) == INT32_MAX + 2 * 127 * 127 - 2**32
    with pytest.raises(TypeError):
        qgemm_acc(a.astype(np.int16), w, b)
    with pytest.raises(ValueError):
        qgemm_acc(a, w[:, :-1], b)
    with pytest.raises(ValueError):
        qgemm_acc(a, w, b.astype(np.int64))


def test_qgemm_f32_is_one_float32_multiply() -> None:
    zeros = np.zeros((1, 3), np.int8)
    w = np.zeros((3, 3), np.int8)
    bias = np.array([2**24 + 1, 2**24 + 3, -(2**24) - 1], np.int32)  # int -> float32 rounds to even
    y = qgemm_f32(zeros, w, bias, np.ones(3, np.float32))
    assert y.dtype == np.float32 and y.tolist() == [[2.0**24, 2.0**24 + 4, -(2.0**24)]]
    # the conversion rounds before the multiply: float32(2^24 + 1) * 3 = 3 * 2^24, while the
    # product of the exact integer, 50331651, would round to 50331652
    y = qgemm_f32(zeros, w, bias, np.full(3, 3.0, np.float32))
    assert y.tolist() == [[3 * 2.0**24, 3 * (2.0**24 + 4), -3 * 2.0**24]]
    rng = np.random.default_rng(9)
    a = rng.integers(-127, 128, (9, 64)).astype(np.int8)
    w = rng.integers(-127, 128, (17, 64)).astype(np.int8)
    b = rng.integers(-(2**28), 2**28, 17).astype(np.int32)  # large enough that int -> float32 rounds
    o = rng.uniform(1e-5, 1e-3, 17).astype(np.float32)
    y = qgemm_f32(a, w, b, o)
    acc = a.astype(np.int64) @ w.astype(np.int64).T + b
    # float32(acc) * o rounded once: float32 x float32 is exact in float64
    want = (acc.astype(np.float32).astype(np.float64) * o.astype(np.float64)).astype(np.float32)
    np.testing.assert_array_equal(y, want)
    with pytest.raises(ValueError):
        qgemm_f32(a, w, b, o.astype(np.float64))


def test_qgemm_s8_clamps_the_requantized_accumulator() -> None:
    rng = np.random.default_rng(10)
    a = rng.integers(-127, 128, (13, 48)).astype(np.int8)
    w = rng.integers(-127, 128, (6, 48)).astype(np.int8)
    b = rng.integers(-3000, 3000, 6).astype(np.int32)
    m, s = requant_params(1.0, np.array([1e-4, 2e-4, 5e-4, 1e-3, 3e-3, 1e-2]), 1.0)
    y = qgemm_s8(a, w, b, m, s)
    assert y.dtype == np.int8 and y.shape == (13, 6)
    acc = a.astype(np.int64) @ w.astype(np.int64).T + b
    want = [[max(-127, min(127, _tflite_multiply(int(acc[i, n]), int(m[n]), int(s[n])))) for n in range(6)] for i in range(13)]
    assert y.tolist() == want
    assert np.any(np.abs(y) == 127) and np.any(np.abs(y) < 127)  # both regimes exercised
    assert not np.any(y == -128)


# ---------------------------------------------------------------------------------------------
# GELU table
# ---------------------------------------------------------------------------------------------

def test_gelu_lut_golden() -> None:
    lut = gelu_lut(0.1, 0.01)
    assert lut.dtype == np.int8 and lut.shape == (256,)
    # x = (i - 128) * 0.1: gelu(1) = 0.841345 -> 84; gelu(0.5) = 0.345731 -> 35; gelu(-0.5) = -0.154269 -> -15;
    # gelu(-1) = -0.158655 -> -16; gelu(0.1) = 0.053983 -> 5; min of gelu is -0.169971 at x = -0.751791
    assert [int(lut[128 + d]) for d in (0, 1, 5, -5, 10, -10, 20)] == [0, 5, 35, -15, 84, -16, 127]
    assert int(lut[0]) == 0 and int(lut[255]) == 127 and int(lut.min()) == -17
    with pytest.raises(ValueError):
        gelu_lut(0.0, 1.0)


def test_gelu_lut_matches_erf_gelu_in_float64() -> None:
    for s_h, s_g in ((0.0437, 0.0311), (0.01, 0.003), (0.2, 0.2), (float(np.float32(0.0523)), float(np.float32(0.0517)))):
        x = (np.arange(256) - 128) * s_h
        g_scipy = x * 0.5 * (1.0 + erf(x * math.sqrt(0.5)))
        g_torch = torch.nn.functional.gelu(torch.from_numpy(x)).numpy()  # float64 exact-erf GELU
        for g in (g_scipy, g_torch):
            want = np.clip(np.rint(g / s_g), -127, 127).astype(np.int8)
            np.testing.assert_array_equal(gelu_lut(s_h, s_g), want)
        assert abs(gelu(1.0) - 0.8413447460685429) < 1e-15


def test_apply_lut_indexes_by_value_plus_128() -> None:
    lut = np.arange(-128, 128).astype(np.int8)[::-1].copy()  # lut[i] = 127 - i
    x = np.array([[-128, -127, 0], [1, 126, 127]], np.int8)
    y = apply_lut(x, lut)
    assert y.dtype == np.int8 and y.tolist() == [[127, 126, -1], [-2, -127, -128]]
    with pytest.raises(ValueError):
        apply_lut(x, lut[:255])


# ---------------------------------------------------------------------------------------------
# Calibration thresholds
# ---------------------------------------------------------------------------------------------

def test_histogram_binning() -> None:
    h = AbsHistogram.from_values(np.array([0.0, -0.5, 1.0, 2.0, -4.0]), bins=4)
    assert h.bin_width == 1.0 and h.counts.tolist() == [2, 1, 1, 1]
    h = AbsHistogram.from_values(np.array([0.0, 0.5, 9.0]), bins=4, max_abs=2.0)  # above the range -> last bin
    assert h.bin_width == 0.5 and h.counts.tolist() == [1, 1, 0, 1]
    for bad in (np.array([1.0, np.nan]), np.array([0.0, 0.0]), np.array([])):
        with pytest.raises(ValueError):
            AbsHistogram.from_values(bad)


def test_minmax_and_percentile() -> None:
    assert threshold_minmax(np.array([0.5, -3.0, 2.0])) == 3.0
    assert threshold_minmax(AbsHistogram(np.array([3, 0, 1, 0], np.int64), 0.25)) == 0.75
    assert threshold_percentile(np.array([1.0, -2.0, 3.0, 4.0]), 50) == 2.5
    assert threshold_percentile(np.array([1.0, -2.0, 3.0, 4.0]), 100) == 4.0
    assert threshold_percentile(AbsHistogram(np.array([5, 3, 2], np.int64), 1.0), 80) == 2.0  # cum 5, 8 >= 8
    assert threshold_percentile(AbsHistogram(np.array([5, 3, 2], np.int64), 1.0), 81) == 3.0
    rng = np.random.default_rng(11)
    x = rng.standard_normal(200000) * 0.7
    h = AbsHistogram.from_values(x)
    for p in (50.0, 99.0, 99.9, 99.99, 100.0):
        t = threshold_percentile(x, p)
        assert t == pytest.approx(float(np.percentile(np.abs(x), p)), rel=0, abs=1e-12)
        assert abs(threshold_percentile(h, p) - t) <= 2 * h.bin_width
    with pytest.raises(ValueError):
        threshold_percentile(x, 0.0)


def test_entropy_hand_computed() -> None:
    h = AbsHistogram(np.array([4, 2, 2], np.int64), 0.5)
    cands, kl = entropy_curve(h, start_bin=2, levels=2)
    assert cands.tolist() == [2, 3]
    # i = 2: P = [.5, .5], Q = [2/3, 1/3]; i = 3: P = [.5, .25, .25], Q = [3/8, 3/8, 1/4]
    assert kl[0] == pytest.approx(0.5 * math.log(0.75) + 0.5 * math.log(1.5), abs=1e-15)
    assert kl[1] == pytest.approx(0.5 * math.log(4 / 3) + 0.25 * math.log(2 / 3), abs=1e-15)
    assert threshold_entropy(h, start_bin=2, levels=2) == 1.5
    # clipped outliers landing in a level without mass: smoothing (eps = 1e-4 counts) keeps KL finite
    h = AbsHistogram(np.array([4, 0, 0, 2], np.int64), 1.0)
    cands, kl = entropy_curve(h, start_bin=2, levels=2)
    e = 1e-4

    def kl_of(p: list[float], q: list[float]) -> float:
        return sum(a / sum(p) * math.log((a / sum(p)) / (b / sum(q))) for a, b in zip(p, q))

    # i = 2: p = [4, 2], q = [4, 0]; i = 3: p = [4, 0, 2], q = [4, 0, 0]; i = 4: p = q
    assert kl[0] == pytest.approx(kl_of([4, 2], [4 - e, e]), rel=1e-12)
    assert kl[1] == pytest.approx(kl_of([4 - e / 2, e, 2 - e / 2], [4 - 2 * e, e, e]), rel=1e-12)
    assert kl[2] == 0.0 and kl[0] > 2.5
    assert threshold_entropy(h, start_bin=2, levels=2) == 4.0
    assert threshold_entropy(h, start_bin=2, levels=2, eps=1.0) == 4.0


def _entropy_naive(h: list[int], start: int, levels: int, eps: float = 1e-4) -> list[float]:
    def smooth(c: list[float]) -> list[float]:
        zeros = sum(1 for v in c if v == 0)
        return [eps if v == 0 else v - eps * zeros / (len(c) - zeros) for v in c]

    out = []
    for i in range(start, len(h) + 1):
        p = [float(v) for v in h[:i]]
        p[-1] += sum(h[i:])
        group = [k * levels // i for k in range(i)]
        q = [0.0] * i
        for j in range(levels):
            members = [k for k in range(i) if group[k] == j]
            mass = sum(h[k] for k in members)
            nonzero = [k for k in members if p[k] > 0]
            for k in nonzero:
                q[k] = mass / len(nonzero)
        p, q = smooth(p), smooth(q)
        sp, sq = sum(p), sum(q)
        out.append(sum(pk / sp * math.log((pk / sp) / (qk / sq)) for pk, qk in zip(p, q)))
    return out


def test_entropy_matches_a_naive_implementation() -> None:
    rng = np.random.default_rng(12)
    x = np.concatenate([rng.standard_normal(30000), rng.standard_normal(30) * 8])
    h = AbsHistogram.from_values(x, bins=300)
    _, kl = entropy_curve(h, start_bin=128, levels=127)
    np.testing.assert_allclose(kl, _entropy_naive(h.counts.tolist(), 128, 127), rtol=1e-9, atol=1e-15)


def test_entropy_clips_outliers_and_keeps_uniform_ranges() -> None:
    rng = np.random.default_rng(13)
    x = np.concatenate([rng.standard_normal(100000), [60.0, -80.0, 100.0]])
    t = threshold_entropy(x)
    h = AbsHistogram.from_values(x)
    assert 4.0 < t < 8.0  # far below max |x| = 100, above the Gaussian's max (about 4.4)
    assert t / h.bin_width == pytest.approx(round(t / h.bin_width), abs=1e-9)  # a bin edge, >= bin 128
    assert t >= 128 * h.bin_width
    u = rng.uniform(-1, 1, 200000)
    assert threshold_entropy(u) > 0.97 * np.max(np.abs(u))


def _mse_naive(h: list[int], w: float, levels: int) -> list[float]:
    n = sum(h)
    out = []
    for i in range(1, len(h) + 1):
        s = i * w / levels
        e = sum(h[k] * s * s / 12 for k in range(i)) + sum(h[k] * (((k + 0.5 - i) * w) ** 2 + w * w / 12) for k in range(i, len(h)))
        out.append(e / n)
    return out


def test_mse_hand_computed_and_naive() -> None:
    h = AbsHistogram(np.array([2, 0, 1], np.int64), 1.0)
    cands, mse = mse_curve(h, levels=1)
    # i = 1: (2 * 1/12 + (1.5^2 + 1/12)) / 3; i = 2: (2 * 4/12 + (0.25 + 1/12)) / 3; i = 3: 3 * 9/12 / 3
    np.testing.assert_allclose(mse, [(2 / 12 + 2.25 + 1 / 12) / 3, (8 / 12 + 0.25 + 1 / 12) / 3, 0.75], rtol=1e-15)
    assert cands.tolist() == [1, 2, 3] and threshold_mse(h, levels=1) == 2.0
    rng = np.random.default_rng(14)
    hist = AbsHistogram.from_values(rng.laplace(size=20000), bins=400)
    _, mse = mse_curve(hist)
    np.testing.assert_allclose(mse, _mse_naive(hist.counts.tolist(), hist.bin_width, 127), rtol=1e-9)


def test_mse_threshold_is_near_the_empirical_optimum() -> None:
    rng = np.random.default_rng(15)
    x = np.concatenate([rng.standard_normal(200000), rng.standard_normal(20) * 15, [300.0]])
    hist = AbsHistogram.from_values(x)
    t = threshold_mse(hist)

    def empirical(thr: float) -> float:
        s = thr / 127
        return float(np.mean((np.clip(np.rint(x / s), -127, 127) * s - x) ** 2))

    grid = np.arange(64, 2049, 4) * hist.bin_width
    best = min(empirical(g) for g in grid)
    assert empirical(t) <= 1.05 * best
    assert t < 0.5 * threshold_minmax(x)
    assert threshold_mse(x) == t  # samples are binned the same way


def test_mse_threshold_of_a_gaussian_matches_the_analytic_optimum() -> None:
    """Continuous optimum of alpha^2 / (12 * 127^2) * P(|x| < alpha) + E[(|x| - alpha)^2; |x| > alpha]
    for a unit Gaussian (ACIQ's 8-bit figure, about 3.92 sigma)."""
    n_bins, top = 2048, 8.0
    edges = np.linspace(0.0, top, n_bins + 1)
    hist = AbsHistogram(np.rint(2 * np.diff(norm.cdf(edges)) * 1e10).astype(np.int64), top / n_bins)
    a = np.linspace(3.0, 5.0, 200001)
    cost = a**2 / (12 * 127**2) * (1 - 2 * norm.sf(a)) + 2 * ((a**2 + 1) * norm.sf(a) - a * norm.pdf(a))
    assert abs(threshold_mse(hist) - a[np.argmin(cost)]) <= hist.bin_width
    assert 3.85 < threshold_mse(hist) < 4.0


# ---------------------------------------------------------------------------------------------
# The committed model's int8 Linears against float64 (within the quantization step)
# ---------------------------------------------------------------------------------------------

def _linear_inputs() -> tuple[dict[str, npt.NDArray[np.float64]], dict[str, npt.NDArray[np.float64]], dict[str, torch.Tensor]]:
    model, _ = load_exported(MODEL)
    golden = load_file(str(GOLDEN))
    x = torch.from_numpy(golden["input.preprocessed"])
    inputs: dict[str, npt.NDArray[np.float64]] = {}
    outputs: dict[str, npt.NDArray[np.float64]] = {}
    hooks = []
    for name in ("blocks.0.attn.qkv", "blocks.0.mlp.fc1", "blocks.1.mlp.fc2"):
        mod = model.encoder.get_submodule(name)

        def hook(m: torch.nn.Module, args: tuple[torch.Tensor, ...], out: torch.Tensor, name: str = name) -> None:
            inputs[name] = args[0].detach().double().numpy()
            outputs[name] = out.detach().double().numpy()

        hooks.append(mod.register_forward_hook(hook))
    with torch.no_grad():
        model.encoder(x)
    for hk in hooks:
        hk.remove()
    patches = x.numpy().reshape(5, 12, 25, 100).reshape(5, 300, 100)
    inputs["patch_embed.proj"] = patches.astype(np.float64)
    with torch.no_grad():
        outputs["patch_embed.proj"] = model.encoder.patch_embed(x).double().numpy()
    params = {k: v.detach() for k, v in model.encoder.state_dict().items()}
    return inputs, outputs, params


def _bound(x: npt.NDArray[np.float64], w: npt.NDArray[np.float64], s_x: float, s_w: npt.NDArray[np.float64], y: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
    """|y_int8 - y_float64| bound of a float-output int8 Linear: per product, input error s_x/2
    (no clipping at the minmax threshold), weight error s_w/2, their product; the bias error
    s_x s_w / 2; three float32 roundings of the result."""
    e_x = s_x / 2 * (1 + 1e-4)  # float32 1/s_x and product: relative 2^-23 of values up to 127.5
    e_w = s_w / 2
    k = x.shape[-1]
    return (e_x * np.abs(w).sum(axis=1) + np.abs(x) @ e_w[None, :].repeat(k, 0) + k * e_x * e_w + s_x * s_w / 2 + 4 * 2.0**-24 * np.abs(y)) * (1 + 1e-9)


def test_int8_linears_of_the_committed_model_within_the_quantization_step() -> None:
    inputs, outputs, params = _linear_inputs()
    for name in ("patch_embed.proj", "blocks.0.attn.qkv", "blocks.0.mlp.fc1", "blocks.1.mlp.fc2"):
        x, y_ref = inputs[name], outputs[name]
        w = params[f"{name}.weight"].double().numpy().reshape(y_ref.shape[-1], -1)
        b = params[f"{name}.bias"].double().numpy()
        y64 = x @ w.T + b
        np.testing.assert_allclose(y64, y_ref, rtol=1e-4, atol=1e-4)  # the hook saw what the model computes
        s_x = float(np.float32(threshold_minmax(x) / 127))  # the F32 input_scale, used everywhere
        wq, s_w = quantize_weights(params[f"{name}.weight"].numpy())
        xq = quantize_s8(x.astype(np.float32), s_x)
        y = qgemm_f32(xq, wq, quantize_bias(b.astype(np.float32), s_x, s_w), output_scale(s_x, s_w))
        err = np.abs(y.astype(np.float64) - y64)
        bound = _bound(x, w.reshape(wq.shape), s_x, s_w, y64)
        assert np.all(err <= bound), (name, float((err / bound).max()))
        assert 0.001 < float(np.mean(err / bound)) < 0.5, name  # quantized (not exact), and not loose

    # fc1 -> int8 -> GELU table -> int8, against GELU of the float64 fc1 output
    x = inputs["blocks.0.mlp.fc1"]
    w = params["blocks.0.mlp.fc1.weight"].double().numpy()
    b = params["blocks.0.mlp.fc1.bias"].double().numpy()
    y64 = x @ w.T + b
    s_x = float(np.float32(threshold_minmax(x) / 127))
    s_h = float(np.float32(threshold_minmax(y64) / 127))
    wq, s_w = quantize_weights(w.astype(np.float32))
    xq = quantize_s8(x.astype(np.float32), s_x)
    m, sh = requant_params(s_x, s_w, s_h)
    hq = qgemm_s8(xq, wq, quantize_bias(b, s_x, s_w), m, sh)
    err_h = np.abs(hq * s_h - y64)
    assert np.all(err_h <= _bound(x, w, s_x, s_w, y64) + s_h * 1.0001), float(err_h.max())
    g_range = max(abs(gelu(v * s_h)) for v in range(-127, 128))
    s_g = float(np.float32(g_range / 127))
    gq = apply_lut(hq, gelu_lut(s_h, s_g))
    g64 = torch.nn.functional.gelu(torch.from_numpy(y64)).numpy()
    # |gelu'| <= 1.13: the table adds half an output step
    assert np.all(np.abs(gq * s_g - g64) <= 1.13 * err_h + s_g * 0.5001)
    np.testing.assert_array_equal(gq, quantize_s8_exact_gelu(hq, s_h, s_g))


def quantize_s8_exact_gelu(hq: npt.NDArray[np.int8], s_h: float, s_g: float) -> npt.NDArray[np.int8]:
    g = torch.nn.functional.gelu(torch.from_numpy(hq.astype(np.float64) * s_h)).numpy()
    return np.clip(np.rint(g / s_g), -127, 127).astype(np.int8)


# ---------------------------------------------------------------------------------------------
# Command line
# ---------------------------------------------------------------------------------------------

def test_layers_command(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    rng = np.random.default_rng(16)
    wf, wi = rng.integers(-127, 128, (24, 16)).astype(np.int8), rng.integers(-127, 128, (32, 16)).astype(np.int8)
    m, s = requant_params(0.02, rng.uniform(1e-3, 2e-3, 32), 0.05)
    tensors: dict[str, npt.NDArray[Any]] = {
        "blocks.0.attn.qkv.input_q": rng.integers(-127, 128, (2, 5, 16)).astype(np.int8),
        "blocks.0.attn.qkv.weight": wf,
        "blocks.0.attn.qkv.bias": rng.integers(-999, 999, 24).astype(np.int32),
        "blocks.0.attn.qkv.output_scale": rng.uniform(1e-4, 1e-3, 24).astype(np.float32),
        "blocks.0.attn.qkv.weight_scale": np.ones(24, np.float32),  # ignored
        "blocks.0.mlp.fc1.input_q": rng.integers(-127, 128, (7, 16)).astype(np.int8),
        "blocks.0.mlp.fc1.weight": wi,
        "blocks.0.mlp.fc1.bias": rng.integers(-999, 999, 32).astype(np.int32),
        "blocks.0.mlp.fc1.requant_multiplier": m,
        "blocks.0.mlp.fc1.requant_shift": s,
        "blocks.0.mlp.act.input_q": rng.integers(-127, 128, (7, 32)).astype(np.int8),
        "blocks.0.mlp.act.lut": gelu_lut(0.05, 0.02),
        "patch_embed.proj.input_q": rng.integers(-127, 128, (3, 16)).astype(np.int8),
        "patch_embed.proj.weight": wf,
        "patch_embed.proj.output_scale": np.full(24, 0.5, np.float32),  # no bias
    }
    src, dst = tmp_path / "in.safetensors", tmp_path / "out" / "out.safetensors"
    save_file(tensors, str(src))
    assert main(["layers", str(src), str(dst)]) == 0
    out = load_file(str(dst))
    assert set(out) == {"blocks.0.attn.qkv.output", "blocks.0.mlp.fc1.output", "blocks.0.mlp.act.output", "patch_embed.proj.output"}
    t = tensors
    qkv = out["blocks.0.attn.qkv.output"]
    assert qkv.dtype == np.float32 and qkv.shape == (2, 5, 24)
    np.testing.assert_array_equal(qkv, qgemm_f32(t["blocks.0.attn.qkv.input_q"], wf, t["blocks.0.attn.qkv.bias"], t["blocks.0.attn.qkv.output_scale"]))
    fc1 = out["blocks.0.mlp.fc1.output"]
    assert fc1.dtype == np.int8 and fc1.shape == (7, 32)
    np.testing.assert_array_equal(fc1, qgemm_s8(t["blocks.0.mlp.fc1.input_q"], wi, t["blocks.0.mlp.fc1.bias"], m, s))
    act = out["blocks.0.mlp.act.output"]
    np.testing.assert_array_equal(act, apply_lut(t["blocks.0.mlp.act.input_q"], t["blocks.0.mlp.act.lut"]))
    pe = out["patch_embed.proj.output"]
    np.testing.assert_array_equal(pe, qgemm_acc(t["patch_embed.proj.input_q"], wf, None).astype(np.float32) * np.float32(0.5))
    assert "blocks.0.mlp.fc1.output: int8 [7, 32]" in capsys.readouterr().out


@pytest.mark.parametrize(
    "change, message",
    [
        ({"L.output_scale": None}, "need either L.output_scale or"),
        ({"L.requant_multiplier": np.zeros(4, np.int32), "L.requant_shift": np.zeros(4, np.int32)}, "exactly one"),
        ({"L.weight": np.zeros((4, 8), np.int16)}, "'L.weight' has dtype int16; expected int8"),
        ({"L.bias": np.zeros(5, np.int32)}, "'L.bias' has shape \\[5\\]; expected \\[4\\]"),
        ({"L.input_q": np.zeros((3, 9), np.int8)}, "expected \\[..., 8\\]"),
        ({"L.weight": None}, "neither L.lut nor L.weight"),
        ({"L.output_scale": np.zeros(4, np.float64)}, "expected float32"),
    ],
)
def test_layers_command_refuses_bad_inputs(tmp_path: Path, capsys: pytest.CaptureFixture[str], change: dict[str, npt.NDArray[np.generic] | None], message: str) -> None:
    tensors: dict[str, npt.NDArray[np.generic]] = {
        "L.input_q": np.zeros((3, 8), np.int8), "L.weight": np.zeros((4, 8), np.int8),
        "L.bias": np.zeros(4, np.int32), "L.output_scale": np.ones(4, np.float32),
    }
    for k, v in change.items():
        if v is None:
            del tensors[k]
        else:
            tensors[k] = v
    with pytest.raises(ValueError, match=message):
        run_layers(tensors)
    src = tmp_path / "in.safetensors"
    save_file(tensors, str(src))
    assert main(["layers", str(src), str(tmp_path / "out.safetensors")]) == 1
    assert "error:" in capsys.readouterr().err
    assert not (tmp_path / "out.safetensors").exists()


def test_thresholds_command(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    import json

    rng = np.random.default_rng(17)
    x = np.concatenate([rng.standard_normal(50000), [40.0]]).astype(np.float32)
    hist = AbsHistogram.from_values(rng.laplace(size=30000), bins=1024)
    src, dst = tmp_path / "acts.safetensors", tmp_path / "thresholds.json"
    save_file({
        "blocks.0.attn.qkv": x,
        "blocks.0.mlp.fc2.abs_histogram": hist.counts,
        "blocks.0.mlp.fc2.bin_width": np.array([hist.bin_width]),
    }, str(src))
    assert main(["thresholds", str(src), str(dst), "--percentile", "99.9"]) == 0
    report = json.loads(dst.read_text())
    assert set(report) == {"blocks.0.attn.qkv", "blocks.0.mlp.fc2"}
    qkv, fc2 = report["blocks.0.attn.qkv"], report["blocks.0.mlp.fc2"]
    assert qkv == {
        "bins": 2048, "bin_width": 40.0 / 2048, "minmax": 40.0, "percentile_99.9": threshold_percentile(x, 99.9),
        "entropy": threshold_entropy(x), "mse": threshold_mse(x),
    }
    assert fc2["bins"] == 1024 and fc2["entropy"] == threshold_entropy(hist) and fc2["mse"] == threshold_mse(hist)
    assert fc2["percentile_99.9"] == threshold_percentile(hist, 99.9) and fc2["minmax"] == threshold_minmax(hist)
    assert qkv["entropy"] < 10 and "blocks.0.attn.qkv: minmax 40" in capsys.readouterr().out
    save_file({"a.abs_histogram": hist.counts}, str(src))
    assert main(["thresholds", str(src), str(dst)]) == 1
    assert "needs a float a.bin_width" in capsys.readouterr().err


# --- the int8 attention core ---------------------------------------------------------------


def test_quantize_rows_and_dynamic_scale() -> None:
    from ventriq_training.int8_reference import dynamic_scale, quantize_rows

    x = np.array([[0.5, -2.0, 1.0], [0.0, 0.0, 0.0], [np.nan, 3.0, -1.5]], dtype=np.float32)
    q, s = quantize_rows(x)
    assert s.tolist() == [np.float32(2.0) / np.float32(127), 0.0, np.float32(3.0) / np.float32(127)]
    assert q.tolist() == [[32, -127, 64], [0, 0, 0], [0, 127, -64]]  # 31.75 -> 32, 63.5 -> 64 (half to even)
    assert dynamic_scale(float("inf")) == (0.0, 0.0) and dynamic_scale(0.0) == (0.0, 0.0)


def test_softmax_split8_rows() -> None:
    from ventriq_training.int8_reference import softmax_split8

    rng = np.random.default_rng(3)
    x = rng.uniform(-20, 20, size=(6, 41)).astype(np.float32)
    a = np.array([0.0, 0.1, 0.3, 1.0, 2.0, 0.05], dtype=np.float32)
    hi, lo, sums = softmax_split8(x, a)
    assert hi.min() >= 0 and hi.max() <= 255 and np.abs(lo).max() <= 127 and (hi.max(axis=1) == 255).all()
    assert (hi[0] == 255).all() and (lo[0] == 0).all()
    np.testing.assert_array_equal(sums, (hi.sum(axis=1).astype(np.float32) + lo.sum(axis=1).astype(np.float32) / np.float32(254)))
    exact = 255 * np.exp((x.astype(np.float64) - x.max(axis=1, keepdims=True)) * a[:, None])
    assert np.abs(hi + lo / 254 - exact).max() <= 0.5 / 254 + 1e-4


def test_attention_s8_close_to_float_attention() -> None:
    """Against torch's float attention on the same qkv: the int8 error is a small fraction of max|V|."""
    from ventriq_training.int8_reference import attention_s8

    rng = np.random.default_rng(11)
    t, d, heads = 300, 96, 3
    qkv = rng.normal(0, 1, size=(t, 3 * d)).astype(np.float32)
    out = attention_s8(qkv, heads)
    x = torch.from_numpy(qkv).reshape(t, 3, heads, d // heads).permute(1, 2, 0, 3)
    ref = torch.nn.functional.scaled_dot_product_attention(x[0], x[1], x[2]).permute(1, 0, 2).reshape(t, d).numpy()
    vmax = float(np.abs(qkv[:, 2 * d:]).max())
    err = np.abs(out - ref)
    assert out.shape == (t, d) and out.dtype == np.float32
    assert err.mean() < 1e-3 * vmax and err.max() < 3e-2 * vmax


def test_layers_command_runs_attention_cores(tmp_path: Path) -> None:
    from ventriq_training.int8_reference import attention_s8

    rng = np.random.default_rng(5)
    qkv = rng.normal(size=(7, 36)).astype(np.float32)
    src, dst = tmp_path / "in.safetensors", tmp_path / "out.safetensors"
    save_file({"blocks.0.attn.core.qkv": qkv, "blocks.0.attn.core.heads": np.array([2], dtype=np.int32)}, str(src))
    assert main(["layers", str(src), str(dst)]) == 0
    assert np.array_equal(load_file(str(dst))["blocks.0.attn.core.output"], attention_s8(qkv, 2))
    with pytest.raises(ValueError, match="heads dividing D"):
        attention_s8(qkv, 5)
