/*
 * bench_kernels.c: a micro benchmark of the kernels on the model's shapes, per ISA (one thread).
 * Not a test; scripts/test-kernels-aarch64.sh --bench builds and runs it natively.
 *
 *   bench_kernels [milliseconds per measurement, default 300]
 *
 * Prints, per ISA: GFLOP/s of the packed GEMMs (300x96x96 qkv-less projections, 300x288x96 qkv,
 * 300x384x96 fc1, 300x96x384 fc2), of the attention GEMMs (Q.K^T 300x300x32, P.V 300x32x300
 * strided in a [300, 288] buffer), and the time of the row kernels on [300, 96] / [300, 384].
 * On x86-64 the single-core AVX2 FMA peak is measured first (12 independent chains of 256-bit
 * FMAs), and each GEMM is also given as a percentage of it.
 * int8: GMAC/s (int8 multiply-adds) of vq_qgemm_packed_f32 on the same Linear shapes (and of
 * vq_qgemm_packed_s8 at fc1, 300x384x96), next to the float GEMM's GMAC/s (GFLOP/s / 2), and the
 * time of vq_quantize_s8 [300, 96] / [300, 384] and vq_lut_s8 over 300 x 384.
 */
#define _POSIX_C_SOURCE 199309L
#include "vq_kernels.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static double now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec * 1e-9;
}

#if defined(__x86_64__)
#include <immintrin.h>
/* Measured peak (one try): 12 independent chains of 256-bit FMAs (the AVX2 kernels' instruction). */
__attribute__((target("avx2,fma"))) static double peak_fma_gflops(void) {
    __m256 m = _mm256_set1_ps(0.999999f), a = _mm256_set1_ps(1e-7f);
    /* distinct starting values, so that no compiler merges the chains */
#define START(i) _mm256_set1_ps(1.0f + (i))
    __m256 c0 = START(0), c1 = START(1), c2 = START(2), c3 = START(3), c4 = START(4), c5 = START(5);
    __m256 c6 = START(6), c7 = START(7), c8 = START(8), c9 = START(9), c10 = START(10), c11 = START(11);
#undef START
    const long iters = 20 * 1000 * 1000;
    double t0 = now();
    for (long i = 0; i < iters; i++) {
        c0 = _mm256_fmadd_ps(c0, m, a), c1 = _mm256_fmadd_ps(c1, m, a), c2 = _mm256_fmadd_ps(c2, m, a);
        c3 = _mm256_fmadd_ps(c3, m, a), c4 = _mm256_fmadd_ps(c4, m, a), c5 = _mm256_fmadd_ps(c5, m, a);
        c6 = _mm256_fmadd_ps(c6, m, a), c7 = _mm256_fmadd_ps(c7, m, a), c8 = _mm256_fmadd_ps(c8, m, a);
        c9 = _mm256_fmadd_ps(c9, m, a), c10 = _mm256_fmadd_ps(c10, m, a), c11 = _mm256_fmadd_ps(c11, m, a);
    }
    double t = now() - t0;
    __m256 s = _mm256_add_ps(_mm256_add_ps(_mm256_add_ps(c0, c1), _mm256_add_ps(c2, c3)),
                             _mm256_add_ps(_mm256_add_ps(c4, c5), _mm256_add_ps(c6, c7)));
    s = _mm256_add_ps(s, _mm256_add_ps(_mm256_add_ps(c8, c9), _mm256_add_ps(c10, c11)));
    float out[8];
    _mm256_storeu_ps(out, s);
    if (out[0] == 12345.0f) printf(" ");
    return iters * 12.0 * 16 / t * 1e-9;
}
#else
static double peak_fma_gflops(void) { return 0; }
#endif

static float *randoms(size_t n) {
    float *p = malloc(n * sizeof(float));
    uint32_t s = 12345;
    for (size_t i = 0; i < n; i++) {
        s = s * 1664525u + 1013904223u;
        p[i] = (float)((s >> 8) * (1.0 / 16777216.0) * 2 - 1);
    }
    return p;
}

typedef struct {
    const vq_kernel_table *t;
    int M, N, K;
    const float *A, *B, *packed, *bias;
    float *C;
    int lda, ldb, ldc;
    int kind; /* 0 packed, 1 nt, 2 nn */
} gemm_case;

static void run_gemm(const gemm_case *g) {
    if (g->kind == 0) g->t->sgemm_packed(g->M, g->N, g->K, g->A, g->lda, g->packed, g->bias, g->C, g->ldc);
    else if (g->kind == 1) g->t->sgemm_nt(g->M, g->N, g->K, g->A, g->lda, g->B, g->ldb, 0.17677669f, g->C, g->ldc);
    else g->t->sgemm_nn(g->M, g->N, g->K, g->A, g->lda, g->B, g->ldb, g->C, g->ldc);
}

