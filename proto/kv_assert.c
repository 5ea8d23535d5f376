/* kv_assert.c - the abort path of KV_ASSERT. */
#include "kv_assert.h"

#include <stdio.h>
#include <stdlib.h>

static kv_assert_hook_fn g_hook;
static void *g_hook_arg;

void kv_assert_set_hook(kv_assert_hook_fn fn, void *arg)
{
    g_hook = fn;
    g_hook_arg = arg;
}

void kv__assert_fail(const char *expr, const char *file, int line)
{
    fprintf(stderr, "edgekv: assertion failed: %s (%s:%d)\n", expr, file, line);
    fflush(stderr);
    if (g_hook)
        g_hook(expr, file, line, g_hook_arg);
    abort();
}
