/*
 * kernels_neon_q.c: aarch64 int8 kernels (contracts in vq_kernels.h, scheme in
 * docs/QUANTIZATION.md); the tables that use them (neon, neon_dotprod) are built in
 * kernels_neon.c.
 *
 * GEMM microkernels (exact int32 sums; packed layout of vq_qgemm_pack: per panel of 16 columns,
 * groups of 4 k x 16 columns = 64 bytes, each 16-byte quarter = 4 columns x 4 k):
 *   neon          4 rows x 8 columns (half a panel), groups taken in pairs: smull (group g) and
 *                 smlal (group g + 1) of int8 x int8 into int16 lanes, then sadalp into int32
 *                 (lanes k01 / k23 per column, paired up once per tile with addp). Two products
 *                 of |w| <= 127 and |a| <= 128 fit int16 (<= 32512): exact for every int8
 *                 activation as long as W avoids -128 (the packing contract). 16 accumulators.
 *   neon_dotprod  4 rows x 16 columns: sdot by element (16 activation bytes = 4 groups per row
 *                 load, one lane per group), 4 products per int32 lane, no correction.
 *                 16 accumulators. Compiled with the dotprod target attribute, so this file
 *                 builds with plain -march=armv8-a; vq_kernels_table offers the table only where
 *                 the CPU reports the extension (getauxval(AT_HWCAP) & HWCAP_ASIMDDP).
 * Rows are read in place with any lda (the last, partial group of a K that is not a multiple of
 * 4 is assembled from the remaining bytes and zeros). Partial tiles: rows past M are computed
 * from row 0 and not stored; columns past N are stored through a small buffer.
 *
 * Epilogues, exactly the reference's operations per element:
 *   float: scvtf (round to nearest even) then fmul by out_scale
 *   int8:  sqshl (saturating left shift), sqrdmulh (= SaturatingRoundingDoublingHighMul: round
 *          half up of x m / 2^31, INT32_MIN * INT32_MIN saturated), gemmlowp's NEON
 *          RoundingDivideByPOT (x + (x < 0 && right > 0 ? -1 : 0), saturating, then srshl by
 *          -right: the same values as the mask / threshold form), clamp to +-127, sqxtn.
 */
#include "vq_internal.h"

#if VQ_HAVE_NEON

#include <arm_neon.h>

#if defined(__clang__)
#define VQ_T_DOT __attribute__((target("dotprod")))
#else
/* GCC: its arm_neon.h enables the dot product intrinsics with arch=armv8.2-a+dotprod, and a
 * caller must enable at least as much to inline them (every dotprod CPU is Armv8.2 or later). */
#define VQ_T_DOT __attribute__((target("arch=armv8.2-a+dotprod")))
#endif
#define VQ_INLINE inline __attribute__((always_inline))
#define VQ_QROWS4(X) X(0) X(1) X(2) X(3)

/* ------------------------------------------------------------------------------------------ */
/* Epilogue (4 columns at a time)                                                             */
/* ------------------------------------------------------------------------------------------ */

static VQ_INLINE int32x4_t neon_requant(int32x4_t acc, int32x4_t mult, int32x4_t left, int32x4_t right) {
    const int32x4_t neg_right = vnegq_s32(right);
    int32x4_t x = vqshlq_s32(acc, left);
    x = vqrdmulhq_s32(x, mult);
    const int32x4_t fixup = vshrq_n_s32(vandq_s32(x, neg_right), 31);
    const int32x4_t r = vrshlq_s32(vqaddq_s32(x, fixup), neg_right);
    return vminq_s32(vmaxq_s32(r, vdupq_n_s32(-127)), vdupq_n_s32(127));
}

/* The epilogue of columns n0..n0+nr-1 (nr in 1..16) of row i from up to 4 vectors of raw sums
 * (s[q] = columns 4q..4q+3), parameters at column block offset c. */
