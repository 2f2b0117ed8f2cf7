/* core.inflate: streaming gzip / zlib / raw-deflate decompression through the system zlib, for
 * Data Query result files read row by row (see docs/bulk.md). The caller pushes compressed bytes
 * and pulls decompressed bytes in chunks of its own size, so memory never grows with the data,
 * however far it expands. Concatenated gzip members are one stream, as gzip(1) reads them; zero
 * padding after the last member is ignored; any other trailing byte is an error. */
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "class.h"
#include "core.h"
#include "inflate.h"

#define ZZ_INFLATE_MT "zuora.inflate"
#define READ_DEFAULT 65536
#define READ_MAX (16 * 1024 * 1024)

/* --- The decompressor (no Lua) ------------------------------------------------------------- */

static int fail(zz_inflate *z, const char *msg) {
  if (!z->failed) {
    z->failed = 1;
    snprintf(z->err, sizeof z->err, "%s", msg);
  }
  return ZZ_INFLATE_ERR;
}

int zz_inflate_init(zz_inflate *z, int format) {
  int bits;
  memset(z, 0, sizeof *z);
  z->format = format;
  switch (format) {
  case ZZ_INFLATE_GZIP: bits = 15 + 16; break;
  case ZZ_INFLATE_ZLIB: bits = 15; break;
  case ZZ_INFLATE_RAW: bits = -15; break;
  default: z->format = ZZ_INFLATE_AUTO; bits = 15 + 32; break;
  }
  if (inflateInit2(&z->zs, bits) != Z_OK) {
    fail(z, "out of memory (inflateInit2)");
    return -1;
  }
  z->ready = 1;
  return 0;
}

int zz_inflate_push(zz_inflate *z, const void *data, size_t n) {
  size_t pending;
  if (z->failed) return -1;
  if (n == 0) return 0;
  pending = z->len - z->pos;
  if (z->pos > 0) { /* keep the pending bytes at the front so the buffer does not creep */
    if (pending) memmove(z->in, z->in + z->pos, pending);
    z->pos = 0;
    z->len = pending;
  }
  if (n > (size_t)-1 - z->len) { fail(z, "compressed input too large"); return -1; }
  if (z->len + n > z->cap) {
    size_t cap = z->cap ? z->cap : 4096;
    unsigned char *p;
    while (cap < z->len + n) cap = cap > (size_t)-1 / 2 ? z->len + n : cap * 2;
    p = (unsigned char *)realloc(z->in, cap);
    if (!p) { fail(z, "out of memory"); return -1; }
    z->in = p;
    z->cap = cap;
  }
  memcpy(z->in + z->len, data, n);
  z->len += n;
  z->total_in += n;
  return 0;
}

/* After a gzip member ended: decides what the pending input holds. Returns 1 when a new member
 * starts (the stream is reset), 0 when more input is needed to tell, or ERR. Zero bytes are
 * padding and are skipped. */
static int next_member(zz_inflate *z) {
  while (z->pos < z->len && z->in[z->pos] == 0) z->pos++;
  if (z->pos == z->len) return 0;
  if (z->in[z->pos] != 0x1f) return fail(z, "trailing garbage after compressed data");
  if (z->len - z->pos < 2) return 0;
  if (z->in[z->pos + 1] != 0x8b) return fail(z, "trailing garbage after compressed data");
  if (inflateReset(&z->zs) != Z_OK) return fail(z, "inflateReset failed");
  z->ended = 0;
  return 1;
}

