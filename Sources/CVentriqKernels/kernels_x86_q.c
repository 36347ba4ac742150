/*
 * kernels_x86_q.c: x86-64 int8 kernels (contracts in vq_kernels.h, scheme in
 * docs/QUANTIZATION.md), each compiled with a function target attribute; the tables that use
 * them are built in kernels_x86.c.
 *
 * GEMM microkernels (all exact int32 sums; the packed layout is vq_qgemm_pack's: per panel of
 * 16 columns, groups of 4 k x 16 columns = 64 bytes, then 16 int32 column sums):
 *   AVX2         6 rows x 8 columns (half a panel): the 32 weight bytes of a group are sign
 *                extended to int16 (2 ymm: columns 0-3 and 4-7, 4 k each); the activations,
 *                sign extended to int16 once per tile into a stack buffer (9 KiB, chunks of
 *                768 k), are broadcast 4 at a time (64 bits); vpmaddwd gives, per column, two
 *                int32 lanes (k0 k1 and k2 k3), added with vpaddd (no vpmaddubsw: its u8 x s8
 *                pair sums saturate int16); lanes are paired up once per tile. 12 accumulators.
 *   AVX-512 VNNI 12 rows x 32 columns (2 panels): vpdpbusd zmm (u8 x s8, 4 products per int32
 *                lane, no saturation) with the activations made unsigned (a xor 0x80 = a + 128)
 *                and the correction -128 * colsum[n] (from the packed panel) added to the bias.
 *                24 accumulators.
 *   AVX-VNNI     6 rows x 16 columns: the same with ymm and the VEX-encoded vpdpbusd (target
 *                "avxvnni"). 12 accumulators.
 * Rows are read in place with any lda (4 bytes per group; the last, partial group of a K that
 * is not a multiple of 4 is assembled from the remaining bytes and zeros). Partial tiles: rows
 * past M are computed from row 0 and not stored; columns past N are masked (AVX-512) or stored
 * through a small buffer (AVX2).
 *
 * Epilogues, exactly the reference's operations per element:
 *   float: (float)(acc + corr) (vcvtdq2ps, round to nearest even) * out_scale (vmulps)
 *   int8:  saturating left shift (vpsllvd, checked by shifting back), SaturatingRounding-
 *          DoublingHighMul as (x * m + 2^30) >> 31 on 64-bit products (equal to gemmlowp's
 *          nudge-and-truncate, see requantize.c) with INT32_MIN * INT32_MIN -> INT32_MAX,
 *          RoundingDivideByPOT with gemmlowp's mask / threshold formulation, clamp to +-127.
 */
#include "vq_internal.h"

#if VQ_HAVE_X86

#include <immintrin.h>
#include <math.h>

#define VQ_T_AVX2 __attribute__((target("avx2,fma")))
#define VQ_T_512 __attribute__((target("avx512f,avx512bw,avx512vl,avx512vnni,avx2,fma")))
#define VQ_T_VBMI __attribute__((target("avx512f,avx512bw,avx512vbmi")))
#ifdef VQ_TEST_AVX_VNNI_AS_EVEX
/* Test build only (scripts/test-kernels-aarch64.sh): the AVX-VNNI kernels with the EVEX form
 * of vpdpbusd ymm (AVX-512 VNNI + VL, the same operation), for CPUs without AVX-VNNI. */
#define VQ_T_AVXVNNI __attribute__((target("avx2,fma,avx512f,avx512vl,avx512vnni")))
#define VQ_DPBUSD256(acc, u, s) _mm256_dpbusd_epi32((acc), (u), (s))
#else
#define VQ_T_AVXVNNI __attribute__((target("avx2,fma,avxvnni")))
#define VQ_DPBUSD256(acc, u, s) _mm256_dpbusd_avx_epi32((acc), (u), (s))
#endif
#define VQ_INLINE inline __attribute__((always_inline))

/* vpdpbusd acc += u8 x s8. GCC 12 wraps the intrinsics' accumulator in register copies (about
 * half the speed of clang's code); an asm statement with the accumulator tied avoids them. */
