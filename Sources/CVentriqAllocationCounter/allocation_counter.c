// See include/vq_allocation_counter.h. Linux/glibc only; elsewhere the counter reports itself
// unavailable and nothing is interposed.
#include "vq_allocation_counter.h"

#if defined(__linux__) && defined(__GLIBC__)

#include <errno.h>
#include <stddef.h>
#include <unistd.h>

extern void *__libc_malloc(size_t size);
extern void *__libc_calloc(size_t count, size_t size);
extern void *__libc_realloc(void *ptr, size_t size);
extern void __libc_free(void *ptr);
extern void *__libc_memalign(size_t alignment, size_t size);

// Per thread: a test or benchmark counts the allocations of the code it runs on its own thread,
// undisturbed by other tests running in parallel. (Initial-exec TLS in the executable: reading it
// never allocates, so it is safe inside malloc.)
static __thread int counting __attribute__((tls_model("initial-exec")));
static __thread uint64_t allocations __attribute__((tls_model("initial-exec")));
static __thread uint64_t bytes __attribute__((tls_model("initial-exec")));

static inline void count(size_t size) {
    if (counting) {
        allocations += 1;
        bytes += size;
    }
}

void *malloc(size_t size) {
    count(size);
    return __libc_malloc(size);
}

void *calloc(size_t n, size_t size) {
    count(n * size);
    return __libc_calloc(n, size);
}

void *realloc(void *ptr, size_t size) {
    count(size);
    return __libc_realloc(ptr, size);
}

void free(void *ptr) { __libc_free(ptr); }

void *memalign(size_t alignment, size_t size) {
    count(size);
    return __libc_memalign(alignment, size);
}

void *aligned_alloc(size_t alignment, size_t size) {
    count(size);
    return __libc_memalign(alignment, size);
}

int posix_memalign(void **out, size_t alignment, size_t size) {
    // POSIX: alignment must be a power of two multiple of sizeof(void *).
    if (alignment % sizeof(void *) != 0 || (alignment & (alignment - 1)) != 0) return EINVAL;
    count(size);
    void *p = __libc_memalign(alignment, size);
    if (p == NULL) return ENOMEM;
    *out = p;
    return 0;
}

void *valloc(size_t size) {
    count(size);
    return __libc_memalign((size_t)sysconf(_SC_PAGESIZE), size);
}

int vq_allocation_counter_available(void) { return 1; }

void vq_allocation_counter_start(void) {
    allocations = 0;
    bytes = 0;
    counting = 1;
}

void vq_allocation_counter_stop(void) { counting = 0; }

uint64_t vq_allocation_counter_allocations(void) { return allocations; }

uint64_t vq_allocation_counter_bytes(void) { return bytes; }

#else

int vq_allocation_counter_available(void) { return 0; }
void vq_allocation_counter_start(void) {}
void vq_allocation_counter_stop(void) {}
uint64_t vq_allocation_counter_allocations(void) { return 0; }
uint64_t vq_allocation_counter_bytes(void) { return 0; }

#endif
