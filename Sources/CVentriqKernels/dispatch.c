/*
 * dispatch.c: picks one kernel table at run time and forwards the public entry points to it.
 *
 * The active table is one atomic pointer. It is set by vq_kernels_select, or by the first
 * public call (AUTO) if nothing was selected; racing first calls all store the same table.
 * Adding a kernel (the int8 family): a member in vq_kernel_table, a public forwarder here, and
 * the member in every table (reference, and each SIMD ISA or its reference fallback).
 */
#include "vq_internal.h"

#include <stddef.h>

static const vq_kernel_table *vq_active_table = NULL;

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
        return __builtin_cpu_supports("avx512f");
#endif
#if VQ_HAVE_NEON
    case VQ_ISA_NEON:
        return 1;
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
#endif
#if VQ_HAVE_NEON
    case VQ_ISA_NEON:
        return &vq_table_neon;
#endif
    default:
        return NULL;
    }
}

/* AUTO's preference order: widest vectors first. */
static const vq_kernel_table *auto_table(void) {
    static const int order[] = {VQ_ISA_AVX512, VQ_ISA_AVX2, VQ_ISA_NEON};
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
