/*
 * attention_q.c: the int8 attention core (vq_attention_s8; contract in vq_kernels.h, scheme in
 * docs/QUANTIZATION.md "Attention in int8"). Not a kernel of its own ISA: a driver over one
 * kernel table's int8 GEMM, quantization and exp, so that every table runs it and the
 * reference table defines it.
 *
 * Why this shape: the float attention writes a [T, T] float score matrix per head (360 KB at 300
 * tokens) and runs at float speed (0.48 ms per layer of the compact model, 0.28 ms here). Here K and V are
 * quantized and packed once per head (a few KB, the int8 GEMM's weight layout), and the query
 * rows go through in blocks of VQ_ATTN_MB: scores, softmax and P.V of one block stay in L1/L2,
 * and nothing of size T x T is ever materialised.
 *
 * vq_parallel_attention_s8 runs the same two steps (a head's prologue, a block of query rows) as
 * tasks on a vq_pool, with one head part of the workspace per head and one row part per thread:
 * the same functions on the same data, so the same bits.
 */
#include "vq_internal.h"

#include <math.h>

/* Query rows per block: a multiple of every int8 microkernel's MR (12, 6, 4), small enough that
 * the block's float scores (MB x T floats) stay in L2 on small boards at a few hundred tokens. */
#define VQ_ATTN_MB 48

/* max_i |x[i]| over n floats (0 when n = 0; NaN skipped), with the compilers' portable vector
 * types (GCC and Clang, any target): a scalar `a > m ? a : m` loop is one long dependency chain
 * that neither compiler vectorizes without fast-math. Exact: max does not round. */
typedef float vq_f4 __attribute__((vector_size(16)));
typedef int32_t vq_i4 __attribute__((vector_size(16)));

static float vq_absmax(const float *x, int n) {
    const vq_i4 magnitude = (vq_i4){0x7fffffff, 0x7fffffff, 0x7fffffff, 0x7fffffff};
    vq_f4 m0 = {0, 0, 0, 0}, m1 = m0;
    int i = 0;
    for (; i + 8 <= n; i += 8) {
        vq_f4 a, b;
        memcpy(&a, x + i, sizeof a);
        memcpy(&b, x + i + 4, sizeof b);
        a = (vq_f4)((vq_i4)a & magnitude);
        b = (vq_f4)((vq_i4)b & magnitude);
        const vq_i4 ga = (vq_i4)(a > m0), gb = (vq_i4)(b > m1); /* NaN compares false */
        m0 = (vq_f4)(((vq_i4)a & ga) | ((vq_i4)m0 & ~ga));
        m1 = (vq_f4)(((vq_i4)b & gb) | ((vq_i4)m1 & ~gb));
    }
    float m = 0.0f;
    for (int l = 0; l < 4; l++) {
        m = m0[l] > m ? m0[l] : m;
        m = m1[l] > m ? m1[l] : m;
    }
    for (; i < n; i++) {
        const float a = fabsf(x[i]);
        m = a > m ? a : m;
    }
    return m;
}

static size_t align64(size_t n) { return (n + 63) & ~(size_t)63; }

/* The workspace carved into its parts (every part 64-byte aligned relative to its base): what
 * one head needs from its prologue to its last query block (quantized and packed K and V, the
 * quantized Q and the scales), and what one block of query rows needs (scores, the two planes of
 * P, row scales and sums). The single-threaded driver has one of each; the parallel one one
 * head part per head and one row part per thread. */
typedef struct {
    int8_t *kpack, *vpack, *qq, *tmp;
    float *sq, *sk, *sv, *svlo;
    int32_t *pvbias;
} vq_attn_head;

typedef struct {
    int8_t *p, *plo;
    float *scores, *lo_out, *rowscale, *rowsum;
} vq_attn_rows;

#define VQ_PART(parts, field, type, count)                                                       \
    do {                                                                                         \
        if (parts) (parts)->field = (type *)(void *)(base + off);                                \
        off += align64((size_t)(count) * sizeof(type));                                          \
    } while (0)

static size_t vq_attn_head_layout(int T, int hd, unsigned char *base, vq_attn_head *w) {
    size_t off = 0;
    VQ_PART(w, kpack, int8_t, vq_qgemm_packed_size(T, hd));
    VQ_PART(w, vpack, int8_t, vq_qgemm_packed_size(hd, T));
    VQ_PART(w, qq, int8_t, (size_t)T * hd);
    VQ_PART(w, tmp, int8_t, (size_t)T * hd);
    VQ_PART(w, sq, float, T);
    VQ_PART(w, sk, float, T);
    VQ_PART(w, sv, float, hd);
    VQ_PART(w, svlo, float, hd);
    VQ_PART(w, pvbias, int32_t, hd);
    return off;
}

