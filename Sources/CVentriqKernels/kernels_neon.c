/*
 * kernels_neon.c: aarch64 Advanced SIMD (NEON) float kernels. NEON is baseline on aarch64, so no
 * target attribute and no run-time check are needed. The table has a variant, neon_dotprod,
 * with the same float kernels and the sdot int8 GEMM (kernels_neon_q.c), which
 * vq_kernels_table offers only where the CPU reports the dot product extension.
 *
 * Defines the vector vocabulary and the GEMM microkernel, then includes vq_simd_template.h,
 * which builds the kernels and the table vq_table_neon.
 *
 * Microkernel 6 x 16: 24 q-register accumulators (4 per row), 4 B loads + 6 scalar
 * broadcasts (fmla by element) per 24 FMAs; 28 of the 32 vector registers.
 */
#include "vq_internal.h"

#if VQ_HAVE_NEON

#include <arm_neon.h>
#include <math.h>

#define VQ_ROWS6(X) X(0) X(1) X(2) X(3) X(4) X(5)

#define VQ_SFX neon
#define VQ_ISA_ID VQ_ISA_NEON
#define VQ_ISA_NAME "neon"
#define VQ_INT8_MEMBERS                                                                            \
    .qgemm_packed_f32 = vq_neon_qgemm_packed_f32, .qgemm_packed_s8 = vq_neon_qgemm_packed_s8,      \
    .quantize_s8 = vq_neon_quantize_s8, .lut_s8 = vq_neon_lut_s8
#define VQ_VARIANT_SFX neon_dotprod
#define VQ_VARIANT_ID VQ_ISA_NEON_DOTPROD
#define VQ_VARIANT_NAME "neon_dotprod"
#define VQ_VARIANT_INT8_MEMBERS                                                                    \
    .qgemm_packed_f32 = vq_neondot_qgemm_packed_f32, .qgemm_packed_s8 = vq_neondot_qgemm_packed_s8, \
    .quantize_s8 = vq_neon_quantize_s8, .lut_s8 = vq_neon_lut_s8
#define VQ_TARGET
#define VQ_W 4
#define VQ_MR 6
#define vq_v float32x4_t
#define vq_vi int32x4_t
#define vq_m uint32x4_t
#define V_LOAD(p) vld1q_f32(p)
#define V_STORE(p, v) vst1q_f32((p), (v))
#define V_SET1(x) vdupq_n_f32(x)
#define V_ZERO() vdupq_n_f32(0.0f)
#define V_ADD(a, b) vaddq_f32((a), (b))
#define V_SUB(a, b) vsubq_f32((a), (b))
#define V_MUL(a, b) vmulq_f32((a), (b))
#define V_DIV(a, b) vdivq_f32((a), (b))
#define V_FMA(a, b, c) vfmaq_f32((c), (a), (b))
#define V_FNMA(a, b, c) vfmsq_f32((c), (a), (b))
#define V_MIN(a, b) vminq_f32((a), (b))
#define V_MAX(a, b) vmaxq_f32((a), (b))
#define V_ABS(a) vabsq_f32(a)
#define V_SIGN(a) vreinterpretq_f32_u32(vandq_u32(vreinterpretq_u32_f32(a), vdupq_n_u32(0x80000000u)))
#define V_OR(a, b) vreinterpretq_f32_u32(vorrq_u32(vreinterpretq_u32_f32(a), vreinterpretq_u32_f32(b)))
#define V_ROUND(a) vrndnq_f32(a)
#define V_TO_I(a) vcvtq_s32_f32(a)
#define V_RTOI(a) vcvtnq_s32_f32(a)
#define VI_TO_V(a) vcvtq_f32_s32(a)
#define VI_ADD(a, b) vaddq_s32((a), (b))
#define VI_SUB(a, b) vsubq_s32((a), (b))
#define VI_SRAI1(a) vshrq_n_s32((a), 1)
#define VI_SHL23(a) vshlq_n_s32((a), 23)
#define VI_SET1(i) vdupq_n_s32(i)
#define VI_AS_V(a) vreinterpretq_f32_s32(a)
#define M_LT(a, b) vcltq_f32((a), (b))
#define M_GT(a, b) vcgtq_f32((a), (b))
#define M_NAN(a) vmvnq_u32(vceqq_f32((a), (a)))
#define V_SELECT(m, a, b) vbslq_f32((m), (a), (b))
/* 4 int32 lanes in [-128, 127] -> 4 int8 (saturating narrows; the values already fit) */
#define VI_STORE_S8(p, a)                                                                          \
    do {                                                                                           \
        const int16x4_t h_ = vqmovn_s32(a);                                                        \
        vst1_lane_s32((int32_t *)(void *)(p), vreinterpret_s32_s8(vqmovn_s16(vcombine_s16(h_, h_))), 0); \
    } while (0)

