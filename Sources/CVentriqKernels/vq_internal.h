/*
 * vq_internal.h: what the kernel files share and the public header does not show.
 */
#ifndef VQ_INTERNAL_H
#define VQ_INTERNAL_H

#include "vq_kernels.h"

#include <stddef.h>
#include <stdint.h>
#include <string.h>

/* Which SIMD files have content in this build. */
#if defined(__x86_64__) || defined(_M_X64)
#define VQ_HAVE_X86 1
#else
#define VQ_HAVE_X86 0
#endif
#if defined(__aarch64__) && defined(__ARM_NEON)
#define VQ_HAVE_NEON 1
#else
#define VQ_HAVE_NEON 0
#endif

/* GEMM blocking shared by every SIMD driver: K is cut into slices of VQ_GEMM_KC so that one
 * weight panel slice (KC x 16 floats = 16 KiB) stays in L1 while the row blocks stream past it;
 * M into blocks of (microkernel rows x VQ_GEMM_MC_TILES) rows (A block in L2). */
#define VQ_GEMM_KC 256
#define VQ_GEMM_MC_TILES 32

/* The per-ISA tables (defined in their files; NULL-free). */
extern const vq_kernel_table vq_table_reference;
#if VQ_HAVE_X86
extern const vq_kernel_table vq_table_avx2;
extern const vq_kernel_table vq_table_avx512;
#endif
#if VQ_HAVE_NEON
extern const vq_kernel_table vq_table_neon;
extern const vq_kernel_table vq_table_neon_dotprod;
#endif
#if VQ_HAVE_X86
extern const vq_kernel_table vq_table_avx512_vnni;
extern const vq_kernel_table vq_table_avx_vnni;
#endif

/* Elements of the packed panel p, k-slice k0: the same arithmetic everywhere. */
static inline const float *vq_packed_panel(const float *packed, int K, int p, int k0) {
    return packed + (size_t)p * (size_t)K * VQ_SGEMM_NR + (size_t)k0 * VQ_SGEMM_NR;
}

/* GEMM modes of the shared SIMD driver (vq_simd_template.h). */
#define VQ_GEMM_PACKED 0 /* B: packed weight panels (vq_sgemm_pack) */
#define VQ_GEMM_NT 1     /* B: [N, K] row-major, used transposed (copied into a stack panel) */
#define VQ_GEMM_NN 2     /* B: [K, N] row-major, read in place (last partial panel copied) */

/* Name pasting for the per-ISA copies of vq_simd_template.h: VQ_FN(add) -> vq_avx2_add. */
#define VQ_CAT2(a, b) a##b
#define VQ_CAT(a, b) VQ_CAT2(a, b)
#define VQ_FN(name) VQ_CAT(VQ_CAT(vq_, VQ_SFX), VQ_CAT(_, name))

#define VQ_ALIGNED __attribute__((aligned(64)))

/*
 * The scalar epilogue of a partial microkernel tile (mr < MR rows or nr < 16 columns): the
 * accumulators were stored to tile[i * 16 + j]; applies exactly the operations of the vector
 * epilogue, element by element, so both give the same bits:
 *   r = acc * alpha; if (bias) r = r + bias[j]; if (accumulate) r = C + r; C = r.
 */
static inline void vq_gemm_edge_epilogue(const float *tile, int mr, int nr, float *c, ptrdiff_t ldc,
                                         float alpha, const float *bias, int accumulate) {
    for (int i = 0; i < mr; i++) {
        float *cr = c + (ptrdiff_t)i * ldc;
        for (int j = 0; j < nr; j++) {
            float r = tile[i * VQ_SGEMM_NR + j] * alpha;
            if (bias) r = r + bias[j];
            if (accumulate) r = cr[j] + r;
            cr[j] = r;
        }
    }
}

/* C = (alpha * 0) (+ bias) (C +): what a GEMM with K = 0 writes, with the reference's operations. */
static inline void vq_gemm_k0(int M, int N, float alpha, const float *bias, int accumulate, float *C,
                              int ldc) {
    for (int i = 0; i < M; i++) {
        float *cr = C + (ptrdiff_t)i * ldc;
        for (int j = 0; j < N; j++) {
            float r = alpha * 0.0f;
            if (bias) r = r + bias[j];
            if (accumulate) r = cr[j] + r;
            cr[j] = r;
        }
    }
}

/* The dynamic symmetric scale of a vector whose largest finite magnitude is amax (the one
 * definition, for vq_quantize_rows_s8 on every ISA and vq_attention_s8): scale = amax / 127,
 * inv = 127 / amax; amax 0 (or not finite) gives scale 0 and inv 0, so every value becomes 0. */
