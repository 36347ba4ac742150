/*
 * bench_kernels.c: a micro benchmark of the kernels on the model's shapes, per ISA (one thread).
 * Not a test; `make bench-kernels` (benchmarks/kernels.sh) and scripts/test-kernels-aarch64.sh
 * --bench build and run it; benchmarks/callgrind.sh runs its --count mode under valgrind.
 *
 *   bench_kernels [ms] [--isa NAME[,NAME...]] [--reps R] [--json FILE] [--count N]
 *     ms         milliseconds per GEMM repetition, at least 20 (default 20)
 *     --isa      only these tables (vq_kernel_table names; default: every table this CPU runs)
 *     --reps R   repetitions per GEMM (default 7): the best gives the rate, the median is shown
 *     --json     also write the GEMM results and the measured peaks to FILE
 *     --count N  no timing: run every kernel N times per shape (after one untimed call) between
 *                callgrind client requests (built with -DVQ_BENCH_CALLGRIND: one stats dump per
 *                table, kernel and shape, named "isa/kernel/layer_MxNxK"; a no-op elsewhere)
 *
 * Timing mode prints, per table: first the peaks measured on this core (benchmarks/peak/
 * peak_measure.h: clock from a chain of dependent adds, instructions per cycle of the table's
 * int8 multiply-accumulate and of its FMA; peak MAC/cycle = IPC x MACs per instruction), then
 * for every GEMM at the default model's shapes (300 tokens; Linears (N, K) = patch embedding
 * (96, 100), qkv (288, 96), proj (96, 96), fc1 (384, 96), fc2 (96, 384); attention Q.K^T
 * 300x300x32 and P.V 300x32x300) its time, GMAC/s, achieved MAC/cycle (GMAC/s / clock) and %
 * of the table's peak: the float GEMMs against its FMA peak, vq_qgemm_packed_f32 and
 * vq_qgemm_packed_s8 against its int8 peak. The int8 GEMMs also run at the attention shapes
 * (as packed GEMMs: the engine's attention is float today), to show what int8 attention could
 * reach. Then the time of the row kernels (LayerNorm, softmax, GELU, quantize, lookup).
 *
 * GEMM timing: thread CPU time (a virtual machine's stolen time is not counted; see vqp_now).
 * Every GEMM of a table is timed in R interleaved rounds (round r times each GEMM for >= ms),
 * so what noise is left slows one repetition of many GEMMs rather than every repetition of one;
 * the fastest repetition gives the rate, the median shows the spread. Operands are 64-byte
 * aligned, as in the engine (misaligned int8 weights cost the VNNI kernels 10-15 %).
 */
#define _POSIX_C_SOURCE 199309L
#include "vq_kernels.h"

#include "../../benchmarks/peak/peak_measure.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#ifdef VQ_BENCH_CALLGRIND
#include <valgrind/callgrind.h>
#else
#define CALLGRIND_TOGGLE_COLLECT
#define CALLGRIND_DUMP_STATS_AT(name) ((void)(name))
#endif

/* Thread CPU time (vqp_now): a virtual machine's stolen time is not counted. */
static double now(void) { return vqp_now(); }

/* 64-byte aligned, as the engine's arena and weights: a packed int8 weight group is then one
 * cache line (a misaligned one splits every load in two). */
static void *alloc64(size_t bytes) {
    void *p = aligned_alloc(64, (bytes + 63) & ~(size_t)63);
    if (!p) {
        fprintf(stderr, "bench_kernels: out of memory\n");
        exit(1);
    }
    return p;
}

static float *randoms(size_t n) {
    float *p = alloc64(n * sizeof(float));
    uint32_t s = 12345;
    for (size_t i = 0; i < n; i++) {
        s = s * 1664525u + 1013904223u;
        p[i] = (float)((s >> 8) * (1.0 / 16777216.0) * 2 - 1);
    }
    return p;
}

