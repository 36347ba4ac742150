/*
 * peak_measure.h: measures this core's clock and the throughput of the multiply-accumulate
 * instructions of Ventriq's kernels, one table (VQ_ISA_*) at a time, so that the benchmarks can
 * give achieved MACs per cycle as a fraction of the peak:
 *
 *   peak [MAC/s] = instructions per cycle x MACs per instruction x clock [cycles/s]
 *
 * with both factors measured here (never a vendor figure):
 *   clock   a chain of dependent register adds (1 cycle each on every x86-64 and aarch64 core)
 *           timed with the thread's CPU time (vqp_now): cycles = adds, so cycles / seconds is
 *           the effective clock while the core is busy (turbo included).
 *   IPC     the instruction (or the kernel's fixed instruction sequence) on 12 independent
 *           accumulator chains, so that throughput, not latency, limits it (latency x pipes is
 *           at most 10 for every instruction below on current cores), timed the same way.
 * Every loop is inline asm with fixed registers: the compiler can neither fold nor reorder it,
 * and the asm needs no target attribute (only the CPU check before running it).
 *
 * Header-only (static functions), shared by benchmarks/peak/peak_probe.c and
 * Tests/kernels-c/bench_kernels.c. Plain C11 + GNU asm; x86-64 and aarch64 (other targets get
 * no rates, clock_hz = 0). Needs _POSIX_C_SOURCE >= 199309L for clock_gettime.
 */
#ifndef VQ_PEAK_MEASURE_H
#define VQ_PEAK_MEASURE_H

#include <stdio.h>
#include <string.h>
#include <time.h>

#if defined(__x86_64__)
#include <cpuid.h>
#elif defined(__aarch64__) && defined(__linux__)
#include <sys/auxv.h>
#ifndef HWCAP_ASIMDDP
#define HWCAP_ASIMDDP (1 << 20) /* Linux arch/arm64 uapi hwcap.h */
#endif
#endif

/* One measured instruction (or instruction sequence) rate. */
typedef struct {
    const char *instr;      /* what the loop runs, e.g. "vpdpbusd zmm" */
    int macs_per_instr;     /* multiply-accumulates per instruction (per sequence) */
    double instr_per_cycle; /* measured */
} vqp_rate;

/* The peaks of one kernel table: its int8 GEMM's instruction and its float GEMM's FMA. */
typedef struct {
    const char *isa; /* vq_kernel_table.name */
    int supported;   /* 0: this CPU cannot run the instructions (the rates stay 0) */
    int stand_in;    /* 1: measured with another encoding than the production table's */
    vqp_rate int8, fp32;
    char note[160];  /* "" or what else to know about the measurement */
} vqp_isa;

#define VQP_MAX_ISAS 4

typedef struct {
    double clock_hz;
    int n;
    vqp_isa isa[VQP_MAX_ISAS];
    char cpu[64];
    const char *nominal; /* vendor-nominal throughputs where known (a comment, never used) */
} vqp_peaks;

/* Seconds of CPU time of the calling thread. On a virtual machine this excludes the time the
 * hypervisor runs other guests (Linux subtracts the steal time it reports: paravirt steal time
 * accounting), which on a shared 2-vCPU host is often 40 % of the wall clock and comes in
 * stretches of seconds: wall-clock rates then read 2.1 instead of 3.7 GHz, the thread's CPU time
 * keeps reading 3.7. It also excludes the time other threads of this guest run. Falls back to
 * the monotonic clock where the thread clock is missing. */
static inline double vqp_now(void) {
    struct timespec ts;
    if (clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts) != 0) clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

/* Each loop body below runs VQP_UNROLL x 12 instructions (sequences) per iteration. */
#define VQP_UNROLL 2
#define VQP_PER_ITER (VQP_UNROLL * 12)
/* Chain length of the clock loop per iteration (the .rept count below). */
#define VQP_ADDS 100
#define VQP_STR2(x) #x
#define VQP_STR(x) VQP_STR2(x)

typedef void (*vqp_loop)(long iterations);

/* Defaults of vqp_measure's seconds and tries (see there). */
#define VQP_SECONDS 0.002
#define VQP_TRIES 30

/* Seconds per iteration of `loop`: the fastest of `tries` runs of about `seconds` each (the
 * fastest, because a shared host only ever adds time). */
