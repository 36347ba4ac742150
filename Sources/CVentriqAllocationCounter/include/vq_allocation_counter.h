// Process-wide heap allocation counter (glibc malloc interposition).
//
// Linking this target into an executable (the `ventriq` CLI, a test binary) replaces malloc,
// calloc, realloc, free and the aligned variants with thin wrappers that forward to glibc's
// internal entry points (__libc_malloc, ...) and, while counting is on, add one to a counter per
// allocation call. The memory itself is glibc's, so pointers from before the wrappers were active,
// or from code that calls __libc_* directly, stay valid. No stable API: used by tests and bench.
#ifndef VQ_ALLOCATION_COUNTER_H
#define VQ_ALLOCATION_COUNTER_H

#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/// 1 when the wrappers are active in this process (glibc on Linux), 0 when counting is unavailable.
int vq_allocation_counter_available(void);

/// Starts counting from zero, on the calling thread only (other threads are not counted).
void vq_allocation_counter_start(void);

/// Stops counting on the calling thread; its totals stay readable.
void vq_allocation_counter_stop(void);

/// Allocation calls (malloc, calloc, realloc, posix_memalign, aligned_alloc, memalign, valloc)
/// counted on the calling thread since its last start.
uint64_t vq_allocation_counter_allocations(void);

/// Bytes requested by those calls.
uint64_t vq_allocation_counter_bytes(void);

#ifdef __cplusplus
}
#endif

#endif
