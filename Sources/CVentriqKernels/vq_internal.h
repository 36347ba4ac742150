/*
 * vq_internal.h: what the kernel files share and the public header does not show.
 */
#ifndef VQ_INTERNAL_H
#define VQ_INTERNAL_H

#include "vq_kernels.h"

#include <stddef.h>

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

#endif /* VQ_INTERNAL_H */
