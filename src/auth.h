/* core.auth's internal API: what the libcurl transport (http.c) needs to add credentials to a
 * request and to run a token request without the secret or the token becoming a Lua string. */
#ifndef ZUORA_AUTH_H
#define ZUORA_AUTH_H

#include <curl/curl.h>

#include "buf.h"
#include "compat.h"

#define ZZ_AUTH_MT "zuora.auth"

typedef struct zz_auth zz_auth;

/* The auth object at idx; raises a type error for anything else. */
zz_auth *zz_auth_check(lua_State *L, int idx);

/* Appends the credential header lines to *list (curl copies them; free the list with
 * zz_slist_wipe). On success returns 0 and sets *gen to the token generation used; when no
 * usable credential exists returns -1 and sets *err to a static message. */
int zz_auth_add_headers(zz_auth *a, double now, struct curl_slist **list, long long *gen, const char **err);

/* Whether this auth object can build a token request body (OAuth). */
int zz_auth_has_token_body(const zz_auth *a);

/* Writes the form body of the token request into b; returns 0, or -1 when out of memory. The
 * caller must release b with zz_buf_wipe. */
int zz_auth_token_body(zz_auth *a, zz_buf *b);

/* Feeds a token reply (status and body) into the state machine. Returns 0 on success, or -1 with
 * a message in err (never containing a secret or token). */
int zz_auth_accept_reply(zz_auth *a, long status, const char *body, size_t n, double now, char *err, size_t errlen);

/* The token request failed without a reply (transport error, cancel): back to need_token. */
void zz_auth_fail(zz_auth *a);

/* Wipes every string of a curl header list, then frees it (the list may hold credentials). */
void zz_slist_wipe(struct curl_slist *list);

#endif
