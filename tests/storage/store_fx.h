/* store_fx.h - the temporary-store fixture the storage tests share: a fresh
 * directory under /tmp, options for a small store that does not sync (the
 * sync policies are test_store.c's and test_powercut.sh's subject), and the
 * removal of the directory afterwards. */
#ifndef EDGEKV_TESTS_STORE_FX_H
#define EDGEKV_TESTS_STORE_FX_H

#include <stddef.h>

#include "store.h"

/* Room for a fixture directory: "/tmp/edgekv-test-" + stem + "-XXXXXX". */
#define STORE_FX_DIR_CAP 64

/* Create /tmp/edgekv-test-<stem>-XXXXXX into dir (STORE_FX_DIR_CAP bytes).
 * Returns 0, or -1 with errno set. */
int store_fx_mkdir(char *dir, const char *stem);

/* Defaults for a store at path: no WAL sync, an 8 MiB block cache and a
 * 4 MiB write buffer. path must outlive the options. */
void store_fx_options(stor_options_t *o, const char *path);

/* The stored value of key as a string into buf ("" for none, "<del>" for
 * a tombstone, "<error N>" when the read failed: a test comparing strings
 * sees it). Returns buf or "". */
const char *store_fx_value(stor_t *s, const char *ns, const char *key, char *buf, size_t cap);

/* A state entry as a string into buf ("<none>" when absent, "<error N>"). */
const char *store_fx_state(stor_t *s, const char *name, char *buf, size_t cap);

/* store_fx_mkdir, store_fx_options and stor_open in one: a fresh store in
 * dir (STORE_FX_DIR_CAP bytes) with options *o (which must outlive it).
 * Returns 0, or -1. */
int store_fx_open(char *dir, const char *stem, stor_options_t *o, stor_t **s);

/* stor_close(s) and the removal of dir. */
void store_fx_close(stor_t *s, const char *dir);

/* Remove dir and everything under it (symbolic links are not followed). */
void store_fx_rmtree(const char *dir);

#endif
