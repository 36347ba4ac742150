/*
 * test_kernels.c: a standalone C check of CVentriqKernels (no Swift), for platforms where the
 * Swift tests do not run (aarch64 under qemu) and as a quick native check.
 * scripts/test-kernels-aarch64.sh builds and runs it.
 *
 * For every ISA table this build has and this CPU runs, each kernel is compared with the scalar
 * reference and with a double-precision computation, on seeded random inputs (seed printed;
 * `--seed N` replays), over odd shapes, the model's real shapes, strided operands and edge
 * values, with the same named bounds as Tests/VentriqKernelsTests (see there for the
 * reasoning). Then the public entry points are checked after vq_kernels_select of each ISA.
 * Exit status 0 only when every check passed.
 *
 * The int8 kernels are held to bit equality with the reference, and the reference to an
 * independent statement of the same formulas (int64 sums on the unpacked weight, requantization
 * as exact roundings).
 *
 *   test_kernels [--seed N] [--quick] [--exhaustive-erf] [--require ISAS] [--absent ISAS]
 *     --quick           fewer random shapes (for slow emulators)
 *     --exhaustive-erf  also sweep every float in [-10, 10] through erf and GELU of each ISA
 *                       and report the largest difference from the reference (slow)
 *     --require ISAS    fail unless these tables (comma-separated names, e.g. neon,neon_dotprod)
 *                       are available and were checked
 *     --absent ISAS     fail if these tables are available (run-time detection check)
 *
 * The thread pool is checked on its own (every task once, sleeping and spinning workers,
 * broadcasts, no leaked threads), and every parallel driver against the single-threaded call
 * of each table for bit equality, on 2 to 4 threads.
 *
 * Built with -DVQ_TEST_AVX_VNNI_AS_EVEX, the avx_vnni table's kernels use the EVEX encoding of
 * vpdpbusd ymm (AVX-512 VNNI + VL), so that CPUs without AVX-VNNI check their code.
 */
#define _GNU_SOURCE /* nanosleep, dirent with -std=c11 */
#include "vq_kernels.h"

#include <dirent.h>
#include <errno.h>
#include <float.h>
#include <inttypes.h>
#include <math.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static const double U = 0x1p-24;   /* unit roundoff of float32 */
static const double TINY = 0x1p-149; /* smallest subnormal */

static int g_failures = 0, g_checks = 0;
static const char *g_isa = "";

#define CHECK(cond, ...)                                                                           \
    do {                                                                                           \
        g_checks++;                                                                                \
        if (!(cond)) {                                                                             \
            g_failures++;                                                                          \
            if (g_failures <= 40) {                                                                \
                printf("FAIL [%s] %s:%d: ", g_isa, __FILE__, __LINE__);                            \
                printf(__VA_ARGS__);                                                               \
                printf("\n");                                                                      \
            }                                                                                      \
        }                                                                                          \
    } while (0)

/* ------------------------------------------------------------------------------------------ */
/* Seeded random numbers (splitmix64)                                                          */
/* ------------------------------------------------------------------------------------------ */