static inline double vqp_time(vqp_loop loop, double seconds, int tries) {
    long n = 1000;
    double t;
    for (;;) { /* calibrate (and warm the core up) */
        double t0 = vqp_now();
        loop(n);
        t = vqp_now() - t0;
        if (t > seconds / 2 || n > (1L << 40)) break;
        n *= 2;
    }
    n = (long)(n * (seconds / t)) + 1;
    double best = 1e30;
    for (int i = 0; i < tries; i++) {
        double t0 = vqp_now();
        loop(n);
        t = vqp_now() - t0;
        if (t < best) best = t;
    }
    return best / (double)n;
}

/* Register lists for the asm loops: 12 accumulators named by index. */
#define VQP_X12(F) F("0") F("1") F("2") F("3") F("4") F("5") F("6") F("7") F("8") F("9") F("10") F("11")

#if defined(__x86_64__)

/* The chain adds a register (not an immediate, which some cores could fold at rename). */
static inline void vqp_clock_loop(long n) {
    long x = 0, k = 1;
    __asm__ volatile("1:\n\t"
                     ".rept " VQP_STR(VQP_ADDS) "\n\t"
                     "add %[k], %[x]\n\t"
                     ".endr\n\t"
                     "dec %[n]\n\t"
                     "jnz 1b"
                     : [n] "+r"(n), [x] "+r"(x)
                     : [k] "r"(k)
                     : "cc");
}

/* Zeroed sources and accumulators (VEX vpxor clears the whole zmm): integer units have no
 * data-dependent timing, and 0 * 0 + 0 keeps the FMAs away from subnormals. */
#define VQP_X86_ZERO(i) "vpxor %%xmm" i ", %%xmm" i ", %%xmm" i "\n\t"
#define VQP_X86_LOOP(BODY)                                                                         \
    __asm__ volatile(VQP_X12(VQP_X86_ZERO) VQP_X86_ZERO("12") VQP_X86_ZERO("13") VQP_X86_ZERO("14") \
                     "1:\n\t" VQP_X12(BODY) VQP_X12(BODY) "dec %0\n\t"                           \
                     "jnz 1b\n\t"                                                                  \
                     "vzeroupper"                                                                  \
                     : "+r"(n)                                                                     \
                     :                                                                             \
                     : "cc", "xmm0", "xmm1", "xmm2", "xmm3", "xmm4", "xmm5", "xmm6", "xmm7", "xmm8", \
                       "xmm9", "xmm10", "xmm11", "xmm12", "xmm13", "xmm14")

/* avx512_vnni: u8 x s8, 4 products into each of 16 int32 lanes. */
#define VQP_DPBUSD_Z(i) "vpdpbusd %%zmm12, %%zmm13, %%zmm" i "\n\t"
static inline void vqp_dpbusd_zmm(long n) { VQP_X86_LOOP(VQP_DPBUSD_Z); }
/* avx_vnni: the VEX encoding (%{ %}: literal braces of the {vex} prefix) */
#define VQP_DPBUSD_YV(i) "%{vex%} vpdpbusd %%ymm12, %%ymm13, %%ymm" i "\n\t"
static inline void vqp_dpbusd_ymm_vex(long n) { VQP_X86_LOOP(VQP_DPBUSD_YV); }
/* the same on ymm in the EVEX encoding (AVX-512 VNNI + VL), for CPUs without AVX-VNNI */
#define VQP_DPBUSD_YE(i) "vpdpbusd %%ymm12, %%ymm13, %%ymm" i "\n\t"
static inline void vqp_dpbusd_ymm_evex(long n) { VQP_X86_LOOP(VQP_DPBUSD_YE); }
/* avx2 (and avx512, which reuses the avx2 int8 kernels): per 16 MACs the kernel's inner loop
 * issues one vpmaddwd (int16 pairs -> int32) and one vpaddd into the accumulator; the madd
 * result goes through one temporary (renamed, so the chains stay independent). */
