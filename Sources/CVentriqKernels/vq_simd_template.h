/*
 * vq_simd_template.h: the SIMD kernels written once over a small vector vocabulary, included
 * by each ISA file (kernels_x86.c twice: AVX2 and AVX-512; kernels_neon.c once) after it
 * defines that vocabulary and its GEMM microkernel. Not a public header; it has no include
 * guard on purpose and #undefs the vocabulary at the end.
 *
 * The including file defines:
 *   VQ_SFX, VQ_ISA_ID, VQ_ISA_NAME  name suffix (avx2), VQ_ISA_* id, table name string
 *   VQ_TARGET                      function attribute enabling the ISA (or nothing)
 *   VQ_W                           float lanes per vector
 *   vq_v, vq_vi, vq_m              float vector, int32 vector, comparison mask types
 *   V_LOAD(p) V_STORE(p, v)        unaligned load / store of VQ_W floats
 *   V_SET1(x) V_ZERO()
 *   V_ADD V_SUB V_MUL V_DIV(a, b)
 *   V_FMA(a, b, c)  = a * b + c    V_FNMA(a, b, c) = c - a * b   (single rounding)
 *   V_MIN V_MAX(a, b)              (only used where no NaN can reach them or it is repaired)
 *   V_ABS(a) V_SIGN(a) V_OR(a, b)  |a|, a's sign bit alone, bitwise or
 *   V_ROUND(a)                     round to nearest even
 *   V_TO_I(a)                      float holding an integer -> int32
 *   V_RTOI(a)                      any float -> int32, rounded to nearest even (whatever MXCSR says)
 *   VI_TO_V(a)                     int32 -> float
 *   VI_ADD VI_SUB(a, b) VI_SRAI1(a) VI_SHL23(a) VI_SET1(i) VI_AS_V(a)
 *   M_LT M_GT(a, b) M_NAN(a)       lane masks
 *   V_SELECT(m, a, b)              m ? a : b per lane
 *   VI_STORE_S8(p, a)              store VQ_W int32 lanes (each in [-128, 127]) as VQ_W int8
 *   V_SCALE2N(p, n) (optional)     p * 2^n for integer-valued n in [-126, 127] (default: through
 *                                  the exponent bits of 2^n and one multiply; both exact)
 *   VQ_FN(hsum)(v) VQ_FN(hmax)(v)  horizontal sum / max (functions)
 *   VQ_INT8_MEMBERS                the int8 members of the table (designated initializers)
 *   VQ_VARIANT_SFX, VQ_VARIANT_ID, VQ_VARIANT_NAME, VQ_VARIANT_INT8_MEMBERS (optional): a second
 *                                  table vq_table_<VQ_VARIANT_SFX> with the same float kernels
 *                                  and other int8 kernels (avx512_vnni, avx_vnni, neon_dotprod)
 *   VQ_MR, VQ_FN(ukr)              microkernel rows and the microkernel:
 *     void ukr(int kc, const float *a, ptrdiff_t lda, int mr, const float *b, ptrdiff_t ldb,
 *              float *c, ptrdiff_t ldc, int nr, float alpha, const float *bias, int accumulate)
 *     computes acc[i][j] = sum_{k<kc} a[i*lda + k] * b[k*ldb + j] for i < VQ_MR, j < 16
 *     (rows i >= mr read row 0 instead; b has 16 readable columns), then for i < mr, j < nr:
 *     r = acc * alpha; if (bias) r = r + bias[j]; if (accumulate) r = c + r; c[i*ldc + j] = r
 *     (vq_gemm_edge_epilogue for partial tiles).
 */

/* ------------------------------------------------------------------------------------------ */
/* Partial vectors (tails): through a small stack buffer, so tails run the same vector code   */
/* ------------------------------------------------------------------------------------------ */

VQ_TARGET static inline vq_v VQ_FN(load_part)(const float *p, int n, float fill) {
    VQ_ALIGNED float buf[VQ_W];
    for (int i = 0; i < VQ_W; i++) buf[i] = i < n ? p[i] : fill;
    return V_LOAD(buf);
}

VQ_TARGET static inline void VQ_FN(store_part)(float *p, int n, vq_v v) {
    VQ_ALIGNED float buf[VQ_W];
    V_STORE(buf, v);
    for (int i = 0; i < n; i++) p[i] = buf[i];
}

/* ------------------------------------------------------------------------------------------ */
/* exp and erf                                                                                */
/* ------------------------------------------------------------------------------------------ */

