/*
 * kernels_ref.c: the portable scalar reference of every kernel (vq_ref_*), and the packing of
 * Linear weights (ISA-independent layout, see vq_kernels.h).
 *
 * These loops define the expected results: plain float32 arithmetic in the documented order,
 * one rounding per operation (the target builds with -ffp-contract=off, so no FMA is formed),
 * libm expf / erff / sqrtf. They are also the table used when no SIMD ISA is available.
 */
#include "vq_internal.h"

#include <math.h>
#include <string.h>

/* ------------------------------------------------------------------------------------------ */
/* Packing                                                                                    */
/* ------------------------------------------------------------------------------------------ */

size_t vq_sgemm_packed_size(int N, int K) {
    if (N <= 0 || K <= 0) return 0;
    size_t panels = ((size_t)N + VQ_SGEMM_NR - 1) / VQ_SGEMM_NR;
    return panels * VQ_SGEMM_NR * (size_t)K;
}

void vq_sgemm_pack(const float *W, int N, int K, float *packed) {
    if (N <= 0 || K <= 0) return;
    int panels = (N + VQ_SGEMM_NR - 1) / VQ_SGEMM_NR;
    for (int p = 0; p < panels; p++) {
        float *dst = packed + (size_t)p * (size_t)K * VQ_SGEMM_NR;
        int j0 = p * VQ_SGEMM_NR;
        int nr = N - j0 < VQ_SGEMM_NR ? N - j0 : VQ_SGEMM_NR;
        for (int k = 0; k < K; k++) {
            for (int j = 0; j < nr; j++) dst[(size_t)k * VQ_SGEMM_NR + j] = W[(size_t)(j0 + j) * K + k];
            for (int j = nr; j < VQ_SGEMM_NR; j++) dst[(size_t)k * VQ_SGEMM_NR + j] = 0.0f;
        }
    }
}

/* ------------------------------------------------------------------------------------------ */
/* GEMMs                                                                                      */
/* ------------------------------------------------------------------------------------------ */

void vq_ref_sgemm(int M, int N, int K, const float *A, int lda, const float *W, int ldw,
                  const float *bias, int accumulate, float *C, int ldc) {
    for (int i = 0; i < M; i++) {
        const float *a = A + (size_t)i * lda;
        float *c = C + (size_t)i * ldc;
        for (int j = 0; j < N; j++) {
            const float *w = W + (size_t)j * ldw;
            float acc = 0.0f;
            for (int k = 0; k < K; k++) acc += a[k] * w[k];
            if (bias) acc += bias[j];
            c[j] = accumulate ? c[j] + acc : acc;
        }
    }
}

static void ref_packed(int M, int N, int K, const float *A, int lda, const float *packed,
                       const float *bias, int accumulate, float *C, int ldc) {
    for (int i = 0; i < M; i++) {
        const float *a = A + (size_t)i * lda;
        float *c = C + (size_t)i * ldc;
        for (int j = 0; j < N; j++) {
            const float *w = vq_packed_panel(packed, K, j / VQ_SGEMM_NR, 0) + j % VQ_SGEMM_NR;
            float acc = 0.0f;
            for (int k = 0; k < K; k++) acc += a[k] * w[(size_t)k * VQ_SGEMM_NR];
            if (bias) acc += bias[j];
            c[j] = accumulate ? c[j] + acc : acc;
        }
    }
}

void vq_ref_sgemm_packed(int M, int N, int K, const float *A, int lda, const float *packed,
                         const float *bias, float *C, int ldc) {
    ref_packed(M, N, K, A, lda, packed, bias, 0, C, ldc);
}

void vq_ref_sgemm_packed_accumulate(int M, int N, int K, const float *A, int lda,
                                    const float *packed, const float *bias, float *C, int ldc) {
    ref_packed(M, N, K, A, lda, packed, bias, 1, C, ldc);
}

void vq_ref_sgemm_nt(int M, int N, int K, const float *A, int lda, const float *B, int ldb,
                     float alpha, float *C, int ldc) {
    for (int i = 0; i < M; i++) {
        const float *a = A + (size_t)i * lda;
        for (int j = 0; j < N; j++) {
            const float *b = B + (size_t)j * ldb;
            float acc = 0.0f;
            for (int k = 0; k < K; k++) acc += a[k] * b[k];
            C[(size_t)i * ldc + j] = alpha * acc;
        }
    }
}