#define VQP_MADDWD(i) "vpmaddwd %%ymm12, %%ymm13, %%ymm14\n\tvpaddd %%ymm14, %%ymm" i ", %%ymm" i "\n\t"
static inline void vqp_maddwd_ymm(long n) { VQP_X86_LOOP(VQP_MADDWD); }
/* vpmaddwd alone, for the note: what the pair loses to the vpaddd */
#define VQP_MADDWD_ONLY(i) "vpmaddwd %%ymm12, %%ymm13, %%ymm" i "\n\t"
static inline void vqp_maddwd_only(long n) { VQP_X86_LOOP(VQP_MADDWD_ONLY); }
/* float: 8 or 16 lanes per fused multiply-add */
#define VQP_FMA_Y(i) "vfmadd231ps %%ymm12, %%ymm13, %%ymm" i "\n\t"
static inline void vqp_fma_ymm(long n) { VQP_X86_LOOP(VQP_FMA_Y); }
#define VQP_FMA_Z(i) "vfmadd231ps %%zmm12, %%zmm13, %%zmm" i "\n\t"
static inline void vqp_fma_zmm(long n) { VQP_X86_LOOP(VQP_FMA_Z); }

#elif defined(__aarch64__)

static inline void vqp_clock_loop(long n) {
    long x = 0, k = 1;
    __asm__ volatile("1:\n\t"
                     ".rept " VQP_STR(VQP_ADDS) "\n\t"
                     "add %[x], %[x], %[k]\n\t"
                     ".endr\n\t"
                     "subs %[n], %[n], #1\n\t"
                     "b.ne 1b"
                     : [n] "+r"(n), [x] "+r"(x)
                     : [k] "r"(k)
                     : "cc");
}

#define VQP_A64_ZERO(i) "movi v" i ".16b, #0\n\t"
#define VQP_A64_LOOP(BODY)                                                                         \
    __asm__ volatile(VQP_X12(VQP_A64_ZERO) VQP_A64_ZERO("12") VQP_A64_ZERO("13") VQP_A64_ZERO("14") \
                     VQP_A64_ZERO("15") "1:\n\t" VQP_X12(BODY) VQP_X12(BODY) "subs %0, %0, #1\n\t" \
                     "b.ne 1b"                                                                     \
                     : "+r"(n)                                                                     \
                     :                                                                             \
                     : "cc", "v0", "v1", "v2", "v3", "v4", "v5", "v6", "v7", "v8", "v9", "v10", "v11", \
                       "v12", "v13", "v14", "v15", "v16", "v17", "v18", "v19", "v20", "v21", "v22",  \
                       "v23", "v24", "v25", "v26", "v27")

/* neon_dotprod: sdot by element, as the kernel issues it (16 MACs). The target attribute makes
 * the assembler accept sdot in an armv8-a build. */
#define VQP_SDOT(i) "sdot v" i ".4s, v12.16b, v13.4b[0]\n\t"
#if defined(__clang__)
__attribute__((target("dotprod")))
#else
__attribute__((target("arch=armv8.2-a+dotprod")))
#endif
static inline void vqp_sdot(long n) { VQP_A64_LOOP(VQP_SDOT); }
/* neon: per 16 MACs the kernel issues smull and smlal (8 int8 x int8 -> int16 lanes each, two
 * groups summed in int16) and one sadalp into the int32 accumulator: the sequence is the unit.
 * Chain i uses the temporary v(16 + i), listed since string pasting cannot add. */
#define VQP_SMLAL_SEQ(i, t)                                                                        \
    "smull v" t ".8h, v12.8b, v13.8b\n\t"                                                          \
    "smlal v" t ".8h, v14.8b, v15.8b\n\t"                                                          \
    "sadalp v" i ".4s, v" t ".8h\n\t"
#define VQP_SMLAL_12                                                                               \
    VQP_SMLAL_SEQ("0", "16") VQP_SMLAL_SEQ("1", "17") VQP_SMLAL_SEQ("2", "18")                     \
    VQP_SMLAL_SEQ("3", "19") VQP_SMLAL_SEQ("4", "20") VQP_SMLAL_SEQ("5", "21")                     \
    VQP_SMLAL_SEQ("6", "22") VQP_SMLAL_SEQ("7", "23") VQP_SMLAL_SEQ("8", "24")                     \
    VQP_SMLAL_SEQ("9", "25") VQP_SMLAL_SEQ("10", "26") VQP_SMLAL_SEQ("11", "27")