/* exp(r) for the reduced argument: n = round(x / ln 2), r = x - n ln 2 (two-constant
 * Cody-Waite, |r| <= ln2 / 2), exp(r) = 1 + r + r^2 P(r) (Cephes expf coefficients, about
 * 1 ulp). Returns exp(r) and n (as a float holding an integer). */
VQ_TARGET static inline vq_v VQ_FN(v_exp_reduced)(vq_v x, vq_v *n_out) {
    vq_v n = V_ROUND(V_MUL(x, V_SET1(1.44269504088896341f)));
    vq_v r = V_FNMA(n, V_SET1(0.693359375f), x);
    r = V_FNMA(n, V_SET1(-2.12194440e-4f), r);
    vq_v p = V_SET1(1.9875691500e-4f);
    p = V_FMA(p, r, V_SET1(1.3981999507e-3f));
    p = V_FMA(p, r, V_SET1(8.3334519073e-3f));
    p = V_FMA(p, r, V_SET1(4.1665795894e-2f));
    p = V_FMA(p, r, V_SET1(1.6666665459e-1f));
    p = V_FMA(p, r, V_SET1(5.0000001201e-1f));
    *n_out = n;
    return V_ADD(V_FMA(p, V_MUL(r, r), r), V_SET1(1.0f));
}

/*
 * exp(x) for every float: the reduced exp times 2^n applied in two exact power-of-two steps
 * 2^(n >> 1) * 2^(n - (n >> 1)) so that subnormal results get a single rounding. x is clamped
 * to [-104, ln(FLT_MAX)]: below, the result rounds to 0; above, +inf; NaN passes through.
 */
VQ_TARGET static inline vq_v VQ_FN(v_exp)(vq_v x) {
    const vq_v hi = V_SET1(88.72283935546875f); /* first float with exp(x) > FLT_MAX */
    vq_v n;
    vq_v y = VQ_FN(v_exp_reduced)(V_MIN(V_MAX(x, V_SET1(-104.0f)), hi), &n);
    vq_vi ni = V_TO_I(n);
    vq_vi n1 = VI_SRAI1(ni);
    vq_vi n2 = VI_SUB(ni, n1);
    vq_v s1 = VI_AS_V(VI_SHL23(VI_ADD(n1, VI_SET1(127))));
    vq_v s2 = VI_AS_V(VI_SHL23(VI_ADD(n2, VI_SET1(127))));
    y = V_MUL(V_MUL(y, s1), s2);
    y = V_SELECT(M_GT(x, hi), V_SET1(__builtin_inff()), y);
    return V_SELECT(M_NAN(x), x, y);
}

/* exp(x) for -87 <= x <= 88 (normal results), no special cases: one scaling step. */
VQ_TARGET static inline vq_v VQ_FN(v_exp_normal)(vq_v x) {
    vq_v n;
    vq_v y = VQ_FN(v_exp_reduced)(x, &n);
    return V_MUL(y, VI_AS_V(VI_SHL23(VI_ADD(V_TO_I(n), VI_SET1(127)))));
}

/*
 * erf(x), a = |x|:
 *   a < 0.875:      a * P(a^2), P of degree 5
 *   0.875 <= a < 4: 1 - exp(-a^2) * R(u), u = (a - 2.4375) / 1.5625, R of degree 8 fitting
 *                   erfc(a) exp(a^2)
 *   a >= 4:         a is clamped to 4, where 1 - erfc(4) rounds to exactly 1
 * then the sign of x is copied back (erf(-0) = -0) and NaN passes through. Both polynomials
 * are near-minimax for the absolute error of erf with float32 coefficients
 * (Tests/kernels-c/fit_erf.py): about 6.5e-8 evaluated in float32; the difference from
 * libm erff over every float in [-10, 10] measured 5.96e-8 (test_kernels --exhaustive-erf).
 */
