/*
 * peak_probe.c: this CPU's multiply-accumulate peak per Ventriq kernel table (one core).
 *
 *   peak_probe [--json] [--ms N] [--tries N]
 *     --json     one JSON object instead of the table (benchmarks/side_by_side.py reads it)
 *     --ms N     milliseconds per timed try (default 2)
 *     --tries N  tries per rate, the fastest kept (default 30; many short tries survive the
 *                stolen time of a shared host better than a few long ones)
 *
 * Measures (peak_measure.h) the effective clock from a chain of dependent 1-cycle adds, and for
 * each table the CPU runs the instructions per cycle of its int8 GEMM's multiply-accumulate
 * instruction and of its float GEMM's FMA, on 12 independent accumulator chains:
 *   peak MAC/cycle = IPC x MACs per instruction;  peak GMAC/s = that x clock.
 * Build: gcc -O2 -Wall -Wextra benchmarks/peak/peak_probe.c -o .build/peak_probe (make bench-peak).
 */
#define _POSIX_C_SOURCE 199309L
#include "peak_measure.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void json_rate(const char *key, const char *instr_key, const vqp_rate *r, double clock_hz) {
    printf("\"%s\": {\"%s\": \"%s\", \"macs_per_instr\": %d, \"instr_per_cycle\": %.4f, \"macs_per_cycle\": %.3f, "
           "\"peak_gmacs\": %.3f}",
           key, instr_key, r->instr, r->macs_per_instr, r->instr_per_cycle, vqp_macs_per_cycle(r),
           vqp_macs_per_cycle(r) * clock_hz * 1e-9);
}

/* Keys of the JSON: clock_hz; int8 / float: {table name: rate}; best_int8 / best_float: the
 * table with the highest MAC/cycle (stand-ins excluded); notes per table. */
static void print_json(const vqp_peaks *p) {
    const vqp_isa *best8 = NULL, *bestf = NULL;
    printf("{\n \"cpu\": \"%s\",\n \"clock_hz\": %.0f,\n \"method\": \"peak = instr_per_cycle x macs_per_instr x "
           "clock_hz; clock from %d dependent adds per loop, IPC from 12 independent chains, fastest of each\",\n",
           p->cpu, p->clock_hz, VQP_ADDS);
    for (int pass = 0; pass < 2; pass++) {
        printf(" \"%s\": {", pass ? "float" : "int8");
        int first = 1;
        for (int i = 0; i < p->n; i++) {
            const vqp_isa *e = &p->isa[i];
            if (!e->supported) continue;
            printf("%s\n  ", first ? "" : ",");
            json_rate(e->isa, pass ? "float_instr" : "int8_instr", pass ? &e->fp32 : &e->int8, p->clock_hz);
            first = 0;
            if (e->stand_in) continue;
            /* ties within measurement noise (0.5 %) go to the later table (avx512_vnni over avx2
             * at equal FMA peaks), so that the choice does not flip between runs */
            if (!pass && (!best8 || vqp_macs_per_cycle(&e->int8) >= 0.995 * vqp_macs_per_cycle(&best8->int8)))
                best8 = e;
            if (pass && (!bestf || vqp_macs_per_cycle(&e->fp32) >= 0.995 * vqp_macs_per_cycle(&bestf->fp32)))
                bestf = e;
        }
        printf("\n },\n");
    }
    printf(" \"best_int8\": \"%s\",\n \"best_float\": \"%s\",\n", best8 ? best8->isa : "", bestf ? bestf->isa : "");
    printf(" \"unsupported\": [");
    for (int i = 0, first = 1; i < p->n; i++)
        if (!p->isa[i].supported) printf("%s\"%s\"", first ? "" : ", ", p->isa[i].isa), first = 0;
    printf("],\n \"notes\": {");
    for (int i = 0, first = 1; i < p->n; i++)
        if (p->isa[i].note[0] && p->isa[i].supported)
            printf("%s\"%s\": \"%s\"", first ? "" : ", ", p->isa[i].isa, p->isa[i].note), first = 0;
    printf("},\n \"nominal_comment\": \"%s\"\n}\n", p->nominal);
}

static void print_table(const vqp_peaks *p) {
    printf("cpu %s; effective clock %.3f GHz (%d dependent adds per loop)\n", p->cpu, p->clock_hz * 1e-9, VQP_ADDS);
    printf("peak = instructions/cycle x MACs/instruction x clock (12 independent chains, fastest of the tries)\n\n");
    printf("%-12s %-5s %-22s %10s %10s %10s %10s\n", "table", "kind", "instruction", "MACs/instr", "instr/cycle",
           "MAC/cycle", "GMAC/s");
    for (int i = 0; i < p->n; i++) {
        const vqp_isa *e = &p->isa[i];
        if (!e->supported) {
            printf("%-12s (not supported by this CPU)\n", e->isa);
            continue;
        }
        for (int k = 0; k < 2; k++) {
            const vqp_rate *r = k ? &e->fp32 : &e->int8;
            printf("%-12s %-5s %-22s %10d %10.3f %10.2f %10.1f\n", e->isa, k ? "fp32" : "int8", r->instr,
                   r->macs_per_instr, r->instr_per_cycle, vqp_macs_per_cycle(r),
                   vqp_macs_per_cycle(r) * p->clock_hz * 1e-9);
        }
        if (e->note[0]) printf("%-12s note: %s\n", "", e->note);
    }
    printf("\nvendor-nominal (a comment; the measured numbers above are what the benchmarks use): %s\n", p->nominal);
}

int main(int argc, char **argv) {
    int json = 0, tries = VQP_TRIES;
    double ms = VQP_SECONDS * 1e3;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--json")) json = 1;
        else if (!strcmp(argv[i], "--ms") && i + 1 < argc) ms = atof(argv[++i]);
        else if (!strcmp(argv[i], "--tries") && i + 1 < argc) tries = atoi(argv[++i]);
        else {
            fprintf(stderr, "usage: %s [--json] [--ms N] [--tries N]\n", argv[0]);
            return 2;
        }
    }
    if (ms <= 0 || tries < 1) {
        fprintf(stderr, "peak_probe: --ms must be > 0 and --tries >= 1\n");
        return 2;
    }
    vqp_peaks p;
    if (vqp_measure(&p, ms * 1e-3, tries) == 0 || p.clock_hz <= 0) {
        fprintf(stderr, "peak_probe: no measurement for this architecture (x86-64 and aarch64 only)\n");
        return 1;
    }
    if (json) print_json(&p);
    else print_table(&p);
    return 0;
}