static inline void vqp_smlal(long n) {
    /* not VQP_A64_LOOP: that expands its body once per chain, and this body names all 12 */
    __asm__ volatile(VQP_X12(VQP_A64_ZERO) VQP_A64_ZERO("12") VQP_A64_ZERO("13") VQP_A64_ZERO("14")
                     VQP_A64_ZERO("15") "1:\n\t" VQP_SMLAL_12 VQP_SMLAL_12 "subs %0, %0, #1\n\t"
                     "b.ne 1b"
                     : "+r"(n)
                     :
                     : "cc", "v0", "v1", "v2", "v3", "v4", "v5", "v6", "v7", "v8", "v9", "v10", "v11", "v12",
                       "v13", "v14", "v15", "v16", "v17", "v18", "v19", "v20", "v21", "v22", "v23", "v24",
                       "v25", "v26", "v27");
}
/* float: 4 lanes per fmla */
#define VQP_FMLA(i) "fmla v" i ".4s, v12.4s, v13.4s\n\t"
static inline void vqp_fmla(long n) { VQP_A64_LOOP(VQP_FMLA); }

#endif

/* Effective clock: VQP_ADDS dependent adds per iteration, one per cycle. */
static inline double vqp_clock_hz(double seconds, int tries) {
#if defined(__x86_64__) || defined(__aarch64__)
    return VQP_ADDS / vqp_time(vqp_clock_loop, seconds, tries);
#else
    (void)seconds, (void)tries;
    return 0;
#endif
}

/* Instructions per cycle of `loop` at `clock_hz`. */
static inline double vqp_ipc(vqp_loop loop, double clock_hz, double seconds, int tries) {
    return VQP_PER_ITER / vqp_time(loop, seconds, tries) / clock_hz;
}

static inline void vqp_set(vqp_isa *e, const char *isa, int supported, const char *i8, int i8_macs, vqp_loop i8_loop,
                    const char *f32, int f32_macs, vqp_loop f32_loop, double clock_hz, double seconds, int tries) {
    e->isa = isa;
    e->supported = supported;
    e->int8 = (vqp_rate){i8, i8_macs, supported ? vqp_ipc(i8_loop, clock_hz, seconds, tries) : 0};
    e->fp32 = (vqp_rate){f32, f32_macs, supported ? vqp_ipc(f32_loop, clock_hz, seconds, tries) : 0};
    e->stand_in = 0;
    e->note[0] = 0;
}

/*
 * Measures the clock and every SIMD table's rates this CPU supports, each as the fastest of
 * `tries` runs of about `seconds` of thread CPU time (vqp_now). Many short tries (VQP_SECONDS,
 * VQP_TRIES: 2 ms x 30) also survive what the thread clock does not remove (interrupts, a
 * hypervisor without steal time accounting) better than a few long ones. Returns the number of tables filled in p->isa
 * (x86-64: avx2, avx512, avx512_vnni, avx_vnni; aarch64: neon, neon_dotprod). The reference
 * table has no peak (scalar C).
 */