static uint64_t g_rng;
static uint64_t next_u64(void) {
    uint64_t z = (g_rng += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}
static double uniform(void) { return (double)(next_u64() >> 11) * 0x1p-53; }
static float uniform_in(double lo, double hi) { return (float)(lo + (hi - lo) * uniform()); }
static int int_in(int lo, int hi) { return lo + (int)(next_u64() % (uint64_t)(hi - lo + 1)); }

static float *alloc_floats(size_t n) {
    float *p = malloc((n ? n : 1) * sizeof(float));
    if (!p) {
        fprintf(stderr, "out of memory\n");
        exit(2);
    }
    return p;
}
static void fill(float *p, size_t n, double lo, double hi) {
    for (size_t i = 0; i < n; i++) p[i] = uniform_in(lo, hi);
}

/* ------------------------------------------------------------------------------------------ */
/* GEMM                                                                                       */
/* ------------------------------------------------------------------------------------------ */

/* Bound on |computed - exact| for one output of a float32 dot product of length K (recursive or
 * blocked summation, with or without FMA; + alpha, bias, accumulate): gamma_{K+4} * S with
 * S = |alpha| sum|a b| + |bias| + |C_old|, plus K+4 half-ulps of the subnormal range. */
static double gemm_bound(int K, double S) { return 1.01 * (K + 4) * U * S + (K + 4) * TINY; }

enum { KIND_PACKED, KIND_PACKED_ACC, KIND_NT, KIND_NN };

/* One GEMM case: random operands with strides, checked against double and the reference. */
static void check_gemm(const vq_kernel_table *t, int kind, int M, int N, int K, int pad, double scale,
                       int with_bias) {
    const int lda = K + pad, ldc = N + pad;
    const int ldb = (kind == KIND_NN ? N : K) + pad; /* NT: B [N, K]; NN: B [K, N]; W [N, K] */
    const int brows = kind == KIND_NN ? K : N;
    float *A = alloc_floats((size_t)M * lda), *B = alloc_floats((size_t)brows * ldb);
    float *bias = alloc_floats((size_t)N), *C = alloc_floats((size_t)M * ldc), *R = alloc_floats((size_t)M * ldc);
    float *C0 = alloc_floats((size_t)M * ldc);
    fill(A, (size_t)M * lda, -scale, scale);
    fill(B, (size_t)brows * ldb, -scale, scale);
    fill(bias, (size_t)N, -scale * scale, scale * scale);
    fill(C0, (size_t)M * ldc, -1, 1);
    const float *bp = with_bias && (kind == KIND_PACKED || kind == KIND_PACKED_ACC) ? bias : NULL;
    const float alpha = kind == KIND_NT ? 0.17677669529663688f : 1.0f; /* 1/sqrt(32) */
    memcpy(C, C0, sizeof(float) * (size_t)M * ldc);
    memcpy(R, C0, sizeof(float) * (size_t)M * ldc);
    float *packed = NULL;
    if (kind == KIND_PACKED || kind == KIND_PACKED_ACC) {
        /* W [N, K] with leading dimension ldb: pack the dense copy */
        float *W = alloc_floats((size_t)N * K);
        for (int j = 0; j < N; j++) memcpy(W + (size_t)j * K, B + (size_t)j * ldb, sizeof(float) * K);
        packed = alloc_floats(vq_sgemm_packed_size(N, K));
        vq_sgemm_pack(W, N, K, packed);
        free(W);
    }
    switch (kind) {
    case KIND_PACKED:
        t->sgemm_packed(M, N, K, A, lda, packed, bp, C, ldc);
        vq_ref_sgemm_packed(M, N, K, A, lda, packed, bp, R, ldc);
        break;
    case KIND_PACKED_ACC:
        t->sgemm_packed_accumulate(M, N, K, A, lda, packed, bp, C, ldc);
        vq_ref_sgemm(M, N, K, A, lda, B, ldb, bp, 1, R, ldc);
        break;
    case KIND_NT:
        t->sgemm_nt(M, N, K, A, lda, B, ldb, alpha, C, ldc);
        vq_ref_sgemm_nt(M, N, K, A, lda, B, ldb, alpha, R, ldc);
        break;
    default:
        t->sgemm_nn(M, N, K, A, lda, B, ldb, C, ldc);
        vq_ref_sgemm_nn(M, N, K, A, lda, B, ldb, R, ldc);
        break;
    }
    int bad = 0;
    double worst = 0;
    for (int i = 0; i < M && bad < 3; i++) {
        for (int j = 0; j < N; j++) {
            double exact = 0, S = 0;
            for (int k = 0; k < K; k++) {
                double b = kind == KIND_NN ? B[(size_t)k * ldb + j] : B[(size_t)j * ldb + k];
                exact += (double)A[(size_t)i * lda + k] * b;
                S += fabs((double)A[(size_t)i * lda + k] * b);
            }
            exact *= alpha;
            S *= fabs(alpha);
            if (bp) exact += bp[j], S += fabs(bp[j]);
            if (kind == KIND_PACKED_ACC) exact += C0[(size_t)i * ldc + j], S += fabs(C0[(size_t)i * ldc + j]);
            double tol = gemm_bound(K, S);
            double e1 = fabs(C[(size_t)i * ldc + j] - exact), e2 = fabs(R[(size_t)i * ldc + j] - exact);
            if (e1 / tol > worst) worst = e1 / tol;
            if (!(e1 <= tol) || !(e2 <= tol)) {
                if (bad++ < 3)
                    CHECK(0, "gemm kind %d %dx%dx%d pad %d: C[%d,%d] = %.9g, reference %.9g, exact %.9g, bound %.3g",
                          kind, M, N, K, pad, i, j, C[(size_t)i * ldc + j], R[(size_t)i * ldc + j], exact, tol);
            }
        }
    }
    CHECK(bad == 0, "gemm kind %d %dx%dx%d: %d elements out of bound", kind, M, N, K, bad);
    /* padding columns of C untouched */
    int clobbered = 0;
    for (int i = 0; i < M; i++)
        for (int j = N; j < ldc; j++)
            if (memcmp(&C[(size_t)i * ldc + j], &C0[(size_t)i * ldc + j], sizeof(float))) clobbered++;
    CHECK(clobbered == 0, "gemm kind %d %dx%dx%d wrote %d elements outside C", kind, M, N, K, clobbered);
    free(A), free(B), free(bias), free(C), free(R), free(C0), free(packed);
}

static void gemm_golden(const vq_kernel_table *t) {
    /* A [2, 3], W [2, 3] small integers: every ISA must give the exact products. */
    const float A[6] = {1, 2, 3, 4, 5, 6}, W[6] = {1, 0, -1, 2, 1, 0}, bias[2] = {0.5f, -1};
    const float want[4] = {-2 + 0.5f, 4 - 1, -2 + 0.5f, 13 - 1};
    float packed[16 * 3], C[4];
    vq_sgemm_pack(W, 2, 3, packed);
    t->sgemm_packed(2, 2, 3, A, 3, packed, bias, C, 2);
    CHECK(memcmp(C, want, sizeof C) == 0, "golden packed: %g %g %g %g", C[0], C[1], C[2], C[3]);
    float B[6] = {1, 2, 3, 4, 5, 6}; /* [3, 2] for NN */
    const float want_nn[4] = {1 + 6 + 15, 2 + 8 + 18, 4 + 15 + 30, 8 + 20 + 36};
    t->sgemm_nn(2, 2, 3, A, 3, B, 2, C, 2);
    CHECK(memcmp(C, want_nn, sizeof C) == 0, "golden nn: %g %g %g %g", C[0], C[1], C[2], C[3]);
    const float want_nt[4] = {0.5f * (1 + 4 + 9), 0.5f * (4 + 10 + 18), 0.5f * (4 + 10 + 18), 0.5f * (16 + 25 + 36)};
    t->sgemm_nt(2, 2, 3, A, 3, A, 3, 0.5f, C, 2);
    CHECK(memcmp(C, want_nt, sizeof C) == 0, "golden nt: %g %g %g %g", C[0], C[1], C[2], C[3]);
}

static void check_gemms(const vq_kernel_table *t, int quick) {
    gemm_golden(t);
    static const int real[][3] = {{300, 96, 96}, {300, 288, 96}, {300, 384, 96}, {300, 96, 384}, {1, 7, 96}};
    for (size_t s = 0; s < sizeof real / sizeof real[0]; s++) {
        check_gemm(t, KIND_PACKED, real[s][0], real[s][1], real[s][2], 0, 1.0, 1);
        if (!quick) check_gemm(t, KIND_PACKED_ACC, real[s][0], real[s][1], real[s][2], 3, 1.0, 1);
    }
    check_gemm(t, KIND_NT, 300, 300, 32, 256, 1.0, 0); /* Q.K^T: lda = ldb = 288 */
    check_gemm(t, KIND_NN, 300, 32, 300, 256, 1.0, 0); /* P.V: ldb = 288 */
    const int n = quick ? 25 : 120;
    for (int c = 0; c < n; c++) {
        int M = int_in(1, 67), N = int_in(1, 67), K = int_in(1, 67);
        if (c % 10 == 0) K = int_in(257, 600); /* more than one K slice */
        for (int kind = 0; kind < 4; kind++) check_gemm(t, kind, M, N, K, int_in(0, 5), 1.0, c % 2);
    }
    check_gemm(t, KIND_PACKED, 13, 21, 17, 1, 1e15, 1);  /* large magnitudes (products 1e30) */
    check_gemm(t, KIND_PACKED, 13, 21, 17, 1, 1e-20, 1); /* subnormal products */
    check_gemm(t, KIND_NT, 7, 9, 1, 0, 1.0, 0);
    check_gemm(t, KIND_NN, 1, 1, 1, 0, 1.0, 0);
    /* K = 0: C = bias */
    float bias[3] = {1, -2, 3}, C[3] = {9, 9, 9}, dummy = 0;
    t->sgemm_packed(1, 3, 0, &dummy, 1, &dummy, bias, C, 3);
    CHECK(C[0] == 1 && C[1] == -2 && C[2] == 3, "K = 0 gives bias");
    /* zeros stay exactly zero */
    float Z[5 * 20] = {0}, P[32 * 5], O[5 * 20];
    vq_sgemm_pack(Z, 20, 5, P);
    t->sgemm_packed(5, 20, 5, Z, 5, P, NULL, O, 20);
    int nonzero = 0;
    for (int i = 0; i < 100; i++) nonzero += O[i] != 0;
    CHECK(nonzero == 0, "zero GEMM gave %d non-zero outputs", nonzero);
}

/* ------------------------------------------------------------------------------------------ */
/* Row and element-wise kernels                                                               */
/* ------------------------------------------------------------------------------------------ */

static void check_layernorm(const vq_kernel_table *t, int rows, int cols, int pad, double offset, double spread,
                            int in_place) {
    const int ld = cols + pad;
    float *x = alloc_floats((size_t)rows * ld), *y = alloc_floats((size_t)rows * ld), *r = alloc_floats((size_t)rows * ld);
    float *g = alloc_floats(cols), *b = alloc_floats(cols);
    fill(x, (size_t)rows * ld, offset - spread, offset + spread);
    fill(g, cols, -2, 2);
    fill(b, cols, -1, 1);
    const float eps = 1e-6f;
    if (in_place) {
        memcpy(y, x, sizeof(float) * (size_t)rows * ld);
        t->layernorm(rows, cols, y, ld, g, b, eps, y, ld);
    } else {
        t->layernorm(rows, cols, x, ld, g, b, eps, y, ld);
    }
    vq_ref_layernorm(rows, cols, x, ld, g, b, eps, r, ld);
    int bad = 0;
    for (int i = 0; i < rows; i++) {
        const float *xr = x + (size_t)i * ld;
        double m = 0, v = 0, ma = 0;
        for (int j = 0; j < cols; j++) m += xr[j], ma += fabs(xr[j]);
        m /= cols, ma /= cols;
        for (int j = 0; j < cols; j++) v += (xr[j] - m) * (xr[j] - m);
        v /= cols;
        double rstd = 1 / sqrt(v + eps);
        for (int j = 0; j < cols; j++) {
            double exact = (xr[j] - m) * rstd * g[j] + b[j];
            double tol = 2.0 * (cols + 8) * U * (fabs(g[j]) * rstd * (fabs(xr[j] - m) + ma) + fabs(b[j])) +
                         2 * U * fabs(exact) + TINY;
            double e1 = fabs(y[(size_t)i * ld + j] - exact), e2 = fabs(r[(size_t)i * ld + j] - exact);
            if (!(e1 <= tol && e2 <= tol) && bad++ < 3)
                CHECK(0, "layernorm %dx%d: y[%d,%d] = %.9g reference %.9g exact %.9g bound %.3g", rows, cols, i, j,
                      y[(size_t)i * ld + j], r[(size_t)i * ld + j], exact, tol);
        }
    }
    CHECK(bad == 0, "layernorm %dx%d (offset %g): %d out of bound", rows, cols, offset, bad);
    free(x), free(y), free(r), free(g), free(b);
}

static void check_softmax(const vq_kernel_table *t, int rows, int cols, int pad, double spread, int masked) {
    const int ld = cols + pad;
    float *x = alloc_floats((size_t)rows * ld), *y = alloc_floats((size_t)rows * ld), *r = alloc_floats((size_t)rows * ld);
    fill(x, (size_t)rows * ld, -spread, spread);
    if (masked)
        for (int i = 0; i < rows; i++)
            for (int j = 1; j < cols; j += 3) x[(size_t)i * ld + j] = -INFINITY;
    memcpy(y, x, sizeof(float) * (size_t)rows * ld);
    memcpy(r, x, sizeof(float) * (size_t)rows * ld);
    t->softmax_rows(rows, cols, y, ld);
    vq_ref_softmax_rows(rows, cols, r, ld);
    int bad = 0;
    for (int i = 0; i < rows; i++) {
        const float *xr = x + (size_t)i * ld;
        float m = xr[0];
        for (int j = 1; j < cols; j++) m = xr[j] > m ? xr[j] : m;
        double s = 0;
        for (int j = 0; j < cols; j++) s += exp((double)(xr[j] - m));
        for (int j = 0; j < cols; j++) {
            double d = (double)(xr[j] - m), exact = exp(d) / s;
            double tol = (2.0 * cols + 12 + (isinf(d) ? 0 : fabs(d))) * U * exact + 2 * TINY;
            double e1 = fabs(y[(size_t)i * ld + j] - exact), e2 = fabs(r[(size_t)i * ld + j] - exact);
            if (!(e1 <= tol && e2 <= tol) && bad++ < 3)
                CHECK(0, "softmax %dx%d: y[%d,%d] = %.9g reference %.9g exact %.9g", rows, cols, i, j,
                      y[(size_t)i * ld + j], r[(size_t)i * ld + j], exact);
        }
        for (int j = cols; j < ld; j++)
            if (memcmp(&y[(size_t)i * ld + j], &x[(size_t)i * ld + j], 4) && bad++ < 3)
                CHECK(0, "softmax wrote padding");
    }
    CHECK(bad == 0, "softmax %dx%d spread %g: %d out of bound", rows, cols, spread, bad);
    free(x), free(y), free(r);
}

/* erf, GELU and exp on a sample of points in [lo, hi] plus the special values. */
static void check_unary(const vq_kernel_table *t, int npts, double lo, double hi) {
    const float specials[] = {0.0f, -0.0f, 1.0f, -1.0f, 0.999999940f, 1.00000012f, 3.9f, 4.0f, -4.0f, 10.0f,
                              -10.0f, 1e-30f, -1e-30f, 1e-40f, FLT_MIN, FLT_MAX, -FLT_MAX, INFINITY, -INFINITY};
    const int ns = (int)(sizeof specials / sizeof specials[0]);
    const int n = npts + ns;
    float *x = alloc_floats(n), *e = alloc_floats(n), *g = alloc_floats(n), *ex = alloc_floats(n);
    for (int i = 0; i < npts; i++) x[i] = (float)(lo + (hi - lo) * i / (npts - 1));
    memcpy(x + npts, specials, sizeof specials);
    memcpy(e, x, sizeof(float) * n);
    memcpy(g, x, sizeof(float) * n);
    t->erf(n, e);
    t->gelu_erf(n, g);
    double worst_erf = 0;
    int bad = 0;
    for (int i = 0; i < n; i++) {
        float xi = x[i], r = erff(xi);
        double d = fabs((double)e[i] - (double)r), dx = fabs((double)e[i] - erf((double)xi));
        if (d > worst_erf) worst_erf = d;
        if (!(d <= 2e-7 && dx <= 2e-7) && bad++ < 3) CHECK(0, "erf(%.9g) = %.9g, erff %.9g", xi, e[i], r);
        if (memcmp(&e[i], &r, 4) && (xi == 0 || isinf(xi)) && bad++ < 3) CHECK(0, "erf(%g) not exact", xi);
        float gr = xi;
        vq_ref_gelu_erf(1, &gr);
        double z = (double)xi;
        double gx = 0.5 * z * (1 + erf(z / sqrt(2.0)));
        double tol = isinf(xi) ? 0 : 0.5 * fabs(z) * (2e-7 + 4 * U) + 2 * U * fabs(gx) + TINY;
        int same_special = isinf(xi) ? (memcmp(&g[i], &gr, 4) == 0 || (isnan(g[i]) && isnan(gr))) : 1;
        if (!(same_special && (isinf(xi) || (fabs(g[i] - gr) <= tol && fabs(g[i] - gx) <= tol))) && bad++ < 3)
            CHECK(0, "gelu(%.9g) = %.9g, reference %.9g, exact %.9g", xi, g[i], gr, gx);
    }
    CHECK(bad == 0, "erf/gelu: %d failures (largest erf difference %.3g)", bad, worst_erf);
    /* exp over its whole range, subnormal results included */
    for (int i = 0; i < npts; i++) ex[i] = (float)(-110 + 200.0 * i / (npts - 1));
    memcpy(ex + npts, specials, sizeof specials);
    float *er = alloc_floats(n);
    memcpy(er, ex, sizeof(float) * n);
    t->exp(n, er);
    bad = 0;
    for (int i = 0; i < n; i++) {
        double exact = exp((double)ex[i]);
        double tol = exact > FLT_MAX ? 0 : 0x1p-22 * exact + TINY;
        int ok = exact > FLT_MAX ? isinf(er[i]) && er[i] > 0 : fabs(er[i] - exact) <= tol;
        if (!ok && bad++ < 3) CHECK(0, "exp(%.9g) = %.9g, exact %.9g", ex[i], er[i], exact);
    }
    float nan = NAN;
    t->exp(1, &nan);
    CHECK(isnan(nan), "exp(NaN) is NaN");
    nan = NAN;
    t->erf(1, &nan);
    CHECK(isnan(nan), "erf(NaN) is NaN");
    CHECK(bad == 0, "exp: %d failures", bad);
    free(x), free(e), free(g), free(ex), free(er);
}

static void check_add_mean(const vq_kernel_table *t) {
    for (int n = 0; n <= 67; n++) {
        float *a = alloc_floats(n), *b = alloc_floats(n), *y = alloc_floats(n), *r = alloc_floats(n);
        fill(a, n, -1e3, 1e3);
        fill(b, n, -1, 1);
        t->add(n, a, b, y);
        vq_ref_add(n, a, b, r);
        CHECK(n == 0 || memcmp(y, r, sizeof(float) * n) == 0, "add n=%d differs from the reference", n);
        t->add(n, a, b, a); /* in place */
        CHECK(n == 0 || memcmp(a, r, sizeof(float) * n) == 0, "add in place n=%d", n);
        free(a), free(b), free(y), free(r);
    }
    static const int shapes[][3] = {{300, 96, 96}, {1, 1, 1}, {7, 67, 70}, {33, 17, 40}, {2, 5, 5}};
    for (size_t s = 0; s < sizeof shapes / sizeof shapes[0]; s++) {
        int rows = shapes[s][0], cols = shapes[s][1], ld = shapes[s][2];
        float *x = alloc_floats((size_t)rows * ld), *y = alloc_floats(cols), *r = alloc_floats(cols);
        fill(x, (size_t)rows * ld, -3, 3);
        t->mean_rows(rows, cols, x, ld, y);
        vq_ref_mean_rows(rows, cols, x, ld, r);
        CHECK(memcmp(y, r, sizeof(float) * cols) == 0, "mean_rows %dx%d differs from the reference", rows, cols);
        int bad = 0;
        for (int j = 0; j < cols; j++) {
            double m = 0, ma = 0;
            for (int i = 0; i < rows; i++) m += x[(size_t)i * ld + j], ma += fabs(x[(size_t)i * ld + j]);
            if (!(fabs(y[j] - m / rows) <= (rows + 2) * U * ma / rows + TINY)) bad++;
        }
        CHECK(bad == 0, "mean_rows %dx%d: %d columns off the exact mean", rows, cols, bad);
        free(x), free(y), free(r);
    }
}

static void check_row_goldens(const vq_kernel_table *t) {
    /* mean 5, population variance 4: y = (x - 5) / 2 exactly (eps = 0) */
    const float x[8] = {2, 4, 4, 4, 5, 5, 7, 9}, one[8] = {1, 1, 1, 1, 1, 1, 1, 1}, zero[8] = {0};
    const float want[8] = {-1.5f, -0.5f, -0.5f, -0.5f, 0, 0, 1, 2};
    float y[8];
    t->layernorm(1, 8, x, 8, one, zero, 0.0f, y, 8);
    CHECK(memcmp(y, want, sizeof y) == 0, "layernorm golden: %g %g %g %g %g %g %g %g", y[0], y[1], y[2], y[3], y[4],
          y[5], y[6], y[7]);
    float s[6] = {3, 3, 3, 3, -INFINITY, 3}; /* five equal entries and a masked one */
    t->softmax_rows(1, 6, s, 6);
    CHECK(s[0] == 0.2f && s[3] == 0.2f && s[4] == 0 && s[5] == 0.2f, "softmax golden: %.9g %.9g", s[0], s[4]);
    float m[6] = {1, 2, 3, 4, 5, 6}, mr[3];
    t->mean_rows(2, 3, m, 3, mr);
    CHECK(mr[0] == 2.5f && mr[1] == 3.5f && mr[2] == 4.5f, "mean_rows golden");
    float g[4] = {0, -0.0f, 20, -20};
    t->gelu_erf(4, g);
    CHECK(g[0] == 0 && g[2] == 20 && g[3] == 0, "gelu golden: %g %g %g", g[0], g[2], g[3]);
}

static void exhaustive_erf(const vq_kernel_table *t) {
    enum { CHUNK = 1 << 16 };
    static float x[CHUNK], e[CHUNK], g[CHUNK];
    double worst_erf = 0, worst_gelu = 0;
    float at_erf = 0, at_gelu = 0;
    uint32_t bits = 0x80000000u; /* walk -0 .. -10 then +0 .. 10 by bit pattern */
    for (int sign = 0; sign < 2; sign++) {
        uint32_t lo = sign ? 0x00000000u : 0x80000000u, hi;
        float ten = 10.0f;
        memcpy(&hi, &ten, 4);
        hi |= sign ? 0 : 0x80000000u;
        for (bits = lo; bits <= hi;) {
            int n = 0;
            for (; n < CHUNK && bits <= hi; n++, bits++) memcpy(&x[n], &bits, 4);
            memcpy(e, x, sizeof(float) * n);
            memcpy(g, x, sizeof(float) * n);
            t->erf(n, e);
            t->gelu_erf(n, g);
            for (int i = 0; i < n; i++) {
                double d = fabs((double)e[i] - erff(x[i]));
                if (d > worst_erf) worst_erf = d, at_erf = x[i];
                float gr = x[i];
                vq_ref_gelu_erf(1, &gr);
                double dg = fabs((double)g[i] - gr) / (fabs(x[i]) > 1 ? fabs(x[i]) : 1);
                if (dg > worst_gelu) worst_gelu = dg, at_gelu = x[i];
            }
        }
    }
    printf("[%s] exhaustive [-10, 10]: max |erf - erff| = %.3g at %.9g; max |gelu - ref| / max(1, |x|) = %.3g at %.9g\n",
           t->name, worst_erf, at_erf, worst_gelu, at_gelu);
    CHECK(worst_erf <= 2e-7, "exhaustive erf bound");
}

/* ------------------------------------------------------------------------------------------ */
/* int8 kernels: every table bit-identical to the reference; the reference checked against an   */
/* independent formulation (int64 sums on the unpacked weight, exact rounding formulas)        */
/* ------------------------------------------------------------------------------------------ */

static int8_t *alloc_i8(size_t n) {
    int8_t *p = malloc(n ? n : 1);
    if (!p) {
        fprintf(stderr, "out of memory\n");
        exit(2);
    }
    return p;
}
static int32_t *alloc_i32(size_t n) {
    int32_t *p = malloc((n ? n : 1) * sizeof(int32_t));
    if (!p) {
        fprintf(stderr, "out of memory\n");
        exit(2);
    }
    return p;
}
static int32_t rand_i32(void) { return (int32_t)(uint32_t)next_u64(); }

/* floor(v / 2^e) for e in 0..62, without relying on >> of negatives. */
static int64_t floor_div_pow2(int64_t v, int e) {
    const int64_t d = (int64_t)1 << e;
    return v >= 0 ? v / d : -((-v + d - 1) / d);
}

/* The requantization stated as exact roundings (not gemmlowp's code): x = sat(acc 2^left);
 * h = round-half-up(x m / 2^31) (INT32_MIN^2 -> INT32_MAX); r = round-half-away(h / 2^right). */
static int32_t indep_requantize(int32_t acc, int32_t m, int32_t shift) {
    const int s = shift < -31 ? -31 : shift > 31 ? 31 : shift;
    const int left = s > 0 ? s : 0, right = s > 0 ? 0 : -s;
    int64_t x = (int64_t)acc * ((int64_t)1 << left);
    x = x > INT32_MAX ? INT32_MAX : x < INT32_MIN ? INT32_MIN : x;
    int64_t h = x == INT32_MIN && m == INT32_MIN ? INT32_MAX : floor_div_pow2(x * m + ((int64_t)1 << 30), 31);
    if (right == 0) return (int32_t)h;
    const int64_t d = (int64_t)1 << right, mag = h < 0 ? -h : h, q = (mag + d / 2) / d;
    return (int32_t)(h < 0 ? -q : q);
}

static int8_t clamp127(int32_t v) { return (int8_t)(v < -127 ? -127 : v > 127 ? 127 : v); }

static void check_requantize_goldens(void) {
    g_isa = "requantize";
    /* acc, multiplier, shift, expected: worked out by hand (docs in the Swift test) */
    static const int32_t cases[][4] = {
        {100, 1 << 30, 0, 50},                 /* 0.5 */
        {101, 1 << 30, 0, 51},                 /* 50.5: SRDHM rounds half up */
        {-101, 1 << 30, 0, -50},               /* -50.5: half up, toward +inf */
        {-99, 1 << 30, 0, -49},                /* -49.5 */
        {12345, 1 << 30, 1, 12345},            /* 1.0 = (2^30, 1) */
        {3, INT32_MAX, -1, 2},                 /* 1.5 -> 2 */
        {-3, INT32_MAX, -1, -2},               /* -1.5 -> -2: RoundingDivideByPOT half away from 0 */
        {-1, INT32_MAX, -1, -1},               /* -0.5 -> -1 */
        {1, INT32_MAX, -1, 1},                 /* 0.5 -> 1 */
        {-5, INT32_MAX, -2, -1},               /* -1.25 */
        {-6, INT32_MAX, -2, -2},               /* -1.5 */
        {-7, INT32_MAX, -2, -2},               /* -1.75 */
        {-2, INT32_MAX, -2, -1},               /* -0.5 */
        {-1, INT32_MAX, -2, 0},                /* -0.25 */
        {2, INT32_MAX, -2, 1},                 /* 0.5 */
        {INT32_MIN, INT32_MIN, 0, INT32_MAX},  /* the one SRDHM overflow: saturates */
        {1 << 30, 1 << 30, 2, 1 << 30},        /* 2^32 saturates to INT32_MAX, * 0.5 */
        {-(1 << 30), 1 << 30, 2, -(1 << 30)},  /* -2^32 saturates to INT32_MIN, * 0.5 */
        {-(1 << 29), 1 << 30, 2, -(1 << 30)},  /* exactly INT32_MIN, no saturation */
        {1, 1 << 30, 31, 1 << 30},             /* left 31: 2^31 saturates */
        {1, 1 << 30, 40, 1 << 30},             /* shift clamped to 31 */
        {INT32_MAX, INT32_MAX, -31, 1},        /* 2147483646 / 2^31 rounds up */
        {INT32_MAX, INT32_MAX, -50, 1},        /* shift clamped to -31 */
        {100, -(1 << 30), 0, -50},             /* negative multiplier */
        {0, INT32_MAX, 5, 0},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        const int32_t got = vq_requantize(cases[i][0], cases[i][1], cases[i][2]);
        CHECK(got == cases[i][3], "requantize(%" PRId32 ", %" PRId32 ", %" PRId32 ") = %" PRId32 ", want %" PRId32,
              cases[i][0], cases[i][1], cases[i][2], got, cases[i][3]);
        CHECK(indep_requantize(cases[i][0], cases[i][1], cases[i][2]) == cases[i][3], "independent form, case %zu", i);
    }
    /* random and edge arguments: gemmlowp's code == the exact-rounding statement */
    static const int32_t edge_acc[] = {0, 1, -1, 2, -2, 127, -128, 1 << 30, -(1 << 30), INT32_MAX, INT32_MIN,
                                       INT32_MAX - 1, INT32_MIN + 1, 16129 * 384, -16129 * 384};
    static const int32_t edge_m[] = {0, 1, -1, 1 << 30, INT32_MAX, INT32_MIN, (1 << 30) + 1, 1518500250};
    int bad = 0;
    for (size_t a = 0; a < sizeof edge_acc / sizeof edge_acc[0]; a++)
        for (size_t m = 0; m < sizeof edge_m / sizeof edge_m[0]; m++)
            for (int s = -40; s <= 40; s++)
                if (vq_requantize(edge_acc[a], edge_m[m], s) != indep_requantize(edge_acc[a], edge_m[m], s) && bad++ < 3)
                    CHECK(0, "requantize(%" PRId32 ", %" PRId32 ", %d) = %" PRId32 ", exact rounding %" PRId32,
                          edge_acc[a], edge_m[m], s, vq_requantize(edge_acc[a], edge_m[m], s),
                          indep_requantize(edge_acc[a], edge_m[m], s));
    for (int i = 0; i < 200000; i++) {
        int32_t acc = rand_i32() >> int_in(0, 31), m = i % 3 ? int_in(1 << 30, INT32_MAX) : rand_i32();
        int32_t s = int_in(-33, 33);
        if (vq_requantize(acc, m, s) != indep_requantize(acc, m, s) && bad++ < 3)
            CHECK(0, "requantize(%" PRId32 ", %" PRId32 ", %" PRId32 ") differs from the exact rounding", acc, m, s);
    }
    CHECK(bad == 0, "requantize: %d disagreements with the exact-rounding statement", bad);
}

static void check_quantize_multiplier(void) {
    g_isa = "quantize_multiplier";
    static const struct {
        double real;
        int32_t m, s;
    } cases[] = {
        {0.5, 1 << 30, 0},
        {1.0, 1 << 30, 1},
        {0.25, 1 << 30, -1},
        {0.75, 1610612736, 0},
        {1.0 - 0x1p-40, 1 << 30, 1},         /* rounds up to 2^31: carry into the exponent */
        {0.5 - 0x1p-42, 1 << 30, 0},         /* likewise, one binade down */
        {0.3, 1288490189, -1},               /* 0.6 * 2^31 = 1288490188.8 */
        {0.5 + 0x1p-32, (1 << 30) + 1, 0},   /* f * 2^31 = 2^30 + 0.5: llround rounds away */
        {0x1p-32, 1 << 30, -31},             /* smallest kept exponent */
        {0x1p-33, 0, 0},                     /* below: 0 */
        {0x1p29, 1 << 30, 30},               /* largest exponent */
        {0x1p30, INT32_MAX, 30},             /* above: saturated */
        {0.0, 0, 0},
        {-0.5, 0, 0},                        /* negative: invalid, (0, 0) */
        {NAN, 0, 0},
        {INFINITY, INT32_MAX, 30},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        int32_t m = -7, s = -7;
        vq_quantize_multiplier(cases[i].real, &m, &s);
        CHECK(m == cases[i].m && s == cases[i].s, "quantize_multiplier(%.17g) = (%" PRId32 ", %" PRId32 "), want (%" PRId32
              ", %" PRId32 ")", cases[i].real, m, s, cases[i].m, cases[i].s);
    }
    /* random reals: M in [2^30, 2^31), |M 2^(s-31) - r| <= 2^(s-32) (half a unit) */
    int bad = 0;
    for (int i = 0; i < 100000; i++) {
        const double r = ldexp(0.5 + 0.5 * uniform(), int_in(-30, 30));
        int32_t m, s;
        vq_quantize_multiplier(r, &m, &s);
        const double back = ldexp((double)m, s - 31);
        if (!(m >= (1 << 30) && fabs(back - r) <= ldexp(1.0, s - 32)) && bad++ < 3)
            CHECK(0, "quantize_multiplier(%.17g) = (%" PRId32 ", %" PRId32 ")", r, m, s);
    }
    CHECK(bad == 0, "quantize_multiplier: %d out of bound", bad);
}

/* Multipliers and shifts of one int8-output case: realistic ones (quantize_multiplier of
 * 2^-20 .. 2^4: negative shifts, shift 0 and positive ones), raw random ones (any multiplier,
 * shifts -40..40 that get clamped, saturating left shifts), and INT32_MIN. */
static void fill_requant(int N, int32_t *mult, int32_t *shift, int kind) {
    for (int n = 0; n < N; n++) {
        const int pick = kind == 0 ? 0 : int_in(0, 5);
        if (pick <= 2) {
            vq_quantize_multiplier(ldexp(0.5 + 0.5 * uniform(), int_in(-20, 4)), &mult[n], &shift[n]);
        } else if (pick == 3) {
            mult[n] = rand_i32();
            shift[n] = int_in(-40, 40);
        } else if (pick == 4) {
            mult[n] = int_in(1 << 30, INT32_MAX);
            shift[n] = int_in(1, 31); /* saturates unless acc is small */
        } else {
            mult[n] = n % 2 ? INT32_MIN : INT32_MAX;
            shift[n] = int_in(-31, 31);
        }
    }
}

/* A distribution: 0 uniform int8 (-128 included), 1 only the extremes -128 / -127 / 127,
 * 2 small values. W: uniform [-127, 127], or extremes +-127 when A is. */
static void check_qgemm(const vq_kernel_table *t, int M, int N, int K, int pad, int adist, int bias_kind, int rq_kind) {
    const int lda = K + pad, ldc = N + pad;
    int8_t *A = alloc_i8((size_t)M * lda), *W = alloc_i8((size_t)N * K);
    for (size_t i = 0; i < (size_t)M * lda; i++) {
        static const int8_t ext[3] = {-128, -127, 127};
        A[i] = adist == 0 ? (int8_t)int_in(-128, 127) : adist == 1 ? ext[int_in(0, 2)] : (int8_t)int_in(-3, 3);
    }
    for (size_t i = 0; i < (size_t)N * K; i++) W[i] = adist == 1 ? (int_in(0, 1) ? 127 : -127) : (int8_t)int_in(-127, 127);
    int8_t *P = alloc_i8(vq_qgemm_packed_size(N, K));
    vq_qgemm_pack(W, N, K, P);
    int32_t *bias = alloc_i32(N), *mult = alloc_i32(N), *shift = alloc_i32(N);
    float *scale = alloc_floats(N);
    for (int n = 0; n < N; n++) {
        bias[n] = bias_kind == 2 ? rand_i32() : int_in(-(1 << 20), 1 << 20); /* 2: wraps around */
        scale[n] = (float)ldexp(uniform_in(-1, 1), int_in(-24, 4));
    }
    const int32_t *bp = bias_kind ? bias : NULL;
    fill_requant(N, mult, shift, rq_kind);
    const size_t csize = (size_t)(M + 1) * ldc;
    float *Cf = alloc_floats(csize), *Rf = alloc_floats(csize);
    int8_t *Cq = alloc_i8(csize), *Rq = alloc_i8(csize);
    for (size_t i = 0; i < csize; i++) Cf[i] = Rf[i] = -12345.678f, Cq[i] = Rq[i] = 0x55;
    t->qgemm_packed_f32(M, N, K, A, lda, P, bp, scale, Cf, ldc);
    vq_ref_qgemm_packed_f32(M, N, K, A, lda, P, bp, scale, Rf, ldc);
    t->qgemm_packed_s8(M, N, K, A, lda, P, bp, mult, shift, Cq, ldc);
    vq_ref_qgemm_packed_s8(M, N, K, A, lda, P, bp, mult, shift, Rq, ldc);
    /* bit equality over the whole buffers: also proves nothing was written outside C */
    int bad_f = 0, bad_q = 0, first = -1;
    for (size_t i = 0; i < csize; i++) {
        if (memcmp(&Cf[i], &Rf[i], 4)) bad_f++, first = first < 0 ? (int)i : first;
        if (Cq[i] != Rq[i]) bad_q++, first = first < 0 ? (int)i : first;
    }
    CHECK(bad_f == 0 && bad_q == 0, "qgemm %dx%dx%d pad %d A%d bias%d rq%d: %d float / %d int8 outputs differ from the "
          "reference (first at row %d, column %d)", M, N, K, pad, adist, bias_kind, rq_kind, bad_f, bad_q,
          first / ldc, first % ldc);
    /* the reference against int64 sums on the unpacked weight */
    int bad = 0;
    for (int i = 0; i < M && bad < 3; i++)
        for (int n = 0; n < N; n++) {
            int64_t s = bp ? bp[n] : 0;
            for (int k = 0; k < K; k++) s += (int64_t)A[(size_t)i * lda + k] * W[(size_t)n * K + k];
            const int32_t acc = (int32_t)(uint32_t)(uint64_t)s;
            const float want = (float)((double)(float)acc * (double)scale[n]);
            const int8_t wantq = clamp127(indep_requantize(acc, mult[n], shift[n]));
            if ((memcmp(&want, &Rf[(size_t)i * ldc + n], 4) || wantq != Rq[(size_t)i * ldc + n]) && bad++ < 3)
                CHECK(0, "reference qgemm %dx%dx%d at [%d,%d]: %.9g / %d, independent %.9g / %d", M, N, K, i, n,
                      Rf[(size_t)i * ldc + n], Rq[(size_t)i * ldc + n], want, wantq);
        }
    free(A), free(W), free(P), free(bias), free(mult), free(shift), free(scale), free(Cf), free(Rf), free(Cq), free(Rq);
}

/* The epilogues on chosen accumulators: K = 1, A = 1, W = 1, bias = acc - 1, so acc is any
 * int32; M = 26 rows exercises full and partial tiles of every ISA. */
static void check_qepilogue(const vq_kernel_table *t) {
    static const int32_t accs[] = {0, 1, -1, 2, -2, 3, -3, 5, -5, 6, -6, 7, -7, 127, -128, 255, -255,
                                   1 << 24, (1 << 24) + 1, -(1 << 24) - 1, (1 << 24) + 3, 16777217, 33554435,
                                   1 << 30, -(1 << 30), INT32_MAX, INT32_MIN + 1, INT32_MIN, 123456789, -987654321,
                                   (1 << 30) - 1, -(1 << 30) - 1, (1 << 30) + 1, 3 << 29};
    const int N = (int)(sizeof accs / sizeof accs[0]), M = 26;
    int8_t A[26], W[sizeof accs / sizeof accs[0]];
    int32_t bias[sizeof accs / sizeof accs[0]], mult[sizeof accs / sizeof accs[0]], shift[sizeof accs / sizeof accs[0]];
    float scale[sizeof accs / sizeof accs[0]];
    for (int i = 0; i < M; i++) A[i] = 1;
    for (int n = 0; n < N; n++) W[n] = 1, bias[n] = (int32_t)((uint32_t)accs[n] - 1u);
    int8_t *P = alloc_i8(vq_qgemm_packed_size(N, 1));
    vq_qgemm_pack(W, N, 1, P);
    float Cf[26 * 34], Rf[26 * 34];
    int8_t Cq[26 * 34], Rq[26 * 34];
    for (int rep = 0; rep < 40; rep++) {
        for (int n = 0; n < N; n++) scale[n] = rep == 0 ? 1.0f : (float)ldexp(uniform_in(-1, 1), int_in(-30, 30));
        fill_requant(N, mult, shift, rep % 2);
        if (rep < 3) /* multiplier +-1: SRDHM = round-half-up(+-acc / 2^31), the nudge's exact edge */
            for (int n = 0; n < N; n++) mult[n] = rep == 2 ? -1 : 1, shift[n] = rep == 1 ? 31 : 0;
        t->qgemm_packed_f32(M, N, 1, A, 1, P, bias, scale, Cf, N);
        vq_ref_qgemm_packed_f32(M, N, 1, A, 1, P, bias, scale, Rf, N);
        t->qgemm_packed_s8(M, N, 1, A, 1, P, bias, mult, shift, Cq, N);
        vq_ref_qgemm_packed_s8(M, N, 1, A, 1, P, bias, mult, shift, Rq, N);
        CHECK(memcmp(Cf, Rf, sizeof Cf) == 0 && memcmp(Cq, Rq, sizeof Cq) == 0, "epilogue rep %d differs", rep);
        int bad = 0;
        for (int n = 0; n < N; n++) {
            const float want = (float)((double)(float)accs[n] * (double)scale[n]);
            if (memcmp(&want, &Rf[n], 4) || Rq[n] != clamp127(indep_requantize(accs[n], mult[n], shift[n]))) bad++;
        }
        CHECK(bad == 0, "epilogue rep %d: %d reference outputs differ from the independent ones", rep, bad);
    }
    /* (float)acc rounds to nearest even: 2^24 + 1 -> 2^24, 2^24 + 3 -> 2^24 + 4 */
    for (int n = 0; n < N; n++) scale[n] = 1.0f;
    t->qgemm_packed_f32(1, N, 1, A, 1, P, bias, scale, Cf, N);
    CHECK(Cf[18] == 16777216.0f && Cf[20] == 16777220.0f && Cf[21] == 16777216.0f && Cf[22] == 33554436.0f,
          "int -> float conversion: %.9g %.9g %.9g %.9g", Cf[18], Cf[20], Cf[21], Cf[22]);
    free(P);
}

static void check_qpack(void) {
    g_isa = "qgemm_pack";
    CHECK(vq_qgemm_packed_size(1, 1) == 16 * 4 + 64, "size(1, 1)");
    CHECK(vq_qgemm_packed_size(16, 4) == 16 * 4 + 64, "size(16, 4)");
    CHECK(vq_qgemm_packed_size(17, 5) == 2 * (16 * 8 + 64), "size(17, 5)");
    CHECK(vq_qgemm_packed_size(96, 100) == 6 * (16 * 100 + 64), "size(96, 100)");
    CHECK(vq_qgemm_packed_size(0, 5) == 0 && vq_qgemm_packed_size(5, 0) == 0, "empty sizes");
    enum { N = 21, K = 7 };
    int8_t W[N * K];
    for (int n = 0; n < N; n++)
        for (int k = 0; k < K; k++) W[n * K + k] = (int8_t)((n * 37 + k * 11) % 255 - 127);
    int8_t P[2 * (16 * 8 + 64)];
    memset(P, 0x5A, sizeof P);
    vq_qgemm_pack(W, N, K, P);
    int bad = 0;
    for (int p = 0; p < 2; p++) {
        const int8_t *panel = P + p * (16 * 8 + 64);
        for (int g = 0; g < 2; g++)
            for (int j = 0; j < 16; j++)
                for (int q = 0; q < 4; q++) {
                    const int n = 16 * p + j, k = 4 * g + q;
                    const int8_t want = n < N && k < K ? W[n * K + k] : 0;
                    bad += panel[64 * g + 4 * j + q] != want;
                }
        for (int j = 0; j < 16; j++) {
            int32_t want = 0, got;
            for (int k = 0; k < K && 16 * p + j < N; k++) want += W[(16 * p + j) * K + k];
            memcpy(&got, panel + 128 + 4 * j, 4);
            bad += got != want;
        }
    }
    CHECK(bad == 0, "packed layout: %d bytes or column sums wrong", bad);
}

static void check_qgemms(const vq_kernel_table *t, int quick) {
    static const int real[][3] = {{300, 96, 100}, {300, 288, 96}, {300, 96, 96}, {300, 384, 96}, {300, 96, 384}};
    for (size_t s = 0; s < sizeof real / sizeof real[0]; s++)
        check_qgemm(t, real[s][0], real[s][1], real[s][2], s == 0 ? 3 : 0, 0, 1, (int)s % 2);
    if (!quick) check_qgemm(t, 37, 3072, 3072, 1, 0, 1, 1); /* the bigger models: several column blocks */
    check_qgemm(t, 30, 70, 1100, 5, 0, 1, 1);
    for (int size = 1; size <= 67; size++) { /* each dimension over 1...67 */
        check_qgemm(t, size, 19, 13, size % 4, 0, 1, 1);
        check_qgemm(t, 13, size, 11, size % 3, 0, size % 2, 1);
        check_qgemm(t, 14, 35, size, size % 5, 0, 1, size % 2);
    }
    const int n = quick ? 30 : 150;
    for (int c = 0; c < n; c++)
        check_qgemm(t, int_in(1, 67), int_in(1, 67), int_in(1, 67), int_in(0, 9), c % 3, c % 3, c % 2);
    for (int c = 0; c < 6; c++) check_qgemm(t, int_in(1, 40), int_in(1, 70), int_in(100, 700), int_in(0, 3), 1, 2, 1);
    /* K = 0: acc = bias (or 0); M or N = 0 writes nothing */
    int32_t bias[3] = {5, -7, 1 << 25}, mult[3] = {1 << 30, 1 << 30, 1 << 30}, shift[3] = {0, 0, 0};
    float scale[3] = {1, 2, 0.5f}, C[3] = {9, 9, 9};
    int8_t dummy = 0, Cq[3] = {9, 9, 9};
    t->qgemm_packed_f32(1, 3, 0, &dummy, 1, &dummy, bias, scale, C, 3);
    CHECK(C[0] == 5 && C[1] == -14 && C[2] == 16777216, "K = 0 float: %g %g %g", C[0], C[1], C[2]);
    t->qgemm_packed_s8(1, 3, 0, &dummy, 1, &dummy, bias, mult, shift, Cq, 3);
    CHECK(Cq[0] == 3 && Cq[1] == -3 && Cq[2] == 127, "K = 0 int8: %d %d %d", Cq[0], Cq[1], Cq[2]);
    t->qgemm_packed_f32(1, 3, 0, &dummy, 1, &dummy, NULL, scale, C, 3);
    CHECK(C[0] == 0 && C[1] == 0 && C[2] == 0, "K = 0, no bias");
    C[0] = 9, Cq[0] = 9;
    t->qgemm_packed_f32(0, 3, 4, &dummy, 4, &dummy, bias, scale, C, 3);
    t->qgemm_packed_s8(1, 0, 4, &dummy, 4, &dummy, bias, mult, shift, Cq, 3);
    CHECK(C[0] == 9 && Cq[0] == 9, "M = 0 or N = 0 writes nothing");
    /* golden: A [2, 3] . W [2, 3]^T + bias, times 0.5; requantized by 0.5 */
    const int8_t a[6] = {1, 2, 3, -128, 127, -1}, w[6] = {1, -1, 2, -127, 127, 0};
    int8_t pw[16 * 4 + 64];
    vq_qgemm_pack(w, 2, 3, pw);
    const int32_t b2[2] = {10, -10}, m2[2] = {1 << 30, 1 << 30}, s2[2] = {0, 0};
    const float sc[2] = {0.5f, 0.5f};
    float out[4];
    int8_t outq[4];
    t->qgemm_packed_f32(2, 2, 3, a, 3, pw, b2, sc, out, 2);
    /* row 0: 1 - 2 + 6 + 10 = 15, -127 + 254 - 10 = 117; row 1: -128 - 127 - 2 + 10 = -247,
     * 16256 + 16129 - 10 = 32375 */
    CHECK(out[0] == 7.5f && out[1] == 58.5f && out[2] == -123.5f && out[3] == 16187.5f, "golden qgemm: %g %g %g %g",
          out[0], out[1], out[2], out[3]);
    t->qgemm_packed_s8(2, 2, 3, a, 3, pw, b2, m2, s2, outq, 2);
    /* 7.5 -> 8 (half up), 58.5 -> 59, -123.5 -> -123, 16187.5 -> clamp 127 */
    CHECK(outq[0] == 8 && outq[1] == 59 && outq[2] == -123 && outq[3] == 127, "golden qgemm s8: %d %d %d %d", outq[0],
          outq[1], outq[2], outq[3]);
    check_qepilogue(t);
}

static void check_quantize(const vq_kernel_table *t) {
    /* goldens (inv_scale 1 unless said): half to even, clamp, NaN, inf; the float32 product */
    const float x[] = {0.5f, 1.5f, 2.5f, -0.5f, -1.5f, -2.5f, 126.5f, 127.5f, 128.0f, -127.5f, -128.0f, -1e30f,
                       INFINITY, -INFINITY, NAN, 0.49999997f, 1e-45f, -0.0f, 3.4028235e38f, 126.49999f};
    const int8_t want[] = {0, 2, 2, 0, -2, -2, 126, 127, 127, -127, -127, -127, 127, -127, 0, 0, 0, 0, 127, 126};
    const int n = (int)(sizeof x / sizeof x[0]);
    int8_t y[32];
    t->quantize_s8(1, n, x, n, 1.0f, y, n);
    int bad = 0;
    for (int i = 0; i < n; i++)
        if (y[i] != want[i] && bad++ < 3) CHECK(0, "quantize(%.9g) = %d, want %d", x[i], y[i], want[i]);
    CHECK(bad == 0, "quantize goldens");
    /* float(1/6) * 3 = 0.50000001 exactly, but the float32 product rounds to 0.5 -> 0 */
    const float sixth = 0.16666667f, three = 3.0f;
    t->quantize_s8(1, 1, &sixth, 1, three, y, 1);
    CHECK(y[0] == 0, "quantize uses the float32 product: %d", y[0]);
    const float nine = 9.0f, inf = INFINITY, zero = 0.0f;
    t->quantize_s8(1, 1, &nine, 1, inf, y, 1);
    CHECK(y[0] == 127, "9 * inf clamps");
    t->quantize_s8(1, 1, &zero, 1, inf, y, 1);
    CHECK(y[0] == 0, "0 * inf = NaN -> 0");
    /* random, strided, every row length 0..70, against the reference */
    for (int rep = 0; rep < 140; rep++) {
        const int rows = int_in(1, 5), cols = rep % 71, ldx = cols + int_in(0, 3), ldy = cols + int_in(0, 3);
        float *xs = alloc_floats((size_t)rows * ldx + 1);
        int8_t *ys = alloc_i8((size_t)rows * ldy + 1), *rs = alloc_i8((size_t)rows * ldy + 1);
        const float inv = rep % 4 == 0 ? 1.0f : (float)ldexp(uniform_in(0.5, 1), int_in(-4, 8));
        for (int i = 0; i < rows * ldx; i++) {
            const int pick = int_in(0, 9);
            xs[i] = pick == 0 ? (float)(int_in(-300, 300) + 0.5) / inv        /* ties */
                    : pick == 1 ? (i % 3 ? NAN : (i % 2 ? INFINITY : -INFINITY))
                    : pick == 2 ? uniform_in(-1e38, 1e38)
                                : uniform_in(-200, 200) / inv;
        }
        memset(ys, 0x55, (size_t)rows * ldy + 1);
        memset(rs, 0x55, (size_t)rows * ldy + 1);
        t->quantize_s8(rows, cols, xs, ldx, inv, ys, ldy);
        vq_ref_quantize_s8(rows, cols, xs, ldx, inv, rs, ldy);
        CHECK(memcmp(ys, rs, (size_t)rows * ldy + 1) == 0, "quantize %dx%d (ldx %d, ldy %d) differs from the reference",
              rows, cols, ldx, ldy);
        int wrong = 0;
        for (int r = 0; r < rows; r++)
            for (int c = 0; c < cols; c++) {
                const float p = xs[r * ldx + c] * inv;
                const double e = isnan(p) ? 0 : fmax(-127, fmin(127, nearbyint((double)p)));
                wrong += rs[r * ldy + c] != (int8_t)e;
            }
        CHECK(wrong == 0, "reference quantize %dx%d: %d wrong", rows, cols, wrong);
        free(xs), free(ys), free(rs);
    }
}

static void check_lut(const vq_kernel_table *t) {
    int8_t lut[256], x[300] = {0}, y[300], r[300];
    for (int i = 0; i < 256; i++) lut[i] = (int8_t)int_in(-127, 127);
    for (int n = 0; n <= 300; n += n < 70 ? 1 : 23) {
        for (int i = 0; i < n; i++) x[i] = (int8_t)(i < 256 ? i - 128 : int_in(-128, 127));
        memset(y, 0x55, sizeof y);
        t->lut_s8(n, x, lut, y);
        int bad = 0;
        for (int i = 0; i < n; i++) bad += y[i] != lut[x[i] + 128];
        for (int i = n; i < 300; i++) bad += y[i] != 0x55;
        memcpy(r, x, sizeof r);
        t->lut_s8(n, r, lut, r); /* in place */
        bad += memcmp(r, y, (size_t)n) != 0;
        CHECK(bad == 0, "lut n=%d: %d wrong", n, bad);
    }
}

/* ------------------------------------------------------------------------------------------ */

/* ------------------------------------------------------------------------------------------ */
/* int8 attention: per-row quantization, int8 softmax, the attention core                      */
/* ------------------------------------------------------------------------------------------ */

/* GCC 12 for aarch64 crashes vectorizing these checks' reductions (internal compiler error in
 * vect_transform_reduction): tests need no vectorization, and must not be inlined into main. */
#if defined(__GNUC__) && !defined(__clang__)
#define VQ_TEST_NO_VECTORIZE __attribute__((optimize("no-tree-vectorize"), noinline))
#else
#define VQ_TEST_NO_VECTORIZE __attribute__((noinline))
#endif

VQ_TEST_NO_VECTORIZE static void check_quantize_rows(const vq_kernel_table *t) {
    static const int shapes[][3] = {{1, 1, 0}, {3, 7, 2}, {300, 32, 64}, {5, 33, 1}, {4, 67, 3}, {2, 16, 0}};
    for (size_t s = 0; s < sizeof shapes / sizeof shapes[0]; s++) {
        const int rows = shapes[s][0], cols = shapes[s][1], ld = cols + shapes[s][2];
        float *x = alloc_floats((size_t)rows * ld), *sc = alloc_floats(rows), *sr = alloc_floats(rows);
        int8_t *y = alloc_i8((size_t)rows * ld), *yr = alloc_i8((size_t)rows * ld);
        fill(x, (size_t)rows * ld, -3, 3);
        if (rows > 2) {
            for (int c = 0; c < cols; c++) x[ld + c] = 0.0f;   /* a zero row: scale 0, all 0 */
            x[2 * ld] = NAN;                                   /* NaN skipped by amax, becomes 0 */
            x[2 * ld + cols - 1] = 1e30f;                      /* a huge value sets the scale */
        }
        memset(y, 0x55, (size_t)rows * ld);
        memset(yr, 0x55, (size_t)rows * ld);
        t->quantize_rows_s8(rows, cols, x, ld, y, ld, sc);
        vq_ref_quantize_rows_s8(rows, cols, x, ld, yr, ld, sr);
        CHECK(memcmp(sc, sr, sizeof(float) * rows) == 0, "quantize_rows %dx%d: scales differ from the reference", rows, cols);
        CHECK(memcmp(y, yr, (size_t)rows * ld) == 0, "quantize_rows %dx%d: values (or padding) differ from the reference", rows, cols);
        int bad = 0;
        for (int r = 0; r < rows; r++) {
            double amax = 0;
            for (int c = 0; c < cols; c++) amax = isnan(x[r * ld + c]) ? amax : fmax(amax, fabs(x[r * ld + c]));
            if (sc[r] != (float)(amax > 0 ? (float)amax / 127.0f : 0.0f) && bad++ < 3) CHECK(0, "quantize_rows scale %g for amax %g", sc[r], amax);
            for (int c = 0; c < cols; c++) {
                const double want = amax > 0 && !isnan(x[r * ld + c]) ? x[r * ld + c] * (127.0 / amax) : 0.0;
                if (fabs(y[r * ld + c] - want) > 0.5 + 1e-4 && bad++ < 3)
                    CHECK(0, "quantize_rows %dx%d: y[%d,%d] = %d for %.9g (scale %g)", rows, cols, r, c, y[r * ld + c], x[r * ld + c], sc[r]);
            }
        }
        CHECK(bad == 0, "quantize_rows %dx%d: %d values off", rows, cols, bad);
        free(x), free(sc), free(sr), free(y), free(yr);
    }
}

VQ_TEST_NO_VECTORIZE static void check_softmax_split8(const vq_kernel_table *t) {
    static const int shapes[][3] = {{1, 1, 0}, {3, 7, 2}, {48, 300, 0}, {5, 33, 1}, {4, 67, 3}, {2, 16, 0}};
    for (size_t s = 0; s < sizeof shapes / sizeof shapes[0]; s++) {
        const int rows = shapes[s][0], cols = shapes[s][1], ld = cols + shapes[s][2];
        float *x = alloc_floats((size_t)rows * ld), *a = alloc_floats(rows);
        float *sum = alloc_floats(rows), *sumr = alloc_floats(rows);
        int8_t *hi = alloc_i8((size_t)rows * ld), *lo = alloc_i8((size_t)rows * ld);
        int8_t *hir = alloc_i8((size_t)rows * ld), *lor = alloc_i8((size_t)rows * ld);
        fill(x, (size_t)rows * ld, -40, 40);
        for (int r = 0; r < rows; r++) a[r] = r == 0 ? 0.0f : uniform_in(0.0, 0.5); /* row 0: uniform weights */
        memset(hi, 0x55, (size_t)rows * ld);
        memset(lo, 0x55, (size_t)rows * ld);
        t->softmax_split8(rows, cols, x, ld, a, hi, lo, ld, sum);
        vq_ref_softmax_split8(rows, cols, x, ld, a, hir, lor, ld, sumr);
        int bad = 0;
        double worst_ref = 0;
        for (int r = 0; r < rows; r++) {
            double m = -INFINITY;
            for (int c = 0; c < cols; c++) m = fmax(m, x[r * ld + c]);
            int32_t total_hi = 0, total_lo = 0, top = 0;
            for (int c = 0; c < cols; c++) {
                const int h = hi[r * ld + c] + 128, l = lo[r * ld + c]; /* hi stored as h - 128 */
                const double p = h + l / 254.0, pr = hir[r * ld + c] + 128 + lor[r * ld + c] / 254.0;
                const double exact = 255.0 * exp(((double)x[r * ld + c] - m) * a[r]);
                total_hi += h, total_lo += l;
                top = h > top ? h : top;
                worst_ref = fmax(worst_ref, fabs(p - pr));
                /* 1/508 of rounding the low plane, the polynomial's (SIMD) or expf's (reference)
                 * relative error, and float32 rounding of the exponent argument (|t| <= 20) */
                if ((h < 0 || h > 255 || abs(l) > 127 || fabs(p - exact) > 0.5 / 254 + exact * 1e-5 + 1e-6) && bad++ < 3)
                    CHECK(0, "softmax_split8 %dx%d: P[%d,%d] = %d + %d/254, exact %.6f", rows, cols, r, c, h, l, exact);
            }
            for (int c = cols; c < ld; c++)
                if ((hi[r * ld + c] != 0x55 || lo[r * ld + c] != 0x55) && bad++ < 3) CHECK(0, "softmax_split8 wrote padding");
            if ((sum[r] != (float)total_hi + (float)total_lo / 254.0f || top != 255) && bad++ < 3)
                CHECK(0, "softmax_split8 row %d: sum %.9g (planes %d, %d), max %d", r, sum[r], total_hi, total_lo, top);
        }
        CHECK(bad == 0, "softmax_split8 %dx%d: %d failures", rows, cols, bad);
        CHECK(worst_ref <= 2.0 / 254 + 255 * 2e-5, "softmax_split8 %dx%d: %.3g from the reference", rows, cols, worst_ref);
        free(x), free(a), free(sum), free(sumr), free(hi), free(lo), free(hir), free(lor);
    }
}

/* The attention core against attention in double on the same qkv (and, for SIMD tables,
 * against the reference table): int8 error is statistical, so bounds are relative to max|V|:
 * a small mean, and a loose maximum (logits up to ~30 on these inputs make some rows' softmax
 * sensitive to the 1/254 steps of Q and K; the model-level check is the quantizer's gate). */
VQ_TEST_NO_VECTORIZE static void check_attention_s8(const vq_kernel_table *t, int quick) {
    static const int shapes[][3] = {{1, 96, 3}, {5, 96, 3}, {47, 96, 3}, {49, 12, 4}, {300, 96, 3}, {130, 64, 1}};
    for (size_t s = 0; s < sizeof shapes / sizeof shapes[0]; s++) {
        const int T = shapes[s][0], D = shapes[s][1], H = shapes[s][2], hd = D / H, ld = 3 * D + 5, ldo = D + 3;
        if (quick && T > 100) continue;
        float *qkv = alloc_floats((size_t)T * ld), *out = alloc_floats((size_t)T * ldo), *ref = alloc_floats((size_t)T * ldo);
        void *ws = aligned_alloc(64, (vq_attention_s8_workspace_size(T, hd) + 63) / 64 * 64);
        fill(qkv, (size_t)T * ld, -2, 2);
        for (int i = 0; i < T * ldo; i++) out[i] = ref[i] = 12345.0f;
        vq_attention_s8(t, T, D, H, qkv, ld, out, ldo, ws);
        vq_attention_s8(vq_kernels_table(VQ_ISA_REFERENCE), T, D, H, qkv, ld, ref, ldo, ws);
        double vmax = 0, worst = 0, total = 0, worst_ref = 0;
        double *sc = malloc(sizeof(double) * T);
        int clobbered = 0;
        for (int h = 0; h < H; h++) {
            for (int j = 0; j < T; j++)
                for (int c = 0; c < hd; c++) vmax = fmax(vmax, fabs(qkv[(size_t)j * ld + 2 * D + h * hd + c]));
            for (int i = 0; i < T; i++) {
                double m = -INFINITY, z = 0;
                for (int j = 0; j < T; j++) {
                    double d = 0;
                    for (int c = 0; c < hd; c++) d += (double)qkv[(size_t)i * ld + h * hd + c] * qkv[(size_t)j * ld + D + h * hd + c];
                    sc[j] = d / sqrt((double)hd);
                    m = fmax(m, sc[j]);
                }
                for (int j = 0; j < T; j++) z += (sc[j] = exp(sc[j] - m));
                for (int c = 0; c < hd; c++) {
                    double o = 0;
                    for (int j = 0; j < T; j++) o += sc[j] / z * qkv[(size_t)j * ld + 2 * D + h * hd + c];
                    const double e = fabs(out[(size_t)i * ldo + h * hd + c] - o);
                    worst = fmax(worst, e), total += e;
                    worst_ref = fmax(worst_ref, fabs(out[(size_t)i * ldo + h * hd + c] - ref[(size_t)i * ldo + h * hd + c]));
                }
            }
        }
        for (int i = 0; i < T; i++)
            for (int c = D; c < ldo; c++) clobbered += out[(size_t)i * ldo + c] != 12345.0f;
        const double mean = total / ((double)T * D);
        CHECK(worst <= 0.15 * vmax && mean <= 0.005 * vmax,
              "attention_s8 T=%d D=%d heads=%d: error vs exact max %.4g mean %.4g (max|V| %.3g)", T, D, H, worst, mean, vmax);
        CHECK(worst_ref <= 0.02 * vmax, "attention_s8 T=%d D=%d: %.4g from the reference table", T, D, worst_ref);
        CHECK(clobbered == 0, "attention_s8 wrote %d elements outside its output", clobbered);
        free(qkv), free(out), free(ref), free(ws), free(sc);
    }
}

VQ_TEST_NO_VECTORIZE static void check_qpack_transposed(void) {
    static const int shapes[][3] = {{1, 1, 1}, {32, 300, 32}, {17, 5, 20}, {3, 9, 3}, {40, 33, 41}};
    for (size_t s = 0; s < sizeof shapes / sizeof shapes[0]; s++) {
        const int N = shapes[s][0], K = shapes[s][1], ldwt = shapes[s][2];
        int8_t *wt = alloc_i8((size_t)K * ldwt), *w = alloc_i8((size_t)N * K);
        int8_t *p1 = alloc_i8(vq_qgemm_packed_size(N, K)), *p2 = alloc_i8(vq_qgemm_packed_size(N, K));
        for (int i = 0; i < K * ldwt; i++) wt[i] = (int8_t)int_in(-127, 127);
        for (int n = 0; n < N; n++)
            for (int k = 0; k < K; k++) w[(size_t)n * K + k] = wt[(size_t)k * ldwt + n];
        memset(p2, 0x55, vq_qgemm_packed_size(N, K));
        vq_qgemm_pack(w, N, K, p1);
        vq_qgemm_pack_transposed(wt, N, K, ldwt, p2);
        CHECK(memcmp(p1, p2, vq_qgemm_packed_size(N, K)) == 0, "pack_transposed %dx%d differs from pack", N, K);
        free(wt), free(w), free(p1), free(p2);
    }
}

/* ------------------------------------------------------------------------------------------ */
/* Thread pool and parallel drivers                                                            */
/* ------------------------------------------------------------------------------------------ */

typedef struct {
    atomic_int *hits;      /* per task: how many times it ran */
    atomic_int bad_thread; /* calls with a thread index out of range */
    int threads;
} pool_probe;

static void pool_probe_task(void *p, int task, int thread) {
    pool_probe *probe = p;
    atomic_fetch_add(&probe->hits[task], 1);
    if (thread < 0 || thread >= probe->threads) atomic_fetch_add(&probe->bad_thread, 1);
}

static void sleep_us(long us) {
    struct timespec t = {us / 1000000, (us % 1000000) * 1000};
    nanosleep(&t, NULL);
}

/* Threads of this process (Linux: entries of /proc/self/task; elsewhere -1). */
static int process_threads(void) {
    DIR *d = opendir("/proc/self/task");
    if (!d) return -1;
    int n = 0;
    for (struct dirent *e; (e = readdir(d));) n += e->d_name[0] != '.';
    closedir(d);
    return n;
}

/* Every task runs exactly once per run, on a valid thread index, whatever the task count, with
 * runs back to back (workers spinning) and after pauses longer than the spin (workers asleep);
 * broadcasts reach every thread once; pools start and join their workers. */
static void check_pool(int quick) {
    g_isa = "pool";
    const int threads_at_start = process_threads();
    errno = 0;
    CHECK(vq_pool_create(0) == NULL && errno == EINVAL, "vq_pool_create(0) refused with EINVAL");
    CHECK(vq_pool_create(VQ_POOL_MAX_THREADS + 1) == NULL, "vq_pool_create(%d) refused", VQ_POOL_MAX_THREADS + 1);
    CHECK(vq_pool_threads(NULL) == 1, "a NULL pool has one thread");
    enum { MAX_TASKS = 70 };
    atomic_int hits[MAX_TASKS];
    for (int threads = 1; threads <= 5; threads++) {
        vq_pool *pool = vq_pool_create(threads);
        CHECK(pool != NULL && vq_pool_threads(pool) == threads, "vq_pool_create(%d)", threads);
        if (!pool) continue;
        CHECK(vq_pool_live_workers() == threads - 1, "%d threads: %d live workers", threads, vq_pool_live_workers());
        pool_probe probe = {.hits = hits, .threads = threads};
        atomic_init(&probe.bad_thread, 0);
        int wrong = 0;
        const int rounds = quick ? 400 : 4000;
        for (int r = 0; r < rounds; r++) {
            const int tasks = r % 7 == 0 ? int_in(0, 2) : int_in(1, MAX_TASKS);
            for (int i = 0; i < MAX_TASKS; i++) atomic_init(&hits[i], 0);
            vq_pool_run(pool, tasks, pool_probe_task, &probe);
            for (int i = 0; i < MAX_TASKS; i++) wrong += atomic_load(&hits[i]) != (i < tasks);
            if (r % 97 == 0) sleep_us(2 * VQ_POOL_SPIN_US + 500); /* let the workers fall asleep */
            if (r % 151 == 0) {
                for (int i = 0; i < MAX_TASKS; i++) atomic_init(&hits[i], 0);
                vq_pool_broadcast(pool, pool_probe_task, &probe);
                for (int i = 0; i < MAX_TASKS; i++) wrong += atomic_load(&hits[i]) != (i < threads);
            }
        }
        CHECK(wrong == 0 && atomic_load(&probe.bad_thread) == 0,
              "%d threads: %d tasks ran other than once, %d bad thread indices", threads, wrong,
              atomic_load(&probe.bad_thread));
        vq_pool_destroy(pool);
        CHECK(vq_pool_live_workers() == 0, "%d threads destroyed: %d live workers", threads, vq_pool_live_workers());
    }
    vq_pool_destroy(NULL);
    vq_pool_run(NULL, 3, pool_probe_task, &(pool_probe){.hits = hits, .threads = 1});
    /* Many pools created and destroyed (some never used, some right after a run): none leaks. */
    for (int i = 0; i < (quick ? 40 : 200); i++) {
        vq_pool *pool = vq_pool_create(2 + i % 4);
        CHECK(pool != NULL, "vq_pool_create(%d) #%d", 2 + i % 4, i);
        if (i % 2) {
            for (int k = 0; k < MAX_TASKS; k++) atomic_init(&hits[k], 0);
            pool_probe probe = {.hits = hits, .threads = 2 + i % 4};
            atomic_init(&probe.bad_thread, 0);
            vq_pool_run(pool, 9, pool_probe_task, &probe);
        }
        vq_pool_destroy(pool);
    }
    CHECK(vq_pool_live_workers() == 0, "after create/destroy cycles: %d live workers", vq_pool_live_workers());
#ifndef __SANITIZE_THREAD__ /* ThreadSanitizer starts a thread of its own */
    /* A joined thread can stay listed for a moment while the kernel (or qemu) finishes its exit. */
    for (int i = 0; i < 200 && threads_at_start > 0 && process_threads() != threads_at_start; i++) sleep_us(10000);
    if (threads_at_start > 0)
        CHECK(process_threads() == threads_at_start, "process threads %d, %d at start", process_threads(), threads_at_start);
#endif
}

/* The sequential float attention the engine runs with one thread (ResolvedOp .attention). */
static void attention_f32_sequential(const vq_kernel_table *t, int T, int D, int H, const float *qkv, int ld,
                                     float *out, int ldo, float *scores) {
    const int hd = D / H;
    const float scale = (float)(1.0 / sqrt((double)hd));
    for (int h = 0; h < H; h++) {
        t->sgemm_nt(T, T, hd, qkv + h * hd, ld, qkv + D + h * hd, ld, scale, scores, T);
        t->softmax_rows(T, T, scores, T);
        t->sgemm_nn(T, hd, T, scores, T, qkv + 2 * D + h * hd, ld, out + h * hd, ldo);
    }
}

static int differing(const void *a, const void *b, size_t n) {
    const unsigned char *x = a, *y = b;
    int d = 0;
    for (size_t i = 0; i < n; i++) d += x[i] != y[i];
    return d;
}

/* Every parallel driver gives the single-threaded call's bits, on 2 to 4 threads, over the
 * model's shapes and odd ones (whole buffers compared: nothing written outside the outputs). */
static void check_parallel(const vq_kernel_table *t, int quick) {
    static const int gemm_shapes[][3] = {{300, 96, 96}, {300, 288, 96}, {300, 384, 96}, {300, 96, 384}, {300, 96, 100},
                                         {1, 3, 96}, {37, 50, 29}, {25, 17, 300}, {97, 33, 300}, {24, 16, 16}};
    static const int attn_shapes[][3] = {{300, 96, 3}, {1, 96, 3}, {47, 96, 3}, {49, 12, 4}, {97, 64, 1}, {130, 64, 2}};
    for (int threads = 2; threads <= 4; threads++) {
        vq_pool *pool = vq_pool_create(threads);
        CHECK(pool != NULL, "vq_pool_create(%d)", threads);
        if (!pool) return;
        for (size_t s = 0; s < sizeof gemm_shapes / sizeof gemm_shapes[0]; s++) {
            const int M = gemm_shapes[s][0], N = gemm_shapes[s][1], K = gemm_shapes[s][2], lda = K + 3, ldc = N + 5;
            const size_t csize = (size_t)(M + 1) * ldc;
            float *A = alloc_floats((size_t)M * lda), *W = alloc_floats((size_t)N * K), *bias = alloc_floats(N);
            float *P = alloc_floats(vq_sgemm_packed_size(N, K)), *C1 = alloc_floats(csize), *C2 = alloc_floats(csize);
            fill(A, (size_t)M * lda, -1, 1), fill(W, (size_t)N * K, -1, 1), fill(bias, N, -1, 1);
            vq_sgemm_pack(W, N, K, P);
            for (size_t i = 0; i < csize; i++) C1[i] = C2[i] = -7.0f;
            t->sgemm_packed(M, N, K, A, lda, P, bias, C1, ldc);
            vq_parallel_sgemm_packed(pool, t, M, N, K, A, lda, P, bias, C2, ldc);
            CHECK(memcmp(C1, C2, csize * sizeof(float)) == 0, "%d threads: parallel sgemm_packed %dx%dx%d differs in %d bytes",
                  threads, M, N, K, differing(C1, C2, csize * sizeof(float)));

            int8_t *Aq = alloc_i8((size_t)M * lda), *Wq = alloc_i8((size_t)N * K), *Pq = alloc_i8(vq_qgemm_packed_size(N, K));
            int8_t *Q1 = alloc_i8(csize), *Q2 = alloc_i8(csize);
            int32_t *bq = alloc_i32(N), *mult = alloc_i32(N), *shift = alloc_i32(N);
            for (size_t i = 0; i < (size_t)M * lda; i++) Aq[i] = (int8_t)int_in(-128, 127);
            for (size_t i = 0; i < (size_t)N * K; i++) Wq[i] = (int8_t)int_in(-127, 127);
            for (int n = 0; n < N; n++) bq[n] = int_in(-5000, 5000), bias[n] = uniform_in(1e-4, 1e-2);
            fill_requant(N, mult, shift, 0);
            vq_qgemm_pack(Wq, N, K, Pq);
            for (size_t i = 0; i < csize; i++) C1[i] = C2[i] = -7.0f, Q1[i] = Q2[i] = 0x55;
            t->qgemm_packed_f32(M, N, K, Aq, lda, Pq, bq, bias, C1, ldc);
            vq_parallel_qgemm_packed_f32(pool, t, M, N, K, Aq, lda, Pq, bq, bias, C2, ldc);
            CHECK(memcmp(C1, C2, csize * sizeof(float)) == 0, "%d threads: parallel qgemm_packed_f32 %dx%dx%d differs",
                  threads, M, N, K);
            t->qgemm_packed_s8(M, N, K, Aq, lda, Pq, bq, mult, shift, Q1, ldc);
            vq_parallel_qgemm_packed_s8(pool, t, M, N, K, Aq, lda, Pq, bq, mult, shift, Q2, ldc);
            CHECK(memcmp(Q1, Q2, csize) == 0, "%d threads: parallel qgemm_packed_s8 %dx%dx%d differs", threads, M, N, K);
            free(A), free(W), free(bias), free(P), free(C1), free(C2);
            free(Aq), free(Wq), free(Pq), free(Q1), free(Q2), free(bq), free(mult), free(shift);
        }

        static const int sizes[] = {300 * 384, 300 * 96, 8191, 8192, 8193, 100, 12345};
        for (size_t s = 0; s < sizeof sizes / sizeof sizes[0]; s++) {
            const int n = sizes[s];
            const size_t bytes = ((size_t)n + 1) * sizeof(float);
            float *x1 = alloc_floats((size_t)n + 1), *x2 = alloc_floats((size_t)n + 1), *b = alloc_floats((size_t)n + 1);
            fill(x1, (size_t)n + 1, -6, 6), fill(b, (size_t)n + 1, -6, 6);
            memcpy(x2, x1, bytes);
            t->gelu_erf(n, x1);
            vq_parallel_gelu_erf(pool, t, n, x2);
            CHECK(memcmp(x1, x2, bytes) == 0, "%d threads: parallel gelu n=%d differs", threads, n);
            float *y1 = alloc_floats((size_t)n + 1), *y2 = alloc_floats((size_t)n + 1);
            y1[n] = y2[n] = -7.0f;
            t->add(n, x1, b, y1);
            vq_parallel_add(pool, t, n, x1, b, y2);
            CHECK(memcmp(y1, y2, bytes) == 0, "%d threads: parallel add n=%d differs", threads, n);
            int8_t *q = alloc_i8((size_t)n + 1), *l1 = alloc_i8((size_t)n + 1), *l2 = alloc_i8((size_t)n + 1), lut[256];
            for (int i = 0; i <= n; i++) q[i] = (int8_t)int_in(-128, 127);
            for (int i = 0; i < 256; i++) lut[i] = (int8_t)int_in(-127, 127);
            l1[n] = l2[n] = 0x55;
            t->lut_s8(n, q, lut, l1);
            vq_parallel_lut_s8(pool, t, n, q, lut, l2);
            CHECK(memcmp(l1, l2, (size_t)n + 1) == 0, "%d threads: parallel lut_s8 n=%d differs", threads, n);
            free(x1), free(x2), free(b), free(y1), free(y2), free(q), free(l1), free(l2);
        }

        static const int row_shapes[][2] = {{300, 96}, {1, 96}, {300, 384}, {37, 50}, {25, 7}};
        for (size_t s = 0; s < sizeof row_shapes / sizeof row_shapes[0]; s++) {
            const int rows = row_shapes[s][0], cols = row_shapes[s][1], ldx = cols + 3, ldy = cols + 1;
            const size_t ysize = (size_t)(rows + 1) * ldy;
            float *x = alloc_floats((size_t)rows * ldx), *g = alloc_floats(cols), *be = alloc_floats(cols);
            float *y1 = alloc_floats(ysize), *y2 = alloc_floats(ysize);
            int8_t *q1 = alloc_i8(ysize), *q2 = alloc_i8(ysize);
            fill(x, (size_t)rows * ldx, -3, 3), fill(g, cols, 0.5, 1.5), fill(be, cols, -1, 1);
            for (size_t i = 0; i < ysize; i++) y1[i] = y2[i] = -7.0f, q1[i] = q2[i] = 0x55;
            t->layernorm(rows, cols, x, ldx, g, be, 1e-6f, y1, ldy);
            vq_parallel_layernorm(pool, t, rows, cols, x, ldx, g, be, 1e-6f, y2, ldy);
            CHECK(memcmp(y1, y2, ysize * sizeof(float)) == 0, "%d threads: parallel layernorm %dx%d differs", threads, rows, cols);
            t->quantize_s8(rows, cols, x, ldx, 40.0f, q1, ldy);
            vq_parallel_quantize_s8(pool, t, rows, cols, x, ldx, 40.0f, q2, ldy);
            CHECK(memcmp(q1, q2, ysize) == 0, "%d threads: parallel quantize_s8 %dx%d differs", threads, rows, cols);
            free(x), free(g), free(be), free(y1), free(y2), free(q1), free(q2);
        }

        for (size_t s = 0; s < sizeof attn_shapes / sizeof attn_shapes[0]; s++) {
            const int T = attn_shapes[s][0], D = attn_shapes[s][1], H = attn_shapes[s][2], hd = D / H;
            const int ld = 3 * D + 5, ldo = D + 3;
            if (quick && T > 100 && threads > 2) continue;
            float *qkv = alloc_floats((size_t)T * ld), *o1 = alloc_floats((size_t)T * ldo), *o2 = alloc_floats((size_t)T * ldo);
            float *scores = alloc_floats((size_t)T * T), *scratch = alloc_floats(vq_parallel_attention_f32_scratch(T, H, threads));
            fill(qkv, (size_t)T * ld, -2, 2);
            for (size_t i = 0; i < (size_t)T * ldo; i++) o1[i] = o2[i] = 12345.0f;
            attention_f32_sequential(t, T, D, H, qkv, ld, o1, ldo, scores);
            vq_parallel_attention_f32(pool, t, T, D, H, qkv, ld, o2, ldo, scratch);
            CHECK(memcmp(o1, o2, (size_t)T * ldo * sizeof(float)) == 0,
                  "%d threads: parallel float attention T=%d D=%d heads=%d differs in %d bytes", threads, T, D, H,
                  differing(o1, o2, (size_t)T * ldo * sizeof(float)));

            void *ws1 = aligned_alloc(64, (vq_attention_s8_workspace_size(T, hd) + 63) / 64 * 64);
            void *ws2 = aligned_alloc(64, (vq_parallel_attention_s8_workspace_size(T, hd, H, threads) + 63) / 64 * 64);
            for (size_t i = 0; i < (size_t)T * ldo; i++) o1[i] = o2[i] = 12345.0f;
            vq_attention_s8(t, T, D, H, qkv, ld, o1, ldo, ws1);
            vq_parallel_attention_s8(pool, t, T, D, H, qkv, ld, o2, ldo, ws2);
            CHECK(memcmp(o1, o2, (size_t)T * ldo * sizeof(float)) == 0,
                  "%d threads: parallel int8 attention T=%d D=%d heads=%d differs in %d bytes", threads, T, D, H,
                  differing(o1, o2, (size_t)T * ldo * sizeof(float)));
            free(qkv), free(o1), free(o2), free(scores), free(scratch), free(ws1), free(ws2);
        }
        vq_pool_destroy(pool);
    }
}

static void check_table(const vq_kernel_table *t, int quick, int exhaustive) {
    g_isa = t->name;
    int before = g_failures, checks = g_checks;
    check_gemms(t, quick);
    static const int ln_shapes[][3] = {{300, 96, 0}, {1, 1, 0}, {3, 7, 2}, {5, 33, 1}, {4, 67, 3}, {2, 384, 0}};
    for (size_t s = 0; s < sizeof ln_shapes / sizeof ln_shapes[0]; s++) {
        check_layernorm(t, ln_shapes[s][0], ln_shapes[s][1], ln_shapes[s][2], 0.0, 1.0, 0);
        check_layernorm(t, ln_shapes[s][0], ln_shapes[s][1], ln_shapes[s][2], 100.0, 1.0, 1);
    }
    check_layernorm(t, 3, 96, 0, 0.0, 1e15, 0);
    static const int sm_shapes[][2] = {{300, 300}, {1, 1}, {3, 7}, {5, 33}, {4, 67}, {2, 16}};
    for (size_t s = 0; s < sizeof sm_shapes / sizeof sm_shapes[0]; s++) {
        check_softmax(t, sm_shapes[s][0], sm_shapes[s][1], 3, 10.0, 0);
        check_softmax(t, sm_shapes[s][0], sm_shapes[s][1], 0, 100.0, 1);
    }
    check_unary(t, quick ? 20001 : 200001, -10, 10);
    check_add_mean(t);
    check_row_goldens(t);
    if (exhaustive) exhaustive_erf(t);
    check_qgemms(t, quick);
    check_quantize(t);
    check_lut(t);
    check_quantize_rows(t);
    check_softmax_split8(t);
    check_attention_s8(t, quick);
    check_parallel(t, quick);
    printf("[%s] %d checks, %d failures\n", t->name, g_checks - checks, g_failures - before);
}

/* The public entry points follow vq_kernels_select. */
static void check_dispatch(void) {
    g_isa = "dispatch";
    CHECK(vq_kernels_select(VQ_ISA_AUTO) == vq_kernels_table(VQ_ISA_AUTO)->isa, "AUTO selects its table");
    CHECK(vq_kernels_select(99) == -1, "unknown ISA refused");
    for (int isa = VQ_ISA_REFERENCE; isa < VQ_ISA_COUNT; isa++) {
        const vq_kernel_table *t = vq_kernels_table(isa);
        if (!t) {
            int before = vq_kernels_isa();
            CHECK(vq_kernels_select(isa) == -1 && vq_kernels_isa() == before, "unsupported ISA %d refused", isa);
            continue;
        }
        CHECK(vq_kernels_select(isa) == isa, "select %d", isa);
        CHECK(vq_kernels_isa() == isa && strcmp(vq_kernels_isa_name(), t->name) == 0, "active is %s", t->name);
        enum { M = 13, N = 37, K = 29 };
        float A[M * K], W[N * K], bias[N], C1[M * N], C2[M * N], *P = alloc_floats(vq_sgemm_packed_size(N, K));
        fill(A, M * K, -1, 1), fill(W, N * K, -1, 1), fill(bias, N, -1, 1);
        vq_sgemm_pack(W, N, K, P);
        vq_sgemm_packed(M, N, K, A, K, P, bias, C1, N);
        t->sgemm_packed(M, N, K, A, K, P, bias, C2, N);
        CHECK(memcmp(C1, C2, sizeof C1) == 0, "public sgemm_packed runs %s", t->name);
        float g1[50], g2[50];
        fill(g1, 50, -5, 5);
        memcpy(g2, g1, sizeof g1);
        vq_gelu_erf(50, g1);
        t->gelu_erf(50, g2);
        CHECK(memcmp(g1, g2, sizeof g1) == 0, "public gelu runs %s", t->name);
        free(P);
        int8_t Aq[M * K], Wq[N * K], *Pq = alloc_i8(vq_qgemm_packed_size(N, K)), q1[M * N], q2[M * N];
        int32_t bq[N], mq[N], sq[N];
        for (int i = 0; i < M * K; i++) Aq[i] = (int8_t)int_in(-128, 127);
        for (int i = 0; i < N * K; i++) Wq[i] = (int8_t)int_in(-127, 127);
        for (int n = 0; n < N; n++) bq[n] = int_in(-5000, 5000);
        fill_requant(N, mq, sq, 0);
        vq_qgemm_pack(Wq, N, K, Pq);
        vq_qgemm_packed_f32(M, N, K, Aq, K, Pq, bq, bias, C1, N);
        t->qgemm_packed_f32(M, N, K, Aq, K, Pq, bq, bias, C2, N);
        CHECK(memcmp(C1, C2, sizeof C1) == 0, "public qgemm_packed_f32 runs %s", t->name);
        vq_qgemm_packed_s8(M, N, K, Aq, K, Pq, bq, mq, sq, q1, N);
        t->qgemm_packed_s8(M, N, K, Aq, K, Pq, bq, mq, sq, q2, N);
        CHECK(memcmp(q1, q2, sizeof q1) == 0, "public qgemm_packed_s8 runs %s", t->name);
        vq_quantize_s8(M, K, A, K, 100.0f, q1, K);
        t->quantize_s8(M, K, A, K, 100.0f, q2, K);
        CHECK(memcmp(q1, q2, (size_t)M * K) == 0, "public quantize_s8 runs %s", t->name);
        int8_t lut[256];
        for (int i = 0; i < 256; i++) lut[i] = (int8_t)(127 - i / 2);
        vq_lut_s8(M * K, Aq, lut, q1);
        t->lut_s8(M * K, Aq, lut, q2);
        CHECK(memcmp(q1, q2, (size_t)M * K) == 0, "public lut_s8 runs %s", t->name);
        free(Pq);
    }
    vq_kernels_select(VQ_ISA_AUTO);
}

/* Is `name` in the comma-separated `list`? */
static int listed(const char *list, const char *name) {
    const size_t n = strlen(name);
    for (const char *p = list; p && *p;) {
        const char *e = strchr(p, ',');
        const size_t len = e ? (size_t)(e - p) : strlen(p);
        if (len == n && !strncmp(p, name, n)) return 1;
        p = e ? e + 1 : NULL;
    }
    return 0;
}

int main(int argc, char **argv) {
    uint64_t seed = 0x5EED5EEDull ^ (uint64_t)time(NULL);
    int quick = 0, exhaustive = 0;
    const char *require = "", *absent = "";
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--seed") && i + 1 < argc) seed = strtoull(argv[++i], NULL, 0);
        else if (!strcmp(argv[i], "--quick")) quick = 1;
        else if (!strcmp(argv[i], "--exhaustive-erf")) exhaustive = 1;
        else if (!strcmp(argv[i], "--require") && i + 1 < argc) require = argv[++i];
        else if (!strcmp(argv[i], "--absent") && i + 1 < argc) absent = argv[++i];
        else {
            fprintf(stderr, "usage: %s [--seed N] [--quick] [--exhaustive-erf] [--require ISAS] [--absent ISAS]\n",
                    argv[0]);
            return 2;
        }
    }
    g_rng = seed;
    printf("test_kernels: seed %" PRIu64 " (replay with --seed %" PRIu64 "); AUTO selects %s\n", seed, seed,
           vq_kernels_table(VQ_ISA_AUTO)->name);
    static const char *names[] = {"auto", "reference", "avx2", "avx512", "neon", "avx512_vnni", "avx_vnni",
                                  "neon_dotprod"};
    check_qpack();
    check_qpack_transposed();
    check_requantize_goldens();
    check_quantize_multiplier();
    check_pool(quick);
    int checked = 0;
    for (int isa = VQ_ISA_REFERENCE; isa < VQ_ISA_COUNT; isa++) {
        const vq_kernel_table *t = vq_kernels_table(isa);
        g_isa = names[isa];
        if (!t) {
            printf("[%s] not available in this build or on this CPU: skipped\n", names[isa]);
            CHECK(!listed(require, names[isa]), "--require %s: not available", names[isa]);
            continue;
        }
        CHECK(!listed(absent, names[isa]), "--absent %s: available (run-time detection wrong?)", names[isa]);
        check_table(t, quick, exhaustive);
        checked++;
    }
    printf("test_kernels: %d tables checked\n", checked);
    check_dispatch();
    printf("test_kernels: %d checks, %d failures; ISA in use: %s\n", g_checks, g_failures, vq_kernels_isa_name());
    return g_failures ? 1 : 0;
}