static VQ_INLINE void neon_store(const vq_qgemm_args *g, const vq_qcols *cols, int c, const int32x4_t *s, int nq,
                                 int i, int n0, int nr) {
    if (g->Cf) {
        float *dst = g->Cf + (ptrdiff_t)i * g->ldc + n0;
        VQ_ALIGNED float buf[16];
        for (int q = 0; q < nq; q++) {
            const int32x4_t acc = vaddq_s32(s[q], vld1q_s32(cols->corr + c + 4 * q));
            const float32x4_t v = vmulq_f32(vcvtq_f32_s32(acc), vld1q_f32(cols->scale + c + 4 * q));
            if (nr >= 4 * q + 4) vst1q_f32(dst + 4 * q, v);
            else vst1q_f32(buf + 4 * q, v);
        }
        for (int j = nr & ~3; j < nr; j++) dst[j] = buf[j];
    } else {
        int8_t *dst = g->Cq + (ptrdiff_t)i * g->ldc + n0;
        int32x4_t r[4];
        for (int q = 0; q < nq; q++) {
            const int32x4_t acc = vaddq_s32(s[q], vld1q_s32(cols->corr + c + 4 * q));
            r[q] = neon_requant(acc, vld1q_s32(cols->mult + c + 4 * q), vld1q_s32(cols->left + c + 4 * q),
                                vld1q_s32(cols->right + c + 4 * q));
        }
        for (int q = nq; q < 4; q++) r[q] = vdupq_n_s32(0);
        const int16x8_t h0 = vcombine_s16(vqmovn_s32(r[0]), vqmovn_s32(r[1]));
        const int16x8_t h1 = vcombine_s16(vqmovn_s32(r[2]), vqmovn_s32(r[3]));
        const int8x16_t b = vcombine_s8(vqmovn_s16(h0), vqmovn_s16(h1));
        if (nr == 16) {
            vst1q_s8(dst, b);
        } else if (nr == 8) {
            vst1_s8(dst, vget_low_s8(b));
        } else {
            VQ_ALIGNED int8_t buf[16];
            vst1q_s8(buf, b);
            memcpy(dst, buf, (size_t)nr);
        }
    }
}

static VQ_INLINE int8x16_t neon_dup_group(int32_t v) { return vreinterpretq_s8_s32(vdupq_n_s32(v)); }

/* ------------------------------------------------------------------------------------------ */
/* Plain NEON GEMM                                                                            */
/* ------------------------------------------------------------------------------------------ */

