/* SPDX-License-Identifier: Apache-2.0 */
/*
 * tap.h: the few TAP helpers the core's unit tests share (output for
 * prove).  Header-only; each test program includes it once.
 */
#ifndef WX_TAP_H
#define WX_TAP_H

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

static int tap_n, tap_failed;

static int ok(int cond, const char *fmt, ...)
{
    va_list ap;

    printf("%s %d - ", cond ? "ok" : "not ok", ++tap_n);
    va_start(ap, fmt);
    vprintf(fmt, ap);
    va_end(ap);
    printf("\n");
    if (!cond) {
        tap_failed++;
    }
    return cond;
}

static void is_str(const char *got, const char *want, const char *name)
{
    if (!ok(got && want ? strcmp(got, want) == 0 : got == want, "%s", name)) {
        printf("#   got:  '%s'\n#   want: '%s'\n", got ? got : "(null)",
               want ? want : "(null)");
    }
}

static void is_int(long got, long want, const char *name)
{
    if (!ok(got == want, "%s", name)) {
        printf("#   got:  %ld\n#   want: %ld\n", got, want);
    }
}

/* The plan, last (prove accepts it at the end); the exit status. */
static int tap_done(void)
{
    printf("1..%d\n", tap_n);
    return tap_failed ? 1 : 0;
}

#endif /* WX_TAP_H */
