/*
 * threadpool.c: the fixed thread pool of vq_kernels.h (vq_pool_*), for the parallel drivers
 * (parallel.c, attention_q.c).
 *
 * Why this shape: the engine runs about sixteen parallel ops per window, a few hundred
 * microseconds each, so a run must cost about a microsecond and allocate nothing. Everything is
 * made at creation; a run publishes its job in a few atomic stores and the threads claim tasks
 * from one counter.
 *
 * Protocol of one run (generation g):
 *   caller:  fn, ctx, done = 0 (relaxed); claim = tasks << 32 | 0 (release);
 *            generation = g (seq_cst); wake the sleepers if there are any; claim tasks like a
 *            worker; spin until done == tasks.
 *   worker:  waits until generation differs from the last one it saw; claims task `next` by a
 *            compare-and-swap of claim to next + 1 while next < tasks; only then reads fn and
 *            ctx, runs the task and adds 1 to done (release).
 * A successful claim proves the run is still open (its task is not done), so fn and ctx are that
 * run's: the caller rewrites them only after done == tasks. A worker that wakes late finds the
 * counter exhausted (or a later run's counter, which it serves just as well) and goes back to
 * waiting; nobody waits for it. The task count and the next index share one 64-bit word, so a
 * claim never pairs one run's index with another run's count, and a compare-and-swap that
 * succeeds on a stale-looking value is a valid claim of the run that is open now.
 *
 * Sleeping (Dekker's pattern, all seq_cst): a worker adds itself to `sleepers`, then re-reads
 * the generation before the futex wait (which itself rechecks the value in the kernel); the
 * caller stores the generation, then reads `sleepers`. One of the two sees the other's store, so
 * no wake-up is lost, and a run with every worker spinning makes no system call.
 */
#define _GNU_SOURCE /* syscall (futex), pthread_sigmask, clock_gettime with -std=c11 */
#include "vq_kernels.h"

#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* Linux: futex on the generation word. Elsewhere (or with -DVQ_POOL_NO_FUTEX, to test that
 * path on Linux): a mutex and a condition variable. */
#if defined(__linux__) && !defined(VQ_POOL_NO_FUTEX)
#define VQ_POOL_FUTEX 1
#include <linux/futex.h>
#include <sys/syscall.h>
#include <unistd.h>
#else
#define VQ_POOL_FUTEX 0
#endif

typedef struct {
    vq_pool *pool;
    int index; /* 1 ... threads - 1 (0 is the caller) */
    pthread_t thread;
} vq_worker;

struct vq_pool {
    /* The run: written by the caller, claimed by everyone (own cache line: contended). */
    _Alignas(64) _Atomic uint64_t claim; /* tasks << 32 | next task */
    _Atomic(vq_pool_task) fn;
    _Atomic(void *) ctx;
    _Alignas(64) atomic_int done; /* tasks of the current run that have returned */
    /* Waking: the futex word and who sleeps on it. */
    _Alignas(64) _Atomic uint32_t generation;
    atomic_int sleepers;
    atomic_int stop;
    /* vq_pool_broadcast: a second, rarely used job that every worker runs once. */
    _Atomic uint32_t broadcast_generation;
    _Atomic(vq_pool_task) broadcast_fn;
    _Atomic(void *) broadcast_ctx;
    atomic_int broadcast_done;
    int threads;
#if !VQ_POOL_FUTEX
    pthread_mutex_t mutex;
    pthread_cond_t cond;
#endif
    vq_worker workers[]; /* threads - 1 */
};

static atomic_int vq_live_workers_count;

int vq_pool_live_workers(void) { return atomic_load(&vq_live_workers_count); }

int vq_pool_threads(const vq_pool *pool) { return pool ? pool->threads : 1; }

static inline void vq_cpu_relax(void) {
#if defined(__x86_64__) || defined(__i386__)
    __builtin_ia32_pause();
#elif defined(__aarch64__)
    __asm__ __volatile__("yield");
#endif
}

static uint64_t vq_now_ns(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (uint64_t)t.tv_sec * 1000000000u + (uint64_t)t.tv_nsec;
}

static void vq_pool_wake_all(vq_pool *pool) {
#if VQ_POOL_FUTEX
    syscall(SYS_futex, (uint32_t *)&pool->generation, FUTEX_WAKE_PRIVATE, INT_MAX, NULL, NULL, 0);
#else
    pthread_mutex_lock(&pool->mutex);
    pthread_cond_broadcast(&pool->cond);
    pthread_mutex_unlock(&pool->mutex);
#endif
}