int zz_inflate_read(zz_inflate *z, unsigned char *out, size_t cap, size_t *produced) {
  size_t got = 0;
  *produced = 0;
  if (z->failed) return ZZ_INFLATE_ERR;
  while (got < cap) {
    size_t avail, give_in, give_out, used, made;
    int rc;
    if (z->ended) {
      if (z->format == ZZ_INFLATE_ZLIB || z->format == ZZ_INFLATE_RAW) {
        *produced = got;
        return got ? ZZ_INFLATE_DATA : ZZ_INFLATE_END;
      }
      rc = next_member(z);
      if (rc == ZZ_INFLATE_ERR) break;
      if (rc == 0) break;
    }
    avail = z->len - z->pos;
    give_in = avail > UINT_MAX ? UINT_MAX : avail;
    give_out = cap - got > UINT_MAX ? UINT_MAX : cap - got;
    z->zs.next_in = z->in ? z->in + z->pos : NULL;
    z->zs.avail_in = (uInt)give_in;
    z->zs.next_out = out + got;
    z->zs.avail_out = (uInt)give_out;
    rc = inflate(&z->zs, Z_NO_FLUSH);
    used = give_in - z->zs.avail_in;
    made = give_out - z->zs.avail_out;
    z->pos += used;
    got += made;
    z->total_out += made;
    if (z->pos == z->len) z->pos = z->len = 0;
    if (rc == Z_STREAM_END) {
      z->ended = 1;
      z->members++;
      continue;
    }
    if (rc == Z_OK) {
      if (used == 0 && made == 0) break;
      continue;
    }
    if (rc == Z_BUF_ERROR) break; /* no progress possible without more input */
    if (rc == Z_NEED_DICT) {
      fail(z, "compressed data needs a preset dictionary");
    } else if (rc == Z_MEM_ERROR) {
      fail(z, "out of memory");
    } else if (rc == Z_DATA_ERROR) {
      char msg[128];
      snprintf(msg, sizeof msg, "invalid compressed data: %s", z->zs.msg ? z->zs.msg : "bad data");
      fail(z, msg);
    } else {
      fail(z, "inflate failed");
    }
    break;
  }
  /* Output made before a failure is handed over first; the failure comes with the next call. */
  *produced = got;
  if (got) return ZZ_INFLATE_DATA;
  return z->failed ? ZZ_INFLATE_ERR : ZZ_INFLATE_MORE;
}

int zz_inflate_done(const zz_inflate *z) {
  if (z->failed || !z->ended) return 0;
  if (z->format == ZZ_INFLATE_ZLIB || z->format == ZZ_INFLATE_RAW) return 1;
  for (size_t i = z->pos; i < z->len; i++) {
    if (z->in[i] != 0) return 0;
  }
  return 1;
}

int zz_inflate_finish(zz_inflate *z) {
  if (z->failed) return -1;
  if (z->total_in == 0) {
    fail(z, "no compressed data");
    return -1;
  }
  if (!zz_inflate_done(z)) {
    fail(z, z->ended ? "truncated compressed data (an incomplete gzip member follows)"
                     : "truncated compressed data (the stream ends early)");
    return -1;
  }
  return 0;
}

void zz_inflate_free(zz_inflate *z) {
  if (z->ready) inflateEnd(&z->zs);
  z->ready = 0;
  free(z->in);
  z->in = NULL;
  z->len = z->pos = z->cap = 0;
}

/* --- Lua side ------------------------------------------------------------------------------- */

typedef struct {
  zz_inflate z;
  unsigned char *out; /* scratch for read(), reused */
  size_t out_cap;
  int closed;
} lz_inflate;

static const char *const FORMATS[] = {"gzip", "zlib", "raw", "auto", NULL};

static lz_inflate *check_open(lua_State *L) {
  lz_inflate *u = (lz_inflate *)luaL_checkudata(L, 1, ZZ_INFLATE_MT);
  if (u->closed) luaL_error(L, "inflate object is closed");
  return u;
}

static int l_close(lua_State *L) {
  lz_inflate *u = (lz_inflate *)luaL_checkudata(L, 1, ZZ_INFLATE_MT);
  if (!u->closed) {
    zz_inflate_free(&u->z);
    free(u->out);
    u->out = NULL;
    u->out_cap = 0;
    u->closed = 1;
  }
  return 0;
}

