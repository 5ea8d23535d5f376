/* kv_err.c - text for the codes of kv_err.h. */
#include "kv_err.h"

#include <string.h>

const char *kv_strerror(int err)
{
    switch (err) {
    case 0:
        return "success";
#define KV__ERR_TEXT(name, text)                                                                   \
    case KV_E##name:                                                                               \
        return text;
        KV_ERR_MAP(KV__ERR_TEXT)
#undef KV__ERR_TEXT
    default:
        break;
    }
    if (err < 0 && err > KV_ERR_BASE)
        return strerror(-err);
    return "unknown error";
}
