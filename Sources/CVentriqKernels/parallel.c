/*
 * parallel.c: the parallel drivers of vq_kernels.h (vq_parallel_*) over a vq_pool: the GEMMs,
 * LayerNorm and activation quantization split by rows, GELU, the residual add and the GELU table
 * by elements, float attention by (head, block of query rows). The int8
 * attention's driver lives in attention_q.c, beside the single-threaded one it shares code with.
 *
 * Why the results are the single-threaded bits: every split is along outputs. A row of C is
 * computed by the same microkernel code whether it sits in a call over 300 rows or over 84 (the
 * microkernels compute every row of a tile alike; a partial tile only stores fewer rows, and its
 * edge epilogue performs the full tile's operations), K is sliced the same way, and the row
 * kernels (softmax, GELU) treat each row or element on its own. Nothing is ever summed across
 * tasks.
 */
#include "vq_internal.h"

#include <math.h>

/* Rows of C per GEMM task are a multiple of this (every microkernel's MR divides it: 4, 6, 12),
 * so tasks add no partial tiles. */
#define VQ_PAR_ROW_QUANTUM 12
/* Tasks per thread. One: every GEMM task streams the whole weight again, and two per thread
 * measured a few percent slower end to end on a quiet machine. Threads claim tasks as they go
 * either way, so a worker that wakes late leaves its share to the caller. */
#define VQ_PAR_TASKS_PER_THREAD 1
/* Below this many multiply-adds a GEMM runs on the caller alone (waking workers would cost more). */
#define VQ_PAR_MIN_GEMM_MACS 65536
/* The row kernels count as this many multiply-adds per element for that threshold. */
#define VQ_PAR_ROW_WEIGHT 4
/* Element-wise kernels: at least this many elements per task. */
#define VQ_PAR_MIN_ELEMENTS 4096

static int vq_min_int(int a, int b) { return a < b ? a : b; }

/* How many tasks of how many rows split M rows (1 task of M rows when it is not worth it). */
static int vq_row_tasks(const vq_pool *pool, int M, size_t macs_per_row, int *rows_per_task) {
    const int threads = vq_pool_threads(pool);
    *rows_per_task = M;
    if (threads <= 1 || M < 2 * VQ_PAR_ROW_QUANTUM || (size_t)M * macs_per_row < VQ_PAR_MIN_GEMM_MACS) return 1;
    int tasks = threads * VQ_PAR_TASKS_PER_THREAD;
    int rows = (M + tasks - 1) / tasks;
    rows = (rows + VQ_PAR_ROW_QUANTUM - 1) / VQ_PAR_ROW_QUANTUM * VQ_PAR_ROW_QUANTUM;
    *rows_per_task = rows;
    return (M + rows - 1) / rows;
}

/* ------------------------------------------------------------------------------------------ */
/* GEMMs: rows of C                                                                            */
/* ------------------------------------------------------------------------------------------ */

typedef struct {
    const vq_kernel_table *kt;
    int M, N, K, lda, ldc, rows;
    const void *A, *packed, *bias, *scale, *multiplier, *shift;
    void *C;
} vq_par_gemm;

static void vq_par_sgemm_task(void *p, int task, int thread) {
    const vq_par_gemm *g = p;
    (void)thread;
    const int i0 = task * g->rows, m = vq_min_int(g->rows, g->M - i0);
    g->kt->sgemm_packed(m, g->N, g->K, (const float *)g->A + (ptrdiff_t)i0 * g->lda, g->lda, g->packed, g->bias,
                        (float *)g->C + (ptrdiff_t)i0 * g->ldc, g->ldc);
}

static void vq_par_qgemm_f32_task(void *p, int task, int thread) {
    const vq_par_gemm *g = p;
    (void)thread;
    const int i0 = task * g->rows, m = vq_min_int(g->rows, g->M - i0);
    g->kt->qgemm_packed_f32(m, g->N, g->K, (const int8_t *)g->A + (ptrdiff_t)i0 * g->lda, g->lda, g->packed, g->bias,
                            g->scale, (float *)g->C + (ptrdiff_t)i0 * g->ldc, g->ldc);
}

