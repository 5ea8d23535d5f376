/*
 * config_int.h - what config.c shares with config_doc.c: the option table.
 *
 * One row per option: every flag, every key of the --config file, with the
 * node_config_t field it sets. The parsers (config.c) and the generated
 * documentation (config_doc.c: --help and README.md's table) read the same
 * rows, so an option cannot exist in one and be missing from the other.
 */
#ifndef NODE_CONFIG_INT_H
#define NODE_CONFIG_INT_H

#include <stdbool.h>
#include <stddef.h>

#include "config.h"

typedef enum {
    OPT_U32,    /* unsigned */
    OPT_SIZE,   /* size_t */
    OPT_U64,    /* uint64_t */
    OPT_I64,    /* int64_t (never negative here) */
    OPT_BOOL,   /* bool: true | false */
    OPT_STR,    /* char array: lo..capacity-1 characters */
    OPT_ENUM,   /* an int-sized enum, its values named by name() */
    OPT_ADDR,   /* HOST:PORT into a char[NODE_HOST_MAX] and an int */
    OPT_ADDRS,  /* HOST:PORT[,HOST:PORT...]: the upstream list (upstream_*) */
    OPT_TOKENS, /* flag: one read+write token; file: a list of scoped tokens */
    OPT_CONFIG  /* --config FILE: read before every other flag */
} opt_kind_t;

/* Whom an option matters to: a relay takes the edge's options for its
 * upstream link and the origin's for the links it serves. */
enum {
    OPT_ORIGIN = 1,
    OPT_EDGE = 2,
    OPT_RELAY = 4,
    OPT_UP = OPT_EDGE | OPT_RELAY,     /* following an upstream */
    OPT_DOWN = OPT_ORIGIN | OPT_RELAY, /* serving edges */
    OPT_ALL = OPT_ORIGIN | OPT_EDGE | OPT_RELAY
};

typedef struct {
    const char *flag; /* "--listen", or NULL: a file key only */
    const char *arg;  /* what the flag takes, as --help shows it */
    const char *key;  /* the JSON key, or NULL: a flag only */
    opt_kind_t kind;
    size_t off;                 /* the field in node_config_t */
    size_t size;                /* its size (OPT_STR: its capacity) */
    size_t port_off;            /* OPT_ADDR: the port field */
    unsigned long long lo, hi;  /* numbers: the range; OPT_STR: lo = least length */
    const char *(*name)(int v); /* OPT_ENUM: the name of value v, NULL past the last */
    unsigned roles;             /* OPT_ORIGIN | OPT_EDGE | OPT_RELAY: whom it matters to */
    const char *dflt_text;      /* shown instead of a generated or per-machine default */
    const char *help;
} node_opt_t;

extern const node_opt_t config__opts[];
extern const size_t config__opt_count;

/* The field of o in c. */
const void *config__field(const node_config_t *c, const node_opt_t *o);
/* The value of a number option's field. */
unsigned long long config__get_uint(const node_config_t *c, const node_opt_t *o);
bool config__is_number(const node_opt_t *o);
/* An enum option's names joined by sep ("always|batch|off") into buf. */
const char *config__choices(const node_opt_t *o, const char *sep, char *buf, size_t n);

#endif
