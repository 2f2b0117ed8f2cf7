/* freescan: an LD_PRELOAD library for spec/secrets_spec.lua. It watches the memory that the C
 * core (zuora/core.so) gives back to the allocator — free(), and realloc() when it moves a block —
 * and counts the blocks that still hold the marker string named by $ZUORA_FREESCAN_MARKER: a
 * secret the core did not wipe before letting go of it. Memory released by Lua itself, libcurl or
 * OpenSSL is not judged (only calls made from core.so are). At exit it prints
 * "freescan: N unwiped" on stderr, plus one line per hit with the caller's offset in core.so
 * (addr2line -f -e build/lua5.4/zuora/core.so OFFSET names it).
 *
 * Fresh blocks are zeroed so that stale bytes of an earlier owner are not blamed on the next one.
 *
 * Built by spec/secrets_spec.lua (cc -shared -fPIC ... -ldl); glibc only. Not usable under ASan,
 * which replaces the allocator itself. */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <malloc.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

extern void *__libc_malloc(size_t n);
extern void *__libc_calloc(size_t m, size_t n);
extern void *__libc_realloc(void *p, size_t n);
extern void __libc_free(void *p);

static const char *marker;
static size_t marker_len;
static int ready;
static unsigned long hits;

static int armed(void) {
  if (!ready) {
    marker = getenv("ZUORA_FREESCAN_MARKER");
    marker_len = marker ? strlen(marker) : 0;
    ready = 1;
  }
  return marker_len > 0;
}

static int holds_marker(void *p) {
  return memmem(p, malloc_usable_size(p), marker, marker_len) != NULL;
}

/* Reports a hit if `caller` is inside zuora/core.so. */
static void judge(void *caller) {
  Dl_info info;
  char line[256];
  int n;
  if (!dladdr(caller, &info) || !info.dli_fname || !strstr(info.dli_fname, "zuora/core.so")) return;
  hits++;
  n = snprintf(line, sizeof line, "freescan: unwiped secret released from core.so+0x%lx\n",
               (unsigned long)((char *)caller - (char *)info.dli_fbase));
  if (n > 0) (void)!write(2, line, (size_t)n);
}

/* Fresh memory is zeroed, so a marker found in a block was written during that block's life,
 * not left over from an earlier owner (malloc does not clear what the previous user left). */
void *malloc(size_t n) {
  void *p = __libc_malloc(n);
  if (p) memset(p, 0, malloc_usable_size(p));
  return p;
}

void *calloc(size_t m, size_t n) {
  void *p = __libc_calloc(m, n);
  if (p) memset(p, 0, malloc_usable_size(p));
  return p;
}

void free(void *p) {
  if (p && armed() && holds_marker(p)) judge(__builtin_return_address(0));
  __libc_free(p);
}

void *realloc(void *p, size_t n) {
  int held = p && armed() && holds_marker(p);
  size_t old = p ? malloc_usable_size(p) : 0, now;
  void *caller = __builtin_return_address(0);
  void *q = __libc_realloc(p, n);
  /* a moved block (or realloc(p, 0)) went back to the allocator with its old contents */
  if (held && q != p && (q != NULL || n == 0)) judge(caller);
  if (q) {
    now = malloc_usable_size(q);
    if (now > old) memset((char *)q + old, 0, now - old);
  }
  return q;
}

__attribute__((destructor)) static void report(void) {
  char line[64];
  int n;
  if (!armed()) return;
  n = snprintf(line, sizeof line, "freescan: %lu unwiped\n", hits);
  if (n > 0) (void)!write(2, line, (size_t)n);
}