static void vq_par_qgemm_s8_task(void *p, int task, int thread) {
    const vq_par_gemm *g = p;
    (void)thread;
    const int i0 = task * g->rows, m = vq_min_int(g->rows, g->M - i0);
    g->kt->qgemm_packed_s8(m, g->N, g->K, (const int8_t *)g->A + (ptrdiff_t)i0 * g->lda, g->lda, g->packed, g->bias,
                           g->multiplier, g->shift, (int8_t *)g->C + (ptrdiff_t)i0 * g->ldc, g->ldc);
}

void vq_parallel_sgemm_packed(vq_pool *pool, const vq_kernel_table *kt, int M, int N, int K, const float *A,
                              int lda, const float *packed, const float *bias, float *C, int ldc) {
    vq_par_gemm g = {.kt = kt, .M = M, .N = N, .K = K, .lda = lda, .ldc = ldc,
                     .A = A, .packed = packed, .bias = bias, .C = C};
    const int tasks = vq_row_tasks(pool, M, (size_t)(N > 0 ? N : 0) * (size_t)(K > 0 ? K : 0), &g.rows);
    if (tasks <= 1) kt->sgemm_packed(M, N, K, A, lda, packed, bias, C, ldc);
    else vq_pool_run(pool, tasks, vq_par_sgemm_task, &g);
}

void vq_parallel_qgemm_packed_f32(vq_pool *pool, const vq_kernel_table *kt, int M, int N, int K, const int8_t *A,
                                  int lda, const int8_t *packed, const int32_t *bias, const float *out_scale,
                                  float *C, int ldc) {
    vq_par_gemm g = {.kt = kt, .M = M, .N = N, .K = K, .lda = lda, .ldc = ldc,
                     .A = A, .packed = packed, .bias = bias, .scale = out_scale, .C = C};
    const int tasks = vq_row_tasks(pool, M, (size_t)(N > 0 ? N : 0) * (size_t)(K > 0 ? K : 0), &g.rows);
    if (tasks <= 1) kt->qgemm_packed_f32(M, N, K, A, lda, packed, bias, out_scale, C, ldc);
    else vq_pool_run(pool, tasks, vq_par_qgemm_f32_task, &g);
}

void vq_parallel_qgemm_packed_s8(vq_pool *pool, const vq_kernel_table *kt, int M, int N, int K, const int8_t *A,
                                 int lda, const int8_t *packed, const int32_t *bias, const int32_t *multiplier,
                                 const int32_t *shift, int8_t *C, int ldc) {
    vq_par_gemm g = {.kt = kt, .M = M, .N = N, .K = K, .lda = lda, .ldc = ldc, .A = A, .packed = packed,
                     .bias = bias, .multiplier = multiplier, .shift = shift, .C = C};
    const int tasks = vq_row_tasks(pool, M, (size_t)(N > 0 ? N : 0) * (size_t)(K > 0 ? K : 0), &g.rows);
    if (tasks <= 1) kt->qgemm_packed_s8(M, N, K, A, lda, packed, bias, multiplier, shift, C, ldc);
    else vq_pool_run(pool, tasks, vq_par_qgemm_s8_task, &g);
}

/* ------------------------------------------------------------------------------------------ */
/* Row and element-wise kernels: rows, or elements in whole vectors                            */
/* ------------------------------------------------------------------------------------------ */

/* Elements per task: a multiple of 64 (whole vectors on every ISA, so no task adds a tail) near
 * n / threads, or n when n is below VQ_PAR_MIN_ELEMENTS per thread. Returns the task count. */
static int vq_element_tasks(const vq_pool *pool, int n, int *chunk) {
    const int threads = vq_pool_threads(pool);
    *chunk = n;
    if (threads <= 1 || n < 2 * VQ_PAR_MIN_ELEMENTS) return 1;
    int c = (n + threads * VQ_PAR_TASKS_PER_THREAD - 1) / (threads * VQ_PAR_TASKS_PER_THREAD);
    c = (c + 63) / 64 * 64;
    if (c < VQ_PAR_MIN_ELEMENTS) c = VQ_PAR_MIN_ELEMENTS;
    *chunk = c;
    return (n + c - 1) / c;
}

typedef struct {
    const vq_kernel_table *kt;
    int n, chunk, rows, cols, ldx, ldy;
    float eps, inv_scale;
    const void *x, *b, *gamma, *beta, *lut;
    void *y;
} vq_par_rows;

