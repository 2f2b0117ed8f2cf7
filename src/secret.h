/* Secrets in C memory: copied in once, wiped before the memory goes back to the allocator. */
#ifndef ZUORA_SECRET_H
#define ZUORA_SECRET_H

#include <stdlib.h>
#include <string.h>
#include <openssl/crypto.h>

/* A NUL-terminated heap copy of n bytes, or NULL when out of memory. */
static inline char *zz_secret_dup(const char *s, size_t n) {
  char *p = (char *)malloc(n + 1);
  if (!p) return NULL;
  memcpy(p, s, n);
  p[n] = '\0';
  return p;
}

/* Wipes and frees a string from zz_secret_dup (NULL is fine) and clears the pointer. */
static inline void zz_secret_free(char **p) {
  if (*p) {
    OPENSSL_cleanse(*p, strlen(*p));
    free(*p);
    *p = NULL;
  }
}

#endif