VQ_TARGET static inline vq_v VQ_FN(v_erf)(vq_v x) {
    vq_v a = V_ABS(x);
    /* small: a * P(a^2) */
    vq_v s = V_MUL(a, a);
    vq_v p = V_SET1(-6.016571424e-04f);
    p = V_FMA(p, s, V_SET1(4.993323237e-03f));
    p = V_FMA(p, s, V_SET1(-2.676201425e-02f));
    p = V_FMA(p, s, V_SET1(1.128147691e-01f));
    p = V_FMA(p, s, V_SET1(-3.761241734e-01f));
    p = V_FMA(p, s, V_SET1(1.128379107e+00f));
    vq_v small = V_MUL(a, p);
    /* large: 1 - exp(-a^2) R((a - 2.4375) / 1.5625) */
    vq_v ac = V_MIN(a, V_SET1(4.0f));
    vq_v u = V_FMA(ac, V_SET1(0.639999986f), V_SET1(-1.55999994f));
    vq_v q = V_SET1(5.072538275e-03f);
    q = V_FMA(q, u, V_SET1(7.973989472e-03f));
    q = V_FMA(q, u, V_SET1(1.127155032e-02f));
    q = V_FMA(q, u, V_SET1(-6.061672233e-03f));
    q = V_FMA(q, u, V_SET1(1.474247500e-02f));
    q = V_FMA(q, u, V_SET1(-3.383034468e-02f));
    q = V_FMA(q, u, V_SET1(6.457445771e-02f));
    q = V_FMA(q, u, V_SET1(-1.211778373e-01f));
    q = V_FMA(q, u, V_SET1(2.155546844e-01f));
    vq_v e = VQ_FN(v_exp_normal)(V_SUB(V_ZERO(), V_MUL(ac, ac))); /* in [-16, 0] */
    vq_v large = V_FNMA(e, q, V_SET1(1.0f));
    vq_v r = V_SELECT(M_LT(a, V_SET1(0.875f)), small, large);
    r = V_OR(r, V_SIGN(x));
    return V_SELECT(M_NAN(x), x, r);
}

/* GELU: (0.5 x) (1 + erf(x / sqrt 2)), the reference's operations with the vector erf. */
VQ_TARGET static inline vq_v VQ_FN(v_gelu)(vq_v x) {
    vq_v z = V_MUL(x, V_SET1(0.70710678118654752440f));
    vq_v e = VQ_FN(v_erf)(z);
    return V_MUL(V_MUL(V_SET1(0.5f), x), V_ADD(V_SET1(1.0f), e));
}

#define VQ_MAP_INPLACE(fname, vfun)                                                               \
    VQ_TARGET static void VQ_FN(fname)(int n, float *x) {                                        \
        int i = 0;                                                                               \
        for (; i + VQ_W <= n; i += VQ_W) V_STORE(x + i, VQ_FN(vfun)(V_LOAD(x + i)));              \
        if (i < n) VQ_FN(store_part)(x + i, n - i, VQ_FN(vfun)(VQ_FN(load_part)(x + i, n - i, 0.0f))); \
    }

VQ_MAP_INPLACE(exp, v_exp)
VQ_MAP_INPLACE(erf, v_erf)
VQ_MAP_INPLACE(gelu_erf, v_gelu)
#undef VQ_MAP_INPLACE

/* ------------------------------------------------------------------------------------------ */
/* Residual add, mean over rows (both bit-identical to the reference)                          */
/* ------------------------------------------------------------------------------------------ */

VQ_TARGET static void VQ_FN(add)(int n, const float *a, const float *b, float *y) {
    int i = 0;
    for (; i + VQ_W <= n; i += VQ_W) V_STORE(y + i, V_ADD(V_LOAD(a + i), V_LOAD(b + i)));
    for (; i < n; i++) y[i] = a[i] + b[i];
}

VQ_TARGET static void VQ_FN(mean_rows)(int rows, int cols, const float *x, int ldx, float *y) {
    const vq_v vr = V_SET1((float)rows);
    int j = 0;
    for (; j + VQ_W <= cols; j += VQ_W) {
        vq_v s = V_ZERO();
        for (int i = 0; i < rows; i++) s = V_ADD(s, V_LOAD(x + (ptrdiff_t)i * ldx + j));
        V_STORE(y + j, V_DIV(s, vr));
    }
    for (; j < cols; j++) {
        float s = 0.0f;
        for (int i = 0; i < rows; i++) s += x[(ptrdiff_t)i * ldx + j];
        y[j] = s / (float)rows;
    }
}

/* ------------------------------------------------------------------------------------------ */
/* LayerNorm and softmax                                                                      */
/* ------------------------------------------------------------------------------------------ */