/* Makes generation g visible and wakes the workers that sleep. */
static void vq_pool_publish(vq_pool *pool, uint32_t g) {
    atomic_store_explicit(&pool->generation, g, memory_order_seq_cst);
    if (atomic_load_explicit(&pool->sleepers, memory_order_seq_cst) > 0) vq_pool_wake_all(pool);
}

/* Waits (spin, then sleep) until the generation differs from `seen`; returns it. */
static uint32_t vq_pool_wait(vq_pool *pool, uint32_t seen) {
    uint32_t g;
    uint64_t start = 0;
    for (unsigned i = 1;; i++) {
        g = atomic_load_explicit(&pool->generation, memory_order_acquire);
        if (g != seen) return g;
        vq_cpu_relax();
        if ((i & 255) == 0) { /* read the clock only now and then: it costs more than a pause */
            const uint64_t now = vq_now_ns();
            if (start == 0) start = now;
            else if (now - start > (uint64_t)VQ_POOL_SPIN_US * 1000u) break;
        }
    }
    atomic_fetch_add_explicit(&pool->sleepers, 1, memory_order_seq_cst);
#if VQ_POOL_FUTEX
    while ((g = atomic_load_explicit(&pool->generation, memory_order_seq_cst)) == seen)
        syscall(SYS_futex, (uint32_t *)&pool->generation, FUTEX_WAIT_PRIVATE, seen, NULL, NULL, 0);
#else
    pthread_mutex_lock(&pool->mutex);
    while ((g = atomic_load_explicit(&pool->generation, memory_order_seq_cst)) == seen)
        pthread_cond_wait(&pool->cond, &pool->mutex);
    pthread_mutex_unlock(&pool->mutex);
#endif
    atomic_fetch_sub_explicit(&pool->sleepers, 1, memory_order_relaxed);
    return g;
}

/* Claims and runs tasks of the open run until its counter is exhausted. */
static void vq_pool_work(vq_pool *pool, int thread) {
    uint64_t s = atomic_load_explicit(&pool->claim, memory_order_acquire);
    for (;;) {
        const uint32_t tasks = (uint32_t)(s >> 32), next = (uint32_t)s;
        if (next >= tasks) return;
        if (atomic_compare_exchange_weak_explicit(&pool->claim, &s, s + 1, memory_order_acq_rel,
                                                  memory_order_acquire)) {
            /* After the claim: the run cannot close before this task is done (see the top). */
            const vq_pool_task fn = atomic_load_explicit(&pool->fn, memory_order_relaxed);
            void *ctx = atomic_load_explicit(&pool->ctx, memory_order_relaxed);
            fn(ctx, (int)next, thread);
            atomic_fetch_add_explicit(&pool->done, 1, memory_order_release);
            s = atomic_load_explicit(&pool->claim, memory_order_acquire);
        }
    }
}

/* Waits until *count reaches target: spins (the other threads are running their last task),
 * then yields the core in case they were descheduled. */
static void vq_pool_wait_count(atomic_int *count, int target) {
    for (unsigned i = 1; atomic_load_explicit(count, memory_order_acquire) < target; i++) {
        if (i < 4096) vq_cpu_relax();
        else sched_yield();
    }
}

static void *vq_worker_main(void *arg) {
    const vq_worker *w = arg;
    vq_pool *pool = w->pool;
    uint32_t seen = 0, broadcasts = 0; /* both start at 0 in vq_pool_create */
    for (;;) {
        seen = vq_pool_wait(pool, seen);
        if (atomic_load_explicit(&pool->stop, memory_order_acquire)) break;
        const uint32_t b = atomic_load_explicit(&pool->broadcast_generation, memory_order_acquire);
        if (b != broadcasts) {
            /* Stays valid until this worker reports: the broadcast waits for every worker. */
            broadcasts = b;
            const vq_pool_task fn = atomic_load_explicit(&pool->broadcast_fn, memory_order_relaxed);
            fn(atomic_load_explicit(&pool->broadcast_ctx, memory_order_relaxed), w->index, w->index);
            atomic_fetch_add_explicit(&pool->broadcast_done, 1, memory_order_release);
        }
        vq_pool_work(pool, w->index);
    }
    atomic_fetch_sub(&vq_live_workers_count, 1);
    return NULL;
}

/* Stops the first `started` workers and joins them; then frees the pool. */
static void vq_pool_teardown(vq_pool *pool, int started) {
    atomic_store_explicit(&pool->stop, 1, memory_order_seq_cst);
    atomic_store_explicit(&pool->generation, atomic_load(&pool->generation) + 1, memory_order_seq_cst);
    vq_pool_wake_all(pool); /* unconditionally: a worker may be between counting itself and sleeping */
    for (int i = 0; i < started; i++) pthread_join(pool->workers[i].thread, NULL);
#if !VQ_POOL_FUTEX
    pthread_cond_destroy(&pool->cond);
    pthread_mutex_destroy(&pool->mutex);
#endif
    free(pool);
}

