/*
 * kv_assert.h - always-on invariant checks.
 *
 * KV_ASSERT guards invariants (a broken one means a bug), never operating
 * errors such as a failed read. It stays on in release builds. Before it
 * aborts it calls the hook installed with kv_assert_set_hook(), which the
 * simulator uses to print its seed and last events.
 */
#ifndef KV_ASSERT_H
#define KV_ASSERT_H

typedef void (*kv_assert_hook_fn)(const char *expr, const char *file, int line, void *arg);

/* Install a hook called before abort(); NULL removes it. Not thread-safe:
 * set it once at start-up. */
void kv_assert_set_hook(kv_assert_hook_fn fn, void *arg);

_Noreturn void kv__assert_fail(const char *expr, const char *file, int line);

#define KV_ASSERT(expr) ((expr) ? (void)0 : kv__assert_fail(#expr, __FILE__, __LINE__))

#endif