static void vq_par_gelu_task(void *p, int task, int thread) {
    const vq_par_rows *g = p;
    (void)thread;
    const int i0 = task * g->chunk;
    g->kt->gelu_erf(vq_min_int(g->chunk, g->n - i0), (float *)g->y + i0);
}

static void vq_par_add_task(void *p, int task, int thread) {
    const vq_par_rows *g = p;
    (void)thread;
    const int i0 = task * g->chunk;
    g->kt->add(vq_min_int(g->chunk, g->n - i0), (const float *)g->x + i0, (const float *)g->b + i0, (float *)g->y + i0);
}

static void vq_par_lut_task(void *p, int task, int thread) {
    const vq_par_rows *g = p;
    (void)thread;
    const int i0 = task * g->chunk;
    g->kt->lut_s8(vq_min_int(g->chunk, g->n - i0), (const int8_t *)g->x + i0, g->lut, (int8_t *)g->y + i0);
}

static void vq_par_layernorm_task(void *p, int task, int thread) {
    const vq_par_rows *g = p;
    (void)thread;
    const int r0 = task * g->chunk;
    g->kt->layernorm(vq_min_int(g->chunk, g->rows - r0), g->cols, (const float *)g->x + (ptrdiff_t)r0 * g->ldx, g->ldx,
                     g->gamma, g->beta, g->eps, (float *)g->y + (ptrdiff_t)r0 * g->ldy, g->ldy);
}

static void vq_par_quantize_task(void *p, int task, int thread) {
    const vq_par_rows *g = p;
    (void)thread;
    const int r0 = task * g->chunk;
    g->kt->quantize_s8(vq_min_int(g->chunk, g->rows - r0), g->cols, (const float *)g->x + (ptrdiff_t)r0 * g->ldx, g->ldx,
                       g->inv_scale, (int8_t *)g->y + (ptrdiff_t)r0 * g->ldy, g->ldy);
}

void vq_parallel_gelu_erf(vq_pool *pool, const vq_kernel_table *kt, int n, float *x) {
    vq_par_rows g = {.kt = kt, .n = n, .y = x};
    const int tasks = vq_element_tasks(pool, n, &g.chunk);
    if (tasks <= 1) kt->gelu_erf(n, x);
    else vq_pool_run(pool, tasks, vq_par_gelu_task, &g);
}

void vq_parallel_add(vq_pool *pool, const vq_kernel_table *kt, int n, const float *a, const float *b, float *y) {
    vq_par_rows g = {.kt = kt, .n = n, .x = a, .b = b, .y = y};
    const int tasks = vq_element_tasks(pool, n, &g.chunk);
    if (tasks <= 1) kt->add(n, a, b, y);
    else vq_pool_run(pool, tasks, vq_par_add_task, &g);
}

void vq_parallel_lut_s8(vq_pool *pool, const vq_kernel_table *kt, int n, const int8_t *x, const int8_t *lut256,
                        int8_t *y) {
    vq_par_rows g = {.kt = kt, .n = n, .x = x, .lut = lut256, .y = y};
    const int tasks = vq_element_tasks(pool, n, &g.chunk);
    if (tasks <= 1) kt->lut_s8(n, x, lut256, y);
    else vq_pool_run(pool, tasks, vq_par_lut_task, &g);
}

void vq_parallel_layernorm(vq_pool *pool, const vq_kernel_table *kt, int rows, int cols, const float *x, int ldx,
                           const float *gamma, const float *beta, float eps, float *y, int ldy) {
    vq_par_rows g = {.kt = kt, .rows = rows, .cols = cols, .ldx = ldx, .ldy = ldy, .eps = eps,
                     .x = x, .gamma = gamma, .beta = beta, .y = y};
    const int tasks = vq_row_tasks(pool, rows, (size_t)(cols > 0 ? cols : 0) * VQ_PAR_ROW_WEIGHT, &g.chunk);
    if (tasks <= 1) kt->layernorm(rows, cols, x, ldx, gamma, beta, eps, y, ldy);
    else vq_pool_run(pool, tasks, vq_par_layernorm_task, &g);
}