static int8_t *random_i8(size_t n, int lo, int hi) {
    int8_t *p = alloc64(n);
    uint32_t s = 777;
    for (size_t i = 0; i < n; i++) {
        s = s * 1664525u + 1013904223u;
        p[i] = (int8_t)(lo + (int)((s >> 8) % (uint32_t)(hi - lo + 1)));
    }
    return p;
}

/* ------------------------------------------------------------------------------------------ */
/* Operands: the default model (300 tokens, D = 96, MLP 384) and its weights, packed once       */
/* ------------------------------------------------------------------------------------------ */

enum { T = 300, D = 96, H = 384 };

/* The GEMM shapes (N, K) at M = T: the five Linears, then the two attention products. */
#define N_LINEAR 5
#define N_SHAPES 7
static const struct {
    const char *layer;
    int N, K;
} shapes[N_SHAPES] = {{"patch", D, 100}, {"qkv", 3 * D, D},   {"proj", D, D},    {"fc1", H, D},
                      {"fc2", D, H},     {"attn_qk", T, 32}, {"attn_pv", 32, T}};

static struct {
    float *x, *qkv, *S, *out, *bias, *gamma, *g;
    float *packed[N_SHAPES]; /* float weights of the Linears */
    int8_t *qx, *qout, *lut;
    int8_t *qpacked[N_SHAPES]; /* int8 weights of every shape (attention: as if packed) */
    int32_t *qbias, *qmult, *qshift;
    float *qscale;
    /* the int8 attention core: per-row scales, the two probability planes, its workspace */
    float *rowscale, *rowsum;
    int8_t *plo;
    void *attn_ws;
} op;

static void operands_init(void) {
    op.x = randoms((size_t)T * H), op.qkv = randoms((size_t)T * 3 * D), op.S = randoms((size_t)T * T);
    op.out = randoms((size_t)T * T), op.bias = randoms(T), op.gamma = randoms(D), op.g = randoms((size_t)T * H);
    op.qx = random_i8((size_t)T * H, -127, 127), op.qout = alloc64((size_t)T * T), op.lut = random_i8(256, -127, 127);
    op.qbias = alloc64(sizeof(int32_t) * T), op.qmult = alloc64(sizeof(int32_t) * T);
    op.qshift = alloc64(sizeof(int32_t) * T), op.qscale = alloc64(sizeof(float) * T);
    for (int n = 0; n < T; n++) {
        op.qbias[n] = (int32_t)(n * 997 % 20001) - 10000;
        op.qscale[n] = 1e-4f * (1 + n % 7);
        vq_quantize_multiplier(1.0 / (300.0 + n), &op.qmult[n], &op.qshift[n]);
    }
    op.rowscale = alloc64(sizeof(float) * T), op.rowsum = alloc64(sizeof(float) * T);
    op.plo = alloc64((size_t)T * T);
    for (int n = 0; n < T; n++) op.rowscale[n] = 0.05f;
    op.attn_ws = alloc64(vq_attention_s8_workspace_size(T, D / 3));
    for (int s = 0; s < N_SHAPES; s++) {
        const int N = shapes[s].N, K = shapes[s].K;
        if (s < N_LINEAR) {
            float *w = randoms((size_t)N * K);
            op.packed[s] = alloc64(vq_sgemm_packed_size(N, K) * sizeof(float));
            vq_sgemm_pack(w, N, K, op.packed[s]);
            free(w);
        }
        int8_t *w = random_i8((size_t)N * K, -127, 127);
        op.qpacked[s] = alloc64(vq_qgemm_packed_size(N, K));
        vq_qgemm_pack(w, N, K, op.qpacked[s]);
        free(w);
    }
}

/* ------------------------------------------------------------------------------------------ */
/* Cases: one kernel at one shape                                                             */
/* ------------------------------------------------------------------------------------------ */