VQ_TARGET static void VQ_FN(layernorm)(int rows, int cols, const float *x, int ldx, const float *gamma,
                                       const float *beta, float eps, float *y, int ldy) {
    if (cols <= 0) return;
    const int body = cols - cols % VQ_W, tail = cols - body;
    for (int r = 0; r < rows; r++) {
        const float *xr = x + (ptrdiff_t)r * ldx;
        float *yr = y + (ptrdiff_t)r * ldy;
        vq_v s0 = V_ZERO(), s1 = V_ZERO();
        int j = 0;
        for (; j + 2 * VQ_W <= body; j += 2 * VQ_W) {
            s0 = V_ADD(s0, V_LOAD(xr + j));
            s1 = V_ADD(s1, V_LOAD(xr + j + VQ_W));
        }
        if (j < body) s0 = V_ADD(s0, V_LOAD(xr + j));
        if (tail) s1 = V_ADD(s1, VQ_FN(load_part)(xr + body, tail, 0.0f));
        const float mean = VQ_FN(hsum)(V_ADD(s0, s1)) / (float)cols;
        const vq_v vm = V_SET1(mean);
        s0 = V_ZERO();
        s1 = V_ZERO();
        for (j = 0; j + 2 * VQ_W <= body; j += 2 * VQ_W) {
            vq_v d0 = V_SUB(V_LOAD(xr + j), vm), d1 = V_SUB(V_LOAD(xr + j + VQ_W), vm);
            s0 = V_FMA(d0, d0, s0);
            s1 = V_FMA(d1, d1, s1);
        }
        if (j < body) {
            vq_v d0 = V_SUB(V_LOAD(xr + j), vm);
            s0 = V_FMA(d0, d0, s0);
        }
        if (tail) {
            vq_v d1 = V_SUB(VQ_FN(load_part)(xr + body, tail, mean), vm); /* padding: d = 0 */
            s1 = V_FMA(d1, d1, s1);
        }
        const float var = VQ_FN(hsum)(V_ADD(s0, s1)) / (float)cols;
        const vq_v vrstd = V_SET1(1.0f / sqrtf(var + eps));
        for (j = 0; j < body; j += VQ_W) {
            vq_v n = V_MUL(V_SUB(V_LOAD(xr + j), vm), vrstd);
            V_STORE(yr + j, V_FMA(n, V_LOAD(gamma + j), V_LOAD(beta + j)));
        }
        if (tail) {
            vq_v n = V_MUL(V_SUB(VQ_FN(load_part)(xr + body, tail, 0.0f), vm), vrstd);
            vq_v g = VQ_FN(load_part)(gamma + body, tail, 0.0f);
            vq_v b = VQ_FN(load_part)(beta + body, tail, 0.0f);
            VQ_FN(store_part)(yr + body, tail, V_FMA(n, g, b));
        }
    }
}

VQ_TARGET static void VQ_FN(softmax_rows)(int rows, int cols, float *x, int ld) {
    if (cols <= 0) return;
    const int body = cols - cols % VQ_W, tail = cols - body;
    const float ninf = -__builtin_inff();
    for (int r = 0; r < rows; r++) {
        float *xr = x + (ptrdiff_t)r * ld;
        vq_v m = V_SET1(ninf);
        for (int j = 0; j < body; j += VQ_W) m = V_MAX(m, V_LOAD(xr + j));
        if (tail) m = V_MAX(m, VQ_FN(load_part)(xr + body, tail, ninf));
        const vq_v vmax = V_SET1(VQ_FN(hmax)(m));
        vq_v s0 = V_ZERO(), s1 = V_ZERO();
        int j = 0;
        for (; j + 2 * VQ_W <= body; j += 2 * VQ_W) {
            vq_v e0 = VQ_FN(v_exp)(V_SUB(V_LOAD(xr + j), vmax));
            vq_v e1 = VQ_FN(v_exp)(V_SUB(V_LOAD(xr + j + VQ_W), vmax));
            V_STORE(xr + j, e0);
            V_STORE(xr + j + VQ_W, e1);
            s0 = V_ADD(s0, e0);
            s1 = V_ADD(s1, e1);
        }
        if (j < body) {
            vq_v e0 = VQ_FN(v_exp)(V_SUB(V_LOAD(xr + j), vmax));
            V_STORE(xr + j, e0);
            s0 = V_ADD(s0, e0);
        }
        if (tail) { /* padding -inf: exp gives 0 */
            vq_v e1 = VQ_FN(v_exp)(V_SUB(VQ_FN(load_part)(xr + body, tail, ninf), vmax));
            VQ_FN(store_part)(xr + body, tail, e1);
            s1 = V_ADD(s1, e1);
        }
        const float inv = 1.0f / VQ_FN(hsum)(V_ADD(s0, s1));
        const vq_v vinv = V_SET1(inv);
        for (j = 0; j < body; j += VQ_W) V_STORE(xr + j, V_MUL(V_LOAD(xr + j), vinv));
        for (j = body; j < cols; j++) xr[j] = xr[j] * inv;
    }
}

