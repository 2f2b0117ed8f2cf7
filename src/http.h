/* core.http's internal API. */
#ifndef ZUORA_HTTP_H
#define ZUORA_HTTP_H

/* Monotonic clock in seconds (CLOCK_MONOTONIC); the `now` that core.auth's methods take. */
double zz_now(void);

#endif