vq_pool *vq_pool_create(int threads) {
    if (threads < 1 || threads > VQ_POOL_MAX_THREADS) {
        errno = EINVAL;
        return NULL;
    }
    size_t bytes = sizeof(vq_pool) + (size_t)(threads - 1) * sizeof(vq_worker);
    bytes = (bytes + 63) & ~(size_t)63;
    void *memory = NULL;
    if (posix_memalign(&memory, 64, bytes) != 0) {
        errno = ENOMEM;
        return NULL;
    }
    memset(memory, 0, bytes);
    vq_pool *pool = memory;
    atomic_init(&pool->claim, 0);
    atomic_init(&pool->fn, NULL);
    atomic_init(&pool->ctx, NULL);
    atomic_init(&pool->done, 0);
    atomic_init(&pool->generation, 0);
    atomic_init(&pool->sleepers, 0);
    atomic_init(&pool->stop, 0);
    atomic_init(&pool->broadcast_generation, 0);
    atomic_init(&pool->broadcast_fn, NULL);
    atomic_init(&pool->broadcast_ctx, NULL);
    atomic_init(&pool->broadcast_done, 0);
    pool->threads = threads;
#if !VQ_POOL_FUTEX
    if (pthread_mutex_init(&pool->mutex, NULL) != 0) {
        free(pool);
        errno = ENOMEM;
        return NULL;
    }
    if (pthread_cond_init(&pool->cond, NULL) != 0) {
        pthread_mutex_destroy(&pool->mutex);
        free(pool);
        errno = ENOMEM;
        return NULL;
    }
#endif
    /* Workers inherit the creating thread's signal mask: block everything so that signals
     * (SIGINT, SIGTERM of `ventriq stream`) go to the application's threads, not to a worker. */
    sigset_t all, old;
    sigfillset(&all);
    pthread_sigmask(SIG_SETMASK, &all, &old);
    int started = 0, error = 0;
    for (; started < threads - 1; started++) {
        vq_worker *w = &pool->workers[started];
        w->pool = pool;
        w->index = started + 1;
        atomic_fetch_add(&vq_live_workers_count, 1);
        error = pthread_create(&w->thread, NULL, vq_worker_main, w);
        if (error != 0) {
            atomic_fetch_sub(&vq_live_workers_count, 1);
            break;
        }
    }
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    if (error != 0) {
        vq_pool_teardown(pool, started);
        errno = error;
        return NULL;
    }
    return pool;
}

void vq_pool_destroy(vq_pool *pool) {
    if (pool) vq_pool_teardown(pool, pool->threads - 1);
}

void vq_pool_run(vq_pool *pool, int tasks, vq_pool_task fn, void *ctx) {
    if (tasks <= 0) return;
    if (!pool || pool->threads == 1 || tasks == 1) {
        for (int i = 0; i < tasks; i++) fn(ctx, i, 0);
        return;
    }
    /* Only the caller writes the generation, so reading and adding 1 is not a race. */
    const uint32_t g = atomic_load_explicit(&pool->generation, memory_order_relaxed) + 1;
    atomic_store_explicit(&pool->fn, fn, memory_order_relaxed);
    atomic_store_explicit(&pool->ctx, ctx, memory_order_relaxed);
    atomic_store_explicit(&pool->done, 0, memory_order_relaxed);
    atomic_store_explicit(&pool->claim, (uint64_t)tasks << 32, memory_order_release);
    vq_pool_publish(pool, g);
    vq_pool_work(pool, 0);
    vq_pool_wait_count(&pool->done, tasks);
}

void vq_pool_broadcast(vq_pool *pool, vq_pool_task fn, void *ctx) {
    if (!pool || pool->threads == 1) {
        fn(ctx, 0, 0);
        return;
    }
    atomic_store_explicit(&pool->broadcast_fn, fn, memory_order_relaxed);
    atomic_store_explicit(&pool->broadcast_ctx, ctx, memory_order_relaxed);
    atomic_store_explicit(&pool->broadcast_done, 0, memory_order_relaxed);
    atomic_store_explicit(&pool->broadcast_generation, atomic_load(&pool->broadcast_generation) + 1,
                          memory_order_release);
    vq_pool_publish(pool, atomic_load_explicit(&pool->generation, memory_order_relaxed) + 1);
    fn(ctx, 0, 0);
    vq_pool_wait_count(&pool->broadcast_done, pool->threads - 1);
}
