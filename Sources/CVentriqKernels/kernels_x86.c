/*
 * kernels_x86.c: x86-64 SIMD float kernels, AVX2+FMA and AVX-512F, each compiled with a function
 * target attribute (the rest of the target builds for baseline x86-64), so one binary carries
 * both and vq_kernels_select picks at run time (__builtin_cpu_supports). Each ISA's table has a
 * variant with the same float kernels and VNNI int8 kernels (kernels_x86_q.c): avx2 ->
 * avx_vnni, avx512 -> avx512_vnni.
 *
 * Each ISA defines the vector vocabulary and the GEMM microkernel, then includes
 * vq_simd_template.h, which builds the kernels and the table vq_table_<isa>.
 *
 * Microkernels (B panel: 16 columns, k-stride ldb; A: MR rows at stride lda, broadcast):
 *   AVX2     6 x 16: 12 ymm accumulators, 2 B loads + 6 broadcasts per 12 FMAs
 *   AVX-512 12 x 16: 12 zmm accumulators, 1 B load + 12 broadcasts per 12 FMAs
 */
#include "vq_internal.h"

#if VQ_HAVE_X86

#include <immintrin.h>
#include <math.h>

/* Expands X(i) for the row indices of a microkernel. */
#define VQ_ROWS6(X) X(0) X(1) X(2) X(3) X(4) X(5)
#define VQ_ROWS12(X) VQ_ROWS6(X) X(6) X(7) X(8) X(9) X(10) X(11)

/* ========================================================================================== */
/* AVX2 + FMA                                                                                 */
/* ========================================================================================== */

#define VQ_SFX avx2
#define VQ_ISA_ID VQ_ISA_AVX2
#define VQ_ISA_NAME "avx2"
#define VQ_INT8_MEMBERS                                                                            \
    .qgemm_packed_f32 = vq_avx2_qgemm_packed_f32, .qgemm_packed_s8 = vq_avx2_qgemm_packed_s8,      \
    .quantize_s8 = vq_avx2_quantize_s8, .lut_s8 = vq_ref_lut_s8
#define VQ_VARIANT_SFX avx_vnni
#define VQ_VARIANT_ID VQ_ISA_AVX_VNNI
#define VQ_VARIANT_NAME "avx_vnni"
#define VQ_VARIANT_INT8_MEMBERS                                                                    \
    .qgemm_packed_f32 = vq_avxvnni_qgemm_packed_f32, .qgemm_packed_s8 = vq_avxvnni_qgemm_packed_s8, \
    .quantize_s8 = vq_avx2_quantize_s8, .lut_s8 = vq_ref_lut_s8
#define VQ_TARGET __attribute__((target("avx2,fma")))
#define VQ_W 8
#define VQ_MR 6
#define vq_v __m256
#define vq_vi __m256i
#define vq_m __m256
#define V_LOAD(p) _mm256_loadu_ps(p)
#define V_STORE(p, v) _mm256_storeu_ps((p), (v))
#define V_SET1(x) _mm256_set1_ps(x)
#define V_ZERO() _mm256_setzero_ps()
#define V_ADD(a, b) _mm256_add_ps((a), (b))
#define V_SUB(a, b) _mm256_sub_ps((a), (b))
#define V_MUL(a, b) _mm256_mul_ps((a), (b))
#define V_DIV(a, b) _mm256_div_ps((a), (b))
#define V_FMA(a, b, c) _mm256_fmadd_ps((a), (b), (c))
#define V_FNMA(a, b, c) _mm256_fnmadd_ps((a), (b), (c))
#define V_MIN(a, b) _mm256_min_ps((a), (b))
#define V_MAX(a, b) _mm256_max_ps((a), (b))
#define V_ABS(a) _mm256_andnot_ps(_mm256_set1_ps(-0.0f), (a))
#define V_SIGN(a) _mm256_and_ps(_mm256_set1_ps(-0.0f), (a))
#define V_OR(a, b) _mm256_or_ps((a), (b))
#define V_ROUND(a) _mm256_round_ps((a), _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC)
#define V_TO_I(a) _mm256_cvtps_epi32(a)
#define V_RTOI(a) _mm256_cvtps_epi32(V_ROUND(a)) /* no embedded rounding in AVX2: MXCSR-proof */
#define VI_TO_V(a) _mm256_cvtepi32_ps(a)
#define VI_ADD(a, b) _mm256_add_epi32((a), (b))
#define VI_SUB(a, b) _mm256_sub_epi32((a), (b))
#define VI_SRAI1(a) _mm256_srai_epi32((a), 1)
#define VI_SHL23(a) _mm256_slli_epi32((a), 23)
#define VI_SET1(i) _mm256_set1_epi32(i)
#define VI_AS_V(a) _mm256_castsi256_ps(a)
#define M_LT(a, b) _mm256_cmp_ps((a), (b), _CMP_LT_OQ)
#define M_GT(a, b) _mm256_cmp_ps((a), (b), _CMP_GT_OQ)
#define M_NAN(a) _mm256_cmp_ps((a), (a), _CMP_UNORD_Q)
#define V_SELECT(m, a, b) _mm256_blendv_ps((b), (a), (m))
/* 8 int32 lanes in [-128, 127] -> 8 int8 (saturating packs; the values already fit) */
#define VI_STORE_S8(p, a)                                                                          \
    do {                                                                                           \
        const __m128i w_ = _mm_packs_epi32(_mm256_castsi256_si128(a), _mm256_extracti128_si256((a), 1)); \
        _mm_storel_epi64((__m128i *)(void *)(p), _mm_packs_epi16(w_, w_));                         \
    } while (0)

