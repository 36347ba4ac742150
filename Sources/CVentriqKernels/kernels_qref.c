/*
 * kernels_qref.c: the int8 kernels' packing and scalar references (vq_ref_q*, contracts in
 * vq_kernels.h, scheme in docs/QUANTIZATION.md). These loops define the expected bits: every
 * SIMD version must give exactly the same output.
 */
#include "vq_internal.h"

#include <math.h>
#include <string.h>

/* ------------------------------------------------------------------------------------------ */
/* Packing                                                                                    */
/* ------------------------------------------------------------------------------------------ */

size_t vq_qgemm_packed_size(int N, int K) {
    if (N <= 0 || K <= 0) return 0;
    return ((size_t)N + 15) / 16 * VQ_QGEMM_PANEL_BYTES(K);
}

void vq_qgemm_pack(const int8_t *W, int N, int K, int8_t *packed) {
    if (N <= 0 || K <= 0) return;
    const int kp = vq_qgemm_kp(K), kfull = K / 4;
    memset(packed, 0, vq_qgemm_packed_size(N, K)); /* padding rows, columns and their sums */
    for (int n = 0; n < N; n++) {
        int8_t *panel = packed + (size_t)(n / 16) * VQ_QGEMM_PANEL_BYTES(K);
        int8_t *col = panel + 4 * (n % 16);
        const int8_t *w = W + (size_t)n * K;
        /* Row n of W is column n % 16 of its panel: one 4-byte store per group of 4 k (the
         * attention core packs a head's K this way for every window). */
        for (int g = 0; g < kfull; g++) memcpy(col + (size_t)64 * g, w + 4 * g, 4);
        for (int k = 4 * kfull; k < K; k++) col[(size_t)64 * (k / 4) + k % 4] = w[k];
        int32_t sum = 0;
        for (int k = 0; k < K; k++) sum += w[k];
        memcpy(panel + (size_t)16 * kp + 4 * (n % 16), &sum, sizeof sum);
    }
}

void vq_qgemm_pack_transposed(const int8_t *Wt, int N, int K, int ldwt, int8_t *packed) {
    if (N <= 0 || K <= 0) return;
    const int panels = (N + 15) / 16, kp = vq_qgemm_kp(K);
    for (int p = 0; p < panels; p++) {
        int8_t *dst = packed + (size_t)p * VQ_QGEMM_PANEL_BYTES(K);
        const int jn = N - 16 * p < 16 ? N - 16 * p : 16;
        int32_t colsum[16] = {0};
        int k = 0;
        if (jn == 16) {
            /* Full panel, whole groups of 4 rows of Wt: a 4 x 16 byte transpose per group, no
             * branches (attention's V: most of the packing time of a head). */
            for (; k + 4 <= K; k += 4) {
                const int8_t *r0 = Wt + (size_t)k * ldwt + 16 * p, *r1 = r0 + ldwt, *r2 = r1 + ldwt, *r3 = r2 + ldwt;
                int8_t *g = dst + (size_t)16 * k;
                for (int j = 0; j < 16; j++) {
                    g[4 * j] = r0[j], g[4 * j + 1] = r1[j], g[4 * j + 2] = r2[j], g[4 * j + 3] = r3[j];
                    colsum[j] += r0[j] + r1[j] + r2[j] + r3[j];
                }
            }
        }
        /* Row k of Wt holds W[., k]: read it contiguously, scatter into the 4-byte groups. */
        for (; k < kp; k++) {
            const int8_t *src = k < K ? Wt + (size_t)k * ldwt + 16 * p : NULL;
            int8_t *g = dst + (size_t)64 * (k / 4) + k % 4;
            for (int j = 0; j < 16; j++) {
                const int8_t v = src && j < jn ? src[j] : 0;
                g[4 * j] = v;
                colsum[j] += v;
            }
        }
        memcpy(dst + (size_t)16 * kp, colsum, sizeof colsum);
    }
}

/* ------------------------------------------------------------------------------------------ */
/* GEMM                                                                                       */
/* ------------------------------------------------------------------------------------------ */