static inline int vqp_measure(vqp_peaks *p, double seconds, int tries) {
    memset(p, 0, sizeof *p);
    p->nominal = "none tabulated for this CPU";
    vqp_clock_hz(seconds, 1); /* warm-up: lets the core reach its busy clock */
    p->clock_hz = vqp_clock_hz(seconds, tries);
#if defined(__x86_64__)
    __builtin_cpu_init();
    const int avx2 = __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
    const int avx512 = avx2 && __builtin_cpu_supports("avx512f");
    const int vnni512 = avx512 && __builtin_cpu_supports("avx512vnni") && __builtin_cpu_supports("avx512vl") &&
                        __builtin_cpu_supports("avx512bw");
    const int avxvnni = avx2 && __builtin_cpu_supports("avxvnni");
    const double c = p->clock_hz;
    vqp_set(&p->isa[p->n], "avx2", avx2, "vpmaddwd+vpaddd ymm", 16, vqp_maddwd_ymm, "vfmadd231ps ymm", 8,
            vqp_fma_ymm, c, seconds, tries);
    if (avx2)
        snprintf(p->isa[p->n].note, sizeof p->isa[p->n].note,
                 "int8 unit: one vpmaddwd + one vpaddd per 16 MACs, as the kernel issues them (vpmaddwd alone: "
                 "%.2f/cycle)",
                 vqp_ipc(vqp_maddwd_only, c, seconds, tries));
    p->n++;
    vqp_set(&p->isa[p->n], "avx512", avx512, "vpmaddwd+vpaddd ymm", 16, vqp_maddwd_ymm, "vfmadd231ps zmm", 16,
            vqp_fma_zmm, c, seconds, tries);
    strcpy(p->isa[p->n++].note, "int8: the avx2 kernels (AVX-512F has no byte/word multiply-add)");
    vqp_set(&p->isa[p->n++], "avx512_vnni", vnni512, "vpdpbusd zmm", 64, vqp_dpbusd_zmm, "vfmadd231ps zmm", 16,
            vqp_fma_zmm, c, seconds, tries);
    if (avxvnni || !vnni512) {
        vqp_set(&p->isa[p->n++], "avx_vnni", avxvnni, "vpdpbusd ymm (VEX)", 32, vqp_dpbusd_ymm_vex, "vfmadd231ps ymm",
                8, vqp_fma_ymm, c, seconds, tries);
    } else { /* the same operation in the EVEX encoding: what the test builds' avx_vnni table runs here */
        vqp_set(&p->isa[p->n], "avx_vnni", 1, "vpdpbusd ymm (EVEX)", 32, vqp_dpbusd_ymm_evex, "vfmadd231ps ymm", 8,
                vqp_fma_ymm, c, seconds, tries);
        p->isa[p->n].stand_in = 1;
        strcpy(p->isa[p->n++].note, "no AVX-VNNI on this CPU: the EVEX form measured (what builds with "
                                    "-DVQ_TEST_AVX_VNNI_AS_EVEX run)");
    }
    unsigned a = 0, b = 0, cx = 0, d = 0;
    if (__get_cpuid(0, &a, &b, &cx, &d)) {
        memcpy(p->cpu, &b, 4), memcpy(p->cpu + 4, &d, 4), memcpy(p->cpu + 8, &cx, 4);
        __get_cpuid(1, &a, &b, &cx, &d);
        const unsigned family = ((a >> 8) & 0xF) + (((a >> 8) & 0xF) == 0xF ? (a >> 20) & 0xFF : 0);
        const unsigned model = ((a >> 4) & 0xF) | ((a >> 12) & 0xF0);
        snprintf(p->cpu + 12, sizeof p->cpu - 12, " family 0x%x model 0x%x", family, model);
        /* Zen 4 is the only family 19h core with AVX-512 (Zen 3 has none). */
        if (!strncmp(p->cpu, "AuthenticAMD", 12) && family == 0x19 && avx512)
            p->nominal = "Zen 4 (AMD): 512-bit ops are split over two 256-bit pipes; vpdpbusd ymm 2/cycle, zmm "
                         "1/cycle (64 MAC/cycle either way); vpmaddwd ymm 2/cycle (32 MAC/cycle); vfmadd231ps ymm "
                         "2/cycle, zmm 1/cycle (16 MAC/cycle)";
    }
#elif defined(__aarch64__)
    int dot = 0;
#if defined(__ARM_FEATURE_DOTPROD)
    dot = 1;
#elif defined(__linux__)
    dot = (getauxval(AT_HWCAP) & HWCAP_ASIMDDP) != 0;
#endif
    const double c = p->clock_hz;
    vqp_set(&p->isa[p->n++], "neon", 1, "smull+smlal+sadalp 8b", 16, vqp_smlal, "fmla 4s", 4, vqp_fmla, c, seconds,
            tries);
    vqp_set(&p->isa[p->n++], "neon_dotprod", dot, "sdot 4s by element", 16, vqp_sdot, "fmla 4s", 4, vqp_fmla, c,
            seconds, tries);
    strcpy(p->cpu, "aarch64");
#endif
    return p->n;
}

/* The entry of table `isa` (a vq_kernel_table.name), or NULL (reference, unknown). */
static inline const vqp_isa *vqp_find(const vqp_peaks *p, const char *isa) {
    for (int i = 0; i < p->n; i++)
        if (!strcmp(p->isa[i].isa, isa)) return &p->isa[i];
    return NULL;
}

static inline double vqp_macs_per_cycle(const vqp_rate *r) { return r->instr_per_cycle * r->macs_per_instr; }

#endif /* VQ_PEAK_MEASURE_H */
