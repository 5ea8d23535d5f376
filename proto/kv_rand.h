/*
 * kv_rand.h - random identifiers from the kernel (getrandom).
 *
 * Every id edgekv makes - namespace ids, history ids, node and account ids,
 * API tokens and their ids - is lowercase hex from here, so there is one
 * source of randomness and one spelling. Not for anything reproducible (the
 * simulator has its own seeded generator, sim/rng.h).
 */
#ifndef KV_RAND_H
#define KV_RAND_H

#include <stddef.h>

/* n random lowercase hex digits into out, then a NUL (out holds n + 1).
 * At most KV_RAND_HEX_MAX digits. 0, KV_EINVAL, or -errno. */
#define KV_RAND_HEX_MAX 256
int kv_random_hex(char *out, size_t n);

#endif