typedef struct {
    const vq_kernel_table *t;
    int M, N, K, s8;
    const int8_t *A, *packed;
    const int32_t *bias, *mult, *shift;
    const float *scale;
    float *C;
    int8_t *Cq;
} qgemm_case;

static void run_qgemm(const qgemm_case *q) {
    if (q->s8) q->t->qgemm_packed_s8(q->M, q->N, q->K, q->A, q->K, q->packed, q->bias, q->mult, q->shift, q->Cq, q->N);
    else q->t->qgemm_packed_f32(q->M, q->N, q->K, q->A, q->K, q->packed, q->bias, q->scale, q->C, q->N);
}

static double time_qgemm(const qgemm_case *q, double ms) {
    run_qgemm(q);
    double best = 1e30;
    for (int rep = 0; rep < 5; rep++) {
        int n = 0;
        double t0 = now(), t;
        do {
            run_qgemm(q);
            n++;
            t = now() - t0;
        } while (t < ms * 1e-3 / 5);
        if (t / n < best) best = t / n;
    }
    return best;
}

static int8_t *random_i8(size_t n, int lo, int hi) {
    int8_t *p = malloc(n);
    uint32_t s = 777;
    for (size_t i = 0; i < n; i++) {
        s = s * 1664525u + 1013904223u;
        p[i] = (int8_t)(lo + (int)((s >> 8) % (uint32_t)(hi - lo + 1)));
    }
    return p;
}

/* Best-of-5 seconds per call, each measurement running for about `ms`. */
static double time_gemm(const gemm_case *g, double ms) {
    run_gemm(g);
    double best = 1e30;
    for (int rep = 0; rep < 5; rep++) {
        int n = 0;
        double t0 = now(), t;
        do {
            run_gemm(g);
            n++;
            t = now() - t0;
        } while (t < ms * 1e-3 / 5);
        if (t / n < best) best = t / n;
    }
    return best;
}

