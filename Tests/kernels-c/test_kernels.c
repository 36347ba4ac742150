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
 *   test_kernels [--seed N] [--quick] [--exhaustive-erf]
 *     --quick           fewer random shapes (for slow emulators)
 *     --exhaustive-erf  also sweep every float in [-10, 10] through erf and GELU of each ISA
 *                       and report the largest difference from the reference (slow)
 */
#include "vq_kernels.h"

#include <float.h>
#include <inttypes.h>
#include <math.h>
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
    }
    vq_kernels_select(VQ_ISA_AUTO);
}

int main(int argc, char **argv) {
    uint64_t seed = 0x5EED5EEDull ^ (uint64_t)time(NULL);
    int quick = 0, exhaustive = 0;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--seed") && i + 1 < argc) seed = strtoull(argv[++i], NULL, 0);
        else if (!strcmp(argv[i], "--quick")) quick = 1;
        else if (!strcmp(argv[i], "--exhaustive-erf")) exhaustive = 1;
        else {
            fprintf(stderr, "usage: %s [--seed N] [--quick] [--exhaustive-erf]\n", argv[0]);
            return 2;
        }
    }
    g_rng = seed;
    printf("test_kernels: seed %" PRIu64 " (replay with --seed %" PRIu64 "); AUTO selects %s\n", seed, seed,
           vq_kernels_table(VQ_ISA_AUTO)->name);
    static const char *names[] = {"auto", "reference", "avx2", "avx512", "neon"};
    for (int isa = VQ_ISA_REFERENCE; isa < VQ_ISA_COUNT; isa++) {
        const vq_kernel_table *t = vq_kernels_table(isa);
        if (!t) {
            printf("[%s] not available in this build or on this CPU: skipped\n", names[isa]);
            continue;
        }
        check_table(t, quick, exhaustive);
    }
    check_dispatch();
    printf("test_kernels: %d checks, %d failures; ISA in use: %s\n", g_checks, g_failures, vq_kernels_isa_name());
    return g_failures ? 1 : 0;
}