typedef enum {
    SGEMM,      /* sgemm_packed at a Linear shape */
    SGEMM_ACC,  /* sgemm_packed_accumulate (the fused residual of proj and fc2) */
    SGEMM_NT,   /* scores = Q.K^T of one head, Q and K read from the [T, 3D] qkv buffer */
    SGEMM_NN,   /* out = P.V of one head, V in qkv, out a head slice of [T, D] */
    QGEMM_F32,  /* qgemm_packed_f32 */
    QGEMM_S8,   /* qgemm_packed_s8 */
    QUANTIZE,   /* quantize_s8 [T, K] */
    LUT,        /* lut_s8 over T x H */
    LAYERNORM,  /* [T, D] */
    SOFTMAX,    /* [T, T], in place */
    GELU,       /* T x H, in place */
    ERF,        /* T x H, in place */
    EXP,        /* T x T, in place */
    ADD,        /* T x D */
    MEAN_ROWS,  /* [T, D] -> D */
    QROWS,      /* quantize_rows_s8 [T, 32]: a head's Q or K */
    SOFTMAX8,   /* softmax_split8 [T, T] -> two int8 planes */
    ATTN_S8,    /* vq_attention_s8: one layer's int8 attention core, 3 heads of 32 */
} kind_t;

static const char *const kind_names[] = {"sgemm_packed",     "sgemm_packed_accumulate", "sgemm_nt",  "sgemm_nn",
                                         "qgemm_packed_f32", "qgemm_packed_s8",         "quantize_s8", "lut_s8",
                                         "layernorm",        "softmax_rows",            "gelu_erf",  "erf",
                                         "exp",              "add",                     "mean_rows",
                                         "quantize_rows_s8", "softmax_split8",          "attention_s8"};

typedef struct {
    kind_t kind;
    int s;           /* index into shapes (GEMMs), else -1 */
    const char *tag; /* the layer or the size, for labels */
    int M, N, K;     /* GEMMs; row kernels: M x N elements */
} bench_case;

static int is_gemm(kind_t k) { return k <= QGEMM_S8; }
static int is_int8_gemm(kind_t k) { return k == QGEMM_F32 || k == QGEMM_S8; }

/* In-place kernels get fresh input before each call (outside the timed or counted part). */
static void prepare(const bench_case *c) {
    if (c->kind == SOFTMAX || c->kind == EXP) memcpy(op.S, op.x, sizeof(float) * T * T);
    else if (c->kind == GELU || c->kind == ERF) memcpy(op.g, op.x, sizeof(float) * T * H);
}

static void run_case(const vq_kernel_table *t, const bench_case *c) {
    const int M = c->M, N = c->N, K = c->K;
    switch (c->kind) {
    case SGEMM: t->sgemm_packed(M, N, K, op.x, K, op.packed[c->s], op.bias, op.out, N); break;
    case SGEMM_ACC: t->sgemm_packed_accumulate(M, N, K, op.x, K, op.packed[c->s], op.bias, op.out, N); break;
    case SGEMM_NT: t->sgemm_nt(M, N, K, op.qkv, 3 * D, op.qkv + D, 3 * D, 0.17677669f, op.S, T); break;
    case SGEMM_NN: t->sgemm_nn(M, N, K, op.S, T, op.qkv + 2 * D, 3 * D, op.out, D); break;
    case QGEMM_F32:
        t->qgemm_packed_f32(M, N, K, op.qx, K, op.qpacked[c->s], op.qbias, op.qscale, op.out, N);
        break;
    case QGEMM_S8:
        t->qgemm_packed_s8(M, N, K, op.qx, K, op.qpacked[c->s], op.qbias, op.qmult, op.qshift, op.qout, N);
        break;
    case QUANTIZE: t->quantize_s8(M, N, op.x, N, 37.5f, op.qout, N); break;
    case LUT: t->lut_s8(M * N, op.qx, op.lut, op.qout); break;
    case LAYERNORM: t->layernorm(M, N, op.x, N, op.gamma, op.bias, 1e-6f, op.out, N); break;
    case SOFTMAX: t->softmax_rows(M, N, op.S, N); break;
    case GELU: t->gelu_erf(M * N, op.g); break;
    case ERF: t->erf(M * N, op.g); break;
    case EXP: t->exp(M * N, op.S); break;
    case ADD: t->add(M * N, op.x, op.qkv, op.out); break;
    case MEAN_ROWS: t->mean_rows(M, N, op.x, N, op.out); break;
    case QROWS: t->quantize_rows_s8(M, N, op.qkv, 3 * D, op.qout, N, op.rowscale); break;
    case SOFTMAX8: t->softmax_split8(M, N, op.x, N, op.rowscale, op.qout, op.plo, N, op.rowsum); break;
    case ATTN_S8: vq_attention_s8(t, M, N, 3, op.qkv, 3 * D, op.out, D, op.attn_ws); break;
    }
}

