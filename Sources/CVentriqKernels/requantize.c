/*
 * requantize.c: THE fixed-point requantization math of the int8 scheme (docs/QUANTIZATION.md),
 * shared by the runtime (vq_ref_qgemm_packed_s8 and, bit for bit, every SIMD epilogue) and the
 * quantizer (vq_quantize_multiplier): gemmlowp's SaturatingRoundingDoublingHighMul and
 * RoundingDivideByPOT, and TFLite's QuantizeMultiplier. Contracts in vq_kernels.h.
 */
#include "vq_internal.h"

#include <math.h>
#include <stdint.h>

/* gemmlowp SaturatingRoundingDoublingHighMul. */
static int32_t srdhm(int32_t a, int32_t b) {
    if (a == INT32_MIN && b == INT32_MIN) return INT32_MAX;
    const int64_t ab = (int64_t)a * (int64_t)b;
    const int64_t nudge = ab >= 0 ? ((int64_t)1 << 30) : 1 - ((int64_t)1 << 30);
    return (int32_t)((ab + nudge) / ((int64_t)1 << 31)); /* C division: truncates toward zero */
}

/* gemmlowp RoundingDivideByPOT, 0 <= exponent <= 31 (arithmetic right shift of negatives, as
 * every compiler this builds with does). */
static int32_t rounding_divide_by_pot(int32_t x, int exponent) {
    const int32_t mask = (int32_t)(((int64_t)1 << exponent) - 1);
    const int32_t remainder = x & mask;
    const int32_t threshold = (mask >> 1) + (x < 0 ? 1 : 0);
    return (x >> exponent) + (remainder > threshold ? 1 : 0);
}

int32_t vq_requantize(int32_t acc, int32_t multiplier, int32_t shift) {
    const int32_t s = shift < -31 ? -31 : shift > 31 ? 31 : shift;
    const int left = s > 0 ? s : 0, right = s > 0 ? 0 : -s;
    int64_t wide = (int64_t)acc * ((int64_t)1 << left); /* |acc| 2^31 <= 2^62: no overflow */
    const int32_t x = wide > INT32_MAX ? INT32_MAX : wide < INT32_MIN ? INT32_MIN : (int32_t)wide;
    return rounding_divide_by_pot(srdhm(x, multiplier), right);
}

void vq_quantize_multiplier(double real_multiplier, int32_t *multiplier, int32_t *shift) {
    /* 0, negative (invalid) and NaN (the comparison is false) all give (0, 0) */
    if (!(real_multiplier > 0)) {
        *multiplier = 0;
        *shift = 0;
        return;
    }
    if (isinf(real_multiplier)) {
        *multiplier = INT32_MAX;
        *shift = 30;
        return;
    }
    int e = 0;
    const double f = frexp(real_multiplier, &e); /* f in [0.5, 1) */
    long long q = llround(f * (double)(1ll << 31));
    if (q == (1ll << 31)) { /* f rounded up to 1: carry into the exponent */
        q /= 2;
        e++;
    }
    if (e < -31) { /* smaller than 2^-32: requantizes everything to 0 */
        e = 0;
        q = 0;
    }
    if (e > 30) { /* too large for a Q31 multiplier with left shift <= 30: saturate */
        e = 30;
        q = (1ll << 31) - 1;
    }
    *multiplier = (int32_t)q;
    *shift = e;
}
