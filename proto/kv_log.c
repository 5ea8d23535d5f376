/* kv_log.c - stderr logger of kv_log.h, and its rate limit for lines
 * strangers can cause. */
#include "kv_log.h"

#include <stdarg.h>
#include <stdio.h>
#include <time.h>

static kv_log_level_t g_level = KV_LOG_INFO;

void kv_log_set_level(kv_log_level_t level)
{
    g_level = level;
}

bool kv_log_limit(kv_log_limit_t *l, uint64_t now_ms, uint64_t interval_ms, uint64_t *held)
{
    if (l->any && now_ms >= l->last_ms && now_ms - l->last_ms < interval_ms) {
        l->held++;
        return false;
    }
    if (held)
        *held = l->held;
    l->any = true;
    l->last_ms = now_ms;
    l->held = 0;
    return true;
}

void kv_log(kv_log_level_t level, const char *module, const char *fmt, ...)
{
    static const char *names[] = {"debug", "info", "warn", "error"};
    char msg[1024];
    va_list ap;
    struct timespec ts;
    struct tm tm;

    if (level < g_level)
        return;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    clock_gettime(CLOCK_REALTIME, &ts);
    gmtime_r(&ts.tv_sec, &tm);
    fprintf(stderr, "%04d-%02d-%02dT%02d:%02d:%02d.%03ldZ %-5s %s: %s\n", tm.tm_year + 1900,
            tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, ts.tv_nsec / 1000000,
            names[level], module, msg);
}
