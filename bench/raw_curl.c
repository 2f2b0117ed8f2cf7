/* The peer for the transport benchmarks: N sequential GETs of one URL with plain libcurl,
 * reusing a single easy handle (so the connection is kept alive), doing nothing with the body
 * but counting it. Prints the elapsed wall time in seconds.
 * Usage: raw_curl URL COUNT [--encoding] [HEADER...]
 * --encoding asks libcurl for Accept-Encoding (every encoding it supports) and the HEADER lines are
 * sent as given, so the loop can put on the wire exactly the request the client sends. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <curl/curl.h>

static size_t sink(char *p, size_t size, size_t n, void *ud) {
  (void)p;
  *(size_t *)ud += size * n;
  return size * n;
}

int main(int argc, char **argv) {
  CURL *e;
  struct curl_slist *headers = NULL;
  long i, count, status = 0;
  int arg;
  size_t bytes = 0;
  struct timespec a, b;
  if (argc < 3 || (count = strtol(argv[2], NULL, 10)) <= 0) {
    fprintf(stderr, "usage: %s URL COUNT [--encoding] [HEADER...]\n", argv[0]);
    return 2;
  }
  curl_global_init(CURL_GLOBAL_DEFAULT);
  e = curl_easy_init();
  curl_easy_setopt(e, CURLOPT_URL, argv[1]);
  curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, sink);
  curl_easy_setopt(e, CURLOPT_WRITEDATA, &bytes);
  curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
  for (arg = 3; arg < argc; arg++) {
    if (strcmp(argv[arg], "--encoding") == 0) {
      curl_easy_setopt(e, CURLOPT_ACCEPT_ENCODING, "");
    } else {
      struct curl_slist *more = curl_slist_append(headers, argv[arg]);
      if (!more) return 1;
      headers = more;
    }
  }
  if (headers) curl_easy_setopt(e, CURLOPT_HTTPHEADER, headers);
  clock_gettime(CLOCK_MONOTONIC, &a);
  for (i = 0; i < count; i++) {
    CURLcode rc = curl_easy_perform(e);
    curl_easy_getinfo(e, CURLINFO_RESPONSE_CODE, &status);
    if (rc != CURLE_OK || status != 200) {
      fprintf(stderr, "raw_curl: request %ld failed: %s (HTTP %ld)\n", i, curl_easy_strerror(rc), status);
      return 1;
    }
  }
  clock_gettime(CLOCK_MONOTONIC, &b);
  printf("%.6f\n", (double)(b.tv_sec - a.tv_sec) + (double)(b.tv_nsec - a.tv_nsec) / 1e9);
  curl_easy_cleanup(e);
  curl_slist_free_all(headers);
  curl_global_cleanup();
  return bytes > 0 ? 0 : 1;
}