int main(int argc, char **argv) {
    double ms = argc > 1 ? atof(argv[1]) : 300;
    double peak = 0;
    for (int r = 0; r < 7; r++) { /* best of 7: the host may be shared */
        double p = peak_fma_gflops();
        if (p > peak) peak = p;
    }
    printf("built with %s\n", __VERSION__); /* the int8 kernels' speed depends on the compiler */
    printf("measured AVX2 FMA peak: %.1f GFLOP/s (AUTO selects %s)\n", peak, vq_kernels_table(VQ_ISA_AUTO)->name);
    if (peak <= 0) peak = 1e30; /* no percentages */
    const int T = 300, D = 96, H = 384;
    float *x = randoms((size_t)T * H), *qkv = randoms((size_t)T * 3 * D), *S = randoms((size_t)T * T);
    float *out = randoms((size_t)T * H), *bias = randoms(H);
    float *W[4];
    float *P[4];
    const int shapes[4][2] = {{D, D}, {3 * D, D}, {H, D}, {D, H}}; /* N, K */
    for (int s = 0; s < 4; s++) {
        W[s] = randoms((size_t)shapes[s][0] * shapes[s][1]);
        P[s] = malloc(vq_sgemm_packed_size(shapes[s][0], shapes[s][1]) * sizeof(float));
        vq_sgemm_pack(W[s], shapes[s][0], shapes[s][1], P[s]);
    }
    /* int8 operands: the real Linear shapes, (N, K) = (96, 100) patch embedding first */
    const int qshapes[5][2] = {{D, 100}, {D, D}, {3 * D, D}, {H, D}, {D, H}};
    int8_t *qx = random_i8((size_t)T * H, -127, 127), *qout = malloc((size_t)T * H);
    int8_t *QP[5];
    int32_t *qbias = malloc(sizeof(int32_t) * H), *qmult = malloc(sizeof(int32_t) * H), *qshift = malloc(sizeof(int32_t) * H);
    float *qscale = malloc(sizeof(float) * H);
    for (int n = 0; n < H; n++) {
        qbias[n] = (int32_t)(n * 997 % 20001) - 10000;
        qscale[n] = 1e-4f * (1 + n % 7);
        vq_quantize_multiplier(1.0 / (300.0 + n), &qmult[n], &qshift[n]);
    }
    for (int s = 0; s < 5; s++) {
        int8_t *w = random_i8((size_t)qshapes[s][0] * qshapes[s][1], -127, 127);
        QP[s] = malloc(vq_qgemm_packed_size(qshapes[s][0], qshapes[s][1]));
        vq_qgemm_pack(w, qshapes[s][0], qshapes[s][1], QP[s]);
        free(w);
    }
    for (int isa = VQ_ISA_REFERENCE; isa < VQ_ISA_COUNT; isa++) {
        const vq_kernel_table *t = vq_kernels_table(isa);
        if (!t) continue;
        printf("[%s]\n", t->name);
        double float_gmac[4];
        for (int s = 0; s < 4; s++) {
            gemm_case g = {t, T, shapes[s][0], shapes[s][1], x, NULL, P[s], bias, out, shapes[s][1], 0, shapes[s][0], 0};
            double sec = time_gemm(&g, isa == VQ_ISA_REFERENCE ? ms / 4 : ms);
            double flops = 2.0 * T * shapes[s][0] * shapes[s][1];
            float_gmac[s] = flops / 2 / sec * 1e-9;
            printf("  packed %3dx%3dx%3d  %8.1f us  %6.1f GFLOP/s  %5.1f %% of peak\n", T, shapes[s][0], shapes[s][1],
                   sec * 1e6, flops / sec * 1e-9, 100 * flops / sec * 1e-9 / peak);
        }
        for (int s = 0; s < 6; s++) {
            const int qs = s < 5 ? s : 3; /* the last: fc1 with int8 output */
            qgemm_case q = {t, T, qshapes[qs][0], qshapes[qs][1], s == 5, qx, QP[qs], qbias, qmult, qshift, qscale, out, qout};
            double sec = time_qgemm(&q, isa == VQ_ISA_REFERENCE ? ms / 4 : ms);
            double macs = (double)T * qshapes[qs][0] * qshapes[qs][1];
            const int fs = qs == 1 ? 0 : qs == 2 ? 1 : qs == 3 ? 2 : qs == 4 ? 3 : -1; /* the float shape, if any */
            printf("  qgemm_%s %3dx%3dx%3d  %8.1f us  %6.1f GMAC/s int8", s == 5 ? "s8 " : "f32", T, qshapes[qs][0],
                   qshapes[qs][1], sec * 1e6, macs / sec * 1e-9);
            if (fs >= 0) printf("   (float GEMM %6.1f GMAC/s: x%.2f)", float_gmac[fs], macs / sec * 1e-9 / float_gmac[fs]);
            printf("\n");
        }
        {
            const int reps = 300;
            double t0 = now();
            for (int r = 0; r < reps; r++) t->quantize_s8(T, D, x, D, 37.5f, qout, D);
            double q96 = (now() - t0) / reps;
            t0 = now();
            for (int r = 0; r < reps; r++) t->quantize_s8(T, H, x, H, 37.5f, qout, H);
            double q384 = (now() - t0) / reps;
            t0 = now();
            for (int r = 0; r < reps; r++) t->lut_s8(T * H, qx, qx + 1000, qout);
            double lut = (now() - t0) / reps;
            printf("  quantize_s8 300x96 %.1f us, 300x384 %.1f us; lut_s8 300x384 %.1f us\n", q96 * 1e6, q384 * 1e6,
                   lut * 1e6);
        }
        gemm_case nt = {t, T, T, 32, qkv, qkv + D, NULL, NULL, S, 3 * D, 3 * D, T, 1};
        gemm_case nn = {t, T, 32, T, S, qkv + 2 * D, NULL, NULL, out, T, 3 * D, D, 2};
        double s1 = time_gemm(&nt, ms), s2 = time_gemm(&nn, ms);
        double f = 2.0 * T * T * 32;
        printf("  nt 300x300x32       %8.1f us  %6.1f GFLOP/s  %5.1f %% of peak\n", s1 * 1e6, f / s1 * 1e-9, 100 * f / s1 * 1e-9 / peak);
        printf("  nn 300x32x300       %8.1f us  %6.1f GFLOP/s  %5.1f %% of peak\n", s2 * 1e6, f / s2 * 1e-9, 100 * f / s2 * 1e-9 / peak);
        /* row kernels: per call on [300, 96] (LayerNorm), [300, 300] (softmax), [300, 384] (GELU) */
        float *g = malloc(sizeof(float) * T * H), *ones = randoms(D);
        const int reps = 200;
        double t0 = now();
        for (int r = 0; r < reps; r++) t->layernorm(T, D, x, D, ones, bias, 1e-6f, out, D);
        double ln = (now() - t0) / reps;
        t0 = now();
        for (int r = 0; r < reps; r++) {
            memcpy(S, x, sizeof(float) * T * T < sizeof(float) * T * H ? sizeof(float) * T * T : sizeof(float) * T * H);
            t->softmax_rows(T, T, S, T);
        }
        double sm = (now() - t0) / reps;
        t0 = now();
        for (int r = 0; r < reps; r++) {
            memcpy(g, x, sizeof(float) * T * H);
            t->gelu_erf(T * H, g);
        }
        double ge = (now() - t0) / reps;
        printf("  layernorm 300x96 %.1f us, softmax 300x300 %.1f us (with copy), gelu 300x384 %.1f us (with copy)\n",
               ln * 1e6, sm * 1e6, ge * 1e6);
        free(g), free(ones);
    }
    return 0;
}