#if defined(__GNUC__) && !defined(__clang__)
VQ_T_512 static VQ_INLINE __m512i z_dpbusd(__m512i acc, __m512i u, __m512i s) {
    __asm__("vpdpbusd %2, %1, %0" : "+v"(acc) : "v"(u), "v"(s));
    return acc;
}
#ifdef VQ_TEST_AVX_VNNI_AS_EVEX
#define VQ_DPBUSD256_ASM "vpdpbusd %2, %1, %0"
#else
#define VQ_DPBUSD256_ASM "%{vex%} vpdpbusd %2, %1, %0" /* %{ %}: literal braces */
#endif
VQ_T_AVXVNNI static VQ_INLINE __m256i y_dpbusd(__m256i acc, __m256i u, __m256i s) {
    __asm__(VQ_DPBUSD256_ASM : "+x"(acc) : "x"(u), "x"(s));
    return acc;
}
#else
#define z_dpbusd(acc, u, s) _mm512_dpbusd_epi32((acc), (u), (s))
#define y_dpbusd(acc, u, s) VQ_DPBUSD256((acc), (u), (s))
#endif

/* a xor 0x80 after the broadcast of a group's 4 activation bytes. Written with the intrinsic,
 * clang moves the xor before the broadcast (a scalar xor, then a register-source broadcast: one
 * more shuffle per row and group, about 25 % slower); the asm keeps a broadcast load and one
 * vpxor. */
VQ_T_AVXVNNI static VQ_INLINE __m256i y_flip(__m256i v, __m256i x80) {
    __asm__("vpxor %1, %0, %0" : "+x"(v) : "x"(x80));
    return v;
}

#define VQ_QROWS6(X) X(0) X(1) X(2) X(3) X(4) X(5)
#define VQ_QROWS12(X) VQ_QROWS6(X) X(6) X(7) X(8) X(9) X(10) X(11)

/* ========================================================================================== */
/* AVX2: 8-lane epilogue helpers (also used by AVX-VNNI)                                      */
/* ========================================================================================== */

/* The epilogue parameters of 8 columns, loaded once per tile (stores to C may alias vq_qcols, so
 * loading them per row would repeat the loads), with the per-column parts of the requantization
 * precomputed. */
typedef struct {
    __m256i corr, mult, mult_odd, left, right, rmask, rhalf, mult_min;
    __m256 scale;
    int any_left, any_min;
} y_params;

VQ_T_AVX2 static VQ_INLINE y_params y_params_load(const vq_qgemm_args *g, const vq_qcols *cols, int c) {
    y_params p;
    p.corr = _mm256_load_si256((const __m256i *)(cols->corr + c));
    if (g->Cf) {
        p.scale = _mm256_load_ps(cols->scale + c);
        p.mult = p.mult_odd = p.left = p.right = p.rmask = p.rhalf = p.mult_min = _mm256_setzero_si256();
        p.any_left = p.any_min = 0;
    } else {
        const __m256i one = _mm256_set1_epi32(1);
        p.scale = _mm256_setzero_ps();
        p.mult = _mm256_load_si256((const __m256i *)(cols->mult + c));
        p.left = _mm256_load_si256((const __m256i *)(cols->left + c));
        p.right = _mm256_load_si256((const __m256i *)(cols->right + c));
        p.rmask = _mm256_sub_epi32(_mm256_sllv_epi32(one, p.right), one); /* 2^right - 1 */
        p.rhalf = _mm256_srli_epi32(p.rmask, 1);
        p.mult_odd = _mm256_srli_epi64(p.mult, 32);
        p.mult_min = _mm256_cmpeq_epi32(p.mult, _mm256_set1_epi32(INT32_MIN));
        p.any_left = !_mm256_testz_si256(p.left, p.left);
        p.any_min = !_mm256_testz_si256(p.mult_min, p.mult_min);
    }
    return p;
}