void vq_ref_sgemm_nn(int M, int N, int K, const float *A, int lda, const float *B, int ldb,
                     float *C, int ldc) {
    for (int i = 0; i < M; i++) {
        const float *a = A + (size_t)i * lda;
        for (int j = 0; j < N; j++) {
            float acc = 0.0f;
            for (int k = 0; k < K; k++) acc += a[k] * B[(size_t)k * ldb + j];
            C[(size_t)i * ldc + j] = acc;
        }
    }
}

/* ------------------------------------------------------------------------------------------ */
/* Row kernels                                                                                */
/* ------------------------------------------------------------------------------------------ */

void vq_ref_layernorm(int rows, int cols, const float *x, int ldx, const float *gamma,
                      const float *beta, float eps, float *y, int ldy) {
    if (cols <= 0) return;
    for (int r = 0; r < rows; r++) {
        const float *xr = x + (size_t)r * ldx;
        float *yr = y + (size_t)r * ldy;
        float sum = 0.0f;
        for (int j = 0; j < cols; j++) sum += xr[j];
        float mean = sum / (float)cols;
        float ss = 0.0f;
        for (int j = 0; j < cols; j++) {
            float d = xr[j] - mean;
            ss += d * d;
        }
        float var = ss / (float)cols;
        float rstd = 1.0f / sqrtf(var + eps);
        for (int j = 0; j < cols; j++) yr[j] = (xr[j] - mean) * rstd * gamma[j] + beta[j];
    }
}

void vq_ref_softmax_rows(int rows, int cols, float *x, int ld) {
    if (cols <= 0) return;
    for (int r = 0; r < rows; r++) {
        float *xr = x + (size_t)r * ld;
        float m = xr[0];
        for (int j = 1; j < cols; j++) m = xr[j] > m ? xr[j] : m;
        float sum = 0.0f;
        for (int j = 0; j < cols; j++) {
            float e = expf(xr[j] - m);
            xr[j] = e;
            sum += e;
        }
        float inv = 1.0f / sum;
        for (int j = 0; j < cols; j++) xr[j] = xr[j] * inv;
    }
}

/* ------------------------------------------------------------------------------------------ */
/* Element-wise kernels                                                                       */
/* ------------------------------------------------------------------------------------------ */

void vq_ref_gelu_erf(int n, float *x) {
    for (int i = 0; i < n; i++) {
        float v = x[i];
        x[i] = (0.5f * v) * (1.0f + erff(v * 0.70710678118654752440f));
    }
}

void vq_ref_erf(int n, float *x) {
    for (int i = 0; i < n; i++) x[i] = erff(x[i]);
}

void vq_ref_exp(int n, float *x) {
    for (int i = 0; i < n; i++) x[i] = expf(x[i]);
}

void vq_ref_add(int n, const float *a, const float *b, float *y) {
    for (int i = 0; i < n; i++) y[i] = a[i] + b[i];
}

void vq_ref_mean_rows(int rows, int cols, const float *x, int ldx, float *y) {
    for (int j = 0; j < cols; j++) {
        float sum = 0.0f;
        for (int i = 0; i < rows; i++) sum += x[(size_t)i * ldx + j];
        y[j] = sum / (float)rows;
    }
}

const vq_kernel_table vq_table_reference = {
    .isa = VQ_ISA_REFERENCE,
    .name = "reference",
    .sgemm_packed = vq_ref_sgemm_packed,
    .sgemm_packed_accumulate = vq_ref_sgemm_packed_accumulate,
    .sgemm_nt = vq_ref_sgemm_nt,
    .sgemm_nn = vq_ref_sgemm_nn,
    .layernorm = vq_ref_layernorm,
    .softmax_rows = vq_ref_softmax_rows,
    .gelu_erf = vq_ref_gelu_erf,
    .erf = vq_ref_erf,
    .exp = vq_ref_exp,
    .add = vq_ref_add,
    .mean_rows = vq_ref_mean_rows,
    .qgemm_packed_f32 = vq_ref_qgemm_packed_f32,
    .qgemm_packed_s8 = vq_ref_qgemm_packed_s8,
    .quantize_s8 = vq_ref_quantize_s8,
    .lut_s8 = vq_ref_lut_s8,
    .quantize_rows_s8 = vq_ref_quantize_rows_s8,
    .softmax_split8 = vq_ref_softmax_split8,
};
