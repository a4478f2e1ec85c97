/* An LD_PRELOAD malloc interposer that counts, for Tests/Outside/allocations.py.
 *
 * Every allocation entry point the Swift runtime, Foundation, NIO and OpenSSL reach (malloc, calloc,
 * realloc, free, posix_memalign, aligned_alloc, memalign, valloc, pvalloc) adds to atomic counters
 * and then calls glibc's own implementation through its __libc_* names (no dlsym, which itself
 * allocates). The counters live in a MAP_SHARED mapping of the file named by MALLOC_COUNTER_FILE,
 * so another process reads them at any moment by reading that file (four little-endian uint64:
 * allocations, frees, bytes asked for, reallocs): no signal handler, no thread, no change to the
 * program under test. Allocations made before the constructor ran (the dynamic loader's, the C
 * library's start-up) go to a private copy and are not in the file.
 *
 * Built by the test at run time: cc -O2 -shared -fPIC -o libmalloc_counter.so malloc_counter.c
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <unistd.h>

extern void *__libc_malloc(size_t size);
extern void *__libc_calloc(size_t count, size_t size);
extern void *__libc_realloc(void *pointer, size_t size);
extern void __libc_free(void *pointer);
extern void *__libc_memalign(size_t alignment, size_t size);

struct counters {
    _Atomic uint64_t allocations; /* malloc, calloc, realloc, and the aligned forms */
    _Atomic uint64_t frees;       /* free of a non-NULL pointer (and realloc to 0) */
    _Atomic uint64_t bytes;       /* bytes asked for by those allocations */
    _Atomic uint64_t reallocs;    /* of which realloc */
};

static struct counters private_counters;
static struct counters *counters = &private_counters;

__attribute__((constructor)) static void malloc_counter_setup(void) {
    const char *path = getenv("MALLOC_COUNTER_FILE");
    if (path == NULL) return;
    int fd = open(path, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0) return;
    if (ftruncate(fd, 4096) == 0) { /* zero-filled */
        void *shared = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
        if (shared != MAP_FAILED) counters = shared;
    }
    close(fd);
}

static inline void counted(size_t size) {
    atomic_fetch_add_explicit(&counters->allocations, 1, memory_order_relaxed);
    atomic_fetch_add_explicit(&counters->bytes, size, memory_order_relaxed);
}

void *malloc(size_t size) {
    counted(size);
    return __libc_malloc(size);
}

void *calloc(size_t count, size_t size) {
    counted(count * size);
    return __libc_calloc(count, size);
}

void *realloc(void *pointer, size_t size) {
    counted(size);
    atomic_fetch_add_explicit(&counters->reallocs, 1, memory_order_relaxed);
    if (pointer != NULL && size == 0) atomic_fetch_add_explicit(&counters->frees, 1, memory_order_relaxed);
    return __libc_realloc(pointer, size);
}

void free(void *pointer) {
    if (pointer != NULL) atomic_fetch_add_explicit(&counters->frees, 1, memory_order_relaxed);
    __libc_free(pointer);
}

int posix_memalign(void **result, size_t alignment, size_t size) {
    if (alignment % sizeof(void *) != 0 || (alignment & (alignment - 1)) != 0) return EINVAL;
    counted(size);
    void *pointer = __libc_memalign(alignment, size);
    if (pointer == NULL && size != 0) return ENOMEM;
    *result = pointer;
    return 0;
}

void *aligned_alloc(size_t alignment, size_t size) {
    counted(size);
    return __libc_memalign(alignment, size);
}

void *memalign(size_t alignment, size_t size) {
    counted(size);
    return __libc_memalign(alignment, size);
}

void *valloc(size_t size) {
    counted(size);
    return __libc_memalign((size_t)sysconf(_SC_PAGESIZE), size);
}

void *pvalloc(size_t size) {
    size_t page = (size_t)sysconf(_SC_PAGESIZE);
    counted(size);
    return __libc_memalign(page, (size + page - 1) & ~(page - 1));
}