/* vq_requantize on 8 lanes and the lower clamp (-127; the saturating narrowing does 127). */
VQ_T_AVX2 static VQ_INLINE __m256i avx2_requant(__m256i acc, const y_params *p) {
    __m256i x = acc;
    if (p->any_left) { /* x = acc * 2^left, saturated: overflow iff shifting back does not give acc */
        x = _mm256_sllv_epi32(acc, p->left);
        const __m256i ok = _mm256_cmpeq_epi32(_mm256_srav_epi32(x, p->left), acc);
        const __m256i sat = _mm256_xor_si256(_mm256_srai_epi32(acc, 31), _mm256_set1_epi32(INT32_MAX));
        x = _mm256_blendv_epi8(sat, x, ok); /* acc < 0: INT32_MIN, else INT32_MAX */
    }
    /* SaturatingRoundingDoublingHighMul: (x * mult + 2^30) >> 31 per lane, from 64-bit products */
    const __m256i nudge = _mm256_set1_epi64x((long long)1 << 30);
    __m256i even = _mm256_mul_epi32(x, p->mult);
    __m256i odd = _mm256_mul_epi32(_mm256_srli_epi64(x, 32), p->mult_odd);
    even = _mm256_srli_epi64(_mm256_add_epi64(even, nudge), 31); /* bits 31..62 -> low half */
    odd = _mm256_slli_epi64(_mm256_add_epi64(odd, nudge), 1);    /* bits 31..62 -> high half */
    __m256i h = _mm256_blend_epi32(even, odd, 0xAA);
    /* INT32_MIN * INT32_MIN: h holds INT32_MIN (2^31 wrapped); flip it to INT32_MAX */
    if (p->any_min)
        h = _mm256_xor_si256(h, _mm256_and_si256(_mm256_cmpeq_epi32(x, _mm256_set1_epi32(INT32_MIN)), p->mult_min));
    /* RoundingDivideByPOT(h, right): + 1 where (h & mask) > (mask >> 1) + (h < 0) */
    const __m256i rem = _mm256_and_si256(h, p->rmask);
    const __m256i thr = _mm256_sub_epi32(p->rhalf, _mm256_srai_epi32(h, 31));
    __m256i r = _mm256_sub_epi32(_mm256_srav_epi32(h, p->right), _mm256_cmpgt_epi32(rem, thr));
    return _mm256_max_epi32(r, _mm256_set1_epi32(-127)); /* avx2_narrow8 saturates at 127 */
}

/* 8 int32 -> 8 bytes (low 64 bits), saturating to [-128, 127]. */
VQ_T_AVX2 static VQ_INLINE __m128i avx2_narrow8(__m256i v) {
    const __m128i w = _mm_packs_epi32(_mm256_castsi256_si128(v), _mm256_extracti128_si256(v, 1));
    return _mm_packs_epi16(w, w);
}

/* The epilogue of 8 columns n0..n0+nr-1 (nr in 1..8) of row i from raw sums s. */
VQ_T_AVX2 static VQ_INLINE void avx2_store8(const vq_qgemm_args *g, const y_params *p, __m256i s, int i, int n0,
                                            int nr) {
    const __m256i acc = _mm256_add_epi32(s, p->corr);
    if (g->Cf) {
        const __m256 v = _mm256_mul_ps(_mm256_cvtepi32_ps(acc), p->scale);
        float *dst = g->Cf + (ptrdiff_t)i * g->ldc + n0;
        if (nr == 8) {
            _mm256_storeu_ps(dst, v);
        } else {
            VQ_ALIGNED float buf[8];
            _mm256_store_ps(buf, v);
            memcpy(dst, buf, sizeof(float) * (size_t)nr);
        }
    } else {
        const __m128i b = avx2_narrow8(avx2_requant(acc, p));
        int8_t *dst = g->Cq + (ptrdiff_t)i * g->ldc + n0;
        if (nr == 8) {
            _mm_storel_epi64((__m128i *)dst, b);
        } else {
            VQ_ALIGNED int8_t buf[16];
            _mm_store_si128((__m128i *)buf, b);
            memcpy(dst, buf, (size_t)nr);
        }
    }
}

/* ========================================================================================== */
/* AVX2 GEMM                                                                                  */
/* ========================================================================================== */

/* Activations are sign-extended to int16 once per tile (K <= Y2_KC: 6 rows x K in a 9 KiB
 * stack buffer, shared by both halves of the panel) or once per K chunk and half (longer K), so
 * that the inner loop broadcasts the 4 int16 of a group straight from memory (a load, no
 * shuffle). With the driver's 5 KiB of column parameters the stack stays under 16 KiB. */
#define Y2_KC 768

/* Rows i0..i0+mr-1, k0 .. k0+kc-1 of A -> abuf (row r at r * Y2_KC), zero-padded to a multiple
 * of 4. */