static inline void vq_dynamic_scale(float amax, float *scale, float *inv) {
    if (amax > 0.0f && amax <= 3.4028234663852886e38f) {
        *scale = amax / 127.0f;
        *inv = 127.0f / amax;
    } else {
        *scale = 0.0f;
        *inv = 0.0f;
    }
}

/* ------------------------------------------------------------------------------------------ */
/* int8 GEMM: layout helpers and the driver shared by every SIMD version                      */
/* ------------------------------------------------------------------------------------------ */

/* K rounded up to a multiple of 4 (the packed K). */
static inline int vq_qgemm_kp(int K) { return (K + 3) & ~3; }

/* The first byte of panel p. */
static inline const int8_t *vq_qpanel(const int8_t *packed, int K, int p) {
    return packed + (size_t)p * VQ_QGEMM_PANEL_BYTES(K);
}

/* Column j's weight sum, stored after the panel's groups. */
static inline int32_t vq_qpanel_colsum(const int8_t *panel, int K, int j) {
    int32_t v;
    memcpy(&v, panel + (size_t)16 * (size_t)vq_qgemm_kp(K) + 4 * (size_t)j, sizeof v);
    return v;
}

/* A 4-byte group of row a starting at k (k + 4 <= K), as one int32 (native order). */
static inline int32_t vq_load_group(const int8_t *a) {
    int32_t v;
    memcpy(&v, a, sizeof v);
    return v;
}

/* The last, partial group of a row: bytes k0 .. K-1 then zeros (padding k of W are 0 anyway,
 * so any value would do; zero keeps the products 0). */
static inline int32_t vq_load_group_tail(const int8_t *a, int n) {
    int8_t b[4] = {0, 0, 0, 0};
    for (int t = 0; t < n; t++) b[t] = a[t];
    int32_t v;
    memcpy(&v, b, sizeof v);
    return v;
}

/* Column blocks: at most this many panels, and about this many weight bytes, so that the block
 * stays in L2 while all row tiles of A stream past it (each row tile stays in L1). */
#define VQ_QGEMM_BLOCK_PANELS 16
#define VQ_QGEMM_BLOCK_BYTES (256 * 1024)

/* The per-column epilogue parameters of one column block, zero-padded to whole panels, so that
 * microkernels load them as full vectors:
 *   corr  = bias (+ the -128 colsum correction for the VNNI kernels), wrapping int32
 *   scale = out_scale (float output); mult, left, right = multiplier and the split, clamped
 *   shift (int8 output). */
typedef struct {
    VQ_ALIGNED int32_t corr[VQ_QGEMM_BLOCK_PANELS * 16];
    VQ_ALIGNED float scale[VQ_QGEMM_BLOCK_PANELS * 16];
    VQ_ALIGNED int32_t mult[VQ_QGEMM_BLOCK_PANELS * 16];
    VQ_ALIGNED int32_t left[VQ_QGEMM_BLOCK_PANELS * 16];
    VQ_ALIGNED int32_t right[VQ_QGEMM_BLOCK_PANELS * 16];
} vq_qcols;

/* Everything a microkernel needs about one int8 GEMM call. */
typedef struct {
    int M, N, K;
    const int8_t *A;
    ptrdiff_t lda;
    const int8_t *packed;
    size_t panel_bytes;
    const int32_t *bias;
    const float *scale;                    /* float output: out_scale */
    const int32_t *mult, *shift;           /* int8 output */
    float *Cf;                             /* float output, or NULL */
    int8_t *Cq;                            /* int8 output, or NULL */
    ptrdiff_t ldc;
    int vnni;                              /* 1: corr includes -128 colsum */
} vq_qgemm_args;

/* A microkernel: rows i0 .. i0+mr-1 (mr <= its MR; rows past mr may be read as row i0) times
 * panels p .. p+np-1 (np <= its NP; column parameters at cols->...[16 * pc]), the whole K, with
 * the epilogue, writing only the mr rows and the columns < N. */
typedef void (*vq_qukr_fn)(const vq_qgemm_args *g, const vq_qcols *cols, int i0, int mr, int p, int pc,
                           int np);