static inline float vq_neon_hsum(float32x4_t v) { return vaddvq_f32(v); }
static inline float vq_neon_hmax(float32x4_t v) { return vmaxvq_f32(v); }

static inline void vq_neon_ukr(int kc, const float *a, ptrdiff_t lda, int mr, const float *b, ptrdiff_t ldb,
                               float *c, ptrdiff_t ldc, int nr, float alpha, const float *bias,
                               int accumulate) {
#define ROW_PTR(i) const float *a##i = a + (i < mr ? i : 0) * lda;
#define ROW_ACC(i)                                                                                 \
    float32x4_t c##i##0 = vdupq_n_f32(0.0f), c##i##1 = vdupq_n_f32(0.0f),                          \
                c##i##2 = vdupq_n_f32(0.0f), c##i##3 = vdupq_n_f32(0.0f);
#define ROW_FMA(i)                                                                                 \
    {                                                                                              \
        const float t = a##i[k];                                                                   \
        c##i##0 = vfmaq_n_f32(c##i##0, b0, t);                                                     \
        c##i##1 = vfmaq_n_f32(c##i##1, b1, t);                                                     \
        c##i##2 = vfmaq_n_f32(c##i##2, b2, t);                                                     \
        c##i##3 = vfmaq_n_f32(c##i##3, b3, t);                                                     \
    }
    VQ_ROWS6(ROW_PTR)
    VQ_ROWS6(ROW_ACC)
    for (int k = 0; k < kc; k++) {
        const float32x4_t b0 = vld1q_f32(b), b1 = vld1q_f32(b + 4), b2 = vld1q_f32(b + 8),
                          b3 = vld1q_f32(b + 12);
        VQ_ROWS6(ROW_FMA)
        b += ldb;
    }
    if (mr == 6 && nr == 16) {
        const float32x4_t va = vdupq_n_f32(alpha);
        const float32x4_t z = vdupq_n_f32(0.0f);
        const float32x4_t bias0 = bias ? vld1q_f32(bias) : z, bias1 = bias ? vld1q_f32(bias + 4) : z,
                          bias2 = bias ? vld1q_f32(bias + 8) : z, bias3 = bias ? vld1q_f32(bias + 12) : z;
#define ROW_OUT(i)                                                                                 \
    {                                                                                              \
        float *cr = c + i * ldc;                                                                   \
        float32x4_t r0 = vmulq_f32(c##i##0, va), r1 = vmulq_f32(c##i##1, va),                      \
                    r2 = vmulq_f32(c##i##2, va), r3 = vmulq_f32(c##i##3, va);                      \
        if (bias) {                                                                                \
            r0 = vaddq_f32(r0, bias0);                                                             \
            r1 = vaddq_f32(r1, bias1);                                                             \
            r2 = vaddq_f32(r2, bias2);                                                             \
            r3 = vaddq_f32(r3, bias3);                                                             \
        }                                                                                          \
        if (accumulate) {                                                                          \
            r0 = vaddq_f32(vld1q_f32(cr), r0);                                                     \
            r1 = vaddq_f32(vld1q_f32(cr + 4), r1);                                                 \
            r2 = vaddq_f32(vld1q_f32(cr + 8), r2);                                                 \
            r3 = vaddq_f32(vld1q_f32(cr + 12), r3);                                                \
        }                                                                                          \
        vst1q_f32(cr, r0);                                                                         \
        vst1q_f32(cr + 4, r1);                                                                     \
        vst1q_f32(cr + 8, r2);                                                                     \
        vst1q_f32(cr + 12, r3);                                                                    \
    }
        VQ_ROWS6(ROW_OUT)
    } else {
        VQ_ALIGNED float tile[6 * 16];
#define ROW_TILE(i)                                                                                \
    vst1q_f32(tile + i * 16, c##i##0);                                                             \
    vst1q_f32(tile + i * 16 + 4, c##i##1);                                                         \
    vst1q_f32(tile + i * 16 + 8, c##i##2);                                                         \
    vst1q_f32(tile + i * 16 + 12, c##i##3);
        VQ_ROWS6(ROW_TILE)
        vq_gemm_edge_epilogue(tile, mr, nr, c, ldc, alpha, bias, accumulate);
    }
#undef ROW_PTR
#undef ROW_ACC
#undef ROW_FMA
#undef ROW_OUT
#undef ROW_TILE
}

#include "vq_simd_template.h"

#endif /* VQ_HAVE_NEON */
