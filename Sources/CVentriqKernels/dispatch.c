/*
 * dispatch.c: picks one kernel table at run time and forwards the public entry points to it.
 *
 * The active table is one atomic pointer. It is set by vq_kernels_select, or by the first
 * public call (AUTO) if nothing was selected; racing first calls all store the same table.
 * Adding a kernel: a member in vq_kernel_table, a public forwarder here, and the member in every
 * table (reference, and each SIMD ISA or its reference fallback).
 */
#include "vq_internal.h"

#include <stddef.h>

#if VQ_HAVE_NEON && defined(__linux__)
#include <sys/auxv.h>
#ifndef HWCAP_ASIMDDP
#define HWCAP_ASIMDDP (1 << 20) /* Linux arch/arm64 uapi hwcap.h */
#endif
#elif VQ_HAVE_NEON && defined(__APPLE__)
#include <sys/sysctl.h>
#endif

static const vq_kernel_table *vq_active_table = NULL;

#if VQ_HAVE_NEON
/* The dot product extension (sdot/udot, Armv8.2 optional, Armv8.4 mandatory). */
static int neon_has_dotprod(void) {
#if defined(__ARM_FEATURE_DOTPROD)
    return 1; /* the whole build requires it */
#elif defined(__linux__)
    return (getauxval(AT_HWCAP) & HWCAP_ASIMDDP) != 0;
#elif defined(__APPLE__)
    int v = 0;
    size_t len = sizeof v;
    return sysctlbyname("hw.optional.arm.FEAT_DotProd", &v, &len, NULL, 0) == 0 && v != 0;
#else
    return 0;
#endif
}
#endif

/* Does this CPU run `isa`'s table (compiled in and supported)? */
static int cpu_runs(int isa) {
    switch (isa) {
    case VQ_ISA_REFERENCE:
        return 1;
#if VQ_HAVE_X86
    case VQ_ISA_AVX2:
        __builtin_cpu_init();
        return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
    case VQ_ISA_AVX512:
        __builtin_cpu_init();
        return __builtin_cpu_supports("avx512f") && cpu_runs(VQ_ISA_AVX2);
    case VQ_ISA_AVX512_VNNI:
        __builtin_cpu_init();
        return cpu_runs(VQ_ISA_AVX512) && __builtin_cpu_supports("avx512bw") &&
               __builtin_cpu_supports("avx512vl") && __builtin_cpu_supports("avx512vnni");
    case VQ_ISA_AVX_VNNI:
        __builtin_cpu_init();
#ifdef VQ_TEST_AVX_VNNI_AS_EVEX
        /* Test build (Tests/kernels-c): the AVX-VNNI kernels compiled with the EVEX encoding of
         * the same instructions, so that AVX-512 VNNI machines run and check their code. */
        return cpu_runs(VQ_ISA_AVX2) && __builtin_cpu_supports("avx512vnni") && __builtin_cpu_supports("avx512vl");
#else
        return cpu_runs(VQ_ISA_AVX2) && __builtin_cpu_supports("avxvnni");
#endif
#endif
#if VQ_HAVE_NEON
    case VQ_ISA_NEON:
        return 1;
    case VQ_ISA_NEON_DOTPROD:
        return neon_has_dotprod();
#endif
    default:
        return 0;
    }
}

static const vq_kernel_table *table_of(int isa) {
    switch (isa) {
    case VQ_ISA_REFERENCE:
        return &vq_table_reference;
#if VQ_HAVE_X86
    case VQ_ISA_AVX2:
        return &vq_table_avx2;
    case VQ_ISA_AVX512:
        return &vq_table_avx512;
    case VQ_ISA_AVX512_VNNI:
        return &vq_table_avx512_vnni;
    case VQ_ISA_AVX_VNNI:
        return &vq_table_avx_vnni;
#endif
#if VQ_HAVE_NEON
    case VQ_ISA_NEON:
        return &vq_table_neon;
    case VQ_ISA_NEON_DOTPROD:
        return &vq_table_neon_dotprod;
#endif
    default:
        return NULL;
    }
}

/* AUTO's preference order: widest vectors first, and within a width the int8 dot product
 * instructions first (the float kernels of a width are the same). */
static const vq_kernel_table *auto_table(void) {
    static const int order[] = {VQ_ISA_AVX512_VNNI, VQ_ISA_AVX512, VQ_ISA_AVX_VNNI, VQ_ISA_AVX2,
                                VQ_ISA_NEON_DOTPROD, VQ_ISA_NEON};
    for (size_t i = 0; i < sizeof order / sizeof order[0]; i++)
        if (table_of(order[i]) && cpu_runs(order[i])) return table_of(order[i]);
    return &vq_table_reference;
}

const vq_kernel_table *vq_kernels_table(int isa) {
    if (isa == VQ_ISA_AUTO) return auto_table();
    const vq_kernel_table *t = table_of(isa);
    return t && cpu_runs(isa) ? t : NULL;
}