/* acc[m, n] = bias[n] + sum_k A[m, k] W[n, k], wrapping int32 (unsigned arithmetic). */
static int32_t ref_acc(int K, const int8_t *a, const int8_t *packed, const int32_t *bias, int n) {
    const int8_t *panel = vq_qpanel(packed, K, n / 16) + 4 * (n % 16);
    uint32_t acc = bias ? (uint32_t)bias[n] : 0u;
    for (int k = 0; k < K; k++) acc += (uint32_t)((int32_t)a[k] * (int32_t)panel[(size_t)64 * (k / 4) + k % 4]);
    return (int32_t)acc;
}

void vq_ref_qgemm_packed_f32(int M, int N, int K, const int8_t *A, int lda, const int8_t *packed,
                             const int32_t *bias, const float *out_scale, float *C, int ldc) {
    for (int i = 0; i < M; i++)
        for (int n = 0; n < N; n++)
            C[(size_t)i * ldc + n] = (float)ref_acc(K, A + (size_t)i * lda, packed, bias, n) * out_scale[n];
}

void vq_ref_qgemm_packed_s8(int M, int N, int K, const int8_t *A, int lda, const int8_t *packed,
                            const int32_t *bias, const int32_t *multiplier, const int32_t *shift,
                            int8_t *C, int ldc) {
    for (int i = 0; i < M; i++)
        for (int n = 0; n < N; n++) {
            const int32_t r = vq_requantize(ref_acc(K, A + (size_t)i * lda, packed, bias, n), multiplier[n], shift[n]);
            C[(size_t)i * ldc + n] = (int8_t)(r < -127 ? -127 : r > 127 ? 127 : r);
        }
}

/* ------------------------------------------------------------------------------------------ */
/* Quantization and lookup                                                                    */
/* ------------------------------------------------------------------------------------------ */

void vq_ref_quantize_s8(int rows, int cols, const float *x, int ldx, float inv_scale, int8_t *y,
                        int ldy) {
    for (int r = 0; r < rows; r++)
        for (int c = 0; c < cols; c++) {
            const float p = x[(size_t)r * ldx + c] * inv_scale;
            int8_t q;
            if (p != p) q = 0;              /* NaN */
            else if (p >= 127.0f) q = 127;  /* clamping before rint is the same: bounds are integers */
            else if (p <= -127.0f) q = -127;
            else q = (int8_t)(int)rintf(p); /* round half to even (default rounding mode) */
            y[(size_t)r * ldy + c] = q;
        }
}

void vq_ref_quantize_rows_s8(int rows, int cols, const float *x, int ldx, int8_t *y, int ldy, float *scale) {
    for (int r = 0; r < rows; r++) {
        const float *xr = x + (size_t)r * ldx;
        float amax = 0.0f;
        for (int c = 0; c < cols; c++) {
            const float a = fabsf(xr[c]);
            if (a > amax) amax = a; /* NaN compares false: skipped */
        }
        float inv;
        vq_dynamic_scale(amax, &scale[r], &inv);
        vq_ref_quantize_s8(1, cols, xr, ldx, inv, y + (size_t)r * ldy, ldy);
    }
}

void vq_ref_softmax_split8(int rows, int cols, const float *x, int ldx, const float *row_scale, int8_t *hi,
                           int8_t *lo, int ldy, float *row_sum) {
    for (int r = 0; r < rows; r++) {
        const float *xr = x + (size_t)r * ldx;
        float m = -INFINITY;
        for (int c = 0; c < cols; c++) m = xr[c] > m ? xr[c] : m;
        int32_t sum_hi = 0, sum_lo = 0;
        for (int c = 0; c < cols; c++) {
            /* SIMD tables: 255 * 2^(x c' - m c'), c' = row_scale log2(e), by a polynomial */
            const float p = fminf(expf(fmaxf((xr[c] - m) * row_scale[r], -87.0f)) * 255.0f, 255.0f);
            const float h = rintf(p), l = rintf((p - h) * 254.0f);
            hi[(size_t)r * ldy + c] = (int8_t)((int32_t)h - 128);
            lo[(size_t)r * ldy + c] = (int8_t)(int32_t)l;
            sum_hi += (int32_t)h;
            sum_lo += (int32_t)l;
        }
        row_sum[r] = (float)sum_hi + (float)sum_lo / 254.0f;
    }
}

void vq_ref_lut_s8(int n, const int8_t *x, const int8_t *lut256, int8_t *y) {
    for (int i = 0; i < n; i++) y[i] = lut256[(int)x[i] + 128];
}
