/*
 * compact.h - `edgekv compact`: a full compaction of a stopped node's store
 * (compact.c says what it does and what it refuses).
 */
#ifndef NODE_COMPACT_H
#define NODE_COMPACT_H

/* argv[0] is the first option after "compact". Returns the exit status:
 * 0 compacted, 1 refused or failed, 2 bad arguments. */
int compact_main(int argc, char **argv);

#endif