/* inflate.new([format]) -> object; format "gzip" (default), "zlib", "raw" or "auto" (gzip or zlib). */
static int l_new(lua_State *L) {
  int fmt = luaL_checkoption(L, 1, "gzip", FORMATS);
  lz_inflate *u = (lz_inflate *)zz_newudata(L, sizeof *u);
  memset(u, 0, sizeof *u);
  u->closed = 1; /* until initialised, so __gc frees only what exists */
  zz_setmetatable(L, ZZ_INFLATE_MT);
  if (zz_inflate_init(&u->z, fmt) != 0) {
    zz_inflate_free(&u->z);
    return luaL_error(L, "inflate.new: %s", u->z.err);
  }
  u->closed = 0;
  return 1;
}

/* z:write(s) -> true | nil, err */
static int l_write(lua_State *L) {
  lz_inflate *u = check_open(L);
  size_t n;
  const char *s = luaL_checklstring(L, 2, &n);
  if (zz_inflate_push(&u->z, s, n) != 0) {
    lua_pushnil(L);
    lua_pushstring(L, u->z.err);
    return 2;
  }
  lua_pushboolean(L, 1);
  return 1;
}

/* z:read([max]) -> bytes (possibly "": nothing more from the input so far) | nil, err */
static int l_read(lua_State *L) {
  lz_inflate *u = check_open(L);
  lua_Number m = luaL_optnumber(L, 2, READ_DEFAULT);
  size_t cap, got = 0;
  int rc;
  if (!(m >= 1 && m <= READ_MAX)) return luaL_argerror(L, 2, "expected a size between 1 and 16 MiB");
  cap = (size_t)m;
  if (u->out_cap < cap) {
    unsigned char *p = (unsigned char *)realloc(u->out, cap);
    if (!p) {
      lua_pushnil(L);
      lua_pushliteral(L, "out of memory");
      return 2;
    }
    u->out = p;
    u->out_cap = cap;
  }
  rc = zz_inflate_read(&u->z, u->out, cap, &got);
  if (rc == ZZ_INFLATE_ERR) {
    lua_pushnil(L);
    lua_pushstring(L, u->z.err);
    return 2;
  }
  lua_pushlstring(L, (const char *)u->out, got);
  return 1;
}

/* z:finish() -> true | nil, err: no more input comes; was it complete? */
static int l_finish(lua_State *L) {
  lz_inflate *u = check_open(L);
  if (zz_inflate_finish(&u->z) != 0) {
    lua_pushnil(L);
    lua_pushstring(L, u->z.err);
    return 2;
  }
  lua_pushboolean(L, 1);
  return 1;
}

/* z:done() -> true when a whole stream has been read (and nothing but padding is pending). */
static int l_done(lua_State *L) {
  lz_inflate *u = check_open(L);
  lua_pushboolean(L, zz_inflate_done(&u->z));
  return 1;
}

/* z:totals() -> compressed bytes pushed, decompressed bytes produced. */
static int l_totals(lua_State *L) {
  lz_inflate *u = check_open(L);
  lua_pushinteger(L, (lua_Integer)u->z.total_in);
  lua_pushinteger(L, (lua_Integer)u->z.total_out);
  return 2;
}

static int l_tostring(lua_State *L) {
  lz_inflate *u = (lz_inflate *)luaL_checkudata(L, 1, ZZ_INFLATE_MT);
  if (u->closed)
    lua_pushliteral(L, "zuora.inflate<closed>");
  else
    lua_pushfstring(L, "zuora.inflate<%s%s>", FORMATS[u->z.format],
                    u->z.failed ? ", failed" : (zz_inflate_done(&u->z) ? ", done" : ""));
  return 1;
}

int zz_open_inflate(lua_State *L) {
  static const luaL_Reg methods[] = {
    {"write", l_write},
    {"read", l_read},
    {"finish", l_finish},
    {"done", l_done},
    {"totals", l_totals},
    {"close", l_close},
    {NULL, NULL},
  };
  zz_newclass(L, ZZ_INFLATE_MT, methods, NULL, l_close, l_tostring);
  lua_newtable(L);
  lua_pushcfunction(L, l_new);
  lua_setfield(L, -2, "new");
  return 1;
}
