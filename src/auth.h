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

/* Whether this auth object trades credentials for a token (oauth, revenue), so a request can be
 * its token request (`token_for`). */
int zz_auth_has_token_body(const zz_auth *a);

/* Appends the credential header lines of the token request itself (revenue: HTTP basic; oauth:
 * none, its secret travels in the body). Returns 0, or -1 when out of memory. */
int zz_auth_token_headers(zz_auth *a, struct curl_slist **list);

/* Writes the body of the token request into b (oauth: the form; revenue: nothing); returns 0, or
 * -1 when out of memory. The caller must release b with zz_buf_wipe. */
int zz_auth_token_body(zz_auth *a, zz_buf *b);

/* Feeds a token reply (status and body) into the state machine. Returns 0 on success, or -1 with
 * a message in err (never containing a secret or token). A revenue reply needs its headers: use
 * zz_auth_accept_response. */
int zz_auth_accept_reply(zz_auth *a, long status, const char *body, size_t n, double now, char *err, size_t errlen);

/* Feeds a whole token reply: status, the raw header lines of the final response (hdrs, as the
 * transport collected them) and the body. For revenue the token is taken from its header, and
 * that header line is removed from hdrs (its bytes wiped) so it never reaches Lua. */
int zz_auth_accept_response(zz_auth *a, long status, zz_buf *hdrs, const char *body, size_t n, double now, char *err,
                            size_t errlen);

/* The token request failed without a reply (transport error, cancel): back to need_token. */
void zz_auth_fail(zz_auth *a);

/* Wipes every string of a curl header list, then frees it (the list may hold credentials). */
void zz_slist_wipe(struct curl_slist *list);

#endif
