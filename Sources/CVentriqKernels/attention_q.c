/*
 * attention_q.c: the int8 attention core (vq_attention_s8; contract in vq_kernels.h, scheme in
 * docs/QUANTIZATION.md "Attention in int8"). Not a kernel of its own ISA: a driver over one
 * kernel table's int8 GEMM, quantization and exp, so that every table runs it and the
 * reference table defines it.
 *
 * Why this shape: the float attention wrote a [T, T] float score matrix per head (360 KB at 300
 * tokens) and ran two unpacked float GEMMs at a third of the float peak. Here K and V are
 * quantized and packed once per head (a few KB, the int8 GEMM's weight layout), and the query
 * rows go through in blocks of VQ_ATTN_MB: scores, softmax and P.V of one block stay in L1/L2,
 * and nothing of size T x T is ever materialised.
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

/* vq_qgemm_pack for rows whose length K is a multiple of 4 (a head's K: hd = 32, 64, ...): each
 * row becomes one column of a panel, K / 4 four-byte stores, instead of the general byte loop. */
static void vq_attn_pack_rows(const int8_t *W, int N, int K, int8_t *packed) {
    const size_t pb = VQ_QGEMM_PANEL_BYTES(K);
    const int panels = (N + 15) / 16;
    if (N % 16) memset(packed + (size_t)(panels - 1) * pb, 0, pb); /* padding columns */
    for (int n = 0; n < N; n++) {
        int8_t *col = packed + (size_t)(n / 16) * pb + 4 * (n % 16);
        const int8_t *w = W + (size_t)n * K;
        int32_t sum = 0;
        for (int g = 0; g < K / 4; g++) memcpy(col + (size_t)64 * g, w + 4 * g, 4);
        for (int k = 0; k < K; k++) sum += w[k];
        memcpy(packed + (size_t)(n / 16) * pb + (size_t)16 * K + 4 * (n % 16), &sum, sizeof sum);
    }
}

static size_t align64(size_t n) { return (n + 63) & ~(size_t)63; }

/* The workspace carved into its parts (every part 64-byte aligned relative to the base). */
typedef struct {
    int8_t *kpack, *vpack, *qq, *tmp, *p, *plo;
    float *sq, *sk, *sv, *svlo, *scores, *lo_out, *rowscale, *rowsum;
    int32_t *pvbias;
} vq_attn_parts;

static size_t vq_attn_layout(int T, int hd, unsigned char *base, vq_attn_parts *parts) {
    const int mb = T < VQ_ATTN_MB ? T : VQ_ATTN_MB;
    size_t off = 0;
#define VQ_PART(field, type, count)                                                              \
    do {                                                                                         \
        if (parts) parts->field = (type *)(void *)(base + off);                                  \
        off += align64((size_t)(count) * sizeof(type));                                          \
    } while (0)
    VQ_PART(kpack, int8_t, vq_qgemm_packed_size(T, hd));
    VQ_PART(vpack, int8_t, vq_qgemm_packed_size(hd, T));
    VQ_PART(qq, int8_t, (size_t)T * hd);
    VQ_PART(tmp, int8_t, (size_t)T * hd);
    VQ_PART(p, int8_t, (size_t)mb * T);
    VQ_PART(plo, int8_t, (size_t)mb * T);
    VQ_PART(sq, float, T);
    VQ_PART(sk, float, T);
    VQ_PART(sv, float, hd);
    VQ_PART(svlo, float, hd);
    VQ_PART(scores, float, (size_t)mb * T);
    VQ_PART(lo_out, float, (size_t)mb * hd);
    VQ_PART(rowscale, float, mb);
    VQ_PART(rowsum, float, mb);
    VQ_PART(pvbias, int32_t, hd);
#undef VQ_PART
    return off;
}

size_t vq_attention_s8_workspace_size(int T, int head_dim) {
    if (T <= 0 || head_dim <= 0) return 0;
    return vq_attn_layout(T, head_dim, NULL, NULL);
}

void vq_attention_s8(const vq_kernel_table *kt, int T, int D, int heads, const float *qkv, int ldqkv,
                     float *out, int ldo, void *workspace) {
    if (T <= 0 || heads <= 0 || D <= 0 || D % heads) return;
    const int hd = D / heads;
    const int mb_max = T < VQ_ATTN_MB ? T : VQ_ATTN_MB;
    const float attn_scale = (float)(1.0 / sqrt((double)hd));
    vq_attn_parts w;
    vq_attn_layout(T, hd, (unsigned char *)workspace, &w);

    for (int h = 0; h < heads; h++) {
        const float *q = qkv + (ptrdiff_t)h * hd;
        const float *k = q + D;
        const float *v = q + 2 * D;

        /* Q and K: one scale per token (row), K packed as the GEMM's [N = T, K = hd] weight. */
        kt->quantize_rows_s8(T, hd, q, ldqkv, w.qq, hd, w.sq);
        kt->quantize_rows_s8(T, hd, k, ldqkv, w.tmp, hd, w.sk);
        if (hd % 4 == 0) vq_attn_pack_rows(w.tmp, T, hd, w.kpack);
        else vq_qgemm_pack(w.tmp, T, hd, w.kpack);

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
            w.sv[c] = sv;
            w.svlo[c] = sv / 254.0f; /* the low plane's weight */
        }
        kt->quantize_s8(T, hd, v, ldqkv, inv, w.tmp, hd);
        vq_qgemm_pack_transposed(w.tmp, hd, T, hd, w.vpack);
        /* P enters the GEMM as P - 128 (vq_softmax_split8): add 128 * sum_j Vq[j, c] back. */
        for (int c = 0; c < hd; c++) w.pvbias[c] = 128 * vq_qpanel_colsum(vq_qpanel(w.vpack, T, c / 16), T, c % 16);

        for (int i0 = 0; i0 < T; i0 += mb_max) {
            const int mb = T - i0 < mb_max ? T - i0 : mb_max;
            /* scores[i, j] = (q_i . k_j) * sk[j]; the row's own scale sq[i] joins in the softmax. */
            kt->qgemm_packed_f32(mb, T, hd, w.qq + (ptrdiff_t)i0 * hd, hd, w.kpack, NULL, w.sk, w.scores, T);
            for (int i = 0; i < mb; i++) w.rowscale[i] = w.sq[i0 + i] * attn_scale;
            kt->softmax_split8(mb, T, w.scores, T, w.rowscale, w.p, w.plo, T, w.rowsum);
            /* Unnormalised probabilities h + l / 254, normalised after P.V by their own sum, so
             * the weights used sum to 1. */
            for (int i = 0; i < mb; i++) w.rowscale[i] = 1.0f / w.rowsum[i];
            float *o = out + (ptrdiff_t)i0 * ldo + (ptrdiff_t)h * hd;
            kt->qgemm_packed_f32(mb, hd, T, w.p, T, w.vpack, w.pvbias, w.sv, o, ldo);
            kt->qgemm_packed_f32(mb, hd, T, w.plo, T, w.vpack, NULL, w.svlo, w.lo_out, hd);
            for (int i = 0; i < mb; i++) {
                float *row = o + (ptrdiff_t)i * ldo;
                const float *lrow = w.lo_out + (ptrdiff_t)i * hd;
                const float r = w.rowscale[i];
                for (int c = 0; c < hd; c++) row[c] = (row[c] + lrow[c]) * r;
            }
        }
    }
}
