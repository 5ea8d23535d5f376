/*
 * compact.h - `edgekv compact`: a full compaction of a stopped node's store
 * (compact.c says what it does and what it refuses).
 */
#ifndef NODE_COMPACT_H
#define NODE_COMPACT_H

#include <sys/types.h>

/* argv[0] is the first option after "compact". Returns the exit status:
 * 0 compacted, 1 refused or failed, 2 bad arguments. */
int compact_main(int argc, char **argv);

/* The process holding RocksDB's lock on the store at `db` (an fcntl write
 * lock on its LOCK file), or 0 when none does. Ask before this process
 * opens the store: closing a descriptor of LOCK would drop its own lock.
 * (Also `edgekv backup --data` and `edgekv restore`.) */
pid_t compact_lock_holder(const char *db);

#endif
