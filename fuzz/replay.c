/* A stand-in for libFuzzer's main when clang is not installed: `make fuzz-regress` links a fuzz
 * target with this file (gcc, ASan and UBSan) and runs every file of the directories or files
 * given once, like `target -runs=0 dir`. Arguments starting with '-' are ignored. A broken
 * property aborts inside the target, so the exit status tells the result. */
#include <dirent.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

int LLVMFuzzerInitialize(int *argc, char ***argv) __attribute__((weak));
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int run_file(const char *path) {
  FILE *f = fopen(path, "rb");
  unsigned char *buf = NULL;
  size_t n = 0, cap = 0, got;
  if (!f) {
    perror(path);
    return -1;
  }
  do {
    if (cap - n < 65536) {
      unsigned char *p = (unsigned char *)realloc(buf, cap = cap * 2 + 65536);
      if (!p) abort();
      buf = p;
    }
    got = fread(buf + n, 1, cap - n, f);
    n += got;
  } while (got > 0);
  fclose(f);
  LLVMFuzzerTestOneInput(buf, n);
  free(buf);
  return 0;
}

static int run_path(const char *path, int *count) {
  struct stat st;
  DIR *d;
  struct dirent *e;
  if (stat(path, &st) != 0) {
    perror(path);
    return -1;
  }
  if (!S_ISDIR(st.st_mode)) {
    (*count)++;
    return run_file(path);
  }
  if (!(d = opendir(path))) {
    perror(path);
    return -1;
  }
  while ((e = readdir(d)) != NULL) {
    char full[4096];
    if (e->d_name[0] == '.') continue;
    snprintf(full, sizeof full, "%s/%s", path, e->d_name);
    if (stat(full, &st) == 0 && S_ISREG(st.st_mode)) {
      (*count)++;
      if (run_file(full) != 0) {
        closedir(d);
        return -1;
      }
    }
  }
  closedir(d);
  return 0;
}

int main(int argc, char **argv) {
  int i, count = 0;
  if (LLVMFuzzerInitialize) LLVMFuzzerInitialize(&argc, &argv);
  for (i = 1; i < argc; i++) {
    if (argv[i][0] == '-') continue;
    if (run_path(argv[i], &count) != 0) return 1;
  }
  printf("%s: replayed %d inputs\n", argv[0], count);
  return 0;
}