/* Rows i0.. (mr of 4) x columns 16p + 8h .. +7. */
static void neon_tile(const vq_qgemm_args *g, const vq_qcols *cols, int i0, int mr, int p, int pc, int h) {
    const int K = g->K, kfull = K / 4, ktail = K % 4;
    const int8_t *b = vq_qpanel(g->packed, K, p) + 32 * h;
#define ROW_PTR(r) const int8_t *a##r = g->A + (ptrdiff_t)(i0 + (r < mr ? r : 0)) * g->lda;
#define ROW_ACC(r)                                                                                 \
    int32x4_t c##r##00 = vdupq_n_s32(0), c##r##01 = vdupq_n_s32(0), c##r##10 = vdupq_n_s32(0),     \
              c##r##11 = vdupq_n_s32(0);
    /* two groups: u (weights wu0 wu1, activations au) and v (wv0 wv1, av) */
#define ROW_PAIR(r)                                                                                \
    {                                                                                              \
        const int8x16_t au = neon_dup_group(vq_load_group(a##r + 4 * k));                          \
        const int8x16_t av = neon_dup_group(vq_load_group(a##r + 4 * k + 4));                      \
        int16x8_t t = vmlal_s8(vmull_s8(vget_low_s8(wu0), vget_low_s8(au)), vget_low_s8(wv0), vget_low_s8(av)); \
        c##r##00 = vpadalq_s16(c##r##00, t);                                                       \
        t = vmlal_high_s8(vmull_high_s8(wu0, au), wv0, av);                                        \
        c##r##01 = vpadalq_s16(c##r##01, t);                                                       \
        t = vmlal_s8(vmull_s8(vget_low_s8(wu1), vget_low_s8(au)), vget_low_s8(wv1), vget_low_s8(av)); \
        c##r##10 = vpadalq_s16(c##r##10, t);                                                       \
        t = vmlal_high_s8(vmull_high_s8(wu1, au), wv1, av);                                        \
        c##r##11 = vpadalq_s16(c##r##11, t);                                                       \
    }
#define ROW_ONE(r, GROUP)                                                                          \
    {                                                                                              \
        const int8x16_t au = neon_dup_group(GROUP);                                                \
        c##r##00 = vpadalq_s16(c##r##00, vmull_s8(vget_low_s8(wu0), vget_low_s8(au)));             \
        c##r##01 = vpadalq_s16(c##r##01, vmull_high_s8(wu0, au));                                  \
        c##r##10 = vpadalq_s16(c##r##10, vmull_s8(vget_low_s8(wu1), vget_low_s8(au)));             \
        c##r##11 = vpadalq_s16(c##r##11, vmull_high_s8(wu1, au));                                  \
    }
#define ROW_FULL(r) ROW_ONE(r, vq_load_group(a##r + 4 * k))
#define ROW_TAIL(r) ROW_ONE(r, vq_load_group_tail(a##r + 4 * k, ktail))
    VQ_QROWS4(ROW_PTR)
    VQ_QROWS4(ROW_ACC)
    int k = 0;
    for (; k + 2 <= kfull; k += 2) {
        const int8x16_t wu0 = vld1q_s8(b + 64 * (ptrdiff_t)k), wu1 = vld1q_s8(b + 64 * (ptrdiff_t)k + 16);
        const int8x16_t wv0 = vld1q_s8(b + 64 * (ptrdiff_t)k + 64), wv1 = vld1q_s8(b + 64 * (ptrdiff_t)k + 80);
        VQ_QROWS4(ROW_PAIR)
    }
    if (k < kfull) {
        const int8x16_t wu0 = vld1q_s8(b + 64 * (ptrdiff_t)k), wu1 = vld1q_s8(b + 64 * (ptrdiff_t)k + 16);
        VQ_QROWS4(ROW_FULL)
        k++;
    }
    if (ktail) {
        const int8x16_t wu0 = vld1q_s8(b + 64 * (ptrdiff_t)k), wu1 = vld1q_s8(b + 64 * (ptrdiff_t)k + 16);
        VQ_QROWS4(ROW_TAIL)
    }
    const int n0 = 16 * p + 8 * h, nr = g->N - n0 < 8 ? g->N - n0 : 8, c = 16 * pc + 8 * h;
#define ROW_OUT(r)                                                                                 \
    if (r < mr) {                                                                                  \
        const int32x4_t s[2] = {vpaddq_s32(c##r##00, c##r##01), vpaddq_s32(c##r##10, c##r##11)};   \
        neon_store(g, cols, c, s, 2, i0 + r, n0, nr);                                              \
    }
    VQ_QROWS4(ROW_OUT)
#undef ROW_PTR
#undef ROW_ACC
#undef ROW_PAIR
#undef ROW_ONE
#undef ROW_FULL
#undef ROW_TAIL
#undef ROW_OUT
}

static void neon_ukr(const vq_qgemm_args *g, const vq_qcols *cols, int i0, int mr, int p, int pc, int np) {
    (void)np; /* NP = 1 */
    neon_tile(g, cols, i0, mr, p, pc, 0);
    if (16 * p + 8 < g->N) neon_tile(g, cols, i0, mr, p, pc, 1);
}

VQ_DEFINE_QGEMM_ENTRIES(, vq_neon, 4, 1, 0, neon_ukr)

/* ------------------------------------------------------------------------------------------ */
/* Dot product GEMM                                                                           */
/* ------------------------------------------------------------------------------------------ */

VQ_T_DOT static void dot_ukr(const vq_qgemm_args *g, const vq_qcols *cols, int i0, int mr, int p, int pc, int np) {
    (void)np; /* NP = 1 */
    const int K = g->K, kfull = K / 4, ktail = K % 4;
    const int8_t *b = vq_qpanel(g->packed, K, p);
#define ROW_PTR(r) const int8_t *a##r = g->A + (ptrdiff_t)(i0 + (r < mr ? r : 0)) * g->lda;
#define ROW_ACC(r)                                                                                 \
    int32x4_t c##r##0 = vdupq_n_s32(0), c##r##1 = vdupq_n_s32(0), c##r##2 = vdupq_n_s32(0),        \
              c##r##3 = vdupq_n_s32(0);
#define ROW_LOAD16(r) const int8x16_t x##r = vld1q_s8(a##r + 4 * k);
#define ROW_LANE(r, t)                                                                             \
    c##r##0 = vdotq_laneq_s32(c##r##0, w0, x##r, t);                                               \
    c##r##1 = vdotq_laneq_s32(c##r##1, w1, x##r, t);                                               \
    c##r##2 = vdotq_laneq_s32(c##r##2, w2, x##r, t);                                               \
    c##r##3 = vdotq_laneq_s32(c##r##3, w3, x##r, t);
#define GROUP_LANE(t)                                                                              \
    {                                                                                              \
        const int8_t *bg = b + 64 * (ptrdiff_t)(k + t);                                            \
        const int8x16_t w0 = vld1q_s8(bg), w1 = vld1q_s8(bg + 16), w2 = vld1q_s8(bg + 32),         \
                        w3 = vld1q_s8(bg + 48);                                                    \
        ROW_LANE(0, t) ROW_LANE(1, t) ROW_LANE(2, t) ROW_LANE(3, t)                                \
    }
#define ROW_ONE(r, GROUP)                                                                          \
    {                                                                                              \
        const int8x16_t x = neon_dup_group(GROUP);                                                 \
        c##r##0 = vdotq_s32(c##r##0, w0, x);                                                       \
        c##r##1 = vdotq_s32(c##r##1, w1, x);                                                       \
        c##r##2 = vdotq_s32(c##r##2, w2, x);                                                       \
        c##r##3 = vdotq_s32(c##r##3, w3, x);                                                       \
    }
#define ROW_FULL(r) ROW_ONE(r, vq_load_group(a##r + 4 * k))
#define ROW_TAIL(r) ROW_ONE(r, vq_load_group_tail(a##r + 4 * k, ktail))
    VQ_QROWS4(ROW_PTR)
    VQ_QROWS4(ROW_ACC)
    int k = 0;
    for (; k + 4 <= kfull; k += 4) { /* 16 activation bytes per row, one lane per group */
        VQ_QROWS4(ROW_LOAD16)
        GROUP_LANE(0) GROUP_LANE(1) GROUP_LANE(2) GROUP_LANE(3)
    }
    for (; k < kfull; k++) {
        const int8_t *bg = b + 64 * (ptrdiff_t)k;
        const int8x16_t w0 = vld1q_s8(bg), w1 = vld1q_s8(bg + 16), w2 = vld1q_s8(bg + 32), w3 = vld1q_s8(bg + 48);
        VQ_QROWS4(ROW_FULL)
    }
    if (ktail) {
        const int8_t *bg = b + 64 * (ptrdiff_t)k;
        const int8x16_t w0 = vld1q_s8(bg), w1 = vld1q_s8(bg + 16), w2 = vld1q_s8(bg + 32), w3 = vld1q_s8(bg + 48);
        VQ_QROWS4(ROW_TAIL)
    }
    const int n0 = 16 * p, nr = g->N - n0 < 16 ? g->N - n0 : 16, c = 16 * pc;
    const int nq = (nr + 3) / 4;
#define ROW_OUT(r)                                                                                 \
    if (r < mr) {                                                                                  \
        const int32x4_t s[4] = {c##r##0, c##r##1, c##r##2, c##r##3};                               \
        neon_store(g, cols, c, s, nq, i0 + r, n0, nr);                                             \
    }
    VQ_QROWS4(ROW_OUT)
#undef ROW_PTR
#undef ROW_ACC
#undef ROW_LOAD16
#undef ROW_LANE
#undef GROUP_LANE
#undef ROW_ONE
#undef ROW_FULL
#undef ROW_TAIL
#undef ROW_OUT
}

VQ_DEFINE_QGEMM_ENTRIES(, vq_neondot, 4, 1, 0, dot_ukr)

/* ------------------------------------------------------------------------------------------ */
/* Quantization and lookup                                                                    */
/* ------------------------------------------------------------------------------------------ */

/* p = x * inv; NaN -> 0 (and-mask of p == p); clamp to [-127, 127]; fcvtns (nearest, ties to
 * even, whatever the FPCR says). */
static VQ_INLINE int32x4_t neon_quant4(float32x4_t x, float32x4_t inv) {
    float32x4_t p = vmulq_f32(x, inv);
    p = vreinterpretq_f32_u32(vandq_u32(vreinterpretq_u32_f32(p), vceqq_f32(p, p)));
    p = vminq_f32(vmaxq_f32(p, vdupq_n_f32(-127.0f)), vdupq_n_f32(127.0f));
    return vcvtnq_s32_f32(p);
}

void vq_neon_quantize_s8(int rows, int cols, const float *x, int ldx, float inv_scale, int8_t *y, int ldy) {
    const float32x4_t inv = vdupq_n_f32(inv_scale);
    for (int r = 0; r < rows; r++) {
        const float *xr = x + (ptrdiff_t)r * ldx;
        int8_t *yr = y + (ptrdiff_t)r * ldy;
        int c = 0;
        for (; c + 16 <= cols; c += 16) {
            const int16x8_t h0 = vcombine_s16(vqmovn_s32(neon_quant4(vld1q_f32(xr + c), inv)),
                                              vqmovn_s32(neon_quant4(vld1q_f32(xr + c + 4), inv)));
            const int16x8_t h1 = vcombine_s16(vqmovn_s32(neon_quant4(vld1q_f32(xr + c + 8), inv)),
                                              vqmovn_s32(neon_quant4(vld1q_f32(xr + c + 12), inv)));
            vst1q_s8(yr + c, vcombine_s8(vqmovn_s16(h0), vqmovn_s16(h1)));
        }
        if (c < cols) vq_ref_quantize_s8(1, cols - c, xr + c, ldx, inv_scale, yr + c, ldy);
    }
}

/* 256-entry lookup with tbl/tbx over four 64-byte quarters: index x + 128 = x xor 0x80; each
 * quarter's tbx sees index - 64 q, out of range (kept) unless the index is in its quarter. */
void vq_neon_lut_s8(int n, const int8_t *x, const int8_t *lut256, int8_t *y) {
    const uint8_t *l = (const uint8_t *)lut256;
    const uint8x16x4_t t0 = {{vld1q_u8(l), vld1q_u8(l + 16), vld1q_u8(l + 32), vld1q_u8(l + 48)}};
    const uint8x16x4_t t1 = {{vld1q_u8(l + 64), vld1q_u8(l + 80), vld1q_u8(l + 96), vld1q_u8(l + 112)}};
    const uint8x16x4_t t2 = {{vld1q_u8(l + 128), vld1q_u8(l + 144), vld1q_u8(l + 160), vld1q_u8(l + 176)}};
    const uint8x16x4_t t3 = {{vld1q_u8(l + 192), vld1q_u8(l + 208), vld1q_u8(l + 224), vld1q_u8(l + 240)}};
    int i = 0;
    for (; i + 16 <= n; i += 16) {
        const uint8x16_t idx = veorq_u8(vld1q_u8((const uint8_t *)x + i), vdupq_n_u8(0x80));
        uint8x16_t r = vqtbl4q_u8(t0, idx);
        r = vqtbx4q_u8(r, t1, vsubq_u8(idx, vdupq_n_u8(64)));
        r = vqtbx4q_u8(r, t2, vsubq_u8(idx, vdupq_n_u8(128)));
        r = vqtbx4q_u8(r, t3, vsubq_u8(idx, vdupq_n_u8(192)));
        vst1q_u8((uint8_t *)y + i, r);
    }
    if (i < n) vq_ref_lut_s8(n - i, x + i, lut256, y + i);
}

#endif /* VQ_HAVE_NEON */
