/*
 * hcheck_int.h - the history checker's private state, shared by hcheck.c
 * (the format, loading, the indexes) and hcheck_run.c (the checks).
 */
#ifndef SIM_HCHECK_INT_H
#define SIM_HCHECK_INT_H

#include <jansson.h>

#include "hcheck.h"

#define HC_T_NEVER INT64_MAX
#define HC_T_START INT64_MIN

/* One operation, owned by the checker. */
typedef struct {
    hc_record_t r; /* node, session and value owned; key borrowed from the key */
    char *text;    /* the history line, for counterexamples */
    uint32_t key;
    int32_t session; /* -1: none */
    uint32_t write;  /* a put or delete: its index in its key's writes */
} hc_opx_t;

/* One write of a key; writes[0] of every key is its start (absent). */
typedef struct {
    hc_opx_t *op;   /* NULL: the key's start */
    int64_t t0, t1; /* t1: HC_T_NEVER unless acknowledged (the start: HC_T_START) */
    bool acked, failed, absent, has_version;
    uint64_t version;
    int64_t death;    /* when it is overwritten (HC_T_NEVER: never) */
    hc_opx_t *killer; /* the write that overwrote it */
} hc_write_t;

/* What a session has seen of a key: writes none of which precedes another. */
typedef struct {
    hc_write_t *w;
    const hc_opx_t *by; /* the session's write, or its read that returned w */
} hc_obs_t;

typedef struct {
    char *name;
    hc_write_t *w;
    size_t nw, capw;
    hc_opx_t **r; /* reads and finals */
    size_t nr, capr;
    hc_obs_t *obs; /* the current session's, when obs_session is it */
    size_t nobs, capobs;
    int32_t obs_session;
} hc_key_t;

typedef struct {
    hc_opx_t **ops;
    size_t n, cap;
} hc_session_t;

struct hc {
    hc_options_t opt;
    hc_key_t *keys;
    size_t nkeys, capkeys;
    hc_session_t *sessions;
    size_t nsessions, capsessions;
    json_t *key_index;     /* key name -> index */
    json_t *value_index;   /* value -> (key index << 32) | write index */
    json_t *session_index; /* session name -> index */
    hc_stats_t st;
    int reported[HC_V_COUNT]; /* printed in full, per kind */
};

/* Grows *p (n used of *cap elements of sz bytes) to room for one more. */
int hc__grow(void **p, size_t *cap, size_t n, size_t sz);
/* The write whose value is value in key k, NULL when none. */
hc_write_t *hc__value_write(const hc_t *h, const hc_key_t *k, const char *value);

#endif
