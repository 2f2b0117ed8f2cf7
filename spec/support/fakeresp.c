/* A hostile "Redis" for the specs (spec/governor_hostile_spec.lua): listens on a loopback port and
 * answers every read from a client with the same canned RESP reply, whatever was asked, so the
 * client meets replies of the wrong shape (an integer where a script returns an array, an array
 * where a SHA is expected). Connections are served one at a time.
 *
 *   fakeresp REPLY [--exit-with PID]
 *
 * Prints "port N", "pid P" and "ready" on stdout; exits when PID does (checked every 200 ms). */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/types.h>
#include <unistd.h>

static void die(const char *msg) { perror(msg); exit(1); }

static int parent_gone(long pid) { return pid > 0 && kill((pid_t)pid, 0) != 0 && errno == ESRCH; }

int main(int argc, char **argv) {
  const char *reply = NULL;
  long parent = 0;
  for (int i = 1; i < argc; i++) {
    if (strcmp(argv[i], "--exit-with") == 0 && i + 1 < argc) parent = strtol(argv[++i], NULL, 10);
    else reply = argv[i];
  }
  if (!reply) { fprintf(stderr, "usage: fakeresp REPLY [--exit-with PID]\n"); return 2; }
  signal(SIGPIPE, SIG_IGN);
  int ls = socket(AF_INET, SOCK_STREAM, 0);
  if (ls < 0) die("socket");
  int one = 1;
  setsockopt(ls, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  struct sockaddr_in a;
  memset(&a, 0, sizeof a);
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (bind(ls, (struct sockaddr *)&a, sizeof a) != 0) die("bind");
  if (listen(ls, 16) != 0) die("listen");
  socklen_t len = sizeof a;
  if (getsockname(ls, (struct sockaddr *)&a, &len) != 0) die("getsockname");
  printf("port %d\npid %ld\nready\n", ntohs(a.sin_port), (long)getpid());
  fflush(stdout);
  size_t rlen = strlen(reply);
  char buf[65536];
  for (;;) {
    struct pollfd p = { ls, POLLIN, 0 };
    if (parent_gone(parent)) return 0;
    if (poll(&p, 1, 200) <= 0) continue;
    int c = accept(ls, NULL, NULL);
    if (c < 0) continue;
    for (;;) {
      struct pollfd q = { c, POLLIN, 0 };
      if (parent_gone(parent)) return 0;
      int r = poll(&q, 1, 200);
      if (r == 0) continue;
      ssize_t n = r > 0 ? read(c, buf, sizeof buf) : -1;
      if (n <= 0) break;
      if (write(c, reply, rlen) != (ssize_t)rlen) break;
    }
    close(c);
  }
}