static inline void vq_qcols_fill(vq_qcols *cols, const vq_qgemm_args *g, int p0, int p1) {
    /* Per panel, with the tests hoisted out of the column loops: attention calls this for every
     * block of query rows (300 columns each), where a per-column loop with the tests inside cost
     * about 8 cycles a column, 3 % of an int8 window. */
    const size_t sums = (size_t)16 * (size_t)vq_qgemm_kp(g->K);
    for (int p = p0; p < p1; p++) {
        const int c0 = 16 * (p - p0), n0 = 16 * p;
        const int nr = g->N - n0 < 16 ? g->N - n0 : 16;
        int32_t colsum[16];
        memcpy(colsum, vq_qpanel(g->packed, g->K, p) + sums, sizeof colsum);
        int32_t *corr = cols->corr + c0;
        for (int j = 0; j < nr; j++) {
            uint32_t v = g->bias ? (uint32_t)g->bias[n0 + j] : 0u;
            if (g->vnni) v -= 128u * (uint32_t)colsum[j];
            corr[j] = (int32_t)v;
        }
        if (g->Cf) {
            for (int j = 0; j < nr; j++) cols->scale[c0 + j] = g->scale[n0 + j];
        } else {
            for (int j = 0; j < nr; j++) {
                const int32_t sh = g->shift[n0 + j], s = sh < -31 ? -31 : sh > 31 ? 31 : sh;
                cols->mult[c0 + j] = g->mult[n0 + j];
                cols->left[c0 + j] = s > 0 ? s : 0;
                cols->right[c0 + j] = s > 0 ? 0 : -s;
            }
        }
        for (int j = nr; j < 16; j++) {
            cols->corr[c0 + j] = 0, cols->scale[c0 + j] = 0.0f;
            cols->mult[c0 + j] = 0, cols->left[c0 + j] = 0, cols->right[c0 + j] = 0;
        }
    }
}

/* Loops: column blocks (<= 16 panels, ~256 KiB of weights), row tiles of MR rows, groups of NP
 * panels. M, N, K >= 1. */
static inline void vq_qgemm_drive(const vq_qgemm_args *g, int MR, int NP, vq_qukr_fn ukr) {
    VQ_ALIGNED vq_qcols cols;
    const int panels = (g->N + 15) / 16;
    int nbp = (int)(VQ_QGEMM_BLOCK_BYTES / g->panel_bytes);
    if (nbp > VQ_QGEMM_BLOCK_PANELS) nbp = VQ_QGEMM_BLOCK_PANELS;
    nbp -= nbp % NP;
    if (nbp < NP) nbp = NP;
    for (int pb = 0; pb < panels; pb += nbp) {
        const int pe = pb + nbp < panels ? pb + nbp : panels;
        vq_qcols_fill(&cols, g, pb, pe);
        for (int i = 0; i < g->M; i += MR) {
            const int mr = g->M - i < MR ? g->M - i : MR;
            for (int p = pb; p < pe; p += NP) ukr(g, &cols, i, mr, p, p - pb, pe - p < NP ? pe - p : NP);
        }
    }
}

/* Fills the argument block of a public int8 GEMM call. */
static inline vq_qgemm_args vq_qgemm_make_args(int M, int N, int K, const int8_t *A, int lda, const int8_t *packed,
                                               const int32_t *bias, const float *scale, const int32_t *mult,
                                               const int32_t *shift, float *Cf, int8_t *Cq, int ldc, int vnni) {
    vq_qgemm_args g = {M, N, K, A, lda, packed, VQ_QGEMM_PANEL_BYTES(K), bias, scale, mult, shift, Cf, Cq, ldc, vnni};
    return g;
}

/* The two public int8 GEMM entry points of one ISA (float output and requantized int8 output):
 * empty shapes return, K = 0 goes through the reference, everything else through the driver
 * with the ISA's microkernel (MR rows x NP panels per tile; VNNI: the +128 activation trick). */
#define VQ_DEFINE_QGEMM_ENTRIES(ATTR, PREFIX, MR, NP, VNNI, UKR)                                          \
    ATTR void PREFIX##_qgemm_packed_f32(int M, int N, int K, const int8_t *A, int lda,                   \
                                        const int8_t *packed, const int32_t *bias,                        \
                                        const float *out_scale, float *C, int ldc) {                      \
        if (M <= 0 || N <= 0) return;                                                                     \
        if (K <= 0) {                                                                                     \
            vq_ref_qgemm_packed_f32(M, N, K, A, lda, packed, bias, out_scale, C, ldc);                    \
            return;                                                                                       \
        }                                                                                                 \
        const vq_qgemm_args g =                                                                           \
            vq_qgemm_make_args(M, N, K, A, lda, packed, bias, out_scale, NULL, NULL, C, NULL, ldc, VNNI); \
        vq_qgemm_drive(&g, MR, NP, UKR);                                                                  \
    }                                                                                                     \
    ATTR void PREFIX##_qgemm_packed_s8(int M, int N, int K, const int8_t *A, int lda,                    \
                                       const int8_t *packed, const int32_t *bias,                         \
                                       const int32_t *multiplier, const int32_t *shift, int8_t *C,        \
                                       int ldc) {                                                         \
        if (M <= 0 || N <= 0) return;                                                                     \
        if (K <= 0) {                                                                                     \
            vq_ref_qgemm_packed_s8(M, N, K, A, lda, packed, bias, multiplier, shift, C, ldc);             \
            return;                                                                                       \
        }                                                                                                 \
        const vq_qgemm_args g = vq_qgemm_make_args(M, N, K, A, lda, packed, bias, NULL, multiplier,       \
                                                   shift, NULL, C, ldc, VNNI);                            \
        vq_qgemm_drive(&g, MR, NP, UKR);                                                                  \
    }