VQ_T_AVX2 static void avx2_widen_rows(const vq_qgemm_args *g, int i0, int mr, int k0, int kc, int16_t *abuf) {
    for (int r = 0; r < mr; r++) {
        const int8_t *src = g->A + (ptrdiff_t)(i0 + r) * g->lda + k0;
        int16_t *dst = abuf + (ptrdiff_t)r * Y2_KC;
        int j = 0;
        for (; j + 16 <= kc; j += 16)
            _mm256_store_si256((__m256i *)(dst + j), _mm256_cvtepi8_epi16(_mm_loadu_si128((const __m128i *)(src + j))));
        for (; j < kc; j++) dst[j] = src[j];
        for (; j % 4; j++) dst[j] = 0;
    }
}

/* Rows i0.. (mr of 6) x columns 16p + 8h .. +7 of the panel; widened = abuf already holds the
 * whole K (K <= Y2_KC). */
VQ_T_AVX2 static void avx2_tile(const vq_qgemm_args *g, const vq_qcols *cols, int i0, int mr, int p, int pc, int h,
                                int16_t *abuf, int widened) {
    const int K = g->K;
    const int8_t *panel = vq_qpanel(g->packed, K, p) + 32 * h;
#define ROW_PTR(r) const int16_t *a##r = abuf + (ptrdiff_t)(r < mr ? r : 0) * Y2_KC;
#define ROW_ACC(r) __m256i c##r##0 = _mm256_setzero_si256(), c##r##1 = _mm256_setzero_si256();
#define ROW_MAC(r)                                                                                 \
    {                                                                                              \
        int64_t q;                                                                                 \
        memcpy(&q, a##r + 4 * k, sizeof q);                                                        \
        const __m256i av = _mm256_set1_epi64x(q);                                                  \
        c##r##0 = _mm256_add_epi32(c##r##0, _mm256_madd_epi16(av, w0));                            \
        c##r##1 = _mm256_add_epi32(c##r##1, _mm256_madd_epi16(av, w1));                            \
    }
    VQ_QROWS6(ROW_PTR)
    VQ_QROWS6(ROW_ACC)
    for (int k0 = 0; k0 < K; k0 += Y2_KC) {
        const int kc = K - k0 < Y2_KC ? K - k0 : Y2_KC, groups = (kc + 3) / 4;
        if (!widened) avx2_widen_rows(g, i0, mr, k0, kc, abuf);
        const int8_t *b = panel + 16 * (ptrdiff_t)k0;
        for (int k = 0; k < groups; k++) {
            const __m256i w0 = _mm256_cvtepi8_epi16(_mm_loadu_si128((const __m128i *)(b + 64 * (ptrdiff_t)k)));
            const __m256i w1 = _mm256_cvtepi8_epi16(_mm_loadu_si128((const __m128i *)(b + 64 * (ptrdiff_t)k + 16)));
            VQ_QROWS6(ROW_MAC)
        }
    }
    const int n0 = 16 * p + 8 * h, nr = g->N - n0 < 8 ? g->N - n0 : 8;
    const y_params par = y_params_load(g, cols, 16 * pc + 8 * h);
    /* lanes (k01, k23) of columns 0-3 and 4-7 -> one sum per column: hadd gives columns
     * 0 1 4 5 | 2 3 6 7, the 64-bit permute puts them in order */
#define ROW_OUT(r)                                                                                 \
    if (r < mr) avx2_store8(g, &par, _mm256_permute4x64_epi64(_mm256_hadd_epi32(c##r##0, c##r##1), 0xD8), \
                            i0 + r, n0, nr);
    VQ_QROWS6(ROW_OUT)
#undef ROW_PTR
#undef ROW_ACC
#undef ROW_MAC
#undef ROW_OUT
}

VQ_T_AVX2 static void avx2_ukr(const vq_qgemm_args *g, const vq_qcols *cols, int i0, int mr, int p, int pc, int np) {
    (void)np; /* NP = 1 */
    VQ_ALIGNED int16_t abuf[6 * Y2_KC];
    const int widened = g->K <= Y2_KC;
    if (widened) avx2_widen_rows(g, i0, mr, 0, g->K, abuf);
    avx2_tile(g, cols, i0, mr, p, pc, 0, abuf, widened);
    if (16 * p + 8 < g->N) avx2_tile(g, cols, i0, mr, p, pc, 1, abuf, widened);
}

VQ_DEFINE_QGEMM_ENTRIES(, vq_avx2, 6, 1, 0, avx2_ukr)

/* ========================================================================================== */
/* AVX-VNNI GEMM (ymm)                                                                        */
/* ========================================================================================== */

VQ_T_AVXVNNI static void avxvnni_ukr(const vq_qgemm_args *g, const vq_qcols *cols, int i0, int mr, int p, int pc,
                                     int np) {
    (void)np; /* NP = 1 */
    const int K = g->K, kfull = K / 4, ktail = K % 4;
    const int8_t *b = vq_qpanel(g->packed, K, p);
    const __m256i x80 = _mm256_set1_epi32((int)0x80808080u);
#define ROW_PTR(r) const int8_t *a##r = g->A + (ptrdiff_t)(i0 + (r < mr ? r : 0)) * g->lda;
#define ROW_ACC(r) __m256i c##r##0 = _mm256_setzero_si256(), c##r##1 = _mm256_setzero_si256();
#define ROW_MAC(r, GROUP)                                                                          \
    {                                                                                              \
        const __m256i av = y_flip(_mm256_set1_epi32(GROUP), x80);                                  \
        c##r##0 = y_dpbusd(c##r##0, av, w0);                                                       \
        c##r##1 = y_dpbusd(c##r##1, av, w1);                                                       \
    }
#define ROW_FULL(r) ROW_MAC(r, vq_load_group(a##r + 4 * k))
#define ROW_TAIL(r) ROW_MAC(r, vq_load_group_tail(a##r + 4 * k, ktail))
    VQ_QROWS6(ROW_PTR)
    VQ_QROWS6(ROW_ACC)
    int k = 0;
    for (; k < kfull; k++) {
        const __m256i w0 = _mm256_loadu_si256((const __m256i *)(b + 64 * (ptrdiff_t)k));
        const __m256i w1 = _mm256_loadu_si256((const __m256i *)(b + 64 * (ptrdiff_t)k + 32));
        VQ_QROWS6(ROW_FULL)
    }
    if (ktail) {
        const __m256i w0 = _mm256_loadu_si256((const __m256i *)(b + 64 * (ptrdiff_t)k));
        const __m256i w1 = _mm256_loadu_si256((const __m256i *)(b + 64 * (ptrdiff_t)k + 32));
        VQ_QROWS6(ROW_TAIL)
    }
    const int n0 = 16 * p, nr = g->N - n0 < 16 ? g->N - n0 : 16;
#define ROW_OUT0(r)                                                                                \
    if (r < mr) avx2_store8(g, &par, c##r##0, i0 + r, n0, nr < 8 ? nr : 8);
#define ROW_OUT1(r)                                                                                \
    if (r < mr) avx2_store8(g, &par, c##r##1, i0 + r, n0 + 8, nr - 8);
    {
        const y_params par = y_params_load(g, cols, 16 * pc);
        VQ_QROWS6(ROW_OUT0)
    }
    if (nr > 8) {
        const y_params par = y_params_load(g, cols, 16 * pc + 8);
        VQ_QROWS6(ROW_OUT1)
    }
#undef ROW_OUT0
#undef ROW_OUT1
#undef ROW_PTR
#undef ROW_ACC
#undef ROW_MAC
#undef ROW_FULL
#undef ROW_TAIL
#undef ROW_OUT
}

VQ_DEFINE_QGEMM_ENTRIES(VQ_T_AVXVNNI, vq_avxvnni, 6, 1, 1, avxvnni_ukr)

/* ========================================================================================== */
/* AVX-512 VNNI GEMM (zmm)                                                                    */
/* ========================================================================================== */

/* The epilogue parameters of 16 columns (see y_params). */
typedef struct {
    __m512i corr, mult, mult_odd, left, right, rmask, rhalf;
    __m512 scale;
    __mmask16 mult_min, cols;
    int any_left;
} z_params;

VQ_T_512 static VQ_INLINE z_params z_params_load(const vq_qgemm_args *g, const vq_qcols *cols, int c, int nr) {
    z_params p;
    p.cols = (__mmask16)((1u << nr) - 1u);
    p.corr = _mm512_load_si512(cols->corr + c);
    if (g->Cf) {
        p.scale = _mm512_load_ps(cols->scale + c);
        p.mult = p.mult_odd = p.left = p.right = p.rmask = p.rhalf = _mm512_setzero_si512();
        p.mult_min = 0;
        p.any_left = 0;
    } else {
        const __m512i one = _mm512_set1_epi32(1);
        p.scale = _mm512_setzero_ps();
        p.mult = _mm512_load_si512(cols->mult + c);
        p.left = _mm512_load_si512(cols->left + c);
        p.right = _mm512_load_si512(cols->right + c);
        p.rmask = _mm512_sub_epi32(_mm512_sllv_epi32(one, p.right), one);
        p.rhalf = _mm512_srli_epi32(p.rmask, 1);
        p.mult_odd = _mm512_srli_epi64(p.mult, 32);
        p.mult_min = _mm512_cmpeq_epi32_mask(p.mult, _mm512_set1_epi32(INT32_MIN));
        p.any_left = _mm512_test_epi32_mask(p.left, p.left) != 0;
    }
    return p;
}

/* vq_requantize on 16 lanes and the clamp (see avx2_requant). */
VQ_T_512 static VQ_INLINE __m512i z_requant(__m512i acc, const z_params *p) {
    __m512i x = acc;
    if (p->any_left) {
        x = _mm512_sllv_epi32(acc, p->left);
        const __mmask16 ovf = _mm512_cmpneq_epi32_mask(_mm512_srav_epi32(x, p->left), acc);
        x = _mm512_mask_mov_epi32(x, ovf, _mm512_xor_si512(_mm512_srai_epi32(acc, 31), _mm512_set1_epi32(INT32_MAX)));
    }
    const __m512i nudge = _mm512_set1_epi64((long long)1 << 30);
    __m512i even = _mm512_mul_epi32(x, p->mult);
    __m512i odd = _mm512_mul_epi32(_mm512_srli_epi64(x, 32), p->mult_odd);
    even = _mm512_srli_epi64(_mm512_add_epi64(even, nudge), 31);
    odd = _mm512_slli_epi64(_mm512_add_epi64(odd, nudge), 1);
    __m512i h = _mm512_mask_blend_epi32((__mmask16)0xAAAA, even, odd);
    if (p->mult_min) { /* INT32_MIN * INT32_MIN saturates */
        const __mmask16 both_min = _mm512_mask_cmpeq_epi32_mask(p->mult_min, x, _mm512_set1_epi32(INT32_MIN));
        h = _mm512_mask_mov_epi32(h, both_min, _mm512_set1_epi32(INT32_MAX));
    }
    const __m512i rem = _mm512_and_si512(h, p->rmask);
    const __m512i thr = _mm512_sub_epi32(p->rhalf, _mm512_srai_epi32(h, 31));
    __m512i r = _mm512_srav_epi32(h, p->right);
    r = _mm512_mask_add_epi32(r, _mm512_cmpgt_epi32_mask(rem, thr), r, _mm512_set1_epi32(1));
    return _mm512_max_epi32(r, _mm512_set1_epi32(-127)); /* the saturating narrowing clamps at 127 */
}

VQ_T_512 static VQ_INLINE void z_store16(const vq_qgemm_args *g, const z_params *p, __m512i s, int i, int n0) {
    const __m512i acc = _mm512_add_epi32(s, p->corr);
    if (g->Cf) {
        const __m512 v = _mm512_mul_ps(_mm512_cvtepi32_ps(acc), p->scale);
        _mm512_mask_storeu_ps(g->Cf + (ptrdiff_t)i * g->ldc + n0, p->cols, v);
    } else {
        const __m128i b = _mm512_cvtsepi32_epi8(z_requant(acc, p)); /* saturating: <= 127 */
        int8_t *dst = g->Cq + (ptrdiff_t)i * g->ldc + n0;
        if (p->cols == 0xFFFF) _mm_storeu_si128((__m128i *)dst, b);
        else _mm_mask_storeu_epi8(dst, p->cols, b);
    }
}

/* 12 rows x NP (1 or 2) panels. */
VQ_T_512 static VQ_INLINE void z_tile(const vq_qgemm_args *g, const vq_qcols *cols, int i0, int mr, int p, int pc,
                                      const int NP) {
    const int K = g->K, kfull = K / 4, ktail = K % 4;
    const int8_t *b0 = vq_qpanel(g->packed, K, p);
    const int8_t *b1 = NP == 2 ? b0 + g->panel_bytes : b0;
    const __m512i x80 = _mm512_set1_epi32((int)0x80808080u);
#define ROW_PTR(r) const int8_t *a##r = g->A + (ptrdiff_t)(i0 + (r < mr ? r : 0)) * g->lda;
#define ROW_ACC(r) __m512i c##r##0 = _mm512_setzero_si512(), c##r##1 = _mm512_setzero_si512();
#define ROW_MAC(r, GROUP)                                                                          \
    {                                                                                              \
        const __m512i av = _mm512_xor_si512(_mm512_set1_epi32(GROUP), x80);                        \
        c##r##0 = z_dpbusd(c##r##0, av, w0);                                                       \
        if (NP == 2) c##r##1 = z_dpbusd(c##r##1, av, w1);                                          \
    }
#define ROW_FULL(r) ROW_MAC(r, vq_load_group(a##r + 4 * k))
#define ROW_TAIL(r) ROW_MAC(r, vq_load_group_tail(a##r + 4 * k, ktail))
    VQ_QROWS12(ROW_PTR)
    VQ_QROWS12(ROW_ACC)
    int k = 0;
    for (; k < kfull; k++) {
        const __m512i w0 = _mm512_loadu_si512(b0 + 64 * (ptrdiff_t)k);
        const __m512i w1 = NP == 2 ? _mm512_loadu_si512(b1 + 64 * (ptrdiff_t)k) : w0;
        VQ_QROWS12(ROW_FULL)
    }
    if (ktail) {
        const __m512i w0 = _mm512_loadu_si512(b0 + 64 * (ptrdiff_t)k);
        const __m512i w1 = NP == 2 ? _mm512_loadu_si512(b1 + 64 * (ptrdiff_t)k) : w0;
        VQ_QROWS12(ROW_TAIL)
    }
    const int n0 = 16 * p, nr0 = g->N - n0 < 16 ? g->N - n0 : 16;
#define ROW_OUT0(r)                                                                                \
    if (r < mr) z_store16(g, &par, c##r##0, i0 + r, n0);
#define ROW_OUT1(r)                                                                                \
    if (r < mr) z_store16(g, &par, c##r##1, i0 + r, n0 + 16);
    {
        const z_params par = z_params_load(g, cols, 16 * pc, nr0);
        VQ_QROWS12(ROW_OUT0)
    }
    if (NP == 2) {
        const int nr1 = g->N - n0 - 16 < 16 ? g->N - n0 - 16 : 16; /* >= 1: the panel exists */
        const z_params par = z_params_load(g, cols, 16 * pc + 16, nr1);
        VQ_QROWS12(ROW_OUT1)
    }
#undef ROW_OUT0
#undef ROW_OUT1
#undef ROW_PTR
#undef ROW_ACC
#undef ROW_MAC
#undef ROW_FULL
#undef ROW_TAIL
#undef ROW_OUT
}

VQ_T_512 static void z_ukr(const vq_qgemm_args *g, const vq_qcols *cols, int i0, int mr, int p, int pc, int np) {
    if (np == 2) z_tile(g, cols, i0, mr, p, pc, 2);
    else z_tile(g, cols, i0, mr, p, pc, 1);
}

VQ_DEFINE_QGEMM_ENTRIES(VQ_T_512, vq_avx512vnni, 12, 2, 1, z_ukr)

/* ========================================================================================== */
/* Quantization                                                                               */
/* ========================================================================================== */

/* p = x * inv; NaN -> 0 (and-mask of the ordered comparison); clamp to [-127, 127] (no NaN left,
 * so min/max are exact); round to nearest even (MXCSR default) while converting. */
VQ_T_AVX2 static VQ_INLINE __m256i avx2_quant8(__m256 x, __m256 inv) {
    __m256 p = _mm256_mul_ps(x, inv);
    p = _mm256_and_ps(p, _mm256_cmp_ps(p, p, _CMP_ORD_Q));
    p = _mm256_min_ps(_mm256_max_ps(p, _mm256_set1_ps(-127.0f)), _mm256_set1_ps(127.0f));
    return _mm256_cvtps_epi32(p);
}

VQ_T_AVX2 void vq_avx2_quantize_s8(int rows, int cols, const float *x, int ldx, float inv_scale, int8_t *y, int ldy) {
    const __m256 inv = _mm256_set1_ps(inv_scale);
    for (int r = 0; r < rows; r++) {
        const float *xr = x + (ptrdiff_t)r * ldx;
        int8_t *yr = y + (ptrdiff_t)r * ldy;
        int c = 0;
        for (; c + 16 <= cols; c += 16) {
            const __m256i lo = avx2_quant8(_mm256_loadu_ps(xr + c), inv);
            const __m256i hi = avx2_quant8(_mm256_loadu_ps(xr + c + 8), inv);
            /* packs works per 128-bit lane: 0-3 8-11 | 4-7 12-15 -> reorder the 64-bit quarters */
            const __m256i w = _mm256_permute4x64_epi64(_mm256_packs_epi32(lo, hi), 0xD8);
            _mm_storeu_si128((__m128i *)(yr + c),
                             _mm_packs_epi16(_mm256_castsi256_si128(w), _mm256_extracti128_si256(w, 1)));
        }
        for (; c + 8 <= cols; c += 8) _mm_storel_epi64((__m128i *)(yr + c), avx2_narrow8(avx2_quant8(_mm256_loadu_ps(xr + c), inv)));
        if (c < cols) vq_ref_quantize_s8(1, cols - c, xr + c, ldx, inv_scale, yr + c, ldy);
    }
}

VQ_T_512 void vq_avx512vnni_quantize_s8(int rows, int cols, const float *x, int ldx, float inv_scale, int8_t *y,
                                        int ldy) {
    const __m512 inv = _mm512_set1_ps(inv_scale);
    for (int r = 0; r < rows; r++) {
        const float *xr = x + (ptrdiff_t)r * ldx;
        int8_t *yr = y + (ptrdiff_t)r * ldy;
        for (int c = 0; c < cols; c += 16) {
            const __mmask16 m = cols - c >= 16 ? (__mmask16)0xFFFF : (__mmask16)((1u << (cols - c)) - 1u);
            __m512 p = _mm512_mul_ps(_mm512_maskz_loadu_ps(m, xr + c), inv);
            p = _mm512_maskz_mov_ps(_mm512_cmp_ps_mask(p, p, _CMP_ORD_Q), p);
            p = _mm512_min_ps(_mm512_max_ps(p, _mm512_set1_ps(-127.0f)), _mm512_set1_ps(127.0f));
            _mm512_mask_cvtsepi32_storeu_epi8(yr + c, m, _mm512_cvtps_epi32(p));
        }
    }
}

/* ========================================================================================== */
/* Lookup table                                                                               */
/* ========================================================================================== */

/* AVX-512 VBMI: index x + 128 = x xor 0x80; vpermi2b looks up 128 entries by bits 0-6, bit 7
 * picks the half. */
VQ_T_VBMI static void vbmi_lut_s8(int n, const int8_t *x, const int8_t *lut256, int8_t *y) {
    const __m512i t0 = _mm512_loadu_si512(lut256), t1 = _mm512_loadu_si512(lut256 + 64);
    const __m512i t2 = _mm512_loadu_si512(lut256 + 128), t3 = _mm512_loadu_si512(lut256 + 192);
    const __m512i x80 = _mm512_set1_epi8((char)0x80);
    for (int i = 0; i < n; i += 64) {
        const __mmask64 m = n - i >= 64 ? ~(__mmask64)0 : (((__mmask64)1 << (n - i)) - 1);
        const __m512i idx = _mm512_xor_si512(_mm512_maskz_loadu_epi8(m, x + i), x80);
        const __m512i lo = _mm512_permutex2var_epi8(t0, idx, t1), hi = _mm512_permutex2var_epi8(t2, idx, t3);
        _mm512_mask_storeu_epi8(y + i, m, _mm512_mask_blend_epi8(_mm512_movepi8_mask(idx), lo, hi));
    }
}

/* The avx512_vnni table's lookup: VBMI where the CPU has it (Ice Lake, Zen 4 and later; not
 * Cascade Lake), else the reference. Same bits either way. */
void vq_avx512vnni_lut_s8(int n, const int8_t *x, const int8_t *lut256, int8_t *y) {
    __builtin_cpu_init();
    if (__builtin_cpu_supports("avx512vbmi") && __builtin_cpu_supports("avx512bw")) vbmi_lut_s8(n, x, lut256, y);
    else vq_ref_lut_s8(n, x, lut256, y);
}

#endif /* VQ_HAVE_X86 */