/* ------------------------------------------------------------------------------------------ */
/* Attention's int8 pieces: per-row dynamic quantization, softmax to int8 probabilities        */
/* ------------------------------------------------------------------------------------------ */

/* vq_quantize_s8's element operation on a vector (NaN -> 0, clamp, round half to even). */
VQ_TARGET static inline vq_v VQ_FN(v_q127)(vq_v p) {
    p = V_SELECT(M_NAN(p), V_ZERO(), p);
    return V_ROUND(V_MIN(V_MAX(p, V_SET1(-127.0f)), V_SET1(127.0f)));
}

/* The first n (< VQ_W) lanes of a vector of integer-valued floats, minus `offset`, as int8;
 * returns the sum of the lanes (before the offset). */
VQ_TARGET static inline int32_t VQ_FN(store_part_s8)(int8_t *p, int n, vq_v v, int32_t offset) {
    VQ_ALIGNED float buf[VQ_W];
    V_STORE(buf, v);
    int32_t sum = 0;
    for (int i = 0; i < n; i++) {
        p[i] = (int8_t)((int32_t)buf[i] - offset);
        sum += (int32_t)buf[i];
    }
    return sum;
}

VQ_TARGET static void VQ_FN(quantize_rows_s8)(int rows, int cols, const float *x, int ldx, int8_t *y, int ldy,
                                              float *scale) {
    const int body = cols - cols % VQ_W, tail = cols - body;
    for (int r = 0; r < rows; r++) {
        const float *xr = x + (ptrdiff_t)r * ldx;
        int8_t *yr = y + (ptrdiff_t)r * ldy;
        vq_v m = V_ZERO();
        for (int j = 0; j < body; j += VQ_W) {
            const vq_v a = V_ABS(V_LOAD(xr + j));
            m = V_MAX(m, V_SELECT(M_NAN(a), V_ZERO(), a));
        }
        if (tail) {
            const vq_v a = V_ABS(VQ_FN(load_part)(xr + body, tail, 0.0f));
            m = V_MAX(m, V_SELECT(M_NAN(a), V_ZERO(), a));
        }
        float inv;
        vq_dynamic_scale(cols > 0 ? VQ_FN(hmax)(m) : 0.0f, &scale[r], &inv);
        const vq_v vinv = V_SET1(inv);
        for (int j = 0; j < body; j += VQ_W) VI_STORE_S8(yr + j, V_TO_I(VQ_FN(v_q127)(V_MUL(V_LOAD(xr + j), vinv))));
        if (tail) VQ_FN(store_part_s8)(yr + body, tail, VQ_FN(v_q127)(V_MUL(VQ_FN(load_part)(xr + body, tail, 0.0f), vinv)), 0);
    }
}

#ifndef V_SCALE2N
#define V_SCALE2N(p, n) V_MUL((p), VI_AS_V(VI_SHL23(VI_ADD(V_TO_I(n), VI_SET1(127)))))
#endif

/*
 * 255 * 2^y for y <= 0, at most 255 * (1 + 3e-6): y = n + f (n = round(y), |f| <= 1/2), 2^f by a
 * degree-4 polynomial fitted for least maximum relative error on [-1/2, 1/2] (2.6e-6; 2.7e-6
 * evaluated in float32, below the degree-5 Taylor polynomial's 3e-6 with one FMA less), the
 * factor 255 folded into the coefficients, then times 2^n (V_SCALE2N). y below -30 gives about
 * 0. No clamp to 255: above 255 only by the polynomial's error (< 0.001), where rint gives 255
 * and the low plane 0, the bits the clamp would give.
 */
VQ_TARGET static inline vq_v VQ_FN(v_exp2_255)(vq_v y) {
    y = V_MAX(y, V_SET1(-30.0f));
    const vq_v n = V_ROUND(y);
    const vq_v f = V_SUB(y, n);
    vq_v p = V_SET1(255.0f * 9.570068876625011e-3f);
    p = V_FMA(p, f, V_SET1(255.0f * 5.5917808475343354e-2f));
    p = V_FMA(p, f, V_SET1(255.0f * 2.4024745057296823e-1f));
    p = V_FMA(p, f, V_SET1(255.0f * 6.931218212643266e-1f));
    p = V_FMA(p, f, V_SET1(255.0f * 9.999992615692183e-1f));
    return V_SCALE2N(p, n);
}

