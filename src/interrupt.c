/* core.interrupt: Ctrl-C for interactive programs (the zuora REPL and CLI).
 *
 * The stand-alone interpreter's SIGINT handler asks the main Lua thread to raise "interrupted!"
 * at its next instruction, then falls back to the default action, so a second Ctrl-C kills the
 * process, and a wait inside C (a blocking transfer, readline) sees nothing until it returns.
 * catch() installs a handler that stays: each Ctrl-C sets a flag and asks for the same error
 * (lua.c's way, so a Lua loop is still interruptible). The transport's waits (perform, poll) and
 * wait_readable() see the flag at once: epoll_wait and poll are never restarted after a signal.
 * Only a second Ctrl-C that arrives while the first is still unseen (something stuck in C that
 * checks nothing) takes the default action, the way out of a hung process. */
#include "core.h"
#include "interrupt.h"

#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <string.h>

static volatile sig_atomic_t pending = 0;
static volatile sig_atomic_t deferred = 0; /* defer(true): flag only, no Lua error (see l_defer) */
static lua_State *main_thread = NULL;

static void on_hook(lua_State *L, lua_Debug *ar) {
  (void)ar;
  lua_sethook(L, NULL, 0, 0);
  pending = 0;
  luaL_error(L, "interrupted!");
}

static void on_sigint(int sig) {
  if (pending) {
    signal(sig, SIG_DFL);
    raise(sig);
    return;
  }
  pending = 1;
  /* lua_sethook may be called from a signal handler (lua.c does the same). */
  if (main_thread && !deferred) lua_sethook(main_thread, on_hook, LUA_MASKCALL | LUA_MASKRET | LUA_MASKCOUNT, 1);
}

int zz_interrupt_pending(void) { return pending != 0; }

int zz_interrupt_take(void) {
  if (!pending) return 0;
  pending = 0;
  if (main_thread && lua_gethook(main_thread) == on_hook) lua_sethook(main_thread, NULL, 0, 0);
  return 1;
}

/* catch(): installs the handler (idempotent). SA_RESTART keeps plain reads (io.read) going; the
 * waits that matter are never restarted anyway. */
static int l_catch(lua_State *L) {
  struct sigaction sa;
#ifdef LUA_RIDX_MAINTHREAD
  lua_rawgeti(L, LUA_REGISTRYINDEX, LUA_RIDX_MAINTHREAD);
  main_thread = lua_tothread(L, -1);
  lua_pop(L, 1);
#else
  main_thread = L; /* LuaJIT: called from the main thread */
#endif
  memset(&sa, 0, sizeof sa);
  sa.sa_handler = on_sigint;
  sa.sa_flags = SA_RESTART;
  sigemptyset(&sa.sa_mask);
  if (sigaction(SIGINT, &sa, NULL) != 0) {
    lua_pushnil(L);
    lua_pushstring(L, strerror(errno));
    return 2;
  }
  pending = 0;
  lua_pushboolean(L, 1);
  return 1;
}

/* defer(on) -> the previous setting. While on, a Ctrl-C only sets the flag (for take() and
 * wait_readable()): no error is raised in Lua code, which matters when that code runs inside a C
 * library's callback (readline's line and completion handlers), where an error would jump over
 * the library's own frames. Turning it off with a Ctrl-C still pending raises it at once. */
static int l_defer(lua_State *L) {
  int was = deferred != 0;
  deferred = lua_toboolean(L, 1);
  if (!deferred && pending && main_thread)
    lua_sethook(main_thread, on_hook, LUA_MASKCALL | LUA_MASKRET | LUA_MASKCOUNT, 1);
  lua_pushboolean(L, was);
  return 1;
}

/* shielded(fn, ...) -> fn(...)'s results, with SIGINT blocked while fn runs: a Ctrl-C then waits
 * in the kernel and reaches our handler once fn returns, never a handler that a C library
 * installs for the duration of fn (readline's, inside rl_callback_read_char, whose own SIGINT
 * cleanup does not survive being followed by ours). Errors of fn are raised again. */
static int l_shielded(lua_State *L) {
  sigset_t block, old;
  int status, n;
  luaL_checkany(L, 1);
  sigemptyset(&block);
  sigaddset(&block, SIGINT);
  sigprocmask(SIG_BLOCK, &block, &old);
  n = lua_gettop(L) - 1;
  status = lua_pcall(L, n, LUA_MULTRET, 0);
  sigprocmask(SIG_SETMASK, &old, NULL);
  if (status != 0) return lua_error(L);
  return lua_gettop(L);
}

/* take() -> true if a Ctrl-C came and was not yet seen (and forgets it, with its pending error). */
static int l_take(lua_State *L) {
  lua_pushboolean(L, zz_interrupt_take());
  return 1;
}

/* wait_readable(fd [, timeout]) -> true when fd has input (or its end) | false, "interrupted" |
 * false, "timeout". Waits forever without a timeout. A Ctrl-C is taken, not raised. */
static int l_wait_readable(lua_State *L) {
  int fd = (int)luaL_checkinteger(L, 1);
  double timeout = luaL_optnumber(L, 2, -1);
  int ms = timeout < 0 ? -1 : (int)(timeout * 1000.0 + 0.5);
  struct pollfd p;
  for (;;) {
    int n;
    if (zz_interrupt_take()) {
      lua_pushboolean(L, 0);
      lua_pushliteral(L, "interrupted");
      return 2;
    }
    p.fd = fd;
    p.events = POLLIN;
    p.revents = 0;
    n = poll(&p, 1, ms);
    if (n > 0 && !zz_interrupt_pending()) {
      lua_pushboolean(L, 1);
      return 1;
    }
    if (n > 0) continue; /* input and a Ctrl-C together: the terminal flushed the input; report it */
    if (n == 0) {
      lua_pushboolean(L, 0);
      lua_pushliteral(L, "timeout");
      return 2;
    }
    if (errno != EINTR) {
      lua_pushboolean(L, 0);
      lua_pushstring(L, strerror(errno));
      return 2;
    }
  }
}

int zz_open_interrupt(lua_State *L) {
  static const luaL_Reg fns[] = {
    {"catch", l_catch},
    {"defer", l_defer},
    {"shielded", l_shielded},
    {"take", l_take},
    {"wait_readable", l_wait_readable},
    {NULL, NULL},
  };
  lua_newtable(L);
  luaL_setfuncs(L, fns, 0);
  return 1;
}