void vq_parallel_quantize_s8(vq_pool *pool, const vq_kernel_table *kt, int rows, int cols, const float *x, int ldx,
                             float inv_scale, int8_t *y, int ldy) {
    vq_par_rows g = {.kt = kt, .rows = rows, .cols = cols, .ldx = ldx, .ldy = ldy, .inv_scale = inv_scale, .x = x, .y = y};
    const int tasks = vq_row_tasks(pool, rows, (size_t)(cols > 0 ? cols : 0) * VQ_PAR_ROW_WEIGHT, &g.chunk);
    if (tasks <= 1) kt->quantize_s8(rows, cols, x, ldx, inv_scale, y, ldy);
    else vq_pool_run(pool, tasks, vq_par_quantize_task, &g);
}

/* ------------------------------------------------------------------------------------------ */
/* Float attention: (head, block of query rows)                                                */
/* ------------------------------------------------------------------------------------------ */

/* Query rows per block: T split into p blocks per head, p the smallest multiple of
 * threads / gcd(heads, threads) (so heads x p tasks share evenly) whose blocks' scores fit
 * VQ_PARALLEL_ATTN_BLOCK_FLOATS. Fewer, larger blocks than a fixed size would give: each block
 * repeats the transposed copy of K that sgemm_nt makes. */
static int vq_attn_block_rows(int T, int heads, int threads) {
    int a = heads, b = threads;
    while (b) {
        const int r = a % b;
        a = b, b = r;
    }
    const int step = threads / a, max_rows = VQ_PARALLEL_ATTN_BLOCK_FLOATS / T > 0 ? VQ_PARALLEL_ATTN_BLOCK_FLOATS / T : 1;
    int parts = step;
    while (parts < T && (T + parts - 1) / parts > max_rows) parts += step;
    return parts >= T ? 1 : (T + parts - 1) / parts;
}

size_t vq_parallel_attention_f32_scratch(int T, int heads, int threads) {
    if (T <= 0 || heads <= 0 || threads <= 0) return 0;
    return (size_t)threads * (size_t)vq_attn_block_rows(T, heads, threads) * (size_t)T;
}

typedef struct {
    const vq_kernel_table *kt;
    int T, D, hd, rows, blocks, ldqkv, ldo;
    float scale;
    const float *qkv;
    float *out, *scratch;
} vq_par_attention;

static void vq_par_attention_task(void *p, int task, int thread) {
    const vq_par_attention *a = p;
    const int h = task / a->blocks, i0 = (task % a->blocks) * a->rows;
    const int mb = vq_min_int(a->rows, a->T - i0);
    const float *q = a->qkv + (ptrdiff_t)h * a->hd;
    const float *k = q + a->D, *v = q + 2 * a->D;
    /* This thread's [mb, T] scores: the rows i0 .. i0 + mb of the head's [T, T] matrix. */
    float *s = a->scratch + (size_t)thread * (size_t)a->rows * (size_t)a->T;
    a->kt->sgemm_nt(mb, a->T, a->hd, q + (ptrdiff_t)i0 * a->ldqkv, a->ldqkv, k, a->ldqkv, a->scale, s, a->T);
    a->kt->softmax_rows(mb, a->T, s, a->T);
    a->kt->sgemm_nn(mb, a->hd, a->T, s, a->T, v, a->ldqkv, a->out + (ptrdiff_t)i0 * a->ldo + (ptrdiff_t)h * a->hd,
                    a->ldo);
}

void vq_parallel_attention_f32(vq_pool *pool, const vq_kernel_table *kt, int T, int D, int heads, const float *qkv,
                               int ldqkv, float *out, int ldo, float *scratch) {
    if (T <= 0 || heads <= 0 || D <= 0 || D % heads) return;
    const int hd = D / heads, rows = vq_attn_block_rows(T, heads, vq_pool_threads(pool));
    vq_par_attention a = {.kt = kt, .T = T, .D = D, .hd = hd, .rows = rows, .blocks = (T + rows - 1) / rows,
                          .ldqkv = ldqkv, .ldo = ldo, .scale = (float)(1.0 / sqrt((double)hd)),
                          .qkv = qkv, .out = out, .scratch = scratch};
    vq_pool_run(pool, heads * a.blocks, vq_par_attention_task, &a);
}