/* One vector of the split: P's two planes stored at hr / lr, h added to sh (float) and l to sl
 * (int32: l is rounded straight to an integer, one conversion less). With `masked` (a literal 0
 * or 1), lanes where `keep` is false add nothing: the overlapping last vector of a row, whose l
 * goes to the float sum slf. p - h is exact (|p - h| <= 1/2); sums of integers below 2^24 are
 * exact. */
#define VQ_SPLIT8_STEP(xv, hr, lr, masked, keep)                                                   \
    do {                                                                                           \
        const vq_v split_p = VQ_FN(v_exp2_255)(V_FMA((xv), vc, vmc));                              \
        const vq_vi split_hi = V_RTOI(split_p);                                                    \
        const vq_v split_h = VI_TO_V(split_hi);                                                    \
        const vq_vi split_li = V_RTOI(V_MUL(V_SUB(split_p, split_h), k254));                       \
        if (masked) {                                                                              \
            sh = V_ADD(sh, V_SELECT((keep), split_h, V_ZERO()));                                   \
            slf = V_ADD(slf, V_SELECT((keep), VI_TO_V(split_li), V_ZERO()));                       \
        } else {                                                                                   \
            sh = V_ADD(sh, split_h);                                                               \
            sl = VI_ADD(sl, split_li);                                                             \
        }                                                                                          \
        VI_STORE_S8((hr), VI_SUB(split_hi, VI_SET1(128)));                                         \
        VI_STORE_S8((lr), split_li);                                                               \
    } while (0)

VQ_TARGET static void VQ_FN(softmax_split8)(int rows, int cols, const float *x, int ldx, const float *row_scale,
                                            int8_t *hi, int8_t *lo, int ldy, float *row_sum) {
    const int body = cols - cols % VQ_W, tail = cols - body;
    const float ninf = -__builtin_inff();
    const vq_v k254 = V_SET1(254.0f);
    /* A row of at least one vector ends with a full vector overlapping the body (recomputing a
     * lane gives the same bits; the sums skip the repeated lanes): no scalar tail. */
    VQ_ALIGNED float lane[VQ_W];
    for (int i = 0; i < VQ_W; i++) lane[i] = (float)i;
    const vq_m fresh = M_GT(V_LOAD(lane), V_SET1((float)(VQ_W - tail) - 0.5f));
    for (int r = 0; r < rows; r++) {
        const float *xr = x + (ptrdiff_t)r * ldx;
        int8_t *hr = hi + (ptrdiff_t)r * ldy, *lr = lo + (ptrdiff_t)r * ldy;
        if (cols <= 0) {
            row_sum[r] = 0.0f;
            continue;
        }
        vq_v m = V_SET1(ninf);
        for (int j = 0; j < body; j += VQ_W) m = V_MAX(m, V_LOAD(xr + j));
        if (tail) m = V_MAX(m, body ? V_LOAD(xr + cols - VQ_W) : VQ_FN(load_part)(xr, tail, ninf));
        const float mx = VQ_FN(hmax)(m);
        /* exponent in base 2: y = (x - m) * a * log2(e) = x * c - m * c, one FMA */
        const float c = row_scale[r] * 1.44269504088896341f;
        const vq_v vc = V_SET1(c), vmc = V_SET1(-(mx * c));
        vq_v sh = V_ZERO(), slf = V_ZERO();
        vq_vi sl = VI_SET1(0);
        for (int j = 0; j < body; j += VQ_W) VQ_SPLIT8_STEP(V_LOAD(xr + j), hr + j, lr + j, 0, fresh);
        int32_t sum_hi = 0, sum_lo = 0;
        if (tail && body) {
            const int j = cols - VQ_W;
            VQ_SPLIT8_STEP(V_LOAD(xr + j), hr + j, lr + j, 1, fresh);
        } else if (tail) { /* a row shorter than one vector */
            const vq_v p = VQ_FN(v_exp2_255)(V_FMA(VQ_FN(load_part)(xr, tail, mx), vc, vmc));
            const vq_v h = V_ROUND(p);
            sum_hi += VQ_FN(store_part_s8)(hr, tail, h, 128);
            sum_lo += VQ_FN(store_part_s8)(lr, tail, V_ROUND(V_MUL(V_SUB(p, h), k254)), 0);
        }
        sum_hi += (int32_t)VQ_FN(hsum)(sh);
        sum_lo += (int32_t)VQ_FN(hsum)(V_ADD(VI_TO_V(sl), slf)); /* lanes |sum| < 2^24: exact */
        row_sum[r] = (float)sum_hi + (float)sum_lo / 254.0f;
    }
}
#undef VQ_SPLIT8_STEP