static size_t vq_attn_rows_layout(int T, int hd, unsigned char *base, vq_attn_rows *w) {
    const int mb = T < VQ_ATTN_MB ? T : VQ_ATTN_MB;
    size_t off = 0;
    VQ_PART(w, p, int8_t, (size_t)mb * T);
    VQ_PART(w, plo, int8_t, (size_t)mb * T);
    VQ_PART(w, scores, float, (size_t)mb * T);
    VQ_PART(w, lo_out, float, (size_t)mb * hd);
    VQ_PART(w, rowscale, float, mb);
    VQ_PART(w, rowsum, float, mb);
    return off;
}
#undef VQ_PART

size_t vq_attention_s8_workspace_size(int T, int head_dim) {
    if (T <= 0 || head_dim <= 0) return 0;
    return vq_attn_head_layout(T, head_dim, NULL, NULL) + vq_attn_rows_layout(T, head_dim, NULL, NULL);
}

/* One head's prologue: Q, K and V of head slice q (K at q + D, V at q + 2D) quantized, K and V
 * packed as GEMM weights, the V scales and the P.V bias. */
static void vq_attn_head_prepare(const vq_kernel_table *kt, int T, int D, int hd, const float *q, int ldqkv,
                                 const vq_attn_head *w) {
    const float *k = q + D;
    const float *v = q + 2 * D;

    /* Q and K: one scale per token (row), K packed as the GEMM's [N = T, K = hd] weight. */
    kt->quantize_rows_s8(T, hd, q, ldqkv, w->qq, hd, w->sq);
    kt->quantize_rows_s8(T, hd, k, ldqkv, w->tmp, hd, w->sk);
    vq_qgemm_pack(w->tmp, T, hd, w->kpack);

    /* V: one scale per head (per-channel scales would need a scalar quantization pass),
     * quantized row-major and packed transposed as the GEMM's [N = hd, K = T] weight. */
    float amax = 0.0f;
    for (int j = 0; j < T; j++) {
        const float a = vq_absmax(v + (ptrdiff_t)j * ldqkv, hd);
        amax = a > amax ? a : amax;
    }
    float sv, inv;
    vq_dynamic_scale(amax, &sv, &inv);
    for (int c = 0; c < hd; c++) {
        w->sv[c] = sv;
        w->svlo[c] = sv / 254.0f; /* the low plane's weight */
    }
    kt->quantize_s8(T, hd, v, ldqkv, inv, w->tmp, hd);
    vq_qgemm_pack_transposed(w->tmp, hd, T, hd, w->vpack);
    /* P enters the GEMM as P - 128 (vq_softmax_split8): add 128 * sum_j Vq[j, c] back. */
    for (int c = 0; c < hd; c++) w->pvbias[c] = 128 * vq_qpanel_colsum(vq_qpanel(w->vpack, T, c / 16), T, c % 16);
}

/* Query rows i0 .. i0 + mb of a prepared head: out rows o (the head's column slice, leading
 * dimension ldo) from the scores, the split softmax and the two P.V GEMMs. Each row depends only
 * on the head's parts and its own scores, so blocks may run in any order on any thread. */
static void vq_attn_block(const vq_kernel_table *kt, int T, int hd, int i0, int mb, float attn_scale,
                          const vq_attn_head *w, const vq_attn_rows *r, float *o, int ldo) {
    /* scores[i, j] = (q_i . k_j) * sk[j]; the row's own scale sq[i] joins in the softmax. */
    kt->qgemm_packed_f32(mb, T, hd, w->qq + (ptrdiff_t)i0 * hd, hd, w->kpack, NULL, w->sk, r->scores, T);
    for (int i = 0; i < mb; i++) r->rowscale[i] = w->sq[i0 + i] * attn_scale;
    kt->softmax_split8(mb, T, r->scores, T, r->rowscale, r->p, r->plo, T, r->rowsum);
    /* Unnormalised probabilities h + l / 254, normalised after P.V by their own sum, so the
     * weights used sum to 1. */
    for (int i = 0; i < mb; i++) r->rowscale[i] = 1.0f / r->rowsum[i];
    kt->qgemm_packed_f32(mb, hd, T, r->p, T, w->vpack, w->pvbias, w->sv, o, ldo);
    kt->qgemm_packed_f32(mb, hd, T, r->plo, T, w->vpack, NULL, w->svlo, r->lo_out, hd);
    for (int i = 0; i < mb; i++) {
        float *row = o + (ptrdiff_t)i * ldo;
        const float *lrow = r->lo_out + (ptrdiff_t)i * hd;
        const float s = r->rowscale[i];
        for (int c = 0; c < hd; c++) row[c] = (row[c] + lrow[c]) * s;
    }
}