/* Scalar epilogue of one element (the reference's operations), for partial tiles. */
static inline void vq_qstore_scalar(const vq_qgemm_args *g, const vq_qcols *cols, int c, int32_t raw, int i,
                                    int n) {
    const int32_t acc = (int32_t)((uint32_t)raw + (uint32_t)cols->corr[c]);
    if (g->Cf) {
        g->Cf[(ptrdiff_t)i * g->ldc + n] = (float)acc * cols->scale[c];
    } else {
        int32_t r = vq_requantize(acc, cols->mult[c], cols->right[c] ? -cols->right[c] : cols->left[c]);
        g->Cq[(ptrdiff_t)i * g->ldc + n] = (int8_t)(r < -127 ? -127 : r > 127 ? 127 : r);
    }
}

/* The int8 kernels of the SIMD files (the tables are built in kernels_x86.c / kernels_neon.c). */
#if VQ_HAVE_X86
void vq_avx2_qgemm_packed_f32(int M, int N, int K, const int8_t *A, int lda, const int8_t *packed,
                              const int32_t *bias, const float *out_scale, float *C, int ldc);
void vq_avx2_qgemm_packed_s8(int M, int N, int K, const int8_t *A, int lda, const int8_t *packed,
                             const int32_t *bias, const int32_t *multiplier, const int32_t *shift, int8_t *C,
                             int ldc);
void vq_avx2_quantize_s8(int rows, int cols, const float *x, int ldx, float inv_scale, int8_t *y, int ldy);
void vq_avx512vnni_qgemm_packed_f32(int M, int N, int K, const int8_t *A, int lda, const int8_t *packed,
                                    const int32_t *bias, const float *out_scale, float *C, int ldc);
void vq_avx512vnni_qgemm_packed_s8(int M, int N, int K, const int8_t *A, int lda, const int8_t *packed,
                                   const int32_t *bias, const int32_t *multiplier, const int32_t *shift, int8_t *C,
                                   int ldc);
void vq_avx512vnni_quantize_s8(int rows, int cols, const float *x, int ldx, float inv_scale, int8_t *y, int ldy);
void vq_avx512vnni_lut_s8(int n, const int8_t *x, const int8_t *lut256, int8_t *y);
void vq_avxvnni_qgemm_packed_f32(int M, int N, int K, const int8_t *A, int lda, const int8_t *packed,
                                 const int32_t *bias, const float *out_scale, float *C, int ldc);
void vq_avxvnni_qgemm_packed_s8(int M, int N, int K, const int8_t *A, int lda, const int8_t *packed,
                                const int32_t *bias, const int32_t *multiplier, const int32_t *shift, int8_t *C,
                                int ldc);
#endif
#if VQ_HAVE_NEON
void vq_neon_qgemm_packed_f32(int M, int N, int K, const int8_t *A, int lda, const int8_t *packed,
                              const int32_t *bias, const float *out_scale, float *C, int ldc);
void vq_neon_qgemm_packed_s8(int M, int N, int K, const int8_t *A, int lda, const int8_t *packed,
                             const int32_t *bias, const int32_t *multiplier, const int32_t *shift, int8_t *C,
                             int ldc);
void vq_neondot_qgemm_packed_f32(int M, int N, int K, const int8_t *A, int lda, const int8_t *packed,
                                 const int32_t *bias, const float *out_scale, float *C, int ldc);
void vq_neondot_qgemm_packed_s8(int M, int N, int K, const int8_t *A, int lda, const int8_t *packed,
                                const int32_t *bias, const int32_t *multiplier, const int32_t *shift, int8_t *C,
                                int ldc);
void vq_neon_quantize_s8(int rows, int cols, const float *x, int ldx, float inv_scale, int8_t *y, int ldy);
void vq_neon_lut_s8(int n, const int8_t *x, const int8_t *lut256, int8_t *y);
#endif

#endif /* VQ_INTERNAL_H */