/* ------------------------------------------------------------------------------------------ */
/* GEMM driver                                                                                */
/* ------------------------------------------------------------------------------------------ */

/*
 * Loops (GotoBLAS order without packing A): K slices of VQ_GEMM_KC (the first slice writes
 * alpha*acc + bias, or adds it to C when accumulating; later slices add), M blocks of up to
 * 384 rows, 16-column panels of B, then microkernel tiles of VQ_MR rows down the M block.
 * B panels: PACKED reads the packed weight in place; NT copies B rows j0..j0+15, k-slice,
 * transposed into a stack panel; NN reads B in place (stride ldb) except a last partial panel,
 * copied zero-padded so that no read passes the matrix.
 */
VQ_TARGET static void VQ_FN(gemm)(int mode, int M, int N, int K, const float *A, int lda,
                                  const float *B, int ldb, float alpha, const float *bias,
                                  int accumulate, float *C, int ldc) {
    if (M <= 0 || N <= 0) return;
    if (K <= 0) {
        vq_gemm_k0(M, N, alpha, bias, accumulate, C, ldc);
        return;
    }
    VQ_ALIGNED float panel[VQ_GEMM_KC * VQ_SGEMM_NR];
    const int MC = (384 / VQ_MR) * VQ_MR;
    for (int k0 = 0; k0 < K; k0 += VQ_GEMM_KC) {
        const int kc = K - k0 < VQ_GEMM_KC ? K - k0 : VQ_GEMM_KC;
        const float *bias_k = k0 == 0 ? bias : NULL;
        const int acc_k = accumulate || k0 > 0;
        for (int i0 = 0; i0 < M; i0 += MC) {
            const int mc = M - i0 < MC ? M - i0 : MC;
            for (int j0 = 0; j0 < N; j0 += VQ_SGEMM_NR) {
                const int nr = N - j0 < VQ_SGEMM_NR ? N - j0 : VQ_SGEMM_NR;
                const float *bp;
                ptrdiff_t bs = VQ_SGEMM_NR;
                if (mode == VQ_GEMM_PACKED) {
                    bp = vq_packed_panel(B, K, j0 / VQ_SGEMM_NR, k0);
                } else if (mode == VQ_GEMM_NT) {
                    const float *src = B + (ptrdiff_t)j0 * ldb + k0;
                    for (int j = 0; j < nr; j++)
                        for (int k = 0; k < kc; k++) panel[k * VQ_SGEMM_NR + j] = src[(ptrdiff_t)j * ldb + k];
                    for (int j = nr; j < VQ_SGEMM_NR; j++)
                        for (int k = 0; k < kc; k++) panel[k * VQ_SGEMM_NR + j] = 0.0f;
                    bp = panel;
                } else if (nr == VQ_SGEMM_NR) {
                    bp = B + (ptrdiff_t)k0 * ldb + j0;
                    bs = ldb;
                } else {
                    const float *src = B + (ptrdiff_t)k0 * ldb + j0;
                    for (int k = 0; k < kc; k++) {
                        for (int j = 0; j < nr; j++) panel[k * VQ_SGEMM_NR + j] = src[(ptrdiff_t)k * ldb + j];
                        for (int j = nr; j < VQ_SGEMM_NR; j++) panel[k * VQ_SGEMM_NR + j] = 0.0f;
                    }
                    bp = panel;
                }
                const float *bias_j = bias_k ? bias_k + j0 : NULL;
                for (int i = 0; i < mc; i += VQ_MR) {
                    const int mr = mc - i < VQ_MR ? mc - i : VQ_MR;
                    VQ_FN(ukr)(kc, A + (ptrdiff_t)(i0 + i) * lda + k0, lda, mr, bp, bs,
                               C + (ptrdiff_t)(i0 + i) * ldc + j0, ldc, nr, alpha, bias_j, acc_k);
                }
            }
        }
    }
}