void vq_attention_s8(const vq_kernel_table *kt, int T, int D, int heads, const float *qkv, int ldqkv,
                     float *out, int ldo, void *workspace) {
    if (T <= 0 || heads <= 0 || D <= 0 || D % heads) return;
    const int hd = D / heads;
    const int mb_max = T < VQ_ATTN_MB ? T : VQ_ATTN_MB;
    const float attn_scale = (float)(1.0 / sqrt((double)hd));
    unsigned char *base = workspace;
    vq_attn_head w;
    vq_attn_rows r;
    const size_t head_bytes = vq_attn_head_layout(T, hd, base, &w);
    vq_attn_rows_layout(T, hd, base + head_bytes, &r);

    for (int h = 0; h < heads; h++) {
        vq_attn_head_prepare(kt, T, D, hd, qkv + (ptrdiff_t)h * hd, ldqkv, &w);
        for (int i0 = 0; i0 < T; i0 += mb_max) {
            const int mb = T - i0 < mb_max ? T - i0 : mb_max;
            vq_attn_block(kt, T, hd, i0, mb, attn_scale, &w, &r, out + (ptrdiff_t)i0 * ldo + (ptrdiff_t)h * hd, ldo);
        }
    }
}

/* ------------------------------------------------------------------------------------------ */
/* On a pool: heads' prologues, then (head, query block) tasks                                 */
/* ------------------------------------------------------------------------------------------ */

size_t vq_parallel_attention_s8_workspace_size(int T, int head_dim, int heads, int threads) {
    if (T <= 0 || head_dim <= 0 || heads <= 0 || threads <= 0) return 0;
    return (size_t)heads * vq_attn_head_layout(T, head_dim, NULL, NULL) +
           (size_t)threads * vq_attn_rows_layout(T, head_dim, NULL, NULL);
}

typedef struct {
    const vq_kernel_table *kt;
    int T, D, hd, heads, blocks, mb_max, ldqkv, ldo;
    float attn_scale;
    const float *qkv;
    float *out;
    unsigned char *base; /* heads head parts, then one row part per thread */
    size_t head_bytes, rows_bytes;
} vq_par_attention_s8;

static void vq_par_attn_prepare_task(void *p, int h, int thread) {
    const vq_par_attention_s8 *a = p;
    (void)thread;
    vq_attn_head w;
    vq_attn_head_layout(a->T, a->hd, a->base + (size_t)h * a->head_bytes, &w);
    vq_attn_head_prepare(a->kt, a->T, a->D, a->hd, a->qkv + (ptrdiff_t)h * a->hd, a->ldqkv, &w);
}

static void vq_par_attn_block_task(void *p, int task, int thread) {
    const vq_par_attention_s8 *a = p;
    const int h = task / a->blocks, i0 = (task % a->blocks) * a->mb_max;
    const int mb = a->T - i0 < a->mb_max ? a->T - i0 : a->mb_max;
    vq_attn_head w;
    vq_attn_rows r;
    vq_attn_head_layout(a->T, a->hd, a->base + (size_t)h * a->head_bytes, &w);
    vq_attn_rows_layout(a->T, a->hd, a->base + (size_t)a->heads * a->head_bytes + (size_t)thread * a->rows_bytes, &r);
    vq_attn_block(a->kt, a->T, a->hd, i0, mb, a->attn_scale, &w, &r, a->out + (ptrdiff_t)i0 * a->ldo + (ptrdiff_t)h * a->hd,
                  a->ldo);
}

void vq_parallel_attention_s8(vq_pool *pool, const vq_kernel_table *kt, int T, int D, int heads, const float *qkv,
                              int ldqkv, float *out, int ldo, void *workspace) {
    if (T <= 0 || heads <= 0 || D <= 0 || D % heads) return;
    const int hd = D / heads;
    const int mb_max = T < VQ_ATTN_MB ? T : VQ_ATTN_MB;
    vq_par_attention_s8 a = {.kt = kt, .T = T, .D = D, .hd = hd, .heads = heads, .blocks = (T + mb_max - 1) / mb_max,
                             .mb_max = mb_max, .ldqkv = ldqkv, .ldo = ldo, .attn_scale = (float)(1.0 / sqrt((double)hd)),
                             .qkv = qkv, .out = out, .base = workspace,
                             .head_bytes = vq_attn_head_layout(T, hd, NULL, NULL),
                             .rows_bytes = vq_attn_rows_layout(T, hd, NULL, NULL)};
    vq_pool_run(pool, heads, vq_par_attn_prepare_task, &a);
    vq_pool_run(pool, heads * a.blocks, vq_par_attn_block_task, &a);
}