VQ_TARGET static inline float vq_avx2_hsum(__m256 v) {
    __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    s = _mm_add_ps(s, _mm_movehl_ps(s, s));
    s = _mm_add_ss(s, _mm_movehdup_ps(s));
    return _mm_cvtss_f32(s);
}

VQ_TARGET static inline float vq_avx2_hmax(__m256 v) {
    __m128 s = _mm_max_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    s = _mm_max_ps(s, _mm_movehl_ps(s, s));
    s = _mm_max_ss(s, _mm_movehdup_ps(s));
    return _mm_cvtss_f32(s);
}

VQ_TARGET static inline void vq_avx2_ukr(int kc, const float *a, ptrdiff_t lda, int mr, const float *b,
                                         ptrdiff_t ldb, float *c, ptrdiff_t ldc, int nr, float alpha,
                                         const float *bias, int accumulate) {
#define ROW_PTR(i) const float *a##i = a + (i < mr ? i : 0) * lda;
#define ROW_ACC(i) __m256 c##i##0 = _mm256_setzero_ps(), c##i##1 = _mm256_setzero_ps();
#define ROW_FMA(i)                                                                                 \
    {                                                                                              \
        const __m256 t = _mm256_broadcast_ss(a##i + k);                                            \
        c##i##0 = _mm256_fmadd_ps(t, b0, c##i##0);                                                 \
        c##i##1 = _mm256_fmadd_ps(t, b1, c##i##1);                                                 \
    }
    VQ_ROWS6(ROW_PTR)
    VQ_ROWS6(ROW_ACC)
    for (int k = 0; k < kc; k++) {
        const __m256 b0 = _mm256_loadu_ps(b), b1 = _mm256_loadu_ps(b + 8);
        VQ_ROWS6(ROW_FMA)
        b += ldb;
    }
    if (mr == 6 && nr == 16) {
        const __m256 va = _mm256_set1_ps(alpha);
        const __m256 bias0 = bias ? _mm256_loadu_ps(bias) : _mm256_setzero_ps();
        const __m256 bias1 = bias ? _mm256_loadu_ps(bias + 8) : _mm256_setzero_ps();
#define ROW_OUT(i)                                                                                 \
    {                                                                                              \
        float *cr = c + i * ldc;                                                                   \
        __m256 r0 = _mm256_mul_ps(c##i##0, va), r1 = _mm256_mul_ps(c##i##1, va);                   \
        if (bias) {                                                                                \
            r0 = _mm256_add_ps(r0, bias0);                                                         \
            r1 = _mm256_add_ps(r1, bias1);                                                         \
        }                                                                                          \
        if (accumulate) {                                                                          \
            r0 = _mm256_add_ps(_mm256_loadu_ps(cr), r0);                                           \
            r1 = _mm256_add_ps(_mm256_loadu_ps(cr + 8), r1);                                       \
        }                                                                                          \
        _mm256_storeu_ps(cr, r0);                                                                  \
        _mm256_storeu_ps(cr + 8, r1);                                                              \
    }
        VQ_ROWS6(ROW_OUT)
    } else {
        VQ_ALIGNED float tile[6 * 16];
#define ROW_TILE(i)                                                                                \
    _mm256_store_ps(tile + i * 16, c##i##0);                                                       \
    _mm256_store_ps(tile + i * 16 + 8, c##i##1);
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

/* ========================================================================================== */
/* AVX-512F                                                                                   */
/* ========================================================================================== */

#define VQ_SFX avx512
#define VQ_ISA_ID VQ_ISA_AVX512
#define VQ_ISA_NAME "avx512"
/* AVX-512F alone has no byte or word arithmetic: the AVX2 int8 kernels (every AVX-512 CPU has
 * AVX2; vq_kernels_table checks it). */
#define VQ_INT8_MEMBERS                                                                            \
    .qgemm_packed_f32 = vq_avx2_qgemm_packed_f32, .qgemm_packed_s8 = vq_avx2_qgemm_packed_s8,      \
    .quantize_s8 = vq_avx2_quantize_s8, .lut_s8 = vq_ref_lut_s8
#define VQ_VARIANT_SFX avx512_vnni
#define VQ_VARIANT_ID VQ_ISA_AVX512_VNNI
#define VQ_VARIANT_NAME "avx512_vnni"
#define VQ_VARIANT_INT8_MEMBERS                                                                    \
    .qgemm_packed_f32 = vq_avx512vnni_qgemm_packed_f32,                                            \
    .qgemm_packed_s8 = vq_avx512vnni_qgemm_packed_s8, .quantize_s8 = vq_avx512vnni_quantize_s8,    \
    .lut_s8 = vq_avx512vnni_lut_s8
#define VQ_TARGET __attribute__((target("avx512f")))
#define VQ_W 16
#define VQ_MR 12
#define vq_v __m512
#define vq_vi __m512i
#define vq_m __mmask16
#define V_LOAD(p) _mm512_loadu_ps(p)
#define V_STORE(p, v) _mm512_storeu_ps((p), (v))
#define V_SET1(x) _mm512_set1_ps(x)
#define V_ZERO() _mm512_setzero_ps()
#define V_ADD(a, b) _mm512_add_ps((a), (b))
#define V_SUB(a, b) _mm512_sub_ps((a), (b))
#define V_MUL(a, b) _mm512_mul_ps((a), (b))
#define V_DIV(a, b) _mm512_div_ps((a), (b))
#define V_FMA(a, b, c) _mm512_fmadd_ps((a), (b), (c))
#define V_FNMA(a, b, c) _mm512_fnmadd_ps((a), (b), (c))
#define V_MIN(a, b) _mm512_min_ps((a), (b))
#define V_MAX(a, b) _mm512_max_ps((a), (b))
#define V_ABS(a) _mm512_abs_ps(a)
#define V_SIGN(a) _mm512_castsi512_ps(_mm512_and_si512(_mm512_castps_si512(a), _mm512_set1_epi32((int)0x80000000u)))
#define V_OR(a, b) _mm512_castsi512_ps(_mm512_or_si512(_mm512_castps_si512(a), _mm512_castps_si512(b)))
#define V_ROUND(a) _mm512_roundscale_ps((a), _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC)
#define V_TO_I(a) _mm512_cvtps_epi32(a)
#define V_RTOI(a) _mm512_cvt_roundps_epi32((a), _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC)
#define VI_TO_V(a) _mm512_cvtepi32_ps(a)
#define VI_ADD(a, b) _mm512_add_epi32((a), (b))
#define VI_SUB(a, b) _mm512_sub_epi32((a), (b))
#define VI_SRAI1(a) _mm512_srai_epi32((a), 1)
#define VI_SHL23(a) _mm512_slli_epi32((a), 23)
#define VI_SET1(i) _mm512_set1_epi32(i)
#define VI_AS_V(a) _mm512_castsi512_ps(a)
#define M_LT(a, b) _mm512_cmp_ps_mask((a), (b), _CMP_LT_OQ)
#define M_GT(a, b) _mm512_cmp_ps_mask((a), (b), _CMP_GT_OQ)
#define M_NAN(a) _mm512_cmp_ps_mask((a), (a), _CMP_UNORD_Q)
#define V_SELECT(m, a, b) _mm512_mask_blend_ps((m), (b), (a))
/* p * 2^n for an integer-valued n (vscalefps: one instruction, exact like the generic form) */
#define V_SCALE2N(p, n) _mm512_scalef_ps((p), (n))
/* 16 int32 lanes in [-128, 127] -> 16 int8 (vpmovdb truncates; the values already fit) */
#define VI_STORE_S8(p, a) _mm_storeu_si128((__m128i *)(void *)(p), _mm512_cvtepi32_epi8(a))

VQ_TARGET static inline float vq_avx512_hsum(__m512 v) {
    __m256 h = _mm256_add_ps(_mm512_castps512_ps256(v),
                             _mm256_castpd_ps(_mm512_extractf64x4_pd(_mm512_castps_pd(v), 1)));
    __m128 s = _mm_add_ps(_mm256_castps256_ps128(h), _mm256_extractf128_ps(h, 1));
    s = _mm_add_ps(s, _mm_movehl_ps(s, s));
    s = _mm_add_ss(s, _mm_movehdup_ps(s));
    return _mm_cvtss_f32(s);
}

VQ_TARGET static inline float vq_avx512_hmax(__m512 v) {
    __m256 h = _mm256_max_ps(_mm512_castps512_ps256(v),
                             _mm256_castpd_ps(_mm512_extractf64x4_pd(_mm512_castps_pd(v), 1)));
    __m128 s = _mm_max_ps(_mm256_castps256_ps128(h), _mm256_extractf128_ps(h, 1));
    s = _mm_max_ps(s, _mm_movehl_ps(s, s));
    s = _mm_max_ss(s, _mm_movehdup_ps(s));
    return _mm_cvtss_f32(s);
}

VQ_TARGET static inline void vq_avx512_ukr(int kc, const float *a, ptrdiff_t lda, int mr, const float *b,
                                           ptrdiff_t ldb, float *c, ptrdiff_t ldc, int nr, float alpha,
                                           const float *bias, int accumulate) {
#define ROW_PTR(i) const float *a##i = a + (i < mr ? i : 0) * lda;
#define ROW_ACC(i) __m512 c##i = _mm512_setzero_ps();
#define ROW_FMA(i) c##i = _mm512_fmadd_ps(_mm512_set1_ps(a##i[k]), b0, c##i);
    VQ_ROWS12(ROW_PTR)
    VQ_ROWS12(ROW_ACC)
    for (int k = 0; k < kc; k++) {
        const __m512 b0 = _mm512_loadu_ps(b);
        VQ_ROWS12(ROW_FMA)
        b += ldb;
    }
    if (mr == 12 && nr == 16) {
        const __m512 va = _mm512_set1_ps(alpha);
        const __m512 bias0 = bias ? _mm512_loadu_ps(bias) : _mm512_setzero_ps();
#define ROW_OUT(i)                                                                                 \
    {                                                                                              \
        float *cr = c + i * ldc;                                                                   \
        __m512 r = _mm512_mul_ps(c##i, va);                                                        \
        if (bias) r = _mm512_add_ps(r, bias0);                                                     \
        if (accumulate) r = _mm512_add_ps(_mm512_loadu_ps(cr), r);                                 \
        _mm512_storeu_ps(cr, r);                                                                   \
    }
        VQ_ROWS12(ROW_OUT)
    } else {
        VQ_ALIGNED float tile[12 * 16];
#define ROW_TILE(i) _mm512_store_ps(tile + i * 16, c##i);
        VQ_ROWS12(ROW_TILE)
        vq_gemm_edge_epilogue(tile, mr, nr, c, ldc, alpha, bias, accumulate);
    }
#undef ROW_PTR
#undef ROW_ACC
#undef ROW_FMA
#undef ROW_OUT
#undef ROW_TILE
}

#include "vq_simd_template.h"

#endif /* VQ_HAVE_X86 */