/* Every case: the GEMMs first (in the order of the report), then the row kernels. */
static int make_cases(bench_case *c) {
    int n = 0;
    for (int s = 0; s < N_LINEAR; s++) c[n++] = (bench_case){SGEMM, s, shapes[s].layer, T, shapes[s].N, shapes[s].K};
    c[n++] = (bench_case){SGEMM_NT, 5, shapes[5].layer, T, T, 32};
    c[n++] = (bench_case){SGEMM_NN, 6, shapes[6].layer, T, 32, T};
    for (int k = QGEMM_F32; k <= QGEMM_S8; k++)
        for (int s = 0; s < N_SHAPES; s++)
            c[n++] = (bench_case){(kind_t)k, s, shapes[s].layer, T, shapes[s].N, shapes[s].K};
    c[n++] = (bench_case){SGEMM_ACC, 2, "proj", T, D, D};
    c[n++] = (bench_case){SGEMM_ACC, 4, "fc2", T, D, H};
    c[n++] = (bench_case){QUANTIZE, -1, "in_d", T, D, 0};
    c[n++] = (bench_case){QUANTIZE, -1, "in_h", T, H, 0};
    c[n++] = (bench_case){LUT, -1, "gelu", T, H, 0};
    c[n++] = (bench_case){LAYERNORM, -1, "ln", T, D, 0};
    c[n++] = (bench_case){SOFTMAX, -1, "scores", T, T, 0};
    c[n++] = (bench_case){GELU, -1, "fc1", T, H, 0};
    c[n++] = (bench_case){ERF, -1, "fc1", T, H, 0};
    c[n++] = (bench_case){EXP, -1, "scores", T, T, 0};
    c[n++] = (bench_case){ADD, -1, "residual", T, D, 0};
    c[n++] = (bench_case){MEAN_ROWS, -1, "pool", T, D, 0};
    c[n++] = (bench_case){QROWS, -1, "head_q", T, 32, 0};
    c[n++] = (bench_case){SOFTMAX8, -1, "scores", T, T, 0};
    c[n++] = (bench_case){ATTN_S8, -1, "layer", T, D, 0};
    return n;
}

#define MAX_CASES 40

static void case_label(const vq_kernel_table *t, const bench_case *c, char *buf, size_t size) {
    if (is_gemm(c->kind)) snprintf(buf, size, "%s/%s/%s_%dx%dx%d", t->name, kind_names[c->kind], c->tag, c->M, c->N, c->K);
    else snprintf(buf, size, "%s/%s/%s_%dx%d", t->name, kind_names[c->kind], c->tag, c->M, c->N);
}

/* ------------------------------------------------------------------------------------------ */
/* Timing                                                                                     */
/* ------------------------------------------------------------------------------------------ */

