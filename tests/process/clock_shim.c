/*
 * clock_shim.c - an LD_PRELOAD library that moves a process's wall clock
 * forward: clock_gettime(CLOCK_REALTIME[_COARSE]), gettimeofday and time
 * read EDGEKV_CLOCK_SHIFT_S seconds later than the system clock (0 when
 * the variable is unset). Every other clock passes through untouched, so
 * timers and timeouts (CLOCK_MONOTONIC) keep their pace.
 *
 * For process tests that need time to have passed without waiting for it:
 * test_compact.sh runs `edgekv compact` under it, so records written with
 * the shortest TTL the API allows are expired for the expiry filter.
 *
 * The real clock is read with syscall(2): no dlsym, no recursion into the
 * shim, usable before any constructor ran. Built without sanitizers: it
 * sits in front of a sanitizer runtime in the symbol order (the process
 * is then started with ASAN_OPTIONS=verify_asan_link_order=0).
 */
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

static long shift_s(void)
{
    const char *v = getenv("EDGEKV_CLOCK_SHIFT_S");
    return v ? strtol(v, NULL, 10) : 0;
}

int clock_gettime(clockid_t id, struct timespec *ts)
{
    long rc = syscall(SYS_clock_gettime, id, ts);
    if (rc == 0 && (id == CLOCK_REALTIME || id == CLOCK_REALTIME_COARSE))
        ts->tv_sec += shift_s();
    return (int)rc;
}

/* The obsolete timezone argument reads as UTC, as glibc reports it. */
int gettimeofday(struct timeval *restrict tv, void *restrict tz)
{
    struct timespec ts;
    if (clock_gettime(CLOCK_REALTIME, &ts) != 0)
        return -1;
    tv->tv_sec = ts.tv_sec; /* declared nonnull */
    tv->tv_usec = ts.tv_nsec / 1000;
    if (tz)
        memset(tz, 0, sizeof(struct timezone));
    return 0;
}

time_t time(time_t *out)
{
    struct timespec ts;
    if (clock_gettime(CLOCK_REALTIME, &ts) != 0)
        return (time_t)-1;
    if (out)
        *out = ts.tv_sec;
    return ts.tv_sec;
}
