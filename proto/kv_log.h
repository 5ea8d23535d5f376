/*
 * kv_log.h - minimal leveled logging to stderr.
 *
 * One line per event, prefixed with the level and the module. Thread-safe
 * (each line is written with a single fprintf). Not a metrics channel: counts
 * go to /metrics, not the log.
 */
#ifndef KV_LOG_H
#define KV_LOG_H

typedef enum { KV_LOG_DEBUG, KV_LOG_INFO, KV_LOG_WARN, KV_LOG_ERROR } kv_log_level_t;

void kv_log_set_level(kv_log_level_t level);

__attribute__((format(printf, 3, 4))) void kv_log(kv_log_level_t level, const char *module,
                                                  const char *fmt, ...);

#define KV_LOG_DEBUG(mod, ...) kv_log(KV_LOG_DEBUG, mod, __VA_ARGS__)
#define KV_LOG_INFO(mod, ...)  kv_log(KV_LOG_INFO, mod, __VA_ARGS__)
#define KV_LOG_WARN(mod, ...)  kv_log(KV_LOG_WARN, mod, __VA_ARGS__)
#define KV_LOG_ERROR(mod, ...) kv_log(KV_LOG_ERROR, mod, __VA_ARGS__)

#endif