VQ_TARGET static void VQ_FN(sgemm_packed)(int M, int N, int K, const float *A, int lda, const float *packed,
                                          const float *bias, float *C, int ldc) {
    VQ_FN(gemm)(VQ_GEMM_PACKED, M, N, K, A, lda, packed, 0, 1.0f, bias, 0, C, ldc);
}

VQ_TARGET static void VQ_FN(sgemm_packed_accumulate)(int M, int N, int K, const float *A, int lda,
                                                     const float *packed, const float *bias, float *C,
                                                     int ldc) {
    VQ_FN(gemm)(VQ_GEMM_PACKED, M, N, K, A, lda, packed, 0, 1.0f, bias, 1, C, ldc);
}

VQ_TARGET static void VQ_FN(sgemm_nt)(int M, int N, int K, const float *A, int lda, const float *B, int ldb,
                                      float alpha, float *C, int ldc) {
    VQ_FN(gemm)(VQ_GEMM_NT, M, N, K, A, lda, B, ldb, alpha, NULL, 0, C, ldc);
}

VQ_TARGET static void VQ_FN(sgemm_nn)(int M, int N, int K, const float *A, int lda, const float *B, int ldb,
                                      float *C, int ldc) {
    VQ_FN(gemm)(VQ_GEMM_NN, M, N, K, A, lda, B, ldb, 1.0f, NULL, 0, C, ldc);
}

/* The float members, shared by this ISA's table and its int8 variant's. */
#define VQ_FLOAT_MEMBERS                                                                          \
    .sgemm_packed = VQ_FN(sgemm_packed), .sgemm_packed_accumulate = VQ_FN(sgemm_packed_accumulate), \
    .sgemm_nt = VQ_FN(sgemm_nt), .sgemm_nn = VQ_FN(sgemm_nn), .layernorm = VQ_FN(layernorm),      \
    .softmax_rows = VQ_FN(softmax_rows), .gelu_erf = VQ_FN(gelu_erf), .erf = VQ_FN(erf),           \
    .exp = VQ_FN(exp), .add = VQ_FN(add), .mean_rows = VQ_FN(mean_rows),                           \
    .quantize_rows_s8 = VQ_FN(quantize_rows_s8), .softmax_split8 = VQ_FN(softmax_split8)

const vq_kernel_table VQ_CAT(vq_table_, VQ_SFX) = {
    .isa = VQ_ISA_ID,
    .name = VQ_ISA_NAME,
    VQ_FLOAT_MEMBERS,
    VQ_INT8_MEMBERS,
};

#ifdef VQ_VARIANT_SFX
/* The same float kernels with other int8 kernels (e.g. avx512 -> avx512_vnni). */
const vq_kernel_table VQ_CAT(vq_table_, VQ_VARIANT_SFX) = {
    .isa = VQ_VARIANT_ID,
    .name = VQ_VARIANT_NAME,
    VQ_FLOAT_MEMBERS,
    VQ_VARIANT_INT8_MEMBERS,
};
#undef VQ_VARIANT_SFX
#undef VQ_VARIANT_ID
#undef VQ_VARIANT_NAME
#undef VQ_VARIANT_INT8_MEMBERS
#endif
#undef VQ_FLOAT_MEMBERS
#undef VQ_INT8_MEMBERS

/* Consume the vocabulary so the next ISA can define its own. */
#undef VQ_SFX
#undef VQ_ISA_ID
#undef VQ_ISA_NAME
#undef VQ_TARGET
#undef VQ_W
#undef VQ_MR
#undef vq_v
#undef vq_vi
#undef vq_m
#undef V_LOAD
#undef V_STORE
#undef V_SET1
#undef V_ZERO
#undef V_ADD
#undef V_SUB
#undef V_MUL
#undef V_DIV
#undef V_FMA
#undef V_FNMA
#undef V_MIN
#undef V_MAX
#undef V_ABS
#undef V_SIGN
#undef V_OR
#undef V_ROUND
#undef V_TO_I
#undef V_RTOI
#undef VI_TO_V
#undef VI_ADD
#undef VI_SUB
#undef VI_SRAI1
#undef VI_SHL23
#undef VI_SET1
#undef VI_AS_V
#undef M_LT
#undef M_GT
#undef M_NAN
#undef V_SELECT
#undef VI_STORE_S8
#undef V_SCALE2N