static int cmp_double(const void *a, const void *b) {
    const double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static int needs_prepare(kind_t k) { return k == SOFTMAX || k == EXP || k == GELU || k == ERF; }

/* Seconds per call of each case: `reps` interleaved rounds of >= rep_s per case; best and median
 * of the repetitions. Calls are timed in batches of about 1 ms (reading the thread clock costs
 * about 0.5 us), except the in-place kernels, timed one call at a time around their fresh input. */
static void time_cases(const vq_kernel_table *t, const bench_case *c, int n, int reps, double rep_s, double *best,
                       double *median) {
    double *per = malloc(sizeof(double) * (size_t)n * (size_t)reps);
    long batch[MAX_CASES];
    for (int i = 0; i < n; i++) { /* warm the caches and the code, size the batches */
        prepare(&c[i]), run_case(t, &c[i]);
        const double t0 = now();
        run_case(t, &c[i]);
        const double one = now() - t0;
        batch[i] = needs_prepare(c[i].kind) ? 1 : one < 1e-3 ? (long)(1e-3 / (one > 1e-7 ? one : 1e-7)) : 1;
    }
    for (int r = 0; r < reps; r++)
        for (int i = 0; i < n; i++) {
            long calls = 0;
            double spent = 0;
            do {
                prepare(&c[i]);
                const double t0 = now();
                for (long j = 0; j < batch[i]; j++) run_case(t, &c[i]);
                spent += now() - t0;
                calls += batch[i];
            } while (spent < rep_s);
            per[(size_t)i * reps + r] = spent / calls;
        }
    for (int i = 0; i < n; i++) {
        double *v = per + (size_t)i * reps;
        qsort(v, (size_t)reps, sizeof *v, cmp_double);
        best[i] = v[0];
        median[i] = reps % 2 ? v[reps / 2] : 0.5 * (v[reps / 2 - 1] + v[reps / 2]);
    }
    free(per);
}

/* ------------------------------------------------------------------------------------------ */
/* Modes                                                                                      */
/* ------------------------------------------------------------------------------------------ */

/* --count: every case n times between callgrind requests; nothing else is collected (run
 * valgrind with --collect-atstart=no). */
static void count_table(const vq_kernel_table *t, const bench_case *c, int ncases, int n) {
    char label[128];
    for (int i = 0; i < ncases; i++) {
        prepare(&c[i]);
        run_case(t, &c[i]); /* untimed first call: lazy initialisation, as in timing mode */
        for (int r = 0; r < n; r++) {
            prepare(&c[i]);
            CALLGRIND_TOGGLE_COLLECT;
            run_case(t, &c[i]);
            CALLGRIND_TOGGLE_COLLECT;
        }
        case_label(t, &c[i], label, sizeof label);
        CALLGRIND_DUMP_STATS_AT(label);
        printf("%s %d\n", label, n);
    }
}

static void json_peaks(FILE *f, const vqp_peaks *p) {
    fprintf(f, " \"clock_hz\": %.0f,\n \"peaks\": {", p->clock_hz);
    for (int i = 0, first = 1; i < p->n; i++) {
        const vqp_isa *e = &p->isa[i];
        if (!e->supported) continue;
        fprintf(f,
                "%s\n  \"%s\": {\"int8_instr\": \"%s\", \"int8_macs_per_cycle\": %.3f, \"float_instr\": \"%s\", "
                "\"float_macs_per_cycle\": %.3f}",
                first ? "" : ",", e->isa, e->int8.instr, vqp_macs_per_cycle(&e->int8), e->fp32.instr,
                vqp_macs_per_cycle(&e->fp32));
        first = 0;
    }
    fprintf(f, "\n },\n");
}

static void time_table(const vq_kernel_table *t, const vqp_peaks *peaks, const bench_case *c, int ncases, int reps,
                       double rep_s, FILE *json, int *json_first) {
    const vqp_isa *pk = vqp_find(peaks, t->name);
    const double clock = peaks->clock_hz;
    const double peak8 = pk ? vqp_macs_per_cycle(&pk->int8) : 0, peakf = pk ? vqp_macs_per_cycle(&pk->fp32) : 0;
    printf("[%s]", t->name);
    if (pk) printf("  peak: int8 %s %.1f MAC/cycle, fp32 %s %.1f MAC/cycle", pk->int8.instr, peak8, pk->fp32.instr, peakf);
    else printf("  (scalar C: no peak)");
    printf("\n");
    double best[MAX_CASES], median[MAX_CASES];
    int ngemm = 0;
    while (ngemm < ncases && is_gemm(c[ngemm].kind) && c[ngemm].kind != SGEMM_ACC) ngemm++;
    time_cases(t, c, ngemm, reps, rep_s, best, median);
    printf("  %-17s %-8s %-11s %9s %9s %8s %9s %7s\n", "GEMM", "layer", "MxNxK", "best us", "median us", "GMAC/s",
           "MAC/cycle", "% peak");
    double float_gmac[N_SHAPES] = {0};
    for (int i = 0; i < ngemm; i++) {
        const double macs = (double)c[i].M * c[i].N * c[i].K, gmacs = macs / best[i] * 1e-9;
        const double mpc = gmacs * 1e9 / clock, peak = is_int8_gemm(c[i].kind) ? peak8 : peakf;
        if (!is_int8_gemm(c[i].kind)) float_gmac[c[i].s] = gmacs;
        char shape[32];
        snprintf(shape, sizeof shape, "%dx%dx%d", c[i].M, c[i].N, c[i].K);
        printf("  %-17s %-8s %-11s %9.1f %9.1f %8.1f %9.2f ", kind_names[c[i].kind], c[i].tag, shape, best[i] * 1e6,
               median[i] * 1e6, gmacs, mpc);
        if (peak > 0) printf("%6.1f %%", 100 * mpc / peak);
        else printf("%7s", "-");
        if (is_int8_gemm(c[i].kind) && float_gmac[c[i].s] > 0) printf("  x%.2f vs float", gmacs / float_gmac[c[i].s]);
        printf("\n");
        if (json) {
            fprintf(json,
                    "%s\n  {\"isa\": \"%s\", \"kernel\": \"%s\", \"layer\": \"%s\", \"M\": %d, \"N\": %d, \"K\": %d, "
                    "\"best_us\": %.3f, \"median_us\": %.3f, \"gmacs\": %.3f, \"macs_per_cycle\": %.3f, "
                    "\"peak_macs_per_cycle\": %.3f, \"pct_peak\": %.2f}",
                    *json_first ? "" : ",", t->name, kind_names[c[i].kind], c[i].tag, c[i].M, c[i].N, c[i].K,
                    best[i] * 1e6, median[i] * 1e6, gmacs, mpc, peak, peak > 0 ? 100 * mpc / peak : 0.0);
            *json_first = 0;
        }
    }
    /* the row kernels: best of 3 short repetitions each (no MACs to rate) */
    double rbest[MAX_CASES], rmed[MAX_CASES];
    time_cases(t, c + ngemm, ncases - ngemm, 3, rep_s / 4, rbest, rmed);
    printf("  other kernels, us per call (best):");
    for (int i = ngemm, col = 0; i < ncases; i++, col++) {
        if (col % 4 == 0) printf("\n   ");
        if (is_gemm(c[i].kind))
            printf(" %s %s %dx%dx%d %.1f;", kind_names[c[i].kind], c[i].tag, c[i].M, c[i].N, c[i].K, rbest[i - ngemm] * 1e6);
        else printf(" %s %s %dx%d %.1f;", kind_names[c[i].kind], c[i].tag, c[i].M, c[i].N, rbest[i - ngemm] * 1e6);
    }
    printf("\n");
}

/* vq_kernel_table.name by VQ_ISA_* (for tables the CPU lacks, which have no table to ask). */
static const char *const isa_names[VQ_ISA_COUNT] = {"auto", "reference", "avx2", "avx512", "neon",
                                                    "avx512_vnni", "avx_vnni", "neon_dotprod"};

static int usage(const char *argv0) {
    fprintf(stderr, "usage: %s [ms >= 20] [--isa NAME[,NAME...]] [--reps R] [--json FILE] [--count N]\n", argv0);
    return 2;
}

int main(int argc, char **argv) {
    double ms = 20;
    int reps = 7, count = 0;
    const char *isa_list = NULL, *json_path = NULL;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--isa") && i + 1 < argc) isa_list = argv[++i];
        else if (!strcmp(argv[i], "--reps") && i + 1 < argc) reps = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--json") && i + 1 < argc) json_path = argv[++i];
        else if (!strcmp(argv[i], "--count") && i + 1 < argc) count = atoi(argv[++i]);
        else if (argv[i][0] != '-' && atof(argv[i]) > 0) ms = atof(argv[i]);
        else return usage(argv[0]);
    }
    if (ms < 20) ms = 20; /* shorter repetitions measure the timer and the scheduler */
    if (reps < 1 || count < 0) return usage(argv[0]);

    /* The tables to run: --isa names them (each must exist), else every one. */
    int want[VQ_ISA_COUNT] = {0};
    for (int isa = VQ_ISA_REFERENCE; isa < VQ_ISA_COUNT; isa++) want[isa] = isa_list == NULL;
    if (isa_list) {
        char buf[256];
        snprintf(buf, sizeof buf, "%s", isa_list);
        for (char *tok = strtok(buf, ","); tok; tok = strtok(NULL, ",")) {
            int found = 0;
            for (int isa = VQ_ISA_REFERENCE; isa < VQ_ISA_COUNT; isa++)
                if (!strcmp(tok, isa_names[isa])) want[isa] = found = 1;
            if (!found) {
                fprintf(stderr, "bench_kernels: unknown table '%s' (reference, avx2, avx512, avx512_vnni, avx_vnni, "
                                "neon, neon_dotprod)\n", tok);
                return 2;
            }
        }
    }

    operands_init();
    bench_case cases[MAX_CASES];
    const int ncases = make_cases(cases);
    printf("built with %s\n", __VERSION__); /* the int8 kernels' speed depends on the compiler */

    if (count > 0) {
        /* Under valgrind, CPUID shows what valgrind can execute: tables it cannot run are absent. */
        for (int isa = VQ_ISA_REFERENCE; isa < VQ_ISA_COUNT; isa++) {
            if (!want[isa]) continue;
            const vq_kernel_table *t = vq_kernels_table(isa);
            if (!t) {
                printf("# skipped %s: not supported by this CPU (or hidden by valgrind's CPUID)\n", isa_names[isa]);
                continue;
            }
            count_table(t, cases, ncases, count);
        }
        return 0;
    }

    vqp_peaks peaks;
    vqp_measure(&peaks, VQP_SECONDS, VQP_TRIES);
    printf("AUTO selects %s; effective clock %.3f GHz; GEMMs: best of %d interleaved repetitions of >= %.0f ms\n",
           vq_kernels_table(VQ_ISA_AUTO)->name, peaks.clock_hz * 1e-9, reps, ms);
    printf("MAC/cycle = GMAC/s / clock; %% peak = MAC/cycle / the table's peak (int8 GEMMs: its int8 instruction, "
           "float GEMMs: its FMA)\n");
    FILE *json = NULL;
    int json_first = 1;
    if (json_path) {
        json = fopen(json_path, "w");
        if (!json) {
            perror(json_path);
            return 1;
        }
        fprintf(json, "{\n \"compiler\": \"%s\",\n \"reps\": %d,\n \"rep_ms\": %.1f,\n", __VERSION__, reps, ms);
        json_peaks(json, &peaks);
        fprintf(json, " \"results\": [");
    }
    for (int isa = VQ_ISA_REFERENCE; isa < VQ_ISA_COUNT; isa++) {
        const vq_kernel_table *t = vq_kernels_table(isa);
        if (!want[isa]) continue;
        if (!t) {
            if (isa_list) printf("[%s] not supported by this CPU or build: skipped\n", isa_names[isa]);
            continue;
        }
        time_table(t, &peaks, cases, ncases, reps, ms * 1e-3, json, &json_first);
    }
    if (json) {
        fprintf(json, "\n ]\n}\n");
        fclose(json);
    }
    return 0;
}
