/*
 * private_file.h - files that hold a secret (an API token): the env files
 * of `edgekv origin|edge` and `edgekv dev`, dev's cluster.env.
 *
 * The file is written under a temporary name created with mode 0600 (set
 * again with fchmod, so no umask widens or narrows it) and never existing
 * before (O_EXCL, O_NOFOLLOW: a planted file or symlink is not written
 * through), then renamed over the final name: no moment exists when the
 * secret sits in a file others may read, and a reader never sees half of
 * it. What it is not: a general atomic-file API (no fsync; these files are
 * rewritten at every start).
 */
#ifndef NODE_PRIVATE_FILE_H
#define NODE_PRIVATE_FILE_H

#include <stddef.h>
#include <stdio.h>

/* Open `path`'s temporary twin (tmp, tmp_len bytes: "<path>.tmp") for
 * writing, mode 0600. NULL with errno set on failure. */
FILE *private_file_open(const char *path, char *tmp, size_t tmp_len);

/* Close f and rename tmp over path. 0, or -errno (tmp is removed). */
int private_file_commit(FILE *f, const char *path, const char *tmp);

#endif