int vq_kernels_isa_supported(int isa) { return isa == VQ_ISA_AUTO || vq_kernels_table(isa) != NULL; }

int vq_kernels_select(int isa_request) {
    const vq_kernel_table *t = vq_kernels_table(isa_request);
    if (!t) return -1;
    __atomic_store_n(&vq_active_table, t, __ATOMIC_RELEASE);
    return t->isa;
}

const vq_kernel_table *vq_kernels_active(void) {
    const vq_kernel_table *t = __atomic_load_n(&vq_active_table, __ATOMIC_ACQUIRE);
    if (__builtin_expect(t == NULL, 0)) {
        const vq_kernel_table *chosen = auto_table();
        /* Keep a concurrent explicit selection if one landed first. */
        if (__atomic_compare_exchange_n(&vq_active_table, &t, chosen, 0, __ATOMIC_ACQ_REL,
                                        __ATOMIC_ACQUIRE))
            t = chosen;
    }
    return t;
}

int vq_kernels_isa(void) { return vq_kernels_active()->isa; }

const char *vq_kernels_isa_name(void) { return vq_kernels_active()->name; }

/* ------------------------------------------------------------------------------------------ */
/* Public entry points                                                                        */
/* ------------------------------------------------------------------------------------------ */

void vq_sgemm_packed(int M, int N, int K, const float *A, int lda, const float *packed,
                     const float *bias, float *C, int ldc) {
    vq_kernels_active()->sgemm_packed(M, N, K, A, lda, packed, bias, C, ldc);
}

void vq_sgemm_packed_accumulate(int M, int N, int K, const float *A, int lda, const float *packed,
                                const float *bias, float *C, int ldc) {
    vq_kernels_active()->sgemm_packed_accumulate(M, N, K, A, lda, packed, bias, C, ldc);
}

void vq_sgemm_nt(int M, int N, int K, const float *A, int lda, const float *B, int ldb,
                 float alpha, float *C, int ldc) {
    vq_kernels_active()->sgemm_nt(M, N, K, A, lda, B, ldb, alpha, C, ldc);
}

void vq_sgemm_nn(int M, int N, int K, const float *A, int lda, const float *B, int ldb,
                 float *C, int ldc) {
    vq_kernels_active()->sgemm_nn(M, N, K, A, lda, B, ldb, C, ldc);
}

void vq_layernorm(int rows, int cols, const float *x, int ldx, const float *gamma,
                  const float *beta, float eps, float *y, int ldy) {
    vq_kernels_active()->layernorm(rows, cols, x, ldx, gamma, beta, eps, y, ldy);
}

void vq_softmax_rows(int rows, int cols, float *x, int ld) {
    vq_kernels_active()->softmax_rows(rows, cols, x, ld);
}

void vq_gelu_erf(int n, float *x) { vq_kernels_active()->gelu_erf(n, x); }

void vq_erf(int n, float *x) { vq_kernels_active()->erf(n, x); }

void vq_exp(int n, float *x) { vq_kernels_active()->exp(n, x); }

void vq_add(int n, const float *a, const float *b, float *y) { vq_kernels_active()->add(n, a, b, y); }

void vq_mean_rows(int rows, int cols, const float *x, int ldx, float *y) {
    vq_kernels_active()->mean_rows(rows, cols, x, ldx, y);
}

void vq_qgemm_packed_f32(int M, int N, int K, const int8_t *A, int lda, const int8_t *packed,
                         const int32_t *bias, const float *out_scale, float *C, int ldc) {
    vq_kernels_active()->qgemm_packed_f32(M, N, K, A, lda, packed, bias, out_scale, C, ldc);
}

void vq_qgemm_packed_s8(int M, int N, int K, const int8_t *A, int lda, const int8_t *packed,
                        const int32_t *bias, const int32_t *multiplier, const int32_t *shift,
                        int8_t *C, int ldc) {
    vq_kernels_active()->qgemm_packed_s8(M, N, K, A, lda, packed, bias, multiplier, shift, C, ldc);
}

void vq_quantize_s8(int rows, int cols, const float *x, int ldx, float inv_scale, int8_t *y,
                    int ldy) {
    vq_kernels_active()->quantize_s8(rows, cols, x, ldx, inv_scale, y, ldy);
}

void vq_lut_s8(int n, const int8_t *x, const int8_t *lut256, int8_t *y) {
    vq_kernels_active()->lut_s8(n, x, lut256, y);
}

void vq_quantize_rows_s8(int rows, int cols, const float *x, int ldx, int8_t *y, int ldy, float *scale) {
    vq_kernels_active()->quantize_rows_s8(rows, cols, x, ldx, y, ldy, scale);
}

void vq_softmax_split8(int rows, int cols, const float *x, int ldx, const float *row_scale, int8_t *hi, int8_t *lo,
                       int ldy, float *row_sum) {
    vq_kernels_active()->softmax_split8(rows, cols, x, ldx, row_scale, hi, lo, ldy, row_sum);
}
