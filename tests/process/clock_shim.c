/*
 * clock_shim.c - an LD_PRELOAD library that moves a process's wall clock:
 * clock_gettime(CLOCK_REALTIME[_COARSE]), gettimeofday and time read the
 * system clock shifted by
 *   - EDGEKV_CLOCK_SHIFT_S seconds, fixed at start (0 when unset), plus
 *   - the signed number of milliseconds in the file named by
 *     EDGEKV_CLOCK_SHIFT_FILE (0 when unset, missing or empty), re-read at
 *     most every CLOCK_SHIM_REREAD_MS, so a test steps the clock of a
 *     running process forward or back by rewriting the file (write a new
 *     file and rename it over the old one: a reader never sees half).
 * Every other clock passes through untouched, so timers and timeouts
 * (CLOCK_MONOTONIC, CLOCK_BOOTTIME) keep their pace.
 *
 * For process tests that need time to have passed without waiting for it,
 * or a wall clock that jumps: test_compact.sh runs `edgekv compact` under
 * it, so records written with the shortest TTL the API allows are expired
 * for the expiry filter; test_abuse_clock.sh steps the clocks of a running
 * origin and edge.
 *
 * The real clock and the file are read with syscall(2): no dlsym, no
 * recursion into the shim, no libc call a sanitizer intercepts, usable
 * before any constructor ran. Threads may race to re-read the file; each
 * reads a whole value and stores it atomically. Built without sanitizers:
 * it sits in front of a sanitizer runtime in the symbol order (the process
 * is then started with ASAN_OPTIONS=verify_asan_link_order=0).
 */
#include <fcntl.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#define CLOCK_SHIM_REREAD_MS 5
#define CLOCK_SHIM_FILE_MAX  32 /* bytes of the shift file read */

static _Atomic long long shim_file_ms;      /* the file's last value */
static _Atomic long long shim_next_read_ns; /* CLOCK_MONOTONIC; 0: never read */

/* The file's value, re-read when CLOCK_SHIM_REREAD_MS have passed. */
static long long file_shift_ms(void)
{
    const char *path = getenv("EDGEKV_CLOCK_SHIFT_FILE");
    if (!path)
        return 0;
    struct timespec mono;
    if (syscall(SYS_clock_gettime, CLOCK_MONOTONIC, &mono) != 0)
        return atomic_load(&shim_file_ms);
    long long now_ns = (long long)mono.tv_sec * 1000000000LL + mono.tv_nsec;
    long long due = atomic_load(&shim_next_read_ns);
    if (due != 0 && now_ns < due)
        return atomic_load(&shim_file_ms);
    atomic_store(&shim_next_read_ns, now_ns + CLOCK_SHIM_REREAD_MS * 1000000LL);
    char buf[CLOCK_SHIM_FILE_MAX + 1];
    long n = 0;
    long fd = syscall(SYS_openat, AT_FDCWD, path, O_RDONLY | O_CLOEXEC);
    if (fd >= 0) {
        n = syscall(SYS_read, (int)fd, buf, (size_t)CLOCK_SHIM_FILE_MAX);
        syscall(SYS_close, (int)fd);
    }
    long long ms = 0;
    if (n > 0) {
        buf[n] = '\0';
        ms = strtoll(buf, NULL, 10);
    }
    atomic_store(&shim_file_ms, ms);
    return ms;
}

static long long shift_ms(void)
{
    const char *v = getenv("EDGEKV_CLOCK_SHIFT_S");
    long long s = v ? strtoll(v, NULL, 10) : 0;
    return s * 1000 + file_shift_ms();
}

int clock_gettime(clockid_t id, struct timespec *ts)
{
    long rc = syscall(SYS_clock_gettime, id, ts);
    if (rc == 0 && (id == CLOCK_REALTIME || id == CLOCK_REALTIME_COARSE)) {
        long long ms = shift_ms();
        long long ns = ts->tv_nsec + (ms % 1000) * 1000000LL;
        ts->tv_sec += (time_t)(ms / 1000);
        if (ns < 0) {
            ns += 1000000000LL;
            ts->tv_sec -= 1;
        } else if (ns >= 1000000000LL) {
            ns -= 1000000000LL;
            ts->tv_sec += 1;
        }
        ts->tv_nsec = (long)ns;
    }
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
