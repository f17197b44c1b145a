/* Counts the live bytes of every malloc-family allocation and their peak, for a
   process started with LD_PRELOAD=<this, compiled>: the CPU equivalent of
   torch.cuda.max_memory_allocated. Resident memory cannot show it: glibc keeps freed
   heap pages, so RSS is a high-water mark of the allocator, not of what is live.
   ms_memory.py compiles it with the system C compiler; read it through ctypes. */
#include <errno.h>
#include <malloc.h>
#include <stddef.h>

extern void *__libc_malloc(size_t);
extern void __libc_free(void *);
extern void *__libc_calloc(size_t, size_t);
extern void *__libc_realloc(void *, size_t);
extern void *__libc_memalign(size_t, size_t);

static long live, peak;

static void count(long bytes) {
  long now = __atomic_add_fetch(&live, bytes, __ATOMIC_RELAXED);
  long seen = __atomic_load_n(&peak, __ATOMIC_RELAXED);
  while (now > seen && !__atomic_compare_exchange_n(&peak, &seen, now, 1, __ATOMIC_RELAXED, __ATOMIC_RELAXED)) {
  }
}

static void *counted(void *p) {
  if (p) count((long)malloc_usable_size(p));
  return p;
}

void *malloc(size_t n) { return counted(__libc_malloc(n)); }
void *calloc(size_t n, size_t size) { return counted(__libc_calloc(n, size)); }
void *memalign(size_t align, size_t n) { return counted(__libc_memalign(align, n)); }
void *aligned_alloc(size_t align, size_t n) { return memalign(align, n); }
void *valloc(size_t n) { return memalign(4096, n); }

int posix_memalign(void **out, size_t align, size_t n) {
  void *p = memalign(align, n);
  if (!p) return ENOMEM;
  *out = p;
  return 0;
}

void free(void *p) {
  if (!p) return;
  count(-(long)malloc_usable_size(p));
  __libc_free(p);
}

void *realloc(void *old, size_t n) {
  long before = old ? (long)malloc_usable_size(old) : 0;
  void *p = __libc_realloc(old, n);
  if (p) count((long)malloc_usable_size(p) - before);
  else if (n == 0) count(-before);
  return p;
}

long heap_counter_live(void) { return __atomic_load_n(&live, __ATOMIC_RELAXED); }
long heap_counter_peak(void) { return __atomic_load_n(&peak, __ATOMIC_RELAXED); }
void heap_counter_reset_peak(void) { __atomic_store_n(&peak, heap_counter_live(), __ATOMIC_RELAXED); }
